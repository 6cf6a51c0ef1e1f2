#include "coordinator/rules.h"

#include <algorithm>
#include <map>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/time_util.h>
#include <nlohmann/json.hpp>

#include "common/check_ids.h"
#include "common/remediation_plan.h"
#include "common/text.h"

namespace connguard::coord {

namespace {

using nlohmann::json;

std::string key_of(v1::RemediationKind k, const std::string& target) {
    return std::to_string(static_cast<int>(k)) + "|" + target;
}

std::string check_label(const v1::CheckResult& c) {
    return c.subject().empty() ? c.id() : c.id() + " (" + c.subject() + ")";
}

void finish(planned_remediation& p) {
    p.plan.set_kind(p.kind);
    p.automatic = is_automatic(p.kind);
    if (!p.automatic) p.risk = v1::RISK_LOW;
    p.approvals_required = p.risk == v1::RISK_HIGH ? 2 : 1;
}

}  // namespace

bool is_automatic(v1::RemediationKind kind) {
    return kind == v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY || kind == v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA ||
           kind == v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE;
}

std::string kind_name(v1::RemediationKind kind) { return enum_word(v1::RemediationKind_Name(kind), "REMEDIATION_KIND_"); }

std::string plan_identity(const v1::RemediationPlan& plan) {
    std::string out;
    {
        google::protobuf::io::StringOutputStream sos(&out);
        google::protobuf::io::CodedOutputStream cos(&sos);
        cos.SetSerializationDeterministic(true);
        plan.SerializeToCodedStream(&cos);
    }
    return out;
}

v1::RemediationPlan exclude_plan(const std::string& policy_id, const std::string& policy_name,
                                 const std::string& user_id, const std::string& upn, const std::string& modified,
                                 const std::vector<std::string>& exclude_before) {
    v1::RemediationPlan plan;
    plan.set_kind(v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
    auto* p = plan.mutable_exclude_from_ca_policy();
    p->set_policy_id(policy_id);
    p->set_policy_name(policy_name);
    p->set_user_id(user_id);
    p->set_user_principal_name(upn);
    p->set_expected_modified_date_time(modified);
    std::vector<std::string> after = exclude_before;
    for (const auto& u : exclude_before) p->add_exclude_users_before(u);
    if (std::find(after.begin(), after.end(), user_id) == after.end()) after.push_back(user_id);
    for (const auto& u : after) p->add_exclude_users_after(u);
    plans::render(plan);
    return plan;
}

plan_build plans_from_report(const v1::ValidationReport& report) {
    plan_build out;
    std::map<std::string, bool> seen;
    const std::string& user_id = report.account_object_id();
    const std::string& upn = report.account_upn();
    for (const auto& c : report.checks()) {
        if (c.status() == v1::CHECK_STATUS_ERROR) out.conclusive = false;
        // A Microsoft-managed policy that will switch itself on is planned for while it is only a
        // WARN: the exclusion can be made now and Microsoft keeps it (graph.md §11.1).
        const bool managed_warning = c.status() == v1::CHECK_STATUS_WARN && c.id() == checks::check_cap_managed;
        if (c.status() != v1::CHECK_STATUS_FAIL && !managed_warning) continue;
        for (const auto& s : c.remediations()) {
            if (s.kind() == v1::REMEDIATION_KIND_UNSPECIFIED) continue;
            std::string target = s.target_id();
            if (target.empty() && !is_automatic(s.kind())) target = user_id.empty() ? upn : user_id;
            if (!seen.emplace(key_of(s.kind(), target), true).second) continue;
            auto problem = [&](std::string why) {
                out.problems.push_back({s.kind(), target,
                                        check_label(c) + ": " + kind_name(s.kind()) + " for '" +
                                            (s.target_name().empty() ? target : s.target_name()) + "' (" + target +
                                            "): " + why + "; no task planned"});
            };
            planned_remediation p;
            p.kind = s.kind();
            p.target = target;
            p.reason = check_label(c) + ": " + c.reason();
            // The agent sends the typed plan; the coordinator adds only risk, approvals and expiry,
            // and renders the Graph call from the typed fields (never from strings).
            if (!s.has_plan() || s.plan().kind() != s.kind()) {
                problem("the report carries no typed plan for it (the facts it needs were not collected, or the "
                        "agent is older than this coordinator)");
                continue;
            }
            p.plan = s.plan();
            if (!plans::render(p.plan)) {
                problem("its typed plan does not match its kind");
                continue;
            }
            switch (s.kind()) {
                case v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY: {
                    const auto& x = p.plan.exclude_from_ca_policy();
                    if (x.policy_id().empty() || x.policy_id() != target) { problem("the plan names another policy"); continue; }
                    if (user_id.empty() || x.user_id() != user_id) { problem("the plan's account is not the report's account"); continue; }
                    // Risk: high when the policy blocks or targets All users.
                    const auto& g = x.grant_controls();
                    const auto& inc = x.include_users();
                    const bool blocks = std::find(g.begin(), g.end(), "block") != g.end();
                    const bool all_users = std::find(inc.begin(), inc.end(), "All") != inc.end();
                    p.risk = (blocks || all_users) ? v1::RISK_HIGH : v1::RISK_MEDIUM;
                    break;
                }
                case v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA: {
                    const auto& x = p.plan.disable_per_user_mfa();
                    if (user_id.empty() || x.user_id() != user_id) { problem("the plan's account is not the report's account"); continue; }
                    if (x.expected_state().empty()) { problem("the plan has no expected per-user MFA state (the precondition)"); continue; }
                    p.target = x.user_id();
                    p.risk = v1::RISK_MEDIUM;
                    break;
                }
                case v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE: {
                    const auto& x = p.plan.remove_privileged_role();
                    if (x.role_assignment_id() != target) { problem("the plan names another role assignment"); continue; }
                    if (user_id.empty() || x.user_id() != user_id) { problem("the plan's account is not the report's account"); continue; }
                    if (x.role_template_id().empty()) { problem("the plan has no role template id (the precondition)"); continue; }
                    p.risk = v1::RISK_HIGH;
                    break;
                }
                case v1::REMEDIATION_KIND_MOVE_TO_APP_ONLY_AUTH:
                case v1::REMEDIATION_KIND_REGISTER_MFA_FOR_ACCOUNT:
                case v1::REMEDIATION_KIND_ASSIGN_ACCOUNT_TO_APP:
                case v1::REMEDIATION_KIND_REMEDIATE_ACCOUNT_RISK:
                    if (!p.plan.has_guidance()) { problem("the plan is not guidance"); continue; }
                    break;
                default:
                    continue;
            }
            finish(p);
            out.plans.push_back(std::move(p));
        }
    }
    return out;
}

std::vector<task_action> reconcile_tasks(const plan_build& build, const std::vector<task>& tasks,
                                         std::int64_t report_collected_ms, std::uint64_t cycle) {
    std::vector<task_action> out;
    // Newest task per key, and the open one (at most one) per key.
    std::map<std::string, const task*> newest, open;
    for (const auto& t : tasks) {
        const auto k = key_of(t.view.kind(), t.view.target());
        auto ms = [](const task& x) {
            return google::protobuf::util::TimeUtil::TimestampToMilliseconds(x.view.created_at());
        };
        if (!newest.count(k) || ms(t) >= ms(*newest[k])) newest[k] = &t;
        if (is_open(t.view.state())) open[k] = &t;
    }
    std::map<std::string, const planned_remediation*> wanted;
    for (const auto& p : build.plans) wanted[key_of(p.kind, p.target)] = &p;
    std::map<std::string, bool> unplannable;
    for (const auto& pr : build.problems) unplannable[key_of(pr.kind, pr.target)] = true;
    const std::string cyc = "report cycle " + std::to_string(cycle);

    for (const auto& [k, t] : open) {
        const auto state = t->view.state();
        auto it = wanted.find(k);
        const bool still_there = it != wanted.end() || unplannable.count(k);
        if (state == v1::TASK_STATE_PROPOSED || state == v1::TASK_STATE_PENDING_APPROVAL) {
            if (it != wanted.end()) {
                if (plan_identity(it->second->plan) != plan_identity(t->view.plan()))
                    out.push_back({task_action::kind::replan, t->view.task_id(), *it->second,
                                   cyc + " shows a different plan: " + it->second->plan.summary()});
            } else if (!still_there && build.conclusive) {
                out.push_back({task_action::kind::supersede, t->view.task_id(), {},
                               cyc + " no longer shows the problem"});
            }
        } else if (state == v1::TASK_STATE_SUCCEEDED) {
            if (report_collected_ms <= t->succeeded_at_ms) continue;  // collected before the change
            if (it != wanted.end())
                out.push_back({task_action::kind::reopen, t->view.task_id(), *it->second,
                               cyc + " still shows the problem after the change"});
            else if (!still_there && build.conclusive)
                out.push_back({task_action::kind::verify, t->view.task_id(), {}, cyc + " no longer shows the problem"});
        }
    }
    for (const auto& [k, p] : wanted) {
        if (open.count(k)) continue;
        auto n = newest.find(k);
        if (n != newest.end() && n->second->view.state() == v1::TASK_STATE_REJECTED &&
            plan_identity(n->second->view.plan()) == plan_identity(p->plan))
            continue;  // rejected for exactly this plan: do not ask again until the plan changes
        out.push_back({task_action::kind::create, {}, *p, p->reason});
    }
    return out;
}

std::vector<task_action> actions_for_event(const v1::ChangeEvent& event, const std::vector<task>& tasks) {
    std::vector<task_action> out;
    const std::string subject = event.subject_id();
    for (const auto& t : tasks) {
        const auto s = t.view.state();
        if (s != v1::TASK_STATE_PROPOSED && s != v1::TASK_STATE_PENDING_APPROVAL) continue;
        const auto kind = t.view.kind();
        const std::string label = "change event " + std::string(v1::ChangeKind_Name(event.kind())) +
                                  (event.subject_name().empty() ? "" : " '" + event.subject_name() + "'");
        switch (event.kind()) {
            case v1::CHANGE_KIND_CA_POLICY_DELETED:
            case v1::CHANGE_KIND_ACCOUNT_EXCLUDED_FROM_POLICY:
                if (kind == v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY && t.view.target() == subject)
                    out.push_back({task_action::kind::supersede, t.view.task_id(), {}, label + ": problem went away"});
                break;
            case v1::CHANGE_KIND_PER_USER_MFA_CHANGED:
                if (kind == v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA && event.after() == "disabled")
                    out.push_back({task_action::kind::supersede, t.view.task_id(), {}, label + ": now disabled"});
                break;
            case v1::CHANGE_KIND_PRIVILEGED_ROLE_REMOVED:
                if (kind == v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE &&
                    (t.view.plan().remove_privileged_role().role_template_id() == subject || t.view.target() == subject))
                    out.push_back({task_action::kind::supersede, t.view.task_id(), {}, label + ": role removed"});
                break;
            case v1::CHANGE_KIND_CA_POLICY_UPDATED:
            case v1::CHANGE_KIND_CA_POLICY_STATE_CHANGED: {
                if (kind != v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY || t.view.target() != subject) break;
                const auto& old = t.view.plan().exclude_from_ca_policy();
                try {
                    const json pol = json::parse(event.after());
                    const std::string modified = pol.value("modifiedDateTime", "");
                    const json* excl = nullptr;
                    if (pol.contains("conditions") && pol["conditions"].contains("users") &&
                        pol["conditions"]["users"].contains("excludeUsers"))
                        excl = &pol["conditions"]["users"]["excludeUsers"];
                    if (modified.empty() || excl == nullptr || !excl->is_array()) break;
                    if (modified == old.expected_modified_date_time()) break;
                    std::vector<std::string> before;
                    for (const auto& v : *excl)
                        if (v.is_string()) before.push_back(v.get<std::string>());
                    planned_remediation p;
                    p.kind = kind;
                    p.target = t.view.target();
                    p.plan = exclude_plan(old.policy_id(), pol.value("displayName", old.policy_name()), old.user_id(),
                                          old.user_principal_name(), modified, before);
                    *p.plan.mutable_exclude_from_ca_policy()->mutable_grant_controls() = old.grant_controls();
                    *p.plan.mutable_exclude_from_ca_policy()->mutable_include_users() = old.include_users();
                    p.risk = t.view.risk();
                    p.automatic = true;
                    p.approvals_required = t.view.approvals_required();
                    p.reason = t.view.reason();
                    out.push_back({task_action::kind::replan, t.view.task_id(), std::move(p),
                                   label + ": the policy changed (modifiedDateTime " + modified + ")"});
                } catch (const std::exception&) {
                    // The event carries no policy JSON: the next report replans.
                }
                break;
            }
            default:
                break;
        }
    }
    return out;
}

}  // namespace connguard::coord
