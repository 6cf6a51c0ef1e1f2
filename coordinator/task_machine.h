#pragma once
// The remediation task state machine of DESIGN §8 — pure: no I/O, no clock reads (time is passed in).
//
//   PROPOSED -> PENDING_APPROVAL -> APPROVED -> DISPATCHED -> SUCCEEDED | FAILED | STALE
//   PROPOSED | PENDING_APPROVAL -> REJECTED | EXPIRED | SUPERSEDED
//   PENDING_APPROVAL -> PENDING_APPROVAL (replanned: plan_version+1, approvals cleared)
//   SUCCEEDED -> VERIFIED (next report shows the problem gone) | PENDING_APPROVAL (re-opened, new plan)
//
// Guidance-only kinds (MOVE_TO_APP_ONLY_AUTH, REGISTER_MFA_FOR_ACCOUNT) are never dispatched: an
// approver "approving" one records that a person carried it out, and the task goes straight to
// SUCCEEDED (then VERIFIED or re-opened by the next report like any other task).
//
// apply() either returns the task after the event plus an audit line (action + detail), or a
// refusal with a stable code; the caller writes both into the audit log.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "connguard/v1/tasks.pb.h"

namespace connguard::coord {

using v1::TaskState;

/// Admin roles (config `approvers`). viewer: read. operator: read + reject (stopping a change is
/// always safe). approver: read + approve + reject. admin: approver + manages alert subscriptions.
enum class role { none, viewer, operator_, approver, admin };
std::string_view to_string(role r);
/// "viewer" | "operator" | "approver" | "admin"; role::none for anything else.
role parse_role(std::string_view text);
/// approver or admin: may approve tasks and change the exception registry.
inline bool can_approve(role r) { return r == role::approver || r == role::admin; }

/// A task as the coordinator keeps it: the published view plus private bookkeeping.
struct task {
    v1::TaskView view;
    std::int64_t dispatch_deadline_ms = 0;  ///< DISPATCHED: a result must arrive before this
    std::int64_t succeeded_at_ms = 0;       ///< SUCCEEDED: only a report collected after this verifies
};

/// Final states: nothing moves a task out of them.
bool is_final(TaskState s);
/// Open = not final; at most one open task per (tenant, kind, target).
inline bool is_open(TaskState s) { return !is_final(s); }
std::string state_name(TaskState s);  ///< "PENDING_APPROVAL", ...

namespace ev {
/// PROPOSED -> PENDING_APPROVAL (the rule offers the task for approval).
struct offer { std::int64_t now_ms; std::int64_t expires_at_ms; };
/// An admin approves a plan version.
struct approve { std::string admin; role who; std::uint32_t plan_version; std::string comment; std::int64_t now_ms;
                 std::string via = {}; };  ///< via: "cli" | "console" (Approval.via)
/// An admin rejects.
struct reject { std::string admin; role who; std::string reason; std::int64_t now_ms; };
/// The TTL passed without a decision (PROPOSED / PENDING_APPROVAL).
struct expire { std::int64_t now_ms; };
/// The problem went away by itself (next report, or a change event).
struct supersede { std::string why; std::int64_t now_ms; };
/// The plan changed while waiting (new precondition): new version, approvals cleared.
struct replan { v1::RemediationPlan plan; std::string why; std::int64_t now_ms; std::int64_t expires_at_ms; };
/// APPROVED -> DISPATCHED.
struct dispatch { std::string command_id; std::int64_t now_ms; std::int64_t deadline_ms; };
/// The agent's CommandResult.
struct result { std::string command_id; v1::CommandOutcome outcome; std::string detail; std::int64_t now_ms; };
/// No result before the dispatch deadline.
struct dispatch_timeout { std::int64_t now_ms; };
/// A report collected after the success no longer shows the problem.
struct verified { std::int64_t now_ms; };
/// A report collected after the success still shows the problem: re-open with the new plan.
struct still_failing { v1::RemediationPlan plan; std::int64_t now_ms; std::int64_t expires_at_ms; };
}  // namespace ev

using task_event = std::variant<ev::offer, ev::approve, ev::reject, ev::expire, ev::supersede,
                                ev::replan, ev::dispatch, ev::result, ev::dispatch_timeout,
                                ev::verified, ev::still_failing>;
std::string_view event_name(const task_event& e);

/// Refusal codes (AdminResponse.error_code): "forbidden", "stale_plan", "expired",
/// "already_approved", "invalid_state", "bad_request", "wrong_command".
struct refusal {
    std::string code;
    std::string message;
};

struct transition {
    bool ok = false;
    task after;               ///< valid when ok
    std::string action;       ///< audit action, e.g. "task.approved", "task.approval_recorded"
    std::string detail;       ///< audit detail: who/why
    refusal refused;          ///< valid when !ok
    /// True when a command must be dispatched now (the task just reached APPROVED).
    bool needs_dispatch() const { return ok && after.view.state() == v1::TASK_STATE_APPROVED; }
};

/// Applies one event to a task. Pure and total: every (state, event) pair is either a transition
/// or a refusal; nothing throws.
transition apply(const task& t, const task_event& e);

}  // namespace connguard::coord
