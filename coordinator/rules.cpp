#include "coordinator/rules.h"

#include <algorithm>
#include <map>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/time_util.h>
#include <nlohmann/json.hpp>

namespace connguard::coord {

namespace {

using nlohmann::json;

const v1::Evidence* find_evidence(const v1::CheckResult& c, std::string_view kind, std::string_view id) {
    for (const auto& e : c.evidence())
        if (e.kind() == kind && (id.empty() || e.id() == id)) return &e;
    return nullptr;
}

bool parse_string_array(const std::string& text, std::vector<std::string>& out) {
    try {
        const json j = json::parse(text);
        if (!j.is_array()) return false;
        out.clear();
        for (const auto& v : j) {
            if (!v.is_string()) return false;
            out.push_back(v.get<std::string>());
        }
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

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

std::string_view kind_name(v1::RemediationKind kind) {
    switch (kind) {
        case v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY: return "EXCLUDE_FROM_CA_POLICY";
        case v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA: return "DISABLE_PER_USER_MFA";
        case v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE: return "REMOVE_PRIVILEGED_ROLE";
        case v1::REMEDIATION_KIND_MOVE_TO_APP_ONLY_AUTH: return "MOVE_TO_APP_ONLY_AUTH";
        case v1::REMEDIATION_KIND_REGISTER_MFA_FOR_ACCOUNT: return "REGISTER_MFA_FOR_ACCOUNT";
        case v1::REMEDIATION_KIND_ASSIGN_ACCOUNT_TO_APP: return "ASSIGN_ACCOUNT_TO_APP";
        case v1::REMEDIATION_KIND_REMEDIATE_ACCOUNT_RISK: return "REMEDIATE_ACCOUNT_RISK";
        default: return "UNSPECIFIED";
    }
}

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
    plan.set_http_method("PATCH");
    plan.set_http_path("/v1.0/identity/conditionalAccess/policies/" + policy_id);
    plan.set_http_body(json{{"conditions", {{"users", {{"excludeUsers", after}}}}}}.dump());
    plan.set_summary("exclude " + (upn.empty() ? user_id : upn) + " from CA policy '" + policy_name + "'");
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
        const bool managed_warning = c.status() == v1::CHECK_STATUS_WARN && c.id() == "CG-CAP-MANAGED";
        if (c.status() != v1::CHECK_STATUS_FAIL && !managed_warning) continue;
        for (const auto& s : c.remediations()) {
            if (s.kind() == v1::REMEDIATION_KIND_UNSPECIFIED) continue;
            std::string target = s.target_id();
            if (target.empty() && !is_automatic(s.kind())) target = user_id.empty() ? upn : user_id;
            if (!seen.emplace(key_of(s.kind(), target), true).second) continue;
            auto problem = [&](std::string why) {
                out.problems.push_back({s.kind(), target,
                                        check_label(c) + ": " + std::string(kind_name(s.kind())) + " for '" +
                                            (s.target_name().empty() ? target : s.target_name()) + "' (" + target +
                                            "): " + why + "; no task planned"});
            };
            planned_remediation p;
            p.kind = s.kind();
            p.target = target;
            p.reason = check_label(c) + ": " + c.reason();
            switch (s.kind()) {
                case v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY: {
                    if (target.empty()) { problem("no policy id"); continue; }
                    if (user_id.empty()) { problem("the report has no account object id"); continue; }
                    // An empty detail is Graph's null: the policy was never modified since it was
                    // created (graph.md §3), and the plan expects it to stay that way.
                    const auto* modified = find_evidence(c, "policy.modifiedDateTime", target);
                    if (modified == nullptr) {
                        problem("evidence lacks policy.modifiedDateTime (the precondition)");
                        continue;
                    }
                    const auto* excl = find_evidence(c, "policy.excludeUsers", target);
                    std::vector<std::string> before;
                    if (excl == nullptr || !parse_string_array(excl->detail(), before)) {
                        problem("evidence lacks policy.excludeUsers as a JSON array (needed for the merged PATCH)");
                        continue;
                    }
                    std::string name = s.target_name();
                    if (const auto* pol = find_evidence(c, "policy", target); pol && !pol->name().empty()) name = pol->name();
                    p.plan = exclude_plan(target, name, user_id, upn, modified->detail(), before);
                    // Risk: high when the policy blocks or targets All users; unknown counts as high.
                    const auto* grant = find_evidence(c, "policy.grant", target);
                    const auto* incl = find_evidence(c, "policy.includeUsers", target);
                    std::vector<std::string> include;
                    const bool blocks = grant == nullptr || grant->detail().find("block") != std::string::npos;
                    const bool all_users = incl == nullptr || !parse_string_array(incl->detail(), include) ||
                                           std::find(include.begin(), include.end(), "All") != include.end();
                    p.risk = (blocks || all_users) ? v1::RISK_HIGH : v1::RISK_MEDIUM;
                    break;
                }
                case v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA: {
                    if (target.empty()) target = user_id;
                    p.target = target;
                    if (target.empty()) { problem("no user object id"); continue; }
                    const auto* st = find_evidence(c, "setting", "perUserMfaState");
                    if (st == nullptr || st->detail().empty()) {
                        problem("evidence lacks setting perUserMfaState (the precondition)");
                        continue;
                    }
                    auto* d = p.plan.mutable_disable_per_user_mfa();
                    d->set_user_id(target);
                    d->set_user_principal_name(upn);
                    d->set_expected_state(st->detail());
                    p.plan.set_http_method("PATCH");
                    p.plan.set_http_path("/beta/users/" + target + "/authentication/requirements");
                    p.plan.set_http_body(R"({"perUserMfaState":"disabled"})");
                    p.plan.set_summary("disable per-user MFA (" + st->detail() + ") for " + (upn.empty() ? target : upn));
                    p.risk = v1::RISK_MEDIUM;
                    break;
                }
                case v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE: {
                    if (target.empty()) { problem("no role assignment id"); continue; }
                    if (user_id.empty()) { problem("the report has no account object id"); continue; }
                    std::string template_id, role_name = s.target_name();
                    if (const auto* ra = find_evidence(c, "role_assignment", target)) {
                        template_id = ra->detail();
                        if (!ra->name().empty()) role_name = ra->name();
                    } else {
                        // agent/checks today: kind "role", id = template id, detail "assignment <id> scope ..."
                        for (const auto& e : c.evidence()) {
                            if (e.kind() != "role" || e.detail().find(target) == std::string::npos) continue;
                            template_id = e.id();
                            if (!e.name().empty()) role_name = e.name();
                            break;
                        }
                    }
                    if (template_id.empty()) {
                        problem("evidence lacks the role template id (role_assignment or role evidence)");
                        continue;
                    }
                    auto* r = p.plan.mutable_remove_privileged_role();
                    r->set_role_assignment_id(target);
                    r->set_role_template_id(template_id);
                    r->set_role_name(role_name);
                    r->set_user_id(user_id);
                    r->set_user_principal_name(upn);
                    p.plan.set_http_method("DELETE");
                    p.plan.set_http_path("/v1.0/roleManagement/directory/roleAssignments/" + target);
                    p.plan.set_summary("remove role '" + role_name + "' from " + (upn.empty() ? user_id : upn));
                    p.risk = v1::RISK_HIGH;
                    break;
                }
                case v1::REMEDIATION_KIND_MOVE_TO_APP_ONLY_AUTH:
                case v1::REMEDIATION_KIND_REGISTER_MFA_FOR_ACCOUNT:
                case v1::REMEDIATION_KIND_ASSIGN_ACCOUNT_TO_APP:
                case v1::REMEDIATION_KIND_REMEDIATE_ACCOUNT_RISK: {
                    std::string text = s.summary();
                    if (text.empty()) {
                        switch (s.kind()) {
                            case v1::REMEDIATION_KIND_MOVE_TO_APP_ONLY_AUTH:
                                text = "Move the tool's connection to app-only authentication (certificate or client "
                                       "secret with application permissions) instead of the account " + upn;
                                break;
                            case v1::REMEDIATION_KIND_ASSIGN_ACCOUNT_TO_APP:
                                text = "Assign the account " + upn + " to the enterprise app it signs in with";
                                break;
                            case v1::REMEDIATION_KIND_REMEDIATE_ACCOUNT_RISK:
                                text = "Investigate and remediate the risk Entra ID Protection sees on " + upn;
                                break;
                            default:
                                text = "Complete the MFA registration of the account " + upn;
                                break;
                        }
                    }
                    p.plan.mutable_guidance()->set_instructions(text);
                    p.plan.set_summary(text);
                    break;
                }
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
