#pragma once
// One collection of a tenant: snapshot through the Graph client, the ROPC sign-in probe per target
// resource, then the checks. Shared by --once and by the daemon's cycle. The snapshot is passed to
// the checks exactly as collected (a failed item stays failed, so its checks are ERROR with the
// reason); carrying values forward is only for what gets persisted (diff.h carry_forward).
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "agent/checks/checks.h"
#include "agent/core/agent_config.h"
#include "agent/graph/graph_client.h"
#include "agent/snapshot/tenant_snapshot.h"
#include "common/clock.h"
#include "connguard/v1/validation.pb.h"

namespace connguard::agent {

/// Graph client options of a tenant. `sleep` (optional) replaces the client's waits (backoff,
/// Retry-After, pacing) and `cancelled` (optional) aborts reads in flight, so a stopping agent
/// neither sleeps nor waits out a slow server.
graph::graph_client_options graph_options_of(const tenant_config& c,
                                             std::function<void(std::chrono::milliseconds)> sleep = {},
                                             std::function<bool()> cancelled = {});
checks::options check_options_of(const tenant_config& c);

struct collection {
    snapshot::tenant_snapshot snapshot;  ///< as collected: what the checks saw
    v1::ValidationReport report;         ///< every check, plus cycle, collected_at, graph_requests
    graph::request_counters counters;    ///< Graph + token requests of this collection
    std::chrono::milliseconds duration{0};
};

/// Collects, probes and checks. Blocking (Graph calls); never throws. Resets the client's per-cycle
/// counters first. `previous` is the last committed snapshot (nullptr on the first cycle and with
/// --once): the sign-in log is read incrementally from it, Microsoft's What If answer is carried
/// from it until it is due again (daily, or after a CA change), and when the CA policies changed
/// since it, the audit log says who changed them.
collection collect_and_check(graph::graph_client& gc, const tenant_config& c, std::uint64_t cycle, const clock& clk,
                             const snapshot::tenant_snapshot* previous = nullptr);

/// --once exit status: 0 when nothing is FAIL or ERROR, 1 when something is FAIL (and nothing
/// ERROR), 2 when a check is ERROR (or the report is empty).
int once_exit_code(const v1::ValidationReport& r);

/// The report in protobuf's canonical JSON mapping (MessageToJsonString).
std::string report_to_json(const v1::ValidationReport& r, bool pretty = true);

}  // namespace connguard::agent
