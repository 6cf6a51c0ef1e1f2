// The engine on a real store (a SQLite file; as "pg." copies, a PostgreSQL database —
// tests/support/store_location.h) with a manual clock: reports -> tasks -> approvals (refused and
// audited) -> dispatch -> results -> verification; alerts raised once and resolved; audit chain.
#include <algorithm>
#include <map>

#include <gtest/gtest.h>

#include "common/topics.h"
#include "coordinator/engine.h"
#include "coordinator/store.h"
#include "coordinator/webhooks.h"
#include "coordinator/sql/connection.h"
#include "tests/support/report_fixtures.h"
#include "tests/support/store_location.h"
#include "tests/support/process.h"
#include "tests/support/util.h"
#include "tests/support/webhook_receiver.h"

namespace connguard::coord {
namespace {

using namespace test;
using google::protobuf::util::TimeUtil;
using namespace std::chrono_literals;

class EngineTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (const auto why = store_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
        db_path_ = fresh_store_location(dir_.path());
        open_engine();
    }
    bool postgres() const { return sql::is_postgres_url(db_path_); }
    void open_engine() {
        eng_.reset();
        db_.reset();
        auto s = store::open(db_path_);
        ASSERT_TRUE(s) << s.err().message;
        db_ = std::move(*s);
        engine_settings es;
        es.task_ttl_ms = 3600'000;
        es.dispatch_timeout_ms = 600'000;
        es.silence_ms = 1800'000;
        es.admins = {{"alice", role::approver}, {"bob", role::approver}, {"olga", role::operator_}, {"vera", role::viewer},
                     {"adam", role::admin}};
        es.webhooks.push_back({"psa", "http://127.0.0.1:9/hook", webhook_format::generic, v1::SEVERITY_WARNING});
        eng_ = std::make_unique<engine>(*db_, clk_, es);
    }
    std::int64_t now() const { return to_unix_ms(clk_.now()); }

    /// Handles one envelope in its own transaction, as the committer does.
    ingest_outcome feed(const std::string& topic, v1::Envelope env, const std::string& corr = {}) {
        const std::string raw = codec::encode(env, clk_);
        auto d = codec::decode(topic, raw);
        EXPECT_TRUE(d.ok()) << d.detail;
        EXPECT_TRUE(db_->begin());
        auto r = eng_->handle(topic, d.envelope, raw, corr);
        EXPECT_TRUE(r) << (r ? "" : r.err().message);
        EXPECT_TRUE(db_->commit());
        return r ? *r : ingest_outcome::ignored;
    }
    void send_report(const v1::ValidationReport& r) { feed(topics::validation("contoso"), wrap("contoso", r)); }

    v1::AdminResponse admin(const std::string& who, v1::AdminRequest req, const std::string& source = {}) {
        req.set_request_id(new_uuid());
        auto env = codec::make_envelope("", source.empty() ? "admin/" + who : source);
        *env.mutable_admin_request() = req;
        feed(topics::admin_requests(who), env, req.request_id());
        // The answer is the newest admin response queued for this admin.
        auto rows = db_->next_mqtt(100000);
        EXPECT_TRUE(rows);
        for (auto it = rows->rbegin(); it != rows->rend(); ++it) {
            if (it->topic != topics::admin_responses(who)) continue;
            v1::Envelope e;
            EXPECT_TRUE(e.ParseFromString(it->payload));
            EXPECT_EQ(it->correlation_data, req.request_id());
            return e.admin_response();
        }
        ADD_FAILURE() << "no response for " << who;
        return {};
    }
    v1::AdminResponse approve(const std::string& who, const std::string& id, std::uint32_t version) {
        v1::AdminRequest r;
        r.mutable_approve()->set_task_id(id);
        r.mutable_approve()->set_plan_version(version);
        return admin(who, r);
    }
    /// Runs `req` as `who` through engine::answer in its own transaction, as the committer does
    /// for the console.
    v1::AdminResponse answer(const principal& who, v1::AdminRequest req) {
        req.set_request_id(new_uuid());
        EXPECT_TRUE(db_->begin());
        auto r = eng_->answer(who, req, now());
        EXPECT_TRUE(r) << (r ? "" : r.err().message);
        EXPECT_TRUE(db_->commit());
        return r ? *r : v1::AdminResponse{};
    }
    principal console_person(const std::string& upn, role r) const {
        principal p;
        p.name = upn;
        p.upn = upn;
        p.who = r;
        p.via = channel::console;
        p.object_id = "1234abcd-0000-4000-8000-" + std::string(upn.substr(0, 4)) + "00000000";
        p.ip = "127.0.0.1";
        p.auth_time_ms = now() - 60'000;  // signed in a minute ago
        return p;
    }
    static v1::AdminRequest approve_request(const std::string& id, std::uint32_t version) {
        v1::AdminRequest r;
        r.mutable_approve()->set_task_id(id);
        r.mutable_approve()->set_plan_version(version);
        return r;
    }
    /// The newest audit entry with `action`.
    v1::AuditEntry last_audit(const std::string& action) {
        auto a = db_->audit(0, 100000, "");
        for (auto it = a->rbegin(); it != a->rend(); ++it)
            if (it->action() == action) return *it;
        ADD_FAILURE() << "no audit entry " << action;
        return {};
    }
    static bool ends_with(const std::string& s, const std::string& tail) {
        return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
    }
    task only_task() {
        auto t = db_->list_tasks(v1::TASK_STATE_UNSPECIFIED, "contoso");
        EXPECT_TRUE(t);
        EXPECT_EQ(t->size(), 1u);
        return t->empty() ? task{} : t->front();
    }
    std::vector<std::string> audit_actions(const std::string& task_id = {}) {
        auto a = db_->audit(0, 100000, task_id);
        std::vector<std::string> out;
        for (const auto& e : *a) out.push_back(e.action());
        return out;
    }
    static bool has(const std::vector<std::string>& v, const std::string& x) {
        return std::find(v.begin(), v.end(), x) != v.end();
    }
    std::vector<std::string> active_causes() {
        std::vector<std::string> out;
        const auto alerts = db_->active_alerts("contoso");
        for (const auto& a : *alerts) out.push_back(a.alert.cause());
        std::sort(out.begin(), out.end());
        return out;
    }
    /// A CommandResult as an agent publishes it on `tenant`'s results topic.
    ingest_outcome send_result(const std::string& tenant, const std::string& task_id, const std::string& command_id,
                               v1::CommandOutcome outcome, const std::string& detail = {}) {
        v1::CommandResult res;
        res.set_task_id(task_id);
        res.set_command_id(command_id);
        res.set_plan_version(1);
        res.set_outcome(outcome);
        res.set_detail(detail);
        auto env = codec::make_envelope(tenant, "agent/" + tenant);
        *env.mutable_command_result() = res;
        return feed(topics::results(tenant), env);
    }
    task task_by_id(const std::string& id) {
        auto t = db_->task_by_id(id);
        EXPECT_TRUE(t && *t) << id;
        return t && *t ? **t : task{};
    }
    command_row command(const std::string& command_id) {
        auto c = db_->command(command_id);
        EXPECT_TRUE(c && *c) << command_id;
        return c && *c ? **c : command_row{};
    }
    v1::ValidationReport failing(std::uint64_t cycle, const std::string& modified = "2026-01-01T10:00:00Z",
                                 const std::string& grant = "mfa") {
        auto r = report(cycle, now());
        add_cap_fail(r, "pol-1", modified, grant);
        finish_overall(r);
        return r;
    }

    /// One report with CG-CAP FAILs for pol-h and pol-m: the ids of their tasks, in that order.
    std::pair<std::string, std::string> tasks_h_and_m() {
        auto r = report(1, now());
        add_cap_fail(r, "pol-h", "2026-01-01T10:00:00Z");
        add_cap_fail(r, "pol-m", "2026-01-01T10:00:00Z");
        finish_overall(r);
        send_report(r);
        auto tasks = db_->tasks_of_tenant("contoso");
        EXPECT_TRUE(tasks && tasks->size() == 2u);
        std::string h, m;
        if (tasks)
            for (const auto& t : *tasks) (t.view.target() == "pol-h" ? h : m) = t.view.task_id();
        return {h, m};
    }

