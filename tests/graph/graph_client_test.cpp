// The Graph client against the real connguard-graph-sim: every typed read and write, the snapshot
// collector, every sign-in class, paging, throttling, retries, malformed bodies, 403 permissions,
// token caching / refresh, and the certificate credential.
//
// The scenarios (tests/graph/scenarios) are copied into a temp folder next to a certificate that
// the suite generates with openssl, so no private key lives in the repository. Every simulator is
// started with --page-size 2, so each list of more than 4 items is read over at least 3 pages.
#include <gtest/gtest.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/graph/collector.h"
#include "agent/graph/graph_client.h"
#include "common/clock.h"
#include "common/log.h"
#include "tests/support/graph_sim.h"
#include "tests/support/process.h"
#include "tests/support/util.h"

namespace {

using namespace connguard;
using nlohmann::json;
using snapshot::signin_outcome;

constexpr const char* tenant_id = "7d9c1e52-3f4a-4b8e-9c2d-1a2b3c4d5e6f";
constexpr const char* legacy_tenant_id = "7d9c1e52-3f4a-4b8e-9c2d-000000000002";
constexpr const char* agent_app = "a0000000-0000-4000-8000-000000000001";
constexpr const char* agent_secret = "agent-secret-Value~123";
constexpr const char* cert_app = "a0000000-0000-4000-8000-000000000002";
constexpr const char* limited_app = "a0000000-0000-4000-8000-000000000003";
constexpr const char* limited_secret = "limited-secret-Value~456";
constexpr const char* probe_app = "a0000000-0000-4000-8000-000000000004";
constexpr const char* account_upn = "svc-connect@graphtest.example";
constexpr const char* account_id = "5b000000-0000-4000-8000-000000000001";
constexpr const char* password = "Conn3ct-Pa55!";
constexpr const char* exo = "00000002-0000-0ff1-ce00-000000000000";
constexpr const char* graph_app = "00000003-0000-0000-c000-000000000000";

std::string policy_id(int n) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "ca000000-0000-4000-8000-%012d", n);
    return buf;
}
std::string group_id(int n) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "9a000000-0000-4000-8000-%012d", n);
    return buf;
}

class GraphClient : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new test::temp_dir("graph-client-test");
        for (const auto& e : std::filesystem::directory_iterator(CONNGUARD_GRAPH_SCENARIOS))
            std::filesystem::copy_file(e.path(), dir_->path() / e.path().filename());
        gen_cert(dir_->path() / "graph-test-app-cert.pem", dir_->path() / "graph-test-app-key.pem", "agent");
        gen_cert(dir_->path() / "other-cert.pem", dir_->path() / "other-key.pem", "other");
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }
    static void gen_cert(const std::filesystem::path& cert, const std::filesystem::path& key, const std::string& cn) {
        std::string out;
        const int rc = test::run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                                          key.string(), "-out", cert.string(), "-days", "2", "-subj", "/CN=" + cn},
                                         &out);
        ASSERT_EQ(rc, 0) << out;
    }

    void SetUp() override { start_sim({}); }

    void start_sim(std::vector<std::string> extra) {
        sim_.reset();
        extra.insert(extra.begin(), {"--page-size", "2"});
        sim_ = std::make_unique<test::graph_sim>(dir_->path(), std::filesystem::path{}, extra);
    }

    graph::graph_client_options options(const std::string& app = agent_app, const std::string& secret = agent_secret,
                                        const std::string& tenant = tenant_id) {
        graph::graph_client_options o;
        o.tenant_key = "graphtest";
        o.azure_tenant_id = tenant;
        o.authority_url = sim_->base_url();
        o.graph_url = sim_->base_url() + "/";  // a trailing slash is tolerated
        o.client_id = app;
        o.client_secret = secret;
        o.backoff_initial = std::chrono::milliseconds{40};
        o.backoff_cap = std::chrono::milliseconds{400};
        o.ca_pacing_interval = std::chrono::milliseconds{0};  // the test tenant has no CA rate limit
        o.sleep = [this](std::chrono::milliseconds d) {
            {
                std::lock_guard lock(waits_mu_);
                waits_.push_back(d);
            }
            std::this_thread::sleep_for(d);
        };
        return o;
    }

    int admin(const std::string& method, const std::string& path, const json& body = nullptr, json* out = nullptr) {
        std::string resp;
        const int st = sim_->admin(method, path, body.is_null() ? std::string() : body.dump(), &resp);
        if (out) *out = json::parse(resp, nullptr, false);
        return st;
    }
    void set_faults(const json& rules) {
        ASSERT_EQ(admin("PUT", std::string("/_sim/tenants/") + tenant_id + "/faults", json{{"rules", rules}}), 200);
    }
    void patch_user(const std::string& user, const json& fields, const char* tenant = tenant_id) {
        ASSERT_EQ(admin("PATCH", std::string("/_sim/tenants/") + tenant + "/users/" + user, fields), 200);
    }

    snapshot::signin_result probe(graph::graph_client& gc, const std::string& upn, const std::string& pw = password,
                                  const std::string& resource = exo, const std::string& client = probe_app) {
        auto r = gc.probe_signin({client, upn, pw, resource});
        EXPECT_TRUE(r.ok()) << r.err().message;
        return r.ok() ? *r : snapshot::signin_result{};
    }

    std::vector<std::chrono::milliseconds> waits() {
        std::lock_guard lock(waits_mu_);
        return waits_;
    }

    static inline test::temp_dir* dir_ = nullptr;
    std::unique_ptr<test::graph_sim> sim_;
    std::mutex waits_mu_;
    std::vector<std::chrono::milliseconds> waits_;
    const connguard::clock& clock_ = system_clock::instance();
};

// ---- reads and the collector -------------------------------------------------------------------

