// The console end to end: the real connguard-coordinator binary (real mosquitto, real SQLite) serving
// the console over HTTPS on loopback, people signing in at the real graph-sim IdP (--idp msp.json)
// through its sign-in form as a browser would (common/http client, redirects and cookies by hand),
// then deciding a task through the API. The audit entry names the person, the console and the IP.
#include <gtest/gtest.h>
#include <httplib.h>

#include <sys/stat.h>

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "common/http/http_client.h"
#include "tests/coordinator/harness.h"
#include "tests/support/graph_sim.h"
#include "tests/support/html_form.h"
#include "tests/support/report_fixtures.h"
#include "tests/support/webhook_receiver.h"

namespace connguard::coord {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const std::string idp_file = std::string(CONNGUARD_SOURCE_DIR) + "/tools/graph-sim/idp/msp.json";
const std::string scenarios = std::string(CONNGUARD_SOURCE_DIR) + "/tools/graph-sim/scenarios";

json msp() {
    std::ifstream in(idp_file);
    return json::parse(in, nullptr, true, true);
}

// One person's browser: a cookie per origin (the console's session, the IdP's SSO cookie).
class browser {
public:
    browser(std::string console_url, std::string ca_file) : console_(std::move(console_url)), ca_(std::move(ca_file)) {}

    http::response request(const std::string& method, const std::string& url, const std::string& body = "",
                           http::header_list headers = {}) {
        http::request rq;
        rq.method = method;
        rq.url = url;
        rq.ca_file = ca_;
        rq.body = body;
        rq.headers = std::move(headers);
        const auto origin = origin_of(url);
        if (const auto cookie = cookie_header(origin); !cookie.empty()) rq.headers.emplace_back("Cookie", cookie);
        auto r = http_.perform(rq);
        if (!r) throw std::runtime_error(method + " " + url + ": " + r.err().message);
        for (const auto& [k, v] : r->headers) {
            if (k != "Set-Cookie" && k != "set-cookie") continue;
            const auto pair = v.substr(0, v.find(';'));
            const auto eq = pair.find('=');
            if (v.find("Max-Age=0") != std::string::npos) cookies_[origin].erase(pair.substr(0, eq));
            else cookies_[origin][pair.substr(0, eq)] = pair.substr(eq + 1);
        }
        return *r;
    }
    std::string absolute(const std::string& base, const std::string& location) {
        return location.rfind("http", 0) == 0 ? location : base + location;
    }

    /// Opens `path` on the console, follows the sign-in through the IdP's form as `upn`, and ends on the
    /// page again; returns the final page's response and keeps the CSRF token of its shell.
    http::response sign_in(const std::string& path, const std::string& upn) {
        auto r = request("GET", console_ + path);
        std::string url = console_ + path;
        auto next = [&]() -> std::string {
            if (r.status == 302) return r.header("Location");
            // The console's page after the callback moves on with a meta refresh (no script).
            const auto at = r.body.find("http-equiv=\"refresh\" content=\"0;url=");
            if (r.status != 200 || at == std::string::npos) return "";
            return test::html_unescape(r.body.substr(at + 36, r.body.find('"', at + 36) - at - 36));
        };
        for (int hops = 0; hops < 12 && !next().empty(); ++hops) {
            url = absolute(origin_of(url), next());
            r = request("GET", url);
            if (r.status == 200 && r.body.find("<form") != std::string::npos && r.body.find("name=\"password\"") != std::string::npos) {
                // The IdP's sign-in form: fill in username and password, keep the hidden fields.
                const auto form = test::read_html_form(r.body);
                std::vector<std::pair<std::string, std::string>> fields;
                for (const auto& [name, value] : form->fields)
                    fields.emplace_back(name, name == "username" ? upn : name == "password" ? "connguard-demo" : value);
                const auto& action = form->action;
                url = absolute(origin_of(url), action);
                r = request("POST", url, http::form_encode(fields), {{"Content-Type", "application/x-www-form-urlencoded"}});
            }
        }
        const auto meta = r.body.find("name=\"csrf-token\" content=\"");
        if (meta != std::string::npos) csrf_ = r.body.substr(meta + 27, r.body.find('"', meta + 27) - meta - 27);
        return r;
    }

