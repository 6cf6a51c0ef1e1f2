#include "common/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <spdlog/spdlog.h>

#include <mutex>
#include <sstream>

#include "common/http/http_server.h"
#include "common/text.h"

namespace connguard::metrics {

namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

prometheus::Registry& registry() {
    static prometheus::Registry r;
    return r;
}

// The families of each process, built on first use (a coordinator does not expose the agent's).
struct agent_families {
    Family<Counter>& cycles = prometheus::BuildCounter()
                                  .Name("connguard_agent_cycles_total")
                                  .Help("Tenant cycles (collect, check, publish) by result")
                                  .Register(registry());
    Histogram& cycle_seconds = prometheus::BuildHistogram()
                                   .Name("connguard_agent_cycle_duration_seconds")
                                   .Help("Duration of one tenant's collection and checks")
                                   .Register(registry())
                                   .Add({}, Histogram::BucketBoundaries{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300});
    Gauge& tenants = prometheus::BuildGauge()
                         .Name("connguard_agent_tenants")
                         .Help("Tenants this agent process runs")
                         .Register(registry())
                         .Add({});
    Gauge& unacked = prometheus::BuildGauge()
                         .Name("connguard_agent_unacked_messages")
                         .Help("Published messages waiting for the coordinator's IngestAck (the agent's MQTT outbox)")
                         .Register(registry())
                         .Add({});
    Family<Counter>& graph_requests = prometheus::BuildCounter()
                                          .Name("connguard_graph_requests_total")
                                          .Help("HTTP exchanges with Microsoft Graph and the token endpoint (retries included)")
                                          .Register(registry());
    Family<Counter>& graph_throttled = prometheus::BuildCounter()
                                           .Name("connguard_graph_throttled_total")
                                           .Help("429 answers from Microsoft Graph or the token endpoint")
                                           .Register(registry());
    Family<Gauge>& check_status = prometheus::BuildGauge()
                                      .Name("connguard_check_status")
                                      .Help("Tenants on this host whose latest report has the check in the status")
                                      .Register(registry());
};

struct coordinator_families {
    Family<Counter>& ingested = prometheus::BuildCounter()
                                    .Name("connguard_coordinator_ingested_total")
                                    .Help("Messages committed (or found already committed) by kind")
                                    .Register(registry());
    Family<Counter>& rejected = prometheus::BuildCounter()
                                    .Name("connguard_coordinator_rejected_total")
                                    .Help("Messages refused at decode by reason (acknowledged, never stored)")
                                    .Register(registry());
    Histogram& commit_seconds = prometheus::BuildHistogram()
                                    .Name("connguard_coordinator_commit_seconds")
                                    .Help("One group commit: BEGIN to COMMIT, every message of the batch")
                                    .Register(registry())
                                    .Add({}, Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                         0.1, 0.25, 0.5, 1, 2.5});
    Family<Gauge>& outbox = prometheus::BuildGauge()
                                .Name("connguard_outbox_depth")
                                .Help("Rows waiting in the coordinator's outboxes")
                                .Register(registry());
    Counter& webhook_deliveries = prometheus::BuildCounter()
                                      .Name("connguard_webhook_deliveries_total")
                                      .Help("Webhook deliveries the receiver accepted (2xx)")
                                      .Register(registry())
                                      .Add({});
    Counter& webhook_failures = prometheus::BuildCounter()
                                    .Name("connguard_webhook_failures_total")
                                    .Help("Webhook delivery attempts that failed (retried or given up)")
                                    .Register(registry())
                                    .Add({});
    Family<Gauge>& tasks = prometheus::BuildGauge()
                               .Name("connguard_tasks")
                               .Help("Remediation tasks by state")
                               .Register(registry());
    Gauge& agents_online = prometheus::BuildGauge()
                               .Name("connguard_agents_online")
                               .Help("Tenant agents whose last status is online and that are not silent")
                               .Register(registry())
                               .Add({});
};

agent_families& agent() {
    static agent_families f;
    return f;
}

coordinator_families& coordinator() {
    static coordinator_families f;
    return f;
}

// prometheus-cpp throws std::invalid_argument on a label value it refuses (none of ours are
// user-controlled free text, but a metric must never take a process down).
template <typename F>
void guarded(const char* what, F&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        spdlog::warn("metrics: {} not counted: {}", what, e.what());
    }
}

}  // namespace

std::string exposition() {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, registry().Collect());
    return out.str();
}

// ---- agent ---------------------------------------------------------------------------------------

void register_agent(const std::vector<std::string>& endpoints) {
    guarded("register_agent", [&] {
        auto& f = agent();
        f.cycles.Add({{"result", "ok"}});
        f.cycles.Add({{"result", "error"}});
        for (const auto& e : endpoints) {
            f.graph_requests.Add({{"endpoint", e}});
            f.graph_throttled.Add({{"endpoint", e}});
        }
    });
}