TEST_F(GraphClient, CollectsEverySnapshotItem) {
    graph::graph_client gc(options(), clock_);
    const auto s = graph::collect_snapshot(gc, {"graphtest", account_upn});
    EXPECT_EQ(s.tenant_key, "graphtest");
    EXPECT_EQ(s.azure_tenant_id, tenant_id);
    EXPECT_EQ(s.account_upn, account_upn);

    ASSERT_TRUE(s.security_defaults_enabled.ok()) << s.security_defaults_enabled.error->message;
    EXPECT_FALSE(*s.security_defaults_enabled.value);

    ASSERT_TRUE(s.ca_policies.ok()) << s.ca_policies.error->message;
    ASSERT_EQ(s.ca_policies.value->size(), 6u);  // 3 pages of 2
    std::set<std::string> ids;
    for (const auto& p : *s.ca_policies.value) ids.insert(p["id"].get<std::string>());
    for (int n = 1; n <= 6; ++n) EXPECT_TRUE(ids.count(policy_id(n))) << policy_id(n);
    // Raw Graph JSON is kept: unknown fields, nulls and the lowercase operator survive untouched.
    const auto mfa = std::find_if(s.ca_policies.value->begin(), s.ca_policies.value->end(),
                                  [](const json& p) { return p["id"] == policy_id(2); });
    ASSERT_NE(mfa, s.ca_policies.value->end());
    EXPECT_EQ((*mfa)["grantControls"]["operator"], "or");
    EXPECT_EQ((*mfa)["futurePreviewField"]["x"], 1);
    EXPECT_TRUE((*mfa)["sessionControls"].is_null());

    ASSERT_TRUE(s.named_locations.ok());
    ASSERT_EQ(s.named_locations.value->size(), 2u);
    EXPECT_EQ((*s.named_locations.value)[0]["displayName"], "MSP office");

    ASSERT_TRUE(s.user.ok()) << s.user.error->message;
    EXPECT_EQ(s.user.value->id, account_id);
    EXPECT_EQ(s.user.value->user_principal_name, account_upn);
    EXPECT_EQ(s.user.value->display_name, "svc-connect");
    EXPECT_TRUE(s.user.value->account_enabled);
    EXPECT_EQ(s.user.value->user_type, "Member");

    // Direct groups 3, 4, 5; 3 is nested in 2, which is nested in 1 (5 groups: 3 pages).
    ASSERT_TRUE(s.group_ids.ok()) << s.group_ids.error->message;
    const std::set<std::string> groups(s.group_ids.value->begin(), s.group_ids.value->end());
    EXPECT_EQ(groups, (std::set<std::string>{group_id(1), group_id(2), group_id(3), group_id(4), group_id(5)}));

    ASSERT_TRUE(s.roles.ok()) << s.roles.error->message;
    ASSERT_EQ(s.roles.value->size(), 2u);
    std::set<std::string> templates;
    for (const auto& r : *s.roles.value) {
        templates.insert(r.role_template_id);
        EXPECT_EQ(r.directory_scope_id, "/");
        EXPECT_FALSE(r.id.empty());
    }
    EXPECT_EQ(templates, (std::set<std::string>{"f2ef992c-3afb-46b9-b7cf-a126ee74c451", "29232cdf-9323-42fd-ade2-1d097af3e4de"}));

    ASSERT_TRUE(s.mfa_registration.ok()) << s.mfa_registration.error->message;
    EXPECT_TRUE(s.mfa_registration.value->is_mfa_registered);
    EXPECT_FALSE(s.mfa_registration.value->methods_registered.empty());

    ASSERT_TRUE(s.per_user_mfa_state.ok());
    EXPECT_EQ(*s.per_user_mfa_state.value, "disabled");

    EXPECT_TRUE(s.signins.empty());
    // Every request was counted: 1 token + 1 SD + 3 policy pages + 1 location page + user + 3 group
    // pages + roles + registration + per-user MFA (at least; the simulator decides the exact pages).
    EXPECT_EQ(gc.counters().token_requests, 1);
    EXPECT_GE(gc.counters().graph_requests, 12);
    json counts;
    ASSERT_EQ(admin("GET", std::string("/_sim/tenants/") + tenant_id + "/requests", nullptr, &counts), 200);
    EXPECT_EQ(counts["graph"].get<int>(), gc.counters().graph_requests);
    EXPECT_EQ(counts["token"].get<int>(), gc.counters().token_requests);
}

TEST_F(GraphClient, CountersResetPerCycle) {
    graph::graph_client gc(options(), clock_);
    ASSERT_TRUE(gc.list_ca_policies().ok());
    EXPECT_EQ(gc.counters().graph_requests, 3);  // 6 policies, 2 per page
    EXPECT_EQ(gc.counters().token_requests, 1);
    gc.reset_cycle_counters();
    EXPECT_EQ(gc.counters().total(), 0);
    ASSERT_TRUE(gc.list_named_locations().ok());
    EXPECT_EQ(gc.counters().graph_requests, 1);
    EXPECT_EQ(gc.counters().token_requests, 0);  // token cached
}

TEST_F(GraphClient, UnknownUserIsNotFoundNotAnError) {
    graph::graph_client gc(options(), clock_);
    auto u = gc.get_user("nobody@graphtest.example");
    ASSERT_TRUE(u.ok()) << u.err().message;
    EXPECT_FALSE(u->has_value());

    const auto s = graph::collect_snapshot(gc, {"graphtest", "nobody@graphtest.example"});
    ASSERT_FALSE(s.user.ok());
    EXPECT_EQ(s.user.error->code, "graph.not_found");
    EXPECT_NE(s.user.error->message.find("nobody@graphtest.example"), std::string::npos);
    EXPECT_FALSE(s.group_ids.ok());
    EXPECT_FALSE(s.roles.ok());
    // Tenant-wide items do not depend on the account.
    EXPECT_TRUE(s.security_defaults_enabled.ok());
    EXPECT_TRUE(s.ca_policies.ok());
}