    http::response api(const std::string& method, const std::string& path, const std::string& body = "") {
        http::header_list h = {{"Accept", "application/json"}};
        if (method != "GET") {
            h.emplace_back("X-CSRF-Token", csrf_);
            h.emplace_back("Origin", console_);
            h.emplace_back("Content-Type", "application/json");
        }
        return request(method, console_ + "/api/v1/" + path, body, h);
    }
    const std::string& csrf() const { return csrf_; }
    /// The Cookie header this browser sends to the console.
    std::string console_cookie() const { return cookie_header(console_); }
    std::string cookie_header(const std::string& origin) const {
        std::string out;
        if (const auto it = cookies_.find(origin); it != cookies_.end())
            for (const auto& [k, v] : it->second) out += (out.empty() ? "" : "; ") + k + "=" + v;
        return out;
    }

    static std::string origin_of(const std::string& url) {
        const auto scheme = url.find("://");
        const auto slash = url.find('/', scheme + 3);
        return url.substr(0, slash);
    }

private:
    std::string console_, ca_;
    http::client http_;
    std::map<std::string, std::map<std::string, std::string>> cookies_;  ///< origin -> name -> value
    std::string csrf_;
};

class ConsoleEndToEnd : public ::testing::Test {
protected:
    ConsoleEndToEnd() : sim_(scenarios, {}, {"--idp", idp_file}) {}

    void SetUp() override {
        const json m = msp();
        std::string out;
        cert_ = (dir_.path() / "console.crt").string();
        const auto key = (dir_.path() / "console.key").string();
        ASSERT_EQ(test::run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert_,
                                     "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"},
                                    &out),
                  0)
            << out;
        ::chmod(key.c_str(), 0600);
        const auto secret = dir_.path() / "console.secret";
        std::ofstream(secret) << m["apps"][0]["clientSecret"].get<std::string>() << "\n";
        ::chmod(secret.c_str(), 0600);
        const int port = test::free_port();
        url_ = "https://127.0.0.1:" + std::to_string(port);
        test::broker_options o;
        o.tenants = {"contoso"};
        o.admins = {"alice", "bob"};
        deployment_ = std::make_unique<test::deployment>(
            o, json{{"console",
                     {{"listen", "127.0.0.1:" + std::to_string(port)},
                      {"tlsCertFile", cert_},
                      {"tlsKeyFile", key},
                      {"oidc",
                       {{"issuer", sim_.base_url() + "/" + m["tenantId"].get<std::string>() + "/v2.0"},
                        {"clientId", m["apps"][0]["clientId"]},
                        {"clientSecretFile", secret.string()}}},
                      {"roles", {{"claims", {{"ConnGuard.Viewer", "viewer"}, {"ConnGuard.Approver", "approver"}, {"ConnGuard.Admin", "admin"}}}}}}}});
        deployment_->start();
        ASSERT_TRUE(test::eventually([&] { return test::slurp(deployment_->log_path()).find("console at " + url_) != std::string::npos; }))
            << test::slurp(deployment_->log_path());
    }

    /// A FAIL report from contoso's agent: one EXCLUDE task waiting for approval.
    void pending_task() {
        auto agent = deployment_->client("contoso");
        EXPECT_TRUE(agent->connect());
        auto r = test::report(1, to_unix_ms(system_clock::instance().now()));
        test::add_cap_fail(r, "pol-1", "2026-01-01T10:00:00Z", "block");
        test::finish_overall(r);
        EXPECT_TRUE(agent->publish(test::envelope_message(topics::validation("contoso"), test::wrap("contoso", r))));
        EXPECT_TRUE(test::eventually([&] { return deployment_->count("SELECT count(*) FROM tasks WHERE state = 2") == 1; }))
            << test::slurp(deployment_->log_path());
    }

    test::temp_dir dir_{"console-e2e"};
    test::graph_sim sim_;
    std::string cert_, url_;
    std::unique_ptr<test::deployment> deployment_;
};

