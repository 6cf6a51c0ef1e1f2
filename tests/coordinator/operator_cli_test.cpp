// "The operator never guesses" (issue 13), for real: a real mosquitto, the real coordinator binary,
// connguardctl as a child process and the coordinator's SQLite file. approve says nothing about a
// plan before the coordinator accepted it; alerts lists what the store holds; audit --tail; who;
// empty lists stay `[]` in --json; a refused request's audit entry names its target.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <tuple>

#include <mutex>

#include "common/envelope_codec.h"
#include "tests/support/webhook_receiver.h"
#include "tests/coordinator/harness.h"
#include "tests/support/report_fixtures.h"

namespace connguard::coord {
namespace {

using namespace test;
using namespace std::chrono_literals;

test::broker_options broker_opts() {
    test::broker_options o;
    o.tenants = {"contoso"};
    // mallory may publish on her admin topic (broker ACL) but has no role in the coordinator.
    o.admins = {"alice", "bob", "olga", "vera", "mallory"};
    return o;
}

/// The JSON object connguardctl printed (output also holds stderr lines, after it).
nlohmann::json json_of(const std::string& out) {
    const auto b = out.find('{');
    const auto e = out.rfind('}');
    if (b == std::string::npos || e == std::string::npos) return nullptr;
    return nlohmann::json::parse(out.substr(b, e - b + 1), nullptr, false);
}

/// Sends a report whose CA policy blocks the account and returns the PENDING_APPROVAL task's id.
/// True when `out` has a line of exactly two words, `name` and `role` (a row of `connguardctl who`).
/// (Not std::regex: GCC 12 warns falsely inside <regex> at -O2, bug 105562, and warnings are errors.)
bool has_row(const std::string& out, const std::string& name, const std::string& role) {
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::string first, second, extra;
        if ((words >> first >> second) && !(words >> extra) && first == name && second == role) return true;
    }
    return false;
}

std::string make_pending_task(deployment& d, mqtt::client& agent) {
    auto r = report(1, to_unix_ms(system_clock::instance().now()));
    add_cap_fail(r, "pol-1", "2026-01-01T10:00:00Z", "block");
    finish_overall(r);
    EXPECT_TRUE(agent.publish(envelope_message(topics::validation("contoso"), wrap("contoso", r))));
    EXPECT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM tasks WHERE state = 2") == 1; }))
        << slurp(d.log_path());
    std::string out;
    EXPECT_EQ(d.ctl("vera", {"tasks", "--json"}, &out), 0) << out;
    const auto j = json_of(out);
    if (!j.is_object() || j["tasks"].size() != 1) return {};
    // A nested empty list stays a list too (no approvals yet).
    EXPECT_EQ(j["tasks"][0]["approvals"], nlohmann::json::array()) << out;
    return j["tasks"][0]["task_id"];
}

TEST(OperatorCli, EmptyListsStayEmptyListsInJson) {
    deployment d(broker_opts());
    d.start();
    std::string out;
    ASSERT_EQ(d.ctl("vera", {"tasks", "--json"}, &out), 0) << out;
    auto j = json_of(out);
    ASSERT_TRUE(j.is_object()) << out;
    ASSERT_TRUE(j.contains("tasks")) << out;
    EXPECT_TRUE(j["tasks"].is_array() && j["tasks"].empty()) << out;
    EXPECT_EQ(j["ok"], true) << out;

    ASSERT_EQ(d.ctl("vera", {"tenants", "--json"}, &out), 0) << out;
    j = json_of(out);
    ASSERT_TRUE(j.is_object() && j.contains("tenants")) << out;
    EXPECT_TRUE(j["tenants"].is_array() && j["tenants"].empty()) << out;

    ASSERT_EQ(d.ctl("vera", {"alerts", "--all", "--json"}, &out), 0) << out;
    j = json_of(out);
    ASSERT_TRUE(j.is_object() && j.contains("alerts")) << out;
    EXPECT_TRUE(j["alerts"].is_array() && j["alerts"].empty()) << out;

    ASSERT_EQ(d.ctl("vera", {"audit", "--task", "no-such-task", "--json"}, &out), 0) << out;
    j = json_of(out);
    ASSERT_TRUE(j.is_object() && j.contains("audit")) << out;
    EXPECT_TRUE(j["audit"].is_array() && j["audit"].empty()) << out;
}

TEST(OperatorCli, WhoListsTheConfiguredIdentitiesAndRoles) {
    deployment d(broker_opts());
    d.start();
    std::string out;
    ASSERT_EQ(d.ctl("vera", {"who"}, &out), 0) << out;
    EXPECT_TRUE(has_row(out, "alice", "approver")) << out;
    EXPECT_TRUE(has_row(out, "bob", "approver")) << out;
    EXPECT_TRUE(has_row(out, "olga", "operator")) << out;
    EXPECT_TRUE(has_row(out, "vera", "viewer")) << out;
    EXPECT_EQ(out.find("mallory"), std::string::npos) << "not configured, so not listed\n" << out;

    ASSERT_EQ(d.ctl("olga", {"who", "--json"}, &out), 0) << out;
    const auto j = json_of(out);
    ASSERT_TRUE(j.is_object()) << out;
    ASSERT_EQ(j["admins"].size(), 4u) << out;
    EXPECT_EQ(j["admins"][0]["name"], "alice") << out;
    EXPECT_EQ(j["admins"][0]["role"], "ADMIN_ROLE_APPROVER") << out;
    EXPECT_EQ(j["admins"][3]["name"], "vera") << out;
    EXPECT_EQ(j["admins"][3]["role"], "ADMIN_ROLE_VIEWER") << out;

    // Someone the coordinator does not know learns nothing, and the refusal names the request.
    EXPECT_EQ(d.ctl("mallory", {"who"}, &out), 1) << out;
    EXPECT_NE(out.find("forbidden"), std::string::npos) << out;
    EXPECT_TRUE(eventually([&] {
        return d.count("SELECT count(*) FROM audit WHERE actor = 'mallory' AND action = 'admin.refused' AND "
                       "detail LIKE '%(request: list admins) via cli'") == 1;
    }));
}

TEST(OperatorCli, RefusedApprovalPrintsOnlyTheRefusalAndItsAuditEntryNamesTheTask) {
    deployment d(broker_opts());
    d.start();
    auto agent = d.client("contoso");
    ASSERT_TRUE(agent->connect());
    const std::string id = make_pending_task(d, *agent);
    ASSERT_FALSE(id.empty());

    std::string out;
    // A viewer, a wrong plan version, someone without a role: the refusal and nothing about the plan.
    for (const auto& [user, args, code] :
         std::vector<std::tuple<std::string, std::vector<std::string>, std::string>>{
             {"vera", {"approve", id}, "forbidden"},
             {"alice", {"approve", id, "--plan-version", "7"}, "stale_plan"},
             {"mallory", {"approve", id, "--plan-version", "1"}, "forbidden"}}) {
        EXPECT_EQ(d.ctl(user, args, &out), 1) << user << "\n" << out;
        EXPECT_NE(out.find("refused (" + code + ")"), std::string::npos) << user << "\n" << out;
        for (const char* plan_text : {"PATCH", "pol-1", "excludeUsers", "approving plan", "approved plan", "is now"})
            EXPECT_EQ(out.find(plan_text), std::string::npos) << user << ": '" << plan_text << "' printed\n" << out;
    }
    // --json: only the refusal (ok false, the code), no task attached.
    EXPECT_EQ(d.ctl("vera", {"approve", id, "--json"}, &out), 1) << out;
    auto j = json_of(out);
    ASSERT_TRUE(j.is_object()) << out;
    EXPECT_EQ(j["ok"], false) << out;
    EXPECT_EQ(j["error_code"], "forbidden") << out;
    EXPECT_TRUE(j["tasks"].is_array() && j["tasks"].empty()) << out;
    EXPECT_EQ(out.find("PATCH"), std::string::npos) << out;

    // Every refused approval's audit entry names the task: its column and the request in the detail.
    EXPECT_TRUE(eventually([&] {
        return d.count("SELECT count(*) FROM audit WHERE action IN ('approval.refused', 'admin.refused') AND task_id = '" +
                       id + "' AND detail LIKE '%(request: approve task " + id + " plan v%'") == 4;
    })) << slurp(d.log_path());
    EXPECT_EQ(d.count("SELECT count(*) FROM audit WHERE actor = 'mallory' AND action = 'admin.refused' AND task_id = '" +
                      id + "'"),
              1);
    EXPECT_EQ(d.count("SELECT count(*) FROM audit WHERE action = 'approval.refused' AND tenant = 'contoso' AND task_id = '" +
                      id + "'"),
              3);
    EXPECT_EQ(d.ctl("olga", {"audit", "--task", id}, &out), 0) << out;
    EXPECT_NE(out.find("approve task " + id + " plan v7"), std::string::npos) << out;

    // Accepted: now the plan that was approved is shown.
    ASSERT_EQ(d.ctl("alice", {"approve", id}, &out), 0) << out;
    EXPECT_NE(out.find("approved plan version 1 of task " + id), std::string::npos) << out;
    EXPECT_NE(out.find("PATCH /v1.0/identity/conditionalAccess/policies/pol-1"), std::string::npos) << out;
    EXPECT_NE(out.find("PENDING_APPROVAL (1 of 2"), std::string::npos) << out;
}

TEST(OperatorCli, AuditTailShowsTheNewestEntriesNewestFirst) {
    deployment d(broker_opts());
    d.start();
    auto agent = d.client("contoso");
    ASSERT_TRUE(agent->connect());
    const std::string id = make_pending_task(d, *agent);
    ASSERT_FALSE(id.empty());
    std::string out;
    EXPECT_EQ(d.ctl("vera", {"approve", id}, &out), 1) << out;
    EXPECT_EQ(d.ctl("olga", {"reject", id, "--reason", "not now"}, &out), 0) << out;
    ASSERT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM audit WHERE action = 'task.rejected'") == 1; }));
    const auto head = d.count("SELECT max(seq) FROM audit");
    ASSERT_GE(head, 3);

    ASSERT_EQ(d.ctl("vera", {"audit", "--tail", "2", "--json"}, &out), 0) << out;
    const auto j = json_of(out);
    ASSERT_TRUE(j.is_object()) << out;
    ASSERT_EQ(j["audit"].size(), 2u) << out;
    EXPECT_EQ(j["audit"][0]["seq"], std::to_string(head)) << out;  // uint64 is a JSON string
    EXPECT_EQ(j["audit"][1]["seq"], std::to_string(head - 1)) << out;

    ASSERT_EQ(d.ctl("vera", {"audit", "--tail", "2"}, &out), 0) << out;
    // The line that starts with the entry's sequence number, as the text output prints it. Whole
    // lines only: the output also carries stderr, where LeakSanitizer's "Suppressions used" table
    // of a sanitizer build has lines like "      3        471 libpaho-mqtt3as".
    auto line_of = [&out](std::int64_t seq) {
        char start[32];
        std::snprintf(start, sizeof start, "%6lld  ", static_cast<long long>(seq));
        std::istringstream lines(out);
        std::size_t index = 0;
        for (std::string line; std::getline(lines, line); ++index)
            if (line.starts_with(start)) return index;
        return std::string::npos;
    };
    const auto newest = line_of(head);
    const auto older = line_of(head - 1);
    ASSERT_NE(newest, std::string::npos) << out;
    ASSERT_NE(older, std::string::npos) << out;
    EXPECT_LT(newest, older) << out;
    EXPECT_NE(out.find("task.rejected"), std::string::npos) << out;
    EXPECT_EQ(out.find("task.created"), std::string::npos) << "only 2 entries\n" << out;

    EXPECT_EQ(d.ctl("vera", {"audit", "--tail", "0"}, &out), 2) << out;
    EXPECT_EQ(d.ctl("vera", {"audit", "--tail", "2", "--limit", "3"}, &out), 2) << out;
}

TEST(OperatorCli, AlertsListsActiveThenAllWithTheResolvedOnes) {
    deployment d(broker_opts());
    d.start();
    auto agent = d.client("contoso");
    ASSERT_TRUE(agent->connect());
    ASSERT_FALSE(make_pending_task(d, *agent).empty());
    ASSERT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM alerts WHERE active = 1 AND cause = 'status:FAIL'") == 1; }));

    std::string out;
    ASSERT_EQ(d.ctl("vera", {"alerts"}, &out), 0) << out;
    EXPECT_NE(out.find("RAISED"), std::string::npos) << out;
    EXPECT_EQ(out.find("following"), std::string::npos) << "lists, does not follow\n" << out;

    // A clean report resolves the FAIL causes; then the agent goes offline (a new active alert).
    std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(agent->publish(envelope_message(topics::validation("contoso"),
                                   wrap("contoso", report(2, to_unix_ms(system_clock::instance().now()))))));
    ASSERT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM alerts WHERE active = 0 AND cause = 'status:FAIL'") == 1; }))
        << slurp(d.log_path());
    std::this_thread::sleep_for(20ms);
    auto st = codec::make_envelope("contoso", "agent/contoso");
    st.mutable_agent_status()->set_state(v1::AGENT_STATE_OFFLINE);
    st.mutable_agent_status()->set_reason("stopped");
    ASSERT_TRUE(agent->publish(envelope_message(topics::agent_status("contoso"), st)));
    ASSERT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM alerts WHERE active = 1 AND cause = 'agent:offline'") == 1; }))
        << slurp(d.log_path());
    const auto active = d.count("SELECT count(*) FROM alerts WHERE active = 1");
    const auto all = d.count("SELECT count(*) FROM alerts");
    ASSERT_GT(all, active);

    ASSERT_EQ(d.ctl("vera", {"alerts", "--json"}, &out), 0) << out;
    auto j = json_of(out);
    ASSERT_TRUE(j.is_object()) << out;
    ASSERT_EQ(static_cast<std::int64_t>(j["alerts"].size()), active) << out;
    EXPECT_EQ(j["alerts"][0]["tenant"], "contoso") << out;
    EXPECT_EQ(j["alerts"][0]["alert"]["cause"], "agent:offline") << "newest first\n" << out;
    for (const auto& a : j["alerts"]) EXPECT_EQ(a["alert"]["state"], "ALERT_STATE_RAISED") << out;

    ASSERT_EQ(d.ctl("vera", {"alerts", "--all", "--json"}, &out), 0) << out;
    j = json_of(out);
    ASSERT_EQ(static_cast<std::int64_t>(j["alerts"].size()), all) << out;
    EXPECT_EQ(j["alerts"][0]["alert"]["cause"], "agent:offline") << out;
    bool resolved_fail = false;
    for (const auto& a : j["alerts"])
        resolved_fail = resolved_fail || (a["alert"]["cause"] == "status:FAIL" && a["alert"]["state"] == "ALERT_STATE_RESOLVED");
    EXPECT_TRUE(resolved_fail) << out;

    ASSERT_EQ(d.ctl("vera", {"alerts", "--all"}, &out), 0) << out;
    EXPECT_NE(out.find("RESOLVED"), std::string::npos) << out;
    ASSERT_EQ(d.ctl("vera", {"alerts", "--all", "--since", "1h", "--json"}, &out), 0) << out;
    EXPECT_EQ(static_cast<std::int64_t>(json_of(out)["alerts"].size()), all) << out;
    ASSERT_EQ(d.ctl("vera", {"alerts", "--all", "--since", "2999-01-01T00:00:00Z", "--json"}, &out), 0) << out;
    j = json_of(out);
    EXPECT_TRUE(j["alerts"].is_array() && j["alerts"].empty()) << out;
    ASSERT_EQ(d.ctl("vera", {"alerts", "--all", "--since", "2999-01-01T00:00:00Z"}, &out), 0) << out;
    EXPECT_NE(out.find("(no alerts)"), std::string::npos) << out;

    EXPECT_EQ(d.ctl("vera", {"alerts", "--since", "yesterday"}, &out), 2) << out;
    EXPECT_EQ(d.ctl("vera", {"alerts", "--follow", "--all"}, &out), 2) << out;
}

}  // namespace
}  // namespace connguard::coord

