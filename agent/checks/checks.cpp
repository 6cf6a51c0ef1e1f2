#include "agent/checks/checks.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "common/clock.h"
#include "common/remediation_plan.h"
#include "common/text.h"

namespace connguard::checks {

namespace {

using v1::CheckResult;
using v1::CheckStatus;
using snapshot::collect_error;

const char* role_name(const std::string& template_id) {
    const char* name = whatif::role_display_name(template_id);
    return name != nullptr ? name : "directory role";
}


/// Builds one CheckResult.
struct builder {
    CheckResult r;
    builder(const char* id, CheckStatus st, std::string reason, std::string subject = {}) {
        r.set_id(id);
        r.set_status(st);
        r.set_reason(std::move(reason));
        r.set_subject(std::move(subject));
    }
    builder& evidence(const std::string& kind, const std::string& id, const std::string& name, const std::string& detail) {
        auto* e = r.add_evidence();
        e->set_kind(kind);
        e->set_id(id);
        e->set_name(name);
        e->set_detail(detail);
        return *this;
    }
    builder& remediation(v1::RemediationKind k, const std::string& target, const std::string& name, const std::string& summary) {
        for (const auto& x : r.remediations()) {
            if (x.kind() == k && x.target_id() == target) return *this;
        }
        auto* m = r.add_remediations();
        m->set_kind(k);
        m->set_target_id(target);
        m->set_target_name(name);
        m->set_summary(summary);
        return *this;
    }
};

std::string missing(const std::string& what, const collect_error& e) {
    std::string s = "could not read " + what + ": " + e.message;
    if (!e.missing_permission.empty()) s += " (missing permission " + e.missing_permission + ")";
    return s;
}

template <class T>
void error_evidence(builder& b, const snapshot::collected<T>& c, const std::string& what) {
    if (!c.ok() && c.error) b.evidence("graph_call", what, what, c.error->code + ": " + c.error->message);
}

/// Everything the checks derive from the snapshot once.
struct context {
    context(const snapshot::tenant_snapshot& snap, const options& o) : s(snap), opts(o) {}
    const snapshot::tenant_snapshot& s;
    const options& opts;
    std::string account_id;
    std::string account_label;  // upn for messages
    std::vector<whatif::policy> policies;
    std::vector<std::pair<std::string, std::string>> policy_errors;  // (id or index, message)
    bool evaluable = false;  // policies, account, groups and roles are all known
    std::vector<std::string> evaluation_gaps;
    // The full verdict also folds in Security Defaults, per-user MFA and registration: without them
    // a verdict would silently assume "off"/"registered", so none is made.
    bool verdict_complete = false;
    std::vector<std::string> verdict_gaps;
    std::string verdict_gap_text() const {
        std::string why;
        for (const auto& g : verdict_gaps) why += (why.empty() ? "" : "; ") + g;
        return why;
    }
    std::map<std::string, whatif::evaluation> by_resource;  // the tool's sign-in (its real egress when known)
    std::map<std::string, whatif::evaluation> by_resource_probe;  // the probe's sign-in (no location known)
    whatif::directory dir;

