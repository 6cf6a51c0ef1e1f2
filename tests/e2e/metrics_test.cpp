// Prometheus metrics (issue 14), seen as Prometheus sees them: the real coordinator and host-mode
// agent with their /metrics endpoints on, a cycle of every tenant, GET /metrics through the
// project's HTTP client, the text format parsed, and the values compared with what the stack did
// (the coordinator's database, the scenarios' known failures). The Grafana dashboard under deploy/
// is checked against the scrapes: every metric its panels query exists.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/http/http_client.h"
#include "tests/e2e/e2e_stack.h"
#include "tests/support/process.h"

namespace connguard::e2e {
namespace {

using json = nlohmann::json;

// ---- the Prometheus text format (0.0.4), as far as a test needs it ----------------------------------

struct sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct scrape {
    std::vector<sample> samples;
    std::map<std::string, std::string> types;  ///< family name -> counter | gauge | histogram ...

    /// Whether `s` is named `name` and its labels include every pair of `want`.
    static bool matches(const sample& s, const std::string& name, const std::map<std::string, std::string>& want) {
        if (s.name != name) return false;
        for (const auto& [k, v] : want) {
            const auto it = s.labels.find(k);
            if (it == s.labels.end() || it->second != v) return false;
        }
        return true;
    }
    /// Sum of the samples named `name` whose labels include every pair of `want` (0 when none).
    double sum(const std::string& name, const std::map<std::string, std::string>& want = {}) const {
        double total = 0;
        for (const auto& s : samples)
            if (matches(s, name, want)) total += s.value;
        return total;
    }
    bool has(const std::string& name, const std::map<std::string, std::string>& want = {}) const {
        for (const auto& s : samples)
            if (matches(s, name, want)) return true;
        return false;
    }
    /// The family a sample or a query name belongs to ("x_bucket" of histogram "x" -> "x").
    bool knows(const std::string& name) const {
        if (types.count(name)) return true;
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            const std::string sfx = suffix;
            if (name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0 &&
                types.count(name.substr(0, name.size() - sfx.size())))
                return true;
        }
        return false;
    }
};

/// Parses the exposition; a malformed line fails the test (what Prometheus would refuse).
scrape parse(const std::string& text) {
    scrape out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        if (line.rfind("# TYPE ", 0) == 0) {
            std::istringstream t(line.substr(7));
            std::string name, type;
            t >> name >> type;
            out.types[name] = type;
            continue;
        }
        if (line[0] == '#') continue;
        sample s;
        std::size_t i = line.find_first_of("{ ");
        if (i == std::string::npos) {
            ADD_FAILURE() << "malformed sample line: " << line;
            continue;
        }
        s.name = line.substr(0, i);
        if (line[i] == '{') {
            ++i;
            while (i < line.size() && line[i] != '}') {
                const auto eq = line.find('=', i);
                if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
                    ADD_FAILURE() << "malformed labels: " << line;
                    break;
                }
                const std::string key = line.substr(i, eq - i);
                std::string value;
                std::size_t j = eq + 2;
                for (; j < line.size() && line[j] != '"'; ++j) {
                    if (line[j] == '\\' && j + 1 < line.size()) {
                        ++j;
                        value += line[j] == 'n' ? '\n' : line[j];
                    } else {
                        value += line[j];
                    }
                }
                s.labels[key] = value;
                i = j + 1;
                if (i < line.size() && line[i] == ',') ++i;
            }
            i = line.find(' ', i);
        }
        if (i == std::string::npos) {
            ADD_FAILURE() << "sample without a value: " << line;
            continue;
        }
        const std::string number = line.substr(i + 1);
        char* end = nullptr;
        s.value = std::strtod(number.c_str(), &end);
        if (end == number.c_str()) ADD_FAILURE() << "sample value is not a number: " << line;
        out.samples.push_back(std::move(s));
    }
    return out;
}

