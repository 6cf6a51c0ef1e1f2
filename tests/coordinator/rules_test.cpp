// Rules: which report findings become which tasks, with which exact Graph change and risk.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "coordinator/alerts.h"
#include "coordinator/rules.h"
#include "tests/support/report_fixtures.h"

namespace connguard::coord {
namespace {

using namespace test;
using google::protobuf::util::TimeUtil;
constexpr std::int64_t t0 = 1'767'225'600'000;

TEST(Rules, CapFailBecomesAnExcludePlanWithTheMergedArrayAndThePrecondition) {
    auto r = report(7, t0);
    add_cap_fail(r, "pol-1", "2026-01-01T10:00:00Z", "mfa", R"(["group-x"])", R"(["11111111-1111-1111-1111-111111111111"])");
    finish_overall(r);
    const auto b = plans_from_report(r);
    ASSERT_EQ(b.plans.size(), 1u);
    ASSERT_TRUE(b.problems.empty());
    const auto& p = b.plans[0];
    EXPECT_EQ(p.kind, v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
    EXPECT_EQ(p.target, "pol-1");
    EXPECT_EQ(p.risk, v1::RISK_MEDIUM);
    EXPECT_EQ(p.approvals_required, 1u);
    EXPECT_TRUE(p.automatic);
    EXPECT_EQ(p.plan.http_method(), "PATCH");
    EXPECT_EQ(p.plan.http_path(), "/v1.0/identity/conditionalAccess/policies/pol-1");
    const auto body = nlohmann::json::parse(p.plan.http_body());
    EXPECT_EQ(body["conditions"]["users"]["excludeUsers"],
              nlohmann::json::array({"11111111-1111-1111-1111-111111111111", user_id}));
    const auto& x = p.plan.exclude_from_ca_policy();
    EXPECT_EQ(x.policy_id(), "pol-1");
    EXPECT_EQ(x.policy_name(), "Require MFA pol-1");
    EXPECT_EQ(x.user_id(), user_id);
    EXPECT_EQ(x.user_principal_name(), upn);
    EXPECT_EQ(x.expected_modified_date_time(), "2026-01-01T10:00:00Z");
    EXPECT_EQ(x.exclude_users_before_size(), 1);
    EXPECT_EQ(x.exclude_users_after_size(), 2);
}

TEST(Rules, BlockingOrAllUsersPoliciesAreHighRiskAndNeedTwoApprovers) {
    auto r = report(1, t0);
    add_cap_fail(r, "pol-block", "2026-01-01T10:00:00Z", "block", R"(["group-x"])");
    add_cap_fail(r, "pol-all", "2026-01-01T10:00:00Z", "mfa", R"(["All"])");
    const auto b = plans_from_report(r);
    ASSERT_EQ(b.plans.size(), 2u);
    for (const auto& p : b.plans) {
        EXPECT_EQ(p.risk, v1::RISK_HIGH) << p.target;
        EXPECT_EQ(p.approvals_required, 2u) << p.target;
    }
}

TEST(Rules, AnAlreadyExcludedAccountIsNotAddedTwice) {
    auto r = report(1, t0);
    add_cap_fail(r, "pol-1", "2026-01-01T10:00:00Z", "mfa", R"(["group-x"])", std::string("[\"") + user_id + "\"]");
    const auto b = plans_from_report(r);
    ASSERT_EQ(b.plans.size(), 1u);
    EXPECT_EQ(b.plans[0].plan.exclude_from_ca_policy().exclude_users_after_size(), 1);
}

TEST(Rules, NeverModifiedPolicyIsPlannedToStayUnmodified) {
    // Graph returns modifiedDateTime null for a policy never changed since it was created.
    auto r = report(1, t0);
    add_cap_fail(r, "pol-new", "");
    const auto b = plans_from_report(r);
    ASSERT_TRUE(b.problems.empty()) << b.problems[0].message;
    ASSERT_EQ(b.plans.size(), 1u);
    const auto& x = b.plans[0].plan.exclude_from_ca_policy();
    EXPECT_EQ(x.policy_id(), "pol-new");
    EXPECT_EQ(x.expected_modified_date_time(), "");
    EXPECT_EQ(x.exclude_users_after_size(), 2);
}

TEST(Rules, MissingPreconditionMeansNoTaskButAProblemThatNamesIt) {
    // The agent sends no typed plan when a fact it needs (the policy as read) was not collected.
    auto r = report(1, t0);
    add_cap_fail(r, "pol-1", "");
    r.mutable_checks(r.checks_size() - 1)->mutable_remediations(0)->clear_plan();
    const auto b = plans_from_report(r);
    EXPECT_TRUE(b.plans.empty());
    ASSERT_EQ(b.problems.size(), 1u);
    EXPECT_NE(b.problems[0].message.find("typed plan"), std::string::npos) << b.problems[0].message;
    EXPECT_NE(b.problems[0].message.find("pol-1"), std::string::npos);
}

TEST(Rules, TheGraphCallIsRenderedFromTheTypedPlanNeverTakenFromTheReport) {
    auto r = report(1, t0);
    add_cap_fail(r, "pol-1", "2026-01-01T10:00:00Z");
    auto* plan = r.mutable_checks(r.checks_size() - 1)->mutable_remediations(0)->mutable_plan();
    plan->set_http_method("DELETE");
    plan->set_http_body(R"({"state":"disabled"})");
    const auto b = plans_from_report(r);
    ASSERT_EQ(b.plans.size(), 1u);
    EXPECT_EQ(b.plans[0].plan.http_method(), "PATCH");
    EXPECT_EQ(nlohmann::json::parse(b.plans[0].plan.http_body())["conditions"]["users"]["excludeUsers"].size(), 2u);
    // A plan for another account than the report's is refused.
    plan->mutable_exclude_from_ca_policy()->set_user_id("someone-else");
    const auto b2 = plans_from_report(r);
    EXPECT_TRUE(b2.plans.empty());
    ASSERT_EQ(b2.problems.size(), 1u);
    EXPECT_NE(b2.problems[0].message.find("account"), std::string::npos);
}

TEST(Rules, PerUserMfaRoleAndGuidancePlans) {
    auto r = report(1, t0);
    auto* mfa = r.add_checks();
    mfa->set_id("CG-PERUSER-MFA");
    mfa->set_status(v1::CHECK_STATUS_FAIL);
    auto* e = mfa->add_evidence();
    e->set_kind("setting");
    e->set_id("perUserMfaState");
    e->set_detail("enforced");
    auto* s = mfa->add_remediations();
    s->set_kind(v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA);
    s->set_target_id(user_id);
    s->mutable_plan()->set_kind(v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA);
    s->mutable_plan()->mutable_disable_per_user_mfa()->set_user_id(user_id);
    s->mutable_plan()->mutable_disable_per_user_mfa()->set_user_principal_name(upn);
    s->mutable_plan()->mutable_disable_per_user_mfa()->set_expected_state("enforced");

    auto* role = r.add_checks();
    role->set_id("CG-SECDEF-ADMIN");
    role->set_status(v1::CHECK_STATUS_FAIL);
    auto* re = role->add_evidence();
    re->set_kind("role_assignment");
    re->set_id("assign-1");
    re->set_name("Global Administrator");
    re->set_detail("62e90394-69f5-4237-9190-012177145e10");
    auto* rs = role->add_remediations();
    rs->set_kind(v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE);
    rs->set_target_id("assign-1");
    auto* rp = rs->mutable_plan();
    rp->set_kind(v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE);
    rp->mutable_remove_privileged_role()->set_role_assignment_id("assign-1");
    rp->mutable_remove_privileged_role()->set_role_template_id("62e90394-69f5-4237-9190-012177145e10");
    rp->mutable_remove_privileged_role()->set_role_name("Global Administrator");
    rp->mutable_remove_privileged_role()->set_user_id(user_id);
    rp->mutable_remove_privileged_role()->set_user_principal_name(upn);

    auto* reg = r.add_checks();
    reg->set_id("CG-MFA-REG");
    reg->set_status(v1::CHECK_STATUS_FAIL);
    auto* guidance = reg->add_remediations();
    guidance->set_kind(v1::REMEDIATION_KIND_REGISTER_MFA_FOR_ACCOUNT);
    guidance->mutable_plan()->set_kind(v1::REMEDIATION_KIND_REGISTER_MFA_FOR_ACCOUNT);
    guidance->mutable_plan()->mutable_guidance()->set_instructions("register a method");

    const auto b = plans_from_report(r);
    ASSERT_EQ(b.plans.size(), 3u) << (b.problems.empty() ? "" : b.problems[0].message);
    const auto& m = b.plans[0];
    EXPECT_EQ(m.plan.http_method(), "PATCH");
    EXPECT_EQ(m.plan.http_path(), std::string("/beta/users/") + user_id + "/authentication/requirements");
    EXPECT_EQ(m.plan.http_body(), R"({"perUserMfaState":"disabled"})");
    EXPECT_EQ(m.plan.disable_per_user_mfa().expected_state(), "enforced");
    EXPECT_EQ(m.risk, v1::RISK_MEDIUM);
    const auto& ro = b.plans[1];
    EXPECT_EQ(ro.plan.http_method(), "DELETE");
    EXPECT_EQ(ro.plan.http_path(), "/v1.0/roleManagement/directory/roleAssignments/assign-1");
    EXPECT_EQ(ro.plan.remove_privileged_role().role_template_id(), "62e90394-69f5-4237-9190-012177145e10");
    EXPECT_EQ(ro.risk, v1::RISK_HIGH);
    EXPECT_EQ(ro.approvals_required, 2u);
    const auto& g = b.plans[2];
    // The form agent/checks writes: kind "role", id = template id, detail names the assignment.
    auto r2 = report(1, t0);
    auto* rc = r2.add_checks();
    rc->set_id("CG-SECDEF-ADMIN");
    rc->set_status(v1::CHECK_STATUS_FAIL);
    for (const auto& [tpl, asg] : std::vector<std::pair<std::string, std::string>>{{"tpl-a", "asg-a"}, {"tpl-b", "asg-b"}}) {
        auto* ev = rc->add_evidence();
        ev->set_kind("role");
        ev->set_id(tpl);
        ev->set_name("role " + tpl);
        ev->set_detail("assignment " + asg + " scope /");
    }
    auto* rr = rc->add_remediations();
    rr->set_kind(v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE);
    rr->set_target_id("asg-b");
    auto* rrp = rr->mutable_plan();
    rrp->set_kind(v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE);
    rrp->mutable_remove_privileged_role()->set_role_assignment_id("asg-b");
    rrp->mutable_remove_privileged_role()->set_role_template_id("tpl-b");
    rrp->mutable_remove_privileged_role()->set_role_name("role tpl-b");
    rrp->mutable_remove_privileged_role()->set_user_id(user_id);
    rrp->mutable_remove_privileged_role()->set_user_principal_name(upn);
    const auto b2 = plans_from_report(r2);
    ASSERT_EQ(b2.plans.size(), 1u);
    EXPECT_EQ(b2.plans[0].plan.remove_privileged_role().role_template_id(), "tpl-b");
    EXPECT_EQ(b2.plans[0].plan.remove_privileged_role().role_name(), "role tpl-b");
    EXPECT_FALSE(g.automatic);
    EXPECT_TRUE(g.plan.has_guidance());
    EXPECT_TRUE(g.plan.http_method().empty());
}

task as_task(const planned_remediation& p, v1::TaskState s, const std::string& id, std::int64_t created = t0) {
    task t;
    t.view.set_task_id(id);
    t.view.set_tenant("contoso");
    t.view.set_kind(p.kind);
    t.view.set_target(p.target);
    t.view.set_state(s);
    *t.view.mutable_plan() = p.plan;
    *t.view.mutable_created_at() = TimeUtil::MillisecondsToTimestamp(created);
    return t;
}

TEST(Rules, ReconcileCreatesOnceReplansOnChangeSupersedesWhenGone) {
    auto r1 = report(1, t0);
    add_cap_fail(r1, "pol-1", "2026-01-01T10:00:00Z");
    const auto b1 = plans_from_report(r1);
    auto a = reconcile_tasks(b1, {}, t0, 1);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].what, task_action::kind::create);

