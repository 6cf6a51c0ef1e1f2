// The exception registry's decisions (pure): registered exceptions + a report's exclusion facts + now
// -> alerts and proposed tasks; the export/import format; exceptions created by succeeded tasks.
#include <gtest/gtest.h>

#include <algorithm>

#include "coordinator/exceptions.h"
#include "tests/support/report_fixtures.h"

namespace connguard::exceptions {
namespace {

using namespace test;
constexpr std::int64_t t0 = 1'767'225'600'000;  // 2026-01-01
constexpr std::int64_t day = 24LL * 3600 * 1000;
const std::string policy = "aaaaaaaa-0000-0000-0000-000000000001";
const std::string other_user = "bbbbbbbb-0000-0000-0000-000000000002";
const std::string group = "cccccccc-0000-0000-0000-000000000003";

record account_exception(std::int64_t expires = t0 + 180 * day) {
    record r;
    r.id = "ex-1";
    r.tenant = "contoso";
    r.what = kind::user;
    r.policy_id = policy;
    r.object_id = user_id;
    r.object_name = upn;
    r.owner = "alice";
    r.reason = "the backup tool cannot do MFA";
    r.ticket = "CHG-42";
    r.source = "task:t-1";
    r.created_ms = t0;
    r.expires_ms = expires;
    return r;
}

/// Watching since before any exclusion of these tests: each unregistered one is its own warning.
const onboarding watching{true, t0 - day, {}};

bool has_cause(const decisions& d, const std::string& cause) {
    return std::any_of(d.alerts.begin(), d.alerts.end(), [&](const auto& a) { return a.cause == cause; });
}
const coord::alert_cause* cause_starting(const decisions& d, const std::string& prefix) {
    for (const auto& a : d.alerts)
        if (a.cause.rfind(prefix, 0) == 0) return &a;
    return nullptr;
}

TEST(Exceptions, RegisteredExclusionPresentRaisesNothing) {
    auto r = report(1, t0);
    add_policy_exclusions(r, policy, "Require MFA", "2026-01-01T10:00:00Z", {{v1::EXCLUSION_KIND_USER, user_id}});
    const auto d = reconcile("contoso", {account_exception()}, &r, t0 + day, {}, watching);
    EXPECT_TRUE(d.alerts.empty());
    EXPECT_TRUE(d.tasks.empty());
}

TEST(Exceptions, RemovedExclusionRaisesExceptionRemovedAndARestorePlanWithThePolicysPrecondition) {
    auto r = report(2, t0);
    add_policy_exclusions(r, policy, "Require MFA", "2026-02-01T09:00:00Z", {{v1::EXCLUSION_KIND_USER, other_user}});
    const auto d = reconcile("contoso", {account_exception()}, &r, t0 + day, {}, watching);
    const auto* removed = cause_starting(d, "EXCEPTION_REMOVED:");
    ASSERT_NE(removed, nullptr);
    EXPECT_EQ(removed->cause, "EXCEPTION_REMOVED:" + policy + ":" + user_id);
    EXPECT_NE(removed->title.find("Require MFA"), std::string::npos) << removed->title;
    EXPECT_NE(removed->title.find(upn), std::string::npos) << removed->title;
    // other_user's exclusion is not registered either.
    EXPECT_TRUE(has_cause(d, "UNREGISTERED_EXCLUSION:" + policy + ":" + other_user));
    EXPECT_EQ(d.alerts.size(), 2u);
    ASSERT_EQ(d.tasks.size(), 1u);
    const auto& t = d.tasks[0];
    EXPECT_EQ(t.kind, v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
    EXPECT_EQ(t.target, policy);
    EXPECT_TRUE(t.automatic);
    const auto& p = t.plan.exclude_from_ca_policy();
    EXPECT_EQ(p.expected_modified_date_time(), "2026-02-01T09:00:00Z");
    EXPECT_EQ(p.user_principal_name(), upn);
    ASSERT_EQ(p.exclude_users_before_size(), 1);
    EXPECT_EQ(p.exclude_users_before(0), other_user);
    ASSERT_EQ(p.exclude_users_after_size(), 2);
    EXPECT_EQ(t.plan.http_method(), "PATCH");
}

TEST(Exceptions, IncompleteOrMissingFactsNeverConcludeAnExclusionDisappeared) {
    auto r = report(3, t0);
    // The policy is not listed (cut to keep the report bounded) and the facts say so.
    add_policy_exclusions(r, "another-policy", "Other", "", {});
    r.mutable_evaluation_context()->mutable_exclusions()->set_complete(false);
    r.mutable_evaluation_context()->mutable_exclusions()->set_omitted(1);
    EXPECT_TRUE(reconcile("contoso", {account_exception()}, &r, t0 + day, {}, watching).alerts.empty());
    // A report of an agent that sends no exclusion facts at all, and no report.
    auto old = report(3, t0);
    EXPECT_TRUE(reconcile("contoso", {account_exception()}, &old, t0 + day, {}, watching).alerts.empty());
    EXPECT_TRUE(reconcile("contoso", {account_exception()}, nullptr, t0 + day, {}, watching).alerts.empty());
    // Complete facts without the policy: the policy is gone (info, no task).
    r.mutable_evaluation_context()->mutable_exclusions()->set_complete(true);
    const auto d = reconcile("contoso", {account_exception()}, &r, t0 + day, {}, watching);
    EXPECT_TRUE(has_cause(d, "EXCEPTION_POLICY_GONE:" + policy + ":" + user_id));
    EXPECT_FALSE(cause_starting(d, "EXCEPTION_REMOVED"));
    EXPECT_TRUE(d.tasks.empty());
}

TEST(Exceptions, AReportCollectedBeforeTheExceptionExistedDoesNotSayItsExclusionWasRemoved) {
    auto r = report(2, t0);  // collected at t0, before the exclusion task succeeded
    add_policy_exclusions(r, policy, "Require MFA", "", {});
    auto ex = account_exception();
    ex.created_ms = t0 + 1000;
    EXPECT_TRUE(reconcile("contoso", {ex}, &r, t0 + 2000, {}, watching).alerts.empty());
    ex.created_ms = t0 - 1000;
    EXPECT_TRUE(has_cause(reconcile("contoso", {ex}, &r, t0 + 2000, {}, watching), "EXCEPTION_REMOVED:" + policy + ":" + user_id));
}

TEST(Exceptions, HandMadeExclusionOfAGroupIsUnregisteredUntilAnExceptionCoversIt) {
    auto r = report(4, t0);
    add_policy_exclusions(r, policy, "Require MFA", "", {{v1::EXCLUSION_KIND_USER, user_id}, {v1::EXCLUSION_KIND_GROUP, group}});
    auto d = reconcile("contoso", {account_exception()}, &r, t0 + day, {}, watching);
    ASSERT_EQ(d.alerts.size(), 1u);
    EXPECT_EQ(d.alerts[0].cause, "UNREGISTERED_EXCLUSION:" + policy + ":" + group);
    EXPECT_NE(d.alerts[0].title.find("group"), std::string::npos);
    EXPECT_NE(d.alerts[0].detail.find("a whole group"), std::string::npos);
    auto g = account_exception();
    g.id = "ex-2";
    g.what = kind::group;
    g.object_id = group;
    d = reconcile("contoso", {account_exception(), g}, &r, t0 + day, {}, watching);
    EXPECT_TRUE(d.alerts.empty());
    // The same group excluded in a disabled policy excludes nobody today: no alert.
    auto r2 = report(5, t0);
    add_policy_exclusions(r2, policy, "Old", "", {{v1::EXCLUSION_KIND_GROUP, group}}, v1::CA_POLICY_STATE_DISABLED);
    EXPECT_TRUE(reconcile("contoso", {}, &r2, t0, {}, watching).alerts.empty());
}

TEST(Exceptions, ExpiryWarnsWithinTheWindowThenProposesRemovalNeverRemoving) {
    auto r = report(6, t0);
    add_policy_exclusions(r, policy, "Require MFA", "", {{v1::EXCLUSION_KIND_USER, user_id}});
    const auto ex = account_exception(t0 + 30 * day);
    settings s;  // 14 days
    EXPECT_TRUE(reconcile("contoso", {ex}, &r, t0 + 15 * day, s, watching).alerts.empty());
    auto d = reconcile("contoso", {ex}, &r, t0 + 17 * day, s, watching);
    ASSERT_TRUE(has_cause(d, "EXCEPTION_EXPIRING:ex-1"));
    ASSERT_EQ(d.tasks.size(), 1u);
    EXPECT_EQ(d.tasks[0].kind, v1::REMEDIATION_KIND_REVIEW_EXCEPTION);
    EXPECT_FALSE(d.tasks[0].automatic);
    s.warning_ms = 10 * day;  // configurable window
    EXPECT_TRUE(reconcile("contoso", {ex}, &r, t0 + 17 * day, s, watching).alerts.empty());
    d = reconcile("contoso", {ex}, &r, t0 + 30 * day, s, watching);
    ASSERT_TRUE(has_cause(d, "EXCEPTION_EXPIRED:ex-1"));
    EXPECT_FALSE(has_cause(d, "EXCEPTION_EXPIRING:ex-1"));
    ASSERT_EQ(d.tasks.size(), 1u);
    const auto& removal = d.tasks[0];
    EXPECT_EQ(removal.kind, v1::REMEDIATION_KIND_REMOVE_CA_POLICY_EXCLUSION);
    EXPECT_EQ(removal.target, "ex-1");
    // A proposal with the exact PATCH and its precondition; high risk: it is the account's own exclusion.
    EXPECT_TRUE(removal.automatic);
    EXPECT_EQ(removal.risk, v1::RISK_HIGH);
    EXPECT_EQ(removal.approvals_required, 2u);
    ASSERT_TRUE(removal.plan.has_remove_ca_policy_exclusion());
    const auto& x = removal.plan.remove_ca_policy_exclusion();
    EXPECT_EQ(x.exclusion_list(), "excludeUsers");
    EXPECT_EQ(x.object_id(), user_id);
    ASSERT_EQ(x.exclude_before_size(), 1);
    EXPECT_EQ(x.exclude_after_size(), 0);
    EXPECT_EQ(removal.plan.http_method(), "PATCH");
    EXPECT_EQ(removal.plan.http_body(), R"({"conditions":{"users":{"excludeUsers":[]}}})");
    // Without the policy's facts (an old agent), the removal is guidance for a person.
    auto bare = report(6, t0);
    const auto without = reconcile("contoso", {ex}, &bare, t0 + 30 * day, s, watching);
    ASSERT_EQ(without.tasks.size(), 1u);
    EXPECT_FALSE(without.tasks[0].automatic);
    EXPECT_TRUE(without.tasks[0].plan.has_guidance());
    // Once the exclusion is gone, an expired exception says nothing (no restore either).
    auto gone = report(7, t0);
    add_policy_exclusions(gone, policy, "Require MFA", "", {});
    d = reconcile("contoso", {ex}, &gone, t0 + 31 * day, s, watching);
    EXPECT_TRUE(d.alerts.empty());
    EXPECT_TRUE(d.tasks.empty());
}

TEST(Exceptions, MergeKeepsTheReportsOwnPlanAndDoesNotReaskADoneReview) {
    auto r = report(8, t0);
    add_cap_fail(r, policy, "2026-01-01T10:00:00Z");
    add_policy_exclusions(r, policy, "Require MFA", "2026-01-01T10:00:00Z", {});
    auto build = coord::plans_from_report(r);
    ASSERT_EQ(build.plans.size(), 1u);
    auto d = reconcile("contoso", {account_exception(t0 + 5 * day)}, &r, t0 + day, {}, watching);
    // REMOVED: a restore with the same (kind, target) as the report's CG-CAP plan; plus a review.
    merge_into(build, d, {});
    ASSERT_EQ(build.plans.size(), 2u);
    EXPECT_EQ(build.plans[1].kind, v1::REMEDIATION_KIND_REVIEW_EXCEPTION);
    coord::task done;
    done.view.set_kind(v1::REMEDIATION_KIND_REVIEW_EXCEPTION);
    done.view.set_target(build.plans[1].target);
    done.view.set_state(v1::TASK_STATE_VERIFIED);
    auto build2 = coord::plans_from_report(r);
    merge_into(build2, d, {done});
    EXPECT_EQ(build2.plans.size(), 1u);
}

TEST(Exceptions, ARoleKeptExceptionDropsTheReportsRoleRemovalUntilItExpires) {
    coord::plan_build build;
    coord::planned_remediation role;
    role.kind = v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE;
    role.target = "assignment-1";
    role.plan.mutable_remove_privileged_role()->set_role_template_id("62E90394-69F5-4237-9190-012177145E10");
    build.plans.push_back(role);
    record kept = account_exception(t0 + 30 * day);
    kept.what = kind::role_kept;
    kept.policy_id.clear();
    kept.object_id = "62e90394-69f5-4237-9190-012177145e10";
    auto b = build;
    merge_into(b, reconcile("contoso", {kept}, nullptr, t0, {}, watching), {});
    EXPECT_TRUE(b.plans.empty()) << "the account keeps the role: no removal task";
    b = build;
    merge_into(b, reconcile("contoso", {kept}, nullptr, t0 + 31 * day, {}, watching), {});
    ASSERT_EQ(b.plans.size(), 2u) << "expired: the role removal is planned again, beside the exception's own removal task";
    EXPECT_EQ(b.plans[0].kind, v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE);
}

TEST(Exceptions, ASucceededExclusionTaskCreatesAnExceptionOwnedByItsApprover) {
    coord::task t;
    t.view.set_task_id("t-9");
    t.view.set_tenant("contoso");
    t.view.set_kind(v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
    t.view.set_reason("CG-CAP (pol): requires MFA");
    t.view.set_plan_version(2);
    *t.view.mutable_plan() = coord::exclude_plan(policy, "Require MFA", user_id, upn, "", {});
    auto* old = t.view.add_approvals();
    old->set_admin("mallory");
    old->set_plan_version(1);
    auto* a = t.view.add_approvals();
    a->set_admin("alice");
    a->set_plan_version(2);
    const auto r = from_succeeded_task(t, t0, 180 * day);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->owner, "alice");
    EXPECT_EQ(r->what, kind::user);
    EXPECT_EQ(r->policy_id, policy);
    EXPECT_EQ(r->object_id, user_id);
    EXPECT_EQ(r->source, "task:t-9");
    EXPECT_EQ(r->expires_ms, t0 + 180 * day);
    EXPECT_EQ(r->reason, "CG-CAP (pol): requires MFA");
    t.view.set_kind(v1::REMEDIATION_KIND_REGISTER_MFA_FOR_ACCOUNT);
    EXPECT_FALSE(from_succeeded_task(t, t0, day).has_value());
}

TEST(Exceptions, ExportImportRoundTripsAndABadEntryRefusesTheWholeFileNamingIt) {
    auto a = account_exception();
    auto b = account_exception();
    b.id = "ex-2";
    b.what = kind::mfa_off;
    b.policy_id.clear();
    const auto text = to_json({a, b});
    auto back = from_json(text, "x.json", t0);
    ASSERT_TRUE(back) << back.err().message;
    ASSERT_EQ(back->size(), 2u);
    EXPECT_EQ((*back)[1].what, kind::mfa_off);
    EXPECT_EQ((*back)[0].expires_ms / 1000, a.expires_ms / 1000);
    EXPECT_EQ((*back)[0].ticket, "CHG-42");

    const std::string bad = R"({"exceptions":[
      {"tenant":"contoso","kind":"user","policyId":"p","objectId":"u","owner":"alice","reason":"r","expiresAt":"2026-12-31"},
      {"tenant":"contoso","kind":"usr","policyId":"p","objectId":"u2","owner":"alice","reason":"r","expiresAt":"2026-12-31"},
      {"tenant":"contoso","kind":"group","policyId":"p","objectId":"g","reason":"r","expiresAt":"someday"}]})";
    auto refused = from_json(bad, "bad.json", t0);
    ASSERT_FALSE(refused);
    const auto& m = refused.err().message;
    EXPECT_NE(m.find("bad.json: entry 2: field 'kind'"), std::string::npos) << m;
    EXPECT_NE(m.find("bad.json: entry 3: field 'owner'"), std::string::npos) << m;
    EXPECT_NE(m.find("bad.json: entry 3: field 'expiresAt'"), std::string::npos) << m;
    EXPECT_EQ(m.find("entry 1:"), std::string::npos) << m;
    EXPECT_NE(m.find("nothing was imported"), std::string::npos);
    // An expired entry is history, not an error: imported, it proposes its removal like any other.
    auto expired = from_json(R"({"exceptions":[{"tenant":"contoso","kind":"user","policyId":"p","objectId":"u",
      "owner":"a","reason":"r","expiresAt":"2025-01-01"}]})", "old.json", t0);
    ASSERT_TRUE(expired) << expired.err().message;
    EXPECT_EQ(phase_of(expired->front(), t0, {}), phase::expired);
    record past = account_exception(t0 - day);
    EXPECT_FALSE(validate(past, t0).empty()) << "add refuses a past expiry";
}

