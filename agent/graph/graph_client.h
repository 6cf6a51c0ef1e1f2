#pragma once
// The Microsoft Graph / Entra ID client of one tenant: app tokens (client secret or certificate),
// the ROPC sign-in probe, paging, throttling and retries, typed reads and the remediation writes.
// Pointed at https://login.microsoftonline.com and https://graph.microsoft.com with real app
// credentials it works unchanged; tests point both base URLs at connguard-graph-sim.
//
//   graph::graph_client gc({.tenant_key = "contoso", .azure_tenant_id = tid, .client_id = app,
//                           .client_secret = secret}, connguard::system_clock::instance());
//   auto pols = gc.list_ca_policies();        // result<std::vector<json>>
//   gc.reset_cycle_counters();                // at the start of each agent cycle
//
// One client per tenant and per thread (it owns a libcurl handle, the token cache, the CA pacer and
// the per-cycle counters). Every call is synchronous and never throws; failures are `error`s whose
// code is one of:
//   graph.forbidden   403; the message names the call and the permission it needs
//   graph.not_found   404 (reads report "not found" through their result type where it is expected)
//   graph.throttled   429 after the retries allowed for the request / left in the cycle budget
//   graph.malformed   a 2xx body that is not the JSON the call expects (truncated, wrong shape);
//                     never a half-filled result
//   graph.http        any other unexpected status (5xx after retries, 400, ...)
//   graph.network     connection refused / reset / timeout after retries
//   graph.token       the token endpoint refused the app (bad secret, bad assertion, ...)
//   graph.credential  the configured certificate or key cannot be used
//   graph.unauthorized 401 from Graph again after one token refresh
//   graph.not_premium 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant: the sign-in log
//                     needs Entra ID P1 (graph.md §8.6)
// Messages name the tenant, the method and the path, and carry Graph's error code and request-id;
// never a token, a secret or a password.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/graph/jwt.h"
#include "agent/snapshot/tenant_snapshot.h"
#include "common/clock.h"
#include "common/result.h"

namespace connguard::graph {

struct graph_client_options {
    std::string tenant_key;       ///< ConnGuard tenant key, for messages and logs
    std::string azure_tenant_id;  ///< Entra tenant id (GUID) or verified domain

    std::string authority_url = "https://login.microsoftonline.com";
    std::string graph_url = "https://graph.microsoft.com";
    /// Resource the app token is for; the scope is "<graph_resource>/.default".
    std::string graph_resource = "https://graph.microsoft.com";

    // App registration (client credentials). Exactly one credential: a secret, or a certificate
    // (PEM certificate + PEM private key; the key as text or as a file).
    std::string client_id;
    std::string client_secret;
    std::filesystem::path certificate_file;
    std::filesystem::path private_key_file;
    std::string private_key_pem;  ///< used instead of private_key_file when set
    assertion_alg assertion_algorithm = assertion_alg::ps256;

    std::string ca_file;  ///< optional CA bundle for HTTPS (empty = system default)
    std::chrono::milliseconds request_timeout{30000};

    // Retries (429, 5xx, resets, timeouts). A request is retried at most max_retries times, and all
    // requests of a cycle together at most retry_budget times (reset_cycle_counters refills it).
    int max_retries = 4;
    int retry_budget = 30;
    std::chrono::milliseconds backoff_initial{500};   ///< first backoff without Retry-After
    std::chrono::milliseconds backoff_cap{30000};     ///< exponential backoff cap (before jitter)
    std::chrono::milliseconds retry_after_cap{120000};///< a longer Retry-After is cut to this

    /// CA endpoints (identity/conditionalAccess/*) allow 1 request/s per tenant: requests to them
    /// are spaced by this interval, measured in real (steady) time from the end of the previous CA
    /// exchange, and waited through `sleep`. 0 disables pacing.
    std::chrono::milliseconds ca_pacing_interval{1000};
    /// A cached token is renewed this long before it expires (at most half its lifetime); expiry
    /// is judged with the injected clock.
    std::chrono::seconds token_refresh_margin{300};

