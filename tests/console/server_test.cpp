// The console server over real HTTPS on loopback (a self-signed certificate made with openssl here),
// with a recording console_backend and a scripted identity provider, so every server-side guarantee
// is checked through real HTTP: security headers, 401/403 rules, CSRF and Origin, sessions on the
// project clock, return paths, state used once, re-authentication for approvals, the event stream.
// The real IdP (graph-sim) and the real coordinator are in console_e2e_test.cpp.
#include <gtest/gtest.h>
#include <httplib.h>

#include <condition_variable>
#include <mutex>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/http/http_client.h"
#include "coordinator/console/security.h"
#include "coordinator/console/server.h"
#include "tests/support/process.h"

namespace connguard::coord::console {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// Canned answers; records what the console asked and as whom.
class recording_backend final : public console_backend {
public:
    result<v1::AdminResponse> admin(const principal& who, const v1::AdminRequest& req) override {
        std::lock_guard lock(mu_);
        calls.push_back({who, req});
        v1::AdminResponse r;
        r.set_request_id(req.request_id());
        r.set_ok(true);
        if (req.has_list_tenants()) {
            for (int i = 0; i < 120; ++i) {
                auto* t = r.add_tenants();
                char key[24];  // room for any int: GCC -O1 cannot see i < 120 (-Wformat-truncation)
                std::snprintf(key, sizeof key, "tenant-%03d", i);
                t->set_tenant(key);
                t->set_overall(i % 3 == 0 ? v1::CHECK_STATUS_FAIL : v1::CHECK_STATUS_OK);
                t->set_open_tasks(static_cast<std::uint32_t>(i % 4));
            }
        } else if (req.has_show_task() || req.has_approve() || req.has_reject()) {
            auto* t = r.add_tasks();
            t->set_task_id("t1");
            t->set_tenant("fabrikam");
            t->set_state(req.has_approve() ? v1::TASK_STATE_APPROVED : v1::TASK_STATE_PENDING_APPROVAL);
            t->set_plan_version(1);
        } else if (req.has_list_tasks()) {
            for (const auto& [id, st] : {std::pair{"a", v1::TASK_STATE_VERIFIED}, std::pair{"b", v1::TASK_STATE_PENDING_APPROVAL},
                                         std::pair{"c", v1::TASK_STATE_REJECTED}}) {
                auto* t = r.add_tasks();
                t->set_task_id(id);
                t->set_state(st);
            }
        } else if (req.has_show_tenant() && req.show_tenant().tenant() != "fabrikam") {
            r.set_ok(false);
            r.set_error_code("not_found");
            r.set_error_message("no tenant " + req.show_tenant().tenant());
        }
        return r;
    }
    std::uint64_t change_head() const override {
        std::lock_guard lock(mu_);
        return changes_.empty() ? 0 : changes_.back().seq();
    }
    std::vector<v1::ConsoleChange> wait_changes(std::uint64_t after, std::chrono::milliseconds timeout, bool* gap) override {
        std::unique_lock lock(mu_);
        auto newer = [&] {
            std::vector<v1::ConsoleChange> out;
            for (const auto& c : changes_)
                if (c.seq() > after) out.push_back(c);
            return out;
        };
        cv_.wait_for(lock, timeout, [&] { return !newer().empty(); });
        *gap = !changes_.empty() && after + 1 < changes_.front().seq();
        return newer();
    }
    void push(v1::ConsoleChange::Kind kind, const std::string& task_id) {
        std::lock_guard lock(mu_);
        v1::ConsoleChange c;
        c.set_seq(changes_.empty() ? 1 : changes_.back().seq() + 1);
        c.set_kind(kind);
        c.set_task_id(task_id);
        c.set_tenant("fabrikam");
        changes_.push_back(c);
        cv_.notify_all();
    }
    struct call_record {
        principal who;
        v1::AdminRequest req;
    };
    std::vector<call_record> calls_of(bool (v1::AdminRequest::*has)() const) {
        std::lock_guard lock(mu_);
        std::vector<call_record> out;
        for (const auto& c : calls)
            if ((c.req.*has)()) out.push_back(c);
        return out;
    }
    std::vector<call_record> calls;

private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<v1::ConsoleChange> changes_;
};

// The IdP's side scripted: the code names the person.
class scripted_idp final : public identity_provider {
public:
    explicit scripted_idp(const clock& clk) : clk_(clk) {}
    result<sign_in_start> begin(const std::string& redirect_uri, std::optional<int> max_age) override {
        sign_in_start s;
        s.pending.state = "state-" + std::to_string(++n_);
        s.pending.nonce = "nonce-" + std::to_string(n_);
        s.pending.redirect_uri = redirect_uri;
        s.pending.max_age = max_age;
        s.authorize_url = "https://idp.example/authorize?state=" + s.pending.state +
                          (max_age ? "&max_age=" + std::to_string(*max_age) : "");
        return s;
    }
    result<id_token_claims> finish(const std::string& code, const pending_sign_in&, std::int64_t now_s) override {
        id_token_claims c;
        c.auth_time_s = now_s;
        if (code == "alice") c.object_id = "oid-alice", c.upn = "alice@msp.example", c.roles = {"ConnGuard.Approver"};
        else if (code == "vera") c.object_id = "oid-vera", c.upn = "vera@msp.example";
        else if (code == "nobody") c.object_id = "oid-nobody", c.upn = "nobody@msp.example";
        else return make_error("oidc.signature", "bad signature");
        c.name = c.upn;
        (void)clk_;
        return c;
    }

private:
    const clock& clk_;
    std::atomic<int> n_{0};
};

// Where the page after sign-in moves on to (its meta refresh): the callback ends a cross-site
// navigation, so it answers 200 with a same-origin page instead of a 302 (SameSite=Strict).
std::string continue_to(const http::response& r) {
    const auto at = r.body.find("http-equiv=\"refresh\" content=\"0;url=");
    if (r.status != 200 || at == std::string::npos) return "";
    const auto from = at + 36;
    return r.body.substr(from, r.body.find('"', from) - from);
}

// The Set-Cookie header that sets cookie `name` ("" when none).
std::string set_cookie(const http::response& r, const std::string& name) {
    for (const auto& [k, v] : r.headers)
        if (k.size() == 10 && (k == "Set-Cookie" || k == "set-cookie") && v.rfind(name + "=", 0) == 0) return v;
    return "";
}

class ConsoleServer : public ::testing::Test {
protected:
    void SetUp() override {
        cert_ = dir_.path() / "cert.pem";
        key_ = dir_.path() / "key.pem";
        std::string out;
        ASSERT_EQ(test::run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key_.string(),
                                     "-out", cert_.string(), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                                     "subjectAltName=IP:127.0.0.1"},
                                    &out),
                  0)
            << out;
        console_settings s;
        s.listen_host = "127.0.0.1";
        s.listen_port = 0;
        s.tls_cert_file = cert_.string();
        s.tls_key_file = key_.string();
        s.oidc.issuer = "https://idp.example/tid/v2.0";
        s.role_claims = {{"ConnGuard.Approver", role::approver}};
        s.role_objects = {{"oid-vera", role::viewer}};
        srv_ = std::make_unique<server>(s, backend_, idp_, clk_);
        ASSERT_TRUE(srv_->start());
        base_ = srv_->url();
        ASSERT_EQ(base_, "https://127.0.0.1:" + std::to_string(srv_->port()));
    }
    void TearDown() override {
        client_.reset();  // close its keep-alive connection first: the server's stop waits for idle connections
        srv_->stop();
    }

    http::response call(const std::string& method, const std::string& path, const std::string& cookie = "",
                        const std::string& body = "", http::header_list headers = {}) {
        http::request r;
        r.method = method;
        r.url = base_ + path;
        r.ca_file = cert_.string();
        r.body = body;
        r.headers = std::move(headers);
        if (!cookie.empty()) r.headers.emplace_back("Cookie", std::string(session_cookie_name) + "=" + cookie);
        if (!body.empty()) r.headers.emplace_back("Content-Type", "application/json");
        auto res = client_->perform(r);
        if (!res) throw std::runtime_error(res.err().message);
        return *res;
    }

    struct started {
        std::string state, binding, authorize_url;
    };
    // /auth/sign-in as the browser starts it: the IdP URL with the state, and the sign-in cookie.
    started start_sign_in(const std::string& query = "") {
        const auto r = call("GET", "/auth/sign-in" + query);
        EXPECT_EQ(r.status, 302);
        started st;
        st.authorize_url = r.header("Location");
        const auto at = st.authorize_url.find("state=");
        if (at != std::string::npos) st.state = st.authorize_url.substr(at + 6, st.authorize_url.find('&', at) - at - 6);
        const auto c = set_cookie(r, sign_in_cookie_name);
        st.binding = c.substr(c.find('=') + 1, c.find(';') - c.find('=') - 1);
        return st;
    }
    // The IdP's redirect back, in the browser that started (binding = its sign-in cookie; "" = another browser).
    http::response callback(const std::string& code, const std::string& state, const std::string& binding) {
        http::header_list h;
        if (!binding.empty()) h.emplace_back("Cookie", std::string(sign_in_cookie_name) + "=" + binding);
        return call("GET", "/auth/callback?code=" + code + "&state=" + state, "", "", h);
    }

    struct signed_in {
        std::string cookie, csrf, location;
    };
    // Browser steps: /auth/sign-in -> (IdP) -> /auth/callback -> session cookie; the CSRF token from a page.
    signed_in sign_in(const std::string& who, const std::string& ret = "/tasks") {
        const auto st = start_sign_in("?return=" + http::url_encode(ret));
        const auto back = callback(who, st.state, st.binding);
        signed_in s;
        s.location = continue_to(back);
        const auto set = set_cookie(back, session_cookie_name);
        const auto eq = set.find('='), semi = set.find(';');
        if (back.status != 200 || eq == std::string::npos) return s;
        s.cookie = set.substr(eq + 1, semi - eq - 1);
        const auto page = call("GET", "/tasks", s.cookie);
        const auto meta = page.body.find("name=\"csrf-token\" content=\"");
        if (meta != std::string::npos) {
            const auto from = meta + 27;
            s.csrf = page.body.substr(from, page.body.find('"', from) - from);
        }
        return s;
    }
    http::header_list write_headers(const signed_in& s) {
        return {{"X-CSRF-Token", s.csrf}, {"Origin", base_}};
    }

    test::temp_dir dir_{"console-server"};
    std::filesystem::path cert_, key_;
    manual_clock clk_{std::chrono::system_clock::now()};
    recording_backend backend_;
    scripted_idp idp_{clk_};
    std::unique_ptr<server> srv_;
    std::string base_;
    std::unique_ptr<http::client> client_ = std::make_unique<http::client>();
};

