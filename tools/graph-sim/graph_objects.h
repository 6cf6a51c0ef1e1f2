#pragma once
// Graph's JSON of the tenant's directory objects, shared by the Graph endpoints and the admin API.
#include <nlohmann/json.hpp>

#include "tools/graph-sim/tenant_state.h"

namespace connguard::graph_sim {

using json = nlohmann::json;

/// identitySecurityDefaultsEnforcementPolicy.
json security_defaults_json(const simulator::tenant_state& t);
/// A user with Graph v1.0's default property set only.
json user_default_json(const user& u);
/// A user with every property (the default set plus the scenario's).
json user_full_json(const user& u);
/// unifiedRoleAssignment.
json assignment_json(const user& u, const role_assignment& ra);
/// userRegistrationDetails (isAdmin follows the user's current privileged roles).
json registration_json(const user& u);

}  // namespace connguard::graph_sim
