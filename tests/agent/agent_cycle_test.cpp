// The agent daemon (real binary) with the real simulator and a real mosquitto: a change event for
// every kind of DESIGN §7 caused through /_sim/, restarts that neither repeat nor miss a change,
// a crash between publish and commit, and a broker outage during a cycle.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>
#include <fstream>
#include <sstream>
#include <set>
#include <thread>

#include "agent/core/state_store.h"
#include "common/topics.h"
#include "tests/agent/agent_harness.h"

namespace {

using namespace connguard;
using namespace connguard::test;
using nlohmann::json;

const std::string key = "contoso";

struct AgentCycle : ::testing::Test {
    env e;
    test::broker b{{.tenants = {key}}};
    collector col{b};
    sim_tenant t = repo_tenant("contoso-healthy.json");
    std::filesystem::path cfg = e.write_config(key, t, nullptr, &b);
    std::filesystem::path state_dir = cfg.parent_path() / "state";
    std::filesystem::path log = e.dir() / "agent.log";

    test::process start() { return start_agent({"--config", cfg.string(), "--log-level", "debug"}, log); }
    std::string tenant_path() const { return "/_sim/tenants/" + t.tenant_id; }

    /// Waits for an event of `kind` (and subject, when given) with cycle > after_cycle.
    v1::ChangeEvent wait_event(v1::ChangeKind kind, const std::string& subject = "", std::uint64_t after_cycle = 0) {
        v1::ChangeEvent found;
        const bool ok = col.wait([&] {
            for (const auto& ev : col.events(key))
                if (ev.kind() == kind && (subject.empty() || ev.subject_id() == subject) && ev.cycle() > after_cycle) {
                    found = ev;
                    return true;
                }
            return false;
        });
        EXPECT_TRUE(ok) << "no " << v1::ChangeKind_Name(kind) << " event for '" << subject << "'\n" << slurp(log);
        return found;
    }
    std::uint64_t last_cycle() {
        std::uint64_t c = 0;
        for (const auto& r : col.reports(key)) c = std::max<std::uint64_t>(c, r.cycle());
        return c;
    }
    std::size_t count(v1::ChangeKind kind) {
        std::set<std::string> ids;
        for (const auto& env : col.of(key, v1::Envelope::kChangeEvent))
            if (env.change_event().kind() == kind) ids.insert(env.id());
        return ids.size();
    }
};

TEST_F(AgentCycle, EveryChangeKindIsPublishedOnceWithBeforeAndAfter) {
    auto agent = start();
    auto first = col.wait_report(key, 1);
    ASSERT_GE(first.cycle(), 1u) << slurp(log);
    EXPECT_TRUE(col.events(key).empty()) << "the baseline cycle must not publish events";

    // AgentStatus online after the cycle.
    ASSERT_TRUE(col.wait([&] { return !col.statuses(key).empty(); }));
    auto st = col.statuses(key).back();
    EXPECT_EQ(st.state(), v1::AGENT_STATE_ONLINE);
    EXPECT_FALSE(st.version().empty());
    EXPECT_GE(st.cycle(), 1u);
    EXPECT_GT(st.graph_requests_last_cycle(), 0u);
    EXPECT_TRUE(st.has_next_run_at());

    std::uint64_t c = last_cycle();
    e.admin("PATCH", tenant_path() + "/security-defaults", {{"isEnabled", true}});
    auto ev = wait_event(v1::CHANGE_KIND_SECURITY_DEFAULTS_ENABLED, "", c);
    EXPECT_EQ(ev.before(), "false");
    EXPECT_EQ(ev.after(), "true");
    EXPECT_NE(ev.previous_snapshot_digest(), ev.snapshot_digest());

    c = last_cycle();
    e.admin("PATCH", tenant_path() + "/security-defaults", {{"isEnabled", false}});
    wait_event(v1::CHANGE_KIND_SECURITY_DEFAULTS_DISABLED, "", c);

    c = last_cycle();
    auto created = e.admin("POST", tenant_path() + "/policies",
                           {{"displayName", "ConnGuard test policy"},
                            {"state", "disabled"},
                            {"conditions",
                             {{"users", {{"includeUsers", {"None"}}, {"excludeUsers", json::array()}}},
                              {"applications", {{"includeApplications", {"All"}}}},
                              {"clientAppTypes", {"all"}}}},
                            {"grantControls", {{"operator", "OR"}, {"builtInControls", {"block"}}}}});
    const std::string pid = created.at("id").get<std::string>();
    ev = wait_event(v1::CHANGE_KIND_CA_POLICY_CREATED, pid, c);
    EXPECT_EQ(ev.subject_name(), "ConnGuard test policy");
    EXPECT_EQ(json::parse(ev.after())["id"], pid);

    c = last_cycle();
    e.admin("PATCH", tenant_path() + "/policies/" + pid, {{"grantControls", {{"builtInControls", {"mfa"}}}}});
    ev = wait_event(v1::CHANGE_KIND_CA_POLICY_UPDATED, pid, c);
    ASSERT_EQ(ev.changed_fields_size(), 1) << ev.DebugString();
    EXPECT_EQ(ev.changed_fields(0), "grantControls.builtInControls");
    EXPECT_EQ(json::parse(ev.before())["grantControls"]["builtInControls"], json({"block"}));
    EXPECT_EQ(json::parse(ev.after())["grantControls"]["builtInControls"], json({"mfa"}));

    c = last_cycle();
    e.admin("PATCH", tenant_path() + "/policies/" + pid, {{"state", "enabled"}});
    ev = wait_event(v1::CHANGE_KIND_CA_POLICY_STATE_CHANGED, pid, c);
    EXPECT_EQ(ev.before(), "disabled");
    EXPECT_EQ(ev.after(), "enabled");

    c = last_cycle();
    e.admin("PATCH", tenant_path() + "/policies/" + pid, {{"conditions", {{"users", {{"excludeUsers", {t.user_id}}}}}}});
    ev = wait_event(v1::CHANGE_KIND_ACCOUNT_EXCLUDED_FROM_POLICY, pid, c);
    EXPECT_EQ(json::parse(ev.after()), json({t.user_id}));

    c = last_cycle();
    e.admin("PATCH", tenant_path() + "/policies/" + pid, {{"conditions", {{"users", {{"excludeUsers", json::array()}}}}}});
    wait_event(v1::CHANGE_KIND_ACCOUNT_INCLUDED_IN_POLICY, pid, c);

    c = last_cycle();
    e.admin("DELETE", tenant_path() + "/policies/" + pid);
    ev = wait_event(v1::CHANGE_KIND_CA_POLICY_DELETED, pid, c);
    EXPECT_TRUE(ev.after().empty());

    c = last_cycle();
    e.admin("PATCH", tenant_path() + "/users/" + t.user_id, {{"perUserMfaState", "enforced"}});
    ev = wait_event(v1::CHANGE_KIND_PER_USER_MFA_CHANGED, "", c);
    EXPECT_EQ(ev.before(), "disabled");
    EXPECT_EQ(ev.after(), "enforced");
    ev = wait_event(v1::CHANGE_KIND_CHECK_STATUS_CHANGED, "CG-PERUSER-MFA", c);
    EXPECT_EQ(ev.status_before(), v1::CHECK_STATUS_OK);
    EXPECT_EQ(ev.status_after(), v1::CHECK_STATUS_FAIL);
    ev = wait_event(v1::CHANGE_KIND_OVERALL_STATUS_CHANGED, "", c);
    EXPECT_EQ(ev.status_after(), v1::CHECK_STATUS_FAIL);

    c = last_cycle();
    e.admin("PATCH", tenant_path() + "/users/" + t.user_id, {{"isMfaRegistered", true}});
    ev = wait_event(v1::CHANGE_KIND_MFA_REGISTRATION_CHANGED, "", c);
    EXPECT_EQ(json::parse(ev.after())["isMfaRegistered"], true);

    const std::string global_admin = "62e90394-69f5-4237-9190-012177145e10";
    c = last_cycle();
    e.admin("POST", tenant_path() + "/users/" + t.user_id + "/roles", {{"roleDefinitionId", global_admin}});
    ev = wait_event(v1::CHANGE_KIND_PRIVILEGED_ROLE_ADDED, global_admin, c);
    EXPECT_EQ(ev.subject_name(), "Global Administrator");

    c = last_cycle();
    e.admin("DELETE", tenant_path() + "/users/" + t.user_id + "/roles/" + global_admin);
    wait_event(v1::CHANGE_KIND_PRIVILEGED_ROLE_REMOVED, global_admin, c);

    // Exactly once each, and event envelope ids are unique.
    EXPECT_EQ(count(v1::CHANGE_KIND_SECURITY_DEFAULTS_ENABLED), 1u);
    EXPECT_EQ(count(v1::CHANGE_KIND_CA_POLICY_CREATED), 1u);
    EXPECT_EQ(count(v1::CHANGE_KIND_CA_POLICY_DELETED), 1u);
    EXPECT_EQ(agent.stop(), 0);

    // One log line per cycle: duration, Graph requests, overall status, number of changes; no secret.
    const auto text = slurp(log);
    auto cycle_lines = [&](const std::string& overall) {
        std::vector<std::string> out;
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);)
            if (line.find("tenant contoso cycle ") != std::string::npos && line.find(" ms, ") != std::string::npos &&
                line.find(" Graph requests, ") != std::string::npos && line.find(" token requests, overall " + overall + ", ") != std::string::npos &&
                line.find(" changes") != std::string::npos)
                out.push_back(line);
        return out;
    };
    auto ok_lines = cycle_lines("OK");
    ASSERT_FALSE(ok_lines.empty()) << text.substr(0, 3000);
    EXPECT_NE(ok_lines.front().find("cycle 1: "), std::string::npos) << ok_lines.front();
    EXPECT_NE(ok_lines.front().find(", 0 changes"), std::string::npos) << ok_lines.front();
    EXPECT_FALSE(cycle_lines("FAIL").empty());
    EXPECT_EQ(text.find(t.client_secret), std::string::npos);
    EXPECT_EQ(text.find(t.password), std::string::npos);
    EXPECT_EQ(text.find(b.password(key)), std::string::npos);
}

