// Host mode: one connguard-agent process runs 200 simulated tenants (tools/graph-sim/make-tenants),
// each with its own MQTT identity, credentials, state directory and Graph client; every tenant
// reports what its scenario says, and tenants that cannot work do not hold up the others.
// Host mode on one connection (--host-config): a host identity made by make-broker --host runs its
// tenants on one MQTT connection; each tenant's report arrives on its own topic, a command reaches
// only its tenant, and the broker and the host both refuse a tenant outside the host's grant.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include <google/protobuf/util/time_util.h>

#include "common/clock.h"
#include "common/topics.h"
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

// The host identity's rights are exactly a one-tenant agent's, on each granted tenant only: with
// 1,000 tenants on the one connection, the 1,000th is granted, a tenant of another host or a
// one-tenant agent is not.
TEST(AgentHostConnection, BrokerGrantsTheHostExactlyItsTenantsTopics) {
    std::vector<std::string> granted = {"contoso", "fabrikam"};
    for (int i = 0; i < 998; ++i) {
        char key[24];  // room for any int: GCC -O1 warns on a tight buffer (-Wformat-truncation)
        std::snprintf(key, sizeof key, "site-%04d", i);
        granted.emplace_back(key);
    }
    test::broker b({.tenants = {"solo"}, .hosts = {{"host-a", granted}, {"host-b", {"northwind"}}}});
    mqtt::client c(mqtt::client_options_builder()
                       .server_uri(b.uri())
                       .client_id("host-a-probe")
                       .credentials("host-a", b.password("host-a"))
                       .clean_start(true)
                       .finalize());
    ASSERT_TRUE(c.connect().ok());
    auto publish = [&](const std::string& topic) { return c.publish(mqtt::make_message(topic, "x")); };
    EXPECT_TRUE(publish(topics::validation("contoso")).ok());
    EXPECT_TRUE(publish(topics::results("fabrikam")).ok());
    EXPECT_TRUE(publish(topics::events("site-0997")).ok());
    for (const auto& t : {topics::validation("solo"), topics::validation("northwind"), topics::validation("outsider"),
                          topics::validation("host-a"), topics::commands("contoso"), topics::admin_requests("host-a")}) {
        auto st = publish(t);
        ASSERT_FALSE(st.ok()) << t;
        EXPECT_EQ(st.err().code, "mqtt.not_authorized") << t;
    }
}

