#include "agent/core/executor.h"

#include <google/protobuf/util/time_util.h>

#include "agent/core/command_rules.h"

#include <spdlog/spdlog.h>

#include "common/remediation_plan.h"
#include "common/log.h"

namespace connguard::agent {
namespace {

v1::CommandOutcome outcome_of(command_verdict v) {
    switch (v) {
        case command_verdict::proceed: return v1::COMMAND_OUTCOME_SUCCEEDED;
        case command_verdict::stale: return v1::COMMAND_OUTCOME_STALE;
        case command_verdict::refused: return v1::COMMAND_OUTCOME_REFUSED;
        case command_verdict::failed: return v1::COMMAND_OUTCOME_FAILED;
    }
    return v1::COMMAND_OUTCOME_FAILED;
}

/// GET /users/{id}: found/not found, or an error to report as FAILED.
result<observed_user> read_user(graph::graph_client& gc, const std::string& user_id) {
    auto u = gc.get_user(user_id);
    if (!u) return u.err();
    observed_user o;
    if (u->has_value()) {
        o.found = true;
        o.id = (*u)->id;
        o.user_principal_name = (*u)->user_principal_name;
    }
    return o;
}

result<observed_role_assignment> read_assignment(graph::graph_client& gc, const std::string& user_id,
                                                 const std::string& assignment_id) {
    auto list = gc.role_assignments(user_id);
    if (!list) return list.err();
    observed_role_assignment o;
    o.id = assignment_id;
    for (const auto& r : *list)
        if (r.id == assignment_id) {
            o.found = true;
            o.role_definition_id = r.role_template_id;
            o.principal_id = user_id;  // the list is filtered by principalId
        }
    return o;
}

/// The body the plan says to send: its rendering (validate_command made sure a body it carries is
/// exactly that rendering).
std::string body_of(const v1::AgentCommand& cmd, const std::string& rendered) {
    return cmd.plan().http_body().empty() ? rendered : cmd.plan().http_body();
}

v1::CommandResult exclude(graph::graph_client& gc, const v1::AgentCommand& cmd, const clock& clk) {
    const auto& p = cmd.plan().exclude_from_ca_policy();
    auto pol = gc.get_ca_policy(p.policy_id());
    if (!pol) return make_result(cmd, v1::COMMAND_OUTCOME_FAILED, "reading policy " + p.policy_id() + ": " + pol.err().message, clk);
    auto user = read_user(gc, p.user_id());
    if (!user) return make_result(cmd, v1::COMMAND_OUTCOME_FAILED, "reading user " + p.user_id() + ": " + user.err().message, clk);
    observed_policy observed{pol->has_value(), pol->has_value() ? **pol : nlohmann::json()};
    if (auto d = check_exclude_preconditions(p, observed, *user); !d.ok())
        return make_result(cmd, outcome_of(d.verdict), d.detail + "; nothing was written", clk);

    observed_policy after = observed;
    if (verify_exclude(p, observed).ok()) {
        spdlog::info("tenant policy {}: {} is already excluded; nothing to write", p.policy_id(), p.user_principal_name());
    } else {
        if (auto w = gc.patch_ca_policy(p.policy_id(), body_of(cmd, plans::exclude_body(p))); !w)
            return make_result(cmd, w.err().code == "graph.not_found" ? v1::COMMAND_OUTCOME_STALE : v1::COMMAND_OUTCOME_FAILED,
                               "excluding " + p.user_principal_name() + " from policy " + p.policy_id() + ": " + w.err().message,
                               clk);
        auto back = gc.get_ca_policy(p.policy_id());
        if (!back)
            return make_result(cmd, v1::COMMAND_OUTCOME_FAILED,
                               "PATCH of policy " + p.policy_id() + " answered, but the read-back failed: " + back.err().message, clk);
        after = {back->has_value(), back->has_value() ? **back : nlohmann::json()};
    }
    if (auto v = verify_exclude(p, after); !v.ok()) return make_result(cmd, v1::COMMAND_OUTCOME_FAILED, v.detail, clk);
    auto r = make_result(cmd, v1::COMMAND_OUTCOME_SUCCEEDED,
                         "excluded " + p.user_principal_name() + " from policy '" + p.policy_name() + "' (" +
                             p.policy_id() + "); read-back shows excludeUsers as planned",
                         clk);
    r.set_verified_state(nlohmann::json{{"policyId", p.policy_id()},
                                        {"excludeUsers", exclude_users_of(after.policy)},
                                        {"modifiedDateTime", after.policy.value("modifiedDateTime", nlohmann::json())}}
                             .dump());
    return r;
}

v1::CommandResult remove_exclusion(graph::graph_client& gc, const v1::AgentCommand& cmd, const clock& clk) {
    const auto& p = cmd.plan().remove_ca_policy_exclusion();
    auto pol = gc.get_ca_policy(p.policy_id());
    if (!pol) return make_result(cmd, v1::COMMAND_OUTCOME_FAILED, "reading policy " + p.policy_id() + ": " + pol.err().message, clk);
    observed_policy observed{pol->has_value(), pol->has_value() ? **pol : nlohmann::json()};
    if (auto d = check_remove_exclusion_preconditions(p, observed); !d.ok())
        return make_result(cmd, outcome_of(d.verdict), d.detail + "; nothing was written", clk);
    if (auto w = gc.patch_ca_policy(p.policy_id(), body_of(cmd, plans::remove_exclusion_body(p))); !w)
        return make_result(cmd, w.err().code == "graph.not_found" ? v1::COMMAND_OUTCOME_STALE : v1::COMMAND_OUTCOME_FAILED,
                           "removing " + p.object_id() + " from " + p.exclusion_list() + " of policy " + p.policy_id() +
                               ": " + w.err().message,
                           clk);
    auto back = gc.get_ca_policy(p.policy_id());
    if (!back)
        return make_result(cmd, v1::COMMAND_OUTCOME_FAILED,
                           "PATCH of policy " + p.policy_id() + " answered, but the read-back failed: " + back.err().message, clk);
    const observed_policy after{back->has_value(), back->has_value() ? **back : nlohmann::json()};
    if (auto v = verify_exclusion_removed(p, after); !v.ok()) return make_result(cmd, v1::COMMAND_OUTCOME_FAILED, v.detail, clk);
    auto r = make_result(cmd, v1::COMMAND_OUTCOME_SUCCEEDED,
                         "removed " + p.object_id() + " from " + p.exclusion_list() + " of policy '" + p.policy_name() +
                             "' (" + p.policy_id() + "), exception " + p.exception_id() + " expired; read-back as planned",
                         clk);
    r.set_verified_state(nlohmann::json{{"policyId", p.policy_id()},
                                        {p.exclusion_list(), exclusion_list_of(after.policy, p.exclusion_list())},
                                        {"modifiedDateTime", after.policy.value("modifiedDateTime", nlohmann::json())}}
                             .dump());
    return r;
}

v1::CommandResult disable_mfa(graph::graph_client& gc, const v1::AgentCommand& cmd, const clock& clk) {
    const auto& p = cmd.plan().disable_per_user_mfa();
    auto user = read_user(gc, p.user_id());
    if (!user) return make_result(cmd, v1::COMMAND_OUTCOME_FAILED, "reading user " + p.user_id() + ": " + user.err().message, clk);
    std::string state;
    if (user->found) {
        auto s = gc.per_user_mfa_state(p.user_id());
        if (!s) return make_result(cmd, v1::COMMAND_OUTCOME_FAILED, "reading per-user MFA of " + p.user_id() + ": " + s.err().message, clk);
        state = *s;
    }
    if (auto d = check_per_user_mfa_preconditions(p, *user, state); !d.ok())
        return make_result(cmd, outcome_of(d.verdict), d.detail + "; nothing was written", clk);
    if (auto w = gc.patch_per_user_mfa(p.user_id(), body_of(cmd, plans::disable_per_user_mfa_body())); !w)
        return make_result(cmd, v1::COMMAND_OUTCOME_FAILED,
                           "disabling per-user MFA of " + p.user_principal_name() + ": " + w.err().message, clk);
    auto now = gc.per_user_mfa_state(p.user_id());
    if (!now)
        return make_result(cmd, v1::COMMAND_OUTCOME_FAILED,
                           "PATCH of per-user MFA answered, but the read-back failed: " + now.err().message, clk);
    if (auto v = verify_per_user_mfa(*now); !v.ok()) return make_result(cmd, v1::COMMAND_OUTCOME_FAILED, v.detail, clk);
    auto r = make_result(cmd, v1::COMMAND_OUTCOME_SUCCEEDED,
                         "per-user MFA of " + p.user_principal_name() + " changed from '" + state +
                             "' to 'disabled'; read-back confirms",
                         clk);
    r.set_verified_state(nlohmann::json{{"userId", p.user_id()}, {"perUserMfaState", *now}}.dump());
    return r;
}

v1::CommandResult remove_role(graph::graph_client& gc, const v1::AgentCommand& cmd, const clock& clk) {
    const auto& p = cmd.plan().remove_privileged_role();
    auto user = read_user(gc, p.user_id());
    if (!user) return make_result(cmd, v1::COMMAND_OUTCOME_FAILED, "reading user " + p.user_id() + ": " + user.err().message, clk);
    observed_role_assignment ra;
    if (user->found) {
        auto a = read_assignment(gc, p.user_id(), p.role_assignment_id());
        if (!a) return make_result(cmd, v1::COMMAND_OUTCOME_FAILED, "reading role assignments of " + p.user_id() + ": " + a.err().message, clk);
        ra = *a;
    }
    if (auto d = check_remove_role_preconditions(p, ra, *user); !d.ok())
        return make_result(cmd, outcome_of(d.verdict), d.detail + "; nothing was written", clk);
    auto deleted = gc.delete_role_assignment(p.role_assignment_id());
    if (!deleted)
        return make_result(cmd, v1::COMMAND_OUTCOME_FAILED,
                           "deleting role assignment " + p.role_assignment_id() + ": " + deleted.err().message, clk);
    auto after = read_assignment(gc, p.user_id(), p.role_assignment_id());
    if (!after)
        return make_result(cmd, v1::COMMAND_OUTCOME_FAILED, "read-back of role assignments: " + after.err().message, clk);
    if (auto v = verify_role_removed(*after); !v.ok()) return make_result(cmd, v1::COMMAND_OUTCOME_FAILED, v.detail, clk);
    auto r = make_result(cmd, v1::COMMAND_OUTCOME_SUCCEEDED,
                         "removed role '" + (p.role_name().empty() ? p.role_template_id() : p.role_name()) + "' from " +
                             p.user_principal_name() + " (assignment " + p.role_assignment_id() +
                             "); read-back shows it gone",
                         clk);
    r.set_verified_state(
        nlohmann::json{{"roleAssignmentId", p.role_assignment_id()}, {"userId", p.user_id()}, {"present", false}}.dump());
    return r;
}

}  // namespace

v1::CommandResult make_result(const v1::AgentCommand& cmd, v1::CommandOutcome outcome, std::string detail,
                              const clock& clk) {
    v1::CommandResult r;
    r.set_command_id(cmd.command_id());
    r.set_task_id(cmd.task_id());
    r.set_plan_version(cmd.plan_version());
    r.set_outcome(outcome);
    r.set_detail(log::redact(detail));
    *r.mutable_executed_at() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(to_unix_ms(clk.now()));
    return r;
}

v1::CommandResult execute_command(graph::graph_client& gc, const v1::AgentCommand& cmd, std::string_view tenant_key,
                                  std::string_view envelope_tenant, const clock& clk) {
    try {
        if (auto d = validate_command(cmd, tenant_key, envelope_tenant, clk.now()); !d.ok())
            return make_result(cmd, outcome_of(d.verdict), d.detail, clk);
        switch (cmd.plan().kind()) {
            case v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY: return exclude(gc, cmd, clk);
            case v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA: return disable_mfa(gc, cmd, clk);
            case v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE: return remove_role(gc, cmd, clk);
            case v1::REMEDIATION_KIND_REMOVE_CA_POLICY_EXCLUSION: return remove_exclusion(gc, cmd, clk);
            default: return make_result(cmd, v1::COMMAND_OUTCOME_REFUSED, "nothing to execute for this kind", clk);
        }
    } catch (const std::exception& e) {
        return make_result(cmd, v1::COMMAND_OUTCOME_FAILED, std::string("internal error: ") + e.what(), clk);
    }
}

}  // namespace connguard::agent
