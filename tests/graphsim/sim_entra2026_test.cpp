// connguard-graph-sim's 2024-2026 Entra behaviour (graph.md §4.1, §8.5, §8.6, §11): relative times
// in scenarios, Microsoft-managed policies and their audit trail, directoryAudits $filter, the beta
// sign-in log, the evaluate (What If) API, the entra-2026 scenarios and the newer AADSTS codes.
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <set>

#include "common/clock.h"
#include "tests/graphsim/sim_test_util.h"
#include "tests/support/process.h"

namespace connguard::test::sim {
namespace {

const std::string entra_dir = scenarios_dir + "/entra-2026";

// tools/graph-sim/scenarios/tailspin-managed.json
const std::string tailspin_tenant = "6f1c9a52-3c1e-4b8e-9d4a-1a2b3c4d5e04";
const std::string tailspin_app = "3f2a7c10-5b8e-4d21-9a6f-0c1d2e3f4004";
const std::string tailspin_secret = "sim-secret-04~not-a-real-secret";
const std::string tailspin_svc = "svc-connguard@tailspin-managed.onmicrosoft.com";
const std::string tailspin_svc_id = "a1b2c3d4-0000-4000-8000-000000000041";
const std::string tailspin_managed_id = "4200930c-0000-4000-8000-000000000004";
const std::string exo_tool = "fb78d390-0c51-40cd-8e17-fdbfab77341b";
const std::string mmpm = "Microsoft Managed Policy Manager";

/// The entra-2026 scenario NN (10..19): tenant, domain, app, secret, account.
struct entra_tenant {
    std::string tenant, domain, app, secret, account, account_id;
};
entra_tenant entra(const std::string& nn, const std::string& name) {
    return {"6f1c9a52-3c1e-4b8e-9d4a-1a2b3c4d5e" + nn,
            name + ".onmicrosoft.com",
            "3f2a7c10-5b8e-4d21-9a6f-0c1d2e3f40" + nn,
            "sim-secret-" + nn + "~not-a-real-secret",
            "svc-connguard@" + name + ".onmicrosoft.com",
            "a1b2c3d4-0000-4000-8000-0000000010" + nn};
}

std::string q(const std::string& v) { return enc(v); }

double days_between(const std::string& a, const std::string& b) {
    clock::time_point ta{}, tb{};
    EXPECT_TRUE(parse_rfc3339(a, ta)) << a;
    EXPECT_TRUE(parse_rfc3339(b, tb)) << b;
    return std::chrono::duration<double>(tb - ta).count() / 86400.0;
}

std::string now_text() { return format_rfc3339(std::chrono::system_clock::now()); }

json evaluate_body(const std::string& user_id, const std::string& app = "00000003-0000-0000-c000-000000000000") {
    return json{{"signInIdentity", {{"@odata.type", "#microsoft.graph.userSignIn"}, {"userId", user_id}}},
                {"signInContext", {{"@odata.type", "#microsoft.graph.applicationContext"}, {"includeApplications", {app}}}},
                {"signInConditions", {{"clientAppType", "mobileAppsAndDesktopClients"}}}};
}

raw_http_response graph_get(const graph_sim& s, const std::string& token, const std::string& target,
                             const std::vector<std::pair<std::string, std::string>>& extra = {}) {
    std::vector<std::pair<std::string, std::string>> h{{"Authorization", "Bearer " + token}};
    for (const auto& e : extra) h.push_back(e);
    return raw_http(s.port(), "GET", target, "", h);
}

// ---- shipped scenarios: tailspin-managed ------------------------------------------------------

class sim_tailspin : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_EQ(sim.admin("PUT", "/_sim/ca-rate-limit", R"({"enabled":false})"), 200);
        token = app_token(sim, tailspin_tenant, tailspin_app, tailspin_secret);
    }
    json managed_policy() {
        auto r = graph_call(sim, token, "GET", "/v1.0/identity/conditionalAccess/policies/" + tailspin_managed_id);
        EXPECT_EQ(r.status, 200) << r.body;
        return body_json(r);
    }
    json audits(const std::string& filter, const std::string& extra = "") {
        auto r = graph_call(sim, token, "GET", "/v1.0/auditLogs/directoryAudits?$filter=" + q(filter) + extra);
        EXPECT_EQ(r.status, 200) << r.body;
        return body_json(r);
    }
    graph_sim sim{scenarios_dir};
    std::string token;
};

TEST_F(sim_tailspin, the_shipped_folder_has_four_tenants_and_tailspin_signs_in) {
    std::string out;
    ASSERT_EQ(sim.admin("GET", "/_sim/health", "", &out), 200);
    EXPECT_EQ(json::parse(out).value("tenants", 0), 4) << out;
    EXPECT_EQ(run_command({std::string(CONNGUARD_BIN_DIR) + "/connguard-graph-sim", "--check", "--scenarios", scenarios_dir}, &out), 0)
        << out;
    // The managed policy is report-only: the connection account still gets its token.
    auto r = ropc(sim, tailspin_tenant, tailspin_app, tailspin_svc, svc_password);
    EXPECT_EQ(r.status, 200) << r.body;
    // The app has every permission the agent needs, AuditLog.Read.All included, and is a public client.
    ASSERT_EQ(sim.admin("GET", "/_sim/tenants/" + tailspin_tenant, "", &out), 200);
    const json t = json::parse(out);
    const json perms = t["apps"][0]["permissions"];
    for (const char* p : {"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess", "User.Read.All", "AuditLog.Read.All",
                          "RoleManagement.ReadWrite.Directory", "GroupMember.Read.All"})
        EXPECT_NE(std::find(perms.begin(), perms.end(), p), perms.end()) << p;
    EXPECT_TRUE(t["apps"][0].value("publicClient", false));
    EXPECT_TRUE(t.value("entraIdPremium", false));
}

