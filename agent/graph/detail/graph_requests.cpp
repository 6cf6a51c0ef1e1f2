#include "agent/graph/detail/graph_requests.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent/graph/detail/wire.h"

namespace connguard::graph::detail {

using nlohmann::json;

namespace {

std::string where_of(const graph_client_options& o, const graph_request& gr) {
    return "tenant " + o.tenant_key + ": " + to_string(gr.call) + " (" + gr.method + " " + path_for_message(gr.url) + ")";
}

}  // namespace

error status_error(const graph_client_options& o, const graph_request& gr, const http::response& resp) {
    const std::string where = where_of(o, gr);
    const std::string detail = describe_graph_error(resp);
    const std::string tail = detail.empty() ? "" : " " + detail;
    if (resp.status == 403)
        return make_error("graph.forbidden", where + ": 403" + tail + "; the app needs the application permission " +
                                                 required_permission(gr.call));
    if (resp.status == 404) return make_error("graph.not_found", where + ": 404" + tail);
    return make_error("graph.http", where + ": unexpected HTTP " + std::to_string(resp.status) + tail);
}

error malformed(const graph_client_options& o, const graph_request& gr, const std::string& why) {
    return make_error("graph.malformed", where_of(o, gr) + ": " + why);
}

// ---- CA pacing -------------------------------------------------------------------------------

bool ca_pacer::applies_to(const std::string& url) { return url.find("/identity/conditionalAccess/") != std::string::npos; }

void ca_pacer::wait_turn() const {
    if (!have_last_) return;
    const auto next = last_ + o_.ca_pacing_interval;
    const auto now = std::chrono::steady_clock::now();
    if (now < next) {
        const auto wait = std::min(std::chrono::duration_cast<std::chrono::milliseconds>(next - now), o_.ca_pacing_interval);
        o_.sleep(wait);
    }
}

void ca_pacer::exchanged() {
    // Spacing is measured from the end of the previous exchange, so it also holds at the server.
    have_last_ = true;
    last_ = std::chrono::steady_clock::now();
}

// ---- one request -----------------------------------------------------------------------------

result<http::response> graph_requests::send(const graph_request& gr) {
    const bool paced = ca_pacer::applies_to(gr.url);
    bool refreshed = false;
    exchange x;
    x.where = where_of(o_, gr);
    x.counter = &request_counters::graph_requests;
    x.endpoint = endpoint_name(gr.call);
    x.names_budget = true;
    x.prepare = [&]() -> result<http::request> {
        auto token = tokens_.access_token();
        if (!token) return make_error(token.err().code, token.err().message + " (needed to " + to_string(gr.call) + ")");
        if (paced) pacer_.wait_turn();
        http::request req;
        req.method = gr.method;
        req.url = gr.url;
        req.headers = {{"Authorization", "Bearer " + *token}, {"Accept", "application/json"}};
        if (!gr.body.empty()) req.headers.emplace_back("Content-Type", "application/json");
        if (!gr.prefer.empty()) req.headers.emplace_back("Prefer", gr.prefer);
        req.body = gr.body;
        req.timeout = o_.request_timeout;
        req.ca_file = o_.ca_file;
        if (gr.method == "GET") req.cancelled = o_.cancelled;  // writes in flight are let finish
        return req;
    };
    if (paced) x.exchanged = [this] { pacer_.exchanged(); };
    x.describe_failure = [](const http::response& r, bool has_retry_after) {
        if (r.status == 429)
            return "429 throttled" + std::string(has_retry_after ? " (Retry-After " + r.header("Retry-After") + " s)"
                                                                 : " (no Retry-After)");
        return std::to_string(r.status) + " " + describe_graph_error(r);
    };
    x.judge = [&](const http::response& r) -> result<verdict> {
        if (r.status == 401) {
            if (refreshed)
                return make_error("graph.unauthorized", x.where + ": 401 again after a token refresh: " + describe_graph_error(r));
            refreshed = true;
            spdlog::info("{}: 401, refreshing the app token once", x.where);
            tokens_.invalidate();
            return verdict::resend;
        }
        spdlog::debug("{}: {}", x.where, r.status);
        return verdict::deliver;
    };
    return transport_.send(x);
}

// ---- objects and pages -----------------------------------------------------------------------

result<json> graph_requests::get_object(graph_call c, const std::string& url) {
    graph_request gr{c, "GET", url, {}};
    auto r = send(gr);
    if (!r) return r.err();
    if (r->status < 200 || r->status >= 300) return status_error(o_, gr, *r);
    json j = parse_json(r->body);
    if (!j.is_object()) return malformed(o_, gr, "the body is not a JSON object (" + std::to_string(r->body.size()) + " bytes)");
    return j;
}

result<std::vector<json>> graph_requests::get_all(graph_call c, const std::string& first_url) {
    std::vector<json> items;
    std::string url = first_url;
    for (int page = 0;; ++page) {
        if (page >= 1000) return malformed(o_, {c, "GET", first_url, {}}, "more than 1000 pages; paging loop?");
        auto j = get_object(c, url);
        if (!j) return j.err();
        const graph_request gr{c, "GET", url, {}};
        const auto v = j->find("value");
        if (v == j->end() || !v->is_array()) return malformed(o_, gr, "page " + std::to_string(page + 1) + " has no 'value' array");
        for (auto& item : *v) items.push_back(std::move(item));
        const auto next = j->find("@odata.nextLink");
        if (next == j->end() || next->is_null()) break;
        if (!next->is_string()) return malformed(o_, gr, "@odata.nextLink is not a string");
        auto resolved = resolve_next_link(next->get<std::string>());
        if (!resolved) return malformed(o_, gr, resolved.err().message);
        if (*resolved == url) return malformed(o_, gr, "@odata.nextLink points at the same page");
        url = std::move(*resolved);
    }
    return items;
}

result<std::string> graph_requests::resolve_next_link(const std::string& link) const {
    if (!link.empty() && link.front() == '/') return o_.graph_url + link;
    if (link.rfind(o_.graph_url + "/", 0) == 0) return link;
    return make_error("graph.malformed", "@odata.nextLink " + path_for_message(link) + " is outside the Graph base " + o_.graph_url);
}

}  // namespace connguard::graph::detail
