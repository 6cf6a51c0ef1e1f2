#include "agent/graph/graph_client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "agent/graph/signin_classifier.h"
#include "common/http/http_client.h"
#include "common/log.h"

namespace connguard::graph {

using nlohmann::json;
using namespace std::chrono_literals;

// ---- call table ------------------------------------------------------------------------------

const char* to_string(graph_call c) {
    switch (c) {
        case graph_call::security_defaults: return "read security defaults";
        case graph_call::ca_policies: return "list CA policies";
        case graph_call::ca_policy_get: return "get CA policy";
        case graph_call::ca_policy_patch: return "update CA policy";
        case graph_call::named_locations: return "list named locations";
        case graph_call::user_by_upn: return "get user";
        case graph_call::transitive_member_of: return "list transitive group memberships";
        case graph_call::role_assignments: return "list role assignments";
        case graph_call::role_assignment_delete: return "delete role assignment";
        case graph_call::registration_details: return "read MFA registration details";
        case graph_call::per_user_mfa_get: return "read per-user MFA state";
        case graph_call::per_user_mfa_patch: return "set per-user MFA state";
        case graph_call::sign_ins: return "read the sign-in log";
        case graph_call::directory_audits: return "read the directory audit log";
        case graph_call::ca_evaluate: return "ask Conditional Access What If";
    }
    return "graph call";
}

const char* required_permission(graph_call c) {
    switch (c) {
        case graph_call::security_defaults:
        case graph_call::ca_policies:
        case graph_call::ca_policy_get:
        case graph_call::named_locations:
        case graph_call::per_user_mfa_get:
            return "Policy.Read.All";
        case graph_call::ca_policy_patch: return "Policy.ReadWrite.ConditionalAccess + Policy.Read.All";
        case graph_call::user_by_upn: return "User.Read.All";
        case graph_call::transitive_member_of: return "GroupMember.Read.All";
        case graph_call::role_assignments: return "RoleManagement.Read.Directory";
        case graph_call::role_assignment_delete: return "RoleManagement.ReadWrite.Directory";
        case graph_call::registration_details: return "AuditLog.Read.All";
        case graph_call::per_user_mfa_patch: return "Policy.ReadWrite.AuthenticationMethod";
        case graph_call::sign_ins:
        case graph_call::directory_audits: return "AuditLog.Read.All";
        case graph_call::ca_evaluate: return "Policy.Read.ConditionalAccess";
    }
    return "";
}

snapshot::collect_error to_collect_error(const error& e, graph_call c) {
    snapshot::collect_error out{e.code, e.message, {}};
    if (e.code == "graph.forbidden") out.missing_permission = required_permission(c);
    return out;
}

// ---- helpers ---------------------------------------------------------------------------------

namespace {

std::string strip_trailing_slash(std::string s) {
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
}

/// A path segment: unreserved characters and '@' stay, everything else is %-encoded.
std::string segment(const std::string& s) {
    std::string out;
    for (const char c : s) {
        if (c == '@') out.push_back(c);
        else out += http::url_encode(std::string(1, c));
    }
    return out;
}

bool is_ca_endpoint(const std::string& url) { return url.find("/identity/conditionalAccess/") != std::string::npos; }

std::string_view strip_bom(std::string_view body) {
    if (body.size() >= 3 && static_cast<unsigned char>(body[0]) == 0xEF && static_cast<unsigned char>(body[1]) == 0xBB &&
        static_cast<unsigned char>(body[2]) == 0xBF)
        body.remove_prefix(3);
    return body;
}

json parse_json(std::string_view body) {
    body = strip_bom(body);
    return json::parse(body.begin(), body.end(), nullptr, false);
}

std::string str(const json& j, const char* key) {
    if (!j.is_object()) return {};
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

/// Graph's error JSON: {"error":{"code","message","innerError"|"innererror":{"code","request-id"}}}.
std::string describe_graph_error(const http::response& resp) {
    const json j = parse_json(resp.body);
    std::string out;
    if (j.is_object() && j.contains("error") && j["error"].is_object()) {
        const json& e = j["error"];
        out = str(e, "code");
        json inner;
        if (e.contains("innerError")) inner = e["innerError"];
        else if (e.contains("innererror")) inner = e["innererror"];
        const std::string inner_code = str(inner, "code");
        if (!inner_code.empty() && inner_code != out) out += "/" + inner_code;
        const std::string msg = str(e, "message");
        if (!msg.empty()) out += (out.empty() ? "" : ": ") + msg;
        std::string rid = str(inner, "request-id");
        if (rid.empty()) rid = resp.header("request-id");
        if (!rid.empty()) out += " [request-id " + rid + "]";
    } else if (!resp.body.empty()) {
        out = "non-JSON error body";
    }
    return out;
}

/// The path of a URL (scheme and authority removed, query kept short) for messages.
std::string path_for_message(const std::string& url) {
    std::string p = url;
    if (const auto s = p.find("://"); s != std::string::npos) {
        const auto slash = p.find('/', s + 3);
        p = slash == std::string::npos ? "/" : p.substr(slash);
    }
    if (const auto q = p.find("$skiptoken"); q != std::string::npos) p = p.substr(0, q) + "$skiptoken=...";
    if (p.size() > 200) p = p.substr(0, 200) + "...";
    return p;
}

std::string first_line(const std::string& s) {
    const auto e = s.find_first_of("\r\n");
    return e == std::string::npos ? s : s.substr(0, e);
}

/// Retry-After in seconds (may be fractional); nullopt when absent or not a number of seconds.
std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& v) {
    if (v.empty()) return std::nullopt;
    char* end = nullptr;
    const double secs = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || !std::isfinite(secs) || secs < 0) return std::nullopt;
    return std::chrono::milliseconds{static_cast<long long>(std::ceil(secs * 1000.0))};
}

result<std::string> read_text_file(const std::filesystem::path& file, const char* what) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return make_error("graph.credential", std::string("cannot read ") + what + " file " + file.string());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool retriable_status(long s) { return s == 429 || s == 500 || s == 502 || s == 503 || s == 504; }

}  // namespace

