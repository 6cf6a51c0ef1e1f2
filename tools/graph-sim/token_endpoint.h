#pragma once
// The Entra token endpoint, POST /{tenant}/oauth2/v2.0/token (graph.md §1): client credentials
// with a secret or a certificate assertion, and ROPC, whose outcome the what-if engine decides
// (Conditional Access, Security Defaults, per-user MFA) and which writes one sign-in log entry
// per answer. Errors are Entra's (AADSTS codes in error_codes, Trace/Correlation ID, Timestamp).
#include <string>
#include <vector>

#include "common/http/http_server.h"
#include "tools/graph-sim/handler_context.h"

namespace connguard::graph_sim {

/// Entra's error timestamp: "2016-01-09 02:02:12Z".
std::string aad_timestamp();
/// A login.microsoftonline.com JSON answer with Entra's headers (no-store, x-ms-request-id, ...).
http::server_response aad_json(const request_ctx& c, int status, const json& body);
/// Entra's token endpoint error body (graph.md §1.5): 400, or 401 for invalid_client; `codes` go
/// in error_codes, `text` starts with "AADSTSnnnnn:", `extra` fields are added to the body.
http::server_response aad_error(const request_ctx& c, const std::string& error, std::vector<long> codes,
                                const std::string& text, json extra = json::object());

/// Handles one token request; `tenant_key` is the path's tenant (id, domain, organizations,
/// common, consumers). Sets `log_tenant` to the tenant id once the tenant is known.
http::server_response handle_token_request(sim_handlers& sim, request_ctx& c, const std::string& tenant_key,
                                           std::string& log_tenant);

}  // namespace connguard::graph_sim
