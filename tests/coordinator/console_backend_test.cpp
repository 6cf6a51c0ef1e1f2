// The coordinator as the console sees it (coord::console_backend), for real: a real mosquitto, the
// coordinator's service in this process on a real SQLite file. A console request goes through the
// committer (the single writer) and is answered after COMMIT; what the commit changed arrives on the
// change feed; a rolled-back request changes nothing and publishes nothing.
#include <gtest/gtest.h>

#include "common/envelope_codec.h"
#include "coordinator/change_feed.h"
#include "coordinator/service.h"
#include "tests/coordinator/harness.h"
#include "coordinator/sql/connection.h"
#include "tests/support/report_fixtures.h"
#include "tests/support/store_location.h"

namespace connguard::coord {
namespace {

using namespace test;
using namespace std::chrono_literals;

TEST(ChangeFeed, NumbersChangesInOrderAndReportsAGapWhenTheReaderFellOutOfTheRing) {
    change_feed feed(4);
    EXPECT_EQ(feed.head(), 0u);
    std::vector<v1::ConsoleChange> batch(6);
    for (auto& c : batch) c.set_kind(v1::ConsoleChange::KIND_AUDIT);
    feed.publish(batch);
    EXPECT_EQ(feed.head(), 6u);
    bool gap = false;
    auto got = feed.wait(4, 0ms, &gap);
    EXPECT_FALSE(gap);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].seq(), 5u);
    EXPECT_EQ(got[1].seq(), 6u);
    got = feed.wait(1, 0ms, &gap);  // 2 was dropped (only 3..6 kept)
    EXPECT_TRUE(gap);
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0].seq(), 3u);
    got = feed.wait(2, 0ms, &gap);  // 3..6 kept: nothing lost
    EXPECT_FALSE(gap);
    EXPECT_EQ(got.size(), 4u);
    got = feed.wait(9, 0ms, &gap);  // ahead of the head: the coordinator restarted
    EXPECT_TRUE(gap);
}

class ConsoleBackendTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (const auto why = store_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
        broker_ = std::make_unique<test::broker>(test::broker_options{.tenants = {"contoso"}, .admins = {"alice"}});
        coordinator_config c;
        c.broker_url = broker_->uri();
        c.username = "coordinator";
        c.password = slurp(broker_->dir() / "broker" / "secrets" / "coordinator");
        while (!c.password.empty() && (c.password.back() == '\n' || c.password.back() == '\r')) c.password.pop_back();
        c.client_id = "coord-console-test";
        store_location_ = fresh_store_location(dir_.path());
        if (sql::is_postgres_url(store_location_)) c.store_url = store_location_;
        else c.db_path = store_location_;
        c.tick_ms = 100;
        c.engine.silence_ms = 0;
        c.engine.admins = {{"alice", role::approver}};
        svc_ = std::make_unique<service>(c, system_clock::instance());
        auto st = svc_->start();
        ASSERT_TRUE(st) << st.err().message;
    }
    void TearDown() override {
        if (svc_) svc_->stop();
    }
    static principal person(const std::string& upn) {
        principal p;
        p.name = upn;
        p.upn = upn;
        p.who = role::approver;
        p.via = channel::console;
        p.object_id = "oid-" + upn;
        p.ip = "127.0.0.1";
        p.auth_time_ms = to_unix_ms(system_clock::instance().now());
        return p;
    }
    /// A report whose CA policy blocks the account: one high-risk task (two approvals).
    std::string pending_task() {
        auto agent = std::make_unique<mqtt::client>(mqtt::client_options_builder()
                                                        .server_uri(broker_->uri())
                                                        .client_id("contoso-console-test")
                                                        .credentials("contoso", broker_->password("contoso"))
                                                        .finalize());
        EXPECT_TRUE(agent->connect(10s));
        auto r = report(1, to_unix_ms(system_clock::instance().now()));
        add_cap_fail(r, "pol-1", "2026-01-01T10:00:00Z", "block");
        finish_overall(r);
        EXPECT_TRUE(agent->publish(envelope_message(topics::validation("contoso"), wrap("contoso", r))));
        std::string id;
        EXPECT_TRUE(eventually([&] {
            v1::AdminRequest q;
            q.mutable_list_tasks();
            auto rsp = svc_->admin(person("vera@msp.example"), q);
            if (!rsp || rsp->tasks_size() != 1) return false;
            id = rsp->tasks(0).task_id();
            return true;
        }));
        agent->disconnect(5s);
        return id;
    }
    static v1::AdminRequest approve(const std::string& id) {
        v1::AdminRequest q;
        q.mutable_approve()->set_task_id(id);
        q.mutable_approve()->set_plan_version(1);
        return q;
    }
    /// Every change after `after` that is already committed (they are published before admin() returns).
    std::vector<v1::ConsoleChange> changes_after(std::uint64_t after) {
        bool gap = true;
        auto got = svc_->wait_changes(after, 0ms, &gap);
        EXPECT_FALSE(gap);
        return got;
    }

    test::temp_dir dir_{"coord-console"};
    std::string store_location_;  ///< a SQLite file or a PostgreSQL URL (tests/support/store_location.h)
    std::unique_ptr<test::broker> broker_;
    std::unique_ptr<service> svc_;
};

