#include "tools/graph-sim/idp.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <fstream>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "common/http/http_client.h"
#include "common/ids.h"
#include "common/text.h"
#include "tools/graph-sim/crypto.h"
#include "tools/graph-sim/sim_util.h"
#include "tools/graph-sim/token_endpoint.h"

namespace connguard::graph_sim {

using http::server_response;

namespace {

constexpr std::int64_t code_lifetime_s = 600;
constexpr std::int64_t id_token_lifetime_s = 3600;
const char* const sso_cookie = "ESTSAUTH";
const std::set<std::string> id_token_faults = {"expired", "wrong_audience", "wrong_issuer", "bad_signature", "replay_nonce"};

// ---- config --------------------------------------------------------------------------------------

std::vector<std::string> string_list(const json& obj, const char* key, const std::string& path, std::vector<std::string>& errors,
                                     const std::string& file) {
    std::vector<std::string> out;
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return out;
    if (!it->is_array()) {
        errors.push_back(file + ": field '" + path + "': must be an array of strings");
        return out;
    }
    for (std::size_t i = 0; i < it->size(); ++i) {
        if (!(*it)[i].is_string()) errors.push_back(file + ": field '" + path + "[" + std::to_string(i) + "]': must be a string");
        else out.push_back((*it)[i].get<std::string>());
    }
    return out;
}

// ---- text ----------------------------------------------------------------------------------------

/// scheme, host (lower case, brackets kept), port ("" when absent), rest (path + query).
struct url_parts {
    std::string scheme, host, port, rest;
};

std::optional<url_parts> split_url(const std::string& url) {
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string::npos) return std::nullopt;
    url_parts p;
    p.scheme = to_lower(url.substr(0, scheme_end));
    const auto auth_start = scheme_end + 3;
    const auto path_start = url.find_first_of("/?#", auth_start);
    std::string authority = url.substr(auth_start, path_start == std::string::npos ? std::string::npos : path_start - auth_start);
    p.rest = path_start == std::string::npos ? std::string() : url.substr(path_start);
    if (authority.empty() || authority.find('@') != std::string::npos) return std::nullopt;
    std::size_t colon;
    if (authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string::npos) return std::nullopt;
        colon = authority.find(':', close);
    } else {
        colon = authority.rfind(':');
    }
    p.host = to_lower(authority.substr(0, colon));
    if (colon != std::string::npos) p.port = authority.substr(colon + 1);
    return p;
}

bool is_loopback_host(const std::string& host) { return host == "127.0.0.1" || host == "localhost" || host == "[::1]"; }

/// Entra's rule: exact match, except that for a loopback redirect URI the port is ignored.
bool redirect_matches(const std::string& registered, const std::string& given) {
    if (registered == given) return true;
    auto r = split_url(registered);
    auto g = split_url(given);
    if (!r || !g) return false;
    return is_loopback_host(r->host) && r->host == g->host && r->scheme == g->scheme && r->rest == g->rest;
}

std::string with_query(const std::string& url, const std::vector<std::pair<std::string, std::string>>& fields) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + http::form_encode(fields);
}

std::string cookie_value(const http::server_request& req, const std::string& name) {
    const std::string all = req.header("Cookie");
    std::size_t start = 0;
    while (start < all.size()) {
        auto end = all.find(';', start);
        if (end == std::string::npos) end = all.size();
        std::string part = all.substr(start, end - start);
        while (!part.empty() && part.front() == ' ') part.erase(part.begin());
        const auto eq = part.find('=');
        if (eq != std::string::npos && part.substr(0, eq) == name) return part.substr(eq + 1);
        start = end + 1;
    }
    return {};
}

server_response html_page(int status, const std::string& title, const std::string& body_html) {
    server_response r;
    r.status = status;
    r.headers = {{"Content-Type", "text/html; charset=utf-8"},
                 {"Cache-Control", "no-store, no-cache"},
                 {"Pragma", "no-cache"},
                 {"X-Frame-Options", "DENY"},
                 {"Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"},
                 {"X-Content-Type-Options", "nosniff"}};
    r.body = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
             "</title></head>\n<body>\n" + body_html + "</body></html>\n";
    return r;
}

