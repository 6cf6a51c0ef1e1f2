// The real connguard-graph-sim's Graph endpoints checked against graph.md §2-§8 (shapes and key
// fields of each example), PATCH semantics, paging, CA throttling, faults, and scenario validation.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "tests/graphsim/sim_test_util.h"
#include "tests/support/process.h"

namespace connguard::test::sim {
namespace {

class sim_graph : public ::testing::Test {
protected:
    void SetUp() override { token = app_token(sim); }
    /// Lets the next CA request through the 1 request/s limiter (tests that are not about it).
    void no_ca_limit() {
        ASSERT_EQ(sim.admin("PUT", "/_sim/tenants/" + healthy_tenant + "/ca-rate-limit", R"({"enabled":false})"), 200);
    }
    std::string path_of(const std::string& url) { return url.substr(sim.base_url().size()); }
    graph_sim sim{scenarios_dir};
    std::string token;
};

TEST_F(sim_graph, security_defaults_get_patch_and_audit) {
    auto r = graph_call(sim, token, "GET", "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy");
    ASSERT_EQ(r.status, 200) << r.body;
    json b = body_json(r);
    EXPECT_NE(b.value("@odata.context", "").find("/v1.0/$metadata#policies/identitySecurityDefaultsEnforcementPolicy"), std::string::npos);
    EXPECT_EQ(b.value("id", ""), "00000000-0000-0000-0000-000000000005");
    EXPECT_EQ(b.value("displayName", ""), "Security Defaults");
    EXPECT_EQ(b.value("description", "").rfind("Security defaults is a set of basic identity security mechanisms", 0), 0u);
    EXPECT_FALSE(b.value("isEnabled", true));
    EXPECT_FALSE(r.header("request-id").empty());

    auto p = graph_call(sim, token, "PATCH", "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy", R"({"isEnabled":true})");
    EXPECT_EQ(p.status, 204);
    EXPECT_TRUE(p.body.empty());
    EXPECT_TRUE(body_json(graph_call(sim, token, "GET", "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy")).value("isEnabled", false));
    // Read-only properties are refused.
    EXPECT_EQ(graph_call(sim, token, "PATCH", "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy", R"({"displayName":"x"})").status, 400);

    auto a = graph_call(sim, token, "GET", "/v1.0/auditLogs/directoryAudits?$filter=activityDisplayName%20eq%20'Update%20security%20defaults'");
    ASSERT_EQ(a.status, 200) << a.body;
    const json audits = body_json(a)["value"];
    ASSERT_EQ(audits.size(), 1u) << a.body;
    EXPECT_EQ(audits[0].value("category", ""), "Policy");
    EXPECT_EQ(audits[0].value("result", ""), "success");
    EXPECT_EQ(audits[0]["initiatedBy"]["app"].value("appId", ""), healthy_app);
}

TEST_F(sim_graph, ca_list_and_get_have_graphs_shapes) {
    no_ca_limit();
    auto r = graph_call(sim, token, "GET", "/v1.0/identity/conditionalAccess/policies");
    ASSERT_EQ(r.status, 200) << r.body;
    json b = body_json(r);
    EXPECT_NE(b.value("@odata.context", "").find("/v1.0/$metadata#identity/conditionalAccess/policies"), std::string::npos);
    ASSERT_TRUE(b["value"].is_array());
    ASSERT_EQ(b["value"].size(), 5u);
    EXPECT_FALSE(b.contains("@odata.nextLink"));
    const json& first = b["value"][0];
    EXPECT_EQ(first.value("id", ""), mfa_policy_id);
    EXPECT_EQ(first.value("state", ""), "enabled");
    EXPECT_TRUE(first["conditions"]["users"]["includeUsers"].is_array());
    EXPECT_EQ(first["grantControls"]["builtInControls"], json::array({"mfa"}));

    auto g = graph_call(sim, token, "GET", "/v1.0/identity/conditionalAccess/policies/" + mfa_policy_id + "?$select=id,displayName,state");
    ASSERT_EQ(g.status, 200) << g.body;
    json one = body_json(g);
    EXPECT_NE(one.value("@odata.context", "").find("conditionalAccess/policies/$entity"), std::string::npos);
    EXPECT_EQ(one.value("state", ""), "enabled");
    EXPECT_FALSE(one.contains("conditions"));  // $select

    auto missing = graph_call(sim, token, "GET", "/v1.0/identity/conditionalAccess/policies/00000000-dead-beef-0000-000000000000");
    EXPECT_EQ(missing.status, 404);
    EXPECT_TRUE(body_json(missing)["error"].contains("code"));

    auto nl = graph_call(sim, token, "GET", "/v1.0/identity/conditionalAccess/namedLocations");
    ASSERT_EQ(nl.status, 200);
    EXPECT_TRUE(body_json(nl)["value"].is_array());
}

TEST_F(sim_graph, patch_merges_objects_replaces_arrays_and_is_audited) {
    no_ca_limit();
    const std::string url = "/v1.0/identity/conditionalAccess/policies/" + mfa_policy_id;
    const json before = body_json(graph_call(sim, token, "GET", url));
    const json old_exclude_groups = before["conditions"]["users"]["excludeGroups"];
    ASSERT_FALSE(old_exclude_groups.empty());

    auto p = graph_call(sim, token, "PATCH", url, R"({"conditions":{"users":{"excludeUsers":[")" + healthy_svc_id + R"("]}}})");
    ASSERT_EQ(p.status, 204) << p.body;
    const json after = body_json(graph_call(sim, token, "GET", url));
    EXPECT_EQ(after["conditions"]["users"]["excludeUsers"], json::array({healthy_svc_id}));      // the array sent
    EXPECT_EQ(after["conditions"]["users"]["excludeGroups"], old_exclude_groups);                // sibling kept
    EXPECT_EQ(after["conditions"]["users"]["includeUsers"], json::array({"All"}));               // sibling kept
    EXPECT_EQ(after["conditions"]["clientAppTypes"], before["conditions"]["clientAppTypes"]);    // other branch kept
    EXPECT_EQ(after["grantControls"], before["grantControls"]);
    EXPECT_NE(after.value("modifiedDateTime", ""), before.value("modifiedDateTime", ""));

    // A second PATCH with a shorter array replaces, never appends.
    ASSERT_EQ(graph_call(sim, token, "PATCH", url, R"({"conditions":{"users":{"excludeUsers":[]}}})").status, 204);
    EXPECT_EQ(body_json(graph_call(sim, token, "GET", url))["conditions"]["users"]["excludeUsers"], json::array());

    auto a = graph_call(sim, token, "GET", "/v1.0/auditLogs/directoryAudits?$filter=activityDisplayName%20eq%20'Update%20Conditional%20Access%20policy'");
    const json audits = body_json(a)["value"];
    ASSERT_EQ(audits.size(), 2u) << a.body;
    const json& newest = audits[0];
    EXPECT_EQ(newest["targetResources"][0].value("id", ""), mfa_policy_id);
    const json mod = newest["targetResources"][0]["modifiedProperties"][0];
    EXPECT_EQ(json::parse(mod.value("newValue", "{}"))["conditions"]["users"]["excludeUsers"], json::array());
    EXPECT_EQ(json::parse(mod.value("oldValue", "{}"))["conditions"]["users"]["excludeUsers"], json::array({healthy_svc_id}));

    // Invalid JSON and unknown policies.
    EXPECT_EQ(graph_call(sim, token, "PATCH", url, "{not json").status, 400);
    EXPECT_EQ(graph_call(sim, token, "PATCH", "/v1.0/identity/conditionalAccess/policies/nope", "{}").status, 404);
}

TEST_F(sim_graph, ca_endpoints_allow_one_request_per_second_and_answer_429_without_retry_after) {
    auto first = graph_call(sim, token, "GET", "/v1.0/identity/conditionalAccess/policies");
    ASSERT_EQ(first.status, 200);
    auto second = graph_call(sim, token, "GET", "/v1.0/identity/conditionalAccess/namedLocations");
    ASSERT_EQ(second.status, 429) << second.body;
    EXPECT_TRUE(second.header("Retry-After").empty());
    const json e = body_json(second)["error"];
    EXPECT_EQ(e.value("code", ""), "TooManyRequests");
    EXPECT_EQ(e["innerError"].value("code", ""), "429");
    EXPECT_EQ(e["innerError"].value("status", ""), "429");
    EXPECT_FALSE(e["innerError"].value("request-id", "").empty());
    // Other endpoints are not limited.
    EXPECT_EQ(graph_call(sim, token, "GET", "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy").status, 200);
    // The limiter can be switched off (host-mode tests) and the counts show the 429.
    json counts;
    std::string body;
    ASSERT_EQ(sim.admin("GET", "/_sim/tenants/" + healthy_tenant + "/requests", "", &body), 200);
    counts = json::parse(body);
    EXPECT_EQ(counts.value("throttled", 0), 1);
    EXPECT_EQ(counts["byRoute"].value("GET /v1.0/identity/conditionalAccess/policies", 0), 1);
    ASSERT_EQ(sim.admin("PUT", "/_sim/ca-rate-limit", R"({"enabled":false})"), 200);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(graph_call(sim, token, "GET", "/v1.0/identity/conditionalAccess/policies").status, 200);
}

TEST(sim_graph_paging, lists_page_with_nextlink_and_skiptoken) {
    graph_sim sim(scenarios_dir, {}, {"--page-size", "2", "--ca-rate-limit", "off"});
    const std::string token = app_token(sim);
    std::vector<std::string> ids;
    std::string target = "/v1.0/identity/conditionalAccess/policies?$select=id,displayName";
    int pages = 0;
    while (!target.empty()) {
        auto r = graph_call(sim, token, "GET", target);
        ASSERT_EQ(r.status, 200) << target << ": " << r.body;
        const json b = body_json(r);
        for (const auto& p : b["value"]) ids.push_back(p.value("id", ""));
        ++pages;
        target.clear();
        if (b.contains("@odata.nextLink")) {
            const std::string link = b["@odata.nextLink"];
            ASSERT_EQ(link.rfind(sim.base_url(), 0), 0u) << link;
            EXPECT_NE(link.find("$skiptoken="), std::string::npos);
            EXPECT_NE(link.find("$select=id,displayName"), std::string::npos);  // query carried over
            target = link.substr(sim.base_url().size());
        }
    }
    EXPECT_EQ(pages, 3);
    ASSERT_EQ(ids.size(), 5u);
    EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 5u);
    // $top smaller than the page size wins; $count on the first page only.
    auto top = body_json(graph_call(sim, token, "GET", "/v1.0/users?$top=1&$count=true"));
    EXPECT_EQ(top["value"].size(), 1u);
    EXPECT_EQ(top.value("@odata.count", 0), 4);
    // A bad skiptoken is a 400, not a silent restart.
    EXPECT_EQ(graph_call(sim, token, "GET", "/v1.0/users?$skiptoken=garbage").status, 400);
}

TEST_F(sim_graph, users_memberships_roles_registration_and_per_user_mfa) {
    const std::string svc = "svc-connguard@" + healthy_domain;
    // Default property set unless $select names others (accountEnabled is not in it).
    json u = body_json(graph_call(sim, token, "GET", "/v1.0/users/" + svc));
    EXPECT_EQ(u.value("id", ""), healthy_svc_id);
    EXPECT_EQ(u.value("userPrincipalName", ""), svc);
    EXPECT_FALSE(u.contains("accountEnabled"));
    EXPECT_NE(u.value("@odata.context", "").find("$metadata#users/$entity"), std::string::npos);
    u = body_json(graph_call(sim, token, "GET", "/v1.0/users/" + svc + "?$select=id,accountEnabled,userType"));
    EXPECT_TRUE(u.value("accountEnabled", false));
    EXPECT_EQ(u.value("userType", ""), "Member");
    EXPECT_EQ(graph_call(sim, token, "GET", "/v1.0/users/nobody@" + healthy_domain).status, 404);

    // Transitive membership through the nested group.
    const json groups = body_json(graph_call(sim, token, "GET", "/v1.0/users/" + healthy_svc_id + "/transitiveMemberOf"))["value"];
    std::set<std::string> gids;
    for (const auto& g : groups) gids.insert(g.value("id", ""));
    EXPECT_TRUE(gids.count("7452a2db-063a-4048-84b0-ff691fa2900e"));  // parent of "MSP service accounts"
    EXPECT_TRUE(gids.count("b5e1f0c2-0000-4000-8000-000000000011"));

    // Role assignments: graph.md §7's example id for the same (role, principal) pair.
    const std::string example_principal = "f1847572-48aa-47aa-96a3-2ec61904f41f";
    temp_dir dir;
    json s = json::parse(slurp(scenarios_dir + "/contoso-healthy.json"));
    for (auto& a : s["apps"]) a["certificateFile"] = scenarios_dir + "/certs/connguard-demo.pem";
    s["users"].push_back({{"id", example_principal}, {"userPrincipalName", "example@" + healthy_domain},
                          {"roles", {"62e90394-69f5-4237-9190-012177145e10", "f2ef992c-3afb-46b9-b7cf-a126ee74c451"}}});
    std::ofstream(dir.path() / "t.json") << s.dump();
    graph_sim sim2(dir.path());
    const std::string t2 = app_token(sim2);
    auto ra = graph_call(sim2, t2, "GET", "/v1.0/roleManagement/directory/roleAssignments?$filter=principalId%20eq%20'" + example_principal + "'");
    ASSERT_EQ(ra.status, 200) << ra.body;
    const json rab = body_json(ra);
    EXPECT_NE(rab.value("@odata.context", "").find("$metadata#roleManagement/directory/roleAssignments"), std::string::npos);
    ASSERT_EQ(rab["value"].size(), 2u);
    EXPECT_EQ(rab["value"][0].value("id", ""), "lAPpYvVpN0KRkAEhdxReEHJ1hPGqSKpHlqMuxhkE9B8-1");
    EXPECT_EQ(rab["value"][1].value("id", ""), "LJnv8vs6uUa3z6Em7nTEUXJ1hPGqSKpHlqMuxhkE9B8-1");
    EXPECT_EQ(rab["value"][0].value("principalId", ""), example_principal);
    EXPECT_EQ(rab["value"][0].value("directoryScopeId", ""), "/");
    EXPECT_EQ(rab["value"][0].value("resourceScope", ""), "/");
    EXPECT_EQ(rab["value"][0].value("roleDefinitionId", ""), "62e90394-69f5-4237-9190-012177145e10");
    // Registration details reflect the admin role (isAdmin) until the assignment is deleted.
    auto reg = body_json(graph_call(sim2, t2, "GET", "/v1.0/reports/authenticationMethods/userRegistrationDetails/" + example_principal));
    EXPECT_TRUE(reg.value("isAdmin", false));
    EXPECT_EQ(graph_call(sim2, t2, "DELETE", "/v1.0/roleManagement/directory/roleAssignments/lAPpYvVpN0KRkAEhdxReEHJ1hPGqSKpHlqMuxhkE9B8-1").status, 204);
    EXPECT_EQ(body_json(graph_call(sim2, t2, "GET", "/v1.0/roleManagement/directory/roleAssignments?$filter=principalId%20eq%20'" + example_principal + "'"))["value"].size(), 1u);
    EXPECT_FALSE(body_json(graph_call(sim2, t2, "GET", "/v1.0/reports/authenticationMethods/userRegistrationDetails/" + example_principal)).value("isAdmin", true));
    EXPECT_EQ(graph_call(sim2, t2, "DELETE", "/v1.0/roleManagement/directory/roleAssignments/lAPpYvVpN0KRkAEhdxReEHJ1hPGqSKpHlqMuxhkE9B8-1").status, 404);

    // userRegistrationDetails fields (§6.1), one and filtered list.
    auto one = body_json(graph_call(sim, token, "GET", "/v1.0/reports/authenticationMethods/userRegistrationDetails/" + healthy_svc_id));
    for (const char* k : {"id", "userPrincipalName", "userDisplayName", "userType", "isAdmin", "isMfaRegistered", "isMfaCapable",
                          "isPasswordlessCapable", "isSsprRegistered", "isSsprEnabled", "isSsprCapable", "methodsRegistered",
                          "userPreferredMethodForSecondaryAuthentication", "lastUpdatedDateTime"})
        EXPECT_TRUE(one.contains(k)) << k;
    EXPECT_FALSE(one.value("isMfaRegistered", true));
    EXPECT_EQ(one.value("userType", ""), "member");
    auto list = body_json(graph_call(sim, token, "GET", "/v1.0/reports/authenticationMethods/userRegistrationDetails?$filter=userPrincipalName%20eq%20'" + svc + "'"));
    ASSERT_EQ(list["value"].size(), 1u);
    EXPECT_EQ(list["value"][0].value("id", ""), healthy_svc_id);

    // Per-user MFA (beta only): GET/PATCH, "enabled" becomes "enforced" for a registered user.
    auto pm = graph_call(sim, token, "GET", "/beta/users/" + svc + "/authentication/requirements");
    ASSERT_EQ(pm.status, 200) << pm.body;
    EXPECT_EQ(body_json(pm).value("perUserMfaState", ""), "disabled");
    EXPECT_EQ(graph_call(sim, token, "GET", "/v1.0/users/" + svc + "/authentication/requirements").status, 404);
    EXPECT_EQ(graph_call(sim, token, "PATCH", "/beta/users/" + svc + "/authentication/requirements", R"({"perUserMfaState":"enforced"})").status, 204);
    EXPECT_EQ(body_json(graph_call(sim, token, "GET", "/beta/users/" + svc + "/authentication/requirements")).value("perUserMfaState", ""), "enforced");
    EXPECT_EQ(graph_call(sim, token, "PATCH", "/beta/users/" + svc + "/authentication/requirements", R"({"perUserMfaState":"sometimes"})").status, 400);
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + healthy_tenant + "/users/" + svc, R"({"isMfaRegistered":true})"), 200);
    EXPECT_EQ(graph_call(sim, token, "PATCH", "/beta/users/" + svc + "/authentication/requirements", R"({"perUserMfaState":"enabled"})").status, 204);
    EXPECT_EQ(body_json(graph_call(sim, token, "GET", "/beta/users/" + svc + "/authentication/requirements")).value("perUserMfaState", ""), "enforced");
}

