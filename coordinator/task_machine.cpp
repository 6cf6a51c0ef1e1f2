#include "coordinator/task_machine.h"

#include <google/protobuf/util/time_util.h>

#include "common/text.h"

namespace connguard::coord {

namespace {

using google::protobuf::util::TimeUtil;

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

transition refuse(std::string code, std::string message) {
    transition t;
    t.ok = false;
    t.refused = {std::move(code), std::move(message)};
    return t;
}

transition moved(task next, TaskState to, std::int64_t now_ms, std::string action, std::string detail,
                 std::string state_reason = {}) {
    transition t;
    t.ok = true;
    next.view.set_state(to);
    *next.view.mutable_updated_at() = TimeUtil::MillisecondsToTimestamp(now_ms);
    if (!state_reason.empty()) next.view.set_state_reason(state_reason);
    t.after = std::move(next);
    t.action = std::move(action);
    t.detail = std::move(detail);
    return t;
}

std::string in_state(const task& t) {
    return "task " + t.view.task_id() + " is " + state_name(t.view.state());
}

void new_plan_version(task& t, const v1::RemediationPlan& plan, std::int64_t expires_at_ms) {
    t.view.set_plan_version(t.view.plan_version() + 1);
    *t.view.mutable_plan() = plan;
    t.view.clear_approvals();
    t.view.clear_command_id();
    *t.view.mutable_expires_at() = TimeUtil::MillisecondsToTimestamp(expires_at_ms);
    t.dispatch_deadline_ms = 0;
    t.succeeded_at_ms = 0;
}

}  // namespace

std::string_view to_string(role r) {
    switch (r) {
        case role::viewer: return "viewer";
        case role::operator_: return "operator";
        case role::approver: return "approver";
        case role::admin: return "admin";
        case role::none: break;
    }
    return "none";
}

role parse_role(std::string_view text) {
    if (text == "viewer") return role::viewer;
    if (text == "operator") return role::operator_;
    if (text == "approver") return role::approver;
    if (text == "admin") return role::admin;
    return role::none;
}

bool is_final(TaskState s) {
    switch (s) {
        case v1::TASK_STATE_FAILED:
        case v1::TASK_STATE_STALE:
        case v1::TASK_STATE_REJECTED:
        case v1::TASK_STATE_EXPIRED:
        case v1::TASK_STATE_SUPERSEDED:
        case v1::TASK_STATE_VERIFIED:
            return true;
        default:
            return false;
    }
}

std::string state_name(TaskState s) { return enum_word(v1::TaskState_Name(s), "TASK_STATE_"); }

std::string_view event_name(const task_event& e) {
    static constexpr std::string_view names[] = {"offer",   "approve",  "reject",         "expire",
                                                  "supersede", "replan", "dispatch",      "result",
                                                  "dispatch_timeout", "verified", "still_failing"};
    return names[e.index()];
}

transition apply(const task& t, const task_event& e) {
    const TaskState s = t.view.state();
    const bool waiting = s == v1::TASK_STATE_PROPOSED || s == v1::TASK_STATE_PENDING_APPROVAL;
    return std::visit(
        overloaded{
            [&](const ev::offer& o) -> transition {
                if (s != v1::TASK_STATE_PROPOSED) return refuse("invalid_state", in_state(t) + ", cannot offer it");
                task n = t;
                *n.view.mutable_expires_at() = TimeUtil::MillisecondsToTimestamp(o.expires_at_ms);
                return moved(std::move(n), v1::TASK_STATE_PENDING_APPROVAL, o.now_ms, "task.offered",
                             "waiting for " + std::to_string(t.view.approvals_required()) + " approval(s)");
            },
            [&](const ev::approve& a) -> transition {
                if (!can_approve(a.who))
                    return refuse("forbidden", "admin '" + a.admin + "' has role " + std::string(to_string(a.who)) +
                                                   "; approving needs the approver or admin role");
                if (s == v1::TASK_STATE_EXPIRED) return refuse("expired", in_state(t) + "; it can no longer be approved");
                if (s != v1::TASK_STATE_PENDING_APPROVAL) return refuse("invalid_state", in_state(t) + ", not PENDING_APPROVAL");
                if (t.view.has_expires_at() && a.now_ms >= TimeUtil::TimestampToMilliseconds(t.view.expires_at()))
                    return refuse("expired", "task " + t.view.task_id() + " expired at " +
                                                 TimeUtil::ToString(t.view.expires_at()));
                if (a.plan_version != t.view.plan_version())
                    return refuse("stale_plan", "approval names plan version " + std::to_string(a.plan_version) +
                                                    " but the current plan of task " + t.view.task_id() +
                                                    " is version " + std::to_string(t.view.plan_version()) +
                                                    "; review the new plan and approve it");
                for (const auto& ap : t.view.approvals())
                    if (ap.admin() == a.admin && ap.plan_version() == a.plan_version)
                        return refuse("already_approved", "admin '" + a.admin + "' already approved plan version " +
                                                              std::to_string(a.plan_version) + " of task " +
                                                              t.view.task_id() + "; a second approver must be someone else");
                task n = t;
                auto* ap = n.view.add_approvals();
                ap->set_admin(a.admin);
                ap->set_plan_version(a.plan_version);
                ap->set_comment(a.comment);
                ap->set_via(a.via);
                *ap->mutable_at() = TimeUtil::MillisecondsToTimestamp(a.now_ms);
                const auto have = static_cast<std::uint32_t>(n.view.approvals_size());
                const auto need = std::max<std::uint32_t>(1, n.view.approvals_required());
                std::string detail = "by " + a.admin + " for plan version " + std::to_string(a.plan_version) + " (" +
                                     std::to_string(have) + "/" + std::to_string(need) + ")";
                if (!a.comment.empty()) detail += ": " + a.comment;
                if (have < need) {
                    transition tr = moved(std::move(n), v1::TASK_STATE_PENDING_APPROVAL, a.now_ms,
                                          "task.approval_recorded", detail);
                    return tr;
                }
                if (!n.view.automatic()) {
                    n.succeeded_at_ms = a.now_ms;
                    return moved(std::move(n), v1::TASK_STATE_SUCCEEDED, a.now_ms, "task.done_by_person",
                                 "guidance carried out, recorded " + detail, "done by " + a.admin);
                }
                return moved(std::move(n), v1::TASK_STATE_APPROVED, a.now_ms, "task.approved", detail);
            },
            [&](const ev::reject& r) -> transition {
                if (!can_approve(r.who) && r.who != role::operator_)
                    return refuse("forbidden", "admin '" + r.admin + "' has role " + std::string(to_string(r.who)) +
                                                   "; rejecting needs the operator, approver or admin role");
                if (r.reason.empty()) return refuse("bad_request", "a rejection needs a reason");
                if (s != v1::TASK_STATE_PENDING_APPROVAL && s != v1::TASK_STATE_PROPOSED)
                    return refuse("invalid_state", in_state(t) + ", cannot reject it");
                return moved(t, v1::TASK_STATE_REJECTED, r.now_ms, "task.rejected", "by " + r.admin + ": " + r.reason,
                             "rejected by " + r.admin + ": " + r.reason);
            },
            [&](const ev::expire& x) -> transition {
                if (!waiting) return refuse("invalid_state", in_state(t) + ", cannot expire");
                return moved(t, v1::TASK_STATE_EXPIRED, x.now_ms, "task.expired", "no decision before the task's TTL",
                             "nobody decided before " + TimeUtil::ToString(t.view.expires_at()));
            },
            [&](const ev::supersede& x) -> transition {
                if (!waiting) return refuse("invalid_state", in_state(t) + ", cannot be superseded");
                return moved(t, v1::TASK_STATE_SUPERSEDED, x.now_ms, "task.superseded", x.why, x.why);
            },
            [&](const ev::replan& x) -> transition {
                if (!waiting) return refuse("invalid_state", in_state(t) + ", cannot be replanned");
                task n = t;
                new_plan_version(n, x.plan, x.expires_at_ms);
                const auto to = s;  // PROPOSED stays PROPOSED, PENDING stays PENDING
                return moved(std::move(n), to, x.now_ms, "task.replanned",
                             "plan version " + std::to_string(t.view.plan_version() + 1) + ": " + x.why +
                                 "; earlier approvals no longer count",
                             "plan changed: " + x.why);
            },
            [&](const ev::dispatch& d) -> transition {
                if (s != v1::TASK_STATE_APPROVED) return refuse("invalid_state", in_state(t) + ", cannot dispatch");
                if (!t.view.automatic()) return refuse("invalid_state", "task " + t.view.task_id() + " is guidance only");
                task n = t;
                n.view.set_command_id(d.command_id);
                n.dispatch_deadline_ms = d.deadline_ms;
                return moved(std::move(n), v1::TASK_STATE_DISPATCHED, d.now_ms, "task.dispatched",
                             "command " + d.command_id + " for plan version " + std::to_string(t.view.plan_version()));
            },
            [&](const ev::result& r) -> transition {
                if (s != v1::TASK_STATE_DISPATCHED) return refuse("invalid_state", in_state(t) + ", no result expected");
                if (r.command_id != t.view.command_id())
                    return refuse("wrong_command", "result for command " + r.command_id + " but task " +
                                                       t.view.task_id() + " waits for " + t.view.command_id());
                task n = t;
                const std::string detail = "command " + r.command_id + ": " + r.detail;
                switch (r.outcome) {
                    case v1::COMMAND_OUTCOME_SUCCEEDED:
                        n.succeeded_at_ms = r.now_ms;
                        return moved(std::move(n), v1::TASK_STATE_SUCCEEDED, r.now_ms, "task.succeeded", detail,
                                     "agent wrote and verified the change; waiting for the next report");
                    case v1::COMMAND_OUTCOME_STALE:
                        return moved(std::move(n), v1::TASK_STATE_STALE, r.now_ms, "task.stale", detail,
                                     "precondition no longer held: " + r.detail);
                    case v1::COMMAND_OUTCOME_FAILED:
                    case v1::COMMAND_OUTCOME_REFUSED:
                        return moved(std::move(n), v1::TASK_STATE_FAILED, r.now_ms, "task.failed", detail,
                                     (r.outcome == v1::COMMAND_OUTCOME_REFUSED ? "agent refused: " : "agent failed: ") +
                                         r.detail);
                    default:
                        return refuse("bad_request", "result for command " + r.command_id + " has no outcome");
                }
            },
            [&](const ev::dispatch_timeout& x) -> transition {
                if (s != v1::TASK_STATE_DISPATCHED) return refuse("invalid_state", in_state(t) + ", not dispatched");
                if (x.now_ms < t.dispatch_deadline_ms)
                    return refuse("invalid_state", "task " + t.view.task_id() + " is still within its dispatch deadline");
                return moved(t, v1::TASK_STATE_FAILED, x.now_ms, "task.failed",
                             "no result for command " + t.view.command_id() + " before the dispatch deadline",
                             "no result from the agent in time");
            },
            [&](const ev::verified& x) -> transition {
                if (s != v1::TASK_STATE_SUCCEEDED) return refuse("invalid_state", in_state(t) + ", cannot verify");
                return moved(t, v1::TASK_STATE_VERIFIED, x.now_ms, "task.verified",
                             "the next report no longer shows the problem", "verified by the next report");
            },
            [&](const ev::still_failing& x) -> transition {
                if (s != v1::TASK_STATE_SUCCEEDED) return refuse("invalid_state", in_state(t) + ", cannot re-open");
                task n = t;
                new_plan_version(n, x.plan, x.expires_at_ms);
                return moved(std::move(n), v1::TASK_STATE_PENDING_APPROVAL, x.now_ms, "task.reopened",
                             "the next report still shows the problem; plan version " +
                                 std::to_string(t.view.plan_version() + 1) + " needs new approvals",
                             "re-opened: the problem is still there after the change");
            },
        },
        e);
}

}  // namespace connguard::coord
