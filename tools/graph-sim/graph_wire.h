#pragma once
// Microsoft Graph's wire format as the simulator answers it: the response headers, the error
// bodies (innerError with date, request-id, client-request-id), @odata.context URLs, entity answers
// and list pages ($filter, $select, $top, $count, $skiptoken via odata.h; @odata.nextLink).
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/http/http_server.h"
#include "tools/graph-sim/handler_context.h"

namespace connguard::graph_sim {

using json = nlohmann::json;

/// A Graph JSON answer with Graph's headers (Content-Type, request-id, client-request-id,
/// x-ms-ags-diagnostic, ...).
http::server_response graph_json(const request_ctx& c, int status, const json& body);
/// 204 with Graph's headers and no Content-Type.
http::server_response no_content(const request_ctx& c);

/// {"error": {code, message, innerError}} with Graph's headers.
http::server_response graph_error(const request_ctx& c, int status, const std::string& code, const std::string& message);
http::server_response forbidden(const request_ctx& c);                                   ///< 403 Authorization_RequestDenied
http::server_response not_found(const request_ctx& c, const std::string& id);            ///< 404 Request_ResourceNotFound
http::server_response bad_request(const request_ctx& c, const std::string& message);     ///< 400 BadRequest
http::server_response method_not_allowed(const request_ctx& c);                          ///< 405
http::server_response unknown_segment(const request_ctx& c, const std::string& segment); ///< 404 ResourceNotFound
/// 401 InvalidAuthenticationToken with WWW-Authenticate.
http::server_response unauthorized(const request_ctx& c, const std::string& message);
/// 429 TooManyRequests; Retry-After only when given.
http::server_response throttled(const request_ctx& c, std::optional<double> retry_after);

/// Reads a JSON object body; the 400 answer when it is not one.
std::optional<http::server_response> read_json_body(const request_ctx& c, json& out);

/// "<base>/<version>/$metadata#<suffix>".
std::string context_url(const request_ctx& c, const std::string& version, const std::string& suffix);

/// One page of a Graph list: $filter (when allowed), $top (smaller than page_size wins), $skiptoken
/// or $skip, $count, $select, @odata.nextLink carrying the query.
http::server_response graph_list(const request_ctx& c, std::size_t page_size, const std::string& version,
                                 const std::string& context_suffix, std::vector<json> items, bool allow_filter = true);
/// One entity ($select honoured) with its @odata.context.
http::server_response graph_entity(const request_ctx& c, const std::string& version, const std::string& context_suffix,
                                   const json& item);

/// Seconds as Retry-After writes them ("1.5", "2").
std::string format_seconds(double s);

}  // namespace connguard::graph_sim