/// GET http://127.0.0.1:port/metrics with the project's HTTP client; an empty scrape when it fails.
scrape get_metrics(int port) {
    http::client c;
    http::request req;
    req.url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
    req.timeout = std::chrono::seconds{10};
    auto r = c.perform(req);
    if (!r || r->status != 200) return {};
    EXPECT_EQ(r->header("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u) << r->header("Content-Type");
    return parse(r->body);
}

TEST(MetricsE2E, CoordinatorAndAgentExposeWhatTheStackDid) {
    const int coordinator_port = test::free_port();
    const int agent_port = test::free_port();
    stack_options o;
    o.coordinator_overrides = {{"metrics", {{"listen", "127.0.0.1:" + std::to_string(coordinator_port)}}}};
    o.agent_args = {"--metrics-listen", "127.0.0.1:" + std::to_string(agent_port)};
    stack s(o);
    s.start_coordinator();
    s.start_agent();
    const std::size_t tenants = o.tenants.size();

    // --- the agent: every tenant's first cycle committed ---
    scrape agent;
    ASSERT_TRUE(eventually([&] {
        agent = get_metrics(agent_port);
        return agent.sum("connguard_agent_cycles_total", {{"result", "ok"}}) >= static_cast<double>(tenants);
    })) << "agent metrics never showed a cycle per tenant\n" << s.logs();
    EXPECT_EQ(agent.sum("connguard_agent_tenants"), static_cast<double>(tenants));
    EXPECT_GE(agent.sum("connguard_agent_cycle_duration_seconds_count"),
              agent.sum("connguard_agent_cycles_total", {{"result", "ok"}}));
    EXPECT_GE(agent.sum("connguard_graph_requests_total", {{"endpoint", "token"}}), static_cast<double>(tenants));
    EXPECT_GE(agent.sum("connguard_graph_requests_total", {{"endpoint", "ca_policies"}}), static_cast<double>(tenants));
    EXPECT_TRUE(agent.has("connguard_graph_throttled_total", {{"endpoint", "ca_policies"}})) << "starts at 0";
    // fabrikam's CA000 blocks the account (CG-CAP FAIL), contoso is healthy: the host sums tenants.
    EXPECT_GE(agent.sum("connguard_check_status", {{"check_id", "CG-CAP"}, {"status", "FAIL"}}), 1.0);
    // Northwind has Security Defaults on (CG-SECDEF FAIL), the others not.
    EXPECT_EQ(agent.sum("connguard_check_status", {{"check_id", "CG-SECDEF"}, {"status", "FAIL"}}), 1.0);
    // A tenant counts once per check id, whatever the status: every tenant reports CG-ACCOUNT.
    std::map<std::string, double> per_check;
    for (const auto& smp : agent.samples)
        if (smp.name == "connguard_check_status") per_check[smp.labels.at("check_id")] += smp.value;
    EXPECT_EQ(per_check["CG-ACCOUNT"], static_cast<double>(tenants));
    for (const auto& [id, n] : per_check) EXPECT_LE(n, static_cast<double>(tenants)) << id;
    for (const auto& smp : agent.samples)
        for (const auto& [k, v] : smp.labels)
            for (const auto& t : o.tenants) EXPECT_EQ(v.find(t.tenant), std::string::npos) << "tenant key in a label";

    // --- the coordinator: the tasks the reports planned, the agents online ---
    scrape coord;
    ASSERT_TRUE(eventually([&] {
        coord = get_metrics(coordinator_port);
        return coord.sum("connguard_tasks", {{"state", "PENDING_APPROVAL"}}) >= 1 &&
               coord.sum("connguard_agents_online") == static_cast<double>(tenants);
    })) << "coordinator metrics: no pending task or not every agent online\n" << s.logs();
    EXPECT_GE(coord.sum("connguard_coordinator_ingested_total", {{"kind", "report"}}), static_cast<double>(tenants));
    EXPECT_GE(coord.sum("connguard_coordinator_commit_seconds_count"), 1.0);
    EXPECT_TRUE(coord.has("connguard_outbox_depth", {{"outbox", "mqtt"}}));
    EXPECT_TRUE(coord.has("connguard_webhook_failures_total"));

    // --- after the agent stopped: the counters equal what the database holds ---
    ASSERT_EQ(s.stop_agent(), 0) << s.logs();
    ASSERT_TRUE(eventually([&] {
        coord = get_metrics(coordinator_port);
        return coord.sum("connguard_agents_online") == 0 &&
               coord.sum("connguard_tasks", {{"state", "PENDING_APPROVAL"}}) ==
                   static_cast<double>(s.sql_int("SELECT count(*) FROM tasks WHERE state = 2"));
    })) << "agents still online or the task gauge differs from the database\n" << s.logs();
    EXPECT_EQ(coord.sum("connguard_coordinator_ingested_total", {{"kind", "report"}}),
              static_cast<double>(s.sql_int("SELECT count(*) FROM envelopes_seen WHERE topic LIKE '%/validation'")));
    EXPECT_EQ(coord.sum("connguard_coordinator_ingested_total", {{"kind", "event"}}),
              static_cast<double>(s.sql_int("SELECT count(*) FROM envelopes_seen WHERE topic LIKE '%/events'")));
    double all_tasks = 0;
    for (const auto& smp : coord.samples)
        if (smp.name == "connguard_tasks") all_tasks += smp.value;
    EXPECT_EQ(all_tasks, static_cast<double>(s.sql_int("SELECT count(*) FROM tasks")));

    // --- the Grafana dashboard queries nothing that does not exist ---
    const auto dashboard = json::parse(test::slurp(std::string(CONNGUARD_SOURCE_DIR) + "/deploy/grafana/connguard-dashboard.json"));
    ASSERT_TRUE(dashboard.contains("panels") && dashboard["panels"].is_array());
    std::set<std::string> queried;
    for (const auto& panel : dashboard["panels"]) {
        if (!panel.contains("targets")) continue;
        for (const auto& target : panel["targets"]) {
            const std::string expr = target.value("expr", "");
            for (std::size_t at = expr.find("connguard_"); at != std::string::npos; at = expr.find("connguard_", at)) {
                std::size_t end = at;
                while (end < expr.size() && (std::isalnum(static_cast<unsigned char>(expr[end])) || expr[end] == '_')) ++end;
                queried.insert(expr.substr(at, end - at));
                at = end;
            }
        }
    }
    EXPECT_GE(queried.size(), 10u) << "the dashboard should chart the metrics of both processes";
    for (const auto& name : queried)
        EXPECT_TRUE(agent.knows(name) || coord.knows(name)) << "the dashboard queries " << name << ", which neither process exposes";
}

}  // namespace
}  // namespace connguard::e2e