    const std::vector<task> open = {as_task(b1.plans[0], v1::TASK_STATE_PENDING_APPROVAL, "t1")};
    EXPECT_TRUE(reconcile_tasks(b1, open, t0, 2).empty()) << "one open task per (tenant, kind, target)";

    auto r2 = report(3, t0);
    add_cap_fail(r2, "pol-1", "2026-01-02T08:00:00Z");
    a = reconcile_tasks(plans_from_report(r2), open, t0, 3);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].what, task_action::kind::replan);
    EXPECT_EQ(a[0].remediation.plan.exclude_from_ca_policy().expected_modified_date_time(), "2026-01-02T08:00:00Z");

    a = reconcile_tasks(plans_from_report(report(4, t0)), open, t0, 4);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].what, task_action::kind::supersede);

    auto inconclusive = report(5, t0);
    auto* err = inconclusive.add_checks();
    err->set_id("CG-CAP");
    err->set_status(v1::CHECK_STATUS_ERROR);
    EXPECT_TRUE(reconcile_tasks(plans_from_report(inconclusive), open, t0, 5).empty())
        << "an ERROR report never proves the problem gone";
}

TEST(Rules, ARejectedPlanIsNotProposedAgainUntilItChanges) {
    auto r = report(1, t0);
    add_cap_fail(r, "pol-1", "2026-01-01T10:00:00Z");
    const auto b = plans_from_report(r);
    const std::vector<task> rejected = {as_task(b.plans[0], v1::TASK_STATE_REJECTED, "t1")};
    EXPECT_TRUE(reconcile_tasks(b, rejected, t0, 2).empty());
    auto r2 = report(2, t0);
    add_cap_fail(r2, "pol-1", "2026-02-01T10:00:00Z");
    const auto a = reconcile_tasks(plans_from_report(r2), rejected, t0, 2);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].what, task_action::kind::create);
}

