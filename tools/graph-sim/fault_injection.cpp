#include "tools/graph-sim/fault_injection.h"

#include <random>

#include "common/text.h"
#include "tools/graph-sim/graph_wire.h"
#include "tools/graph-sim/sim_util.h"

namespace connguard::graph_sim {

fault_effect roll_faults(simulator::tenant_state& t, const request_ctx& c) {
    fault_effect fx;
    std::uniform_real_distribution<double> dist(0.0, 1.0);
    for (auto& rule : t.sc.faults.rules) {
        if (!rule.path_prefix.empty() && c.req.path.rfind(rule.path_prefix, 0) != 0) continue;
        if (rule.max_count >= 0 && rule.fired >= rule.max_count) continue;
        if (!(rule.rate >= 1.0 || dist(t.rng) < rule.rate)) continue;
        if (rule.type == "latency") {
            ++rule.fired;
            ++t.count.faults;  // counted when the request arrives, before the delayed answer
            fx.latency += std::chrono::milliseconds{rule.latency_ms};
            continue;
        }
        if (fx.replace || fx.malformed || fx.truncated) continue;
        ++rule.fired;
        ++t.count.faults;
        if (rule.type == "throttle") {
            ++t.count.throttled;
            fx.replace = throttled(c, rule.retry_after);
        } else if (rule.type == "unavailable") {
            fx.replace = graph_error(c, 503, "serviceNotAvailable", "The service is temporarily unavailable. Please retry later.");
            if (rule.retry_after) fx.replace->headers.emplace_back("Retry-After", format_seconds(*rule.retry_after));
        } else if (rule.type == "reset") {
            http::server_response r;
            r.reset_connection = true;
            fx.replace = r;
        } else if (rule.type == "malformedJson") {
            fx.malformed = true;
        } else if (rule.type == "truncatedJson") {
            fx.truncated = true;
        }
    }
    return fx;
}

void apply_body_fault(http::server_response& r, const fault_effect& fx) {
    if (fx.malformed) {
        r.status = r.status == 204 ? 200 : r.status;
        r.body = "{\"value\":[{\"id\":\"00000000-0000-0000-0000-000000000000\",\"displayName\":}]<html>Internal error</html>";
        bool has_type = false;
        for (auto& [k, v] : r.headers)
            if (to_lower(k) == "content-type") has_type = true;
        if (!has_type) r.headers.emplace_back("Content-Type", "application/json");
    } else if (fx.truncated) {
        if (r.body.size() < 4) {
            r.status = r.status == 204 ? 200 : r.status;
            r.body = "{\"value\":[{\"id\":\"";
        } else {
            r.body.resize(r.body.size() / 2);
        }
    }
    r.delay += fx.latency;
}

}  // namespace connguard::graph_sim