TEST_F(GraphClient, SinglePolicyAndMissingPolicy) {
    graph::graph_client gc(options(), clock_);
    auto p = gc.get_ca_policy(policy_id(3));
    ASSERT_TRUE(p.ok()) << p.err().message;
    ASSERT_TRUE(p->has_value());
    EXPECT_EQ((**p)["displayName"], "Require compliant device");
    auto missing = gc.get_ca_policy("ca000000-0000-4000-8000-00000000dead");
    ASSERT_TRUE(missing.ok()) << missing.err().message;
    EXPECT_FALSE(missing->has_value());
}

TEST_F(GraphClient, SeesRuntimeChanges) {
    graph::graph_client gc(options(), clock_);
    ASSERT_EQ(admin("PATCH", std::string("/_sim/tenants/") + tenant_id + "/security-defaults", json{{"isEnabled", true}}), 200);
    patch_user(account_id, {{"perUserMfaState", "enforced"}, {"isMfaRegistered", false}});
    auto sd = gc.security_defaults_enabled();
    ASSERT_TRUE(sd.ok());
    EXPECT_TRUE(*sd);
    auto mfa = gc.per_user_mfa_state(account_id);
    ASSERT_TRUE(mfa.ok());
    EXPECT_EQ(*mfa, "enforced");
    auto reg = gc.registration_details(account_id);
    ASSERT_TRUE(reg.ok());
    EXPECT_FALSE(reg->is_mfa_registered);
}

TEST(GraphClientShippedScenarios, RealPolicySetsArriveUnchangedAndProbesMatchTheReadme) {
    // The simulator's shipped tenants carry real exported CA policies (j0eyv baseline, with their
    // oddities); the client must hand them over byte-for-byte as Graph JSON.
    test::graph_sim sim(std::string(CONNGUARD_SOURCE_DIR) + "/tools/graph-sim/scenarios", {}, {"--page-size", "2"});
    struct row {
        const char* tenant;
        const char* nn;
        const char* domain;
        signin_outcome expected;
    };
    const row rows[] = {
        {"6f1c9a52-3c1e-4b8e-9d4a-1a2b3c4d5e01", "01", "contoso-healthy.onmicrosoft.com", signin_outcome::success},
        {"6f1c9a52-3c1e-4b8e-9d4a-1a2b3c4d5e02", "02", "fabrikam-mfa.onmicrosoft.com", signin_outcome::mfa_required},
        {"6f1c9a52-3c1e-4b8e-9d4a-1a2b3c4d5e03", "03", "northwind-secdefaults.onmicrosoft.com",
         signin_outcome::mfa_registration_required},
    };
    for (const auto& r : rows) {
        graph::graph_client_options o;
        o.tenant_key = r.domain;
        o.azure_tenant_id = r.tenant;
        o.authority_url = o.graph_url = sim.base_url();
        o.client_id = std::string("3f2a7c10-5b8e-4d21-9a6f-0c1d2e3f40") + r.nn;
        o.client_secret = std::string("sim-secret-") + r.nn + "~not-a-real-secret";
        o.ca_pacing_interval = std::chrono::milliseconds{1000};  // the shipped tenants rate-limit CA reads
        graph::graph_client gc(o, system_clock::instance());
        const std::string upn = std::string("svc-connguard@") + r.domain;
        const auto s = graph::collect_snapshot(gc, {r.domain, upn});
        ASSERT_TRUE(s.ca_policies.ok()) << s.ca_policies.error->message;
        std::string body;
        ASSERT_EQ(sim.admin("GET", std::string("/_sim/tenants/") + r.tenant + "/policies", "", &body), 200);
        const json expected = json::parse(body)["value"];
        EXPECT_EQ(json(*s.ca_policies.value), expected) << r.domain;
        EXPECT_EQ(gc.counters().throttled, 0) << r.domain;
        ASSERT_TRUE(s.user.ok()) << s.user.error->message;
        ASSERT_TRUE(s.roles.ok());
        ASSERT_TRUE(s.mfa_registration.ok());
        const auto probes = graph::run_signin_probes(gc, {o.client_id, upn, "Conn-Guard-Demo-1!", {exo}});
        ASSERT_EQ(probes.size(), 1u);
        EXPECT_EQ(probes[0].outcome, r.expected) << r.domain << " AADSTS " << probes[0].aadsts_code;
        if (r.expected == signin_outcome::mfa_required) {
            ASSERT_EQ(probes[0].policy_ids.size(), 1u);
            EXPECT_EQ(probes[0].policy_ids[0].rfind("809741fe-", 0), 0u) << probes[0].policy_ids[0];
        }
    }
}

// ---- permissions -------------------------------------------------------------------------------

