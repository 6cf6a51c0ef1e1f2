#pragma once
// The Entra token endpoint, POST /{tenant}/oauth2/v2.0/token (graph.md §1): client credentials
// with a secret or a certificate assertion, and ROPC, whose outcome the what-if engine decides
// (Conditional Access, Security Defaults, per-user MFA) and which writes one sign-in log entry
// per answer. Errors are Entra's (AADSTS codes in error_codes, Trace/Correlation ID, Timestamp).
#include <string>

#include "common/http/http_server.h"
#include "tools/graph-sim/handler_context.h"

namespace connguard::graph_sim {

/// Handles one token request; `tenant_key` is the path's tenant (id, domain, organizations,
/// common, consumers). Sets `log_tenant` to the tenant id once the tenant is known.
http::server_response handle_token_request(sim_handlers& sim, request_ctx& c, const std::string& tenant_key,
                                           std::string& log_tenant);

}  // namespace connguard::graph_sim