TEST_F(sim_tailspin, sim_created_days_ago_sets_created_date_time_and_is_never_served) {
    const json p = managed_policy();
    EXPECT_FALSE(p.contains("simCreatedDaysAgo")) << p.dump();
    EXPECT_EQ(p.value("templateId", ""), "4200930c-0da2-4e33-ca01-000000000004");
    EXPECT_EQ(p.value("state", ""), "enabledForReportingButNotEnforced");
    EXPECT_TRUE(p["modifiedDateTime"].is_null());
    const std::string created = p.value("createdDateTime", "");
    // Graph's form: 7 fractional digits, UTC with Z.
    ASSERT_EQ(created.size(), 28u) << created;
    EXPECT_EQ(created[19], '.');
    EXPECT_EQ(created.back(), 'Z');
    EXPECT_NEAR(days_between(created, now_text()), 40.0, 0.01) << created;
    // Other policies keep their dates exactly as given.
    auto r = graph_call(sim, token, "GET", "/v1.0/identity/conditionalAccess/policies/809741fe-fb1b-4746-9ff0-83a978a4c891");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(body_json(r).value("createdDateTime", ""), "2026-02-13T11:37:41.7574033Z");
    EXPECT_EQ(body_json(r).value("modifiedDateTime", ""), "2026-02-13T12:19:57.1916067Z");
    // The admin API resolves the key too (and strips it).
    std::string out;
    ASSERT_EQ(sim.admin("POST", "/_sim/tenants/" + tailspin_tenant + "/policies",
                        R"({"displayName":"Fresh","state":"disabled","simCreatedDaysAgo":1.5,
                            "conditions":{"users":{"includeUsers":["None"]},"applications":{"includeApplications":["All"]},"clientAppTypes":["all"]},
                            "grantControls":{"operator":"OR","builtInControls":["mfa"]}})",
                        &out),
              201)
        << out;
    const json fresh = json::parse(out);
    EXPECT_FALSE(fresh.contains("simCreatedDaysAgo"));
    EXPECT_NEAR(days_between(fresh.value("createdDateTime", ""), now_text()), 1.5, 0.01);
    EXPECT_EQ(sim.admin("POST", "/_sim/tenants/" + tailspin_tenant + "/policies", R"({"displayName":"x","simCreatedDaysAgo":"old"})", &out),
              400);
    EXPECT_NE(out.find("simCreatedDaysAgo"), std::string::npos) << out;
}

TEST_F(sim_tailspin, a_managed_policy_has_microsofts_add_audit_at_its_creation) {
    const json p = managed_policy();
    const json a = audits("category eq 'Policy' and initiatedBy/app/displayName eq '" + mmpm + "'");
    ASSERT_EQ(a["value"].size(), 1u) << a.dump();
    const json e = a["value"][0];
    EXPECT_EQ(e.value("activityDisplayName", ""), "Add Conditional Access policy");
    EXPECT_EQ(e.value("loggedByService", ""), "Conditional Access");
    EXPECT_EQ(e.value("result", ""), "success");
    EXPECT_EQ(e.value("activityDateTime", ""), p.value("createdDateTime", "?"));
    EXPECT_TRUE(e["initiatedBy"]["user"].is_null());
    const json app = e["initiatedBy"]["app"];
    EXPECT_EQ(app.value("displayName", ""), mmpm);
    EXPECT_EQ(app.value("servicePrincipalName", ""), mmpm);
    EXPECT_EQ(app.value("appId", ""), "7d1c4f5e-2a3b-4c8d-9e0f-4200930cca01");
    EXPECT_FALSE(app.value("servicePrincipalId", "").empty());
    const json target = e["targetResources"][0];
    EXPECT_EQ(target.value("id", ""), tailspin_managed_id);
    EXPECT_EQ(target.value("type", ""), "Policy");
    EXPECT_EQ(target.value("displayName", ""), "Microsoft-managed: Multifactor authentication for all users");
    const json mod = target["modifiedProperties"][0];
    EXPECT_EQ(mod.value("displayName", ""), "ConditionalAccessPolicy");
    EXPECT_EQ(mod.value("oldValue", "?"), "");
    const json blob = json::parse(mod.value("newValue", "{}"));
    EXPECT_EQ(blob.value("id", ""), tailspin_managed_id);
    EXPECT_FALSE(blob.contains("simCreatedDaysAgo"));
    EXPECT_EQ(blob.value("createdDateTime", ""), p.value("createdDateTime", "?"));
    // A null app (the portal admin's entries) never matches a path into it.
    const json none = audits("initiatedBy/app/displayName eq 'Tenant Administrator'");
    EXPECT_TRUE(none["value"].empty());
}

