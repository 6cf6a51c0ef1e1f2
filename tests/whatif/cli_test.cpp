// The `connguardctl whatif` contract (issue 4), exercised through the built binary.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/support/process.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using connguard::test::run_command;
using connguard::test::temp_dir;

const std::string ctl = std::string(CONNGUARD_BIN_DIR) + "/connguardctl";
const char* const user = "aaaaaaaa-0000-0000-0000-000000000001";

void write(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary);
    out << bytes;
}

json policy(const std::string& id, const std::string& control, const std::string& state = "enabled") {
    return {{"@odata.type", "#microsoft.graph.conditionalAccessPolicy"},
            {"id", id}, {"displayName", "Policy " + id}, {"state", state},
            {"conditions", {{"users", {{"includeUsers", {"All"}}, {"excludeUsers", json::array()}}},
                            {"applications", {{"includeApplications", {"All"}}}},
                            {"clientAppTypes", {"all"}}, {"platforms", nullptr}, {"locations", nullptr}}},
            {"grantControls", {{"operator", "or"}, {"builtInControls", {control}}}}};
}

json request(const std::string& app = "00000002-0000-0ff1-ce00-000000000000", const std::string& client = "mobileAppsAndDesktopClients") {
    return {{"signInIdentity", {{"@odata.type", "#microsoft.graph.userSignIn"}, {"userId", user}}},
            {"signInContext", {{"@odata.type", "#microsoft.graph.applicationContext"}, {"includeApplications", {app}}}},
            {"signInConditions", {{"clientAppType", client}}}};
}

std::string utf16(const std::string& ascii, bool little_endian) {
    std::string out = little_endian ? std::string("\xFF\xFE", 2) : std::string("\xFE\xFF", 2);
    for (char c : ascii) {
        if (little_endian) {
            out += c;
            out += '\0';
        } else {
            out += '\0';
            out += c;
        }
    }
    return out;
}

class WhatifCli : public ::testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(ctl)) GTEST_SKIP() << "connguardctl not built at " << ctl;
        write(dir_.path() / "request.json", request().dump());
    }
    int run(std::vector<std::string> args, std::string* out, bool merge = true) {
        args.insert(args.begin(), {ctl, "whatif"});
        return run_command(args, out, merge);
    }
    fs::path p(const std::string& name) const { return dir_.path() / name; }
    temp_dir dir_{"whatif-cli"};
};

TEST_F(WhatifCli, JsonOutputMirrorsGraphAndGivesTheVerdict) {
    write(p("policies.json"), json{{"@odata.context", "x"}, {"value", {policy("p1", "mfa"), policy("p2", "block", "disabled")}}}.dump());
    std::string out;
    ASSERT_EQ(run({"--policies", p("policies.json"), "--request", p("request.json"), "--json"}, &out, false), 0) << out;
    auto j = json::parse(out);
    ASSERT_EQ(j["value"].size(), 2u);
    EXPECT_EQ(j["value"][0], (json{{"id", "p1"}, {"displayName", "Policy p1"}, {"state", "enabled"},
                                   {"policyApplies", true}, {"analysisReasons", "notSet"}}));
    EXPECT_EQ(j["value"][1]["policyApplies"], false);
    EXPECT_EQ(j["value"][1]["analysisReasons"], "policyNotEnabled");
    EXPECT_EQ(j["verdict"]["result"], "mfa_required");
    EXPECT_EQ(j["verdict"]["causes"], json::array({"p1"}));
    EXPECT_EQ(j["verdict"]["uncertain"], json::array());
    EXPECT_EQ(j["verdict"]["reportOnly"]["result"], "mfa_required");
}

TEST_F(WhatifCli, BlockedVerdictStillExitsZeroAndTableIsReadable) {
    write(p("p.json"), policy("blocker", "block").dump());
    std::string out;
    ASSERT_EQ(run({"--policies", p("p.json"), "--request", p("request.json")}, &out), 0) << out;
    EXPECT_NE(out.find("verdict: blocked"), std::string::npos) << out;
    EXPECT_NE(out.find("Policy blocker"), std::string::npos);
}

TEST_F(WhatifCli, DirectoryFeedsSecurityDefaultsAndUsers) {
    write(p("empty.json"), "[]");
    write(p("dir.json"), json{{"securityDefaultsEnabled", true},
                              {"users", {{user, {{"roles", {"62e90394-69f5-4237-9190-012177145e10"}}}}}}}.dump());
    std::string out;
    ASSERT_EQ(run({"--policies", p("empty.json"), "--request", p("request.json"), "--directory", p("dir.json"), "--json"}, &out, false), 0);
    auto j = json::parse(out);
    EXPECT_EQ(j["verdict"]["result"], "mfa_required");
    EXPECT_EQ(j["verdict"]["causes"], json::array({"securityDefaults"}));
}

