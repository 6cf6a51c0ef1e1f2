// Durability of the MQTT wrapper against a real mosquitto (made by broker-config/make-broker):
// persistent sessions, the offline buffer (also across a publisher restart), reconnect with
// resubscribe, and acknowledgement only after the handler succeeded.
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "common/mqtt_client.h"
#include "common/topics.h"
#include "tests/common/mqtt_test_util.h"
#include "tests/support/broker.h"

namespace connguard::test {
namespace {

using namespace std::chrono_literals;

/// Publishes one QoS 1 message from a separate process (the stock mosquitto_pub client).
int publish_with_mosquitto_pub(const broker& b, const std::string& user, const std::string& topic,
                               const std::string& payload, std::string* out) {
    return run_command({"mosquitto_pub", "-V", "5", "-h", "127.0.0.1", "-p", std::to_string(b.port()), "-q", "1",
                        "-u", user, "-P", b.password(user), "-t", topic, "-m", payload},
                       out);
}

std::set<std::string> payloads(const std::vector<mqtt::message>& ms) {
    std::set<std::string> out;
    for (const auto& m : ms) out.insert(m.payload);
    return out;
}

TEST(MqttDurability, PersistentSubscriberGetsEverythingPublishedWhileItWasDown) {
    broker b;
    const auto topic = topics::events("tenant-a");
    inbox first;
    {
        mqtt::client coord(client_for(b, "coordinator", "coord-1"));
        coord.subscribe(topics::all_tenants_filter(topics::tenant_channel::events), first.handler());
        ASSERT_TRUE(coord.connect().ok());
        coord.disconnect();
    }
    mqtt::client agent(client_for(b, "tenant-a", "agent-a"));
    ASSERT_TRUE(agent.connect().ok());
    constexpr int n = 300;  // beyond mosquitto's default max_queued_messages would be 1000; see broker-config
    for (int i = 0; i < n; ++i) ASSERT_TRUE(agent.publish(mqtt::make_message(topic, "event-" + std::to_string(i))).ok()) << i;

    inbox second;
    mqtt::client coord(client_for(b, "coordinator", "coord-1"));
    coord.subscribe(topics::all_tenants_filter(topics::tenant_channel::events), second.handler());
    ASSERT_TRUE(coord.connect().ok());
    EXPECT_EQ(second.wait_for(n), static_cast<std::size_t>(n));
    const auto got = payloads(second.messages());
    EXPECT_EQ(got.size(), static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) EXPECT_TRUE(got.count("event-" + std::to_string(i))) << i;
    EXPECT_EQ(first.size(), 0u);
}

TEST(MqttDurability, SessionSurvivesBrokerRestart) {
    broker b;
    inbox in;
    mqtt::client coord(client_for(b, "coordinator", "coord-r"));
    coord.subscribe(topics::all_tenants_filter(topics::tenant_channel::results), in.handler());
    ASSERT_TRUE(coord.connect().ok());
    b.restart();
    ASSERT_TRUE(eventually([&] { return coord.connected(); })) << b.log();
    mqtt::client agent(client_for(b, "tenant-b", "agent-b"));
    ASSERT_TRUE(agent.connect().ok());
    ASSERT_TRUE(agent.publish(mqtt::make_message(topics::results("tenant-b"), "after-restart")).ok());
    ASSERT_EQ(in.wait_for(1), 1u);
    EXPECT_EQ(in.messages()[0].payload, "after-restart");
    EXPECT_GE(coord.stats().reconnects, 1u);
}

TEST(MqttDurability, PublisherBuffersWhileBrokerIsDownAndDeliversWhenBack) {
    broker b;
    temp_dir persist("connguard-outbox");
    inbox in;
    {
        mqtt::client coord(client_for(b, "coordinator", "coord-2"));
        coord.subscribe(topics::all_tenants_filter(topics::tenant_channel::events), in.handler());
        ASSERT_TRUE(coord.connect().ok());
        coord.disconnect();
    }
    auto opts = client_for(b, "tenant-a", "agent-buf");
    opts.persistence_dir = persist.path().string();
    mqtt::client agent(opts);
    ASSERT_TRUE(agent.connect().ok());
    b.stop();
    ASSERT_TRUE(eventually([&] { return !agent.connected(); }));
    constexpr int n = 50;
    for (int i = 0; i < n; ++i) {
        auto st = agent.publish(mqtt::make_message(topics::events("tenant-a"), "offline-" + std::to_string(i)), 20ms);
        ASSERT_FALSE(st.ok());
        EXPECT_EQ(st.err().code, "mqtt.buffered");
    }
    EXPECT_EQ(agent.stats().pending, static_cast<std::uint64_t>(n));
    b.start();
    EXPECT_TRUE(agent.flush(30s));
    EXPECT_EQ(agent.stats().published, static_cast<std::uint64_t>(n));

    mqtt::client coord(client_for(b, "coordinator", "coord-2"));
    coord.subscribe(topics::all_tenants_filter(topics::tenant_channel::events), in.handler());
    ASSERT_TRUE(coord.connect().ok());
    EXPECT_EQ(in.wait_for(n), static_cast<std::size_t>(n));
    EXPECT_EQ(payloads(in.messages()).size(), static_cast<std::size_t>(n));
}

TEST(MqttDurability, OfflineBufferSurvivesPublisherRestart) {
    broker b;
    temp_dir persist("connguard-outbox");
    inbox in;
    {
        mqtt::client coord(client_for(b, "coordinator", "coord-3"));
        coord.subscribe(topics::all_tenants_filter(topics::tenant_channel::events), in.handler());
        ASSERT_TRUE(coord.connect().ok());
        coord.disconnect();
    }
    auto opts = client_for(b, "tenant-a", "agent-restart");
    opts.persistence_dir = persist.path().string();
    constexpr int n = 40;
    b.stop();
    {
        mqtt::client agent(opts);
        EXPECT_TRUE(agent.connect(1s, /*keep_trying=*/true).ok());
        for (int i = 0; i < n; ++i) {
            auto st = agent.publish(mqtt::make_message(topics::events("tenant-a"), "restart-" + std::to_string(i)), 10ms);
            ASSERT_FALSE(st.ok());
            EXPECT_EQ(st.err().code, "mqtt.buffered");
        }
    }  // the publisher process "exits" with everything still buffered
    mqtt::client agent(opts);
    ASSERT_TRUE(agent.connect(1s, /*keep_trying=*/true).ok());
    b.start();
    mqtt::client coord(client_for(b, "coordinator", "coord-3"));
    coord.subscribe(topics::all_tenants_filter(topics::tenant_channel::events), in.handler());
    ASSERT_TRUE(coord.connect().ok());
    EXPECT_EQ(in.wait_for(n, 30s), static_cast<std::size_t>(n)) << b.log();
    const auto got = payloads(in.messages());
    for (int i = 0; i < n; ++i) EXPECT_TRUE(got.count("restart-" + std::to_string(i))) << i;
}

TEST(MqttDurability, MessageRefusedByItsHandlerAtShutdownIsHandedAgainAfterRestart) {
    broker b;
    temp_dir persist("connguard-held");
    auto opts = client_for(b, "coordinator", "coord-4");
    opts.persistence_dir = persist.path().string();
    std::atomic<int> attempts{0};
    inbox later;
    {
        mqtt::client coord(opts);
        // A handler that cannot commit (e.g. its database is down): it keeps asking to retry.
        coord.subscribe(topics::all_tenants_filter(topics::tenant_channel::results), [&](const mqtt::message&) {
            ++attempts;
            return mqtt::handler_result::retry;
        });
        ASSERT_TRUE(coord.connect().ok());
        // The publisher runs in another process: paho-mqtt-c has one receive thread per process, so
        // a handler holding a message also holds every other client of this process (backpressure).
        std::string out;
        ASSERT_EQ(publish_with_mosquitto_pub(b, "tenant-a", topics::results("tenant-a"), "must-not-be-lost", &out), 0)
            << out;
        ASSERT_TRUE(eventually([&] { return attempts >= 3; }));
        EXPECT_GE(coord.stats().handler_retries, 2u);
        EXPECT_EQ(coord.stats().dropped_unhandled, 0u);
    }  // shut down while the handler still refuses the message
    mqtt::client coord(opts);
    coord.subscribe(topics::all_tenants_filter(topics::tenant_channel::results), later.handler());
    ASSERT_TRUE(coord.connect().ok());
    ASSERT_EQ(later.wait_for(1), 1u) << "the unhandled message was lost at shutdown";
    EXPECT_EQ(later.messages()[0].payload, "must-not-be-lost");
    EXPECT_EQ(later.messages()[0].topic, topics::results("tenant-a"));
    EXPECT_EQ(coord.stats().dropped_unhandled, 0u);
}

TEST(MqttDurability, RetryingHandlerSucceedsInPlaceAndMessageIsNotRedelivered) {
    broker b;
    std::atomic<int> attempts{0};
    inbox done;
    mqtt::client coord(client_for(b, "coordinator", "coord-5"));
    coord.subscribe(topics::all_tenants_filter(topics::tenant_channel::results), [&](const mqtt::message& m) {
        if (++attempts < 3) return mqtt::handler_result::retry;
        return done.handler()(m);
    });
    ASSERT_TRUE(coord.connect().ok());
    std::string out;
    ASSERT_EQ(publish_with_mosquitto_pub(b, "tenant-a", topics::results("tenant-a"), "third-time-lucky", &out), 0)
        << out;
    ASSERT_EQ(done.wait_for(1), 1u);
    EXPECT_EQ(attempts.load(), 3);
    coord.disconnect();
    // Acknowledged once handled: a new session of the same client gets nothing again.
    inbox again;
    mqtt::client coord2(client_for(b, "coordinator", "coord-5"));
    coord2.subscribe(topics::all_tenants_filter(topics::tenant_channel::results), again.handler());
    ASSERT_TRUE(coord2.connect().ok());
    mqtt::client agent(client_for(b, "tenant-a", "agent-5"));
    ASSERT_TRUE(agent.connect().ok());
    ASSERT_TRUE(agent.publish(mqtt::make_message(topics::results("tenant-a"), "marker")).ok());
    ASSERT_EQ(again.wait_for(1), 1u);
    EXPECT_EQ(again.messages()[0].payload, "marker");
}

}  // namespace
}  // namespace connguard::test