TEST_F(GraphClient, ForbiddenNamesTheMissingPermission) {
    graph::graph_client gc(options(limited_app, limited_secret), clock_);
    auto sd = gc.security_defaults_enabled();
    ASSERT_FALSE(sd.ok());
    EXPECT_EQ(sd.err().code, "graph.forbidden");
    EXPECT_NE(sd.err().message.find("Policy.Read.All"), std::string::npos) << sd.err().message;
    EXPECT_NE(sd.err().message.find("identitySecurityDefaultsEnforcementPolicy"), std::string::npos) << sd.err().message;
    EXPECT_NE(sd.err().message.find("Authorization_RequestDenied"), std::string::npos) << sd.err().message;

    // The collector keeps what it could read and names the permission of each item it could not.
    const auto s = graph::collect_snapshot(gc, {"graphtest", account_upn});
    ASSERT_TRUE(s.user.ok());  // User.Read.All is granted
    EXPECT_EQ(s.security_defaults_enabled.error->missing_permission, "Policy.Read.All");
    EXPECT_EQ(s.ca_policies.error->missing_permission, "Policy.Read.All");
    EXPECT_EQ(s.named_locations.error->missing_permission, "Policy.Read.All");
    EXPECT_EQ(s.roles.error->missing_permission, "RoleManagement.Read.Directory");
    EXPECT_EQ(s.mfa_registration.error->missing_permission, "AuditLog.Read.All");
    EXPECT_EQ(s.per_user_mfa_state.error->missing_permission, "Policy.Read.All");
    EXPECT_EQ(s.roles.error->code, "graph.forbidden");

    // Writes name the write permission.
    auto w = gc.patch_ca_policy(policy_id(2), R"({"conditions":{"users":{"excludeUsers":[]}}})");
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.err().code, "graph.forbidden");
    auto d = gc.delete_role_assignment("exchange-admin-assignment-1");
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.err().code, "graph.forbidden");
    EXPECT_NE(d.err().message.find("RoleManagement.ReadWrite.Directory"), std::string::npos) << d.err().message;
    auto m = gc.patch_per_user_mfa(account_id, R"({"perUserMfaState":"disabled"})");
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.err().message.find("Policy.ReadWrite.AuthenticationMethod"), std::string::npos) << m.err().message;
}

TEST_F(GraphClient, PermissionRevokedAtRuntime) {
    graph::graph_client gc(options(), clock_);
    ASSERT_TRUE(gc.list_ca_policies().ok());
    ASSERT_EQ(admin("PATCH", std::string("/_sim/tenants/") + tenant_id + "/apps/" + agent_app,
                    json{{"permissions", {"User.Read.All", "Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"}}}),
              200);
    auto ra = gc.role_assignments(account_id);
    ASSERT_FALSE(ra.ok());
    EXPECT_EQ(ra.err().code, "graph.forbidden");
    EXPECT_EQ(graph::to_collect_error(ra.err(), graph::graph_call::role_assignments).missing_permission,
              "RoleManagement.Read.Directory");
}

// ---- tokens ------------------------------------------------------------------------------------

TEST_F(GraphClient, TokenIsCachedAndRenewedBeforeExpiry) {
    manual_clock clk;
    graph::graph_client gc(options(), clk);
    ASSERT_TRUE(gc.security_defaults_enabled().ok());
    ASSERT_TRUE(gc.security_defaults_enabled().ok());
    EXPECT_EQ(gc.counters().token_requests, 1);
    clk.advance(std::chrono::minutes{30});
    ASSERT_TRUE(gc.security_defaults_enabled().ok());
    EXPECT_EQ(gc.counters().token_requests, 1);
    // 3599 s tokens are renewed 5 minutes before they expire.
    clk.advance(std::chrono::minutes{26});
    ASSERT_TRUE(gc.security_defaults_enabled().ok());
    EXPECT_EQ(gc.counters().token_requests, 2);
}

TEST_F(GraphClient, UnauthorizedTriggersOneRefreshAndRetry) {
    graph::graph_client gc(options(), clock_);
    ASSERT_TRUE(gc.security_defaults_enabled().ok());
    EXPECT_EQ(gc.counters().token_requests, 1);
    // The simulator rejects every token issued before the revocation, like CAE does.
    ASSERT_EQ(admin("POST", std::string("/_sim/tenants/") + tenant_id + "/tokens/revoke"), 200);
    gc.reset_cycle_counters();
    auto sd = gc.security_defaults_enabled();
    ASSERT_TRUE(sd.ok()) << sd.err().message;
    EXPECT_EQ(gc.counters().token_requests, 1);  // one refresh
    EXPECT_EQ(gc.counters().graph_requests, 2);  // the 401 and the retry
    EXPECT_EQ(gc.counters().retries, 0);         // a refresh is not a retry

    // A restarted simulator no longer knows the tokens it issued: same recovery.
    sim_->restart();
    gc.reset_cycle_counters();
    auto pols = gc.list_ca_policies();
    ASSERT_TRUE(pols.ok()) << pols.err().message;
    EXPECT_EQ(pols->size(), 6u);
    EXPECT_EQ(gc.counters().token_requests, 1);
}

TEST_F(GraphClient, ShortLivedTokensExpireAndAreReplaced) {
    start_sim({"--token-lifetime", "2"});
    // The client's clock stands still, so only the simulator knows the token expired: Graph's 401
    // makes the client fetch a new token and retry once.
    manual_clock clk;
    graph::graph_client gc(options(), clk);
    ASSERT_TRUE(gc.security_defaults_enabled().ok());
    std::this_thread::sleep_for(std::chrono::milliseconds{3100});
    auto sd = gc.security_defaults_enabled();
    ASSERT_TRUE(sd.ok()) << sd.err().message;
    EXPECT_EQ(gc.counters().token_requests, 2);
}

TEST_F(GraphClient, BadSecretIsATokenErrorWithoutTheSecret) {
    graph::graph_client gc(options(agent_app, "wrong-secret-Value"), clock_);
    auto sd = gc.security_defaults_enabled();
    ASSERT_FALSE(sd.ok());
    EXPECT_EQ(sd.err().code, "graph.token");
    EXPECT_NE(sd.err().message.find("7000215"), std::string::npos) << sd.err().message;
    EXPECT_EQ(sd.err().message.find("wrong-secret-Value"), std::string::npos) << sd.err().message;
    // The collector reports the token failure on every item instead of pretending.
    const auto s = graph::collect_snapshot(gc, {"graphtest", account_upn});
    EXPECT_EQ(s.ca_policies.error->code, "graph.token");
    EXPECT_EQ(s.user.error->code, "graph.token");
    // The refusal is remembered for the cycle: one token request, not one per item.
    EXPECT_EQ(gc.counters().token_requests, 1);
    EXPECT_EQ(gc.counters().graph_requests, 0);
    // The next cycle asks again (the admin may have fixed the secret meanwhile).
    ASSERT_EQ(admin("PATCH", std::string("/_sim/tenants/") + tenant_id + "/apps/" + agent_app,
                    json{{"clientSecret", "wrong-secret-Value"}}), 200);
    gc.reset_cycle_counters();
    auto fixed = gc.security_defaults_enabled();
    ASSERT_TRUE(fixed.ok()) << fixed.err().message;
}

