#include "coordinator/console/server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/http/http_client.h"
#include "common/text.h"
#include "coordinator/console/api.h"
#include "coordinator/console/assets.h"
#include "coordinator/console/security.h"
#include "coordinator/console/sessions.h"

namespace connguard::coord::console {
namespace {

const char* const pages[] = {"tenants", "tenant", "tasks", "task", "alerts", "audit", "subscriptions"};

// "/tenants" -> "tenants", "/tenants/x" -> "tenant", ...; "" for no page.
std::string page_of(const std::string& path) {
    auto rest = path.substr(1);
    const auto slash = rest.find('/');
    const auto top = rest.substr(0, slash);
    const bool detail = slash != std::string::npos && slash + 1 < rest.size() && rest.find('/', slash + 1) == std::string::npos;
    if (slash != std::string::npos && !detail) return "";
    if (top == "tenants") return detail ? "tenant" : "tenants";
    if (top == "tasks") return detail ? "task" : "tasks";
    if (!detail && (top == "alerts" || top == "audit" || top == "subscriptions")) return top;
    return "";
}

// A small page without script (sign-in problems, signed out).
std::string message_page(const std::string& title, const std::string& text, const std::string& link,
                         const std::string& link_text) {
    return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>ConnGuard — " + html_escape(title) +
           "</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main data-page=\"message\" "
           "class=\"message\"><h1>" +
           html_escape(title) + "</h1><p data-field=\"message\">" + html_escape(text) + "</p><p><a href=\"" +
           html_escape(link) + "\">" + html_escape(link_text) + "</a></p></main></body></html>";
}

// After sign-in: go on to `path` (a checked local path) from this origin.
std::string continue_page(const std::string& path) {
    const auto p = html_escape(path);
    return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url=" + p +
           "\"><title>ConnGuard — signed in</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main "
           "data-page=\"message\" class=\"message\"><h1>Signed in</h1><p><a data-field=\"continue\" href=\"" +
           p + "\">Continue</a></p></main></body></html>";
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) s.replace(pos, from.size(), to);
    return s;
}

}  // namespace

struct server::impl {
    console_settings s;
    console_backend& backend;
    identity_provider& idp;
    const clock& clk;
    bool https;
    std::unique_ptr<httplib::Server> srv;
    session_store sessions;
    std::thread thread;
    std::atomic<bool> stopping{false};
    int bound_port = 0;
    std::string public_url, origin, redirect_uri;

    impl(console_settings settings, console_backend& b, identity_provider& i, const clock& c)
        : s(std::move(settings)),
          backend(b),
          idp(i),
          clk(c),
          https(!s.insecure_http),
          sessions(c, {.idle = s.session_idle, .absolute = s.session_max}) {}

    std::int64_t now_ms() const { return to_unix_ms(clk.now()); }

    void respond_json(httplib::Response& res, int status, const std::string& body) {
        res.status = status;
        res.set_content(body, "application/json; charset=utf-8");
    }
    void respond_html(httplib::Response& res, int status, const std::string& body) {
        res.status = status;
        res.set_content(body, "text/html; charset=utf-8");
    }
    void redirect(httplib::Response& res, const std::string& to) {
        res.status = 302;
        res.set_header("Location", to);
    }

    std::optional<session> current(const httplib::Request& req) {
        const auto id = cookie_value(req.get_header_value("Cookie"), session_cookie_name);
        if (id.empty()) return std::nullopt;
        return sessions.touch(id);
    }

    principal person(const session& sess, const httplib::Request& req) const {
        principal p;
        p.name = sess.upn;
        p.who = sess.who;
        p.via = channel::console;
        p.object_id = sess.object_id;
        p.upn = sess.upn;
        p.ip = req.remote_addr;
        p.auth_time_ms = sess.auth_time_ms;
        return p;
    }

    void handle(const httplib::Request& req, httplib::Response& res) {
        try {
            dispatch(req, res);
        } catch (const std::exception& e) {
            spdlog::error("console: {} {}: {}", req.method, req.path, e.what());
            res = httplib::Response{};
            respond_json(res, 500, error_json("internal", "the console could not answer this request"));
        } catch (...) {
            res = httplib::Response{};
            respond_json(res, 500, error_json("internal", "the console could not answer this request"));
        }
    }

    void dispatch(const httplib::Request& req, httplib::Response& res) {
        const auto& path = req.path;
        const bool read = req.method == "GET" || req.method == "HEAD";
        if (path.rfind("/static/", 0) == 0) return serve_static(req, res);
        if (path == "/auth/sign-in" && read) return sign_in(req, res);
        if (path == "/auth/callback" && read) return callback(req, res);
        if (path == "/auth/sign-out" && read) return sign_out(req, res);
        if (path.rfind("/api/v1/", 0) == 0) return api(req, res);
        if (path == "/" && read) return redirect(res, "/tenants");
        if (path == "/favicon.ico" && read) {
            res.status = 204;  // none; saves browsers a 404 in their console
            return;
        }
        if (read) {
            if (const auto page = page_of(path); !page.empty()) return serve_page(req, res, page);
        }
        respond_html(res, 404, message_page("Not found", "There is no page " + path + ".", "/tenants", "Tenants"));
    }

