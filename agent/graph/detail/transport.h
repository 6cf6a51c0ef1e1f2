#pragma once
// The one retry loop of the Graph client (private). Token requests (token_source.h) and Graph
// requests (graph_requests.h) both send through transport::send and differ only in their
// `exchange`: how each attempt's request is built, which counter it counts, and how a failed
// answer reads in a message. The loop owns what they share: the libcurl handle, retries of 429 /
// 5xx / transport failures with Retry-After or jittered exponential backoff, the per-request
// maximum, the per-cycle budget, and cancellation (a stopping agent retries nothing).
#include <chrono>
#include <functional>
#include <optional>
#include <random>
#include <string>

#include "agent/graph/graph_client.h"
#include "common/http/http_client.h"
#include "common/result.h"

namespace connguard::graph::detail {

/// What a non-retriable answer means to the sender (see exchange::judge).
enum class verdict {
    deliver,  ///< hand the answer to the caller
    resend,   ///< send again at once, without spending a retry (e.g. after a token refresh)
};

/// One logical request as the retry loop drives it.
struct exchange {
    /// "tenant <key>: <what> (<METHOD> <path>)", the start of every message and log line.
    std::string where;
    /// The metrics label of the endpoint (graph::endpoint_name, or "token"): connguard_graph_requests_total.
    const char* endpoint = "other";
    /// The counter each attempt increments (request_counters::token_requests or ::graph_requests).
    int request_counters::*counter = nullptr;
    /// Builds the request of each attempt (a fresh token, CA pacing, ...); an error ends the request.
    std::function<result<http::request>()> prepare;
    /// How a retriable answer (429, 5xx) reads in messages; `has_retry_after` when Retry-After parsed.
    std::function<std::string(const http::response&, bool has_retry_after)> describe_failure;
    /// Optional: judges an answer that is not retried; an error ends the request. Unset: deliver.
    std::function<result<verdict>(const http::response&)> judge = {};
    /// Optional: runs after each exchange with the server, whatever came back.
    std::function<void()> exchanged = {};
    /// Say "(cycle retry budget exhausted)" when the budget, not the per-request maximum, ended
    /// the retries (Graph requests do; token request messages never did).
    bool names_budget = false;
};

class transport {
public:
    transport(const graph_client_options& o, request_counters& counters);

    /// Sends `x` until an answer is not retriable, retries run out, or the client is cancelled.
    /// Errors: "graph.network" / "graph.throttled" / "graph.http" after retries, "graph.cancelled",
    /// or whatever prepare / judge returned.
    result<http::response> send(const exchange& x);

    /// Refills the per-cycle retry budget (reset_cycle_counters).
    void refill_budget() { budget_left_ = o_.retry_budget; }
    void close_connections() { http_.close_connections(); }

private:
    struct attempt_state {
        int retries = 0;
        int backoff_step = 0;
    };
    /// The wait before the next attempt, or nullopt when no retry is left (per request or in the
    /// cycle budget); spends one retry from both when there is one.
    std::optional<std::chrono::milliseconds> next_wait(attempt_state& st,
                                                       std::optional<std::chrono::milliseconds> retry_after);

    const graph_client_options& o_;
    request_counters& counters_;
    http::client http_;
    int budget_left_ = 0;
    std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace connguard::graph::detail
