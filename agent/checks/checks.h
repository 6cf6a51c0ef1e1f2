#pragma once
// The checks of DESIGN §5: a tenant snapshot (plus the sign-in probe results inside it) becomes a
// connguard.v1.ValidationReport with stable check ids in a stable order, a reason a person
// understands, evidence, and the remediation each FAIL suggests (DESIGN §8).
// A check whose data is missing reports ERROR with the collection error; it never reports OK from
// missing data. Pure: no I/O, no clock (collected_at/cycle are the caller's).
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/snapshot/tenant_snapshot.h"
#include "agent/whatif/evaluate.h"
#include "common/check_ids.h"
#include "connguard/v1/validation.pb.h"

namespace connguard::checks {

// The stable check ids (check_account, check_cap, ...) are in common/check_ids.h; check_ids() gives
// their report order.

/// Days from a Microsoft-managed policy's creation to the earliest day Microsoft may enforce it,
/// and how close to that day a report-only one turns from WARN to FAIL (graph.md §11.1).
inline constexpr int managed_enforcement_days = 45;
inline constexpr int managed_fail_within_days = 7;
/// All ids in report order.
const std::vector<std::string>& check_ids();

/// What the connection account is used for.
struct options {
    /// Resources the tool signs in to (default Exchange Online and Microsoft Graph).
    std::vector<std::string> target_resources = {whatif::app_exchange_online, whatif::app_microsoft_graph};
    /// clientAppType of the tool's sign-in (ROPC from a script: "mobileAppsAndDesktopClients").
    std::string client_app_type = "mobileAppsAndDesktopClients";
    /// The tool also signs in with a legacy protocol (client app type "other").
    bool needs_legacy_auth = false;
    /// Scopes the tool asks for, per target resource app id (lower case); a target asked only for
    /// baseline scopes is evaluated against Azure AD Graph (graph.md §4 rule 12).
    std::map<std::string, std::vector<std::string>> target_scopes;
    /// The tool's authentication flow: "none" or "deviceCodeFlow" (graph.md §11.5).
    std::string authentication_flow = "none";
    /// The tool writes Azure Resource Manager as a user (graph.md §11.2).
    bool writes_azure_resource_manager = false;
    /// When the snapshot was collected: enforcement dates and the sign-in window are judged against it.
    std::chrono::system_clock::time_point now{};
    /// How far back the account's own sign-ins count (CG-SIGNIN-LOG).
    std::chrono::hours signin_window{24};
};

/// The resource Entra evaluates a target as: Azure AD Graph when the tool asks it only for
/// baseline scopes, the target itself otherwise.
std::string evaluated_resource(const options& opts, const std::string& target);

/// The tool's real egress from its newest sign-in in the log (empty fields when unknown).
struct egress {
    std::string ip_address;
    std::string country;
};
std::optional<egress> tool_egress(const snapshot::tenant_snapshot& s);

/// The account's non-interactive sign-in to one target as the tool makes it: client app type and
/// flow from the options, and (with_egress) the tool's real IP and country from the sign-in log.
whatif::sign_in account_sign_in(const snapshot::tenant_snapshot& s, const options& opts, const std::string& target,
                                bool with_egress = true);

/// The body of Graph's POST identity/conditionalAccess/evaluate for a sign-in (graph.md §4.1).
nlohmann::json to_evaluate_request(const whatif::sign_in& in);

/// The directory facts of the snapshot (Security Defaults, named locations, the account's
/// groups, roles and MFA state) in the what-if engine's form. Missing items use the engine's
/// defaults; the checks report them as ERROR separately.
whatif::directory to_directory(const snapshot::tenant_snapshot& s);

/// The what-if verdict for the account's non-interactive sign-in to one resource.
whatif::evaluation evaluate_account(const snapshot::tenant_snapshot& s, const std::vector<whatif::policy>& policies,
                                    const std::string& resource_app_id, const std::string& client_app_type);
/// The what-if verdict for a sign-in built by account_sign_in.
whatif::evaluation evaluate_sign_in(const snapshot::tenant_snapshot& s, const std::vector<whatif::policy>& policies,
                                    const whatif::sign_in& in);

/// The account's facts for evaluating a draft policy away from the tenant (ValidationReport
/// evaluation_context): object id, user type, groups, roles, MFA registration, named locations, the
/// sign-ins the checks evaluate and the tool's egress. `complete` is false, with `missing` naming
/// why, when the account, its groups, its roles or the named locations were not collected.
/// Larger than this (serialized), the larger of the named locations and the groups is left out (named in
/// `missing`): the report must fit the 256 KiB envelope.
inline constexpr std::size_t max_evaluation_context_bytes = 96 * 1024;

/// Every CA policy's (enabled, report-only, disabled) excludeUsers / excludeGroups / excludeRoles
/// entries, typed, with whether each covers the connection account (directly, through one of its
/// groups, through one of its roles). Policies that exclude the account come first. Incomplete
/// (with `missing`) when the policies, or the account's groups or roles, were not collected, or a
/// policy did not parse. evaluation_context carries it and cuts whole policies from the end (counted
/// in `omitted`) down to max_exclusion_facts_bytes when the whole context would exceed
/// max_evaluation_context_bytes.
inline constexpr std::size_t max_exclusion_facts_bytes = 32 * 1024;
v1::CaExclusionFacts exclusion_facts(const snapshot::tenant_snapshot& s);
v1::EvaluationContext evaluation_context(const snapshot::tenant_snapshot& s, const options& opts = {});

/// Runs every check. Fills azure_tenant_id, account_upn, account_object_id, checks, overall,
/// snapshot_digest and verdicts; leaves cycle, collected_at and graph_requests to the caller.
v1::ValidationReport run_checks(const snapshot::tenant_snapshot& s, const options& opts = {});

/// The worst of two statuses (ERROR > FAIL > WARN > OK).
v1::CheckStatus worst(v1::CheckStatus a, v1::CheckStatus b);

}  // namespace connguard::checks