TEST_F(GraphClient, CertificateCredential) {
    auto o = options(cert_app, "");
    o.certificate_file = dir_->path() / "graph-test-app-cert.pem";
    o.private_key_file = dir_->path() / "graph-test-app-key.pem";
    graph::graph_client gc(o, clock_);
    const auto s = graph::collect_snapshot(gc, {"graphtest", account_upn});
    ASSERT_TRUE(s.ca_policies.ok()) << s.ca_policies.error->message;
    ASSERT_TRUE(s.user.ok());
    EXPECT_EQ(gc.counters().token_requests, 1);

    // The key as text (how the agent config passes it) and the RS256 fallback work too.
    auto o2 = o;
    o2.private_key_file.clear();
    o2.private_key_pem = test::slurp(dir_->path() / "graph-test-app-key.pem");
    o2.assertion_algorithm = graph::assertion_alg::rs256;
    graph::graph_client gc2(o2, clock_);
    auto sd = gc2.security_defaults_enabled();
    ASSERT_TRUE(sd.ok()) << sd.err().message;
}

TEST_F(GraphClient, CertificateNotRegisteredIsRefused) {
    auto o = options(cert_app, "");
    o.certificate_file = dir_->path() / "other-cert.pem";
    o.private_key_file = dir_->path() / "other-key.pem";
    graph::graph_client gc(o, clock_);
    auto sd = gc.security_defaults_enabled();
    ASSERT_FALSE(sd.ok());
    EXPECT_EQ(sd.err().code, "graph.token");
    EXPECT_NE(sd.err().message.find("invalid_client"), std::string::npos) << sd.err().message;

    // A key that does not match the certificate never leaves the process.
    o.private_key_file = dir_->path() / "graph-test-app-key.pem";
    graph::graph_client gc2(o, clock_);
    auto r = gc2.security_defaults_enabled();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, "graph.credential");
    EXPECT_EQ(gc2.counters().token_requests, 0);
}

// ---- throttling, retries, faults ---------------------------------------------------------------

TEST_F(GraphClient, ThrottledWithRetryAfterWaitsWhatTheServerSays) {
    set_faults(json::array({{{"type", "throttle"}, {"rate", 1.0}, {"retryAfter", 0.25}, {"maxCount", 2},
                             {"pathPrefix", "/v1.0/policies"}}}));
    graph::graph_client gc(options(), clock_);
    auto sd = gc.security_defaults_enabled();
    ASSERT_TRUE(sd.ok()) << sd.err().message;
    EXPECT_EQ(gc.counters().throttled, 2);
    EXPECT_EQ(gc.counters().retries, 2);
    EXPECT_EQ(waits(), (std::vector<std::chrono::milliseconds>{std::chrono::milliseconds{250}, std::chrono::milliseconds{250}}));
}

TEST_F(GraphClient, ThrottledWithoutRetryAfterBacksOffExponentially) {
    set_faults(json::array({{{"type", "throttle"}, {"rate", 1.0}, {"maxCount", 3}, {"pathPrefix", "/v1.0/users"}}}));
    graph::graph_client gc(options(), clock_);
    auto u = gc.get_user(account_upn);
    ASSERT_TRUE(u.ok()) << u.err().message;
    ASSERT_TRUE(u->has_value());
    EXPECT_EQ(gc.counters().throttled, 3);
    const auto w = waits();
    ASSERT_EQ(w.size(), 3u);
    // 40 ms, 80 ms, 160 ms bases with equal jitter: each wait is in [base/2, base].
    for (std::size_t i = 0; i < w.size(); ++i) {
        const long base = 40L << i;
        EXPECT_GE(w[i].count(), base / 2) << i;
        EXPECT_LE(w[i].count(), base) << i;
    }
}

TEST_F(GraphClient, ThrottledPastRetriesIsAnErrorAndOnlyThatItemFails) {
    set_faults(json::array({{{"type", "throttle"}, {"rate", 1.0}, {"retryAfter", 0.01},
                             {"pathPrefix", "/v1.0/identity/conditionalAccess/policies"}}}));
    auto o = options();
    o.max_retries = 2;
    graph::graph_client gc(o, clock_);
    const auto s = graph::collect_snapshot(gc, {"graphtest", account_upn});
    ASSERT_FALSE(s.ca_policies.ok());
    EXPECT_EQ(s.ca_policies.error->code, "graph.throttled");
    EXPECT_NE(s.ca_policies.error->message.find("list CA policies"), std::string::npos) << s.ca_policies.error->message;
    EXPECT_NE(s.ca_policies.error->message.find("after 2 retries"), std::string::npos) << s.ca_policies.error->message;
    EXPECT_TRUE(s.security_defaults_enabled.ok());
    EXPECT_TRUE(s.named_locations.ok());
    EXPECT_TRUE(s.user.ok());
    EXPECT_TRUE(s.group_ids.ok());
    EXPECT_TRUE(s.roles.ok());
    EXPECT_TRUE(s.mfa_registration.ok());
    EXPECT_TRUE(s.per_user_mfa_state.ok());
}

