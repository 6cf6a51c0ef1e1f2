#pragma once
// The what-if engine: one sign-in against a policy set, per Entra's documented rules
// (../shared/reference/graph.md §4) plus Security Defaults (§5) and per-user MFA (§6).
//
// Per policy the result mirrors Graph's whatIfAnalysisResult: `applies` and `analysis_reasons`
// (every condition that fails for certain; notEnoughInformation only when none fails for certain
// but one depends on context the caller did not give). The verdict says what a NON-interactive
// sign-in (no device, no prompt) gets, and which policies or settings cause it.
// Pure and deterministic: no I/O, no clock. Decisions on open points: agent/whatif/README.md.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/whatif/directory.h"
#include "agent/whatif/policy.h"
#include "agent/whatif/sign_in.h"

namespace connguard::whatif {

/// Graph's analysisReasons flags (whatIfAnalysisReasons), in Graph's enum order.
enum analysis_reason : std::uint32_t {
    reason_not_set = 0,
    reason_not_enough_information = 1u << 0,
    reason_invalid_condition = 1u << 1,
    reason_users = 1u << 2,
    reason_workload_identities = 1u << 3,
    reason_application = 1u << 4,
    reason_user_actions = 1u << 5,
    reason_authentication_context = 1u << 6,
    reason_device_platform = 1u << 7,
    reason_devices = 1u << 8,
    reason_client_apps = 1u << 9,
    reason_location = 1u << 10,
    reason_sign_in_risk = 1u << 11,
    reason_empty_policy = 1u << 12,
    reason_invalid_policy = 1u << 13,
    reason_policy_not_enabled = 1u << 14,
    reason_user_risk = 1u << 15,
    reason_time = 1u << 16,
    reason_insider_risk = 1u << 17,
    reason_authentication_flow = 1u << 18,
};
/// "notSet" for 0, else the comma-separated Graph names in enum order, e.g. "users,location".
std::string reasons_to_string(std::uint32_t reasons);

/// What one applicable policy demands of this sign-in (strongest first in `verdict` order).
enum class demand {
    none,              ///< no grant control, or every control it needs is satisfied
    block,             ///< block control, or a legacy client meeting any grant control
    mfa,               ///< mfa / authentication strength / risk remediation
    control,           ///< another control deviceInfo does not satisfy (compliant device, ...)
};
const char* to_string(demand d);

struct policy_result {
    std::string id;                       ///< the policy's id as given (may be empty)
    /// How the verdict names the policy: its id, else its displayName, else "policy #<index>" (the
    /// 0-based position in the evaluated list). Never empty.
    std::string label;
    std::string display_name;
    policy_state state = policy_state::disabled;
    bool applies = false;                 ///< all conditions match for certain (state aside for disabled)
    std::uint32_t analysis_reasons = 0;   ///< analysis_reason flags
    bool uncertain = false;               ///< not disabled, nothing fails for certain, something unknown
    demand required = demand::none;       ///< what it demands when it applies
    std::string detail;                   ///< the grant controls in words, e.g. "mfa OR compliantDevice";
                                          ///< names token protection when that is what blocks
};

enum class verdict_result { allowed, mfa_required, mfa_registration_required, blocked, control_required };
/// "allowed" | "mfa_required" | "mfa_registration_required" | "blocked" | "control_required"
const char* to_string(verdict_result r);

/// Settings named in `causes` besides policy ids.
inline constexpr const char* cause_security_defaults = "securityDefaults";
inline constexpr const char* cause_per_user_mfa = "perUserMfa";

struct verdict {
    verdict_result result = verdict_result::allowed;
    std::vector<std::string> causes;     ///< policy labels (input order), then "securityDefaults", "perUserMfa"
    std::vector<std::string> uncertain;  ///< labels of enabled and report-only policies that may apply
    std::vector<std::string> explanations;  ///< one readable line per cause
    verdict_result report_only_result = verdict_result::allowed;
    std::vector<std::string> report_only_policies;  ///< labels of the report-only policies that apply
    std::vector<std::string> report_only_causes;    ///< causes of report_only_result (labels and settings)
};

struct evaluation {
    std::vector<policy_result> policies;  ///< one per input policy, in input order
    verdict result;
};

/// Evaluates one sign-in. Policies are taken as given (order preserved in the output).
evaluation evaluate(const std::vector<policy>& policies, const directory& dir, const sign_in& s);

/// Evaluates one policy's conditions only (state ignored except for policyNotEnabled); its label
/// falls back to "policy #0".
policy_result evaluate_policy(const policy& p, const directory& dir, const sign_in& s);

/// The `connguardctl whatif --json` document:
/// {"value":[{"id","displayName","state","policyApplies","analysisReasons"}...],
///  "verdict":{"result","causes","uncertain","reportOnly":{"result","policies","causes"},"explanations"}}
nlohmann::json to_graph_json(const evaluation& e);

/// Well-known resource app ids (graph.md §9).
inline constexpr const char* app_exchange_online = "00000002-0000-0ff1-ce00-000000000000";
inline constexpr const char* app_microsoft_graph = "00000003-0000-0000-c000-000000000000";
inline constexpr const char* app_azure_management = "797f4846-ba00-4fd7-ba43-dac1f8f63013";
inline constexpr const char* app_sharepoint_online = "00000003-0000-0ff1-ce00-000000000000";
/// Azure AD Graph ("Windows Azure Active Directory"): where Entra evaluates a sign-in that asks only for
/// baseline scopes under "All resources" policies with resource exclusions (graph.md §4 rule 12, §11.5).
inline constexpr const char* app_azure_ad_graph = "00000002-0000-0000-c000-000000000000";
/// Microsoft Teams (client) and Microsoft Teams Services.
inline constexpr const char* app_teams = "1fec8e78-bce4-4aaf-ab1b-5451cc387264";
inline constexpr const char* app_teams_services = "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe";
/// Resources where token protection (sessionControls.secureSignInSession) demands a bound token:
/// Exchange Online, SharePoint Online, Teams (graph.md §11.5).
const std::set<std::string>& token_protection_apps();
/// True when every scope is a baseline scope: openid, profile, email, offline_access, User.Read (any
/// case, also in the Microsoft Graph resource form "https://graph.microsoft.com/User.Read" or
/// "00000003-0000-0000-c000-000000000000/User.Read"). Elements holding several space-separated scopes
/// are split. False for an empty list. The caller evaluates such a sign-in against app_azure_ad_graph.
bool only_baseline_scopes(const std::vector<std::string>& scopes);
/// Members of the `Office365` app group that ConnGuard knows (graph.md §4 rule 9, §9).
const std::set<std::string>& office365_apps();
/// Members of the `MicrosoftAdminPortals` app group that ConnGuard knows (graph.md §4 rule 10).
const std::set<std::string>& admin_portal_apps();
/// A display name for a well-known app id ("Office 365 Exchange Online"); the id itself otherwise.
std::string app_name(const std::string& app_id);

}  // namespace connguard::whatif