server_response redirect(const std::string& location) {
    server_response r;
    r.status = 302;
    r.headers = {{"Location", location}, {"Cache-Control", "no-store, no-cache"}, {"Content-Type", "text/html; charset=utf-8"}};
    r.body = "<html><body>Object moved to <a href=\"" + html_escape(location) + "\">here</a>.</body></html>\n";
    return r;
}

/// The authorize request's own parameters (what the form carries as hidden fields).
const std::vector<std::string> authorize_params = {"client_id", "redirect_uri", "response_type", "response_mode", "scope",
                                                   "state", "nonce", "code_challenge", "code_challenge_method", "max_age",
                                                   "prompt", "login_hint"};

struct authorize_request {
    query_map p;
    std::string get(const std::string& k) const {
        auto it = p.find(k);
        return it == p.end() ? std::string() : it->second;
    }
    bool has(const std::string& k) const { return p.count(k) != 0; }
};

struct code_grant {
    std::string client_id, redirect_uri, code_challenge, nonce, scope, upn;
    std::int64_t auth_time = 0, issued = 0;
    bool redeemed = false;
};

struct sso_session {
    std::string upn;
    std::int64_t auth_time = 0;
};

using pkey_ptr = std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)>;

std::string bn_param(EVP_PKEY* key, const char* name) {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) return {};
    std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    BN_free(bn);
    return out;
}

}  // namespace

// ---- config --------------------------------------------------------------------------------------

result<idp_config> load_idp_config(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in) return make_error("sim.idp", file.string() + ": cannot open the --idp file");
    std::stringstream ss;
    ss << in.rdbuf();
    const json j = json::parse(ss.str(), nullptr, false, true);
    const std::string f = file.string();
    if (!j.is_object()) return make_error("sim.idp", f + ": not a JSON object");
    std::vector<std::string> errors;
    auto fail = [&](const std::string& path, const std::string& why) { errors.push_back(f + ": field '" + path + "': " + why); };
    static const std::set<std::string> top = {"tenantId", "displayName", "people", "apps", "$comment", "description"};
    for (auto it = j.begin(); it != j.end(); ++it)
        if (!top.count(it.key())) fail(it.key(), "unknown field (known: tenantId, displayName, people, apps)");
    idp_config cfg;
    cfg.file = file;
    auto str = [&](const json& o, const char* key, const std::string& path, bool required) {
        auto it = o.find(key);
        if (it == o.end() || it->is_null()) {
            if (required) fail(path, "missing");
            return std::string();
        }
        if (!it->is_string()) {
            fail(path, "must be a string");
            return std::string();
        }
        return it->get<std::string>();
    };
    cfg.tenant_id = to_lower(str(j, "tenantId", "tenantId", true));
    if (!cfg.tenant_id.empty() && !is_guid(cfg.tenant_id)) fail("tenantId", "must be a GUID");
    cfg.display_name = str(j, "displayName", "displayName", false);
    if (cfg.display_name.empty()) cfg.display_name = "MSP";
    std::set<std::string> upns;
    if (!j.contains("people") || !j["people"].is_array() || j["people"].empty()) fail("people", "must be a non-empty array");
    else
        for (std::size_t i = 0; i < j["people"].size(); ++i) {
            const json& o = j["people"][i];
            const std::string path = std::string("people[") + std::to_string(i) + "]";
            if (!o.is_object()) {
                fail(path, "must be an object");
                continue;
            }
            idp_person p;
            p.upn = to_lower(str(o, "upn", path + ".upn", true));
            p.object_id = to_lower(str(o, "objectId", path + ".objectId", true));
            if (!p.object_id.empty() && !is_guid(p.object_id)) fail(path + ".objectId", "must be a GUID");
            p.name = str(o, "name", path + ".name", false);
            p.password = str(o, "password", path + ".password", true);
            p.roles = string_list(o, "roles", path + ".roles", errors, f);
            p.groups = string_list(o, "groups", path + ".groups", errors, f);
            if (!p.upn.empty() && !upns.insert(p.upn).second) fail(path + ".upn", "duplicate");
            cfg.people.push_back(std::move(p));
        }
    if (!j.contains("apps") || !j["apps"].is_array() || j["apps"].empty()) fail("apps", "must be a non-empty array");
    else
        for (std::size_t i = 0; i < j["apps"].size(); ++i) {
            const json& o = j["apps"][i];
            const std::string path = std::string("apps[") + std::to_string(i) + "]";
            if (!o.is_object()) {
                fail(path, "must be an object");
                continue;
            }
            idp_app a;
            a.client_id = to_lower(str(o, "clientId", path + ".clientId", true));
            if (!a.client_id.empty() && !is_guid(a.client_id)) fail(path + ".clientId", "must be a GUID");
            a.client_secret = str(o, "clientSecret", path + ".clientSecret", true);
            a.display_name = str(o, "displayName", path + ".displayName", false);
            a.redirect_uris = string_list(o, "redirectUris", path + ".redirectUris", errors, f);
            if (a.redirect_uris.empty()) fail(path + ".redirectUris", "must list at least one redirect URI");
            for (std::size_t k = 0; k < a.redirect_uris.size(); ++k)
                if (!split_url(a.redirect_uris[k]))
                    fail(path + ".redirectUris[" + std::to_string(k) + "]", "not an absolute URL");
            cfg.apps.push_back(std::move(a));
        }
    if (!errors.empty()) {
        std::string msg;
        for (const auto& e : errors) msg += (msg.empty() ? "" : "\n") + e;
        return make_error("sim.idp", msg);
    }
    return cfg;
}

