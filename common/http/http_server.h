#pragma once
// A small HTTP/1.1 server on standalone Asio: keep-alive, Content-Length bodies (no chunked
// requests), a handler called once per request on one of a small pool of I/O threads.
//
// Used by connguard-graph-sim and by tests that need a local HTTP receiver (webhook sinks).
//
//   http::server srv({.host = "127.0.0.1", .port = 0, .threads = 2},
//                    [](const http::server_request& r) { return http::server_response{200, {}, "ok"}; });
//   if (auto st = srv.start(); !st) ...;   // binds and starts the threads
//   int port = srv.port();
//   srv.stop();                             // also done by the destructor
//
// The handler must not throw (an exception is caught, logged, and answered with 500). It may run on
// several threads at once when threads > 1, so it must be thread-safe. A response can ask the server
// to delay it (without blocking a thread) or to reset the connection instead of answering: that is
// how the Graph simulator injects latency and connection resets.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/http/http_client.h"  // header_list
#include "common/result.h"

namespace connguard::http {

struct server_request {
    std::string method;  ///< "GET", "POST", ... as sent
    std::string target;  ///< request target as sent: "/v1.0/users?$select=id"
    std::string path;    ///< target before '?', percent-decoded
    std::string query;   ///< raw text after '?', not decoded (empty when absent)
    header_list headers;
    std::string body;
    std::string remote;  ///< "127.0.0.1:54321"
    /// Case-insensitive header lookup; empty when absent.
    std::string header(std::string_view name) const;
};

struct server_response {
    int status = 200;
    header_list headers;  ///< Content-Length is added by the server; do not set it
    std::string body;
    /// Wait this long before writing the response (the I/O thread is not blocked).
    std::chrono::milliseconds delay{0};
    /// Instead of answering, abort the connection with a TCP reset (SO_LINGER 0 + close).
    bool reset_connection = false;
    /// Close the connection after this response even if the client asked for keep-alive.
    bool close_connection = false;
};

/// Decodes %XX escapes (and '+' as space when plus_as_space). Invalid escapes are kept as is.
std::string percent_decode(std::string_view text, bool plus_as_space = false);
/// Splits "a=1&b=x%20y" into decoded pairs (form bodies and query strings).
std::vector<std::pair<std::string, std::string>> parse_form(std::string_view text);

class server {
public:
    using handler = std::function<server_response(const server_request&)>;

    struct options {
        std::string host = "127.0.0.1";
        int port = 0;                                   ///< 0 = any free port (see port())
        std::size_t threads = 2;                        ///< I/O threads running handlers
        std::size_t max_header_bytes = 64 * 1024;       ///< larger request heads get 431
        std::size_t max_body_bytes = 16 * 1024 * 1024;  ///< larger bodies get 413
        std::chrono::seconds idle_timeout{60};          ///< idle keep-alive connections are closed
    };

    server(options opts, handler h);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Binds, listens and starts the I/O threads. Error "http.bind" names host:port and the reason.
    status start();
    /// The bound port (after start()).
    int port() const;
    /// Stops accepting, closes connections, joins the threads. Idempotent.
    void stop();

    struct impl;  ///< opaque (public only so the connection class in the .cpp can name it)

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace connguard::http
