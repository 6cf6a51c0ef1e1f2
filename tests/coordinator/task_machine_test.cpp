// The task state machine, exhaustively: every state x every event, allowed or refused, plus the
// approval rules (roles, two different approvers for high risk, plan versions, expiry).
#include <gtest/gtest.h>

#include <map>
#include <optional>

#include <google/protobuf/util/time_util.h>

#include "coordinator/task_machine.h"

namespace connguard::coord {
namespace {

using google::protobuf::util::TimeUtil;

constexpr std::int64_t t0 = 1'767'225'600'000;  // 2026-01-01
constexpr std::int64_t hour = 3'600'000;

const std::vector<v1::TaskState> all_states = {
    v1::TASK_STATE_PROPOSED, v1::TASK_STATE_PENDING_APPROVAL, v1::TASK_STATE_APPROVED, v1::TASK_STATE_DISPATCHED,
    v1::TASK_STATE_SUCCEEDED, v1::TASK_STATE_FAILED,          v1::TASK_STATE_STALE,    v1::TASK_STATE_REJECTED,
    v1::TASK_STATE_EXPIRED,   v1::TASK_STATE_SUPERSEDED,      v1::TASK_STATE_VERIFIED};

task make_task(v1::TaskState s, bool automatic = true, std::uint32_t required = 1) {
    task t;
    t.view.set_task_id("task-1");
    t.view.set_tenant("contoso");
    t.view.set_kind(automatic ? v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY : v1::REMEDIATION_KIND_REGISTER_MFA_FOR_ACCOUNT);
    t.view.set_target("policy-1");
    t.view.set_state(s);
    t.view.set_risk(required == 2 ? v1::RISK_HIGH : v1::RISK_MEDIUM);
    t.view.set_plan_version(3);
    t.view.mutable_plan()->set_http_method("PATCH");
    t.view.set_automatic(automatic);
    t.view.set_approvals_required(required);
    *t.view.mutable_created_at() = TimeUtil::MillisecondsToTimestamp(t0);
    *t.view.mutable_expires_at() = TimeUtil::MillisecondsToTimestamp(t0 + 24 * hour);
    if (s == v1::TASK_STATE_DISPATCHED) {
        t.view.set_command_id("cmd-1");
        t.dispatch_deadline_ms = t0 + hour;
    }
    return t;
}

v1::RemediationPlan other_plan() {
    v1::RemediationPlan p;
    p.set_http_method("PATCH");
    p.set_http_body("{\"changed\":true}");
    return p;
}

/// One valid instance of each event (valid parameters, so only the state decides).
std::vector<task_event> sample_events() {
    const std::int64_t now = t0 + 2 * hour;  // past the dispatch deadline, before the TTL
    return {ev::offer{now, now + 24 * hour},
            ev::approve{"alice", role::approver, 3, "ok", now},
            ev::reject{"alice", role::approver, "not now", now},
            ev::expire{now},
            ev::supersede{"gone", now},
            ev::replan{other_plan(), "policy changed", now, now + 24 * hour},
            ev::dispatch{"cmd-2", now, now + hour},
            ev::result{"cmd-1", v1::COMMAND_OUTCOME_SUCCEEDED, "done", now},
            ev::dispatch_timeout{now},
            ev::verified{now},
            ev::still_failing{other_plan(), now, now + 24 * hour}};
}

// (state, event name) -> resulting state; every pair not listed must be refused.
const std::map<std::pair<v1::TaskState, std::string>, v1::TaskState> allowed = {
    {{v1::TASK_STATE_PROPOSED, "offer"}, v1::TASK_STATE_PENDING_APPROVAL},
    {{v1::TASK_STATE_PROPOSED, "reject"}, v1::TASK_STATE_REJECTED},
    {{v1::TASK_STATE_PROPOSED, "expire"}, v1::TASK_STATE_EXPIRED},
    {{v1::TASK_STATE_PROPOSED, "supersede"}, v1::TASK_STATE_SUPERSEDED},
    {{v1::TASK_STATE_PROPOSED, "replan"}, v1::TASK_STATE_PROPOSED},
    {{v1::TASK_STATE_PENDING_APPROVAL, "approve"}, v1::TASK_STATE_APPROVED},
    {{v1::TASK_STATE_PENDING_APPROVAL, "reject"}, v1::TASK_STATE_REJECTED},
    {{v1::TASK_STATE_PENDING_APPROVAL, "expire"}, v1::TASK_STATE_EXPIRED},
    {{v1::TASK_STATE_PENDING_APPROVAL, "supersede"}, v1::TASK_STATE_SUPERSEDED},
    {{v1::TASK_STATE_PENDING_APPROVAL, "replan"}, v1::TASK_STATE_PENDING_APPROVAL},
    {{v1::TASK_STATE_APPROVED, "dispatch"}, v1::TASK_STATE_DISPATCHED},
    {{v1::TASK_STATE_DISPATCHED, "result"}, v1::TASK_STATE_SUCCEEDED},
    {{v1::TASK_STATE_DISPATCHED, "dispatch_timeout"}, v1::TASK_STATE_FAILED},
    {{v1::TASK_STATE_SUCCEEDED, "verified"}, v1::TASK_STATE_VERIFIED},
    {{v1::TASK_STATE_SUCCEEDED, "still_failing"}, v1::TASK_STATE_PENDING_APPROVAL},
};

TEST(TaskMachine, EveryStateTimesEveryEventIsAllowedOrRefusedAsSpecified) {
    int checked = 0;
    for (const auto s : all_states) {
        for (const auto& e : sample_events()) {
            const task before = make_task(s);
            const auto tr = coord::apply(before, e);
            const std::string name(event_name(e));
            SCOPED_TRACE(std::string(state_name(s)) + " x " + name);
            auto it = allowed.find({s, name});
            if (it == allowed.end()) {
                EXPECT_FALSE(tr.ok) << "should be refused, went to " << state_name(tr.after.view.state());
                EXPECT_FALSE(tr.refused.code.empty());
                EXPECT_FALSE(tr.refused.message.empty());
                if (name == "approve" && s == v1::TASK_STATE_EXPIRED) EXPECT_EQ(tr.refused.code, "expired");
                else EXPECT_EQ(tr.refused.code, "invalid_state");
            } else {
                ASSERT_TRUE(tr.ok) << tr.refused.code << ": " << tr.refused.message;
                EXPECT_EQ(tr.after.view.state(), it->second);
                EXPECT_FALSE(tr.action.empty());
                EXPECT_EQ(TimeUtil::TimestampToMilliseconds(tr.after.view.updated_at()), t0 + 2 * hour);
            }
            ++checked;
        }
    }
    EXPECT_EQ(checked, 11 * 11);
}

TEST(TaskMachine, FinalStatesAreExactlyTheTerminalOnes) {
    for (const auto s : all_states) {
        const bool final_state = s == v1::TASK_STATE_FAILED || s == v1::TASK_STATE_STALE || s == v1::TASK_STATE_REJECTED ||
                                 s == v1::TASK_STATE_EXPIRED || s == v1::TASK_STATE_SUPERSEDED ||
                                 s == v1::TASK_STATE_VERIFIED;
        EXPECT_EQ(is_final(s), final_state) << state_name(s);
    }
}

TEST(TaskMachine, OnlyApproversApprove) {
    const auto t = make_task(v1::TASK_STATE_PENDING_APPROVAL);
    for (const role r : {role::none, role::viewer, role::operator_}) {
        const auto tr = coord::apply(t, ev::approve{"carol", r, 3, "", t0});
        EXPECT_FALSE(tr.ok);
        EXPECT_EQ(tr.refused.code, "forbidden");
        EXPECT_NE(tr.refused.message.find("carol"), std::string::npos);
    }
}

TEST(TaskMachine, OperatorsAndApproversRejectViewersCannot) {
    const auto t = make_task(v1::TASK_STATE_PENDING_APPROVAL);
    EXPECT_EQ(coord::apply(t, ev::reject{"v", role::viewer, "no", t0}).refused.code, "forbidden");
    EXPECT_EQ(coord::apply(t, ev::reject{"n", role::none, "no", t0}).refused.code, "forbidden");
    EXPECT_TRUE(coord::apply(t, ev::reject{"o", role::operator_, "no", t0}).ok);
    const auto tr = coord::apply(t, ev::reject{"a", role::approver, "too broad", t0});
    ASSERT_TRUE(tr.ok);
    EXPECT_NE(tr.after.view.state_reason().find("too broad"), std::string::npos);
    EXPECT_EQ(coord::apply(t, ev::reject{"a", role::approver, "", t0}).refused.code, "bad_request");
}

TEST(TaskMachine, HighRiskNeedsTwoDifferentApprovers) {
    const auto t = make_task(v1::TASK_STATE_PENDING_APPROVAL, true, 2);
    const auto first = coord::apply(t, ev::approve{"alice", role::approver, 3, "", t0});
    ASSERT_TRUE(first.ok);
    EXPECT_EQ(first.after.view.state(), v1::TASK_STATE_PENDING_APPROVAL);
    EXPECT_EQ(first.after.view.approvals_size(), 1);
    EXPECT_FALSE(first.needs_dispatch());

    const auto again = coord::apply(first.after, ev::approve{"alice", role::approver, 3, "", t0});
    EXPECT_FALSE(again.ok);
    EXPECT_EQ(again.refused.code, "already_approved");

    const auto second = coord::apply(first.after, ev::approve{"bob", role::approver, 3, "", t0});
    ASSERT_TRUE(second.ok);
    EXPECT_EQ(second.after.view.state(), v1::TASK_STATE_APPROVED);
    EXPECT_TRUE(second.needs_dispatch());
    EXPECT_EQ(second.after.view.approvals_size(), 2);
}

TEST(TaskMachine, ApprovalOfAnOldPlanVersionIsRefused) {
    const auto t = make_task(v1::TASK_STATE_PENDING_APPROVAL);
    const auto tr = coord::apply(t, ev::approve{"alice", role::approver, 2, "", t0});
    EXPECT_FALSE(tr.ok);
    EXPECT_EQ(tr.refused.code, "stale_plan");
    EXPECT_EQ(coord::apply(t, ev::approve{"alice", role::approver, 4, "", t0}).refused.code, "stale_plan");
}

TEST(TaskMachine, ApprovalAfterTheTtlIsRefusedAsExpired) {
    const auto t = make_task(v1::TASK_STATE_PENDING_APPROVAL);
    const auto tr = coord::apply(t, ev::approve{"alice", role::approver, 3, "", t0 + 24 * hour});
    EXPECT_FALSE(tr.ok);
    EXPECT_EQ(tr.refused.code, "expired");
}

TEST(TaskMachine, ReplanBumpsTheVersionAndClearsApprovals) {
    const auto t = make_task(v1::TASK_STATE_PENDING_APPROVAL, true, 2);
    const auto one = coord::apply(t, ev::approve{"alice", role::approver, 3, "", t0});
    ASSERT_TRUE(one.ok);
    const auto re = coord::apply(one.after, ev::replan{other_plan(), "policy changed", t0, t0 + 48 * hour});
    ASSERT_TRUE(re.ok);
    EXPECT_EQ(re.after.view.plan_version(), 4u);
    EXPECT_EQ(re.after.view.approvals_size(), 0);
    EXPECT_EQ(re.after.view.plan().http_body(), other_plan().http_body());
    // The first approver's approval of version 3 no longer counts; approving v3 is stale now.
    EXPECT_EQ(coord::apply(re.after, ev::approve{"bob", role::approver, 3, "", t0}).refused.code, "stale_plan");
}

TEST(TaskMachine, ResultOutcomesMapToStates) {
    const auto t = make_task(v1::TASK_STATE_DISPATCHED);
    EXPECT_EQ(coord::apply(t, ev::result{"cmd-1", v1::COMMAND_OUTCOME_STALE, "modifiedDateTime differs", t0}).after.view.state(),
              v1::TASK_STATE_STALE);
    EXPECT_EQ(coord::apply(t, ev::result{"cmd-1", v1::COMMAND_OUTCOME_FAILED, "403", t0}).after.view.state(),
              v1::TASK_STATE_FAILED);
    EXPECT_EQ(coord::apply(t, ev::result{"cmd-1", v1::COMMAND_OUTCOME_REFUSED, "expired", t0}).after.view.state(),
              v1::TASK_STATE_FAILED);
    EXPECT_EQ(coord::apply(t, ev::result{"cmd-1", v1::COMMAND_OUTCOME_UNSPECIFIED, "", t0}).refused.code, "bad_request");
    EXPECT_EQ(coord::apply(t, ev::result{"cmd-9", v1::COMMAND_OUTCOME_SUCCEEDED, "", t0}).refused.code, "wrong_command");
    const auto ok = coord::apply(t, ev::result{"cmd-1", v1::COMMAND_OUTCOME_SUCCEEDED, "", t0 + 5});
    EXPECT_EQ(ok.after.succeeded_at_ms, t0 + 5);
}

TEST(TaskMachine, DispatchTimeoutOnlyAfterTheDeadline) {
    const auto t = make_task(v1::TASK_STATE_DISPATCHED);
    EXPECT_FALSE(coord::apply(t, ev::dispatch_timeout{t0 + hour - 1}).ok);
    EXPECT_EQ(coord::apply(t, ev::dispatch_timeout{t0 + hour}).after.view.state(), v1::TASK_STATE_FAILED);
}

TEST(TaskMachine, GuidanceTasksAreRecordedDoneNotDispatched) {
    const auto t = make_task(v1::TASK_STATE_PENDING_APPROVAL, /*automatic=*/false);
    const auto tr = coord::apply(t, ev::approve{"alice", role::approver, 3, "registered MFA on the phone", t0});
    ASSERT_TRUE(tr.ok);
    EXPECT_EQ(tr.after.view.state(), v1::TASK_STATE_SUCCEEDED);
    EXPECT_FALSE(tr.needs_dispatch());
    EXPECT_NE(tr.after.view.state_reason().find("alice"), std::string::npos);
    auto approved = make_task(v1::TASK_STATE_APPROVED, false);
    EXPECT_FALSE(coord::apply(approved, ev::dispatch{"c", t0, t0}).ok);
}

TEST(TaskMachine, ReopenAfterSuccessNeedsNewApprovals) {
    auto t = make_task(v1::TASK_STATE_SUCCEEDED);
    t.view.add_approvals()->set_admin("alice");
    const auto tr = coord::apply(t, ev::still_failing{other_plan(), t0, t0 + hour});
    ASSERT_TRUE(tr.ok);
    EXPECT_EQ(tr.after.view.state(), v1::TASK_STATE_PENDING_APPROVAL);
    EXPECT_EQ(tr.after.view.plan_version(), 4u);
    EXPECT_EQ(tr.after.view.approvals_size(), 0);
    EXPECT_TRUE(tr.after.view.command_id().empty());
}

TEST(TaskMachine, RolesParse) {
    EXPECT_EQ(parse_role("viewer"), role::viewer);
    EXPECT_EQ(parse_role("operator"), role::operator_);
    EXPECT_EQ(parse_role("approver"), role::approver);
    EXPECT_EQ(parse_role("admin"), role::admin);
    EXPECT_EQ(parse_role("root"), role::none);
}

}  // namespace
}  // namespace connguard::coord
