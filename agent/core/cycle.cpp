#include "agent/core/cycle.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "agent/graph/collector.h"
#include "common/text.h"

#include <spdlog/spdlog.h>

#include <algorithm>

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
    for (const auto& r : c.resources) {
        if (r.scopes.empty()) continue;
        o.target_scopes[to_lower(r.app_id)] = r.scopes;
    }
    o.authentication_flow = c.authentication_flow;
    o.writes_azure_resource_manager = c.writes_azure_resource_manager;
    o.signin_window = c.signin_log_window;
    return o;
}

namespace {

/// The account's own sign-ins, incrementally from the last one seen.
void add_signin_log(graph::graph_client& gc, const tenant_config& c, const clock& clk,
                    const snapshot::tenant_snapshot* previous, snapshot::tenant_snapshot& s) {
    if (!c.signin_log_enabled) return;
    if (!s.user.ok()) {
        s.signin_log = snapshot::collected<snapshot::signin_history>::failed(
            {s.user.error->code, "needs the account's object id: " + s.user.error->message, {}});
        return;
    }
    const snapshot::signin_history* kept =
        previous != nullptr && previous->signin_log && previous->signin_log->ok() ? &*previous->signin_log->value : nullptr;
    s.signin_log = graph::collect_signin_log(gc, kept,
                                             {.user_id = s.user.value->id,
                                              .now = clk.now(),
                                              .window = c.signin_log_window,
                                              .tool_app_ids = c.tool_app_ids,
                                              .probe_client_id = c.probe_client_id});
}

/// Who changed the CA policies, when they changed since the previous cycle.
void add_policy_audits(graph::graph_client& gc, const tenant_config& c, const clock& clk,
                       const snapshot::tenant_snapshot* previous, snapshot::tenant_snapshot& s) {
    if (previous == nullptr || !previous->ca_policies.ok() || !s.ca_policies.ok()) return;
    if (snapshot::policies_digest(*previous) == snapshot::policies_digest(s)) return;
    // The previous cycle is at most a poll interval (plus jitter and a slow cycle) ago.
    const auto lookback = std::max<std::chrono::seconds>(2 * (c.poll_interval + c.poll_jitter), std::chrono::hours{1});
    s.policy_audits = graph::collect_policy_audits(gc, format_rfc3339(clk.now() - lookback));
}

/// Microsoft's own What If for the tool's sign-in to its first target: asked when due, else carried.
void add_microsoft_whatif(graph::graph_client& gc, const tenant_config& c, const clock& clk,
                          const snapshot::tenant_snapshot* previous, snapshot::tenant_snapshot& s) {
    if (!c.engine_drift_enabled || c.resources.empty()) return;
    const auto carried = previous != nullptr ? previous->microsoft_whatif : std::nullopt;
    if (!s.user.ok() || !s.ca_policies.ok()) {
        s.microsoft_whatif = carried;
        return;
    }
    const std::string digest = snapshot::policies_digest(s);
    if (!graph::what_if_due(carried, digest, clk.now(), c.engine_drift_interval)) {
        s.microsoft_whatif = carried;
        return;
    }
    const auto opts = check_options_of(c);
    const auto in = checks::account_sign_in(s, opts, c.resources.front().app_id, true);
    auto answers = gc.evaluate_what_if(checks::to_evaluate_request(in));
    if (!answers) {
        spdlog::warn("{}", answers.err().message);
        s.microsoft_whatif = snapshot::collected<snapshot::whatif_exchange>::failed(
            graph::to_collect_error(answers.err(), graph::graph_call::ca_evaluate));
        return;
    }
    snapshot::whatif_exchange w;
    w.asked_at = format_rfc3339(clk.now());
    w.resource_app_id = in.resource();
    w.client_app_type = in.client_app_type.value_or("");
    w.ip_address = in.ip_address.value_or("");
    w.country = in.country.value_or("");
    w.authentication_flow = in.authentication_flow;
    w.policies_digest = digest;
    w.answers = std::move(*answers);
    s.microsoft_whatif = snapshot::collected<snapshot::whatif_exchange>::of(std::move(w));
}

}  // namespace

collection collect_and_check(graph::graph_client& gc, const tenant_config& c, std::uint64_t cycle, const clock& clk,
                             const snapshot::tenant_snapshot* previous) {
    const auto started = std::chrono::steady_clock::now();
    collection out;
    gc.reset_cycle_counters();
    out.snapshot = graph::collect_snapshot(gc, {.tenant_key = c.tenant_key, .account_upn = c.account_upn});
    out.snapshot.azure_tenant_id = c.azure_tenant_id;
    add_signin_log(gc, c, clk, previous, out.snapshot);
    add_policy_audits(gc, c, clk, previous, out.snapshot);
    add_microsoft_whatif(gc, c, clk, previous, out.snapshot);
    if (c.probe_enabled) {
        graph::probe_options p;
        p.client_id = c.probe_client_id;
        p.username = c.account_upn;
        p.password = c.account_password;
        for (const auto& r : c.resources) p.resource_app_ids.push_back(r.app_id);
        out.snapshot.signins = graph::run_signin_probes(gc, p);
    }
    out.counters = gc.counters();
    auto opts = check_options_of(c);
    opts.now = clk.now();
    out.report = checks::run_checks(out.snapshot, opts);
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
