#pragma once
// The checks of DESIGN §5: a tenant snapshot (plus the sign-in probe results inside it) becomes a
// connguard.v1.ValidationReport with stable check ids in a stable order, a reason a person
// understands, evidence, and the remediation each FAIL suggests (DESIGN §8).
// A check whose data is missing reports ERROR with the collection error; it never reports OK from
// missing data. Pure: no I/O, no clock (collected_at/cycle are the caller's).
#include <string>
#include <vector>

#include "agent/snapshot/tenant_snapshot.h"
#include "agent/whatif/evaluate.h"
#include "connguard/v1/validation.pb.h"

namespace connguard::checks {

/// Stable check ids, in report order.
inline constexpr const char* check_account = "CG-ACCOUNT";
inline constexpr const char* check_secdef = "CG-SECDEF";
inline constexpr const char* check_secdef_admin = "CG-SECDEF-ADMIN";
inline constexpr const char* check_per_user_mfa = "CG-PERUSER-MFA";
inline constexpr const char* check_mfa_reg = "CG-MFA-REG";
inline constexpr const char* check_cap = "CG-CAP";
inline constexpr const char* check_cap_report_only = "CG-CAP-REPORTONLY";
inline constexpr const char* check_legacy = "CG-LEGACY";
inline constexpr const char* check_signin = "CG-SIGNIN";
inline constexpr const char* check_prediction = "CG-PREDICTION";
inline constexpr const char* check_perms = "CG-PERMS";
/// All ids in report order.
const std::vector<std::string>& check_ids();

/// What the connection account is used for.
struct options {
    /// Resources the tool signs in to (default Exchange Online and Microsoft Graph).
    std::vector<std::string> target_resources = {whatif::app_exchange_online, whatif::app_microsoft_graph};
    /// clientAppType of the tool's sign-in (ROPC from a script: "mobileAppsAndDesktopClients").
    std::string client_app_type = "mobileAppsAndDesktopClients";
    /// The tool also signs in with a legacy protocol (client app type "other").
    bool needs_legacy_auth = false;
};

/// The directory facts of the snapshot (Security Defaults, named locations, the account's
/// groups, roles and MFA state) in the what-if engine's form. Missing items use the engine's
/// defaults; the checks report them as ERROR separately.
whatif::directory to_directory(const snapshot::tenant_snapshot& s);

/// The what-if verdict for the account's non-interactive sign-in to one resource.
whatif::evaluation evaluate_account(const snapshot::tenant_snapshot& s, const std::vector<whatif::policy>& policies,
                                    const std::string& resource_app_id, const std::string& client_app_type);

/// Runs every check. Fills azure_tenant_id, account_upn, account_object_id, checks, overall,
/// snapshot_digest and verdicts; leaves cycle, collected_at and graph_requests to the caller.
v1::ValidationReport run_checks(const snapshot::tenant_snapshot& s, const options& opts = {});

/// The worst of two statuses (ERROR > FAIL > WARN > OK).
v1::CheckStatus worst(v1::CheckStatus a, v1::CheckStatus b);

}  // namespace connguard::checks
