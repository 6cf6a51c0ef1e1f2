// The libcurl HTTP client against the project's real HTTP server on loopback: methods, bodies,
// headers, statuses, and the transport error codes the Graph client retries on.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/http/http_client.h"
#include "tests/graph/loopback_server.h"
#include "tests/support/process.h"

namespace {

using namespace connguard;

http::request req(std::string method, std::string url, http::header_list headers = {}, std::string body = {},
                  std::chrono::milliseconds timeout = std::chrono::milliseconds{30000}) {
    http::request r;
    r.method = std::move(method);
    r.url = std::move(url);
    r.headers = std::move(headers);
    r.body = std::move(body);
    r.timeout = timeout;
    return r;
}

class HttpClient : public test::LoopbackServerTest {
protected:
    http::server_response handle(const http::server_request& r) override {
        ++hits_;
        if (r.path == "/echo") {
            std::string body = r.method + "|" + r.target + "|" + r.header("Content-Type") + "|" + r.header("X-Test") + "|" + r.body;
            return {200, {{"Content-Type", "text/plain"}, {"X-Reply", "yes"}}, body};
        }
        if (r.path == "/status") return {503, {{"Retry-After", "1.5"}}, R"({"error":{"code":"x"}})"};
        if (r.path == "/empty") return {204, {}, ""};
        if (r.path == "/reset") {
            http::server_response resp;
            resp.reset_connection = true;
            return resp;
        }
        if (r.path == "/slow") {
            http::server_response resp{200, {}, "late"};
            resp.delay = std::chrono::milliseconds{3000};
            return resp;
        }
        return {404, {}, "nope"};
    }

    std::atomic<int> hits_{0};
};

TEST_F(HttpClient, GetPostPatchDeleteWithHeadersAndBodies) {
    http::client c;
    auto r = c.perform(req("GET", base_ + "/echo?x=1", {{"X-Test", "a b"}}));
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "GET|/echo?x=1||a b|");
    EXPECT_EQ(r->header("x-reply"), "yes");  // case-insensitive
    EXPECT_EQ(r->header("absent"), "");

    r = c.perform(req("POST", base_ + "/echo", {{"Content-Type", "application/x-www-form-urlencoded"}},
                          http::form_encode({{"scope", "https://graph.microsoft.com/.default"}, {"p", "a&b=c d"}})));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->body, "POST|/echo|application/x-www-form-urlencoded||scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&p=a%26b%3Dc%20d");

    r = c.perform(req("PATCH", base_ + "/echo", {{"Content-Type", "application/json"}}, R"({"a":1})"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->body, R"(PATCH|/echo|application/json||{"a":1})");

    r = c.perform(req("DELETE", base_ + "/echo"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->body, "DELETE|/echo|||");
}

TEST_F(HttpClient, AnyStatusIsAResponse) {
    http::client c;
    auto r = c.perform(req("GET", base_ + "/status"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->header("Retry-After"), "1.5");
    r = c.perform(req("PATCH", base_ + "/empty", {}, "{}"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 204);
    EXPECT_TRUE(r->body.empty());
    r = c.perform(req("GET", base_ + "/missing"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 404);
}

TEST_F(HttpClient, TransportFailuresHaveStableCodesAndNoQueryInMessages) {
    http::client c;
    auto r = c.perform(req("GET", base_ + "/reset?secret=abc"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, "http.reset");
    EXPECT_EQ(r.err().message.find("secret=abc"), std::string::npos) << r.err().message;
    EXPECT_NE(r.err().message.find("GET " + base_ + "/reset"), std::string::npos) << r.err().message;

    r = c.perform(req("GET", base_ + "/slow", {}, {}, std::chrono::milliseconds{300}));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, "http.timeout");

    const int closed = test::free_port();
    r = c.perform(req("GET", "http://127.0.0.1:" + std::to_string(closed) + "/x"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, "http.connect");

    // The handle is still good after failures.
    r = c.perform(req("GET", base_ + "/echo"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200);
}

TEST_F(HttpClient, CancelledRequestIsAbortedWithItsOwnCode) {
    // A stopping agent aborts a read that waits on a slow server (the server answers after 3 s).
    http::client c;
    std::atomic<bool> stop{false};
    auto r0 = req("GET", base_ + "/slow");
    r0.cancelled = [&] { return stop.load(); };
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds{200});
        stop = true;
    });
    auto r = c.perform(r0);
    stopper.join();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, "http.cancelled") << r.err().message;

    // Already cancelled: not sent at all.
    const int before = hits_;
    auto r1 = req("GET", base_ + "/echo");
    r1.cancelled = [] { return true; };
    r = c.perform(r1);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, "http.cancelled");
    EXPECT_EQ(hits_, before);

    // A predicate that stays false changes nothing.
    auto r2 = req("POST", base_ + "/echo", {{"Content-Type", "text/plain"}}, "body");
    r2.cancelled = [] { return false; };
    r = c.perform(r2);
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->status, 200);
}

TEST(HttpEncoding, UrlAndFormEncoding) {
    EXPECT_EQ(http::url_encode("a b+c/d?e=f&g~h.i_j-k"), "a%20b%2Bc%2Fd%3Fe%3Df%26g~h.i_j-k");
    EXPECT_EQ(http::url_encode("é"), "%C3%A9");
    EXPECT_EQ(http::form_encode({{"a", "1"}, {"b c", "2&3"}}), "a=1&b%20c=2%263");
}

}  // namespace