    test::temp_dir dir_{"coord-engine"};
    std::string db_path_;  ///< the store's location: a SQLite file or a PostgreSQL URL
    manual_clock clk_;
    std::unique_ptr<store> db_;
    std::unique_ptr<engine> eng_;
};

TEST_F(EngineTest, AFailingReportBecomesOnePendingTaskAndAlertsOnce) {
    send_report(failing(1));
    auto t = only_task();
    EXPECT_EQ(t.view.state(), v1::TASK_STATE_PENDING_APPROVAL);
    EXPECT_EQ(t.view.plan_version(), 1u);
    EXPECT_EQ(t.view.risk(), v1::RISK_MEDIUM);
    const auto causes = active_causes();
    EXPECT_EQ(causes, (std::vector<std::string>{"policy:pol-1:blocks", "status:FAIL", "task:" + t.view.task_id() + ":pending"}));
    const auto history_before = *db_->count_alert_history(fingerprint("contoso", "status:FAIL"));
    const auto webhooks_before = *db_->pending_webhooks();

    clk_.advance(5min);
    send_report(failing(2));
    EXPECT_EQ(only_task().view.task_id(), t.view.task_id()) << "still one open task";
    EXPECT_EQ(*db_->count_alert_history(fingerprint("contoso", "status:FAIL")), history_before) << "not repeated";
    EXPECT_EQ(*db_->pending_webhooks(), webhooks_before);

    // A restart keeps the alert state: the same report raises nothing new.
    open_engine();
    clk_.advance(5min);
    send_report(failing(3));
    EXPECT_EQ(*db_->count_alert_history(fingerprint("contoso", "status:FAIL")), history_before);
}

TEST_F(EngineTest, TheSameEnvelopeIdTwiceIsStoredOnce) {
    v1::ChangeEvent ce;
    ce.set_kind(v1::CHANGE_KIND_CA_POLICY_UPDATED);
    ce.set_subject_id("pol-1");
    auto env = codec::make_envelope("contoso", "agent/contoso");
    *env.mutable_change_event() = ce;
    env.set_id("11111111-aaaa-bbbb-cccc-000000000001");
    EXPECT_EQ(feed(topics::events("contoso"), env), ingest_outcome::stored);
    EXPECT_EQ(feed(topics::events("contoso"), env), ingest_outcome::duplicate);
    EXPECT_EQ(*db_->count_events("contoso"), 1);
}

// A change event settles only waiting tasks, read with their own query (store::waiting_tasks_of_tenant):
// a closed task of the same target is left alone, the waiting one is superseded.
TEST_F(EngineTest, AChangeEventSupersedesTheWaitingTaskAndLeavesClosedOnesAlone) {
    send_report(failing(1));
    const auto first = only_task();
    auto deleted = [&](const std::string& target) {
        v1::ChangeEvent ce;
        ce.set_kind(v1::CHANGE_KIND_CA_POLICY_DELETED);
        ce.set_subject_id(target);
        auto env = codec::make_envelope("contoso", "agent/contoso");
        *env.mutable_change_event() = ce;
        return feed(topics::events("contoso"), env);
    };
    EXPECT_EQ(deleted(first.view.target()), ingest_outcome::stored);
    ASSERT_EQ(db_->task_by_id(first.view.task_id())->value().view.state(), v1::TASK_STATE_SUPERSEDED);
    clk_.advance(5min);
    send_report(failing(2));  // the problem is back: a new waiting task for the same target
    const auto waiting = db_->waiting_tasks_of_tenant("contoso");
    ASSERT_TRUE(waiting);
    ASSERT_EQ(waiting->size(), 1u);
    const auto second = waiting->front();
    EXPECT_NE(second.view.task_id(), first.view.task_id());
    EXPECT_EQ(deleted(second.view.target()), ingest_outcome::stored);
    EXPECT_EQ(db_->task_by_id(second.view.task_id())->value().view.state(), v1::TASK_STATE_SUPERSEDED);
    EXPECT_TRUE(db_->waiting_tasks_of_tenant("contoso")->empty());
    EXPECT_EQ(db_->tasks_of_tenant("contoso")->size(), 2u);
}

TEST_F(EngineTest, ApprovalRefusalsAreAuditedAndTwoDifferentApproversDispatchAHighRiskTask) {
    send_report(failing(1, "2026-01-01T10:00:00Z", "block"));
    auto t = only_task();
    ASSERT_EQ(t.view.risk(), v1::RISK_HIGH);
    const auto id = t.view.task_id();

    auto r = approve("vera", id, 1);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error_code(), "forbidden");
    r = approve("olga", id, 1);
    EXPECT_EQ(r.error_code(), "forbidden");
    r = approve("alice", id, 0);
    EXPECT_EQ(r.error_code(), "stale_plan");
    r = approve("alice", id, 1);
    ASSERT_TRUE(r.ok()) << r.error_message();
    EXPECT_EQ(r.tasks(0).state(), v1::TASK_STATE_PENDING_APPROVAL);
    r = approve("alice", id, 1);
    EXPECT_EQ(r.error_code(), "already_approved");
    EXPECT_EQ(only_task().view.state(), v1::TASK_STATE_PENDING_APPROVAL);

    int refusals = 0;
    const auto entries = db_->audit(0, 1000, id);
    for (const auto& e : *entries)
        if (e.action() == "approval.refused") {
            ++refusals;
            EXPECT_FALSE(e.actor().empty());
        }
    EXPECT_EQ(refusals, 4);

    r = approve("bob", id, 1);
    ASSERT_TRUE(r.ok()) << r.error_message();
    EXPECT_EQ(r.tasks(0).state(), v1::TASK_STATE_DISPATCHED);
    const auto cmd_id = r.tasks(0).command_id();
    ASSERT_FALSE(cmd_id.empty());

    // The command went to the tenant's commands topic, with both approvers and the plan.
    bool found = false;
    const auto rows = db_->next_mqtt(100000);
    for (const auto& row : *rows) {
        if (row.topic != topics::commands("contoso")) continue;
        auto d = codec::decode(row.topic, row.payload);
        ASSERT_TRUE(d.ok()) << d.detail;
        const auto& c = d.envelope.agent_command();
        EXPECT_EQ(c.command_id(), cmd_id);
        EXPECT_EQ(c.plan_version(), 1u);
        EXPECT_EQ(c.approved_by_size(), 2);
        EXPECT_EQ(c.plan().http_method(), "PATCH");
        EXPECT_GT(TimeUtil::TimestampToMilliseconds(c.not_after()), now());
        found = true;
    }
    EXPECT_TRUE(found);
}

TEST_F(EngineTest, ForgedIdentityInThePayloadIsIgnoredAndAudited) {
    send_report(failing(1));
    const auto id = only_task().view.task_id();
    v1::AdminRequest req;
    req.mutable_approve()->set_task_id(id);
    req.mutable_approve()->set_plan_version(1);
    // vera (viewer) claims to be alice: the topic decides, so this is refused as vera.
    auto r = admin("vera", req, "admin/alice");
    EXPECT_EQ(r.error_code(), "forbidden");
    EXPECT_TRUE(has(audit_actions(), "admin.claimed_identity_ignored"));
    EXPECT_EQ(only_task().view.state(), v1::TASK_STATE_PENDING_APPROVAL);
}

TEST_F(EngineTest, AnExpiredTaskRefusesApproval) {
    send_report(failing(1));
    const auto id = only_task().view.task_id();
    clk_.advance(2h);  // TTL is 1 h
    auto r = approve("alice", id, 1);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error_code(), "expired");
    EXPECT_EQ(only_task().view.state(), v1::TASK_STATE_EXPIRED);
    const auto actions = audit_actions(id);
    EXPECT_TRUE(has(actions, "task.expired"));
    EXPECT_TRUE(has(actions, "approval.refused"));
}

TEST_F(EngineTest, AChangedPlanNeedsANewApproval) {
    send_report(failing(1));
    const auto id = only_task().view.task_id();
    clk_.advance(1min);
    send_report(failing(2, "2026-02-02T00:00:00Z"));  // someone edited the policy
    EXPECT_EQ(only_task().view.plan_version(), 2u);
    auto r = approve("alice", id, 1);
    EXPECT_EQ(r.error_code(), "stale_plan");
    r = approve("alice", id, 2);
    EXPECT_TRUE(r.ok()) << r.error_message();
    EXPECT_EQ(r.tasks(0).state(), v1::TASK_STATE_DISPATCHED);
}

TEST_F(EngineTest, SuccessIsVerifiedByTheNextReportAndAlertsResolve) {
    send_report(failing(1));
    const auto id = only_task().view.task_id();
    auto r = approve("alice", id, 1);
    ASSERT_TRUE(r.ok());
    const auto cmd = r.tasks(0).command_id();

    v1::CommandResult res;
    res.set_command_id(cmd);
    res.set_task_id(id);
    res.set_plan_version(1);
    res.set_outcome(v1::COMMAND_OUTCOME_SUCCEEDED);
    auto env = codec::make_envelope("contoso", "agent/contoso");
    *env.mutable_command_result() = res;
    clk_.advance(10s);
    feed(topics::results("contoso"), env);
    EXPECT_EQ(only_task().view.state(), v1::TASK_STATE_SUCCEEDED);
    EXPECT_TRUE(has(active_causes(), "task:" + id + ":succeeded"));

    clk_.advance(5min);
    auto ok = report(2, now());
    send_report(ok);
    EXPECT_EQ(only_task().view.state(), v1::TASK_STATE_VERIFIED);
    EXPECT_TRUE(active_causes().empty());
    const auto actions = audit_actions(id);
    for (const auto* a : {"task.created", "task.offered", "task.approved", "task.dispatched", "task.succeeded", "task.verified"})
        EXPECT_TRUE(has(actions, a)) << a;
}

TEST_F(EngineTest, NoResultInTimeFailsTheTaskWithAnAlert) {
    send_report(failing(1));
    const auto id = only_task().view.task_id();
    ASSERT_TRUE(approve("alice", id, 1).ok());
    clk_.advance(11min);
    ASSERT_TRUE(db_->begin());
    ASSERT_TRUE(eng_->tick());
    ASSERT_TRUE(db_->commit());
    EXPECT_EQ(only_task().view.state(), v1::TASK_STATE_FAILED);
    EXPECT_TRUE(has(active_causes(), "task:" + id + ":failed"));
}

TEST_F(EngineTest, AResultForAnotherTenantsTaskIsRefused) {
    send_report(failing(1));
    const auto id = only_task().view.task_id();
    ASSERT_TRUE(approve("alice", id, 1).ok());
    v1::CommandResult res;
    res.set_task_id(id);
    res.set_command_id(only_task().view.command_id());
    res.set_outcome(v1::COMMAND_OUTCOME_SUCCEEDED);
    auto env = codec::make_envelope("fabrikam", "agent/fabrikam");
    *env.mutable_command_result() = res;
    EXPECT_EQ(feed(topics::results("fabrikam"), env), ingest_outcome::ignored);
    EXPECT_EQ(only_task().view.state(), v1::TASK_STATE_DISPATCHED);
    EXPECT_TRUE(has(audit_actions(id), "result.refused"));
    EXPECT_FALSE(command(res.command_id()).outcome.has_value()) << "the dispatch record is untouched";
}

