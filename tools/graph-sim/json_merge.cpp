#include "tools/graph-sim/json_merge.h"

namespace connguard::graph_sim {

void deep_merge(nlohmann::json& target, const nlohmann::json& patch) {
    for (auto it = patch.begin(); it != patch.end(); ++it) {
        if (it.value().is_object() && target.contains(it.key()) && target[it.key()].is_object())
            deep_merge(target[it.key()], it.value());
        else
            target[it.key()] = it.value();
    }
}

}  // namespace connguard::graph_sim
