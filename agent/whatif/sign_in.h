#pragma once
// One sign-in to evaluate: who, to what, from where, how. Mirrors the body of Graph's
// POST /identity/conditionalAccess/evaluate. Context that is not given stays unknown (std::nullopt)
// and makes conditions that depend on it "not enough information". Pure: no I/O.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace connguard::whatif {

/// What the caller knows about the device (Graph deviceInfo, plus ConnGuard's own keys for the
/// app and session controls Graph's deviceInfo cannot express).
struct device_info {
    std::optional<bool> is_compliant;               ///< isCompliant
    std::optional<std::string> trust_type;          ///< trustType: AzureAD | ServerAD (hybrid joined) | Workplace
    std::optional<std::string> operating_system;
    std::optional<std::string> profile_type;
    nlohmann::json properties = nlohmann::json::object();  ///< every deviceInfo key as given (device filter rules)
    bool approved_application = false;              ///< "approvedApplication": true (ConnGuard extension)
    bool compliant_application = false;             ///< "compliantApplication": true (ConnGuard extension)
    bool password_changed = false;                  ///< "passwordChanged": true (ConnGuard extension)
    std::vector<std::string> accepted_terms_of_use; ///< "acceptedTermsOfUse": [agreement ids]
    std::vector<std::string> custom_factors;        ///< "customAuthenticationFactors": [names satisfied]
};

struct sign_in {
    enum class identity { user, service_principal };
    enum class context { application, user_action, authentication_context };

    identity identity_kind = identity::user;
    std::string user_id;                            ///< userSignIn.userId
    std::optional<std::string> external_user_type;  ///< userSignIn.externalUserType (overrides the directory)
    std::optional<std::string> external_tenant_id;  ///< userSignIn.externalTenantId
    std::string service_principal_id;               ///< servicePrincipalSignIn.servicePrincipalId

    context context_kind = context::application;
    std::vector<std::string> applications;          ///< applicationContext.includeApplications (resource app ids)
    std::string user_action;                        ///< registerSecurityInformation | registerOrJoinDevices
    std::string authentication_context;             ///< authContext.authenticationContextValue

    std::optional<std::string> client_app_type;     ///< browser, mobileAppsAndDesktopClients, exchangeActiveSync, other
    std::optional<std::string> device_platform;     ///< android, iOS, windows, macOS, linux, windowsPhone
    std::optional<std::string> ip_address;
    std::optional<std::string> country;             ///< ISO code
    std::string sign_in_risk = "none";
    std::string user_risk = "none";
    std::string service_principal_risk = "none";
    std::string insider_risk = "none";              ///< none | minor | moderate | elevated
    std::string authentication_flow = "none";       ///< none | deviceCodeFlow | authenticationTransfer
    std::optional<device_info> device;              ///< absent: no device known (unknown for device filters)
    /// The sign-in presents a device-bound token (token protection, graph.md §11.5). A password (ROPC)
    /// token is never bound, and everything ConnGuard evaluates is password-based, hence false.
    /// Request: "boundToken": true in signInConditions.deviceInfo or signInConditions (ConnGuard extension).
    bool bound_token = false;

    /// The resource app id (first of `applications`), empty for non-application contexts.
    std::string resource() const { return applications.empty() ? std::string{} : applications.front(); }
    /// exchangeActiveSync / easSupported / other: clients that cannot do any grant control.
    bool legacy_client() const;
};

/// Parses the evaluate request body. Errors (code "whatif.request") name the field, e.g.
/// "signInIdentity.userId: missing".
result<sign_in> parse_evaluate_request(const nlohmann::json& j);

}  // namespace connguard::whatif