void expect_security_headers(const http::response& r, const std::string& what) {
    SCOPED_TRACE(what);
    EXPECT_NE(r.header("Content-Security-Policy").find("default-src 'self'"), std::string::npos);
    EXPECT_NE(r.header("Content-Security-Policy").find("frame-ancestors 'none'"), std::string::npos);
    EXPECT_NE(r.header("Content-Security-Policy").find("form-action 'self' https://idp.example"), std::string::npos);
    EXPECT_EQ(r.header("X-Frame-Options"), "DENY");
    EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(r.header("Referrer-Policy"), "no-referrer");
    EXPECT_EQ(r.header("Cache-Control"), "no-store");
    EXPECT_NE(r.header("Strict-Transport-Security").find("max-age="), std::string::npos);
}

TEST_F(ConsoleServer, SecurityHeadersOnPagesApiStaticRedirectsAndErrors) {
    const auto s = sign_in("alice");
    ASSERT_FALSE(s.cookie.empty());
    expect_security_headers(call("GET", "/tenants", s.cookie), "page");
    expect_security_headers(call("GET", "/api/v1/tenants", s.cookie), "api");
    expect_security_headers(call("GET", "/static/app.js"), "static js");
    expect_security_headers(call("GET", "/static/app.css"), "static css");
    expect_security_headers(call("GET", "/tasks"), "redirect to sign-in");
    expect_security_headers(call("GET", "/api/v1/me"), "401");
    expect_security_headers(call("GET", "/no/such/page", s.cookie), "404");
    expect_security_headers(call("POST", "/api/v1/tasks/t1/approve", s.cookie, "{}"), "403 csrf");
}

