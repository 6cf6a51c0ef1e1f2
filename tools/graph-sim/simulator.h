#pragma once
// connguard-graph-sim's request handling: the Entra token endpoint, the Graph endpoints the agent
// uses, and the /_sim/ admin API, for every tenant scenario in a folder. Thread-safe: each tenant
// has its own lock; the tenant table is swapped as a whole on reload.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/whatif/policy.h"
#include "common/http/http_server.h"
#include "tools/graph-sim/scenario.h"

namespace connguard::graph_sim {

struct sim_options {
    std::filesystem::path scenarios;
    std::size_t page_size = 100;     ///< items per page on every list (Graph's $top wins when smaller)
    long token_lifetime = 3599;      ///< seconds (expires_in)
    std::optional<bool> ca_rate_limit;  ///< overrides every scenario's caRateLimit.enabled when set
    std::filesystem::path idp_file;     ///< --idp: the MSP's own tenant as an OIDC provider (idp.h); empty = none
};

class identity_provider;

class simulator {
public:
    /// Loads and validates every scenario; the error lists each problem with file, field, reason.
    static result<std::unique_ptr<simulator>> create(sim_options opts);

    /// Handles one request (thread-safe, never throws).
    http::server_response handle(const http::server_request& req);

    std::size_t tenant_count() const;

    ~simulator();

    struct tenant_state;  ///< opaque; defined in tenant_state.h

private:
    explicit simulator(sim_options opts);
    status load();
    http::server_response dispatch(const http::server_request& req, std::string& tenant_for_log);
    std::shared_ptr<tenant_state> find_tenant(const std::string& key) const;

    sim_options opts_;
    std::string token_key_;  ///< HMAC key for access tokens (per process)
    mutable std::shared_mutex mu_;
    std::vector<std::shared_ptr<tenant_state>> tenants_;
    std::unordered_map<std::string, std::shared_ptr<tenant_state>> by_key_;  ///< tenant id and domain, lower case
    std::unique_ptr<identity_provider> idp_;  ///< --idp; kept across reloads (its key and sessions too)

    friend struct sim_handlers;
};

}  // namespace connguard::graph_sim
