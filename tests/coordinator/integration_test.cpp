// The real coordinator binary against a real mosquitto: idempotent ingest, bad input, the broker
// refusing a forged admin topic, the full approval flow through connguardctl, dispatch and result.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include "common/envelope_codec.h"
#include "coordinator/sql/connection.h"
#include "tests/support/report_fixtures.h"
#include "tests/coordinator/harness.h"

namespace connguard::coord {
namespace {

using namespace test;
using namespace std::chrono_literals;

test::broker_options broker_opts() {
    test::broker_options o;
    o.tenants = {"contoso", "fabrikam"};
    o.admins = {"alice", "bob", "olga", "vera"};
    o.subscribers = {"watcher"};
    return o;
}

TEST(CoordinatorIntegration, RedeliveredEnvelopeIsStoredOnceAndBadInputIsCountedNotFatal) {
    deployment d(broker_opts());
    d.start();
    auto agent = d.client("contoso");
    // The end-to-end acknowledgements: committed ids (duplicates too), refusals with their reason.
    std::mutex acks_mu;
    std::multiset<std::string> acked;
    std::map<std::string, std::string> refused;
    agent->subscribe(topics::acks("contoso"), [&](const mqtt::message& m) {
        auto dec = codec::decode(m.topic, m.payload);
        if (dec.ok() && dec.envelope.has_ingest_ack()) {
            std::lock_guard lock(acks_mu);
            for (const auto& id : dec.envelope.ingest_ack().committed_ids()) acked.insert(id);
            for (const auto& r : dec.envelope.ingest_ack().refused()) refused[r.envelope_id()] = r.reason();
        }
        return mqtt::handler_result::handled;
    });
    ASSERT_TRUE(agent->connect());

    auto env = codec::make_envelope("contoso", "agent/contoso");
    env.mutable_change_event()->set_kind(v1::CHANGE_KIND_SECURITY_DEFAULTS_DISABLED);
    env.set_id("0e1c6a7e-0000-4000-8000-000000000001");
    const auto m = envelope_message(topics::events("contoso"), env);
    ASSERT_TRUE(agent->publish(m));
    ASSERT_TRUE(agent->publish(m));  // the same envelope id again (what a QoS 1 redelivery looks like)

    // Bad input: garbage, another tenant's payload on our topic, a body on the wrong topic.
    mqtt::message garbage{topics::events("contoso"), "not a protobuf", 1, false, "", ""};
    ASSERT_TRUE(agent->publish(garbage));
    auto foreign = codec::make_envelope("fabrikam", "agent/contoso");
    foreign.mutable_change_event()->set_kind(v1::CHANGE_KIND_SECURITY_DEFAULTS_DISABLED);
    foreign.set_id("0e1c6a7e-0000-4000-8000-000000000002");
    ASSERT_TRUE(agent->publish(envelope_message(topics::events("contoso"), foreign)));

    // A later good event proves the coordinator is still ingesting after the bad ones.
    auto later = codec::make_envelope("contoso", "agent/contoso");
    later.mutable_change_event()->set_kind(v1::CHANGE_KIND_SECURITY_DEFAULTS_ENABLED);
    later.set_id("0e1c6a7e-0000-4000-8000-000000000003");
    ASSERT_TRUE(agent->publish(envelope_message(topics::events("contoso"), later)));

    ASSERT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM events") == 2; }))
        << slurp(d.log_path());
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(d.count("SELECT count(*) FROM events WHERE envelope_id = '0e1c6a7e-0000-4000-8000-000000000001'"), 1);
    EXPECT_EQ(d.count("SELECT count(*) FROM events"), 2);
    // Each stored envelope is acknowledged to the agent, the repeat too (it may have missed the first
    // ack); the foreign-tenant one is refused for good so that the agent stops re-publishing it.
    EXPECT_TRUE(eventually([&] {
        std::lock_guard lock(acks_mu);
        return acked.count(env.id()) == 2 && acked.count(later.id()) == 1 && refused.count(foreign.id()) == 1;
    })) << slurp(d.log_path());
    {
        std::lock_guard lock(acks_mu);
        EXPECT_EQ(refused[foreign.id()], "tenant_mismatch");
        EXPECT_EQ(acked.count(foreign.id()), 0u);
    }
    EXPECT_TRUE(d.running());
    EXPECT_EQ(d.stop(), 0);
    const auto log = slurp(d.log_path());
    EXPECT_NE(log.find("rejected message on 'connguard/v1/tenants/contoso/events' (malformed"), std::string::npos) << log;
    EXPECT_NE(log.find("(tenant_mismatch"), std::string::npos) << log;
    EXPECT_NE(log.find("malformed=1"), std::string::npos) << "counters in the stop summary:\n" << log;
}

TEST(CoordinatorIntegration, AnAdminRequestOnAnotherAdminsTopicIsRefusedByTheBroker) {
    deployment d(broker_opts());
    d.start();
    auto vera = d.client("vera");
    ASSERT_TRUE(vera->connect());
    v1::AdminRequest req;
    req.set_request_id("forged-1");
    req.mutable_list_tenants();
    auto env = codec::make_envelope("", "admin/alice");
    *env.mutable_admin_request() = req;
    auto m = envelope_message(topics::admin_requests("alice"), env);  // vera writes on alice's topic
    m.response_topic = topics::admin_responses("vera");
    m.correlation_data = "forged-1";
    auto st = vera->publish(m);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.err().code, "mqtt.not_authorized") << st.err().message;
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(d.count("SELECT count(*) FROM envelopes_seen WHERE topic LIKE '%/admin/%'"), 0)
        << "the coordinator never saw the forged request";
}

TEST(CoordinatorIntegration, ApprovalFlowThroughConnguardctlDispatchesAndVerifies) {
    deployment d(broker_opts());
    d.start();
    auto agent = d.client("contoso");
    std::mutex mu;
    std::vector<v1::AgentCommand> commands;
    agent->subscribe(topics::commands("contoso"), [&](const mqtt::message& m) {
        auto dec = codec::decode(m.topic, m.payload);
        if (dec.ok()) {
            std::lock_guard lock(mu);
            commands.push_back(dec.envelope.agent_command());
        }
        return mqtt::handler_result::handled;
    });
    ASSERT_TRUE(agent->connect());
    auto watcher = d.client("watcher");
    std::atomic<int> critical_alerts{0};
    std::map<std::string, int> alert_deliveries;  // envelope id -> times received (under mu)
    watcher->subscribe(topics::all_alerts_filter(), [&](const mqtt::message& m) {
        if (topics::parse(m.topic).severity == "critical") ++critical_alerts;
        auto dec = codec::decode(m.topic, m.payload);
        std::lock_guard lock(mu);
        if (dec.ok()) ++alert_deliveries[dec.envelope.id()];
        return mqtt::handler_result::handled;
    });
    ASSERT_TRUE(watcher->connect());

    // A report whose CA policy blocks the account: a high-risk EXCLUDE task.
    auto r = report(1, to_unix_ms(system_clock::instance().now()));
    add_cap_fail(r, "pol-1", "2026-01-01T10:00:00Z", "block");
    finish_overall(r);
    auto renv = wrap("contoso", r);
    ASSERT_TRUE(agent->publish(envelope_message(topics::validation("contoso"), renv)));
    ASSERT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM tasks WHERE state = 2") == 1; }))
        << slurp(d.log_path());
    EXPECT_TRUE(eventually([&] { return critical_alerts.load() >= 2; })) << "status:FAIL and the blocking policy";

    std::string out;
    ASSERT_EQ(d.ctl("vera", {"tasks", "--state", "pending-approval", "--json"}, &out), 0) << out;
    const auto j = nlohmann::json::parse(out.substr(out.find('{')));
    ASSERT_EQ(j["tasks"].size(), 1u) << out;
    const std::string id = j["tasks"][0]["task_id"];

    ASSERT_EQ(d.ctl("vera", {"task", "show", id}, &out), 0) << out;
    EXPECT_NE(out.find("PATCH /v1.0/identity/conditionalAccess/policies/pol-1"), std::string::npos) << out;
    EXPECT_NE(out.find("excludeUsers"), std::string::npos) << out;
    EXPECT_NE(out.find("2026-01-01T10:00:00Z"), std::string::npos) << out;

    EXPECT_EQ(d.ctl("vera", {"approve", id}, &out), 1) << out;  // viewer
    EXPECT_NE(out.find("forbidden"), std::string::npos) << out;
    EXPECT_EQ(d.ctl("alice", {"approve", id, "--plan-version", "7"}, &out), 1) << out;
    EXPECT_NE(out.find("stale_plan"), std::string::npos) << out;
    ASSERT_EQ(d.ctl("alice", {"approve", id, "--comment", "break-glass for backups"}, &out), 0) << out;
    EXPECT_NE(out.find("PENDING_APPROVAL (1 of 2"), std::string::npos) << out;
    EXPECT_EQ(d.ctl("alice", {"approve", id}, &out), 1) << out;  // the same approver twice
    EXPECT_NE(out.find("already_approved"), std::string::npos) << out;
    ASSERT_EQ(d.ctl("bob", {"approve", id}, &out), 0) << out;
    EXPECT_NE(out.find("DISPATCHED"), std::string::npos) << out;

    ASSERT_TRUE(eventually([&] {
        std::lock_guard lock(mu);
        return !commands.empty();
    }));
    v1::AgentCommand cmd;
    {
        std::lock_guard lock(mu);
        cmd = commands.front();
    }
    EXPECT_EQ(cmd.task_id(), id);
    EXPECT_EQ(cmd.plan_version(), 1u);
    EXPECT_EQ(cmd.approved_by_size(), 2);
    EXPECT_EQ(cmd.plan().http_path(), "/v1.0/identity/conditionalAccess/policies/pol-1");

    // Forged results through the broker (issue 13): another tenant with the real ids, the right task
    // with a wrong command id, an unknown task with the real command id. Each is refused and
    // audited, and the dispatch record stays empty: no outcome, the task still DISPATCHED.
    auto fabrikam = d.client("fabrikam");
    ASSERT_TRUE(fabrikam->connect());
    auto forged_result = [&](const std::string& tenant, const std::string& task_id, const std::string& command_id) {
        auto f = codec::make_envelope(tenant, "agent/" + tenant);
        f.mutable_command_result()->set_command_id(command_id);
        f.mutable_command_result()->set_task_id(task_id);
        f.mutable_command_result()->set_plan_version(1);
        f.mutable_command_result()->set_outcome(v1::COMMAND_OUTCOME_SUCCEEDED);
        return envelope_message(topics::results(tenant), f);
    };
    ASSERT_TRUE(fabrikam->publish(forged_result("fabrikam", id, cmd.command_id())));
    ASSERT_TRUE(agent->publish(forged_result("contoso", id, "00000000-0000-4000-8000-00000000f0f0")));
    ASSERT_TRUE(agent->publish(forged_result("contoso", "no-such-task", cmd.command_id())));
    ASSERT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM audit WHERE action = 'result.refused'") == 3; }))
        << slurp(d.log_path());
    EXPECT_EQ(d.count("SELECT count(*) FROM commands WHERE command_id = '" + cmd.command_id() +
                      "' AND outcome IS NULL AND result_at_ms IS NULL AND result_detail IS NULL"),
              1)
        << "a refused result wrote into the dispatch record";
    EXPECT_EQ(d.count("SELECT count(*) FROM tasks WHERE state = 4"), 1);
    EXPECT_EQ(d.count("SELECT count(*) FROM events WHERE body_type = 'command_result'"), 0);
    EXPECT_TRUE(eventually([&] {
        return slurp(d.log_path()).find("tenant fabrikam: command result refused (task '" + id + "', command '" +
                                        cmd.command_id() + "'") != std::string::npos;
    })) << slurp(d.log_path());

    // The agent reports success, then a clean report: VERIFIED.
    auto res = codec::make_envelope("contoso", "agent/contoso");
    res.mutable_command_result()->set_command_id(cmd.command_id());
    res.mutable_command_result()->set_task_id(id);
    res.mutable_command_result()->set_plan_version(1);
    res.mutable_command_result()->set_outcome(v1::COMMAND_OUTCOME_SUCCEEDED);
    ASSERT_TRUE(agent->publish(envelope_message(topics::results("contoso"), res)));
    ASSERT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM tasks WHERE state = 5") == 1; }));
    EXPECT_EQ(d.count("SELECT count(*) FROM commands WHERE command_id = '" + cmd.command_id() + "' AND outcome = " +
                      std::to_string(v1::COMMAND_OUTCOME_SUCCEEDED)),
              1)
        << "the genuine result is recorded with its transition";
    std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(agent->publish(envelope_message(topics::validation("contoso"), wrap("contoso", report(2, to_unix_ms(system_clock::instance().now()))))));
    ASSERT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM tasks WHERE state = 11") == 1; }))
        << slurp(d.log_path());

    ASSERT_EQ(d.ctl("olga", {"audit", "--verify", "--task", id}, &out), 0) << out;
    EXPECT_NE(out.find("audit chain intact"), std::string::npos) << out;
    for (const char* a : {"approval.refused", "task.approval_recorded", "task.approved", "task.dispatched", "task.verified"})
        EXPECT_NE(out.find(a), std::string::npos) << a << "\n" << out;
    ASSERT_EQ(d.ctl("olga", {"tenants"}, &out), 0) << out;
    EXPECT_NE(out.find("contoso"), std::string::npos) << out;

    // The publisher deletes what the broker acknowledged in a later transaction and never fetches a
    // sent row again (service.cpp publisher_loop): the outbox empties and no alert went out twice.
    EXPECT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM mqtt_outbox") == 0; }))
        << d.count("SELECT count(*) FROM mqtt_outbox") << " row(s) left in the MQTT outbox";
    {
        std::lock_guard lock(mu);
        EXPECT_GE(alert_deliveries.size(), 2u);
        for (const auto& [alert_id, n] : alert_deliveries) EXPECT_EQ(n, 1) << "alert " << alert_id;
    }

    // Someone edits the audit log behind the coordinator's back: verification names the entry.
    {
        auto db = d.db();
        ASSERT_TRUE(db->exec(db->backend() == coord::sql::dialect::postgres ? "DROP TRIGGER audit_no_update ON audit"
                                                                             : "DROP TRIGGER audit_no_update"));
        ASSERT_TRUE(db->exec("UPDATE audit SET detail = 'nothing happened' WHERE seq = 2"));
    }
    EXPECT_EQ(d.ctl("olga", {"audit", "--verify"}, &out), 1) << out;
    EXPECT_NE(out.find("AUDIT CHAIN BROKEN at entry 2"), std::string::npos) << out;
}

TEST(CoordinatorIntegration, ConnguardctlReportsAClearErrorWithoutACoordinator) {
    test::broker b(broker_opts());
    std::string out;
    const int rc = test::run_command({std::string(CONNGUARD_BIN_DIR) + "/connguardctl", "tenants", "--broker", b.uri(),
                                      "--user", "alice", "--password-file",
                                      (b.dir() / "broker" / "secrets" / "alice").string(), "--timeout", "1"},
                                     &out);
    EXPECT_EQ(rc, 2) << out;
    EXPECT_NE(out.find("no answer from the coordinator"), std::string::npos) << out;
}

TEST(CoordinatorIntegration, CheckConfigNamesWhatTheStartWouldTripOverAndTouchesNothing) {
    test::temp_dir dir("coord-check");
    const auto pw = dir.path() / "pw";
    std::ofstream(pw) << "secret-password\n";
    std::filesystem::permissions(pw, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    const auto cfg = dir.path() / "c.json";
    auto write_config = [&](const std::string& store_path) {
        std::ofstream(cfg) << R"({"broker": {"url": "tcp://127.0.0.1:1", "username": "coordinator", "passwordFile": "pw"},
                                  "store": {"path": ")" + store_path + R"("}, "log": {"file": "pw/coordinator.log"}})";
    };
    const std::string bin = std::string(CONNGUARD_BIN_DIR) + "/connguard-coordinator";
    std::string out;
    // The store's folder does not exist and the log "folder" is a file: both named, nothing created.
    write_config("missing/c.db");
    EXPECT_EQ(test::run_command({bin, "--config", cfg.string(), "--check-config"}, &out), 2) << out;
    EXPECT_NE(out.find("field 'store.path': " + (dir.path() / "missing/c.db").string() + ": its folder"), std::string::npos)
        << out;
    EXPECT_NE(out.find("field 'log.file': "), std::string::npos) << out;
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "missing"));
    EXPECT_EQ(out.find("secret-password"), std::string::npos);

    // Startable: the broker port is closed and the database does not exist yet; neither is touched.
    std::ofstream(cfg) << R"({"broker": {"url": "tcp://127.0.0.1:1", "username": "coordinator", "passwordFile": "pw"},
                              "store": {"path": "c.db"}})";
    EXPECT_EQ(test::run_command({bin, "--config", cfg.string(), "--check-config"}, &out), 0) << out;
    EXPECT_NE(out.find(": OK"), std::string::npos) << out;
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "c.db")) << "--check-config created the database";
}