TEST_F(sim_tailspin, microsoft_switches_a_managed_policy_on_through_the_admin_api) {
    const json before = managed_policy();
    std::string out;
    EXPECT_EQ(sim.admin("PATCH", "/_sim/tenants/" + tailspin_tenant + "/policies/" + tailspin_managed_id + "?initiatedBy=microsoft",
                        R"({"state":"enabled"})", &out),
              200)
        << out;
    // An admin change (no flag) and a Graph PATCH keep their own initiators.
    EXPECT_EQ(sim.admin("PATCH", "/_sim/tenants/" + tailspin_tenant + "/policies/" + tailspin_managed_id,
                        R"({"conditions":{"users":{"excludeUsers":[")" + tailspin_svc_id + R"("]}}})"),
              200);
    EXPECT_EQ(graph_call(sim, token, "PATCH", "/v1.0/identity/conditionalAccess/policies/" + tailspin_managed_id,
                         R"({"displayName":"Microsoft-managed: Multifactor authentication for all users"})")
                  .status,
              204);
    const json p = managed_policy();
    EXPECT_EQ(p.value("state", ""), "enabled");
    EXPECT_EQ(p.value("createdDateTime", ""), before.value("createdDateTime", "?"));
    EXPECT_FALSE(p["modifiedDateTime"].is_null());

    const json ms = audits("initiatedBy/app/displayName eq '" + mmpm + "'");
    ASSERT_EQ(ms["value"].size(), 2u) << ms.dump();
    EXPECT_EQ(ms["value"][0].value("activityDisplayName", ""), "Update Conditional Access policy");  // newest first
    EXPECT_EQ(ms["value"][1].value("activityDisplayName", ""), "Add Conditional Access policy");
    const json mod = ms["value"][0]["targetResources"][0]["modifiedProperties"][0];
    EXPECT_EQ(json::parse(mod.value("oldValue", "{}")).value("state", ""), "enabledForReportingButNotEnforced");
    EXPECT_EQ(json::parse(mod.value("newValue", "{}")).value("state", ""), "enabled");

    // Every Policy entry since yesterday: the three updates, newest first, in activityDateTime order.
    const std::string since = format_rfc3339(std::chrono::system_clock::now() - std::chrono::hours(24));
    const json recent = audits("category eq 'Policy' and activityDateTime ge " + since);
    ASSERT_EQ(recent["value"].size(), 3u) << recent.dump();
    EXPECT_EQ(recent["value"][0]["initiatedBy"]["app"].value("appId", ""), tailspin_app);
    EXPECT_TRUE(recent["value"][1]["initiatedBy"]["app"].is_null());
    EXPECT_EQ(recent["value"][1]["initiatedBy"]["user"].value("displayName", ""), "Tenant Administrator");
    EXPECT_EQ(recent["value"][2]["initiatedBy"]["app"].value("displayName", ""), mmpm);
    // The whole list is newest first by activityDateTime (seeded entries at their dates).
    auto all = graph_call(sim, token, "GET", "/v1.0/auditLogs/directoryAudits");
    const json items = body_json(all)["value"];
    ASSERT_GE(items.size(), 4u);
    for (std::size_t i = 1; i < items.size(); ++i)
        EXPECT_GE(days_between(items[i].value("activityDateTime", ""), items[i - 1].value("activityDateTime", "")), 0.0) << i;
    // $top and paging.
    const json page = audits("category eq 'Policy'", "&$top=2");
    ASSERT_EQ(page["value"].size(), 2u);
    ASSERT_TRUE(page.contains("@odata.nextLink"));
    const std::string next = page["@odata.nextLink"].get<std::string>().substr(sim.base_url().size());
    auto p2 = graph_call(sim, token, "GET", next);
    ASSERT_EQ(p2.status, 200) << p2.body;
    EXPECT_EQ(body_json(p2)["value"].size(), 2u) << p2.body;
    EXPECT_FALSE(body_json(p2).contains("@odata.nextLink"));
    EXPECT_EQ(sim.admin("PATCH", "/_sim/tenants/" + tailspin_tenant + "/policies/" + tailspin_managed_id + "?initiatedBy=someone", "{}"),
              400);
}