    void serve_static(const httplib::Request& req, httplib::Response& res) {
        const auto* a = find_asset(req.path.substr(8));
        if (a == nullptr || a->name == "index.html" || (req.method != "GET" && req.method != "HEAD")) {
            res.status = 404;
            res.set_content("not found", "text/plain; charset=utf-8");
            return;
        }
        res.set_content(std::string(a->body), std::string(a->content_type));
    }

    void serve_page(const httplib::Request& req, httplib::Response& res, const std::string& page) {
        const auto sess = current(req);
        if (!sess) return redirect(res, "/auth/sign-in?return=" + http::url_encode(req.path));
        const auto* shell = find_asset("index.html");
        if (shell == nullptr) throw std::runtime_error("index.html is not embedded");
        auto html = replace_all(std::string(shell->body), "{{csrf}}", sess->csrf);
        html = replace_all(html, "{{page}}", page);
        respond_html(res, 200, html);
    }

    void sign_in(const httplib::Request& req, httplib::Response& res) {
        auto ret = req.get_param_value("return");
        if (!is_local_path(ret) || ret.rfind("/auth/", 0) == 0) ret = "/tenants";
        std::optional<int> max_age;
        if (const auto text = req.get_param_value("max_age"); !text.empty()) {
            int v = -1;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
            if (ec != std::errc{} || end != text.data() + text.size() || v < 0 || v > 86400)
                return respond_html(res, 400, message_page("Sign-in", "max_age must be seconds from 0 to 86400.", "/auth/sign-in", "Sign in"));
            max_age = v;
        }
        auto start = idp.begin(redirect_uri, max_age);
        if (!start) {
            spdlog::warn("console: cannot start a sign-in: {}", start.err().message);
            return respond_html(res, 503, message_page("Sign-in unavailable",
                                                       "The identity provider cannot be reached: " + start.err().message,
                                                       "/auth/sign-in", "Try again"));
        }
        start->pending.started_ms = now_ms();
        const auto binding = random_token();
        sessions.put_pending({start->pending, ret, binding});
        res.set_header("Set-Cookie", sign_in_cookie(binding, 600));
        redirect(res, start->authorize_url);
    }

    void callback(const httplib::Request& req, httplib::Response& res) {
        if (const auto e = req.get_param_value("error"); !e.empty())
            return respond_html(res, 401, message_page("Sign-in failed", "The identity provider said: " + e + " " +
                                                                             req.get_param_value("error_description"),
                                                       "/auth/sign-in", "Sign in again"));
        const auto state = req.get_param_value("state");
        const auto code = req.get_param_value("code");
        auto pending = state.empty() ? std::nullopt : sessions.take_pending(state);
        if (!pending)
            return respond_html(res, 400, message_page("Sign-in expired",
                                                       "This sign-in was already used or has expired (state unknown). Sign in again.",
                                                       "/auth/sign-in", "Sign in"));
        // The state is used up above either way; the browser must be the one that started it.
        res.set_header("Set-Cookie", sign_in_cookie("", 0));
        if (!tokens_equal(cookie_value(req.get_header_value("Cookie"), sign_in_cookie_name), pending->browser_binding)) {
            spdlog::warn("console: a sign-in callback from {} came to another browser than the one that started it", req.remote_addr);
            return respond_html(res, 400, message_page("Sign-in refused",
                                                       "This sign-in was not started in this browser. Sign in again.",
                                                       "/auth/sign-in", "Sign in"));
        }
        if (code.empty())
            return respond_html(res, 400, message_page("Sign-in failed", "The identity provider sent no code.", "/auth/sign-in", "Sign in again"));
        auto claims = idp.finish(code, pending->sign_in, now_ms() / 1000);
        if (!claims) {
            spdlog::warn("console: sign-in refused from {}: {} ({})", req.remote_addr, claims.err().code, claims.err().message);
            return respond_html(res, 401, message_page("Sign-in failed", "The sign-in could not be verified (" + claims.err().code + ").",
                                                       "/auth/sign-in", "Sign in again"));
        }
        const auto who = map_role(s, claims->roles, claims->object_id, claims->groups);
        if (who == role::none) {
            spdlog::warn("console: {} ({}) signed in from {} but has no console role", claims->upn, claims->object_id, req.remote_addr);
            return respond_html(res, 403, message_page("No role", "You (" + claims->upn + ") signed in, but you have no role in this ConnGuard console. Ask an administrator for the viewer, approver or admin role.",
                                                       "/auth/sign-out", "Sign out"));
        }
        // A fresh sign-in replaces the session the browser had.
        if (const auto old = cookie_value(req.get_header_value("Cookie"), session_cookie_name); !old.empty()) sessions.remove(old);
        session person;
        person.object_id = claims->object_id;
        person.upn = claims->upn;
        person.name = claims->name;
        person.who = who;
        person.auth_time_ms = claims->auth_time_s > 0 ? claims->auth_time_s * 1000 : now_ms();
        const auto sess = sessions.create(person);
        spdlog::info("console: {} signed in as {} from {}", sess.upn, to_string(sess.who), req.remote_addr);
        res.set_header("Set-Cookie", session_cookie(sess.id, -1));
        // Not a 302: this response ends a navigation that started at the IdP (another site), and a
        // browser does not send a SameSite=Strict cookie on a redirect in that chain, so the page
        // would bounce back to sign-in. A page of this origin that moves on by itself (meta refresh,
        // no script) starts a same-site navigation that carries the cookie.
        respond_html(res, 200, continue_page(pending->return_path));
    }

