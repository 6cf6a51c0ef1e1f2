// Spoofing, end to end: the broker's ACL (make-broker) and the coordinator refuse what an agent or
// an admin must not do, and the coordinator audits what it sees.
//  - cross-tenant publish: tenant a publishing a report as tenant b is refused by the broker and
//    never stored; a payload claiming tenant b on a's own topic is rejected by the coordinator;
//  - forged approval: admin x publishing on admin y's request topic is refused by the broker; a
//    claimed identity in the envelope is ignored and audited; a viewer approving through the real
//    connguardctl is refused and audited; an agent cannot publish admin requests at all;
//  - forged result: tenant b answering tenant a's task (or a with another task's command id) is
//    refused and audited, and the dispatch record stays untouched;
//  - replayed command: the same AgentCommand delivered twice (same bytes, and re-wrapped with a new
//    envelope id) is executed once by the real agent against the simulator.
#include <gtest/gtest.h>

#include <google/protobuf/util/time_util.h>

#include "common/clock.h"
#include "common/envelope_codec.h"
#include "common/topics.h"
#include "tests/e2e/e2e_stack.h"

namespace connguard::e2e {
namespace {

using nlohmann::json;

/// Broker identities for tenant-a and tenant-b, no agents and no simulator: the test speaks as them.
stack_options two_tenants_no_agents() {
    stack_options o;
    o.tenants = {};
    o.extra_tenants = {"tenant-a", "tenant-b"};
    o.with_sim = false;
    return o;
}

std::unique_ptr<mqtt::client> connect_as(stack& s, const std::string& user, const std::string& id) {
    auto c = std::make_unique<mqtt::client>(mqtt::client_options_builder()
                                                .server_uri(s.broker().uri())
                                                .client_id(id)
                                                .credentials(user, s.broker().password(user))
                                                .clean_start(true)
                                                .finalize());
    if (auto st = c->connect(); !st) throw std::runtime_error(user + ": " + st.err().message);
    return c;
}

/// A report whose CG-CAP FAIL carries the evidence the plan builder needs (one task).
v1::Envelope failing_report(const std::string& tenant, std::uint64_t cycle) {
    auto env = codec::make_envelope(tenant, "agent/" + tenant);
    auto& r = *env.mutable_validation_report();
    r.set_azure_tenant_id("00000000-0000-4000-8000-0000000000aa");
    r.set_account_upn("svc-connguard@" + tenant + ".example");
    r.set_account_object_id("5bde3e51-d13b-4db1-9948-fe4b109d11a7");
    r.set_cycle(cycle);
    *r.mutable_collected_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
    const std::string pid = "00000000-0000-4000-9000-000000000001";
    auto* c = r.add_checks();
    c->set_id("CG-CAP");
    c->set_subject(pid);
    c->set_status(v1::CHECK_STATUS_FAIL);
    c->set_reason("policy 'CA101' requires MFA for the account");
    for (const auto& [kind, detail] : std::vector<std::pair<std::string, std::string>>{
             {"policy", "grant: mfa"}, {"policy.modifiedDateTime", "2025-01-01T10:00:00Z"}, {"policy.excludeUsers", "[]"},
             {"policy.includeUsers", R"(["group-staff"])"}, {"policy.grant", "mfa"}}) {
        auto* e = c->add_evidence();
        e->set_kind(kind);
        e->set_id(pid);
        e->set_name(kind == "policy" ? "CA101" : "");
        e->set_detail(detail);
    }
    auto* m = c->add_remediations();
    m->set_kind(v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
    m->set_target_id(pid);
    m->set_target_name("CA101");
    auto* plan = m->mutable_plan();
    plan->set_kind(v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
    plan->mutable_exclude_from_ca_policy()->set_policy_id(pid);
    plan->mutable_exclude_from_ca_policy()->set_policy_name("CA101");
    plan->mutable_exclude_from_ca_policy()->set_user_id(r.account_object_id());
    plan->mutable_exclude_from_ca_policy()->set_user_principal_name(r.account_upn());
    plan->mutable_exclude_from_ca_policy()->set_expected_modified_date_time("2025-01-01T10:00:00Z");
    plan->mutable_exclude_from_ca_policy()->add_exclude_users_after(r.account_object_id());
    plan->mutable_exclude_from_ca_policy()->add_include_users("group-staff");
    plan->mutable_exclude_from_ca_policy()->add_grant_controls("mfa");
    r.set_overall(v1::CHECK_STATUS_FAIL);
    return env;
}

mqtt::message as_message(const std::string& topic, v1::Envelope& env, bool retained = false) {
    return mqtt::make_message(topic, codec::encode(env, system_clock::instance()), 1, retained);
}

/// Audit entries (JSON, proto names) as alice sees them.
std::vector<json> audit(stack& s) {
    auto j = s.ctl_json("alice", {"audit", "--limit", "1000"});
    std::vector<json> out;
    if (j.is_object() && j.contains("audit"))
        for (const auto& e : j["audit"]) out.push_back(e);
    return out;
}

bool audited(stack& s, const std::string& actor, const std::string& action, const std::string& task_id = "") {
    for (const auto& e : audit(s))
        if (e.value("actor", "") == actor && e.value("action", "") == action && (task_id.empty() || e.value("task_id", "") == task_id))
            return true;
    return false;
}

TEST(E2ESecurity, CrossTenantPublishesAreRefusedAndNeverStored) {
    stack s(two_tenants_no_agents());
    s.start_coordinator();
    auto a = connect_as(s, "tenant-a", "e2e-tenant-a");

    // 1. a publishes into b's topic (as b): the broker refuses it (PUBACK 0x87).
    auto spoof = failing_report("tenant-b", 1);
    auto st = a->publish(as_message(topics::validation("tenant-b"), spoof, true));
    ASSERT_FALSE(st) << "the broker accepted tenant-a publishing on tenant-b's topic";
    EXPECT_EQ(st.err().code, "mqtt.not_authorized");
    auto spoof_event = codec::make_envelope("tenant-b", "agent/tenant-b");
    spoof_event.mutable_change_event()->set_kind(v1::CHANGE_KIND_SECURITY_DEFAULTS_DISABLED);
    EXPECT_FALSE(a->publish(as_message(topics::events("tenant-b"), spoof_event)));

    // 2. a publishes on its own topic a payload that claims tenant b: the coordinator rejects it.
    auto claim = failing_report("tenant-b", 2);
    ASSERT_TRUE(a->publish(as_message(topics::validation("tenant-a"), claim)));

    // 3. a's own, honest report goes through (so the pipeline was working all along).
    auto honest = failing_report("tenant-a", 3);
    ASSERT_TRUE(a->publish(as_message(topics::validation("tenant-a"), honest)));
    ASSERT_TRUE(eventually([&] { return s.sql_int("SELECT count(*) FROM posture WHERE tenant = 'tenant-a'") == 1; })) << s.logs();
    ASSERT_TRUE(eventually([&] { return slurp(s.coordinator_log()).find("tenant_mismatch") != std::string::npos; }))
        << "the coordinator did not log the rejected payload" << s.logs();

    for (const auto& id : {spoof.id(), spoof_event.id(), claim.id()})
        EXPECT_EQ(s.sql_int("SELECT count(*) FROM envelopes_seen WHERE id = '" + id + "'"), 0) << id;
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM posture WHERE tenant = 'tenant-b'"), 0);
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM tasks WHERE tenant = 'tenant-b'"), 0);
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM events WHERE tenant = 'tenant-b'"), 0);
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM tasks WHERE tenant = 'tenant-a'"), 1);
    // The broker logged the refused publishes.
    EXPECT_NE(s.broker().log().find("tenant-a"), std::string::npos);
}

TEST(E2ESecurity, ForgedApprovalsAndResultsAreRefusedAndAudited) {
    stack s(two_tenants_no_agents());
    s.start_coordinator();
    {
        auto a = connect_as(s, "tenant-a", "e2e-tenant-a");
        auto r = failing_report("tenant-a", 1);
        ASSERT_TRUE(a->publish(as_message(topics::validation("tenant-a"), r)));
    }
    std::optional<json> task;
    ASSERT_TRUE(eventually([&] { return (task = s.task("tenant-a", "EXCLUDE_FROM_CA_POLICY")).has_value(); })) << s.logs();
    const std::string id = task->at("task_id");
    ASSERT_EQ(short_enum(task->value("state", "")), "PENDING_APPROVAL");
    ASSERT_EQ(task->value("approvals_required", 0), 1) << "a medium-risk plan (policy includes a group, grant mfa)";

    auto approve_request = [&](const std::string& source) {
        auto env = codec::make_envelope("", source);
        auto* ap = env.mutable_admin_request()->mutable_approve();
        ap->set_task_id(id);
        ap->set_plan_version(1);
        ap->set_comment("forged");
        return env;
    };
    // 1. alice publishes on bob's request topic: the broker refuses it.
    auto alice = connect_as(s, "alice", "e2e-alice-forger");
    auto forged = approve_request("admin/bob");
    auto st = alice->publish(as_message(topics::admin_requests("bob"), forged));
    ASSERT_FALSE(st) << "the broker let alice publish on bob's request topic";
    EXPECT_EQ(st.err().code, "mqtt.not_authorized");
    // 2. an agent publishes an approval: refused (agents never reach admin topics).
    auto agent = connect_as(s, "tenant-a", "e2e-tenant-a-forger");
    auto by_agent = approve_request("admin/alice");
    EXPECT_FALSE(agent->publish(as_message(topics::admin_requests("alice"), by_agent)));
    // 3. the viewer vera approves through connguardctl: refused by the coordinator and audited.
    std::string out;
    EXPECT_EQ(s.ctl("vera", {"approve", id}, &out), 1) << out;
    EXPECT_TRUE(eventually([&] { return audited(s, "vera", "approval.refused", id); })) << "no audit entry for vera's refusal";
    std::this_thread::sleep_for(1s);
    auto now = s.task("tenant-a", "EXCLUDE_FROM_CA_POLICY");
    ASSERT_TRUE(now.has_value());
    EXPECT_EQ(short_enum(now->value("state", "")), "PENDING_APPROVAL");
    EXPECT_TRUE(!now->contains("approvals") || (*now)["approvals"].empty()) << now->dump();
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM approvals"), 0);

    // 4. alice claims to be bob inside the envelope, on her own topic: counted as alice, audited.
    auto claimed = approve_request("admin/bob");
    claimed.mutable_admin_request()->mutable_approve()->set_comment("claims bob");
    mqtt::message m = as_message(topics::admin_requests("alice"), claimed);
    m.response_topic = topics::admin_responses("alice");
    m.correlation_data = "e2e-claim";
    ASSERT_TRUE(alice->publish(m));
    EXPECT_TRUE(eventually([&] { return audited(s, "alice", "admin.claimed_identity_ignored"); }));
    EXPECT_TRUE(eventually([&] { return s.sql_int("SELECT count(*) FROM approvals WHERE admin = 'alice'") == 1; }));
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM approvals WHERE admin = 'bob'"), 0);

    // 5. alice's approval was enough (one needed): the task is DISPATCHED with a real command id.
    ASSERT_TRUE(eventually([&] { return s.sql_int("SELECT count(*) FROM commands WHERE task_id = '" + id + "'") == 1; }))
        << s.logs();
    now = s.task("tenant-a", "EXCLUDE_FROM_CA_POLICY");
    ASSERT_TRUE(now.has_value());
    ASSERT_EQ(short_enum(now->value("state", "")), "DISPATCHED");
    const std::string command_id = now->value("command_id", "");
    ASSERT_FALSE(command_id.empty()) << now->dump();
    auto forged_result = [&](const std::string& tenant, const std::string& task_id, const std::string& cmd) {
        auto res = codec::make_envelope(tenant, "agent/" + tenant);
        res.mutable_command_result()->set_command_id(cmd);
        res.mutable_command_result()->set_task_id(task_id);
        res.mutable_command_result()->set_plan_version(1);
        res.mutable_command_result()->set_outcome(v1::COMMAND_OUTCOME_SUCCEEDED);
        return as_message(topics::results(tenant), res);
    };
    // tenant-b answers tenant-a's task with its real command id; tenant-a answers an unknown task
    // with that command id, and its own task with a made-up one. All refused and audited, and the
    // dispatch record is untouched (issue 13: a refused result used to write into it).
    auto b = connect_as(s, "tenant-b", "e2e-tenant-b");
    ASSERT_TRUE(b->publish(forged_result("tenant-b", id, command_id)));
    ASSERT_TRUE(agent->publish(forged_result("tenant-a", "00000000-0000-4000-8000-00000000dead", command_id)));
    ASSERT_TRUE(agent->publish(forged_result("tenant-a", id, "forged-command")));
    EXPECT_TRUE(eventually([&] { return audited(s, "agent:tenant-b", "result.refused", id); }))
        << "no audit entry for the forged result" << s.logs();
    EXPECT_TRUE(eventually([&] { return s.sql_int("SELECT count(*) FROM audit WHERE action = 'result.refused'") == 3; }))
        << s.logs();
    now = s.task("tenant-a", "EXCLUDE_FROM_CA_POLICY");
    ASSERT_TRUE(now.has_value());
    EXPECT_EQ(short_enum(now->value("state", "")), "DISPATCHED");
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM commands WHERE command_id = '" + command_id +
                        "' AND outcome IS NULL AND result_at_ms IS NULL AND result_detail IS NULL"),
              1)
        << "a refused result wrote into the dispatch record";
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM commands WHERE outcome IS NOT NULL"), 0);
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM events WHERE body_type = 'command_result'"), 0);
    EXPECT_EQ(s.ctl("alice", {"audit", "--verify"}, &out), 0) << out;
}

TEST(E2ESecurity, ReplayedCommandIsExecutedOnce) {
    stack_options o;
    o.tenants = {{"northwind-secdefaults.json", "northwind"}};
    stack s(o);
    // Watch the commands the coordinator sends (coordinator identity, own subscription).
    std::mutex mu;
    std::vector<std::string> commands;  // raw payloads
    auto watcher = std::make_unique<mqtt::client>(mqtt::client_options_builder()
                                                      .server_uri(s.broker().uri())
                                                      .client_id("e2e-command-watcher")
                                                      .credentials("coordinator", s.broker().password("coordinator"))
                                                      .clean_start(true)
                                                      .finalize());
    watcher->subscribe(topics::commands("northwind"), [&](const mqtt::message& m) {
        std::lock_guard lock(mu);
        commands.push_back(m.payload);
        return mqtt::handler_result::handled;
    });
    ASSERT_TRUE(watcher->connect());
    s.start_coordinator();
    s.start_agent();

    std::optional<json> task;
    ASSERT_TRUE(eventually([&] { return (task = s.task("northwind", "REMOVE_PRIVILEGED_ROLE")).has_value(); })) << s.logs();
    const std::string id = task->at("task_id");
    std::string out;
    ASSERT_EQ(s.ctl("alice", {"approve", id}, &out), 0) << out;
    ASSERT_EQ(s.ctl("bob", {"approve", id}, &out), 0) << out;
    auto state = [&] { auto t = s.task("northwind", "REMOVE_PRIVILEGED_ROLE"); return t ? short_enum(t->value("state", "")) : ""; };
    ASSERT_TRUE(eventually([&] { return state() == "SUCCEEDED" || state() == "VERIFIED"; })) << state() << s.logs();
    std::string payload;
    {
        std::lock_guard lock(mu);
        ASSERT_EQ(commands.size(), 1u);
        payload = commands[0];
    }
    const auto deletes = [&] {
        const auto audits = s.sim_get("/_sim/tenants/northwind-secdefaults.onmicrosoft.com/audits");
        int n = 0;
        for (const auto& a : audits.value("value", json::array()))
            if (a.value("activityDisplayName", "") == "Remove member from role") ++n;
        return n;
    };
    ASSERT_EQ(deletes(), 1);
    // Put the role back, so that a second execution would have something to delete.
    ASSERT_EQ(s.sim_call("POST", "/_sim/tenants/northwind-secdefaults.onmicrosoft.com/users/"
                                 "svc-connguard@northwind-secdefaults.onmicrosoft.com/roles",
                         {{"roleDefinitionId", "62e90394-69f5-4237-9190-012177145e10"}}) / 100, 2);

    // Replay 1: the very same bytes (same envelope id, same command id).
    auto replayer = connect_as(s, "coordinator", "e2e-replayer");
    ASSERT_TRUE(replayer->publish(mqtt::make_message(topics::commands("northwind"), payload)));
    // Replay 2: the same command re-wrapped in a new envelope (new envelope id, same command id).
    auto d = codec::decode(topics::commands("northwind"), payload);
    ASSERT_TRUE(d.ok());
    auto rewrapped = codec::make_envelope("northwind", "coordinator");
    *rewrapped.mutable_agent_command() = d.envelope.agent_command();
    ASSERT_TRUE(replayer->publish(as_message(topics::commands("northwind"), rewrapped)));

    // The agent answers repeats with its stored result; give it time to do anything it would do.
    const auto results = [&] { return s.sql_int("SELECT count(*) FROM events WHERE body_type = 'command_result'"); };
    EXPECT_TRUE(eventually([&] { return slurp(s.agent_log()).find(d.envelope.agent_command().command_id()) != std::string::npos; }, 30s));
    std::this_thread::sleep_for(5s);
    EXPECT_EQ(deletes(), 1) << "a replayed command was executed again";
    const auto roles = s.sim_get("/_sim/tenants/northwind-secdefaults.onmicrosoft.com/users/"
                                 "svc-connguard@northwind-secdefaults.onmicrosoft.com/roles");
    EXPECT_EQ(roles.value("value", json::array()).size(), 1u) << "the re-added role was deleted by a replay";
    EXPECT_EQ(results(), 1) << "the repeated result (same envelope id) must be stored once";
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM commands WHERE task_id = '" + id + "'"), 1);
}

}  // namespace
}  // namespace connguard::e2e
