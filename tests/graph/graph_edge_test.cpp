// Client behaviour on answers the simulator never gives, served by the project's HTTP server on
// loopback: a UTF-8 BOM before the JSON body (seen in exported policy files and some proxies), and
// an @odata.nextLink that points away from the configured Graph base (the bearer token must never
// be sent there).
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include <nlohmann/json.hpp>

#include "agent/graph/graph_client.h"
#include "tests/graph/loopback_server.h"

namespace {

using namespace connguard;

class GraphEdge : public test::LoopbackServerTest {
protected:
    http::server_response handle(const http::server_request& r) override {
        {
            std::lock_guard lock(mu_);
            paths_.push_back(r.path + (r.query.empty() ? "" : "?" + r.query));
        }
        if (r.path == "/tid/oauth2/v2.0/token")
            return {200, {{"Content-Type", "application/json"}}, R"({"token_type":"Bearer","expires_in":3599,"access_token":"tok"})"};
        const std::string bom = "\xEF\xBB\xBF";
        if (r.path == "/v1.0/identity/conditionalAccess/policies") {
            if (r.query.empty())
                return {200, {}, bom + R"({"value":[{"id":"p1","displayName":"One","grantControls":{"operator":"or"}}],"@odata.nextLink":")" +
                                     base_ + R"(/v1.0/identity/conditionalAccess/policies?$skiptoken=2"})"};
            return {200, {}, bom + R"({"value":[{"id":"p2","displayName":"Two"}]})"};
        }
        if (r.path == "/v1.0/identity/conditionalAccess/namedLocations")
            return {200, {}, R"({"value":[{"id":"l1"}],"@odata.nextLink":"https://elsewhere.example/v1.0/identity/conditionalAccess/namedLocations?$skiptoken=2"})"};
        return {404, {}, R"({"error":{"code":"ResourceNotFound","message":"no"}})"};
    }

    graph::graph_client_options options() {
        graph::graph_client_options o;
        o.tenant_key = "edge";
        o.azure_tenant_id = "tid";
        o.authority_url = o.graph_url = base_;
        o.client_id = "cid";
        o.client_secret = "edge-secret-value";
        o.ca_pacing_interval = std::chrono::milliseconds{0};
        return o;
    }

    std::mutex mu_;
    std::vector<std::string> paths_;
};

TEST_F(GraphEdge, BomBeforeJsonIsTolerated) {
    graph::graph_client gc(options(), system_clock::instance());
    auto p = gc.list_ca_policies();
    ASSERT_TRUE(p.ok()) << p.err().message;
    ASSERT_EQ(p->size(), 2u);
    EXPECT_EQ((*p)[0]["grantControls"]["operator"], "or");
    EXPECT_EQ((*p)[1]["id"], "p2");
}

TEST_F(GraphEdge, NextLinkOutsideTheGraphBaseIsRefused) {
    graph::graph_client gc(options(), system_clock::instance());
    auto l = gc.list_named_locations();
    ASSERT_FALSE(l.ok());
    EXPECT_EQ(l.err().code, "graph.malformed");
    EXPECT_NE(l.err().message.find("outside the Graph base"), std::string::npos) << l.err().message;
    std::lock_guard lock(mu_);
    for (const auto& p : paths_) EXPECT_EQ(p.find("skiptoken"), std::string::npos) << p;
}

}  // namespace