TEST_F(ConsoleServer, ShellAndAssetsAreServedWithoutInlineScript) {
    const auto s = sign_in("alice");
    const auto page = call("GET", "/tasks/t1", s.cookie);
    ASSERT_EQ(page.status, 200);
    EXPECT_NE(page.header("Content-Type").find("text/html"), std::string::npos);
    EXPECT_NE(page.body.find("<main data-page=\"task\">"), std::string::npos);
    EXPECT_NE(page.body.find("<script src=\"/static/app.js\" defer></script>"), std::string::npos);
    EXPECT_EQ(page.body.find("<script>"), std::string::npos) << "no inline script";
    EXPECT_EQ(page.body.find("style="), std::string::npos) << "no inline style";
    EXPECT_NE(page.body.find("data-action=\"sign-out\""), std::string::npos);
    EXPECT_EQ(call("GET", "/tenants", s.cookie).body.find("<main data-page=\"tenants\">") != std::string::npos, true);
    const auto js = call("GET", "/static/app.js");
    EXPECT_EQ(js.status, 200);
    EXPECT_NE(js.header("Content-Type").find("text/javascript"), std::string::npos);
    EXPECT_EQ(js.body.find("innerHTML"), std::string::npos) << "values are rendered with textContent only";
    EXPECT_EQ(call("GET", "/static/index.html").status, 404);
    EXPECT_EQ(call("GET", "/static/../etc/passwd").status, 404);
}

