#include "common/remediation_plan.h"

#include <nlohmann/json.hpp>

namespace connguard::plans {

std::string exclude_body(const v1::ExcludeFromCaPolicyPlan& p) {
    nlohmann::json after = nlohmann::json::array();
    for (const auto& u : p.exclude_users_after()) after.push_back(u);
    return nlohmann::json{{"conditions", {{"users", {{"excludeUsers", std::move(after)}}}}}}.dump();
}

std::string remove_exclusion_body(const v1::RemoveCaPolicyExclusionPlan& p) {
    nlohmann::json after = nlohmann::json::array();
    for (const auto& u : p.exclude_after()) after.push_back(u);
    return nlohmann::json{{"conditions", {{"users", {{p.exclusion_list(), std::move(after)}}}}}}.dump();
}

std::string disable_per_user_mfa_body() { return R"({"perUserMfaState":"disabled"})"; }

bool render(v1::RemediationPlan& plan) {
    auto who = [](const std::string& upn, const std::string& id) { return upn.empty() ? id : upn; };
    switch (plan.kind()) {
        case v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY: {
            if (!plan.has_exclude_from_ca_policy()) return false;
            const auto& p = plan.exclude_from_ca_policy();
            plan.set_http_method("PATCH");
            plan.set_http_path("/v1.0/identity/conditionalAccess/policies/" + p.policy_id());
            plan.set_http_body(exclude_body(p));
            if (plan.summary().empty())
                plan.set_summary("exclude " + who(p.user_principal_name(), p.user_id()) + " from CA policy '" +
                                 p.policy_name() + "'");
            return true;
        }
        case v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA: {
            if (!plan.has_disable_per_user_mfa()) return false;
            const auto& p = plan.disable_per_user_mfa();
            plan.set_http_method("PATCH");
            plan.set_http_path("/beta/users/" + p.user_id() + "/authentication/requirements");
            plan.set_http_body(disable_per_user_mfa_body());
            if (plan.summary().empty())
                plan.set_summary("disable per-user MFA (" + p.expected_state() + ") for " +
                                 who(p.user_principal_name(), p.user_id()));
            return true;
        }
        case v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE: {
            if (!plan.has_remove_privileged_role()) return false;
            const auto& p = plan.remove_privileged_role();
            plan.set_http_method("DELETE");
            plan.set_http_path("/v1.0/roleManagement/directory/roleAssignments/" + p.role_assignment_id());
            plan.clear_http_body();
            if (plan.summary().empty())
                plan.set_summary("remove role '" + (p.role_name().empty() ? p.role_template_id() : p.role_name()) +
                                 "' from " + who(p.user_principal_name(), p.user_id()));
            return true;
        }
        case v1::REMEDIATION_KIND_REMOVE_CA_POLICY_EXCLUSION:
            if (plan.has_remove_ca_policy_exclusion()) {
                const auto& p = plan.remove_ca_policy_exclusion();
                plan.set_http_method("PATCH");
                plan.set_http_path("/v1.0/identity/conditionalAccess/policies/" + p.policy_id());
                plan.set_http_body(remove_exclusion_body(p));
                if (plan.summary().empty())
                    plan.set_summary("remove " + p.object_id() + " from " + p.exclusion_list() + " of CA policy '" +
                                     p.policy_name() + "'");
                return true;
            }
            [[fallthrough]];  // guidance when the policy's facts were missing
        default:
            if (!plan.has_guidance()) return false;
            plan.clear_http_method();
            plan.clear_http_path();
            plan.clear_http_body();
            if (plan.summary().empty()) plan.set_summary(plan.guidance().instructions());
            return true;
    }
}

}  // namespace connguard::plans
