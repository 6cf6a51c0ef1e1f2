#pragma once
// The tenant's sign-in log (graph.md §8.6, README "Sign-in logs"): filling entries the way Entra
// writes them, the appliedConditionalAccessPolicies of an evaluated sign-in, and serving order.
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/whatif/evaluate.h"
#include "tools/graph-sim/tenant_state.h"

namespace connguard::graph_sim {

using json = nlohmann::json;

/// Fills what a scenario, admin or ROPC signIn entry leaves out (id, createdDateTime or
/// simMinutesAgo, user, event types, CA status, status, display names, tenant ids).
json fill_sign_in(simulator::tenant_state& t, json e);

/// appliedConditionalAccessPolicies of a sign-in the what-if engine evaluated: enabled policies
/// success / failure / notApplied, report-only ones reportOnly*, disabled ones notEnabled.
json applied_policies(const simulator::tenant_state& t, const whatif::evaluation& ev);

/// reportOnly* results are served only with "Prefer: include-unknown-enum-members"; otherwise
/// they read unknownFutureValue.
json mask_unknown_enums(json e, bool include_unknown);

/// Every entry, newest first by createdDateTime (ties: the latest added first).
std::vector<json> sign_ins_newest_first(const simulator::tenant_state& t);

}  // namespace connguard::graph_sim