// Issue 13: a refused CommandResult used to be written into the command row of whatever command id
// it carried before the task refused it, so task M's name with task H's command id made H's dispatch
// record read SUCCEEDED while H was still DISPATCHED. Now a refused result writes its audit entry
// and nothing else, and the genuine result afterwards is recorded with H's transition.
TEST_F(EngineTest, ARefusedResultChangesNothingAndTheGenuineOneIsRecorded) {
    const auto [h_id, m_id] = tasks_h_and_m();
    const std::string h = h_id, m = m_id;  // plain names: lambdas below capture them
    ASSERT_FALSE(h.empty());
    ASSERT_FALSE(m.empty());
    auto a = approve("alice", h, 1);
    ASSERT_TRUE(a.ok()) << a.error_message();
    ASSERT_EQ(task_by_id(h).view.state(), v1::TASK_STATE_DISPATCHED);
    const std::string cmd_h = task_by_id(h).view.command_id();
    ASSERT_FALSE(cmd_h.empty());
    ASSERT_EQ(task_by_id(m).view.state(), v1::TASK_STATE_PENDING_APPROVAL);

    clk_.advance(1min);  // so that a refused result touching the agent's liveness would show
    const auto seen_before = (*db_->agent("contoso"))->last_seen_ms;
    const auto events_before = *db_->count_events();
    const auto outbox_before = db_->next_mqtt(100000)->size();
    const auto refused_before = eng_->stats().results_refused;

    // Nothing but the audit entry: H's dispatch record, H and M, events, liveness, publications.
    auto expect_unchanged = [&](const std::string& what) {
        SCOPED_TRACE(what);
        const auto c = command(cmd_h);
        EXPECT_EQ(c.task_id, h);
        EXPECT_EQ(c.tenant, "contoso");
        EXPECT_FALSE(c.outcome.has_value()) << v1::CommandOutcome_Name(c.outcome.value_or(v1::COMMAND_OUTCOME_UNSPECIFIED));
        EXPECT_EQ(c.result_detail, "");
        EXPECT_EQ(c.result_at_ms, 0);
        EXPECT_EQ(task_by_id(h).view.state(), v1::TASK_STATE_DISPATCHED);
        EXPECT_EQ(task_by_id(h).view.command_id(), cmd_h);
        EXPECT_EQ(*db_->count_events(), events_before);
        EXPECT_EQ((*db_->agent("contoso"))->last_seen_ms, seen_before);
        EXPECT_EQ(db_->next_mqtt(100000)->size(), outbox_before) << "no TaskView, command or alert published";
    };
    // The newest audit entry is the refusal, by the topic's agent, naming the forged command id.
    auto expect_refusal_audited = [&](const std::string& tenant, const std::string& task_id, const std::string& text) {
        const auto entries = db_->audit(0, 100000, task_id);
        ASSERT_TRUE(entries);
        ASSERT_FALSE(entries->empty());
        const auto& e = entries->back();
        EXPECT_EQ(e.action(), "result.refused");
        EXPECT_EQ(e.actor(), "agent:" + tenant);
        EXPECT_EQ(e.tenant(), tenant);
        EXPECT_NE(e.detail().find(text), std::string::npos) << e.detail();
        EXPECT_NE(e.detail().find("claimed SUCCEEDED"), std::string::npos) << e.detail();
    };

    // 1. Task M's id with task H's real command id, while M waits for approval.
    EXPECT_EQ(send_result("contoso", m, cmd_h, v1::COMMAND_OUTCOME_SUCCEEDED, "forged"), ingest_outcome::ignored);
    expect_unchanged("M's id + H's command id");
    EXPECT_EQ(task_by_id(m).view.state(), v1::TASK_STATE_PENDING_APPROVAL);
    expect_refusal_audited("contoso", m, "command " + cmd_h);

    // 2. The right task with a wrong command id.
    const std::string wrong = new_uuid();
    EXPECT_EQ(send_result("contoso", h, wrong, v1::COMMAND_OUTCOME_SUCCEEDED), ingest_outcome::ignored);
    expect_unchanged("H's id + a wrong command id");
    expect_refusal_audited("contoso", h, "wrong_command");
    EXPECT_FALSE(*db_->command(wrong)) << "no command row is invented for an unknown id";

    // 3. H's id and H's real command id, but published by another tenant's agent.
    EXPECT_EQ(send_result("fabrikam", h, cmd_h, v1::COMMAND_OUTCOME_SUCCEEDED), ingest_outcome::ignored);
    expect_unchanged("another tenant");
    expect_refusal_audited("fabrikam", h, "does not own");
    EXPECT_EQ(*db_->count_events("fabrikam"), 0);

    // 4. M dispatched too (it waits for its own command): M's id with H's command id again.
    ASSERT_TRUE(approve("alice", m, 1).ok());
    const std::string cmd_m = task_by_id(m).view.command_id();
    ASSERT_EQ(task_by_id(m).view.state(), v1::TASK_STATE_DISPATCHED);
    ASSERT_NE(cmd_m, cmd_h);
    const auto outbox_after_m = db_->next_mqtt(100000)->size();
    EXPECT_EQ(send_result("contoso", m, cmd_h, v1::COMMAND_OUTCOME_SUCCEEDED), ingest_outcome::ignored);
    EXPECT_EQ(task_by_id(m).view.state(), v1::TASK_STATE_DISPATCHED);
    EXPECT_FALSE(command(cmd_m).outcome.has_value());
    EXPECT_FALSE(command(cmd_h).outcome.has_value());
    EXPECT_EQ(task_by_id(h).view.state(), v1::TASK_STATE_DISPATCHED);
    EXPECT_EQ(db_->next_mqtt(100000)->size(), outbox_after_m);
    expect_refusal_audited("contoso", m, "wrong_command");

    EXPECT_EQ(eng_->stats().results_refused, refused_before + 4);
    EXPECT_EQ(eng_->stats().forged, 1u);
    EXPECT_EQ(*db_->count_events(), events_before) << "no refused result is kept as an event";
    auto v = db_->verify_audit();
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->ok());

    // The genuine result is accepted and recorded with H's transition.
    clk_.advance(10s);
    EXPECT_EQ(send_result("contoso", h, cmd_h, v1::COMMAND_OUTCOME_SUCCEEDED, "patched and read back"),
              ingest_outcome::stored);
    EXPECT_EQ(task_by_id(h).view.state(), v1::TASK_STATE_SUCCEEDED);
    auto c = command(cmd_h);
    ASSERT_TRUE(c.outcome.has_value());
    EXPECT_EQ(*c.outcome, v1::COMMAND_OUTCOME_SUCCEEDED);
    EXPECT_EQ(c.result_detail, "patched and read back");
    EXPECT_EQ(c.result_at_ms, now());
    EXPECT_EQ(*db_->count_events(), events_before + 1);
    EXPECT_EQ((*db_->agent("contoso"))->last_seen_ms, now());
    EXPECT_TRUE(has(audit_actions(h), "task.succeeded"));
    EXPECT_EQ(task_by_id(m).view.state(), v1::TASK_STATE_DISPATCHED);
    EXPECT_FALSE(command(cmd_m).outcome.has_value());

    // A second result for the same command (new envelope id, other outcome) is refused: the first
    // accepted outcome stays the record.
    clk_.advance(10s);
    EXPECT_EQ(send_result("contoso", h, cmd_h, v1::COMMAND_OUTCOME_FAILED, "late"), ingest_outcome::ignored);
    c = command(cmd_h);
    EXPECT_EQ(c.outcome, v1::COMMAND_OUTCOME_SUCCEEDED);
    EXPECT_EQ(c.result_detail, "patched and read back");
    EXPECT_EQ(c.result_at_ms, now() - 10'000);
    EXPECT_EQ(task_by_id(h).view.state(), v1::TASK_STATE_SUCCEEDED);
    EXPECT_EQ(audit_actions(h).back(), "result.refused");
}

// The store ties a command's outcome to its task: a command row is matched on tenant, task id and
// command id, and only while that task still waits for it.
TEST_F(EngineTest, TheCommandRowIsMatchedOnTenantTaskAndCommandId) {
    const auto [h_id, m_id] = tasks_h_and_m();
    const std::string h = h_id, m = m_id;  // plain names: lambdas below capture them
    ASSERT_FALSE(h.empty());
    ASSERT_FALSE(m.empty());
    ASSERT_TRUE(approve("alice", h, 1).ok());
    const std::string cmd_h = task_by_id(h).view.command_id();

    ASSERT_TRUE(db_->begin());
    for (const auto& [tenant, task_id] : std::vector<std::pair<std::string, std::string>>{
             {"contoso", m}, {"fabrikam", h}, {"contoso", "no-such-task"}}) {
        auto st = db_->record_command_result(tenant, task_id, cmd_h, v1::COMMAND_OUTCOME_SUCCEEDED, "x", now());
        ASSERT_FALSE(st) << tenant << " " << task_id;
        EXPECT_EQ(st.err().code, "store.command_mismatch");
        EXPECT_NE(st.err().message.find(cmd_h), std::string::npos) << st.err().message;
    }
    ASSERT_TRUE(db_->commit());
    EXPECT_FALSE(command(cmd_h).outcome.has_value());

    // The genuine triple while H is DISPATCHED is recorded ...
    ASSERT_TRUE(db_->begin());
    ASSERT_TRUE(db_->record_command_result("contoso", h, cmd_h, v1::COMMAND_OUTCOME_STALE, "changed", now()));
    ASSERT_TRUE(db_->commit());
    EXPECT_EQ(command(cmd_h).outcome, v1::COMMAND_OUTCOME_STALE);
    // ... and once the task left DISPATCHED, nothing more is.
    ASSERT_TRUE(db_->exec("UPDATE tasks SET state = " + std::to_string(v1::TASK_STATE_STALE) + " WHERE id = '" + h + "'"));
    ASSERT_TRUE(db_->begin());
    auto st = db_->record_command_result("contoso", h, cmd_h, v1::COMMAND_OUTCOME_SUCCEEDED, "again", now());
    db_->rollback();
    EXPECT_FALSE(st);
    EXPECT_EQ(command(cmd_h).outcome, v1::COMMAND_OUTCOME_STALE);
    EXPECT_EQ(command(cmd_h).result_detail, "changed");
}

TEST_F(EngineTest, AgentOfflineAndSilentRaiseAndResolve) {
    auto status = [&](v1::AgentState s) {
        auto env = codec::make_envelope("contoso", "agent/contoso");
        env.mutable_agent_status()->set_state(s);
        env.mutable_agent_status()->set_reason(s == v1::AGENT_STATE_OFFLINE ? "connection lost (last will)" : "");
        feed(topics::agent_status("contoso"), env);
    };
    status(v1::AGENT_STATE_OFFLINE);
    EXPECT_EQ(active_causes(), std::vector<std::string>{"agent:offline"});
    status(v1::AGENT_STATE_ONLINE);
    EXPECT_TRUE(active_causes().empty());
    clk_.advance(31min);
    ASSERT_TRUE(db_->begin());
    ASSERT_TRUE(eng_->tick());
    ASSERT_TRUE(db_->commit());
    EXPECT_EQ(active_causes(), std::vector<std::string>{"agent:silent"});
    send_report(report(1, now()));
    EXPECT_TRUE(active_causes().empty());
}

