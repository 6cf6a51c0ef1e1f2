#pragma once
// The exception registry (issue 15) — pure: the registered exceptions of a tenant, the exclusion
// facts of its latest report and `now` in; alerts and proposed tasks out. No I/O, no clock reads.
//
// An exception records that something is intentionally so in a tenant: an account / group / role
// excluded from one CA policy (kinds user, group, role), per-user MFA held off (mfa-off), or a role
// kept (role-kept) — with owner, reason, ticket and expiry. It is created by an approved remediation
// that succeeded (owner = its approvers), by `connguardctl exception add`, or by an import.
//
// Standing causes (coordinator/alerts.h machinery: raised while they stand, resolved when gone):
//   EXCEPTION_REMOVED:<policy>:<object>      a registered exclusion is no longer in its policy
//                                            (+ a restore task EXCLUDE_FROM_CA_POLICY for a user)
//   UNREGISTERED_EXCLUSION:<policy>:<object> an enabled / report-only policy excludes something no
//                                            exception covers, and it was not there when ConnGuard
//                                            started watching the tenant (warning: someone excluded
//                                            an account or a group by hand)
//   UNREGISTERED_EXCLUSION:onboarding        ONE info cause per tenant for the unregistered exclusions
//                                            that are in its onboarding set (they existed before
//                                            ConnGuard watched: a review item, not an incident);
//                                            resolved when `exception adopt` (or add / import) covers
//                                            them all. No UNREGISTERED_EXCLUSION at all until the
//                                            onboarding set is recorded (first complete report).
//   EXCEPTION_EXPIRING:<exception id>        within the warning window (+ a REVIEW_EXCEPTION task)
//   EXCEPTION_EXPIRED:<exception id>         past its expiry while what it allows still stands
//                                            (+ a REMOVE_CA_POLICY_EXCLUSION task: the typed PATCH
//                                            the agent executes after approval, high risk when it
//                                            covers the account; guidance for mfa-off / role-kept or
//                                            without the policy's facts; nothing is removed unapproved)
//   EXCEPTION_POLICY_GONE:<policy>:<object>  the exception's policy no longer exists (info)
// "Removed" and "policy gone" are concluded only from a policy listed in the report (a listed
// policy is listed whole) and, for "gone", only from complete facts: a report that could not
// collect the policies never says an exclusion disappeared, nor does a report collected before the
// exception was created (the report stored when an approved exclusion succeeds predates it).
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "connguard/v1/admin.pb.h"
#include "connguard/v1/validation.pb.h"
#include "coordinator/alerts.h"
#include "coordinator/rules.h"
#include "coordinator/task_machine.h"