// ---- the provider --------------------------------------------------------------------------------

struct identity_provider::impl {
    pkey_ptr key{nullptr, &EVP_PKEY_free};
    std::string kid, n, e;  ///< base64url

    std::mutex mu;  ///< guards everything below
    std::map<std::string, code_grant> codes;
    std::map<std::string, sso_session> sessions;
    std::optional<std::string> next_fault;
    std::string last_nonce;

    std::string sign_jwt(const json& header, const json& payload) const {
        const std::string input = base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());
        std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
        EVP_PKEY_CTX* pctx = nullptr;
        std::size_t len = 0;
        if (EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key.get()) != 1 ||
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1 ||
            EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
            throw std::runtime_error("RS256 signing failed");
        std::string sig(len, '\0');
        if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
            throw std::runtime_error("RS256 signing failed");
        sig.resize(len);
        return input + "." + base64url_encode(sig);
    }
};

identity_provider::identity_provider(idp_config cfg) : cfg_(std::move(cfg)), impl_(std::make_unique<impl>()) {}
identity_provider::~identity_provider() = default;

result<std::unique_ptr<identity_provider>> identity_provider::create(idp_config cfg) {
    std::unique_ptr<identity_provider> p(new identity_provider(std::move(cfg)));
    EVP_PKEY* raw = EVP_RSA_gen(2048);
    if (!raw) return make_error("sim.idp", "cannot generate the RSA-2048 signing key");
    p->impl_->key.reset(raw);
    p->impl_->n = base64url_encode(bn_param(raw, OSSL_PKEY_PARAM_RSA_N));
    p->impl_->e = base64url_encode(bn_param(raw, OSSL_PKEY_PARAM_RSA_E));
    unsigned char* der = nullptr;
    const int len = i2d_PUBKEY(raw, &der);
    if (len <= 0 || p->impl_->n.empty() || p->impl_->e.empty()) return make_error("sim.idp", "cannot encode the signing key");
    p->impl_->kid = base64url_encode(sha256_raw(std::string_view(reinterpret_cast<char*>(der), static_cast<std::size_t>(len))));
    OPENSSL_free(der);
    return p;
}

namespace {

/// Everything one authorize / token call needs from the provider.
struct idp_call {
    const request_ctx& c;
    const idp_config& cfg;
    identity_provider::impl& st;