// ---- impl ------------------------------------------------------------------------------------

struct graph_client::impl {
    http::client http;
    std::string token;
    clock::time_point token_expires{};
    clock::time_point token_renew_at{};
    std::optional<std::string> certificate_pem;
    std::optional<std::string> private_key_pem;
    bool have_last_ca = false;
    std::chrono::steady_clock::time_point last_ca{};  ///< end of the last CA exchange (real time)
    int budget_left = 0;
    /// A refusal by the token endpoint (bad secret, unknown app, ...) is remembered for the rest of
    /// the cycle instead of being asked again for every item.
    std::optional<error> token_refusal;
    std::mt19937_64 rng{std::random_device{}()};
};

graph_client::graph_client(graph_client_options opts, const connguard::clock& clk)
    : opts_(std::move(opts)), clock_(clk), impl_(std::make_unique<impl>()) {
    opts_.authority_url = strip_trailing_slash(opts_.authority_url);
    opts_.graph_url = strip_trailing_slash(opts_.graph_url);
    opts_.graph_resource = strip_trailing_slash(opts_.graph_resource);
    if (!opts_.sleep) opts_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
    if (!opts_.client_secret.empty()) log::add_secret(opts_.client_secret);
    impl_->budget_left = opts_.retry_budget;
}

graph_client::~graph_client() = default;

void graph_client::reset_cycle_counters() {
    counters_ = {};
    impl_->budget_left = opts_.retry_budget;
    impl_->token_refusal.reset();
}

void graph_client::invalidate_token() {
    impl_->token.clear();
    impl_->token_expires = {};
    impl_->token_renew_at = {};
}

namespace {

/// Shared retry loop state for one logical request.
struct attempt_state {
    int retries = 0;
    int backoff_step = 0;
};

}  // namespace

// The retry policy, shared by Graph requests and token requests. Returns the wait before the next
// attempt, or nullopt when no retry is left (per request or in the cycle budget).
static std::optional<std::chrono::milliseconds> next_wait(const graph_client_options& o, int& budget_left,
                                                          attempt_state& st, std::mt19937_64& rng,
                                                          std::optional<std::chrono::milliseconds> retry_after) {
    if (st.retries >= o.max_retries || budget_left <= 0) return std::nullopt;
    ++st.retries;
    --budget_left;
    if (retry_after) return std::min(*retry_after, o.retry_after_cap);
    // Exponential backoff with "equal jitter": half fixed, half random, capped.
    const double base = std::min<double>(static_cast<double>(o.backoff_cap.count()),
                                         static_cast<double>(o.backoff_initial.count()) * std::pow(2.0, st.backoff_step));
    ++st.backoff_step;
    std::uniform_real_distribution<double> jitter(0.0, base / 2.0);
    return std::chrono::milliseconds{static_cast<long long>(base / 2.0 + jitter(rng))};
}

// ---- token endpoint --------------------------------------------------------------------------

/// POSTs a form to the tenant's token endpoint with the retry policy (429, 5xx, transport).
static result<http::response> post_token_endpoint(graph_client::impl& im, const graph_client_options& o,
                                                  request_counters& counters, const std::string& form,
                                                  const std::string& what) {
    http::request req;
    req.method = "POST";
    req.url = o.authority_url + "/" + segment(o.azure_tenant_id) + "/oauth2/v2.0/token";
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
    req.body = form;
    req.timeout = o.request_timeout;
    req.ca_file = o.ca_file;
    req.cancelled = o.cancelled;
    attempt_state st;
    const std::string where = "tenant " + o.tenant_key + ": " + what + " (POST " + path_for_message(req.url) + ")";
    for (;;) {
        ++counters.token_requests;
        auto r = im.http.perform(req);
        std::optional<std::chrono::milliseconds> retry_after;
        std::string failure;
        std::string code;
        if (!r) {
            failure = r.err().message;
            code = "graph.network";
        } else if (retriable_status(r->status)) {
            if (r->status == 429) {
                ++counters.throttled;
                retry_after = parse_retry_after(r->header("Retry-After"));
                code = "graph.throttled";
            } else {
                code = "graph.http";
            }
            failure = "HTTP " + std::to_string(r->status);
        } else {
            return std::move(*r);
        }
        if (o.cancelled && o.cancelled())
            return make_error("graph.cancelled", where + ": stopped (" + failure + "); not retried");
        const auto wait = next_wait(o, im.budget_left, st, im.rng, retry_after);
        if (!wait) {
            return make_error(code, where + ": " + failure + " after " + std::to_string(st.retries) + " retries");
        }
        ++counters.retries;
        spdlog::warn("{}: {}; retry {} in {} ms", where, failure, st.retries, wait->count());
        o.sleep(*wait);
    }
}

