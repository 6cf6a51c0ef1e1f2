#pragma once
// Rules (DESIGN §8) — pure: reports and change events in, task actions out. No I/O, no clock.
//
// Plans are built from a FAIL CheckResult's SuggestedRemediation plus that check's evidence.
// Evidence the coordinator reads (agent/checks writes it; see coordinator/README.md "Evidence"):
//   EXCLUDE_FROM_CA_POLICY (target_id = policy id), evidence with id == policy id:
//     kind "policy"                  name = displayName
//     kind "policy.modifiedDateTime" detail = the policy's modifiedDateTime as read   (REQUIRED)
//     kind "policy.excludeUsers"     detail = JSON array of conditions.users.excludeUsers (REQUIRED)
//     kind "policy.grant"            detail = "block" or the grant controls, e.g. "mfa"  (risk)
//     kind "policy.includeUsers"     detail = JSON array of conditions.users.includeUsers (risk)
//   DISABLE_PER_USER_MFA (target_id = user object id):
//     kind "setting", id "perUserMfaState", detail = "enabled" | "enforced"           (REQUIRED)
//   REMOVE_PRIVILEGED_ROLE (target_id = role assignment id):
//     kind "role_assignment", id = assignment id, name = role name, detail = role template id
//     (or, as agent/checks writes it: kind "role", id = role template id, name = role name,
//      detail containing the assignment id, e.g. "assignment <id> scope /")
//   User object id and UPN come from the report (account_object_id, account_upn).
// A remediation whose REQUIRED evidence is missing gets no task (a task without its precondition
// could overwrite someone else's change); it is listed in plan_build::problems and raises an alert.
#include <cstdint>
#include <string>
#include <vector>

#include "connguard/v1/events.pb.h"
#include "connguard/v1/validation.pb.h"
#include "coordinator/task_machine.h"

namespace connguard::coord {

/// A remediation the current report asks for, with its full plan.
struct planned_remediation {
    v1::RemediationKind kind = v1::REMEDIATION_KIND_UNSPECIFIED;
    std::string target;              ///< policy id, user object id, or role assignment id
    v1::RemediationPlan plan;
    v1::Risk risk = v1::RISK_MEDIUM;
    bool automatic = true;           ///< false for guidance-only kinds
    std::uint32_t approvals_required = 1;  ///< 2 for high risk
    std::string reason;              ///< the FAIL behind it: "CG-CAP (policy ...): reason"
};

struct plan_build {
    std::vector<planned_remediation> plans;
    /// Remediations that could not be planned, e.g. "CG-CAP: policy 'X' (id): evidence lacks
    /// policy.modifiedDateTime; no task planned". Each also yields an alert.
    struct problem {
        v1::RemediationKind kind;
        std::string target;
        std::string message;
    };
    std::vector<problem> problems;
    /// False when any check is ERROR: the report cannot prove a problem is gone, so it neither
    /// supersedes nor verifies tasks (an ERROR is never read as OK).
    bool conclusive = true;
};

/// Builds the plans of every FAIL with a suggested remediation (one per (kind, target)).
plan_build plans_from_report(const v1::ValidationReport& report);

/// True for kinds the agent executes; false for guidance-only kinds.
bool is_automatic(v1::RemediationKind kind);
std::string kind_name(v1::RemediationKind kind);  ///< "EXCLUDE_FROM_CA_POLICY", ...

/// Deterministic bytes of a plan, to tell whether a plan changed.
std::string plan_identity(const v1::RemediationPlan& plan);

/// What the coordinator should do to one task (or create one).
struct task_action {
    enum class kind { create, replan, supersede, verify, reopen } what = kind::create;
    std::string task_id;              ///< empty for create
    planned_remediation remediation;  ///< create, replan, reopen
    std::string why;                  ///< audit reason
};

/// Compares the plans of a new report with the tenant's tasks (all of them or at least the newest
/// per (kind, target) plus every open one). `report_collected_ms` decides whether the report is
/// recent enough to verify a SUCCEEDED task (it must be collected after the success).
std::vector<task_action> reconcile_tasks(const plan_build& build, const std::vector<task>& tasks,
                                         std::int64_t report_collected_ms, std::uint64_t cycle);

/// Change events that settle a waiting task before the next report does: the policy was deleted,
/// the account got excluded, per-user MFA was disabled, the role was removed (-> supersede); the
/// policy changed under a waiting plan (-> replan with the new precondition, when the event carries
/// the policy JSON).
std::vector<task_action> actions_for_event(const v1::ChangeEvent& event, const std::vector<task>& tasks);

/// Graph change for each kind (exposed for tests and connguardctl output).
v1::RemediationPlan exclude_plan(const std::string& policy_id, const std::string& policy_name,
                                 const std::string& user_id, const std::string& upn,
                                 const std::string& modified, const std::vector<std::string>& exclude_before);

}  // namespace connguard::coord
