#pragma once
// The console's identity_provider over the real OIDC client (coordinator/console/oidc.h): one
// oidc_client behind a mutex (its HTTP client is one per thread), discovery on first use and
// retried on the next sign-in after a failure, so the coordinator starts even while the IdP is down.
#include <memory>

#include "coordinator/console/oidc.h"
#include "coordinator/console/server.h"

namespace connguard::coord::console {

std::unique_ptr<identity_provider> make_oidc_provider(oidc_settings s);

}  // namespace connguard::coord::console