    const whatif::policy* policy_by_id(const std::string& id) const {
        // Graph returns ids in lower case; an id from elsewhere (evidence, a sign-in) may not be.
        for (const auto& p : policies) {
            if (iequals(p.id, id)) return &p;
        }
        return nullptr;
    }
    std::string policy_name(const std::string& id) const {
        const auto* p = policy_by_id(id);
        return p == nullptr ? id : p->display_name;
    }
};

/// The account's role assignments whose role template is one of `templates` (lower-case ids).
std::vector<snapshot::role_assignment> assignments_of(const snapshot::tenant_snapshot& s,
                                                      const std::set<std::string>& templates) {
    std::vector<snapshot::role_assignment> out;
    if (!s.roles.ok()) return out;
    for (const auto& r : *s.roles.value)
        if (templates.count(to_lower(r.role_template_id)) != 0) out.push_back(r);
    return out;
}

/// The facts the coordinator's plan builder needs to turn an exclusion into an exact, guarded
/// change (coordinator/README.md, "Evidence the plan builder reads"): the policy's
/// modifiedDateTime (the precondition), its excludeUsers as read (the merge base), its grant and
/// includeUsers (the risk).
void add_exclusion_plan_evidence(builder& b, const context& c, const std::string& policy_id) {
    if (!c.s.ca_policies.ok()) return;
    for (const auto& raw : *c.s.ca_policies.value) {
        if (!raw.is_object() || to_lower(raw.value("id", std::string{})) != to_lower(policy_id)) continue;
        const auto name = raw.value("displayName", policy_id);
        const auto& modified = raw.contains("modifiedDateTime") ? raw["modifiedDateTime"] : nlohmann::json();
        b.evidence("policy.modifiedDateTime", policy_id, name, modified.is_string() ? modified.get<std::string>() : "");
        nlohmann::json exclude = nlohmann::json::array(), include = nlohmann::json::array();
        if (auto cond = raw.find("conditions"); cond != raw.end() && cond->is_object()) {
            if (auto users = cond->find("users"); users != cond->end() && users->is_object()) {
                if (auto e = users->find("excludeUsers"); e != users->end() && e->is_array()) exclude = *e;
                if (auto i = users->find("includeUsers"); i != users->end() && i->is_array()) include = *i;
            }
        }
        b.evidence("policy.excludeUsers", policy_id, name, exclude.dump());
        b.evidence("policy.includeUsers", policy_id, name, include.dump());
        std::string grant;
        if (auto g = raw.find("grantControls"); g != raw.end() && g->is_object()) {
            if (auto bc = g->find("builtInControls"); bc != g->end() && bc->is_array())
                for (const auto& x : *bc)
                    if (x.is_string()) grant += (grant.empty() ? "" : ",") + x.get<std::string>();
        }
        b.evidence("policy.grant", policy_id, name, grant);
        return;
    }
}

std::vector<std::string> string_array(const nlohmann::json& j, const char* key) {
    std::vector<std::string> out;
    if (const auto it = j.find(key); it != j.end() && it->is_array())
        for (const auto& x : *it)
            if (x.is_string()) out.push_back(x.get<std::string>());
    return out;
}

/// The typed plan of one suggested remediation, from the snapshot's facts (DESIGN §8); nullopt
/// when a fact it needs was not collected (the coordinator then plans nothing and says why).
std::optional<v1::RemediationPlan> plan_for(const v1::SuggestedRemediation& s, const context& c) {
    v1::RemediationPlan plan;
    plan.set_kind(s.kind());
    const std::string upn = c.s.user.ok() ? c.s.user.value->user_principal_name : std::string{};
    switch (s.kind()) {
        case v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY: {
            if (!c.s.ca_policies.ok() || c.account_id.empty()) return std::nullopt;
            const nlohmann::json* raw = nullptr;
            for (const auto& j : *c.s.ca_policies.value)
                if (j.is_object() && to_lower(j.value("id", std::string{})) == to_lower(s.target_id())) raw = &j;
            if (raw == nullptr) return std::nullopt;
            auto* p = plan.mutable_exclude_from_ca_policy();
            p->set_policy_id(raw->value("id", s.target_id()));
            p->set_policy_name(raw->value("displayName", s.target_name()));
            p->set_user_id(c.account_id);
            p->set_user_principal_name(upn);
            // Graph's null modifiedDateTime (never modified since created) is the empty precondition.
            if (const auto m = raw->find("modifiedDateTime"); m != raw->end() && m->is_string())
                p->set_expected_modified_date_time(m->get<std::string>());
            nlohmann::json users = nlohmann::json::object();
            if (const auto cond = raw->find("conditions"); cond != raw->end() && cond->is_object())
                if (const auto u = cond->find("users"); u != cond->end() && u->is_object()) users = *u;
            const auto before = string_array(users, "excludeUsers");
            for (const auto& x : before) p->add_exclude_users_before(x);
            for (const auto& x : before) p->add_exclude_users_after(x);
            bool present = false;
            for (const auto& x : before) present = present || to_lower(x) == to_lower(c.account_id);
            if (!present) p->add_exclude_users_after(c.account_id);
            for (const auto& x : string_array(users, "includeUsers")) p->add_include_users(x);
            if (const auto g = raw->find("grantControls"); g != raw->end() && g->is_object())
                for (const auto& x : string_array(*g, "builtInControls")) p->add_grant_controls(x);
            break;
        }
        case v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA: {
            if (!c.s.per_user_mfa_state.ok() || c.account_id.empty()) return std::nullopt;
            auto* p = plan.mutable_disable_per_user_mfa();
            p->set_user_id(c.account_id);
            p->set_user_principal_name(upn);
            p->set_expected_state(to_lower(*c.s.per_user_mfa_state.value));
            break;
        }
        case v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE: {
            if (!c.s.roles.ok() || c.account_id.empty()) return std::nullopt;
            const snapshot::role_assignment* ra = nullptr;
            for (const auto& r : *c.s.roles.value)
                if (r.id == s.target_id()) ra = &r;
            if (ra == nullptr) return std::nullopt;
            auto* p = plan.mutable_remove_privileged_role();
            p->set_role_assignment_id(ra->id);
            p->set_role_template_id(ra->role_template_id);
            p->set_role_name(role_name(to_lower(ra->role_template_id)));
            p->set_user_id(c.account_id);
            p->set_user_principal_name(upn);
            break;
        }
        default:
            plan.mutable_guidance()->set_instructions(s.summary());
            break;
    }
    if (!plans::render(plan)) return std::nullopt;
    return plan;
}

/// Every suggested remediation of the report gets its typed plan.
void attach_plans(v1::ValidationReport& r, const context& c) {
    for (auto& check : *r.mutable_checks())
        for (auto& s : *check.mutable_remediations())
            if (auto plan = plan_for(s, c)) *s.mutable_plan() = std::move(*plan);
}

void add_cause_remediations(builder& b, const context& c, const std::vector<std::string>& causes) {
    for (const auto& cause : causes) {
        if (cause == whatif::cause_security_defaults) {
            b.remediation(v1::REMEDIATION_KIND_MOVE_TO_APP_ONLY_AUTH, c.account_id, c.account_label,
                          "Security Defaults cannot exclude an account: move the tool to app-only authentication");
        } else if (cause == whatif::cause_per_user_mfa) {
            b.remediation(v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA, c.account_id, c.account_label,
                          "set per-user MFA of " + c.account_label + " to disabled");
        } else {
            const auto name = c.policy_name(cause);
            b.remediation(v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY, cause, name,
                          "exclude " + c.account_label + " from '" + name + "'");
            add_exclusion_plan_evidence(b, c, cause);
        }
    }
}

// ---- the checks -------------------------------------------------------------------------------

CheckResult check_account_result(const context& c) {
    const auto& s = c.s;
    if (!s.user.ok()) {
        const auto& e = *s.user.error;
        const bool not_found = e.code.find("not_found") != std::string::npos || e.code.find("notfound") != std::string::npos ||
                               e.message.find("404") != std::string::npos;
        builder b(check_account, not_found ? v1::CHECK_STATUS_FAIL : v1::CHECK_STATUS_ERROR,
                  not_found ? "the connection account " + s.account_upn + " does not exist in the tenant (" + e.message + ")"
                            : missing("the connection account " + s.account_upn, e));
        error_evidence(b, s.user, "GET /users/" + s.account_upn);
        return b.r;
    }
    const auto& u = *s.user.value;
    if (u.id.empty()) {
        builder b(check_account, v1::CHECK_STATUS_FAIL, "the connection account " + s.account_upn + " has no object id");
        return b.r;
    }
    if (!u.account_enabled) {
        builder b(check_account, v1::CHECK_STATUS_FAIL,
                  "the connection account " + u.user_principal_name + " is disabled (accountEnabled is false)");
        b.evidence("user", u.id, u.user_principal_name, "accountEnabled: false");
        return b.r;
    }
    builder b(check_account, v1::CHECK_STATUS_OK,
              "the connection account " + u.user_principal_name + " exists and is enabled (object id " + u.id + ")");
    b.evidence("user", u.id, u.user_principal_name, "userType: " + u.user_type);
    return b.r;
}

bool sd_is_a_cause(const context& c) {
    for (const auto& [res, e] : c.by_resource) {
        if (std::find(e.result.causes.begin(), e.result.causes.end(), whatif::cause_security_defaults) != e.result.causes.end())
            return true;
    }
    return false;
}

CheckResult check_secdef_result(const context& c) {
    const auto& s = c.s;
    if (!s.security_defaults_enabled.ok()) {
        builder b(check_secdef, v1::CHECK_STATUS_ERROR, missing("the Security Defaults policy", *s.security_defaults_enabled.error));
        error_evidence(b, s.security_defaults_enabled, "GET /policies/identitySecurityDefaultsEnforcementPolicy");
        return b.r;
    }
    if (!*s.security_defaults_enabled.value) {
        builder b(check_secdef, v1::CHECK_STATUS_OK, "Security Defaults are off");
        b.evidence("setting", "securityDefaults", "Security Defaults", "isEnabled: false");
        return b.r;
    }
    const bool legacy_hit = c.opts.needs_legacy_auth;
    if (sd_is_a_cause(c) || legacy_hit) {
        builder b(check_secdef, v1::CHECK_STATUS_FAIL,
                  std::string("Security Defaults are on and stop the account's non-interactive sign-in") +
                      (legacy_hit ? " (they block the legacy authentication the tool needs)" : " (they require MFA)"));
        b.evidence("setting", "securityDefaults", "Security Defaults", "isEnabled: true");
        b.remediation(v1::REMEDIATION_KIND_MOVE_TO_APP_ONLY_AUTH, c.account_id, c.account_label,
                      "Security Defaults have no exclusions: move the tool to app-only authentication");
        return b.r;
    }
    if (!c.verdict_complete) {
        builder b(check_secdef, v1::CHECK_STATUS_ERROR,
                  "Security Defaults are on, and whether they stop the account is unknown: " + c.verdict_gap_text());
        b.evidence("setting", "securityDefaults", "Security Defaults", "isEnabled: true");
        return b.r;
    }
    builder b(check_secdef, v1::CHECK_STATUS_WARN,
              "Security Defaults are on: Entra may require MFA for the account \"when necessary\" (risk-based, "
              "not predictable) and requires MFA registration");
    b.evidence("setting", "securityDefaults", "Security Defaults", "isEnabled: true");
    return b.r;
}

CheckResult check_secdef_admin_result(const context& c) {
    const auto& s = c.s;
    if (!s.roles.ok()) {
        builder b(check_secdef_admin, v1::CHECK_STATUS_ERROR, missing("the account's role assignments", *s.roles.error));
        error_evidence(b, s.roles, "GET /roleManagement/directory/roleAssignments");
        return b.r;
    }
    const auto privileged = assignments_of(s, whatif::security_defaults_privileged_roles());
    if (privileged.empty()) {
        builder b(check_secdef_admin, v1::CHECK_STATUS_OK,
                  "the account holds none of the roles Security Defaults always send through MFA");
        return b.r;
    }
    std::string names;
    for (const auto& r : privileged) names += (names.empty() ? "" : ", ") + std::string(role_name(to_lower(r.role_template_id)));
    if (!s.security_defaults_enabled.ok()) {
        builder b(check_secdef_admin, v1::CHECK_STATUS_ERROR,
                  "the account holds " + names + "; whether Security Defaults force MFA on it is unknown: " +
                      missing("the Security Defaults policy", *s.security_defaults_enabled.error));
        error_evidence(b, s.security_defaults_enabled, "GET /policies/identitySecurityDefaultsEnforcementPolicy");
        return b.r;
    }
    const bool sd_on = *s.security_defaults_enabled.value;
    builder b(check_secdef_admin, sd_on ? v1::CHECK_STATUS_FAIL : v1::CHECK_STATUS_WARN,
              sd_on ? "the account holds " + names + ", and Security Defaults (on) require MFA at every sign-in of that role"
                    : "the account holds " + names + ", which Security Defaults would send through MFA at every sign-in " +
                          "(Security Defaults are off today)");
    for (const auto& r : privileged) {
        b.evidence("role", r.role_template_id, role_name(to_lower(r.role_template_id)),
                   "assignment " + r.id + " scope " + r.directory_scope_id);
        if (sd_on)
            b.remediation(v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE, r.id, role_name(to_lower(r.role_template_id)),
                          "remove the " + std::string(role_name(to_lower(r.role_template_id))) + " role from " + c.account_label);
    }
    return b.r;
}

CheckResult check_per_user_mfa_result(const context& c) {
    const auto& s = c.s;
    if (!s.per_user_mfa_state.ok()) {
        builder b(check_per_user_mfa, v1::CHECK_STATUS_ERROR, missing("the account's per-user MFA state", *s.per_user_mfa_state.error));
        error_evidence(b, s.per_user_mfa_state, "GET /beta/users/{id}/authentication/requirements");
        return b.r;
    }
    const std::string state = to_lower(*s.per_user_mfa_state.value);
    if (state == "disabled" || state.empty()) {
        builder b(check_per_user_mfa, v1::CHECK_STATUS_OK, "per-user MFA is disabled for the account");
        b.evidence("setting", "perUserMfaState", "per-user MFA", "disabled");
        return b.r;
    }
    std::string reason;
    if (state == "enforced") {
        reason = "per-user MFA is enforced for the account: every modern sign-in needs MFA and legacy authentication is blocked";
    } else if (state == "enabled") {
        const bool registered = s.mfa_registration.ok() && s.mfa_registration.value->is_mfa_registered;
        reason = registered ? "per-user MFA is enabled and the account has MFA registered, so Entra enforces it: "
                              "every sign-in needs MFA"
                            : "per-user MFA is enabled: the account must register MFA at its next modern sign-in";
    } else {
        builder b(check_per_user_mfa, v1::CHECK_STATUS_ERROR, "unknown per-user MFA state '" + state + "'");
        return b.r;
    }
    builder b(check_per_user_mfa, v1::CHECK_STATUS_FAIL, reason);
    b.evidence("setting", "perUserMfaState", "per-user MFA", state);
    b.remediation(v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA, c.account_id, c.account_label,
                  "set per-user MFA of " + c.account_label + " to disabled");
    return b.r;
}

CheckResult check_mfa_reg_result(const context& c) {
    const auto& s = c.s;
    if (!s.mfa_registration.ok()) {
        builder b(check_mfa_reg, v1::CHECK_STATUS_ERROR, missing("the account's MFA registration", *s.mfa_registration.error));
        error_evidence(b, s.mfa_registration, "GET /reports/authenticationMethods/userRegistrationDetails/{id}");
        return b.r;
    }
    const auto& reg = *s.mfa_registration.value;
    std::string methods;
    for (const auto& m : reg.methods_registered) methods += (methods.empty() ? "" : ", ") + m;
    if (reg.is_mfa_registered) {
        builder b(check_mfa_reg, v1::CHECK_STATUS_OK, "the account has MFA registered; no registration prompt is pending");
        b.evidence("user", c.account_id, c.account_label, "methodsRegistered: " + (methods.empty() ? "-" : methods));
        return b.r;
    }
    // Registering a method would not help a non-interactive account (graph.md §11.4): MFA would then
    // be demanded at each sign-in, and per-user "enabled" turns "enforced". So the remediation is
    // whatever removes the requirement, never REGISTER_MFA_FOR_ACCOUNT.
    std::vector<std::string> resources, causes;
    for (const auto& [res, e] : c.by_resource) {
        if (e.result.result != whatif::verdict_result::mfa_registration_required) continue;
        resources.push_back(whatif::app_name(res));
        for (const auto& x : e.result.causes)
            if (std::find(causes.begin(), causes.end(), x) == causes.end()) causes.push_back(x);
    }
    const bool sd_known = s.security_defaults_enabled.ok();
    const bool sd_on = sd_known && *s.security_defaults_enabled.value;
    const bool sync_exempt = !assignments_of(s, {whatif::role_directory_synchronization_accounts}).empty();
    if (sd_on && !sync_exempt && std::find(causes.begin(), causes.end(), whatif::cause_security_defaults) == causes.end())
        causes.push_back(whatif::cause_security_defaults);
    if (!resources.empty() || (sd_on && !sync_exempt)) {
        std::string list;
        for (const auto& r : resources) list += (list.empty() ? "" : ", ") + r;
        const std::string why = sd_on && !sync_exempt
                                    ? "Security Defaults are on and have had no registration grace period since "
                                      "2024-07-29: Entra demands registration at the first sign-in that needs MFA"
                                    : "an MFA requirement applies (" + list + ")";
        builder b(check_mfa_reg, v1::CHECK_STATUS_FAIL,
                  "the account has no MFA method registered and " + why +
                      "; a non-interactive sign-in cannot register (AADSTS50079), and registering would only "
                      "turn the prompt into an MFA demand at each sign-in");
        b.evidence("user", c.account_id, c.account_label, "isMfaRegistered: false");
        if (sd_on) b.evidence("setting", "securityDefaults", "Security Defaults", "isEnabled: true");
        add_cause_remediations(b, c, causes);
        return b.r;
    }
    if (!c.verdict_complete) {
        builder b(check_mfa_reg, v1::CHECK_STATUS_ERROR,
                  "the account has no MFA method registered, and whether anything requires MFA for it is unknown: " +
                      c.verdict_gap_text());
        b.evidence("user", c.account_id, c.account_label, "isMfaRegistered: false");
        return b.r;
    }
    builder b(check_mfa_reg, v1::CHECK_STATUS_OK,
              sd_on ? "the account has no MFA method registered; it holds the Directory Synchronization Accounts "
                      "role, which Security Defaults exempt"
                    : "the account has no MFA method registered; nothing requires MFA for it today");
    b.evidence("user", c.account_id, c.account_label, "isMfaRegistered: false");
    return b.r;
}

std::vector<CheckResult> check_cap_results(const context& c, bool report_only) {
    const char* id = report_only ? check_cap_report_only : check_cap;
    std::vector<CheckResult> out;
    if (!c.evaluable) {
        std::string why;
        for (const auto& g : c.evaluation_gaps) why += (why.empty() ? "" : "; ") + g;
        builder b(id, v1::CHECK_STATUS_ERROR, "cannot evaluate Conditional Access for the account: " + why);
        error_evidence(b, c.s.ca_policies, "GET /identity/conditionalAccess/policies");
        error_evidence(b, c.s.user, "GET /users/" + c.s.account_upn);
        error_evidence(b, c.s.group_ids, "GET /users/{id}/transitiveMemberOf");
        error_evidence(b, c.s.roles, "GET /roleManagement/directory/roleAssignments");
        out.push_back(b.r);
        return out;
    }
    const auto wanted = report_only ? whatif::policy_state::report_only : whatif::policy_state::enabled;
    // Policies that could not be parsed: never silently ignored.
    if (!report_only) {
        for (const auto& [pid, msg] : c.policy_errors) {
            builder b(id, v1::CHECK_STATUS_ERROR, "a Conditional Access policy could not be read: " + msg, pid);
            b.evidence("policy", pid, pid, msg);
            out.push_back(b.r);
        }
    }
    size_t considered = 0;
    for (size_t i = 0; i < c.policies.size(); ++i) {
        const auto& p = c.policies[i];
        if (p.state != wanted) continue;
        // Microsoft-managed report-only policies switch themselves on: CG-CAP-MANAGED reports them.
        if (report_only && whatif::is_microsoft_managed(p)) continue;
        ++considered;
        std::vector<std::string> applies_to, maybe;
        whatif::demand worst_demand = whatif::demand::none;
        std::string detail;
        for (const auto& [res, e] : c.by_resource) {
            const auto& r = e.policies[i];
            detail = r.detail;
            if (r.applies && r.required != whatif::demand::none) {
                applies_to.push_back(whatif::app_name(res) + ": " + whatif::to_string(r.required));
                if (worst_demand == whatif::demand::none || r.required == whatif::demand::block) worst_demand = r.required;
            } else if (r.uncertain && p.grant) {
                maybe.push_back(whatif::app_name(res));
            }
        }
        auto list = [](const std::vector<std::string>& v) {
            std::string s;
            for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
            return s;
        };
        const std::string label = "'" + p.display_name + "'";
        if (!applies_to.empty()) {
            const std::string what = worst_demand == whatif::demand::block ? "blocks"
                                      : worst_demand == whatif::demand::mfa ? "requires MFA for"
                                                                            : "requires a device or app control for";
            builder b(id, report_only ? v1::CHECK_STATUS_WARN : v1::CHECK_STATUS_FAIL,
                      (report_only ? "report-only policy " + label + " would, once enabled, " + std::string(worst_demand == whatif::demand::block ? "block" : worst_demand == whatif::demand::mfa ? "require MFA for" : "require a device or app control for")
                                   : "policy " + label + " " + what) +
                          " the account's non-interactive sign-in (" + list(applies_to) + "; grant: " +
                          (detail.empty() ? "-" : detail) + ")",
                      p.id);
            b.evidence("policy", p.id, p.display_name, "state: " + std::string(whatif::to_string(p.state)) + "; grant: " + detail);
            if (!report_only) {
                b.remediation(v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY, p.id, p.display_name,
                              "exclude " + c.account_label + " from '" + p.display_name + "'");
                add_exclusion_plan_evidence(b, c, p.id);
            }
            out.push_back(b.r);
        } else if (!maybe.empty()) {
            builder b(id, v1::CHECK_STATUS_WARN,
                      "policy " + label + " may apply to the account (" + list(maybe) +
                          "): it depends on sign-in context the agent cannot know (location, platform, device or time)",
                      p.id);
            b.evidence("policy", p.id, p.display_name, "analysisReasons: notEnoughInformation; grant: " + detail);
            out.push_back(b.r);
        }
    }
    if (out.empty()) {
        builder b(id, v1::CHECK_STATUS_OK,
                  report_only ? "no report-only policy would stop the account once enabled (" + std::to_string(considered) + " report-only policies evaluated)"
                              : "no enabled Conditional Access policy blocks the account or requires a control for it (" +
                                    std::to_string(considered) + " enabled policies evaluated)");
        out.push_back(b.r);
    }
    return out;
}

CheckResult check_legacy_result(const context& c) {
    if (!c.opts.needs_legacy_auth) {
        builder b(check_legacy, v1::CHECK_STATUS_OK, "the tool does not use legacy authentication");
        return b.r;
    }
    if (!c.evaluable || !c.s.security_defaults_enabled.ok()) {
        std::string why;
        for (const auto& g : c.evaluation_gaps) why += (why.empty() ? "" : "; ") + g;
        if (!c.s.security_defaults_enabled.ok())
            why += (why.empty() ? "" : "; ") + missing("Security Defaults", *c.s.security_defaults_enabled.error);
        builder b(check_legacy, v1::CHECK_STATUS_ERROR, "cannot tell whether legacy authentication works: " + why);
        return b.r;
    }
    std::vector<std::string> causes;
    std::vector<std::string> lines;
    for (const auto& res : c.opts.target_resources) {
        auto e = evaluate_account(c.s, c.policies, res, "other");
        if (e.result.result != whatif::verdict_result::blocked) continue;
        for (const auto& x : e.result.causes) {
            if (std::find(causes.begin(), causes.end(), x) == causes.end()) causes.push_back(x);
        }
        for (const auto& l : e.result.explanations) {
            if (std::find(lines.begin(), lines.end(), l) == lines.end()) lines.push_back(l);
        }
    }
    if (causes.empty()) {
        builder b(check_legacy, v1::CHECK_STATUS_OK, "legacy authentication is not blocked for the account");
        return b.r;
    }
    std::string why;
    for (const auto& l : lines) why += (why.empty() ? "" : "; ") + l;
    builder b(check_legacy, v1::CHECK_STATUS_FAIL, "the tool needs legacy authentication, which is blocked: " + why);
    for (const auto& x : causes) {
        if (x == whatif::cause_security_defaults) b.evidence("setting", x, "Security Defaults", "blocks legacy authentication");
        else if (x == whatif::cause_per_user_mfa) b.evidence("setting", x, "per-user MFA", "blocks legacy authentication");
        else b.evidence("policy", x, c.policy_name(x), "blocks client app type other");
    }
    add_cause_remediations(b, c, causes);
    return b.r;
}

/// The remediation that fits a sign-in failure (graph.md §1.6, §11.6). `causes` are the policies or
/// settings behind an MFA / CA / Security Defaults refusal.
void add_outcome_remediations(builder& b, const context& c, snapshot::signin_outcome outcome,
                              const std::vector<std::string>& causes) {
    using o = snapshot::signin_outcome;
    switch (outcome) {
        case o::mfa_required:
        case o::mfa_registration_required:
        case o::blocked_by_ca:
        case o::blocked_by_security_defaults:
        case o::control_required:
        case o::external_challenge_required:
        case o::ca_failed:
            add_cause_remediations(b, c, causes);
            break;
        case o::registration_blocked_by_risk:
        case o::password_change_required_by_risk:
            b.remediation(v1::REMEDIATION_KIND_REMEDIATE_ACCOUNT_RISK, c.account_id, c.account_label,
                          "investigate the risk Entra ID Protection sees on " + c.account_label +
                              " and remediate it (confirm the user safe, or reset the password and update the tool)");
            break;
        case o::not_assigned_to_app:
            b.remediation(v1::REMEDIATION_KIND_ASSIGN_ACCOUNT_TO_APP, c.account_id, c.account_label,
                          "assign " + c.account_label + " (or a group holding it) to the enterprise app the tool signs in with");
            break;
        default: break;
    }
}

std::string iso_date(std::chrono::system_clock::time_point t) {
    const std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(t)};
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()));
    return buf;
}

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : sep) + x;
    return out;
}