TEST_F(GraphClient, RetryBudgetIsPerCycle) {
    set_faults(json::array({{{"type", "unavailable"}, {"rate", 1.0}, {"pathPrefix", "/v1.0/policies"}}}));
    auto o = options();
    o.max_retries = 4;
    o.retry_budget = 5;
    graph::graph_client gc(o, clock_);
    auto first = gc.security_defaults_enabled();  // spends 4 retries
    ASSERT_FALSE(first.ok());
    EXPECT_EQ(first.err().code, "graph.http");
    EXPECT_NE(first.err().message.find("503"), std::string::npos) << first.err().message;
    auto second = gc.security_defaults_enabled();  // 1 retry left in this cycle
    ASSERT_FALSE(second.ok());
    EXPECT_NE(second.err().message.find("budget"), std::string::npos) << second.err().message;
    EXPECT_EQ(gc.counters().retries, 5);
    // Other calls still run (without retries) in the same cycle.
    ASSERT_TRUE(gc.list_named_locations().ok());
    gc.reset_cycle_counters();
    ASSERT_EQ(admin("DELETE", std::string("/_sim/tenants/") + tenant_id + "/faults"), 204);
    set_faults(json::array({{{"type", "unavailable"}, {"rate", 1.0}, {"maxCount", 2}, {"pathPrefix", "/v1.0/policies"}}}));
    auto third = gc.security_defaults_enabled();
    ASSERT_TRUE(third.ok()) << third.err().message;
    EXPECT_EQ(gc.counters().retries, 2);
}

TEST_F(GraphClient, ConnectionResetsAndLatencyAreRetried) {
    set_faults(json::array({{{"type", "reset"}, {"rate", 1.0}, {"maxCount", 2}, {"pathPrefix", "/v1.0/users"}}}));
    graph::graph_client gc(options(), clock_);
    auto u = gc.get_user(account_upn);
    ASSERT_TRUE(u.ok()) << u.err().message;
    EXPECT_TRUE(u->has_value());
    // Both resets happened (libcurl itself retries once when a reused keep-alive connection dies
    // before any byte of the answer, so the client may see only one of them).
    json faults;
    ASSERT_EQ(admin("GET", std::string("/_sim/tenants/") + tenant_id + "/faults", nullptr, &faults), 200);
    EXPECT_EQ(faults["rules"][0]["fired"], 2);
    EXPECT_GE(gc.counters().retries, 1);

    // A response slower than the request timeout is a timeout, retried like a reset.
    set_faults(json::array({{{"type", "latency"}, {"rate", 1.0}, {"latencyMs", 1500}, {"maxCount", 1},
                             {"pathPrefix", "/v1.0/policies"}}}));
    auto o = options();
    o.request_timeout = std::chrono::milliseconds{500};
    graph::graph_client gc2(o, clock_);
    auto sd = gc2.security_defaults_enabled();
    ASSERT_TRUE(sd.ok()) << sd.err().message;
    EXPECT_EQ(gc2.counters().retries, 1);
}

TEST_F(GraphClient, MalformedAndTruncatedBodiesAreErrorsNeverHalfResults) {
    graph::graph_client gc(options(), clock_);
    for (const char* type : {"malformedJson", "truncatedJson"}) {
        set_faults(json::array({{{"type", type}, {"rate", 1.0}, {"pathPrefix", "/v1.0/identity/conditionalAccess/policies"}},
                                {{"type", type}, {"rate", 1.0}, {"pathPrefix", "/v1.0/users/"}}}));
        gc.reset_cycle_counters();
        const auto s = graph::collect_snapshot(gc, {"graphtest", account_upn});
        ASSERT_FALSE(s.ca_policies.ok()) << type;
        EXPECT_FALSE(s.ca_policies.value.has_value());
        EXPECT_TRUE(s.ca_policies.error->code == "graph.malformed" || s.ca_policies.error->code == "graph.network")
            << type << ": " << s.ca_policies.error->code;
        EXPECT_NE(s.ca_policies.error->message.find("list CA policies"), std::string::npos) << s.ca_policies.error->message;
        ASSERT_FALSE(s.user.ok()) << type;
        EXPECT_NE(s.user.error->message.find("get user"), std::string::npos) << s.user.error->message;
        EXPECT_TRUE(s.security_defaults_enabled.ok()) << type;
        EXPECT_TRUE(s.named_locations.ok()) << type;
    }
}

TEST_F(GraphClient, CaPacingKeepsUnderTheRealRateLimit) {
    ASSERT_EQ(admin("PUT", std::string("/_sim/tenants/") + tenant_id + "/ca-rate-limit", json{{"enabled", true}}), 200);
    // Paced (the default 1 request/s): three CA reads in a row are never throttled.
    auto o = options();
    o.ca_pacing_interval = std::chrono::milliseconds{1000};
    graph::graph_client paced(o, clock_);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(paced.list_named_locations().ok());
    EXPECT_EQ(paced.counters().throttled, 0);
    EXPECT_EQ(paced.counters().graph_requests, 3);

    // Unpaced, right after those: the simulator answers 429 without Retry-After, like the real CA
    // endpoints; the client backs off and still succeeds.
    auto u = options();
    u.backoff_initial = std::chrono::milliseconds{300};
    u.backoff_cap = std::chrono::milliseconds{1200};
    graph::graph_client unpaced(u, clock_);
    auto r = unpaced.list_named_locations();
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->size(), 2u);
    EXPECT_GE(unpaced.counters().throttled, 1);
}

// ---- writes ------------------------------------------------------------------------------------

// The plain writes send exactly the body given; the executor (tests/agent/test_agent_executor.cpp) owns
// the guarded path (precondition, read-back, verify).