TEST_F(sim_tailspin, beta_sign_in_log_filters_by_event_type_user_and_time) {
    const std::string filter = "signInEventTypes/any(t: t eq 'nonInteractiveUser') and userId eq '" + tailspin_svc_id + "'";
    auto r = graph_call(sim, token, "GET", "/beta/auditLogs/signIns?$filter=" + q(filter));
    ASSERT_EQ(r.status, 200) << r.body;
    const json b = body_json(r);
    EXPECT_NE(b.value("@odata.context", "").find("/beta/$metadata#auditLogs/signIns"), std::string::npos);
    const json v = b["value"];
    ASSERT_EQ(v.size(), 3u) << r.body;
    for (std::size_t i = 0; i < v.size(); ++i) {
        EXPECT_EQ(v[i].value("appId", ""), exo_tool);
        EXPECT_EQ(v[i].value("resourceId", ""), "00000002-0000-0ff1-ce00-000000000000");
        EXPECT_EQ(v[i].value("ipAddress", ""), "198.51.100.20");
        EXPECT_EQ(v[i]["location"].value("countryOrRegion", ""), "NL");
        EXPECT_EQ(v[i].value("userId", ""), tailspin_svc_id);
        EXPECT_EQ(v[i].value("userPrincipalName", ""), tailspin_svc);
        EXPECT_FALSE(v[i].value("userDisplayName", "").empty());
        EXPECT_FALSE(v[i].value("isInteractive", true));
        EXPECT_EQ(v[i]["status"].value("errorCode", -1), 0);
        EXPECT_TRUE(v[i]["status"].contains("failureReason"));
        EXPECT_EQ(v[i].value("id", "").size(), 36u);
        EXPECT_FALSE(v[i].contains("simMinutesAgo"));
        // reportOnlyInterrupted is an "unknown" enum member: hidden without the Prefer header.
        EXPECT_EQ(v[i]["appliedConditionalAccessPolicies"][0].value("result", ""), "unknownFutureValue");
        if (i > 0) {
            EXPECT_GT(days_between(v[i].value("createdDateTime", ""), v[i - 1].value("createdDateTime", "")), 0.0);
        }
    }
    EXPECT_NEAR(days_between(v[0].value("createdDateTime", ""), now_text()) * 24 * 60, 12.0, 0.5);
    // With Prefer: include-unknown-enum-members the real value is served.
    auto pr = graph_get(sim, token, "/beta/auditLogs/signIns?$filter=" + q(filter), {{"Prefer", "include-unknown-enum-members"}});
    ASSERT_EQ(pr.status, 200) << pr.body;
    EXPECT_EQ(body_json(pr)["value"][0]["appliedConditionalAccessPolicies"][0].value("result", ""), "reportOnlyInterrupted");
    // The lambda variable may have any name; createdDateTime gt keeps only the newer entries.
    const std::string since = format_rfc3339(std::chrono::system_clock::now() - std::chrono::minutes(100));
    auto r2 = graph_call(sim, token, "GET",
                         "/beta/auditLogs/signIns?$filter=" +
                             q("signInEventTypes/any(evt: evt eq 'nonInteractiveUser') and createdDateTime gt " + since +
                               " and appId eq '" + exo_tool + "'"));
    ASSERT_EQ(r2.status, 200) << r2.body;
    EXPECT_EQ(body_json(r2)["value"].size(), 2u) << r2.body;
    // $top and paging.
    auto r3 = graph_call(sim, token, "GET", "/beta/auditLogs/signIns?$top=2&$filter=" + q(filter));
    ASSERT_EQ(r3.status, 200);
    ASSERT_EQ(body_json(r3)["value"].size(), 2u);
    const std::string next = body_json(r3).value("@odata.nextLink", "");
    ASSERT_FALSE(next.empty());
    auto r4 = graph_call(sim, token, "GET", next.substr(sim.base_url().size()));
    ASSERT_EQ(r4.status, 200) << r4.body;
    EXPECT_EQ(body_json(r4)["value"].size(), 1u);
    EXPECT_EQ(graph_call(sim, token, "GET", "/beta/auditLogs/signIns?$top=1001").status, 400);
    EXPECT_EQ(graph_call(sim, token, "GET", "/beta/auditLogs/signIns?$filter=" + q("signInEventTypes/any(t: u eq 'x')")).status, 400);
    // v1.0 knows no signInEventTypes and has the interactive sign-ins only.
    EXPECT_EQ(graph_call(sim, token, "GET", "/v1.0/auditLogs/signIns?$filter=" + q(filter)).status, 400);
    auto v1 = graph_call(sim, token, "GET", "/v1.0/auditLogs/signIns");
    ASSERT_EQ(v1.status, 200) << v1.body;
    EXPECT_TRUE(body_json(v1)["value"].empty()) << v1.body;
}

TEST_F(sim_tailspin, every_ropc_answer_is_an_interactive_sign_in) {
    ASSERT_EQ(ropc(sim, tailspin_tenant, tailspin_app, tailspin_svc, svc_password, "https://outlook.office365.com/.default").status, 200);
    ASSERT_EQ(ropc(sim, tailspin_tenant, tailspin_app, tailspin_svc, "wrong").status, 400);
    auto r = graph_get(sim, token, "/beta/auditLogs/signIns?$filter=" + q("signInEventTypes/any(t: t eq 'interactiveUser')"),
                       {{"Prefer", "include-unknown-enum-members"}});
    ASSERT_EQ(r.status, 200) << r.body;
    const json v = body_json(r)["value"];
    ASSERT_EQ(v.size(), 2u) << r.body;
    const json bad = v[0], good = v[1];  // newest first
    EXPECT_EQ(bad["status"].value("errorCode", 0), 50126);
    EXPECT_NE(bad["status"].value("failureReason", "").find("Invalid username or password"), std::string::npos);
    EXPECT_TRUE(bad["appliedConditionalAccessPolicies"].empty());
    EXPECT_EQ(good["status"].value("errorCode", -1), 0);
    EXPECT_TRUE(good.value("isInteractive", false));
    EXPECT_EQ(good.value("appId", ""), tailspin_app);
    EXPECT_EQ(good.value("resourceId", ""), "00000002-0000-0ff1-ce00-000000000000");
    EXPECT_EQ(good.value("clientAppUsed", ""), "Mobile Apps and Desktop clients");
    EXPECT_EQ(good.value("ipAddress", ""), "127.0.0.1");
    EXPECT_EQ(good.value("authenticationProtocol", ""), "ropc");
    EXPECT_EQ(good.value("userId", ""), tailspin_svc_id);
    // The report-only managed policy would have interrupted the sign-in (MFA).
    bool managed_seen = false;
    for (const auto& p : good["appliedConditionalAccessPolicies"])
        if (p.value("id", "") == tailspin_managed_id) {
            managed_seen = true;
            EXPECT_EQ(p.value("result", ""), "reportOnlyInterrupted");
        }
    EXPECT_TRUE(managed_seen) << good.dump();
    // v1.0 lists them (interactive) without the beta-only properties.
    auto v1 = graph_call(sim, token, "GET", "/v1.0/auditLogs/signIns");
    ASSERT_EQ(v1.status, 200);
    ASSERT_EQ(body_json(v1)["value"].size(), 2u);
    EXPECT_FALSE(body_json(v1)["value"][0].contains("signInEventTypes"));
    EXPECT_TRUE(body_json(v1)["value"][0].value("isInteractive", false));
}