result<std::string> graph_client::access_token() {
    const auto now = clock_.now();
    if (!impl_->token.empty() && now < impl_->token_renew_at) return impl_->token;
    if (impl_->token_refusal) return *impl_->token_refusal;

    std::vector<std::pair<std::string, std::string>> fields{
        {"client_id", opts_.client_id},
        {"scope", opts_.graph_resource + "/.default"},
        {"grant_type", "client_credentials"},
    };
    const bool use_cert = !opts_.certificate_file.empty();
    if (use_cert) {
        if (!impl_->certificate_pem) {
            auto cert = read_text_file(opts_.certificate_file, "certificate");
            if (!cert) return make_error(cert.err().code, "tenant " + opts_.tenant_key + ": " + cert.err().message);
            impl_->certificate_pem = std::move(*cert);
        }
        if (!impl_->private_key_pem) {
            if (!opts_.private_key_pem.empty()) {
                impl_->private_key_pem = opts_.private_key_pem;
            } else {
                auto key = read_text_file(opts_.private_key_file, "private key");
                if (!key) return make_error(key.err().code, "tenant " + opts_.tenant_key + ": " + key.err().message);
                impl_->private_key_pem = std::move(*key);
            }
        }
        assertion_params ap;
        ap.client_id = opts_.client_id;
        ap.audience = opts_.authority_url + "/" + opts_.azure_tenant_id + "/oauth2/v2.0/token";
        ap.certificate_pem = *impl_->certificate_pem;
        ap.private_key_pem = *impl_->private_key_pem;
        ap.alg = opts_.assertion_algorithm;
        ap.now = now;
        auto assertion = build_client_assertion(ap);
        if (!assertion)
            return make_error("graph.credential", "tenant " + opts_.tenant_key + ": certificate " +
                                                      opts_.certificate_file.string() + ": " + assertion.err().message);
        fields.emplace_back("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        fields.emplace_back("client_assertion", *assertion);
    } else if (!opts_.client_secret.empty()) {
        fields.emplace_back("client_secret", opts_.client_secret);
    } else {
        return make_error("graph.credential",
                          "tenant " + opts_.tenant_key + ": no app credential configured (client secret or certificate)");
    }

    auto resp = post_token_endpoint(*impl_, opts_, counters_, http::form_encode(fields),
                                    "app token for client " + opts_.client_id);
    if (!resp) return resp.err();
    const json j = parse_json(resp->body);
    const std::string where = "tenant " + opts_.tenant_key + ": app token for client " + opts_.client_id;
    if (resp->status != 200) {
        std::string detail = "HTTP " + std::to_string(resp->status);
        if (j.is_object()) {
            if (!str(j, "error").empty()) detail += " " + str(j, "error");
            const std::string desc = first_line(str(j, "error_description"));
            if (desc.rfind("AADSTS", 0) != 0 && j.contains("error_codes") && j["error_codes"].is_array() &&
                !j["error_codes"].empty())
                detail += " AADSTS" + j["error_codes"][0].dump();
            if (!desc.empty()) detail += ": " + desc;
        }
        impl_->token_refusal = make_error("graph.token", log::redact(where + ": " + detail));
        return *impl_->token_refusal;
    }
    const std::string token = str(j, "access_token");
    long long expires_in = 0;
    if (j.is_object() && j.contains("expires_in")) {
        const json& e = j["expires_in"];
        if (e.is_number_integer()) expires_in = e.get<long long>();
        else if (e.is_string()) expires_in = std::atoll(e.get<std::string>().c_str());
    }
    if (token.empty() || expires_in <= 0)
        return make_error("graph.token", where + ": token endpoint answered 200 without access_token/expires_in");
    // The token is never logged (and log redaction masks "Bearer ..." anyway); it is not added to
    // log::add_secret, whose list would grow by one entry per token for the life of the process.
    impl_->token = token;
    impl_->token_expires = now + std::chrono::seconds{expires_in};
    const auto margin = std::min<std::chrono::seconds>(opts_.token_refresh_margin, std::chrono::seconds{expires_in / 2});
    impl_->token_renew_at = impl_->token_expires - margin;
    spdlog::debug("tenant {}: app token acquired ({} s)", opts_.tenant_key, expires_in);
    return impl_->token;
}

// ---- sign-in probe ---------------------------------------------------------------------------

result<snapshot::signin_result> graph_client::probe_signin(const probe_request& req) {
    log::add_secret(req.password);
    const std::string form = http::form_encode({
        {"client_id", req.client_id},
        {"scope", scope_for_resource(req.resource_app_id)},
        {"username", req.username},
        {"password", req.password},
        {"grant_type", "password"},
    });
    auto resp = post_token_endpoint(*impl_, opts_, counters_, form,
                                    "sign-in probe for " + req.username + " to " + req.resource_app_id);
    if (!resp) return resp.err();
    auto r = classify_token_response(resp->status, resp->body, req.resource_app_id);
    r.error_description = log::redact(r.error_description);
    spdlog::info("tenant {}: sign-in probe for {} to {}: {} (AADSTS {})", opts_.tenant_key, req.username,
                 req.resource_app_id, snapshot::to_string(r.outcome), r.aadsts_code);
    return r;
}

// ---- Graph requests --------------------------------------------------------------------------

namespace {

struct graph_request {
    graph_call call;
    std::string method;
    std::string url;  ///< absolute
    std::string body;
    std::string prefer = {};  ///< Prefer header value, when the call needs one
};

}  // namespace

/// One Graph request with token, CA pacing, 401 refresh, and the retry policy. Any answer that is
/// not retried (2xx, 3xx, 4xx other than 401/429) is returned for the caller to interpret.
static result<http::response> send_graph(graph_client& gc, graph_client::impl& im, const graph_client_options& o,
                                         request_counters& counters, const graph_request& gr) {
    const std::string where =
        "tenant " + o.tenant_key + ": " + to_string(gr.call) + " (" + gr.method + " " + path_for_message(gr.url) + ")";
    attempt_state st;
    bool refreshed = false;
    const bool paced = is_ca_endpoint(gr.url);
    for (;;) {
        auto token = gc.access_token();
        if (!token) return make_error(token.err().code, token.err().message + " (needed to " + to_string(gr.call) + ")");
        if (paced && im.have_last_ca) {
            const auto next = im.last_ca + o.ca_pacing_interval;
            const auto now = std::chrono::steady_clock::now();
            if (now < next) {
                const auto wait = std::min(std::chrono::duration_cast<std::chrono::milliseconds>(next - now),
                                           o.ca_pacing_interval);
                o.sleep(wait);
            }
        }
        http::request req;
        req.method = gr.method;
        req.url = gr.url;
        req.headers = {{"Authorization", "Bearer " + *token}, {"Accept", "application/json"}};
        if (!gr.body.empty()) req.headers.emplace_back("Content-Type", "application/json");
        if (!gr.prefer.empty()) req.headers.emplace_back("Prefer", gr.prefer);
        req.body = gr.body;
        req.timeout = o.request_timeout;
        req.ca_file = o.ca_file;
        if (gr.method == "GET") req.cancelled = o.cancelled;
        ++counters.graph_requests;
        auto r = im.http.perform(req);
        if (paced) {
            // Spacing is measured from the end of the previous exchange, so it also holds at the server.
            im.have_last_ca = true;
            im.last_ca = std::chrono::steady_clock::now();
        }
        std::optional<std::chrono::milliseconds> retry_after;
        std::string failure;
        std::string code;
        if (!r) {
            failure = r.err().message;
            code = "graph.network";
        } else if (r->status == 401) {
            if (!refreshed) {
                refreshed = true;
                spdlog::info("{}: 401, refreshing the app token once", where);
                gc.invalidate_token();
                continue;
            }
            return make_error("graph.unauthorized", where + ": 401 again after a token refresh: " + describe_graph_error(*r));
        } else if (retriable_status(r->status)) {
            if (r->status == 429) {
                ++counters.throttled;
                retry_after = parse_retry_after(r->header("Retry-After"));
                code = "graph.throttled";
                failure = "429 throttled" + std::string(retry_after ? " (Retry-After " + r->header("Retry-After") + " s)"
                                                                    : " (no Retry-After)");
            } else {
                code = "graph.http";
                failure = std::to_string(r->status) + " " + describe_graph_error(*r);
            }
        } else {
            spdlog::debug("{}: {}", where, r->status);
            return std::move(*r);
        }
        if (o.cancelled && o.cancelled())
            return make_error("graph.cancelled", where + ": stopped (" + failure + "); not retried");
        const auto wait = next_wait(o, im.budget_left, st, im.rng, retry_after);
        if (!wait) {
            const bool budget = im.budget_left <= 0 && st.retries < o.max_retries;
            return make_error(code, where + ": " + failure + " after " + std::to_string(st.retries) + " retries" +
                                        (budget ? " (cycle retry budget exhausted)" : ""));
        }
        ++counters.retries;
        spdlog::warn("{}: {}; retry {} in {} ms", where, failure, st.retries, wait->count());
        o.sleep(*wait);
    }
}

namespace {

error status_error(const graph_client_options& o, const graph_request& gr, const http::response& resp) {
    const std::string where =
        "tenant " + o.tenant_key + ": " + to_string(gr.call) + " (" + gr.method + " " + path_for_message(gr.url) + ")";
    const std::string detail = describe_graph_error(resp);
    const std::string tail = detail.empty() ? "" : " " + detail;
    if (resp.status == 403)
        return make_error("graph.forbidden", where + ": 403" + tail + "; the app needs the application permission " +
                                                 required_permission(gr.call));
    if (resp.status == 404) return make_error("graph.not_found", where + ": 404" + tail);
    return make_error("graph.http", where + ": unexpected HTTP " + std::to_string(resp.status) + tail);
}

error malformed(const graph_client_options& o, const graph_request& gr, const std::string& why) {
    return make_error("graph.malformed", "tenant " + o.tenant_key + ": " + to_string(gr.call) + " (" + gr.method + " " +
                                             path_for_message(gr.url) + "): " + why);
}

}  // namespace

/// Private helpers with access to the client's state.
struct graph_ops {
    graph_client& gc;
    graph_client::impl& im;
    const graph_client_options& o;
    request_counters& counters;

    result<http::response> send(const graph_request& gr) { return send_graph(gc, im, o, counters, gr); }

    /// GET a JSON object (2xx); a non-object body is graph.malformed; other statuses are errors.
    result<json> get_object(graph_call c, const std::string& url) {
        graph_request gr{c, "GET", url, {}};
        auto r = send(gr);
        if (!r) return r.err();
        if (r->status < 200 || r->status >= 300) return status_error(o, gr, *r);
        json j = parse_json(r->body);
        if (!j.is_object()) return malformed(o, gr, "the body is not a JSON object (" + std::to_string(r->body.size()) + " bytes)");
        return j;
    }

    /// GET every page of a collection, following @odata.nextLink until it is absent.
    result<std::vector<json>> get_all(graph_call c, const std::string& first_url) {
        std::vector<json> items;
        std::string url = first_url;
        for (int page = 0;; ++page) {
            if (page >= 1000) return malformed(o, {c, "GET", first_url, {}}, "more than 1000 pages; paging loop?");
            auto j = get_object(c, url);
            if (!j) return j.err();
            const graph_request gr{c, "GET", url, {}};
            const auto v = j->find("value");
            if (v == j->end() || !v->is_array()) return malformed(o, gr, "page " + std::to_string(page + 1) + " has no 'value' array");
            for (auto& item : *v) items.push_back(std::move(item));
            const auto next = j->find("@odata.nextLink");
            if (next == j->end() || next->is_null()) break;
            if (!next->is_string()) return malformed(o, gr, "@odata.nextLink is not a string");
            auto resolved = resolve_next_link(next->get<std::string>());
            if (!resolved) return malformed(o, gr, resolved.err().message);
            if (*resolved == url) return malformed(o, gr, "@odata.nextLink points at the same page");
            url = std::move(*resolved);
        }
        return items;
    }

    /// The bearer token is only ever sent to the configured Graph base: a nextLink elsewhere is refused.
    result<std::string> resolve_next_link(const std::string& link) {
        if (!link.empty() && link.front() == '/') return o.graph_url + link;
        if (link.rfind(o.graph_url + "/", 0) == 0) return link;
        return make_error("graph.malformed", "@odata.nextLink " + path_for_message(link) + " is outside the Graph base " + o.graph_url);
    }
};


result<bool> graph_client::security_defaults_enabled() {
    graph_ops ops{*this, *impl_, opts_, counters_};
    const std::string url = opts_.graph_url + "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy";
    auto j = ops.get_object(graph_call::security_defaults, url);
    if (!j) return j.err();
    const auto it = j->find("isEnabled");
    if (it == j->end() || !it->is_boolean())
        return malformed(opts_, {graph_call::security_defaults, "GET", url, {}}, "no boolean 'isEnabled'");
    return it->get<bool>();
}

namespace {

/// Each item of a policy/location collection must be an object with a string id.
status check_items(const graph_client_options& o, graph_call c, const std::string& url, const std::vector<json>& items) {
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (!items[i].is_object() || str(items[i], "id").empty())
            return malformed(o, {c, "GET", url, {}}, "item " + std::to_string(i) + " is not an object with an 'id'");
    }
    return {};
}

}  // namespace

