#include "tools/graph-sim/graph_wire.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "common/text.h"
#include "tools/graph-sim/sim_util.h"

namespace connguard::graph_sim {

using http::server_response;

namespace {

/// Graph's innerError date: "2020-08-18T12:51:51" (no fraction, no zone).
std::string graph_date() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return buf;
}

json graph_error_body(const request_ctx& c, const std::string& code, const std::string& message) {
    return json{{"error",
                 {{"code", code},
                  {"message", message},
                  {"innerError",
                   {{"date", graph_date()}, {"request-id", c.request_id}, {"client-request-id", c.client_request_id}}}}}};
}

}  // namespace

std::string format_seconds(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", s);
    std::string out = buf;
    while (out.size() > 1 && out.back() == '0') out.pop_back();
    if (out.back() == '.') out.pop_back();
    return out;
}

server_response graph_json(const request_ctx& c, int status, const json& body) {
    server_response r;
    r.status = status;
    r.headers = {{"Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"},
                 {"request-id", c.request_id},
                 {"client-request-id", c.client_request_id},
                 {"x-ms-ags-diagnostic", R"({"ServerInfo":{"DataCenter":"Sim","Slice":"E","Ring":"5","ScaleUnit":"000","RoleInstance":"CONNGUARD-SIM","ADSiteName":"SIM"}})"},
                 {"Strict-Transport-Security", "max-age=31536000"},
                 {"Cache-Control", "no-cache"},
                 {"Date", http_date()}};
    r.body = body.dump();
    return r;
}

server_response no_content(const request_ctx& c) {
    server_response r = graph_json(c, 204, json::object());
    r.body.clear();
    r.headers.erase(r.headers.begin());  // no Content-Type without a body
    return r;
}

server_response graph_error(const request_ctx& c, int status, const std::string& code, const std::string& message) {
    return graph_json(c, status, graph_error_body(c, code, message));
}

server_response forbidden(const request_ctx& c) {
    return graph_error(c, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
}

server_response not_found(const request_ctx& c, const std::string& id) {
    return graph_error(c, 404, "Request_ResourceNotFound",
                       "Resource '" + id + "' does not exist or one of its queried reference-property objects are not present.");
}

server_response bad_request(const request_ctx& c, const std::string& message) { return graph_error(c, 400, "BadRequest", message); }

server_response method_not_allowed(const request_ctx& c) {
    return graph_error(c, 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.");
}

server_response unknown_segment(const request_ctx& c, const std::string& segment) {
    return graph_error(c, 404, "ResourceNotFound", "Resource not found for the segment '" + segment + "'.");
}

server_response unauthorized(const request_ctx& c, const std::string& message) {
    server_response r = graph_error(c, 401, "InvalidAuthenticationToken", message);
    r.headers.emplace_back("WWW-Authenticate",
                           "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", "
                           "client_id=\"00000003-0000-0000-c000-000000000000\"");
    return r;
}

server_response throttled(const request_ctx& c, std::optional<double> retry_after) {
    json body{{"error",
               {{"code", "TooManyRequests"},
                {"innerError",
                 {{"code", "429"},
                  {"date", graph_date()},
                  {"message", "Please retry after"},
                  {"request-id", c.request_id},
                  {"status", "429"}}},
                {"message", "Please retry again later."}}}};
    server_response r = graph_json(c, 429, body);
    r.headers[0].second = "application/json";
    if (retry_after) r.headers.emplace_back("Retry-After", format_seconds(*retry_after));
    return r;
}

std::optional<server_response> read_json_body(const request_ctx& c, json& out) {
    out = json::parse(c.req.body, nullptr, false);
    if (out.is_discarded() || !out.is_object())
        return graph_error(c, 400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.");
    return std::nullopt;
}

std::string context_url(const request_ctx& c, const std::string& version, const std::string& suffix) {
    return c.base + "/" + version + "/$metadata#" + suffix;
}

server_response graph_list(const request_ctx& c, std::size_t page_size, const std::string& version,
                           const std::string& context_suffix, std::vector<json> items, bool allow_filter) {
    auto qf = c.query.find("$filter");
    if (qf != c.query.end() && !qf->second.empty()) {
        if (!allow_filter) return bad_request(c, "Invalid filter clause: $filter is not supported on this resource.");
        auto f = parse_filter(qf->second);
        if (!f) return graph_error(c, 400, "BadRequest", f.err().message);
        std::vector<json> kept;
        for (auto& it : items)
            if (matches(it, *f)) kept.push_back(std::move(it));
        items = std::move(kept);
    }
    std::size_t size = page_size;
    if (auto t = c.query.find("$top"); t != c.query.end()) {
        try {
            const long top = std::stol(t->second);
            if (top < 1) throw std::invalid_argument("top");
            size = std::min<std::size_t>(size, static_cast<std::size_t>(top));
        } catch (...) {
            return bad_request(c, "Invalid value '" + t->second + "' for query option $top.");
        }
    }
    std::size_t offset = 0;
    if (auto s = c.query.find("$skiptoken"); s != c.query.end()) {
        auto off = parse_skiptoken(s->second);
        if (!off) return bad_request(c, "Invalid $skiptoken value.");
        offset = *off;
    } else if (auto sk = c.query.find("$skip"); sk != c.query.end()) {
        try {
            offset = static_cast<std::size_t>(std::stoul(sk->second));
        } catch (...) {
            return bad_request(c, "Invalid value '" + sk->second + "' for query option $skip.");
        }
    }
    const std::string select = c.query.count("$select") ? c.query.at("$select") : std::string();
    json out = json::object();
    out["@odata.context"] = context_url(c, version, context_suffix);
    auto cnt = c.query.find("$count");
    if (cnt != c.query.end() && to_lower(cnt->second) == "true" && !c.query.count("$skiptoken")) out["@odata.count"] = items.size();
    json value = json::array();
    for (std::size_t i = offset; i < items.size() && i < offset + size; ++i) value.push_back(apply_select(items[i], select));
    out["value"] = std::move(value);
    if (offset + size < items.size()) {
        std::string link = c.base + c.req.path + "?";
        bool first = true;
        for (const auto& [k, v] : c.query) {
            if (k == "$skiptoken" || k == "$skip") continue;
            link += (first ? "" : "&") + k + "=" + encode_query_value(v);
            first = false;
        }
        link += (first ? "" : "&") + std::string("$skiptoken=") + make_skiptoken(offset + size);
        out["@odata.nextLink"] = link;
    }
    return graph_json(c, 200, out);
}

server_response graph_entity(const request_ctx& c, const std::string& version, const std::string& context_suffix,
                             const json& item) {
    const std::string select = c.query.count("$select") ? c.query.at("$select") : std::string();
    json out = apply_select(item, select);
    out["@odata.context"] = context_url(c, version, context_suffix);
    return graph_json(c, 200, out);
}

}  // namespace connguard::graph_sim
