#pragma once
// The tenant's directoryAudits log: who did what, written the way Entra writes it. Every audited
// change of the Graph endpoints, the admin API and the scenario load goes through here.
#include <string>

#include <nlohmann/json.hpp>

#include "tools/graph-sim/tenant_state.h"

namespace connguard::graph_sim {

using json = nlohmann::json;

/// Who made a change: an app (Graph call), Microsoft (Microsoft Managed Policy Manager, graph.md
/// §11.1), or neither: the portal admin (the simulator's admin API).
struct actor {
    actor(const app* a = nullptr, bool ms = false) : by_app(a), microsoft(ms) {}
    const app* by_app = nullptr;
    bool microsoft = false;
};

/// Appends one entry; `target` gets `modified` as its modifiedProperties; `when` defaults to now.
void audit(simulator::tenant_state& t, const actor& who, const std::string& activity, const std::string& category,
           const std::string& service, const std::string& operation, json target, json modified = json::array(),
           const std::string& when = {});

/// A CA policy change (Add / Update / Delete): old and new policy JSON as "ConditionalAccessPolicy".
void audit_policy(simulator::tenant_state& t, const actor& who, const std::string& activity, const std::string& operation,
                  const json* before, const json* after, const std::string& when = {});

/// "Update security defaults" (IsEnabled old -> new).
void audit_security_defaults(simulator::tenant_state& t, const actor& who, bool old_value, bool new_value);

/// "Update user" of the per-user MFA state (StrongAuthenticationRequirement old -> new).
void audit_per_user_mfa(simulator::tenant_state& t, const actor& who, const user& u, const std::string& old_state,
                        const std::string& new_state);

/// A change of a user's role assignments ("Add member to role", "Remove member from role").
void audit_role(simulator::tenant_state& t, const actor& who, const user& u, const std::string& activity,
                const std::string& operation, json modified);

/// {"displayName", "oldValue", "newValue"} of a modifiedProperties entry.
json modified_property(const std::string& name, const std::string& old_value, const std::string& new_value);

}  // namespace connguard::graph_sim