TEST_F(ConsoleServer, UnauthenticatedApiIs401AndPagesRedirectToSignIn) {
    const auto api = call("GET", "/api/v1/tenants");
    EXPECT_EQ(api.status, 401);
    EXPECT_NE(api.header("Content-Type").find("application/json"), std::string::npos);
    EXPECT_EQ(json::parse(api.body)["error"], "unauthenticated");
    EXPECT_EQ(call("GET", "/api/v1/tenants", "forged-session-id").status, 401);
    const auto page = call("GET", "/tasks/t1");
    EXPECT_EQ(page.status, 302);
    EXPECT_EQ(page.header("Location"), "/auth/sign-in?return=%2Ftasks%2Ft1");
    EXPECT_TRUE(backend_.calls.empty()) << "nothing reached the coordinator";
}

TEST_F(ConsoleServer, SessionCookieIsHostOnlyHttpOnlySecureStrict) {
    const auto st = start_sign_in("?return=/tasks");
    ASSERT_EQ(st.authorize_url.rfind("https://idp.example/authorize?state=", 0), 0u) << st.authorize_url;
    ASSERT_FALSE(st.binding.empty());
    const auto back = callback("alice", st.state, st.binding);
    EXPECT_EQ(back.status, 200);
    EXPECT_EQ(continue_to(back), "/tasks");
    EXPECT_EQ(back.header("Location"), "") << "no redirect: a Strict cookie would not ride on it";
    const auto set = set_cookie(back, session_cookie_name);
    EXPECT_EQ(set.rfind("__Host-connguard-session=", 0), 0u) << set;
    EXPECT_NE(set.find("; HttpOnly"), std::string::npos);
    EXPECT_NE(set.find("; Secure"), std::string::npos);
    EXPECT_NE(set.find("; SameSite=Strict"), std::string::npos);
    EXPECT_NE(set.find("; Path=/"), std::string::npos);
    EXPECT_EQ(set.find("Domain"), std::string::npos);
    EXPECT_NE(set_cookie(back, sign_in_cookie_name).find("Max-Age=0"), std::string::npos) << "the sign-in cookie is cleared";
}

