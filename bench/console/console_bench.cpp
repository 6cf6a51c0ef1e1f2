// Console benchmark (prints figures; never pass/fail): the Tenants page and its API at 1,000 tenants.
//
//  1. server time in process: console::handle_api("GET tenants" — first page, a status filter, a
//     search) over the real engine and a real SQLite store holding N tenants' reports (a quarter
//     failing, so with their tasks and alerts), p50/p99 over R requests;
//  2. the HTTP round trip: the console server (cpp-httplib; plain HTTP on loopback so that TLS
//     handshakes are not what is measured) with a signed-in session, GET /api/v1/tenants and
//     GET /tenants (the page's HTML shell) through the project's HTTP client, p50/p99.
//
//   connguard-bench-console [--tenants N] [--requests R]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <strings.h>
#include <unistd.h>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/envelope_codec.h"
#include "common/http/http_client.h"
#include "common/topics.h"
#include "coordinator/console/api.h"
#include "coordinator/console/server.h"
#include "coordinator/console/sessions.h"
#include "coordinator/engine.h"
#include "coordinator/store.h"
#include "tests/support/report_fixtures.h"

using namespace connguard;
namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "connguard-bench-console: %s\n", what.c_str());
    std::exit(1);
}

std::string tenant_key(int i) {
    char b[32];
    std::snprintf(b, sizeof b, "tenant-%04d", i);
    return b;
}

/// The console's view of a coordinator without MQTT: admin requests straight into the engine in
/// one SQLite transaction each (as the coordinator's committer does); no live feed.
class engine_backend final : public coord::console_backend {
public:
    engine_backend(coord::store& db, coord::engine& eng, const connguard::clock& clk) : db_(db), eng_(eng), clk_(clk) {}
    result<v1::AdminResponse> admin(const coord::principal& who, const v1::AdminRequest& req) override {
        std::lock_guard lk(mu_);
        if (auto st = db_.begin(); !st) return st.err();
        auto rsp = eng_.answer(who, req, to_unix_ms(clk_.now()));
        if (!rsp) {
            db_.rollback();
            return rsp.err();
        }
        if (auto st = db_.commit(); !st) return st.err();
        eng_.take_changes();
        return rsp;
    }
    std::uint64_t change_head() const override { return 0; }
    std::vector<v1::ConsoleChange> wait_changes(std::uint64_t, std::chrono::milliseconds, bool*) override { return {}; }

private:
    std::mutex mu_;
    coord::store& db_;
    coord::engine& eng_;
    const connguard::clock& clk_;
};

/// Signs anybody in as alice (approver) without an identity provider: the bench measures pages.
class fixed_person final : public coord::console::identity_provider {
public:
    result<coord::console::sign_in_start> begin(const std::string& redirect_uri, std::optional<int>) override {
        coord::console::sign_in_start s;
        s.pending.state = coord::console::random_token();
        s.pending.nonce = coord::console::random_token();
        s.pending.code_verifier = coord::console::random_token();
        s.pending.redirect_uri = redirect_uri;
        s.authorize_url = redirect_uri + "?code=bench&state=" + s.pending.state;
        return s;
    }
    result<coord::console::id_token_claims> finish(const std::string&, const coord::console::pending_sign_in&,
                                                   std::int64_t now_s) override {
        coord::console::id_token_claims c;
        c.object_id = "a11ce000-0000-4000-8000-000000000001";
        c.upn = "alice@msp.example";
        c.name = "Alice Approver";
        c.roles = {"ConnGuard.Approver"};
        c.auth_time_s = now_s;
        c.expires_s = now_s + 3600;
        return c;
    }
};

struct figures {
    double p50_ms = 0, p99_ms = 0;
};

figures measure(int n, const std::function<void()>& fn) {
    std::vector<double> ms;
    ms.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        const auto t0 = steady::now();
        fn();
        ms.push_back(std::chrono::duration<double, std::milli>(steady::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    auto at = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(p / 100.0 * static_cast<double>(ms.size() - 1) + 0.5))]; };
    return {at(50), at(99)};
}

void print(const char* what, const figures& f, std::size_t bytes) {
    std::printf("  %-58s p50 %7.2f ms   p99 %7.2f ms   (%zu bytes)\n", what, f.p50_ms, f.p99_ms, bytes);
}