    /// How the client waits (backoff, Retry-After, pacing). Default: std::this_thread::sleep_for.
    std::function<void(std::chrono::milliseconds)> sleep;
    /// When set and true, reads and token requests in flight are aborted and nothing is retried
    /// ("graph.cancelled"): a stopping agent does not wait out a slow Graph. Writes (PATCH, DELETE)
    /// are never aborted mid-flight, so an approved change is never left in an unknown state.
    std::function<bool()> cancelled;
};

/// The Graph calls the client makes; each needs one application permission (graph.md).
enum class graph_call {
    security_defaults,       ///< GET  /v1.0/policies/identitySecurityDefaultsEnforcementPolicy
    ca_policies,             ///< GET  /v1.0/identity/conditionalAccess/policies
    ca_policy_get,           ///< GET  /v1.0/identity/conditionalAccess/policies/{id}
    ca_policy_patch,         ///< PATCH /v1.0/identity/conditionalAccess/policies/{id}
    named_locations,         ///< GET  /v1.0/identity/conditionalAccess/namedLocations
    user_by_upn,             ///< GET  /v1.0/users/{upn}
    transitive_member_of,    ///< GET  /v1.0/users/{id}/transitiveMemberOf
    role_assignments,        ///< GET  /v1.0/roleManagement/directory/roleAssignments?$filter=principalId eq
    role_assignment_delete,  ///< DELETE /v1.0/roleManagement/directory/roleAssignments/{id}
    registration_details,    ///< GET  /v1.0/reports/authenticationMethods/userRegistrationDetails/{id}
    per_user_mfa_get,        ///< GET  /beta/users/{id}/authentication/requirements
    per_user_mfa_patch,      ///< PATCH /beta/users/{id}/authentication/requirements
    sign_ins,                ///< GET  /beta/auditLogs/signIns?$filter=userId eq … nonInteractiveUser
    directory_audits,        ///< GET  /v1.0/auditLogs/directoryAudits?$filter=category eq 'Policy' …
    ca_evaluate,             ///< POST /v1.0/identity/conditionalAccess/evaluate
};
/// Short name for messages, e.g. "list CA policies".
const char* to_string(graph_call c);
/// The call's name as a metrics label (connguard_graph_requests_total{endpoint}): "ca_policies", ...
const char* endpoint_name(graph_call c);
/// Every endpoint label the client counts: "token" (the token endpoint) and each call's name.
std::vector<std::string> metric_endpoints();
/// The application permission a call needs, as an admin grants it, e.g. "Policy.Read.All";
/// "Policy.ReadWrite.ConditionalAccess + Policy.Read.All" for the CA PATCH.
const char* required_permission(graph_call c);
/// An error from this client as the snapshot stores it (missing_permission set for graph.forbidden).
snapshot::collect_error to_collect_error(const error& e, graph_call c);

/// Requests and retries made since the last reset_cycle_counters().
struct request_counters {
    int graph_requests = 0;  ///< HTTP requests to Graph (retries and pages included)
    int token_requests = 0;  ///< HTTP requests to the token endpoint (app tokens and probes)
    int retries = 0;         ///< retries spent from the cycle budget
    int throttled = 0;       ///< 429 answers seen
    int total() const { return graph_requests + token_requests; }
};

/// What the ROPC probe signs in with.
struct probe_request {
    std::string client_id;        ///< the public client the probe uses
    std::string username;         ///< the connection account's UPN
    std::string password;         ///< registered with log::add_secret; never logged
    std::string resource_app_id;  ///< target resource; see scope_for_resource
};

class graph_client {
public:
    graph_client(graph_client_options opts, const connguard::clock& clk);
    ~graph_client();
    graph_client(const graph_client&) = delete;
    graph_client& operator=(const graph_client&) = delete;

    const graph_client_options& options() const { return opts_; }

    // ---- tokens -----------------------------------------------------------------------------
    /// The app token for Graph, from the cache or from the token endpoint. A refusal by the token
    /// endpoint ("graph.token") is remembered until reset_cycle_counters(), so a bad secret costs
    /// one token request per cycle, not one per item.
    result<std::string> access_token();
    /// Drops the cached token (the next call fetches a new one).
    void invalidate_token();

