#include "tools/graph-sim/audit_log.h"

#include <chrono>

#include "common/clock.h"
#include "common/ids.h"
#include "tools/graph-sim/sim_util.h"

namespace connguard::graph_sim {

namespace {

/// The app Microsoft's own changes to Microsoft-managed CA policies are audited under (graph.md §11.1
/// names only its displayName; the appId is the simulator's fixed choice, see README.md).
const std::string managed_policy_manager_app_id = "7d1c4f5e-2a3b-4c8d-9e0f-4200930cca01";
const std::string managed_policy_manager_name = "Microsoft Managed Policy Manager";

json initiated_by(const simulator::tenant_state& t, const actor& who) {
    if (who.microsoft)
        return {{"app",
                 {{"appId", managed_policy_manager_app_id},
                  {"displayName", managed_policy_manager_name},
                  {"servicePrincipalId", derived_guid("sp" + managed_policy_manager_app_id)},
                  {"servicePrincipalName", managed_policy_manager_name}}},
                {"user", nullptr}};
    if (who.by_app)
        return {{"app",
                 {{"appId", who.by_app->app_id},
                  {"displayName", who.by_app->display_name},
                  {"servicePrincipalId", who.by_app->service_principal_id.empty() ? derived_guid("sp" + who.by_app->app_id)
                                                                                  : who.by_app->service_principal_id},
                  {"servicePrincipalName", who.by_app->display_name}}},
                {"user", nullptr}};
    return {{"app", nullptr},
            {"user",
             {{"id", derived_guid("admin@" + t.sc.domain)},
              {"displayName", "Tenant Administrator"},
              {"userPrincipalName", "admin@" + t.sc.domain},
              {"ipAddress", "127.0.0.1"}}}};
}

json user_target(const user& u) {
    return {{"id", u.id}, {"displayName", u.graph.value("displayName", u.upn)}, {"type", "User"}, {"userPrincipalName", u.upn}};
}

}  // namespace

json modified_property(const std::string& name, const std::string& old_value, const std::string& new_value) {
    return {{"displayName", name}, {"oldValue", old_value}, {"newValue", new_value}};
}

void audit(simulator::tenant_state& t, const actor& who, const std::string& activity, const std::string& category,
           const std::string& service, const std::string& operation, json target, json modified, const std::string& when) {
    const json initiated = initiated_by(t, who);
    target["modifiedProperties"] = std::move(modified);
    json entry{{"id", "Directory_" + new_uuid()},
               {"category", category},
               {"correlationId", new_uuid()},
               {"result", "success"},
               {"resultReason", ""},
               {"activityDisplayName", activity},
               {"activityDateTime", when.empty() ? format_rfc3339(std::chrono::system_clock::now(), 7) : when},
               {"loggedByService", service},
               {"operationType", operation},
               {"initiatedBy", initiated},
               {"targetResources", json::array({target})},
               {"additionalDetails", json::array()}};
    t.add_audit(std::move(entry));
}

void audit_policy(simulator::tenant_state& t, const actor& who, const std::string& activity, const std::string& operation,
                  const json* before, const json* after, const std::string& when) {
    const json& p = after ? *after : *before;
    json target{{"id", p.value("id", std::string())}, {"displayName", p.value("displayName", std::string())}, {"type", "Policy"}};
    json mod = json::array({modified_property("ConditionalAccessPolicy", before ? before->dump() : std::string(),
                                              after ? after->dump() : std::string())});
    audit(t, who, activity, "Policy", "Conditional Access", operation, target, mod, when);
}

void audit_security_defaults(simulator::tenant_state& t, const actor& who, bool old_value, bool new_value) {
    audit(t, who, "Update security defaults", "Policy", "Conditional Access", "Update",
          {{"id", "00000000-0000-0000-0000-000000000005"}, {"displayName", "Security Defaults"}, {"type", "Policy"}},
          json::array({modified_property("IsEnabled", json(old_value).dump(), json(new_value).dump())}));
}

void audit_per_user_mfa(simulator::tenant_state& t, const actor& who, const user& u, const std::string& old_state,
                        const std::string& new_state) {
    audit(t, who, "Update user", "UserManagement", "Core Directory", "Update", user_target(u),
          json::array({modified_property("StrongAuthenticationRequirement", json::array({json{{"State", old_state}}}).dump(),
                                         json::array({json{{"State", new_state}}}).dump())}));
}

void audit_role(simulator::tenant_state& t, const actor& who, const user& u, const std::string& activity,
                const std::string& operation, json modified) {
    audit(t, who, activity, "RoleManagement", "Core Directory", operation, user_target(u), std::move(modified));
}

}  // namespace connguard::graph_sim
