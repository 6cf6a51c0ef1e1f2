#include "agent/whatif/sign_in.h"

#include "agent/whatif/directory.h"
#include "agent/whatif/json_util.h"

namespace connguard::whatif {

using nlohmann::json;
using namespace detail;

namespace {
const std::string code = "whatif.request";

result<std::optional<std::string>> opt_string(const json& o, std::string_view key, const std::string& path) {
    auto s = string_field(o, key, path, code);
    if (!s) return s.err();
    if (s.value().empty()) return std::optional<std::string>{};
    return std::optional<std::string>{s.value()};
}
}  // namespace

bool sign_in::legacy_client() const {
    if (!client_app_type) return false;
    const auto& t = *client_app_type;
    return iequals(t, "exchangeActiveSync") || iequals(t, "easSupported") || iequals(t, "easUnsupported") ||
           iequals(t, "other");
}

result<sign_in> parse_evaluate_request(const json& j) {
    if (!j.is_object()) return make_error(code, "request: expected a JSON object, got " + type_name(j));
    sign_in s;

    const json* id = present(j, "signInIdentity");
    if (id == nullptr) return make_error(code, "signInIdentity: missing");
    if (!id->is_object()) return make_error(code, "signInIdentity: expected an object, got " + type_name(*id));
    {
        auto type = string_field(*id, "@odata.type", "signInIdentity.@odata.type", code);
        if (!type) return type.err();
        const auto t = to_lower(type.value());
        if (t.find("serviceprincipalsignin") != std::string::npos) {
            s.identity_kind = sign_in::identity::service_principal;
            auto sp = string_field(*id, "servicePrincipalId", "signInIdentity.servicePrincipalId", code);
            if (!sp) return sp.err();
            if (sp.value().empty()) return make_error(code, "signInIdentity.servicePrincipalId: missing");
            s.service_principal_id = to_lower(sp.value());
        } else if (t.empty() || t.find("usersignin") != std::string::npos) {
            auto uid = string_field(*id, "userId", "signInIdentity.userId", code);
            if (!uid) return uid.err();
            if (uid.value().empty()) return make_error(code, "signInIdentity.userId: missing");
            s.user_id = to_lower(uid.value());
            auto ext = opt_string(*id, "externalUserType", "signInIdentity.externalUserType");
            if (!ext) return ext.err();
            s.external_user_type = ext.value();
            auto tenant = opt_string(*id, "externalTenantId", "signInIdentity.externalTenantId");
            if (!tenant) return tenant.err();
            if (tenant.value()) s.external_tenant_id = to_lower(*tenant.value());
        } else {
            return make_error(code, "signInIdentity.@odata.type: expected #microsoft.graph.userSignIn or "
                                    "#microsoft.graph.servicePrincipalSignIn, got '" + type.value() + "'");
        }
    }

    const json* ctx = present(j, "signInContext");
    if (ctx == nullptr) return make_error(code, "signInContext: missing");
    if (!ctx->is_object()) return make_error(code, "signInContext: expected an object, got " + type_name(*ctx));
    {
        auto type = string_field(*ctx, "@odata.type", "signInContext.@odata.type", code);
        if (!type) return type.err();
        const auto t = to_lower(type.value());
        if (t.find("useractioncontext") != std::string::npos) {
            s.context_kind = sign_in::context::user_action;
            auto a = string_field(*ctx, "userAction", "signInContext.userAction", code);
            if (!a) return a.err();
            if (a.value().empty()) return make_error(code, "signInContext.userAction: missing");
            s.user_action = a.value();
        } else if (t.find("authcontext") != std::string::npos) {
            s.context_kind = sign_in::context::authentication_context;
            auto a = string_field(*ctx, "authenticationContextValue", "signInContext.authenticationContextValue", code);
            if (!a) return a.err();
            if (a.value().empty()) return make_error(code, "signInContext.authenticationContextValue: missing");
            s.authentication_context = a.value();
        } else if (t.empty() || t.find("applicationcontext") != std::string::npos) {
            auto apps = strings(*ctx, "includeApplications", "signInContext.includeApplications", code);
            if (!apps) return apps.err();
            if (apps.value().empty()) return make_error(code, "signInContext.includeApplications: missing or empty");
            for (auto& a : apps.value()) s.applications.push_back(to_lower(a));
        } else {
            return make_error(code, "signInContext.@odata.type: expected #microsoft.graph.applicationContext, "
                                    "#microsoft.graph.userActionContext or #microsoft.graph.authContext, got '" +
                                        type.value() + "'");
        }
    }

    const json* cond = present(j, "signInConditions");
    if (cond == nullptr) return s;  // everything optional: defaults and unknowns
    if (!cond->is_object()) return make_error(code, "signInConditions: expected an object, got " + type_name(*cond));
    const std::string base = "signInConditions.";
    auto opt = [&](std::string_view key, std::optional<std::string>& out) -> status {
        auto v = opt_string(*cond, key, base + std::string(key));
        if (!v) return v.err();
        out = v.value();
        return {};
    };
    auto level = [&](std::string_view key, std::string& out, std::initializer_list<const char*> allowed) -> status {
        auto v = string_field(*cond, key, base + std::string(key), code);
        if (!v) return v.err();
        if (v.value().empty()) return {};
        for (const char* a : allowed) {
            if (iequals(v.value(), a)) {
                out = a;
                return {};
            }
        }
        std::string list;
        for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return make_error(code, base + std::string(key) + ": expected one of " + list + ", got '" + v.value() + "'");
    };
    for (auto st : {opt("clientAppType", s.client_app_type), opt("devicePlatform", s.device_platform),
                    opt("ipAddress", s.ip_address), opt("country", s.country)}) {
        if (!st) return st.err();
    }
    if (s.client_app_type) {
        static const char* types[] = {"all", "browser", "mobileAppsAndDesktopClients", "exchangeActiveSync",
                                      "easSupported", "other"};
        bool known = false;
        for (const char* t : types) {
            if (iequals(*s.client_app_type, t)) {
                s.client_app_type = std::string(t);
                known = true;
            }
        }
        if (!known)
            return make_error(code, base + "clientAppType: expected browser, mobileAppsAndDesktopClients, "
                                           "exchangeActiveSync or other, got '" + *s.client_app_type + "'");
        if (*s.client_app_type == "all") s.client_app_type.reset();
    }
    if (s.ip_address) {
        auto ip = parse_ip(*s.ip_address);
        if (!ip) return make_error(code, base + "ipAddress: " + ip.err().message);
    }
    if (s.country) {
        for (auto& ch : *s.country) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    }
    for (auto st : {level("signInRiskLevel", s.sign_in_risk, {"none", "low", "medium", "high", "hidden"}),
                    level("userRiskLevel", s.user_risk, {"none", "low", "medium", "high", "hidden"}),
                    level("servicePrincipalRiskLevel", s.service_principal_risk, {"none", "low", "medium", "high", "hidden"}),
                    level("insiderRiskLevel", s.insider_risk, {"none", "minor", "moderate", "elevated"})}) {
        if (!st) return st.err();
    }
    if (const json* flow = present(*cond, "authenticationFlow")) {
        if (!flow->is_object())
            return make_error(code, base + "authenticationFlow: expected an object, got " + type_name(*flow));
        auto m = string_field(*flow, "transferMethod", base + "authenticationFlow.transferMethod", code);
        if (!m) return m.err();
        if (!m.value().empty()) s.authentication_flow = m.value();
        for (const char* known : {"none", "deviceCodeFlow", "authenticationTransfer"}) {
            if (iequals(s.authentication_flow, known)) s.authentication_flow = known;
        }
    }
    {
        auto b = bool_field(*cond, "boundToken", false, base + "boundToken", code);
        if (!b) return b.err();
        s.bound_token = b.value();
    }
    if (const json* dev = present(*cond, "deviceInfo")) {
        if (!dev->is_object()) return make_error(code, base + "deviceInfo: expected an object, got " + type_name(*dev));
        device_info d;
        d.properties = *dev;
        const std::string dp = base + "deviceInfo.";
        if (present(*dev, "isCompliant") != nullptr) {
            auto b = bool_field(*dev, "isCompliant", false, dp + "isCompliant", code);
            if (!b) return b.err();
            d.is_compliant = b.value();
        }
        auto tt = opt_string(*dev, "trustType", dp + "trustType");
        if (!tt) return tt.err();
        d.trust_type = tt.value();
        auto os = opt_string(*dev, "operatingSystem", dp + "operatingSystem");
        if (!os) return os.err();
        d.operating_system = os.value();
        auto pt = opt_string(*dev, "profileType", dp + "profileType");
        if (!pt) return pt.err();
        d.profile_type = pt.value();
        for (auto [key, out] : {std::pair<const char*, bool*>{"approvedApplication", &d.approved_application},
                                {"compliantApplication", &d.compliant_application},
                                {"passwordChanged", &d.password_changed}}) {
            auto b = bool_field(*dev, key, false, dp + key, code);
            if (!b) return b.err();
            *out = b.value();
        }
        auto bound = bool_field(*dev, "boundToken", false, dp + "boundToken", code);
        if (!bound) return bound.err();
        s.bound_token = s.bound_token || bound.value();
        auto tou = strings(*dev, "acceptedTermsOfUse", dp + "acceptedTermsOfUse", code);
        if (!tou) return tou.err();
        for (auto& t : tou.value()) d.accepted_terms_of_use.push_back(to_lower(t));
        auto cf = strings(*dev, "customAuthenticationFactors", dp + "customAuthenticationFactors", code);
        if (!cf) return cf.err();
        d.custom_factors = cf.value();
        s.device = std::move(d);
    }
    return s;
}

}  // namespace connguard::whatif