TEST_F(ConsoleEndToEnd, AliceSignsInAtTheIdpApprovesAndTheAuditNamesHerTheConsoleAndHerAddress) {
    pending_task();
    browser alice(url_, cert_);
    const auto page = alice.sign_in("/tasks", "alice@msp.example");
    ASSERT_EQ(page.status, 200) << page.body;
    EXPECT_NE(page.body.find("<main data-page=\"tasks\">"), std::string::npos);
    ASSERT_FALSE(alice.csrf().empty());
    const auto me = json::parse(alice.api("GET", "me").body);
    EXPECT_EQ(me["upn"], "alice@msp.example");
    EXPECT_EQ(me["role"], "approver");
    EXPECT_EQ(me["objectId"], "a11ce000-0000-4000-8000-000000000001");

    const auto tasks = json::parse(alice.api("GET", "tasks?state=PENDING_APPROVAL").body);
    ASSERT_EQ(tasks["tasks"].size(), 1u) << tasks.dump();
    const std::string id = tasks["tasks"][0]["taskId"];
    const auto version = tasks["tasks"][0]["planVersion"].get<int>();
    const auto shown = json::parse(alice.api("GET", "tasks/" + id).body);
    EXPECT_EQ(shown["plan"]["excludeFromCaPolicy"]["policyId"], "pol-1");

    // A live page's event stream, open while she approves: it must carry the task's change.
    std::string events;
    std::atomic<bool> stream_open{false};
    std::thread live([&] {
        httplib::SSLClient cli("127.0.0.1", std::stoi(url_.substr(url_.rfind(':') + 1)));
        cli.set_ca_cert_path(cert_.c_str());
        cli.enable_server_certificate_verification(true);
        cli.set_read_timeout(60, 0);
        const httplib::Headers h{{"Cookie", alice.console_cookie()}};
        cli.Get("/api/v1/events", h, [&](const char* data, std::size_t n) {
            stream_open = true;  // the first bytes ("retry: ...") arrive as soon as the stream starts
            events.append(data, n);
            return events.find("\"taskId\":\"" + id + "\"") == std::string::npos;
        });
    });
    ASSERT_TRUE(test::eventually([&] { return stream_open.load(); }));
    const auto approved = alice.api("POST", "tasks/" + id + "/approve", json{{"planVersion", version}, {"comment", "checked the diff"}}.dump());
    ASSERT_EQ(approved.status, 200) << approved.body;
    live.join();
    EXPECT_NE(events.find("\"kind\":\"task\""), std::string::npos) << events;
    EXPECT_EQ(json::parse(approved.body)["task"]["approvals"].size(), 1u);

    // The audit log (through the console's own API, verified) names her, the console and her address.
    const auto audit = json::parse(alice.api("GET", "audit?taskId=" + id + "&verify=1").body);
    EXPECT_TRUE(audit["verification"]["ok"].get<bool>()) << audit.dump();
    bool found = false;
    for (const auto& e : audit["entries"]) {
        if (e["action"] != "task.approval_recorded") continue;  // the first of the two approvals
        found = true;
        EXPECT_EQ(e["actor"], "alice@msp.example");
        const std::string detail = e["detail"];
        EXPECT_NE(detail.find("via console by alice@msp.example (oid a11ce000-0000-4000-8000-000000000001) from 127.0.0.1"),
                  std::string::npos)
            << detail;
    }
    EXPECT_TRUE(found) << audit.dump(2);

    // The two-person rule holds across the console: alice again is refused, bob completes it.
    const auto again = alice.api("POST", "tasks/" + id + "/approve", json{{"planVersion", version}}.dump());
    EXPECT_EQ(again.status, 409) << again.body;
    browser bob(url_, cert_);
    ASSERT_EQ(bob.sign_in("/tasks/" + id, "bob@msp.example").status, 200);
    const auto second = bob.api("POST", "tasks/" + id + "/approve", json{{"planVersion", version}}.dump());
    ASSERT_EQ(second.status, 200) << second.body;
    const auto state = json::parse(second.body)["task"]["state"].get<std::string>();
    EXPECT_TRUE(state == "TASK_STATE_APPROVED" || state == "TASK_STATE_DISPATCHED") << state;
    // The session cookie and the client secret appear in no log line.
    const auto log = test::slurp(deployment_->log_path());
    EXPECT_EQ(log.find(msp()["apps"][0]["clientSecret"].get<std::string>()), std::string::npos);
}