std::vector<CheckResult> check_cap_managed_results(const context& c) {
    std::vector<CheckResult> out;
    if (!c.evaluable) {
        builder b(check_cap_managed, v1::CHECK_STATUS_ERROR,
                  "cannot evaluate Microsoft-managed Conditional Access policies for the account: " + join(c.evaluation_gaps, "; "));
        error_evidence(b, c.s.ca_policies, "GET /identity/conditionalAccess/policies");
        out.push_back(b.r);
        return out;
    }
    std::size_t managed = 0;
    for (std::size_t i = 0; i < c.policies.size(); ++i) {
        const auto& p = c.policies[i];
        if (!whatif::is_microsoft_managed(p)) continue;
        ++managed;
        // An enabled one is judged by CG-CAP like any other; one an admin set Off stays off.
        if (p.state != whatif::policy_state::report_only) continue;
        std::vector<std::string> demands, maybe;
        whatif::demand worst_demand = whatif::demand::none;
        for (const auto& [res, e] : c.by_resource) {
            const auto& r = e.policies[i];
            if (r.applies && r.required != whatif::demand::none) {
                demands.push_back(whatif::app_name(res) + ": " + whatif::to_string(r.required));
                if (worst_demand == whatif::demand::none || r.required == whatif::demand::block) worst_demand = r.required;
            } else if (r.uncertain && p.grant) {
                maybe.push_back(whatif::app_name(res));
            }
        }
        if (demands.empty() && maybe.empty()) continue;
        const std::string label = "Microsoft-managed policy '" + p.display_name + "'";
        std::chrono::system_clock::time_point created;
        const bool dated = !p.created_date_time.empty() && parse_rfc3339(p.created_date_time, created);
        const auto enforce_at = created + std::chrono::days{managed_enforcement_days};
        const std::string date = dated ? iso_date(enforce_at) : std::string{};
        const auto days_left = std::chrono::floor<std::chrono::days>(enforce_at - c.opts.now).count();
        std::string when;
        v1::CheckStatus st = v1::CHECK_STATUS_FAIL;
        if (!dated) {
            when = "its creation date is unknown (createdDateTime '" + p.created_date_time +
                   "'), so Microsoft may switch it on at any time";
        } else if (enforce_at <= c.opts.now) {
            when = "Microsoft may switch it on any day now: its earliest enforcement date " + date + " (created " +
                   iso_date(created) + " + " + std::to_string(managed_enforcement_days) + " days) has passed";
        } else {
            when = "Microsoft may switch it on from " + date + " (created " + iso_date(created) + " + " +
                   std::to_string(managed_enforcement_days) + " days), in " + std::to_string(days_left) + " days";
            if (enforce_at - c.opts.now > std::chrono::days{managed_fail_within_days}) st = v1::CHECK_STATUS_WARN;
        }
        std::string what;
        if (!demands.empty()) {
            what = worst_demand == whatif::demand::block ? "block" : worst_demand == whatif::demand::mfa ? "require MFA for"
                                                                                                        : "require a device or app control for";
            what = " is report-only today and would " + what + " the account's non-interactive sign-in (" + join(demands) + ")";
        } else {
            what = " is report-only today and may apply to the account (" + join(maybe) +
                   "): it depends on sign-in context the agent cannot know";
        }
        builder b(check_cap_managed, st,
                  label + what + "; " + when + ". Exclude the account now: Microsoft keeps admin exclusions",
                  p.id);
        b.evidence("policy", p.id, p.display_name,
                   "state: " + std::string(whatif::to_string(p.state)) + "; templateId: " +
                       (p.template_id.empty() ? "-" : p.template_id) + "; createdDateTime: " +
                       (p.created_date_time.empty() ? "null" : p.created_date_time));
        b.evidence("enforcementNotBefore", p.id, p.display_name, date);
        b.remediation(v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY, p.id, p.display_name,
                      "exclude " + c.account_label + " from '" + p.display_name + "' before Microsoft switches it on");
        add_exclusion_plan_evidence(b, c, p.id);
        out.push_back(b.r);
    }
    if (out.empty()) {
        builder b(check_cap_managed, v1::CHECK_STATUS_OK,
                  managed == 0 ? "the tenant has no Microsoft-managed Conditional Access policy"
                               : "no report-only Microsoft-managed policy would stop the account once Microsoft enforces it (" +
                                     std::to_string(managed) + " Microsoft-managed policies evaluated)");
        out.push_back(b.r);
    }
    return out;
}

