#pragma once
// Tenant scenarios for connguard-graph-sim: one JSON file per tenant (format in README.md).
// Loading validates every field and reports "<file>: field '<path>': <reason>" for each problem;
// the simulator refuses to start on any of them.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace connguard::graph_sim {

using json = nlohmann::json;

/// The registered certificate of an app (public part only).
struct certificate {
    std::filesystem::path file;
    std::string der;            ///< DER bytes of the X.509 certificate
    std::string x5t_s256;       ///< base64url(SHA-256(DER))
    std::string x5t;            ///< base64url(SHA-1(DER)) (older assertion header)
    std::shared_ptr<void> key;  ///< EVP_PKEY* (public key), freed with EVP_PKEY_free
};

struct app {
    std::string app_id;
    std::string display_name;
    std::string service_principal_id;  ///< object id of the app's service principal in the tenant
    std::optional<std::string> client_secret;
    bool client_secret_expired = false;
    std::vector<certificate> certificates;
    std::set<std::string> permissions;  ///< Graph application permissions granted (consented)
    bool public_client = false;         ///< "Allow public client flows" (ROPC without a secret)
};

struct role_assignment {
    std::string id;                  ///< Graph's base64(template)+base64(principal)+"-1" unless given
    std::string role_definition_id;  ///< built-in role template id
    std::string directory_scope_id = "/";
};

struct user {
    json graph;  ///< Graph user properties (id, userPrincipalName, displayName, accountEnabled, userType, ...)
    std::string id;
    std::string upn;
    std::string password;
    std::vector<std::string> groups;  ///< direct group ids
    std::vector<role_assignment> roles;
    std::string per_user_mfa_state = "disabled";  ///< disabled | enabled | enforced
    json registration;                            ///< userRegistrationDetails fields (merged over defaults)
    bool locked = false;
    bool password_expired = false;
    std::optional<long> sign_in_override;  ///< AADSTS code forced on ROPC

    bool account_enabled() const { return graph.value("accountEnabled", true); }
    bool is_mfa_registered() const { return registration.value("isMfaRegistered", false); }
};

struct group {
    std::string id;
    std::string display_name;
    std::vector<std::string> member_of;  ///< parent groups (nested membership)
};

struct fault_rule {
    std::string type;  ///< throttle | unavailable | latency | malformedJson | truncatedJson | reset
    double rate = 1.0;
    std::string path_prefix;
    std::optional<double> retry_after;  ///< seconds; absent = no Retry-After header
    long latency_ms = 0;
    long max_count = -1;  ///< fire at most this many times (-1 = unlimited)
    long fired = 0;
};

struct fault_config {
    std::uint64_t seed = 0;
    bool seeded = false;
    std::vector<fault_rule> rules;
};

/// Parses a fault configuration ({"seed":n,"rules":[...]} or a bare rules array); errors name the
/// field, prefixed with `where`.
result<fault_config> parse_faults(const json& j, const std::string& where);
json faults_to_json(const fault_config& f);

/// Parses a user's registration facts from scenario/admin JSON into the registration object.
void apply_user_fields(user& u, const json& fields);

struct tenant_scenario {
    std::filesystem::path file;
    std::string tenant_id;
    std::string domain;
    std::string display_name;
    bool security_defaults_enabled = false;
    bool security_defaults_user_mfa = false;  ///< SD "when necessary" MFA applied to ordinary users
    std::string ropc_client_app_type = "mobileAppsAndDesktopClients";
    bool ca_rate_limit_enabled = true;
    double ca_rate_limit_rps = 1.0;
    std::vector<app> apps;
    std::vector<user> users;
    std::map<std::string, group> groups;
    std::vector<json> policies;
    std::vector<json> named_locations;
    std::vector<json> audits;
    fault_config faults;
    bool entra_id_premium = true;          ///< entraIdPremium: false -> sign-in logs answer 403 (non-premium)
    std::vector<json> sign_ins;            ///< signIns as given (sim-only keys kept; the simulator fills them)
    json what_if_answers = json::object(); ///< whatIfAnswers: lower-case policy id -> {policyApplies, analysisReasons}
};

/// Resolves a CA policy's sim-only keys: "simCreatedDaysAgo": N sets createdDateTime to now - N days;
/// the key is removed. Returns an error text naming the key when its value is not a number >= 0.
std::string resolve_policy_sim_keys(json& policy, std::chrono::system_clock::time_point now);

/// True for a Microsoft-managed CA policy (graph.md §11.1): templateId starts with
/// "4200930c-0da2-4e33-ca01-" or displayName starts with "Microsoft-managed:".
bool is_microsoft_managed(const json& policy);

/// Validates a whatIfAnswers object ({"<policyId>": {"policyApplies": bool, "analysisReasons": "..."}});
/// every key must name one of `policy_ids` (lower case). Errors name the field, prefixed with `where`.
result<json> parse_what_if_answers(const json& j, const std::set<std::string>& policy_ids, const std::string& where);

/// Validates one signIn entry of a scenario or the admin API (an object; "simMinutesAgo" a number >= 0).
/// Returns an empty string when valid, else "<field>: <reason>".
std::string check_sign_in(const json& entry);

/// Loads and validates one scenario file. On failure the error message lists every problem, one
/// per line, as "<file>: field '<path>': <reason>".
result<tenant_scenario> load_scenario(const std::filesystem::path& file);

/// Loads every *.json file in a folder (sorted by name); tenant ids and domains must be unique.
result<std::vector<tenant_scenario>> load_scenarios(const std::filesystem::path& dir);

/// Graph's role assignment id for a built-in role: base64(template GUID bytes ++ principal GUID
/// bytes, .NET byte order) + "-1", e.g. "lAPpYvVpN0KRkAEhdxReEHJ1hPGqSKpHlqMuxhkE9B8-1".
std::string role_assignment_id(const std::string& role_template_id, const std::string& principal_id);

bool is_guid(const std::string& s);

}  // namespace connguard::graph_sim