TEST(Exceptions, ParseExpiryTakesADayAsItsEnd) {
    const auto e = parse_expiry("2026-01-01");
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(*e, t0 + day - 1000);
    EXPECT_FALSE(parse_expiry("31/12/2026").has_value());
    EXPECT_EQ(date_of(t0), "2026-01-01");
}

// ---- the onboarding set: what was already excluded when ConnGuard started watching ----

/// A report whose enabled policy excludes `n` groups grp-0 .. grp-(n-1) (named "Group i").
v1::ValidationReport with_groups(int n) {
    auto r = report(6, t0);
    std::vector<std::pair<v1::ExclusionKind, std::string>> x;
    for (int i = 0; i < n; ++i) x.emplace_back(v1::EXCLUSION_KIND_GROUP, "grp-" + std::to_string(i));
    add_policy_exclusions(r, policy, "Require MFA", "", x);
    auto& f = *r.mutable_evaluation_context()->mutable_exclusions();
    for (int i = 0; i < n; ++i) f.mutable_policies(0)->mutable_excluded(i)->set_display_name("Group " + std::to_string(i));
    return r;
}

TEST(Exceptions, ExclusionsOfTheOnboardingSetAreOneInfoCauseListingAtMostTwentyAndALaterOneIsItsOwnWarning) {
    const auto first = with_groups(25);
    const auto keys = onboarding_keys("contoso", first);
    ASSERT_TRUE(keys.has_value());
    ASSERT_EQ(keys->size(), 25u);
    const onboarding set{true, t0, {keys->begin(), keys->end()}};

    auto d = reconcile("contoso", {}, &first, t0 + day, {}, set);
    ASSERT_EQ(d.alerts.size(), 1u) << "one cause for the tenant, not one per exclusion";
    const auto& a = d.alerts[0];
    EXPECT_EQ(a.cause, "UNREGISTERED_EXCLUSION:onboarding");
    EXPECT_EQ(a.severity, v1::SEVERITY_INFO);
    EXPECT_NE(a.title.find("tenant contoso: 25 exclusions that existed when ConnGuard started watching are not registered"),
              std::string::npos) << a.title;
    EXPECT_NE(a.detail.find("policy 'Require MFA' (" + policy + "): group grp-0 (Group 0)"), std::string::npos) << a.detail;
    EXPECT_NE(a.detail.find("grp-19 (Group 19)"), std::string::npos) << a.detail;
    EXPECT_EQ(a.detail.find("grp-20 (Group 20)"), std::string::npos) << "at most 20 listed: " << a.detail;
    EXPECT_NE(a.detail.find("... and 5 more"), std::string::npos) << a.detail;
    EXPECT_NE(a.detail.find("connguardctl exception adopt --tenant contoso"), std::string::npos) << a.detail;

    // A group excluded after onboarding raises its own warning; the onboarding cause stays as it was.
    auto later = with_groups(25);
    auto* o = later.mutable_evaluation_context()->mutable_exclusions()->mutable_policies(0)->add_excluded();
    o->set_kind(v1::EXCLUSION_KIND_GROUP);
    o->set_object_id(group);
    d = reconcile("contoso", {}, &later, t0 + day, {}, set);
    ASSERT_EQ(d.alerts.size(), 2u);
    EXPECT_TRUE(has_cause(d, "UNREGISTERED_EXCLUSION:onboarding"));
    const auto* own = cause_starting(d, "UNREGISTERED_EXCLUSION:" + policy + ":" + group);
    ASSERT_NE(own, nullptr);
    EXPECT_EQ(own->severity, v1::SEVERITY_WARNING);

    // Registering all but one leaves a count of one; registering that one resolves it.
    auto rest = unregistered("contoso", {}, &later);
    ASSERT_EQ(rest.size(), 26u);
    EXPECT_EQ(rest[0].what, kind::group);
    EXPECT_EQ(rest[0].object_name, "Group 0");
    std::vector<record> registered(rest.begin() + 1, rest.end());
    d = reconcile("contoso", registered, &later, t0 + day, {}, set);
    ASSERT_EQ(d.alerts.size(), 1u);
    EXPECT_NE(d.alerts[0].title.find(": 1 exclusion that existed"), std::string::npos) << d.alerts[0].title;
    registered.push_back(rest[0]);
    EXPECT_TRUE(reconcile("contoso", registered, &later, t0 + day, {}, set).alerts.empty());
    EXPECT_TRUE(unregistered("contoso", registered, &later).empty());
}

