#pragma once
// Runs one or many tenants in one process (DESIGN §2: "one process hosting many tenants").
//
// MQTT: with host_options::connection (a host config, `--host-config`) every tenant publishes and
// receives through the host's ONE connection (identity = the host's name; tenant_link.h); a tenant
// outside the host's grant does not start (logged, named). Without it each tenant has its own
// connection and identity (username = tenant key), as a one-tenant agent.
//
// Threads: one Asio io_context thread owns the schedule (a steady_timer per tenant, signals,
// hand-offs from MQTT handlers); a bounded asio::thread_pool runs the blocking work (Graph calls,
// file writes, waiting for PUBACKs). A tenant is on at most one worker at a time; a slow or failing
// tenant holds one worker for the length of its own cycle and never blocks the schedule of the
// others. No thread is created per tenant by this host (the MQTT wrapper's own threads are
// measured in bench/agent and documented in agent/README.md).
//
// Tenants come and go at runtime when host_options::config_dir is set (rescanned; see there).
//
// SIGTERM/SIGINT: stop scheduling, cut Graph waits short, let running work finish (a cycle whose
// collection was interrupted is abandoned unpublished), publish AgentStatus offline (retained) for
// every tenant, disconnect, and return 0.
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "agent/core/agent_config.h"
#include "agent/core/tenant_agent.h"
#include "common/clock.h"

namespace connguard::agent {

struct host_options {
    int workers = 8;                 ///< worker threads for blocking tenant work
    tenant_agent_options agent;      ///< per-tenant timing
    std::optional<host_config> connection;  ///< one connection for all tenants (host identity)
    std::string metrics_listen;      ///< "host:port" of GET /metrics (common/metrics.h); "" = off
    /// Runtime onboarding (connguardctl tenant add/remove): every `rescan` the folder's *.json files
    /// are listed; a new file whose tenant loads (and, with a connection, is in the host config's
    /// re-read tenants list) starts at once; a running tenant whose file is gone (or whose grant is)
    /// stops: no more cycles, its link closed. Empty folder or zero interval: no rescan. A rescan
    /// reads nothing while the folder's, the host config's and the failed files' stamps are
    /// unchanged (rescan.h).
    std::filesystem::path config_dir;
    std::filesystem::path host_config_file;  ///< re-read (its tenants list) when it or the folder changed
    load_options load;                       ///< how the folder's files are loaded
    std::chrono::milliseconds rescan{0};
};

class host {
public:
    host(std::vector<tenant_config> tenants, host_options opts, const clock& clk);
    ~host();
    host(const host&) = delete;
    host& operator=(const host&) = delete;

    /// Runs until SIGTERM/SIGINT or stop(). Returns the process exit code: 0 after a clean stop,
    /// 2 when no tenant could be started (or the host connection cannot be made at all).
    int run();
    /// Asks run() to stop (thread-safe).
    void stop();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace connguard::agent
