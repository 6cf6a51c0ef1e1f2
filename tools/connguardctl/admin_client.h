#pragma once
// connguardctl's side of the admin request/response protocol (DESIGN §4, admin.proto):
// publish an AdminRequest on connguard/v1/admin/{user}/requests with MQTT v5 response topic
// connguard/v1/admin/{user}/responses and correlation data = request id; wait for the matching
// AdminResponse. The broker's ACL lets {user} use only its own admin topics, so the coordinator
// knows who asks from the topic alone.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/mqtt_client.h"
#include "common/result.h"
#include "connguard/v1/admin.pb.h"
#include "connguard/v1/alerts.pb.h"

namespace connguard::ctl {

/// Broker and credentials: flags first, then CONNGUARD_BROKER / CONNGUARD_USER /
/// CONNGUARD_PASSWORD_FILE / CONNGUARD_CA_FILE.
struct connection_flags {
    std::string broker;
    std::string user;
    std::string password_file;
    std::string ca_file;
    std::chrono::milliseconds timeout{10000};
    bool json = false;
};

/// Exit codes shared by the admin subcommands.
inline constexpr int exit_ok = 0;
inline constexpr int exit_refused = 1;  ///< the coordinator refused or the operation failed
inline constexpr int exit_usage = 2;    ///< bad usage, bad credentials, no broker, no answer

/// Consumes the common flags (--broker, --user, --password-file, --ca-file, --timeout SECONDS,
/// --json) from args; leaves the rest in `rest`. Returns an error text for a bad flag.
result<connection_flags> parse_connection_flags(const std::vector<std::string>& args, std::vector<std::string>& rest);
/// Fills missing values from the environment and checks that everything needed is there.
status complete_from_env(connection_flags& f);
/// Help text for the common flags.
const char* connection_help();

/// A subcommand's arguments: the connection flags and what is left for the subcommand itself.
struct parsed_args {
    connection_flags conn;
    std::vector<std::string> rest;
};
/// Prints "connguardctl CMD: MSG", the usage and connection_help() to stderr; returns exit_usage.
int usage_error(const char* cmd, const std::string& msg, const char* usage);
/// The first step of every broker subcommand: with --help/-h prints the usage (code = exit_ok);
/// a bad connection flag prints a usage error (code = exit_usage). True when the subcommand goes
/// on, with `out` filled from the flags (the environment is not read here).
bool parse_subcommand_args(const char* cmd, int argc, char** argv, const char* usage, parsed_args& out, int& code);
/// The environment variable `name`, "" when unset.
std::string env_or(const char* name);

/// A clean-session MQTT client (not yet connected) as flags.user with the password of
/// flags.password_file (checked: 0600) and flags.ca_file for ssl://.
result<std::unique_ptr<mqtt::client>> connect_as(const connection_flags& flags, const std::string& purpose);

class admin_session {
public:
    /// Connects as flags.user (clean session) and subscribes to the admin's response topic.
    static result<std::unique_ptr<admin_session>> open(const connection_flags& flags);
    ~admin_session();

    /// Sends one request and waits for its response (flags.timeout).
    result<v1::AdminResponse> call(v1::AdminRequest req);

private:
    admin_session() = default;
    struct state;
    std::shared_ptr<state> st_;
    std::unique_ptr<mqtt::client> client_;
    connection_flags flags_;
};

/// Connects as flags.user and returns the audit checkpoint retained on connguard/v1/audit/checkpoint
/// (the coordinator's newest). Error "no_checkpoint" when none arrives within flags.timeout.
/// The signature is not checked here.
result<v1::AuditCheckpoint> fetch_retained_checkpoint(const connection_flags& flags);

/// Connects as flags.user and calls `on_alert` for each Alert on the given filters until it
/// returns false or the process gets SIGINT/SIGTERM.
status follow_alerts(const connection_flags& flags, const std::vector<std::string>& filters,
                     const std::function<bool(const std::string& topic, const v1::Alert&)>& on_alert);

}  // namespace connguard::ctl
