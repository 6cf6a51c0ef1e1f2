#include "tools/graph-sim/simulator.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <deque>
#include <set>

#include <spdlog/spdlog.h>

#include "agent/whatif/directory.h"
#include "agent/whatif/evaluate.h"
#include "agent/whatif/sign_in.h"
#include "common/clock.h"
#include "common/ids.h"
#include "tools/graph-sim/crypto.h"
#include "tools/graph-sim/odata.h"

namespace connguard::graph_sim {

namespace {

using http::server_request;
using http::server_response;
using steady = std::chrono::steady_clock;

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < path.size()) {
        const auto slash = path.find('/', start);
        const std::string seg = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (!seg.empty()) out.push_back(seg);
        if (slash == std::string::npos) break;
        start = slash + 1;
    }
    return out;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string now_rfc3339() { return format_rfc3339(std::chrono::system_clock::now()); }

/// Graph's innerError date: "2020-08-18T12:51:51" (no fraction, no zone).
std::string graph_date() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return buf;
}

/// Entra's error timestamp: "2016-01-09 02:02:12Z".
std::string aad_timestamp() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
    return buf;
}

std::string http_date() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

std::string format_seconds(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", s);
    std::string out = buf;
    while (out.size() > 1 && out.back() == '0') out.pop_back();
    if (out.back() == '.') out.pop_back();
    return out;
}

const std::string graph_app_id = "00000003-0000-0000-c000-000000000000";

/// The app Microsoft's own changes to Microsoft-managed CA policies are audited under (graph.md §11.1
/// names only its displayName; the appId is the simulator's fixed choice, see README.md).
const std::string managed_policy_manager_app_id = "7d1c4f5e-2a3b-4c8d-9e0f-4200930cca01";
const std::string managed_policy_manager_name = "Microsoft Managed Policy Manager";

/// Most sign-in log entries kept per tenant (the oldest go first).
constexpr std::size_t max_sign_ins = 5000;

/// Parsed DateTimeOffset of a JSON field (epoch when absent or malformed).
std::chrono::system_clock::time_point time_of(const json& item, const char* key) {
    clock::time_point tp{};
    if (item.is_object()) {
        auto it = item.find(key);
        if (it != item.end() && it->is_string() && parse_rfc3339(it->get<std::string>(), tp)) return tp;
    }
    return clock::time_point{};
}

/// The caller's IP address from "host:port" ("127.0.0.1:5000", "::1:5000").
std::string caller_ip(const std::string& remote) {
    const auto colon = remote.rfind(':');
    std::string ip = colon == std::string::npos ? remote : remote.substr(0, colon);
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    return ip;
}

bool is_loopback(const std::string& ip) { return ip.rfind("127.", 0) == 0 || ip == "::1" || ip.rfind("::ffff:127.", 0) == 0; }

/// Graph's clientAppUsed string for a conditionalAccessClientApp value.
std::string client_app_used(const std::string& type) {
    if (type == "mobileAppsAndDesktopClients") return "Mobile Apps and Desktop clients";
    if (type == "browser") return "Browser";
    if (type == "exchangeActiveSync") return "Exchange ActiveSync";
    return "Other clients";
}

/// Role template id -> display name (graph.md §5 and §7).
std::string role_name(const std::string& template_id) {
    const char* name = whatif::role_display_name(template_id);
    return name != nullptr ? std::string(name) : "Directory role " + template_id;
}

/// A stable GUID derived from text (directoryRole object ids and similar).
std::string derived_guid(const std::string& text) {
    const std::string h = sha256_hex(text);
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-4" + h.substr(13, 3) + "-a" + h.substr(17, 3) + "-" + h.substr(20, 12);
}

/// Resource app id for a scope ("https://graph.microsoft.com/.default", "<appId>/.default", "User.Read").
std::string resource_for_scope(const std::string& scope_text, std::string& resource_uri) {
    static const std::set<std::string> oidc = {"openid", "profile", "offline_access", "email"};
    std::string first;
    std::size_t start = 0;
    while (start <= scope_text.size()) {
        const auto sp = scope_text.find(' ', start);
        const std::string s = scope_text.substr(start, sp == std::string::npos ? std::string::npos : sp - start);
        if (!s.empty() && !oidc.count(lower(s))) {
            first = s;
            break;
        }
        if (sp == std::string::npos) break;
        start = sp + 1;
    }
    if (first.empty()) {
        resource_uri = "https://graph.microsoft.com";
        return graph_app_id;
    }
    const auto scheme = first.find("://");
    std::string base = first;
    if (scheme != std::string::npos) {
        const auto slash = first.find('/', scheme + 3);
        base = slash == std::string::npos ? first : first.substr(0, slash);
    } else if (const auto slash = first.find('/'); slash != std::string::npos) {
        base = first.substr(0, slash);
    } else {
        // A bare permission name ("User.Read") means Microsoft Graph.
        resource_uri = "https://graph.microsoft.com";
        return graph_app_id;
    }
    resource_uri = base;
    static const std::map<std::string, std::string> known = {
        {"https://graph.microsoft.com", graph_app_id},
        {"https://outlook.office365.com", "00000002-0000-0ff1-ce00-000000000000"},
        {"https://outlook.office.com", "00000002-0000-0ff1-ce00-000000000000"},
        {"https://management.azure.com", "797f4846-ba00-4fd7-ba43-dac1f8f63013"},
        {"https://management.core.windows.net", "797f4846-ba00-4fd7-ba43-dac1f8f63013"},
        {"https://graph.windows.net", "00000002-0000-0000-c000-000000000000"},
    };
    auto it = known.find(lower(base));
    if (it != known.end()) return it->second;
    if (lower(base).find(".sharepoint.com") != std::string::npos) return "00000003-0000-0ff1-ce00-000000000000";
    return lower(base);
}

