#pragma once
// The change diff of DESIGN §7: last persisted snapshot + report statuses -> ChangeEvents.
// Pure: no I/O, no clock. The agent persists carry_forward(prev, cur) and the statuses after the
// broker acknowledged the cycle's events, so the next diff starts where this one ended.
//
// Rules that keep the events honest:
//  - an item is compared only when it was collected in BOTH snapshots; a failed collection never
//    looks like "deleted" or "changed" (carry_forward keeps the last known value for it);
//  - the first cycle of a tenant (no persisted state) is the baseline: no events;
//  - CA policies are matched by id; `modifiedDateTime` alone is not a change (it moves with every
//    write), every other field is compared and named by its dotted path;
//  - a policy whose `state` changed gives CA_POLICY_STATE_CHANGED; other fields give
//    CA_POLICY_UPDATED (both when both changed); the connection account entering or leaving
//    `conditions.users.excludeUsers` (or entering `includeUsers`) additionally gives
//    ACCOUNT_EXCLUDED_FROM_POLICY / ACCOUNT_INCLUDED_IN_POLICY;
//  - check statuses are compared per check id + subject for checks present in both reports.
#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/snapshot/tenant_snapshot.h"
#include "connguard/v1/events.pb.h"
#include "connguard/v1/validation.pb.h"

namespace connguard::agent {

/// The statuses of one report, as persisted between cycles.
struct report_statuses {
    std::map<std::string, v1::CheckStatus> checks;  ///< key: check id, or "id/subject"
    v1::CheckStatus overall = v1::CHECK_STATUS_UNSPECIFIED;
    bool empty() const { return checks.empty() && overall == v1::CHECK_STATUS_UNSPECIFIED; }
};

/// "CG-CAP/<policy id>" for per-object checks, "CG-SECDEF" otherwise.
std::string check_key(const v1::CheckResult& c);
report_statuses statuses_of(const v1::ValidationReport& report);
nlohmann::json to_json(const report_statuses& s);
/// The worst status of each check id of a report (per-object checks: the worst of their subjects),
/// by id, as status names ("FAIL"): what connguard_check_status counts per tenant.
std::vector<std::pair<std::string, std::string>> worst_status_by_check(const v1::ValidationReport& report);
/// Inverse of to_json; unknown status names become UNSPECIFIED. Never throws.
report_statuses statuses_from_json(const nlohmann::json& j);
/// "OK", "WARN", "FAIL", "ERROR" (or "UNSPECIFIED").
std::string status_name(v1::CheckStatus s);

/// Dotted paths of the fields that differ between two JSON values ("conditions.users.excludeUsers").
/// Arrays of scalars compare as sets (Graph does not promise an order); `ignore` names top-level
/// keys to skip. Equal values give an empty list.
std::vector<std::string> changed_paths(const nlohmann::json& before, const nlohmann::json& after,
                                       const std::set<std::string>& ignore = {});

/// Tenant-data changes between the persisted snapshot and the new one (no cycle/index/digests yet).
std::vector<v1::ChangeEvent> diff_snapshots(const snapshot::tenant_snapshot& prev,
                                            const snapshot::tenant_snapshot& cur);

/// Check and overall status changes between the last committed report and this one.
std::vector<v1::ChangeEvent> diff_statuses(const report_statuses& prev, const v1::ValidationReport& cur);

/// Everything a cycle publishes as events, numbered 0..n-1 and stamped with the cycle and the
/// digests. `have_prev` false = baseline cycle (no events).
/// Sets initiated_by (and initiated_by_microsoft) on CA policy events from the newest audit entry
/// about the same policy (graph.md §8.5, §11.1). Pure.
void attribute_initiators(std::vector<v1::ChangeEvent>& events, const std::vector<snapshot::policy_audit>& audits);

std::vector<v1::ChangeEvent> diff_cycle(bool have_prev, const snapshot::tenant_snapshot& prev,
                                        const report_statuses& prev_statuses,
                                        const snapshot::tenant_snapshot& cur, const v1::ValidationReport& report,
                                        std::uint64_t cycle);

/// What gets persisted: `cur`, except that every item that failed to collect keeps prev's value
/// (when prev had one), so a transient error neither loses the baseline nor invents a change.
snapshot::tenant_snapshot carry_forward(const snapshot::tenant_snapshot& prev, const snapshot::tenant_snapshot& cur);

/// Display name of a built-in directory role template id (the id itself when unknown).
std::string role_name(const std::string& template_id);

}  // namespace connguard::agent
