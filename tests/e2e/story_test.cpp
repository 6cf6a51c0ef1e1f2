// The whole story, asserted end to end with real processes: a broker from make-broker, the Graph
// simulator serving the three shipped scenarios, the coordinator on a SQLite file, one host-mode
// agent for the three tenants, connguardctl for every admin action, an MQTT alert subscriber.
//
// contoso (healthy) stays OK; fabrikam (CA000 requires MFA for the account) and northwind (Security
// Defaults on, the account is Global Administrator) FAIL and get tasks with exact plans; approvals
// go through the real connguardctl (a viewer is refused, high risk needs two different approvers);
// the fix lands in the simulator, the tasks reach VERIFIED and the tenants stop failing; finally a
// new blocking policy in contoso (through /_sim/) raises its alert.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>

#include "tests/e2e/e2e_stack.h"
#include "tests/e2e/scenario_ids.h"

namespace connguard::e2e {
namespace {

using nlohmann::json;
using ids::contoso_domain;
using ids::contoso_account;
using ids::fabrikam_domain;
using ids::fabrikam_account;
using ids::ca000;
using ids::northwind_domain;
using ids::northwind_upn;
using ids::global_admin;


/// Approves through the real connguardctl; returns its exit code and the output.
int approve(stack& s, const std::string& admin, const std::string& task_id, std::string* out = nullptr) {
    return s.ctl(admin, {"approve", task_id, "--comment", "e2e: approved by " + admin}, out);
}

/// Every open task is alone for its (tenant, kind, target) — DESIGN §2's rule, seen from outside.
void expect_one_open_task_per_target(stack& s) {
    std::set<std::string> seen;
    for (const auto& t : s.tasks()) {
        const auto st = short_enum(t.value("state", ""));
        if (st != "PROPOSED" && st != "PENDING_APPROVAL" && st != "APPROVED" && st != "DISPATCHED") continue;
        const auto key = t.value("tenant", "") + "|" + t.value("kind", "") + "|" + t.value("target", "");
        EXPECT_TRUE(seen.insert(key).second) << "two open tasks for " << key;
    }
}

TEST(E2EStory, FindAlertApproveFixVerifyThenALiveChangeAlerts) {
    stack s;
    alert_recorder alerts(s.broker());
    s.start_coordinator();
    s.start_agent();

    // --- validation results per tenant ---
    std::map<std::string, std::string> st;
    ASSERT_TRUE(eventually([&] {
        st = s.statuses();
        return st.size() == 3 && !st["contoso"].empty() && !st["fabrikam"].empty() && !st["northwind"].empty();
    })) << "no report from every tenant" << s.logs();
    EXPECT_EQ(st["contoso"], "OK");
    EXPECT_EQ(st["fabrikam"], "FAIL");
    EXPECT_EQ(st["northwind"], "FAIL");

    // --- alerts: the failing tenants alert, the healthy one does not ---
    ASSERT_TRUE(eventually([&] { return alerts.has("fabrikam", "status:FAIL") && alerts.has("northwind", "status:FAIL"); }))
        << s.logs();
    EXPECT_TRUE(alerts.has("fabrikam", std::string("policy:") + ca000 + ":blocks"));
    EXPECT_FALSE(alerts.has("contoso", "status:"));

    // --- northwind: REMOVE_PRIVILEGED_ROLE with the exact DELETE of the role assignment ---
    const auto roles = s.sim_get(std::string("/_sim/tenants/") + northwind_domain + "/users/" + northwind_upn + "/roles");
    ASSERT_TRUE(roles.contains("value") && roles["value"].size() == 1) << roles.dump();
    const std::string assignment = roles["value"][0].at("id");
    std::optional<json> nw;
    ASSERT_TRUE(eventually([&] { return (nw = s.task("northwind", "REMOVE_PRIVILEGED_ROLE")).has_value(); })) << s.logs();
    EXPECT_EQ(nw->value("target", ""), assignment);
    EXPECT_EQ(short_enum(nw->value("state", "")), "PENDING_APPROVAL");
    EXPECT_EQ(short_enum(nw->value("risk", "")), "HIGH");
    EXPECT_EQ(nw->value("approvals_required", 0), 2);
    const auto& nplan = (*nw)["plan"];
    EXPECT_EQ(nplan.value("http_method", ""), "DELETE");
    EXPECT_EQ(nplan.value("http_path", ""), "/v1.0/roleManagement/directory/roleAssignments/" + assignment);
    EXPECT_EQ(nplan.value("http_body", ""), "");
    EXPECT_EQ(nplan["remove_privileged_role"].value("role_assignment_id", ""), assignment);
    EXPECT_EQ(nplan["remove_privileged_role"].value("role_template_id", ""), global_admin);
    EXPECT_EQ(nplan["remove_privileged_role"].value("user_principal_name", ""), northwind_upn);
    // Security Defaults cannot exclude anyone: the other causes become guidance tasks.
    EXPECT_TRUE(s.task("northwind", "MOVE_TO_APP_ONLY_AUTH").has_value());
    // Registering would not make a non-interactive sign-in succeed (graph.md §11.4): never proposed.
    EXPECT_FALSE(s.task("northwind", "REGISTER_MFA_FOR_ACCOUNT").has_value());
    EXPECT_TRUE(s.tasks("contoso").empty()) << "the healthy tenant got a task";

    // --- fabrikam: EXCLUDE_FROM_CA_POLICY with the exact PATCH of CA000's excludeUsers ---
    const auto policy = s.sim_get(std::string("/_sim/tenants/") + fabrikam_domain + "/policies/" + ca000);
    ASSERT_TRUE(policy.is_object()) << "simulator has no CA000 in fabrikam";
    std::optional<json> fab;
    const bool fab_planned = eventually([&] { return (fab = s.task("fabrikam", "EXCLUDE_FROM_CA_POLICY", ca000)).has_value(); }, 30s);
    EXPECT_TRUE(fab_planned)
        << "fabrikam's CG-CAP FAIL produced no EXCLUDE_FROM_CA_POLICY task. The coordinator's plan builder "
           "needs the evidence policy.modifiedDateTime and policy.excludeUsers (coordinator/README.md, 'Evidence "
           "the plan builder reads'), which agent/checks does not write for CG-CAP. Coordinator log:\n"
        << tail(s.coordinator_log(), 15);
    if (fab_planned) {
        EXPECT_EQ(short_enum(fab->value("state", "")), "PENDING_APPROVAL");
        EXPECT_EQ(short_enum(fab->value("risk", "")), "HIGH") << "CA000 includes All users";
        EXPECT_EQ(fab->value("approvals_required", 0), 2);
        const auto& plan = (*fab)["plan"];
        EXPECT_EQ(plan.value("http_method", ""), "PATCH");
        EXPECT_EQ(plan.value("http_path", ""), std::string("/v1.0/identity/conditionalAccess/policies/") + ca000);
        EXPECT_EQ(json::parse(plan.value("http_body", "{}")),
                  json::parse(std::string(R"({"conditions":{"users":{"excludeUsers":[")") + fabrikam_account + "\"]}}}"));
        const auto& x = plan["exclude_from_ca_policy"];
        EXPECT_EQ(x.value("policy_id", ""), ca000);
        EXPECT_EQ(x.value("user_id", ""), fabrikam_account);
        EXPECT_EQ(x.value("expected_modified_date_time", ""), policy.value("modifiedDateTime", "?"));
        EXPECT_EQ(x.value("exclude_users_after", json::array()), json::array({fabrikam_account}));
    }
    expect_one_open_task_per_target(s);

    // --- approvals through connguardctl ---
    const std::string nw_id = nw->at("task_id");
    std::string out;
    EXPECT_EQ(approve(s, "vera", nw_id, &out), 1) << "a viewer must not approve: " << out;
    EXPECT_EQ(approve(s, "alice", nw_id, &out), 0) << out;
    EXPECT_EQ(s.task_state(nw_id), "PENDING_APPROVAL") << "high risk: one approval is not enough";
    EXPECT_EQ(approve(s, "alice", nw_id, &out), 1) << "the same approver twice must not count: " << out;
    EXPECT_EQ(s.task_state(nw_id), "PENDING_APPROVAL");
    EXPECT_EQ(approve(s, "bob", nw_id, &out), 0) << out;
    std::string fab_id;
    if (fab_planned) {
        fab_id = fab->at("task_id");
        EXPECT_EQ(approve(s, "alice", fab_id, &out), 0) << out;
        EXPECT_EQ(approve(s, "bob", fab_id, &out), 0) << out;
    }

    // --- the remediation lands in the tenant ---
    ASSERT_TRUE(eventually([&] {
        const auto r = s.sim_get(std::string("/_sim/tenants/") + northwind_domain + "/users/" + northwind_upn + "/roles");
        return r.contains("value") && r["value"].empty();
    })) << "the Global Administrator assignment was not removed; task " << s.task_state(nw_id) << s.logs();
    if (fab_planned) {
        EXPECT_TRUE(eventually([&] {
            const auto p = s.sim_get(std::string("/_sim/tenants/") + fabrikam_domain + "/policies/" + ca000);
            return p.is_object() && p["conditions"]["users"]["excludeUsers"] == json::array({fabrikam_account});
        })) << "the account was not excluded from CA000" << s.logs();
    }

    // --- revalidation: VERIFIED, the tenants stop failing, the guidance tasks are superseded ---
    ASSERT_TRUE(eventually([&] { return s.task_state(nw_id) == "VERIFIED"; })) << s.task_state(nw_id) << s.logs();
    // Removing the role is not enough any more: Security Defaults demand MFA registration without a
    // grace period (graph.md §11.3), which a non-interactive account cannot do, so northwind stays
    // FAIL and the app-only guidance task stands (it is never superseded by a report that still fails).
    st = s.statuses();
    EXPECT_EQ(st["northwind"], "FAIL");
    EXPECT_NE(short_enum(s.task("northwind", "MOVE_TO_APP_ONLY_AUTH")->value("state", "")), "SUPERSEDED");
    EXPECT_FALSE(alerts.has("northwind", "status:FAIL", v1::ALERT_STATE_RESOLVED));
    EXPECT_TRUE(alerts.has("northwind", "task:" + nw_id + ":succeeded"));
    if (fab_planned) {
        EXPECT_TRUE(eventually([&] { return s.task_state(fab_id) == "VERIFIED"; })) << s.task_state(fab_id) << s.logs();
        EXPECT_TRUE(eventually([&] { return s.statuses()["fabrikam"] == "OK"; }));
        EXPECT_TRUE(eventually([&] { return alerts.has("fabrikam", "status:FAIL", v1::ALERT_STATE_RESOLVED); }));
    }
    // Exactly one command per remediated task, and the audit chain is intact.
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM commands WHERE task_id = '" + nw_id + "'"), 1);
    EXPECT_EQ(s.ctl("alice", {"audit", "--verify"}, &out), 0) << out;

    // --- live change: a new blocking policy in the healthy tenant raises its alert ---
    const auto body = json::parse(slurp(std::string(CONNGUARD_SOURCE_DIR) + "/tools/demo/blocking-policy.json"));
    json created;
    ASSERT_EQ(s.sim_call("POST", std::string("/_sim/tenants/") + contoso_domain + "/policies", body, &created), 201);
    const std::string new_policy = created.at("id");
    ASSERT_TRUE(eventually([&] { return alerts.has("contoso", "policy:" + new_policy + ":blocks"); }))
        << "no alert for the new blocking policy" << s.logs();
    EXPECT_TRUE(eventually([&] { return s.statuses()["contoso"] == "FAIL"; }));
    EXPECT_TRUE(alerts.has("contoso", "status:FAIL"));
    expect_one_open_task_per_target(s);

    // A policy never modified since it was created has modifiedDateTime null in Graph: it is still
    // planned (expecting it to stay unmodified), and the approved exclusion lands and is verified.
    std::optional<json> live;
    ASSERT_TRUE(eventually([&] { return (live = s.task("contoso", "EXCLUDE_FROM_CA_POLICY", new_policy)).has_value(); }))
        << "no task for the new policy\n" << tail(s.coordinator_log(), 15);
    EXPECT_EQ(short_enum(live->value("state", "")), "PENDING_APPROVAL");
    EXPECT_FALSE((*live)["plan"]["exclude_from_ca_policy"].contains("expected_modified_date_time"))
        << "the plan must expect modifiedDateTime null: " << live->dump();
    EXPECT_EQ(short_enum(live->value("risk", "")), "HIGH") << "the new policy blocks and includes All users";
    const std::string live_id = live->at("task_id");
    EXPECT_EQ(approve(s, "alice", live_id, &out), 0) << out;
    EXPECT_EQ(approve(s, "bob", live_id, &out), 0) << out;
    EXPECT_TRUE(eventually([&] {
        const auto p = s.sim_get(std::string("/_sim/tenants/") + contoso_domain + "/policies/" + new_policy);
        const auto& excluded = p["conditions"]["users"]["excludeUsers"];
        return excluded.is_array() && std::find(excluded.begin(), excluded.end(), json(contoso_account)) != excluded.end();
    })) << "the account was not excluded from the new policy; task " << s.task_state(live_id) << s.logs();
    EXPECT_TRUE(eventually([&] { return s.task_state(live_id) == "VERIFIED"; })) << s.task_state(live_id) << s.logs();
    EXPECT_TRUE(eventually([&] { return s.statuses()["contoso"] == "OK"; }));
}

}  // namespace
}  // namespace connguard::e2e
