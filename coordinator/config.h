#pragma once
// connguard-coordinator's configuration (JSON via common/config.h). Documented with an example in
// coordinator/README.md and coordinator/coordinator.example.json.
#include <filesystem>
#include <optional>
#include <string>

#include "common/result.h"
#include "coordinator/checkpointer.h"
#include "coordinator/console/settings.h"
#include "coordinator/engine.h"

namespace connguard::coord {

struct coordinator_config {
    // broker
    std::string broker_url;              ///< tcp://host:port or ssl://host:port
    std::string username;                ///< the coordinator's MQTT user
    std::string password;                ///< read from broker.passwordFile (must be 0600); never logged
    std::string ca_file;                 ///< for ssl://
    std::string client_id = "connguard-coordinator";
    std::string shared_group;            ///< "" = no $share group (unless ingestConnections > 1)
    int ingest_connections = 1;          ///< MQTT connections that ingest in parallel (group commit; >1 uses $share)
    std::string persistence_dir;         ///< paho offline buffer for the publisher connection
    // store: a SQLite file (store.path) or a PostgreSQL database (store.url + store.passwordFile)
    std::filesystem::path db_path;       ///< SQLite; empty with store_url
    std::string store_url;               ///< postgresql://user@host:port/db, without the password
    std::string store_password;          ///< read from store.passwordFile (0600); never logged
    /// What store::open takes: the SQLite path, or the URL with the password added.
    std::string store_location() const;
    bool synchronous_full = false;
    int max_batch = 2000;                ///< most messages one commit groups (the ingest queue holds 2x)
    // logic
    engine_settings engine;
    int tick_ms = 1000;                  ///< timer resolution (expiry, deadlines, silence, webhooks)
    // webhook retry
    std::int64_t webhook_initial_backoff_ms = 1000;
    std::int64_t webhook_max_backoff_ms = 300000;
    int webhook_max_attempts = 0;        ///< 0 = retry forever
    std::int64_t webhook_timeout_ms = 10000;
    // audit checkpoints: on when audit.signingKeyFile is set (the key is held in memory only)
    std::optional<checkpoint_settings> audit;
    // the console (issue 12): on when the `console` section is present
    std::optional<console::console_settings> console;
    // metrics: GET /metrics on this "host:port" (common/metrics.h); "" = off
    std::string metrics_listen;
    // log
    std::string log_level = "info";
    bool log_json = false;
    std::string log_file;
};

/// Loads and validates; the error lists every problem as "FILE: field 'x': reason".
result<coordinator_config> load_config(const std::filesystem::path& path);

/// What --check-config adds to load_config: what the start would trip over later — the store's
/// folder (or file) writable, the log file and the checkpoint file writable, the broker's CA file
/// and persistence folder usable, the console's certificate and key a matching PEM pair. Every
/// problem names the config file and the field; nothing is created, and neither the broker nor the
/// database is touched.
status check_startable(const coordinator_config& c, const std::filesystem::path& config_path);

}  // namespace connguard::coord
