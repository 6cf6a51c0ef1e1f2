#include "agent/graph/detail/transport.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "common/metrics.h"

namespace connguard::graph::detail {

namespace {

bool retriable_status(long s) { return s == 429 || s == 500 || s == 502 || s == 503 || s == 504; }

/// Retry-After in seconds (may be fractional); nullopt when absent or not a number of seconds.
std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& v) {
    if (v.empty()) return std::nullopt;
    char* end = nullptr;
    const double secs = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || !std::isfinite(secs) || secs < 0) return std::nullopt;
    return std::chrono::milliseconds{static_cast<long long>(std::ceil(secs * 1000.0))};
}

}  // namespace

transport::transport(const graph_client_options& o, request_counters& counters)
    : o_(o), counters_(counters), budget_left_(o.retry_budget) {}

std::optional<std::chrono::milliseconds> transport::next_wait(attempt_state& st,
                                                              std::optional<std::chrono::milliseconds> retry_after) {
    if (st.retries >= o_.max_retries || budget_left_ <= 0) return std::nullopt;
    ++st.retries;
    --budget_left_;
    if (retry_after) return std::min(*retry_after, o_.retry_after_cap);
    // Exponential backoff with "equal jitter": half fixed, half random, capped.
    const double base = std::min<double>(static_cast<double>(o_.backoff_cap.count()),
                                         static_cast<double>(o_.backoff_initial.count()) * std::pow(2.0, st.backoff_step));
    ++st.backoff_step;
    std::uniform_real_distribution<double> jitter(0.0, base / 2.0);
    return std::chrono::milliseconds{static_cast<long long>(base / 2.0 + jitter(rng_))};
}

result<http::response> transport::send(const exchange& x) {
    attempt_state st;
    for (;;) {
        auto req = x.prepare();
        if (!req) return req.err();
        ++(counters_.*x.counter);
        auto r = http_.perform(*req);
        metrics::graph_request(x.endpoint);
        if (x.exchanged) x.exchanged();
        std::optional<std::chrono::milliseconds> retry_after;
        std::string failure;
        std::string code;
        if (!r) {
            failure = r.err().message;
            code = "graph.network";
        } else if (retriable_status(r->status)) {
            if (r->status == 429) {
                ++counters_.throttled;
                metrics::graph_throttled(x.endpoint);
                retry_after = parse_retry_after(r->header("Retry-After"));
                code = "graph.throttled";
            } else {
                code = "graph.http";
            }
            failure = x.describe_failure(*r, retry_after.has_value());
        } else {
            if (!x.judge) return std::move(*r);
            const auto v = x.judge(*r);
            if (!v) return v.err();
            if (*v == verdict::deliver) return std::move(*r);
            continue;  // verdict::resend
        }
        if (o_.cancelled && o_.cancelled())
            return make_error("graph.cancelled", x.where + ": stopped (" + failure + "); not retried");
        const auto wait = next_wait(st, retry_after);
        if (!wait) {
            const bool budget = x.names_budget && budget_left_ <= 0 && st.retries < o_.max_retries;
            return make_error(code, x.where + ": " + failure + " after " + std::to_string(st.retries) + " retries" +
                                        (budget ? " (cycle retry budget exhausted)" : ""));
        }
        ++counters_.retries;
        spdlog::warn("{}: {}; retry {} in {} ms", x.where, failure, st.retries, wait->count());
        o_.sleep(*wait);
    }
}

}  // namespace connguard::graph::detail
