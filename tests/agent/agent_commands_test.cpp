// Approved commands against the real simulator through a real broker: executed and verified (the
// simulator shows the change, a new report validates it), STALE when the tenant changed after
// planning (nothing written), REFUSED when expired or for another tenant, and a repeated command
// id is carried out once (its stored result is re-sent), also after a restart.
#include <gtest/gtest.h>

#include <google/protobuf/util/time_util.h>

#include "common/clock.h"
#include "tests/agent/agent_harness.h"

namespace {

using namespace connguard;
using namespace connguard::test;
using nlohmann::json;

const std::string key = "fabrikam";
const std::string mfa_policy = "809741fe-fb1b-4746-9ff0-83a978a4c891";
const std::string global_admin = "62e90394-69f5-4237-9190-012177145e10";

struct AgentCommands : ::testing::Test {
    env e;
    test::broker b{{.tenants = {key}}};
    collector col{b};
    sim_tenant t = repo_tenant("fabrikam-mfa.json");
    std::filesystem::path cfg = e.write_config(key, t, {{"poll", {{"intervalSeconds", 3600}}}}, &b);
    std::filesystem::path log = e.dir() / "agent.log";
    test::process agent;

    void SetUp() override {
        agent = start_agent({"--config", cfg.string()}, log);
        ASSERT_GE(col.wait_report(key, 1).cycle(), 1u) << slurp(log);
    }
    std::string tenant_path() const { return "/_sim/tenants/" + t.tenant_id; }
    json policy(const std::string& id) { return e.admin("GET", tenant_path() + "/policies/" + id); }