TEST_F(sim_graph, tokens_permissions_and_unknown_paths) {
    // No token, a garbage token, a revoked token: 401 InvalidAuthenticationToken.
    auto none = raw_http(sim.port(), "GET", "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy");
    EXPECT_EQ(none.status, 401);
    EXPECT_EQ(body_json(none)["error"].value("code", ""), "InvalidAuthenticationToken");
    EXPECT_FALSE(none.header("WWW-Authenticate").empty());
    EXPECT_EQ(graph_call(sim, "eyJ.garbage.token", "GET", "/v1.0/users").status, 401);
    // An ROPC token for another resource is not a Graph token.
    auto exo = ropc(sim, healthy_tenant, healthy_app, "svc-connguard@" + healthy_domain, svc_password, "https://outlook.office365.com/.default");
    ASSERT_EQ(exo.status, 200) << exo.body;
    EXPECT_EQ(graph_call(sim, body_json(exo).value("access_token", ""), "GET", "/v1.0/users").status, 401);

    // Missing permission: 403 Authorization_RequestDenied.
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + healthy_tenant + "/apps/" + healthy_app, R"({"permissions":["User.Read.All"]})"), 200);
    auto denied = graph_call(sim, token, "GET", "/v1.0/roleManagement/directory/roleAssignments");
    EXPECT_EQ(denied.status, 403);
    const json e = body_json(denied)["error"];
    EXPECT_EQ(e.value("code", ""), "Authorization_RequestDenied");
    EXPECT_EQ(e.value("message", ""), "Insufficient privileges to complete the operation.");
    EXPECT_FALSE(e["innerError"].value("request-id", "").empty());
    EXPECT_EQ(graph_call(sim, token, "GET", "/v1.0/users").status, 200);

    // Unknown paths: 404 with Graph's error JSON.
    auto unknown = graph_call(sim, token, "GET", "/v1.0/nonsense/path");
    EXPECT_EQ(unknown.status, 404);
    EXPECT_TRUE(body_json(unknown)["error"].contains("code"));

    // Revocation makes the current token fail; a new token works.
    ASSERT_EQ(sim.admin("POST", "/_sim/tenants/" + healthy_tenant + "/tokens/revoke"), 200);
    EXPECT_EQ(graph_call(sim, token, "GET", "/v1.0/users").status, 401);
    EXPECT_EQ(graph_call(sim, app_token(sim), "GET", "/v1.0/users").status, 200);
}

