#pragma once
// Conditional Access policies as the what-if engine sees them.
//
// parse_policy() accepts a Graph `conditionalAccessPolicy` object as Graph returns it and as
// people export it (see ../shared/reference/ca-policies/SUMMARY.md): unknown fields, `@odata.*`
// annotations and OData action keys are ignored; `null`, `[]`, `{}` and a missing key all mean
// "not configured"; the grant operator and `clientAppTypes` values are matched in any case;
// flag-enum strings ("a,b") and arrays are both accepted; a mis-cased key is found when the exact
// one is absent. A value of the wrong type is an error naming the field (and the policy).
// Pure: no I/O.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace connguard::whatif {

enum class policy_state { enabled, disabled, report_only };
/// "enabled" | "disabled" | "enabledForReportingButNotEnforced"
const char* to_string(policy_state s);

/// includeGuestsOrExternalUsers / excludeGuestsOrExternalUsers.
struct guest_selector {
    std::vector<std::string> user_types;  ///< guestOrExternalUserTypes flags, e.g. "b2bCollaborationGuest"
    bool all_tenants = true;              ///< externalTenants membershipKind all (or absent)
    std::vector<std::string> tenant_ids;  ///< membershipKind enumerated: the members
};

/// conditions.devices.deviceFilter and conditions.applications.applicationFilter
struct filter_condition {
    std::string mode;  ///< "include" | "exclude"
    std::string rule;  ///< the filter rule text, e.g. device.trustType -eq "ServerAD"
};

/// conditions.deviceStates (deprecated): includeStates / excludeStates ("All", "Compliant", "DomainJoined").
struct device_state_condition {
    std::vector<std::string> include_states;
    std::vector<std::string> exclude_states;
};

struct grant_controls {
    bool is_and = false;                              ///< operator AND (any case); otherwise OR
    std::vector<std::string> built_in_controls;       ///< block, mfa, compliantDevice, ...
    std::vector<std::string> custom_authentication_factors;
    std::vector<std::string> terms_of_use;            ///< agreement ids
    std::optional<std::string> authentication_strength_id;  ///< set when an authentication strength is required
    std::string authentication_strength_name;         ///< its displayName when expanded inline
    /// True when no control is configured (session-only policy).
    bool empty() const;
    bool has(const std::string& control) const;       ///< case-insensitive builtInControls lookup
};

struct policy {
    std::string id;
    std::string display_name;
    policy_state state = policy_state::disabled;
    std::string template_id;         ///< templateId (empty when null or absent)
    std::string created_date_time;   ///< createdDateTime as Graph sent it (empty when null or absent)
    std::string modified_date_time;  ///< modifiedDateTime as Graph sent it (empty when null or absent)

    // conditions.users (absent or null: `has_users` false)
    bool has_users = false;
    std::vector<std::string> include_users, exclude_users;
    std::vector<std::string> include_groups, exclude_groups;
    std::vector<std::string> include_roles, exclude_roles;
    std::optional<guest_selector> include_guests, exclude_guests;

    // conditions.clientApplications (workload identities)
    std::vector<std::string> include_service_principals, exclude_service_principals;
    bool has_service_principal_filter = false;

    // conditions.applications
    bool has_applications = false;  ///< an applications object with includeApplications present
    std::vector<std::string> include_applications, exclude_applications;
    std::vector<std::string> include_user_actions;
    std::vector<std::string> include_authentication_contexts;
    std::optional<filter_condition> application_filter;

    // other conditions; an empty collection means "not configured"
    std::vector<std::string> client_app_types;      ///< as written ("all" may be "All")
    std::vector<std::string> include_platforms, exclude_platforms;
    bool has_locations = false;
    std::vector<std::string> include_locations, exclude_locations;
    std::optional<filter_condition> device_filter;
    std::optional<device_state_condition> device_states;
    std::vector<std::string> sign_in_risk_levels, user_risk_levels, service_principal_risk_levels;
    std::vector<std::string> insider_risk_levels;
    std::vector<std::string> authentication_flows;  ///< transferMethods flags
    bool has_times = false;                         ///< undocumented `times` condition present
    /// Any agent-identity condition configured non-empty (graph.md §11.5): includeAgentIdServicePrincipals,
    /// excludeAgentIdServicePrincipals, agentIdServicePrincipalFilter, agentIdRiskLevels, agents or
    /// agentContext, found under conditions, conditions.users or conditions.clientApplications.
    bool targets_agents = false;

    std::optional<grant_controls> grant;            ///< null grantControls: none

    // sessionControls
    /// Token protection: sessionControls.secureSignInSession.isEnabled is true (graph.md §11.5).
    bool secure_sign_in_session = false;
};

/// Microsoft-managed policy (graph.md §11.1): templateId starts with `4200930c-0da2-4e33-ca01-` or
/// displayName starts with `Microsoft-managed:` (both compared ignoring case).
bool is_microsoft_managed(const policy& p);

/// One policy from one JSON object. Errors (code "whatif.policy") name the field and, when known,
/// the policy's displayName.
result<policy> parse_policy(const nlohmann::json& j);

/// Every policy in a document: one policy object, an array of them, a Graph list response
/// `{"value": [...]}`, or the `{..., "PolicyConfig": {policy}}` export wrapper. An element that is
/// not a policy is an error naming its index.
result<std::vector<policy>> parse_policies(const nlohmann::json& doc);

}  // namespace connguard::whatif