TEST_F(EngineTest, AnAgentIsSilentAfterTwoOfItsOwnPollIntervals) {
    auto status = [&](v1::AgentState s, std::uint32_t poll_seconds) {
        auto env = codec::make_envelope("contoso", "agent/contoso");
        env.mutable_agent_status()->set_state(s);
        env.mutable_agent_status()->set_poll_interval_seconds(poll_seconds);
        feed(topics::agent_status("contoso"), env);
    };
    auto tick = [&] {
        ASSERT_TRUE(db_->begin());
        ASSERT_TRUE(eng_->tick());
        ASSERT_TRUE(db_->commit());
    };
    status(v1::AGENT_STATE_ONLINE, 60);  // polls every minute: silent after 2 min (config says 30)
    clk_.advance(119s);
    tick();
    EXPECT_TRUE(active_causes().empty()) << "within two poll intervals";
    clk_.advance(2s);
    tick();
    ASSERT_EQ(active_causes(), std::vector<std::string>{"agent:silent"});
    auto alerts = db_->active_alerts("contoso");
    ASSERT_EQ(alerts->size(), 1u);
    EXPECT_EQ(alerts->front().alert.detail(), "no message from the agent for 2 min 1 s (threshold 2 min)");

    send_report(report(1, now()));  // any message resolves it
    EXPECT_TRUE(active_causes().empty());

    // A Last Will carries no interval: the agent's own one still counts once it is back online.
    status(v1::AGENT_STATE_OFFLINE, 0);
    EXPECT_EQ(active_causes(), std::vector<std::string>{"agent:offline"});
    EXPECT_EQ(db_->agent("contoso").value()->poll_interval_ms, 60'000);
    send_report(report(2, now()));
    auto online = codec::make_envelope("contoso", "agent/contoso");
    online.mutable_agent_status()->set_state(v1::AGENT_STATE_ONLINE);  // no interval: the told one stays
    feed(topics::agent_status("contoso"), online);
    clk_.advance(3min);
    tick();
    EXPECT_EQ(active_causes(), std::vector<std::string>{"agent:silent"});
}

TEST_F(EngineTest, AnExpectedTenantThatNeverReportedIsListedAlertedAndResolvedByItsFirstReport) {
    engine_settings es;
    es.silence_ms = 1800'000;
    es.admins = {{"vera", role::viewer}};
    es.expected_tenants = {"contoso", "northwind"};
    eng_ = std::make_unique<engine>(*db_, clk_, es);
    send_report(report(1, now()));  // contoso reports; northwind's agent never does

    v1::AdminRequest list;
    list.mutable_list_tenants();
    auto tenants = admin("vera", list);
    ASSERT_EQ(tenants.tenants_size(), 2);
    EXPECT_EQ(tenants.tenants(0).failing_checks_size(), 0) << "contoso's report passes";
    EXPECT_EQ(tenants.tenants(1).tenant(), "northwind");
    EXPECT_EQ(tenants.tenants(1).agent_state(), v1::AGENT_STATE_UNSPECIFIED);
    EXPECT_FALSE(tenants.tenants(1).has_last_seen_at());

    auto tick = [&] {
        ASSERT_TRUE(db_->begin());
        ASSERT_TRUE(eng_->tick());
        ASSERT_TRUE(db_->commit());
    };
    clk_.advance(29min);
    tick();
    EXPECT_TRUE(db_->active_alerts("northwind")->empty()) << "within the threshold since the coordinator started";
    clk_.advance(2min);
    send_report(report(2, now()));  // contoso stays heard from
    tick();
    auto alerts = db_->active_alerts("northwind");
    ASSERT_EQ(alerts->size(), 1u);
    EXPECT_EQ(alerts->front().alert.cause(), "agent:never_reported");
    EXPECT_EQ(alerts->front().alert.severity(), v1::SEVERITY_CRITICAL);
    EXPECT_EQ(admin("vera", list).tenants(1).active_alerts(), 1u);
    EXPECT_TRUE(db_->active_alerts("contoso")->empty());

    // northwind's agent comes up: its first report resolves the alert.
    feed(topics::validation("northwind"), wrap("northwind", report(1, now())));
    EXPECT_TRUE(db_->active_alerts("northwind")->empty());
}

// Pre-change impact: viewers may ask; the answer comes from the stored reports' evaluation contexts;
// an old agent's report (no context), a stale snapshot and a tenant never heard from are listed as
// such; the request is audited, and a bad draft is refused with the reason (and audited).
TEST_F(EngineTest, ImpactOfADraftPerTenantFromTheStoredReports) {
    engine_settings es;
    es.silence_ms = 1800'000;
    es.admins = {{"vera", role::viewer}};
    es.expected_tenants = {"contoso", "northwind"};
    eng_ = std::make_unique<engine>(*db_, clk_, es);
    const std::string exclusion_group = "e0e0e0e0-0000-0000-0000-0000000000e0";
    auto status = [&](const std::string& tenant, std::uint32_t poll_seconds) {
        auto env = codec::make_envelope(tenant, "agent/" + tenant);
        env.mutable_agent_status()->set_state(v1::AGENT_STATE_ONLINE);
        env.mutable_agent_status()->set_poll_interval_seconds(poll_seconds);
        feed(topics::agent_status(tenant), env);
    };
    status("contoso", 600);
    status("fabrikam", 600);
    status("tailspin", 60);
    auto contoso = report(1, now());
    add_evaluation_context(contoso);
    send_report(contoso);
    auto fabrikam = report(1, now());  // an agent that predates impact: no evaluation context
    feed(topics::validation("fabrikam"), wrap("fabrikam", fabrikam));
    auto tailspin = report(1, now());
    add_evaluation_context(tailspin, {exclusion_group});
    tailspin.mutable_evaluation_context()->add_excluding_group_ids(exclusion_group);
    feed(topics::validation("tailspin"), wrap("tailspin", tailspin));
    auto woodgrove = report(1, now());
    add_evaluation_context(woodgrove, {exclusion_group});
    feed(topics::validation("woodgrove"), wrap("woodgrove", woodgrove));
    clk_.advance(90s);  // tailspin polls every minute: its snapshot is now stale

    const nlohmann::json draft = {
        {"displayName", "Block everyone"},
        {"state", "disabled"},
        {"conditions",
         {{"users", {{"includeUsers", {"All"}}, {"excludeGroups", {"f0f0f0f0-0000-0000-0000-0000000000f0"}}}},
          {"applications", {{"includeApplications", {"All"}}}},
          {"clientAppTypes", {"all"}}}},
        {"grantControls", {{"operator", "OR"}, {"builtInControls", {"block"}}}}};
    v1::AdminRequest req;
    req.mutable_impact()->set_policy_json(draft.dump());
    req.mutable_impact()->set_policy_source("block-everyone.json");
    auto rsp = admin("vera", req);
    ASSERT_TRUE(rsp.ok()) << rsp.error_message();
    EXPECT_EQ(rsp.impact_policy(), "Block everyone");
    ASSERT_EQ(rsp.impacts_size(), 5);
    std::map<std::string, v1::TenantImpact> by;
    for (const auto& t : rsp.impacts()) by[t.tenant()] = t;
    EXPECT_EQ(by["contoso"].outcome(), v1::IMPACT_OUTCOME_BLOCKED) << by["contoso"].reason();
    EXPECT_EQ(by["contoso"].exclusion_kind(), "excludeUsers");
    EXPECT_EQ(by["contoso"].exclusion_id(), user_id);
    ASSERT_EQ(by["contoso"].sign_ins_size(), 2);
    EXPECT_EQ(by["contoso"].sign_ins(0).grant(), "block");
    EXPECT_EQ(by["fabrikam"].outcome(), v1::IMPACT_OUTCOME_INCOMPLETE) << by["fabrikam"].reason();
    EXPECT_EQ(by["northwind"].outcome(), v1::IMPACT_OUTCOME_NO_REPORT);
    EXPECT_EQ(by["tailspin"].outcome(), v1::IMPACT_OUTCOME_STALE) << by["tailspin"].reason();
    EXPECT_EQ(by["woodgrove"].outcome(), v1::IMPACT_OUTCOME_BLOCKED);
    EXPECT_EQ(by["tailspin"].reason(), "the latest snapshot is 90 s old, more than one poll interval (60 s)");
    auto entries = db_->audit(0, 100000, "");
    ASSERT_TRUE(entries && !entries->empty());
    EXPECT_EQ(entries->back().action(), "impact.evaluated");
    EXPECT_EQ(entries->back().actor(), "vera");
    EXPECT_NE(entries->back().detail().find("5 tenants, 2 would break (contoso, woodgrove)"), std::string::npos)
        << entries->back().detail();

    // Only the tenants asked for.
    req.mutable_impact()->add_tenants("woodgrove");
    rsp = admin("vera", req);
    ASSERT_EQ(rsp.impacts_size(), 1);
    EXPECT_EQ(rsp.impacts(0).tenant(), "woodgrove");

    // A bad draft is refused with what is wrong, and the refusal is audited.
    v1::AdminRequest bad;
    bad.mutable_impact()->set_policy_json(R"({"state":"string","conditions":{}})");
    bad.mutable_impact()->set_policy_source("skeleton.json");
    rsp = admin("vera", bad);
    EXPECT_FALSE(rsp.ok());
    EXPECT_EQ(rsp.error_code(), "bad_request");
    EXPECT_NE(rsp.error_message().find("state"), std::string::npos) << rsp.error_message();
    EXPECT_EQ(audit_actions().back(), "impact.refused");
    bad.mutable_impact()->set_policy_json("{not json");
    rsp = admin("vera", bad);
    EXPECT_EQ(rsp.error_message(), "the draft policy is not valid JSON");
}

// An answer for thousands of tenants comes in pages that each fit one message, in key order.
TEST_F(EngineTest, ImpactPagesALongAnswer) {
    engine_settings es;
    es.silence_ms = 1800'000;
    es.admins = {{"vera", role::viewer}};
    for (int i = 0; i < 6000; ++i) {
        char key[32];
        std::snprintf(key, sizeof key, "tenant-%05d", i);
        es.expected_tenants.insert(key);
    }
    eng_ = std::make_unique<engine>(*db_, clk_, es);
    v1::AdminRequest req;
    req.mutable_impact()->set_policy_json(
        R"({"displayName":"d","state":"enabled","conditions":{"users":{"includeUsers":["All"]},)"
        R"("applications":{"includeApplications":["All"]}},"grantControls":{"operator":"OR","builtInControls":["block"]}})");
    std::vector<std::string> seen;
    int pages = 0;
    for (;;) {
        auto rsp = admin("vera", req);
        ASSERT_TRUE(rsp.ok()) << rsp.error_message();
        EXPECT_LT(rsp.ByteSizeLong(), codec::max_payload_bytes - 4096);
        ++pages;
        for (const auto& t : rsp.impacts()) {
            EXPECT_EQ(t.outcome(), v1::IMPACT_OUTCOME_NO_REPORT);
            seen.push_back(t.tenant());
        }
        if (!rsp.impact_more()) break;
        ASSERT_EQ(rsp.impact_next_after(), seen.back());
        req.mutable_impact()->set_after_tenant(rsp.impact_next_after());
        ASSERT_LT(pages, 20);
    }
    EXPECT_GT(pages, 1);
    ASSERT_EQ(seen.size(), 6000u);
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 6000u);
    const auto actions = audit_actions();
    EXPECT_EQ(std::count(actions.begin(), actions.end(), "impact.evaluated"), pages);
}

