// `connguard-agent --once` against the real Graph simulator for what Microsoft switched on in
// 2024–2026 (graph.md §11): one shipped scenario per behaviour (tools/graph-sim/scenarios/entra-2026),
// each passing and failing as Microsoft documents it. The agent is a plain Graph client here: it
// reads the sign-in log, the audit log and Microsoft's What If over the same wire as Microsoft's.
#include <gtest/gtest.h>

#include "tests/agent/agent_harness.h"

namespace {

using namespace connguard;
using namespace connguard::test;
using nlohmann::json;

std::filesystem::path scenarios() { return repo_scenarios() / "entra-2026"; }
sim_tenant tenant(const std::string& name) { return tenant_from_scenario(scenarios() / (name + ".json")); }

class AgentEntra2026 : public ::testing::Test {
protected:
    static void SetUpTestSuite() { shared_ = new env(scenarios()); }
    static void TearDownTestSuite() {
        delete shared_;
        shared_ = nullptr;
    }
    void SetUp() override { e().admin("POST", "/_sim/reload"); }
    static env& e() { return *shared_; }

    env::once_result once(const std::string& name, const json& overrides = {}) {
        auto r = e().run_once(e().write_config(name, tenant(name), overrides));
        EXPECT_TRUE(r.parsed) << r.output;
        return r;
    }
    static std::string reason(const v1::ValidationReport& r, const std::string& id) {
        const auto* c = find_check(r, id);
        return c == nullptr ? std::string("<no " + id + ">") : c->reason();
    }
    static const v1::Evidence* evidence(const v1::ValidationReport& r, const std::string& id, const std::string& kind) {
        for (const auto& c : r.checks())
            if (c.id() == id)
                for (const auto& e : c.evidence())
                    if (e.kind() == kind) return &e;
        return nullptr;
    }