result<std::vector<json>> graph_client::list_ca_policies() {
    graph_ops ops{*this, *impl_, opts_, counters_};
    const std::string url = opts_.graph_url + "/v1.0/identity/conditionalAccess/policies";
    auto items = ops.get_all(graph_call::ca_policies, url);
    if (!items) return items.err();
    if (auto st = check_items(opts_, graph_call::ca_policies, url, *items); !st) return st.err();
    return items;
}

result<std::optional<json>> graph_client::get_ca_policy(const std::string& policy_id) {
    graph_ops ops{*this, *impl_, opts_, counters_};
    const std::string url = opts_.graph_url + "/v1.0/identity/conditionalAccess/policies/" + segment(policy_id);
    auto j = ops.get_object(graph_call::ca_policy_get, url);
    if (!j) {
        if (j.err().code == "graph.not_found") return std::optional<json>{};
        return j.err();
    }
    if (str(*j, "id").empty()) return malformed(opts_, {graph_call::ca_policy_get, "GET", url, {}}, "no 'id'");
    return std::optional<json>{std::move(*j)};
}

result<std::vector<json>> graph_client::list_named_locations() {
    graph_ops ops{*this, *impl_, opts_, counters_};
    const std::string url = opts_.graph_url + "/v1.0/identity/conditionalAccess/namedLocations";
    auto items = ops.get_all(graph_call::named_locations, url);
    if (!items) return items.err();
    if (auto st = check_items(opts_, graph_call::named_locations, url, *items); !st) return st.err();
    return items;
}

