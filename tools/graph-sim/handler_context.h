#pragma once
// What every request handler of the simulator works with: the request's context (ids, base URL,
// decoded query) and `sim_handlers`, the simulator's one friend (simulator.h), through which the
// modules reach the options, the token key and the tenants.
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/http/http_server.h"
#include "tools/graph-sim/odata.h"
#include "tools/graph-sim/simulator.h"

namespace connguard::graph_sim {

/// One request as the handlers see it.
struct request_ctx {
    const http::server_request& req;
    std::string request_id;         ///< new per request (request-id, Entra's trace id)
    std::string client_request_id;  ///< the caller's client-request-id, else request_id
    std::string base;               ///< "http://host:port"
    query_map query;
};

/// The simulator's internals as the modules may use them.
struct sim_handlers {
    simulator& sim;

    const sim_options& options() const { return sim.opts_; }
    const std::string& token_key() const { return sim.token_key_; }
    /// By tenant id or domain (case-insensitive); null when unknown.
    std::shared_ptr<simulator::tenant_state> find_tenant(const std::string& key) const { return sim.find_tenant(key); }
    /// Every tenant, as loaded now.
    std::vector<std::shared_ptr<simulator::tenant_state>> tenants() const {
        std::shared_lock lock(sim.mu_);
        return sim.tenants_;
    }
    std::size_t tenant_count() const { return sim.tenant_count(); }
    /// Re-reads the scenario folder; on failure the old state is kept.
    status reload() { return sim.load(); }
};

}  // namespace connguard::graph_sim