TEST_F(sim_tailspin, sign_ins_need_audit_log_read_all) {
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + tailspin_tenant + "/apps/" + tailspin_app, R"({"permissions":["Policy.Read.All"]})"), 200);
    for (const char* path : {"/beta/auditLogs/signIns", "/v1.0/auditLogs/signIns"}) {
        auto r = graph_call(sim, token, "GET", path);
        EXPECT_EQ(r.status, 403) << r.body;
        EXPECT_EQ(body_json(r)["error"].value("code", ""), "Authorization_RequestDenied");
    }
}

TEST(sim_fabrikam_signins, a_ca_failure_names_the_policies_of_capolids) {
    graph_sim sim(scenarios_dir);
    const std::string token = app_token(sim, mfa_tenant, mfa_app, "sim-secret-02~not-a-real-secret");
    auto r = ropc(sim, mfa_tenant, mfa_app, "svc-connguard@" + mfa_domain, svc_password);
    ASSERT_EQ(r.status, 400);
    auto s = graph_call(sim, token, "GET", "/v1.0/auditLogs/signIns");
    ASSERT_EQ(s.status, 200) << s.body;
    const json e = body_json(s)["value"][0];
    EXPECT_EQ(e["status"].value("errorCode", 0), 50076);
    EXPECT_EQ(e.value("conditionalAccessStatus", ""), "failure");
    bool failed = false;
    for (const auto& p : e["appliedConditionalAccessPolicies"])
        if (p.value("result", "") == "failure") {
            EXPECT_EQ(p.value("id", ""), mfa_policy_id);
            failed = true;
        }
    EXPECT_TRUE(failed) << e.dump();
}

TEST(sim_admin_signins, post_fills_get_lists_delete_clears_and_5000_are_kept) {
    graph_sim sim(scenarios_dir);
    const std::string base = "/_sim/tenants/" + tailspin_tenant + "/signins";
    std::string out;
    ASSERT_EQ(sim.admin("POST", base,
                        R"({"userPrincipalName":")" + tailspin_svc + R"(","appId":")" + exo_tool +
                            R"(","simMinutesAgo":5,"appliedConditionalAccessPolicies":[{"id":"x","displayName":"x","result":"failure"}],
                            "status":{"errorCode":53003}})",
                        &out),
              201)
        << out;
    const json one = json::parse(out);
    EXPECT_EQ(one.value("userId", ""), tailspin_svc_id);
    EXPECT_EQ(one.value("conditionalAccessStatus", ""), "failure");
    EXPECT_FALSE(one.value("isInteractive", true));
    EXPECT_EQ(one["signInEventTypes"], json::array({"nonInteractiveUser"}));
    EXPECT_TRUE(one["status"]["failureReason"].is_null());
    EXPECT_TRUE(one["status"]["additionalDetails"].is_null());
    EXPECT_FALSE(one.contains("simMinutesAgo"));
    ASSERT_EQ(sim.admin("POST", base, R"([{"signInEventTypes":["interactiveUser"]},{"appliedConditionalAccessPolicies":[{"result":"success"}]}])", &out),
              201)
        << out;
    const json two = json::parse(out)["value"];
    ASSERT_EQ(two.size(), 2u);
    EXPECT_TRUE(two[0].value("isInteractive", false));
    EXPECT_EQ(two[0].value("conditionalAccessStatus", ""), "notApplied");
    EXPECT_EQ(two[1].value("conditionalAccessStatus", ""), "success");
    ASSERT_EQ(sim.admin("GET", base, "", &out), 200);
    EXPECT_EQ(json::parse(out)["value"].size(), 6u);  // 3 from the scenario
    EXPECT_EQ(sim.admin("POST", base, R"({"simMinutesAgo":"soon"})", &out), 400);
    EXPECT_NE(out.find("simMinutesAgo"), std::string::npos);
    ASSERT_EQ(sim.admin("DELETE", base), 204);
    ASSERT_EQ(sim.admin("GET", base, "", &out), 200);
    EXPECT_TRUE(json::parse(out)["value"].empty());
    // At most 5000 per tenant: the oldest go.
    json many = json::array();
    for (int i = 0; i < 5001; ++i) many.push_back({{"simMinutesAgo", 5001 - i}, {"appId", exo_tool}});
    ASSERT_EQ(sim.admin("POST", base, many.dump(), &out), 201);
    ASSERT_EQ(sim.admin("GET", base, "", &out), 200);
    const json kept = json::parse(out)["value"];
    ASSERT_EQ(kept.size(), 5000u);
    EXPECT_NEAR(days_between(kept.back().value("createdDateTime", ""), now_text()) * 24 * 60, 5000.0, 0.5);
}

// ---- entra-2026 scenarios -------------------------------------------------------------------