TEST_F(GraphClient, PatchCaPolicySendsTheBodyAndGraphMergesObjects) {
    graph::graph_client gc(options(), clock_);
    const json ex = json::array({"GuestsOrExternalUsers", "5b000000-0000-4000-8000-000000000090", account_id});
    auto w = gc.patch_ca_policy(policy_id(2), json{{"conditions", {{"users", {{"excludeUsers", ex}}}}}}.dump());
    ASSERT_TRUE(w.ok()) << w.err().message;
    auto r = gc.get_ca_policy(policy_id(2));
    ASSERT_TRUE(r.ok() && r->has_value());
    EXPECT_EQ((**r)["conditions"]["users"]["excludeUsers"], ex);
    // Other fields of the policy were kept (objects merge, arrays replace).
    EXPECT_EQ((**r)["conditions"]["users"]["includeGroups"], json::array({group_id(11)}));
    EXPECT_EQ((**r)["grantControls"]["builtInControls"], json::array({"mfa"}));
    EXPECT_FALSE((**r)["modifiedDateTime"].is_null());  // the simulator stamped the change
    // The simulator's own state shows it.
    json pol;
    ASSERT_EQ(admin("GET", std::string("/_sim/tenants/") + tenant_id + "/policies/" + policy_id(2), nullptr, &pol), 200);
    EXPECT_EQ(pol["conditions"]["users"]["excludeUsers"], ex);
    // One request: the write only sends.
    gc.reset_cycle_counters();
    ASSERT_TRUE(gc.patch_ca_policy(policy_id(2), json{{"conditions", {{"users", {{"excludeUsers", ex}}}}}}.dump()).ok());
    EXPECT_EQ(gc.counters().graph_requests, 1);
    auto missing = gc.patch_ca_policy("ca000000-0000-4000-8000-00000000dead", "{}");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.err().code, "graph.not_found");
}

TEST_F(GraphClient, ExclusionChangesTheRealSignIn) {
    graph::graph_client gc(options(), clock_);
    EXPECT_EQ(probe(gc, "svc-mfa@graphtest.example").outcome, signin_outcome::mfa_required);
    auto p = gc.get_ca_policy(policy_id(2));
    ASSERT_TRUE(p.ok() && p->has_value());
    json ex = (**p)["conditions"]["users"]["excludeUsers"];
    ex.push_back("5b000000-0000-4000-8000-000000000003");
    ASSERT_TRUE(gc.patch_ca_policy(policy_id(2), json{{"conditions", {{"users", {{"excludeUsers", ex}}}}}}.dump()).ok());
    EXPECT_EQ(probe(gc, "svc-mfa@graphtest.example").outcome, signin_outcome::success);
}

TEST_F(GraphClient, PatchPerUserMfaChangesTheState) {
    graph::graph_client gc(options(), clock_);
    const std::string user = "5b000000-0000-4000-8000-000000000012";
    EXPECT_EQ(probe(gc, "svc-peruser@graphtest.example").outcome, signin_outcome::success);
    ASSERT_TRUE(gc.patch_per_user_mfa(user, R"({"perUserMfaState":"enforced"})").ok());
    auto s = gc.per_user_mfa_state(user);
    ASSERT_TRUE(s.ok()) << s.err().message;
    EXPECT_EQ(*s, "enforced");
    EXPECT_EQ(probe(gc, "svc-peruser@graphtest.example").outcome, signin_outcome::mfa_required);
    ASSERT_TRUE(gc.patch_per_user_mfa(user, R"({"perUserMfaState":"disabled"})").ok());
    s = gc.per_user_mfa_state(user);
    ASSERT_TRUE(s.ok()) << s.err().message;
    EXPECT_EQ(*s, "disabled");
    EXPECT_EQ(probe(gc, "svc-peruser@graphtest.example").outcome, signin_outcome::success);
}

TEST_F(GraphClient, DeleteRoleAssignmentAndVerify) {
    graph::graph_client gc(options(), clock_);
    auto before = gc.role_assignments(account_id);
    ASSERT_TRUE(before.ok());
    ASSERT_EQ(before->size(), 2u);
    auto d = gc.delete_role_assignment("exchange-admin-assignment-1");
    ASSERT_TRUE(d.ok()) << d.err().message;
    EXPECT_TRUE(*d);
    auto after = gc.role_assignments(account_id);
    ASSERT_TRUE(after.ok());
    ASSERT_EQ(after->size(), 1u);
    EXPECT_EQ((*after)[0].role_template_id, "f2ef992c-3afb-46b9-b7cf-a126ee74c451");
    auto again = gc.delete_role_assignment("exchange-admin-assignment-1");
    ASSERT_TRUE(again.ok()) << again.err().message;
    EXPECT_FALSE(*again);
}

// ---- the sign-in probe -------------------------------------------------------------------------