TEST_F(EngineTest, AuditChainVerifiesAndDetectsTampering) {
    send_report(failing(1));
    const auto id = only_task().view.task_id();
    ASSERT_TRUE(approve("alice", id, 1).ok());
    auto v = db_->verify_audit();
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->ok());
    EXPECT_GE(v->entries(), 4u);
    // Appending is all the schema allows ...
    EXPECT_FALSE(db_->exec("UPDATE audit SET detail = 'x' WHERE seq = 2"));
    // ... so a tamperer drops the trigger first; verification finds the changed entry.
    ASSERT_TRUE(db_->exec(postgres() ? "DROP TRIGGER audit_no_update ON audit" : "DROP TRIGGER audit_no_update"));
    ASSERT_TRUE(db_->exec("UPDATE audit SET actor = 'mallory' WHERE seq = 3"));
    v = db_->verify_audit();
    ASSERT_TRUE(v);
    EXPECT_FALSE(v->ok());
    EXPECT_EQ(v->first_bad_seq(), 3u);
}

TEST_F(EngineTest, SchemaIsMigratedAndVersioned) {
    auto v = db_->schema_version();
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, store::latest_schema_version());

    // A database of schema 1 (before agents told their poll interval, before the exception
    // registry) keeps its rows on upgrade.
    // A FAIL report stored before migration 6: its failing checks are filled in by the upgrade.
    {
        auto r = report(1, 1000);
        r.set_overall(v1::CHECK_STATUS_FAIL);
        add_cap_fail(r, "pol-1", "2026-01-01T00:00:00Z");
        add_cap_fail(r, "pol-2", "2026-01-01T00:00:00Z");
        auto* err = r.add_checks();
        err->set_id("CG-PERMS");
        err->set_status(v1::CHECK_STATUS_ERROR);
        ASSERT_TRUE(db_->put_posture({"fabrikam", "env-1", 1, r, 1000, 1000}));
    }
    ASSERT_TRUE(db_->exec("ALTER TABLE posture DROP COLUMN failing_checks"));
    ASSERT_TRUE(db_->exec("DROP TABLE webhook_subscriptions"));
    ASSERT_TRUE(db_->exec("DROP TABLE onboarding_exclusions"));
    ASSERT_TRUE(db_->exec("DROP TABLE onboarding"));
    ASSERT_TRUE(db_->exec("DROP TABLE exceptions"));
    ASSERT_TRUE(db_->exec("ALTER TABLE agents DROP COLUMN poll_interval_ms"));
    ASSERT_TRUE(db_->exec("DELETE FROM schema_migrations WHERE version >= 2"));
    if (!postgres()) {
        ASSERT_TRUE(db_->exec("PRAGMA user_version=1"));
    }
    ASSERT_TRUE(db_->exec("INSERT INTO agents(tenant, state, reason, last_seen_ms) VALUES('contoso', 1, '', 42)"));
    {
        auto upgraded = store::open(db_path_);
        ASSERT_TRUE(upgraded) << upgraded.err().message;
        EXPECT_EQ(*(*upgraded)->schema_version(), store::latest_schema_version());
        auto agent = (*upgraded)->agent("contoso");
        ASSERT_TRUE(agent && *agent);
        EXPECT_EQ((*agent)->last_seen_ms, 42);
        EXPECT_EQ((*agent)->poll_interval_ms, 0) << "not told yet: the configured threshold applies";
        auto registry = (*upgraded)->exceptions_of("");
        ASSERT_TRUE(registry) << registry.err().message;
        EXPECT_TRUE(registry->empty());
        auto subscriptions = (*upgraded)->webhook_subscriptions();
        ASSERT_TRUE(subscriptions) << subscriptions.err().message;
        EXPECT_TRUE(subscriptions->empty());
        auto onboarded = (*upgraded)->onboarding_of("contoso");
        ASSERT_TRUE(onboarded) << onboarded.err().message;
        EXPECT_FALSE(onboarded->recorded) << "recorded from the tenant's next complete report";
        auto tenants = (*upgraded)->tenant_summaries();
        ASSERT_TRUE(tenants) << tenants.err().message;
        const auto fab = std::find_if(tenants->begin(), tenants->end(), [](const auto& t) { return t.tenant() == "fabrikam"; });
        ASSERT_NE(fab, tenants->end());
        EXPECT_EQ(std::vector<std::string>(fab->failing_checks().begin(), fab->failing_checks().end()),
                  (std::vector<std::string>{"CG-CAP", "CG-PERMS"}))
            << "FAIL and ERROR checks, each id once, in report order";
    }

    ASSERT_TRUE(db_->exec(postgres() ? "INSERT INTO schema_migrations(version, applied_at_ms) VALUES(999, 0)"
                                     : "PRAGMA user_version=999"));
    auto again = store::open(db_path_);
    EXPECT_FALSE(again);
    EXPECT_EQ(again.err().code, "store.schema_too_new");
}


// ---- exception registry (issue 15) ----

constexpr const char* other_user = "11111111-1111-1111-1111-111111111111";  // add_cap_fail's excludeUsers

/// A report whose facts list pol-1 ("Require MFA pol-1") with these user exclusions.
v1::ValidationReport with_exclusions(v1::ValidationReport r, const std::string& modified,
                                     const std::vector<std::string>& users) {
    std::vector<std::pair<v1::ExclusionKind, std::string>> x;
    for (const auto& u : users) x.emplace_back(v1::EXCLUSION_KIND_USER, u);
    add_policy_exclusions(r, "pol-1", "Require MFA pol-1", modified, x);
    return r;
}

v1::AdminRequest add_exception_request(const std::string& policy, const std::string& object, v1::ExceptionKind kind,
                                       std::int64_t expires_ms) {
    v1::AdminRequest req;
    auto* x = req.mutable_add_exception()->mutable_exception();
    x->set_tenant("contoso");
    x->set_kind(kind);
    x->set_policy_id(policy);
    x->set_object_id(object);
    x->set_owner("it-security");
    x->set_reason("legacy backup appliance");
    x->set_ticket("CHG-7");
    *x->mutable_expires_at() = TimeUtil::MillisecondsToTimestamp(expires_ms);
    return req;
}

