#pragma once
// What the agent knows about one tenant after a collection: the input of the checks, the diff and
// the command preconditions. Pure data; no I/O.
//
// Every item is `collected<T>`: either a value, or the reason it could not be collected (Graph
// error, throttling past retries, malformed JSON, missing permission). Checks turn a missing item
// into ERROR, never into OK.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace connguard::snapshot {

/// Why an item is missing.
struct collect_error {
    std::string code;                ///< "graph.forbidden", "graph.throttled", "graph.malformed", "graph.http", "graph.network"
    std::string message;             ///< names the Graph call and what it answered
    std::string missing_permission;  ///< for 403: the permission the call needs, e.g. "Policy.Read.All"
};

template <class T>
struct collected {
    std::optional<T> value;
    std::optional<collect_error> error;  ///< set exactly when value is empty

    bool ok() const { return value.has_value(); }
    static collected of(T v) { return collected{std::move(v), std::nullopt}; }
    static collected failed(collect_error e) { return collected{std::nullopt, std::move(e)}; }
};

/// The connection account as Graph returns it (GET /users/{upn}).
struct account {
    std::string id;                    ///< object id
    std::string user_principal_name;
    std::string display_name;
    bool account_enabled = true;
    std::string user_type = "Member";  ///< "Member" or "Guest"
};

/// One active directory role assignment of the account.
struct role_assignment {
    std::string id;                  ///< unifiedRoleAssignment id (what REMOVE_PRIVILEGED_ROLE deletes)
    std::string role_template_id;    ///< roleDefinitionId (= template id for built-in roles)
    std::string directory_scope_id;  ///< "/" for tenant-wide
};

/// From /reports/authenticationMethods/userRegistrationDetails/{id}.
struct registration {
    bool is_mfa_registered = false;
    bool is_mfa_capable = false;
    std::vector<std::string> methods_registered;
};

/// The sign-in probe's classified outcome (ROPC with the connection account).
enum class signin_outcome {
    success,
    mfa_required,               ///< 50076, 50074
    mfa_registration_required,  ///< 50079, 50072
    blocked_by_ca,              ///< 53003
    blocked_by_security_defaults,  ///< 530035
    control_required,           ///< 53000, 53001, 53002
    bad_credentials,            ///< 50126
    locked,                     ///< 50053
    disabled,                   ///< 50057
    password_expired,           ///< 50055, 50144
    not_found,                  ///< 50034
    app_misconfigured,          ///< 7000218, 700016, 7000215, 7000222, 700027, 65001
    external_challenge_required,  ///< 50158: a custom control / external authentication method was not satisfied
    registration_blocked_by_risk, ///< 53004: MFA registration (proof-up) blocked because of risk
    ca_failed,                  ///< 50131: Conditional Access failed (generic)
    not_assigned_to_app,        ///< 50105: the app requires user assignment and the account is not assigned
    password_change_required_by_risk,  ///< 50135: password change required because of risk
    other,                      ///< any other AADSTS code or an unexpected answer
};
const char* to_string(signin_outcome o);
/// The class of one AADSTS code (graph.md §1.6, §11.6); nullopt for a code of no known class.
std::optional<signin_outcome> outcome_for_aadsts(long code);

struct signin_result {
    signin_outcome outcome = signin_outcome::other;
    std::string resource_app_id;          ///< resource the probe asked a token for
    int aadsts_code = 0;                  ///< error_codes[0]; 0 on success
    std::vector<int> error_codes;         ///< all error_codes
    std::string error;                    ///< OAuth "error" field
    std::string error_description;        ///< human text, for people only (never branched on)
    std::vector<std::string> policy_ids;  ///< CA policy ids from the `claims` challenge, when present
};

/// One entry of Entra's sign-in log (beta auditLogs/signIns), the fields the checks use.
struct signin_log_entry {
    struct applied_policy {
        std::string id;
        std::string display_name;
        std::string result;  ///< success | failure | notApplied | notEnabled | reportOnly* | unknownFutureValue
    };
    std::string id;
    std::string created;          ///< createdDateTime (ISO 8601, UTC)
    std::string app_id;           ///< the client the tool signed in with
    std::string app_name;
    std::string resource_id;      ///< the resource (target) app id
    std::string resource_name;
    std::string ip_address;
    std::string country;          ///< location.countryOrRegion
    std::string client_app_used;
    int error_code = 0;           ///< status.errorCode (the AADSTS number; 0 = success)
    std::string failure_reason;
    std::vector<applied_policy> applied_policies;
};

