// Host mode: one connguard-agent process runs 200 simulated tenants (tools/graph-sim/make-tenants),
// each with its own MQTT identity, credentials, state directory and Graph client; every tenant
// reports what its scenario says, and tenants that cannot work do not hold up the others.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "tests/agent/agent_harness.h"

namespace {

using namespace connguard;
using namespace connguard::test;
using nlohmann::json;

constexpr int tenant_count = 200;

std::string key_of(int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "t%04d", i);
    return buf;
}

struct generated {
    std::filesystem::path scenarios;
    json index;
};

generated make_tenants(const std::filesystem::path& dir, int n) {
    generated g;
    g.scenarios = dir / "scenarios";
    std::string out;
    const int rc = test::run_command({std::string(CONNGUARD_SOURCE_DIR) + "/tools/graph-sim/make-tenants", std::to_string(n),
                                      g.scenarios.string(), std::string(CONNGUARD_BIN_DIR) + "/connguard-graph-sim"},
                                     &out);
    if (rc != 0) throw std::runtime_error("make-tenants failed: " + out);
    g.index = json::parse(slurp(dir / "scenarios-index.json"));
    return g;
}

TEST(AgentHost, TwoHundredTenantsInOneProcessAllReport) {
    test::temp_dir work("connguard-agent-host");
    auto gen = make_tenants(work.path(), tenant_count);
    ASSERT_EQ(gen.index.size(), static_cast<std::size_t>(tenant_count));

    std::vector<std::string> keys;
    for (int i = 1; i <= tenant_count; ++i) keys.push_back(key_of(i));
    keys.push_back("broken-graph");
    keys.push_back("broken-state");
    test::broker b({.tenants = keys});
    collector col(b);
    env e(gen.scenarios);

    const auto conf_dir = work.path() / "tenants.d";
    std::filesystem::create_directories(conf_dir);
    std::map<std::string, std::string> problem;
    auto tenant_at = [&](int i) {
        const auto& x = gen.index[static_cast<std::size_t>(i - 1)];
        sim_tenant t;
        t.tenant_id = x.at("tenantId");
        t.app_id = x.at("appId");
        t.client_secret = x.at("clientSecret");
        t.upn = x.at("connectionAccount");
        t.user_id = x.at("connectionAccountId");
        t.password = x.at("password");
        return t;
    };
    const json slow_poll = {{"poll", {{"intervalSeconds", 3600}, {"jitterSeconds", 0}}}};
    for (int i = 1; i <= tenant_count; ++i) {
        const auto k = key_of(i);
        problem[k] = gen.index[static_cast<std::size_t>(i - 1)].at("problem");
        std::ofstream(conf_dir / (k + ".json")) << e.config_json(k, tenant_at(i), slow_poll, &b, work.path() / "t" / k).dump();
    }
    // A tenant whose Graph endpoint is dead (it reports ERROR) and one whose state directory cannot
    // be created (it does not start): neither holds up the others.
    const std::string dead = "http://127.0.0.1:" + std::to_string(test::free_port());
    json broken_graph = slow_poll;
    broken_graph["graph"] = {{"authorityUrl", dead}, {"baseUrl", dead}, {"maxRetries", 1}};
    std::ofstream(conf_dir / "broken-graph.json")
        << e.config_json("broken-graph", tenant_at(1), broken_graph, &b, work.path() / "t" / "broken-graph").dump();
    std::ofstream(work.path() / "not-a-dir") << "x";
    json broken_state = slow_poll;
    broken_state["stateDir"] = (work.path() / "not-a-dir" / "state").string();
    std::ofstream(conf_dir / "broken-state.json")
        << e.config_json("broken-state", tenant_at(2), broken_state, &b, work.path() / "t" / "broken-state").dump();

    const auto log = work.path() / "agent.log";
    auto agent = start_agent({"--config-dir", conf_dir.string(), "--workers", "8"}, log);

    auto reported = [&] {
        std::set<std::string> seen;
        for (const auto& env : col.all())
            if (env.has_validation_report()) seen.insert(env.tenant());
        return seen;
    };
    ASSERT_TRUE(col.wait([&] { return reported().size() >= static_cast<std::size_t>(tenant_count + 1); },
                         std::chrono::seconds{180}))
        << reported().size() << " tenants reported\n"
        << slurp(log).substr(0, 4000);

    // Every tenant's report says what its scenario has.
    for (int i = 1; i <= tenant_count; ++i) {
        const auto k = key_of(i);
        auto reports = col.reports(k);
        ASSERT_FALSE(reports.empty()) << k;
        const auto& r = reports.back();
        const auto& p = problem[k];
        if (p == "none") {
            EXPECT_NE(r.overall(), v1::CHECK_STATUS_FAIL) << k;
            EXPECT_NE(r.overall(), v1::CHECK_STATUS_ERROR) << k;
        } else if (p == "mfaPolicy") {
            EXPECT_EQ(status_of(r, "CG-CAP"), v1::CHECK_STATUS_FAIL) << k;
        } else if (p == "securityDefaultsAdmin") {
            EXPECT_EQ(status_of(r, "CG-SECDEF-ADMIN"), v1::CHECK_STATUS_FAIL) << k;
        } else if (p == "perUserMfa") {
            EXPECT_EQ(status_of(r, "CG-PERUSER-MFA"), v1::CHECK_STATUS_FAIL) << k;
        }
        EXPECT_EQ(r.azure_tenant_id(), gen.index[static_cast<std::size_t>(i - 1)].at("tenantId").get<std::string>()) << k;
    }
    auto broken = col.reports("broken-graph");
    ASSERT_FALSE(broken.empty());
    EXPECT_EQ(broken.back().overall(), v1::CHECK_STATUS_ERROR);
    EXPECT_TRUE(col.reports("broken-state").empty());
    EXPECT_NE(slurp(log).find("broken-state"), std::string::npos);

    // Each tenant announced itself online under its own identity.
    ASSERT_TRUE(col.wait([&] {
        std::set<std::string> online;
        for (const auto& env : col.all())
            if (env.has_agent_status() && env.agent_status().state() == v1::AGENT_STATE_ONLINE) online.insert(env.tenant());
        return online.size() >= static_cast<std::size_t>(tenant_count + 1);
    }));

    // SIGTERM: every tenant publishes offline and the process exits 0.
    EXPECT_EQ(agent.stop(std::chrono::seconds{30}), 0);
    std::set<std::string> offline;
    col.wait([&] {
        offline.clear();
        for (const auto& env : col.all())
            if (env.has_agent_status() && env.agent_status().state() == v1::AGENT_STATE_OFFLINE &&
                env.agent_status().reason() == "shutdown")
                offline.insert(env.tenant());
        return offline.size() >= static_cast<std::size_t>(tenant_count + 1);
    });
    EXPECT_EQ(offline.size(), static_cast<std::size_t>(tenant_count + 1));
}

}  // namespace