TEST_F(AgentCycle, RestartBetweenCyclesNeitherRepeatsNorMissesAChange) {
    auto agent = start();
    ASSERT_GE(col.wait_report(key, 1).cycle(), 1u) << slurp(log);
    EXPECT_EQ(agent.stop(), 0) << "SIGTERM must exit 0";
    // Offline status (retained) on a clean stop.
    ASSERT_TRUE(col.wait([&] {
        auto s = col.statuses(key);
        return !s.empty() && s.back().state() == v1::AGENT_STATE_OFFLINE;
    })) << slurp(log);
    EXPECT_EQ(col.statuses(key).back().reason(), "shutdown");
    const std::uint64_t before_restart = last_cycle();

    e.admin("PATCH", tenant_path() + "/security-defaults", {{"isEnabled", true}});  // while the agent is down
    auto again = start();
    auto ev = wait_event(v1::CHANGE_KIND_SECURITY_DEFAULTS_ENABLED, "", before_restart);
    EXPECT_EQ(ev.cycle(), before_restart + 1) << "the cycle counter continues across restarts";
    // Two more cycles: still exactly one event for the change.
    ASSERT_GE(col.wait_report(key, ev.cycle() + 2).cycle(), ev.cycle() + 2);
    EXPECT_EQ(count(v1::CHANGE_KIND_SECURITY_DEFAULTS_ENABLED), 1u);
    EXPECT_EQ(again.stop(), 0);

    // Restart with no change in between: no event at all.
    const auto events_before = col.events(key).size();
    const auto c = last_cycle();
    auto third = start();
    ASSERT_GE(col.wait_report(key, c + 2).cycle(), c + 2);
    EXPECT_EQ(col.events(key).size(), events_before);
    EXPECT_EQ(third.stop(), 0);
}