result<std::optional<snapshot::account>> graph_client::get_user(const std::string& upn) {
    graph_ops ops{*this, *impl_, opts_, counters_};
    const std::string url = opts_.graph_url + "/v1.0/users/" + segment(upn) +
                            "?$select=id,userPrincipalName,displayName,accountEnabled,userType";
    auto j = ops.get_object(graph_call::user_by_upn, url);
    if (!j) {
        if (j.err().code == "graph.not_found") return std::optional<snapshot::account>{};
        return j.err();
    }
    snapshot::account a;
    a.id = str(*j, "id");
    if (a.id.empty()) return malformed(opts_, {graph_call::user_by_upn, "GET", url, {}}, "the user has no 'id'");
    a.user_principal_name = str(*j, "userPrincipalName");
    a.display_name = str(*j, "displayName");
    if (const auto e = j->find("accountEnabled"); e != j->end() && !e->is_null()) {
        if (!e->is_boolean()) return malformed(opts_, {graph_call::user_by_upn, "GET", url, {}}, "'accountEnabled' is not a boolean");
        a.account_enabled = e->get<bool>();
    }
    if (const std::string t = str(*j, "userType"); !t.empty()) a.user_type = t;
    return std::optional<snapshot::account>{std::move(a)};
}

result<std::vector<std::string>> graph_client::transitive_group_ids(const std::string& user_id) {
    graph_ops ops{*this, *impl_, opts_, counters_};
    const std::string url = opts_.graph_url + "/v1.0/users/" + segment(user_id) + "/transitiveMemberOf";
    auto items = ops.get_all(graph_call::transitive_member_of, url);
    if (!items) return items.err();
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < items->size(); ++i) {
        const json& it = (*items)[i];
        if (!it.is_object() || str(it, "id").empty())
            return malformed(opts_, {graph_call::transitive_member_of, "GET", url, {}},
                             "item " + std::to_string(i) + " is not an object with an 'id'");
        const std::string type = str(it, "@odata.type");
        if (!type.empty() && type != "#microsoft.graph.group") continue;  // directoryRole, administrativeUnit, ...
        ids.push_back(str(it, "id"));
    }
    return ids;
}