/// The account's recent non-interactive sign-ins, kept across cycles: the newest entry per
/// (client app, resource) within the window, plus the newest createdDateTime seen (the next read
/// asks only for what came after it).
struct signin_history {
    std::vector<signin_log_entry> latest;  ///< newest first
    std::string last_seen;                 ///< createdDateTime of the newest entry ever read; empty = none
};

/// Graph's own What If answer (POST identity/conditionalAccess/evaluate) for one policy.
struct whatif_answer {
    std::string policy_id;
    std::string display_name;
    bool policy_applies = false;
    std::string analysis_reasons;  ///< as Graph sent it, e.g. "notSet" or "users,location"
};

/// One evaluate call: what was asked, when, and what Microsoft answered.
struct whatif_exchange {
    std::string asked_at;          ///< ISO 8601 UTC
    std::string resource_app_id;   ///< the sign-in's target resource
    std::string client_app_type;
    std::string ip_address;        ///< the sign-in context sent (the tool's real egress, when known)
    std::string country;
    std::string authentication_flow;
    std::string policies_digest;   ///< digest of the CA policies when asked (a change asks again)
    std::vector<whatif_answer> answers;
};

/// An entry of the directory audit log about a CA policy (who changed it).
struct policy_audit {
    std::string policy_id;
    std::string activity;       ///< activityDisplayName, e.g. "Update Conditional Access policy"
    std::string time;           ///< activityDateTime
    std::string initiated_by;   ///< app displayName or user principal name
    bool by_microsoft = false;  ///< initiated by "Microsoft Managed Policy Manager"
};

struct tenant_snapshot {
    std::string tenant_key;        ///< ConnGuard tenant key
    std::string azure_tenant_id;   ///< Entra tenant id
    std::string account_upn;       ///< the connection account, as configured

    collected<bool> security_defaults_enabled;
    collected<std::vector<nlohmann::json>> ca_policies;     ///< Graph conditionalAccessPolicy JSON, as returned
    collected<std::vector<nlohmann::json>> named_locations; ///< Graph namedLocation JSON, as returned
    collected<account> user;                                ///< the connection account
    collected<std::vector<std::string>> group_ids;          ///< transitive group memberships (ids)
    collected<std::vector<role_assignment>> roles;          ///< active role assignments
    collected<registration> mfa_registration;
    collected<std::string> per_user_mfa_state;              ///< "disabled" | "enabled" | "enforced"

    /// Sign-in probe results, one per target resource probed (empty when the probe did not run).
    std::vector<signin_result> signins;

    /// The account's own non-interactive sign-ins; nullopt when not read (disabled). A tenant without
    /// Entra ID P1 is the error code "graph.not_premium".
    std::optional<collected<signin_history>> signin_log;
    /// Microsoft's What If answer for the account's sign-in; nullopt when never asked.
    std::optional<collected<whatif_exchange>> microsoft_whatif;
    /// Audit entries about CA policies since the previous cycle (read when a policy changed; not persisted).
    std::vector<policy_audit> policy_audits;
};

/// Canonical JSON of a snapshot (stable key order; what is persisted and digested).
nlohmann::json to_json(const tenant_snapshot& s);
/// Inverse of to_json. Throws nlohmann::json::exception on a malformed document.
tenant_snapshot from_json(const nlohmann::json& j);
/// Hex SHA-256 over the canonical JSON of the tenant's settings (sign-in results, the sign-in log
/// and Microsoft's What If answers excluded, so a digest changes only when the tenant changes).
std::string digest(const tenant_snapshot& s);
/// Hex SHA-256 of the CA policies as collected (empty when they were not collected): what a
/// Microsoft What If answer was given for.
std::string policies_digest(const tenant_snapshot& s);

}  // namespace connguard::snapshot
