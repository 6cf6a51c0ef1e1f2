#include "coordinator/exceptions.h"

#include <algorithm>
#include <map>
#include <set>

#include <google/protobuf/util/time_util.h>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/ids.h"
#include "common/remediation_plan.h"
#include "common/text.h"
#include "common/topics.h"

namespace connguard::exceptions {

namespace {

using nlohmann::json;

constexpr std::int64_t day_ms = 24LL * 3600 * 1000;

std::string task_key(v1::RemediationKind k, const std::string& target) {
    return std::to_string(static_cast<int>(k)) + "|" + target;
}

std::optional<kind> kind_of(v1::ExclusionKind k) {
    switch (k) {
        case v1::EXCLUSION_KIND_USER: return kind::user;
        case v1::EXCLUSION_KIND_GROUP: return kind::group;
        case v1::EXCLUSION_KIND_ROLE: return kind::role;
        default: return std::nullopt;
    }
}

std::string object_label(const record& r) {
    return r.object_name.empty() ? r.object_id : r.object_name + " (" + r.object_id + ")";
}

std::string who_label(const record& r) {
    std::string s = "owner " + (r.owner.empty() ? std::string("(none)") : r.owner);
    if (!r.ticket.empty()) s += ", ticket " + r.ticket;
    return s;
}

/// A guidance proposal of the registry.
coord::planned_remediation guidance(v1::RemediationKind k, const std::string& target, const std::string& instructions,
                                    const std::string& reason) {
    coord::planned_remediation p;
    p.kind = k;
    p.target = target;
    p.plan.set_kind(k);
    p.plan.mutable_guidance()->set_instructions(instructions);
    p.plan.set_summary(instructions);
    plans::render(p.plan);
    p.risk = v1::RISK_LOW;
    p.automatic = false;
    p.approvals_required = 1;
    p.reason = reason;
    return p;
}

std::string policy_label(const v1::PolicyExclusions& p) {
    return "'" + (p.policy_name().empty() ? p.policy_id() : p.policy_name()) + "' (" + p.policy_id() + ")";
}

/// Calls fn(policy, excluded object, kind) for every user / group / role exclusion of an enabled or
/// report-only policy of `report` that no exclusion exception of `registered` covers.
template <class Fn>
void for_each_unregistered(const std::string& tenant, const std::vector<record>& registered,
                           const v1::ValidationReport* report, Fn&& fn) {
    if (report == nullptr || !report->has_evaluation_context() || !report->evaluation_context().has_exclusions()) return;
    std::set<std::string> covered;
    for (const auto& r : registered)
        if (is_exclusion(r.what)) covered.insert(exclusion_key(tenant, r.what, r.policy_id, r.object_id));
    for (const auto& p : report->evaluation_context().exclusions().policies()) {
        if (p.state() == v1::CA_POLICY_STATE_DISABLED) continue;
        for (const auto& o : p.excluded()) {
            const auto k = kind_of(o.kind());
            if (!k || covered.count(exclusion_key(tenant, *k, p.policy_id(), o.object_id()))) continue;
            fn(p, o, *k);
        }
    }
}

}  // namespace

std::string kind_word(kind k) {
    switch (k) {
        case kind::user: return "user";
        case kind::group: return "group";
        case kind::role: return "role";
        case kind::mfa_off: return "mfa-off";
        case kind::role_kept: return "role-kept";
    }
    return "user";
}

std::optional<kind> parse_kind(std::string_view w) {
    for (auto k : {kind::user, kind::group, kind::role, kind::mfa_off, kind::role_kept})
        if (kind_word(k) == w) return k;
    return std::nullopt;
}

bool is_exclusion(kind k) { return k == kind::user || k == kind::group || k == kind::role; }

std::string exclusion_key(const std::string& tenant, kind k, std::string_view policy_id, std::string_view object_id) {
    std::string key = tenant;
    key += '|';
    key += kind_word(k);
    key += '|';
    key += to_lower(policy_id);
    key += '|';
    key += to_lower(object_id);
    return key;
}

std::string key_of(const record& r) { return exclusion_key(r.tenant, r.what, r.policy_id, r.object_id); }

std::optional<std::vector<std::string>> onboarding_keys(const std::string& tenant, const v1::ValidationReport& report) {
    if (!report.has_evaluation_context() || !report.evaluation_context().has_exclusions()) return std::nullopt;
    const auto& facts = report.evaluation_context().exclusions();
    if (!facts.complete()) return std::nullopt;
    std::vector<std::string> keys;
    for (const auto& p : facts.policies())
        for (const auto& o : p.excluded())
            if (const auto k = kind_of(o.kind())) keys.push_back(exclusion_key(tenant, *k, p.policy_id(), o.object_id()));
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    return keys;
}

std::vector<record> unregistered(const std::string& tenant, const std::vector<record>& registered,
                                 const v1::ValidationReport* report) {
    std::vector<record> out;
    std::set<std::string> seen;
    for_each_unregistered(tenant, registered, report, [&](const v1::PolicyExclusions& p, const v1::ExcludedObject& o, kind k) {
        record r;
        r.tenant = tenant;
        r.what = k;
        r.policy_id = to_lower(p.policy_id());
        r.object_id = to_lower(o.object_id());
        r.object_name = o.display_name();
        if (seen.insert(key_of(r)).second) out.push_back(std::move(r));
    });
    return out;
}

phase phase_of(const record& r, std::int64_t now, const settings& s) {
    if (r.expires_ms > 0 && now >= r.expires_ms) return phase::expired;
    if (r.expires_ms > 0 && now >= r.expires_ms - s.warning_ms) return phase::expiring;
    return phase::valid;
}

v1::ExceptionKind wire_kind(kind k) {
    switch (k) {
        case kind::user: return v1::EXCEPTION_KIND_USER;
        case kind::group: return v1::EXCEPTION_KIND_GROUP;
        case kind::role: return v1::EXCEPTION_KIND_ROLE;
        case kind::mfa_off: return v1::EXCEPTION_KIND_MFA_OFF;
        case kind::role_kept: return v1::EXCEPTION_KIND_ROLE_KEPT;
    }
    return v1::EXCEPTION_KIND_UNSPECIFIED;
}

std::optional<kind> kind_of_wire(v1::ExceptionKind k) {
    switch (k) {
        case v1::EXCEPTION_KIND_USER: return kind::user;
        case v1::EXCEPTION_KIND_GROUP: return kind::group;
        case v1::EXCEPTION_KIND_ROLE: return kind::role;
        case v1::EXCEPTION_KIND_MFA_OFF: return kind::mfa_off;
        case v1::EXCEPTION_KIND_ROLE_KEPT: return kind::role_kept;
        default: return std::nullopt;
    }
}

v1::ExceptionRecord to_proto(const record& r) {
    v1::ExceptionRecord x;
    x.set_id(r.id);
    x.set_tenant(r.tenant);
    x.set_kind(wire_kind(r.what));
    x.set_policy_id(r.policy_id);
    x.set_object_id(r.object_id);
    x.set_object_name(r.object_name);
    x.set_owner(r.owner);
    x.set_reason(r.reason);
    x.set_ticket(r.ticket);
    x.set_source(r.source);
    *x.mutable_created_at() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(r.created_ms);
    *x.mutable_expires_at() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(r.expires_ms);
    return x;
}

record from_proto(const v1::ExceptionRecord& x) {
    record r;
    r.id = x.id();
    r.tenant = x.tenant();
    r.what = kind_of_wire(x.kind()).value_or(kind::user);
    r.policy_id = to_lower(x.policy_id());
    r.object_id = to_lower(x.object_id());
    r.object_name = x.object_name();
    r.owner = x.owner();
    r.reason = x.reason();
    r.ticket = x.ticket();
    r.source = x.source();
    r.created_ms = x.has_created_at() ? google::protobuf::util::TimeUtil::TimestampToMilliseconds(x.created_at()) : 0;
    r.expires_ms = x.has_expires_at() ? google::protobuf::util::TimeUtil::TimestampToMilliseconds(x.expires_at()) : 0;
    return r;
}

std::string date_of(std::int64_t ms) { return format_rfc3339(from_unix_ms(ms), 0).substr(0, 10); }

std::optional<std::int64_t> parse_expiry(std::string_view text) {
    std::string t(text);
    if (t.size() == 10) t += "T23:59:59Z";
    clock::time_point tp;
    if (!parse_rfc3339(t, tp)) return std::nullopt;
    return to_unix_ms(tp);
}

decisions reconcile(const std::string& tenant, const std::vector<record>& registered,
                    const v1::ValidationReport* report, std::int64_t now, const settings& s,
                    const onboarding& onboarded) {
    decisions out;
    const v1::CaExclusionFacts* facts =
        report != nullptr && report->has_evaluation_context() && report->evaluation_context().has_exclusions()
            ? &report->evaluation_context().exclusions()
            : nullptr;
    // Listed policies by id, and each one's entries by (kind, object).
    std::map<std::string, const v1::PolicyExclusions*> policies;
    if (facts != nullptr)
        for (const auto& p : facts->policies()) policies[to_lower(p.policy_id())] = &p;
    auto find_entry = [](const v1::PolicyExclusions& p, kind k, const std::string& object) -> const v1::ExcludedObject* {
        for (const auto& o : p.excluded())
            if (kind_of(o.kind()) == k && to_lower(o.object_id()) == object) return &o;
        return nullptr;
    };

    for (const auto& r : registered) {
        const std::string policy = to_lower(r.policy_id), object = to_lower(r.object_id);
        const auto ph = phase_of(r, now, s);
        if (r.what == kind::role_kept && ph != phase::expired) out.kept_roles.push_back(object);

        // Does what the exception allows still stand? (unknown -> nullopt)
        std::optional<bool> present;
        const v1::PolicyExclusions* pol = nullptr;
        // A report collected before the exception existed cannot say its exclusion disappeared:
        // right after an approved exclusion succeeds, the stored report still predates it.
        const bool report_newer = report != nullptr && report->has_collected_at() &&
                                  google::protobuf::util::TimeUtil::TimestampToMilliseconds(report->collected_at()) >= r.created_ms;
        if (is_exclusion(r.what) && facts != nullptr && report_newer) {
            auto it = policies.find(policy);
            if (it != policies.end()) {
                pol = it->second;
                present = find_entry(*pol, r.what, object) != nullptr;
            } else if (facts->complete()) {
                present = false;
            }
        }
        const std::string what = is_exclusion(r.what)
                                     ? kind_word(r.what) + std::string(" ") + object_label(r) + " excluded from CA policy " +
                                           (pol != nullptr ? policy_label(*pol) : "'" + r.policy_id + "'")
                                     : std::string(r.what == kind::mfa_off ? "per-user MFA off for " : "role kept by ") + object_label(r);

        if (ph == phase::expired) {
            if (present.has_value() && !*present) continue;  // lapsed, and what it allowed is gone too
            coord::alert_cause a;
            a.cause = "EXCEPTION_EXPIRED:" + r.id;
            a.severity = v1::SEVERITY_WARNING;
            a.title = "tenant " + tenant + std::string(": exception expired on ") + date_of(r.expires_ms) + ": " + what;
            a.detail = "exception " + r.id + std::string(" (") + who_label(r) + "; reason: " + r.reason +
                       ") has expired; its removal is proposed as a task and happens only when approved. "
                       "Renew it with `connguardctl exception add ... --expires` to keep it.";
            a.evidence_ids = {r.id};
            if (!r.policy_id.empty()) a.evidence_ids.push_back(r.policy_id);
            out.alerts.push_back(std::move(a));
            const std::string instructions =
                is_exclusion(r.what)
                    ? std::string("remove ") + kind_word(r.what) + std::string(" ") + object_label(r) + " from the exclusions of CA policy " +
                          (pol != nullptr ? policy_label(*pol) : "'" + r.policy_id + "'") +
                          " (exception " + r.id + std::string(" expired ") + date_of(r.expires_ms) + "), then remove the exception"
                : r.what == kind::mfa_off
                    ? std::string("turn per-user MFA back on for ") + object_label(r) + " (exception " + r.id + std::string(" expired ") +
                          date_of(r.expires_ms) + "), then remove the exception"
                    : std::string("remove role ") + object_label(r) + " (exception " + r.id + std::string(" expired ") + date_of(r.expires_ms) +
                          "), then remove the exception";
            const std::string why = "EXCEPTION_EXPIRED: exception " + r.id + std::string(" (") + who_label(r) + ") for " + what;
            const v1::ExcludedObject* entry = pol != nullptr ? find_entry(*pol, r.what, object) : nullptr;
            if (entry == nullptr) {  // MFA-off, kept role, or the policy's facts are not at hand: a person does it
                out.tasks.push_back(guidance(v1::REMEDIATION_KIND_REMOVE_CA_POLICY_EXCLUSION, r.id, instructions, why));
                continue;
            }
            // The exact PATCH, with the policy as read as its precondition; the agent executes it
            // after approval, only if the policy still looks like this.
            coord::planned_remediation p;
            p.kind = v1::REMEDIATION_KIND_REMOVE_CA_POLICY_EXCLUSION;
            p.target = r.id;
            p.plan.set_kind(p.kind);
            auto* x = p.plan.mutable_remove_ca_policy_exclusion();
            x->set_policy_id(pol->policy_id());
            x->set_policy_name(pol->policy_name());
            x->set_exclusion_list(r.what == kind::user ? "excludeUsers" : r.what == kind::group ? "excludeGroups" : "excludeRoles");
            x->set_object_id(entry->object_id());
            x->set_expected_modified_date_time(pol->modified_date_time());
            x->set_exception_id(r.id);
            for (const auto& o : pol->excluded()) {
                if (o.kind() != entry->kind()) continue;
                x->add_exclude_before(o.object_id());
                if (to_lower(o.object_id()) != object) x->add_exclude_after(o.object_id());
            }
            p.plan.set_summary(std::string("remove ") + kind_word(r.what) + " " + object_label(r) +
                               " from the exclusions of CA policy " + policy_label(*pol) + " (exception " + r.id +
                               " expired " + date_of(r.expires_ms) + ")");
            plans::render(p.plan);
            // Taking the connection account's own exclusion away can break it: two approvers.
            p.risk = entry->covers_account() != v1::ACCOUNT_COVERAGE_NONE ? v1::RISK_HIGH : v1::RISK_MEDIUM;
            p.automatic = true;
            p.approvals_required = p.risk == v1::RISK_HIGH ? 2 : 1;
            p.reason = why;
            out.tasks.push_back(std::move(p));
            continue;
        }
        if (ph == phase::expiring) {
            coord::alert_cause a;
            a.cause = "EXCEPTION_EXPIRING:" + r.id;
            a.severity = v1::SEVERITY_INFO;
            a.title = "tenant " + tenant + std::string(": exception expires on ") + date_of(r.expires_ms) + ": " + what;
            a.detail = "exception " + r.id + std::string(" (") + who_label(r) + "; reason: " + r.reason +
                       ") expires soon; renew it or let it lapse (its removal is then proposed for approval)";
            a.evidence_ids = {r.id};
            out.alerts.push_back(std::move(a));
            out.tasks.push_back(guidance(v1::REMEDIATION_KIND_REVIEW_EXCEPTION, r.id + std::string("@") + date_of(r.expires_ms),
                                         "review exception " + r.id + " (" + what + std::string(", ") + who_label(r) +
                                             std::string("): renew it with `connguardctl exception add --expires` or let it expire on ") +
                                             date_of(r.expires_ms),
                                         "EXCEPTION_EXPIRING: exception " + r.id + std::string(" expires ") + date_of(r.expires_ms)));
        }
        if (!is_exclusion(r.what) || !present.has_value() || *present) continue;

        if (pol == nullptr) {  // complete facts, and the policy is not among them
            coord::alert_cause a;
            a.cause = "EXCEPTION_POLICY_GONE:" + policy + ":" + object;
            a.severity = v1::SEVERITY_INFO;
            a.title = "tenant " + tenant + ": CA policy '" + r.policy_id + "' of exception " + r.id + " no longer exists";
            a.detail = std::string("the exception (") + who_label(r) + std::string(") excluded ") + object_label(r) +
                       "; with the policy gone it has nothing to cover. Remove it with `connguardctl exception remove " +
                       r.id + "`.";
            a.evidence_ids = {r.id, r.policy_id};
            out.alerts.push_back(std::move(a));
            continue;
        }
        coord::alert_cause a;
        a.cause = "EXCEPTION_REMOVED:" + policy + ":" + object;
        a.severity = v1::SEVERITY_WARNING;
        a.title = "tenant " + tenant + std::string(": registered exclusion removed: ") + kind_word(r.what) + std::string(" ") + object_label(r) +
                  std::string(" is no longer excluded from CA policy ") + policy_label(*pol);
        a.detail = "exception " + r.id + std::string(" (") + who_label(r) + "; reason: " + r.reason +
                   ") says it should be; someone edited the policy (modified " +
                   (pol->modified_date_time().empty() ? std::string("(never)") : pol->modified_date_time()) + ").";
        a.evidence_ids = {r.id, pol->policy_id(), object};
        const std::string account = report != nullptr ? to_lower(report->account_object_id()) : std::string{};
        const std::string upn = object == account && !account.empty() ? report->account_upn() : r.object_name;
        if (r.what == kind::user && !upn.empty() && upn.find('@') != std::string::npos) {
            std::vector<std::string> before;
            for (const auto& o : pol->excluded())
                if (o.kind() == v1::EXCLUSION_KIND_USER) before.push_back(o.object_id());
            coord::planned_remediation p;
            p.kind = v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY;
            // The report's own CG-CAP plan for the account uses the policy id; another user's
            // restore gets its own target so both can wait side by side.
            p.target = object == account ? pol->policy_id() : pol->policy_id() + "/" + object;
            p.plan = coord::exclude_plan(pol->policy_id(), pol->policy_name(), object, upn, pol->modified_date_time(), before);
            p.plan.set_summary("restore the registered exclusion of " + upn + std::string(" from CA policy ") + policy_label(*pol) +
                               " (exception " + r.id + ")");
            p.risk = v1::RISK_MEDIUM;
            p.automatic = true;
            p.approvals_required = 1;
            p.reason = "EXCEPTION_REMOVED: exception " + r.id + std::string(" (") + who_label(r) + ") for " + what;
            a.detail += " A task to restore it waits for approval.";
            out.tasks.push_back(std::move(p));
        } else {
            a.detail += r.what == kind::user ? " No automatic restore: the exception does not record the user's UPN (the "
                                               "plan's precondition); restore it by hand."
                                             : std::string(" Restore the ") + kind_word(r.what) + " exclusion by hand (only user "
                                               "exclusions are restored by a task).";
        }
        out.alerts.push_back(std::move(a));
    }

    // Exclusions no exception covers, in policies that act (enabled or report-only): nothing before
    // the onboarding set is recorded; those already there then are one review item (info), an
    // exclusion that appeared since is its own warning (someone excluded it by hand).
    std::vector<std::string> onboarded_lines;
    std::set<std::string> onboarded_policies;
    if (onboarded.recorded) {
        for_each_unregistered(tenant, registered, report, [&](const v1::PolicyExclusions& p, const v1::ExcludedObject& o, kind k) {
            const std::string object = to_lower(o.object_id());
            if (onboarded.keys.count(exclusion_key(tenant, k, p.policy_id(), o.object_id()))) {
                std::string line = std::string("policy ") + policy_label(p);
                line += ": ";
                line += kind_word(k);
                line += ' ';
                line += object;
                if (!o.display_name().empty()) {
                    line += " (";
                    line += o.display_name();
                    line += ')';
                }
                onboarded_lines.push_back(std::move(line));
                onboarded_policies.insert(p.policy_id());
                return;
            }
            coord::alert_cause a;
            a.cause = std::string("UNREGISTERED_EXCLUSION:") + to_lower(p.policy_id()) + ":" + object;
            a.severity = v1::SEVERITY_WARNING;
            const std::string name = o.display_name().empty() ? object : o.display_name() + " (" + object + ")";
            a.title = std::string("CA policy ") + policy_label(p) + std::string(" excludes ") + kind_word(k) + " " + name +
                      " and no exception registers it";
            a.title = "tenant " + tenant + ": " + a.title;
            a.detail = std::string("someone excluded ") +
                       (k == kind::group ? "a whole group" : k == kind::role ? "a whole role" : "an account") +
                       " by hand" +
                       (o.covers_account() != v1::ACCOUNT_COVERAGE_NONE ? " (it covers the connection account)" : "") +
                       std::string(". Register it (`connguardctl exception add --kind ") + kind_word(k) + " --policy " +
                       p.policy_id() + " --object " + object + " ...`) or remove the exclusion.";
            a.evidence_ids = {p.policy_id(), object};
            out.alerts.push_back(std::move(a));
        });
    }
    if (!onboarded_lines.empty()) {
        const std::size_t n = onboarded_lines.size();
        coord::alert_cause a;
        a.cause = "UNREGISTERED_EXCLUSION:onboarding";
        a.severity = v1::SEVERITY_INFO;
        a.title = "tenant " + tenant + ": " + std::to_string(n) + (n == 1 ? " exclusion that existed" : " exclusions that existed") +
                  " when ConnGuard started watching " + (n == 1 ? "is" : "are") + " not registered";
        std::string d = "CA policy exclusions already present in the first complete report";
        if (onboarded.recorded_ms > 0) d += " (" + date_of(onboarded.recorded_ms) + ")";
        d += " that no exception covers; a review item, not an incident:";
        for (std::size_t i = 0; i < n && i < onboarding_listed; ++i) {
            d += "\n  ";
            d += onboarded_lines[i];
        }
        if (n > onboarding_listed) d += "\n  ... and " + std::to_string(n - onboarding_listed) + " more";
        d += "\nRegister them all with `connguardctl exception adopt --tenant " + tenant +
             " --owner WHO --reason TEXT --expires YYYY-MM-DD`, or export the registry (`connguardctl exception export "
             "FILE`), add or edit entries and import it; remove an exclusion nobody needs from its policy. An exclusion "
             "added later raises its own UNREGISTERED_EXCLUSION warning.";
        a.detail = std::move(d);
        a.evidence_ids.assign(onboarded_policies.begin(), onboarded_policies.end());
        out.alerts.push_back(std::move(a));
    }
    std::set<std::string> seen;
    std::vector<coord::alert_cause> unique;
    for (auto& a : out.alerts)
        if (seen.insert(a.cause).second) unique.push_back(std::move(a));
    out.alerts = std::move(unique);
    return out;
}

void merge_into(coord::plan_build& build, const decisions& d, const std::vector<coord::task>& tasks) {
    std::set<std::string> planned, done;
    for (const auto& p : build.plans) planned.insert(task_key(p.kind, p.target));
    for (const auto& t : tasks)
        if (t.view.state() == v1::TASK_STATE_SUCCEEDED || t.view.state() == v1::TASK_STATE_VERIFIED)
            done.insert(task_key(t.view.kind(), t.view.target()));
    const std::set<std::string> kept(d.kept_roles.begin(), d.kept_roles.end());
    build.plans.erase(std::remove_if(build.plans.begin(), build.plans.end(),
                                     [&](const coord::planned_remediation& p) {
                                         return p.kind == v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE &&
                                                p.plan.has_remove_privileged_role() &&
                                                kept.count(to_lower(p.plan.remove_privileged_role().role_template_id()));
                                     }),
                      build.plans.end());
    planned.clear();
    for (const auto& p : build.plans) planned.insert(task_key(p.kind, p.target));
    for (const auto& p : d.tasks) {
        const auto k = task_key(p.kind, p.target);
        if (planned.count(k)) continue;
        if (!p.automatic && done.count(k)) continue;
        planned.insert(k);
        build.plans.push_back(p);
    }
}

std::optional<record> from_succeeded_task(const coord::task& t, std::int64_t now, std::int64_t validity_ms) {
    const auto& v = t.view;
    record r;
    r.tenant = v.tenant();
    if (v.kind() == v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY && v.plan().has_exclude_from_ca_policy()) {
        const auto& p = v.plan().exclude_from_ca_policy();
        r.what = kind::user;
        r.policy_id = to_lower(p.policy_id());
        r.object_id = to_lower(p.user_id());
        r.object_name = p.user_principal_name();
    } else if (v.kind() == v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA && v.plan().has_disable_per_user_mfa()) {
        const auto& p = v.plan().disable_per_user_mfa();
        r.what = kind::mfa_off;
        r.object_id = to_lower(p.user_id());
        r.object_name = p.user_principal_name();
    } else {
        return std::nullopt;
    }
    r.id = new_uuid();
    for (const auto& a : v.approvals()) {
        if (a.plan_version() != v.plan_version()) continue;
        if (!r.owner.empty()) r.owner += ",";
        r.owner += a.admin();
    }
    r.reason = v.reason();
    r.source = "task:" + v.task_id();
    r.created_ms = now;
    r.expires_ms = now + validity_ms;
    return r;
}

std::vector<std::string> validate(const record& r, std::int64_t now, bool allow_expired) {
    std::vector<std::string> out;
    auto bad = [&](const char* field, const std::string& why) {
        std::string s = "field '";
        s += field;
        s += "': ";
        s += why;
        out.push_back(std::move(s));
    };
    if (r.tenant.empty()) bad("tenant", "missing");
    else if (!topics::valid_tenant_key(r.tenant)) bad("tenant", "'" + r.tenant + "' is not a tenant key ([a-z0-9][a-z0-9-]{0,62})");
    if (is_exclusion(r.what) && r.policy_id.empty()) bad("policyId", std::string("missing (kind ") + kind_word(r.what) + " names a CA policy)");
    if (!is_exclusion(r.what) && !r.policy_id.empty()) bad("policyId", std::string("kind ") + kind_word(r.what) + " names no CA policy");
    if (r.object_id.empty()) bad("objectId", "missing");
    if (r.owner.empty()) bad("owner", "missing (who answers for the exception)");
    if (r.reason.empty()) bad("reason", "missing");
    if (r.expires_ms <= 0) bad("expiresAt", "missing (every exception expires)");
    else if (r.expires_ms <= now && !allow_expired) bad("expiresAt", date_of(r.expires_ms) + " is in the past");
    for (const auto* f : {&r.tenant, &r.policy_id, &r.object_id, &r.owner, &r.reason, &r.ticket})
        if (f->size() > 1024) {
            bad("(text)", "longer than 1024 characters");
            break;
        }
    return out;
}

std::string to_json(const std::vector<record>& records) {
    json list = json::array();
    for (const auto& r : records)
        list.push_back({{"id", r.id},
                        {"tenant", r.tenant},
                        {"kind", kind_word(r.what)},
                        {"policyId", r.policy_id},
                        {"objectId", r.object_id},
                        {"objectName", r.object_name},
                        {"owner", r.owner},
                        {"reason", r.reason},
                        {"ticket", r.ticket},
                        {"source", r.source},
                        {"createdAt", format_rfc3339(from_unix_ms(r.created_ms), 0)},
                        {"expiresAt", format_rfc3339(from_unix_ms(r.expires_ms), 0)}});
    return json{{"exceptions", std::move(list)}}.dump(2);
}

result<std::vector<record>> from_json(std::string_view text, const std::string& label, std::int64_t now) {
    const auto doc = json::parse(text, nullptr, false);
    if (doc.is_discarded()) return make_error("exceptions.bad_file", label + ": not valid JSON");
    if (!doc.is_object() || !doc.contains("exceptions") || !doc["exceptions"].is_array())
        return make_error("exceptions.bad_file", label + ": expected {\"exceptions\": [...]}");
    std::vector<record> out;
    std::string problems;
    std::set<std::string> keys;
    std::size_t n = 0;
    for (const auto& e : doc["exceptions"]) {
        ++n;
        const std::string where = label + ": entry " + std::to_string(n) + ": ";
        auto note = [&](const std::string& p) {
            if (!problems.empty()) problems += "\n";
            problems += where + p;
        };
        if (!e.is_object()) {
            note("not an object");
            continue;
        }
        auto str = [&](const char* f) -> std::string {
            if (!e.contains(f) || e[f].is_null()) return {};
            if (!e[f].is_string()) {
                std::string p = "field '";
                p += f;
                p += "': not a string";
                note(p);
                return {};
            }
            return e[f].get<std::string>();
        };
        record r;
        r.id = str("id");
        r.tenant = str("tenant");
        const std::string k = str("kind");
        if (auto pk = parse_kind(k)) r.what = *pk;
        else note("field 'kind': '" + k + "' is not user, group, role, mfa-off or role-kept");
        r.policy_id = to_lower(str("policyId"));
        r.object_id = to_lower(str("objectId"));
        r.object_name = str("objectName");
        r.owner = str("owner");
        r.reason = str("reason");
        r.ticket = str("ticket");
        r.source = str("source");
        if (r.source.empty()) r.source = "import";
        const std::string created = str("createdAt"), expires = str("expiresAt");
        r.created_ms = now;
        if (!created.empty()) {
            if (auto c = parse_expiry(created)) r.created_ms = *c;
            else note("field 'createdAt': '" + created + "' is not a date");
        }
        if (!expires.empty()) {
            if (auto x = parse_expiry(expires)) r.expires_ms = *x;
            else note("field 'expiresAt': '" + expires + "' is not a date (YYYY-MM-DD or RFC 3339)");
        }
        for (const auto& p : validate(r, now, /*allow_expired=*/true))
            if (!(expires.empty() == false && r.expires_ms == 0 && p.rfind("field 'expiresAt'", 0) == 0)) note(p);
        if (!keys.insert(key_of(r)).second) note("duplicates an earlier entry (same tenant, kind, policy and object)");
        if (r.id.empty()) r.id = new_uuid();
        out.push_back(std::move(r));
    }
    if (!problems.empty()) return make_error("exceptions.bad_file", problems + "\nnothing was imported");
    return out;
}

}  // namespace connguard::exceptions