class sim_entra2026 : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_EQ(sim.admin("PUT", "/_sim/ca-rate-limit", R"({"enabled":false})"), 200); }
    std::string token_of(const entra_tenant& t) { return app_token(sim, t.tenant, t.app, t.secret); }
    raw_http_response ropc_of(const entra_tenant& t, const std::string& scope = "https://graph.microsoft.com/.default") {
        return ropc(sim, t.tenant, t.app, t.account, svc_password, scope);
    }
    graph_sim sim{entra_dir};
};

TEST_F(sim_entra2026, every_scenario_loads_with_check) {
    std::string out;
    EXPECT_EQ(run_command({std::string(CONNGUARD_BIN_DIR) + "/connguard-graph-sim", "--check", "--scenarios", entra_dir}, &out), 0)
        << out;
    EXPECT_NE(out.find("10 tenant scenarios"), std::string::npos) << out;
    ASSERT_EQ(sim.admin("GET", "/_sim/health", "", &out), 200);
    EXPECT_EQ(json::parse(out).value("tenants", 0), 10);
}

TEST_F(sim_entra2026, managed_policies_are_dated_relative_to_load_and_stay_report_only) {
    const std::pair<const char*, double> cases[] = {{"10", 10.0}, {"11", 40.0}, {"12", 60.0}};
    const char* names[] = {"managed-far", "managed-near", "managed-past"};
    for (std::size_t i = 0; i < 3; ++i) {
        const entra_tenant t = entra(cases[i].first, names[i]);
        const std::string token = token_of(t);
        auto r = graph_call(sim, token, "GET", "/v1.0/identity/conditionalAccess/policies");
        ASSERT_EQ(r.status, 200) << r.body;
        const json p = body_json(r)["value"][0];
        EXPECT_EQ(p.value("state", ""), "enabledForReportingButNotEnforced") << names[i];
        EXPECT_EQ(p.value("templateId", "").rfind("4200930c-0da2-4e33-ca01-", 0), 0u);
        EXPECT_NEAR(days_between(p.value("createdDateTime", ""), now_text()), cases[i].second, 0.01) << names[i];
        auto a = graph_call(sim, token, "GET",
                            "/v1.0/auditLogs/directoryAudits?$filter=" + q("initiatedBy/app/displayName eq '" + mmpm + "'"));
        ASSERT_EQ(body_json(a)["value"].size(), 1u) << a.body;
        EXPECT_EQ(body_json(a)["value"][0].value("activityDateTime", ""), p.value("createdDateTime", "?"));
        EXPECT_EQ(ropc_of(t).status, 200) << names[i];
    }
}

TEST_F(sim_entra2026, security_defaults_scenarios) {
    // No role, no MFA method: Security Defaults demand registration (no grace since 2024-07-29).
    expect_aad_error(ropc_of(entra("13", "secdefaults-unregistered")), 400, "interaction_required", 50079);
    // Directory Synchronization Accounts are exempt (graph.md §11.3).
    EXPECT_EQ(ropc_of(entra("14", "sync-account-exempt")).status, 200);
}

TEST_F(sim_entra2026, token_protection_blocks_office365_resources_only) {
    const entra_tenant t = entra("15", "token-protection");
    EXPECT_EQ(ropc_of(t).status, 200);
    const json b = expect_aad_error(ropc_of(t, "https://outlook.office365.com/.default"), 400, "invalid_grant", 53003);
    EXPECT_NE(b.value("claims", "").find("5e1f0c2a-0000-4000-8000-000000000015"), std::string::npos) << b.dump();
}

TEST_F(sim_entra2026, signin_log_failure_shows_the_tool_blocked_while_ropc_succeeds) {
    const entra_tenant t = entra("16", "signin-log-failure");
    const std::string token = token_of(t);
    // The probe carries no location Entra could see: the location policy is notEnoughInformation.
    EXPECT_EQ(ropc_of(t, "https://outlook.office365.com/.default").status, 200);
    auto ev = graph_call(sim, token, "POST", "/v1.0/identity/conditionalAccess/evaluate", evaluate_body(t.account_id).dump());
    ASSERT_EQ(ev.status, 200) << ev.body;
    EXPECT_FALSE(body_json(ev)["value"][0].value("policyApplies", true));
    EXPECT_EQ(body_json(ev)["value"][0].value("analysisReasons", ""), "notEnoughInformation");
    auto r = graph_call(sim, token, "GET",
                        "/beta/auditLogs/signIns?$filter=" +
                            q("signInEventTypes/any(t: t eq 'nonInteractiveUser') and userId eq '" + t.account_id + "'"));
    ASSERT_EQ(r.status, 200) << r.body;
    const json v = body_json(r)["value"];
    ASSERT_EQ(v.size(), 1u) << r.body;
    EXPECT_EQ(v[0]["status"].value("errorCode", 0), 53003);
    EXPECT_EQ(v[0]["status"].value("failureReason", ""),
              "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.");
    EXPECT_EQ(v[0].value("conditionalAccessStatus", ""), "failure");
    EXPECT_EQ(v[0].value("ipAddress", ""), "203.0.113.7");
    EXPECT_EQ(v[0]["location"].value("countryOrRegion", ""), "DE");
    EXPECT_EQ(v[0].value("appId", ""), exo_tool);
    EXPECT_EQ(v[0]["appliedConditionalAccessPolicies"][0].value("result", ""), "failure");
    EXPECT_NEAR(days_between(v[0].value("createdDateTime", ""), now_text()) * 24 * 60, 20.0, 0.5);
}

