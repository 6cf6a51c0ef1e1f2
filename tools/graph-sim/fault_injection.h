#pragma once
// The tenant's injected faults (README "Faults"): rolled once per token or Graph request as it
// arrives; a fault either replaces the answer or is applied to the real one.
#include <chrono>
#include <optional>

#include "common/http/http_server.h"
#include "tools/graph-sim/handler_context.h"
#include "tools/graph-sim/tenant_state.h"

namespace connguard::graph_sim {

struct fault_effect {
    std::optional<http::server_response> replace;  ///< throttle, unavailable, reset
    std::chrono::milliseconds latency{0};
    bool malformed = false;
    bool truncated = false;
};

/// Rolls the tenant's rules for this request (counting fired faults and throttles).
fault_effect roll_faults(simulator::tenant_state& t, const request_ctx& c);

/// Applies malformed/truncated bodies and the latency to a real answer.
void apply_body_fault(http::server_response& r, const fault_effect& fx);

}  // namespace connguard::graph_sim
