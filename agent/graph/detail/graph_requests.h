#pragma once
// A Graph request (private): the bearer token, CA pacing, one token refresh on 401, the answer as
// an error naming the call, and paging (@odata.nextLink, refusing links outside the Graph base).
// Retries, the cycle budget and cancellation are the one retry loop's (transport.h).
#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/graph/detail/token_source.h"
#include "agent/graph/detail/transport.h"
#include "agent/graph/graph_client.h"
#include "common/http/http_client.h"
#include "common/result.h"

namespace connguard::graph::detail {

struct graph_request {
    graph_call call;
    std::string method;
    std::string url;  ///< absolute
    std::string body;
    std::string prefer = {};  ///< Prefer header value, when the call needs one
};

/// A non-2xx answer as an error: graph.forbidden (naming the permission), graph.not_found, graph.http.
error status_error(const graph_client_options& o, const graph_request& gr, const http::response& resp);
/// "graph.malformed" naming the call and the path.
error malformed(const graph_client_options& o, const graph_request& gr, const std::string& why);

/// CA endpoints (identity/conditionalAccess/*) allow 1 request/s per tenant: requests to them are
/// spaced by ca_pacing_interval, in real (steady) time from the end of the previous CA exchange.
class ca_pacer {
public:
    explicit ca_pacer(const graph_client_options& o) : o_(o) {}
    static bool applies_to(const std::string& url);
    /// Waits (through options().sleep) until the interval since the last CA exchange has passed.
    void wait_turn() const;
    /// Marks the end of a CA exchange.
    void exchanged();

private:
    const graph_client_options& o_;
    bool have_last_ = false;
    std::chrono::steady_clock::time_point last_{};
};

class graph_requests {
public:
    graph_requests(const graph_client_options& o, transport& t, token_source& tokens)
        : o_(o), transport_(t), tokens_(tokens), pacer_(o) {}

    /// One Graph request with token, CA pacing, 401 refresh, and the retry loop. Any answer that is
    /// not retried (2xx, 3xx, 4xx other than 401/429) is returned for the caller to interpret.
    result<http::response> send(const graph_request& gr);
    /// GET a JSON object (2xx); a non-object body is graph.malformed; other statuses are errors.
    result<nlohmann::json> get_object(graph_call c, const std::string& url);
    /// GET every page of a collection, following @odata.nextLink until it is absent.
    result<std::vector<nlohmann::json>> get_all(graph_call c, const std::string& first_url);

private:
    /// The bearer token is only ever sent to the configured Graph base: a nextLink elsewhere is refused.
    result<std::string> resolve_next_link(const std::string& link) const;

    const graph_client_options& o_;
    transport& transport_;
    token_source& tokens_;
    ca_pacer pacer_;
};

}  // namespace connguard::graph::detail