TEST_F(EngineTest, AnApprovedExclusionRegistersAnExceptionAndAHandEditRaisesExceptionRemovedWithARestoreTask) {
    send_report(with_exclusions(failing(1), "2026-01-01T10:00:00Z", {other_user}));
    EXPECT_TRUE(has(active_causes(), "UNREGISTERED_EXCLUSION:onboarding")) << "there before ConnGuard watched";
    EXPECT_FALSE(has(active_causes(), std::string("UNREGISTERED_EXCLUSION:pol-1:") + other_user));
    const auto id = only_task().view.task_id();
    ASSERT_TRUE(approve("alice", id, 1).ok());
    ASSERT_EQ(send_result("contoso", id, task_by_id(id).view.command_id(), v1::COMMAND_OUTCOME_SUCCEEDED),
              ingest_outcome::stored);

    // The success registered the exception: owner = the approver, source = the task.
    auto ex = db_->exceptions_of("contoso");
    ASSERT_TRUE(ex);
    ASSERT_EQ(ex->size(), 1u);
    EXPECT_EQ((*ex)[0].owner, "alice");
    EXPECT_EQ((*ex)[0].policy_id, "pol-1");
    EXPECT_EQ((*ex)[0].object_id, user_id);
    EXPECT_EQ((*ex)[0].source, "task:" + id);
    EXPECT_EQ((*ex)[0].expires_ms, now() + 180LL * 24 * 3600 * 1000);
    EXPECT_TRUE(has(audit_actions(id), "exception.created"));

    // The next report shows the exclusion: verified, nothing about the exception.
    clk_.advance(5min);
    auto ok = report(2, now());
    send_report(with_exclusions(ok, "2026-01-01T11:00:00Z", {other_user, user_id}));
    EXPECT_EQ(task_by_id(id).view.state(), v1::TASK_STATE_VERIFIED);
    EXPECT_FALSE(has(active_causes(), std::string("EXCEPTION_REMOVED:pol-1:") + user_id));
    EXPECT_FALSE(has(active_causes(), std::string("UNREGISTERED_EXCLUSION:pol-1:") + user_id));

    // Someone edits the policy by hand and drops the account (the policy no longer blocks, e.g.
    // report-only: no CG-CAP FAIL): the registry alone notices.
    clk_.advance(5min);
    send_report(with_exclusions(report(3, now()), "2026-02-02T08:00:00Z", {other_user}));
    const std::string removed = std::string("EXCEPTION_REMOVED:pol-1:") + user_id;
    ASSERT_TRUE(has(active_causes(), removed));
    auto alert = db_->alert(fingerprint("contoso", removed));
    ASSERT_TRUE(alert && *alert);
    EXPECT_NE((*alert)->alert.title().find("Require MFA pol-1"), std::string::npos) << (*alert)->alert.title();
    EXPECT_NE((*alert)->alert.title().find(upn), std::string::npos) << (*alert)->alert.title();
    auto tasks = db_->list_tasks(v1::TASK_STATE_PENDING_APPROVAL, "contoso");
    ASSERT_TRUE(tasks);
    ASSERT_EQ(tasks->size(), 1u) << "one restore task";
    const auto restore = tasks->front();
    EXPECT_EQ(restore.view.kind(), v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
    EXPECT_EQ(restore.view.approvals_required(), 1u);
    EXPECT_EQ(restore.view.plan().exclude_from_ca_policy().expected_modified_date_time(), "2026-02-02T08:00:00Z");
    EXPECT_NE(restore.view.reason().find("EXCEPTION_REMOVED"), std::string::npos);

    // Put back by hand: the alert resolves and the restore task is superseded.
    clk_.advance(5min);
    send_report(with_exclusions(report(4, now()), "2026-02-02T09:00:00Z", {other_user, user_id}));
    EXPECT_FALSE(has(active_causes(), removed));
    EXPECT_EQ(task_by_id(restore.view.task_id()).view.state(), v1::TASK_STATE_SUPERSEDED);
}

/// A report with complete exclusion facts and no exclusion: the tenant's onboarding set is empty.
v1::ValidationReport without_exclusions(std::uint64_t cycle, std::int64_t collected_ms) {
    auto r = report(cycle, collected_ms);
    r.mutable_evaluation_context()->mutable_exclusions()->set_complete(true);
    return r;
}

TEST_F(EngineTest, AHandMadeExclusionIsUnregisteredUntilAnApproverRegistersItAndViewersOnlyRead) {
    send_report(without_exclusions(1, now()));
    auto r = report(2, now());
    add_policy_exclusions(r, "pol-2", "Block legacy", "", {{v1::EXCLUSION_KIND_GROUP, "grp-everyone-it"}});
    send_report(r);
    const std::string cause = "UNREGISTERED_EXCLUSION:pol-2:grp-everyone-it";
    ASSERT_TRUE(has(active_causes(), cause));

    const auto expires = now() + 90LL * 24 * 3600 * 1000;
    auto refused = admin("vera", add_exception_request("pol-2", "grp-everyone-it", v1::EXCEPTION_KIND_GROUP, expires));
    EXPECT_FALSE(refused.ok());
    EXPECT_EQ(refused.error_code(), "forbidden");
    EXPECT_TRUE(has(audit_actions(), "exception.refused"));
    EXPECT_TRUE(has(active_causes(), cause));

    auto bad = add_exception_request("pol-2", "grp-everyone-it", v1::EXCEPTION_KIND_GROUP, expires);
    bad.mutable_add_exception()->mutable_exception()->clear_owner();
    auto bad_answer = admin("alice", bad);
    EXPECT_FALSE(bad_answer.ok());
    EXPECT_NE(bad_answer.error_message().find("field 'owner'"), std::string::npos) << bad_answer.error_message();

    auto added = admin("alice", add_exception_request("pol-2", "grp-everyone-it", v1::EXCEPTION_KIND_GROUP, expires));
    ASSERT_TRUE(added.ok()) << added.error_message();
    ASSERT_EQ(added.exceptions_size(), 1);
    EXPECT_EQ(added.exceptions(0).source(), "manual");
    EXPECT_FALSE(has(active_causes(), cause)) << "registered: resolved at once";
    EXPECT_TRUE(has(audit_actions(), "exception.added"));

    v1::AdminRequest list;
    list.mutable_list_exceptions();
    auto listed = admin("vera", list);
    ASSERT_TRUE(listed.ok());
    ASSERT_EQ(listed.exceptions_size(), 1);
    EXPECT_EQ(listed.exceptions(0).ticket(), "CHG-7");

    // Renewal: the same key keeps its id.
    auto renewed = admin("alice", add_exception_request("pol-2", "grp-everyone-it", v1::EXCEPTION_KIND_GROUP, expires + 1000));
    ASSERT_TRUE(renewed.ok());
    EXPECT_EQ(renewed.exceptions(0).id(), added.exceptions(0).id());
    EXPECT_TRUE(has(audit_actions(), "exception.renewed"));

    v1::AdminRequest remove;
    remove.mutable_remove_exception()->set_id(added.exceptions(0).id());
    ASSERT_TRUE(admin("bob", remove).ok());
    EXPECT_TRUE(has(active_causes(), cause)) << "unregistered again";
    EXPECT_TRUE(has(audit_actions(), "exception.removed"));
}

long count_of(const std::vector<std::string>& v, const std::string& x) { return std::count(v.begin(), v.end(), x); }
long unregistered_count(const std::vector<std::string>& causes) {
    return std::count_if(causes.begin(), causes.end(),
                         [](const std::string& c) { return c.rfind("UNREGISTERED_EXCLUSION:", 0) == 0; });
}

v1::AdminRequest adopt_request(const std::string& tenant, std::int64_t expires_ms) {
    v1::AdminRequest req;
    auto* q = req.mutable_adopt_exceptions();
    q->set_tenant(tenant);
    q->set_owner("it-security");
    q->set_reason("there when ConnGuard started watching");
    q->set_ticket("ONB-1");
    *q->mutable_expires_at() = TimeUtil::MillisecondsToTimestamp(expires_ms);
    return req;
}

TEST_F(EngineTest, TheFirstReportsExclusionsAreOneOnboardingAlertALaterOneItsOwnAndAdoptResolvesBoth) {
    auto first = report(1, now());
    add_policy_exclusions(first, "pol-2", "Block legacy", "",
                          {{v1::EXCLUSION_KIND_GROUP, "grp-a"}, {v1::EXCLUSION_KIND_GROUP, "grp-b"}, {v1::EXCLUSION_KIND_USER, other_user}});
    add_policy_exclusions(first, "pol-3", "Require compliant device", "", {{v1::EXCLUSION_KIND_ROLE, "role-x"}});
    send_report(first);
    auto causes = active_causes();
    EXPECT_EQ(unregistered_count(causes), 1) << "one alert for the tenant, not one per exclusion";
    ASSERT_TRUE(has(causes, "UNREGISTERED_EXCLUSION:onboarding"));
    auto alert = db_->alert(fingerprint("contoso", "UNREGISTERED_EXCLUSION:onboarding"));
    ASSERT_TRUE(alert && *alert);
    EXPECT_EQ((*alert)->alert.severity(), v1::SEVERITY_INFO);
    EXPECT_NE((*alert)->alert.title().find("4 exclusions that existed when ConnGuard started watching"), std::string::npos)
        << (*alert)->alert.title();

    // Someone excludes another group by hand: its own warning; the onboarding set stays as recorded.
    clk_.advance(5min);
    auto later = report(2, now());
    add_policy_exclusions(later, "pol-2", "Block legacy", "",
                          {{v1::EXCLUSION_KIND_GROUP, "grp-a"}, {v1::EXCLUSION_KIND_GROUP, "grp-b"},
                           {v1::EXCLUSION_KIND_USER, other_user}, {v1::EXCLUSION_KIND_GROUP, "grp-hand"}});
    add_policy_exclusions(later, "pol-3", "Require compliant device", "", {{v1::EXCLUSION_KIND_ROLE, "role-x"}});
    send_report(later);
    causes = active_causes();
    EXPECT_EQ(unregistered_count(causes), 2);
    EXPECT_TRUE(has(causes, "UNREGISTERED_EXCLUSION:onboarding"));
    ASSERT_TRUE(has(causes, "UNREGISTERED_EXCLUSION:pol-2:grp-hand"));
    auto hand = db_->alert(fingerprint("contoso", "UNREGISTERED_EXCLUSION:pol-2:grp-hand"));
    ASSERT_TRUE(hand && *hand);
    EXPECT_EQ((*hand)->alert.severity(), v1::SEVERITY_WARNING);
    auto onboarded = db_->onboarding_of("contoso");
    ASSERT_TRUE(onboarded);
    EXPECT_TRUE(onboarded->recorded);
    EXPECT_EQ(onboarded->keys.size(), 4u) << "later reports never change it";

    // adopt: approvers only; it registers all five in one request and both alerts resolve.
    const auto expires = now() + 180LL * 24 * 3600 * 1000;
    auto refused = admin("vera", adopt_request("contoso", expires));
    EXPECT_FALSE(refused.ok());
    EXPECT_EQ(refused.error_code(), "forbidden");
    EXPECT_EQ(unregistered_count(active_causes()), 2);
    auto missing = adopt_request("contoso", expires);
    missing.mutable_adopt_exceptions()->clear_owner();
    auto bad = admin("alice", missing);
    EXPECT_FALSE(bad.ok());
    EXPECT_NE(bad.error_message().find("field 'owner'"), std::string::npos) << bad.error_message();
    auto unknown = admin("alice", adopt_request("northwind", expires));
    EXPECT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error_code(), "not_found");

    auto adopted = admin("alice", adopt_request("contoso", expires));
    ASSERT_TRUE(adopted.ok()) << adopted.error_message();
    ASSERT_EQ(adopted.exceptions_size(), 5);
    for (const auto& x : adopted.exceptions()) {
        EXPECT_EQ(x.source(), "adopt");
        EXPECT_EQ(x.owner(), "it-security");
        EXPECT_EQ(x.ticket(), "ONB-1");
    }
    EXPECT_EQ(unregistered_count(active_causes()), 0) << "adopted: resolved at once";
    EXPECT_EQ(count_of(audit_actions(), "exception.adopted"), 5);
    auto registry = db_->exceptions_of("contoso");
    ASSERT_TRUE(registry);
    EXPECT_EQ(registry->size(), 5u);

    // The next report changes nothing; a second adopt finds nothing left.
    clk_.advance(5min);
    later.set_cycle(3);
    send_report(later);
    EXPECT_EQ(unregistered_count(active_causes()), 0);
    auto again = admin("alice", adopt_request("contoso", expires));
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again.exceptions_size(), 0);
}

TEST_F(EngineTest, NoUnregisteredExclusionIsRaisedUntilAReportWithCompleteFactsRecordsTheOnboardingSet) {
    auto partial = report(1, now());
    add_policy_exclusions(partial, "pol-2", "Block legacy", "", {{v1::EXCLUSION_KIND_GROUP, "grp-a"}});
    partial.mutable_evaluation_context()->mutable_exclusions()->set_complete(false);
    send_report(partial);
    EXPECT_EQ(unregistered_count(active_causes()), 0) << "who knows what else is excluded: nothing said yet";
    auto onboarded = db_->onboarding_of("contoso");
    ASSERT_TRUE(onboarded);
    EXPECT_FALSE(onboarded->recorded);

    clk_.advance(5min);
    auto complete = report(2, now());
    add_policy_exclusions(complete, "pol-2", "Block legacy", "", {{v1::EXCLUSION_KIND_GROUP, "grp-a"}});
    send_report(complete);
    auto causes = active_causes();
    EXPECT_EQ(unregistered_count(causes), 1);
    EXPECT_TRUE(has(causes, "UNREGISTERED_EXCLUSION:onboarding"));
    onboarded = db_->onboarding_of("contoso");
    ASSERT_TRUE(onboarded);
    EXPECT_TRUE(onboarded->recorded);
    EXPECT_EQ(onboarded->keys.count(exceptions::exclusion_key("contoso", exceptions::kind::group, "pol-2", "grp-a")), 1u);
}