TEST_F(ConsoleServer, ACallbackInAnotherBrowserThanTheOneThatStartedIsRefused) {
    // Login CSRF: the attacker starts a sign-in, gets a code for their own account, and sends the
    // callback URL to the victim, whose browser lacks the attacker's sign-in cookie.
    const auto attacker = start_sign_in();
    const auto victim = callback("alice", attacker.state, "");
    EXPECT_EQ(victim.status, 400);
    EXPECT_EQ(set_cookie(victim, session_cookie_name), "");
    const auto other = start_sign_in();
    const auto wrong = callback("alice", other.state, attacker.binding);
    EXPECT_EQ(wrong.status, 400);
    EXPECT_EQ(set_cookie(wrong, session_cookie_name), "");
    EXPECT_EQ(callback("alice", other.state, other.binding).status, 400) << "the state was used up by the refused try";
}

TEST_F(ConsoleServer, PostWithoutOrWithAWrongCsrfTokenIs403) {
    const auto s = sign_in("alice");
    const std::string body = R"({"planVersion":1})";
    auto none = call("POST", "/api/v1/tasks/t1/approve", s.cookie, body, {{"Origin", base_}});
    EXPECT_EQ(none.status, 403);
    EXPECT_EQ(json::parse(none.body)["error"], "csrf");
    EXPECT_EQ(call("POST", "/api/v1/tasks/t1/approve", s.cookie, body, {{"Origin", base_}, {"X-CSRF-Token", "x" + s.csrf}}).status, 403);
    const auto other = sign_in("alice");  // another session's token is not this session's
    EXPECT_EQ(call("POST", "/api/v1/tasks/t1/approve", s.cookie, body, {{"Origin", base_}, {"X-CSRF-Token", other.csrf}}).status, 403);
    EXPECT_EQ(call("DELETE", "/api/v1/webhooks/w1", s.cookie, "", {{"Origin", base_}}).status, 403);
    EXPECT_EQ(call("PUT", "/api/v1/webhooks/w1", s.cookie, "{}", {{"Origin", base_}}).status, 403);
    EXPECT_TRUE(backend_.calls_of(&v1::AdminRequest::has_approve).empty());
    EXPECT_TRUE(backend_.calls_of(&v1::AdminRequest::has_remove_webhook).empty());
    // With the token it goes through.
    EXPECT_EQ(call("POST", "/api/v1/tasks/t1/approve", s.cookie, body, write_headers(s)).status, 200);
    EXPECT_EQ(backend_.calls_of(&v1::AdminRequest::has_approve).size(), 1u);
}

TEST_F(ConsoleServer, ABadOriginIs403EvenWithTheToken) {
    const auto s = sign_in("alice");
    const auto r = call("POST", "/api/v1/tasks/t1/approve", s.cookie, R"({"planVersion":1})",
                        {{"X-CSRF-Token", s.csrf}, {"Origin", "https://evil.example"}});
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(json::parse(r.body)["error"], "bad_origin");
    EXPECT_EQ(call("POST", "/api/v1/tasks/t1/approve", s.cookie, R"({"planVersion":1})",
                   {{"X-CSRF-Token", s.csrf}, {"Sec-Fetch-Site", "cross-site"}})
                  .status,
              403);
    EXPECT_TRUE(backend_.calls_of(&v1::AdminRequest::has_approve).empty());
}

TEST_F(ConsoleServer, ViewerForgedApproveIs403) {
    const auto v = sign_in("vera");
    ASSERT_FALSE(v.cookie.empty());
    const auto me = json::parse(call("GET", "/api/v1/me", v.cookie).body);
    EXPECT_EQ(me["role"], "viewer");
    EXPECT_EQ(me["canApprove"], false);
    const auto r = call("POST", "/api/v1/tasks/t1/approve", v.cookie, R"({"planVersion":1})", write_headers(v));
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(json::parse(r.body)["error"], "forbidden");
    EXPECT_TRUE(backend_.calls_of(&v1::AdminRequest::has_approve).empty());
}