    // ---- sign-in probe ----------------------------------------------------------------------
    /// ROPC for the connection account. An answer of the token endpoint is a classified
    /// signin_result (see signin_classifier.h); only a transport failure after retries (or a
    /// throttled endpoint) is an error ("graph.network" / "graph.throttled" / "graph.http" for 5xx).
    result<snapshot::signin_result> probe_signin(const probe_request& req);

    // ---- typed reads ------------------------------------------------------------------------
    /// isEnabled of the Security Defaults policy.
    result<bool> security_defaults_enabled();
    /// Every CA policy (all pages), each as Graph returned it.
    result<std::vector<nlohmann::json>> list_ca_policies();
    /// One CA policy; nullopt when Graph answers 404.
    result<std::optional<nlohmann::json>> get_ca_policy(const std::string& policy_id);
    /// Every named location (all pages), as returned.
    result<std::vector<nlohmann::json>> list_named_locations();
    /// The user by UPN (or object id); nullopt when Graph answers 404 (no such user).
    result<std::optional<snapshot::account>> get_user(const std::string& upn);
    /// Ids of every group the user is a transitive member of (all pages); directory roles and
    /// other non-group objects are skipped.
    result<std::vector<std::string>> transitive_group_ids(const std::string& user_id);
    /// Active directory role assignments whose principal is the user.
    result<std::vector<snapshot::role_assignment>> role_assignments(const std::string& user_id);
    /// The user's row of the authentication methods registration report.
    result<snapshot::registration> registration_details(const std::string& user_id);
    /// perUserMfaState ("disabled" | "enabled" | "enforced") from beta authentication/requirements.
    result<std::string> per_user_mfa_state(const std::string& user_id);
    /// The user's non-interactive sign-ins created after `after` (ISO 8601 as Graph wrote it), newest
    /// first: ONE request (the first page, at most `top` entries), so a quiet cycle costs one call.
    /// Sends `Prefer: include-unknown-enum-members` so report-only policy results are named.
    /// A tenant without Entra ID P1 is "graph.not_premium".
    result<std::vector<snapshot::signin_log_entry>> recent_signins(const std::string& user_id, const std::string& after,
                                                                   int top = 100);
    /// Directory audit entries of category Policy at or after `since` (ISO 8601) that name a CA
    /// policy (all pages): who changed which policy.
    result<std::vector<snapshot::policy_audit>> policy_audits_since(const std::string& since);
    /// Microsoft's What If (POST identity/conditionalAccess/evaluate, graph.md §4.1) for the request
    /// body given: one answer per policy Graph returned.
    result<std::vector<snapshot::whatif_answer>> evaluate_what_if(const nlohmann::json& request);

    // ---- plain writes (remediation) ---------------------------------------------------------
    // The executor (agent/core/executor.h) owns the one guarded write path: GET -> precondition ->
    // this write with the plan's exact body -> GET -> verify. These calls only send.
    /// PATCH /v1.0/identity/conditionalAccess/policies/{id} with exactly `body`; ok on 2xx.
    status patch_ca_policy(const std::string& policy_id, const std::string& body);
    /// PATCH /beta/users/{id}/authentication/requirements with exactly `body`; ok on 2xx.
    status patch_per_user_mfa(const std::string& user_id, const std::string& body);
    /// DELETE /v1.0/roleManagement/directory/roleAssignments/{id}: true when this call deleted it,
    /// false when it was already absent (404).
    result<bool> delete_role_assignment(const std::string& assignment_id);

    // ---- counters ---------------------------------------------------------------------------
    const request_counters& counters() const { return counters_; }
    /// Zeroes the counters, refills the retry budget and forgets a token refusal; call at the start
    /// of each cycle.
    void reset_cycle_counters();
    /// Closes the HTTP connections kept for reuse (a host calls it after each tenant's work, so an
    /// idle tenant holds no socket; the app token stays cached).
    void release_connections();

    struct impl;

private:
    graph_client_options opts_;
    const connguard::clock& clock_;
    request_counters counters_;
    std::unique_ptr<impl> impl_;
};

}  // namespace connguard::graph