TEST_F(EngineTest, AnExceptionNearingExpiryAsksForReviewAndAnExpiredOneIsProposedForRemovalNeverRemoved) {
    constexpr std::int64_t day = 24LL * 3600 * 1000;
    send_report(with_exclusions(report(1, now()), "", {other_user}));
    ASSERT_TRUE(admin("alice", add_exception_request("pol-1", other_user, v1::EXCEPTION_KIND_USER, now() + 20 * day)).ok());
    auto tick = [&] {
        ASSERT_TRUE(db_->begin());
        ASSERT_TRUE(eng_->tick());
        ASSERT_TRUE(db_->commit());
    };
    tick();
    EXPECT_TRUE(active_causes().empty());
    const auto id = db_->exceptions_of("contoso")->front().id;

    clk_.advance(std::chrono::hours(24 * 7));  // 13 days left: inside the 14-day window
    tick();
    EXPECT_TRUE(has(active_causes(), "EXCEPTION_EXPIRING:" + id));
    auto pending = db_->list_tasks(v1::TASK_STATE_PENDING_APPROVAL, "contoso");
    ASSERT_EQ(pending->size(), 1u);
    EXPECT_EQ(pending->front().view.kind(), v1::REMEDIATION_KIND_REVIEW_EXCEPTION);
    const auto review = pending->front().view.task_id();
    tick();  // nothing new on the next tick
    EXPECT_EQ(db_->list_tasks(v1::TASK_STATE_PENDING_APPROVAL, "contoso")->size(), 1u);

    clk_.advance(std::chrono::hours(24 * 14));  // past the expiry
    tick();
    EXPECT_TRUE(has(active_causes(), "EXCEPTION_EXPIRED:" + id));
    EXPECT_FALSE(has(active_causes(), "EXCEPTION_EXPIRING:" + id));
    EXPECT_FALSE(is_open(task_by_id(review).view.state())) << "the review is over (its TTL passed, or superseded)";
    pending = db_->list_tasks(v1::TASK_STATE_PENDING_APPROVAL, "contoso");
    ASSERT_EQ(pending->size(), 1u);
    EXPECT_EQ(pending->front().view.kind(), v1::REMEDIATION_KIND_REMOVE_CA_POLICY_EXCLUSION);
    EXPECT_TRUE(pending->front().view.plan().has_remove_ca_policy_exclusion()) << "the exact PATCH, for approval";
    EXPECT_EQ(pending->front().view.approvals_required(), 1u) << "not the account's exclusion: medium risk";
    const auto queued = db_->next_mqtt(100000);
    ASSERT_TRUE(queued);
    for (const auto& m : *queued) EXPECT_EQ(m.topic.find("/commands"), std::string::npos) << "nothing dispatched: " << m.topic;

    // The exclusion goes (removed by hand here): the expired exception is spent, the alert resolves.
    clk_.advance(5min);
    send_report(with_exclusions(report(2, now()), "2026-03-01T00:00:00Z", {}));
    EXPECT_FALSE(has(active_causes(), "EXCEPTION_EXPIRED:" + id));
    EXPECT_FALSE(has(active_causes(), std::string("EXCEPTION_REMOVED:pol-1:") + other_user));
}

TEST_F(EngineTest, AnImportWithOneBadEntryImportsNothing) {
    v1::AdminRequest req;
    req.mutable_import_exceptions()->set_source("registry.json");
    req.mutable_import_exceptions()->set_json(R"({"exceptions":[
      {"tenant":"contoso","kind":"user","policyId":"pol-1","objectId":"u1","owner":"a","reason":"r","expiresAt":"2027-06-30"},
      {"tenant":"contoso","kind":"user","policyId":"pol-1","objectId":"u2","owner":"a","reason":"r"}]})");
    auto refused = admin("alice", req);
    EXPECT_FALSE(refused.ok());
    EXPECT_NE(refused.error_message().find("registry.json: entry 2: field 'expiresAt'"), std::string::npos)
        << refused.error_message();
    EXPECT_TRUE(db_->exceptions_of("")->empty());
    req.mutable_import_exceptions()->set_json(R"({"exceptions":[
      {"tenant":"contoso","kind":"user","policyId":"pol-1","objectId":"u1","owner":"a","reason":"r","expiresAt":"2027-06-30"},
      {"tenant":"contoso","kind":"mfa-off","objectId":"u2","owner":"a","reason":"r","expiresAt":"2027-06-30"}]})");
    auto ok = admin("alice", req);
    ASSERT_TRUE(ok.ok()) << ok.error_message();
    EXPECT_EQ(db_->exceptions_of("")->size(), 2u);
    EXPECT_EQ(db_->exceptions_of("")->front().source, "import");
}


TEST_F(EngineTest, ARoleKeptExceptionSupersedesTheRoleRemovalTaskAndStopsProposingIt) {
    constexpr const char* global_admin = "62e90394-69f5-4237-9190-012177145e10";
    auto with_role = [&](std::uint64_t cycle) {
        auto r = report(cycle, now());
        auto* role = r.add_checks();
        role->set_id("CG-SECDEF-ADMIN");
        role->set_status(v1::CHECK_STATUS_FAIL);
        auto* e = role->add_evidence();
        e->set_kind("role_assignment");
        e->set_id("assign-1");
        e->set_name("Global Administrator");
        e->set_detail(global_admin);
        auto* rs = role->add_remediations();
        rs->set_kind(v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE);
        rs->set_target_id("assign-1");
        auto* p = rs->mutable_plan();
        p->set_kind(v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE);
        p->mutable_remove_privileged_role()->set_role_assignment_id("assign-1");
        p->mutable_remove_privileged_role()->set_role_template_id(global_admin);
        p->mutable_remove_privileged_role()->set_role_name("Global Administrator");
        p->mutable_remove_privileged_role()->set_user_id(user_id);
        p->mutable_remove_privileged_role()->set_user_principal_name(upn);
        finish_overall(r);
        return r;
    };
    send_report(with_role(1));
    const auto id = only_task().view.task_id();
    ASSERT_EQ(only_task().view.kind(), v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE);
    auto req = add_exception_request("", global_admin, v1::EXCEPTION_KIND_ROLE_KEPT, now() + 90LL * 24 * 3600 * 1000);
    ASSERT_TRUE(admin("alice", req).ok());
    EXPECT_EQ(task_by_id(id).view.state(), v1::TASK_STATE_SUPERSEDED) << "the account keeps the role on purpose";
    clk_.advance(5min);
    send_report(with_role(2));
    EXPECT_EQ(db_->list_tasks(v1::TASK_STATE_PENDING_APPROVAL, "contoso")->size(), 0u) << "not proposed again";
}

}  // namespace
}  // namespace connguard::coord

namespace connguard::coord {
namespace {

// ---- the console's path (issue 12): one approval path, show_tenant, alert subscriptions ----

TEST_F(EngineTest, AConsoleApprovalAndACliApprovalAreTwoPeopleAndTheAuditSaysWhoAndHow) {
    send_report(failing(1, "2026-01-01T10:00:00Z", "block"));
    const auto t = only_task();
    ASSERT_EQ(t.view.approvals_required(), 2u);
    const auto id = t.view.task_id();
    const auto alice = console_person("alice@msp.example", role::approver);

    auto r = answer(alice, approve_request(id, 1));
    ASSERT_TRUE(r.ok()) << r.error_message();
    EXPECT_EQ(r.tasks(0).state(), v1::TASK_STATE_PENDING_APPROVAL);
    auto e = last_audit("task.approval_recorded");
    EXPECT_EQ(e.actor(), "alice@msp.example");
    EXPECT_TRUE(ends_with(e.detail(), "via console by alice@msp.example (oid " + alice.object_id + ") from 127.0.0.1"))
        << e.detail();
    ASSERT_EQ(r.tasks(0).approvals_size(), 1);
    EXPECT_EQ(r.tasks(0).approvals(0).via(), "console");

    // The same person twice is one approval.
    r = answer(alice, approve_request(id, 1));
    EXPECT_EQ(r.error_code(), "already_approved");
    EXPECT_TRUE(ends_with(last_audit("approval.refused").detail(), "from 127.0.0.1"));

    // A second person through the CLI completes the two-person rule.
    r = approve("bob", id, 1);
    ASSERT_TRUE(r.ok()) << r.error_message();
    EXPECT_EQ(r.tasks(0).state(), v1::TASK_STATE_DISPATCHED);
    e = last_audit("task.approved");
    EXPECT_EQ(e.actor(), "bob");
    EXPECT_TRUE(ends_with(e.detail(), "via cli")) << e.detail();
    const auto view = task_by_id(id).view;
    ASSERT_EQ(view.approvals_size(), 2);
    EXPECT_EQ(view.approvals(0).via(), "console");
    EXPECT_EQ(view.approvals(1).via(), "cli");
}

TEST_F(EngineTest, AConsoleApprovalNeedsARecentSignInAndTheApproverRole) {
    send_report(failing(1));
    const auto id = only_task().view.task_id();
    auto alice = console_person("alice@msp.example", role::approver);
    alice.auth_time_ms = now() - 16 * 60'000;  // the default limit is 15 min
    auto r = answer(alice, approve_request(id, 1));
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error_code(), "reauth_required");
    auto e = last_audit("approval.refused");
    EXPECT_EQ(e.actor(), "alice@msp.example");
    EXPECT_EQ(e.task_id(), id);
    EXPECT_NE(e.detail().find("reauth_required"), std::string::npos) << e.detail();
    EXPECT_NE(e.detail().find("via console by alice@msp.example"), std::string::npos) << e.detail();
    EXPECT_EQ(only_task().view.state(), v1::TASK_STATE_PENDING_APPROVAL);

    r = answer(console_person("vera@msp.example", role::viewer), approve_request(id, 1));
    EXPECT_EQ(r.error_code(), "forbidden");
    EXPECT_EQ(only_task().view.state(), v1::TASK_STATE_PENDING_APPROVAL);