namespace connguard::exceptions {

enum class kind { user, group, role, mfa_off, role_kept };
std::string kind_word(kind k);  ///< "user", "group", "role", "mfa-off", "role-kept"
std::optional<kind> parse_kind(std::string_view word);
/// True for the kinds that name a CA policy exclusion (user, group, role).
bool is_exclusion(kind k);

/// One registered exception.
struct record {
    std::string id;          ///< unique id (uuid)
    std::string tenant;      ///< tenant key
    kind what = kind::user;
    std::string policy_id;   ///< CA policy (user, group, role); empty for mfa-off / role-kept
    std::string object_id;   ///< user / group object id, role template id (lower case)
    std::string object_name; ///< the user's UPN / group or role name when known (a restore plan needs a UPN)
    std::string owner;       ///< who answers for it (the approver for approval-created ones)
    std::string reason;
    std::string ticket;
    std::string source;      ///< "task:<id>", "manual", "import" or "adopt"
    std::int64_t created_ms = 0;
    std::int64_t expires_ms = 0;  ///< 0 = never (refused by validate: every exception expires)
};

/// The identity of an exception: at most one per (tenant, kind, policy, object).
std::string key_of(const record& r);
/// The same identity for one exclusion of a report (ids compared lower case): an exception covers
/// the exclusion whose exclusion_key is its key_of.
std::string exclusion_key(const std::string& tenant, kind k, std::string_view policy_id, std::string_view object_id);

/// The exclusions a tenant already had when ConnGuard started watching it: recorded once, from its
/// first report whose exclusion facts are complete (store migration 4), never changed afterwards.
struct onboarding {
    bool recorded = false;      ///< false: no complete report yet (no UNREGISTERED_EXCLUSION is raised)
    std::int64_t recorded_ms = 0;
    std::set<std::string> keys; ///< exclusion_key of each exclusion then present
};
/// The onboarding set a report records: the exclusion_key of every user / group / role exclusion
/// of every listed policy (disabled ones too: enabling one later surprises nobody). nullopt when the
/// report's exclusion facts are missing or incomplete (the set is recorded from a later report).
std::optional<std::vector<std::string>> onboarding_keys(const std::string& tenant, const v1::ValidationReport& report);

/// The exclusions of enabled / report-only policies in `report` that no exception of `registered`
/// covers (what UNREGISTERED_EXCLUSION is about), as records with tenant, kind, policy, object and
/// object name set; `exception adopt` completes and registers them. Empty without a report or facts.
std::vector<record> unregistered(const std::string& tenant, const std::vector<record>& registered,
                                 const v1::ValidationReport* report);

struct settings {
    std::int64_t warning_ms = 14LL * 24 * 3600 * 1000;  ///< EXCEPTION_EXPIRING this long before expiry
};

enum class phase { valid, expiring, expired };
phase phase_of(const record& r, std::int64_t now_ms, const settings& s);

struct decisions {
    std::vector<coord::alert_cause> alerts;
    std::vector<coord::planned_remediation> tasks;  ///< restore / review / removal proposals
    /// Role template ids (lower case) a valid role-kept exception lets the account keep: the
    /// report's REMOVE_PRIVILEGED_ROLE plans for them are dropped (merge_into).
    std::vector<std::string> kept_roles;
};

/// Everything the registry concludes for one tenant. `report` may be null (never reported): only
/// the expiry causes then. `onboarded` is the tenant's onboarding set: unregistered exclusions in it
/// are aggregated into UNREGISTERED_EXCLUSION:onboarding, the others raise their own warning; none is
/// raised while it is not recorded. Each cause appears once.
decisions reconcile(const std::string& tenant, const std::vector<record>& registered,
                    const v1::ValidationReport* report, std::int64_t now_ms, const settings& s,
                    const onboarding& onboarded);

/// At most this many exclusions are listed in the onboarding cause's detail ("... and N more").
inline constexpr std::size_t onboarding_listed = 20;

/// Adds the registry's proposals to the plans of a report, so one reconcile_tasks call creates,
/// supersedes and verifies both (a proposal missing from the build would be superseded). A proposal
/// whose (kind, target) the report already plans is dropped (the report's plan does the same); a
/// guidance proposal whose (kind, target) already has a SUCCEEDED or VERIFIED task is dropped (a
/// person said it is done: the alert stays standing if it is not). A REMOVE_PRIVILEGED_ROLE plan for a
/// role in `kept_roles` is dropped: the exception says the account keeps it (an open task for it is
/// then superseded by reconcile_tasks).
void merge_into(coord::plan_build& build, const decisions& d, const std::vector<coord::task>& tasks);

/// The exception an approved remediation created when it succeeded: EXCLUDE_FROM_CA_POLICY (kind
/// user) and DISABLE_PER_USER_MFA (mfa-off); nullopt for other kinds. Owner = the approvers of the
/// executed plan version, reason = the task's reason, source = "task:<id>".
std::optional<record> from_succeeded_task(const coord::task& t, std::int64_t now_ms, std::int64_t validity_ms);

/// Field problems of a record as "field 'x': reason" (empty = valid). `now_ms` refuses an expiry in
/// the past unless `allow_expired` (an import restores history: an expired entry then proposes its
/// removal like any expired exception).
std::vector<std::string> validate(const record& r, std::int64_t now_ms, bool allow_expired = false);

/// Export format: {"exceptions":[{"id","tenant","kind","policyId","objectId","objectName","owner",
/// "reason","ticket","source","createdAt","expiresAt"}]} (times RFC 3339).
std::string to_json(const std::vector<record>& records);
/// Parses and validates a whole export; any bad entry refuses the whole file, every problem listed
/// as "<label>: entry N: field 'x': reason". Missing ids get new ones; source becomes "import"
/// when absent. Expired entries are accepted (see validate).
result<std::vector<record>> from_json(std::string_view text, const std::string& label, std::int64_t now_ms);

/// The wire form (AdminRequest / AdminResponse) and back; from_proto leaves id, source and
/// created_ms as sent (the coordinator sets them).
v1::ExceptionRecord to_proto(const record& r);
record from_proto(const v1::ExceptionRecord& x);
v1::ExceptionKind wire_kind(kind k);
std::optional<kind> kind_of_wire(v1::ExceptionKind k);

/// "2026-12-31" of a unix-ms time (UTC).
std::string date_of(std::int64_t ms);
/// "YYYY-MM-DD" (end of that day, 23:59:59 UTC) or RFC 3339 -> unix ms.
std::optional<std::int64_t> parse_expiry(std::string_view text);

}  // namespace connguard::exceptions
