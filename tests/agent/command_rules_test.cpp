// Unit tests of the command rules: what is refused, what is stale, what verifies.
#include <gtest/gtest.h>

#include <google/protobuf/util/time_util.h>

#include "agent/core/command_rules.h"

namespace {

using namespace connguard;
using agent::command_verdict;
using nlohmann::json;

const auto now = from_unix_ms(1767225600000);  // 2026-01-01T00:00:00Z

v1::AgentCommand exclude_command() {
    v1::AgentCommand c;
    c.set_command_id("cmd-1");
    c.set_task_id("task-1");
    c.set_plan_version(2);
    c.add_approved_by("alice");
    *c.mutable_not_after() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(to_unix_ms(now) + 3600000);
    auto* plan = c.mutable_plan();
    plan->set_kind(v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
    auto* p = plan->mutable_exclude_from_ca_policy();
    p->set_policy_id("pol-1");
    p->set_policy_name("Require MFA");
    p->set_user_id("user-1");
    p->set_user_principal_name("svc@contoso.com");
    p->set_expected_modified_date_time("2026-01-01T10:00:00Z");
    p->add_exclude_users_before("break-glass");
    p->add_exclude_users_after("break-glass");
    p->add_exclude_users_after("user-1");
    plan->set_http_method("PATCH");
    plan->set_http_body(R"({"conditions":{"users":{"excludeUsers":["break-glass","user-1"]}}})");
    return c;
}

agent::observed_policy live_policy(const std::string& modified = "2026-01-01T10:00:00Z") {
    return {true, json{{"id", "pol-1"},
                       {"modifiedDateTime", modified},
                       {"conditions", {{"users", {{"excludeUsers", {"break-glass"}}}}}}}};
}

agent::observed_user live_user() { return {true, "user-1", "SVC@contoso.com"}; }

TEST(CommandRules, AValidExcludeCommandProceeds) {
    auto d = agent::validate_command(exclude_command(), "contoso", "contoso", now);
    EXPECT_TRUE(d.ok()) << d.detail;
    const auto cmd = exclude_command();
    const auto& plan = cmd.plan().exclude_from_ca_policy();
    EXPECT_TRUE(agent::check_exclude_preconditions(plan, live_policy(), live_user()).ok());
    EXPECT_EQ(agent::exclude_patch_body(plan), json::parse(exclude_command().plan().http_body()));
}

TEST(CommandRules, RefusesWrongTenantExpiredUnapprovedAndMalformed) {
    EXPECT_EQ(agent::validate_command(exclude_command(), "contoso", "fabrikam", now).verdict, command_verdict::refused);
    EXPECT_EQ(agent::validate_command(exclude_command(), "contoso", "contoso", now + std::chrono::hours(2)).verdict,
              command_verdict::refused);

    auto c = exclude_command();
    c.clear_approved_by();
    EXPECT_EQ(agent::validate_command(c, "contoso", "contoso", now).verdict, command_verdict::refused);

    c = exclude_command();
    c.clear_not_after();
    EXPECT_EQ(agent::validate_command(c, "contoso", "contoso", now).verdict, command_verdict::refused);

    c = exclude_command();
    c.mutable_plan()->mutable_exclude_from_ca_policy()->add_exclude_users_after("someone-else");
    auto d = agent::validate_command(c, "contoso", "contoso", now);
    EXPECT_EQ(d.verdict, command_verdict::refused);
    EXPECT_NE(d.detail.find("exclude_users_after"), std::string::npos);

    c = exclude_command();
    c.mutable_plan()->mutable_exclude_from_ca_policy()->set_policy_id("../../users");
    EXPECT_EQ(agent::validate_command(c, "contoso", "contoso", now).verdict, command_verdict::refused);

    c = exclude_command();
    c.mutable_plan()->set_kind(v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA);
    EXPECT_EQ(agent::validate_command(c, "contoso", "contoso", now).verdict, command_verdict::refused);

    c = exclude_command();
    c.mutable_plan()->set_kind(v1::REMEDIATION_KIND_REGISTER_MFA_FOR_ACCOUNT);
    c.mutable_plan()->mutable_guidance()->set_instructions("do it");
    EXPECT_EQ(agent::validate_command(c, "contoso", "contoso", now).verdict, command_verdict::refused);

    c = exclude_command();
    c.mutable_plan()->set_http_body(R"({"conditions":{"users":{"excludeUsers":["break-glass"]}}})");
    EXPECT_EQ(agent::validate_command(c, "contoso", "contoso", now).verdict, command_verdict::refused);
}

TEST(CommandRules, PolicyModifiedAfterPlanningIsStale) {
    const auto cmd = exclude_command();
    const auto& plan = cmd.plan().exclude_from_ca_policy();
    auto d = agent::check_exclude_preconditions(plan, live_policy("2026-01-02T08:00:00Z"), live_user());
    EXPECT_EQ(d.verdict, command_verdict::stale);
    EXPECT_NE(d.detail.find("pol-1"), std::string::npos);
    EXPECT_NE(d.detail.find("2026-01-02T08:00:00Z"), std::string::npos);
    // The same instant written differently is not a change.
    EXPECT_TRUE(agent::check_exclude_preconditions(plan, live_policy("2026-01-01T10:00:00.000Z"), live_user()).ok());
    EXPECT_EQ(agent::check_exclude_preconditions(plan, {false, {}}, live_user()).verdict, command_verdict::stale);
}

TEST(CommandRules, NeverModifiedPolicyMustStillBeUnmodified) {
    auto cmd = exclude_command();
    auto* plan = cmd.mutable_plan()->mutable_exclude_from_ca_policy();
    plan->set_expected_modified_date_time("");  // planned while Graph said modifiedDateTime null
    auto never_modified = live_policy();
    never_modified.policy["modifiedDateTime"] = nullptr;
    EXPECT_TRUE(agent::check_exclude_preconditions(*plan, never_modified, live_user()).ok());
    auto d = agent::check_exclude_preconditions(*plan, live_policy("2026-01-02T08:00:00Z"), live_user());
    EXPECT_EQ(d.verdict, command_verdict::stale);
    EXPECT_NE(d.detail.find("2026-01-02T08:00:00Z"), std::string::npos) << d.detail;
}

TEST(CommandRules, UserRenamedOrGoneIsStale) {
    const auto cmd = exclude_command();
    const auto& plan = cmd.plan().exclude_from_ca_policy();
    EXPECT_EQ(agent::check_exclude_preconditions(plan, live_policy(), {true, "user-1", "other@contoso.com"}).verdict,
              command_verdict::stale);
    EXPECT_EQ(agent::check_exclude_preconditions(plan, live_policy(), {false, "", ""}).verdict, command_verdict::stale);
}

TEST(CommandRules, PerUserMfaAndRoleRemoval) {
    v1::DisablePerUserMfaPlan mfa;
    mfa.set_user_id("user-1");
    mfa.set_user_principal_name("svc@contoso.com");
    mfa.set_expected_state("enforced");
    EXPECT_TRUE(agent::check_per_user_mfa_preconditions(mfa, live_user(), "enforced").ok());
    EXPECT_EQ(agent::check_per_user_mfa_preconditions(mfa, live_user(), "disabled").verdict, command_verdict::stale);
    EXPECT_TRUE(agent::verify_per_user_mfa("disabled").ok());
    EXPECT_EQ(agent::verify_per_user_mfa("enforced").verdict, command_verdict::failed);

    v1::RemovePrivilegedRolePlan role;
    role.set_role_assignment_id("ra-1");
    role.set_role_template_id("62e90394-69f5-4237-9190-012177145e10");
    role.set_user_id("user-1");
    role.set_user_principal_name("svc@contoso.com");
    agent::observed_role_assignment ra{true, "ra-1", "62e90394-69f5-4237-9190-012177145e10", "user-1"};
    EXPECT_TRUE(agent::check_remove_role_preconditions(role, ra, live_user()).ok());
    auto other_role = ra;
    other_role.role_definition_id = "f2ef992c-3afb-46b9-b7cf-a126ee74c451";
    EXPECT_EQ(agent::check_remove_role_preconditions(role, other_role, live_user()).verdict, command_verdict::stale);
    auto other_principal = ra;
    other_principal.principal_id = "user-2";
    EXPECT_EQ(agent::check_remove_role_preconditions(role, other_principal, live_user()).verdict, command_verdict::stale);
    EXPECT_EQ(agent::check_remove_role_preconditions(role, {}, live_user()).verdict, command_verdict::stale);
    EXPECT_TRUE(agent::verify_role_removed({}).ok());
    EXPECT_EQ(agent::verify_role_removed(ra).verdict, command_verdict::failed);
}

TEST(CommandRules, VerifyExcludeNeedsThePlannedArray) {
    const auto cmd = exclude_command();
    const auto& plan = cmd.plan().exclude_from_ca_policy();
    auto after = live_policy();
    after.policy["conditions"]["users"]["excludeUsers"] = {"user-1", "break-glass"};
    EXPECT_TRUE(agent::verify_exclude(plan, after).ok());
    EXPECT_EQ(agent::verify_exclude(plan, live_policy()).verdict, command_verdict::failed);
}


// An expired exception's exclusion removed (REMOVE_CA_POLICY_EXCLUSION): the typed plan proceeds only
// when its after-array is its before-array minus the object and its body is the rendering; the policy
// must still be as planned (modified time and the list) or the command is STALE; the read-back must
// show the planned list.
v1::AgentCommand removal_command() {
    auto c = exclude_command();
    auto* plan = c.mutable_plan();
    plan->Clear();
    plan->set_kind(v1::REMEDIATION_KIND_REMOVE_CA_POLICY_EXCLUSION);
    auto* p = plan->mutable_remove_ca_policy_exclusion();
    p->set_policy_id("pol-1");
    p->set_policy_name("Require MFA");
    p->set_exclusion_list("excludeGroups");
    p->set_object_id("grp-vendor");
    p->set_expected_modified_date_time("2026-01-01T10:00:00Z");
    p->add_exclude_before("grp-breakglass");
    p->add_exclude_before("grp-vendor");
    p->add_exclude_after("grp-breakglass");
    p->set_exception_id("ex-1");
    plan->set_http_method("PATCH");
    plan->set_http_body(R"({"conditions":{"users":{"excludeGroups":["grp-breakglass"]}}})");
    return c;
}

agent::observed_policy policy_with_groups(const std::vector<std::string>& groups,
                                          const std::string& modified = "2026-01-01T10:00:00Z") {
    return {true, json{{"id", "pol-1"}, {"modifiedDateTime", modified}, {"conditions", {{"users", {{"excludeGroups", groups}}}}}}};
}

TEST(CommandRules, RemovingAnExpiredExclusionChecksThePlanThePolicyAndTheReadBack) {
    auto d = agent::validate_command(removal_command(), "contoso", "contoso", now);
    EXPECT_TRUE(d.ok()) << d.detail;
    const auto cmd = removal_command();
    const auto& plan = cmd.plan().remove_ca_policy_exclusion();

    auto keeps_it = removal_command();
    keeps_it.mutable_plan()->mutable_remove_ca_policy_exclusion()->add_exclude_after("grp-vendor");
    EXPECT_EQ(agent::validate_command(keeps_it, "contoso", "contoso", now).verdict, command_verdict::refused);
    auto drops_more = removal_command();
    drops_more.mutable_plan()->mutable_remove_ca_policy_exclusion()->clear_exclude_after();
    EXPECT_EQ(agent::validate_command(drops_more, "contoso", "contoso", now).verdict, command_verdict::refused);
    auto other_body = removal_command();
    other_body.mutable_plan()->set_http_body(R"({"conditions":{"users":{"excludeGroups":[]}}})");
    EXPECT_EQ(agent::validate_command(other_body, "contoso", "contoso", now).verdict, command_verdict::refused);
    auto other_list = removal_command();
    other_list.mutable_plan()->mutable_remove_ca_policy_exclusion()->set_exclusion_list("includeGroups");
    EXPECT_EQ(agent::validate_command(other_list, "contoso", "contoso", now).verdict, command_verdict::refused);
    auto guidance = removal_command();
    guidance.mutable_plan()->mutable_guidance()->set_instructions("remove it by hand");
    EXPECT_EQ(agent::validate_command(guidance, "contoso", "contoso", now).verdict, command_verdict::refused)
        << "without the typed plan it is guidance only";

    EXPECT_TRUE(agent::check_remove_exclusion_preconditions(plan, policy_with_groups({"GRP-VENDOR", "grp-breakglass"})).ok());
    EXPECT_EQ(agent::check_remove_exclusion_preconditions(plan, policy_with_groups({"grp-vendor", "grp-breakglass"},
                                                                                   "2026-03-01T00:00:00Z"))
                  .verdict,
              command_verdict::stale);
    const auto changed = agent::check_remove_exclusion_preconditions(plan, policy_with_groups({"grp-vendor"}));
    EXPECT_EQ(changed.verdict, command_verdict::stale);
    EXPECT_NE(changed.detail.find("excludeGroups"), std::string::npos) << changed.detail;
    EXPECT_EQ(agent::check_remove_exclusion_preconditions(plan, {false, json()}).verdict, command_verdict::stale);

    EXPECT_TRUE(agent::verify_exclusion_removed(plan, policy_with_groups({"grp-breakglass"})).ok());
    EXPECT_EQ(agent::verify_exclusion_removed(plan, policy_with_groups({"grp-breakglass", "grp-vendor"})).verdict,
              command_verdict::failed);
}

}  // namespace