TEST_F(WhatifCli, FolderIsReadInNameOrderAndPoliciesRepeat) {
    fs::create_directory(p("folder"));
    write(p("folder/b.json"), policy("second", "mfa").dump());
    write(p("folder/a.json"), policy("first", "mfa").dump());
    write(p("folder/notes.txt"), "not json");
    write(p("extra.json"), policy("third", "compliantDevice").dump());
    std::string out;
    ASSERT_EQ(run({"--policies", p("folder"), "--policies", p("extra.json"), "--request", p("request.json"), "--json"}, &out, false), 0) << out;
    auto j = json::parse(out);
    ASSERT_EQ(j["value"].size(), 3u);
    EXPECT_EQ(j["value"][0]["id"], "first");
    EXPECT_EQ(j["value"][1]["id"], "second");
    EXPECT_EQ(j["value"][2]["id"], "third");
}

TEST_F(WhatifCli, AcceptsBomAndUtf16Files) {
    const std::string text = policy("enc", "mfa").dump(2);
    write(p("utf8bom.json"), "\xEF\xBB\xBF" + text);
    write(p("utf16le.json"), utf16(text, true));
    write(p("utf16be.json"), utf16(text, false));
    for (const char* f : {"utf8bom.json", "utf16le.json", "utf16be.json"}) {
        std::string out;
        ASSERT_EQ(run({"--policies", p(f), "--request", p("request.json"), "--json"}, &out, false), 0) << f << ": " << out;
        EXPECT_EQ(json::parse(out)["value"][0]["id"], "enc") << f;
    }
}

TEST_F(WhatifCli, InvalidJsonNamesFileAndPosition) {
    write(p("broken.json"), "{\n  \"id\": \"x\",\n  \"state\": ]\n}\n");
    std::string out;
    EXPECT_EQ(run({"--policies", p("broken.json"), "--request", p("request.json")}, &out), 2);
    EXPECT_NE(out.find("broken.json"), std::string::npos) << out;
    EXPECT_NE(out.find("line 3, column 12"), std::string::npos) << out;
}

TEST_F(WhatifCli, BadFieldsNameFileAndField) {
    write(p("p.json"), policy("x", "mfa").dump());
    json bad_policy = policy("y", "mfa");
    bad_policy["conditions"]["clientAppTypes"] = 5;
    write(p("bad-policy.json"), bad_policy.dump());
    std::string out;
    EXPECT_EQ(run({"--policies", p("bad-policy.json"), "--request", p("request.json")}, &out), 2);
    EXPECT_NE(out.find("bad-policy.json"), std::string::npos) << out;
    EXPECT_NE(out.find("conditions.clientAppTypes"), std::string::npos) << out;

    json req = request();
    req["signInIdentity"].erase("userId");
    write(p("bad-request.json"), req.dump());
    EXPECT_EQ(run({"--policies", p("p.json"), "--request", p("bad-request.json")}, &out), 2);
    EXPECT_NE(out.find("bad-request.json: signInIdentity.userId: missing"), std::string::npos) << out;

    write(p("bad-dir.json"), R"({"users": {"u": {"perUserMfaState": "sometimes"}}})");
    EXPECT_EQ(run({"--policies", p("p.json"), "--request", p("request.json"), "--directory", p("bad-dir.json")}, &out), 2);
    EXPECT_NE(out.find("bad-dir.json: users.u.perUserMfaState"), std::string::npos) << out;

    EXPECT_EQ(run({"--policies", p("missing.json"), "--request", p("request.json")}, &out), 2);
    EXPECT_NE(out.find("missing.json"), std::string::npos) << out;
    EXPECT_EQ(run({"--request", p("request.json")}, &out), 2);
    EXPECT_NE(out.find("--policies"), std::string::npos);
}

TEST_F(WhatifCli, HelpListsFlagsAndTopLevelHelpListsSubcommands) {
    std::string out;
    EXPECT_EQ(run({"--help"}, &out), 0);
    EXPECT_NE(out.find("--directory"), std::string::npos);
    EXPECT_EQ(run_command({ctl, "--help"}, &out), 0);
    EXPECT_NE(out.find("whatif"), std::string::npos);
    EXPECT_EQ(run_command({ctl, "no-such-command"}, &out), 2);
}

}  // namespace
