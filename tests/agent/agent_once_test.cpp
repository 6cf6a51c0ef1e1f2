// `connguard-agent --once` against the real Graph simulator: every check of DESIGN §5 passing and
// failing, exit codes, ERROR (never OK) under 429 storms and malformed bodies, config refusals.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "tests/agent/agent_harness.h"

namespace {

using namespace connguard;
using namespace connguard::test;
using nlohmann::json;

const std::string mfa_policy = "809741fe-fb1b-4746-9ff0-83a978a4c891";  // CA000 ... MFA (fabrikam, contoso)

class AgentOnce : public ::testing::Test {
protected:
    static void SetUpTestSuite() { shared_ = new env(); }
    static void TearDownTestSuite() {
        delete shared_;
        shared_ = nullptr;
    }
    void SetUp() override { e().admin("POST", "/_sim/reload"); }  // every test starts from the scenario files
    static env& e() { return *shared_; }

    env::once_result once(const std::string& key, const sim_tenant& t, const json& overrides = {}) {
        auto r = e().run_once(e().write_config(key, t, overrides));
        EXPECT_TRUE(r.parsed) << r.output;
        return r;
    }

    static inline env* shared_ = nullptr;
    const sim_tenant contoso = repo_tenant("contoso-healthy.json");
    const sim_tenant fabrikam = repo_tenant("fabrikam-mfa.json");
    const sim_tenant northwind = repo_tenant("northwind-secdefaults.json");
};

TEST_F(AgentOnce, HealthyTenantPassesEveryCheckAndExitsZero) {
    auto r = once("contoso", contoso);
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(r.report.overall(), v1::CHECK_STATUS_OK);
    for (const char* id : {"CG-ACCOUNT", "CG-SECDEF", "CG-SECDEF-ADMIN", "CG-PERUSER-MFA", "CG-MFA-REG", "CG-CAP",
                           "CG-CAP-REPORTONLY", "CG-LEGACY", "CG-SIGNIN", "CG-PREDICTION", "CG-PERMS"})
        EXPECT_EQ(status_of(r.report, id), v1::CHECK_STATUS_OK) << id << "\n" << r.output;
    EXPECT_EQ(r.report.account_object_id(), contoso.user_id);
    EXPECT_GT(r.report.graph_requests(), 0u);
    // The report is protobuf's canonical JSON mapping.
    EXPECT_NE(r.output.find("\"CHECK_STATUS_OK\""), std::string::npos);
    EXPECT_NE(r.output.find("\"accountUpn\""), std::string::npos);
}

TEST_F(AgentOnce, DisabledAccountFailsCgAccount) {
    e().admin("PATCH", "/_sim/tenants/" + contoso.tenant_id + "/users/" + contoso.user_id, {{"accountEnabled", false}});
    auto r = once("contoso", contoso);
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_EQ(status_of(r.report, "CG-ACCOUNT"), v1::CHECK_STATUS_FAIL);
}

TEST_F(AgentOnce, SecurityDefaultsWithAdminAccountFailsSecdefAndSecdefAdmin) {
    auto r = once("northwind", northwind);
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_EQ(status_of(r.report, "CG-SECDEF"), v1::CHECK_STATUS_FAIL);
    EXPECT_EQ(status_of(r.report, "CG-SECDEF-ADMIN"), v1::CHECK_STATUS_FAIL);
    const auto* c = find_check(r.report, "CG-SECDEF-ADMIN");
    ASSERT_NE(c, nullptr);
    ASSERT_GT(c->remediations_size(), 0);
    EXPECT_EQ(c->remediations(0).kind(), v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE);
}

TEST_F(AgentOnce, EnforcedPerUserMfaFails) {
    e().admin("PATCH", "/_sim/tenants/" + contoso.tenant_id + "/users/" + contoso.user_id, {{"perUserMfaState", "enforced"}});
    auto r = once("contoso", contoso);
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_EQ(status_of(r.report, "CG-PERUSER-MFA"), v1::CHECK_STATUS_FAIL);
}

TEST_F(AgentOnce, UnregisteredAccountUnderAnMfaPolicyFailsMfaRegistration) {
    // Out of the exclusion group: the MFA policy now applies to an account without MFA methods.
    e().admin("PATCH", "/_sim/tenants/" + contoso.tenant_id + "/users/" + contoso.user_id, {{"groups", json::array()}});
    auto r = once("contoso", contoso);
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_EQ(status_of(r.report, "CG-MFA-REG"), v1::CHECK_STATUS_FAIL);
}

TEST_F(AgentOnce, MfaPolicyOnTheAccountFailsCapAndSignIn) {
    auto r = once("fabrikam", fabrikam);
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_EQ(status_of(r.report, "CG-CAP", mfa_policy), v1::CHECK_STATUS_FAIL);
    EXPECT_EQ(status_of(r.report, "CG-SIGNIN"), v1::CHECK_STATUS_FAIL);
    const auto* c = find_check(r.report, "CG-CAP", mfa_policy);
    ASSERT_NE(c, nullptr);
    ASSERT_GT(c->remediations_size(), 0);
    EXPECT_EQ(c->remediations(0).kind(), v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
}

TEST_F(AgentOnce, ReportOnlyPolicyThatWouldBlockIsFlagged) {
    e().admin("PATCH", "/_sim/tenants/" + fabrikam.tenant_id + "/policies/" + mfa_policy,
              {{"state", "enabledForReportingButNotEnforced"}});
    auto r = once("fabrikam", fabrikam);
    EXPECT_EQ(status_of(r.report, "CG-CAP-REPORTONLY"), v1::CHECK_STATUS_WARN) << r.output;
    EXPECT_EQ(status_of(r.report, "CG-CAP", mfa_policy), v1::CHECK_STATUS_UNSPECIFIED);  // no longer enforced
}

TEST_F(AgentOnce, ToolThatNeedsLegacyAuthFailsWhereItIsBlocked) {
    auto r = once("contoso", contoso, {{"targets", {{"needsLegacyAuth", true}}}});
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_EQ(status_of(r.report, "CG-LEGACY"), v1::CHECK_STATUS_FAIL);
}

TEST_F(AgentOnce, SignInThatDisagreesWithThePredictionIsFlagged) {
    e().admin("PATCH", "/_sim/tenants/" + contoso.tenant_id + "/users/" + contoso.user_id, {{"signInOutcomeOverride", 53003}});
    auto r = once("contoso", contoso);
    EXPECT_EQ(status_of(r.report, "CG-SIGNIN"), v1::CHECK_STATUS_FAIL) << r.output;
    EXPECT_EQ(status_of(r.report, "CG-PREDICTION"), v1::CHECK_STATUS_WARN);
}

TEST_F(AgentOnce, MissingPermissionFailsPermsAndOtherChecksStillReport) {
    e().admin("PATCH", "/_sim/tenants/" + contoso.tenant_id + "/apps/" + contoso.app_id,
              {{"permissions", {"User.Read.All", "GroupMember.Read.All", "RoleManagement.ReadWrite.Directory",
                                "AuditLog.Read.All", "Policy.ReadWrite.AuthenticationMethod"}}});
    auto r = once("contoso", contoso);
    EXPECT_EQ(status_of(r.report, "CG-PERMS"), v1::CHECK_STATUS_FAIL) << r.output;
    const auto* perms = find_check(r.report, "CG-PERMS");
    ASSERT_NE(perms, nullptr);
    EXPECT_NE(perms->reason().find("Policy.Read.All"), std::string::npos) << perms->reason();
    EXPECT_EQ(status_of(r.report, "CG-SECDEF"), v1::CHECK_STATUS_ERROR);
    EXPECT_EQ(status_of(r.report, "CG-ACCOUNT"), v1::CHECK_STATUS_OK);  // the rest still reports
    EXPECT_EQ(r.code, 2);
}

TEST_F(AgentOnce, ThrottlingStormOnCaPoliciesGivesErrorNeverOk) {
    e().admin("PUT", "/_sim/tenants/" + contoso.tenant_id + "/faults",
              {{"rules", {{{"type", "throttle"}, {"pathPrefix", "/v1.0/identity/conditionalAccess/policies"}, {"retryAfter", 0}}}}});
    auto r = once("contoso", contoso, {{"graph", {{"maxRetries", 1}}}});
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_EQ(status_of(r.report, "CG-CAP"), v1::CHECK_STATUS_ERROR);
    EXPECT_NE(status_of(r.report, "CG-CAP-REPORTONLY"), v1::CHECK_STATUS_OK);
    EXPECT_EQ(r.report.overall(), v1::CHECK_STATUS_ERROR);
    EXPECT_EQ(status_of(r.report, "CG-ACCOUNT"), v1::CHECK_STATUS_OK);
    const auto* cap = find_check(r.report, "CG-CAP");
    ASSERT_NE(cap, nullptr);
    EXPECT_FALSE(cap->reason().empty());
}

TEST_F(AgentOnce, ThrottlingEverythingLeavesNoDataCheckOk) {
    e().admin("PUT", "/_sim/tenants/" + contoso.tenant_id + "/faults",
              {{"rules", {{{"type", "throttle"}, {"pathPrefix", "/v1.0"}, {"retryAfter", 0}},
                          {{"type", "throttle"}, {"pathPrefix", "/beta"}, {"retryAfter", 0}}}}});
    auto r = once("contoso", contoso, {{"graph", {{"maxRetries", 1}}}});
    EXPECT_EQ(r.code, 2) << r.output;
    for (const char* id : {"CG-ACCOUNT", "CG-SECDEF", "CG-SECDEF-ADMIN", "CG-PERUSER-MFA", "CG-MFA-REG", "CG-CAP"})
        EXPECT_EQ(status_of(r.report, id), v1::CHECK_STATUS_ERROR) << id;
    EXPECT_EQ(r.report.overall(), v1::CHECK_STATUS_ERROR);
}

TEST_F(AgentOnce, MalformedAndTruncatedBodiesGiveError) {
    e().admin("PUT", "/_sim/tenants/" + contoso.tenant_id + "/faults",
              {{"rules", {{{"type", "malformedJson"}, {"pathPrefix", "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy"}},
                          {{"type", "truncatedJson"}, {"pathPrefix", "/v1.0/identity/conditionalAccess/policies"}}}}});
    auto r = once("contoso", contoso, {{"graph", {{"maxRetries", 1}}}});
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_EQ(status_of(r.report, "CG-SECDEF"), v1::CHECK_STATUS_ERROR);
    EXPECT_EQ(status_of(r.report, "CG-CAP"), v1::CHECK_STATUS_ERROR);
    EXPECT_EQ(status_of(r.report, "CG-PERUSER-MFA"), v1::CHECK_STATUS_OK);
}

TEST_F(AgentOnce, UnreachableGraphCannotRunAndExitsTwo) {
    const int dead = test::free_port();
    const std::string url = "http://127.0.0.1:" + std::to_string(dead);
    auto r = once("contoso", contoso, {{"graph", {{"authorityUrl", url}, {"baseUrl", url}, {"maxRetries", 0}}}});
    EXPECT_EQ(r.code, 2) << r.output;
    // Only facts that need no Graph data (the tool does not use legacy auth, does not manage Azure)
    // may still be OK.
    for (const auto& c : r.report.checks())
        if (c.id() != "CG-LEGACY" && c.id() != "CG-AZURE-MFA") {
            EXPECT_NE(c.status(), v1::CHECK_STATUS_OK) << c.id() << ": " << c.reason();
        }
    EXPECT_EQ(r.report.overall(), v1::CHECK_STATUS_ERROR);
}

TEST_F(AgentOnce, SecretReadableByOthersIsRefusedNamingTheFile) {
    auto cfg = e().write_config("contoso", contoso);
    const auto secret = cfg.parent_path() / "client-secret";
    ::chmod(secret.c_str(), 0644);
    auto r = e().run_once(cfg);
    EXPECT_EQ(r.code, 2);
    EXPECT_FALSE(r.parsed);
    EXPECT_NE(r.output.find(secret.string()), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find(contoso.client_secret), std::string::npos) << "the secret leaked into the output";
}

TEST_F(AgentOnce, SecretsNeverAppearInTheOutput) {
    auto r = once("fabrikam", fabrikam, nullptr);
    EXPECT_EQ(r.output.find(fabrikam.client_secret), std::string::npos);
    EXPECT_EQ(r.output.find(fabrikam.password), std::string::npos);
}

TEST_F(AgentOnce, CheckConfigSaysStartableOrNamesEveryProblemWithoutContactingAnything) {
    const auto dir = e().dir() / "check-config";
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "broker-password") << "not-a-real-password\n";
    ::chmod((dir / "broker-password").c_str(), 0600);
    // The broker's port is closed and Graph is never asked: --check-config must not need either.
    json service = {{"broker", {{"url", "tcp://127.0.0.1:1"}, {"passwordFile", (dir / "broker-password").string()}}},
                    {"stateDir", (dir / "state").string()}};
    const auto requests_before = e().admin("GET", "/_sim/requests")["total"].dump();
    std::string out;
    auto cfg = e().write_config("contoso", contoso, service);
    EXPECT_EQ(test::run_command({agent_binary().string(), "--config", cfg.string(), "--check-config"}, &out), 0) << out;
    EXPECT_NE(out.find("tenant contoso: startable"), std::string::npos) << out;
    EXPECT_FALSE(std::filesystem::exists(dir / "state")) << "--check-config created the state folder";

    service["stateDir"] = (dir / "broker-password" / "state").string();
    service["poll"] = {{"intervalSecond", 60}};
    cfg = e().write_config("contoso", contoso, service);
    EXPECT_EQ(test::run_command({agent_binary().string(), "--config", cfg.string(), "--check-config"}, &out), 2) << out;
    EXPECT_NE(out.find("field 'poll.intervalSecond': unknown; did you mean 'poll.intervalSeconds'?"), std::string::npos)
        << out;

    service.erase("poll");
    cfg = e().write_config("contoso", contoso, service);
    EXPECT_EQ(test::run_command({agent_binary().string(), "--config", cfg.string(), "--check-config"}, &out), 2) << out;
    EXPECT_NE(out.find("field 'stateDir': "), std::string::npos) << out;
    EXPECT_EQ(out.find(contoso.client_secret), std::string::npos) << "the secret leaked into the output";
    EXPECT_EQ(e().admin("GET", "/_sim/requests")["total"].dump(), requests_before) << "--check-config talked to Graph";
}

TEST(AgentCli, HelpAndBadArguments) {
    std::string out;
    EXPECT_EQ(test::run_command({agent_binary().string(), "--help"}, &out), 0);
    EXPECT_NE(out.find("--config-dir"), std::string::npos);
    EXPECT_NE(out.find("--once"), std::string::npos);
    EXPECT_EQ(test::run_command({agent_binary().string(), "--bogus"}, &out), 2);
    EXPECT_EQ(test::run_command({agent_binary().string()}, &out), 2);
    EXPECT_NE(out.find("--config"), std::string::npos);
    EXPECT_EQ(test::run_command({agent_binary().string(), "--config", "/nonexistent/agent.json", "--once"}, &out), 2);
    EXPECT_NE(out.find("/nonexistent/agent.json"), std::string::npos);
    EXPECT_EQ(test::run_command({agent_binary().string(), "--config-dir", "/nonexistent", "--metrics-listen", "9465"}, &out), 2);
    EXPECT_NE(out.find("--metrics-listen must be HOST:PORT"), std::string::npos) << out;
}

}  // namespace
