#pragma once
// The simulator's admin API, /_sim/... (README "Admin API"; no authentication: bind to loopback):
// health, reload, request counts, the CA limiter, and per tenant its state, Security Defaults, CA
// policies, users and their roles, apps, faults, token revocation, audits, sign-ins and Microsoft's
// declared What If answers. Plain JSON in and out ({"error": "..."} on failure).
#include <string>

#include "common/http/http_server.h"
#include "tools/graph-sim/handler_context.h"

namespace connguard::graph_sim {

/// Handles one admin request. Sets `log_tenant` to the tenant id when the path names a tenant.
http::server_response handle_admin_request(sim_handlers& sim, request_ctx& c, std::string& log_tenant);

}  // namespace connguard::graph_sim