TEST_F(AgentCycle, CrashAfterPublishBeforeCommitRepublishesTheSameEnvelopes) {
    auto agent = start();
    ASSERT_GE(col.wait_report(key, 1).cycle(), 1u) << slurp(log);
    ASSERT_EQ(agent.stop(), 0) << slurp(log);
    const auto old_state = slurp(state_dir / "state.json");
    const std::uint64_t n = last_cycle();

    e.admin("PATCH", tenant_path() + "/security-defaults", {{"isEnabled", true}});
    auto second = start();
    auto ev = wait_event(v1::CHANGE_KIND_SECURITY_DEFAULTS_ENABLED, "", n);
    ASSERT_EQ(ev.cycle(), n + 1);
    ASSERT_EQ(second.stop(), 0) << slurp(log);
    // The agent may have run more cycles; keep only what cycle n+1 published.
    agent::outbox ob;
    ob.cycle = n + 1;
    for (const auto& env : col.all()) {
        if (env.tenant() != key) continue;
        const bool event = env.has_change_event() && env.change_event().cycle() == n + 1;
        const bool report = env.has_validation_report() && env.validation_report().cycle() == n + 1;
        if (!event && !report)
            continue;
        ob.messages.push_back({report ? topics::validation(key) : topics::events(key), env.SerializeAsString(), report, env.id()});
    }
    ASSERT_GE(ob.messages.size(), 2u);
    // Rewind: committed state is cycle n again, and cycle n+1 sits in the outbox as if the agent
    // crashed after the broker acknowledged it but before the commit.
    agent::state_store store(state_dir);
    auto next = store.load_state();
    ASSERT_TRUE(next);
    next->cycle = n + 1;
    ob.next = *next;
    ASSERT_TRUE(agent::write_file_atomic(state_dir / "state.json", old_state));
    ASSERT_TRUE(store.save_outbox(ob));
    const std::string event_id = [&] {
        for (const auto& env : col.of(key, v1::Envelope::kChangeEvent))
            if (env.change_event().kind() == v1::CHANGE_KIND_SECURITY_DEFAULTS_ENABLED) return env.id();
        return std::string{};
    }();
    const auto copies = [&] {
        std::size_t k = 0;
        for (const auto& env : col.of(key, v1::Envelope::kChangeEvent)) k += env.id() == event_id;
        return k;
    };
    ASSERT_EQ(copies(), 1u);

    auto third = start();
    // Re-published with the SAME envelope id (the coordinator's dedupe makes it exactly-once) ...
    EXPECT_TRUE(col.wait([&] { return copies() == 2; })) << slurp(log);
    // ... and the following cycles diff against cycle n+1: no new Security Defaults event.
    const auto c = last_cycle();
    ASSERT_GE(col.wait_report(key, c + 2).cycle(), c + 2);
    EXPECT_EQ(count(v1::CHANGE_KIND_SECURITY_DEFAULTS_ENABLED), 1u);
    // The rewound outbox was committed: cycle c+2 was published, so cycle c+1 is committed, and an
    // outbox on disk now (the agent keeps cycling) can only be a later cycle's.
    auto committed = store.load_state();
    ASSERT_TRUE(committed);
    EXPECT_GE(committed->cycle, c + 1);
    auto pending = store.load_outbox();
    ASSERT_TRUE(pending);
    if (*pending) {
        EXPECT_GT((*pending)->cycle, n + 1);
    }
    EXPECT_EQ(third.stop(), 0) << slurp(log);
}