TEST_F(ConsoleBackendTest, AnApprovalThroughTheBackendIsCommittedAndItsTaskAndAuditChangesArriveOnTheFeed) {
    const auto id = pending_task();
    ASSERT_FALSE(id.empty());
    const auto head = svc_->change_head();
    auto rsp = svc_->admin(person("alice@msp.example"), approve(id));
    ASSERT_TRUE(rsp) << rsp.err().message;
    ASSERT_TRUE(rsp->ok()) << rsp->error_message();
    EXPECT_EQ(rsp->tasks(0).approvals(0).via(), "console");

    const auto got = changes_after(head);
    ASSERT_FALSE(got.empty());
    bool task = false, audit = false;
    std::uint64_t last = head;
    for (const auto& c : got) {
        EXPECT_GT(c.seq(), last) << "strictly increasing";
        last = c.seq();
        if (c.kind() == v1::ConsoleChange::KIND_TASK && c.task_id() == id) task = true;
        if (c.kind() == v1::ConsoleChange::KIND_AUDIT && c.audit_seq() > 0) audit = true;
    }
    EXPECT_TRUE(task);
    EXPECT_TRUE(audit);
    EXPECT_EQ(svc_->change_head(), last);

    // The audit entry says who and how (read from the coordinator's file).
    auto db = store::open(store_location_);
    ASSERT_TRUE(db);
    auto entries = (*db)->audit(0, 1000, id);
    ASSERT_TRUE(entries);
    ASSERT_FALSE(entries->empty());
    EXPECT_EQ(entries->back().actor(), "alice@msp.example");
    EXPECT_NE(entries->back().detail().find("via console by alice@msp.example (oid oid-alice@msp.example) from 127.0.0.1"),
              std::string::npos)
        << entries->back().detail();
}

TEST_F(ConsoleBackendTest, ARolledBackRequestChangesNothingAndPublishesNoChange) {
    const auto id = pending_task();
    ASSERT_FALSE(id.empty());
    // Every audit append fails: the approval's transaction is rolled back.
    auto db = store::open(store_location_);
    ASSERT_TRUE(db);
    const bool pg = sql::is_postgres_url(store_location_);
    ASSERT_TRUE((*db)->exec(pg ? "CREATE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS "
                                 "'BEGIN RAISE EXCEPTION ''test: refused''; END'; "
                                 "CREATE TRIGGER test_fail BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION test_fail()"
                               : "CREATE TRIGGER test_fail BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'test: refused'); END"));
    const auto head = svc_->change_head();
    auto rsp = svc_->admin(person("alice@msp.example"), approve(id));
    ASSERT_FALSE(rsp);
    EXPECT_EQ(rsp.err().code, "coord.admin_failed");
    EXPECT_NE(rsp.err().message.find("test: refused"), std::string::npos) << rsp.err().message;
    EXPECT_EQ(svc_->change_head(), head) << "nothing of the rolled-back transaction was published";
    auto t = (*db)->task_by_id(id);
    ASSERT_TRUE(t && *t);
    EXPECT_EQ((*t)->view.approvals_size(), 0);

    // The next request that commits is the next thing on the feed.
    ASSERT_TRUE((*db)->exec(pg ? "DROP TRIGGER test_fail ON audit" : "DROP TRIGGER test_fail"));
    rsp = svc_->admin(person("alice@msp.example"), approve(id));
    ASSERT_TRUE(rsp) << rsp.err().message;
    ASSERT_TRUE(rsp->ok()) << rsp->error_message();
    const auto got = changes_after(head);
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.front().seq(), head + 1);
    EXPECT_EQ(got.front().kind(), v1::ConsoleChange::KIND_TASK);
    EXPECT_EQ(got.front().task_id(), id);
}

}  // namespace
}  // namespace connguard::coord
