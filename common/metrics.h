#pragma once
// Prometheus metrics of the ConnGuard processes (issue 14): one process-wide registry
// (prometheus-cpp core, Debian's libprometheus-cpp-core), the families the agent and the
// coordinator update, and the /metrics endpoint that serves them in the text format.
//
//   metrics::register_agent();                       // at start: the agent's families exist (zeros)
//   metrics::agent_cycle(1.3, true);                 // from the I/O edges (cycle runner, Graph client, ...)
//   auto ep = metrics::endpoint::start("127.0.0.1:9464");   // off unless a listen address is configured
//   if (!ep) -> ep.err(): "metrics.bind" / "metrics.listen" naming the address
//
// Pure domain code does not include this header; the I/O edges do. Labels never carry a secret or
// a tenant key: a host may run 10,000 tenants, so what is per tenant is summed on the host (check
// statuses count tenants per check id and status) and Graph endpoints are the fixed call names.
// Every function is thread-safe and cheap (atomic counters; a labelled series is looked up under
// the family's mutex). The endpoint is the project's HTTP server (common/http/http_server.h) with
// one I/O thread: one thread per process, whatever the tenant count (issue 16: threads <= workers + 16).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace connguard::metrics {

/// Everything registered, in the Prometheus text exposition format 0.0.4.
std::string exposition();

// ---- the agent (connguard-agent) -----------------------------------------------------------------
/// Registers the agent's families; `endpoints` are the Graph endpoint names whose request and
/// throttle counters start at 0 (so that rate() and the dashboard see them before the first 429).
void register_agent(const std::vector<std::string>& endpoints);
/// A tenant's cycle ended: connguard_agent_cycles_total{result="ok"|"error"} and, for every cycle,
/// connguard_agent_cycle_duration_seconds.
void agent_cycle(double seconds, bool ok);
/// connguard_agent_tenants: tenants this process runs.
void agent_tenants(std::int64_t n);
/// connguard_agent_unacked_messages: messages waiting for the coordinator's IngestAck (the agent's
/// MQTT outbox); add a positive or negative difference.
void agent_unacked_add(std::int64_t delta);
/// One HTTP exchange with Graph or the token endpoint: connguard_graph_requests_total{endpoint}.
void graph_request(std::string_view endpoint);
/// A 429 answer: connguard_graph_throttled_total{endpoint}.
void graph_throttled(std::string_view endpoint);
/// Check statuses of one tenant's latest report (check id -> "OK" | "WARN" | "FAIL" | "ERROR" ...).
using check_statuses = std::vector<std::pair<std::string, std::string>>;
/// Moves one tenant from `before` to `after` in connguard_check_status{check_id,status}, the number
/// of tenants on this host whose latest report has that check in that status.
void check_statuses_changed(const check_statuses& before, const check_statuses& after);

// ---- the coordinator (connguard-coordinator) -------------------------------------------------------
/// Registers the coordinator's families: gauges at 0, and the listed ingest kinds, task states and
/// reject reasons at 0 (a series that exists before its first event is what rate() needs).
void register_coordinator(const std::vector<std::string>& ingest_kinds, const std::vector<std::string>& task_states,
                          const std::vector<std::string>& reject_reasons);
/// A message committed (or found already committed): connguard_coordinator_ingested_total{kind}.
void ingested(std::string_view kind, std::uint64_t n = 1);
/// A message refused at decode: connguard_coordinator_rejected_total{reason}.
void rejected(std::string_view reason);
/// One group commit: connguard_coordinator_commit_seconds (BEGIN .. COMMIT, committed or not).
void commit(double seconds);
/// connguard_outbox_depth{outbox="mqtt"|"webhook"}: rows waiting to be sent.
void outbox_depth(std::string_view outbox, std::int64_t n);
/// connguard_webhook_deliveries_total and connguard_webhook_failures_total (failed attempts).
void webhook_attempt(bool ok);
/// connguard_tasks{state}: tasks in a state now.
void tasks(std::string_view state, std::int64_t n);
/// connguard_agents_online: agents whose last status is online and that are not silent.
void agents_online(std::int64_t n);

// ---- the endpoint ----------------------------------------------------------------------------------
/// GET /metrics on `listen` ("host:port", "[::1]:port"); anything else is 404. Stops with the object.
class endpoint {
public:
    /// Errors: "metrics.listen" (not host:port), "metrics.bind" (address in use, ...).
    static result<std::unique_ptr<endpoint>> start(const std::string& listen);
    ~endpoint();
    endpoint(const endpoint&) = delete;
    endpoint& operator=(const endpoint&) = delete;
    int port() const;

    struct impl;

private:
    explicit endpoint(std::unique_ptr<impl> i);
    std::unique_ptr<impl> impl_;
};

}  // namespace connguard::metrics
