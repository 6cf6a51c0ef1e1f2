// The exception registry's lifecycle (issue 15), end to end with real processes: the Graph
// simulator serving fabrikam (CA000 requires MFA of the connection account), the coordinator, a
// host-mode agent, connguardctl for every admin action, an MQTT alert subscriber.
//
// approve the exclusion -> it lands and the exception exists (owner = the approvers) -> someone
// edits CA000 by hand and drops the account -> EXCEPTION_REMOVED and a restore task under the same
// approval rules -> approved, restored, the alert resolves -> someone excludes a whole group by hand
// -> UNREGISTERED_EXCLUSION -> registered (import) with a near expiry -> EXCEPTION_EXPIRING and a
// review task -> expired -> EXCEPTION_EXPIRED and a removal task that removes nothing by itself ->
// approved, the agent removes exactly that group (the policy as planned), the alert resolves.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <optional>

#include "common/clock.h"
#include "tests/e2e/e2e_stack.h"
#include "tests/e2e/scenario_ids.h"

namespace connguard::e2e {
namespace {

using nlohmann::json;
using ids::fabrikam_domain;
using ids::fabrikam_account;
using ids::ca000;

constexpr const char* hand_group = "e2e0c0de-0000-4000-8000-0000000000aa";

std::string policy_path() { return std::string("/_sim/tenants/") + fabrikam_domain + "/policies/" + ca000; }

/// The newest task of `kind` on `target` that is not `not_id`.
std::optional<json> newer_task(stack& s, const std::string& kind, const std::string& target, const std::string& not_id) {
    for (const auto& t : s.tasks("fabrikam"))
        if (short_enum(t.value("kind", "")) == kind && (target.empty() || t.value("target", "") == target) &&
            t.value("task_id", "") != not_id)
            return t;
    return std::nullopt;
}

TEST(E2EExceptions, ApproveRegistersThenHandEditsAlertAndExpiryProposesRemoval) {
    stack_options o;
    o.tenants = {{"fabrikam-mfa.json", "fabrikam"}};
    stack s(o);
    alert_recorder alerts(s.broker());
    s.start_coordinator();
    s.start_agent();
    std::string out;

    // --- approve the exclusion: it lands, and the approvers own the exception it creates ---
    std::optional<json> fix;
    ASSERT_TRUE(eventually([&] { return (fix = s.task("fabrikam", "EXCLUDE_FROM_CA_POLICY", ca000)).has_value(); }))
        << s.logs();
    const std::string fix_id = fix->at("task_id");
    ASSERT_EQ(s.ctl("alice", {"approve", fix_id}, &out), 0) << out;
    ASSERT_EQ(s.ctl("bob", {"approve", fix_id}, &out), 0) << out;  // CA000 includes All users: high risk
    ASSERT_TRUE(eventually([&] { return s.task_state(fix_id) == "VERIFIED"; })) << s.task_state(fix_id) << s.logs();
    auto listed = s.ctl_json("vera", {"exception", "list", "--tenant", "fabrikam"});
    ASSERT_TRUE(listed.is_object() && listed.value("ok", false)) << listed.dump();
    ASSERT_EQ(listed["exceptions"].size(), 1u) << listed.dump();
    const auto& ex = listed["exceptions"][0];
    EXPECT_EQ(ex.value("owner", ""), "alice,bob");
    EXPECT_EQ(ex.value("policy_id", ""), ca000);
    EXPECT_EQ(ex.value("object_id", ""), fabrikam_account);
    EXPECT_EQ(ex.value("source", ""), "task:" + fix_id);
    EXPECT_EQ(short_enum(ex.value("kind", "")), "USER");
    const std::string removed = std::string("EXCEPTION_REMOVED:") + ca000 + ":" + fabrikam_account;
    EXPECT_FALSE(alerts.has("fabrikam", removed));

    // --- someone edits CA000 by hand and drops the account ---
    ASSERT_EQ(s.sim_call("PATCH", policy_path(), {{"conditions", {{"users", {{"excludeUsers", json::array()}}}}}}), 200);
    ASSERT_TRUE(eventually([&] { return alerts.has("fabrikam", removed); })) << "no EXCEPTION_REMOVED" << s.logs();
    std::optional<json> restore;
    ASSERT_TRUE(eventually([&] {
        return (restore = newer_task(s, "EXCLUDE_FROM_CA_POLICY", ca000, fix_id)).has_value() &&
               short_enum(restore->value("state", "")) == "PENDING_APPROVAL";
    })) << "no restore task" << s.logs();
    EXPECT_EQ(restore->value("approvals_required", 0), 2) << "same approval rules as any task";
    const std::string restore_id = restore->at("task_id");
    ASSERT_EQ(s.ctl("alice", {"approve", restore_id}, &out), 0) << out;
    EXPECT_EQ(s.task_state(restore_id), "PENDING_APPROVAL") << "one approval is not enough";
    ASSERT_EQ(s.ctl("bob", {"approve", restore_id}, &out), 0) << out;
    ASSERT_TRUE(eventually([&] { return alerts.has("fabrikam", removed, v1::ALERT_STATE_RESOLVED); }))
        << "restored, but EXCEPTION_REMOVED did not resolve" << s.logs();
    EXPECT_EQ(s.sim_get(policy_path())["conditions"]["users"]["excludeUsers"], json::array({fabrikam_account}));
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM exceptions"), 1) << "the restore re-used the registered exception";

    // --- someone excludes a whole group by hand ---
    auto policy = s.sim_get(policy_path());
    auto groups = policy["conditions"]["users"]["excludeGroups"];
    groups.push_back(hand_group);
    ASSERT_EQ(s.sim_call("PATCH", policy_path(), {{"conditions", {{"users", {{"excludeGroups", groups}}}}}}), 200);
    const std::string unregistered = std::string("UNREGISTERED_EXCLUSION:") + ca000 + ":" + hand_group;
    ASSERT_TRUE(eventually([&] { return alerts.has("fabrikam", unregistered); })) << "no UNREGISTERED_EXCLUSION" << s.logs();

    // --- registered by import, expiring soon: review, then expired: removal proposed, never done ---
    // Far enough ahead that the import is reconciled while the exception is still only expiring,
    // even on a loaded machine under ASan; near enough that the test waits for the expiry itself.
    const auto expires = format_rfc3339(system_clock::instance().now() + std::chrono::seconds{40}, 0);
    const auto file = (s.dir() / "registry.json").string();
    std::ofstream(file) << json{{"exceptions",
                                 json::array({{{"tenant", "fabrikam"},
                                               {"kind", "group"},
                                               {"policyId", ca000},
                                               {"objectId", hand_group},
                                               {"owner", "helpdesk"},
                                               {"reason", "vendor onboarding"},
                                               {"ticket", "CHG-15"},
                                               {"expiresAt", expires}}})}}
                               .dump();
    ASSERT_EQ(s.ctl("alice", {"exception", "import", file}, &out), 0) << out;
    ASSERT_TRUE(eventually([&] { return alerts.has("fabrikam", unregistered, v1::ALERT_STATE_RESOLVED); })) << s.logs();
    ASSERT_TRUE(eventually([&] { return alerts.has("fabrikam", "EXCEPTION_EXPIRING:"); })) << s.logs();
    EXPECT_TRUE(eventually([&] { return newer_task(s, "REVIEW_EXCEPTION", "", "").has_value(); })) << s.logs();
    ASSERT_TRUE(eventually([&] { return alerts.has("fabrikam", "EXCEPTION_EXPIRED:"); })) << s.logs();
    std::optional<json> removal;
    ASSERT_TRUE(eventually([&] { return (removal = newer_task(s, "REMOVE_CA_POLICY_EXCLUSION", "", "")).has_value(); }))
        << s.logs();
    EXPECT_EQ(short_enum(removal->value("state", "")), "PENDING_APPROVAL");
    EXPECT_TRUE(removal->value("automatic", false));
    EXPECT_EQ(removal->value("approvals_required", 0), 1) << "the group does not hold the connection account";
    const auto& rplan = (*removal)["plan"];
    EXPECT_EQ(rplan.value("http_method", ""), "PATCH");
    EXPECT_EQ(rplan["remove_ca_policy_exclusion"].value("object_id", ""), hand_group);
    auto in_policy = [&] {
        const auto g = s.sim_get(policy_path())["conditions"]["users"]["excludeGroups"];
        return std::find(g.begin(), g.end(), json(hand_group)) != g.end();
    };
    EXPECT_TRUE(in_policy()) << "nothing removed without approval";
    const std::string removal_id = removal->at("task_id");
    EXPECT_EQ(s.ctl("olga", {"approve", removal_id}, &out), 1) << "an operator may not approve\n" << out;
    ASSERT_EQ(s.ctl("alice", {"approve", removal_id}, &out), 0) << out;
    ASSERT_TRUE(eventually([&] { return !in_policy(); })) << "the agent did not remove the expired exclusion" << s.logs();
    EXPECT_EQ(s.sim_get(policy_path())["conditions"]["users"]["excludeUsers"], json::array({fabrikam_account}))
        << "only that entry went";
    ASSERT_TRUE(eventually([&] { return alerts.has("fabrikam", "EXCEPTION_EXPIRED:", v1::ALERT_STATE_RESOLVED); }))
        << s.logs();
    EXPECT_TRUE(eventually([&] { return s.task_state(removal_id) == "VERIFIED"; })) << s.task_state(removal_id) << s.logs();

    // Every registry change is in the intact audit chain.
    EXPECT_GE(s.sql_int("SELECT count(*) FROM audit WHERE action IN ('exception.created', 'exception.imported', "
                        "'exception.confirmed')"),
              3);
    EXPECT_EQ(s.ctl("alice", {"audit", "--verify"}, &out), 0) << out;
}

}  // namespace
}  // namespace connguard::e2e