result<std::vector<snapshot::role_assignment>> graph_client::role_assignments(const std::string& user_id) {
    graph_ops ops{*this, *impl_, opts_, counters_};
    const std::string url = opts_.graph_url + "/v1.0/roleManagement/directory/roleAssignments?$filter=" +
                            http::url_encode("principalId eq '" + user_id + "'");
    auto items = ops.get_all(graph_call::role_assignments, url);
    if (!items) return items.err();
    std::vector<snapshot::role_assignment> out;
    for (std::size_t i = 0; i < items->size(); ++i) {
        const json& it = (*items)[i];
        snapshot::role_assignment ra;
        ra.id = str(it, "id");
        ra.role_template_id = str(it, "roleDefinitionId");
        ra.directory_scope_id = str(it, "directoryScopeId");
        if (ra.directory_scope_id.empty()) ra.directory_scope_id = "/";
        if (ra.id.empty() || ra.role_template_id.empty())
            return malformed(opts_, {graph_call::role_assignments, "GET", url, {}},
                             "item " + std::to_string(i) + " lacks 'id' or 'roleDefinitionId'");
        // The filter is the server's job, but never attribute someone else's role to the account.
        if (const std::string p = str(it, "principalId"); !p.empty() && p != user_id) continue;
        out.push_back(std::move(ra));
    }
    return out;
}

result<snapshot::registration> graph_client::registration_details(const std::string& user_id) {
    graph_ops ops{*this, *impl_, opts_, counters_};
    const std::string url =
        opts_.graph_url + "/v1.0/reports/authenticationMethods/userRegistrationDetails/" + segment(user_id);
    auto j = ops.get_object(graph_call::registration_details, url);
    if (!j) return j.err();
    const graph_request gr{graph_call::registration_details, "GET", url, {}};
    snapshot::registration reg;
    for (auto [key, field] : {std::pair{"isMfaRegistered", &reg.is_mfa_registered}, std::pair{"isMfaCapable", &reg.is_mfa_capable}}) {
        const auto it = j->find(key);
        if (it == j->end() || it->is_null()) continue;
        if (!it->is_boolean()) return malformed(opts_, gr, std::string("'") + key + "' is not a boolean");
        *field = it->get<bool>();
    }
    if (!j->contains("isMfaRegistered")) return malformed(opts_, gr, "no 'isMfaRegistered'");
    if (const auto m = j->find("methodsRegistered"); m != j->end() && !m->is_null()) {
        if (!m->is_array()) return malformed(opts_, gr, "'methodsRegistered' is not an array");
        for (const auto& v : *m)
            if (v.is_string()) reg.methods_registered.push_back(v.get<std::string>());
    }
    return reg;
}

