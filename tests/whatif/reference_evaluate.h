#pragma once
// The pre-compiled-form what-if evaluator, kept only as the reference of the differential test.
#include <vector>

#include "agent/whatif/whatif.h"

namespace connguard::test::reference {

whatif::evaluation evaluate(const std::vector<whatif::policy>& policies, const whatif::directory& dir,
                            const whatif::sign_in& s);
whatif::policy_result evaluate_policy(const whatif::policy& p, const whatif::directory& dir, const whatif::sign_in& s);

}  // namespace connguard::test::reference