TEST_F(ConsoleServer, ApproveRunsAsThePersonViaTheConsoleFromTheirAddress) {
    const auto s = sign_in("alice");
    const auto r = call("POST", "/api/v1/tasks/t1/approve", s.cookie, R"({"planVersion":1,"comment":"ok by me"})", write_headers(s));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["task"]["state"], "TASK_STATE_APPROVED");
    const auto calls = backend_.calls_of(&v1::AdminRequest::has_approve);
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].who.via, channel::console);
    EXPECT_EQ(calls[0].who.name, "alice@msp.example");
    EXPECT_EQ(calls[0].who.object_id, "oid-alice");
    EXPECT_EQ(calls[0].who.ip, "127.0.0.1");
    EXPECT_EQ(calls[0].who.who, role::approver);
    EXPECT_EQ(calls[0].req.approve().plan_version(), 1u);
    EXPECT_EQ(calls[0].req.approve().comment(), "ok by me");
}

TEST_F(ConsoleServer, ApproveWithAnOldSignInAsksForAFreshOne) {
    const auto s = sign_in("alice");
    clk_.advance(14min);
    EXPECT_EQ(call("GET", "/api/v1/me", s.cookie).status, 200);
    clk_.advance(2min);  // the sign-in is now 16 minutes old; the session is still live
    const auto r = call("POST", "/api/v1/tasks/t1/approve", s.cookie, R"({"planVersion":1})", write_headers(s));
    ASSERT_EQ(r.status, 401);
    const auto j = json::parse(r.body);
    EXPECT_EQ(j["error"], "reauth_required");
    EXPECT_EQ(j["signIn"], "/auth/sign-in?max_age=900&return=/tasks/t1");
    EXPECT_TRUE(backend_.calls_of(&v1::AdminRequest::has_approve).empty());
    // Following it: the IdP is asked for max_age and the fresh sign-in may approve.
    const auto start = call("GET", j["signIn"].get<std::string>());
    EXPECT_NE(start.header("Location").find("max_age=900"), std::string::npos);
    const auto fresh = sign_in("alice", "/tasks/t1");
    EXPECT_EQ(fresh.location, "/tasks/t1");
    EXPECT_EQ(call("POST", "/api/v1/tasks/t1/approve", fresh.cookie, R"({"planVersion":1})", write_headers(fresh)).status, 200);
    // Rejecting needs no fresh sign-in (stopping a change is always safe).
    EXPECT_EQ(call("POST", "/api/v1/tasks/t1/reject", s.cookie, R"({"reason":"no"})", write_headers(s)).status, 200);
}

TEST_F(ConsoleServer, SessionIdleExpiry) {
    const auto s = sign_in("vera");
    clk_.advance(29min);
    ASSERT_EQ(call("GET", "/api/v1/me", s.cookie).status, 200);
    clk_.advance(29min);
    ASSERT_EQ(call("GET", "/api/v1/me", s.cookie).status, 200);
    clk_.advance(31min);
    EXPECT_EQ(call("GET", "/api/v1/me", s.cookie).status, 401);
    EXPECT_EQ(call("GET", "/tenants", s.cookie).status, 302);
}

TEST_F(ConsoleServer, SessionAbsoluteExpiry) {
    const auto s = sign_in("vera");
    for (int i = 0; i < 47; ++i) {
        clk_.advance(15min);
        ASSERT_EQ(call("GET", "/api/v1/me", s.cookie).status, 200) << i;
    }
    clk_.advance(16min);  // 12 h 1 min after sign-in, last used 16 minutes ago
    EXPECT_EQ(call("GET", "/api/v1/me", s.cookie).status, 401);
}

TEST_F(ConsoleServer, ReturnPathIsOnlyLocal) {
    EXPECT_EQ(sign_in("vera", "/tasks/t1").location, "/tasks/t1");
    EXPECT_EQ(sign_in("vera", "https://evil.example/x").location, "/tenants");
    EXPECT_EQ(sign_in("vera", "//evil.example/x").location, "/tenants");
    EXPECT_EQ(sign_in("vera", "/\\evil.example").location, "/tenants");
    EXPECT_EQ(sign_in("vera", "/auth/sign-out").location, "/tenants");
}

