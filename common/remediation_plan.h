#pragma once
// One rendering of a typed remediation plan (connguard.v1.RemediationPlan) into the Graph call it
// makes: method, path and the exact JSON body. The agent's checks fill the typed plan, the
// coordinator shows the rendering to people and the agent's executor sends exactly this body; no
// one parses it back. Pure: no I/O.
#include <string>

#include "connguard/v1/commands.pb.h"

namespace connguard::plans {

/// {"conditions":{"users":{"excludeUsers":[exclude_users_after...]}}} (compact JSON).
std::string exclude_body(const v1::ExcludeFromCaPolicyPlan& p);
/// {"conditions":{"users":{<exclusion_list>:[exclude_after...]}}} (compact JSON).
std::string remove_exclusion_body(const v1::RemoveCaPolicyExclusionPlan& p);
/// {"perUserMfaState":"disabled"}
std::string disable_per_user_mfa_body();

/// Sets http_method, http_path and http_body from the typed plan (guidance plans: none), and the
/// summary when it is empty. Returns false (plan unchanged) when the plan's kind and oneof disagree.
bool render(v1::RemediationPlan& plan);

}  // namespace connguard::plans
