// Console sessions (pure, on the project's manual clock): idle and absolute expiry, pending
// sign-ins used once.
#include <gtest/gtest.h>

#include "common/clock.h"
#include "coordinator/console/sessions.h"

namespace connguard::coord::console {
namespace {

using namespace std::chrono_literals;

session alice() {
    session s;
    s.object_id = "oid-alice";
    s.upn = "alice@msp.example";
    s.who = role::approver;
    return s;
}

TEST(ConsoleSessions, CreateGivesDistinctRandomIdAndCsrf) {
    manual_clock clk;
    session_store store(clk, {});
    const auto a = store.create(alice());
    const auto b = store.create(alice());
    EXPECT_GE(a.id.size(), 43u);
    EXPECT_GE(a.csrf.size(), 43u);
    EXPECT_NE(a.id, b.id);
    EXPECT_NE(a.csrf, b.csrf);
    EXPECT_NE(a.id, a.csrf);
    EXPECT_EQ(a.created_ms, to_unix_ms(clk.now()));
}

TEST(ConsoleSessions, IdleExpiryEndsAnUnusedSessionAndUseKeepsItAlive) {
    manual_clock clk;
    session_store store(clk, {.idle = 30min, .absolute = 12h});
    const auto s = store.create(alice());
    clk.advance(29min);
    ASSERT_TRUE(store.touch(s.id));  // used: idle clock restarts
    clk.advance(29min);
    ASSERT_TRUE(store.touch(s.id));
    clk.advance(30min + 1ms);
    EXPECT_FALSE(store.touch(s.id));
    EXPECT_FALSE(store.touch(s.id)) << "an expired session is gone, not revived";
    EXPECT_EQ(store.size(), 0u);
}

TEST(ConsoleSessions, AbsoluteExpiryEndsEvenAnActiveSession) {
    manual_clock clk;
    session_store store(clk, {.idle = 30min, .absolute = 12h});
    const auto s = store.create(alice());
    for (int i = 0; i < 48; ++i) {  // 48 x 15 min = 12 h, used every 15 minutes
        clk.advance(15min);
        ASSERT_TRUE(store.touch(s.id)) << "at " << (i + 1) * 15 << " min";
    }
    clk.advance(1min);
    EXPECT_FALSE(store.touch(s.id));
}

TEST(ConsoleSessions, AliveDoesNotExtendTheIdleTime) {
    manual_clock clk;
    session_store store(clk, {.idle = 30min, .absolute = 12h});
    const auto s = store.create(alice());
    clk.advance(20min);
    EXPECT_TRUE(store.alive(s.id));
    clk.advance(11min);
    EXPECT_FALSE(store.alive(s.id));
    EXPECT_FALSE(store.touch(s.id));
}

TEST(ConsoleSessions, UnknownAndRemovedSessionsAreNotFound) {
    manual_clock clk;
    session_store store(clk, {});
    EXPECT_FALSE(store.touch("nope"));
    const auto s = store.create(alice());
    store.remove(s.id);
    EXPECT_FALSE(store.touch(s.id));
}

pending_entry pending(const std::string& state, const std::string& ret = "/tasks") {
    pending_entry p;
    p.sign_in.state = state;
    p.sign_in.nonce = "n-" + state;
    p.return_path = ret;
    return p;
}

TEST(ConsoleSessions, PendingSignInIsTakenOnce) {
    manual_clock clk;
    session_store store(clk, {});
    store.put_pending(pending("s1", "/tasks/abc"));
    const auto first = store.take_pending("s1");
    ASSERT_TRUE(first);
    EXPECT_EQ(first->return_path, "/tasks/abc");
    EXPECT_EQ(first->sign_in.nonce, "n-s1");
    EXPECT_FALSE(store.take_pending("s1")) << "a state is used once";
    EXPECT_FALSE(store.take_pending("unknown"));
}

TEST(ConsoleSessions, PendingSignInExpires) {
    manual_clock clk;
    session_store store(clk, {.pending_ttl = 10min});
    store.put_pending(pending("old"));
    clk.advance(10min + 1ms);
    EXPECT_FALSE(store.take_pending("old"));
}

TEST(ConsoleSessions, PendingSignInsAreBounded) {
    manual_clock clk;
    session_store store(clk, {.max_pending = 3});
    for (int i = 0; i < 4; ++i) {
        std::string state = "s";  // GCC 12 -O3 warns (array-bounds) on "s" + std::to_string(i) in a loop
        state += std::to_string(i);
        store.put_pending(pending(state));
        clk.advance(1s);
    }
    EXPECT_FALSE(store.take_pending("s0")) << "the oldest is dropped";
    EXPECT_TRUE(store.take_pending("s3"));
}

}  // namespace
}  // namespace connguard::coord::console