CheckResult check_azure_mfa_result(const context& c) {
    std::vector<std::string> why;
    for (const auto& t : c.opts.target_resources)
        if (to_lower(t) == whatif::app_azure_management) why.push_back("a target resource is Windows Azure Service Management (" + t + ")");
    if (c.opts.writes_azure_resource_manager) why.push_back("the config says the tool writes Azure Resource Manager as a user");
    if (why.empty()) {
        builder b(check_azure_mfa, v1::CHECK_STATUS_OK,
                  "the tool does not manage Azure: Microsoft's mandatory MFA for Azure management does not concern it");
        return b.r;
    }
    builder b(check_azure_mfa, v1::CHECK_STATUS_FAIL,
              "the tool manages Azure (" + join(why, "; ") +
                  "): Microsoft's mandatory MFA for Azure management applies to every user account, cannot be excluded "
                  "by any policy, and is enforced at Azure Resource Manager after the token is issued (create, update "
                  "and delete are refused with a claims challenge), so the sign-in probe cannot see it; only workload "
                  "identities are exempt");
    b.evidence("setting", "azureMandatoryMfa", "Mandatory MFA for Azure management", join(why, "; "));
    b.remediation(v1::REMEDIATION_KIND_MOVE_TO_APP_ONLY_AUTH, c.account_id, c.account_label,
                  "move the tool's Azure management to a workload identity (service principal or managed identity): "
                  "mandatory MFA for Azure cannot be excluded for " + c.account_label);
    return b.r;
}

/// Is this sign-in-log entry to one of the tool's targets? (An entry to Azure AD Graph counts for a
/// target the tool asks only for baseline scopes.)
std::string target_of(const context& c, const snapshot::signin_log_entry& e) {
    for (const auto& t : c.opts.target_resources) {
        if (to_lower(t) == to_lower(e.resource_id) || to_lower(evaluated_resource(c.opts, t)) == to_lower(e.resource_id)) return t;
    }
    return {};
}

bool in_window(const context& c, const snapshot::signin_log_entry& e) {
    std::chrono::system_clock::time_point t;
    if (!parse_rfc3339(e.created, t)) return false;
    return t + c.opts.signin_window >= c.opts.now;
}

/// The newest entry per target resource inside the window.
std::map<std::string, const snapshot::signin_log_entry*> latest_by_target(const context& c) {
    std::map<std::string, const snapshot::signin_log_entry*> out;
    if (!c.s.signin_log || !c.s.signin_log->ok()) return out;
    for (const auto& e : c.s.signin_log->value->latest) {
        const auto t = target_of(c, e);
        if (t.empty() || !in_window(c, e)) continue;
        auto& slot = out[t];
        std::chrono::system_clock::time_point a, b;
        if (slot == nullptr || (parse_rfc3339(e.created, a) && parse_rfc3339(slot->created, b) && a > b)) slot = &e;
    }
    return out;
}

std::chrono::system_clock::time_point entry_time(const snapshot::signin_log_entry& e) {
    std::chrono::system_clock::time_point t{};
    parse_rfc3339(e.created, t);
    return t;
}

/// When a CA policy last changed (modifiedDateTime, else createdDateTime); nullopt when the
/// tenant no longer has it. A policy without either date counts as unchanged since the epoch.
std::optional<std::chrono::system_clock::time_point> policy_changed_at(const context& c, const std::string& id) {
    const auto* p = c.policy_by_id(id);
    if (p == nullptr) return std::nullopt;
    std::chrono::system_clock::time_point t{};
    if (!p->modified_date_time.empty() && parse_rfc3339(p->modified_date_time, t)) return t;
    if (!p->created_date_time.empty() && parse_rfc3339(p->created_date_time, t)) return t;
    return std::chrono::system_clock::time_point{};
}

std::string describe_entry(const snapshot::signin_log_entry& e) {
    std::string d = "at " + e.created + " from " + (e.ip_address.empty() ? "an unknown IP" : e.ip_address) +
                    (e.country.empty() ? "" : " (" + e.country + ")") + " with " +
                    (e.app_name.empty() ? e.app_id : e.app_name + " " + e.app_id);
    return d;
}