TEST(CoordinatorIntegration, BadConfigIsRefusedNamingFileFieldAndReason) {
    test::temp_dir dir("coord-cfg");
    const auto pw = dir.path() / "pw";
    std::ofstream(pw) << "secret-password\n";
    std::filesystem::permissions(pw, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                         std::filesystem::perms::group_read | std::filesystem::perms::others_read);
    const auto cfg = dir.path() / "c.json";
    std::ofstream(cfg) << R"({"broker": {"url": "mqtt://x", "username": "coordinator", "passwordFile": "pw"},
                              "store": {"path": "c.db"}, "approvers": {"alice": "boss"},
                              "tasks": {"ttlSecond": 60}, "metrics": {"listen": "9464"},
                              "alerts": {"webhooks": [{"url": "http://127.0.0.1:9/x", "minSeverty": "critical"}]}})";
    std::string out;
    const int rc = test::run_command({std::string(CONNGUARD_BIN_DIR) + "/connguard-coordinator", "--config", cfg.string()}, &out);
    EXPECT_EQ(rc, 2);
    EXPECT_NE(out.find("field 'broker.url': must start with tcp:// or ssl://"), std::string::npos) << out;
    EXPECT_NE(out.find("field 'broker.passwordFile'"), std::string::npos) << out;
    EXPECT_NE(out.find("chmod 600"), std::string::npos) << out;
    EXPECT_NE(out.find("field 'approvers.alice'"), std::string::npos) << out;
    EXPECT_NE(out.find("field 'metrics.listen': must be host:port"), std::string::npos) << out;
    // A misspelled setting is refused, not silently replaced by its default.
    EXPECT_NE(out.find("field 'tasks.ttlSecond': unknown; did you mean 'tasks.ttlSeconds'?"), std::string::npos) << out;
    EXPECT_NE(out.find("field 'alerts.webhooks[0].minSeverty': unknown; did you mean 'alerts.webhooks[0].minSeverity'?"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find(cfg.string()), std::string::npos) << out;
    EXPECT_EQ(out.find("secret-password"), std::string::npos);
}

}  // namespace
}  // namespace connguard::coord