// The end-to-end acknowledgement (docs/ARCHITECTURE.md "Ingest acknowledgement"): the agent keeps
// each published message until the coordinator's IngestAck names it, re-publishes it (same id)
// after broker.ingestAckTimeoutSeconds, drops it once named as committed, and a message refused for
// good is dropped, logged and never sent again (not even after a restart).
TEST(AgentIngestAck, RepublishesUntilAcknowledgedAndNeverResendsARefusedMessage) {
    env e;
    test::broker b{{.tenants = {key}}};
    collector col{b, "test-collector-noack", /*ack=*/false};
    const auto t = repo_tenant("contoso-healthy.json");
    const auto cfg = e.write_config(
        key, t, {{"broker", {{"ingestAckTimeoutSeconds", 1}}}, {"poll", {{"intervalSeconds", 3600}}}}, &b);
    const auto kept = cfg.parent_path() / "state" / "unacked";
    const auto log = e.dir() / "agent.log";
    const auto copies = [&](const std::string& id) {
        std::size_t n = 0;
        for (const auto& en : col.all()) n += en.id() == id ? 1 : 0;
        return n;
    };
    const auto kept_files = [&] {
        std::size_t n = 0;
        std::error_code ec;
        for (auto it = std::filesystem::directory_iterator(kept, ec); !ec && it != std::filesystem::directory_iterator(); ++it) ++n;
        return n;
    };
    const auto report_id = [&](std::uint64_t cycle) {
        for (const auto& en : col.of(key, v1::Envelope::kValidationReport))
            if (en.validation_report().cycle() == cycle) return en.id();
        return std::string{};
    };
    const auto event_ids = [&](std::uint64_t cycle) {  // a cycle's events (a baseline has none)
        std::set<std::string> ids;
        for (const auto& en : col.of(key, v1::Envelope::kChangeEvent))
            if (en.change_event().cycle() == cycle) ids.insert(en.id());
        return std::vector<std::string>(ids.begin(), ids.end());
    };

    auto agent = start_agent({"--config", cfg.string(), "--log-level", "debug"}, log);
    ASSERT_EQ(col.wait_report(key, 1).cycle(), 1u) << slurp(log);
    const auto first = report_id(1);
    // Not acknowledged: the same envelope comes again, and the cycle stays kept on disk.
    ASSERT_TRUE(col.wait([&] { return copies(first) >= 3; })) << slurp(log);
    EXPECT_EQ(kept_files(), 1u);
    // Refused for good: dropped from disk, logged.
    std::vector<std::pair<std::string, std::string>> refused = {{first, "wrong_body_for_topic"}};
    for (const auto& id : event_ids(1)) refused.emplace_back(id, "wrong_body_for_topic");
    col.send_ack(key, {}, refused);
    ASSERT_TRUE(col.wait([&] { return kept_files() == 0; })) << slurp(log);
    EXPECT_NE(slurp(log).find("refused message " + first), std::string::npos) << slurp(log);
    ASSERT_EQ(agent.stop(), 0) << slurp(log);

    // A restart runs cycle 2 at once and would re-publish every kept message at once too.
    const auto refused_copies = copies(first);
    auto again = start_agent({"--config", cfg.string(), "--log-level", "debug"}, log);
    ASSERT_EQ(col.wait_report(key, 2).cycle(), 2u) << slurp(log);
    const auto second = report_id(2);
    ASSERT_TRUE(col.wait([&] { return copies(second) >= 2; })) << slurp(log);  // re-published after the timeout
    EXPECT_EQ(copies(first), refused_copies);  // the refused one never again
    // Committed: dropped.
    auto committed = event_ids(2);
    committed.push_back(second);
    col.send_ack(key, committed);
    EXPECT_TRUE(col.wait([&] { return kept_files() == 0; })) << slurp(log);
    EXPECT_EQ(again.stop(), 0) << slurp(log);
}