std::vector<CheckResult> check_signin_log_results(const context& c) {
    const auto& log = c.s.signin_log;
    if (!log) {
        builder b(check_signin_log, v1::CHECK_STATUS_WARN,
                  "the account's sign-in log was not read (signInLog.enabled is false): its real sign-ins are not checked");
        return {b.r};
    }
    if (!log->ok()) {
        const auto& e = *log->error;
        if (e.code == "graph.not_premium") {
            builder b(check_signin_log, v1::CHECK_STATUS_WARN,
                      "the tenant has no Entra ID P1 licence, so Graph refuses its sign-in log (403): the tool's real "
                      "sign-ins cannot be checked, only predicted and probed");
            b.evidence("graph_call", "GET /beta/auditLogs/signIns", "", e.message);
            return {b.r};
        }
        builder b(check_signin_log, v1::CHECK_STATUS_ERROR, missing("the account's sign-in log", e));
        b.evidence("graph_call", "GET /beta/auditLogs/signIns", e.missing_permission, e.code + ": " + e.message);
        return {b.r};
    }
    const auto latest = latest_by_target(c);
    if (latest.empty()) {
        std::vector<std::string> names;
        for (const auto& t : c.opts.target_resources) names.push_back(whatif::app_name(t));
        builder b(check_signin_log, v1::CHECK_STATUS_WARN,
                  "no non-interactive sign-in of the account to " + join(names) + " in the last " +
                      std::to_string(c.opts.signin_window.count()) + " h: nothing confirms the tool still signs in");
        return {b.r};
    }
    std::vector<CheckResult> out;
    for (const auto& [target, e] : latest) {
        const std::string res = whatif::app_name(target);
        if (e->error_code == 0) {
            builder b(check_signin_log, v1::CHECK_STATUS_OK,
                      "the tool's latest sign-in to " + res + " succeeded (" + describe_entry(*e) + ")", target);
            b.evidence("signin", e->id, e->app_name, "success " + describe_entry(*e));
            out.push_back(b.r);
            continue;
        }
        const std::string code = "AADSTS" + std::to_string(e->error_code);
        std::vector<std::string> failed, failed_names;
        for (const auto& p : e->applied_policies) {
            if (!iequals(p.result, "failure")) continue;
            failed.push_back(p.id);
            failed_names.push_back("'" + (p.display_name.empty() ? c.policy_name(p.id) : p.display_name) + "'");
        }
        const auto outcome = snapshot::outcome_for_aadsts(e->error_code);
        const bool known = outcome.has_value() && *outcome != snapshot::signin_outcome::app_misconfigured;
        std::string reason = "the tool's latest sign-in to " + res + " failed with " + code +
                             (e->failure_reason.empty() ? "" : " (" + e->failure_reason + ")") + ", " + describe_entry(*e);
        if (!failed_names.empty()) reason += "; Conditional Access policies that failed: " + join(failed_names);
        if (!known) reason += "; not an MFA, Conditional Access or account error ConnGuard knows";
        // A failure caused by policies that were changed (or deleted) after it says nothing about
        // today's policy: the tool's next sign-in will tell (an approved exclusion lands this way).
        std::vector<std::string> changed_since;
        for (const auto& id : failed) {
            const auto when = policy_changed_at(c, id);
            if (!when) changed_since.push_back("'" + c.policy_name(id) + "' (deleted since)");
            else if (*when > entry_time(*e)) changed_since.push_back("'" + c.policy_name(id) + "' (changed since)");
        }
        const bool superseded = known && !failed.empty() && changed_since.size() == failed.size();
        if (superseded) reason += "; every failed policy was changed or deleted since: " + join(changed_since) +
                                  ", so the tool's next sign-in will tell whether it works now";
        builder b(check_signin_log, known && !superseded ? v1::CHECK_STATUS_FAIL : v1::CHECK_STATUS_WARN, reason, target);
        b.evidence("signin", e->id, e->app_name, code + " " + describe_entry(*e));
        for (const auto& p : e->applied_policies)
            if (iequals(p.result, "failure"))
                b.evidence("policy", p.id, p.display_name.empty() ? c.policy_name(p.id) : p.display_name, "result: failure");
        if (known && !superseded) {
            std::vector<std::string> causes;
            for (const auto& id : failed)
                if (c.policy_by_id(id) != nullptr) causes.push_back(id);
            if (*outcome == snapshot::signin_outcome::blocked_by_security_defaults) causes.push_back(whatif::cause_security_defaults);
            if (causes.empty()) {
                auto it = c.by_resource.find(to_lower(target));
                if (it != c.by_resource.end()) causes = it->second.result.causes;
            }
            add_outcome_remediations(b, c, *outcome, causes);
        }
        out.push_back(b.r);
    }
    return out;
}

std::vector<CheckResult> check_engine_drift_results(const context& c) {
    const auto& mw = c.s.microsoft_whatif;
    if (!mw) {
        builder b(check_engine_drift, v1::CHECK_STATUS_WARN,
                  "Microsoft's What If has not been asked for this tenant yet (engineDrift disabled, or the agent could "
                  "not evaluate the account): the local engine is not cross-checked");
        return {b.r};
    }
    if (!mw->ok()) {
        builder b(check_engine_drift, v1::CHECK_STATUS_ERROR, missing("Microsoft's What If answer", *mw->error));
        b.evidence("graph_call", "POST /v1.0/identity/conditionalAccess/evaluate", mw->error->missing_permission,
                   mw->error->code + ": " + mw->error->message);
        return {b.r};
    }
    const auto& w = *mw->value;
    if (!c.evaluable) {
        builder b(check_engine_drift, v1::CHECK_STATUS_ERROR,
                  "cannot compare Microsoft's What If with the local engine: " + join(c.evaluation_gaps, "; "));
        return {b.r};
    }
    if (w.policies_digest != snapshot::policies_digest(c.s)) {
        builder b(check_engine_drift, v1::CHECK_STATUS_WARN,
                  "Microsoft's What If answer (asked " + w.asked_at +
                      ") is for an older set of Conditional Access policies; it is asked again next cycle");
        return {b.r};
    }
    whatif::sign_in in = account_sign_in(c.s, c.opts, w.resource_app_id, false);
    in.client_app_type = w.client_app_type.empty() ? c.opts.client_app_type : w.client_app_type;
    if (!w.ip_address.empty()) in.ip_address = w.ip_address;
    if (!w.country.empty()) in.country = w.country;
    if (!w.authentication_flow.empty()) in.authentication_flow = w.authentication_flow;
    const auto local = evaluate_sign_in(c.s, c.policies, in);
    std::vector<std::string> disagreements;
    builder b(check_engine_drift, v1::CHECK_STATUS_OK, "");
    for (const auto& a : w.answers) {
        const whatif::policy_result* mine = nullptr;
        for (const auto& r : local.policies)
            if (iequals(r.id, a.policy_id)) mine = &r;
        const std::string name = a.display_name.empty() ? c.policy_name(a.policy_id) : a.display_name;
        if (mine == nullptr) {
            disagreements.push_back("'" + name + "': Microsoft evaluated it (policyApplies " + (a.policy_applies ? "true" : "false") +
                                    "), ConnGuard did not read it");
            b.evidence("policy", a.policy_id, name, "Microsoft " + std::string(a.policy_applies ? "applies" : "does not apply") + "; ConnGuard: not read");
            continue;
        }
        if (mine->applies == a.policy_applies) continue;
        const std::string ours = std::string(mine->applies ? "true" : "false") + " (" +
                                 whatif::reasons_to_string(mine->analysis_reasons) + ")";
        const std::string theirs = std::string(a.policy_applies ? "true" : "false") + " (" +
                                   (a.analysis_reasons.empty() ? "-" : a.analysis_reasons) + ")";
        disagreements.push_back("'" + name + "': Microsoft policyApplies " + theirs + ", ConnGuard " + ours);
        b.evidence("policy", a.policy_id, name, "Microsoft policyApplies " + theirs + "; ConnGuard " + ours);
    }
    const std::string asked = "asked " + w.asked_at + " for " + whatif::app_name(w.resource_app_id);
    if (disagreements.empty()) {
        b.r.set_reason("Microsoft's What If agrees with the local engine on all " + std::to_string(w.answers.size()) +
                       " policies (" + asked + ")");
    } else {
        b.r.set_status(v1::CHECK_STATUS_WARN);
        b.r.set_reason("Microsoft's What If disagrees with the local engine on " + std::to_string(disagreements.size()) +
                       " policies (" + asked + "): " + join(disagreements, "; "));
    }
    return {b.r};
}

whatif::verdict_result expected_verdict(snapshot::signin_outcome o, bool& comparable) {
    comparable = true;
    switch (o) {
        case snapshot::signin_outcome::success: return whatif::verdict_result::allowed;
        case snapshot::signin_outcome::mfa_required: return whatif::verdict_result::mfa_required;
        case snapshot::signin_outcome::mfa_registration_required: return whatif::verdict_result::mfa_registration_required;
        case snapshot::signin_outcome::blocked_by_ca:
        case snapshot::signin_outcome::blocked_by_security_defaults: return whatif::verdict_result::blocked;
        case snapshot::signin_outcome::control_required: return whatif::verdict_result::control_required;
        default: comparable = false; return whatif::verdict_result::allowed;
    }
}