TEST_F(GraphClient, SignInOutcomesFromTheRealRules) {
    graph::graph_client gc(options(), clock_);
    const std::string d = "@graphtest.example";
    auto r = probe(gc, account_upn);
    EXPECT_EQ(r.outcome, signin_outcome::success);
    EXPECT_EQ(r.resource_app_id, exo);
    EXPECT_EQ(probe(gc, account_upn, password, graph_app).outcome, signin_outcome::success);

    r = probe(gc, account_upn, "wrong-Passw0rd");
    EXPECT_EQ(r.outcome, signin_outcome::bad_credentials);
    EXPECT_EQ(r.aadsts_code, 50126);
    EXPECT_EQ(r.error_codes, (std::vector<int>{70002, 50126}));

    r = probe(gc, "svc-block" + d);
    EXPECT_EQ(r.outcome, signin_outcome::blocked_by_ca);
    EXPECT_EQ(r.aadsts_code, 53003);
    EXPECT_EQ(r.policy_ids, (std::vector<std::string>{policy_id(1)}));  // the report-only one does not count

    r = probe(gc, "svc-mfa" + d);
    EXPECT_EQ(r.outcome, signin_outcome::mfa_required);
    EXPECT_EQ(r.policy_ids, (std::vector<std::string>{policy_id(2)}));
    EXPECT_EQ(probe(gc, "svc-mfa-unregistered" + d).outcome, signin_outcome::mfa_registration_required);

    r = probe(gc, "svc-compliant" + d);
    EXPECT_EQ(r.outcome, signin_outcome::control_required);
    EXPECT_EQ(r.aadsts_code, 53000);
    r = probe(gc, "svc-hybrid" + d);
    EXPECT_EQ(r.outcome, signin_outcome::control_required);
    EXPECT_EQ(r.aadsts_code, 53001);
    r = probe(gc, "svc-approved" + d);
    EXPECT_EQ(r.outcome, signin_outcome::control_required);
    EXPECT_EQ(r.aadsts_code, 53002);

    EXPECT_EQ(probe(gc, "svc-locked" + d).outcome, signin_outcome::locked);
    EXPECT_EQ(probe(gc, "svc-disabled" + d).outcome, signin_outcome::disabled);
    EXPECT_EQ(probe(gc, "svc-expired" + d).outcome, signin_outcome::password_expired);
    r = probe(gc, "nobody" + d);
    EXPECT_EQ(r.outcome, signin_outcome::not_found);
    EXPECT_EQ(r.aadsts_code, 50034);

    // The agent's confidential app cannot do ROPC without a secret: AADSTS7000218.
    r = probe(gc, account_upn, password, exo, agent_app);
    EXPECT_EQ(r.outcome, signin_outcome::app_misconfigured);
    EXPECT_EQ(r.aadsts_code, 7000218);
}

TEST_F(GraphClient, SignInBlockedBySecurityDefaultsForLegacyAuth) {
    graph::graph_client gc(options(agent_app, agent_secret, legacy_tenant_id), clock_);
    const auto r = probe(gc, "svc-legacy@legacy.example");
    EXPECT_EQ(r.outcome, signin_outcome::blocked_by_security_defaults);
    EXPECT_EQ(r.aadsts_code, 530035);
}

TEST_F(GraphClient, SignInOutcomeOverridesForWhatTheRulesDoNotExplain) {
    graph::graph_client gc(options(), clock_);
    const std::string upn = "svc-override@graphtest.example";
    const std::vector<std::pair<long, signin_outcome>> rows = {
        {50074, signin_outcome::mfa_required},          {50072, signin_outcome::mfa_registration_required},
        {530035, signin_outcome::blocked_by_security_defaults}, {50144, signin_outcome::password_expired},
        {700016, signin_outcome::app_misconfigured},    {65001, signin_outcome::app_misconfigured},
        {90072, signin_outcome::other},
    };
    for (const auto& [code, outcome] : rows) {
        patch_user(upn, {{"signInOutcomeOverride", code}});
        const auto r = probe(gc, upn);
        EXPECT_EQ(r.outcome, outcome) << code;
        EXPECT_EQ(r.aadsts_code, code);
    }
    patch_user(upn, {{"signInOutcomeOverride", nullptr}});
    EXPECT_EQ(probe(gc, upn).outcome, signin_outcome::success);
}

TEST_F(GraphClient, RunSignInProbesOnePerResource) {
    graph::graph_client gc(options(), clock_);
    auto rs = graph::run_signin_probes(gc, {probe_app, "svc-mfa@graphtest.example", password, {exo, graph_app}});
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[0].resource_app_id, exo);
    EXPECT_EQ(rs[1].resource_app_id, graph_app);
    EXPECT_EQ(rs[0].outcome, signin_outcome::mfa_required);
    EXPECT_EQ(rs[1].outcome, signin_outcome::mfa_required);

    // An unreachable token endpoint is "probe_failed", never a sign-in verdict.
    sim_->stop();
    auto o = options();
    o.max_retries = 1;
    graph::graph_client down(o, clock_);
    rs = graph::run_signin_probes(down, {probe_app, account_upn, password, {exo}});
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].outcome, signin_outcome::other);
    EXPECT_EQ(rs[0].error, "probe_failed");
    EXPECT_NE(rs[0].error_description.find("graph.network"), std::string::npos) << rs[0].error_description;
}

TEST_F(GraphClient, NoPasswordOrSecretInAnyLogLine) {
    test::temp_dir logdir("graph-log");
    const auto file = logdir.path() / "client.log";
    log::options lo;
    lo.program = "graph-test";
    lo.level = "trace";
    lo.file = file.string();
    log::init(lo);
    {
        graph::graph_client gc(options(), clock_);
        (void)probe(gc, account_upn);
        (void)probe(gc, account_upn, "An0ther-Secret-Pw");
        set_faults(json::array({{{"type", "throttle"}, {"rate", 1.0}, {"maxCount", 1}, {"pathPrefix", "/v1.0/users"}}}));
        (void)graph::collect_snapshot(gc, {"graphtest", account_upn});
        graph::graph_client bad(options(agent_app, "Wrong-Secret-Value-1"), clock_);
        (void)bad.security_defaults_enabled();
    }
    spdlog::default_logger()->flush();
    const std::string text = test::slurp(file);
    log::options reset;
    reset.level = "warn";
    log::init(reset);
    EXPECT_NE(text.find("sign-in probe"), std::string::npos) << "the log should show the probes";
    for (const std::string& secret : {std::string(password), std::string("An0ther-Secret-Pw"), std::string(agent_secret),
                                     std::string("Wrong-Secret-Value-1")})
        EXPECT_EQ(text.find(secret), std::string::npos) << secret << " leaked into:\n" << text;
}

}  // namespace