TEST(Exceptions, NoUnregisteredExclusionIsRaisedBeforeTheOnboardingSetIsRecordedAndIncompleteFactsRecordNone) {
    auto r = with_groups(3);
    EXPECT_TRUE(reconcile("contoso", {}, &r, t0 + day, {}, onboarding{}).alerts.empty());
    r.mutable_evaluation_context()->mutable_exclusions()->set_complete(false);
    EXPECT_FALSE(onboarding_keys("contoso", r).has_value()) << "incomplete facts are not the onboarding set";
    EXPECT_FALSE(onboarding_keys("contoso", report(7, t0)).has_value()) << "no facts at all";
    // Watching with an empty onboarding set: each of the three is its own warning.
    EXPECT_EQ(reconcile("contoso", {}, &r, t0 + day, {}, watching).alerts.size(), 3u);
    // Keys are case-insensitive on ids and name the tenant, kind, policy and object like key_of.
    record g;
    g.tenant = "contoso";
    g.what = kind::group;
    g.policy_id = policy;
    g.object_id = "grp-1";
    EXPECT_EQ(exclusion_key("contoso", kind::group, "AAAAAAAA-0000-0000-0000-000000000001", "GRP-1"), key_of(g));
}

}  // namespace
}  // namespace connguard::exceptions