    std::string issuer() const { return c.base + "/" + cfg.tenant_id + "/v2.0"; }
    std::string authorize_path() const { return "/" + cfg.tenant_id + "/oauth2/v2.0/authorize"; }
    const idp_app* find_app(const std::string& id) const {
        for (const auto& a : cfg.apps)
            if (iequals(a.client_id, id)) return &a;
        return nullptr;
    }
    const idp_person* find_person(const std::string& upn) const {
        for (const auto& p : cfg.people)
            if (iequals(p.upn, upn)) return &p;
        return nullptr;
    }
    std::string aad_text(const std::string& text) const {
        return text + "\r\nTrace ID: " + c.request_id + "\r\nCorrelation ID: " + c.client_request_id + "\r\nTimestamp: " + aad_timestamp();
    }
};

server_response error_page(const idp_call& k, const std::string& text) {
    return html_page(400, "Sign in - error",
                     "<main data-page=\"idp-error\"><h1>Sorry, but we're having trouble signing you in.</h1>\n<p data-field=\"error\">" +
                         html_escape(k.aad_text(text)) + "</p></main>\n");
}

server_response error_redirect(const idp_call& k, const authorize_request& a, const std::string& error, const std::string& text) {
    std::vector<std::pair<std::string, std::string>> f = {{"error", error}, {"error_description", k.aad_text(text)}};
    if (a.has("state")) f.emplace_back("state", a.get("state"));
    return redirect(with_query(a.get("redirect_uri"), f));
}

server_response sign_in_form(const idp_call& k, const authorize_request& a, const std::string& username, const std::string& error) {
    std::string h = "<main data-page=\"idp-sign-in\">\n<h1>Sign in to " + html_escape(k.cfg.display_name) + "</h1>\n";
    if (!error.empty()) h += "<p role=\"alert\" data-field=\"error\">" + html_escape(error) + "</p>\n";
    h += "<form method=\"post\" action=\"" + html_escape(k.authorize_path()) + "\">\n";
    for (const auto& name : authorize_params)
        if (a.has(name)) {
            h += "<input type=\"hidden\" name=\"";
            h += html_escape(name);
            h += "\" value=\"";
            h += html_escape(a.get(name));
            h += "\">\n";
        }
    h += "<label>Email or username <input name=\"username\" type=\"email\" autocomplete=\"username\" value=\"" +
         html_escape(username) + "\"></label>\n";
    h += "<label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\n";
    h += "<button type=\"submit\">Sign in</button>\n</form>\n";
    h += "<section data-field=\"people\"><h2>Demo people (simulator)</h2><ul>\n";
    for (const auto& p : k.cfg.people) {
        std::string roles;
        for (const auto& r : p.roles) roles += (roles.empty() ? "" : ", ") + r;
        h += "<li><code>";
        h += html_escape(p.upn);
        h += "</code> ";
        h += html_escape(p.name);
        if (!roles.empty()) h += std::string(" (") + html_escape(roles) + ")";
        h += "</li>\n";
    }
    h += "</ul></section>\n</main>\n";
    return html_page(200, "Sign in to your account", h);
}

/// Issues a code for `upn` and redirects back to the client.
server_response issue_code(const idp_call& k, const authorize_request& a, const std::string& upn, std::int64_t auth_time) {
    code_grant g;
    g.client_id = to_lower(a.get("client_id"));
    g.redirect_uri = a.get("redirect_uri");
    g.code_challenge = a.get("code_challenge");
    g.nonce = a.get("nonce");
    g.scope = a.get("scope");
    g.upn = upn;
    g.auth_time = auth_time;
    g.issued = unix_now();
    const std::string code = "0.SIM" + base64url_encode(random_bytes(48));
    {
        std::lock_guard lock(k.st.mu);
        // Forget codes long past their lifetime (redeemed ones are kept as long, for AADSTS54005).
        for (auto it = k.st.codes.begin(); it != k.st.codes.end();)
            it = it->second.issued + 2 * code_lifetime_s < g.issued ? k.st.codes.erase(it) : std::next(it);
        k.st.codes.emplace(code, std::move(g));
    }
    std::vector<std::pair<std::string, std::string>> f = {{"code", code}};
    if (a.has("state")) f.emplace_back("state", a.get("state"));
    return redirect(with_query(a.get("redirect_uri"), f));
}

bool has_scope(const std::string& scope, const std::string& want) {
    std::size_t start = 0;
    while (start <= scope.size()) {
        const auto sp = scope.find(' ', start);
        if (iequals(scope.substr(start, sp == std::string::npos ? std::string::npos : sp - start), want)) return true;
        if (sp == std::string::npos) break;
        start = sp + 1;
    }
    return false;
}

server_response handle_authorize(const idp_call& k) {
    const auto& req = k.c.req;
    if (req.method != "GET" && req.method != "POST")
        return error_page(k, "AADSTS900561: The endpoint only accepts GET and POST requests. Received a " + req.method + " request.");
    authorize_request a;
    a.p = req.method == "GET" ? k.c.query : parse_query(req.body);
    // 1. Nothing can be sent back until client and redirect URI are trusted: an error page.
    if (a.get("client_id").empty())
        return error_page(k, "AADSTS900144: The request body must contain the following parameter: 'client_id'.");
    const idp_app* app = k.find_app(a.get("client_id"));
    if (!app)
        return error_page(k, "AADSTS700016: Application with identifier '" + a.get("client_id") + "' was not found in the directory '" +
                                 k.cfg.display_name + "'.");
    const std::string redirect_uri = a.get("redirect_uri");
    bool registered = false;
    for (const auto& r : app->redirect_uris) registered = registered || redirect_matches(r, redirect_uri);
    if (!registered)
        return error_page(k, "AADSTS50011: The redirect URI '" + redirect_uri +
                                 "' specified in the request does not match the redirect URIs configured for the application '" +
                                 app->client_id + "'.");
    // 2. The rest goes back to the client.
    if (a.get("response_type") != "code")
        return error_redirect(k, a, "unsupported_response_type",
                              "AADSTS700054: response_type '" + a.get("response_type") + "' is not enabled for the application.");
    if (!a.get("response_mode").empty() && a.get("response_mode") != "query")
        return error_redirect(k, a, "invalid_request", "AADSTS900144: The simulator answers with response_mode 'query' only.");
    if (!has_scope(a.get("scope"), "openid"))
        return error_redirect(k, a, "invalid_scope",
                              "AADSTS70011: The provided value for the input parameter 'scope' isn't valid: it must contain 'openid'.");
    for (const char* required : {"state", "nonce", "code_challenge"})
        if (a.get(required).empty())
            return error_redirect(k, a, "invalid_request",
                                  std::string("AADSTS900144: The request body must contain the following parameter: '") + required + "'.");
    if (a.get("code_challenge_method") != "S256")
        return error_redirect(k, a, "invalid_request",
                              "AADSTS501491: Invalid code_challenge_method '" + a.get("code_challenge_method") + "': only S256 is accepted.");
    if (a.get("code_challenge").size() != 43)
        return error_redirect(k, a, "invalid_request", "AADSTS501491: Invalid size of Code_Challenge parameter.");
    std::optional<std::int64_t> max_age;
    if (a.has("max_age")) {
        try {
            std::size_t used = 0;
            max_age = std::stoll(a.get("max_age"), &used);
            if (used != a.get("max_age").size() || *max_age < 0) throw std::invalid_argument("max_age");
        } catch (const std::exception&) {
            return error_redirect(k, a, "invalid_request", "AADSTS90034: The max_age parameter must be a non-negative integer.");
        }
    }
    const std::string prompt = a.get("prompt");
    const std::int64_t now = unix_now();

    if (req.method == "POST") {
        // The sign-in form came back.
        const std::string username = a.get("username");
        const idp_person* p = k.find_person(username);
        if (!p || p->password != a.get("password") || a.get("password").empty())
            return sign_in_form(k, a, username,
                                "AADSTS50126: Error validating credentials due to invalid username or password.");
        const std::string sid = base64url_encode(random_bytes(32));
        {
            std::lock_guard lock(k.st.mu);
            k.st.sessions[sid] = sso_session{p->upn, now};
        }
        spdlog::info("idp: {} signed in for app {}", p->upn, app->client_id);
        server_response r = issue_code(k, a, p->upn, now);
        r.headers.emplace_back("Set-Cookie", std::string(sso_cookie) + "=" + sid + "; path=/; HttpOnly; SameSite=Lax");
        return r;
    }

    // GET: an SSO session skips the form unless prompt=login or max_age says it is too old.
    std::optional<sso_session> session;
    if (const std::string sid = cookie_value(req, sso_cookie); !sid.empty()) {
        std::lock_guard lock(k.st.mu);
        if (auto it = k.st.sessions.find(sid); it != k.st.sessions.end()) session = it->second;
    }
    const bool fresh_enough = session && (!max_age || (*max_age > 0 && now - session->auth_time <= *max_age));
    if (prompt == "none") {
        if (!session || !fresh_enough)
            return error_redirect(k, a, "login_required",
                                  "AADSTS50058: A silent sign-in request was sent but no user is signed in.");
        return issue_code(k, a, session->upn, session->auth_time);
    }
    if (session && fresh_enough && prompt != "login" && k.find_person(session->upn)) return issue_code(k, a, session->upn, session->auth_time);
    return sign_in_form(k, a, a.get("login_hint"), "");
}

server_response handle_code_grant(const idp_call& k) {
    const auto& c = k.c;
    const auto form = parse_query(c.req.body);
    auto field = [&](const std::string& key) {
        auto it = form.find(key);
        return it == form.end() ? std::string() : it->second;
    };
    const std::string grant = field("grant_type");
    if (grant.empty())
        return aad_error(c, "invalid_request", {900144}, "AADSTS900144: The request body must contain the following parameter: 'grant_type'.");
    if (grant != "authorization_code")
        return aad_error(c, "unsupported_grant_type", {70003},
                         "AADSTS70003: The app requested an unsupported grant type '" + grant + "'.");
    std::string client_id = field("client_id");
    std::string secret = field("client_secret");
    if (const std::string auth = c.req.header("Authorization"); to_lower(auth.substr(0, 6)) == "basic ") {
        if (auto dec = base64url_decode(auth.substr(6)); dec && dec->find(':') != std::string::npos) {
            client_id = http::percent_decode(dec->substr(0, dec->find(':')), true);
            secret = http::percent_decode(dec->substr(dec->find(':') + 1), true);
        }
    }
    if (client_id.empty())
        return aad_error(c, "invalid_request", {900144}, "AADSTS900144: The request body must contain the following parameter: 'client_id'.");
    const idp_app* app = k.find_app(client_id);
    if (!app)
        return aad_error(c, "unauthorized_client", {700016},
                         "AADSTS700016: Application with identifier '" + client_id + "' was not found in the directory '" +
                             k.cfg.display_name + "'.");
    if (secret.empty())
        return aad_error(c, "invalid_client", {7000218},
                         "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    if (secret != app->client_secret)
        return aad_error(c, "invalid_client", {7000215},
                         "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client "
                         "secret value, not the client secret ID, for a secret added to app '" + app->client_id + "'.");
    for (const char* required : {"code", "redirect_uri"})
        if (field(required).empty())
            return aad_error(c, "invalid_request", {900144},
                             std::string("AADSTS900144: The request body must contain the following parameter: '") + required + "'.");
    const std::int64_t now = unix_now();
    code_grant g;
    {
        std::lock_guard lock(k.st.mu);
        auto it = k.st.codes.find(field("code"));
        if (it == k.st.codes.end())
            return aad_error(c, "invalid_grant", {9002313}, "AADSTS9002313: Invalid request. Request is malformed or invalid: the code is not valid.");
        if (it->second.redeemed)
            return aad_error(c, "invalid_grant", {54005},
                             "AADSTS54005: OAuth2 Authorization code was already redeemed, please retry with a new valid code or use "
                             "an existing refresh token.");
        if (now - it->second.issued > code_lifetime_s)
            return aad_error(c, "invalid_grant", {70008},
                             "AADSTS70008: The provided authorization code or refresh token has expired due to inactivity. Send a new "
                             "interactive authorization request for this user and resource.");
        // Any redemption attempt of a live code uses it up (Entra does not let a code be retried).
        it->second.redeemed = true;
        g = it->second;
    }
    if (!iequals(g.client_id, app->client_id))
        return aad_error(c, "invalid_grant", {70000},
                         "AADSTS70000: The provided value for the 'code' parameter is not valid: it was issued to another client.");
    if (field("redirect_uri") != g.redirect_uri)
        return aad_error(c, "invalid_grant", {500112},
                         "AADSTS500112: The reply address '" + field("redirect_uri") +
                             "' does not match the reply address provided when requesting Authorization code.");
    const std::string verifier = field("code_verifier");
    if (verifier.empty())
        return aad_error(c, "invalid_request", {900144},
                         "AADSTS900144: The request body must contain the following parameter: 'code_verifier'.");
    if (base64url_encode(sha256_raw(verifier)) != g.code_challenge)
        return aad_error(c, "invalid_grant", {501481},
                         "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.");
    const idp_person* p = k.find_person(g.upn);
    if (!p) return aad_error(c, "invalid_grant", {50034}, "AADSTS50034: The user account " + g.upn + " does not exist in the directory.");

    // The id_token (and any defect the test hook asked for).
    json claims{{"iss", k.issuer()},
                {"aud", app->client_id},
                {"sub", base64url_encode(sha256_raw(p->object_id + "|" + app->client_id)).substr(0, 43)},
                {"oid", p->object_id},
                {"tid", k.cfg.tenant_id},
                {"preferred_username", p->upn},
                {"name", p->name.empty() ? p->upn : p->name},
                {"nonce", g.nonce},
                {"iat", now},
                {"nbf", now},
                {"exp", now + id_token_lifetime_s},
                {"auth_time", g.auth_time},
                {"ver", "2.0"}};
    if (!p->roles.empty()) claims["roles"] = p->roles;
    if (!p->groups.empty()) claims["groups"] = p->groups;
    std::optional<std::string> fault;
    {
        std::lock_guard lock(k.st.mu);
        fault.swap(k.st.next_fault);
        if (fault == "replay_nonce") claims["nonce"] = k.st.last_nonce.empty() ? std::string("replayed-nonce") : k.st.last_nonce;
        k.st.last_nonce = g.nonce;
    }
    if (fault == "expired") {
        claims["iat"] = now - 2 * id_token_lifetime_s;
        claims["nbf"] = now - 2 * id_token_lifetime_s;
        claims["exp"] = now - id_token_lifetime_s;
    } else if (fault == "wrong_audience") {
        claims["aud"] = "00000000-0000-4000-8000-00000000bad0";
    } else if (fault == "wrong_issuer") {
        claims["iss"] = "https://login.microsoftonline.com/" + k.cfg.tenant_id + "/v2.0";
    }
    const json header{{"typ", "JWT"}, {"alg", "RS256"}, {"kid", k.st.kid}};
    std::string id_token = k.st.sign_jwt(header, claims);
    if (fault == "bad_signature") {
        // Flip one bit of the signature's first byte (its first base64url character).
        std::string sig = *base64url_decode(id_token.substr(id_token.rfind('.') + 1));
        sig[0] = static_cast<char>(sig[0] ^ 0x01);
        id_token = id_token.substr(0, id_token.rfind('.') + 1) + base64url_encode(sig);
    }
    if (fault) spdlog::info("idp: id_token for {} made defective on purpose: {}", p->upn, *fault);
    const json at_claims{{"iss", "https://sts.windows.net/" + k.cfg.tenant_id + "/"},
                         {"aud", "00000003-0000-0000-c000-000000000000"},
                         {"oid", p->object_id},
                         {"tid", k.cfg.tenant_id},
                         {"appid", app->client_id},
                         {"scp", "openid profile User.Read"},
                         {"iat", now},
                         {"nbf", now},
                         {"exp", now + id_token_lifetime_s}};
    const json body{{"token_type", "Bearer"},
                    {"scope", "openid profile User.Read"},
                    {"expires_in", id_token_lifetime_s},
                    {"ext_expires_in", id_token_lifetime_s},
                    {"access_token", k.st.sign_jwt(header, at_claims)},
                    {"id_token", id_token}};
    return aad_json(c, 200, body);
}

}  // namespace

std::optional<server_response> identity_provider::handle(const request_ctx& c, const std::vector<std::string>& seg) {
    idp_call k{c, cfg_, *impl_};
    const std::string base = c.base + "/" + cfg_.tenant_id;
    if (seg.size() == 4 && seg[1] == "v2.0" && seg[2] == ".well-known" && seg[3] == "openid-configuration") {
        const json doc{{"issuer", k.issuer()},
                       {"authorization_endpoint", base + "/oauth2/v2.0/authorize"},
                       {"token_endpoint", base + "/oauth2/v2.0/token"},
                       {"jwks_uri", base + "/discovery/v2.0/keys"},
                       {"end_session_endpoint", base + "/oauth2/v2.0/logout"},
                       {"response_types_supported", {"code"}},
                       {"response_modes_supported", {"query"}},
                       {"subject_types_supported", {"pairwise"}},
                       {"scopes_supported", {"openid", "profile", "email", "offline_access"}},
                       {"id_token_signing_alg_values_supported", {"RS256"}},
                       {"token_endpoint_auth_methods_supported", {"client_secret_post", "client_secret_basic"}},
                       {"code_challenge_methods_supported", {"S256"}},
                       {"grant_types_supported", {"authorization_code"}},
                       {"claims_supported", {"sub", "iss", "aud", "exp", "iat", "nbf", "auth_time", "nonce", "name", "preferred_username",
                                             "oid", "tid", "roles", "groups", "ver"}},
                       {"tenant_region_scope", "EU"},
                       {"cloud_instance_name", "microsoftonline.com"}};
        server_response r = aad_json(c, 200, doc);
        return r;
    }
    if (seg.size() == 4 && seg[1] == "discovery" && seg[2] == "v2.0" && seg[3] == "keys") {
        const json keys{{"keys", json::array({json{{"kty", "RSA"}, {"use", "sig"}, {"kid", impl_->kid}, {"n", impl_->n},
                                                    {"e", impl_->e}, {"alg", "RS256"}}})}};
        return aad_json(c, 200, keys);
    }
    if (seg.size() == 4 && seg[1] == "oauth2" && seg[2] == "v2.0" && seg[3] == "authorize") return handle_authorize(k);
    if (seg.size() == 4 && seg[1] == "oauth2" && seg[2] == "v2.0" && seg[3] == "token") {
        if (c.req.method != "POST")
            return aad_error(c, "invalid_request", {900561},
                             "AADSTS900561: The endpoint only accepts POST requests. Received a " + c.req.method + " request.");
        return handle_code_grant(k);
    }
    return std::nullopt;
}

server_response identity_provider::handle_admin(const request_ctx& c, const std::vector<std::string>& seg) {
    auto answer = [](int status, const json& body) {
        server_response r;
        r.status = status;
        r.headers = {{"Content-Type", "application/json"}};
        r.body = body.dump(2) + "\n";
        return r;
    };
    if (seg.size() == 3 && seg[2] == "next-id-token") {
        if (c.req.method != "POST") return answer(405, {{"error", "use POST"}});
        const json body = json::parse(c.req.body.empty() ? std::string("{}") : c.req.body, nullptr, false);
        const std::string fault = body.is_object() && body.contains("fault") && body["fault"].is_string() ? body["fault"].get<std::string>() : "";
        if (!id_token_faults.count(fault))
            return answer(400, {{"error", "fault must be one of expired, wrong_audience, wrong_issuer, bad_signature, replay_nonce"}});
        std::lock_guard lock(impl_->mu);
        impl_->next_fault = fault;
        return answer(200, {{"nextIdToken", fault}});
    }
    if (seg.size() == 2 && c.req.method == "GET") {
        json people = json::array();
        for (const auto& p : cfg_.people) people.push_back({{"upn", p.upn}, {"objectId", p.object_id}, {"name", p.name}, {"roles", p.roles}, {"groups", p.groups}});
        json apps = json::array();
        for (const auto& a : cfg_.apps) apps.push_back({{"clientId", a.client_id}, {"redirectUris", a.redirect_uris}});
        std::lock_guard lock(impl_->mu);
        return answer(200, {{"tenantId", cfg_.tenant_id},
                            {"issuer", c.base + "/" + cfg_.tenant_id + "/v2.0"},
                            {"kid", impl_->kid},
                            {"people", people},
                            {"apps", apps},
                            {"nextIdToken", impl_->next_fault ? json(*impl_->next_fault) : json(nullptr)}});
    }
    return answer(404, {{"error", "unknown /_sim/idp path (GET /_sim/idp, POST /_sim/idp/next-id-token)"}});
}

}  // namespace connguard::graph_sim
