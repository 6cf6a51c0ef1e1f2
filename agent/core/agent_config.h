#pragma once
// The agent's configuration: one JSON file per tenant (agent/README.md documents every field).
//
//   auto cfg = agent::load_tenant_config("/etc/connguard/agent.json");   // result<tenant_config>
//   auto all = agent::load_config_dir("/etc/connguard/tenants.d");       // every *.json in the folder
//
// Errors name the file, the field and the reason ("agent.json: field 'broker.url': missing").
// Secret files (client secret, connection-account password, broker password) are read here, through
// config::read_secret_file, so a secret readable by others stops the agent at start-up, naming the
// file. The secret values are registered with log::add_secret so they never reach a log line.
#include <cstddef>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace connguard::agent {

/// One resource the connection account's tool signs in to (probe + what-if target).
struct target_resource {
    std::string app_id;  ///< e.g. 00000002-0000-0ff1-ce00-000000000000 (Exchange Online)
    std::string name;    ///< display name for reports
    /// The scopes the tool asks for at this resource, when the config says; only baseline scopes
    /// (openid, profile, email, offline_access, User.Read) are evaluated against Azure AD Graph
    /// (graph.md §4 rule 12).
    std::vector<std::string> scopes;
};

inline constexpr const char* exchange_online_app_id = "00000002-0000-0ff1-ce00-000000000000";
inline constexpr const char* microsoft_graph_app_id = "00000003-0000-0000-c000-000000000000";

struct tenant_config {
    std::filesystem::path file;   ///< the file this came from (for messages)
    std::string tenant_key;       ///< ConnGuard tenant key = MQTT username
    std::string azure_tenant_id;  ///< Entra tenant id (GUID) or verified domain

    // App registration the agent reads Graph with (client credentials).
    std::string client_id;
    std::string client_secret;                ///< from app.clientSecretFile (empty with a certificate)
    std::filesystem::path client_secret_file;
    std::filesystem::path certificate_file;   ///< PEM certificate (certificate auth)
    std::filesystem::path private_key_file;   ///< PEM private key (certificate auth; a secret file)
    std::string private_key_pem;              ///< the key's content (read through read_secret_file's check)

    // The connection account (what ConnGuard protects) and the sign-in probe.
    std::string account_upn;
    std::string account_password;             ///< from account.passwordFile; empty = no probe
    std::filesystem::path account_password_file;
    std::string probe_client_id;              ///< public client used for the ROPC probe
    bool probe_enabled = true;

    // What the tool does when it signs in.
    std::vector<target_resource> resources;   ///< default: Exchange Online + Microsoft Graph
    std::string client_app_type = "mobileAppsAndDesktopClients";
    /// True when the tool uses legacy authentication: set by targets.needsLegacyAuth, and implied by a
    /// legacy clientAppType (exchangeActiveSync, other); a config that says both "legacy client" and
    /// needsLegacyAuth false is refused.
    bool needs_legacy_auth = false;
    std::string authentication_flow = "none";  ///< none | deviceCodeFlow (graph.md §11.5)
    bool writes_azure_resource_manager = false; ///< the tool writes ARM as a user (graph.md §11.2)
    std::vector<std::string> tool_app_ids;      ///< the tool's client app ids in the sign-in log; empty = any

    // The account's own sign-ins (CG-SIGNIN-LOG) and Microsoft's What If (CG-ENGINE-DRIFT).
    bool signin_log_enabled = true;
    std::chrono::hours signin_log_window{24};
    bool engine_drift_enabled = true;
    std::chrono::hours engine_drift_interval{24};

    // Schedule.
    std::chrono::seconds poll_interval{300};
    std::chrono::seconds poll_jitter{30};     ///< a random 0..jitter is added to each wait

    // Endpoints.
    std::string authority_url = "https://login.microsoftonline.com";
    std::string graph_url = "https://graph.microsoft.com";
    std::filesystem::path http_ca_file;       ///< optional CA bundle for Graph/token HTTPS
    int graph_max_retries = 4;                ///< retries per request on 429/5xx/resets before the item is ERROR
    int graph_retry_budget = 30;              ///< retries per cycle, all requests together
    std::chrono::milliseconds ca_pacing{1000};///< spacing of CA endpoint requests (Graph allows 1/s per tenant)
    std::chrono::milliseconds request_timeout{30000};

    // Broker (not needed with --once).
    std::string broker_url;
    std::string broker_username;              ///< = tenant key unless set
    std::string broker_password;
    std::filesystem::path broker_password_file;
    std::filesystem::path broker_ca_file;     ///< for ssl:// URLs
    /// broker.ingestAckTimeoutSeconds: a published message not named by the coordinator's IngestAck
    /// within this time is re-published (same envelope id).
    std::chrono::seconds ingest_ack_timeout{30};
    /// broker.maxUnackedMessages: at this many messages waiting for the IngestAck, new cycles pause.
    std::size_t max_unacked_messages = 10000;

    std::filesystem::path state_dir;          ///< persisted snapshot, outbox, executed commands
};

/// Host mode on one connection (`--host-config FILE`, agent/README.md): the host's own MQTT
/// identity, and the tenants its broker ACL grants (make-broker --host NAME --host-tenants LIST).
///
///   { "host": "host-a", "tenants": ["contoso", "fabrikam"],
///     "broker": { "url": "tcp://127.0.0.1:1883", "passwordFile": "secrets/host-a", "caFile": "..." } }
struct host_config {
    std::filesystem::path file;
    std::string name;                   ///< MQTT username (client id connguard-host-{name})
    std::vector<std::string> tenants;   ///< tenant keys the identity is granted; no other tenant runs
    std::string broker_url;
    std::string broker_password;
    std::filesystem::path broker_password_file;
    std::filesystem::path broker_ca_file;  ///< for ssl:// URLs

    bool grants(const std::string& tenant_key) const;
};

/// Loads and validates a host config, reading the broker password file.
result<host_config> load_host_config(const std::filesystem::path& file);

struct load_options {
    bool need_broker = true;   ///< false for --once: broker fields are not required
    bool need_state = true;    ///< false for --once: no state directory needed
};

/// Loads and validates one tenant's config file, reading its secret files.
result<tenant_config> load_tenant_config(const std::filesystem::path& file, const load_options& opts = {});

/// Loads every *.json file of a folder (sorted by name). Every error of every file is reported
/// (one message per line); duplicate tenant keys and shared state directories are refused.
result<std::vector<tenant_config>> load_config_dir(const std::filesystem::path& dir, const load_options& opts = {});

}  // namespace connguard::agent