TEST_F(sim_entra2026, evaluate_answers_from_declared_answers_else_from_the_model) {
    const entra_tenant t = entra("17", "evaluate-disagreement");
    const std::string token = token_of(t);
    const std::string policy_id = "5e1f0c2a-0000-4000-8000-000000000017";
    for (const char* version : {"v1.0", "beta"}) {
        auto r = graph_call(sim, token, "POST", std::string("/") + version + "/identity/conditionalAccess/evaluate",
                            evaluate_body(t.account_id).dump());
        ASSERT_EQ(r.status, 200) << r.body;
        const json b = body_json(r);
        EXPECT_NE(b.value("@odata.context", "").find(std::string("/") + version + "/$metadata#Collection(microsoft.graph.whatIfAnalysisResult)"),
                  std::string::npos);
        ASSERT_EQ(b["value"].size(), 1u);
        const json p = b["value"][0];
        EXPECT_EQ(p.value("id", ""), policy_id);
        EXPECT_EQ(p.value("displayName", ""), "Require MFA for all users");
        EXPECT_TRUE(p.contains("conditions"));
        EXPECT_TRUE(p.contains("grantControls"));
        EXPECT_TRUE(p.value("policyApplies", false));  // the declared answer
        EXPECT_EQ(p.value("analysisReasons", ""), "notSet");
    }
    // The engine (and so the token endpoint) disagrees: the account is excluded.
    EXPECT_EQ(ropc_of(t).status, 200);
    std::string out;
    ASSERT_EQ(sim.admin("GET", "/_sim/tenants/" + t.tenant + "/whatif-answers", "", &out), 200);
    EXPECT_TRUE(json::parse(out).contains(policy_id));
    ASSERT_EQ(sim.admin("PUT", "/_sim/tenants/" + t.tenant + "/whatif-answers", "{}"), 200);
    auto r = graph_call(sim, token, "POST", "/v1.0/identity/conditionalAccess/evaluate", evaluate_body(t.account_id).dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_FALSE(body_json(r)["value"][0].value("policyApplies", true));
    EXPECT_EQ(body_json(r)["value"][0].value("analysisReasons", ""), "users");
    // appliedPoliciesOnly keeps the applying ones: none now; the admin user gets the policy.
    json only = evaluate_body(t.account_id);
    only["appliedPoliciesOnly"] = true;
    r = graph_call(sim, token, "POST", "/v1.0/identity/conditionalAccess/evaluate", only.dump());
    EXPECT_TRUE(body_json(r)["value"].empty()) << r.body;
    only["signInIdentity"]["userId"] = "a1b2c3d4-0000-4000-8000-000000002017";
    r = graph_call(sim, token, "POST", "/v1.0/identity/conditionalAccess/evaluate", only.dump());
    ASSERT_EQ(body_json(r)["value"].size(), 1u) << r.body;
    EXPECT_TRUE(body_json(r)["value"][0].value("policyApplies", false));
    // PUT replaces; a policy that does not exist is refused.
    ASSERT_EQ(sim.admin("PUT", "/_sim/tenants/" + t.tenant + "/whatif-answers",
                        R"({")" + policy_id + R"(":{"policyApplies":false,"analysisReasons":"users,location"}})"),
              200);
    r = graph_call(sim, token, "POST", "/v1.0/identity/conditionalAccess/evaluate", evaluate_body(t.account_id).dump());
    EXPECT_EQ(body_json(r)["value"][0].value("analysisReasons", ""), "users,location");
    EXPECT_EQ(sim.admin("PUT", "/_sim/tenants/" + t.tenant + "/whatif-answers", R"({"nope":{"policyApplies":true}})", &out), 400);
    EXPECT_NE(out.find("whatIfAnswers.nope"), std::string::npos) << out;
}

TEST_F(sim_entra2026, evaluate_refuses_bad_bodies_checks_permissions_and_is_rate_limited) {
    const entra_tenant t = entra("17", "evaluate-disagreement");
    const std::string token = token_of(t);
    const std::string path = "/v1.0/identity/conditionalAccess/evaluate";
    for (const char* field : {"signInIdentity", "signInContext", "signInConditions"}) {
        json b = evaluate_body(t.account_id);
        b.erase(field);
        auto r = graph_call(sim, token, "POST", path, b.dump());
        EXPECT_EQ(r.status, 400) << field;
        EXPECT_EQ(body_json(r)["error"].value("code", ""), "BadRequest");
        EXPECT_NE(body_json(r)["error"].value("message", "").find(field), std::string::npos) << r.body;
        b[field] = "not an object";
        r = graph_call(sim, token, "POST", path, b.dump());
        EXPECT_EQ(r.status, 400) << field;
        EXPECT_NE(body_json(r)["error"].value("message", "").find(field), std::string::npos) << r.body;
    }
    EXPECT_EQ(graph_call(sim, token, "GET", path).status, 405);
    // Any of Policy.Read.ConditionalAccess, Policy.Read.All, Policy.ReadWrite.ConditionalAccess.
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + t.tenant + "/apps/" + t.app, R"({"permissions":["User.Read.All"]})"), 200);
    EXPECT_EQ(graph_call(sim, token, "POST", path, evaluate_body(t.account_id).dump()).status, 403);
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + t.tenant + "/apps/" + t.app, R"({"permissions":["Policy.Read.ConditionalAccess"]})"), 200);
    EXPECT_EQ(graph_call(sim, token, "POST", path, evaluate_body(t.account_id).dump()).status, 200);
    // The CA limiter counts it like the other identity/conditionalAccess calls.
    ASSERT_EQ(sim.admin("PUT", "/_sim/tenants/" + t.tenant + "/ca-rate-limit", R"({"enabled":true})"), 200);
    EXPECT_EQ(graph_call(sim, token, "POST", path, evaluate_body(t.account_id).dump()).status, 200);
    auto r = graph_call(sim, token, "POST", path, evaluate_body(t.account_id).dump());
    EXPECT_EQ(r.status, 429) << r.body;
    EXPECT_TRUE(r.header("Retry-After").empty());
}

