#pragma once
// End-to-end test stack: every part is the real thing, started as a child process on free loopback
// ports — mosquitto from broker-config/make-broker (tests/support/broker.h), connguard-graph-sim
// with scenario files (tests/support/graph_sim.h), connguard-coordinator with a SQLite file (or
// several coordinators on one PostgreSQL database: stack_options::store_url),
// connguard-agent in host mode (configs written by tools/demo/write-agent-configs, as the demo
// does), connguardctl for every admin action, and an MQTT alert subscriber.
//
// Tests wait on conditions with generous timeouts (the suite also runs under ASan on a loaded
// 2-core machine) and never assert on timing.
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/mqtt_client.h"
#include "connguard/v1/envelope.pb.h"
#include "tests/support/broker.h"
#include "tests/support/graph_sim.h"
#include "tests/support/process.h"
#include "tests/support/util.h"

namespace connguard::e2e {

using namespace std::chrono_literals;

/// Generous default for every wait: far above what a healthy run needs, even under ASan.
inline constexpr std::chrono::seconds patience{120};

/// Under AddressSanitizer the heaviest cases use smaller volumes (they still run).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool under_asan = true;
#else
inline constexpr bool under_asan = false;
#endif

using test::slurp;
/// test::eventually with the e2e defaults: wait up to `patience`, polling every 100 ms (the
/// predicates here query the coordinator and are not free).
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = patience) {
    return test::eventually(pred, timeout, std::chrono::milliseconds{100});
}

/// The last `lines` lines of a file (for failure messages).
std::string tail(const std::filesystem::path& p, int lines = 30);

/// A shipped scenario (tools/graph-sim/scenarios/FILE) and the tenant key its agent uses.
struct scenario_tenant {
    std::string file;    ///< e.g. "fabrikam-mfa.json"
    std::string tenant;  ///< e.g. "fabrikam"
};

struct stack_options {
    std::vector<scenario_tenant> tenants = {{"contoso-healthy.json", "contoso"},
                                            {"fabrikam-mfa.json", "fabrikam"},
                                            {"northwind-secdefaults.json", "northwind"}};
    /// Broker users without an agent (e.g. a spoofing tenant, loadgen identities).
    std::vector<std::string> extra_tenants = {};
    /// alice and bob approve, olga is an operator, vera a viewer (coordinator roles).
    std::vector<std::string> admins = {"alice", "bob", "olga", "vera"};
    int poll_seconds = 5;
    bool with_sim = true;  ///< false: no simulator (loadgen-only stacks); start_agent() then throws
    std::vector<std::string> sim_args = {};
    nlohmann::json coordinator_overrides = nlohmann::json::object();
    nlohmann::json agent_overrides = nlohmann::json::object();  ///< merged into every agent config
    std::vector<std::string> agent_args = {};  ///< added to connguard-agent's command line
    /// A PostgreSQL URL for the coordinators' store (store.url); "" = a SQLite file (db_path()).
    std::string store_url = {};
    /// How many coordinators (1 = the usual; more need store_url): coordinator i has its own
    /// config (coordinator[-N].json), client id (its own persistent MQTT session) and log.
    int coordinators = 1;
};

/// An alert as the subscriber saw it.
struct seen_alert {
    std::string topic;
    std::string tenant;
    v1::Alert alert;
};

/// Records every Alert envelope on connguard/v1/alerts/# (as the alert subscriber "noc").
class alert_recorder {
public:
    explicit alert_recorder(const test::broker& b);
    ~alert_recorder();
    std::vector<seen_alert> all() const;
    /// True once an alert with this state and a cause starting with `cause_prefix` arrived for tenant.
    bool has(const std::string& tenant, const std::string& cause_prefix, v1::AlertState state = v1::ALERT_STATE_RAISED) const;

private:
    mutable std::mutex mu_;
    std::vector<seen_alert> got_;
    std::unique_ptr<mqtt::client> client_;
};

class stack {
public:
    explicit stack(stack_options opts = {});
    ~stack();