TEST(AgentHostConnection, TenantsShareOneConnectionReportOnTheirOwnTopicsAndGetOnlyTheirCommands) {
    test::broker b({.tenants = {"outsider"}, .hosts = {{"host-a", {"contoso", "fabrikam"}}}});
    collector col(b);
    env e;
    const auto conf_dir = e.dir() / "tenants.d";
    std::filesystem::create_directories(conf_dir);
    const json slow_poll = {{"poll", {{"intervalSeconds", 3600}, {"jitterSeconds", 0}}}};
    const auto fabrikam = repo_tenant("fabrikam-mfa.json");
    std::ofstream(conf_dir / "contoso.json")
        << e.config_json("contoso", repo_tenant("contoso-healthy.json"), slow_poll, nullptr, e.dir() / "contoso").dump();
    std::ofstream(conf_dir / "fabrikam.json")
        << e.config_json("fabrikam", fabrikam, slow_poll, nullptr, e.dir() / "fabrikam").dump();
    // A tenant outside the host's grant (it even has a broker identity of its own): refused.
    std::ofstream(conf_dir / "outsider.json")
        << e.config_json("outsider", repo_tenant("northwind-secdefaults.json"), slow_poll, nullptr, e.dir() / "outsider")
               .dump();
    const auto pw = e.dir() / "host-a-password";
    {
        std::ofstream(pw) << b.password("host-a") << "\n";
        std::filesystem::permissions(pw, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                                     std::filesystem::perm_options::replace);
    }
    const auto host_json = e.dir() / "host.json";
    std::ofstream(host_json) << json{{"host", "host-a"},
                                     {"tenants", {"contoso", "fabrikam"}},
                                     {"broker", {{"url", b.uri()}, {"passwordFile", pw.string()}}}}
                                    .dump();

    std::string out;
    EXPECT_EQ(test::run_command({agent_binary().string(), "--config-dir", conf_dir.string(), "--host-config",
                                 host_json.string(), "--check-config"},
                                &out),
              2);
    EXPECT_NE(out.find("tenant 'outsider' is not granted to host 'host-a'"), std::string::npos) << out;

    const auto log = e.dir() / "agent.log";
    auto agent = start_agent({"--config-dir", conf_dir.string(), "--host-config", host_json.string()}, log);
    ASSERT_GE(col.wait_report("contoso", 1).cycle(), 1u) << slurp(log);
    ASSERT_GE(col.wait_report("fabrikam", 1).cycle(), 1u) << slurp(log);
    EXPECT_EQ(status_of(col.reports("fabrikam").back(), "CG-CAP"), v1::CHECK_STATUS_FAIL);
    EXPECT_NE(col.reports("contoso").back().overall(), v1::CHECK_STATUS_FAIL);
    for (const auto& env : col.all()) EXPECT_EQ(env.tenant() == "outsider", false) << env.DebugString();
    EXPECT_NE(slurp(log).find("tenant outsider (" + (conf_dir / "outsider.json").string() + "): not granted to host host-a"),
              std::string::npos)
        << slurp(log);

    // A command for fabrikam (guidance only: refused, nothing written) is carried out by fabrikam
    // alone; one for contoso whose envelope names fabrikam is refused by contoso.
    v1::AgentCommand cmd;
    cmd.set_command_id("cmd-host-1");
    cmd.set_task_id("task-host-1");
    cmd.set_plan_version(1);
    cmd.add_approved_by("alice");
    *cmd.mutable_not_after() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(
        to_unix_ms(system_clock::instance().now()) + 3600 * 1000);
    cmd.mutable_plan()->set_kind(v1::REMEDIATION_KIND_REGISTER_MFA_FOR_ACCOUNT);
    cmd.mutable_plan()->mutable_guidance()->set_instructions("register MFA");
    col.send_command("fabrikam", cmd);
    auto foreign = cmd;
    foreign.set_command_id("cmd-host-2");
    col.send_command("contoso", foreign, /*envelope_tenant=*/"fabrikam");
    ASSERT_TRUE(col.wait([&] { return !col.results("fabrikam").empty() && !col.results("contoso").empty(); }))
        << slurp(log);
    ASSERT_EQ(col.results("fabrikam").size(), 1u);
    EXPECT_EQ(col.results("fabrikam")[0].command_id(), "cmd-host-1");
    EXPECT_EQ(col.results("fabrikam")[0].outcome(), v1::COMMAND_OUTCOME_REFUSED);
    ASSERT_EQ(col.results("contoso").size(), 1u);
    EXPECT_EQ(col.results("contoso")[0].command_id(), "cmd-host-2");
    EXPECT_EQ(col.results("contoso")[0].outcome(), v1::COMMAND_OUTCOME_REFUSED);
    EXPECT_NE(col.results("contoso")[0].detail().find("fabrikam"), std::string::npos);

    // SIGTERM: offline for each hosted tenant through the one connection.
    EXPECT_EQ(agent.stop(std::chrono::seconds{30}), 0);
    for (const std::string k : {"contoso", "fabrikam"})
        EXPECT_TRUE(col.wait([&] {
            for (const auto& s : col.statuses(k))
                if (s.state() == v1::AGENT_STATE_OFFLINE && s.reason() == "shutdown") return true;
            return false;
        })) << k;
}

std::string write_secret(const std::filesystem::path& p, const std::string& value) {
    std::ofstream(p) << value << "\n";
    std::filesystem::permissions(p, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::replace);
    return p.string();
}

/// DIR/tenants.d/contoso.json (hourly polls) and DIR/host.json for host-a granted {contoso}.
std::pair<std::filesystem::path, std::filesystem::path> contoso_on_host_a(const env& e, const test::broker& b) {
    const auto conf_dir = e.dir() / "tenants.d";
    std::filesystem::create_directories(conf_dir);
    const json slow_poll = {{"poll", {{"intervalSeconds", 3600}, {"jitterSeconds", 0}}}};
    std::ofstream(conf_dir / "contoso.json")
        << e.config_json("contoso", repo_tenant("contoso-healthy.json"), slow_poll, nullptr, e.dir() / "contoso").dump();
    const auto host_json = e.dir() / "host.json";
    std::ofstream(host_json) << json{{"host", "host-a"},
                                     {"tenants", {"contoso"}},
                                     {"broker", {{"url", b.uri()}, {"passwordFile", write_secret(e.dir() / "host-a-pw", b.password("host-a"))}}}}
                                    .dump();
    return {conf_dir, host_json};
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
    return n;
}