std::vector<CheckResult> check_signin_results(const context& c) {
    std::vector<CheckResult> out;
    if (c.s.signins.empty()) {
        builder b(check_signin, v1::CHECK_STATUS_WARN, "no sign-in probe ran this cycle: the prediction is not confirmed by a real sign-in");
        out.push_back(b.r);
        return out;
    }
    for (const auto& si : c.s.signins) {
        const std::string res = whatif::app_name(si.resource_app_id);
        const std::string code = si.aadsts_code == 0 ? "" : "AADSTS" + std::to_string(si.aadsts_code);
        CheckStatus st = v1::CHECK_STATUS_FAIL;
        std::string reason;
        using o = snapshot::signin_outcome;
        switch (si.outcome) {
            case o::success: st = v1::CHECK_STATUS_OK; reason = "a non-interactive sign-in to " + res + " succeeded"; break;
            case o::mfa_required: reason = "the sign-in to " + res + " was refused: MFA required (" + code + ")"; break;
            case o::mfa_registration_required: reason = "the sign-in to " + res + " was refused: MFA registration required (" + code + ")"; break;
            case o::blocked_by_ca: reason = "the sign-in to " + res + " was blocked by Conditional Access (" + code + ")"; break;
            case o::blocked_by_security_defaults: reason = "the sign-in to " + res + " was blocked by Security Defaults (" + code + ")"; break;
            case o::control_required: reason = "the sign-in to " + res + " needs a compliant/joined device or an approved app (" + code + ")"; break;
            case o::bad_credentials: reason = "the sign-in to " + res + " failed: wrong password (" + code + ")"; break;
            case o::locked: reason = "the account is locked (" + code + ")"; break;
            case o::disabled: reason = "the account is disabled (" + code + ")"; break;
            case o::password_expired: reason = "the account's password has expired (" + code + ")"; break;
            case o::not_found: reason = "the account does not exist (" + code + ")"; break;
            case o::app_misconfigured: st = v1::CHECK_STATUS_ERROR; reason = "the probe's app registration is misconfigured (" + code + ")"; break;
            case o::external_challenge_required:
                reason = "the sign-in to " + res + " needs an external security challenge (a custom control or an external "
                         "authentication method) that a non-interactive sign-in cannot satisfy (" + code + ")";
                break;
            case o::registration_blocked_by_risk:
                reason = "Entra ID Protection blocks the account's MFA registration because it sees risk (" + code +
                         "): an admin must investigate and remediate the user risk";
                break;
            case o::ca_failed: reason = "Conditional Access refused the sign-in to " + res + " (" + code + ", a generic Conditional Access failure)"; break;
            case o::not_assigned_to_app:
                reason = "the account is not assigned to the app it signs in with, and the app requires user assignment (" + code + ")";
                break;
            case o::password_change_required_by_risk:
                reason = "Entra ID Protection requires a password change because of risk (" + code +
                         "), which a non-interactive sign-in cannot do";
                break;
            case o::other: st = v1::CHECK_STATUS_ERROR; reason = "the sign-in to " + res + " gave an unexpected answer" + (code.empty() ? "" : " (" + code + ")") + (si.error.empty() ? "" : ": " + si.error); break;
        }
        builder b(check_signin, st, reason, si.resource_app_id);
        b.evidence("signin", si.resource_app_id, res, std::string(snapshot::to_string(si.outcome)) + (code.empty() ? "" : " " + code));
        if (st == v1::CHECK_STATUS_FAIL) {
            std::vector<std::string> causes = si.policy_ids;
            if (si.outcome == o::blocked_by_security_defaults) causes.push_back(whatif::cause_security_defaults);
            if (causes.empty()) {
                // No policy ids in the answer: the prediction's causes for this resource.
                auto it = c.by_resource.find(to_lower(si.resource_app_id));
                if (it != c.by_resource.end()) causes = it->second.result.causes;
            }
            for (const auto& p : si.policy_ids) b.evidence("policy", p, c.policy_name(p), "named in the sign-in answer");
            add_outcome_remediations(b, c, si.outcome, causes);
        }
        out.push_back(b.r);
    }
    return out;
}

/// The prediction against the tool's own latest sign-ins (the log): one line per target resource
/// whose latest sign-in has a comparable outcome. Appended to that resource's CG-PREDICTION result.
void compare_with_log(const context& c, std::vector<CheckResult>& out) {
    if (!c.verdict_complete) return;
    // A sign-in older than the newest policy change was judged against other policies.
    std::chrono::system_clock::time_point newest_change{};
    for (const auto& p : c.policies)
        if (const auto t = policy_changed_at(c, p.id); t && *t > newest_change) newest_change = *t;
    for (const auto& [target, e] : latest_by_target(c)) {
        if (entry_time(*e) < newest_change) continue;
        snapshot::signin_outcome outcome = snapshot::signin_outcome::success;
        if (e->error_code != 0) {
            const auto o = snapshot::outcome_for_aadsts(e->error_code);
            if (!o) continue;
            outcome = *o;
        }
        bool comparable = false;
        const auto real = expected_verdict(outcome, comparable);
        if (!comparable) continue;
        auto it = c.by_resource.find(to_lower(target));
        if (it == c.by_resource.end()) continue;
        const auto predicted = it->second.result.result;
        const std::string res = whatif::app_name(target);
        const std::string detail = std::string("predicted ") + whatif::to_string(predicted) + " at the tool's egress, the tool's own sign-in " +
                                   whatif::to_string(real) + " (" + (e->error_code == 0 ? std::string("success") : "AADSTS" + std::to_string(e->error_code)) +
                                   " " + describe_entry(*e) + ")";
        CheckResult* r = nullptr;
        for (auto& x : out)
            if (x.subject() == target || to_lower(x.subject()) == to_lower(target)) r = &x;
        if (r == nullptr) {
            builder b(check_prediction, v1::CHECK_STATUS_OK, "", target);
            out.push_back(b.r);
            r = &out.back();
            r->set_reason("the prediction for " + res + " matches the tool's own latest sign-in: " + detail);
            if (predicted != real) {
                r->set_status(v1::CHECK_STATUS_WARN);
                r->set_reason("the prediction for " + res + " disagrees with the tool's own latest sign-in: " + detail);
            }
        } else {
            r->set_reason(r->reason() + "; " + (predicted == real ? "it matches the tool's own latest sign-in: " : "it disagrees with the tool's own latest sign-in: ") + detail);
            if (predicted != real) r->set_status(worst(r->status(), v1::CHECK_STATUS_WARN));
        }
        auto* ev = r->add_evidence();
        ev->set_kind("signin");
        ev->set_id(e->id);
        ev->set_name(e->app_name);
        ev->set_detail(detail);
    }
}

std::vector<CheckResult> check_prediction_results(const context& c) {
    std::vector<CheckResult> out;
    if (c.s.signins.empty()) {
        compare_with_log(c, out);
        if (!out.empty()) return out;
        builder b(check_prediction, v1::CHECK_STATUS_WARN, "no sign-in probe ran: the what-if prediction could not be compared");
        out.push_back(b.r);
        return out;
    }
    for (const auto& si : c.s.signins) {
        const std::string res = whatif::app_name(si.resource_app_id);
        bool comparable = false;
        const auto real = expected_verdict(si.outcome, comparable);
        if (!comparable) {
            // An unexplained probe failure (token endpoint down, throttled, unknown code) means the
            // check could not run: ERROR. A failure the account explains (bad password, locked) is
            // reported by CG-SIGNIN; the prediction just has nothing to compare with: WARN.
            builder b(check_prediction,
                      si.outcome == snapshot::signin_outcome::other ? v1::CHECK_STATUS_ERROR : v1::CHECK_STATUS_WARN,
                      "cannot compare the prediction for " + res + ": the sign-in failed for another reason (" +
                          snapshot::to_string(si.outcome) + ")",
                      si.resource_app_id);
            out.push_back(b.r);
            continue;
        }
        std::optional<whatif::evaluation> e;
        if (c.verdict_complete) {
            auto it = c.by_resource_probe.find(to_lower(si.resource_app_id));
            if (it != c.by_resource_probe.end()) e = it->second;
            else e = evaluate_sign_in(c.s, c.policies, account_sign_in(c.s, c.opts, si.resource_app_id, false));
        }
        if (!e) {
            builder b(check_prediction, v1::CHECK_STATUS_ERROR,
                      "no prediction for " + res + ": " + c.verdict_gap_text(), si.resource_app_id);
            out.push_back(b.r);
            continue;
        }
        const auto predicted = e->result.result;
        std::string detail = std::string("predicted ") + whatif::to_string(predicted) + ", real " + whatif::to_string(real) +
                             " (" + snapshot::to_string(si.outcome) + ")";
        if (predicted == real) {
            builder b(check_prediction, v1::CHECK_STATUS_OK, "the prediction for " + res + " matches the real sign-in: " + detail,
                      si.resource_app_id);
            b.evidence("signin", si.resource_app_id, res, detail);
            out.push_back(b.r);
        } else {
            std::string uncertain;
            for (const auto& u : e->result.uncertain) uncertain += (uncertain.empty() ? "" : ", ") + c.policy_name(u);
            builder b(check_prediction, v1::CHECK_STATUS_WARN,
                      "the prediction for " + res + " disagrees with the real sign-in: " + detail +
                          (uncertain.empty() ? "" : "; policies that depend on unknown context: " + uncertain),
                      si.resource_app_id);
            b.evidence("signin", si.resource_app_id, res, detail);
            for (const auto& p : si.policy_ids) b.evidence("policy", p, c.policy_name(p), "named in the sign-in answer");
            out.push_back(b.r);
        }
    }
    compare_with_log(c, out);
    return out;
}

CheckResult check_perms_result(const context& c) {
    const auto& s = c.s;
    std::vector<std::pair<std::string, const collect_error*>> errors;
    size_t total = 0;
    auto look = [&](const auto& item, const std::string& what) {
        ++total;
        if (!item.ok() && item.error) errors.emplace_back(what, &*item.error);
    };
    look(s.security_defaults_enabled, "Security Defaults");
    look(s.ca_policies, "Conditional Access policies");
    look(s.named_locations, "named locations");
    look(s.user, "the connection account");
    look(s.group_ids, "group memberships");
    look(s.roles, "role assignments");
    look(s.mfa_registration, "MFA registration");
    look(s.per_user_mfa_state, "per-user MFA state");
    if (s.signin_log && !(s.signin_log->error && s.signin_log->error->code == "graph.not_premium"))
        look(*s.signin_log, "the sign-in log");
    if (s.microsoft_whatif) look(*s.microsoft_whatif, "Conditional Access What If");
    std::set<std::string> perms;
    std::vector<std::string> forbidden;
    for (const auto& [what, e] : errors) {
        if (!e->missing_permission.empty()) perms.insert(e->missing_permission);
        if (!e->missing_permission.empty() || e->code == "graph.forbidden") forbidden.push_back(what);
    }
    if (!forbidden.empty()) {
        std::string plist, wlist;
        for (const auto& p : perms) plist += (plist.empty() ? "" : ", ") + p;
        for (const auto& w : forbidden) wlist += (wlist.empty() ? "" : ", ") + w;
        builder b(check_perms, v1::CHECK_STATUS_FAIL,
                  "the agent's app registration lacks Graph permissions" + (plist.empty() ? std::string{} : " " + plist) +
                      ": it could not read " + wlist);
        for (const auto& [what, e] : errors) {
            if (!e->missing_permission.empty() || e->code == "graph.forbidden")
                b.evidence("graph_call", what, e->missing_permission, e->message);
        }
        return b.r;
    }
    if (errors.size() == total) {
        builder b(check_perms, v1::CHECK_STATUS_ERROR,
                  "could not verify the agent's permissions: every Graph read failed (" + errors.front().second->message + ")");
        return b.r;
    }
    builder b(check_perms, v1::CHECK_STATUS_OK,
              errors.empty() ? "every Graph read the checks need succeeded"
                             : "no Graph read was refused for lack of permission (other errors are reported by their checks)");
    return b.r;
}

}  // namespace

