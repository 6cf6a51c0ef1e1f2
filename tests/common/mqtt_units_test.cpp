// The MQTT client's parts without a broker: the publish window (backpressure, and what a new paho
// client is handed when the client replaces one), which publish failures make it replace its paho
// client, and the session expiry it sends (common/mqtt_client.h, "A publish whose first write
// fails").
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/mqtt/paho_glue.h"
#include "common/mqtt/publish_window.h"

namespace connguard::test {
namespace {

using mqtt::detail::publish_window;
using namespace std::chrono_literals;

TEST(MqttUnits, BoundsPublishesByWindowWhileConnectedAndByBufferWhileNot) {
    publish_window w(/*max_inflight=*/3, /*max_buffered=*/5);
    for (int i = 0; i < 3; ++i) w.add({});
    EXPECT_FALSE(w.has_room(/*connected=*/true));
    EXPECT_TRUE(w.has_room(/*connected=*/false));
    w.add({});
    w.add({});
    EXPECT_FALSE(w.has_room(false));
    // The broker's Receive Maximum lowers the window to one below it (paho stalls at it).
    w.set_receive_maximum(2);
    EXPECT_EQ(w.window(), 1);
    w.set_receive_maximum(100);
    EXPECT_EQ(w.window(), 3);
}

TEST(MqttUnits, HandsOverOnlyWhatPahoWasGivenAndNotYetAnsweredOldestFirst) {
    publish_window w(10, 10);
    const auto a = w.add({});
    const auto b = w.add({});
    const auto c = w.add({});
    const auto d = w.add({});  // registered, but its publish call has not reached paho yet
    w.handed(c, std::make_shared<const std::string>("c"));
    w.handed(a, std::make_shared<const std::string>("a"));
    w.handed(b, std::make_shared<const std::string>("b"));
    ASSERT_TRUE(w.take(b).has_value());  // acknowledged
    w.handed(b, std::make_shared<const std::string>("late"));  // an answer may beat the bookkeeping: no-op
    EXPECT_FALSE(w.contains(b));
    EXPECT_TRUE(w.contains(d));

    const auto handed = w.handed_publishes();
    ASSERT_EQ(handed.size(), 2u);
    EXPECT_EQ(handed[0].first, a);
    EXPECT_EQ(*std::static_pointer_cast<const std::string>(handed[0].second), "a");
    EXPECT_EQ(handed[1].first, c);
    EXPECT_EQ(w.outstanding(), 3);
}

TEST(MqttUnits, TakeAllAnswersEveryPublishOnce) {
    publish_window w(10, 10);
    int answered = 0;
    for (int i = 0; i < 4; ++i) w.add([&](status) { ++answered; });
    auto all = w.take_all();
    ASSERT_EQ(all.size(), 4u);
    for (auto& done : all) done(make_error("mqtt.closed", "closing"));
    EXPECT_EQ(answered, 4);
    EXPECT_EQ(w.outstanding(), 0);
    EXPECT_TRUE(w.take_all().empty());
}

TEST(MqttUnits, OnlyAFailedFirstWriteMakesTheClientReplaceItsPahoClient) {
    // paho-mqtt-c 1.3.12's MQTTAsync_processCommand reports a publish it could not write with the
    // socket's rc (-1; -2 for persistence on the same branch) and token 0.
    EXPECT_TRUE(mqtt::detail::first_write_failed(MQTTASYNC_FAILURE));
    EXPECT_TRUE(mqtt::detail::first_write_failed(MQTTASYNC_PERSISTENCE_ERROR));
    // A refusal by the broker (PUBACK reason >= 0x80) comes with rc 0; publishes paho fails when a
    // client is closed with MQTTASYNC_OPERATION_INCOMPLETE: neither leaves freed memory behind.
    EXPECT_FALSE(mqtt::detail::first_write_failed(MQTTASYNC_SUCCESS));
    EXPECT_FALSE(mqtt::detail::first_write_failed(MQTTASYNC_OPERATION_INCOMPLETE));
    EXPECT_FALSE(mqtt::detail::first_write_failed(MQTTASYNC_DISCONNECTED));
}

TEST(MqttUnits, SessionExpiryIsNeverZeroAndShortForACleanStart) {
    // 0 would make paho-mqtt-c 1.3.12 empty its in-flight list at the disconnect and free a failed
    // publish's buffers a second time; a clean-start session only needs to outlive a short break.
    mqtt::client_options o;
    o.session_expiry = 7 * 24h;
    EXPECT_EQ(mqtt::detail::session_expiry_sent(o), 7 * 24h);
    o.session_expiry = 0s;
    EXPECT_EQ(mqtt::detail::session_expiry_sent(o), 1s);
    o.clean_start = true;
    EXPECT_EQ(mqtt::detail::session_expiry_sent(o), 1s);
    o.session_expiry = 7 * 24h;
    EXPECT_EQ(mqtt::detail::session_expiry_sent(o), 60s);
    o.session_expiry = 10s;
    EXPECT_EQ(mqtt::detail::session_expiry_sent(o), 10s);
}

}  // namespace
}  // namespace connguard::test
