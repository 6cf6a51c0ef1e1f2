#pragma once
// Test harness for the agent's integration tests: the real connguard-graph-sim (tools/graph-sim
// scenarios), the real connguard-agent binary, a real mosquitto, and a collector that records
// every envelope the agents publish.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/mqtt_client.h"
#include "connguard/v1/envelope.pb.h"
#include "tests/support/broker.h"
#include "tests/support/graph_sim.h"
#include "tests/support/process.h"
#include "tests/support/util.h"

namespace connguard::test {

using namespace std::chrono_literals;

/// The facts of one simulated tenant an agent config needs.
struct sim_tenant {
    std::string tenant_id;
    std::string domain;
    std::string app_id;
    std::string client_secret;
    std::string upn;       ///< the connection account (user "svc-connguard@..." or the first user)
    std::string password;
    std::string user_id;
};

/// Reads a scenario file (tools/graph-sim scenario format).
sim_tenant tenant_from_scenario(const std::filesystem::path& file);
/// A scenario of tools/graph-sim/scenarios by file name, e.g. "contoso-healthy.json".
sim_tenant repo_tenant(const std::string& file_name);
std::filesystem::path repo_scenarios();

std::filesystem::path agent_binary();

/// The temp dir, the simulator and config writing.
class env {
public:
    explicit env(std::filesystem::path scenarios = repo_scenarios(),
                 std::vector<std::string> sim_args = {"--ca-rate-limit", "off"});
    const std::filesystem::path& dir() const { return dir_.path(); }
    test::graph_sim& sim() { return *sim_; }

    /// Writes DIR/<key>/agent.json (+ 0600 secret files) for tenant `t`; `overrides` is merged over
    /// the generated JSON (merge_patch). With a broker the config gets broker.url/passwordFile.
    std::filesystem::path write_config(const std::string& key, const sim_tenant& t, const nlohmann::json& overrides = {},
                                       const test::broker* b = nullptr) const;
    /// The JSON write_config would write (for host mode folders).
    nlohmann::json config_json(const std::string& key, const sim_tenant& t, const nlohmann::json& overrides,
                               const test::broker* b, const std::filesystem::path& secrets_dir) const;

    struct once_result {
        int code = -1;
        v1::ValidationReport report;
        std::string output;  ///< stdout + stderr
        bool parsed = false;
    };
    once_result run_once(const std::filesystem::path& config) const;

    /// /_sim/ call that must succeed (2xx); returns the JSON body.
    nlohmann::json admin(const std::string& method, const std::string& path, const nlohmann::json& body = nullptr);

private:
    test::temp_dir dir_;
    std::unique_ptr<test::graph_sim> sim_;
};

const v1::CheckResult* find_check(const v1::ValidationReport& r, const std::string& id, const std::string& subject = "");
v1::CheckStatus status_of(const v1::ValidationReport& r, const std::string& id, const std::string& subject = "");

/// Records every envelope under connguard/v1/tenants/+/<channel> (coordinator identity).
class collector {
public:
    /// With `ack` (the default) it acknowledges what it receives like the coordinator does (an
    /// IngestAck per tenant, a few times a second), so agents drop their kept copies.
    explicit collector(const test::broker& b, const std::string& client_id = "test-collector", bool ack = true);
    ~collector();
    /// Publishes an IngestAck (as the coordinator) naming `committed` and `refused` (id, reason).
    void send_ack(const std::string& tenant, const std::vector<std::string>& committed,
                  const std::vector<std::pair<std::string, std::string>>& refused = {});

    std::vector<v1::Envelope> all() const;
    std::vector<v1::Envelope> of(const std::string& tenant, v1::Envelope::BodyCase body) const;
    std::vector<v1::ChangeEvent> events(const std::string& tenant) const;
    std::vector<v1::ValidationReport> reports(const std::string& tenant) const;
    std::vector<v1::CommandResult> results(const std::string& tenant) const;
    std::vector<v1::AgentStatus> statuses(const std::string& tenant) const;

    /// Polls until pred() holds; false on timeout.
    bool wait(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 30s) const;
    /// Waits for a report of `tenant` with cycle >= min_cycle; returns it (cycle 0 on timeout).
    v1::ValidationReport wait_report(const std::string& tenant, std::uint64_t min_cycle,
                                     std::chrono::milliseconds timeout = 30s) const;

    /// Publishes an envelope (as the coordinator) on the tenant's commands topic.
    void send_command(const std::string& tenant, const v1::AgentCommand& cmd, const std::string& envelope_tenant = "");

private:
    mutable std::mutex mu_;
    std::vector<v1::Envelope> got_;
    std::map<std::string, std::vector<std::string>> to_ack_;  ///< tenant -> ids received, not yet acknowledged
    std::unique_ptr<mqtt::client> client_;
    std::atomic<bool> stop_{false};
    std::thread acker_;
};

/// Starts the real agent binary with args; output to `log`.
test::process start_agent(const std::vector<std::string>& args, const std::filesystem::path& log);

}  // namespace connguard::test