    void sign_out(const httplib::Request& req, httplib::Response& res) {
        if (const auto id = cookie_value(req.get_header_value("Cookie"), session_cookie_name); !id.empty()) sessions.remove(id);
        res.set_header("Set-Cookie", session_cookie("", 0));
        respond_html(res, 200, message_page("Signed out", "You are signed out of the ConnGuard console.", "/auth/sign-in", "Sign in"));
    }

    void api(const httplib::Request& req, httplib::Response& res) {
        const auto sess = current(req);
        if (!sess)
            return respond_json(res, 401, nlohmann::json{{"error", "unauthenticated"},
                                                         {"message", "sign in first (session missing or expired)"},
                                                         {"signIn", "/auth/sign-in"}}.dump());
        const bool read = req.method == "GET" || req.method == "HEAD";
        if (!read) {
            if (!origin_allowed(req.get_header_value("Origin"), req.get_header_value("Sec-Fetch-Site"), origin))
                return respond_json(res, 403, error_json("bad_origin", "the request's Origin is not this console"));
            if (!tokens_equal(req.get_header_value("X-CSRF-Token"), sess->csrf))
                return respond_json(res, 403, error_json("csrf", "the X-CSRF-Token header is missing or wrong"));
        }
        if (req.path == "/api/v1/events" && req.method == "GET") return events(req, res, *sess);
        api_request ar;
        ar.method = req.method;
        ar.path = req.path.substr(8);
        ar.query = req.params;
        ar.body = req.body;
        const auto who = person(*sess, req);
        const auto out = handle_api(ar, {backend, who, sess->name, sess->csrf, now_ms(), s.approval_reauth});
        respond_json(res, out.status, out.body);
    }

    void events(const httplib::Request& req, httplib::Response& res, const session& sess) {
        std::uint64_t after = 0;
        auto last = req.get_header_value("Last-Event-ID");
        if (last.empty()) last = req.get_param_value("lastEventId");
        bool resume = false;
        if (!last.empty()) {
            const auto [end, ec] = std::from_chars(last.data(), last.data() + last.size(), after);
            resume = ec == std::errc{} && end == last.data() + last.size();
        }
        if (!resume) after = backend.change_head();
        struct stream_state {
            std::uint64_t after;
            std::int64_t last_write_ms;
            bool first = true;
        };
        auto st = std::make_shared<stream_state>(stream_state{after, now_ms()});
        const auto session_id = sess.id;
        res.set_header("X-Accel-Buffering", "no");
        res.set_chunked_content_provider("text/event-stream", [this, st, session_id](std::size_t, httplib::DataSink& sink) {
            try {
                std::string out;
                if (st->first) {
                    out += "retry: 2000\n\n";
                    st->first = false;
                }
                bool gap = false;
                auto changes = backend.wait_changes(st->after, std::chrono::milliseconds{500}, &gap);
                if (stopping.load() || !sessions.alive(session_id)) {
                    sink.done();
                    return true;
                }
                if (gap) {
                    st->after = backend.change_head();
                    out += "id: " + std::to_string(st->after) + "\nevent: reset\ndata: {}\n\n";
                }
                for (const auto& c : changes) {
                    nlohmann::json j = {{"seq", c.seq()},
                                        {"kind", enum_kind(c.kind())},
                                        {"tenant", c.tenant()},
                                        {"taskId", c.task_id()},
                                        {"alertCause", c.alert_cause()},
                                        {"auditSeq", c.audit_seq()}};
                    out += "id: " + std::to_string(c.seq()) + "\ndata: " + j.dump() + "\n\n";
                    st->after = std::max(st->after, c.seq());
                }
                const auto now = now_ms();
                if (out.empty() && now - st->last_write_ms >= 15000) out = ": heartbeat\n\n";
                if (out.empty()) return true;
                st->last_write_ms = now;
                return sink.write(out.data(), out.size());
            } catch (const std::exception& e) {
                spdlog::warn("console: event stream ended: {}", e.what());
                return false;
            } catch (...) {
                return false;
            }
        });
    }