// Onboarding at runtime: `connguardctl tenant add --host-config` while the host runs → the new
// tenant's first report arrives with no restart of anything; `tenant remove` → it stops.
TEST(AgentHostConnection, TenantAddedWhileTheHostRunsReportsWithoutARestartAndRemovedStops) {
    test::broker b({.tenants = {}, .hosts = {{"host-a", {"contoso"}}}});
    collector col(b);
    env e;
    const auto [conf_dir, host_json] = contoso_on_host_a(e, b);
    auto secret = [&](const std::string& name, const std::string& value) { return write_secret(e.dir() / name, value); };
    const auto log = e.dir() / "agent.log";
    auto agent = start_agent({"--config-dir", conf_dir.string(), "--host-config", host_json.string(), "--rescan-seconds", "1"},
                             log);
    ASSERT_GE(col.wait_report("contoso", 1).cycle(), 1u) << slurp(log);

    const auto fab = repo_tenant("fabrikam-mfa.json");
    const std::vector<std::string> ctl_conn = {"--broker", b.uri(), "--password-file",
                                               (b.dir() / "broker" / "secrets" / "dynsec_admin").string(),
                                               "--config-dir", conf_dir.string(), "--host-config", host_json.string()};
    std::vector<std::string> add = {std::string(CONNGUARD_BIN_DIR) + "/connguardctl", "tenant", "add", "fabrikam",
                                    "--azure-tenant", fab.tenant_id, "--account", fab.upn, "--app-id", fab.app_id,
                                    "--secret-file", secret("fab-secret", fab.client_secret), "--account-password-file",
                                    secret("fab-pw", fab.password), "--graph-url", e.sim().base_url(),
                                    "--poll-interval", "3600"};
    add.insert(add.end(), ctl_conn.begin(), ctl_conn.end());
    std::string out;
    ASSERT_EQ(test::run_command(add, &out), 0) << out;
    const auto report = col.wait_report("fabrikam", 1);
    ASSERT_GE(report.cycle(), 1u) << out << slurp(log);
    EXPECT_EQ(status_of(report, "CG-CAP"), v1::CHECK_STATUS_FAIL);  // fabrikam's scenario, so its own Graph facts
    EXPECT_TRUE(agent.running());
    EXPECT_NE(slurp(log).find("tenant fabrikam: added"), std::string::npos) << slurp(log);

    std::vector<std::string> remove = {std::string(CONNGUARD_BIN_DIR) + "/connguardctl", "tenant", "remove", "fabrikam"};
    remove.insert(remove.end(), ctl_conn.begin(), ctl_conn.end());
    ASSERT_EQ(test::run_command(remove, &out), 0) << out;
    EXPECT_TRUE(eventually([&] { return slurp(log).find("tenant fabrikam: stopped") != std::string::npos; }))
        << slurp(log);
    EXPECT_EQ(json::parse(slurp(host_json))["tenants"], json({"contoso"}));
    EXPECT_EQ(agent.stop(std::chrono::seconds{30}), 0);
}

// The rescan reads nothing while nothing changes (10,000 tenant files would otherwise be listed,
// and the host config parsed, every --rescan-seconds): it says so at debug level, and reading
// again is logged too. A file added right after such a rescan is seen by the next one; a file that
// did not start and is then edited in place (which leaves the folder's stamp alone) is retried.
TEST(AgentHostConnection, RescanReadsNothingWhileNothingChangesAndSeesAChangeRightAfter) {
    test::broker b({.tenants = {}, .hosts = {{"host-a", {"contoso"}}}});
    collector col(b);
    env e;
    const auto [conf_dir, host_json] = contoso_on_host_a(e, b);
    const auto log = e.dir() / "agent.log";
    auto agent = start_agent({"--config-dir", conf_dir.string(), "--host-config", host_json.string(), "--rescan-seconds",
                              "1", "--log-level", "debug"},
                             log);
    ASSERT_GE(col.wait_report("contoso", 1).cycle(), 1u) << slurp(log);
    const std::string idle = "rescan: nothing changed; " + conf_dir.string() + " not listed, " + host_json.string() + " not re-read";
    const std::string reread = "rescan: reading again";

    // Idle: two rescans in a row read nothing (the first ones after start read, as the files were new).
    ASSERT_TRUE(eventually([&] { return count_of(slurp(log), idle) >= 1; })) << slurp(log);
    const auto before = slurp(log);
    ASSERT_TRUE(eventually([&] { return count_of(slurp(log), idle) >= count_of(before, idle) + 2; })) << slurp(log);
    EXPECT_EQ(count_of(slurp(log), reread), count_of(before, reread)) << slurp(log);

    // Added right after an idle rescan: the next one reads, and the file's problem is logged.
    const auto broken = conf_dir / "northwind.json";
    const auto seen_idle = count_of(slurp(log), idle);
    ASSERT_TRUE(eventually([&] { return count_of(slurp(log), idle) > seen_idle; })) << slurp(log);
    std::ofstream(broken) << "{";
    ASSERT_TRUE(eventually([&] {
        const auto l = slurp(log);
        return l.find(broken.string()) != std::string::npos && l.find("(retried on the next rescan)") != std::string::npos;
    })) << slurp(log);
    EXPECT_EQ(slurp(log).find("not granted to host host-a"), std::string::npos) << slurp(log);

    // Settled again (nothing re-read), then edited in place: a loadable tenant outside host-a's grant.
    const auto settled = count_of(slurp(log), idle);
    ASSERT_TRUE(eventually([&] { return count_of(slurp(log), idle) > settled; })) << slurp(log);
    std::ofstream(broken) << e.config_json("northwind", repo_tenant("northwind-secdefaults.json"), nullptr, nullptr, e.dir() / "northwind").dump();
    EXPECT_TRUE(eventually([&] { return slurp(log).find("northwind (" + broken.string() + "): not granted to host host-a") != std::string::npos; }))
        << slurp(log);
    EXPECT_TRUE(agent.running());
    EXPECT_EQ(agent.stop(std::chrono::seconds{30}), 0);
}

}  // namespace
