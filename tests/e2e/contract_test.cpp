// Contracts between components that only show when the real binaries talk to each other (each test
// names the two sides and the document that fixes the contract).
#include <gtest/gtest.h>

#include <sstream>

#include "tests/e2e/e2e_stack.h"

namespace connguard::e2e {
namespace {

using nlohmann::json;

// agent/checks -> coordinator rules (coordinator/README.md, "Evidence the plan builder reads"):
// a CG-CAP FAIL must carry policy.modifiedDateTime and policy.excludeUsers for the policy, else
// the coordinator cannot plan the exclusion ("no task planned").
TEST(E2EContract, CapFailCarriesTheEvidenceThePlanBuilderNeeds) {
    stack_options o;
    o.tenants = {{"fabrikam-mfa.json", "fabrikam"}};
    stack s(o);
    std::string out;
    ASSERT_EQ(test::run_command({std::string(CONNGUARD_SOURCE_DIR) + "/tools/demo/write-agent-configs", "--scenarios",
                                 (s.dir() / "scenarios").string(), "--out", (s.dir() / "once").string(), "--graph-url",
                                 s.sim().base_url(), "--key", "fabrikam-mfa.json=fabrikam"},
                                &out),
              0)
        << out;
    std::string report_text;
    const int rc = test::run_command({std::string(CONNGUARD_BIN_DIR) + "/connguard-agent", "--config",
                                      (s.dir() / "once" / "tenants.d" / "fabrikam.json").string(), "--once"},
                                     &report_text, /*merge_stderr=*/false);
    ASSERT_EQ(rc, 1) << "fabrikam must FAIL: " << report_text;
    const auto report = json::parse(report_text, nullptr, false);
    ASSERT_TRUE(report.is_object()) << report_text;
    const auto policy = s.sim_get("/_sim/tenants/fabrikam-mfa.onmicrosoft.com/policies/809741fe-fb1b-4746-9ff0-83a978a4c891");
    bool found = false;
    for (const auto& c : report["checks"]) {
        if (c.value("id", "") != "CG-CAP" || c.value("subject", "") != "809741fe-fb1b-4746-9ff0-83a978a4c891") continue;
        found = true;
        std::map<std::string, std::string> evidence;
        for (const auto& e : c.value("evidence", json::array()))
            if (e.value("id", "") == "809741fe-fb1b-4746-9ff0-83a978a4c891") evidence[e.value("kind", "")] = e.value("detail", "");
        ASSERT_TRUE(evidence.count("policy.modifiedDateTime")) << "CG-CAP FAIL lacks policy.modifiedDateTime evidence: " << c.dump();
        EXPECT_EQ(evidence["policy.modifiedDateTime"], policy.value("modifiedDateTime", "?"));
        ASSERT_TRUE(evidence.count("policy.excludeUsers")) << "CG-CAP FAIL lacks policy.excludeUsers evidence: " << c.dump();
        EXPECT_EQ(json::parse(evidence["policy.excludeUsers"], nullptr, false), json::array());
        EXPECT_TRUE(evidence.count("policy.includeUsers")) << c.dump();
    }
    EXPECT_TRUE(found) << "no CG-CAP check for CA000: " << report_text;
}

// connguardctl --json (coordinator/README.md, scripts parse it): stdout carries the JSON answer
// and nothing else; log lines belong on stderr.
TEST(E2EContract, ConnguardctlJsonOutputIsOnlyJson) {
    stack_options o;
    o.tenants = {};
    o.with_sim = false;
    stack s(o);
    s.start_coordinator();
    std::string stdout_text;
    const int rc = test::run_command({std::string(CONNGUARD_BIN_DIR) + "/connguardctl", "tenants", "--json", "--broker",
                                      s.broker().uri(), "--user", "alice", "--password-file",
                                      (s.broker().dir() / "broker" / "secrets" / "alice").string()},
                                     &stdout_text, /*merge_stderr=*/false);
    ASSERT_EQ(rc, 0) << stdout_text;
    std::stringstream in(stdout_text);
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
        ++lines;
        EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded()) << "a non-JSON line on stdout: " << line;
    }
    EXPECT_EQ(lines, 1) << stdout_text;
    // An empty list is `[]`, not a missing key (issue 13; protobuf drops empty repeated fields by default).
    const auto j = json::parse(stdout_text, nullptr, false);
    ASSERT_TRUE(j.is_object()) << stdout_text;
    ASSERT_TRUE(j.contains("tenants")) << stdout_text;
    EXPECT_EQ(j["tenants"], json::array()) << stdout_text;
}

}  // namespace
}  // namespace connguard::e2e