const std::vector<std::string>& check_ids() {
    static const std::vector<std::string> ids = {
        check_account, check_secdef,     check_secdef_admin, check_per_user_mfa, check_mfa_reg,
        check_cap,     check_cap_report_only, check_cap_managed, check_azure_mfa, check_legacy,
        check_signin,  check_signin_log, check_prediction,   check_engine_drift, check_perms};
    return ids;
}

v1::CheckStatus worst(v1::CheckStatus a, v1::CheckStatus b) {
    auto rank = [](v1::CheckStatus s) {
        switch (s) {
            case v1::CHECK_STATUS_OK: return 1;
            case v1::CHECK_STATUS_WARN: return 2;
            case v1::CHECK_STATUS_FAIL: return 3;
            case v1::CHECK_STATUS_ERROR: return 4;
            default: return 0;
        }
    };
    return rank(a) >= rank(b) ? a : b;
}

whatif::directory to_directory(const snapshot::tenant_snapshot& s) {
    whatif::directory d;
    d.security_defaults_enabled = s.security_defaults_enabled.ok() && *s.security_defaults_enabled.value;
    if (s.named_locations.ok()) {
        for (const auto& j : *s.named_locations.value) {
            auto l = whatif::parse_named_location(j);
            if (l) d.named_locations.push_back(std::move(l.value()));
        }
    }
    if (s.user.ok() && !s.user.value->id.empty()) {
        whatif::user_facts f;
        f.guest = to_lower(s.user.value->user_type) == "guest";
        if (s.group_ids.ok()) {
            for (const auto& g : *s.group_ids.value) f.groups.insert(to_lower(g));
        }
        if (s.roles.ok()) {
            for (const auto& r : *s.roles.value) f.roles.insert(to_lower(r.role_template_id));
        }
        if (s.per_user_mfa_state.ok()) {
            const auto m = to_lower(*s.per_user_mfa_state.value);
            f.per_user_mfa_state = m == "enforced" ? whatif::per_user_mfa::enforced
                                   : m == "enabled" ? whatif::per_user_mfa::enabled
                                                    : whatif::per_user_mfa::disabled;
        }
        if (s.mfa_registration.ok()) f.is_mfa_registered = s.mfa_registration.value->is_mfa_registered;
        d.users[to_lower(s.user.value->id)] = std::move(f);
    }
    return d;
}

whatif::evaluation evaluate_account(const snapshot::tenant_snapshot& s, const std::vector<whatif::policy>& policies,
                                    const std::string& resource_app_id, const std::string& client_app_type) {
    whatif::sign_in in;
    in.user_id = s.user.ok() ? to_lower(s.user.value->id) : std::string{};
    in.applications = {to_lower(resource_app_id)};
    in.client_app_type = client_app_type;
    return whatif::evaluate(policies, to_directory(s), in);
}

whatif::evaluation evaluate_sign_in(const snapshot::tenant_snapshot& s, const std::vector<whatif::policy>& policies,
                                    const whatif::sign_in& in) {
    return whatif::evaluate(policies, to_directory(s), in);
}

std::string evaluated_resource(const options& opts, const std::string& target) {
    const auto it = opts.target_scopes.find(to_lower(target));
    if (it != opts.target_scopes.end() && whatif::only_baseline_scopes(it->second)) return whatif::app_azure_ad_graph;
    return target;
}

std::optional<egress> tool_egress(const snapshot::tenant_snapshot& s) {
    if (!s.signin_log || !s.signin_log->ok()) return std::nullopt;
    const snapshot::signin_log_entry* newest = nullptr;
    std::chrono::system_clock::time_point newest_at{};
    for (const auto& e : s.signin_log->value->latest) {
        std::chrono::system_clock::time_point t;
        if (e.ip_address.empty() || !parse_rfc3339(e.created, t)) continue;
        if (newest == nullptr || t > newest_at) {
            newest = &e;
            newest_at = t;
        }
    }
    if (newest == nullptr) return std::nullopt;
    return egress{newest->ip_address, newest->country};
}

whatif::sign_in account_sign_in(const snapshot::tenant_snapshot& s, const options& opts, const std::string& target,
                                bool with_egress) {
    whatif::sign_in in;
    in.user_id = s.user.ok() ? to_lower(s.user.value->id) : std::string{};
    in.applications = {to_lower(evaluated_resource(opts, target))};
    in.client_app_type = opts.client_app_type;
    in.authentication_flow = opts.authentication_flow.empty() ? "none" : opts.authentication_flow;
    if (with_egress) {
        if (const auto e = tool_egress(s)) {
            if (!e->ip_address.empty()) in.ip_address = e->ip_address;
            if (!e->country.empty()) in.country = e->country;
        }
    }
    return in;
}

nlohmann::json to_evaluate_request(const whatif::sign_in& in) {
    nlohmann::json conditions = nlohmann::json::object();
    if (in.client_app_type) conditions["clientAppType"] = *in.client_app_type;
    if (in.ip_address) conditions["ipAddress"] = *in.ip_address;
    if (in.country) conditions["country"] = *in.country;
    if (in.device_platform) conditions["devicePlatform"] = *in.device_platform;
    if (!in.authentication_flow.empty() && in.authentication_flow != "none")
        conditions["authenticationFlow"] = {{"transferMethod", in.authentication_flow}};
    return {{"signInIdentity", {{"@odata.type", "#microsoft.graph.userSignIn"}, {"userId", in.user_id}}},
            {"signInContext",
             {{"@odata.type", "#microsoft.graph.applicationContext"}, {"includeApplications", in.applications}}},
            {"signInConditions", std::move(conditions)},
            {"appliedPoliciesOnly", false}};
}

v1::CaExclusionFacts exclusion_facts(const snapshot::tenant_snapshot& s) {
    v1::CaExclusionFacts out;
    if (!s.ca_policies.ok()) {
        out.add_missing(missing("the Conditional Access policies", *s.ca_policies.error));
        return out;
    }
    const std::string account = s.user.ok() ? to_lower(s.user.value->id) : std::string{};
    const std::string upn = s.user.ok() ? s.user.value->user_principal_name : std::string{};
    std::set<std::string> groups, roles;
    if (s.group_ids.ok())
        for (const auto& g : *s.group_ids.value) groups.insert(to_lower(g));
    else
        out.add_missing(missing("the account's group memberships (which exclusions cover it)", *s.group_ids.error));
    if (s.roles.ok())
        for (const auto& r : *s.roles.value) roles.insert(to_lower(r.role_template_id));
    else
        out.add_missing(missing("the account's role assignments (which exclusions cover it)", *s.roles.error));
    std::vector<v1::PolicyExclusions> covering, others;
    std::size_t index = 0;
    for (const auto& j : *s.ca_policies.value) {
        auto p = whatif::parse_policy(j);
        if (!p) {
            std::string why = "CA policy #";
            why += std::to_string(index);
            why += ": ";
            why += p.err().message;
            out.add_missing(why);
            ++index;
            continue;
        }
        ++index;
        const auto& pol = p.value();
        v1::PolicyExclusions x;
        x.set_policy_id(to_lower(pol.id));
        x.set_policy_name(pol.display_name);
        x.set_state(pol.state == whatif::policy_state::enabled       ? v1::CA_POLICY_STATE_ENABLED
                    : pol.state == whatif::policy_state::report_only ? v1::CA_POLICY_STATE_REPORT_ONLY
                                                                     : v1::CA_POLICY_STATE_DISABLED);
        x.set_modified_date_time(pol.modified_date_time);
        bool covers = false;
        auto add = [&](v1::ExclusionKind kind, const std::string& raw_id) {
            auto* o = x.add_excluded();
            const std::string id = to_lower(raw_id);
            o->set_kind(kind);
            o->set_object_id(id);
            v1::AccountCoverage c = v1::ACCOUNT_COVERAGE_NONE;
            if (kind == v1::EXCLUSION_KIND_USER && !account.empty() && id == account) {
                c = v1::ACCOUNT_COVERAGE_DIRECT;
                o->set_display_name(upn);
            } else if (kind == v1::EXCLUSION_KIND_GROUP && groups.count(id) != 0) {
                c = v1::ACCOUNT_COVERAGE_GROUP;
            } else if (kind == v1::EXCLUSION_KIND_ROLE) {
                if (roles.count(id) != 0) c = v1::ACCOUNT_COVERAGE_ROLE;
                if (const char* name = whatif::role_display_name(id)) o->set_display_name(name);
            }
            o->set_covers_account(c);
            covers = covers || c != v1::ACCOUNT_COVERAGE_NONE;
        };
        for (const auto& u : pol.exclude_users) add(v1::EXCLUSION_KIND_USER, u);
        for (const auto& g : pol.exclude_groups) add(v1::EXCLUSION_KIND_GROUP, g);
        for (const auto& r : pol.exclude_roles) add(v1::EXCLUSION_KIND_ROLE, r);
        (covers ? covering : others).push_back(std::move(x));
    }
    for (auto& x : covering) *out.add_policies() = std::move(x);
    for (auto& x : others) *out.add_policies() = std::move(x);
    out.set_complete(out.missing_size() == 0);
    return out;
}