TEST(sim_graph_expiry, expired_tokens_are_refused) {
    graph_sim sim(scenarios_dir, {}, {"--token-lifetime", "1"});
    const std::string token = app_token(sim);
    std::this_thread::sleep_for(std::chrono::milliseconds{2100});
    auto r = graph_call(sim, token, "GET", "/v1.0/users");
    EXPECT_EQ(r.status, 401);
    EXPECT_NE(body_json(r)["error"].value("message", "").find("expired"), std::string::npos);
}

TEST_F(sim_graph, injected_faults) {
    auto set_faults = [&](const std::string& body) {
        std::string resp;
        const int st = sim.admin("PUT", "/_sim/tenants/" + healthy_tenant + "/faults", body, &resp);
        ASSERT_EQ(st, 200) << resp;
    };
    const std::string url = "/v1.0/users/svc-connguard@" + healthy_domain;
    // 429 with a fractional Retry-After, twice (maxCount), then normal again.
    set_faults(R"({"seed":7,"rules":[{"type":"throttle","retryAfter":1.5,"maxCount":2,"pathPrefix":"/v1.0/users"}]})");
    for (int i = 0; i < 2; ++i) {
        auto r = graph_call(sim, token, "GET", url);
        EXPECT_EQ(r.status, 429);
        EXPECT_EQ(r.header("Retry-After"), "1.5");
        EXPECT_EQ(body_json(r)["error"].value("code", ""), "TooManyRequests");
    }
    EXPECT_EQ(graph_call(sim, token, "GET", url).status, 200);
    // Path prefix: other paths are untouched.
    set_faults(R"({"rules":[{"type":"unavailable","pathPrefix":"/v1.0/users"}]})");
    EXPECT_EQ(graph_call(sim, token, "GET", url).status, 503);
    EXPECT_EQ(graph_call(sim, token, "GET", "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy").status, 200);
    // 429 without Retry-After.
    set_faults(R"({"rules":[{"type":"throttle"}]})");
    auto t = graph_call(sim, token, "GET", url);
    EXPECT_EQ(t.status, 429);
    EXPECT_TRUE(t.header("Retry-After").empty());
    // Malformed and truncated JSON: status 200, body not parseable.
    set_faults(R"({"rules":[{"type":"malformedJson"}]})");
    auto m = graph_call(sim, token, "GET", url);
    EXPECT_EQ(m.status, 200);
    EXPECT_TRUE(body_json(m).is_discarded()) << m.body;
    set_faults(R"({"rules":[{"type":"truncatedJson"}]})");
    auto tr = graph_call(sim, token, "GET", url);
    EXPECT_EQ(tr.status, 200);
    EXPECT_TRUE(body_json(tr).is_discarded()) << tr.body;
    // Connection reset: no HTTP answer at all.
    set_faults(R"({"rules":[{"type":"reset"}]})");
    EXPECT_EQ(graph_call(sim, token, "GET", url).status, -1);
    // Latency delays but does not change the answer.
    set_faults(R"({"rules":[{"type":"latency","latencyMs":50}]})");
    EXPECT_EQ(graph_call(sim, token, "GET", url).status, 200);
    // Rates with a seed are reproducible: the same seed gives the same sequence.
    auto sequence = [&] {
        set_faults(R"({"seed":42,"rules":[{"type":"unavailable","rate":0.5}]})");
        std::string seq;
        for (int i = 0; i < 16; ++i) seq += graph_call(sim, token, "GET", url).status == 503 ? 'F' : '.';
        return seq;
    };
    const std::string s1 = sequence();
    EXPECT_EQ(s1, sequence());
    EXPECT_NE(s1.find('F'), std::string::npos);
    EXPECT_NE(s1.find('.'), std::string::npos);
    // Bad fault specs are refused with the field.
    std::string resp;
    EXPECT_EQ(sim.admin("PUT", "/_sim/tenants/" + healthy_tenant + "/faults", R"({"rules":[{"type":"explode"}]})", &resp), 400);
    EXPECT_NE(resp.find("faults.rules[0].type"), std::string::npos) << resp;
    ASSERT_EQ(sim.admin("DELETE", "/_sim/tenants/" + healthy_tenant + "/faults"), 204);
    EXPECT_EQ(graph_call(sim, token, "GET", url).status, 200);
}