bool is_graph_audience(const std::string& aud) {
    return aud == "https://graph.microsoft.com" || aud == graph_app_id || aud == "https://graph.microsoft.com/";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// tenant state

struct counters {
    long total = 0;
    long token = 0;
    long graph = 0;
    long throttled = 0;  ///< 429 answers (rate limit and injected)
    long faults = 0;     ///< injected faults of any kind
    std::map<std::string, long> by_route;
};

struct simulator::tenant_state {
    std::mutex mu;
    tenant_scenario sc;
    std::map<std::string, whatif::policy> parsed;  ///< parsed CA policies by id (for ROPC evaluation)
    std::mt19937_64 rng;
    counters count;
    steady::time_point ca_next_allowed{};
    std::int64_t token_generation = 0;  ///< tokens of an older generation are revoked

    user* find_user(const std::string& key) {
        const std::string k = lower(key);
        for (auto& u : sc.users)
            if (u.id == k || lower(u.upn) == k) return &u;
        return nullptr;
    }
    app* find_app(const std::string& app_id) {
        const std::string k = lower(app_id);
        for (auto& a : sc.apps)
            if (a.app_id == k) return &a;
        return nullptr;
    }
    json* find_policy(const std::string& id) {
        for (auto& p : sc.policies)
            if (lower(p.value("id", std::string())) == lower(id)) return &p;
        return nullptr;
    }
    /// Adds a (filled) sign-in log entry, dropping the oldest beyond max_sign_ins.
    void add_sign_in(json entry) {
        sc.sign_ins.push_back(std::move(entry));
        if (sc.sign_ins.size() > max_sign_ins) {
            auto oldest = std::min_element(sc.sign_ins.begin(), sc.sign_ins.end(), [](const json& a, const json& b) {
                return time_of(a, "createdDateTime") < time_of(b, "createdDateTime");
            });
            sc.sign_ins.erase(oldest);
        }
    }
    void seed_rng() {
        if (sc.faults.seeded) rng.seed(sc.faults.seed);
        else rng.seed(std::random_device{}());
    }
    void count_route(const std::string& route) {
        ++count.by_route[route];
    }
    /// Transitive group ids of a user.
    std::set<std::string> transitive_groups(const user& u) const {
        std::set<std::string> out;
        std::deque<std::string> todo(u.groups.begin(), u.groups.end());
        while (!todo.empty()) {
            const std::string g = todo.front();
            todo.pop_front();
            if (!out.insert(g).second) continue;
            auto it = sc.groups.find(g);
            if (it != sc.groups.end())
                for (const auto& p : it->second.member_of) todo.push_back(p);
        }
        return out;
    }
};

// ---------------------------------------------------------------------------------------------
// the handlers

struct request_ctx {
    const server_request& req;
    std::string request_id;
    std::string client_request_id;
    std::string base;  ///< "http://host:port"
    query_map query;
    std::string route;  ///< route name for counts, e.g. "GET /v1.0/users/{id}"
};

struct sim_handlers {
    simulator& sim;

    // ---- common responses ----------------------------------------------------------------

    static server_response graph_json(const request_ctx& c, int status, const json& body) {
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

    static server_response no_content(const request_ctx& c) {
        server_response r = graph_json(c, 204, json::object());
        r.body.clear();
        r.headers.erase(r.headers.begin());  // no Content-Type without a body
        return r;
    }

    static json graph_error_body(const request_ctx& c, const std::string& code, const std::string& message) {
        return json{{"error",
                     {{"code", code},
                      {"message", message},
                      {"innerError",
                       {{"date", graph_date()}, {"request-id", c.request_id}, {"client-request-id", c.client_request_id}}}}}};
    }

    static server_response graph_error(const request_ctx& c, int status, const std::string& code,
                                       const std::string& message) {
        return graph_json(c, status, graph_error_body(c, code, message));
    }

    static server_response forbidden(const request_ctx& c) {
        return graph_error(c, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
    }

    static server_response not_found(const request_ctx& c, const std::string& id) {
        return graph_error(c, 404, "Request_ResourceNotFound",
                           "Resource '" + id + "' does not exist or one of its queried reference-property objects are not present.");
    }

    static server_response bad_request(const request_ctx& c, const std::string& message) {
        return graph_error(c, 400, "BadRequest", message);
    }

    static server_response method_not_allowed(const request_ctx& c) {
        return graph_error(c, 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.");
    }

    static server_response unknown_segment(const request_ctx& c, const std::string& segment) {
        return graph_error(c, 404, "ResourceNotFound", "Resource not found for the segment '" + segment + "'.");
    }

    static server_response throttled(const request_ctx& c, std::optional<double> retry_after) {
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

    /// Entra token endpoint error (graph.md §1.5): 400, or 401 for invalid_client.
    static server_response aad_error(const request_ctx& c, const std::string& error, std::vector<long> codes,
                                     const std::string& text, json extra = json::object()) {
        const std::string trace = c.request_id;
        const std::string corr = is_guid(c.client_request_id) ? c.client_request_id : new_uuid();
        const std::string ts = aad_timestamp();
        json body{{"error", error},
                  {"error_description", text + "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + corr + "\r\nTimestamp: " + ts},
                  {"error_codes", codes},
                  {"timestamp", ts},
                  {"trace_id", trace},
                  {"correlation_id", corr},
                  {"error_uri", "https://login.microsoftonline.com/error?code=" + std::to_string(codes.back())}};
        for (auto it = extra.begin(); it != extra.end(); ++it) body[it.key()] = it.value();
        server_response r = aad_json(c, error == "invalid_client" ? 401 : 400, body);
        return r;
    }

    static server_response aad_json(const request_ctx& c, int status, const json& body) {
        server_response r;
        r.status = status;
        r.headers = {{"Content-Type", "application/json; charset=utf-8"},
                     {"Cache-Control", "no-store, no-cache"},
                     {"Pragma", "no-cache"},
                     {"Expires", "-1"},
                     {"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
                     {"X-Content-Type-Options", "nosniff"},
                     {"P3P", "CP=\"DSP CUR OTPi IND OTRi ONL FIN\""},
                     {"x-ms-request-id", c.request_id},
                     {"x-ms-ests-server", "2.1.19999.1 - SIM ProdSlices"},
                     {"Set-Cookie", "fpc=" + base64url_encode(random_bytes(12)) + "; expires=Thu, 01-Jan-2099 00:00:00 GMT; path=/; secure; HttpOnly; SameSite=None"},
                     {"Date", http_date()}};
        if (!c.client_request_id.empty()) r.headers.emplace_back("client-request-id", c.client_request_id);
        r.body = body.dump();
        return r;
    }

    static std::string context_url(const request_ctx& c, const std::string& version, const std::string& suffix) {
        return c.base + "/" + version + "/$metadata#" + suffix;
    }

    // ---- paging --------------------------------------------------------------------------

    server_response list(const request_ctx& c, const std::string& version, const std::string& context_suffix,
                         std::vector<json> items, bool allow_filter = true) {
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
        std::size_t size = sim.opts_.page_size;
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
        if (cnt != c.query.end() && lower(cnt->second) == "true" && !c.query.count("$skiptoken"))
            out["@odata.count"] = items.size();
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

    server_response entity(const request_ctx& c, const std::string& version, const std::string& context_suffix,
                           const json& item) {
        const std::string select = c.query.count("$select") ? c.query.at("$select") : std::string();
        json out = apply_select(item, select);
        out["@odata.context"] = context_url(c, version, context_suffix);
        return graph_json(c, 200, out);
    }

    // ---- audit ---------------------------------------------------------------------------

    struct actor {
        actor(const app* a = nullptr, bool ms = false) : by_app(a), microsoft(ms) {}
        const app* by_app = nullptr;  ///< null: the simulator's admin API ("a person in the portal")
        bool microsoft = false;       ///< Microsoft itself (Microsoft Managed Policy Manager, graph.md §11.1)
    };

    static void audit(simulator::tenant_state& t, const actor& who, const std::string& activity,
                      const std::string& category, const std::string& service, const std::string& operation,
                      json target, json modified = json::array(), const std::string& when = {}) {
        json initiated;
        if (who.microsoft) {
            initiated = {{"app",
                          {{"appId", managed_policy_manager_app_id},
                           {"displayName", managed_policy_manager_name},
                           {"servicePrincipalId", derived_guid("sp" + managed_policy_manager_app_id)},
                           {"servicePrincipalName", managed_policy_manager_name}}},
                         {"user", nullptr}};
        } else if (who.by_app) {
            initiated = {{"app",
                          {{"appId", who.by_app->app_id},
                           {"displayName", who.by_app->display_name},
                           {"servicePrincipalId", who.by_app->service_principal_id.empty() ? derived_guid("sp" + who.by_app->app_id)
                                                                                           : who.by_app->service_principal_id},
                           {"servicePrincipalName", who.by_app->display_name}}},
                         {"user", nullptr}};
        } else {
            initiated = {{"app", nullptr},
                         {"user",
                          {{"id", derived_guid("admin@" + t.sc.domain)},
                           {"displayName", "Tenant Administrator"},
                           {"userPrincipalName", "admin@" + t.sc.domain},
                           {"ipAddress", "127.0.0.1"}}}};
        }
        target["modifiedProperties"] = std::move(modified);
        json entry{{"id", "Directory_" + new_uuid()},
                   {"category", category},
                   {"correlationId", new_uuid()},
                   {"result", "success"},
                   {"resultReason", ""},
                   {"activityDisplayName", activity},
                   {"activityDateTime", when.empty() ? format_rfc3339(std::chrono::system_clock::now(), 7) : when},
                   {"loggedByService", service},
                   {"operationType", operation},
                   {"initiatedBy", initiated},
                   {"targetResources", json::array({target})},
                   {"additionalDetails", json::array()}};
        t.sc.audits.push_back(std::move(entry));
        if (t.sc.audits.size() > 10000) t.sc.audits.erase(t.sc.audits.begin());
    }

    static void audit_policy(simulator::tenant_state& t, const actor& who, const std::string& activity,
                             const std::string& operation, const json* before, const json* after,
                             const std::string& when = {}) {
        const json& p = after ? *after : *before;
        json target{{"id", p.value("id", std::string())}, {"displayName", p.value("displayName", std::string())}, {"type", "Policy"}};
        json mod = json::array({{{"displayName", "ConditionalAccessPolicy"},
                                 {"oldValue", before ? before->dump() : std::string()},
                                 {"newValue", after ? after->dump() : std::string()}}});
        audit(t, who, activity, "Policy", "Conditional Access", operation, target, mod, when);
    }

    // ---- sign-in logs ---------------------------------------------------------------------

    /// Fills what a scenario or admin signIn entry leaves out (README "Sign-in logs").
    static json fill_sign_in(simulator::tenant_state& t, json e) {
        const auto now = std::chrono::system_clock::now();
        if (auto it = e.find("simMinutesAgo"); it != e.end()) {
            if (it->is_number())
                e["createdDateTime"] = format_rfc3339(
                    now - std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(it->get<double>() * 60.0)),
                    7);
            e.erase("simMinutesAgo");
        }
        if (!e.contains("createdDateTime") || !e["createdDateTime"].is_string()) e["createdDateTime"] = format_rfc3339(now, 7);
        if (!e.contains("id") || !e["id"].is_string()) e["id"] = new_uuid();
        const user* u = nullptr;
        if (e.contains("userPrincipalName") && e["userPrincipalName"].is_string()) u = t.find_user(e["userPrincipalName"].get<std::string>());
        if (!u && e.contains("userId") && e["userId"].is_string()) u = t.find_user(e["userId"].get<std::string>());
        if (u) {
            if (!e.contains("userId")) e["userId"] = u->id;
            if (!e.contains("userPrincipalName")) e["userPrincipalName"] = u->upn;
            if (!e.contains("userDisplayName")) e["userDisplayName"] = u->graph.value("displayName", u->upn);
        }
        if (!e.contains("signInEventTypes") || !e["signInEventTypes"].is_array()) e["signInEventTypes"] = json::array({"nonInteractiveUser"});
        if (!e.contains("isInteractive") || !e["isInteractive"].is_boolean()) {
            bool interactive = false;
            for (const auto& v : e["signInEventTypes"])
                if (v.is_string() && lower(v.get<std::string>()) == "interactiveuser") interactive = true;
            e["isInteractive"] = interactive;
        }
        if (!e.contains("appliedConditionalAccessPolicies") || !e["appliedConditionalAccessPolicies"].is_array())
            e["appliedConditionalAccessPolicies"] = json::array();
        if (!e.contains("conditionalAccessStatus") || !e["conditionalAccessStatus"].is_string()) {
            bool failure = false, success = false;
            for (const auto& p : e["appliedConditionalAccessPolicies"]) {
                const std::string r = p.is_object() ? p.value("result", std::string()) : std::string();
                if (r == "failure") failure = true;
                if (r == "success") success = true;
            }
            e["conditionalAccessStatus"] = failure ? "failure" : (success ? "success" : "notApplied");
        }
        if (!e.contains("status") || !e["status"].is_object()) e["status"] = json::object();
        if (!e["status"].contains("errorCode")) e["status"]["errorCode"] = 0;
        if (!e["status"].contains("failureReason")) e["status"]["failureReason"] = nullptr;
        if (!e["status"].contains("additionalDetails")) e["status"]["additionalDetails"] = nullptr;
        if (!e.contains("correlationId")) e["correlationId"] = new_uuid();
        if (e.contains("appId") && e["appId"].is_string() && !e.contains("appDisplayName")) {
            const app* a = t.find_app(e["appId"].get<std::string>());
            e["appDisplayName"] = a ? a->display_name : whatif::app_name(lower(e["appId"].get<std::string>()));
        }
        if (e.contains("resourceId") && e["resourceId"].is_string() && !e.contains("resourceDisplayName"))
            e["resourceDisplayName"] = whatif::app_name(lower(e["resourceId"].get<std::string>()));
        if (!e.contains("homeTenantId")) e["homeTenantId"] = t.sc.tenant_id;
        if (!e.contains("resourceTenantId")) e["resourceTenantId"] = t.sc.tenant_id;
        return e;
    }

    /// appliedConditionalAccessPolicies of a sign-in the what-if engine evaluated: enabled policies
    /// success / failure / notApplied, report-only ones reportOnly*, disabled ones notEnabled.
    static json applied_policies(const simulator::tenant_state& t, const whatif::evaluation& ev) {
        json out = json::array();
        const auto& v = ev.result;
        auto in = [](const std::vector<std::string>& list, const std::string& label) {
            return std::find(list.begin(), list.end(), label) != list.end();
        };
        for (const auto& pr : ev.policies) {
            json grant = json::array();
            for (const auto& p : t.sc.policies)
                if (lower(p.value("id", std::string())) == lower(pr.id) && p.contains("grantControls") &&
                    p["grantControls"].is_object() && p["grantControls"].contains("builtInControls") &&
                    p["grantControls"]["builtInControls"].is_array())
                    for (const auto& g : p["grantControls"]["builtInControls"])
                        if (g.is_string() && !g.get<std::string>().empty()) {
                            std::string name = g.get<std::string>();
                            name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
                            grant.push_back(name);
                        }
            std::string result;
            switch (pr.state) {
                case whatif::policy_state::disabled: result = "notEnabled"; break;
                case whatif::policy_state::enabled:
                    result = !pr.applies ? "notApplied" : (in(v.causes, pr.label) ? "failure" : "success");
                    break;
                case whatif::policy_state::report_only:
                    if (!pr.applies) result = "reportOnlyNotApplied";
                    else if (!in(v.report_only_causes, pr.label) || pr.required == whatif::demand::none) result = "reportOnlySuccess";
                    else if (pr.required == whatif::demand::mfa) result = "reportOnlyInterrupted";
                    else result = "reportOnlyFailure";
                    break;
            }
            const bool enforced = result == "failure" || result == "success";
            out.push_back({{"id", pr.id},
                           {"displayName", pr.display_name},
                           {"enforcedGrantControls", enforced ? grant : json::array()},
                           {"enforcedSessionControls", json::array()},
                           {"result", result}});
        }
        return out;
    }

    /// reportOnly* results are served only with "Prefer: include-unknown-enum-members" (graph.md §8.6).
    static json mask_unknown_enums(json e, bool include_unknown) {
        if (include_unknown || !e.contains("appliedConditionalAccessPolicies") || !e["appliedConditionalAccessPolicies"].is_array())
            return e;
        for (auto& p : e["appliedConditionalAccessPolicies"])
            if (p.is_object() && p.contains("result") && p["result"].is_string() &&
                p["result"].get<std::string>().rfind("reportOnly", 0) == 0)
                p["result"] = "unknownFutureValue";
        return e;
    }

    // ---- JSON merge (PATCH) --------------------------------------------------------------

    /// OData PATCH: objects merge property by property, everything else (arrays included) replaces.
    static void deep_merge(json& target, const json& patch) {
        for (auto it = patch.begin(); it != patch.end(); ++it) {
            if (it.value().is_object() && target.contains(it.key()) && target[it.key()].is_object())
                deep_merge(target[it.key()], it.value());
            else
                target[it.key()] = it.value();
        }
    }

    // ---- graph objects --------------------------------------------------------------------

    static json security_defaults_json(const simulator::tenant_state& t) {
        return json{{"description",
                     "Security defaults is a set of basic identity security mechanisms recommended by Microsoft. When enabled, "
                     "these recommendations will be automatically enforced in your organization. Administrators and users will "
                     "be better protected from common identity related attacks."},
                    {"displayName", "Security Defaults"},
                    {"id", "00000000-0000-0000-0000-000000000005"},
                    {"isEnabled", t.sc.security_defaults_enabled}};
    }

    static json user_default_json(const user& u) {
        // Graph v1.0 returns only these properties unless $select names others.
        static const std::vector<std::string> defaults = {"businessPhones", "displayName", "givenName", "jobTitle",
                                                          "mail", "mobilePhone", "officeLocation", "preferredLanguage",
                                                          "surname", "userPrincipalName", "id"};
        json out = json::object();
        for (const auto& k : defaults) out[k] = u.graph.contains(k) ? u.graph[k] : (k == "businessPhones" ? json::array() : json(nullptr));
        return out;
    }

    static json user_full_json(const user& u) {
        json out = user_default_json(u);
        for (auto it = u.graph.begin(); it != u.graph.end(); ++it) out[it.key()] = it.value();
        return out;
    }

    static json assignment_json(const user& u, const role_assignment& ra) {
        return json{{"id", ra.id},
                    {"principalId", u.id},
                    {"resourceScope", ra.directory_scope_id},
                    {"directoryScopeId", ra.directory_scope_id},
                    {"roleDefinitionId", ra.role_definition_id}};
    }

    static json registration_json(const user& u) {
        json r = u.registration;
        r["id"] = u.id;
        r["userPrincipalName"] = u.upn;
        r["userDisplayName"] = u.graph.value("displayName", u.upn);
        bool admin = false;  // follows the user's current privileged roles
        for (const auto& ra : u.roles)
            if (whatif::security_defaults_privileged_roles().count(ra.role_definition_id)) admin = true;
        r["isAdmin"] = admin;
        return r;
    }

    // ---- tokens --------------------------------------------------------------------------

    std::string issue_token(const simulator::tenant_state& t, const std::string& app_id, const std::string& aud,
                            const user* u, const app* a, std::int64_t lifetime) {
        const std::int64_t now = unix_now();
        json header{{"typ", "JWT"}, {"alg", "HS256"}, {"kid", "connguard-sim"}};
        json claims{{"aud", aud},
                    {"iss", "https://sts.windows.net/" + t.sc.tenant_id + "/"},
                    {"iat", now},
                    {"nbf", now},
                    {"exp", now + lifetime},
                    {"tid", t.sc.tenant_id},
                    {"appid", app_id},
                    {"ver", "1.0"},
                    {"uti", base64url_encode(random_bytes(12))},
                    {"sim_gen", t.token_generation}};
        if (u) {
            claims["idtyp"] = "user";
            claims["oid"] = u->id;
            claims["upn"] = u->upn;
            claims["scp"] = "User.Read";
        } else {
            claims["idtyp"] = "app";
            claims["oid"] = a && !a->service_principal_id.empty() ? a->service_principal_id : derived_guid("sp" + app_id);
            json roles = json::array();
            if (a)
                for (const auto& p : a->permissions) roles.push_back(p);
            claims["roles"] = roles;
        }
        const std::string signing_input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
        return signing_input + "." + base64url_encode(hmac_sha256(sim.token_key_, signing_input));
    }

    struct token_claims {
        json claims;
        std::string error;  ///< empty when valid
    };

    token_claims read_token(const server_request& req) {
        token_claims out;
        const std::string auth = req.header("Authorization");
        if (auth.empty()) {
            out.error = "Access token is empty.";
            return out;
        }
        if (lower(auth.substr(0, 7)) != "bearer ") {
            out.error = "Access token validation failure. Invalid audience.";
            return out;
        }
        const std::string token = auth.substr(7);
        const auto d1 = token.find('.');
        const auto d2 = d1 == std::string::npos ? d1 : token.find('.', d1 + 1);
        if (d2 == std::string::npos) {
            out.error = "IDX14100: JWT is not well formed, there are no dots (.).";
            return out;
        }
        const std::string signing_input = token.substr(0, d2);
        const std::string sig = token.substr(d2 + 1);
        if (base64url_encode(hmac_sha256(sim.token_key_, signing_input)) != sig) {
            out.error = "Access token validation failure. Invalid signature.";
            return out;
        }
        auto payload = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
        if (!payload) {
            out.error = "Access token validation failure.";
            return out;
        }
        out.claims = json::parse(*payload, nullptr, false);
        if (!out.claims.is_object()) {
            out.error = "Access token validation failure.";
            return out;
        }
        if (out.claims.value("exp", std::int64_t{0}) <= unix_now()) {
            out.error = "Lifetime validation failed, the token is expired.";
            return out;
        }
        if (!is_graph_audience(out.claims.value("aud", std::string()))) {
            out.error = "Access token validation failure. Invalid audience.";
            return out;
        }
        return out;
    }

    server_response unauthorized(const request_ctx& c, const std::string& message) {
        server_response r = graph_error(c, 401, "InvalidAuthenticationToken", message);
        r.headers.emplace_back("WWW-Authenticate",
                               "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", "
                               "client_id=\"00000003-0000-0000-c000-000000000000\"");
        return r;
    }

    // ---- faults --------------------------------------------------------------------------

    /// Applies the tenant's fault rules; returns a response when a fault replaces the real one.
    /// `latency`, `malformed` and `truncated` are reported back to be applied to the real answer.
    struct fault_effect {
        std::optional<server_response> replace;
        std::chrono::milliseconds latency{0};
        bool malformed = false;
        bool truncated = false;
    };

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
                server_response r;
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

    static void apply_body_fault(server_response& r, const fault_effect& fx) {
        if (fx.malformed) {
            r.status = r.status == 204 ? 200 : r.status;
            r.body = "{\"value\":[{\"id\":\"00000000-0000-0000-0000-000000000000\",\"displayName\":}]<html>Internal error</html>";
            bool has_type = false;
            for (auto& [k, v] : r.headers)
                if (lower(k) == "content-type") has_type = true;
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

    // ---- token endpoint ------------------------------------------------------------------

    server_response token_endpoint(request_ctx& c, const std::string& tenant_key, std::string& log_tenant);

    // ---- Graph -----------------------------------------------------------------------------

    server_response graph(request_ctx& c, std::string& log_tenant);
    server_response graph_route(request_ctx& c, simulator::tenant_state& t, const app* caller,
                                const std::string& version, const std::vector<std::string>& seg);

    // ---- admin -----------------------------------------------------------------------------

    server_response admin(request_ctx& c, std::string& log_tenant);
};

// ---------------------------------------------------------------------------------------------
// token endpoint

namespace {

/// The what-if engine's view of one user in a tenant.
whatif::directory directory_for(const simulator::tenant_state& t, const user* u);

whatif::directory directory_for(const simulator::tenant_state& t, const user& u) { return directory_for(t, &u); }

whatif::directory directory_for(const simulator::tenant_state& t, const user* up) {
    whatif::directory d;
    d.security_defaults_enabled = t.sc.security_defaults_enabled;
    for (const auto& l : t.sc.named_locations) {
        auto nl = whatif::parse_named_location(l);
        if (nl) d.named_locations.push_back(std::move(*nl));
    }
    if (!up) return d;
    const user& u = *up;
    whatif::user_facts f;
    f.guest = lower(u.graph.value("userType", std::string("Member"))) == "guest";
    f.groups = t.transitive_groups(u);
    for (const auto& ra : u.roles) f.roles.insert(ra.role_definition_id);
    f.per_user_mfa_state = u.per_user_mfa_state == "enforced"  ? whatif::per_user_mfa::enforced
                           : u.per_user_mfa_state == "enabled" ? whatif::per_user_mfa::enabled
                                                               : whatif::per_user_mfa::disabled;
    f.is_mfa_registered = u.is_mfa_registered();
    d.users[u.id] = f;
    return d;
}

}  // namespace

server_response sim_handlers::token_endpoint(request_ctx& c, const std::string& tenant_key, std::string& log_tenant) {
    const auto& req = c.req;
    c.route = "POST /{tenant}/oauth2/v2.0/token";
    if (req.method != "POST")
        return aad_error(c, "invalid_request", {900561},
                         "AADSTS900561: The endpoint only accepts POST requests. Received a " + req.method + " request.");
    const auto form = parse_query(req.body);
    auto field = [&](const std::string& k) {
        auto it = form.find(k);
        return it == form.end() ? std::string() : it->second;
    };
    std::shared_ptr<simulator::tenant_state> tp;
    const std::string username = field("username");
    if (lower(tenant_key) == "organizations" && username.find('@') != std::string::npos) {
        tp = sim.find_tenant(username.substr(username.find('@') + 1));
    } else if (lower(tenant_key) == "common" || lower(tenant_key) == "consumers") {
        if (field("grant_type") == "password")
            return aad_error(c, "invalid_request", {9001023},
                             "AADSTS9001023: The grant type isn't supported over the /common or /consumers endpoints. "
                             "Please use the /organizations or tenant-specific endpoint.");
    }
    if (!tp) tp = sim.find_tenant(tenant_key);
    if (!tp)
        return aad_error(c, "invalid_request", {90002},
                         "AADSTS90002: Tenant '" + tenant_key +
                             "' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.");
    auto& t = *tp;
    std::lock_guard lock(t.mu);
    log_tenant = t.sc.tenant_id;
    ++t.count.total;
    ++t.count.token;
    fault_effect fx = roll_faults(t, c);
    if (fx.replace) {
        fx.replace->delay += fx.latency;
        return *fx.replace;
    }
    auto finish = [&](server_response r) {
        apply_body_fault(r, fx);
        return r;
    };

    const std::string grant = field("grant_type");
    if (grant.empty())
        return finish(aad_error(c, "invalid_request", {900144},
                                "AADSTS900144: The request body must contain the following parameter: 'grant_type'."));
    std::string client_id = field("client_id");
    std::string secret = field("client_secret");
    // HTTP Basic client authentication (RFC 6749 §2.3.1) is accepted too.
    if (const std::string auth = req.header("Authorization"); lower(auth.substr(0, 6)) == "basic ") {
        if (auto dec = base64url_decode(auth.substr(6)); dec && dec->find(':') != std::string::npos) {
            client_id = http::percent_decode(dec->substr(0, dec->find(':')), true);
            secret = http::percent_decode(dec->substr(dec->find(':') + 1), true);
        }
    }
    if (client_id.empty())
        return finish(aad_error(c, "invalid_request", {900144},
                                "AADSTS900144: The request body must contain the following parameter: 'client_id'."));
    if (grant != "client_credentials" && grant != "password")
        return finish(aad_error(c, "unsupported_grant_type", {70003},
                                "AADSTS70003: The app requested an unsupported grant type '" + grant + "'."));
    const std::string scope = field("scope");
    if (scope.empty())
        return finish(aad_error(c, "invalid_request", {900144},
                                "AADSTS900144: The request body must contain the following parameter: 'scope'."));
    app* a = t.find_app(client_id);
    if (!a)
        return finish(aad_error(c, "unauthorized_client", {700016},
                                "AADSTS700016: Application with identifier '" + client_id + "' was not found in the directory '" +
                                    t.sc.display_name +
                                    "'. This can happen if the application has not been installed by the administrator of the "
                                    "tenant or consented to by any user in the tenant. You may have sent your authentication "
                                    "request to the wrong tenant."));

    // client authentication
    const std::string assertion = field("client_assertion");
    const bool has_credential = !secret.empty() || !assertion.empty();
    if (grant == "password" && a->public_client && has_credential)
        return finish(aad_error(c, "invalid_client", {700025},
                                "AADSTS700025: Client is public so neither 'client_assertion' nor 'client_secret' should be presented."));
    if (!has_credential && !(grant == "password" && a->public_client))
        return finish(aad_error(c, "invalid_client", {7000218},
                                "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'."));
    if (!secret.empty()) {
        if (!a->client_secret || *a->client_secret != secret)
            return finish(aad_error(c, "invalid_client", {7000215},
                                    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is "
                                    "the client secret value, not the client secret ID, for a secret added to app '" + a->app_id + "'."));
        if (a->client_secret_expired)
            return finish(aad_error(c, "invalid_client", {7000222},
                                    "AADSTS7000222: The provided client secret keys for app '" + a->app_id +
                                        "' are expired. Visit the Azure portal to create new keys for your app."));
    } else if (!assertion.empty()) {
        if (field("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            return finish(aad_error(c, "invalid_request", {700023},
                                    "AADSTS700023: Client assertion type is not supported. Use "
                                    "'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'."));
        auto bad = [&](const std::string& reason) {
            return finish(aad_error(c, "invalid_client", {700027},
                                    "AADSTS700027: Client assertion failed signature validation. [Reason - " + reason + "]"));
        };
        const auto d1 = assertion.find('.');
        const auto d2 = d1 == std::string::npos ? d1 : assertion.find('.', d1 + 1);
        if (d2 == std::string::npos) return bad("The assertion is not a well-formed JWT.");
        auto hdr_raw = base64url_decode(assertion.substr(0, d1));
        auto pay_raw = base64url_decode(assertion.substr(d1 + 1, d2 - d1 - 1));
        auto sig = base64url_decode(assertion.substr(d2 + 1));
        if (!hdr_raw || !pay_raw || !sig) return bad("The assertion is not a well-formed JWT.");
        const json hdr = json::parse(*hdr_raw, nullptr, false);
        const json pay = json::parse(*pay_raw, nullptr, false);
        if (!hdr.is_object() || !pay.is_object()) return bad("The assertion is not a well-formed JWT.");
        const std::string alg = hdr.value("alg", std::string());
        if (alg != "PS256" && alg != "RS256") return bad("The signing algorithm '" + alg + "' is not supported (PS256, RS256).");
        const std::string x5t256 = hdr.value("x5t#S256", std::string());
        const std::string x5t = hdr.value("x5t", std::string());
        const certificate* cert = nullptr;
        for (const auto& ce : a->certificates)
            if ((!x5t256.empty() && ce.x5t_s256 == x5t256) || (x5t256.empty() && !x5t.empty() && ce.x5t == x5t)) cert = &ce;
        if (!cert)
            return bad("The key was not found., Thumbprint of key used by client: '" + (x5t256.empty() ? x5t : x5t256) +
                       "'. Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '" +
                       a->app_id + "'.");
        if (!verify_rsa_signature(*cert, alg, assertion.substr(0, d2), *sig)) return bad("The signature is invalid.");
        if (pay.value("iss", std::string()) != client_id || pay.value("sub", std::string()) != client_id)
            return finish(aad_error(c, "invalid_client", {700021},
                                    "AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter."));
        const std::string aud = pay.value("aud", std::string());
        const std::string want_path1 = "/" + t.sc.tenant_id + "/oauth2/v2.0/token";
        const std::string want_path2 = "/" + t.sc.domain + "/oauth2/v2.0/token";
        const auto ends_with = [&](const std::string& s) { return aud.size() >= s.size() && lower(aud.substr(aud.size() - s.size())) == s; };
        if (!(ends_with(want_path1) || ends_with(want_path2)) || aud.find("://") == std::string::npos)
            return finish(aad_error(c, "invalid_client", {700027},
                                    "AADSTS700027: Client assertion failed signature validation. [Reason - The audience '" + aud +
                                        "' is not the token endpoint of this tenant.]"));
        const std::int64_t now = unix_now();
        const std::int64_t skew = 300;
        if (!pay.contains("exp") || !pay["exp"].is_number() || pay["exp"].get<std::int64_t>() + skew < now ||
            (pay.contains("nbf") && pay["nbf"].is_number() && pay["nbf"].get<std::int64_t>() - skew > now))
            return finish(aad_error(c, "invalid_client", {700024},
                                    "AADSTS700024: Client assertion is not within its valid time range."));
    }

    std::string resource_uri;
    const std::string resource = resource_for_scope(scope, resource_uri);
    if (grant == "client_credentials") {
        if (scope.find("/.default") == std::string::npos || scope.find(' ') != std::string::npos)
            return finish(aad_error(c, "invalid_scope", {1002012},
                                    "AADSTS1002012: The provided value for scope " + scope +
                                        " is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."));
        const std::string aud = resource == graph_app_id ? "https://graph.microsoft.com" : resource_uri;
        json body{{"token_type", "Bearer"},
                  {"expires_in", sim.opts_.token_lifetime},
                  {"ext_expires_in", sim.opts_.token_lifetime},
                  {"access_token", issue_token(t, a->app_id, aud, nullptr, a, sim.opts_.token_lifetime)}};
        return finish(aad_json(c, 200, body));
    }

    // ROPC
    if (username.empty())
        return finish(aad_error(c, "invalid_request", {900144},
                                "AADSTS900144: The request body must contain the following parameter: 'username'."));
    user* u = t.find_user(username);
    // Every ROPC answer from here on is logged as an interactive sign-in (README "Sign-in logs").
    const std::string remote_ip = caller_ip(req.remote);
    auto ropc_done = [&](server_response r, const whatif::evaluation* ev) {
        json status{{"errorCode", 0}, {"failureReason", nullptr}, {"additionalDetails", nullptr}};
        if (r.status != 200) {
            const json b = json::parse(r.body, nullptr, false);
            if (b.is_object() && b.contains("error_codes") && b["error_codes"].is_array() && !b["error_codes"].empty())
                status["errorCode"] = b["error_codes"].back();
            const std::string d = b.is_object() ? b.value("error_description", std::string()) : std::string();
            const auto colon = d.find(": ");
            const auto end = d.find("\r\n");
            if (colon != std::string::npos) status["failureReason"] = d.substr(colon + 2, end == std::string::npos ? end : end - colon - 2);
        }
        json e{{"userPrincipalName", u ? u->upn : username},
               {"appId", a->app_id},
               {"appDisplayName", a->display_name},
               {"resourceId", resource},
               {"ipAddress", remote_ip},
               {"clientAppUsed", client_app_used(t.sc.ropc_client_app_type)},
               {"correlationId", is_guid(c.client_request_id) ? c.client_request_id : new_uuid()},
               {"isInteractive", true},
               {"signInEventTypes", json::array({"interactiveUser"})},
               {"authenticationProtocol", "ropc"},
               {"authenticationRequirement", "singleFactorAuthentication"},
               {"status", status},
               {"location", {{"city", nullptr}, {"state", nullptr}, {"countryOrRegion", nullptr}, {"geoCoordinates", nullptr}}},
               {"deviceDetail", {{"deviceId", ""}, {"displayName", ""}, {"operatingSystem", ""}, {"browser", ""},
                                 {"isCompliant", false}, {"isManaged", false}, {"trustType", ""}}},
               {"appliedConditionalAccessPolicies", ev ? applied_policies(t, *ev) : json::array()}};
        if (!u) e["userId"] = nullptr;
        t.add_sign_in(fill_sign_in(t, std::move(e)));
        return finish(r);
    };
    if (!u)
        return ropc_done(aad_error(c, "invalid_grant", {50034},
                                "AADSTS50034: The user account " + username + " does not exist in the " + t.sc.tenant_id +
                                    " directory. To sign into this application, the account must be added to the directory."), nullptr);
    const std::string password = field("password");
    auto outcome = [&](long code) -> std::optional<server_response> {
        switch (code) {
            case 0: return std::nullopt;
            case 50126:
                return aad_error(c, "invalid_grant", {70002, 50126},
                                 "AADSTS70002: Error validating credentials. AADSTS50126: Invalid username or password");
            case 50053:
                return aad_error(c, "unauthorized_client", {50053},
                                 "AADSTS50053: You've tried to sign in too many times with an incorrect user ID or password.");
            case 50057: return aad_error(c, "invalid_grant", {50057}, "AADSTS50057: The user account is disabled.");
            case 50055:
                return aad_error(c, "user_password_expired", {50055}, "AADSTS50055: Password is expired.",
                                 {{"suberror", "user_password_expired"},
                                  {"password_change_url", "https://portal.microsoftonline.com/ChangePassword.aspx"}});
            case 50144:
                return aad_error(c, "user_password_expired", {50144},
                                 "AADSTS50144: User's Active Directory password has expired.",
                                 {{"suberror", "user_password_expired"}});
            case 50034:
                return aad_error(c, "invalid_grant", {50034},
                                 "AADSTS50034: The user account " + username + " does not exist in the " + t.sc.tenant_id + " directory.");
            case 50076:
            case 50074:
                return aad_error(c, "invalid_grant", {code},
                                 "AADSTS" + std::to_string(code) +
                                     ": Due to a configuration change made by your administrator, or because you moved to a new "
                                     "location, you must use multi-factor authentication to access '" + resource + "'.",
                                 {{"suberror", "basic_action"}});
            case 50079:
            case 50072:
                return aad_error(c, "interaction_required", {code},
                                 "AADSTS" + std::to_string(code) +
                                     ": Due to a configuration change made by your administrator, or because you moved to a new "
                                     "location, you must enroll in multi-factor authentication to access '" + resource + "'.",
                                 {{"suberror", "basic_action"}});
            case 530035:
                return aad_error(c, "invalid_grant", {530035},
                                 "AADSTS530035: Access has been blocked by security defaults. This is due to the request using "
                                 "legacy auth or being deemed unsafe by security defaults policies.",
                                 {{"suberror", "message_only"}});
            case 53000:
                return aad_error(c, "invalid_grant", {53000},
                                 "AADSTS53000: Device is not in required device state: compliant. Conditional Access policy "
                                 "requires a compliant device, and the device is not compliant.",
                                 {{"suberror", "message_only"}});
            case 53001:
                return aad_error(c, "invalid_grant", {53001},
                                 "AADSTS53001: Device is not in required device state: domain_joined. Conditional Access policy "
                                 "requires a domain joined device, and the device is not domain joined.",
                                 {{"suberror", "message_only"}});
            case 53002:
                return aad_error(c, "invalid_grant", {53002},
                                 "AADSTS53002: Application used is not an approved application. Conditional Access policy "
                                 "requires an approved client application.",
                                 {{"suberror", "message_only"}});
            case 53003:
                return aad_error(c, "invalid_grant", {53003},
                                 "AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does "
                                 "not allow token issuance.",
                                 {{"suberror", "message_only"}});
            case 50158:
                return aad_error(c, "invalid_grant", {50158},
                                 "AADSTS50158: External security challenge not satisfied. User will be redirected to another "
                                 "page or authentication provider to satisfy additional authentication challenges.");
            case 53004:
                return aad_error(c, "interaction_required", {53004},
                                 "AADSTS53004: Proof up required. The user needs to complete the multi-factor authentication "
                                 "registration process before accessing this content; registration is blocked due to risk.",
                                 {{"suberror", "basic_action"}});
            case 50131:
                return aad_error(c, "invalid_grant", {50131},
                                 "AADSTS50131: Conditional Access failed. The request was blocked by a Conditional Access "
                                 "decision (device state, suspicious activity, access policy or security policy).",
                                 {{"suberror", "message_only"}});
            case 50105:
                return aad_error(c, "invalid_grant", {50105},
                                 "AADSTS50105: Your administrator has configured the application " + a->display_name + " ('" +
                                     a->app_id +
                                     "') to block users unless they are specifically granted ('assigned') access to the "
                                     "application. The signed in user '{EmailHidden}' is blocked because they are not a direct "
                                     "member of a group with access, nor had access directly assigned by an administrator. "
                                     "Please contact your administrator to assign access to this application.");
            case 50135:
                return aad_error(c, "interaction_required", {50135},
                                 "AADSTS50135: Password change is required due to account risk.",
                                 {{"suberror", "user_password_expired"}});
            default:
                return aad_error(c, "invalid_grant", {code},
                                 "AADSTS" + std::to_string(code) + ": Sign-in failed (simulated outcome override).");
        }
    };
    if (u->sign_in_override && *u->sign_in_override != 0) return ropc_done(*outcome(*u->sign_in_override), nullptr);
    if (u->locked) return ropc_done(*outcome(50053), nullptr);
    if (password != u->password || u->password.empty()) return ropc_done(*outcome(50126), nullptr);
    if (!u->account_enabled()) return ropc_done(*outcome(50057), nullptr);
    if (u->password_expired) return ropc_done(*outcome(50055), nullptr);

    // Conditional Access, Security Defaults and per-user MFA through the what-if engine.
    whatif::sign_in s;
    s.identity_kind = whatif::sign_in::identity::user;
    s.user_id = u->id;
    s.context_kind = whatif::sign_in::context::application;
    s.applications = {resource};
    s.client_app_type = t.sc.ropc_client_app_type;
    // A loopback caller is not an address Entra could see: no IP, so location conditions are unknown.
    if (!remote_ip.empty() && !is_loopback(remote_ip)) s.ip_address = remote_ip;
    std::vector<whatif::policy> policies;
    for (const auto& p : t.sc.policies) {
        auto it = t.parsed.find(lower(p.value("id", std::string())));
        if (it != t.parsed.end()) policies.push_back(it->second);
    }
    const whatif::evaluation ev = whatif::evaluate(policies, directory_for(t, *u), s);
    const auto& v = ev.result;
    std::vector<std::string> policy_causes;
    bool by_sd = false;
    for (const auto& cause : v.causes) {
        if (cause == whatif::cause_security_defaults) by_sd = true;
        else if (cause != whatif::cause_per_user_mfa) policy_causes.push_back(cause);
    }
    auto with_claims = [&](server_response r) {
        if (policy_causes.empty()) return r;
        json body = json::parse(r.body);
        json claims{{"access_token", {{"capolids", {{"essential", true}, {"values", policy_causes}}}}}};
        body["claims"] = claims.dump();
        r.body = body.dump();
        return r;
    };
    spdlog::debug("tenant {}: ROPC for user {} to {}: what-if verdict {}", t.sc.tenant_id, u->id, resource,
                  whatif::to_string(v.result));
    switch (v.result) {
        case whatif::verdict_result::allowed:
            if (t.sc.security_defaults_enabled && t.sc.security_defaults_user_mfa)
                return ropc_done(*outcome(u->is_mfa_registered() ? 50076 : 50079), &ev);
            break;
        case whatif::verdict_result::mfa_required: return ropc_done(with_claims(*outcome(50076)), &ev);
        case whatif::verdict_result::mfa_registration_required: return ropc_done(with_claims(*outcome(50079)), &ev);
        case whatif::verdict_result::blocked:
            if (policy_causes.empty() && by_sd) return ropc_done(*outcome(530035), &ev);
            return ropc_done(with_claims(*outcome(53003)), &ev);
        case whatif::verdict_result::control_required: {
            long code = 53003;
            for (const auto& pid : policy_causes) {
                auto it = t.parsed.find(lower(pid));
                if (it == t.parsed.end() || !it->second.grant) continue;
                const auto& g = *it->second.grant;
                if (g.has("compliantDevice")) code = 53000;
                else if (g.has("domainJoinedDevice")) code = 53001;
                else if (g.has("approvedApplication") || g.has("compliantApplication")) code = 53002;
                if (code != 53003) break;
            }
            return ropc_done(with_claims(*outcome(code)), &ev);
        }
    }
    // success
    std::string granted;
    bool offline = false, openid = false;
    {
        std::size_t start = 0;
        while (start <= scope.size()) {
            const auto sp = scope.find(' ', start);
            const std::string sc = scope.substr(start, sp == std::string::npos ? std::string::npos : sp - start);
            if (lower(sc) == "offline_access") offline = true;
            else if (lower(sc) == "openid") openid = true;
            if (!sc.empty() && lower(sc) != "offline_access") granted += (granted.empty() ? "" : " ") + sc;
            if (sp == std::string::npos) break;
            start = sp + 1;
        }
    }
    const std::string aud = resource == graph_app_id ? "https://graph.microsoft.com" : resource_uri;
    json body{{"token_type", "Bearer"},
              {"scope", granted},
              {"expires_in", sim.opts_.token_lifetime},
              {"ext_expires_in", sim.opts_.token_lifetime},
              {"access_token", issue_token(t, a->app_id, aud, u, a, sim.opts_.token_lifetime)}};
    if (offline) body["refresh_token"] = "0.SIM." + base64url_encode(random_bytes(48));
    if (openid) {
        json idc{{"aud", a->app_id},
                 {"iss", "https://login.microsoftonline.com/" + t.sc.tenant_id + "/v2.0"},
                 {"iat", unix_now()},
                 {"nbf", unix_now()},
                 {"exp", unix_now() + 3600},
                 {"oid", u->id},
                 {"preferred_username", u->upn},
                 {"name", u->graph.value("displayName", u->upn)},
                 {"tid", t.sc.tenant_id},
                 {"ver", "2.0"}};
        body["id_token"] = base64url_encode(R"({"typ":"JWT","alg":"none"})") + "." + base64url_encode(idc.dump()) + ".";
    }
    return ropc_done(aad_json(c, 200, body), &ev);
}


// ---------------------------------------------------------------------------------------------
// Graph

namespace {

using perm_set = std::set<std::string>;
const perm_set perm_secdef_read = {"Policy.Read.All", "Policy.ReadWrite.SecurityDefaults", "Policy.ReadWrite.ConditionalAccess"};
const perm_set perm_secdef_write = {"Policy.ReadWrite.SecurityDefaults"};
const perm_set perm_ca_read = {"Policy.Read.All", "Policy.Read.ConditionalAccess", "Policy.ReadWrite.ConditionalAccess"};
const perm_set perm_ca_write = {"Policy.ReadWrite.ConditionalAccess"};
const perm_set perm_users_read = {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All",
                                  "User.ReadBasic.All"};
const perm_set perm_member_read = {"GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All",
                                   "Directory.ReadWrite.All", "User.Read.All", "User.ReadWrite.All"};
const perm_set perm_roles_read = {"RoleManagement.Read.Directory", "RoleManagement.Read.All", "Directory.Read.All",
                                  "RoleManagement.ReadWrite.Directory", "Directory.ReadWrite.All"};
const perm_set perm_roles_write = {"RoleManagement.ReadWrite.Directory"};
const perm_set perm_audit = {"AuditLog.Read.All"};
const perm_set perm_peruser_read = {"Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"};
const perm_set perm_peruser_write = {"Policy.ReadWrite.AuthenticationMethod"};
const perm_set perm_org_read = {"Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All",
                                "Directory.ReadWrite.All", "User.Read.All"};

bool granted(const app* a, const perm_set& any_of) {
    if (!a) return false;
    for (const auto& p : any_of)
        if (a->permissions.count(p)) return true;
    return false;
}

}  // namespace

server_response sim_handlers::graph(request_ctx& c, std::string& log_tenant) {
    const auto seg = split_path(c.req.path);
    const std::string version = seg.empty() ? std::string() : seg[0];
    token_claims tok = read_token(c.req);
    // The tenant comes from the token; without a readable token there is no tenant to charge.
    std::shared_ptr<simulator::tenant_state> tp;
    if (tok.claims.is_object()) tp = sim.find_tenant(tok.claims.value("tid", std::string()));
    if (!tp) return unauthorized(c, tok.error.empty() ? "Access token validation failure." : tok.error);
    auto& t = *tp;
    std::lock_guard lock(t.mu);
    log_tenant = t.sc.tenant_id;
    ++t.count.total;
    ++t.count.graph;
    if (tok.error.empty() && tok.claims.value("sim_gen", std::int64_t{0}) < t.token_generation)
        tok.error = "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenCreatedWithOutdatedPolicies";
    fault_effect fx = roll_faults(t, c);
    if (fx.replace) {
        fx.replace->delay += fx.latency;
        return *fx.replace;
    }
    server_response r;
    if (!tok.error.empty()) {
        r = unauthorized(c, tok.error);
    } else {
        const app* caller = tok.claims.value("idtyp", std::string()) == "app" ? t.find_app(tok.claims.value("appid", std::string())) : nullptr;
        // CA endpoints: 1 request per second per tenant, 429 without Retry-After (graph.md §8.2).
        const bool ca = seg.size() >= 3 && seg[1] == "identity" && seg[2] == "conditionalAccess";
        if (ca && t.sc.ca_rate_limit_enabled) {
            const auto now = steady::now();
            const auto interval = std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(1.0 / t.sc.ca_rate_limit_rps));
            if (now + std::chrono::milliseconds{50} < t.ca_next_allowed) {
                ++t.count.throttled;
                r = throttled(c, std::nullopt);
                c.route = c.req.method + " " + c.req.path;
                apply_body_fault(r, fault_effect{std::nullopt, fx.latency, false, false});
                return r;
            }
            t.ca_next_allowed = now + interval;
        }
        if (version != "v1.0" && version != "beta") r = unknown_segment(c, version.empty() ? std::string("/") : version);
        else if (seg.size() < 2) r = bad_request(c, "Invalid request.");
        else r = graph_route(c, t, caller, version, seg);
    }
    if (c.route.empty()) c.route = c.req.method + " /" + version + "/?";
    apply_body_fault(r, fx);
    return r;
}

server_response sim_handlers::graph_route(request_ctx& c, simulator::tenant_state& t, const app* caller,
                                          const std::string& version, const std::vector<std::string>& seg) {
    const std::string& m = c.req.method;
    const std::size_t n = seg.size();
    auto route = [&](const std::string& name) {
        c.route = m + " /" + version + "/" + name;
        t.count_route(c.route);
    };
    auto parse_body = [&](json& out) -> std::optional<server_response> {
        out = json::parse(c.req.body, nullptr, false);
        if (out.is_discarded() || !out.is_object())
            return graph_error(c, 400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.");
        return std::nullopt;
    };
    const actor who{caller};

    // policies/identitySecurityDefaultsEnforcementPolicy
    if (seg[1] == "policies") {
        if (n == 3 && seg[2] == "identitySecurityDefaultsEnforcementPolicy") {
            route("policies/identitySecurityDefaultsEnforcementPolicy");
            if (m == "GET") {
                if (!granted(caller, perm_secdef_read)) return forbidden(c);
                return entity(c, version, "policies/identitySecurityDefaultsEnforcementPolicy", security_defaults_json(t));
            }
            if (m == "PATCH") {
                if (!granted(caller, perm_secdef_write)) return forbidden(c);
                json body;
                if (auto e = parse_body(body)) return *e;
                for (auto it = body.begin(); it != body.end(); ++it)
                    if (it.key() != "isEnabled" && it.key().rfind("@odata", 0) != 0)
                        return bad_request(c, "Property '" + it.key() + "' is read-only and cannot be set.");
                if (!body.contains("isEnabled") || !body["isEnabled"].is_boolean())
                    return bad_request(c, "Invalid value for property 'isEnabled': a Boolean is required.");
                const json before = security_defaults_json(t);
                t.sc.security_defaults_enabled = body["isEnabled"].get<bool>();
                audit(t, who, "Update security defaults", "Policy", "Conditional Access", "Update",
                      {{"id", "00000000-0000-0000-0000-000000000005"}, {"displayName", "Security Defaults"}, {"type", "Policy"}},
                      json::array({{{"displayName", "IsEnabled"},
                                    {"oldValue", before["isEnabled"].dump()},
                                    {"newValue", body["isEnabled"].dump()}}}));
                return no_content(c);
            }
            return method_not_allowed(c);
        }
        return unknown_segment(c, n > 2 ? seg[2] : seg[1]);
    }

    // identity/conditionalAccess/...
    if (seg[1] == "identity") {
        if (n < 3 || seg[2] != "conditionalAccess") return unknown_segment(c, n > 2 ? seg[2] : seg[1]);
        if (n >= 4 && seg[3] == "policies") {
            if (n == 4) {
                route("identity/conditionalAccess/policies");
                if (m == "GET") {
                    if (!granted(caller, perm_ca_read)) return forbidden(c);
                    return list(c, version, "identity/conditionalAccess/policies", t.sc.policies);
                }
                if (m == "POST") {
                    if (!granted(caller, perm_ca_write) || !granted(caller, {"Policy.Read.All"})) return forbidden(c);
                    json body;
                    if (auto e = parse_body(body)) return *e;
                    if (!body.contains("displayName") || !body["displayName"].is_string())
                        return bad_request(c, "Property 'displayName' is required.");
                    if (!body.contains("conditions") || !body["conditions"].is_object())
                        return bad_request(c, "Property 'conditions' is required.");
                    body["id"] = new_uuid();
                    body["createdDateTime"] = now_rfc3339();
                    body["modifiedDateTime"] = nullptr;
                    if (!body.contains("state")) body["state"] = "enabled";
                    auto parsed = whatif::parse_policy(body);
                    if (!parsed) return bad_request(c, parsed.err().message);
                    t.sc.policies.push_back(body);
                    t.parsed[lower(body["id"].get<std::string>())] = std::move(*parsed);
                    audit_policy(t, who, "Add Conditional Access policy", "Add", nullptr, &body);
                    server_response r = entity(c, version, "identity/conditionalAccess/policies/$entity", body);
                    r.status = 201;
                    r.headers.emplace_back("Location", c.base + "/" + version + "/identity/conditionalAccess/policies/" +
                                                           body["id"].get<std::string>());
                    return r;
                }
                return method_not_allowed(c);
            }
            if (n == 5) {
                route("identity/conditionalAccess/policies/{id}");
                json* p = t.find_policy(seg[4]);
                if (m == "GET") {
                    if (!granted(caller, perm_ca_read)) return forbidden(c);
                    if (!p) return not_found(c, seg[4]);
                    return entity(c, version, "identity/conditionalAccess/policies/$entity", *p);
                }
                if (m == "PATCH") {
                    if (!granted(caller, perm_ca_write) || !granted(caller, {"Policy.Read.All"})) return forbidden(c);
                    if (!p) return not_found(c, seg[4]);
                    json body;
                    if (auto e = parse_body(body)) return *e;
                    json updated = *p;
                    const json before = *p;
                    body.erase("id");
                    body.erase("createdDateTime");
                    body.erase("modifiedDateTime");
                    deep_merge(updated, body);
                    if (updated.contains("state") && updated["state"].is_string()) {
                        const std::string st = updated["state"].get<std::string>();
                        if (st != "enabled" && st != "disabled" && st != "enabledForReportingButNotEnforced")
                            return bad_request(c, "Invalid value '" + st + "' for property 'state'.");
                    }
                    updated["modifiedDateTime"] = now_rfc3339();
                    auto parsed = whatif::parse_policy(updated);
                    if (!parsed) return bad_request(c, parsed.err().message);
                    *p = updated;
                    t.parsed[lower(seg[4])] = std::move(*parsed);
                    audit_policy(t, who, "Update Conditional Access policy", "Update", &before, p);
                    return no_content(c);
                }
                if (m == "DELETE") {
                    if (!granted(caller, perm_ca_write)) return forbidden(c);
                    if (!p) return not_found(c, seg[4]);
                    const json before = *p;
                    t.parsed.erase(lower(seg[4]));
                    t.sc.policies.erase(t.sc.policies.begin() + (p - t.sc.policies.data()));
                    audit_policy(t, who, "Delete Conditional Access policy", "Delete", &before, nullptr);
                    return no_content(c);
                }
                return method_not_allowed(c);
            }
        }
        if (n == 4 && seg[3] == "evaluate") {
            // What If (graph.md §4.1): Microsoft's answer is the scenario's whatIfAnswers where declared,
            // else the simulator's model of Entra (the what-if engine, as for ROPC).
            route("identity/conditionalAccess/evaluate");
            if (m != "POST") return method_not_allowed(c);
            if (!granted(caller, perm_ca_read)) return forbidden(c);
            json body;
            if (auto e = parse_body(body)) return *e;
            // All three are required by Graph (the engine itself defaults missing conditions).
            for (const char* field : {"signInIdentity", "signInContext", "signInConditions"})
                if (!body.contains(field) || body[field].is_null())
                    return bad_request(c, std::string("Invalid request body: ") + field + ": missing");
            auto req = whatif::parse_evaluate_request(body);
            if (!req) return bad_request(c, "Invalid request body: " + req.err().message);
            bool applied_only = false;
            if (body.contains("appliedPoliciesOnly") && !body["appliedPoliciesOnly"].is_null()) {
                if (!body["appliedPoliciesOnly"].is_boolean())
                    return bad_request(c, "Invalid request body: appliedPoliciesOnly: expected a Boolean.");
                applied_only = body["appliedPoliciesOnly"].get<bool>();
            }
            const user* u = nullptr;
            if (req->identity_kind == whatif::sign_in::identity::user) {
                u = t.find_user(req->user_id);
                if (!u) return not_found(c, req->user_id);
            }
            std::vector<whatif::policy> policies;
            std::vector<const json*> sources;
            for (const auto& p : t.sc.policies) {
                auto it = t.parsed.find(lower(p.value("id", std::string())));
                if (it == t.parsed.end()) continue;
                policies.push_back(it->second);
                sources.push_back(&p);
            }
            const whatif::evaluation ev = whatif::evaluate(policies, directory_for(t, u), *req);
            json value = json::array();
            for (std::size_t i = 0; i < sources.size() && i < ev.policies.size(); ++i) {
                json item = *sources[i];
                item.erase("@odata.context");
                bool applies = ev.policies[i].applies;
                std::string reasons = whatif::reasons_to_string(ev.policies[i].analysis_reasons);
                auto declared = t.sc.what_if_answers.find(lower(sources[i]->value("id", std::string())));
                if (declared != t.sc.what_if_answers.end()) {
                    applies = (*declared)["policyApplies"].get<bool>();
                    reasons = (*declared)["analysisReasons"].get<std::string>();
                }
                if (applied_only && !applies) continue;
                item["policyApplies"] = applies;
                item["analysisReasons"] = reasons;
                value.push_back(std::move(item));
            }
            return graph_json(c, 200,
                              {{"@odata.context", context_url(c, version, "Collection(microsoft.graph.whatIfAnalysisResult)")},
                               {"value", value}});
        }
        if (n >= 4 && seg[3] == "namedLocations") {
            if (n == 4) {
                route("identity/conditionalAccess/namedLocations");
                if (m != "GET") return method_not_allowed(c);
                if (!granted(caller, perm_ca_read)) return forbidden(c);
                return list(c, version, "identity/conditionalAccess/namedLocations", t.sc.named_locations);
            }
            if (n == 5) {
                route("identity/conditionalAccess/namedLocations/{id}");
                if (m != "GET") return method_not_allowed(c);
                if (!granted(caller, perm_ca_read)) return forbidden(c);
                for (const auto& l : t.sc.named_locations)
                    if (lower(l.value("id", std::string())) == lower(seg[4]))
                        return entity(c, version, "identity/conditionalAccess/namedLocations/$entity", l);
                return not_found(c, seg[4]);
            }
        }
        return unknown_segment(c, n > 3 ? seg[3] : seg[2]);
    }

    // users
    if (seg[1] == "users") {
        if (n == 2) {
            route("users");
            if (m != "GET") return method_not_allowed(c);
            if (!granted(caller, perm_users_read)) return forbidden(c);
            std::vector<json> items;
            const bool selected = c.query.count("$select") > 0;
            for (const auto& u : t.sc.users) items.push_back(selected ? user_full_json(u) : user_default_json(u));
            // $filter sees every property; the page shows the default set unless $select is given.
            if (c.query.count("$filter") && !selected) {
                std::vector<json> full;
                for (const auto& u : t.sc.users) full.push_back(user_full_json(u));
                auto f = parse_filter(c.query.at("$filter"));
                if (!f) return bad_request(c, f.err().message);
                items.clear();
                for (std::size_t i = 0; i < full.size(); ++i)
                    if (matches(full[i], *f)) items.push_back(user_default_json(t.sc.users[i]));
                request_ctx c2 = c;
                c2.query.erase("$filter");
                return list(c2, version, "users", items);
            }
            return list(c, version, "users", items);
        }
        user* u = t.find_user(seg[2]);
        if (n == 3) {
            route("users/{id}");
            if (m != "GET") return method_not_allowed(c);
            if (!granted(caller, perm_users_read)) return forbidden(c);
            if (!u) return not_found(c, seg[2]);
            if (c.query.count("$select"))
                return entity(c, version, "users(" + c.query.at("$select") + ")/$entity", user_full_json(*u));
            return entity(c, version, "users/$entity", user_default_json(*u));
        }
        if (n == 4 && (seg[3] == "transitiveMemberOf" || seg[3] == "memberOf")) {
            route("users/{id}/" + seg[3]);
            if (m != "GET") return method_not_allowed(c);
            if (!granted(caller, perm_member_read)) return forbidden(c);
            if (!u) return not_found(c, seg[2]);
            std::vector<json> items;
            const std::set<std::string> groups = seg[3] == "memberOf" ? std::set<std::string>(u->groups.begin(), u->groups.end())
                                                                       : t.transitive_groups(*u);
            for (const auto& gid : groups) {
                auto it = t.sc.groups.find(gid);
                items.push_back({{"@odata.type", "#microsoft.graph.group"},
                                 {"id", gid},
                                 {"displayName", it == t.sc.groups.end() ? gid : it->second.display_name},
                                 {"securityEnabled", true},
                                 {"mailEnabled", false},
                                 {"groupTypes", json::array()}});
            }
            for (const auto& ra : u->roles)
                items.push_back({{"@odata.type", "#microsoft.graph.directoryRole"},
                                 {"id", derived_guid(t.sc.tenant_id + ra.role_definition_id)},
                                 {"displayName", role_name(ra.role_definition_id)},
                                 {"roleTemplateId", ra.role_definition_id},
                                 {"deletedDateTime", nullptr}});
            return list(c, version, "directoryObjects", items);
        }
        if (n == 5 && seg[3] == "authentication" && seg[4] == "requirements") {
            route("users/{id}/authentication/requirements");
            if (version != "beta") return unknown_segment(c, "requirements");
            if (m == "GET") {
                if (!granted(caller, perm_peruser_read)) return forbidden(c);
                if (!u) return not_found(c, seg[2]);
                return graph_json(c, 200,
                                  {{"@odata.context", context_url(c, version, "users('" + u->id + "')/authentication/requirements/$entity")},
                                   {"perUserMfaState", u->per_user_mfa_state}});
            }
            if (m == "PATCH") {
                if (!granted(caller, perm_peruser_write)) return forbidden(c);
                if (!u) return not_found(c, seg[2]);
                json body;
                if (auto e = parse_body(body)) return *e;
                if (!body.contains("perUserMfaState") || !body["perUserMfaState"].is_string())
                    return bad_request(c, "Property 'perUserMfaState' is required.");
                std::string st = body["perUserMfaState"].get<std::string>();
                if (st != "disabled" && st != "enabled" && st != "enforced")
                    return bad_request(c, "Invalid value '" + st + "' for property 'perUserMfaState'.");
                // "enabled" on a user who already has an MFA method moves them to "enforced" (graph.md §6.2).
                if (st == "enabled" && u->is_mfa_registered()) st = "enforced";
                const std::string old = u->per_user_mfa_state;
                u->per_user_mfa_state = st;
                audit(t, who, "Update user", "UserManagement", "Core Directory", "Update",
                      {{"id", u->id}, {"displayName", u->graph.value("displayName", u->upn)}, {"type", "User"}, {"userPrincipalName", u->upn}},
                      json::array({{{"displayName", "StrongAuthenticationRequirement"},
                                    {"oldValue", json::array({json{{"State", old}}}).dump()},
                                    {"newValue", json::array({json{{"State", st}}}).dump()}}}));
                return no_content(c);
            }
            return method_not_allowed(c);
        }
        return unknown_segment(c, n > 3 ? seg[3] : seg[2]);
    }

    // roleManagement/directory/roleAssignments
    if (seg[1] == "roleManagement") {
        if (n >= 4 && seg[2] == "directory" && seg[3] == "roleAssignments") {
            if (n == 4) {
                route("roleManagement/directory/roleAssignments");
                if (m != "GET") return method_not_allowed(c);
                if (!granted(caller, perm_roles_read)) return forbidden(c);
                std::vector<json> items;
                for (const auto& u : t.sc.users)
                    for (const auto& ra : u.roles) items.push_back(assignment_json(u, ra));
                return list(c, version, "roleManagement/directory/roleAssignments", items);
            }
            if (n == 5) {
                route("roleManagement/directory/roleAssignments/{id}");
                user* owner = nullptr;
                std::size_t index = 0;
                for (auto& u : t.sc.users)
                    for (std::size_t i = 0; i < u.roles.size(); ++i)
                        if (u.roles[i].id == seg[4]) {
                            owner = &u;
                            index = i;
                        }
                if (m == "GET") {
                    if (!granted(caller, perm_roles_read)) return forbidden(c);
                    if (!owner) return not_found(c, seg[4]);
                    return entity(c, version, "roleManagement/directory/roleAssignments/$entity", assignment_json(*owner, owner->roles[index]));
                }
                if (m == "DELETE") {
                    if (!granted(caller, perm_roles_write)) return forbidden(c);
                    if (!owner) return not_found(c, seg[4]);
                    const role_assignment ra = owner->roles[index];
                    owner->roles.erase(owner->roles.begin() + static_cast<std::ptrdiff_t>(index));
                    audit(t, who, "Remove member from role", "RoleManagement", "Core Directory", "Unassign",
                          {{"id", owner->id}, {"displayName", owner->graph.value("displayName", owner->upn)}, {"type", "User"},
                           {"userPrincipalName", owner->upn}},
                          json::array({{{"displayName", "Role.TemplateId"}, {"oldValue", json(ra.role_definition_id).dump()}, {"newValue", ""}},
                                       {{"displayName", "Role.DisplayName"}, {"oldValue", json(role_name(ra.role_definition_id)).dump()}, {"newValue", ""}}}));
                    return no_content(c);
                }
                return method_not_allowed(c);
            }
        }
        return unknown_segment(c, n > 2 ? seg[n - 1] : seg[1]);
    }

    // reports/authenticationMethods/userRegistrationDetails
    if (seg[1] == "reports") {
        if (n >= 4 && seg[2] == "authenticationMethods" && seg[3] == "userRegistrationDetails") {
            if (m != "GET") return method_not_allowed(c);
            if (n == 4) {
                route("reports/authenticationMethods/userRegistrationDetails");
                if (!granted(caller, perm_audit)) return forbidden(c);
                std::vector<json> items;
                for (const auto& u : t.sc.users) items.push_back(registration_json(u));
                return list(c, version, "reports/authenticationMethods/userRegistrationDetails", items);
            }
            if (n == 5) {
                route("reports/authenticationMethods/userRegistrationDetails/{id}");
                if (!granted(caller, perm_audit)) return forbidden(c);
                user* u = nullptr;
                for (auto& x : t.sc.users)
                    if (x.id == lower(seg[4])) u = &x;
                if (!u) return not_found(c, seg[4]);
                return entity(c, version, "reports/authenticationMethods/userRegistrationDetails/$entity", registration_json(*u));
            }
        }
        return unknown_segment(c, seg[n - 1]);
    }

    // auditLogs/directoryAudits
    if (seg[1] == "auditLogs") {
        if (n == 3 && seg[2] == "directoryAudits") {
            route("auditLogs/directoryAudits");
            if (m != "GET") return method_not_allowed(c);
            if (!granted(caller, perm_audit)) return forbidden(c);
            std::vector<json> items(t.sc.audits.rbegin(), t.sc.audits.rend());  // newest first
            std::stable_sort(items.begin(), items.end(), [](const json& a, const json& b) {
                return time_of(a, "activityDateTime") > time_of(b, "activityDateTime");
            });
            return list(c, version, "auditLogs/directoryAudits", items);
        }
        if (n == 3 && seg[2] == "signIns") {
            // graph.md §8.6: v1.0 has interactive sign-ins only; beta has every kind and signInEventTypes.
            route("auditLogs/signIns");
            if (m != "GET") return method_not_allowed(c);
            if (!granted(caller, perm_audit)) return forbidden(c);
            if (!t.sc.entra_id_premium)
                return graph_error(c, 403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                                   "Neither tenant is B2C or tenant doesn't have premium license");
            const bool beta = version == "beta";
            if (auto top = c.query.find("$top"); top != c.query.end()) {
                long v = 0;
                try {
                    v = std::stol(top->second);
                } catch (...) {
                    v = 0;
                }
                if (v < 1 || v > 1000)
                    return bad_request(c, "Invalid page size specified: '" + top->second + "'. Must be between 1 and 1000 inclusive.");
            }
            if (!beta && c.query.count("$filter") && lower(c.query.at("$filter")).find("signineventtypes") != std::string::npos)
                return bad_request(c, "Could not find a property named 'signInEventTypes' on type 'microsoft.graph.signIn'.");
            const bool include_unknown = lower(c.req.header("Prefer")).find("include-unknown-enum-members") != std::string::npos;
            static const std::vector<std::string> beta_only = {
                "signInEventTypes", "authenticationProtocol", "authenticationRequirement", "authenticationRequirementPolicies",
                "authenticationDetails", "mfaDetail", "conditionalAccessAudiences", "userType", "originalTransferMethod",
                "tokenIssuerType", "sessionId"};
            std::vector<json> items;
            for (auto it = t.sc.sign_ins.rbegin(); it != t.sc.sign_ins.rend(); ++it) {  // ties: newest added first
                const json& e = *it;
                if (!beta && !e.value("isInteractive", false)) continue;
                json item = mask_unknown_enums(e, include_unknown);
                if (!beta)
                    for (const auto& k : beta_only) item.erase(k);
                items.push_back(std::move(item));
            }
            std::stable_sort(items.begin(), items.end(), [](const json& a, const json& b) {
                return time_of(a, "createdDateTime") > time_of(b, "createdDateTime");
            });
            return list(c, version, "auditLogs/signIns", items);
        }
        return unknown_segment(c, seg[n - 1]);
    }

    if (seg[1] == "organization" && n == 2) {
        route("organization");
        if (m != "GET") return method_not_allowed(c);
        if (!granted(caller, perm_org_read)) return forbidden(c);
        std::vector<json> items{{{"id", t.sc.tenant_id},
                                 {"displayName", t.sc.display_name},
                                 {"tenantType", "AAD"},
                                 {"verifiedDomains", json::array({{{"name", t.sc.domain}, {"isDefault", true}, {"isInitial", true}, {"type", "Managed"}, {"capabilities", "Email, OfficeCommunicationsOnline"}}})}}};
        return list(c, version, "organization", items);
    }
    route("?");
    return unknown_segment(c, seg[1]);
}


// ---------------------------------------------------------------------------------------------
// admin API (/_sim/...)

namespace {

json tenant_counts_json(const counters& k) {
    return json{{"total", k.total}, {"token", k.token}, {"graph", k.graph}, {"throttled", k.throttled}, {"faults", k.faults},
                {"byRoute", k.by_route}};
}

json user_admin_json(const simulator::tenant_state& t, const user& u) {
    json out = u.graph;
    out["perUserMfaState"] = u.per_user_mfa_state;
    out["registration"] = u.registration;
    out["groups"] = u.groups;
    json roles = json::array();
    for (const auto& ra : u.roles) roles.push_back({{"id", ra.id}, {"roleDefinitionId", ra.role_definition_id}});
    out["roles"] = roles;
    out["transitiveGroups"] = t.transitive_groups(u);
    out["locked"] = u.locked;
    out["passwordExpired"] = u.password_expired;
    out["signInOutcomeOverride"] = u.sign_in_override ? json(*u.sign_in_override) : json(nullptr);
    return out;
}

server_response admin_json(int status, const json& body) {
    server_response r;
    r.status = status;
    r.headers = {{"Content-Type", "application/json"}};
    if (status != 204) r.body = body.dump(2) + "\n";
    return r;
}

server_response admin_error(int status, const std::string& message) {
    return admin_json(status, {{"error", message}});
}

}  // namespace

server_response sim_handlers::admin(request_ctx& c, std::string& log_tenant) {
    const auto seg = split_path(c.req.path);  // "_sim", ...
    const std::string& m = c.req.method;
    const std::size_t n = seg.size();
    c.route = "admin";
    json body = json::object();
    if (!c.req.body.empty()) {
        body = json::parse(c.req.body, nullptr, false);
        if (body.is_discarded()) return admin_error(400, "request body is not valid JSON");
    }
    if (n == 2 && seg[1] == "health") return admin_json(200, {{"status", "ok"}, {"tenants", sim.tenant_count()}});
    if (n == 2 && seg[1] == "reload") {
        if (m != "POST") return admin_error(405, "use POST");
        if (auto st = sim.load(); !st) return admin_error(400, st.err().message);
        return admin_json(200, {{"status", "reloaded"}, {"tenants", sim.tenant_count()}});
    }
    if (n == 2 && seg[1] == "requests") {
        std::vector<std::shared_ptr<simulator::tenant_state>> all;
        {
            std::shared_lock lock(sim.mu_);
            all = sim.tenants_;
        }
        if (m == "DELETE") {
            for (auto& t : all) {
                std::lock_guard lock(t->mu);
                t->count = counters{};
            }
            return admin_json(204, {});
        }
        if (m != "GET") return admin_error(405, "use GET or DELETE");
        json tenants = json::object();
        long total = 0, token = 0, graph_n = 0, throttled_n = 0;
        for (auto& t : all) {
            std::lock_guard lock(t->mu);
            total += t->count.total;
            token += t->count.token;
            graph_n += t->count.graph;
            throttled_n += t->count.throttled;
            if (t->count.total > 0) tenants[t->sc.tenant_id] = tenant_counts_json(t->count);
        }
        return admin_json(200, {{"total", total}, {"token", token}, {"graph", graph_n}, {"throttled", throttled_n}, {"tenants", tenants}});
    }
    if (n == 2 && seg[1] == "ca-rate-limit") {
        if (m != "PUT" && m != "POST" && m != "PATCH") return admin_error(405, "use PUT");
        if (!body.contains("enabled") || !body["enabled"].is_boolean()) return admin_error(400, "body needs {\"enabled\": true|false}");
        std::shared_lock lock(sim.mu_);
        for (auto& t : sim.tenants_) {
            std::lock_guard tl(t->mu);
            t->sc.ca_rate_limit_enabled = body["enabled"].get<bool>();
        }
        return admin_json(200, {{"enabled", body["enabled"]}, {"tenants", sim.tenants_.size()}});
    }
    if (n == 2 && seg[1] == "tenants") {
        json list = json::array();
        std::shared_lock lock(sim.mu_);
        for (auto& t : sim.tenants_)
            list.push_back({{"tenantId", t->sc.tenant_id}, {"domain", t->sc.domain}, {"displayName", t->sc.display_name},
                            {"file", t->sc.file.string()}});
        return admin_json(200, {{"value", list}});
    }
    if (n < 3 || seg[1] != "tenants") return admin_error(404, "unknown admin path " + c.req.path + " (see tools/graph-sim/README.md)");
    auto tp = sim.find_tenant(seg[2]);
    if (!tp) return admin_error(404, "unknown tenant '" + seg[2] + "'");
    auto& t = *tp;
    std::lock_guard lock(t.mu);
    log_tenant = t.sc.tenant_id;
    const actor who{nullptr};

    if (n == 3) {
        if (m != "GET") return admin_error(405, "use GET");
        json users = json::array();
        for (const auto& u : t.sc.users) users.push_back(user_admin_json(t, u));
        json apps = json::array();
        for (const auto& a : t.sc.apps) {
            json certs = json::array();
            for (const auto& ce : a.certificates) certs.push_back({{"file", ce.file.string()}, {"x5t#S256", ce.x5t_s256}});
            apps.push_back({{"appId", a.app_id}, {"displayName", a.display_name}, {"permissions", a.permissions},
                            {"publicClient", a.public_client}, {"hasClientSecret", a.client_secret.has_value()},
                            {"certificates", certs}});
        }
        return admin_json(200, {{"tenantId", t.sc.tenant_id},
                                {"domain", t.sc.domain},
                                {"displayName", t.sc.display_name},
                                {"securityDefaultsEnabled", t.sc.security_defaults_enabled},
                                {"securityDefaultsUserMfa", t.sc.security_defaults_user_mfa},
                                {"ropcClientAppType", t.sc.ropc_client_app_type},
                                {"caRateLimit", {{"enabled", t.sc.ca_rate_limit_enabled}, {"requestsPerSecond", t.sc.ca_rate_limit_rps}}},
                                {"apps", apps},
                                {"users", users},
                                {"conditionalAccessPolicies", t.sc.policies},
                                {"namedLocations", t.sc.named_locations},
                                {"faults", faults_to_json(t.sc.faults)},
                                {"entraIdPremium", t.sc.entra_id_premium},
                                {"whatIfAnswers", t.sc.what_if_answers},
                                {"signIns", t.sc.sign_ins.size()},
                                {"requests", tenant_counts_json(t.count)}});
    }
    const std::string what = seg[3];
    if (what == "security-defaults" && n == 4) {
        if (m == "GET") return admin_json(200, security_defaults_json(t));
        if (m != "PUT" && m != "PATCH" && m != "POST") return admin_error(405, "use PATCH");
        if (!body.contains("isEnabled") || !body["isEnabled"].is_boolean()) return admin_error(400, "body needs {\"isEnabled\": true|false}");
        const bool old = t.sc.security_defaults_enabled;
        t.sc.security_defaults_enabled = body["isEnabled"].get<bool>();
        if (body.contains("userMfa") && body["userMfa"].is_boolean()) t.sc.security_defaults_user_mfa = body["userMfa"].get<bool>();
        if (old != t.sc.security_defaults_enabled)
            audit(t, who, "Update security defaults", "Policy", "Conditional Access", "Update",
                  {{"id", "00000000-0000-0000-0000-000000000005"}, {"displayName", "Security Defaults"}, {"type", "Policy"}},
                  json::array({{{"displayName", "IsEnabled"}, {"oldValue", json(old).dump()}, {"newValue", json(!old).dump()}}}));
        return admin_json(200, security_defaults_json(t));
    }
    if (what == "policies") {
        // ?initiatedBy=microsoft: the change is Microsoft's (Microsoft Managed Policy Manager), e.g. a
        // managed policy switched On; without it the portal admin made it.
        auto by = c.query.find("initiatedBy");
        if (by != c.query.end() && lower(by->second) != "microsoft" && lower(by->second) != "admin")
            return admin_error(400, "initiatedBy must be microsoft or admin");
        const actor pwho{nullptr, by != c.query.end() && lower(by->second) == "microsoft"};
        if (body.is_object())
            if (const std::string e = resolve_policy_sim_keys(body, std::chrono::system_clock::now()); !e.empty())
                return admin_error(400, e);
        if (n == 4) {
            if (m == "GET") return admin_json(200, {{"value", t.sc.policies}});
            if (m != "POST") return admin_error(405, "use GET or POST");
            if (!body.is_object() || !body.contains("displayName")) return admin_error(400, "body must be a conditionalAccessPolicy with a displayName");
            if (!body.contains("id") || !body["id"].is_string()) body["id"] = new_uuid();
            if (t.find_policy(body["id"].get<std::string>())) return admin_error(409, "policy " + body["id"].get<std::string>() + " exists");
            if (!body.contains("createdDateTime")) body["createdDateTime"] = now_rfc3339();
            if (!body.contains("modifiedDateTime")) body["modifiedDateTime"] = nullptr;
            auto parsed = whatif::parse_policy(body);
            if (!parsed) return admin_error(400, "the what-if engine refuses this policy: " + parsed.err().message);
            t.parsed[lower(body["id"].get<std::string>())] = std::move(*parsed);
            t.sc.policies.push_back(body);
            audit_policy(t, pwho, "Add Conditional Access policy", "Add", nullptr, &body);
            return admin_json(201, body);
        }
        if (n == 5) {
            json* p = t.find_policy(seg[4]);
            if (!p) return admin_error(404, "unknown policy '" + seg[4] + "'");
            if (m == "GET") return admin_json(200, *p);
            if (m == "PATCH" || m == "PUT") {
                if (!body.is_object()) return admin_error(400, "body must be a JSON object");
                const json before = *p;
                json updated = m == "PUT" ? body : *p;
                if (m == "PATCH") deep_merge(updated, body);
                updated["id"] = before["id"];
                if (!updated.contains("createdDateTime")) updated["createdDateTime"] = before.value("createdDateTime", json(nullptr));
                updated["modifiedDateTime"] = now_rfc3339();
                auto parsed = whatif::parse_policy(updated);
                if (!parsed) return admin_error(400, "the what-if engine refuses this policy: " + parsed.err().message);
                *p = updated;
                t.parsed[lower(seg[4])] = std::move(*parsed);
                audit_policy(t, pwho, "Update Conditional Access policy", "Update", &before, p);
                return admin_json(200, *p);
            }
            if (m == "DELETE") {
                const json before = *p;
                t.parsed.erase(lower(seg[4]));
                t.sc.policies.erase(t.sc.policies.begin() + (p - t.sc.policies.data()));
                audit_policy(t, pwho, "Delete Conditional Access policy", "Delete", &before, nullptr);
                return admin_json(204, {});
            }
            return admin_error(405, "use GET, PATCH, PUT or DELETE");
        }
    }
    if (what == "users" && n >= 5) {
        user* u = t.find_user(seg[4]);
        if (!u) return admin_error(404, "unknown user '" + seg[4] + "'");
        if (n == 5) {
            if (m == "GET") return admin_json(200, user_admin_json(t, *u));
            if (m != "PATCH" && m != "PUT" && m != "POST") return admin_error(405, "use GET or PATCH");
            if (!body.is_object()) return admin_error(400, "body must be a JSON object of user fields");
            if (body.contains("perUserMfaState")) {
                const json& v = body["perUserMfaState"];
                if (!v.is_string() || (v != "disabled" && v != "enabled" && v != "enforced"))
                    return admin_error(400, "perUserMfaState must be disabled, enabled or enforced");
            }
            if (body.contains("signInOutcomeOverride") && !body["signInOutcomeOverride"].is_null() &&
                !body["signInOutcomeOverride"].is_number_integer())
                return admin_error(400, "signInOutcomeOverride must be an AADSTS code or null");
            if (body.contains("groups") && body["groups"].is_array())
                for (const auto& g : body["groups"])
                    if (!g.is_string() || !t.sc.groups.count(lower(g.get<std::string>())))
                        return admin_error(400, "unknown group " + g.dump());
            const std::string old_mfa = u->per_user_mfa_state;
            apply_user_fields(*u, body);
            if (old_mfa != u->per_user_mfa_state)
                audit(t, who, "Update user", "UserManagement", "Core Directory", "Update",
                      {{"id", u->id}, {"displayName", u->graph.value("displayName", u->upn)}, {"type", "User"}, {"userPrincipalName", u->upn}},
                      json::array({{{"displayName", "StrongAuthenticationRequirement"},
                                    {"oldValue", json::array({json{{"State", old_mfa}}}).dump()},
                                    {"newValue", json::array({json{{"State", u->per_user_mfa_state}}}).dump()}}}));
            return admin_json(200, user_admin_json(t, *u));
        }
        if (n >= 6 && seg[5] == "roles") {
            if (n == 6 && m == "GET") {
                json roles = json::array();
                for (const auto& ra : u->roles) roles.push_back(assignment_json(*u, ra));
                return admin_json(200, {{"value", roles}});
            }
            if (n == 6 && m == "POST") {
                const std::string rid = lower(body.value("roleDefinitionId", std::string()));
                if (!is_guid(rid)) return admin_error(400, "body needs {\"roleDefinitionId\": \"<role template id>\"}");
                for (const auto& ra : u->roles)
                    if (ra.role_definition_id == rid) return admin_json(200, assignment_json(*u, ra));
                role_assignment ra;
                ra.role_definition_id = rid;
                ra.id = body.value("id", role_assignment_id(rid, u->id));
                u->roles.push_back(ra);
                audit(t, who, "Add member to role", "RoleManagement", "Core Directory", "Assign",
                      {{"id", u->id}, {"displayName", u->graph.value("displayName", u->upn)}, {"type", "User"}, {"userPrincipalName", u->upn}},
                      json::array({{{"displayName", "Role.TemplateId"}, {"oldValue", ""}, {"newValue", json(rid).dump()}},
                                   {{"displayName", "Role.DisplayName"}, {"oldValue", ""}, {"newValue", json(role_name(rid)).dump()}}}));
                return admin_json(201, assignment_json(*u, ra));
            }
            if (n == 7 && m == "DELETE") {
                for (std::size_t i = 0; i < u->roles.size(); ++i) {
                    if (u->roles[i].id == seg[6] || u->roles[i].role_definition_id == lower(seg[6])) {
                        const std::string rid = u->roles[i].role_definition_id;
                        u->roles.erase(u->roles.begin() + static_cast<std::ptrdiff_t>(i));
                        audit(t, who, "Remove member from role", "RoleManagement", "Core Directory", "Unassign",
                              {{"id", u->id}, {"displayName", u->graph.value("displayName", u->upn)}, {"type", "User"}, {"userPrincipalName", u->upn}},
                              json::array({{{"displayName", "Role.TemplateId"}, {"oldValue", json(rid).dump()}, {"newValue", ""}}}));
                        return admin_json(204, {});
                    }
                }
                return admin_error(404, "user has no role assignment '" + seg[6] + "'");
            }
            return admin_error(405, "use GET or POST on .../roles, DELETE on .../roles/{roleTemplateId|assignmentId}");
        }
    }
    if (what == "apps" && n == 5) {
        app* a = t.find_app(seg[4]);
        if (!a) return admin_error(404, "unknown app '" + seg[4] + "'");
        if (m != "PATCH" && m != "PUT") return admin_error(405, "use PATCH");
        if (body.contains("permissions")) {
            if (!body["permissions"].is_array()) return admin_error(400, "permissions must be an array of strings");
            a->permissions.clear();
            for (const auto& p : body["permissions"])
                if (p.is_string()) a->permissions.insert(p.get<std::string>());
        }
        if (body.contains("publicClient") && body["publicClient"].is_boolean()) a->public_client = body["publicClient"].get<bool>();
        if (body.contains("clientSecret") && body["clientSecret"].is_string()) a->client_secret = body["clientSecret"].get<std::string>();
        if (body.contains("clientSecretExpired") && body["clientSecretExpired"].is_boolean())
            a->client_secret_expired = body["clientSecretExpired"].get<bool>();
        return admin_json(200, {{"appId", a->app_id}, {"permissions", a->permissions}, {"publicClient", a->public_client}});
    }
    if (what == "faults" && n == 4) {
        if (m == "GET") return admin_json(200, faults_to_json(t.sc.faults));
        if (m == "DELETE") {
            t.sc.faults = fault_config{};
            return admin_json(204, {});
        }
        if (m != "PUT" && m != "POST") return admin_error(405, "use GET, PUT/POST or DELETE");
        auto f = parse_faults(body, "faults");
        if (!f) return admin_error(400, f.err().message);
        t.sc.faults = std::move(*f);
        t.seed_rng();
        return admin_json(200, faults_to_json(t.sc.faults));
    }
    if (what == "ca-rate-limit" && n == 4) {
        if (m == "GET") return admin_json(200, {{"enabled", t.sc.ca_rate_limit_enabled}, {"requestsPerSecond", t.sc.ca_rate_limit_rps}});
        if (!body.contains("enabled") || !body["enabled"].is_boolean()) return admin_error(400, "body needs {\"enabled\": true|false}");
        t.sc.ca_rate_limit_enabled = body["enabled"].get<bool>();
        if (body.contains("requestsPerSecond") && body["requestsPerSecond"].is_number() && body["requestsPerSecond"].get<double>() > 0)
            t.sc.ca_rate_limit_rps = body["requestsPerSecond"].get<double>();
        t.ca_next_allowed = {};
        return admin_json(200, {{"enabled", t.sc.ca_rate_limit_enabled}, {"requestsPerSecond", t.sc.ca_rate_limit_rps}});
    }
    if (what == "tokens" && n == 5 && seg[4] == "revoke") {
        if (m != "POST") return admin_error(405, "use POST");
        ++t.token_generation;
        return admin_json(200, {{"revoked", true}, {"generation", t.token_generation}});
    }
    if (what == "requests" && n == 4) {
        if (m == "DELETE") {
            t.count = counters{};
            return admin_json(204, {});
        }
        return admin_json(200, tenant_counts_json(t.count));
    }
    if (what == "audits" && n == 4) return admin_json(200, {{"value", t.sc.audits}});
    if (what == "signins" && n == 4) {
        if (m == "GET") {
            std::vector<json> items(t.sc.sign_ins.rbegin(), t.sc.sign_ins.rend());
            std::stable_sort(items.begin(), items.end(), [](const json& a, const json& b) {
                return time_of(a, "createdDateTime") > time_of(b, "createdDateTime");
            });
            return admin_json(200, {{"value", items}});
        }
        if (m == "DELETE") {
            t.sc.sign_ins.clear();
            return admin_json(204, {});
        }
        if (m != "POST") return admin_error(405, "use GET, POST or DELETE");
        const json entries = body.is_array() ? body : json::array({body});
        for (std::size_t i = 0; i < entries.size(); ++i)
            if (const std::string e = check_sign_in(entries[i]); !e.empty())
                return admin_error(400, "signIns[" + std::to_string(i) + "]: " + e);
        json added = json::array();
        for (const auto& e : entries) {
            json filled = fill_sign_in(t, e);
            added.push_back(filled);
            t.add_sign_in(std::move(filled));
        }
        return admin_json(201, body.is_array() ? json{{"value", added}} : added[0]);
    }
    if (what == "whatif-answers" && n == 4) {
        if (m == "GET") return admin_json(200, t.sc.what_if_answers);
        if (m != "PUT") return admin_error(405, "use GET or PUT (PUT replaces; {} clears)");
        std::set<std::string> ids;
        for (const auto& p : t.sc.policies) ids.insert(lower(p.value("id", std::string())));
        auto a = parse_what_if_answers(body, ids, "whatif-answers");
        if (!a) return admin_error(400, a.err().message);
        t.sc.what_if_answers = std::move(*a);
        return admin_json(200, t.sc.what_if_answers);
    }
    return admin_error(404, "unknown admin path " + c.req.path + " (see tools/graph-sim/README.md)");
}

// ---------------------------------------------------------------------------------------------
// simulator

simulator::simulator(sim_options opts) : opts_(std::move(opts)), token_key_(random_bytes(32)) {}

result<std::unique_ptr<simulator>> simulator::create(sim_options opts) {
    std::unique_ptr<simulator> s(new simulator(std::move(opts)));
    if (auto st = s->load(); !st) return st.err();
    return s;
}

status simulator::load() {
    auto scenarios = load_scenarios(opts_.scenarios);
    if (!scenarios) return scenarios.err();
    std::vector<std::shared_ptr<tenant_state>> tenants;
    std::unordered_map<std::string, std::shared_ptr<tenant_state>> by_key;
    std::string errors;
    for (auto& sc : *scenarios) {
        auto t = std::make_shared<tenant_state>();
        t->sc = std::move(sc);
        if (opts_.ca_rate_limit) t->sc.ca_rate_limit_enabled = *opts_.ca_rate_limit;
        for (std::size_t i = 0; i < t->sc.policies.size(); ++i) {
            const json& p = t->sc.policies[i];
            auto parsed = whatif::parse_policy(p);
            if (!parsed) {
                errors += (errors.empty() ? "" : "\n") + t->sc.file.string() + ": field 'conditionalAccessPolicies[" +
                          std::to_string(i) + "]': the what-if engine refuses it: " + parsed.err().message;
                continue;
            }
            t->parsed[lower(p.value("id", std::string()))] = std::move(*parsed);
        }
        for (std::size_t i = 0; i < t->sc.named_locations.size(); ++i) {
            auto nl = whatif::parse_named_location(t->sc.named_locations[i]);
            if (!nl)
                errors += (errors.empty() ? "" : "\n") + t->sc.file.string() + ": field 'namedLocations[" + std::to_string(i) +
                          "]': " + nl.err().message;
        }
        // Sign-in log entries of the scenario, filled like the admin API's.
        std::vector<json> given = std::move(t->sc.sign_ins);
        t->sc.sign_ins.clear();
        for (auto& e : given) t->add_sign_in(sim_handlers::fill_sign_in(*t, std::move(e)));
        // Microsoft created each Microsoft-managed policy (graph.md §11.1): audited at its createdDateTime.
        for (const auto& p : t->sc.policies) {
            if (!is_microsoft_managed(p)) continue;
            const std::string when = p.contains("createdDateTime") && p["createdDateTime"].is_string()
                                         ? p["createdDateTime"].get<std::string>()
                                         : format_rfc3339(std::chrono::system_clock::now(), 7);
            sim_handlers::audit_policy(*t, sim_handlers::actor{nullptr, true}, "Add Conditional Access policy", "Add", nullptr, &p,
                                       when);
        }
        std::stable_sort(t->sc.audits.begin(), t->sc.audits.end(), [](const json& a, const json& b) {
            return time_of(a, "activityDateTime") < time_of(b, "activityDateTime");
        });
        t->seed_rng();
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
    auto it = by_key_.find(lower(key));
    return it == by_key_.end() ? nullptr : it->second;
}

http::server_response simulator::handle(const http::server_request& req) {
    const auto start = steady::now();
    std::string tenant = "-";
    http::server_response r;
    try {
        r = dispatch(req, tenant);
    } catch (const std::exception& e) {
        spdlog::error("{} {}: internal error: {}", req.method, req.path, e.what());
        r = http::server_response{500, {{"Content-Type", "application/json"}},
                                  R"({"error":{"code":"InternalServerError","message":"simulator error"}})"};
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start).count();
    spdlog::debug("{} {} tenant={} -> {}{} ({} ms{})", req.method, req.path, tenant,
                  r.reset_connection ? std::string("reset") : std::to_string(r.status), "", ms,
                  r.delay.count() ? ", +" + std::to_string(r.delay.count()) + " ms injected" : std::string());
    return r;
}

http::server_response simulator::dispatch(const http::server_request& req, std::string& tenant_for_log) {
    request_ctx c{req, new_uuid(), {}, {}, {}, {}};
    c.client_request_id = req.header("client-request-id");
    if (c.client_request_id.empty()) c.client_request_id = c.request_id;
    const std::string host = req.header("Host");
    c.base = "http://" + (host.empty() ? std::string("127.0.0.1") : host);
    c.query = parse_query(req.query);
    sim_handlers h{*this};
    const auto seg = split_path(req.path);
    if (!seg.empty() && seg[0] == "_sim") return h.admin(c, tenant_for_log);
    if (seg.size() == 4 && seg[1] == "oauth2" && seg[2] == "v2.0" && seg[3] == "token")
        return h.token_endpoint(c, seg[0], tenant_for_log);
    if (!seg.empty() && (seg[0] == "v1.0" || seg[0] == "beta")) return h.graph(c, tenant_for_log);
    return sim_handlers::graph_error(c, 404, "ResourceNotFound",
                                     "Resource not found for the segment '" + (seg.empty() ? std::string("/") : seg[0]) + "'.");
}

}  // namespace connguard::graph_sim
