// The one guarded write path (agent/core/executor.h) against the real Graph simulator: GET ->
// precondition -> write the plan's exact body -> GET -> verify. STALE writes nothing, a body that is
// not the rendering of the typed plan is refused before any Graph call, an already-made change is
// not written again.
#include <gtest/gtest.h>

#include <google/protobuf/util/time_util.h>

#include "agent/core/executor.h"
#include "common/remediation_plan.h"
#include "tests/agent/agent_harness.h"

namespace {

using namespace connguard;
using namespace connguard::test;
using nlohmann::json;

const std::string mfa_policy = "809741fe-fb1b-4746-9ff0-83a978a4c891";  // CA000 in fabrikam

struct Executor : ::testing::Test {
    env e;
    sim_tenant t = repo_tenant("fabrikam-mfa.json");
    graph::graph_client gc{options(), system_clock::instance()};

    graph::graph_client_options options() {
        graph::graph_client_options o;
        o.tenant_key = "fabrikam";
        o.azure_tenant_id = t.tenant_id;
        o.authority_url = e.sim().base_url();
        o.graph_url = e.sim().base_url();
        o.client_id = t.app_id;
        o.client_secret = t.client_secret;
        o.ca_pacing_interval = std::chrono::milliseconds{0};
        return o;
    }
    json policy() { return e.admin("GET", "/_sim/tenants/" + t.tenant_id + "/policies/" + mfa_policy); }

    v1::AgentCommand exclude_command(const std::string& expected_modified) {
        v1::AgentCommand c;
        c.set_command_id("cmd-1");
        c.set_task_id("task-1");
        c.set_plan_version(1);
        c.add_approved_by("alice");
        *c.mutable_not_after() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(
            to_unix_ms(system_clock::instance().now()) + 3600 * 1000);
        auto* plan = c.mutable_plan();
        plan->set_kind(v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
        auto* x = plan->mutable_exclude_from_ca_policy();
        const auto p = policy();
        x->set_policy_id(mfa_policy);
        x->set_policy_name(p.value("displayName", ""));
        x->set_user_id(t.user_id);
        x->set_user_principal_name(t.upn);
        x->set_expected_modified_date_time(expected_modified);
        for (const auto& u : p["conditions"]["users"]["excludeUsers"]) {
            x->add_exclude_users_before(u.get<std::string>());
            x->add_exclude_users_after(u.get<std::string>());
        }
        x->add_exclude_users_after(t.user_id);
        plans::render(*plan);
        return c;
    }
    v1::CommandResult run(const v1::AgentCommand& c) {
        return agent::execute_command(gc, c, "fabrikam", "fabrikam", system_clock::instance());
    }
};

TEST_F(Executor, WritesTheRenderedBodyReadsBackAndDoesNotWriteTwice) {
    const auto before = policy();
    const auto cmd = exclude_command(before.value("modifiedDateTime", ""));
    gc.reset_cycle_counters();
    auto r = run(cmd);
    ASSERT_EQ(r.outcome(), v1::COMMAND_OUTCOME_SUCCEEDED) << r.detail();
    EXPECT_EQ(gc.counters().graph_requests, 4) << "GET policy, GET user, PATCH, GET policy";
    const auto after = policy();
    // What Graph holds is exactly the planned array (the body sent was the plan's rendering).
    EXPECT_EQ(after["conditions"]["users"]["excludeUsers"].dump(),
              json::parse(cmd.plan().http_body())["conditions"]["users"]["excludeUsers"].dump());
    EXPECT_EQ(json::parse(r.verified_state())["excludeUsers"], after["conditions"]["users"]["excludeUsers"]);

    // The same change again, planned on the new state: already there, nothing is written.
    auto again_cmd = exclude_command(after.value("modifiedDateTime", ""));
    gc.reset_cycle_counters();
    auto again = run(again_cmd);
    ASSERT_EQ(again.outcome(), v1::COMMAND_OUTCOME_SUCCEEDED) << again.detail();
    EXPECT_EQ(gc.counters().graph_requests, 2) << "two GETs, no PATCH";
    EXPECT_EQ(policy().value("modifiedDateTime", ""), after.value("modifiedDateTime", ""));
}

TEST_F(Executor, AChangedPolicyIsStaleAndNothingIsWritten) {
    const auto before = policy();
    auto r = run(exclude_command("2020-01-01T00:00:00Z"));
    EXPECT_EQ(r.outcome(), v1::COMMAND_OUTCOME_STALE) << r.detail();
    EXPECT_NE(r.detail().find("nothing was written"), std::string::npos) << r.detail();
    EXPECT_EQ(policy(), before);
}

TEST_F(Executor, ABodyThatIsNotTheRenderingOfThePlanIsRefusedBeforeAnyCall) {
    auto cmd = exclude_command(policy().value("modifiedDateTime", ""));
    // Same users, other bytes (a key the typed plan does not have).
    auto body = json::parse(cmd.plan().http_body());
    body["state"] = "disabled";
    cmd.mutable_plan()->set_http_body(body.dump());
    const auto before = policy();
    gc.reset_cycle_counters();
    auto r = run(cmd);
    EXPECT_EQ(r.outcome(), v1::COMMAND_OUTCOME_REFUSED) << r.detail();
    EXPECT_NE(r.detail().find("rendering"), std::string::npos) << r.detail();
    EXPECT_EQ(gc.counters().graph_requests, 0);
    EXPECT_EQ(policy(), before);
}

}  // namespace
