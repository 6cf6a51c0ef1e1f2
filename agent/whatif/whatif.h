#pragma once
// The what-if engine in one include (pure parts only; loader.h does file I/O).
#include "agent/whatif/compiled.h"
#include "agent/whatif/directory.h"
#include "agent/whatif/evaluate.h"
#include "agent/whatif/policy.h"
#include "agent/whatif/sign_in.h"