// A coordinator that stays away must not make the agent pile up kept messages without end: at
// broker.maxUnackedMessages new cycles pause (nothing is dropped), and resume once acknowledged.
TEST(AgentIngestAck, PausesNewCyclesAtTheUnacknowledgedLimitAndResumesWhenAcknowledged) {
    env e;
    test::broker b{{.tenants = {key}}};
    collector col{b, "test-collector-noack", /*ack=*/false};
    const auto cfg = e.write_config(key, repo_tenant("contoso-healthy.json"),
                                    {{"broker", {{"maxUnackedMessages", 10}, {"ingestAckTimeoutSeconds", 3600}}},
                                     {"poll", {{"intervalSeconds", 1}, {"jitterSeconds", 0}}}},
                                    &b);
    const auto log = e.dir() / "agent.log";
    const auto reports = [&] {
        std::set<std::string> ids;  // distinct envelopes: a re-publish is not a new cycle
        for (const auto& en : col.of(key, v1::Envelope::kValidationReport)) ids.insert(en.id());
        return ids;
    };
    auto agent = start_agent({"--config", cfg.string()}, log);
    ASSERT_TRUE(col.wait([&] { return slurp(log).find("new cycles pause") != std::string::npos; },
                         std::chrono::seconds{60}))
        << slurp(log);
    // A healthy tenant's cycles publish one report each and no event: ten cycles fill the limit.
    const auto kept = reports();
    ASSERT_EQ(kept.size(), 10u) << slurp(log);
    // Acknowledged: cycles run again.
    col.send_ack(key, std::vector<std::string>(kept.begin(), kept.end()));
    ASSERT_TRUE(col.wait([&] { return reports().size() > kept.size(); })) << slurp(log);
    EXPECT_EQ(agent.stop(), 0) << slurp(log);
}