result<std::string> graph_client::per_user_mfa_state(const std::string& user_id) {
    graph_ops ops{*this, *impl_, opts_, counters_};
    const std::string url = opts_.graph_url + "/beta/users/" + segment(user_id) + "/authentication/requirements";
    auto j = ops.get_object(graph_call::per_user_mfa_get, url);
    if (!j) return j.err();
    const std::string state = str(*j, "perUserMfaState");
    if (state.empty())
        return malformed(opts_, {graph_call::per_user_mfa_get, "GET", url, {}}, "no string 'perUserMfaState'");
    return state;
}

// ---- logs and What If ------------------------------------------------------------------------

namespace {

/// Graph's answer to a sign-in log read in a tenant without Entra ID P1 (graph.md §8.6).
bool not_premium(const http::response& resp) {
    if (resp.status != 403) return false;
    const json j = parse_json(resp.body);
    return j.is_object() && j.contains("error") && j["error"].is_object() &&
           str(j["error"], "code") == "Authentication_RequestFromNonPremiumTenantOrB2CTenant";
}

std::string nested_str(const json& j, const char* outer, const char* key) {
    if (!j.is_object()) return {};
    const auto it = j.find(outer);
    return it != j.end() && it->is_object() ? str(*it, key) : std::string{};
}

}  // namespace

result<std::vector<snapshot::signin_log_entry>> graph_client::recent_signins(const std::string& user_id,
                                                                             const std::string& after, int top) {
    graph_ops ops{*this, *impl_, opts_, counters_};
    std::string filter = "userId eq '" + user_id + "' and signInEventTypes/any(t: t eq 'nonInteractiveUser')";
    if (!after.empty()) filter += " and createdDateTime gt " + after;
    const std::string url = opts_.graph_url + "/beta/auditLogs/signIns?$filter=" + http::url_encode(filter) +
                            "&$top=" + std::to_string(std::clamp(top, 1, 1000));
    graph_request gr{graph_call::sign_ins, "GET", url, {}, "include-unknown-enum-members"};
    auto r = ops.send(gr);
    if (!r) return r.err();
    if (not_premium(*r))
        return make_error("graph.not_premium", "tenant " + opts_.tenant_key + ": " + to_string(gr.call) + " (GET " +
                                                   path_for_message(url) + "): 403 " + describe_graph_error(*r) +
                                                   "; the sign-in log needs Entra ID P1 or P2");
    if (r->status < 200 || r->status >= 300) return status_error(opts_, gr, *r);
    const json j = parse_json(r->body);
    if (!j.is_object() || !j.contains("value") || !j["value"].is_array())
        return malformed(opts_, gr, "the body is not a JSON object with a 'value' array");
    std::vector<snapshot::signin_log_entry> out;
    for (std::size_t i = 0; i < j["value"].size(); ++i) {
        const json& e = j["value"][i];
        snapshot::signin_log_entry x;
        x.id = str(e, "id");
        x.created = str(e, "createdDateTime");
        if (!e.is_object() || x.created.empty())
            return malformed(opts_, gr, "item " + std::to_string(i) + " is not a sign-in with a 'createdDateTime'");
        // The filter is the server's job, but never attribute someone else's sign-in to the account.
        if (const std::string u = str(e, "userId"); !u.empty() && u != user_id) continue;
        x.app_id = str(e, "appId");
        x.app_name = str(e, "appDisplayName");
        x.resource_id = str(e, "resourceId");
        x.resource_name = str(e, "resourceDisplayName");
        x.ip_address = str(e, "ipAddress");
        x.country = nested_str(e, "location", "countryOrRegion");
        x.client_app_used = str(e, "clientAppUsed");
        if (const auto st = e.find("status"); st != e.end() && st->is_object()) {
            if (const auto c = st->find("errorCode"); c != st->end() && !c->is_null()) {
                if (!c->is_number_integer()) return malformed(opts_, gr, "item " + std::to_string(i) + ": status.errorCode is not a number");
                x.error_code = c->get<int>();
            }
            x.failure_reason = str(*st, "failureReason");
        }
        if (const auto ap = e.find("appliedConditionalAccessPolicies"); ap != e.end() && ap->is_array()) {
            for (const auto& p : *ap) {
                if (!p.is_object()) continue;
                x.applied_policies.push_back({str(p, "id"), str(p, "displayName"), str(p, "result")});
            }
        }
        out.push_back(std::move(x));
    }
    return out;
}

