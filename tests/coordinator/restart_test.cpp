// Restart safety: SIGKILL in the middle of a stream loses nothing acknowledged and stores nothing
// twice; webhook deliveries to a receiver that fails now and then arrive exactly once, also across
// a restart of the coordinator.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>

#include "common/envelope_codec.h"
#include "common/http/http_server.h"
#include "tests/support/report_fixtures.h"
#include "tests/coordinator/harness.h"

namespace connguard::coord {
namespace {

using namespace test;
using namespace std::chrono_literals;

test::broker_options broker_opts(std::vector<std::string> tenants = {"contoso"}) {
    test::broker_options o;
    o.tenants = std::move(tenants);
    o.admins = {"alice"};
    o.subscribers = {"watcher"};
    return o;
}

TEST(CoordinatorRestart, SigkillDuringAStreamStoresEveryEventExactlyOnce) {
    deployment d(broker_opts(), {{"broker", {{"ingestConnections", 3}}}});
    d.start();
    auto agent = d.client("contoso", "-stream", /*persistent=*/true);
    // As an agent does: keep each message until the coordinator's IngestAck names it (the broker's
    // PUBACK now comes before the commit, so a SIGKILL may lose what was queued but not committed).
    std::mutex mu;
    std::map<std::string, mqtt::message> unacked;
    agent->subscribe(topics::acks("contoso"), [&](const mqtt::message& m) {
        auto dec = codec::decode(m.topic, m.payload);
        std::lock_guard lock(mu);
        if (dec.ok() && dec.envelope.has_ingest_ack())
            for (const auto& id : dec.envelope.ingest_ack().committed_ids()) unacked.erase(id);
        return mqtt::handler_result::handled;
    });
    ASSERT_TRUE(agent->connect());

    constexpr int n = 900;
    std::set<std::string> ids;
    int kills = 0;
    for (int i = 0; i < n; ++i) {
        auto env = codec::make_envelope("contoso", "agent/contoso");
        auto* ce = env.mutable_change_event();
        ce->set_kind(v1::CHANGE_KIND_CA_POLICY_UPDATED);
        ce->set_subject_id("pol-" + std::to_string(i % 17));
        ce->set_cycle(static_cast<std::uint64_t>(i));
        mqtt::message m;
        m.topic = topics::events("contoso");
        m.payload = codec::encode(env, system_clock::instance());
        ids.insert(env.id());
        {
            std::lock_guard lock(mu);
            unacked[env.id()] = m;
        }
        // The agent side keeps publishing whatever happens to the coordinator (the broker queues
        // for the coordinator's persistent sessions).
        ASSERT_TRUE(agent->publish(m)) << i;
        if (i == n / 4 || i == n / 2 || i == (3 * n) / 4) {
            // Make sure the coordinator is mid-stream (some committed, more in flight), then kill it.
            ASSERT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM events") > 0; }));
            d.kill();
            ++kills;
            d.start();
        }
    }
    ASSERT_EQ(kills, 3);
    // Re-publish (same ids) what is not acknowledged, every 2 s, until everything is.
    auto resent_at = std::chrono::steady_clock::now();
    ASSERT_TRUE(eventually([&] {
        std::vector<mqtt::message> again;
        {
            std::lock_guard lock(mu);
            if (unacked.empty()) return true;
            if (std::chrono::steady_clock::now() - resent_at < 2s) return false;
            for (const auto& [id, m] : unacked) again.push_back(m);
        }
        resent_at = std::chrono::steady_clock::now();
        for (const auto& m : again) (void)agent->publish_async(m);
        return false;
    }, 90s)) << unacked.size() << " not acknowledged\n" << slurp(d.log_path());
    ASSERT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM events") >= n; }, 60s)) << slurp(d.log_path());
    std::this_thread::sleep_for(500ms);  // anything still arriving would be a duplicate
    EXPECT_EQ(d.count("SELECT count(*) FROM events"), n);
    EXPECT_EQ(d.count("SELECT count(DISTINCT envelope_id) FROM events"), n);
    // Every published id is there.
    auto db = d.db();
    auto rows = db->query_strings("SELECT envelope_id FROM events");
    ASSERT_TRUE(rows) << rows.err().message;
    EXPECT_EQ(std::set<std::string>(rows->begin(), rows->end()), ids);
    auto v = db->verify_audit();
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->ok());
}

/// A webhook receiver that answers 500 (without keeping the delivery) now and then.
class flaky_receiver {
public:
    flaky_receiver()
        : srv_({.host = "127.0.0.1", .port = 0, .threads = 2}, [this](const http::server_request& r) {
              std::lock_guard lock(mu_);
              ++requests_;
              if (requests_ % 3 == 0) return http::server_response{500, {}, "try again"};
              const auto key = r.header("Idempotency-Key");
              ++accepted_[key];
              bodies_[key] = r.body;
              return http::server_response{200, {}, "ok"};
          }) {
        if (auto st = srv_.start(); !st) throw std::runtime_error(st.err().message);
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(srv_.port()) + "/hook"; }
    std::map<std::string, int> accepted() {
        std::lock_guard lock(mu_);
        return accepted_;
    }
    int requests() {
        std::lock_guard lock(mu_);
        return requests_;
    }

private:
    std::mutex mu_;
    int requests_ = 0;
    std::map<std::string, int> accepted_;
    std::map<std::string, std::string> bodies_;
    http::server srv_;
};

TEST(CoordinatorRestart, WebhookDeliveriesArriveExactlyOnceDespiteFailuresAndARestart) {
    flaky_receiver rx;
    const std::vector<std::string> tenants = {"t-one", "t-two", "t-three", "t-four"};
    deployment d(broker_opts(tenants),
                 {{"alerts",
                   {{"webhooks", {{{"name", "psa"}, {"url", rx.url()}, {"format", "generic"}, {"minSeverity", "info"}}}},
                    {"retry", {{"initialMilliseconds", 30}, {"maxMilliseconds", 200}}}}}});
    d.start();
    auto publish_report = [&](const std::string& tenant, std::uint64_t cycle, bool fail) {
        auto agent = d.client(tenant, "-r" + std::to_string(cycle));
        ASSERT_TRUE(agent->connect());
        auto r = report(cycle, to_unix_ms(system_clock::instance().now()));
        if (fail) add_cap_fail(r, "pol-" + tenant, "2026-01-01T10:00:00Z");
        finish_overall(r);
        ASSERT_TRUE(agent->publish(envelope_message(topics::validation(tenant), wrap(tenant, r))));
        agent->disconnect();
    };
    // Raise (status, policy, pending task) and resolve alerts, with a restart in the middle.
    for (const auto& t : tenants) publish_report(t, 1, true);
    ASSERT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM alert_history") >= 12; })) << slurp(d.log_path());
    ASSERT_EQ(d.stop(), 0);
    d.start();
    for (const auto& t : tenants) publish_report(t, 2, false);
    ASSERT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM alerts WHERE active = 1") == 0 &&
                                        d.count("SELECT count(*) FROM alert_history") >= 24; }))
        << slurp(d.log_path());
    ASSERT_TRUE(eventually([&] {
        return d.count("SELECT count(*) FROM webhook_outbox WHERE delivered_at_ms IS NULL") == 0;
    }, 30s)) << slurp(d.log_path());

    const auto expected = d.count("SELECT count(*) FROM webhook_outbox");
    EXPECT_EQ(expected, d.count("SELECT count(*) FROM alert_history")) << "one delivery per alert transition";
    const auto got = rx.accepted();
    EXPECT_EQ(static_cast<std::int64_t>(got.size()), expected);
    for (const auto& [key, times] : got) EXPECT_EQ(times, 1) << key;
    EXPECT_GT(rx.requests(), static_cast<int>(got.size())) << "the receiver failed some attempts";
    EXPECT_GT(d.count("SELECT count(*) FROM webhook_outbox WHERE attempts > 1"), 0);
}

}  // namespace
}  // namespace connguard::coord
