// Unit tests of the shared atomic-file helper (common/atomic_file.h) and of the MQTT client's parts
// that need no broker: the held-message store and the connection state machine.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "common/atomic_file.h"
#include "common/mqtt/connection_state.h"
#include "common/mqtt/held_store.h"
#include "tests/support/process.h"

namespace connguard {
namespace {

TEST(AtomicFile, WritesReplacesAndReadsBackWithMode0600) {
    test::temp_dir dir("connguard-atomic");
    const auto p = dir.path() / "state.json";
    ASSERT_TRUE(write_file_atomic(p, "first").ok());
    ASSERT_TRUE(write_file_atomic(p, std::string("sec\0ond", 7)).ok());
    auto text = read_file(p);
    ASSERT_TRUE(text.ok()) << text.err().message;
    EXPECT_EQ(*text, std::string("sec\0ond", 7));
    EXPECT_FALSE(std::filesystem::exists(p.string() + ".tmp"));
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(AtomicFile, ErrorsNameTheFile) {
    test::temp_dir dir("connguard-atomic");
    const auto missing = dir.path() / "nope.json";
    auto text = read_file(missing);
    ASSERT_FALSE(text.ok());
    EXPECT_EQ(text.err().code, "file.missing");
    EXPECT_NE(text.err().message.find(missing.string()), std::string::npos);

    const auto in_missing_dir = dir.path() / "no-such-dir" / "state.json";
    auto st = write_file_atomic(in_missing_dir, "x");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.err().code, "file.write");
    EXPECT_NE(st.err().message.find(in_missing_dir.string()), std::string::npos);
}

TEST(HeldStore, KeepsMessagesInArrivalOrderAndReadsThemBack) {
    test::temp_dir dir("connguard-held-unit");
    mqtt::detail::held_store store(dir.path().string());
    ASSERT_TRUE(store.enabled());
    auto m1 = mqtt::make_message("a/b", std::string("pay\0load", 8), 1, true);
    m1.response_topic = "r/t";
    m1.correlation_data = "corr";
    const auto m2 = mqtt::make_message("a/c", "second", 0);
    ASSERT_TRUE(store.keep(m1).ok());
    ASSERT_TRUE(store.keep(m2).ok());
    const auto files = store.list();
    ASSERT_EQ(files.size(), 2u);
    auto r1 = store.load(files[0]);
    ASSERT_TRUE(r1.ok()) << r1.err().message;
    EXPECT_EQ(r1->topic, m1.topic);
    EXPECT_EQ(r1->payload, m1.payload);
    EXPECT_EQ(r1->qos, 1);
    EXPECT_TRUE(r1->retained);
    EXPECT_EQ(r1->response_topic, "r/t");
    EXPECT_EQ(r1->correlation_data, "corr");
    auto r2 = store.load(files[1]);
    ASSERT_TRUE(r2.ok());
    EXPECT_EQ(r2->payload, "second");
    EXPECT_EQ(r2->qos, 0);
    EXPECT_FALSE(r2->retained);
    store.remove(files[0]);
    EXPECT_EQ(store.list().size(), 1u);

    std::ofstream(dir.path() / "held" / "0-bad.msg") << "not a held message";
    auto bad = store.load(dir.path() / "held" / "0-bad.msg");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.err().message.find("0-bad.msg"), std::string::npos);

    EXPECT_FALSE(mqtt::detail::held_store("").enabled());
}

TEST(ConnectionState, ReadyOnlyOnceTheCurrentConnectionsSubscriptionsAreDone) {
    using mqtt::detail::conn_event;
    using mqtt::detail::conn_state;
    mqtt::detail::connection_state s;
    EXPECT_EQ(s.state(), conn_state::disconnected);
    s.apply(conn_event::background_connect);
    EXPECT_TRUE(s.wants_connect());
    s.apply(conn_event::connect_token_done);  // connected callback not yet run: no second attempt
    EXPECT_EQ(s.state(), conn_state::disconnected);
    s.apply(conn_event::paho_connected);
    EXPECT_TRUE(s.connected());
    EXPECT_TRUE(s.needs_subscriptions());
    const auto gen = s.generation();
    s.apply(conn_event::connection_lost);
    s.apply(conn_event::paho_connected);             // reconnected while renewing
    s.apply(conn_event::subscriptions_done, gen);    // for the older connection: not ready
    EXPECT_TRUE(s.needs_subscriptions());
    s.apply(conn_event::subscriptions_done, s.generation());
    EXPECT_TRUE(s.ready());
    EXPECT_FALSE(s.handlers_give_up());

    s.apply(conn_event::disconnect_requested);
    EXPECT_TRUE(s.handlers_give_up());
    EXPECT_FALSE(s.connected());
    s.apply(conn_event::connection_lost);
    EXPECT_EQ(s.state(), conn_state::stopping);
    s.apply(conn_event::connect_requested);
    EXPECT_EQ(s.state(), conn_state::disconnected);

    s.apply(conn_event::shutdown);
    EXPECT_TRUE(s.closed());
    EXPECT_TRUE(s.handlers_give_up());
    s.apply(conn_event::paho_connected);
    EXPECT_TRUE(s.closed());
}

}  // namespace
}  // namespace connguard