TEST_F(AgentCycle, ReportOfACycleRunDuringABrokerOutageArrivesAfterReconnect) {
    auto agent = start();
    ASSERT_GE(col.wait_report(key, 1).cycle(), 1u) << slurp(log);
    const std::uint64_t n = last_cycle();
    b.stop();
    e.admin("PATCH", tenant_path() + "/security-defaults", {{"isEnabled", true}});
    // A cycle runs while the broker is away: it waits in the outbox on disk.
    ASSERT_TRUE(col.wait([&] { return std::filesystem::exists(state_dir / "outbox.json"); }, std::chrono::seconds{20}))
        << slurp(log);
    b.start();
    auto ev = wait_event(v1::CHANGE_KIND_SECURITY_DEFAULTS_ENABLED, "", n);
    auto report = col.wait_report(key, ev.cycle());
    EXPECT_EQ(report.cycle(), ev.cycle()) << slurp(log);
    // contoso's account has no MFA method: Security Defaults demand registration at once (no grace
    // since 2024-07-29, graph.md §11.3), so they stop its sign-in.
    EXPECT_EQ(status_of(report, "CG-SECDEF"), v1::CHECK_STATUS_FAIL);
    // Online again after the reconnect.
    EXPECT_TRUE(col.wait([&] {
        auto s = col.statuses(key);
        return !s.empty() && s.back().state() == v1::AGENT_STATE_ONLINE;
    }));
    EXPECT_EQ(count(v1::CHANGE_KIND_SECURITY_DEFAULTS_ENABLED), 1u);
    EXPECT_EQ(agent.stop(), 0);
}

