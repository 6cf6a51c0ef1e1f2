#include "agent/core/command_rules.h"

#include "common/remediation_plan.h"
#include "common/text.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <google/protobuf/util/time_util.h>

namespace connguard::agent {
namespace {

command_decision refuse(std::string why) { return {command_verdict::refused, std::move(why)}; }
command_decision stale(std::string why) { return {command_verdict::stale, std::move(why)}; }
command_decision failed(std::string why) { return {command_verdict::failed, std::move(why)}; }

std::set<std::string> as_set(const google::protobuf::RepeatedPtrField<std::string>& v) { return {v.begin(), v.end()}; }

command_decision check_user(const std::string& plan_user_id, const std::string& plan_upn, const observed_user& user) {
    if (!user.found) return stale("user " + plan_user_id + " (" + plan_upn + ") no longer exists");
    if (!iequals(user.user_principal_name, plan_upn))
        return stale("user " + plan_user_id + " now resolves to '" + user.user_principal_name + "', the plan names '" +
                     plan_upn + "'");
    return {};
}

std::string json_string(const nlohmann::json& j, const char* key) {
    return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string{};
}

/// Graph's null modifiedDateTime arrives here as an empty string; messages say "null".
std::string or_null(const std::string& time) { return time.empty() ? "null" : time; }

bool same_time(const std::string& a, const std::string& b) {
    if (a == b) return true;
    clock::time_point ta, tb;
    return !a.empty() && !b.empty() && parse_rfc3339(a, ta) && parse_rfc3339(b, tb) && ta == tb;
}

}  // namespace

bool safe_graph_id(std::string_view id) {
    if (id.empty() || id.size() > 200) return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
}

std::vector<std::string> exclude_users_of(const nlohmann::json& policy) {
    std::vector<std::string> out;
    try {
        const auto& arr = policy.at("conditions").at("users").at("excludeUsers");
        for (const auto& v : arr)
            if (v.is_string()) out.push_back(v.get<std::string>());
    } catch (const nlohmann::json::exception&) {
    }
    return out;
}

std::vector<std::string> exclusion_list_of(const nlohmann::json& policy, const std::string& list) {
    std::vector<std::string> out;
    try {
        const auto& arr = policy.at("conditions").at("users").at(list);
        for (const auto& v : arr)
            if (v.is_string()) out.push_back(v.get<std::string>());
    } catch (const nlohmann::json::exception&) {
    }
    return out;
}

namespace {
std::set<std::string> lower_set(const std::vector<std::string>& v) {
    std::set<std::string> out;
    for (const auto& x : v) out.insert(to_lower(x));
    return out;
}
std::set<std::string> lower_set(const google::protobuf::RepeatedPtrField<std::string>& v) {
    return lower_set(std::vector<std::string>(v.begin(), v.end()));
}
}  // namespace

command_decision validate_command(const v1::AgentCommand& cmd, std::string_view tenant_key,
                                  std::string_view envelope_tenant, clock::time_point now) {
    if (envelope_tenant != tenant_key)
        return refuse("command is for tenant '" + std::string(envelope_tenant) + "', this agent serves '" +
                      std::string(tenant_key) + "'");
    if (cmd.command_id().empty()) return refuse("command has no command_id");
    if (cmd.plan_version() == 0) return refuse("command has no plan_version");
    if (cmd.approved_by().empty()) return refuse("command carries no approval");
    if (!cmd.has_not_after()) return refuse("command has no not_after (an unbounded command is never executed)");
    const auto not_after =
        from_unix_ms(google::protobuf::util::TimeUtil::TimestampToMilliseconds(cmd.not_after()));
    if (now > not_after) return refuse("command expired at " + format_rfc3339(not_after));
    if (!cmd.has_plan()) return refuse("command has no plan");
    const auto& plan = cmd.plan();
    switch (plan.kind()) {
        case v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY: {
            if (!plan.has_exclude_from_ca_policy()) return refuse("plan kind EXCLUDE_FROM_CA_POLICY without its plan");
            const auto& p = plan.exclude_from_ca_policy();
            if (!safe_graph_id(p.policy_id())) return refuse("plan has an invalid policy_id '" + p.policy_id() + "'");
            if (!safe_graph_id(p.user_id())) return refuse("plan has an invalid user_id '" + p.user_id() + "'");
            if (p.user_principal_name().empty()) return refuse("plan has no user_principal_name");
            auto expected = as_set(p.exclude_users_before());
            expected.insert(p.user_id());
            if (as_set(p.exclude_users_after()) != expected)
                return refuse("plan's exclude_users_after is not exclude_users_before plus " + p.user_id());
            if (!plan.http_body().empty()) {
                auto body = nlohmann::json::parse(plan.http_body(), nullptr, false);
                if (body.is_discarded()) return refuse("plan's http_body is not JSON");
                std::vector<std::string> body_after = exclude_users_of(body);
                if (std::set<std::string>(body_after.begin(), body_after.end()) != expected)
                    return refuse("plan's http_body does not send exclude_users_after");
                // The body sent is the plan's, byte for byte: it must be the rendering of the typed plan.
                if (plan.http_body() != plans::exclude_body(p))
                    return refuse("plan's http_body is not the rendering of its typed plan");
            }
            return {};
        }
        case v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA: {
            if (!plan.has_disable_per_user_mfa()) return refuse("plan kind DISABLE_PER_USER_MFA without its plan");
            const auto& p = plan.disable_per_user_mfa();
            if (!safe_graph_id(p.user_id())) return refuse("plan has an invalid user_id '" + p.user_id() + "'");
            if (p.user_principal_name().empty()) return refuse("plan has no user_principal_name");
            if (p.expected_state() != "enabled" && p.expected_state() != "enforced")
                return refuse("plan's expected_state '" + p.expected_state() + "' is not enabled or enforced");
            if (!plan.http_body().empty() && plan.http_body() != plans::disable_per_user_mfa_body())
                return refuse("plan's http_body is not the rendering of its typed plan");
            return {};
        }
        case v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE: {
            if (!plan.has_remove_privileged_role()) return refuse("plan kind REMOVE_PRIVILEGED_ROLE without its plan");
            const auto& p = plan.remove_privileged_role();
            if (!safe_graph_id(p.role_assignment_id()))
                return refuse("plan has an invalid role_assignment_id '" + p.role_assignment_id() + "'");
            if (p.role_template_id().empty()) return refuse("plan has no role_template_id");
            if (!safe_graph_id(p.user_id())) return refuse("plan has an invalid user_id '" + p.user_id() + "'");
            if (p.user_principal_name().empty()) return refuse("plan has no user_principal_name");
            return {};
        }
        case v1::REMEDIATION_KIND_REMOVE_CA_POLICY_EXCLUSION: {
            if (!plan.has_remove_ca_policy_exclusion())
                return refuse("remediation kind REMOVE_CA_POLICY_EXCLUSION without its typed plan is guidance only; "
                              "an agent executes nothing for it");
            const auto& p = plan.remove_ca_policy_exclusion();
            if (!safe_graph_id(p.policy_id())) return refuse("plan has an invalid policy_id '" + p.policy_id() + "'");
            if (!safe_graph_id(p.object_id())) return refuse("plan has an invalid object_id '" + p.object_id() + "'");
            if (p.exclusion_list() != "excludeUsers" && p.exclusion_list() != "excludeGroups" &&
                p.exclusion_list() != "excludeRoles")
                return refuse("plan's exclusion_list '" + p.exclusion_list() + "' is not excludeUsers, excludeGroups or excludeRoles");
            auto expected = lower_set(p.exclude_before());
            if (expected.erase(to_lower(p.object_id())) != 1)
                return refuse("plan's exclude_before does not contain " + p.object_id());
            if (lower_set(p.exclude_after()) != expected || p.exclude_after_size() != static_cast<int>(expected.size()))
                return refuse("plan's exclude_after is not exclude_before without " + p.object_id());
            if (!plan.http_body().empty() && plan.http_body() != plans::remove_exclusion_body(p))
                return refuse("plan's http_body is not the rendering of its typed plan");
            return {};
        }
        case v1::REMEDIATION_KIND_MOVE_TO_APP_ONLY_AUTH:
        case v1::REMEDIATION_KIND_REGISTER_MFA_FOR_ACCOUNT:
        case v1::REMEDIATION_KIND_ASSIGN_ACCOUNT_TO_APP:
        case v1::REMEDIATION_KIND_REMEDIATE_ACCOUNT_RISK:
        case v1::REMEDIATION_KIND_REVIEW_EXCEPTION:
            return refuse("remediation kind " + v1::RemediationKind_Name(plan.kind()) +
                          " is guidance only; an agent executes nothing for it");
        default: return refuse("unknown remediation kind " + std::to_string(plan.kind()));
    }
}

namespace {

/// The policy a plan acts on still exists and was not modified since planning.
command_decision check_policy_as_planned(const std::string& policy_id, const std::string& policy_name,
                                         const std::string& expected_modified, const observed_policy& policy) {
    if (!policy.found) return stale("policy " + policy_id + " ('" + policy_name + "') no longer exists");
    const auto modified = json_string(policy.policy, "modifiedDateTime");
    if (!same_time(modified, expected_modified))
        return stale("policy " + policy_id + " ('" + policy_name + "') was modified at '" + or_null(modified) +
                     "' after planning (plan expected '" + or_null(expected_modified) + "')");
    return {};
}

}  // namespace

command_decision check_exclude_preconditions(const v1::ExcludeFromCaPolicyPlan& plan, const observed_policy& policy,
                                             const observed_user& user) {
    if (auto d = check_policy_as_planned(plan.policy_id(), plan.policy_name(), plan.expected_modified_date_time(),
                                         policy);
        !d.ok())
        return d;
    auto now = exclude_users_of(policy.policy);
    if (std::set<std::string>(now.begin(), now.end()) != as_set(plan.exclude_users_before()))
        return stale("policy " + plan.policy_id() + ": excludeUsers differs from the plan's exclude_users_before");
    return check_user(plan.user_id(), plan.user_principal_name(), user);
}

command_decision check_per_user_mfa_preconditions(const v1::DisablePerUserMfaPlan& plan, const observed_user& user,
                                                  const std::string& observed_state) {
    if (auto d = check_user(plan.user_id(), plan.user_principal_name(), user); !d.ok()) return d;
    if (observed_state != plan.expected_state())
        return stale("per-user MFA of " + plan.user_principal_name() + " is '" + observed_state +
                     "', the plan expected '" + plan.expected_state() + "'");
    return {};
}

command_decision check_remove_role_preconditions(const v1::RemovePrivilegedRolePlan& plan,
                                                 const observed_role_assignment& assignment, const observed_user& user) {
    if (!assignment.found) return stale("role assignment " + plan.role_assignment_id() + " no longer exists");
    if (assignment.role_definition_id != plan.role_template_id())
        return stale("role assignment " + plan.role_assignment_id() + " now grants " + assignment.role_definition_id +
                     ", the plan names " + plan.role_template_id() + " (" + plan.role_name() + ")");
    if (assignment.principal_id != plan.user_id())
        return stale("role assignment " + plan.role_assignment_id() + " now belongs to " + assignment.principal_id +
                     ", the plan names " + plan.user_id());
    return check_user(plan.user_id(), plan.user_principal_name(), user);
}

command_decision check_remove_exclusion_preconditions(const v1::RemoveCaPolicyExclusionPlan& plan,
                                                      const observed_policy& policy) {
    if (auto d = check_policy_as_planned(plan.policy_id(), plan.policy_name(), plan.expected_modified_date_time(),
                                         policy);
        !d.ok())
        return d;
    if (lower_set(exclusion_list_of(policy.policy, plan.exclusion_list())) != lower_set(plan.exclude_before()))
        return stale("policy " + plan.policy_id() + ": " + plan.exclusion_list() + " differs from the plan's exclude_before");
    return {};
}

command_decision verify_exclusion_removed(const v1::RemoveCaPolicyExclusionPlan& plan, const observed_policy& after) {
    if (!after.found) return failed("read-back: policy " + plan.policy_id() + " not found after the PATCH");
    if (lower_set(exclusion_list_of(after.policy, plan.exclusion_list())) != lower_set(plan.exclude_after()))
        return failed("read-back: policy " + plan.policy_id() + " " + plan.exclusion_list() + " is not the planned array");
    return {};
}

nlohmann::json exclude_patch_body(const v1::ExcludeFromCaPolicyPlan& plan) {
    return nlohmann::json::parse(plans::exclude_body(plan));
}

command_decision verify_exclude(const v1::ExcludeFromCaPolicyPlan& plan, const observed_policy& after) {
    if (!after.found) return failed("read-back: policy " + plan.policy_id() + " not found after the PATCH");
    auto now = exclude_users_of(after.policy);
    if (std::set<std::string>(now.begin(), now.end()) != as_set(plan.exclude_users_after()))
        return failed("read-back: policy " + plan.policy_id() + " excludeUsers is not the planned array");
    return {};
}

command_decision verify_per_user_mfa(const std::string& observed_state) {
    if (observed_state != "disabled")
        return failed("read-back: perUserMfaState is '" + observed_state + "', expected 'disabled'");
    return {};
}

command_decision verify_role_removed(const observed_role_assignment& after) {
    if (after.found) return failed("read-back: role assignment " + after.id + " still exists");
    return {};
}

}  // namespace connguard::agent
