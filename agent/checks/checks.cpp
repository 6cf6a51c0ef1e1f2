#include "agent/checks/checks.h"

#include <algorithm>
#include <map>
#include <set>

namespace connguard::checks {

namespace {

using v1::CheckResult;
using v1::CheckStatus;
using snapshot::collect_error;

const char* role_name(const std::string& template_id) {
    const char* name = whatif::role_display_name(template_id);
    return name != nullptr ? name : "directory role";
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
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
    std::map<std::string, whatif::evaluation> by_resource;  // modern client of the tool
    whatif::directory dir;

    const whatif::policy* policy_by_id(const std::string& id) const {
        for (const auto& p : policies) {
            if (p.id == id) return &p;
        }
        return nullptr;
    }
    std::string policy_name(const std::string& id) const {
        const auto* p = policy_by_id(id);
        return p == nullptr ? id : p->display_name;
    }
};

bool holds_privileged_role(const snapshot::tenant_snapshot& s, std::vector<snapshot::role_assignment>* which) {
    if (!s.roles.ok()) return false;
    bool any = false;
    for (const auto& r : *s.roles.value) {
        if (whatif::security_defaults_privileged_roles().count(lower(r.role_template_id)) != 0) {
            any = true;
            if (which != nullptr) which->push_back(r);
        }
    }
    return any;
}

/// The facts the coordinator's plan builder needs to turn an exclusion into an exact, guarded
/// change (coordinator/README.md, "Evidence the plan builder reads"): the policy's
/// modifiedDateTime (the precondition), its excludeUsers as read (the merge base), its grant and
/// includeUsers (the risk).
void add_exclusion_plan_evidence(builder& b, const context& c, const std::string& policy_id) {
    if (!c.s.ca_policies.ok()) return;
    for (const auto& raw : *c.s.ca_policies.value) {
        if (!raw.is_object() || lower(raw.value("id", std::string{})) != lower(policy_id)) continue;
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
    std::vector<snapshot::role_assignment> privileged;
    holds_privileged_role(s, &privileged);
    if (privileged.empty()) {
        builder b(check_secdef_admin, v1::CHECK_STATUS_OK,
                  "the account holds none of the roles Security Defaults always send through MFA");
        return b.r;
    }
    std::string names;
    for (const auto& r : privileged) names += (names.empty() ? "" : ", ") + std::string(role_name(lower(r.role_template_id)));
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
        b.evidence("role", r.role_template_id, role_name(lower(r.role_template_id)),
                   "assignment " + r.id + " scope " + r.directory_scope_id);
        if (sd_on)
            b.remediation(v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE, r.id, role_name(lower(r.role_template_id)),
                          "remove the " + std::string(role_name(lower(r.role_template_id))) + " role from " + c.account_label);
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
    const std::string state = lower(*s.per_user_mfa_state.value);
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
    std::vector<std::string> resources;
    for (const auto& [res, e] : c.by_resource) {
        if (e.result.result == whatif::verdict_result::mfa_registration_required) resources.push_back(whatif::app_name(res));
    }
    if (!resources.empty()) {
        std::string list;
        for (const auto& r : resources) list += (list.empty() ? "" : ", ") + r;
        builder b(check_mfa_reg, v1::CHECK_STATUS_FAIL,
                  "the account has no MFA method registered and an MFA requirement applies (" + list +
                      "): Entra asks it to register, which a non-interactive sign-in cannot do");
        b.evidence("user", c.account_id, c.account_label, "isMfaRegistered: false");
        b.remediation(v1::REMEDIATION_KIND_REGISTER_MFA_FOR_ACCOUNT, c.account_id, c.account_label,
                      "register an MFA method for " + c.account_label + " (or remove the MFA requirement)");
        return b.r;
    }
    if (!c.verdict_complete) {
        builder b(check_mfa_reg, v1::CHECK_STATUS_ERROR,
                  "the account has no MFA method registered, and whether anything requires MFA for it is unknown: " +
                      c.verdict_gap_text());
        b.evidence("user", c.account_id, c.account_label, "isMfaRegistered: false");
        return b.r;
    }
    const bool sd_on = s.security_defaults_enabled.ok() && *s.security_defaults_enabled.value;
    builder b(check_mfa_reg, sd_on ? v1::CHECK_STATUS_WARN : v1::CHECK_STATUS_OK,
              sd_on ? "the account has no MFA method registered and Security Defaults are on: Entra will demand "
                      "registration (14 days after the first interactive sign-in)"
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
            case o::other: st = v1::CHECK_STATUS_ERROR; reason = "the sign-in to " + res + " gave an unexpected answer" + (code.empty() ? "" : " (" + code + ")") + (si.error.empty() ? "" : ": " + si.error); break;
        }
        builder b(check_signin, st, reason, si.resource_app_id);
        b.evidence("signin", si.resource_app_id, res, std::string(snapshot::to_string(si.outcome)) + (code.empty() ? "" : " " + code));
        if (st == v1::CHECK_STATUS_FAIL) {
            std::vector<std::string> causes = si.policy_ids;
            if (si.outcome == o::blocked_by_security_defaults) causes.push_back(whatif::cause_security_defaults);
            if (causes.empty()) {
                // No policy ids in the answer: the prediction's causes for this resource.
                auto it = c.by_resource.find(lower(si.resource_app_id));
                if (it != c.by_resource.end()) causes = it->second.result.causes;
            }
            for (const auto& p : si.policy_ids) b.evidence("policy", p, c.policy_name(p), "named in the sign-in answer");
            if (si.outcome == o::mfa_registration_required)
                b.remediation(v1::REMEDIATION_KIND_REGISTER_MFA_FOR_ACCOUNT, c.account_id, c.account_label,
                              "register an MFA method for " + c.account_label);
            if (si.outcome == o::mfa_required || si.outcome == o::mfa_registration_required ||
                si.outcome == o::blocked_by_ca || si.outcome == o::blocked_by_security_defaults ||
                si.outcome == o::control_required)
                add_cause_remediations(b, c, causes);
        }
        out.push_back(b.r);
    }
    return out;
}

std::vector<CheckResult> check_prediction_results(const context& c) {
    std::vector<CheckResult> out;
    if (c.s.signins.empty()) {
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
            auto it = c.by_resource.find(lower(si.resource_app_id));
            if (it != c.by_resource.end()) e = it->second;
            else e = evaluate_account(c.s, c.policies, si.resource_app_id, c.opts.client_app_type);
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
    static const std::vector<std::string> ids = {check_account, check_secdef,    check_secdef_admin, check_per_user_mfa,
                                                 check_mfa_reg, check_cap,       check_cap_report_only, check_legacy,
                                                 check_signin,  check_prediction, check_perms};
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
        f.guest = lower(s.user.value->user_type) == "guest";
        if (s.group_ids.ok()) {
            for (const auto& g : *s.group_ids.value) f.groups.insert(lower(g));
        }
        if (s.roles.ok()) {
            for (const auto& r : *s.roles.value) f.roles.insert(lower(r.role_template_id));
        }
        if (s.per_user_mfa_state.ok()) {
            const auto m = lower(*s.per_user_mfa_state.value);
            f.per_user_mfa_state = m == "enforced" ? whatif::per_user_mfa::enforced
                                   : m == "enabled" ? whatif::per_user_mfa::enabled
                                                    : whatif::per_user_mfa::disabled;
        }
        if (s.mfa_registration.ok()) f.is_mfa_registered = s.mfa_registration.value->is_mfa_registered;
        d.users[lower(s.user.value->id)] = std::move(f);
    }
    return d;
}

whatif::evaluation evaluate_account(const snapshot::tenant_snapshot& s, const std::vector<whatif::policy>& policies,
                                    const std::string& resource_app_id, const std::string& client_app_type) {
    whatif::sign_in in;
    in.user_id = s.user.ok() ? lower(s.user.value->id) : std::string{};
    in.applications = {lower(resource_app_id)};
    in.client_app_type = client_app_type;
    return whatif::evaluate(policies, to_directory(s), in);
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
        for (const auto& res : opts.target_resources) {
            c.by_resource.emplace(lower(res), evaluate_account(s, c.policies, res, opts.client_app_type));
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
    add(check_legacy_result(c));
    for (auto& x : check_signin_results(c)) add(std::move(x));
    for (auto& x : check_prediction_results(c)) add(std::move(x));
    add(check_perms_result(c));

    CheckStatus overall = v1::CHECK_STATUS_OK;
    for (const auto& x : r.checks()) overall = worst(overall, x.status());
    r.set_overall(overall);
    r.set_snapshot_digest(snapshot::digest(s));

    if (c.verdict_complete) {
        for (const auto& res : opts.target_resources) {
            const auto& e = c.by_resource.at(lower(res));
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