TEST_F(AgentCycle, SigtermDuringASlowGraphReadAbandonsTheCycleAndSaysOffline) {
    cfg = e.write_config(key, t, {{"graph", {{"requestTimeoutMs", 300000}}}}, &b);  // reads wait for the server
    auto agent = start();
    ASSERT_GE(col.wait_report(key, 1).cycle(), 1u) << slurp(log);
    // From now on every Graph read takes two minutes to answer.
    e.admin("PUT", tenant_path() + "/faults",
            {{"rules", json::array({{{"type", "latency"}, {"latencyMs", 120000}, {"pathPrefix", "/v1.0"}}})}});
    ASSERT_TRUE(col.wait([&] { return e.admin("GET", tenant_path() + "/requests").value("faults", 0) > 0; },
                         std::chrono::seconds{30}))
        << "the agent never reached Graph again\n" << slurp(log);
    const std::uint64_t before = last_cycle();
    // The agent is waiting on Graph: SIGTERM aborts the read instead of waiting it out.
    EXPECT_EQ(agent.stop(std::chrono::seconds{60}), 0) << slurp(log);
    const auto text = slurp(log);
    EXPECT_NE(text.find("abandoned (stopping); nothing published"), std::string::npos) << text;
    EXPECT_EQ(last_cycle(), before) << "a cycle cut short must not publish a report";
    ASSERT_TRUE(col.wait([&] {
        auto s = col.statuses(key);
        return !s.empty() && s.back().state() == v1::AGENT_STATE_OFFLINE;
    })) << text;
    EXPECT_EQ(col.statuses(key).back().reason(), "shutdown");
}

TEST_F(AgentCycle, LastWillSaysOfflineWhenTheAgentDies) {
    auto agent = start();
    ASSERT_GE(col.wait_report(key, 1).cycle(), 1u) << slurp(log);
    agent.signal(SIGKILL);
    agent.wait();
    ASSERT_TRUE(col.wait([&] {
        auto s = col.statuses(key);
        return !s.empty() && s.back().state() == v1::AGENT_STATE_OFFLINE;
    }, std::chrono::seconds{60}));
    EXPECT_NE(col.statuses(key).back().reason().find("last will"), std::string::npos);
}

}  // namespace

namespace {

TEST_F(AgentCycle, MicrosoftsOwnPolicyChangesArriveWithMicrosoftAsTheInitiator) {
    auto agent = start();
    ASSERT_GE(col.wait_report(key, 1).cycle(), 1u) << slurp(log);
    // Microsoft creates a managed policy in report-only (graph.md §11.1) ...
    json managed = {{"displayName", "Microsoft-managed: Multifactor authentication for all users"},
                    {"templateId", "4200930c-0da2-4e33-ca01-000000000004"},
                    {"state", "enabledForReportingButNotEnforced"},
                    {"conditions",
                     {{"users", {{"includeUsers", {"All"}}}},
                      {"applications", {{"includeApplications", {"All"}}}},
                      {"clientAppTypes", {"all"}}}},
                    {"grantControls", {{"operator", "OR"}, {"builtInControls", {"mfa"}}}}};
    const auto created = e.admin("POST", tenant_path() + "/policies?initiatedBy=microsoft", managed);
    const std::string id = created.at("id");
    auto ev = wait_event(v1::CHANGE_KIND_CA_POLICY_CREATED, id);
    EXPECT_EQ(ev.initiated_by(), "Microsoft Managed Policy Manager") << slurp(log);
    EXPECT_TRUE(ev.initiated_by_microsoft());
    auto report = col.wait_report(key, ev.cycle());
    EXPECT_EQ(status_of(report, "CG-CAP-MANAGED", id), v1::CHECK_STATUS_WARN)
        << "created today: enforceable in 45 days, excluded now or warned";
    // ... and an admin's edit of it is the admin's.
    e.admin("PATCH", tenant_path() + "/policies/" + id, {{"conditions", {{"users", {{"excludeUsers", {t.user_id}}}}}}});
    auto edit = wait_event(v1::CHANGE_KIND_ACCOUNT_EXCLUDED_FROM_POLICY, id, ev.cycle());
    EXPECT_FALSE(edit.initiated_by().empty());
    EXPECT_NE(edit.initiated_by(), "Microsoft Managed Policy Manager");
    EXPECT_FALSE(edit.initiated_by_microsoft());
    EXPECT_EQ(agent.stop(), 0);
}

}  // namespace
