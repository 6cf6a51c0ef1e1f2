// Resilience, end to end with real processes:
//  - the coordinator SIGKILLed three times while 50 agent identities stream (connguard-loadgen):
//    every event stored exactly once, every report's posture kept, one task per tenant+kind+target;
//  - the broker restarted (clean stop + start, persistence) mid-stream: nothing lost, nothing doubled;
//  - two coordinators on one PostgreSQL store under a 50-agent stream, the one holding the
//    once-only duties SIGKILLed three times: nothing lost or doubled, every duty taken over and done;
//  - 30 % of Graph requests failing (503 / 429 / malformed JSON / TCP reset) under the real agent:
//    no check ever reports OK where the scenario is broken; every check is right or ERROR; the
//    coordinator never supersedes a task on a report with ERRORs.
#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "common/envelope_codec.h"
#include "common/topics.h"
#include "tests/e2e/e2e_stack.h"
#include "tests/support/postgres.h"
#include "tests/support/webhook_receiver.h"

namespace connguard::e2e {
namespace {

using nlohmann::json;

/// After a stream: everything published is stored exactly once and the tasks are right.
void expect_stream_stored_exactly_once(stack& s, const loadgen_ids& p, const std::vector<std::string>& tenants, int policies) {
    const auto events = p.ids_of("event");
    const auto reports = p.ids_of("report");
    const auto n_events = static_cast<std::int64_t>(events.size());
    // Wait until everything arrived, or nothing new arrived for 20 s (then something is lost).
    std::int64_t last = -1;
    auto last_change = std::chrono::steady_clock::now();
    ASSERT_TRUE(eventually([&] {
        const auto n = s.sql_int("SELECT count(*) FROM envelopes_seen");
        if (n != last) last = n, last_change = std::chrono::steady_clock::now();
        return s.sql_int("SELECT count(*) FROM events WHERE body_type = 'change_event'") >= n_events ||
               std::chrono::steady_clock::now() - last_change > 20s;
    }));
    EXPECT_GE(s.sql_int("SELECT count(*) FROM events WHERE body_type = 'change_event'"), n_events)
        << "events acknowledged by the broker never reached the coordinator's store" << s.logs();
    std::this_thread::sleep_for(1s);  // anything still arriving now would be a duplicate
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM events WHERE body_type = 'change_event'"), n_events);
    const auto stored = s.sql_strings("SELECT envelope_id FROM events WHERE body_type = 'change_event'");
    const std::set<std::string> stored_set(stored.begin(), stored.end());
    EXPECT_EQ(stored_set.size(), stored.size()) << "an event is stored twice";
    std::size_t missing = 0, foreign = 0;
    for (const auto& id : events) missing += stored_set.count(id) == 0 ? 1 : 0;
    for (const auto& id : stored_set) foreign += events.count(id) == 0 ? 1 : 0;
    EXPECT_EQ(missing, 0u) << "events acknowledged by the broker but never stored";
    EXPECT_EQ(foreign, 0u) << "stored events nobody published";
    // Every report was ingested (dedupe table) and each tenant's posture is its newest cycle.
    const auto seen = s.sql_strings("SELECT id FROM envelopes_seen");
    const std::set<std::string> seen_set(seen.begin(), seen.end());
    std::size_t lost_reports = 0;
    for (const auto& id : reports) lost_reports += seen_set.count(id) == 0 ? 1 : 0;
    EXPECT_EQ(lost_reports, 0u) << "reports acknowledged by the broker never reached the coordinator";
    for (const auto& t : tenants)
        EXPECT_EQ(s.sql_int("SELECT cycle FROM posture WHERE tenant = '" + t + "'"), static_cast<std::int64_t>(p.last_cycle.at(t)))
            << t;
    // One task per tenant and failing policy: the repeated reports (and their redeliveries after
    // each kill) neither lost nor duplicated one.
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM tasks"), static_cast<std::int64_t>(tenants.size()) * policies);
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM (SELECT tenant, kind, target FROM tasks GROUP BY 1, 2, 3 HAVING count(*) > 1) AS twice"), 0);
    for (const auto& t : tenants)
        EXPECT_EQ(s.sql_int("SELECT count(*) FROM tasks WHERE tenant = '" + t + "'"), policies) << t;
    std::string out;
    EXPECT_EQ(s.ctl("alice", {"audit", "--verify"}, &out), 0) << out;
}

/// The stream both SIGKILL tests put on the coordinators: one connguard-loadgen identity per tenant,
/// every 10th message a report with `policies` failing CA policies, re-published until acknowledged.
test::process start_agent_stream(stack& s, const std::vector<std::string>& tenants, int messages, int policies,
                                 int interval_ms, const std::filesystem::path& ids_file) {
    return s.start_loadgen(tenants,
                           {"--messages", std::to_string(messages), "--report-every", "10", "--policies",
                            std::to_string(policies), "--interval-ms", std::to_string(interval_ms), "--ids-out",
                            ids_file.string(), "--ack-timeout-s", "3", "--persistence-dir", (s.dir() / "loadgen").string()},
                           s.dir() / "loadgen.log");
}

/// Calls `kill(n)` (n = 1, 2, 3) while the stream is in full flow — some of it committed, more still
/// coming: once 15 %, 40 % and 65 % of `total` envelopes have arrived. False (with a failure) when
/// the stream stalled first.
bool kill_three_times_mid_stream(stack& s, std::int64_t total, const std::function<void(int)>& kill) {
    int n = 0;
    for (const double share : {0.15, 0.4, 0.65}) {
        if (!eventually([&] { return s.sql_int("SELECT count(*) FROM envelopes_seen") >= static_cast<std::int64_t>(share * total); })) {
            ADD_FAILURE() << "stream stalled before kill " << n + 1 << s.logs();
            return false;
        }
        kill(++n);
        if (::testing::Test::HasFatalFailure()) return false;
    }
    return true;
}

TEST(E2EResilience, CoordinatorSigkilledThreeTimesWhileFiftyAgentsStream) {
    const auto tenants = tenant_keys("agent-", 50);
    stack_options o;
    o.tenants = {};
    o.extra_tenants = tenants;
    o.with_sim = false;
    o.coordinator_overrides = {{"broker", {{"ingestConnections", 3}}}};
    stack s(o);
    s.start_coordinator();

    const int messages = under_asan ? 30 : 60;  // per agent; every 10th is a report
    const int policies = 2;
    const auto ids_file = s.dir() / "ids.tsv";
    auto gen = start_agent_stream(s, tenants, messages, policies, 20, ids_file);
    const std::int64_t total = 50LL * messages;
    ASSERT_TRUE(kill_three_times_mid_stream(s, total, [&](int) {
        s.kill_coordinator();
        s.start_coordinator();
    }));
    ASSERT_EQ(gen.wait(std::chrono::seconds(patience)), 0) << "the load generator did not get every PUBACK:\n"
                                                           << tail(s.dir() / "loadgen.log") << s.logs();
    const auto p = read_loadgen_ids(ids_file);
    ASSERT_EQ(static_cast<std::int64_t>(p.kind_of.size()), total);
    expect_stream_stored_exactly_once(s, p, tenants, policies);
}

/// How many times coordinator i's log says it took a duty ("duty …: taken by this coordinator").
int duties_taken(stack& s, int i) {
    const auto log = slurp(s.coordinator_log(i));
    int n = 0;
    for (auto at = log.find("taken by this coordinator"); at != std::string::npos; at = log.find("taken by this coordinator", at + 1))
        ++n;
    return n;
}

// Issue 14: several coordinators, all active, on one PostgreSQL database. Both ingest everything
// (each on its own persistent session); the database dedupes. The once-only duties (MQTT outbox,
// webhooks, the clock: silence alerts here) are held by one through advisory locks; that one is
// SIGKILLed three times mid-stream and the other must take every duty over and do it.
TEST(E2EResilience, TwoCoordinatorsOnOnePostgresLoseAndDoubleNothingWhileTheDutyHolderIsKilled) {
    if (const auto why = test::postgres_server::unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    test::postgres_server pg;  // durable settings: this is a crash test
    test::webhook_receiver rx;
    const auto tenants = tenant_keys("agent-", 50);
    stack_options o;
    o.tenants = {};
    o.extra_tenants = tenants;
    o.with_sim = false;
    o.store_url = pg.create_database();
    o.coordinators = 2;
    o.coordinator_overrides = {
        {"agents", {{"silenceSeconds", 4}}},
        {"alerts",
         {{"webhooks", json::array({{{"name", "psa"}, {"url", rx.url("/hook")}, {"format", "generic"}, {"minSeverity", "info"}}})},
          {"retry", {{"initialMilliseconds", 100}, {"maxMilliseconds", 1000}}}}}};
    stack s(o);
    // The first takes every duty before the second starts; then the holder is always known.
    s.start_coordinator(0);
    ASSERT_TRUE(eventually([&] { return duties_taken(s, 0) == 3; }, 30s)) << s.logs();
    s.start_coordinator(1);
    int holder = 0;

    const int messages = under_asan ? 30 : 60;  // per agent; every 10th is a report
    const int policies = 2;
    const auto ids_file = s.dir() / "ids.tsv";
    auto gen = start_agent_stream(s, tenants, messages, policies, 40, ids_file);
    const std::int64_t total = 50LL * messages;
    const int kills = 3;
    ASSERT_TRUE(kill_three_times_mid_stream(s, total, [&](int kill) {
        const int other = 1 - holder;
        const int before = duties_taken(s, other);
        s.kill_coordinator(holder);
        // The survivor takes all three duties over (its next try after the holder's connection died).
        ASSERT_TRUE(eventually([&] { return duties_taken(s, other) == before + 3; }, 60s))
            << "duties not taken over after kill " << kill << s.logs();
        s.start_coordinator(holder);
        holder = other;
    }));
    ASSERT_EQ(gen.wait(std::chrono::seconds(patience)), 0) << "the load generator did not get every message acknowledged:\n"
                                                           << tail(s.dir() / "loadgen.log") << s.logs();
    const auto p = read_loadgen_ids(ids_file);
    ASSERT_EQ(static_cast<std::int64_t>(p.kind_of.size()), total);
    expect_stream_stored_exactly_once(s, p, tenants, policies);

    // The clock's duty: every agent falls silent after the stream; each silence is raised once.
    ASSERT_TRUE(eventually([&] {
        return s.sql_int("SELECT count(*) FROM alerts WHERE active = 1 AND cause = 'agent:silent'") == 50;
    })) << s.logs();
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM (SELECT fingerprint FROM alerts GROUP BY fingerprint HAVING count(*) > 1) AS twice"), 0);
    // No alert transition recorded twice in a row (raised twice, resolved twice).
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM alert_history a JOIN alert_history b ON b.fingerprint = a.fingerprint "
                        "AND b.seq = (SELECT min(c.seq) FROM alert_history c WHERE c.fingerprint = a.fingerprint AND c.seq > a.seq) "
                        "WHERE a.state = b.state"),
              0);
    // The MQTT outbox duty: everything published and removed.
    EXPECT_TRUE(eventually([&] { return s.sql_int("SELECT count(*) FROM mqtt_outbox") == 0; })) << s.logs();
    // The webhook duty: one delivery per alert transition, each delivered; the receiver saw every
    // delivery key. A key may come twice only when its holder was killed between the receiver's
    // answer and marking it delivered (the repeat carries the same Idempotency-Key): at most once per kill.
    ASSERT_TRUE(eventually([&] {
        return s.sql_int("SELECT count(*) FROM webhook_outbox WHERE delivered_at_ms IS NULL") == 0 &&
               s.sql_int("SELECT count(*) FROM alerts WHERE active = 1 AND cause = 'agent:silent'") == 50;
    })) << s.logs();
    const auto rows = s.sql_int("SELECT count(*) FROM webhook_outbox");
    EXPECT_EQ(rows, s.sql_int("SELECT count(*) FROM alert_history")) << "one delivery per alert transition";
    const auto keys = rx.idempotency_keys();
    std::map<std::string, int> times;
    for (const auto& k : keys) ++times[k];
    EXPECT_EQ(static_cast<std::int64_t>(times.size()), rows) << "every delivery reached the receiver, none invented";
    int repeats = 0;
    for (const auto& [key, n] : times) repeats += n - 1;
    EXPECT_LE(repeats, kills) << "deliveries repeated beyond the kill windows";
    std::string out;
    EXPECT_EQ(s.ctl("alice", {"audit", "--verify"}, &out), 0) << out;
    EXPECT_TRUE(s.coordinator_running(0) && s.coordinator_running(1));
}

/// A broker restart while 10 agents stream; both sides reconnect on their own. Clean (SIGTERM):
/// mosquitto saves sessions, subscriptions and queued QoS 1 messages. SIGKILL of the coordinator
/// and then of the broker: the broker loses whatever it had not saved (messages queued for the
/// coordinator's session, in flight), and only the end-to-end IngestAck brings them back: each
/// publisher re-publishes what the coordinator has not acknowledged after reconnecting.
void broker_restart_mid_stream(int ingest_connections, bool sigkill = false) {
    const auto tenants = tenant_keys("site-", 10);
    stack_options o;
    o.tenants = {};
    o.extra_tenants = tenants;
    o.with_sim = false;
    if (ingest_connections > 0) o.coordinator_overrides = {{"broker", {{"ingestConnections", ingest_connections}}}};
    stack s(o);
    s.start_coordinator();

    const int messages = under_asan ? 60 : 120;
    const auto ids_file = s.dir() / "ids.tsv";
    auto gen = s.start_loadgen(tenants,
                               {"--messages", std::to_string(messages), "--report-every", "10", "--policies", "1",
                                "--interval-ms", "25", "--ids-out", ids_file.string(), "--ack-timeout-s", "3", "--persistence-dir",
                                (s.dir() / "loadgen").string()},
                               s.dir() / "loadgen.log");
    const std::int64_t total = 10LL * messages;
    ASSERT_TRUE(eventually([&] { return s.sql_int("SELECT count(*) FROM envelopes_seen") >= total / 4; })) << s.logs();
    if (sigkill) {
        // The coordinator dies first, so that a second of the stream queues in its persistent
        // session at the broker (acknowledged to the agents by the broker, committed nowhere); then
        // the broker dies before it saved that queue (autosave every 5 s).
        s.kill_coordinator();
        std::this_thread::sleep_for(1s);
        s.broker().kill();
    } else {
        s.broker().stop();
    }
    std::this_thread::sleep_for(2s);  // the agents keep publishing into their offline buffers
    s.broker().start();
    if (sigkill) s.start_coordinator();
    ASSERT_EQ(gen.wait(std::chrono::seconds(patience)), 0)
        << "the load generator did not get every message acknowledged by the coordinator:\n"
        << tail(s.dir() / "loadgen.log") << s.logs();
    std::string all_acknowledged = std::to_string(total);  // not `to_string() + "…"`: GCC 12 -O2 array-bounds
    all_acknowledged += " acknowledged, 0 refused,";
    const auto gen_output = slurp(s.dir() / "loadgen.log");
    EXPECT_NE(gen_output.find(all_acknowledged), std::string::npos) << tail(s.dir() / "loadgen.log");
    const auto p = read_loadgen_ids(ids_file);
    ASSERT_EQ(static_cast<std::int64_t>(p.kind_of.size()), total);
    expect_stream_stored_exactly_once(s, p, tenants, 1);
    EXPECT_TRUE(s.coordinator_running());
}

// The coordinator's default configuration: one ingest connection on a plain persistent subscription.
// (Several connections use a $share group; Mosquitto 2.0.11 does not restore shared subscriptions of
// offline persistent sessions after a restart and drops what arrives before the coordinator is back,
// which is why that is not the default: coordinator/README.md, "Why the default is one connection".)
TEST(E2EResilience, BrokerRestartedMidStreamLosesNothing) { broker_restart_mid_stream(0); }
TEST(E2EResilience, BrokerSigkilledMidStreamLosesNothing) { broker_restart_mid_stream(0, true); }

// --- Graph faults -------------------------------------------------------------------------------

/// Records every ValidationReport on tenants/+/validation (coordinator identity, own non-shared
/// subscription, so the coordinator keeps receiving its own copies).
class report_recorder {
public:
    explicit report_recorder(const test::broker& b) {
        client_ = std::make_unique<mqtt::client>(mqtt::client_options_builder()
                                                     .server_uri(b.uri())
                                                     .client_id("e2e-report-recorder")
                                                     .credentials("coordinator", b.password("coordinator"))
                                                     .clean_start(true)
                                                     .finalize());
        client_->subscribe(topics::all_tenants_filter(topics::tenant_channel::validation), [this](const mqtt::message& m) {
            auto d = codec::decode(m.topic, m.payload);
            if (d.ok() && d.envelope.has_validation_report()) {
                std::lock_guard lock(mu_);
                auto& v = got_[d.envelope.tenant()];
                // Retained copies and repeats carry a cycle we already have.
                if (v.empty() || v.back().cycle() < d.envelope.validation_report().cycle())
                    v.push_back(d.envelope.validation_report());
            }
            return mqtt::handler_result::handled;
        });
        if (auto st = client_->connect(); !st) throw std::runtime_error("report recorder: " + st.err().message);
    }
    ~report_recorder() { client_->disconnect(); }
    std::vector<v1::ValidationReport> of(const std::string& tenant) {
        std::lock_guard lock(mu_);
        return got_[tenant];
    }

private:
    std::mutex mu_;
    std::map<std::string, std::vector<v1::ValidationReport>> got_;
    std::unique_ptr<mqtt::client> client_;
};

std::string key_of(const v1::CheckResult& c) { return c.id() + "/" + c.subject(); }

TEST(E2EResilience, ThirtyPercentOfGraphRequestsFailingNeverGiveAFalseOk) {
    stack_options o;
    o.poll_seconds = 2;
    // Few retries, so that faults reach the checks instead of being absorbed by retrying.
    o.agent_overrides = {{"graph", {{"maxRetries", 1}, {"retryBudget", 3}, {"caPacingMs", 0}, {"requestTimeoutMs", 5000}}}};
    o.sim_args = {"--ca-rate-limit", "off"};
    stack s(o);
    report_recorder rec(s.broker());
    s.start_coordinator();
    s.start_agent();

    // Baseline without faults: the scenario's truth.
    const std::vector<std::string> tenants = {"contoso", "fabrikam", "northwind"};
    std::map<std::string, v1::ValidationReport> truth;
    ASSERT_TRUE(eventually([&] {
        for (const auto& t : tenants)
            if (rec.of(t).empty()) return false;
        return true;
    })) << s.logs();
    for (const auto& t : tenants) {
        truth[t] = rec.of(t).front();
        for (const auto& c : truth[t].checks())
            ASSERT_NE(c.status(), v1::CHECK_STATUS_ERROR) << t << " baseline has an ERROR: " << key_of(c) << " " << c.reason();
    }
    ASSERT_EQ(truth["contoso"].overall(), v1::CHECK_STATUS_OK);
    ASSERT_EQ(truth["fabrikam"].overall(), v1::CHECK_STATUS_FAIL);
    ASSERT_EQ(truth["northwind"].overall(), v1::CHECK_STATUS_FAIL);
    std::optional<json> nw_task;
    ASSERT_TRUE(eventually([&] { return (nw_task = s.task("northwind", "REMOVE_PRIVILEGED_ROLE")).has_value(); })) << s.logs();

    // 30 % of all requests (token endpoint and Graph) fail: 10 % 503, 10 % 429, 5 % malformed JSON,
    // 5 % TCP reset (1 - 0.9 * 0.9 * 0.95 * 0.95 = 0.27 ... with the order of rules ~0.3).
    std::map<std::string, std::size_t> before;
    int seed = 7;
    for (const auto& t : {"6f1c9a52-3c1e-4b8e-9d4a-1a2b3c4d5e01", "6f1c9a52-3c1e-4b8e-9d4a-1a2b3c4d5e02",
                          "6f1c9a52-3c1e-4b8e-9d4a-1a2b3c4d5e03"}) {
        const json faults = {{"seed", seed++},
                             {"rules",
                              {{{"type", "unavailable"}, {"rate", 0.1}},
                               {{"type", "throttle"}, {"rate", 0.1}},
                               {{"type", "malformedJson"}, {"rate", 0.06}},
                               {{"type", "reset"}, {"rate", 0.06}}}}};
        ASSERT_EQ(s.sim_call("PUT", std::string("/_sim/tenants/") + t + "/faults", faults) / 100, 2);
    }
    for (const auto& t : tenants) before[t] = rec.of(t).size();
    const std::size_t cycles = under_asan ? 4 : 8;
    ASSERT_TRUE(eventually([&] {
        for (const auto& t : tenants)
            if (rec.of(t).size() < before[t] + cycles) return false;
        return true;
    }, 240s)) << s.logs();
    const auto stats = s.sim_get("/_sim/requests");

    int errors = 0, checks = 0;
    std::set<std::string> degraded;  // neither the truth nor ERROR (but not OK either)
    for (const auto& t : tenants) {
        std::map<std::string, v1::CheckStatus> expected;
        std::map<std::string, v1::CheckStatus> expected_by_id;  // worst per check id
        for (const auto& c : truth[t].checks()) {
            expected[key_of(c)] = c.status();
            expected_by_id[c.id()] = std::max(expected_by_id[c.id()], c.status());
        }
        const auto reports = rec.of(t);
        for (std::size_t i = before[t]; i < reports.size(); ++i) {
            const auto& r = reports[i];
            std::set<std::string> ids_with_error;
            for (const auto& c : r.checks()) {
                ++checks;
                if (c.status() == v1::CHECK_STATUS_ERROR) {
                    ++errors;
                    ids_with_error.insert(c.id());
                    continue;
                }
                const auto it = expected.find(key_of(c));
                const auto truth_status = it == expected.end() ? v1::CHECK_STATUS_UNSPECIFIED : it->second;
                if (c.status() == truth_status) continue;
                if (c.status() == v1::CHECK_STATUS_OK) {
                    ADD_FAILURE() << "FALSE OK: " << t << " cycle " << r.cycle() << ": " << key_of(c) << " is OK, the scenario says "
                                  << v1::CheckStatus_Name(truth_status) << ": " << c.reason();
                } else {
                    degraded.insert(t + " " + key_of(c) + " " + short_enum(v1::CheckStatus_Name(truth_status)) + " -> " +
                                    short_enum(v1::CheckStatus_Name(c.status())) + ": " + c.reason().substr(0, 140));
                }
            }
            // A broken item of the truth is never missing without an ERROR standing in for it.
            for (const auto& [k, st] : expected) {
                if (st == v1::CHECK_STATUS_OK) continue;
                bool present = false;
                for (const auto& c : r.checks()) present = present || key_of(c) == k;
                const auto id = k.substr(0, k.find('/'));
                EXPECT_TRUE(present || ids_with_error.count(id)) << t << " cycle " << r.cycle() << ": " << k
                                                                 << " vanished without an ERROR";
            }
            if (truth[t].overall() != v1::CHECK_STATUS_OK) {
                EXPECT_NE(r.overall(), v1::CHECK_STATUS_OK) << "FALSE OK: " << t << " cycle " << r.cycle() << " overall";
            }
            if (r.overall() != truth[t].overall() && r.overall() != v1::CHECK_STATUS_ERROR && r.overall() != v1::CHECK_STATUS_OK)
                degraded.insert(t + " overall " + short_enum(v1::CheckStatus_Name(truth[t].overall())) + " -> " +
                                short_enum(v1::CheckStatus_Name(r.overall())));
        }
        // The coordinator's view agrees: a failing tenant never shows OK.
        if (t != "contoso") {
            EXPECT_NE(s.statuses()[t], "OK") << t;
        }
    }
    // DESIGN §5 / issue 7: under Graph failures every check is either what the scenario says or
    // ERROR. A check that falls back to WARN (or an unconfirmed prediction) is no false OK, but it
    // hides that the data was missing.
    std::string listing;
    for (const auto& d : degraded) listing += "\n  " + d;
    EXPECT_TRUE(degraded.empty()) << degraded.size() << " check results were neither the scenario's truth nor ERROR:" << listing;
    // The faults really reached the checks (else this test would prove nothing).
    EXPECT_GT(errors, 0) << "no ERROR in " << checks << " checks; simulator counts: " << stats.dump();
    std::printf("[ info ] %d of %d checks under faults were ERROR; simulator: %s\n", errors, checks, stats.dump().c_str());
    // A task is never superseded by a report with ERRORs: the northwind problem still stands.
    const auto now = s.task("northwind", "REMOVE_PRIVILEGED_ROLE");
    ASSERT_TRUE(now.has_value());
    EXPECT_EQ(now->value("task_id", ""), nw_task->value("task_id", ""));
    EXPECT_EQ(short_enum(now->value("state", "")), "PENDING_APPROVAL");
}

}  // namespace
}  // namespace connguard::e2e
