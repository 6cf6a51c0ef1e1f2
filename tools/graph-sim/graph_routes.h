#pragma once
// The Microsoft Graph endpoints (README "Graph endpoints"), /v1.0/... and /beta/...: the bearer
// token names the tenant; then request counts, injected faults, the CA rate limiter, and one route
// table that maps (method, path pattern) to the permissions the caller needs and the handler.
#include <string>

#include "common/http/http_server.h"
#include "tools/graph-sim/handler_context.h"

namespace connguard::graph_sim {

/// Handles one Graph request. Sets `log_tenant` to the tenant id once the token named a tenant.
http::server_response handle_graph_request(sim_handlers& sim, request_ctx& c, std::string& log_tenant);

}  // namespace connguard::graph_sim