TEST(sim_graph_scenarios, a_bad_scenario_is_refused_with_file_field_and_reason) {
    temp_dir dir;
    json s = json::parse(slurp(scenarios_dir + "/fabrikam-mfa.json"));
    for (auto& a : s["apps"]) a["certificateFile"] = scenarios_dir + "/certs/connguard-demo.pem";
    s["users"][0]["id"] = "not-a-guid";
    s["users"][1]["perUserMfaState"] = "sometimes";
    std::ofstream(dir.path() / "broken.json") << s.dump();
    std::string out;
    const int rc = run_command({std::string(CONNGUARD_BIN_DIR) + "/connguard-graph-sim", "--listen", "127.0.0.1:0", "--scenarios",
                                dir.path().string()},
                               &out);
    EXPECT_EQ(rc, 2) << out;
    EXPECT_NE(out.find((dir.path() / "broken.json").string() + ": field 'users[0].id': must be a GUID"), std::string::npos) << out;
    EXPECT_NE(out.find("field 'users[1].perUserMfaState': must be disabled, enabled or enforced"), std::string::npos) << out;
    // Invalid JSON names the file and position; the fixture reports the refusal.
    std::ofstream(dir.path() / "broken.json") << "{\"tenantId\": ";
    EXPECT_THROW(graph_sim(dir.path()), std::runtime_error);
    // --help works.
    EXPECT_EQ(run_command({std::string(CONNGUARD_BIN_DIR) + "/connguard-graph-sim", "--help"}, &out), 0);
    EXPECT_NE(out.find("--scenarios"), std::string::npos);
}