    v1::AgentCommand base(const std::string& id) {
        v1::AgentCommand c;
        c.set_command_id(id);
        c.set_task_id("task-" + id);
        c.set_plan_version(1);
        c.add_approved_by("alice");
        *c.mutable_not_after() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(
            to_unix_ms(system_clock::instance().now()) + 3600 * 1000);
        return c;
    }
    v1::AgentCommand exclude_command(const std::string& id, const std::string& policy_id) {
        auto c = base(id);
        auto p = policy(policy_id);
        auto* plan = c.mutable_plan();
        plan->set_kind(v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
        auto* x = plan->mutable_exclude_from_ca_policy();
        x->set_policy_id(policy_id);
        x->set_policy_name(p.value("displayName", ""));
        x->set_user_id(t.user_id);
        x->set_user_principal_name(t.upn);
        x->set_expected_modified_date_time(p.value("modifiedDateTime", ""));
        for (const auto& u : p["conditions"]["users"]["excludeUsers"]) {
            x->add_exclude_users_before(u.get<std::string>());
            x->add_exclude_users_after(u.get<std::string>());
        }
        x->add_exclude_users_after(t.user_id);
        plan->set_http_method("PATCH");
        plan->set_http_path("/v1.0/identity/conditionalAccess/policies/" + policy_id);
        return c;
    }
    v1::CommandResult wait_result(const std::string& command_id, std::size_t nth = 1) {
        v1::CommandResult found;
        const bool ok = col.wait([&] {
            std::size_t k = 0;
            for (const auto& r : col.results(key))
                if (r.command_id() == command_id && ++k == nth) {
                    found = r;
                    return true;
                }
            return false;
        });
        EXPECT_TRUE(ok) << "no result #" << nth << " for " << command_id << "\n" << slurp(log);
        return found;
    }
    std::vector<std::string> result_envelope_ids(const std::string& command_id) {
        std::vector<std::string> ids;
        for (const auto& env : col.of(key, v1::Envelope::kCommandResult))
            if (env.command_result().command_id() == command_id) ids.push_back(env.id());
        return ids;
    }
    static bool contains(const json& arr, const std::string& v) {
        for (const auto& x : arr)
            if (x == v) return true;
        return false;
    }
};

TEST_F(AgentCommands, ApprovedExclusionIsWrittenVerifiedRevalidatedAndNeverRepeated) {
    auto report = col.reports(key).back();
    ASSERT_EQ(status_of(report, "CG-CAP", mfa_policy), v1::CHECK_STATUS_FAIL);
    const auto before_cycle = report.cycle();

    col.send_command(key, exclude_command("cmd-exclude-1", mfa_policy));
    auto r = wait_result("cmd-exclude-1");
    ASSERT_EQ(r.outcome(), v1::COMMAND_OUTCOME_SUCCEEDED) << r.detail();
    EXPECT_EQ(r.task_id(), "task-cmd-exclude-1");
    EXPECT_EQ(r.plan_version(), 1u);
    EXPECT_TRUE(contains(json::parse(r.verified_state())["excludeUsers"], t.user_id));
    auto p = policy(mfa_policy);
    EXPECT_TRUE(contains(p["conditions"]["users"]["excludeUsers"], t.user_id)) << p.dump();
    const auto modified_after = p.value("modifiedDateTime", "");

    // A new cycle runs at once (the poll interval is an hour) and validates the fix.
    auto next = col.wait_report(key, before_cycle + 1);
    ASSERT_GT(next.cycle(), before_cycle) << slurp(log);
    EXPECT_NE(status_of(next, "CG-CAP", mfa_policy), v1::CHECK_STATUS_FAIL);
    EXPECT_EQ(status_of(next, "CG-SIGNIN"), v1::CHECK_STATUS_OK);

    // The same command id again (a redelivery): not executed again, the stored result is re-sent.
    col.send_command(key, exclude_command("cmd-exclude-1", mfa_policy));
    auto again = wait_result("cmd-exclude-1", 2);
    EXPECT_EQ(again.outcome(), v1::COMMAND_OUTCOME_SUCCEEDED) << "a re-execution would have been STALE";
    auto ids = result_envelope_ids("cmd-exclude-1");
    ASSERT_EQ(ids.size(), 2u);
    EXPECT_EQ(ids[0], ids[1]) << "a re-sent result keeps its envelope id";
    EXPECT_EQ(policy(mfa_policy).value("modifiedDateTime", ""), modified_after) << "the policy was written again";

    // Also after a restart of the agent.
    ASSERT_EQ(agent.stop(), 0);
    agent = start_agent({"--config", cfg.string()}, log);
    col.send_command(key, exclude_command("cmd-exclude-1", mfa_policy));
    auto third = wait_result("cmd-exclude-1", 3);
    EXPECT_EQ(third.outcome(), v1::COMMAND_OUTCOME_SUCCEEDED);
    EXPECT_EQ(policy(mfa_policy).value("modifiedDateTime", ""), modified_after);
}

TEST_F(AgentCommands, PolicyChangedAfterPlanningIsStaleAndNothingIsWritten) {
    auto cmd = exclude_command("cmd-stale-1", mfa_policy);
    // Someone edits the policy after the plan was made.
    e.admin("PATCH", tenant_path() + "/policies/" + mfa_policy, {{"displayName", "CA000 renamed by an admin"}});
    const auto edited = policy(mfa_policy);
    col.send_command(key, cmd);
    auto r = wait_result("cmd-stale-1");
    EXPECT_EQ(r.outcome(), v1::COMMAND_OUTCOME_STALE) << r.detail();
    EXPECT_NE(r.detail().find(mfa_policy), std::string::npos) << r.detail();
    const auto now = policy(mfa_policy);
    EXPECT_FALSE(contains(now["conditions"]["users"]["excludeUsers"], t.user_id));
    EXPECT_EQ(now.value("modifiedDateTime", ""), edited.value("modifiedDateTime", ""));
}

TEST_F(AgentCommands, ExpiredOrForeignCommandsAreRefusedWithoutWriting) {
    auto expired = exclude_command("cmd-expired", mfa_policy);
    *expired.mutable_not_after() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(
        to_unix_ms(system_clock::instance().now()) - 1000);
    col.send_command(key, expired);
    EXPECT_EQ(wait_result("cmd-expired").outcome(), v1::COMMAND_OUTCOME_REFUSED);

    auto foreign = exclude_command("cmd-foreign", mfa_policy);
    col.send_command(key, foreign, /*envelope_tenant=*/"contoso");
    auto r = wait_result("cmd-foreign");
    EXPECT_EQ(r.outcome(), v1::COMMAND_OUTCOME_REFUSED);
    EXPECT_NE(r.detail().find("contoso"), std::string::npos) << r.detail();

    auto guidance = base("cmd-guidance");
    guidance.mutable_plan()->set_kind(v1::REMEDIATION_KIND_REGISTER_MFA_FOR_ACCOUNT);
    guidance.mutable_plan()->mutable_guidance()->set_instructions("register MFA");
    col.send_command(key, guidance);
    EXPECT_EQ(wait_result("cmd-guidance").outcome(), v1::COMMAND_OUTCOME_REFUSED);

    EXPECT_FALSE(contains(policy(mfa_policy)["conditions"]["users"]["excludeUsers"], t.user_id));
}

TEST_F(AgentCommands, PerUserMfaAndRoleRemovalAreExecutedAndVerified) {
    e.admin("PATCH", tenant_path() + "/users/" + t.user_id, {{"perUserMfaState", "enforced"}});
    auto mfa = base("cmd-mfa");
    mfa.mutable_plan()->set_kind(v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA);
    auto* m = mfa.mutable_plan()->mutable_disable_per_user_mfa();
    m->set_user_id(t.user_id);
    m->set_user_principal_name(t.upn);
    m->set_expected_state("enforced");
    col.send_command(key, mfa);
    auto r = wait_result("cmd-mfa");
    EXPECT_EQ(r.outcome(), v1::COMMAND_OUTCOME_SUCCEEDED) << r.detail();
    EXPECT_EQ(e.admin("GET", tenant_path() + "/users/" + t.user_id).value("perUserMfaState", ""), "disabled");

    auto assignment = e.admin("POST", tenant_path() + "/users/" + t.user_id + "/roles", {{"roleDefinitionId", global_admin}});
    auto role = base("cmd-role");
    role.mutable_plan()->set_kind(v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE);
    auto* x = role.mutable_plan()->mutable_remove_privileged_role();
    x->set_role_assignment_id(assignment.at("id").get<std::string>());
    x->set_role_template_id(global_admin);
    x->set_role_name("Global Administrator");
    x->set_user_id(t.user_id);
    x->set_user_principal_name(t.upn);
    col.send_command(key, role);
    auto rr = wait_result("cmd-role");
    EXPECT_EQ(rr.outcome(), v1::COMMAND_OUTCOME_SUCCEEDED) << rr.detail();
    EXPECT_TRUE(e.admin("GET", tenant_path() + "/users/" + t.user_id + "/roles")["value"].empty());

    // A plan whose expected per-user MFA state no longer holds: STALE.
    col.send_command(key, [&] {
        auto c = mfa;
        c.set_command_id("cmd-mfa-again");
        return c;
    }());
    EXPECT_EQ(wait_result("cmd-mfa-again").outcome(), v1::COMMAND_OUTCOME_STALE);
}

}  // namespace