    // An admin is an approver too; a fresh sign-in passes.
    r = answer(console_person("adam@msp.example", role::admin), approve_request(id, 1));
    ASSERT_TRUE(r.ok()) << r.error_message();
    EXPECT_EQ(r.tasks(0).state(), v1::TASK_STATE_DISPATCHED);
}

TEST_F(EngineTest, ShowTenantHasTheReportTimelineTasksAndAlertsForAViewer) {
    send_report(failing(1));
    for (int i = 0; i < 3; ++i) {
        clk_.advance(1min);
        v1::ChangeEvent ce;
        ce.set_kind(v1::CHANGE_KIND_CA_POLICY_UPDATED);
        ce.set_subject_id("pol-" + std::to_string(i));
        auto env = codec::make_envelope("contoso", "agent/contoso");
        *env.mutable_change_event() = ce;
        feed(topics::events("contoso"), env);
    }
    v1::AdminRequest q;
    q.mutable_show_tenant()->set_tenant("contoso");
    q.mutable_show_tenant()->set_timeline_limit(2);
    auto r = answer(console_person("vera@msp.example", role::viewer), q);
    ASSERT_TRUE(r.ok()) << r.error_message();
    const auto& d = r.tenant_detail();
    EXPECT_EQ(d.summary().tenant(), "contoso");
    EXPECT_EQ(d.summary().overall(), v1::CHECK_STATUS_FAIL);
    EXPECT_EQ(d.report().cycle(), 1u);
    ASSERT_EQ(d.timeline_size(), 2);
    EXPECT_EQ(d.timeline(0).subject_id(), "pol-2") << "newest first";
    EXPECT_EQ(d.timeline(1).subject_id(), "pol-1");
    ASSERT_EQ(d.tasks_size(), 1);
    EXPECT_EQ(d.tasks(0).task_id(), only_task().view.task_id());
    EXPECT_EQ(d.alerts_size(), 3);
    for (const auto& a : d.alerts()) EXPECT_EQ(a.tenant(), "contoso");

    q.mutable_show_tenant()->set_tenant("fabrikam");
    r = answer(console_person("vera@msp.example", role::viewer), q);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error_code(), "not_found");
}

TEST_F(EngineTest, AlertSubscriptionsAreManagedByAdminsValidatedAuditedAndTheirUrlPathStaysSecret) {
    const auto adam = console_person("adam@msp.example", role::admin);
    v1::AdminRequest put;
    auto* w = put.mutable_put_webhook()->mutable_subscription();
    w->set_name("teams-noc");
    w->set_url("https://example.webhook.office.com/webhookb2/SECRET-PATH?sig=SECRET-SIG");
    w->set_format(v1::WEBHOOK_FORMAT_TEAMS);
    w->set_min_severity(v1::SEVERITY_WARNING);
    w->add_tenants("contoso");

    // An approver may not; an admin may, through the console or the CLI.
    auto r = answer(console_person("alice@msp.example", role::approver), put);
    EXPECT_EQ(r.error_code(), "forbidden");
    EXPECT_EQ(last_audit("webhook.refused").actor(), "alice@msp.example");
    r = answer(adam, put);
    ASSERT_TRUE(r.ok()) << r.error_message();
    ASSERT_EQ(r.webhooks_size(), 1);
    const auto id = r.webhooks(0).id();
    EXPECT_FALSE(id.empty());
    EXPECT_EQ(r.webhooks(0).created_by(), "adam@msp.example");
    auto e = last_audit("webhook.added");
    EXPECT_EQ(e.actor(), "adam@msp.example");
    EXPECT_NE(e.detail().find("https://example.webhook.office.com"), std::string::npos) << e.detail();
    EXPECT_EQ(e.detail().find("SECRET"), std::string::npos) << "the URL's path is a secret: " << e.detail();
    EXPECT_TRUE(ends_with(e.detail(), "from 127.0.0.1")) << e.detail();

    // Bad input is refused with the field named; a taken name too.
    auto bad = put;
    bad.mutable_put_webhook()->mutable_subscription()->set_name("other");
    bad.mutable_put_webhook()->mutable_subscription()->set_url("http://hooks.example.com/x");
    r = answer(adam, bad);
    EXPECT_EQ(r.error_code(), "bad_request");
    EXPECT_NE(r.error_message().find("field 'url'"), std::string::npos) << r.error_message();
    bad.mutable_put_webhook()->mutable_subscription()->set_url("https://hooks.example.com/x");
    bad.mutable_put_webhook()->mutable_subscription()->set_name("psa");  // the config sink's name
    bad.mutable_put_webhook()->mutable_subscription()->add_tenants("Not A Key");
    r = answer(adam, bad);
    EXPECT_NE(r.error_message().find("field 'name'"), std::string::npos) << r.error_message();
    EXPECT_NE(r.error_message().find("field 'tenants'"), std::string::npos) << r.error_message();

    // Everyone lists config and runtime subscriptions; only admins see the URL whole.
    v1::AdminRequest list;
    list.mutable_list_webhooks();
    r = answer(console_person("vera@msp.example", role::viewer), list);
    ASSERT_TRUE(r.ok()) << r.error_message();
    ASSERT_EQ(r.webhooks_size(), 2);
    EXPECT_EQ(r.webhooks(0).id(), "config:psa");
    EXPECT_TRUE(r.webhooks(0).from_config());
    EXPECT_EQ(r.webhooks(1).url(), "https://example.webhook.office.com");
    r = answer(adam, list);
    EXPECT_EQ(r.webhooks(1).url(), w->url());

    // Config ones are read-only here; a runtime one is removed.
    v1::AdminRequest rm;
    rm.mutable_remove_webhook()->set_id("config:psa");
    EXPECT_EQ(answer(adam, rm).error_code(), "read_only");
    rm.mutable_remove_webhook()->set_id(id);
    r = answer(adam, rm);
    ASSERT_TRUE(r.ok()) << r.error_message();
    EXPECT_EQ(last_audit("webhook.removed").detail().find("SECRET"), std::string::npos);
    EXPECT_EQ(answer(adam, list).webhooks_size(), 1);
}

TEST_F(EngineTest, ARuntimeSubscriptionReceivesItsTenantsAlertsAtARealReceiverUntilRemoved) {
    test::webhook_receiver sink;
    auto count = [&] { return sink.count(); };
    auto body = [&](std::size_t i) { return sink.body(i); };
    webhook_options wo;
    wo.store_location = db_path_;
    wo.poll_ms = 20;
    wo.initial_backoff_ms = 20;
    webhook_worker worker(wo, clk_);
    ASSERT_TRUE(worker.start());

    const auto adam = console_person("adam@msp.example", role::admin);
    v1::AdminRequest put;
    auto* w = put.mutable_put_webhook()->mutable_subscription();
    w->set_name("fabrikam-only");
    w->set_url(sink.url("/hook/secret"));
    w->set_format(v1::WEBHOOK_FORMAT_GENERIC);
    w->set_min_severity(v1::SEVERITY_WARNING);
    w->add_tenants("fabrikam");
    auto r = answer(adam, put);
    ASSERT_TRUE(r.ok()) << r.error_message();
    const auto id = r.webhooks(0).id();

    // The test alert: one sample, clearly a test.
    v1::AdminRequest test_req;
    test_req.mutable_test_webhook()->set_id(id);
    ASSERT_TRUE(answer(adam, test_req).ok());
    worker.wake();
    ASSERT_TRUE(eventually([&] { return count() == 1; }));
    EXPECT_NE(body(0).find("ConnGuard test alert"), std::string::npos) << body(0);

    // contoso's alerts do not match the tenant filter; fabrikam's do (effective without a restart).
    send_report(failing(1));
    feed(topics::validation("fabrikam"), wrap("fabrikam", failing(1)));
    std::size_t expected = 1;  // the test, then fabrikam's alerts of warning and above
    const auto fabrikam_alerts = db_->active_alerts("fabrikam");
    ASSERT_TRUE(fabrikam_alerts);
    for (const auto& a : *fabrikam_alerts)
        if (a.alert.severity() >= v1::SEVERITY_WARNING) ++expected;
    ASSERT_GE(expected, 2u);
    worker.wake();
    ASSERT_TRUE(eventually([&] { return count() >= expected; }));
    for (std::size_t i = 1; i < count(); ++i) {
        EXPECT_NE(body(i).find("\"tenant\":\"fabrikam\""), std::string::npos) << body(i);
        EXPECT_EQ(body(i).find("\"tenant\":\"contoso\""), std::string::npos) << body(i);
    }

    // Removed: the next fabrikam alert is not sent there (the config sink still gets it queued).
    v1::AdminRequest rm;
    rm.mutable_remove_webhook()->set_id(id);
    ASSERT_TRUE(answer(adam, rm).ok());
    clk_.advance(5min);
    auto report = failing(2);
    add_cap_fail(report, "pol-2", "2026-01-01T10:00:00Z");
    finish_overall(report);
    feed(topics::validation("fabrikam"), wrap("fabrikam", report));
    auto due = db_->due_webhooks(now() + 3600'000, 1000);
    ASSERT_TRUE(due);
    for (const auto& row : *due) EXPECT_EQ(row.sink, "psa") << "nothing queued for the removed subscription";
    EXPECT_FALSE(due->empty()) << "the new alert went to the config sink";
    worker.stop();
    EXPECT_EQ(count(), expected);
}

TEST_F(EngineTest, AnAnswerRecordsItsChangesForTheLiveFeed) {
    send_report(failing(1));
    (void)eng_->take_changes();
    auto r = answer(console_person("alice@msp.example", role::approver), approve_request(only_task().view.task_id(), 1));
    ASSERT_TRUE(r.ok()) << r.error_message();
    const auto changes = eng_->take_changes();
    bool task_change = false, audit_change = false;
    for (const auto& c : changes) {
        if (c.kind() == v1::ConsoleChange::KIND_TASK && c.task_id() == only_task().view.task_id()) task_change = true;
        if (c.kind() == v1::ConsoleChange::KIND_AUDIT && c.audit_seq() > 0) audit_change = true;
    }
    EXPECT_TRUE(task_change);
    EXPECT_TRUE(audit_change);
    EXPECT_TRUE(eng_->take_changes().empty());
}

}  // namespace
}  // namespace connguard::coord
