#include "agent/snapshot/tenant_snapshot.h"

#include "common/ids.h"

namespace connguard::snapshot {

const char* to_string(signin_outcome o) {
    switch (o) {
        case signin_outcome::success: return "success";
        case signin_outcome::mfa_required: return "mfa_required";
        case signin_outcome::mfa_registration_required: return "mfa_registration_required";
        case signin_outcome::blocked_by_ca: return "blocked_by_ca";
        case signin_outcome::blocked_by_security_defaults: return "blocked_by_security_defaults";
        case signin_outcome::control_required: return "control_required";
        case signin_outcome::bad_credentials: return "bad_credentials";
        case signin_outcome::locked: return "locked";
        case signin_outcome::disabled: return "disabled";
        case signin_outcome::password_expired: return "password_expired";
        case signin_outcome::not_found: return "not_found";
        case signin_outcome::app_misconfigured: return "app_misconfigured";
        case signin_outcome::external_challenge_required: return "external_challenge_required";
        case signin_outcome::registration_blocked_by_risk: return "registration_blocked_by_risk";
        case signin_outcome::ca_failed: return "ca_failed";
        case signin_outcome::not_assigned_to_app: return "not_assigned_to_app";
        case signin_outcome::password_change_required_by_risk: return "password_change_required_by_risk";
        case signin_outcome::other: return "other";
    }
    return "other";
}

std::optional<signin_outcome> outcome_for_aadsts(long code) {
    switch (code) {
        case 50076:
        case 50074:
            return signin_outcome::mfa_required;
        case 50079:
        case 50072:
            return signin_outcome::mfa_registration_required;
        case 53003:
            return signin_outcome::blocked_by_ca;
        case 530035:
            return signin_outcome::blocked_by_security_defaults;
        case 53000:
        case 53001:
        case 53002:
            return signin_outcome::control_required;
        case 50158:
            return signin_outcome::external_challenge_required;
        case 53004:
            return signin_outcome::registration_blocked_by_risk;
        case 50131:
            return signin_outcome::ca_failed;
        case 50105:
            return signin_outcome::not_assigned_to_app;
        case 50135:
            return signin_outcome::password_change_required_by_risk;
        case 50126:
            return signin_outcome::bad_credentials;
        case 50053:
            return signin_outcome::locked;
        case 50057:
            return signin_outcome::disabled;
        case 50055:
        case 50144:
            return signin_outcome::password_expired;
        case 50034:
            return signin_outcome::not_found;
        case 7000218:
        case 700016:
        case 7000215:
        case 7000222:
        case 700027:
        case 65001:
            return signin_outcome::app_misconfigured;
        default:
            return std::nullopt;
    }
}

namespace {

signin_outcome outcome_from(const std::string& s) {
    for (int i = 0; i <= static_cast<int>(signin_outcome::other); ++i) {
        auto o = static_cast<signin_outcome>(i);
        if (s == to_string(o)) return o;
    }
    return signin_outcome::other;
}

template <class T, class F>
nlohmann::json item_json(const collected<T>& c, F&& encode) {
    if (c.value) return {{"value", encode(*c.value)}};
    const auto& e = *c.error;
    return {{"error", {{"code", e.code}, {"message", e.message}, {"missingPermission", e.missing_permission}}}};
}

template <class T, class F>
collected<T> item_from(const nlohmann::json& j, F&& decode) {
    if (j.contains("value")) return collected<T>::of(decode(j.at("value")));
    const auto& e = j.at("error");
    return collected<T>::failed({e.at("code").get<std::string>(), e.at("message").get<std::string>(),
                                 e.value("missingPermission", std::string{})});
}

nlohmann::json settings_json(const tenant_snapshot& s) {
    auto identity = [](const auto& v) { return nlohmann::json(v); };
    return {
        {"tenantKey", s.tenant_key},
        {"azureTenantId", s.azure_tenant_id},
        {"accountUpn", s.account_upn},
        {"securityDefaultsEnabled", item_json(s.security_defaults_enabled, identity)},
        {"conditionalAccessPolicies", item_json(s.ca_policies, identity)},
        {"namedLocations", item_json(s.named_locations, identity)},
        {"user", item_json(s.user,
                           [](const account& a) {
                               return nlohmann::json{{"id", a.id},
                                                     {"userPrincipalName", a.user_principal_name},
                                                     {"displayName", a.display_name},
                                                     {"accountEnabled", a.account_enabled},
                                                     {"userType", a.user_type}};
                           })},
        {"groupIds", item_json(s.group_ids, identity)},
        {"roles", item_json(s.roles,
                            [](const std::vector<role_assignment>& rs) {
                                auto arr = nlohmann::json::array();
                                for (const auto& r : rs)
                                    arr.push_back({{"id", r.id},
                                                   {"roleTemplateId", r.role_template_id},
                                                   {"directoryScopeId", r.directory_scope_id}});
                                return arr;
                            })},
        {"mfaRegistration", item_json(s.mfa_registration,
                                      [](const registration& r) {
                                          return nlohmann::json{{"isMfaRegistered", r.is_mfa_registered},
                                                                {"isMfaCapable", r.is_mfa_capable},
                                                                {"methodsRegistered", r.methods_registered}};
                                      })},
        {"perUserMfaState", item_json(s.per_user_mfa_state, identity)},
    };
}

nlohmann::json log_json(const signin_history& l) {
    auto arr = nlohmann::json::array();
    for (const auto& e : l.latest) {
        auto pols = nlohmann::json::array();
        for (const auto& p : e.applied_policies)
            pols.push_back({{"id", p.id}, {"displayName", p.display_name}, {"result", p.result}});
        arr.push_back({{"id", e.id},
                       {"createdDateTime", e.created},
                       {"appId", e.app_id},
                       {"appDisplayName", e.app_name},
                       {"resourceId", e.resource_id},
                       {"resourceDisplayName", e.resource_name},
                       {"ipAddress", e.ip_address},
                       {"country", e.country},
                       {"clientAppUsed", e.client_app_used},
                       {"errorCode", e.error_code},
                       {"failureReason", e.failure_reason},
                       {"appliedConditionalAccessPolicies", std::move(pols)}});
    }
    return {{"latest", std::move(arr)}, {"lastSeen", l.last_seen}};
}

signin_history log_from(const nlohmann::json& j) {
    signin_history l;
    l.last_seen = j.value("lastSeen", std::string{});
    for (const auto& e : j.at("latest")) {
        signin_log_entry x;
        x.id = e.value("id", std::string{});
        x.created = e.value("createdDateTime", std::string{});
        x.app_id = e.value("appId", std::string{});
        x.app_name = e.value("appDisplayName", std::string{});
        x.resource_id = e.value("resourceId", std::string{});
        x.resource_name = e.value("resourceDisplayName", std::string{});
        x.ip_address = e.value("ipAddress", std::string{});
        x.country = e.value("country", std::string{});
        x.client_app_used = e.value("clientAppUsed", std::string{});
        x.error_code = e.value("errorCode", 0);
        x.failure_reason = e.value("failureReason", std::string{});
        for (const auto& p : e.value("appliedConditionalAccessPolicies", nlohmann::json::array()))
            x.applied_policies.push_back({p.value("id", std::string{}), p.value("displayName", std::string{}),
                                          p.value("result", std::string{})});
        l.latest.push_back(std::move(x));
    }
    return l;
}

nlohmann::json whatif_json(const whatif_exchange& w) {
    auto arr = nlohmann::json::array();
    for (const auto& a : w.answers)
        arr.push_back({{"id", a.policy_id},
                       {"displayName", a.display_name},
                       {"policyApplies", a.policy_applies},
                       {"analysisReasons", a.analysis_reasons}});
    return {{"askedAt", w.asked_at},
            {"resourceAppId", w.resource_app_id},
            {"clientAppType", w.client_app_type},
            {"ipAddress", w.ip_address},
            {"country", w.country},
            {"authenticationFlow", w.authentication_flow},
            {"policiesDigest", w.policies_digest},
            {"value", std::move(arr)}};
}

whatif_exchange whatif_from(const nlohmann::json& j) {
    whatif_exchange w;
    w.asked_at = j.value("askedAt", std::string{});
    w.resource_app_id = j.value("resourceAppId", std::string{});
    w.client_app_type = j.value("clientAppType", std::string{});
    w.ip_address = j.value("ipAddress", std::string{});
    w.country = j.value("country", std::string{});
    w.authentication_flow = j.value("authenticationFlow", std::string{});
    w.policies_digest = j.value("policiesDigest", std::string{});
    for (const auto& a : j.at("value"))
        w.answers.push_back({a.value("id", std::string{}), a.value("displayName", std::string{}),
                             a.value("policyApplies", false), a.value("analysisReasons", std::string{})});
    return w;
}

}  // namespace

nlohmann::json to_json(const tenant_snapshot& s) {
    auto j = settings_json(s);
    auto arr = nlohmann::json::array();
    for (const auto& r : s.signins)
        arr.push_back({{"outcome", to_string(r.outcome)},
                       {"resourceAppId", r.resource_app_id},
                       {"aadstsCode", r.aadsts_code},
                       {"errorCodes", r.error_codes},
                       {"error", r.error},
                       {"errorDescription", r.error_description},
                       {"policyIds", r.policy_ids}});
    j["signins"] = std::move(arr);
    if (s.signin_log) j["signInLog"] = item_json(*s.signin_log, log_json);
    if (s.microsoft_whatif) j["microsoftWhatIf"] = item_json(*s.microsoft_whatif, whatif_json);
    return j;
}

tenant_snapshot from_json(const nlohmann::json& j) {
    tenant_snapshot s;
    s.tenant_key = j.at("tenantKey").get<std::string>();
    s.azure_tenant_id = j.at("azureTenantId").get<std::string>();
    s.account_upn = j.at("accountUpn").get<std::string>();
    s.security_defaults_enabled = item_from<bool>(j.at("securityDefaultsEnabled"), [](const auto& v) { return v.template get<bool>(); });
    s.ca_policies = item_from<std::vector<nlohmann::json>>(j.at("conditionalAccessPolicies"),
                                                           [](const auto& v) { return v.template get<std::vector<nlohmann::json>>(); });
    s.named_locations = item_from<std::vector<nlohmann::json>>(j.at("namedLocations"),
                                                               [](const auto& v) { return v.template get<std::vector<nlohmann::json>>(); });
    s.user = item_from<account>(j.at("user"), [](const nlohmann::json& v) {
        return account{v.at("id").get<std::string>(), v.at("userPrincipalName").get<std::string>(),
                       v.value("displayName", std::string{}), v.value("accountEnabled", true),
                       v.value("userType", std::string{"Member"})};
    });
    s.group_ids = item_from<std::vector<std::string>>(j.at("groupIds"), [](const auto& v) { return v.template get<std::vector<std::string>>(); });
    s.roles = item_from<std::vector<role_assignment>>(j.at("roles"), [](const nlohmann::json& v) {
        std::vector<role_assignment> out;
        for (const auto& r : v)
            out.push_back({r.at("id").get<std::string>(), r.at("roleTemplateId").get<std::string>(),
                           r.value("directoryScopeId", std::string{"/"})});
        return out;
    });
    s.mfa_registration = item_from<registration>(j.at("mfaRegistration"), [](const nlohmann::json& v) {
        return registration{v.at("isMfaRegistered").get<bool>(), v.value("isMfaCapable", false),
                            v.value("methodsRegistered", std::vector<std::string>{})};
    });
    s.per_user_mfa_state = item_from<std::string>(j.at("perUserMfaState"), [](const auto& v) { return v.template get<std::string>(); });
    if (j.contains("signins")) {
        for (const auto& r : j.at("signins")) {
            signin_result sr;
            sr.outcome = outcome_from(r.at("outcome").get<std::string>());
            sr.resource_app_id = r.value("resourceAppId", std::string{});
            sr.aadsts_code = r.value("aadstsCode", 0);
            sr.error_codes = r.value("errorCodes", std::vector<int>{});
            sr.error = r.value("error", std::string{});
            sr.error_description = r.value("errorDescription", std::string{});
            sr.policy_ids = r.value("policyIds", std::vector<std::string>{});
            s.signins.push_back(std::move(sr));
        }
    }
    if (j.contains("signInLog")) s.signin_log = item_from<signin_history>(j.at("signInLog"), log_from);
    if (j.contains("microsoftWhatIf")) s.microsoft_whatif = item_from<whatif_exchange>(j.at("microsoftWhatIf"), whatif_from);
    return s;
}

std::string digest(const tenant_snapshot& s) { return sha256_hex(settings_json(s).dump()); }

std::string policies_digest(const tenant_snapshot& s) {
    if (!s.ca_policies.ok()) return {};
    return sha256_hex(nlohmann::json(*s.ca_policies.value).dump());
}

}  // namespace connguard::snapshot
