#pragma once
// JSON merge as OData PATCH does it (Graph PATCH and the admin API's PATCH of CA policies).
#include <nlohmann/json.hpp>

namespace connguard::graph_sim {

/// Objects merge property by property, everything else (arrays included) replaces.
void deep_merge(nlohmann::json& target, const nlohmann::json& patch);

}  // namespace connguard::graph_sim