    test::broker& broker() { return *broker_; }
    test::graph_sim& sim() { return *sim_; }
    const std::filesystem::path& dir() const { return dir_.path(); }
    std::filesystem::path db_path() const { return dir_.path() / "coordinator.db"; }
    /// Coordinator i's log: coordinator.log, coordinator-2.log, ...
    std::filesystem::path coordinator_log(int i = 0) const { return dir_.path() / file_of(i, "log"); }
    std::filesystem::path agent_log() const { return dir_.path() / "agent.log"; }
    std::filesystem::path agent_config_dir() const { return dir_.path() / "agents" / "tenants.d"; }

    /// Starts coordinator i and waits for "coordinator up" (throws with its log otherwise).
    void start_coordinator(int i = 0);
    void kill_coordinator(int i = 0);  ///< SIGKILL, no goodbye
    int stop_coordinator(int i = 0);   ///< SIGTERM
    bool coordinator_running(int i = 0) { return coordinators_.at(static_cast<std::size_t>(i)).running(); }

    /// Writes the agent configs (first call) and starts connguard-agent --config-dir.
    void start_agent();
    int stop_agent();

    /// Runs connguardctl as `user` with `args` (connection flags added). Output without log lines.
    int ctl(const std::string& user, const std::vector<std::string>& args, std::string* output = nullptr);
    /// Runs connguardctl with --json and parses the answer (null when none).
    nlohmann::json ctl_json(const std::string& user, std::vector<std::string> args, int* exit_code = nullptr);

    /// Tasks (TaskView JSON, proto field names) as alice sees them; empty on failure.
    std::vector<nlohmann::json> tasks(const std::string& tenant = "");
    std::optional<nlohmann::json> task(const std::string& tenant, const std::string& kind, const std::string& target = "");
    /// The state of one task without its enum prefix ("VERIFIED", ...); "" when alice cannot see it.
    std::string task_state(const std::string& task_id);
    /// Overall status per tenant ("OK", "FAIL", ...; "" for no report yet).
    std::map<std::string, std::string> statuses();

    /// One value from the coordinator's store (SQLite: a read-only connection); -1 on error.
    std::int64_t sql_int(const std::string& sql);
    std::vector<std::string> sql_strings(const std::string& sql);

    /// Runs connguard-loadgen as the given broker tenants (their passwords from the broker's
    /// secrets); `args` are added (see tools/loadgen). Returns the process (output to `log`).
    test::process start_loadgen(const std::vector<std::string>& tenants, const std::vector<std::string>& args,
                                const std::filesystem::path& log);

    /// GET on the simulator's admin API; returns the parsed body (null when not 2xx).
    nlohmann::json sim_get(const std::string& path);
    int sim_call(const std::string& method, const std::string& path, const nlohmann::json& body,
                 nlohmann::json* response = nullptr);

    /// The last lines of every component's log, for failure messages.
    std::string logs();

    const stack_options& options() const { return opts_; }

private:
    void start_sim();
    /// "coordinator.EXT" for i = 0, "coordinator-{i+1}.EXT" after.
    static std::string file_of(int i, const std::string& ext) {
        return i == 0 ? "coordinator." + ext : "coordinator-" + std::to_string(i + 1) + "." + ext;
    }
    stack_options opts_;
    test::temp_dir dir_{"connguard-e2e"};
    std::unique_ptr<test::broker> broker_;
    std::unique_ptr<test::graph_sim> sim_;
    std::vector<test::process> coordinators_;
    test::process agent_;
    bool agent_configs_written_ = false;
};

/// Strips enum prefixes: "TASK_STATE_VERIFIED" -> "VERIFIED".
std::string short_enum(const std::string& value);

/// What connguard-loadgen published, from its --ids-out file (lines "ID\tTENANT\tKIND\tCYCLE").
struct loadgen_ids {
    std::map<std::string, std::string> kind_of;       ///< envelope id -> "event" | "report"
    std::map<std::string, std::uint64_t> last_cycle;  ///< per tenant, of its reports
    std::size_t lines = 0;                            ///< complete lines (ids repeated count twice)
    std::set<std::string> ids_of(const std::string& kind) const;
};
/// Reads the file; a line still being written (no cycle yet) is skipped.
loadgen_ids read_loadgen_ids(const std::filesystem::path& file);

/// PREFIX01, PREFIX02, ... PREFIXnn (the tenant keys connguard-loadgen uses with --tenant-prefix).
std::vector<std::string> tenant_keys(const std::string& prefix, int n);

}  // namespace connguard::e2e
