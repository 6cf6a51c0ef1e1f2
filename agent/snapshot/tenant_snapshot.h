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
    other,                      ///< any other AADSTS code or an unexpected answer
};
const char* to_string(signin_outcome o);

struct signin_result {
    signin_outcome outcome = signin_outcome::other;
    std::string resource_app_id;          ///< resource the probe asked a token for
    int aadsts_code = 0;                  ///< error_codes[0]; 0 on success
    std::vector<int> error_codes;         ///< all error_codes
    std::string error;                    ///< OAuth "error" field
    std::string error_description;        ///< human text, for people only (never branched on)
    std::vector<std::string> policy_ids;  ///< CA policy ids from the `claims` challenge, when present
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
};

/// Canonical JSON of a snapshot (stable key order; what is persisted and digested).
nlohmann::json to_json(const tenant_snapshot& s);
/// Inverse of to_json. Throws nlohmann::json::exception on a malformed document.
tenant_snapshot from_json(const nlohmann::json& j);
/// Hex SHA-256 over the canonical JSON of the tenant's settings (sign-in results excluded, so a
/// digest changes only when the tenant changes).
std::string digest(const tenant_snapshot& s);

}  // namespace connguard::snapshot
