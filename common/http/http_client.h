#pragma once
// The one HTTP client (libcurl): used by the Graph client, webhook delivery and test fixtures.
// One client per thread (it keeps a curl handle for connection reuse); perform() never throws.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace connguard::http {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct request {
    std::string method = "GET";
    std::string url;
    header_list headers;
    std::string body;
    std::chrono::milliseconds timeout{30000};
    std::string ca_file;  ///< optional CA bundle for https (empty = system default)
    /// Polled about every 100 ms during the transfer; returning true aborts it ("http.cancelled").
    /// For shutdown: a stopping process does not wait out a slow server.
    std::function<bool()> cancelled;
};

struct response {
    long status = 0;
    header_list headers;  ///< names as received
    std::string body;
    /// Case-insensitive header lookup; empty when absent.
    std::string header(std::string_view name) const;
};

class client {
public:
    client();
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    /// Performs the request. Any HTTP status is a response; only transport failures are errors:
    /// "http.timeout", "http.connect" (refused/unreachable), "http.reset" (connection reset / empty
    /// reply), "http.tls", "http.cancelled" (request.cancelled said so), "http.network" (anything
    /// else). Messages name method and URL (no query secrets).
    result<response> perform(const request& req);

    /// Closes the connections kept for reuse (the next request opens a new one). For a client that
    /// waits long between bursts (an agent tenant between cycles): the server drops them anyway, and
    /// 10,000 tenants in one process would otherwise hold 20,000 half-closed sockets.
    void close_connections();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// application/x-www-form-urlencoded encoding of one value.
std::string url_encode(std::string_view value);
/// key=value&key=value with both sides encoded.
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace connguard::http
