#pragma once
// The check ids of DESIGN §5: the agent's checks report them, the coordinator's rules and alerts
// read them. One spelling for both.
namespace connguard::checks {

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
inline constexpr const char* check_cap_managed = "CG-CAP-MANAGED";
inline constexpr const char* check_azure_mfa = "CG-AZURE-MFA";
inline constexpr const char* check_signin_log = "CG-SIGNIN-LOG";
inline constexpr const char* check_engine_drift = "CG-ENGINE-DRIFT";

}  // namespace connguard::checks