    static inline env* shared_ = nullptr;
};

TEST_F(AgentEntra2026, ManagedPolicyFarFromItsDateIsWarnNearOrPastIsFail) {
    auto far = once("managed-far");
    EXPECT_EQ(status_of(far.report, "CG-CAP-MANAGED"), v1::CHECK_STATUS_WARN) << reason(far.report, "CG-CAP-MANAGED");
    ASSERT_NE(evidence(far.report, "CG-CAP-MANAGED", "enforcementNotBefore"), nullptr);
    EXPECT_EQ(status_of(far.report, "CG-CAP"), v1::CHECK_STATUS_OK) << "report-only: nothing is enforced today";
    for (const char* name : {"managed-near", "managed-past"}) {
        auto r = once(name);
        EXPECT_EQ(status_of(r.report, "CG-CAP-MANAGED"), v1::CHECK_STATUS_FAIL) << name << ": " << reason(r.report, "CG-CAP-MANAGED");
        const auto* date = evidence(r.report, "CG-CAP-MANAGED", "enforcementNotBefore");
        ASSERT_NE(date, nullptr) << name;
        EXPECT_EQ(date->detail().size(), 10u) << "an ISO date: " << date->detail();
        EXPECT_NE(reason(r.report, "CG-CAP-MANAGED").find(date->detail()), std::string::npos);
        EXPECT_EQ(r.code, 1) << r.output;
    }
}

TEST_F(AgentEntra2026, SecurityDefaultsWithAnUnregisteredAccountFailsAtOnce) {
    auto r = once("secdefaults-unregistered");
    EXPECT_EQ(status_of(r.report, "CG-MFA-REG"), v1::CHECK_STATUS_FAIL) << reason(r.report, "CG-MFA-REG");
    ASSERT_GE(r.report.verdicts_size(), 1);
    EXPECT_EQ(r.report.verdicts(0).result(), "mfa_registration_required");
    EXPECT_EQ(status_of(r.report, "CG-SIGNIN", r.report.verdicts(0).resource_app_id()), v1::CHECK_STATUS_FAIL)
        << "the simulated Entra refuses the probe too (AADSTS50079)";
    EXPECT_EQ(r.output.find("14 days"), std::string::npos);
    auto exempt = once("sync-account-exempt");
    EXPECT_EQ(status_of(exempt.report, "CG-MFA-REG"), v1::CHECK_STATUS_OK) << reason(exempt.report, "CG-MFA-REG");
}

TEST_F(AgentEntra2026, AzureManagementTargetFailsAzureMfaEvenThoughTheProbeSucceeds) {
    auto r = once("secdefaults-unregistered", {{"targets", {{"writesAzureResourceManager", true}}}});
    EXPECT_EQ(status_of(r.report, "CG-AZURE-MFA"), v1::CHECK_STATUS_FAIL) << reason(r.report, "CG-AZURE-MFA");
    auto plain = once("token-protection", {{"targets", {{"resources", {{{"appId", "00000003-0000-0000-c000-000000000000"}}}}}}});
    EXPECT_EQ(status_of(plain.report, "CG-AZURE-MFA"), v1::CHECK_STATUS_OK) << reason(plain.report, "CG-AZURE-MFA");
    auto azure = once("token-protection",
                      {{"targets", {{"resources", {{{"appId", "797f4846-ba00-4fd7-ba43-dac1f8f63013"}, {"name", "Azure"}}}}}}});
    EXPECT_EQ(status_of(azure.report, "CG-AZURE-MFA"), v1::CHECK_STATUS_FAIL) << reason(azure.report, "CG-AZURE-MFA");
    EXPECT_EQ(status_of(azure.report, "CG-SIGNIN", "797f4846-ba00-4fd7-ba43-dac1f8f63013"), v1::CHECK_STATUS_OK)
        << "the token is issued: the probe cannot see mandatory MFA";
}

TEST_F(AgentEntra2026, TokenProtectionBlocksExchangeButNotGraph) {
    auto r = once("token-protection");
    ASSERT_EQ(r.report.verdicts_size(), 2) << r.output;
    EXPECT_EQ(r.report.verdicts(0).result(), "blocked");
    EXPECT_EQ(r.report.verdicts(1).result(), "allowed");
    EXPECT_EQ(status_of(r.report, "CG-CAP"), v1::CHECK_STATUS_FAIL) << reason(r.report, "CG-CAP");
}

TEST_F(AgentEntra2026, SignInLogShowsAFailureTheProbeDoesNotSee) {
    auto r = once("signin-log-failure");
    EXPECT_EQ(status_of(r.report, "CG-SIGNIN", "00000002-0000-0ff1-ce00-000000000000"), v1::CHECK_STATUS_OK)
        << "the probe has no location Entra could judge";
    const auto* log = find_check(r.report, "CG-SIGNIN-LOG", "00000002-0000-0ff1-ce00-000000000000");
    ASSERT_NE(log, nullptr) << r.output;
    EXPECT_EQ(log->status(), v1::CHECK_STATUS_FAIL);
    for (const char* w : {"AADSTS53003", "203.0.113.7", "Block outside trusted locations"})
        EXPECT_NE(log->reason().find(w), std::string::npos) << w << " in " << log->reason();
    // The tool's real egress feeds the prediction: at 203.0.113.7 the location policy blocks.
    EXPECT_EQ(r.report.verdicts(0).result(), "blocked");
    EXPECT_EQ(status_of(r.report, "CG-CAP"), v1::CHECK_STATUS_FAIL);
}

TEST_F(AgentEntra2026, NonPremiumTenantIsWarnedNotErrored) {
    auto r = once("non-premium");
    EXPECT_EQ(status_of(r.report, "CG-SIGNIN-LOG"), v1::CHECK_STATUS_WARN) << reason(r.report, "CG-SIGNIN-LOG");
    EXPECT_NE(reason(r.report, "CG-SIGNIN-LOG").find("Entra ID P1"), std::string::npos);
    EXPECT_EQ(status_of(r.report, "CG-PERMS"), v1::CHECK_STATUS_OK) << reason(r.report, "CG-PERMS");
}

TEST_F(AgentEntra2026, MissingAuditLogPermissionIsErrorNamingIt) {
    const auto t = tenant("managed-far");
    e().admin("PATCH", "/_sim/tenants/" + t.tenant_id + "/apps/" + t.app_id,
              {{"permissions", {"Policy.Read.All", "User.Read.All", "GroupMember.Read.All", "RoleManagement.Read.Directory"}}});
    auto r = once("managed-far");
    EXPECT_EQ(status_of(r.report, "CG-SIGNIN-LOG"), v1::CHECK_STATUS_ERROR);
    EXPECT_EQ(status_of(r.report, "CG-PERMS"), v1::CHECK_STATUS_FAIL);
    EXPECT_NE(reason(r.report, "CG-PERMS").find("AuditLog.Read.All"), std::string::npos) << reason(r.report, "CG-PERMS");
    EXPECT_EQ(r.code, 2) << "an ERROR is never reported as OK";
}

TEST_F(AgentEntra2026, MicrosoftsWhatIfDisagreementIsWarnAndAgreementOk) {
    auto r = once("evaluate-disagreement");
    EXPECT_EQ(status_of(r.report, "CG-ENGINE-DRIFT"), v1::CHECK_STATUS_WARN) << reason(r.report, "CG-ENGINE-DRIFT");
    EXPECT_NE(reason(r.report, "CG-ENGINE-DRIFT").find("Microsoft policyApplies true"), std::string::npos)
        << reason(r.report, "CG-ENGINE-DRIFT");
    const auto t = tenant("evaluate-disagreement");
    e().admin("PUT", "/_sim/tenants/" + t.tenant_id + "/whatif-answers", json::object());
    auto agreed = once("evaluate-disagreement");
    EXPECT_EQ(status_of(agreed.report, "CG-ENGINE-DRIFT"), v1::CHECK_STATUS_OK) << reason(agreed.report, "CG-ENGINE-DRIFT");
}

TEST_F(AgentEntra2026, EachNewAadstsCodeIsClassifiedNeverOther) {
    const auto t = tenant("aadsts-codes");
    for (int code : {50158, 53004, 50131, 50105, 50135}) {
        e().admin("PATCH", "/_sim/tenants/" + t.tenant_id + "/users/" + t.user_id, {{"signInOutcomeOverride", code}});
        auto r = once("aadsts-codes");
        const auto* c = find_check(r.report, "CG-SIGNIN", "00000002-0000-0ff1-ce00-000000000000");
        ASSERT_NE(c, nullptr) << r.output;
        EXPECT_EQ(c->status(), v1::CHECK_STATUS_FAIL) << code << ": " << c->reason();
        EXPECT_NE(c->reason().find("AADSTS" + std::to_string(code)), std::string::npos) << c->reason();
        EXPECT_EQ(c->reason().find("unexpected answer"), std::string::npos) << c->reason();
    }
}

}  // namespace