TEST(sim_graph_scenarios, generated_tenants_load_and_sign_in) {
    temp_dir dir;
    std::string out;
    ASSERT_EQ(run_command({std::string(CONNGUARD_SOURCE_DIR) + "/tools/graph-sim/make-tenants", "12", (dir.path() / "tenants").string(),
                           std::string(CONNGUARD_BIN_DIR) + "/connguard-graph-sim"},
                          &out),
              0)
        << out;
    const json index = json::parse(slurp((dir.path() / "tenants-index.json").string()));
    ASSERT_EQ(index.size(), 12u);
    graph_sim sim(dir.path() / "tenants");
    std::set<std::string> tenant_ids;
    for (const auto& t : index) {
        tenant_ids.insert(t.value("tenantId", ""));
        const std::string tok = app_token(sim, t.value("tenantId", ""), t.value("appId", ""), t.value("clientSecret", ""));
        EXPECT_EQ(graph_call(sim, tok, "GET", "/v1.0/users/" + t.value("connectionAccount", "")).status, 200);
        auto r = ropc(sim, t.value("tenantId", ""), t.value("appId", ""), t.value("connectionAccount", ""), t.value("password", ""));
        if (t.value("problem", "") == "none") {
            EXPECT_EQ(r.status, 200) << r.body;
        } else {
            EXPECT_EQ(r.status, 400) << t.value("problem", "") << ": " << r.body;
        }
    }
    EXPECT_EQ(tenant_ids.size(), 12u);
    std::string counts;
    ASSERT_EQ(sim.admin("GET", "/_sim/requests", "", &counts), 200);
    EXPECT_EQ(json::parse(counts)["tenants"].size(), 12u);
    EXPECT_EQ(sim.admin("DELETE", "/_sim/requests"), 204);
    ASSERT_EQ(sim.admin("GET", "/_sim/requests", "", &counts), 200);
    EXPECT_EQ(json::parse(counts).value("total", -1), 0);
}

}  // namespace
}  // namespace connguard::test::sim
