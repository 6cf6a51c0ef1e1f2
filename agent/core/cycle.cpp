#include "agent/core/cycle.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "agent/graph/collector.h"

namespace connguard::agent {

graph::graph_client_options graph_options_of(const tenant_config& c,
                                             std::function<void(std::chrono::milliseconds)> sleep,
                                             std::function<bool()> cancelled) {
    graph::graph_client_options o;
    o.tenant_key = c.tenant_key;
    o.azure_tenant_id = c.azure_tenant_id;
    o.authority_url = c.authority_url;
    o.graph_url = c.graph_url;
    o.client_id = c.client_id;
    o.client_secret = c.client_secret;
    o.certificate_file = c.certificate_file;
    if (!c.private_key_pem.empty()) o.private_key_pem = c.private_key_pem;
    else o.private_key_file = c.private_key_file;
    o.ca_file = c.http_ca_file.string();
    o.request_timeout = c.request_timeout;
    o.max_retries = c.graph_max_retries;
    o.retry_budget = c.graph_retry_budget;
    o.ca_pacing_interval = c.ca_pacing;
    if (sleep) o.sleep = std::move(sleep);
    o.cancelled = std::move(cancelled);
    return o;
}

checks::options check_options_of(const tenant_config& c) {
    checks::options o;
    o.target_resources.clear();
    for (const auto& r : c.resources) o.target_resources.push_back(r.app_id);
    o.client_app_type = c.client_app_type;
    o.needs_legacy_auth = c.needs_legacy_auth;
    return o;
}

collection collect_and_check(graph::graph_client& gc, const tenant_config& c, std::uint64_t cycle, const clock& clk) {
    const auto started = std::chrono::steady_clock::now();
    collection out;
    gc.reset_cycle_counters();
    out.snapshot = graph::collect_snapshot(gc, {.tenant_key = c.tenant_key, .account_upn = c.account_upn});
    out.snapshot.azure_tenant_id = c.azure_tenant_id;
    if (c.probe_enabled) {
        graph::probe_options p;
        p.client_id = c.probe_client_id;
        p.username = c.account_upn;
        p.password = c.account_password;
        for (const auto& r : c.resources) p.resource_app_ids.push_back(r.app_id);
        out.snapshot.signins = graph::run_signin_probes(gc, p);
    }
    out.counters = gc.counters();
    out.report = checks::run_checks(out.snapshot, check_options_of(c));
    out.report.set_cycle(cycle);
    *out.report.mutable_collected_at() =
        google::protobuf::util::TimeUtil::MillisecondsToTimestamp(to_unix_ms(clk.now()));
    out.report.set_graph_requests(static_cast<std::uint32_t>(out.counters.total()));
    out.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    return out;
}

int once_exit_code(const v1::ValidationReport& r) {
    if (r.checks().empty()) return 2;
    bool fail = false;
    for (const auto& c : r.checks()) {
        if (c.status() == v1::CHECK_STATUS_ERROR || c.status() == v1::CHECK_STATUS_UNSPECIFIED) return 2;
        if (c.status() == v1::CHECK_STATUS_FAIL) fail = true;
    }
    return fail ? 1 : 0;
}

std::string report_to_json(const v1::ValidationReport& r, bool pretty) {
    google::protobuf::util::JsonPrintOptions o;
    o.add_whitespace = pretty;
    std::string out;
    auto st = google::protobuf::util::MessageToJsonString(r, &out, o);
    if (!st.ok()) return "{}";
    return out;
}

}  // namespace connguard::agent