v1::EvaluationContext evaluation_context(const snapshot::tenant_snapshot& s, const options& opts) {
    v1::EvaluationContext x;
    auto gap = [&](const std::string& g) { x.add_missing(g); };
    // Not a gap: a draft evaluates the same either way; impact only says that Security Defaults,
    // while on, keep any CA policy from being enabled.
    if (s.security_defaults_enabled.ok()) {
        x.set_security_defaults_known(true);
        x.set_security_defaults_enabled(*s.security_defaults_enabled.value);
    }
    if (!s.user.ok()) gap(missing("the connection account", *s.user.error));
    else if (s.user.value->id.empty()) gap("the connection account has no object id");
    else {
        x.set_account_object_id(to_lower(s.user.value->id));
        x.set_guest(to_lower(s.user.value->user_type) == "guest");
    }
    if (s.group_ids.ok()) {
        std::set<std::string> groups;
        for (const auto& g : *s.group_ids.value) groups.insert(to_lower(g));
        for (const auto& g : groups) x.add_group_ids(g);
        std::set<std::string> excluding;
        if (s.ca_policies.ok()) {
            for (const auto& j : *s.ca_policies.value) {
                auto p = whatif::parse_policy(j);
                if (!p || p.value().state == whatif::policy_state::disabled) continue;
                for (const auto& g : p.value().exclude_groups) {
                    if (groups.count(to_lower(g)) != 0) excluding.insert(to_lower(g));
                }
            }
        }
        for (const auto& g : excluding) x.add_excluding_group_ids(g);
    } else {
        gap(missing("the account's group memberships", *s.group_ids.error));
    }
    if (s.roles.ok()) {
        std::set<std::string> roles;
        for (const auto& r : *s.roles.value) roles.insert(to_lower(r.role_template_id));
        for (const auto& r : roles) x.add_role_template_ids(r);
    } else {
        gap(missing("the account's role assignments", *s.roles.error));
    }
    if (s.named_locations.ok()) {
        x.set_named_locations_known(true);
        for (const auto& j : *s.named_locations.value) {
            auto l = whatif::parse_named_location(j);
            if (!l) continue;
            auto* n = x.add_named_locations();
            n->set_id(to_lower(l.value().id));
            n->set_display_name(l.value().display_name);
            n->set_is_country(l.value().type == whatif::named_location::kind::country);
            n->set_is_trusted(l.value().is_trusted);
            if (j.is_object() && j.contains("ipRanges") && j["ipRanges"].is_array()) {
                for (const auto& r : j["ipRanges"]) {
                    if (r.is_object() && r.contains("cidrAddress") && r["cidrAddress"].is_string())
                        n->add_ip_ranges(r["cidrAddress"].get<std::string>());
                }
            }
            for (const auto& c : l.value().countries) n->add_countries(c);
            n->set_include_unknown_countries(l.value().include_unknown_countries);
        }
    } else {
        gap(missing("the named locations", *s.named_locations.error));
    }
    x.set_is_mfa_registered(!s.mfa_registration.ok() || s.mfa_registration.value->is_mfa_registered);
    for (const auto& res : opts.target_resources) {
        auto* t = x.add_sign_ins();
        t->set_target_app_id(to_lower(res));
        t->set_evaluated_app_id(to_lower(evaluated_resource(opts, res)));
        t->set_client_app_type(opts.client_app_type);
        t->set_authentication_flow(opts.authentication_flow.empty() ? "none" : opts.authentication_flow);
    }
    if (opts.needs_legacy_auth) {
        for (const auto& res : opts.target_resources) {
            auto* t = x.add_sign_ins();
            t->set_target_app_id(to_lower(res));
            t->set_evaluated_app_id(to_lower(res));
            t->set_client_app_type("other");
            t->set_authentication_flow("none");
        }
    }
    if (const auto e = tool_egress(s)) {
        x.set_egress_ip(e->ip_address);
        x.set_egress_country(e->country);
    }
    *x.mutable_exclusions() = exclusion_facts(s);
    // The report must stay well under the envelope limit (256 KiB): facts that do not fit are left
    // out and the context says so (incomplete), never silently cut.
    auto drop_locations = [&] {
        const auto n = x.named_locations_size();
        x.clear_named_locations();
        x.set_named_locations_known(false);
        std::string why = "the named locations: ";
        why += std::to_string(n);
        why += " locations are too large to carry in the report";
        gap(why);
    };
    auto drop_groups = [&] {
        const auto n = x.group_ids_size();
        x.clear_group_ids();
        x.clear_excluding_group_ids();
        std::string why = "the account's group memberships: ";
        why += std::to_string(n);
        why += " groups are too many to carry in the report";
        gap(why);
    };
    // Over the bound, the exclusions keep at most max_exclusion_facts_bytes, cut as whole policies
    // from the end (the policies that exclude the account come first and stay longest); then the
    // larger of the named locations and the groups goes, as before.
    if (x.ByteSizeLong() > max_evaluation_context_bytes) {
        auto& e = *x.mutable_exclusions();
        std::uint32_t dropped = 0;
        while (e.policies_size() > 0 && e.ByteSizeLong() > max_exclusion_facts_bytes) {
            e.mutable_policies()->RemoveLast();
            ++dropped;
        }
        if (dropped > 0) {
            e.set_omitted(e.omitted() + dropped);
            e.set_complete(false);
            std::string why = "the CA policy exclusions: ";
            why += std::to_string(dropped);
            why += " policies are too many to carry in the report";
            e.add_missing(why);
        }
    }
    while (x.ByteSizeLong() > max_evaluation_context_bytes && (x.named_locations_size() > 0 || x.group_ids_size() > 0)) {
        std::size_t locations = 0, groups = 0;
        for (const auto& l : x.named_locations()) locations += l.ByteSizeLong();
        for (const auto& g : x.group_ids()) groups += g.size();
        if (locations >= groups) drop_locations();
        else drop_groups();
    }
    x.set_complete(x.missing_size() == 0);
    return x;
}

v1::ValidationReport run_checks(const snapshot::tenant_snapshot& s, const options& opts) {
    context c(s, opts);
    c.account_id = s.user.ok() ? s.user.value->id : std::string{};
    c.account_label = s.user.ok() && !s.user.value->user_principal_name.empty() ? s.user.value->user_principal_name : s.account_upn;
    c.dir = to_directory(s);
    if (s.ca_policies.ok()) {
        size_t i = 0;
        for (const auto& j : *s.ca_policies.value) {
            auto p = whatif::parse_policy(j);
            if (p) {
                c.policies.push_back(std::move(p.value()));
            } else {
                std::string pid = j.is_object() && j.contains("id") && j["id"].is_string() ? j["id"].get<std::string>()
                                                                                        : "policy #" + std::to_string(i);
                c.policy_errors.emplace_back(pid, p.err().message);
            }
            ++i;
        }
    } else {
        c.evaluation_gaps.push_back(missing("the Conditional Access policies", *s.ca_policies.error));
    }
    if (!s.user.ok()) c.evaluation_gaps.push_back(missing("the connection account", *s.user.error));
    else if (c.account_id.empty()) c.evaluation_gaps.push_back("the connection account has no object id");
    if (!s.group_ids.ok()) c.evaluation_gaps.push_back(missing("the account's group memberships", *s.group_ids.error));
    if (!s.roles.ok()) c.evaluation_gaps.push_back(missing("the account's role assignments", *s.roles.error));
    c.evaluable = c.evaluation_gaps.empty();
    c.verdict_gaps = c.evaluation_gaps;
    if (!s.security_defaults_enabled.ok())
        c.verdict_gaps.push_back(missing("the Security Defaults policy", *s.security_defaults_enabled.error));
    if (!s.per_user_mfa_state.ok())
        c.verdict_gaps.push_back(missing("the account's per-user MFA state", *s.per_user_mfa_state.error));
    if (!s.mfa_registration.ok())
        c.verdict_gaps.push_back(missing("the account's MFA registration", *s.mfa_registration.error));
    c.verdict_complete = c.verdict_gaps.empty();
    if (c.evaluable) {
        const bool egress_known = tool_egress(s).has_value();
        for (const auto& res : opts.target_resources) {
            auto tool = evaluate_sign_in(s, c.policies, account_sign_in(s, opts, res, true));
            if (egress_known) c.by_resource_probe.emplace(to_lower(res), evaluate_sign_in(s, c.policies, account_sign_in(s, opts, res, false)));
            else c.by_resource_probe.emplace(to_lower(res), tool);
            c.by_resource.emplace(to_lower(res), std::move(tool));
        }
    }

    v1::ValidationReport r;
    r.set_azure_tenant_id(s.azure_tenant_id);
    r.set_account_upn(s.account_upn);
    r.set_account_object_id(c.account_id);
    auto add = [&](CheckResult cr) { *r.add_checks() = std::move(cr); };
    add(check_account_result(c));
    add(check_secdef_result(c));
    add(check_secdef_admin_result(c));
    add(check_per_user_mfa_result(c));
    add(check_mfa_reg_result(c));
    for (auto& x : check_cap_results(c, false)) add(std::move(x));
    for (auto& x : check_cap_results(c, true)) add(std::move(x));
    for (auto& x : check_cap_managed_results(c)) add(std::move(x));
    add(check_azure_mfa_result(c));
    add(check_legacy_result(c));
    for (auto& x : check_signin_results(c)) add(std::move(x));
    for (auto& x : check_signin_log_results(c)) add(std::move(x));
    for (auto& x : check_prediction_results(c)) add(std::move(x));
    for (auto& x : check_engine_drift_results(c)) add(std::move(x));
    add(check_perms_result(c));

    attach_plans(r, c);
    CheckStatus overall = v1::CHECK_STATUS_OK;
    for (const auto& x : r.checks()) overall = worst(overall, x.status());
    r.set_overall(overall);
    r.set_snapshot_digest(snapshot::digest(s));
    *r.mutable_evaluation_context() = evaluation_context(s, opts);

    if (c.verdict_complete) {
        for (const auto& res : opts.target_resources) {
            const auto& e = c.by_resource.at(to_lower(res));
            auto* v = r.add_verdicts();
            v->set_resource_app_id(res);
            v->set_resource_name(whatif::app_name(res));
            v->set_client_app_type(opts.client_app_type);
            v->set_result(whatif::to_string(e.result.result));
            for (const auto& x : e.result.causes) v->add_causes(x);
            for (const auto& x : e.result.uncertain) v->add_uncertain(x);
            v->set_report_only_result(whatif::to_string(e.result.report_only_result));
        }
    }
    return r;
}

}  // namespace connguard::checks
