#include "agent/checks/checks.h"

namespace connguard::checks {

const std::vector<std::string>& check_ids() {
    static const std::vector<std::string> ids = {check_account, check_secdef,    check_secdef_admin, check_per_user_mfa,
                                                 check_mfa_reg, check_cap,       check_cap_report_only, check_legacy,
                                                 check_signin,  check_prediction, check_perms};
    return ids;
}

v1::CheckStatus worst(v1::CheckStatus a, v1::CheckStatus b) { return a > b ? a : b; }

whatif::directory to_directory(const snapshot::tenant_snapshot&) { return {}; }

whatif::evaluation evaluate_account(const snapshot::tenant_snapshot& s, const std::vector<whatif::policy>& policies,
                                    const std::string& resource_app_id, const std::string& client_app_type) {
    whatif::sign_in in;
    in.user_id = s.user.ok() ? s.user.value->id : std::string{};
    in.applications = {resource_app_id};
    in.client_app_type = client_app_type;
    return whatif::evaluate(policies, to_directory(s), in);
}

v1::ValidationReport run_checks(const snapshot::tenant_snapshot& s, const options&) {
    v1::ValidationReport r;
    r.set_azure_tenant_id(s.azure_tenant_id);
    r.set_account_upn(s.account_upn);
    r.set_overall(v1::CHECK_STATUS_ERROR);
    return r;
}

}  // namespace connguard::checks