result<std::vector<snapshot::policy_audit>> graph_client::policy_audits_since(const std::string& since) {
    graph_ops ops{*this, *impl_, opts_, counters_};
    std::string filter = "category eq 'Policy'";
    if (!since.empty()) filter += " and activityDateTime ge " + since;
    const std::string url = opts_.graph_url + "/v1.0/auditLogs/directoryAudits?$filter=" + http::url_encode(filter);
    auto items = ops.get_all(graph_call::directory_audits, url);
    if (!items) return items.err();
    std::vector<snapshot::policy_audit> out;
    for (const auto& e : *items) {
        if (!e.is_object()) continue;
        const std::string activity = str(e, "activityDisplayName");
        // Activities match case-insensitively (graph.md §8.5: the casing differs between sources).
        std::string lower_activity = activity;
        for (auto& ch : lower_activity) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (lower_activity.find("conditional access policy") == std::string::npos) continue;
        snapshot::policy_audit a;
        a.activity = activity;
        a.time = str(e, "activityDateTime");
        if (const auto by = e.find("initiatedBy"); by != e.end() && by->is_object()) {
            const std::string app = nested_str(*by, "app", "displayName");
            const std::string user = nested_str(*by, "user", "userPrincipalName");
            a.initiated_by = !app.empty() ? app : user;
            a.by_microsoft = app == "Microsoft Managed Policy Manager";
        }
        if (const auto t = e.find("targetResources"); t != e.end() && t->is_array()) {
            for (const auto& r : *t) {
                if (!str(r, "id").empty()) {
                    a.policy_id = str(r, "id");
                    break;
                }
            }
        }
        if (!a.policy_id.empty()) out.push_back(std::move(a));
    }
    return out;
}

result<std::vector<snapshot::whatif_answer>> graph_client::evaluate_what_if(const json& request) {
    graph_ops ops{*this, *impl_, opts_, counters_};
    const std::string url = opts_.graph_url + "/v1.0/identity/conditionalAccess/evaluate";
    const graph_request gr{graph_call::ca_evaluate, "POST", url, request.dump()};
    auto r = ops.send(gr);
    if (!r) return r.err();
    if (r->status < 200 || r->status >= 300) return status_error(opts_, gr, *r);
    const json j = parse_json(r->body);
    if (!j.is_object() || !j.contains("value") || !j["value"].is_array())
        return malformed(opts_, gr, "the body is not a JSON object with a 'value' array");
    std::vector<snapshot::whatif_answer> out;
    for (std::size_t i = 0; i < j["value"].size(); ++i) {
        const json& p = j["value"][i];
        const auto applies = p.is_object() ? p.find("policyApplies") : p.end();
        if (!p.is_object() || applies == p.end() || !applies->is_boolean())
            return malformed(opts_, gr, "item " + std::to_string(i) + " has no boolean 'policyApplies'");
        std::string reasons;
        if (const auto a = p.find("analysisReasons"); a != p.end()) {
            if (a->is_string()) reasons = a->get<std::string>();
            else if (a->is_array())
                for (const auto& x : *a)
                    if (x.is_string()) reasons += (reasons.empty() ? "" : ",") + x.get<std::string>();
        }
        out.push_back({str(p, "id"), str(p, "displayName"), applies->get<bool>(), reasons});
    }
    return out;
}

// ---- writes ----------------------------------------------------------------------------------

namespace {

status plain_write(graph_ops& ops, const graph_client_options& o, graph_call c, const std::string& method,
                   const std::string& url, const std::string& body) {
    const graph_request gr{c, method, url, body};
    auto r = ops.send(gr);
    if (!r) return r.err();
    if (r->status < 200 || r->status >= 300) return status_error(o, gr, *r);
    return {};
}

}  // namespace

status graph_client::patch_ca_policy(const std::string& policy_id, const std::string& body) {
    graph_ops ops{*this, *impl_, opts_, counters_};
    return plain_write(ops, opts_, graph_call::ca_policy_patch, "PATCH",
                       opts_.graph_url + "/v1.0/identity/conditionalAccess/policies/" + segment(policy_id), body);
}

status graph_client::patch_per_user_mfa(const std::string& user_id, const std::string& body) {
    graph_ops ops{*this, *impl_, opts_, counters_};
    return plain_write(ops, opts_, graph_call::per_user_mfa_patch, "PATCH",
                       opts_.graph_url + "/beta/users/" + segment(user_id) + "/authentication/requirements", body);
}

result<bool> graph_client::delete_role_assignment(const std::string& assignment_id) {
    graph_ops ops{*this, *impl_, opts_, counters_};
    const std::string url = opts_.graph_url + "/v1.0/roleManagement/directory/roleAssignments/" + segment(assignment_id);
    const graph_request del{graph_call::role_assignment_delete, "DELETE", url, {}};
    auto r = ops.send(del);
    if (!r) return r.err();
    if (r->status == 404) return false;
    if (r->status < 200 || r->status >= 300) return status_error(opts_, del, *r);
    return true;
}

}  // namespace connguard::graph