TEST_F(ConsoleServer, StateIsUsedOnce) {
    const auto st = start_sign_in("?return=/tasks");
    EXPECT_EQ(callback("alice", st.state, st.binding).status, 200);
    const auto replay = callback("alice", st.state, st.binding);
    EXPECT_EQ(replay.status, 400);
    EXPECT_EQ(set_cookie(replay, session_cookie_name), "");
    EXPECT_EQ(callback("alice", "made-up", st.binding).status, 400);
    EXPECT_EQ(call("GET", "/auth/callback?code=alice").status, 400);
}

TEST_F(ConsoleServer, ARefusedTokenOrNoRoleGetsNoSession) {
    auto st = start_sign_in();
    const auto bad = callback("forged", st.state, st.binding);
    EXPECT_EQ(bad.status, 401);
    EXPECT_EQ(set_cookie(bad, session_cookie_name), "");
    EXPECT_NE(bad.body.find("oidc.signature"), std::string::npos);
    st = start_sign_in();
    const auto none = callback("nobody", st.state, st.binding);
    EXPECT_EQ(none.status, 403);
    EXPECT_EQ(set_cookie(none, session_cookie_name), "");
    EXPECT_NE(none.body.find("no role"), std::string::npos);
}

TEST_F(ConsoleServer, SignOutEndsTheSession) {
    const auto s = sign_in("alice");
    const auto out = call("GET", "/auth/sign-out", s.cookie);
    EXPECT_EQ(out.status, 200);
    EXPECT_NE(out.header("Set-Cookie").find("Max-Age=0"), std::string::npos);
    EXPECT_EQ(call("GET", "/api/v1/me", s.cookie).status, 401);
}

TEST_F(ConsoleServer, TenantsArePagedFilteredAndSortedServerSide) {
    const auto s = sign_in("vera");
    auto j = json::parse(call("GET", "/api/v1/tenants?pageSize=50&page=3&sort=tenant", s.cookie).body);
    EXPECT_EQ(j["total"], 120);
    EXPECT_EQ(j["pages"], 3);
    ASSERT_EQ(j["tenants"].size(), 20u);
    EXPECT_EQ(j["tenants"][0]["tenant"], "tenant-100");
    j = json::parse(call("GET", "/api/v1/tenants?status=FAIL&q=tenant-00", s.cookie).body);
    EXPECT_EQ(j["total"], 4);  // 000, 003, 006, 009
    for (const auto& t : j["tenants"]) EXPECT_EQ(t["overall"], "CHECK_STATUS_FAIL");
    j = json::parse(call("GET", "/api/v1/tenants", s.cookie).body);
    EXPECT_EQ(j["tenants"][0]["overall"], "CHECK_STATUS_FAIL") << "worst first by default";
    EXPECT_EQ(call("GET", "/api/v1/tenants?pageSize=0", s.cookie).status, 400);
    EXPECT_EQ(call("GET", "/api/v1/tenants?sort=evil", s.cookie).status, 400);
}

TEST_F(ConsoleServer, TasksWaitingForApprovalComeFirstAndRefusalsMapToHttp) {
    const auto s = sign_in("vera");
    const auto j = json::parse(call("GET", "/api/v1/tasks", s.cookie).body);
    ASSERT_EQ(j["tasks"].size(), 3u);
    EXPECT_EQ(j["tasks"][0]["state"], "TASK_STATE_PENDING_APPROVAL");
    const auto missing = call("GET", "/api/v1/tenants/nope", s.cookie);
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(json::parse(missing.body)["error"], "not_found");
    EXPECT_EQ(call("GET", "/api/v1/no-such-endpoint", s.cookie).status, 404);
    EXPECT_EQ(call("GET", "/api/v1/tasks?state=BOGUS", s.cookie).status, 400);
    EXPECT_EQ(call("POST", "/api/v1/tasks/t1/reject", s.cookie, "not json", write_headers(s)).status, 400);
}

