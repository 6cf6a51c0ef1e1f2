#include "agent/core/diff.h"

#include <algorithm>

#include "common/clock.h"
#include "common/text.h"

namespace connguard::agent {
namespace {

using nlohmann::json;
using v1::ChangeEvent;
using v1::ChangeKind;

bool scalar_array(const json& a) {
    return a.is_array() && std::all_of(a.begin(), a.end(), [](const json& x) { return x.is_primitive(); });
}

json sorted_copy(const json& a) {
    std::vector<json> v(a.begin(), a.end());
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return json(v);
}

void walk(const json& a, const json& b, const std::string& prefix, std::vector<std::string>& out,
          const std::set<std::string>* ignore_top) {
    if (a.is_object() && b.is_object()) {
        std::set<std::string> keys;
        for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it.key());
        for (auto it = b.begin(); it != b.end(); ++it) keys.insert(it.key());
        for (const auto& k : keys) {
            if (ignore_top && ignore_top->count(k)) continue;
            static const json null_value;
            const json& av = a.contains(k) ? a.at(k) : null_value;
            const json& bv = b.contains(k) ? b.at(k) : null_value;
            walk(av, bv, prefix.empty() ? k : prefix + "." + k, out, nullptr);
        }
        return;
    }
    if (scalar_array(a) && scalar_array(b)) {
        if (sorted_copy(a) != sorted_copy(b)) out.push_back(prefix);
        return;
    }
    if (a != b) out.push_back(prefix.empty() ? "$" : prefix);
}

std::string plain(const json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

ChangeEvent make(ChangeKind kind, std::string subject_id, std::string subject_name, std::string before,
                 std::string after) {
    ChangeEvent e;
    e.set_kind(kind);
    e.set_subject_id(std::move(subject_id));
    e.set_subject_name(std::move(subject_name));
    e.set_before(std::move(before));
    e.set_after(std::move(after));
    return e;
}

std::set<std::string> string_set(const json& policy, const char* field) {
    std::set<std::string> out;
    const auto* users = policy.contains("conditions") && policy["conditions"].is_object() &&
                                policy["conditions"].contains("users") && policy["conditions"]["users"].is_object()
                            ? &policy["conditions"]["users"]
                            : nullptr;
    if (!users || !users->contains(field) || !(*users)[field].is_array()) return out;
    for (const auto& v : (*users)[field])
        if (v.is_string()) out.insert(v.get<std::string>());
    return out;
}

std::string policy_id(const json& p) { return p.contains("id") && p["id"].is_string() ? p["id"].get<std::string>() : ""; }
std::string policy_name(const json& p) {
    return p.contains("displayName") && p["displayName"].is_string() ? p["displayName"].get<std::string>() : "";
}

void diff_policies(const std::vector<json>& prev, const std::vector<json>& cur, const std::string& account_id,
                   std::vector<ChangeEvent>& out) {
    std::map<std::string, const json*> before, after;
    for (const auto& p : prev) before[policy_id(p)] = &p;
    for (const auto& p : cur) after[policy_id(p)] = &p;
    static const std::set<std::string> ignore = {"modifiedDateTime", "@odata.context", "@odata.etag"};
    for (const auto& [id, p] : after) {
        auto it = before.find(id);
        if (it == before.end()) {
            out.push_back(make(v1::CHANGE_KIND_CA_POLICY_CREATED, id, policy_name(*p), "", p->dump()));
            continue;
        }
        const json& old = *it->second;
        auto paths = changed_paths(old, *p, ignore);
        if (paths.empty()) continue;
        std::vector<std::string> state_paths, other_paths;
        for (auto& f : paths) (f == "state" ? state_paths : other_paths).push_back(f);
        if (!state_paths.empty()) {
            auto e = make(v1::CHANGE_KIND_CA_POLICY_STATE_CHANGED, id, policy_name(*p),
                          plain(old.value("state", json())), plain(p->value("state", json())));
            e.add_changed_fields("state");
            out.push_back(std::move(e));
        }
        if (!other_paths.empty()) {
            auto e = make(v1::CHANGE_KIND_CA_POLICY_UPDATED, id, policy_name(*p), old.dump(), p->dump());
            for (auto& f : other_paths) e.add_changed_fields(f);
            out.push_back(std::move(e));
        }
        if (!account_id.empty()) {
            const bool was_excluded = string_set(old, "excludeUsers").count(account_id) > 0;
            const bool is_excluded = string_set(*p, "excludeUsers").count(account_id) > 0;
            const bool was_included = string_set(old, "includeUsers").count(account_id) > 0;
            const bool is_included = string_set(*p, "includeUsers").count(account_id) > 0;
            if (!was_excluded && is_excluded) {
                auto e = make(v1::CHANGE_KIND_ACCOUNT_EXCLUDED_FROM_POLICY, id, policy_name(*p),
                              json(string_set(old, "excludeUsers")).dump(), json(string_set(*p, "excludeUsers")).dump());
                e.add_changed_fields("conditions.users.excludeUsers");
                out.push_back(std::move(e));
            } else if ((was_excluded && !is_excluded) || (!is_excluded && !was_included && is_included)) {
                const bool by_exclude = was_excluded && !is_excluded;
                const char* field = by_exclude ? "excludeUsers" : "includeUsers";
                auto e = make(v1::CHANGE_KIND_ACCOUNT_INCLUDED_IN_POLICY, id, policy_name(*p),
                              json(string_set(old, field)).dump(), json(string_set(*p, field)).dump());
                e.add_changed_fields(std::string("conditions.users.") + field);
                out.push_back(std::move(e));
            }
        }
    }
    for (const auto& [id, p] : before)
        if (!after.count(id))
            out.push_back(make(v1::CHANGE_KIND_CA_POLICY_DELETED, id, policy_name(*p), p->dump(), ""));
}

json registration_json(const snapshot::registration& r) {
    auto methods = r.methods_registered;
    std::sort(methods.begin(), methods.end());
    return {{"isMfaRegistered", r.is_mfa_registered}, {"isMfaCapable", r.is_mfa_capable}, {"methodsRegistered", methods}};
}

json role_json(const snapshot::role_assignment& r) {
    return {{"id", r.id}, {"roleTemplateId", r.role_template_id}, {"directoryScopeId", r.directory_scope_id}};
}

}  // namespace

std::string check_key(const v1::CheckResult& c) { return c.subject().empty() ? c.id() : c.id() + "/" + c.subject(); }

std::string status_name(v1::CheckStatus s) { return enum_word(v1::CheckStatus_Name(s), "CHECK_STATUS_"); }

namespace {
v1::CheckStatus status_from_name(const std::string& s) {
    for (auto st : {v1::CHECK_STATUS_OK, v1::CHECK_STATUS_WARN, v1::CHECK_STATUS_FAIL, v1::CHECK_STATUS_ERROR})
        if (status_name(st) == s) return st;
    return v1::CHECK_STATUS_UNSPECIFIED;
}
}  // namespace

std::vector<std::pair<std::string, std::string>> worst_status_by_check(const v1::ValidationReport& report) {
    std::map<std::string, v1::CheckStatus> worst;  // the enum's order is its severity: OK < WARN < FAIL < ERROR
    for (const auto& c : report.checks()) {
        auto& w = worst[c.id()];
        if (c.status() > w) w = c.status();
    }
    std::vector<std::pair<std::string, std::string>> out;
    out.reserve(worst.size());
    for (const auto& [id, st] : worst) out.emplace_back(id, status_name(st));
    return out;
}

report_statuses statuses_of(const v1::ValidationReport& report) {
    report_statuses s;
    for (const auto& c : report.checks()) s.checks[check_key(c)] = c.status();
    s.overall = report.overall();
    return s;
}

nlohmann::json to_json(const report_statuses& s) {
    json checks = json::object();
    for (const auto& [k, v] : s.checks) checks[k] = status_name(v);
    return {{"checks", checks}, {"overall", status_name(s.overall)}};
}

report_statuses statuses_from_json(const nlohmann::json& j) {
    report_statuses s;
    if (!j.is_object()) return s;
    if (j.contains("checks") && j["checks"].is_object())
        for (auto it = j["checks"].begin(); it != j["checks"].end(); ++it)
            if (it->is_string()) s.checks[it.key()] = status_from_name(it->get<std::string>());
    if (j.contains("overall") && j["overall"].is_string()) s.overall = status_from_name(j["overall"].get<std::string>());
    return s;
}

std::vector<std::string> changed_paths(const nlohmann::json& before, const nlohmann::json& after,
                                       const std::set<std::string>& ignore) {
    std::vector<std::string> out;
    walk(before, after, "", out, &ignore);
    return out;
}

std::vector<ChangeEvent> diff_snapshots(const snapshot::tenant_snapshot& prev, const snapshot::tenant_snapshot& cur) {
    std::vector<ChangeEvent> out;

    if (prev.security_defaults_enabled.ok() && cur.security_defaults_enabled.ok() &&
        *prev.security_defaults_enabled.value != *cur.security_defaults_enabled.value) {
        const bool on = *cur.security_defaults_enabled.value;
        auto e = make(on ? v1::CHANGE_KIND_SECURITY_DEFAULTS_ENABLED : v1::CHANGE_KIND_SECURITY_DEFAULTS_DISABLED,
                      "securityDefaults", "Security Defaults", on ? "false" : "true", on ? "true" : "false");
        e.add_changed_fields("isEnabled");
        out.push_back(std::move(e));
    }

    std::string account_id;
    if (cur.user.ok()) account_id = cur.user.value->id;
    else if (prev.user.ok()) account_id = prev.user.value->id;
    if (prev.ca_policies.ok() && cur.ca_policies.ok())
        diff_policies(*prev.ca_policies.value, *cur.ca_policies.value, account_id, out);

    if (prev.per_user_mfa_state.ok() && cur.per_user_mfa_state.ok() &&
        *prev.per_user_mfa_state.value != *cur.per_user_mfa_state.value) {
        auto e = make(v1::CHANGE_KIND_PER_USER_MFA_CHANGED, account_id.empty() ? cur.account_upn : account_id,
                      cur.account_upn, *prev.per_user_mfa_state.value, *cur.per_user_mfa_state.value);
        e.add_changed_fields("perUserMfaState");
        out.push_back(std::move(e));
    }

    if (prev.mfa_registration.ok() && cur.mfa_registration.ok()) {
        const auto before = registration_json(*prev.mfa_registration.value);
        const auto after = registration_json(*cur.mfa_registration.value);
        auto paths = changed_paths(before, after);
        if (!paths.empty()) {
            auto e = make(v1::CHANGE_KIND_MFA_REGISTRATION_CHANGED, account_id.empty() ? cur.account_upn : account_id,
                          cur.account_upn, before.dump(), after.dump());
            for (auto& f : paths) e.add_changed_fields(f);
            out.push_back(std::move(e));
        }
    }

    if (prev.roles.ok() && cur.roles.ok()) {
        // A role is identified by its template and scope; the assignment id is evidence.
        auto key = [](const snapshot::role_assignment& r) { return r.role_template_id + "@" + r.directory_scope_id; };
        std::map<std::string, const snapshot::role_assignment*> before, after;
        for (const auto& r : *prev.roles.value) before[key(r)] = &r;
        for (const auto& r : *cur.roles.value) after[key(r)] = &r;
        for (const auto& [k, r] : after)
            if (!before.count(k)) {
                auto e = make(v1::CHANGE_KIND_PRIVILEGED_ROLE_ADDED, r->role_template_id, role_name(r->role_template_id),
                              "", role_json(*r).dump());
                e.add_changed_fields("roles");
                out.push_back(std::move(e));
            }
        for (const auto& [k, r] : before)
            if (!after.count(k)) {
                auto e = make(v1::CHANGE_KIND_PRIVILEGED_ROLE_REMOVED, r->role_template_id, role_name(r->role_template_id),
                              role_json(*r).dump(), "");
                e.add_changed_fields("roles");
                out.push_back(std::move(e));
            }
    }
    return out;
}

std::vector<ChangeEvent> diff_statuses(const report_statuses& prev, const v1::ValidationReport& cur) {
    std::vector<ChangeEvent> out;
    for (const auto& c : cur.checks()) {
        auto it = prev.checks.find(check_key(c));
        if (it == prev.checks.end() || it->second == c.status()) continue;
        auto e = make(v1::CHANGE_KIND_CHECK_STATUS_CHANGED, check_key(c), c.id(), status_name(it->second),
                      status_name(c.status()));
        e.set_status_before(it->second);
        e.set_status_after(c.status());
        e.add_changed_fields("status");
        out.push_back(std::move(e));
    }
    if (prev.overall != v1::CHECK_STATUS_UNSPECIFIED && prev.overall != cur.overall()) {
        auto e = make(v1::CHANGE_KIND_OVERALL_STATUS_CHANGED, "overall", "overall status", status_name(prev.overall),
                      status_name(cur.overall()));
        e.set_status_before(prev.overall);
        e.set_status_after(cur.overall());
        e.add_changed_fields("overall");
        out.push_back(std::move(e));
    }
    return out;
}

void attribute_initiators(std::vector<ChangeEvent>& events, const std::vector<snapshot::policy_audit>& audits) {
    for (auto& e : events) {
        switch (e.kind()) {
            case v1::CHANGE_KIND_CA_POLICY_CREATED:
            case v1::CHANGE_KIND_CA_POLICY_UPDATED:
            case v1::CHANGE_KIND_CA_POLICY_DELETED:
            case v1::CHANGE_KIND_CA_POLICY_STATE_CHANGED:
            case v1::CHANGE_KIND_ACCOUNT_EXCLUDED_FROM_POLICY:
            case v1::CHANGE_KIND_ACCOUNT_INCLUDED_IN_POLICY: break;
            default: continue;
        }
        // The newest audit entry about this policy names who changed it.
        const snapshot::policy_audit* newest = nullptr;
        clock::time_point newest_at{};
        for (const auto& a : audits) {
            if (!iequals(a.policy_id, e.subject_id())) continue;
            clock::time_point t{};
            parse_rfc3339(a.time, t);
            if (newest == nullptr || t > newest_at) {
                newest = &a;
                newest_at = t;
            }
        }
        if (newest == nullptr) continue;
        e.set_initiated_by(newest->initiated_by);
        e.set_initiated_by_microsoft(newest->by_microsoft);
    }
}

std::vector<ChangeEvent> diff_cycle(bool have_prev, const snapshot::tenant_snapshot& prev,
                                    const report_statuses& prev_statuses, const snapshot::tenant_snapshot& cur,
                                    const v1::ValidationReport& report, std::uint64_t cycle) {
    if (!have_prev) return {};
    auto events = diff_snapshots(prev, cur);
    auto status_events = diff_statuses(prev_statuses, report);
    events.insert(events.end(), std::make_move_iterator(status_events.begin()),
                  std::make_move_iterator(status_events.end()));
    const auto prev_digest = snapshot::digest(prev);
    const auto cur_digest = snapshot::digest(cur);
    attribute_initiators(events, cur.policy_audits);
    for (std::size_t i = 0; i < events.size(); ++i) {
        events[i].set_cycle(cycle);
        events[i].set_index(static_cast<std::uint32_t>(i));
        events[i].set_previous_snapshot_digest(prev_digest);
        events[i].set_snapshot_digest(cur_digest);
    }
    return events;
}

snapshot::tenant_snapshot carry_forward(const snapshot::tenant_snapshot& prev, const snapshot::tenant_snapshot& cur) {
    auto out = cur;
    auto keep = [](auto& dst, const auto& old) {
        if (!dst.ok() && old.ok()) dst = old;
    };
    keep(out.security_defaults_enabled, prev.security_defaults_enabled);
    keep(out.ca_policies, prev.ca_policies);
    keep(out.named_locations, prev.named_locations);
    keep(out.user, prev.user);
    keep(out.group_ids, prev.group_ids);
    keep(out.roles, prev.roles);
    keep(out.mfa_registration, prev.mfa_registration);
    keep(out.per_user_mfa_state, prev.per_user_mfa_state);
    // The sign-in log and Microsoft's What If answer keep their last good value until read again.
    if (prev.signin_log && prev.signin_log->ok() && (!out.signin_log || !out.signin_log->ok())) out.signin_log = prev.signin_log;
    if (prev.microsoft_whatif && prev.microsoft_whatif->ok() && (!out.microsoft_whatif || !out.microsoft_whatif->ok()))
        out.microsoft_whatif = prev.microsoft_whatif;
    out.policy_audits.clear();
    return out;
}

std::string role_name(const std::string& id) {
    static const std::map<std::string, std::string> names = {
        {"62e90394-69f5-4237-9190-012177145e10", "Global Administrator"},
        {"e8611ab8-c189-46e8-94e1-60213ab1f814", "Privileged Role Administrator"},
        {"7be44c8a-adaf-4e2a-84d6-ab2649e08a13", "Privileged Authentication Administrator"},
        {"194ae4cb-b126-40b2-bd5b-6091b380977d", "Security Administrator"},
        {"b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", "Conditional Access Administrator"},
        {"29232cdf-9323-42fd-ade2-1d097af3e4de", "Exchange Administrator"},
        {"f28a1f50-f6e7-4571-818b-6a12f2af6b6c", "SharePoint Administrator"},
        {"729827e3-9c14-49f7-bb1b-9608f156bbb8", "Helpdesk Administrator"},
        {"b0f54661-2d74-4c50-afa3-1ec803f12efe", "Billing Administrator"},
        {"fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"},
        {"c4e39bd9-1100-46d3-8c65-fb160da0071f", "Authentication Administrator"},
        {"9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "Application Administrator"},
        {"158c047a-c907-4556-b7ef-446551a6b5f7", "Cloud Application Administrator"},
        {"966707d0-3269-4727-9be2-8c3a10f19b9d", "Password Administrator"},
        {"3a2c62db-5318-420d-8d74-23affee5d9d5", "Intune Administrator"},
        {"f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"},
        {"5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader"},
        {"88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers"},
    };
    auto it = names.find(id);
    return it == names.end() ? id : it->second;
}

}  // namespace connguard::agent