TEST_F(sim_entra2026, non_premium_tenants_have_no_sign_in_logs) {
    const entra_tenant t = entra("18", "non-premium");
    const std::string token = token_of(t);
    EXPECT_EQ(ropc_of(t).status, 200);
    for (const char* path : {"/beta/auditLogs/signIns", "/v1.0/auditLogs/signIns"}) {
        auto r = graph_call(sim, token, "GET", path);
        ASSERT_EQ(r.status, 403) << r.body;
        const json e = body_json(r)["error"];
        EXPECT_EQ(e.value("code", ""), "Authentication_RequestFromNonPremiumTenantOrB2CTenant");
        EXPECT_EQ(e.value("message", ""), "Neither tenant is B2C or tenant doesn't have premium license");
        EXPECT_FALSE(e["innerError"].value("request-id", "").empty());
        EXPECT_FALSE(e["innerError"].value("date", "").empty());
    }
    // A premium tenant answers.
    const entra_tenant p = entra("19", "aadsts-codes");
    EXPECT_EQ(graph_call(sim, token_of(p), "GET", "/beta/auditLogs/signIns").status, 200);
}

TEST_F(sim_entra2026, newer_aadsts_codes_through_sign_in_outcome_override) {
    const entra_tenant t = entra("19", "aadsts-codes");
    json b = expect_aad_error(ropc_of(t), 400, "invalid_grant", 50158);
    EXPECT_NE(b.value("error_description", "").find("External security challenge"), std::string::npos);
    const std::pair<long, const char*> cases[] = {
        {53004, "interaction_required"}, {50131, "invalid_grant"}, {50105, "invalid_grant"}, {50135, "interaction_required"}};
    const char* texts[] = {"Proof up required", "Conditional Access", "assigned", "Password change is required due to account risk"};
    for (std::size_t i = 0; i < 4; ++i) {
        ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + t.tenant + "/users/" + t.account,
                            json{{"signInOutcomeOverride", cases[i].first}}.dump()),
                  200);
        b = expect_aad_error(ropc_of(t), 400, cases[i].second, cases[i].first);
        EXPECT_NE(b.value("error_description", "").find(texts[i]), std::string::npos) << b.dump();
        EXPECT_EQ(b["error_codes"], json::array({cases[i].first}));
    }
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + t.tenant + "/users/" + t.account, R"({"signInOutcomeOverride":null})"), 200);
    EXPECT_EQ(ropc_of(t).status, 200);
    // Each answer is in the sign-in log with its code.
    auto r = graph_call(sim, token_of(t), "GET", "/v1.0/auditLogs/signIns");
    const json v = body_json(r)["value"];
    ASSERT_EQ(v.size(), 6u) << r.body;
    std::set<long> codes;
    for (const auto& e : v) codes.insert(e["status"].value("errorCode", -1L));
    EXPECT_EQ(codes, (std::set<long>{0, 50158, 53004, 50131, 50105, 50135}));
}

// ---- scenario validation ------------------------------------------------------------------------

TEST(sim_entra2026_scenarios, new_keys_are_validated_and_unknown_ones_refused) {
    temp_dir dir;
    json s = json::parse(slurp(entra_dir + "/evaluate-disagreement.json"));
    for (auto& a : s["apps"]) a["certificateFile"] = scenarios_dir + "/certs/connguard-demo.pem";
    s["whatIfAnswers"] = {{"00000000-0000-0000-0000-00000000dead", {{"policyApplies", true}}},
                          {"5e1f0c2a-0000-4000-8000-000000000017", {{"policyApplies", "yes"}}}};
    s["signIns"] = json::array({json{{"simMinutesAgo", -1}}, 7});
    s["entraIdPremium"] = "no";
    s["conditionalAccessPolicies"][0]["simCreatedDaysAgo"] = "yesterday";
    s["signInLogs"] = json::array();
    std::ofstream(dir.path() / "bad.json") << s.dump();
    std::string out;
    EXPECT_EQ(run_command({std::string(CONNGUARD_BIN_DIR) + "/connguard-graph-sim", "--check", "--scenarios", dir.path().string()}, &out), 2)
        << out;
    for (const char* expected :
         {"field 'whatIfAnswers.00000000-0000-0000-0000-00000000dead': names no Conditional Access policy",
          "field 'whatIfAnswers.5e1f0c2a-0000-4000-8000-000000000017.policyApplies'", "field 'signIns[0].simMinutesAgo'",
          "field 'signIns[1]': must be an object", "field 'entraIdPremium': must be true or false",
          "field 'conditionalAccessPolicies[0].simCreatedDaysAgo'", "field 'signInLogs': unknown field"})
        EXPECT_NE(out.find(expected), std::string::npos) << expected << "\n" << out;
}

}  // namespace
}  // namespace connguard::test::sim