TEST_F(ConsoleEndToEnd, AViewerSeesTasksButHerForgedApproveIs403AndNothingChanges) {
    pending_task();
    browser vera(url_, cert_);
    ASSERT_EQ(vera.sign_in("/tasks", "vera@msp.example").status, 200);
    const auto tasks = json::parse(vera.api("GET", "tasks").body);
    ASSERT_EQ(tasks["tasks"].size(), 1u);
    const std::string id = tasks["tasks"][0]["taskId"];
    const auto r = vera.api("POST", "tasks/" + id + "/approve", R"({"planVersion":1})");
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_EQ(deployment_->count("SELECT count(*) FROM approvals"), 0);
    // And without the CSRF token even an approver's session is refused.
    browser bob(url_, cert_);
    ASSERT_EQ(bob.sign_in("/tasks", "bob@msp.example").status, 200);
    const auto forged = bob.request("POST", url_ + "/api/v1/tasks/" + id + "/approve", R"({"planVersion":1})",
                                    {{"Content-Type", "application/json"}, {"Origin", url_}});
    EXPECT_EQ(forged.status, 403);
    EXPECT_EQ(deployment_->count("SELECT count(*) FROM approvals"), 0);
}

}  // namespace
}  // namespace connguard::coord

namespace connguard::coord {
namespace {

// Subscriptions through the console's API, on the real coordinator: an admin adds one (a real HTTP
// receiver on loopback), changes it, sends the test alert, removes it; a viewer may not add one.
TEST_F(ConsoleEndToEnd, AnAdminManagesAlertSubscriptionsThroughTheApiAndTheTestAlertArrives) {
    test::webhook_receiver sink;
    const std::string hook = sink.url("/hooks/SECRET-PATH");

    browser vera(url_, cert_);
    ASSERT_EQ(vera.sign_in("/subscriptions", "vera@msp.example").status, 200);
    const json sub = {{"name", "noc"}, {"url", hook}, {"format", "WEBHOOK_FORMAT_GENERIC"}, {"minSeverity", "SEVERITY_WARNING"},
                      {"tenants", json::array({"contoso"})}};
    EXPECT_EQ(vera.api("POST", "webhooks", sub.dump()).status, 403);

    browser adam(url_, cert_);
    ASSERT_EQ(adam.sign_in("/subscriptions", "adam@msp.example").status, 200);
    EXPECT_EQ(json::parse(adam.api("GET", "me").body)["canManageWebhooks"], true);
    const auto added = adam.api("POST", "webhooks", sub.dump());
    ASSERT_EQ(added.status, 200) << added.body;
    const std::string id = json::parse(added.body)["webhooks"][0]["id"];
    ASSERT_FALSE(id.empty());
    json changed = sub;
    changed["minSeverity"] = "SEVERITY_CRITICAL";
    const auto put = adam.api("PUT", "webhooks/" + id, changed.dump());
    ASSERT_EQ(put.status, 200) << put.body;
    const auto listed = json::parse(adam.api("GET", "webhooks").body);
    ASSERT_EQ(listed["webhooks"].size(), 1u) << listed.dump();
    EXPECT_EQ(listed["webhooks"][0]["minSeverity"], "SEVERITY_CRITICAL");
    EXPECT_EQ(listed["webhooks"][0]["createdBy"], "adam@msp.example");

    ASSERT_EQ(adam.api("POST", "webhooks/" + id + "/test").status, 200);
    ASSERT_TRUE(test::eventually([&] { return sink.count() > 0; })) << test::slurp(deployment_->log_path());
    EXPECT_NE(sink.body(0).find("ConnGuard test alert"), std::string::npos) << sink.body(0);
    EXPECT_EQ(adam.api("DELETE", "webhooks/" + id).status, 200);
    EXPECT_EQ(json::parse(adam.api("GET", "webhooks").body)["webhooks"].size(), 0u);
    // The audit names the subscription by its origin only (the path of a webhook URL is its secret).
    const auto audit = adam.api("GET", "audit?limit=50").body;
    EXPECT_NE(audit.find("webhook.added"), std::string::npos);
    EXPECT_EQ(audit.find("SECRET-PATH"), std::string::npos);
}

}  // namespace
}  // namespace connguard::coord
