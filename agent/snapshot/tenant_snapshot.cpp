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
        case signin_outcome::other: return "other";
    }
    return "other";
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
    return s;
}

std::string digest(const tenant_snapshot& s) { return sha256_hex(settings_json(s).dump()); }

}  // namespace connguard::snapshot
