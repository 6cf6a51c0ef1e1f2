// The checks for what Microsoft switched on in 2024–2026 (graph.md §11): Microsoft-managed policies,
// Security Defaults without grace, mandatory MFA for Azure, token protection, the new AADSTS codes,
// the account's own sign-in log and Microsoft's own What If answer. Pure: snapshots in, reports out.
#include <gtest/gtest.h>

#include <chrono>

#include "tests/support/check_fixtures.h"
#include "common/clock.h"

namespace connguard::checks {
namespace {

using nlohmann::json;
using snapshot::collected;
using namespace std::chrono_literals;

using test::account_id;
using test::evidence;
using test::results;
using test::suggests;
using test::the;
const std::chrono::system_clock::time_point now = from_unix_ms(1796601600000);  // 2026-12-07T00:00:00Z

json mfa_policy(const std::string& id, const std::string& state = "enabled") {
    return {{"id", id},
            {"displayName", "Policy " + id},
            {"state", state},
            {"createdDateTime", "2026-01-01T00:00:00Z"},
            {"modifiedDateTime", nullptr},
            {"conditions",
             {{"users", {{"includeUsers", {"All"}}}}, {"applications", {{"includeApplications", {"All"}}}}, {"clientAppTypes", {"all"}}}},
            {"grantControls", {{"operator", "OR"}, {"builtInControls", {"mfa"}}}}};
}

json managed_policy(std::chrono::system_clock::time_point created, const std::string& state = "enabledForReportingButNotEnforced") {
    auto p = mfa_policy("11111111-0000-0000-0000-00000000a001", state);
    p["displayName"] = "Microsoft-managed: Multifactor authentication for all users";
    p["templateId"] = "4200930c-0da2-4e33-ca01-000000000004";
    p["createdDateTime"] = format_rfc3339(created);
    return p;
}

snapshot::signin_log_entry log_entry(const std::string& resource, int code, std::chrono::system_clock::time_point at,
                                     const std::string& ip = "198.51.100.20") {
    snapshot::signin_log_entry e;
    e.id = "signin-" + std::to_string(code);
    e.created = format_rfc3339(at);
    e.app_id = "fb78d390-0c51-40cd-8e17-fdbfab77341b";
    e.app_name = "Microsoft Exchange REST API Based Powershell";
    e.resource_id = resource;
    e.ip_address = ip;
    e.country = "DE";
    e.error_code = code;
    return e;
}

snapshot::tenant_snapshot healthy() {
    auto s = test::healthy_tenant();
    snapshot::signin_history log;
    log.latest = {log_entry(whatif::app_exchange_online, 0, now - 1h)};
    s.signin_log = collected<snapshot::signin_history>::of(log);
    return s;
}

options at_now() {
    options o;
    o.now = now;
    return o;
}


// ---- Microsoft-managed policies (graph.md §11.1) ------------------------------------------------

TEST(ChecksManaged, ReportOnlyManagedPolicyIsWarnFarFromItsDateAndFailNearOrPastIt) {
    struct { std::chrono::hours age; v1::CheckStatus want; const char* date; } cases[] = {
        {24h * 10, v1::CHECK_STATUS_WARN, "2027-01-11"},  // 35 days to go
        {24h * 37, v1::CHECK_STATUS_WARN, "2026-12-15"},  // 8 days to go
        {24h * 39, v1::CHECK_STATUS_FAIL, "2026-12-13"},  // 6 days to go
        {24h * 60, v1::CHECK_STATUS_FAIL, "2026-11-22"},  // past it, still report-only
    };
    for (const auto& tc : cases) {
        auto s = healthy();
        s.ca_policies = collected<std::vector<json>>::of({managed_policy(now - tc.age)});
        const auto r = run_checks(s, at_now());
        const auto& c = the(r, check_cap_managed);
        EXPECT_EQ(c.status(), tc.want) << c.reason();
        ASSERT_NE(evidence(c, "enforcementNotBefore"), nullptr) << c.reason();
        EXPECT_EQ(evidence(c, "enforcementNotBefore")->detail(), tc.date);
        EXPECT_NE(c.reason().find(tc.date), std::string::npos) << c.reason();
        EXPECT_NE(c.reason().find("require MFA"), std::string::npos) << c.reason();
        // The exclusion is proposed now, with the facts an exact plan needs.
        EXPECT_TRUE(suggests(c, v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY));
        EXPECT_NE(evidence(c, "policy.modifiedDateTime"), nullptr);
        EXPECT_NE(evidence(c, "policy.excludeUsers"), nullptr);
        // Reported once: not also as an ordinary report-only policy, and nothing enforced blocks today.
        EXPECT_EQ(the(r, check_cap_report_only).status(), v1::CHECK_STATUS_OK);
        EXPECT_EQ(the(r, check_cap).status(), v1::CHECK_STATUS_OK);
    }
}

TEST(ChecksManaged, RecognisedByDisplayNameAloneAndUnknownDateIsFail) {
    auto s = healthy();
    auto p = managed_policy(now);
    p.erase("templateId");
    p["createdDateTime"] = nullptr;
    s.ca_policies = collected<std::vector<json>>::of({p});
    const auto r = run_checks(s, at_now());
    const auto& c = the(r, check_cap_managed);
    EXPECT_EQ(c.status(), v1::CHECK_STATUS_FAIL) << "a date we cannot compute is never a reason to relax";
    EXPECT_NE(c.reason().find("any time"), std::string::npos) << c.reason();
}

TEST(ChecksManaged, EnabledManagedPolicyIsJudgedByCapAndExcludedOneIsOk) {
    auto s = healthy();
    s.ca_policies = collected<std::vector<json>>::of({managed_policy(now - 24h * 50, "enabled")});
    auto r = run_checks(s, at_now());
    EXPECT_EQ(the(r, check_cap).status(), v1::CHECK_STATUS_FAIL);
    EXPECT_EQ(the(r, check_cap_managed).status(), v1::CHECK_STATUS_OK);

    auto excluded = managed_policy(now - 24h * 40);
    excluded["conditions"]["users"]["excludeUsers"] = {account_id};
    s.ca_policies = collected<std::vector<json>>::of({excluded});
    r = run_checks(s, at_now());
    EXPECT_EQ(the(r, check_cap_managed).status(), v1::CHECK_STATUS_OK) << the(r, check_cap_managed).reason();
}

TEST(ChecksManaged, OrdinaryReportOnlyPolicyStaysInCapReportOnly) {
    auto s = healthy();
    s.ca_policies = collected<std::vector<json>>::of({mfa_policy("ro", "enabledForReportingButNotEnforced")});
    const auto r = run_checks(s, at_now());
    EXPECT_EQ(the(r, check_cap_report_only).status(), v1::CHECK_STATUS_WARN);
    EXPECT_EQ(the(r, check_cap_managed).status(), v1::CHECK_STATUS_OK);
}

// ---- Security Defaults now (graph.md §11.3, §11.4) ----------------------------------------------

TEST(ChecksSecurityDefaultsNow, UnregisteredAccountFailsWithoutGraceAndIsNotToldToRegister) {
    auto s = healthy();
    s.security_defaults_enabled = collected<bool>::of(true);
    s.mfa_registration.value->is_mfa_registered = false;
    const auto r = run_checks(s, at_now());
    const auto& c = the(r, check_mfa_reg);
    EXPECT_EQ(c.status(), v1::CHECK_STATUS_FAIL) << c.reason();
    EXPECT_FALSE(suggests(c, v1::REMEDIATION_KIND_REGISTER_MFA_FOR_ACCOUNT));
    EXPECT_TRUE(suggests(c, v1::REMEDIATION_KIND_MOVE_TO_APP_ONLY_AUTH));
    ASSERT_GE(r.verdicts_size(), 1);
    EXPECT_EQ(r.verdicts(0).result(), "mfa_registration_required");
    for (const auto& x : r.checks()) {
        EXPECT_EQ(x.reason().find("14 days"), std::string::npos) << x.id() << ": " << x.reason();
        EXPECT_FALSE(suggests(x, v1::REMEDIATION_KIND_REGISTER_MFA_FOR_ACCOUNT)) << x.id();
    }
}

TEST(ChecksSecurityDefaultsNow, DirectorySynchronizationAccountsRoleIsExempt) {
    auto s = healthy();
    s.security_defaults_enabled = collected<bool>::of(true);
    s.mfa_registration.value->is_mfa_registered = false;
    s.roles = collected<std::vector<snapshot::role_assignment>>::of(
        {{"assignment-1", whatif::role_directory_synchronization_accounts, "/"}});
    const auto r = run_checks(s, at_now());
    EXPECT_EQ(the(r, check_mfa_reg).status(), v1::CHECK_STATUS_OK) << the(r, check_mfa_reg).reason();
    EXPECT_EQ(r.verdicts(0).result(), "allowed");
}

// ---- Mandatory MFA for Azure (graph.md §11.2) ---------------------------------------------------

TEST(ChecksAzureMfa, AzureManagementTargetOrArmWritesFailAndCannotBeExcluded) {
    auto s = healthy();
    auto o = at_now();
    EXPECT_EQ(the(run_checks(s, o), check_azure_mfa).status(), v1::CHECK_STATUS_OK);
    o.target_resources.push_back(whatif::app_azure_management);
    const auto azure = run_checks(s, o);
    const auto& c = the(azure, check_azure_mfa);
    EXPECT_EQ(c.status(), v1::CHECK_STATUS_FAIL);
    EXPECT_NE(c.reason().find("cannot be excluded"), std::string::npos) << c.reason();
    EXPECT_NE(c.reason().find("probe cannot see it"), std::string::npos) << c.reason();
    EXPECT_TRUE(suggests(c, v1::REMEDIATION_KIND_MOVE_TO_APP_ONLY_AUTH));
    EXPECT_FALSE(suggests(c, v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY));
    auto o2 = at_now();
    o2.writes_azure_resource_manager = true;
    EXPECT_EQ(the(run_checks(s, o2), check_azure_mfa).status(), v1::CHECK_STATUS_FAIL);
}

// ---- What-if additions through the checks (graph.md §11.5) --------------------------------------

TEST(ChecksWhatIf, TokenProtectionBlocksThePasswordSignInToExchangeButNotGraph) {
    auto s = healthy();
    json p = {{"id", "tp-1"},
              {"displayName", "Token protection for Office 365"},
              {"state", "enabled"},
              {"conditions",
               {{"users", {{"includeUsers", {"All"}}}}, {"applications", {{"includeApplications", {"Office365"}}}}, {"clientAppTypes", {"all"}}}},
              {"grantControls", nullptr},
              {"sessionControls", {{"secureSignInSession", {{"isEnabled", true}}}}}};
    s.ca_policies = collected<std::vector<json>>::of({p});
    const auto r = run_checks(s, at_now());
    ASSERT_EQ(r.verdicts_size(), 2);
    EXPECT_EQ(r.verdicts(0).result(), "blocked");
    ASSERT_EQ(r.verdicts(0).causes_size(), 1);
    EXPECT_EQ(r.verdicts(0).causes(0), "tp-1");
    EXPECT_EQ(r.verdicts(1).result(), "allowed") << "Microsoft Graph is not protected by token protection";
    EXPECT_EQ(the(r, check_cap).status(), v1::CHECK_STATUS_FAIL);
}

TEST(ChecksWhatIf, TheToolsRealEgressDecidesLocationPolicies) {
    auto s = healthy();
    json office = {{"@odata.type", "#microsoft.graph.ipNamedLocation"}, {"id", "office"}, {"displayName", "Office"},
                   {"isTrusted", true}, {"ipRanges", {{{"cidrAddress", "192.0.2.0/24"}}}}};
    s.named_locations = collected<std::vector<json>>::of({office});
    auto block = mfa_policy("outside");
    block["conditions"]["locations"] = {{"includeLocations", {"All"}}, {"excludeLocations", {"AllTrusted"}}};
    block["grantControls"]["builtInControls"] = {"block"};
    s.ca_policies = collected<std::vector<json>>::of({block});
    s.signin_log->value->latest = {log_entry(whatif::app_exchange_online, 53003, now - 20min, "203.0.113.7")};
    auto r = run_checks(s, at_now());
    EXPECT_EQ(r.verdicts(0).result(), "blocked") << "judged at the tool's egress 203.0.113.7";
    s.signin_log->value->latest = {log_entry(whatif::app_exchange_online, 0, now - 20min, "192.0.2.10")};
    r = run_checks(s, at_now());
    EXPECT_EQ(r.verdicts(0).result(), "allowed") << "the tool signs in from the trusted office range";
    s.signin_log.reset();
    r = run_checks(s, at_now());
    ASSERT_EQ(r.verdicts(0).uncertain_size(), 1) << "without an egress the location is unknown, never guessed";
}

TEST(ChecksWhatIf, BaselineScopesAreEvaluatedAgainstAzureAdGraph) {
    auto s = healthy();
    auto p = mfa_policy("all-but-graph");
    p["conditions"]["applications"]["excludeApplications"] = {whatif::app_microsoft_graph};
    s.ca_policies = collected<std::vector<json>>::of({p});
    auto o = at_now();
    o.target_resources = {whatif::app_microsoft_graph};
    EXPECT_EQ(run_checks(s, o).verdicts(0).result(), "allowed");
    o.target_scopes[whatif::app_microsoft_graph] = {"openid", "profile", "User.Read"};
    EXPECT_EQ(run_checks(s, o).verdicts(0).result(), "mfa_required") << "baseline scopes map to Azure AD Graph";
}

// ---- New AADSTS codes (graph.md §11.6) ----------------------------------------------------------

TEST(ChecksSignIn, NewCodesAreExplainedWithTheRemediationThatFits) {
    struct { int code; v1::RemediationKind kind; const char* words; } cases[] = {
        {50158, v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY, "external security challenge"},
        {53004, v1::REMEDIATION_KIND_REMEDIATE_ACCOUNT_RISK, "registration"},
        {50131, v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY, "Conditional Access"},
        {50105, v1::REMEDIATION_KIND_ASSIGN_ACCOUNT_TO_APP, "not assigned"},
        {50135, v1::REMEDIATION_KIND_REMEDIATE_ACCOUNT_RISK, "password change"},
    };
    for (const auto& tc : cases) {
        auto s = healthy();
        s.ca_policies = collected<std::vector<json>>::of({mfa_policy("p1")});
        snapshot::signin_result si;
        si.resource_app_id = whatif::app_exchange_online;
        si.aadsts_code = tc.code;
        si.error_codes = {tc.code};
        si.outcome = snapshot::outcome_for_aadsts(tc.code).value_or(snapshot::signin_outcome::other);
        ASSERT_NE(si.outcome, snapshot::signin_outcome::other) << tc.code;
        si.policy_ids = {"p1"};
        s.signins = {si};
        const auto r = run_checks(s, at_now());
        const auto& c = the(r, check_signin);
        EXPECT_EQ(c.status(), v1::CHECK_STATUS_FAIL) << tc.code << ": " << c.reason();
        EXPECT_NE(c.reason().find("AADSTS" + std::to_string(tc.code)), std::string::npos) << c.reason();
        EXPECT_NE(c.reason().find(tc.words), std::string::npos) << c.reason();
        EXPECT_TRUE(suggests(c, tc.kind)) << tc.code;
    }
}

// ---- The account's own sign-ins (CG-SIGNIN-LOG) -------------------------------------------------

TEST(ChecksSignInLog, LatestFailureIsFailNamingCodeAppIpAndFailedPolicy) {
    auto s = healthy();
    s.ca_policies = collected<std::vector<json>>::of({mfa_policy("p1")});
    auto e = log_entry(whatif::app_exchange_online, 53003, now - 20min, "203.0.113.7");
    e.failure_reason = "Access has been blocked by Conditional Access policies.";
    e.applied_policies = {{"p1", "Policy p1", "failure"}, {"p2", "Other", "notApplied"}};
    auto older_success = log_entry(whatif::app_exchange_online, 0, now - 3h);
    older_success.app_id = "another-client";
    s.signin_log->value->latest = {e, older_success};
    const auto r = run_checks(s, at_now());
    const auto& c = the(r, check_signin_log);
    EXPECT_EQ(c.status(), v1::CHECK_STATUS_FAIL) << c.reason();
    for (const char* w : {"AADSTS53003", "203.0.113.7", "fb78d390-0c51-40cd-8e17-fdbfab77341b", "'Policy p1'"})
        EXPECT_NE(c.reason().find(w), std::string::npos) << w << " in " << c.reason();
    EXPECT_EQ(c.reason().find("'Other'"), std::string::npos) << "only failed policies are named";
    EXPECT_TRUE(suggests(c, v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY));
}

TEST(ChecksSignInLog, AFailureBeforeItsPolicyChangedWaitsForTheNextSignIn) {
    auto s = healthy();
    auto p = mfa_policy("p1");
    p["conditions"]["users"]["excludeUsers"] = {account_id};       // an approved exclusion landed ...
    p["modifiedDateTime"] = format_rfc3339(now - 5min);             // ... 5 minutes ago
    s.ca_policies = collected<std::vector<json>>::of({p});
    auto e = log_entry(whatif::app_exchange_online, 50076, now - 20min);
    e.applied_policies = {{"p1", "Policy p1", "failure"}};
    s.signin_log->value->latest = {e};
    auto r = run_checks(s, at_now());
    EXPECT_EQ(the(r, check_signin_log).status(), v1::CHECK_STATUS_WARN) << the(r, check_signin_log).reason();
    EXPECT_NE(the(r, check_signin_log).reason().find("changed since"), std::string::npos);
    EXPECT_EQ(the(r, check_signin_log).remediations_size(), 0);
    // The same failure after the policy's last change still stands.
    s.ca_policies.value->at(0)["modifiedDateTime"] = format_rfc3339(now - 1h);
    s.ca_policies.value->at(0)["conditions"]["users"]["excludeUsers"] = json::array();
    r = run_checks(s, at_now());
    EXPECT_EQ(the(r, check_signin_log).status(), v1::CHECK_STATUS_FAIL) << the(r, check_signin_log).reason();
}

TEST(ChecksSignInLog, SuccessIsOkAndNothingInTheWindowIsWarn) {
    auto s = healthy();
    EXPECT_EQ(the(run_checks(s, at_now()), check_signin_log).status(), v1::CHECK_STATUS_OK);
    s.signin_log->value->latest = {log_entry(whatif::app_exchange_online, 0, now - 25h)};
    const auto r = run_checks(s, at_now());
    const auto& c = the(r, check_signin_log);
    EXPECT_EQ(c.status(), v1::CHECK_STATUS_WARN);
    EXPECT_NE(c.reason().find("24 h"), std::string::npos) << c.reason();
    s.signin_log->value->latest = {log_entry("some-other-resource", 50076, now - 1h)};
    EXPECT_EQ(the(run_checks(s, at_now()), check_signin_log).status(), v1::CHECK_STATUS_WARN)
        << "a sign-in to a resource the tool does not use says nothing about the tool";
}

TEST(ChecksSignInLog, NonPremiumTenantIsWarnAndMissingPermissionIsError) {
    auto s = healthy();
    s.signin_log = collected<snapshot::signin_history>::failed(
        {"graph.not_premium", "403 Authentication_RequestFromNonPremiumTenantOrB2CTenant", ""});
    auto r = run_checks(s, at_now());
    EXPECT_EQ(the(r, check_signin_log).status(), v1::CHECK_STATUS_WARN);
    EXPECT_NE(the(r, check_signin_log).reason().find("Entra ID P1"), std::string::npos);
    EXPECT_EQ(the(r, check_perms).status(), v1::CHECK_STATUS_OK) << "a licence is not a permission";

    s.signin_log = collected<snapshot::signin_history>::failed({"graph.forbidden", "403 Authorization_RequestDenied", "AuditLog.Read.All"});
    r = run_checks(s, at_now());
    EXPECT_EQ(the(r, check_signin_log).status(), v1::CHECK_STATUS_ERROR);
    EXPECT_EQ(the(r, check_perms).status(), v1::CHECK_STATUS_FAIL);
    EXPECT_NE(the(r, check_perms).reason().find("AuditLog.Read.All"), std::string::npos) << the(r, check_perms).reason();
}

TEST(ChecksSignInLog, PredictionIsComparedWithTheToolsOwnSignIns) {
    auto s = healthy();
    s.signins.clear();  // no probe: the log alone is compared
    s.signin_log->value->latest = {log_entry(whatif::app_exchange_online, 50076, now - 10min)};
    auto r = run_checks(s, at_now());
    auto preds = results(r, check_prediction);
    ASSERT_EQ(preds.size(), 1u);
    EXPECT_EQ(preds[0]->status(), v1::CHECK_STATUS_WARN) << "predicted allowed, the tool got MFA required: " << preds[0]->reason();
    EXPECT_NE(preds[0]->reason().find("tool's own latest sign-in"), std::string::npos);
    s.ca_policies = collected<std::vector<json>>::of({mfa_policy("p1")});
    r = run_checks(s, at_now());
    EXPECT_EQ(results(r, check_prediction)[0]->status(), v1::CHECK_STATUS_OK) << results(r, check_prediction)[0]->reason();
}

// ---- Microsoft's own verdict (CG-ENGINE-DRIFT) --------------------------------------------------

snapshot::whatif_exchange answer_for(const snapshot::tenant_snapshot& s, const std::string& policy, bool applies,
                                     const std::string& reasons) {
    snapshot::whatif_exchange w;
    w.asked_at = format_rfc3339(now - 1h);
    w.resource_app_id = whatif::app_exchange_online;
    w.client_app_type = "mobileAppsAndDesktopClients";
    w.policies_digest = snapshot::policies_digest(s);
    w.answers = {{policy, "Policy " + policy, applies, reasons}};
    return w;
}

TEST(ChecksEngineDrift, AgreementIsOkAndEachDisagreementIsListed) {
    auto s = healthy();
    auto p = mfa_policy("p1");
    p["conditions"]["users"]["excludeUsers"] = {account_id};
    s.ca_policies = collected<std::vector<json>>::of({p});
    s.microsoft_whatif = collected<snapshot::whatif_exchange>::of(answer_for(s, "p1", false, "users"));
    EXPECT_EQ(the(run_checks(s, at_now()), check_engine_drift).status(), v1::CHECK_STATUS_OK);

    s.microsoft_whatif = collected<snapshot::whatif_exchange>::of(answer_for(s, "p1", true, "notSet"));
    const auto r = run_checks(s, at_now());
    const auto& c = the(r, check_engine_drift);
    EXPECT_EQ(c.status(), v1::CHECK_STATUS_WARN);
    EXPECT_NE(c.reason().find("'Policy p1': Microsoft policyApplies true (notSet), ConnGuard false (users)"), std::string::npos)
        << c.reason();
}

TEST(ChecksEngineDrift, StaleUnaskedOrFailedAnswersAreNeverOk) {
    auto s = healthy();
    s.ca_policies = collected<std::vector<json>>::of({mfa_policy("p1")});
    auto w = answer_for(s, "p1", true, "notSet");
    w.policies_digest = "older";
    s.microsoft_whatif = collected<snapshot::whatif_exchange>::of(w);
    EXPECT_EQ(the(run_checks(s, at_now()), check_engine_drift).status(), v1::CHECK_STATUS_WARN);
    s.microsoft_whatif.reset();
    EXPECT_EQ(the(run_checks(s, at_now()), check_engine_drift).status(), v1::CHECK_STATUS_WARN);
    s.microsoft_whatif = collected<snapshot::whatif_exchange>::failed({"graph.forbidden", "403", "Policy.Read.ConditionalAccess"});
    const auto r = run_checks(s, at_now());
    EXPECT_EQ(the(r, check_engine_drift).status(), v1::CHECK_STATUS_ERROR);
    EXPECT_NE(the(r, check_perms).reason().find("Policy.Read.ConditionalAccess"), std::string::npos);
}

TEST(ChecksEngineDrift, EvaluateRequestIsGraphsShape) {
    auto s = healthy();
    auto o = at_now();
    o.authentication_flow = "deviceCodeFlow";
    const auto body = to_evaluate_request(account_sign_in(s, o, whatif::app_exchange_online));
    EXPECT_EQ(body["signInIdentity"]["@odata.type"], "#microsoft.graph.userSignIn");
    EXPECT_EQ(body["signInIdentity"]["userId"], account_id);
    EXPECT_EQ(body["signInContext"]["includeApplications"][0], whatif::app_exchange_online);
    EXPECT_EQ(body["signInConditions"]["clientAppType"], "mobileAppsAndDesktopClients");
    EXPECT_EQ(body["signInConditions"]["ipAddress"], "198.51.100.20") << "the tool's real egress";
    EXPECT_EQ(body["signInConditions"]["authenticationFlow"]["transferMethod"], "deviceCodeFlow");
    // And the request parses back into the same sign-in (the engine's own parser).
    auto parsed = whatif::parse_evaluate_request(body);
    ASSERT_TRUE(parsed) << parsed.err().message;
    EXPECT_EQ(parsed->authentication_flow, "deviceCodeFlow");
}

TEST(ChecksOrder, EveryCheckOfDesignFiveReportsInStableOrder) {
    const auto r = run_checks(healthy(), at_now());
    std::vector<std::string> ids;
    for (const auto& c : r.checks())
        if (ids.empty() || ids.back() != c.id()) ids.push_back(c.id());
    EXPECT_EQ(ids, check_ids());
    for (const char* id : {"CG-CAP-MANAGED", "CG-AZURE-MFA", "CG-SIGNIN-LOG", "CG-ENGINE-DRIFT"})
        EXPECT_NE(std::find(ids.begin(), ids.end(), id), ids.end()) << id;
}

}  // namespace
}  // namespace connguard::checks