void agent_cycle(double seconds, bool ok) {
    guarded("agent_cycle", [&] {
        auto& f = agent();
        f.cycles.Add({{"result", ok ? "ok" : "error"}}).Increment();
        f.cycle_seconds.Observe(seconds);
    });
}

void agent_tenants(std::int64_t n) { agent().tenants.Set(static_cast<double>(n)); }

void agent_unacked_add(std::int64_t delta) {
    if (delta != 0) agent().unacked.Increment(static_cast<double>(delta));
}

void graph_request(std::string_view endpoint) {
    guarded("graph_request", [&] { agent().graph_requests.Add({{"endpoint", std::string(endpoint)}}).Increment(); });
}

void graph_throttled(std::string_view endpoint) {
    guarded("graph_throttled", [&] { agent().graph_throttled.Add({{"endpoint", std::string(endpoint)}}).Increment(); });
}

void check_statuses_changed(const check_statuses& before, const check_statuses& after) {
    guarded("check_status", [&] {
        auto& f = agent().check_status;
        for (const auto& [id, st] : before) f.Add({{"check_id", id}, {"status", st}}).Decrement();
        for (const auto& [id, st] : after) f.Add({{"check_id", id}, {"status", st}}).Increment();
    });
}

// ---- coordinator -----------------------------------------------------------------------------------

void register_coordinator(const std::vector<std::string>& ingest_kinds, const std::vector<std::string>& task_states,
                          const std::vector<std::string>& reject_reasons) {
    guarded("register_coordinator", [&] {
        auto& f = coordinator();
        for (const auto& k : ingest_kinds) f.ingested.Add({{"kind", k}});
        for (const auto& r : reject_reasons) f.rejected.Add({{"reason", r}});
        for (const auto& s : task_states) f.tasks.Add({{"state", s}});
        f.outbox.Add({{"outbox", "mqtt"}});
        f.outbox.Add({{"outbox", "webhook"}});
    });
}

void ingested(std::string_view kind, std::uint64_t n) {
    guarded("ingested", [&] {
        coordinator().ingested.Add({{"kind", std::string(kind)}}).Increment(static_cast<double>(n));
    });
}

void rejected(std::string_view reason) {
    guarded("rejected", [&] { coordinator().rejected.Add({{"reason", std::string(reason)}}).Increment(); });
}

void commit(double seconds) { coordinator().commit_seconds.Observe(seconds); }

void outbox_depth(std::string_view outbox, std::int64_t n) {
    guarded("outbox_depth", [&] {
        coordinator().outbox.Add({{"outbox", std::string(outbox)}}).Set(static_cast<double>(n));
    });
}

void webhook_attempt(bool ok) {
    auto& f = coordinator();
    (ok ? f.webhook_deliveries : f.webhook_failures).Increment();
}

void tasks(std::string_view state, std::int64_t n) {
    guarded("tasks", [&] { coordinator().tasks.Add({{"state", std::string(state)}}).Set(static_cast<double>(n)); });
}

void agents_online(std::int64_t n) { coordinator().agents_online.Set(static_cast<double>(n)); }

// ---- endpoint --------------------------------------------------------------------------------------

struct endpoint::impl {
    std::unique_ptr<http::server> server;
};

endpoint::endpoint(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

endpoint::~endpoint() {
    if (impl_ && impl_->server) impl_->server->stop();
}

int endpoint::port() const { return impl_->server->port(); }

result<std::unique_ptr<endpoint>> endpoint::start(const std::string& listen) {
    std::string host;
    int port = 0;
    if (!parse_host_port(listen, host, port))
        return make_error("metrics.listen", "metrics listen address must be host:port (e.g. \"127.0.0.1:9464\"), not '" +
                                                listen + "'");
    auto i = std::make_unique<impl>();
    // One I/O thread: a scrape every few seconds needs no more (issue 16's thread budget).
    i->server = std::make_unique<http::server>(
        http::server::options{.host = host, .port = port, .threads = 1, .max_body_bytes = 4096},
        [](const http::server_request& r) {
            if (r.path != "/metrics") return http::server_response{404, {{"Content-Type", "text/plain"}}, "not found\n"};
            if (r.method != "GET")
                return http::server_response{405, {{"Allow", "GET"}, {"Content-Type", "text/plain"}}, "GET only\n"};
            return http::server_response{200, {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}}, exposition()};
        });
    if (auto st = i->server->start(); !st)
        return make_error("metrics.bind", "metrics endpoint on " + listen + ": " + st.err().message);
    spdlog::info("metrics: serving http://{}:{}/metrics", host.find(':') != std::string::npos ? "[" + host + "]" : host,
                 i->server->port());
    return std::unique_ptr<endpoint>(new endpoint(std::move(i)));
}

}  // namespace connguard::metrics