std::string cookie_header(const http::response& rsp) {
    std::string out;
    for (const auto& [name, value] : rsp.headers) {
        if (name.size() != 10 || strncasecmp(name.c_str(), "set-cookie", 10) != 0) continue;
        const auto pair = value.substr(0, value.find(';'));
        if (pair.find('=') + 1 == pair.size()) continue;  // a deletion
        out += (out.empty() ? "" : "; ") + pair;
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    int tenants = 1000, requests = 300;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--tenants" && i + 1 < argc) tenants = std::atoi(argv[++i]);
        else if (a == "--requests" && i + 1 < argc) requests = std::atoi(argv[++i]);
        else {
            std::printf("usage: connguard-bench-console [--tenants N] [--requests R]\n"
                        "The console's Tenants API and page at N tenants (default 1000): server time in process\n"
                        "and the HTTP round trip, p50/p99 over R requests (default 300). Prints figures.\n");
            return a == "--help" || a == "-h" ? 0 : 2;
        }
    }
    if (tenants < 1 || requests < 1) die("--tenants and --requests must be positive");
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    spdlog::set_level(spdlog::level::warn);  // the engine's per-alert info lines are not the figures

    const auto dir = fs::temp_directory_path() / (std::string("connguard-bench-console-") + std::to_string(::getpid()));
    fs::create_directories(dir);
    const connguard::clock& clk = system_clock::instance();
    int failing = 0;
    {
        auto db = coord::store::open(dir / "coordinator.db");
        if (!db) die(std::string("store: ") + db.err().message);
        coord::engine_settings es;
        coord::engine eng(**db, clk, es);

        // N tenants' first reports through the engine, as the coordinator ingests them: every fourth
        // fails (a CA policy requires MFA of the account), which plans its task and raises its alerts.
        const auto t0 = steady::now();
        for (int i = 0; i < tenants; ++i) {
            const auto key = tenant_key(i);
            auto r = test::report(1, to_unix_ms(clk.now()));
            if (i % 4 == 0) {
                test::add_cap_fail(r, std::string("809741fe-fb1b-4746-9ff0-83a978a4c8") + std::to_string(10 + i % 80), "2026-01-01T10:00:00Z");
                ++failing;
            }
            test::finish_overall(r);
            auto env = test::wrap(key, r);
            const auto raw = codec::encode(env, clk);
            if (auto st = (*db)->begin(); !st) die(std::string("begin: ") + st.err().message);
            auto out = eng.handle(topics::validation(key), env, raw, "");
            if (!out) die(std::string("ingest of ") + key + ": " + out.err().message);
            if (auto st = (*db)->commit(); !st) die(std::string("commit: ") + st.err().message);
            eng.take_changes();
        }
        std::printf("console benchmark: %d tenants (%d failing, with their tasks and alerts) ingested in %.1f s; %d requests each\n",
                    tenants, failing, std::chrono::duration<double>(steady::now() - t0).count(), requests);

        engine_backend backend(**db, eng, clk);
        coord::principal alice;
        alice.name = "alice@msp.example";
        alice.who = coord::role::approver;
        alice.via = coord::channel::console;
        alice.object_id = "a11ce000-0000-4000-8000-000000000001";
        alice.upn = alice.name;
        alice.ip = "127.0.0.1";
        alice.auth_time_ms = to_unix_ms(clk.now());

        // 1. Server time in process.
        std::printf("server time in process (console::handle_api over the engine and SQLite):\n");
        auto api = [&](const char* what, std::multimap<std::string, std::string> query) {
            coord::console::api_request req{"GET", "tenants", std::move(query), ""};
            const coord::console::api_context ctx{backend, alice, "Alice Approver", "csrf", to_unix_ms(clk.now()), std::chrono::seconds{900}};
            std::size_t bytes = 0;
            const auto f = measure(requests, [&] {
                auto rsp = coord::console::handle_api(req, ctx);
                if (rsp.status != 200) die(std::string("GET tenants answered ") + std::to_string(rsp.status) + ": " + rsp.body);
                bytes = rsp.body.size();
            });
            print(what, f, bytes);
        };
        api("GET /api/v1/tenants (first page of 50, sorted by status)", {});
        api("GET /api/v1/tenants?status=fail", {{"status", "fail"}});
        api("GET /api/v1/tenants?q=tenant-09", {{"q", "tenant-09"}});
        api("GET /api/v1/tenants?pageSize=1000 (all on one page)", {{"pageSize", "1000"}});

        // 2. The HTTP round trip through the console server.
        coord::console::console_settings cs;
        cs.listen_host = "127.0.0.1";
        cs.listen_port = 0;
        cs.insecure_http = true;
        cs.oidc.issuer = "http://127.0.0.1:1/bench/v2.0";
        cs.oidc.client_id = "c0c0a5e1-2b3c-4d5e-8f60-7a8b9c0d1e2f";
        cs.role_claims = {{"ConnGuard.Approver", coord::role::approver}};
        fixed_person idp;
        coord::console::server web(cs, backend, idp, clk);
        if (auto st = web.start(); !st) die(std::string("console server: ") + st.err().message);
        const auto base = web.url();
        http::client hc;
        auto get = [&](const std::string& path, const std::string& cookie) {
            http::request rq;
            rq.url = base + path;
            if (!cookie.empty()) rq.headers.emplace_back("Cookie", cookie);
            auto rsp = hc.perform(rq);
            if (!rsp) die(std::string("GET ") + path + ": " + rsp.err().message);
            return *rsp;
        };
        // Sign in: /auth/sign-in -> (the fixed person's "IdP" answers at once) -> /auth/callback.
        auto start = get("/auth/sign-in?return=/tenants", "");
        const auto to_idp = start.header("Location");
        if (start.status != 302 || to_idp.empty()) die(std::string("sign-in did not redirect (HTTP ") + std::to_string(start.status) + ")");
        const auto callback_path = to_idp.substr(base.size());
        auto back = get(callback_path, cookie_header(start));
        const auto cookie = cookie_header(back);
        if (back.status != 200 || cookie.empty()) die(std::string("the callback set no session (HTTP ") + std::to_string(back.status) + ")");

        std::printf("HTTP round trip (loopback, plain HTTP, one keep-alive connection, signed-in session):\n");
        auto round_trip = [&](const char* what, const std::string& path) {
            std::size_t bytes = 0;
            const auto f = measure(requests, [&] {
                auto rsp = get(path, cookie);
                if (rsp.status != 200) die(std::string("GET ") + path + " answered " + std::to_string(rsp.status));
                bytes = rsp.body.size();
            });
            print(what, f, bytes);
        };
        round_trip("GET /tenants (the page's HTML shell)", "/tenants");
        round_trip("GET /api/v1/tenants (first page of 50)", "/api/v1/tenants");
        round_trip("GET /api/v1/tenants?status=fail", "/api/v1/tenants?status=fail");
        round_trip("GET /api/v1/tenants?pageSize=1000", "/api/v1/tenants?pageSize=1000");
        web.stop();
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    return 0;
}