TEST(Rules, SucceededTasksVerifyOrReopenOnlyWithALaterReport) {
    auto r = report(1, t0);
    add_cap_fail(r, "pol-1", "2026-01-01T10:00:00Z");
    const auto b = plans_from_report(r);
    auto t = as_task(b.plans[0], v1::TASK_STATE_SUCCEEDED, "t1");
    t.succeeded_at_ms = t0 + 1000;
    EXPECT_TRUE(reconcile_tasks(b, {t}, t0 + 500, 2).empty()) << "collected before the change";
    auto a = reconcile_tasks(b, {t}, t0 + 2000, 3);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].what, task_action::kind::reopen);
    a = reconcile_tasks(plans_from_report(report(4, t0 + 2000)), {t}, t0 + 2000, 4);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].what, task_action::kind::verify);
}

TEST(Rules, ChangeEventsSupersedeOrReplanWaitingTasks) {
    auto r = report(1, t0);
    add_cap_fail(r, "pol-1", "2026-01-01T10:00:00Z");
    const auto b = plans_from_report(r);
    const std::vector<task> open = {as_task(b.plans[0], v1::TASK_STATE_PENDING_APPROVAL, "t1")};
    v1::ChangeEvent del;
    del.set_kind(v1::CHANGE_KIND_CA_POLICY_DELETED);
    del.set_subject_id("pol-1");
    auto a = actions_for_event(del, open);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].what, task_action::kind::supersede);

    v1::ChangeEvent upd;
    upd.set_kind(v1::CHANGE_KIND_CA_POLICY_UPDATED);
    upd.set_subject_id("pol-1");
    upd.set_after(R"({"id":"pol-1","displayName":"Require MFA pol-1","modifiedDateTime":"2026-03-01T00:00:00Z",)"
                  R"("conditions":{"users":{"excludeUsers":["22222222-2222-2222-2222-222222222222"]}}})");
    a = actions_for_event(upd, open);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].what, task_action::kind::replan);
    const auto body = nlohmann::json::parse(a[0].remediation.plan.http_body());
    EXPECT_EQ(body["conditions"]["users"]["excludeUsers"],
              nlohmann::json::array({"22222222-2222-2222-2222-222222222222", user_id}));

    v1::ChangeEvent other;
    other.set_kind(v1::CHANGE_KIND_CA_POLICY_DELETED);
    other.set_subject_id("pol-2");
    EXPECT_TRUE(actions_for_event(other, open).empty());
}