    static std::string enum_kind(v1::ConsoleChange::Kind k) {
        switch (k) {
            case v1::ConsoleChange::KIND_REPORT: return "report";
            case v1::ConsoleChange::KIND_CHANGE_EVENT: return "change_event";
            case v1::ConsoleChange::KIND_TASK: return "task";
            case v1::ConsoleChange::KIND_ALERT: return "alert";
            case v1::ConsoleChange::KIND_AUDIT: return "audit";
            case v1::ConsoleChange::KIND_WEBHOOK: return "webhook";
            default: return "unknown";
        }
    }
};

server::server(console_settings s, console_backend& backend, identity_provider& idp, const clock& clk)
    : impl_(std::make_unique<impl>(std::move(s), backend, idp, clk)) {}

server::~server() { stop(); }

status server::start() {
    auto& m = *impl_;
    const auto where = m.s.listen_host + ":" + std::to_string(m.s.listen_port);
    if (m.s.insecure_http && !is_loopback_host(m.s.listen_host))
        return make_error("console.insecure", "console.insecureHttp is only allowed on a loopback listen address, not " + where);
    if (m.https) {
        auto ssl = std::make_unique<httplib::SSLServer>(m.s.tls_cert_file.c_str(), m.s.tls_key_file.c_str());
        if (!ssl->is_valid())
            return make_error("console.tls", "cannot load the console's TLS certificate " + m.s.tls_cert_file + " / key " +
                                                 m.s.tls_key_file + " (PEM, matching pair)");
        m.srv = std::move(ssl);
    } else {
        m.srv = std::make_unique<httplib::Server>();
    }
    auto& srv = *m.srv;
    srv.new_task_queue = [] { return new httplib::ThreadPool(64); };
    // Short: an idle keep-alive connection holds a worker, and stop() waits for it.
    srv.set_keep_alive_timeout(5);
    // httplib writes headers and body separately: without TCP_NODELAY, Nagle's algorithm holds the
    // body until the client's delayed ACK, about 40 ms on every small answer of a kept-alive
    // connection (measured by bench/console).
    srv.set_tcp_nodelay(true);
    srv.set_read_timeout(30);
    srv.set_write_timeout(30);
    srv.set_payload_max_length(1024 * 1024);
    httplib::Headers defaults;
    for (const auto& [k, v] : security_headers(m.https, origin_of(m.s.oidc.issuer))) defaults.emplace(k, v);
    srv.set_default_headers(defaults);
    srv.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        res.status = 500;
        res.set_content(error_json("internal", "the console could not answer this request"), "application/json");
    });
    const auto h = [this](const httplib::Request& req, httplib::Response& res) { impl_->handle(req, res); };
    srv.Get(".*", h);
    srv.Post(".*", h);
    srv.Put(".*", h);
    srv.Delete(".*", h);
    srv.Patch(".*", h);
    if (m.s.listen_port == 0) {
        m.bound_port = srv.bind_to_any_port(m.s.listen_host);
        if (m.bound_port <= 0) return make_error("console.bind", "cannot listen on " + where);
    } else {
        if (!srv.bind_to_port(m.s.listen_host, m.s.listen_port))
            return make_error("console.bind", "cannot listen on " + where + " (in use, or not an address of this host)");
        m.bound_port = m.s.listen_port;
    }
    if (!m.s.public_url.empty()) {
        m.public_url = m.s.public_url;
        while (!m.public_url.empty() && m.public_url.back() == '/') m.public_url.pop_back();
    } else {
        const auto host = m.s.listen_host.find(':') != std::string::npos ? "[" + m.s.listen_host + "]" : m.s.listen_host;
        m.public_url = std::string(m.https ? "https://" : "http://") + host + ":" + std::to_string(m.bound_port);
    }
    m.origin = origin_of(m.public_url);
    m.redirect_uri = m.public_url + "/auth/callback";
    m.thread = std::thread([this] {
        if (!impl_->srv->listen_after_bind() && !impl_->stopping.load()) spdlog::error("console: the server stopped listening");
    });
    return {};
}

void server::stop() {
    if (!impl_ || !impl_->srv) return;
    impl_->stopping = true;
    impl_->srv->stop();
    if (impl_->thread.joinable()) impl_->thread.join();
}

std::string server::url() const { return impl_->public_url; }
int server::port() const { return impl_->bound_port; }

}  // namespace connguard::coord::console
