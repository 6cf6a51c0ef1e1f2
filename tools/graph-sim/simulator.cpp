#include "tools/graph-sim/simulator.h"

// The façade: loading the tenants, the tenant table, and the front door that hands each request to
// its module (admin_api, token_endpoint, graph_routes) and logs it.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/text.h"
#include "tools/graph-sim/admin_api.h"
#include "tools/graph-sim/audit_log.h"
#include "tools/graph-sim/crypto.h"
#include "tools/graph-sim/graph_routes.h"
#include "tools/graph-sim/graph_wire.h"
#include "tools/graph-sim/handler_context.h"
#include "tools/graph-sim/idp.h"
#include "tools/graph-sim/sign_in_log.h"
#include "tools/graph-sim/sim_util.h"
#include "tools/graph-sim/tenant_state.h"
#include "tools/graph-sim/token_endpoint.h"

namespace connguard::graph_sim {

namespace {

/// A tenant's live state from its scenario; problems are appended to `errors` (one per line).
std::shared_ptr<simulator::tenant_state> make_tenant(tenant_scenario sc, const sim_options& opts, std::string& errors) {
    auto t = std::make_shared<simulator::tenant_state>();
    t->sc = std::move(sc);
    if (opts.ca_rate_limit) t->sc.ca_rate_limit_enabled = *opts.ca_rate_limit;
    // The CA policies move into the tenant's policy set (JSON and parsed form together).
    std::vector<json> given_policies = std::move(t->sc.policies);
    t->sc.policies.clear();
    for (std::size_t i = 0; i < given_policies.size(); ++i)
        if (auto st = t->policies.add(given_policies[i]); !st)
            errors += (errors.empty() ? "" : "\n") + t->sc.file.string() + ": field 'conditionalAccessPolicies[" + std::to_string(i) +
                      "]': the what-if engine refuses it: " + st.err().message;
    for (std::size_t i = 0; i < t->sc.named_locations.size(); ++i) {
        auto nl = whatif::parse_named_location(t->sc.named_locations[i]);
        if (!nl)
            errors += (errors.empty() ? "" : "\n") + t->sc.file.string() + ": field 'namedLocations[" + std::to_string(i) +
                      "]': " + nl.err().message;
    }
    // Sign-in log entries of the scenario, filled like the admin API's.
    std::vector<json> given_sign_ins = std::move(t->sc.sign_ins);
    t->sc.sign_ins.clear();
    for (auto& e : given_sign_ins) t->add_sign_in(fill_sign_in(*t, std::move(e)));
    // Microsoft created each Microsoft-managed policy (graph.md §11.1): audited at its createdDateTime.
    for (const auto& p : t->policies.json_list()) {
        if (!is_microsoft_managed(p)) continue;
        const std::string when = p.contains("createdDateTime") && p["createdDateTime"].is_string()
                                     ? p["createdDateTime"].get<std::string>()
                                     : format_rfc3339(std::chrono::system_clock::now(), 7);
        audit_policy(*t, actor{nullptr, true}, "Add Conditional Access policy", "Add", nullptr, &p, when);
    }
    std::stable_sort(t->sc.audits.begin(), t->sc.audits.end(), [](const json& a, const json& b) {
        return time_of(a, "activityDateTime") < time_of(b, "activityDateTime");
    });
    t->seed_rng();
    return t;
}

}  // namespace

simulator::simulator(sim_options opts) : opts_(std::move(opts)), token_key_(random_bytes(32)) {}
simulator::~simulator() = default;

result<std::unique_ptr<simulator>> simulator::create(sim_options opts) {
    std::unique_ptr<simulator> s(new simulator(std::move(opts)));
    if (auto st = s->load(); !st) return st.err();
    if (!s->opts_.idp_file.empty()) {
        auto cfg = load_idp_config(s->opts_.idp_file);
        if (!cfg) return cfg.err();
        if (s->find_tenant(cfg->tenant_id))
            return make_error("sim.idp", s->opts_.idp_file.string() + ": field 'tenantId': " + cfg->tenant_id +
                                             " is also a scenario tenant; the MSP's tenant must be its own");
        auto idp = identity_provider::create(std::move(*cfg));
        if (!idp) return idp.err();
        s->idp_ = std::move(*idp);
    }
    return s;
}

status simulator::load() {
    auto scenarios = load_scenarios(opts_.scenarios);
    if (!scenarios) return scenarios.err();
    std::vector<std::shared_ptr<tenant_state>> tenants;
    std::unordered_map<std::string, std::shared_ptr<tenant_state>> by_key;
    std::string errors;
    for (auto& sc : *scenarios) {
        auto t = make_tenant(std::move(sc), opts_, errors);
        by_key[t->sc.tenant_id] = t;
        by_key[t->sc.domain] = t;
        tenants.push_back(std::move(t));
    }
    if (!errors.empty()) return make_error("sim.scenario", errors);
    std::unique_lock lock(mu_);
    tenants_ = std::move(tenants);
    by_key_ = std::move(by_key);
    return {};
}

std::size_t simulator::tenant_count() const {
    std::shared_lock lock(mu_);
    return tenants_.size();
}

std::shared_ptr<simulator::tenant_state> simulator::find_tenant(const std::string& key) const {
    std::shared_lock lock(mu_);
    auto it = by_key_.find(to_lower(key));
    return it == by_key_.end() ? nullptr : it->second;
}

http::server_response simulator::handle(const http::server_request& req) {
    const auto start = std::chrono::steady_clock::now();
    std::string tenant = "-";
    http::server_response r;
    try {
        r = dispatch(req, tenant);
    } catch (const std::exception& e) {
        spdlog::error("{} {}: internal error: {}", req.method, req.path, e.what());
        r = http::server_response{500, {{"Content-Type", "application/json"}},
                                  R"({"error":{"code":"InternalServerError","message":"simulator error"}})"};
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    spdlog::debug("{} {} tenant={} -> {}{} ({} ms{})", req.method, req.path, tenant,
                  r.reset_connection ? std::string("reset") : std::to_string(r.status), "", ms,
                  r.delay.count() ? ", +" + std::to_string(r.delay.count()) + " ms injected" : std::string());
    return r;
}

http::server_response simulator::dispatch(const http::server_request& req, std::string& tenant_for_log) {
    request_ctx c{req, new_uuid(), {}, {}, {}};
    c.client_request_id = req.header("client-request-id");
    if (c.client_request_id.empty()) c.client_request_id = c.request_id;
    const std::string host = req.header("Host");
    c.base = "http://" + (host.empty() ? std::string("127.0.0.1") : host);
    c.query = parse_query(req.query);
    sim_handlers h{*this};
    const auto seg = split_path(req.path);
    if (seg.size() >= 2 && seg[0] == "_sim" && seg[1] == "idp") {
        if (!idp_) return http::server_response{404, {{"Content-Type", "application/json"}}, R"({"error":"no --idp given"})"};
        return idp_->handle_admin(c, seg);
    }
    if (!seg.empty() && seg[0] == "_sim") return handle_admin_request(h, c, tenant_for_log);
    if (idp_ && !seg.empty() && iequals(seg[0], idp_->tenant_id())) {
        tenant_for_log = idp_->tenant_id();
        if (auto r = idp_->handle(c, seg)) return std::move(*r);
    }
    if (seg.size() == 4 && seg[1] == "oauth2" && seg[2] == "v2.0" && seg[3] == "token")
        return handle_token_request(h, c, seg[0], tenant_for_log);
    if (!seg.empty() && (seg[0] == "v1.0" || seg[0] == "beta")) return handle_graph_request(h, c, tenant_for_log);
    return unknown_segment(c, seg.empty() ? std::string("/") : seg[0]);
}

}  // namespace connguard::graph_sim