TEST(Alerts, ReportOnlyFindingsRaiseAnAlertButNoTask) {
    auto r = report(1, t0);
    auto* c = r.add_checks();
    c->set_id("CG-CAP-REPORTONLY");
    c->set_subject("pol-ro");
    c->set_status(v1::CHECK_STATUS_WARN);
    c->set_reason("report-only policy would block");
    finish_overall(r);
    const auto b = plans_from_report(r);
    EXPECT_TRUE(b.plans.empty());
    tenant_facts f;
    f.tenant = "contoso";
    f.report = &r;
    f.plans = &b;
    const auto causes = standing_causes(f);
    bool report_only = false;
    for (const auto& a : causes) report_only |= a.cause == "policy:pol-ro:report-only";
    EXPECT_TRUE(report_only);
}

TEST(Alerts, AnExpectedTenantWhoseAgentNeverReportedIsCriticalOnceTheSilenceThresholdPassed) {
    tenant_facts f;
    f.tenant = "northwind";
    f.expected = true;
    f.expected_since_ms = t0;
    f.silence_threshold_ms = 30 * 60'000;
    auto causes_at = [&](std::int64_t now) {
        f.now_ms = now;
        std::vector<std::string> out;
        for (const auto& a : standing_causes(f)) out.push_back(a.cause);
        return out;
    };
    EXPECT_TRUE(causes_at(t0 + 29 * 60'000).empty()) << "still within the threshold since the coordinator started";
    ASSERT_EQ(causes_at(t0 + 31 * 60'000), std::vector<std::string>{"agent:never_reported"});
    EXPECT_EQ(standing_causes(f).front().severity, v1::SEVERITY_CRITICAL);
    EXPECT_NE(standing_causes(f).front().title.find("northwind: agent never reported"), std::string::npos);

    f.last_seen_ms = t0 + 40 * 60'000;  // the agent spoke (a status): never-reported is over
    EXPECT_TRUE(causes_at(t0 + 41 * 60'000).empty());
    f.last_seen_ms = 0;
    f.expected = false;  // a tenant the config does not list is nobody's business here
    EXPECT_TRUE(causes_at(t0 + 41 * 60'000).empty());
}

TEST(Alerts, FingerprintsAreStablePerTenantAndCause) {
    EXPECT_EQ(fingerprint("contoso", "status:FAIL"), fingerprint("contoso", "status:FAIL"));
    EXPECT_NE(fingerprint("contoso", "status:FAIL"), fingerprint("fabrikam", "status:FAIL"));
    EXPECT_NE(fingerprint("contoso", "status:FAIL"), fingerprint("contoso", "status:WARN"));
}

TEST(Alerts, WebhookBodiesForEachFormat) {
    v1::Alert a;
    a.set_fingerprint("fp");
    a.set_cause("status:FAIL");
    a.set_severity(v1::SEVERITY_CRITICAL);
    a.set_state(v1::ALERT_STATE_RAISED);
    a.set_title("tenant contoso: connection account status FAIL");
    a.set_detail("CG-CAP FAIL");
    const auto g = nlohmann::json::parse(webhook_body(webhook_format::generic, "contoso", a));
    EXPECT_EQ(g["tenant"], "contoso");
    EXPECT_EQ(g["severity"], "critical");
    EXPECT_EQ(g["state"], "raised");
    const auto s = nlohmann::json::parse(webhook_body(webhook_format::slack, "contoso", a));
    EXPECT_NE(s["text"].get<std::string>().find("connection account status FAIL"), std::string::npos);
    const auto t = nlohmann::json::parse(webhook_body(webhook_format::teams, "contoso", a));
    EXPECT_EQ(t["@type"], "MessageCard");
    EXPECT_FALSE(t["sections"][0]["facts"].empty());
}

}  // namespace
}  // namespace connguard::coord
