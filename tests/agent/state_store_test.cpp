// The state store: atomic files, round trips, corrupt files are reported (never a crash).
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "agent/core/state_store.h"
#include "common/text.h"
#include "tests/support/process.h"

namespace {

using namespace connguard;

TEST(StateStore, EmptyDirMeansBaseline) {
    test::temp_dir dir;
    agent::state_store st(dir.path() / "t");
    ASSERT_TRUE(st.open());
    auto s = st.load_state();
    ASSERT_TRUE(s) << s.err().message;
    EXPECT_EQ(s->cycle, 0u);
    EXPECT_FALSE(s->snapshot);
    auto o = st.load_outbox();
    ASSERT_TRUE(o);
    EXPECT_FALSE(o->has_value());
}

TEST(StateStore, StateAndOutboxRoundTrip) {
    test::temp_dir dir;
    agent::state_store st(dir.path());
    ASSERT_TRUE(st.open());
    agent::committed_state s;
    s.cycle = 41;
    snapshot::tenant_snapshot snap;
    snap.tenant_key = "contoso";
    snap.security_defaults_enabled = snapshot::collected<bool>::of(true);
    snap.ca_policies = snapshot::collected<std::vector<nlohmann::json>>::failed({"graph.throttled", "429", ""});
    snap.named_locations = snapshot::collected<std::vector<nlohmann::json>>::of({});
    snap.user = snapshot::collected<snapshot::account>::failed({"graph.http", "x", ""});
    snap.group_ids = snapshot::collected<std::vector<std::string>>::of({});
    snap.roles = snapshot::collected<std::vector<snapshot::role_assignment>>::of({});
    snap.mfa_registration = snapshot::collected<snapshot::registration>::of({});
    snap.per_user_mfa_state = snapshot::collected<std::string>::of("enabled");
    s.snapshot = snap;
    s.statuses.checks["CG-SECDEF"] = v1::CHECK_STATUS_FAIL;
    s.statuses.overall = v1::CHECK_STATUS_FAIL;
    ASSERT_TRUE(st.save_state(s));
    auto back = st.load_state();
    ASSERT_TRUE(back) << back.err().message;
    EXPECT_EQ(back->cycle, 41u);
    ASSERT_TRUE(back->snapshot);
    EXPECT_EQ(snapshot::digest(*back->snapshot), snapshot::digest(snap));
    EXPECT_EQ(back->statuses.overall, v1::CHECK_STATUS_FAIL);

    agent::outbox o;
    o.cycle = 42;
    o.messages.push_back({"connguard/v1/tenants/contoso/validation", std::string("\0\x01\xff payload", 11), true, "id-1"});
    o.next = s;
    ASSERT_TRUE(st.save_outbox(o));
    auto ob = st.load_outbox();
    ASSERT_TRUE(ob);
    ASSERT_TRUE(ob->has_value());
    EXPECT_EQ((*ob)->cycle, 42u);
    ASSERT_EQ((*ob)->messages.size(), 1u);
    EXPECT_EQ((*ob)->messages[0].payload, std::string("\0\x01\xff payload", 11));
    EXPECT_TRUE((*ob)->messages[0].retained);
    ASSERT_TRUE(st.clear_outbox());
    EXPECT_FALSE(st.load_outbox()->has_value());
}

TEST(StateStore, CorruptStateIsAnErrorNamingTheFile) {
    test::temp_dir dir;
    agent::state_store st(dir.path());
    ASSERT_TRUE(st.open());
    std::ofstream(dir.path() / "state.json") << "{\"cycle\": 3, \"snapshot\": {\"trunc";
    auto s = st.load_state();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.err().code, "state.corrupt");
    EXPECT_NE(s.err().message.find("state.json"), std::string::npos);
    st.quarantine_state();
    EXPECT_TRUE(st.load_state());
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "state.json.corrupt"));
}

TEST(StateStore, CommandRecordsAndUnfinished) {
    test::temp_dir dir;
    agent::state_store st(dir.path());
    ASSERT_TRUE(st.open());
    EXPECT_FALSE(st.load_command("c/1 with odd chars")->has_value());
    agent::command_record r{"c/1 with odd chars", agent::command_phase::executing, "cmdbytes", ""};
    ASSERT_TRUE(st.save_command(r));
    ASSERT_TRUE(st.save_command({"c2", agent::command_phase::done, "x", "result", true}));
    ASSERT_TRUE(st.save_command({"c3", agent::command_phase::done, "y", "unsent", false}));
    auto un = st.unfinished_commands();
    ASSERT_EQ(un.size(), 2u);  // executing (interrupted) and done-but-unpublished
    std::set<std::string> ids{un[0].command_id, un[1].command_id};
    EXPECT_EQ(ids, (std::set<std::string>{"c/1 with odd chars", "c3"}));
    auto c2 = st.load_command("c2");
    ASSERT_TRUE(c2 && c2->has_value());
    EXPECT_EQ((*c2)->result_payload, "result");
    EXPECT_EQ((*c2)->phase, agent::command_phase::done);
}

TEST(StateStore, Base64RoundTripAndRejectsGarbage) {
    for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
        const auto out = base64_decode(base64_encode(s));
        ASSERT_TRUE(out.has_value());
        EXPECT_EQ(*out, s);
    }
    EXPECT_FALSE(base64_decode("abc").has_value());
    EXPECT_FALSE(base64_decode("a*cd").has_value());
}

}  // namespace
