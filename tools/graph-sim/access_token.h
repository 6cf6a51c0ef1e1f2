#pragma once
// The simulator's access tokens: JWTs signed with HS256 under a per-process key, issued by the
// token endpoint and checked by the Graph endpoints (signature, lifetime, Graph audience).
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/http/http_server.h"
#include "tools/graph-sim/tenant_state.h"

namespace connguard::graph_sim {

using json = nlohmann::json;

/// Microsoft Graph's app id (a resource of scopes, an audience of tokens).
inline const std::string graph_app_id = "00000003-0000-0000-c000-000000000000";

/// A token for `app_id` in tenant `t`: a user token (scp, upn) when `u` is given, else an app token
/// carrying `a`'s permissions as roles. Stamped with the tenant's token generation.
std::string issue_access_token(const std::string& key, const simulator::tenant_state& t, const std::string& app_id,
                               const std::string& aud, const user* u, const app* a, std::int64_t lifetime);

struct token_claims {
    json claims;        ///< the payload when it could be read (also when expired or for another audience)
    std::string error;  ///< empty when valid; else Graph's InvalidAuthenticationToken message
};

/// Reads and checks the bearer token of a request.
token_claims read_access_token(const std::string& key, const http::server_request& req);

}  // namespace connguard::graph_sim
