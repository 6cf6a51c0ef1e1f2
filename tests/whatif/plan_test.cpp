// Typed remediation plans: the checks attach them to every suggested remediation, and one
// rendering turns them into the Graph call (common/remediation_plan.h). Pure.
#include <gtest/gtest.h>

#include "tests/support/check_fixtures.h"
#include "common/remediation_plan.h"

namespace connguard {
namespace {

using nlohmann::json;
using snapshot::collected;

using test::account_id;

/// Security Defaults on, a CA policy requiring MFA, a Global Administrator assignment and per-user
/// MFA enforced: every kind of fix the checks propose.
snapshot::tenant_snapshot tenant() {
    auto s = test::healthy_tenant();
    s.security_defaults_enabled = collected<bool>::of(true);
    s.ca_policies = collected<std::vector<json>>::of({json{
        {"id", "p1"},
        {"displayName", "Require MFA"},
        {"state", "enabled"},
        {"modifiedDateTime", nullptr},
        {"conditions",
         {{"users", {{"includeUsers", {"All"}}, {"excludeUsers", {"break-glass"}}}},
          {"applications", {{"includeApplications", {"All"}}}},
          {"clientAppTypes", {"all"}}}},
        {"grantControls", {{"operator", "OR"}, {"builtInControls", {"mfa"}}}}}});
    s.roles = collected<std::vector<snapshot::role_assignment>>::of(
        {{"assignment-ga", "62e90394-69f5-4237-9190-012177145e10", "/"}});
    s.per_user_mfa_state = collected<std::string>::of("enforced");
    return s;
}

const v1::SuggestedRemediation* find(const v1::ValidationReport& r, v1::RemediationKind k) {
    for (const auto& c : r.checks())
        for (const auto& s : c.remediations())
            if (s.kind() == k) return &s;
    return nullptr;
}

TEST(TypedPlans, EveryRemediationOfTheChecksCarriesItsTypedPlan) {
    const auto r = checks::run_checks(tenant());
    const auto* ex = find(r, v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
    ASSERT_NE(ex, nullptr);
    ASSERT_TRUE(ex->plan().has_exclude_from_ca_policy());
    const auto& x = ex->plan().exclude_from_ca_policy();
    EXPECT_EQ(x.policy_id(), "p1");
    EXPECT_EQ(x.policy_name(), "Require MFA");
    EXPECT_EQ(x.user_id(), account_id);
    EXPECT_EQ(x.user_principal_name(), "svc@contoso.example");
    EXPECT_EQ(x.expected_modified_date_time(), "") << "Graph's null: never modified since created";
    EXPECT_EQ(std::vector<std::string>(x.exclude_users_before().begin(), x.exclude_users_before().end()),
              std::vector<std::string>{"break-glass"});
    EXPECT_EQ(std::vector<std::string>(x.exclude_users_after().begin(), x.exclude_users_after().end()),
              (std::vector<std::string>{"break-glass", account_id}));
    EXPECT_EQ(x.grant_controls(0), "mfa");
    EXPECT_EQ(x.include_users(0), "All");
    EXPECT_EQ(ex->plan().http_method(), "PATCH");
    EXPECT_EQ(ex->plan().http_body(), plans::exclude_body(x));

    const auto* mfa = find(r, v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA);
    ASSERT_NE(mfa, nullptr);
    EXPECT_EQ(mfa->plan().disable_per_user_mfa().expected_state(), "enforced");
    EXPECT_EQ(mfa->plan().http_body(), R"({"perUserMfaState":"disabled"})");

    const auto* role = find(r, v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE);
    ASSERT_NE(role, nullptr);
    EXPECT_EQ(role->plan().remove_privileged_role().role_assignment_id(), "assignment-ga");
    EXPECT_EQ(role->plan().remove_privileged_role().role_template_id(), "62e90394-69f5-4237-9190-012177145e10");
    EXPECT_EQ(role->plan().remove_privileged_role().role_name(), "Global Administrator");
    EXPECT_EQ(role->plan().http_method(), "DELETE");
    EXPECT_TRUE(role->plan().http_body().empty());

    const auto* guidance = find(r, v1::REMEDIATION_KIND_MOVE_TO_APP_ONLY_AUTH);
    ASSERT_NE(guidance, nullptr);
    EXPECT_TRUE(guidance->plan().has_guidance());
    EXPECT_EQ(guidance->plan().guidance().instructions(), guidance->summary());
    EXPECT_TRUE(guidance->plan().http_method().empty());
}

TEST(TypedPlans, NoPlanWithoutTheFactsItNeeds) {
    // The sign-in answer names a policy the snapshot does not hold (created after the list was read):
    // the exclusion is suggested, but without the policy as read there is no exact plan.
    auto s = tenant();
    snapshot::signin_result si;
    si.outcome = snapshot::signin_outcome::blocked_by_ca;
    si.resource_app_id = whatif::app_exchange_online;
    si.aadsts_code = 53003;
    si.policy_ids = {"not-in-the-snapshot"};
    s.signins = {si};
    const auto r = checks::run_checks(s);
    bool seen = false;
    for (const auto& c : r.checks())
        for (const auto& x : c.remediations())
            if (x.kind() == v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY && x.target_id() == "not-in-the-snapshot") {
                seen = true;
                EXPECT_FALSE(x.has_plan());
            }
    EXPECT_TRUE(seen);
}

TEST(TypedPlans, RenderingIsTheOneSourceOfTheGraphCall) {
    v1::RemediationPlan plan;
    plan.set_kind(v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
    auto* x = plan.mutable_exclude_from_ca_policy();
    x->set_policy_id("p1");
    x->set_policy_name("Require MFA");
    x->set_user_id("u1");
    x->add_exclude_users_after("g1");
    x->add_exclude_users_after("u1");
    plan.set_http_method("GET");  // whatever was there is replaced
    ASSERT_TRUE(plans::render(plan));
    EXPECT_EQ(plan.http_method(), "PATCH");
    EXPECT_EQ(plan.http_path(), "/v1.0/identity/conditionalAccess/policies/p1");
    EXPECT_EQ(plan.http_body(), R"({"conditions":{"users":{"excludeUsers":["g1","u1"]}}})");
    EXPECT_EQ(plan.summary(), "exclude u1 from CA policy 'Require MFA'");

    v1::RemediationPlan wrong;
    wrong.set_kind(v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE);
    wrong.mutable_disable_per_user_mfa()->set_user_id("u1");
    EXPECT_FALSE(plans::render(wrong)) << "kind and typed plan disagree";
}

}  // namespace
}  // namespace connguard