TEST_F(ConsoleServer, EventStreamSendsChangesResumesAndBeatsNothingElse) {
    const auto s = sign_in("vera");
    backend_.push(v1::ConsoleChange::KIND_TASK, "t0");  // before the stream: not sent without Last-Event-ID
    httplib::SSLClient cli("127.0.0.1", srv_->port());
    cli.set_ca_cert_path(cert_.c_str());
    cli.enable_server_certificate_verification(true);
    std::string got;
    std::string content_type;
    std::thread pusher([&] {
        std::this_thread::sleep_for(200ms);  // only lets the stream open first; the assertion waits for data
        backend_.push(v1::ConsoleChange::KIND_TASK, "t1");
    });
    const httplib::Headers cookie{{"Cookie", std::string(session_cookie_name) + "=" + s.cookie}};
    auto res = cli.Get("/api/v1/events", cookie,
                       [&](const httplib::Response& r) {
                           content_type = r.get_header_value("Content-Type");
                           return true;
                       },
                       [&](const char* data, std::size_t n) {
                           got.append(data, n);
                           return got.find("\"taskId\":\"t1\"") == std::string::npos;  // stop after t1
                       });
    pusher.join();
    EXPECT_EQ(content_type, "text/event-stream");
    EXPECT_NE(got.find("id: 2\ndata: {"), std::string::npos) << got;
    EXPECT_EQ(got.find("\"taskId\":\"t0\""), std::string::npos) << got;
    EXPECT_NE(got.find("\"kind\":\"task\""), std::string::npos) << got;
    // Resume: Last-Event-ID 0 gets both.
    got.clear();
    const httplib::Headers resume{{"Cookie", std::string(session_cookie_name) + "=" + s.cookie}, {"Last-Event-ID", "0"}};
    cli.Get("/api/v1/events", resume,
            [&](const char* data, std::size_t n) {
                got.append(data, n);
                return got.find("\"taskId\":\"t1\"") == std::string::npos;
            });
    EXPECT_NE(got.find("\"taskId\":\"t0\""), std::string::npos) << got;
    EXPECT_NE(got.find("\"taskId\":\"t1\""), std::string::npos) << got;
    // Without a session: 401, no stream.
    EXPECT_EQ(call("GET", "/api/v1/events").status, 401);
}

TEST(ConsoleServerStart, InsecureHttpOnANonLoopbackAddressIsRefused) {
    manual_clock clk;
    recording_backend backend;
    scripted_idp idp(clk);
    console_settings s;
    s.listen_host = "0.0.0.0";
    s.listen_port = 0;
    s.insecure_http = true;
    server srv(s, backend, idp, clk);
    const auto st = srv.start();
    ASSERT_FALSE(st);
    EXPECT_EQ(st.err().code, "console.insecure");
}

TEST(ConsoleServerStart, InsecureHttpOnLoopbackServesWithoutHsts) {
    manual_clock clk;
    recording_backend backend;
    scripted_idp idp(clk);
    console_settings s;
    s.listen_port = 0;
    s.insecure_http = true;
    server srv(s, backend, idp, clk);
    ASSERT_TRUE(srv.start());
    http::client c;
    http::request req;
    req.url = srv.url() + "/static/app.css";
    auto r = c.perform(req);
    ASSERT_TRUE(r) << r.err().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("X-Frame-Options"), "DENY");
    EXPECT_EQ(r->header("Strict-Transport-Security"), "");
}

TEST(ConsoleServerStart, ABadCertificateIsRefused) {
    manual_clock clk;
    recording_backend backend;
    scripted_idp idp(clk);
    console_settings s;
    s.listen_port = 0;
    s.tls_cert_file = "/nonexistent/cert.pem";
    s.tls_key_file = "/nonexistent/key.pem";
    server srv(s, backend, idp, clk);
    const auto st = srv.start();
    ASSERT_FALSE(st);
    EXPECT_EQ(st.err().code, "console.tls");
}

}  // namespace
}  // namespace connguard::coord::console