namespace connguard::coord {
namespace {

// Pre-change impact (issue 15) for real: the agent's report carries its evaluation context, the
// coordinator answers connguardctl impact from it; exit 1 when a tenant would break, 0 otherwise,
// 2 for a bad draft file (named, before any request); the request is audited.
TEST(OperatorCli, ImpactOfADraftPolicyPerTenant) {
    deployment d(broker_opts());
    d.start();
    auto agent = d.client("contoso");
    ASSERT_TRUE(agent->connect());
    auto r = test::report(1, to_unix_ms(system_clock::instance().now()));
    test::add_evaluation_context(r);
    ASSERT_TRUE(agent->publish(envelope_message(topics::validation("contoso"), test::wrap("contoso", r))));
    ASSERT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM posture") == 1; })) << slurp(d.log_path());

    test::temp_dir files("impact-cli");
    auto write = [&](const std::string& name, const nlohmann::json& j) {
        const auto p = files.path() / name;
        std::FILE* f = std::fopen(p.c_str(), "w");
        const auto text = j.dump();
        std::fwrite(text.data(), 1, text.size(), f);
        std::fclose(f);
        return p.string();
    };
    auto policy = [](const char* grant, const char* client_apps) {
        return nlohmann::json{{"displayName", std::string("draft ") + grant},
                              {"state", "enabledForReportingButNotEnforced"},
                              {"conditions",
                               {{"users", {{"includeUsers", {"All"}}}},
                                {"applications", {{"includeApplications", {"All"}}}},
                                {"clientAppTypes", {client_apps}}}},
                              {"grantControls", {{"operator", "OR"}, {"builtInControls", {grant}}}}};
    };
    const auto mfa = write("mfa.json", policy("mfa", "all"));
    const auto legacy = write("legacy.json", policy("block", "other"));

    std::string out;
    EXPECT_EQ(d.ctl("vera", {"impact", "--policy", mfa}, &out), 1) << out;
    if (std::getenv("CONNGUARD_SHOW_IMPACT") != nullptr) std::printf("%s\n", out.c_str());
    EXPECT_NE(out.find("draft 'draft mfa' evaluated as enabled (declared state: enabledForReportingButNotEnforced)"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("mfa_required"), std::string::npos) << out;
    EXPECT_NE(out.find(std::string("excludeUsers    ") + test::user_id), std::string::npos) << out;
    EXPECT_NE(out.find("1 tenants: 1 would break, 0 uncertain, 0 not evaluated"), std::string::npos) << out;

    ASSERT_EQ(d.ctl("vera", {"impact", "--policy", mfa, "--tenants", "contoso", "northwind", "--json"}, &out), 1) << out;
    const auto j = json_of(out);
    ASSERT_TRUE(j.is_object()) << out;
    ASSERT_EQ(j["impacts"].size(), 2u) << out;
    EXPECT_EQ(j["impacts"][0]["tenant"], "contoso");
    EXPECT_EQ(j["impacts"][0]["outcome"], "IMPACT_OUTCOME_MFA_REQUIRED") << out;
    EXPECT_EQ(j["impacts"][0]["exclusion_id"], test::user_id) << out;
    EXPECT_EQ(j["impacts"][0]["sign_ins"][0]["matched"], (nlohmann::json{"users", "application", "clientApps"})) << out;
    EXPECT_EQ(j["impacts"][1]["outcome"], "IMPACT_OUTCOME_NO_REPORT") << out;

    EXPECT_EQ(d.ctl("vera", {"impact", "--policy", legacy}, &out), 0) << out;
    EXPECT_NE(out.find("unaffected"), std::string::npos) << out;

    const auto bad = write("skeleton.json", nlohmann::json{{"state", "string"}, {"conditions", nlohmann::json::object()}});
    EXPECT_EQ(d.ctl("vera", {"impact", "--policy", bad}, &out), 2) << out;
    EXPECT_NE(out.find(bad + ": state:"), std::string::npos) << out;
    EXPECT_EQ(d.ctl("vera", {"impact"}, &out), 2) << out;
    EXPECT_EQ(d.count("SELECT count(*) FROM audit WHERE action = 'impact.evaluated' AND actor = 'vera'"), 3);
}

/// `out` without LeakSanitizer's "Suppressions used" table, which a sanitizer build's connguardctl
/// writes to stderr at exit and which the harness's shared pipe can put inside a long stdout.
std::string without_lsan_table(std::string out) {
    const std::string dashes(53, '-');
    for (;;) {
        const auto b = out.find(dashes + "\nSuppressions used:");
        if (b == std::string::npos) return out;
        auto e = out.find(dashes, b + dashes.size() + 1);
        if (e == std::string::npos) return out;
        e += dashes.size();
        if (e < out.size() && out[e] == '\n') ++e;
        if (e < out.size() && out[e] == '\n') ++e;
        out.erase(b, e - b);
    }
}

// More tenants than one message holds: connguardctl asks page after page and prints them as one.
TEST(OperatorCli, ImpactOverThousandsOfTenantsComesInPages) {
    nlohmann::json expected = nlohmann::json::array();
    for (int i = 0; i < 6000; ++i) {
        char key[32];
        std::snprintf(key, sizeof key, "tenant-%05d", i);
        expected.push_back(key);
    }
    deployment d(broker_opts(), {{"tenants", expected}});
    d.start();
    test::temp_dir files("impact-pages");
    const auto path = (files.path() / "draft.json").string();
    {
        std::FILE* f = std::fopen(path.c_str(), "w");
        const std::string text =
            R"({"displayName":"d","state":"enabled","conditions":{"users":{"includeUsers":["All"]},)"
            R"("applications":{"includeApplications":["All"]}},"grantControls":{"operator":"OR","builtInControls":["block"]}})";
        std::fwrite(text.data(), 1, text.size(), f);
        std::fclose(f);
    }
    std::string out;
    ASSERT_EQ(d.ctl("vera", {"impact", "--policy", path, "--json"}, &out), 0) << out.substr(0, 2000);
    const auto j = json_of(without_lsan_table(out));
    ASSERT_TRUE(j.is_object()) << out.substr(out.size() > 3000 ? out.size() - 3000 : 0);
    ASSERT_EQ(j["impacts"].size(), 6000u);
    EXPECT_EQ(j["impacts"][5999]["tenant"], "tenant-05999");
    EXPECT_FALSE(j.contains("impact_more"));
    EXPECT_GT(d.count("SELECT count(*) FROM audit WHERE action = 'impact.evaluated'"), 1);
}


// The exception registry from the command line (issue 15): approvers change it, any role reads it,
// every change is audited; the first report's exclusions are one onboarding alert, a hand-made
// exclusion afterwards its own, and registering it stops it; export / import round trip and a bad
// file imports nothing; adopt (approvers only) registers what is left and the onboarding alert resolves.
TEST(OperatorCli, ExceptionCommandsRegisterListExportImportRemoveAndAdopt) {
    deployment d(broker_opts());
    d.start();
    auto agent = d.client("contoso");
    ASSERT_TRUE(agent->connect());
    // The first report's exclusions are the onboarding set: the break-glass policy's user exclusion.
    auto first = report(1, to_unix_ms(system_clock::instance().now()));
    add_policy_exclusions(first, "pol-9", "Break glass", "", {{v1::EXCLUSION_KIND_USER, "usr-break-glass"}});
    ASSERT_TRUE(agent->publish(envelope_message(topics::validation("contoso"), wrap("contoso", first))));
    const std::string onboarding =
        "SELECT count(*) FROM alerts WHERE active = 1 AND cause = 'UNREGISTERED_EXCLUSION:onboarding' AND severity = " +
        std::to_string(static_cast<int>(v1::SEVERITY_INFO));
    ASSERT_TRUE(eventually([&] { return d.count(onboarding) == 1; })) << slurp(d.log_path());
    // A group excluded afterwards, by hand: its own warning.
    auto r = report(2, to_unix_ms(system_clock::instance().now()));
    add_policy_exclusions(r, "pol-9", "Break glass", "", {{v1::EXCLUSION_KIND_USER, "usr-break-glass"}});
    add_policy_exclusions(r, "pol-2", "Block legacy auth", "", {{v1::EXCLUSION_KIND_GROUP, "grp-it-admins"}});
    ASSERT_TRUE(agent->publish(envelope_message(topics::validation("contoso"), wrap("contoso", r))));
    const std::string unregistered =
        "SELECT count(*) FROM alerts WHERE active = 1 AND cause = 'UNREGISTERED_EXCLUSION:pol-2:grp-it-admins'";
    ASSERT_TRUE(eventually([&] { return d.count(unregistered) == 1; })) << slurp(d.log_path());
    EXPECT_EQ(d.count(onboarding), 1);

    std::string out;
    ASSERT_EQ(d.ctl("vera", {"exception", "--help"}, &out), 0) << out;
    EXPECT_NE(out.find("exception import FILE"), std::string::npos) << out;
    const std::vector<std::string> add = {"exception", "add", "--tenant", "contoso", "--kind", "group", "--policy", "pol-2",
                                          "--object", "grp-it-admins", "--owner", "it-security", "--reason",
                                          "break-glass group", "--ticket", "CHG-1", "--expires", "2099-12-31"};
    EXPECT_EQ(d.ctl("vera", add, &out), 1) << "a viewer may not change the registry\n" << out;
    EXPECT_NE(out.find("forbidden"), std::string::npos) << out;
    auto no_expiry = add;
    no_expiry.resize(no_expiry.size() - 2);
    EXPECT_EQ(d.ctl("alice", no_expiry, &out), 2) << out;
    EXPECT_NE(out.find("--expires"), std::string::npos) << out;
    EXPECT_EQ(d.ctl("alice", {"exception", "add", "--tenant", "contoso", "--kind", "group", "--object", "g", "--owner", "o",
                              "--reason", "r", "--expires", "2099-01-01"}, &out), 2)
        << "a group exclusion names its policy\n" << out;
    EXPECT_NE(out.find("field 'policyId'"), std::string::npos) << out;

    ASSERT_EQ(d.ctl("alice", add, &out), 0) << out;
    EXPECT_NE(out.find("grp-it-admins"), std::string::npos) << out;
    EXPECT_TRUE(eventually([&] { return d.count(unregistered) == 0; })) << "registered: the alert resolves\n" << out;

    ASSERT_EQ(d.ctl("vera", {"exception", "list", "--json"}, &out), 0) << out;
    auto j = json_of(out);
    ASSERT_TRUE(j.is_object()) << out;
    ASSERT_EQ(j["exceptions"].size(), 1u) << out;
    EXPECT_EQ(j["exceptions"][0]["ticket"], "CHG-1");
    EXPECT_EQ(j["exceptions"][0]["kind"], "EXCEPTION_KIND_GROUP");
    const std::string id = j["exceptions"][0]["id"];

    test::temp_dir files{"exceptions"};
    const auto exported = (files.path() / "registry.json").string();
    ASSERT_EQ(d.ctl("vera", {"exception", "export", exported}, &out), 0) << out;
    const auto text = slurp(exported);
    EXPECT_NE(text.find("\"grp-it-admins\""), std::string::npos) << text;

    ASSERT_EQ(d.ctl("bob", {"exception", "remove", id, "--reason", "group retired"}, &out), 0) << out;
    EXPECT_TRUE(eventually([&] { return d.count(unregistered) == 1; })) << "unregistered again";
    EXPECT_EQ(d.ctl("bob", {"exception", "remove", id}, &out), 1) << out;

    // A file with one bad entry: refused whole, each problem named by file, entry and field.
    const auto bad = (files.path() / "bad.json").string();
    {
        std::FILE* f = std::fopen(bad.c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::fputs(R"({"exceptions":[{"tenant":"contoso","kind":"user","policyId":"pol-2","objectId":"u1","owner":"a",)"
                   R"("reason":"r","expiresAt":"2099-01-01"},{"tenant":"contoso","kind":"user","policyId":"pol-2",)"
                   R"("objectId":"u2","reason":"r","expiresAt":"2099-01-01"}]})",
                   f);
        std::fclose(f);
    }
    EXPECT_EQ(d.ctl("alice", {"exception", "import", bad}, &out), 2) << out;
    EXPECT_NE(out.find(bad + ": entry 2: field 'owner'"), std::string::npos) << out;
    EXPECT_EQ(d.count("SELECT count(*) FROM exceptions"), 0);

    ASSERT_EQ(d.ctl("alice", {"exception", "import", exported}, &out), 0) << out;
    EXPECT_NE(out.find("imported 1 exception"), std::string::npos) << out;
    EXPECT_EQ(d.count("SELECT count(*) FROM exceptions WHERE id = '" + id + "' AND ticket = 'CHG-1'"), 1);
    EXPECT_TRUE(eventually([&] { return d.count(unregistered) == 0; }));
    // added, removed, imported; refused: vera's add and the second remove (not_found).
    EXPECT_EQ(d.count("SELECT count(*) FROM audit WHERE action IN ('exception.added', 'exception.removed', "
                      "'exception.imported')"),
              3);
    EXPECT_EQ(d.count("SELECT count(*) FROM audit WHERE action = 'exception.refused'"), 2);

    // adopt: the onboarding set's exclusion (and anything else unregistered) in one request,
    // approvers only.
    ASSERT_EQ(d.ctl("vera", {"exception", "adopt", "--help"}, &out), 0) << out;
    EXPECT_NE(out.find("exception adopt --tenant K|--all"), std::string::npos) << out;
    const std::vector<std::string> adopt = {"exception", "adopt", "--tenant", "contoso", "--owner", "it-security",
                                            "--reason", "there when we started", "--ticket", "ONB-1", "--expires", "2099-06-30"};
    EXPECT_EQ(d.ctl("vera", adopt, &out), 1) << "a viewer may not adopt\n" << out;
    EXPECT_NE(out.find("forbidden"), std::string::npos) << out;
    EXPECT_EQ(d.ctl("olga", adopt, &out), 1) << "an operator may not adopt\n" << out;
    EXPECT_NE(out.find("forbidden"), std::string::npos) << out;
    EXPECT_EQ(d.ctl("alice", {"exception", "adopt", "--tenant", "contoso", "--all", "--owner", "o", "--reason", "r",
                              "--expires", "2099-06-30"}, &out), 2) << out;
    EXPECT_EQ(d.ctl("alice", {"exception", "adopt", "--tenant", "contoso", "--owner", "o", "--reason", "r"}, &out), 2) << out;
    EXPECT_NE(out.find("--expires"), std::string::npos) << out;
    EXPECT_EQ(d.count(onboarding), 1) << "nothing adopted yet";

    ASSERT_EQ(d.ctl("bob", adopt, &out), 0) << out;
    EXPECT_NE(out.find("adopted 1 exclusion"), std::string::npos) << out;
    EXPECT_NE(out.find("usr-break-glass"), std::string::npos) << out;
    EXPECT_EQ(d.count("SELECT count(*) FROM exceptions WHERE source = 'adopt' AND object_id = 'usr-break-glass' AND "
                      "owner = 'it-security' AND ticket = 'ONB-1'"), 1);
    EXPECT_TRUE(eventually([&] { return d.count(onboarding) == 0; })) << "adopted: the onboarding alert resolves";
    EXPECT_EQ(d.count("SELECT count(*) FROM alerts WHERE active = 1 AND cause LIKE 'UNREGISTERED_EXCLUSION:%'"), 0);
    EXPECT_EQ(d.count("SELECT count(*) FROM audit WHERE action = 'exception.adopted' AND tenant = 'contoso'"), 1);
    EXPECT_EQ(d.count("SELECT count(*) FROM audit WHERE action = 'exception.refused'"), 4) << "+ vera's and olga's adopt";
    // Nothing left to adopt: a second run registers nothing and says so.
    ASSERT_EQ(d.ctl("bob", adopt, &out), 0) << out;
    EXPECT_NE(out.find("adopted 0 exclusion"), std::string::npos) << out;
}

TEST(OperatorCli, WebhookCommandsAddListTestAndRemoveASubscriptionAtRuntime) {
    auto bo = broker_opts();
    bo.admins.push_back("adam");
    deployment d(bo, {{"approvers", {{"adam", "admin"}}}});
    d.start();
    test::webhook_receiver sink;
    const std::string origin = sink.origin();
    const std::string url = origin + "/hook/secret-path";

    std::string out;
    ASSERT_EQ(d.ctl("vera", {"who"}, &out), 0) << out;
    EXPECT_TRUE(has_row(out, "adam", "admin")) << out;

    // Approvers may not manage subscriptions; a bad URL is refused with the field named.
    EXPECT_EQ(d.ctl("alice", {"webhook", "add", "--name", "noc", "--url", url}, &out), 1) << out;
    EXPECT_NE(out.find("forbidden"), std::string::npos) << out;
    EXPECT_EQ(d.ctl("adam", {"webhook", "add", "--name", "noc", "--url", "http://hooks.example.com/x"}, &out), 1) << out;
    EXPECT_NE(out.find("field 'url'"), std::string::npos) << out;

    ASSERT_EQ(d.ctl("adam", {"webhook", "add", "--name", "noc", "--url", url, "--tenant", "contoso", "--min-severity",
                             "critical", "--json"},
                    &out),
              0)
        << out;
    auto j = json_of(out);
    ASSERT_TRUE(j.is_object()) << out;
    const std::string id = j["webhooks"][0]["id"];
    ASSERT_FALSE(id.empty());

    // A viewer sees it without the URL's path; the admin sees it whole.
    ASSERT_EQ(d.ctl("vera", {"webhook", "list", "--json"}, &out), 0) << out;
    j = json_of(out);
    ASSERT_EQ(j["webhooks"].size(), 1u) << out;
    EXPECT_EQ(j["webhooks"][0]["url"], origin) << out;
    ASSERT_EQ(d.ctl("adam", {"webhook", "list"}, &out), 0) << out;
    EXPECT_NE(out.find(url), std::string::npos) << out;

    // test: one sample alert reaches the receiver through the coordinator's webhook worker.
    ASSERT_EQ(d.ctl("adam", {"webhook", "test", id}, &out), 0) << out;
    ASSERT_TRUE(eventually([&] { return sink.count() == 1; })) << slurp(d.log_path());
    EXPECT_NE(sink.body(0).find("ConnGuard test alert"), std::string::npos) << sink.body(0);

    ASSERT_EQ(d.ctl("adam", {"webhook", "remove", id}, &out), 0) << out;
    ASSERT_EQ(d.ctl("adam", {"webhook", "list", "--json"}, &out), 0) << out;
    EXPECT_TRUE(json_of(out)["webhooks"].empty()) << out;

    // Audited as adam via the CLI, the URL as scheme://host only; nowhere its path.
    EXPECT_EQ(d.count("SELECT count(*) FROM audit WHERE actor = 'adam' AND action IN ('webhook.added', "
                      "'webhook.tested', 'webhook.removed') AND detail LIKE '%via cli'"),
              3);
    EXPECT_EQ(d.count("SELECT count(*) FROM audit WHERE detail LIKE '%secret-path%'"), 0);
    EXPECT_EQ(slurp(d.log_path()).find("secret-path"), std::string::npos);
}

}  // namespace
}  // namespace connguard::coord
