// common/metrics.h: the /metrics endpoint over a real socket (the project's HTTP client), its
// start-up errors, and the host's check-status gauge moving a tenant from one status to another.
#include <gtest/gtest.h>

#include <string>

#include "common/http/http_client.h"
#include "common/metrics.h"
#include "common/text.h"

namespace connguard {
namespace {

http::response get(int port, const std::string& path, const std::string& method = "GET") {
    http::client c;
    http::request req;
    req.method = method;
    req.url = "http://127.0.0.1:" + std::to_string(port) + path;
    req.timeout = std::chrono::seconds{10};
    auto r = c.perform(req);
    EXPECT_TRUE(r.ok()) << (r ? "" : r.err().message);
    return r ? *r : http::response{};
}

TEST(Metrics, EndpointServesTheTextFormatAndNothingElse) {
    metrics::register_agent({"token", "ca_policies"});
    auto ep = metrics::endpoint::start("127.0.0.1:0");
    ASSERT_TRUE(ep.ok()) << ep.err().message;
    const int port = (*ep)->port();
    const auto r = get(port, "/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_NE(r.body.find("connguard_graph_throttled_total{endpoint=\"ca_policies\"} 0"), std::string::npos) << r.body;
    EXPECT_EQ(get(port, "/").status, 404);
    EXPECT_EQ(get(port, "/metrics", "POST").status, 405);

    // The same address twice: the second start says which address and why.
    const std::string listen = "127.0.0.1:" + std::to_string(port);
    auto again = metrics::endpoint::start(listen);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.err().code, "metrics.bind");
    EXPECT_NE(again.err().message.find(listen), std::string::npos) << again.err().message;
}

TEST(Metrics, MalformedListenAddressIsRefused) {
    for (const char* bad : {"9464", "127.0.0.1", "127.0.0.1:99999", ":9464", "::1:9464"}) {
        auto ep = metrics::endpoint::start(bad);
        ASSERT_FALSE(ep.ok()) << bad;
        EXPECT_EQ(ep.err().code, "metrics.listen") << bad;
    }
    std::string host;
    int port = 0;
    ASSERT_TRUE(parse_host_port("[::1]:9464", host, port));
    EXPECT_EQ(host, "::1");
    EXPECT_EQ(port, 9464);
}

TEST(Metrics, CheckStatusCountsEachTenantOnceAtItsLatestStatus) {
    const metrics::check_statuses a_fail = {{"CG-TEST-A", "FAIL"}}, a_ok = {{"CG-TEST-A", "OK"}};
    metrics::check_statuses_changed({}, a_fail);    // tenant 1: first report
    metrics::check_statuses_changed({}, a_fail);    // tenant 2: first report
    metrics::check_statuses_changed(a_fail, a_ok);  // tenant 1 fixed
    const auto text = metrics::exposition();
    EXPECT_NE(text.find("connguard_check_status{check_id=\"CG-TEST-A\",status=\"FAIL\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("connguard_check_status{check_id=\"CG-TEST-A\",status=\"OK\"} 1\n"), std::string::npos) << text;
    metrics::check_statuses_changed(a_fail, {});  // tenant 2 removed from the host
    EXPECT_NE(metrics::exposition().find("connguard_check_status{check_id=\"CG-TEST-A\",status=\"FAIL\"} 0\n"),
              std::string::npos);
}

}  // namespace
}  // namespace connguard
