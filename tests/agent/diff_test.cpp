// Unit tests of the pure change diff (DESIGN §7): each kind, failed items, carry-forward, numbering.
#include <gtest/gtest.h>

#include "agent/core/diff.h"

namespace {

using namespace connguard;
using connguard::agent::carry_forward;
using connguard::agent::diff_cycle;
using connguard::agent::diff_snapshots;
using connguard::agent::diff_statuses;
using connguard::agent::report_statuses;
using nlohmann::json;
using snapshot::collected;
using snapshot::collect_error;

const std::string account_id = "11111111-1111-1111-1111-111111111111";

json policy(const std::string& id, const std::string& state = "enabled") {
    return json{{"id", id},
                {"displayName", "Policy " + id},
                {"state", state},
                {"modifiedDateTime", "2026-01-01T10:00:00Z"},
                {"conditions",
                 {{"users", {{"includeUsers", {"All"}}, {"excludeUsers", json::array()}}},
                  {"applications", {{"includeApplications", {"All"}}}},
                  {"clientAppTypes", {"all"}}}},
                {"grantControls", {{"operator", "OR"}, {"builtInControls", {"mfa"}}}}};
}

snapshot::tenant_snapshot base() {
    snapshot::tenant_snapshot s;
    s.tenant_key = "contoso";
    s.azure_tenant_id = "tid";
    s.account_upn = "svc@contoso.com";
    s.security_defaults_enabled = collected<bool>::of(false);
    s.ca_policies = collected<std::vector<json>>::of({policy("p1"), policy("p2")});
    s.named_locations = collected<std::vector<json>>::of({});
    s.user = collected<snapshot::account>::of({account_id, "svc@contoso.com", "Svc", true, "Member"});
    s.group_ids = collected<std::vector<std::string>>::of({});
    s.roles = collected<std::vector<snapshot::role_assignment>>::of({});
    s.mfa_registration = collected<snapshot::registration>::of({false, false, {}});
    s.per_user_mfa_state = collected<std::string>::of("disabled");
    return s;
}

collect_error throttled() { return {"graph.throttled", "GET /v1.0/identity/conditionalAccess/policies: 429 after 4 retries", ""}; }

std::vector<v1::ChangeKind> kinds(const std::vector<v1::ChangeEvent>& ev) {
    std::vector<v1::ChangeKind> out;
    for (const auto& e : ev) out.push_back(e.kind());
    return out;
}

TEST(Diff, IdenticalSnapshotsGiveNoEvents) {
    EXPECT_TRUE(diff_snapshots(base(), base()).empty());
}

TEST(Diff, SecurityDefaultsOnAndOff) {
    auto a = base(), b = base();
    b.security_defaults_enabled = collected<bool>::of(true);
    auto ev = diff_snapshots(a, b);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind(), v1::CHANGE_KIND_SECURITY_DEFAULTS_ENABLED);
    EXPECT_EQ(ev[0].before(), "false");
    EXPECT_EQ(ev[0].after(), "true");
    ev = diff_snapshots(b, a);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind(), v1::CHANGE_KIND_SECURITY_DEFAULTS_DISABLED);
}

TEST(Diff, PolicyCreatedAndDeleted) {
    auto a = base(), b = base();
    b.ca_policies.value->push_back(policy("p3"));
    auto ev = diff_snapshots(a, b);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind(), v1::CHANGE_KIND_CA_POLICY_CREATED);
    EXPECT_EQ(ev[0].subject_id(), "p3");
    EXPECT_EQ(ev[0].subject_name(), "Policy p3");
    EXPECT_TRUE(ev[0].before().empty());
    EXPECT_EQ(json::parse(ev[0].after())["id"], "p3");

    ev = diff_snapshots(b, a);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind(), v1::CHANGE_KIND_CA_POLICY_DELETED);
    EXPECT_EQ(ev[0].subject_id(), "p3");
    EXPECT_TRUE(ev[0].after().empty());
}

TEST(Diff, PolicyUpdatedNamesDottedFields) {
    auto a = base(), b = base();
    auto& p = (*b.ca_policies.value)[0];
    p["grantControls"]["builtInControls"] = {"mfa", "compliantDevice"};
    p["conditions"]["clientAppTypes"] = {"exchangeActiveSync", "other"};
    p["modifiedDateTime"] = "2026-02-01T10:00:00Z";
    auto ev = diff_snapshots(a, b);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind(), v1::CHANGE_KIND_CA_POLICY_UPDATED);
    std::vector<std::string> fields(ev[0].changed_fields().begin(), ev[0].changed_fields().end());
    EXPECT_EQ(fields, (std::vector<std::string>{"conditions.clientAppTypes", "grantControls.builtInControls"}));
    EXPECT_EQ(json::parse(ev[0].before())["grantControls"]["builtInControls"], json({"mfa"}));
}

TEST(Diff, ModifiedDateTimeAloneAndReorderedArraysAreNoChange) {
    auto a = base(), b = base();
    (*a.ca_policies.value)[0]["conditions"]["clientAppTypes"] = {"browser", "other"};
    (*b.ca_policies.value)[0]["conditions"]["clientAppTypes"] = {"other", "browser"};
    (*b.ca_policies.value)[0]["modifiedDateTime"] = "2026-03-01T00:00:00Z";
    EXPECT_TRUE(diff_snapshots(a, b).empty());
}

TEST(Diff, StateChangeIsItsOwnKind) {
    auto a = base(), b = base();
    (*b.ca_policies.value)[1]["state"] = "enabledForReportingButNotEnforced";
    auto ev = diff_snapshots(a, b);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind(), v1::CHANGE_KIND_CA_POLICY_STATE_CHANGED);
    EXPECT_EQ(ev[0].subject_id(), "p2");
    EXPECT_EQ(ev[0].before(), "enabled");
    EXPECT_EQ(ev[0].after(), "enabledForReportingButNotEnforced");
    ASSERT_EQ(ev[0].changed_fields_size(), 1);
    EXPECT_EQ(ev[0].changed_fields(0), "state");
}

TEST(Diff, AccountExcludedAndIncludedAgain) {
    auto a = base(), b = base();
    (*b.ca_policies.value)[0]["conditions"]["users"]["excludeUsers"] = {account_id};
    auto ev = diff_snapshots(a, b);
    EXPECT_EQ(kinds(ev), (std::vector<v1::ChangeKind>{v1::CHANGE_KIND_CA_POLICY_UPDATED,
                                                      v1::CHANGE_KIND_ACCOUNT_EXCLUDED_FROM_POLICY}));
    EXPECT_EQ(ev[1].subject_id(), "p1");
    EXPECT_EQ(ev[1].changed_fields(0), "conditions.users.excludeUsers");
    EXPECT_EQ(json::parse(ev[1].after()), json({account_id}));

    ev = diff_snapshots(b, a);
    EXPECT_EQ(kinds(ev), (std::vector<v1::ChangeKind>{v1::CHANGE_KIND_CA_POLICY_UPDATED,
                                                      v1::CHANGE_KIND_ACCOUNT_INCLUDED_IN_POLICY}));
}

TEST(Diff, OtherUsersExclusionIsOnlyAnUpdate) {
    auto a = base(), b = base();
    (*b.ca_policies.value)[0]["conditions"]["users"]["excludeUsers"] = {"someone-else"};
    EXPECT_EQ(kinds(diff_snapshots(a, b)), (std::vector<v1::ChangeKind>{v1::CHANGE_KIND_CA_POLICY_UPDATED}));
}

TEST(Diff, PerUserMfaRegistrationAndRoles) {
    auto a = base(), b = base();
    b.per_user_mfa_state = collected<std::string>::of("enforced");
    b.mfa_registration = collected<snapshot::registration>::of({true, true, {"microsoftAuthenticatorPush"}});
    b.roles = collected<std::vector<snapshot::role_assignment>>::of(
        {{"ra-1", "62e90394-69f5-4237-9190-012177145e10", "/"}});
    auto ev = diff_snapshots(a, b);
    ASSERT_EQ(kinds(ev), (std::vector<v1::ChangeKind>{v1::CHANGE_KIND_PER_USER_MFA_CHANGED,
                                                      v1::CHANGE_KIND_MFA_REGISTRATION_CHANGED,
                                                      v1::CHANGE_KIND_PRIVILEGED_ROLE_ADDED}));
    EXPECT_EQ(ev[0].before(), "disabled");
    EXPECT_EQ(ev[0].after(), "enforced");
    EXPECT_EQ(ev[2].subject_id(), "62e90394-69f5-4237-9190-012177145e10");
    EXPECT_EQ(ev[2].subject_name(), "Global Administrator");
    std::vector<std::string> reg_fields(ev[1].changed_fields().begin(), ev[1].changed_fields().end());
    EXPECT_EQ(reg_fields, (std::vector<std::string>{"isMfaCapable", "isMfaRegistered", "methodsRegistered"}));

    auto back = diff_snapshots(b, a);
    EXPECT_EQ(back.back().kind(), v1::CHANGE_KIND_PRIVILEGED_ROLE_REMOVED);
    EXPECT_EQ(json::parse(back.back().before())["id"], "ra-1");
}

TEST(Diff, FailedCollectionIsNeverADeletionOrChange) {
    auto a = base(), b = base();
    b.ca_policies = collected<std::vector<json>>::failed(throttled());
    b.security_defaults_enabled = collected<bool>::failed(throttled());
    b.roles = collected<std::vector<snapshot::role_assignment>>::failed(throttled());
    b.per_user_mfa_state = collected<std::string>::failed(throttled());
    b.mfa_registration = collected<snapshot::registration>::failed(throttled());
    EXPECT_TRUE(diff_snapshots(a, b).empty());
    EXPECT_TRUE(diff_snapshots(b, a).empty());
}

TEST(Diff, CarryForwardKeepsLastKnownValueSoTheNextDiffSeesTheRealChange) {
    auto a = base();
    auto failed = base();
    failed.ca_policies = collected<std::vector<json>>::failed(throttled());
    auto persisted = carry_forward(a, failed);
    ASSERT_TRUE(persisted.ca_policies.ok());
    EXPECT_EQ(persisted.ca_policies.value->size(), 2u);

    // Next cycle: p2 really was deleted while we could not see it -> exactly one DELETED event.
    auto c = base();
    c.ca_policies.value->pop_back();
    auto ev = diff_snapshots(persisted, c);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind(), v1::CHANGE_KIND_CA_POLICY_DELETED);
    EXPECT_EQ(ev[0].subject_id(), "p2");
}

v1::ValidationReport report(v1::CheckStatus secdef, v1::CheckStatus cap, v1::CheckStatus overall) {
    v1::ValidationReport r;
    auto* c1 = r.add_checks();
    c1->set_id("CG-SECDEF");
    c1->set_status(secdef);
    auto* c2 = r.add_checks();
    c2->set_id("CG-CAP");
    c2->set_subject("p1");
    c2->set_status(cap);
    r.set_overall(overall);
    return r;
}

TEST(Diff, StatusChangesPerCheckAndOverall) {
    auto prev = agent::statuses_of(report(v1::CHECK_STATUS_OK, v1::CHECK_STATUS_OK, v1::CHECK_STATUS_OK));
    auto ev = diff_statuses(prev, report(v1::CHECK_STATUS_OK, v1::CHECK_STATUS_FAIL, v1::CHECK_STATUS_FAIL));
    ASSERT_EQ(kinds(ev), (std::vector<v1::ChangeKind>{v1::CHANGE_KIND_CHECK_STATUS_CHANGED,
                                                      v1::CHANGE_KIND_OVERALL_STATUS_CHANGED}));
    EXPECT_EQ(ev[0].subject_id(), "CG-CAP/p1");
    EXPECT_EQ(ev[0].status_before(), v1::CHECK_STATUS_OK);
    EXPECT_EQ(ev[0].status_after(), v1::CHECK_STATUS_FAIL);
    EXPECT_EQ(ev[1].before(), "OK");
    EXPECT_EQ(ev[1].after(), "FAIL");
}

TEST(Diff, StatusesSurviveJsonRoundTrip) {
    auto s = agent::statuses_of(report(v1::CHECK_STATUS_ERROR, v1::CHECK_STATUS_WARN, v1::CHECK_STATUS_ERROR));
    auto back = agent::statuses_from_json(agent::to_json(s));
    EXPECT_EQ(back.checks, s.checks);
    EXPECT_EQ(back.overall, v1::CHECK_STATUS_ERROR);
    EXPECT_TRUE(agent::statuses_from_json(json("garbage")).empty());
}

TEST(Diff, CycleNumbersAndDigestsAndBaseline) {
    auto a = base(), b = base();
    b.security_defaults_enabled = collected<bool>::of(true);
    auto r = report(v1::CHECK_STATUS_FAIL, v1::CHECK_STATUS_OK, v1::CHECK_STATUS_FAIL);
    auto prev = agent::statuses_of(report(v1::CHECK_STATUS_OK, v1::CHECK_STATUS_OK, v1::CHECK_STATUS_OK));
    auto ev = diff_cycle(true, a, prev, b, r, 7);
    ASSERT_EQ(ev.size(), 3u);
    for (std::uint32_t i = 0; i < ev.size(); ++i) {
        EXPECT_EQ(ev[i].cycle(), 7u);
        EXPECT_EQ(ev[i].index(), i);
        EXPECT_EQ(ev[i].previous_snapshot_digest(), snapshot::digest(a));
        EXPECT_EQ(ev[i].snapshot_digest(), snapshot::digest(b));
    }
    EXPECT_TRUE(diff_cycle(false, a, prev, b, r, 1).empty());
}

TEST(Diff, ChangedPathsReportsAddedAndRemovedKeys) {
    auto paths = agent::changed_paths(json{{"a", 1}, {"b", {{"c", 2}}}}, json{{"b", {{"c", 3}, {"d", 1}}}});
    EXPECT_EQ(paths, (std::vector<std::string>{"a", "b.c", "b.d"}));
}

}  // namespace

namespace {

TEST(DiffInitiators, MicrosoftsOwnPolicyChangesNameMicrosoftAsTheInitiator) {
    auto prev = base();
    auto cur = base();
    auto managed = policy("m1", "enabledForReportingButNotEnforced");
    managed["displayName"] = "Microsoft-managed: Multifactor authentication for all users";
    auto switched_on = managed;
    switched_on["state"] = "enabled";
    prev.ca_policies = collected<std::vector<json>>::of({policy("p1"), managed});
    cur.ca_policies = collected<std::vector<json>>::of({policy("p1"), switched_on, policy("p3")});
    cur.policy_audits = {
        {"m1", "Update Conditional Access policy", "2026-12-06T09:00:00Z", "admin@contoso.com", false},
        {"m1", "Update Conditional Access policy", "2026-12-07T09:00:00Z", "Microsoft Managed Policy Manager", true},
        {"p3", "Add Conditional Access policy", "2026-12-07T08:00:00Z", "admin@contoso.com", false},
    };
    report_statuses none;
    v1::ValidationReport report;
    const auto events = diff_cycle(true, prev, none, cur, report, 7);
    bool saw_state = false, saw_created = false;
    for (const auto& e : events) {
        if (e.kind() == v1::CHANGE_KIND_CA_POLICY_STATE_CHANGED && e.subject_id() == "m1") {
            saw_state = true;
            EXPECT_EQ(e.initiated_by(), "Microsoft Managed Policy Manager") << "the newest audit entry wins";
            EXPECT_TRUE(e.initiated_by_microsoft());
        }
        if (e.kind() == v1::CHANGE_KIND_CA_POLICY_CREATED && e.subject_id() == "p3") {
            saw_created = true;
            EXPECT_EQ(e.initiated_by(), "admin@contoso.com");
            EXPECT_FALSE(e.initiated_by_microsoft());
        }
        if (e.kind() == v1::CHANGE_KIND_CHECK_STATUS_CHANGED) {
            EXPECT_TRUE(e.initiated_by().empty());
        }
    }
    EXPECT_TRUE(saw_state);
    EXPECT_TRUE(saw_created);
}

TEST(DiffInitiators, SignInLogAndWhatIfAnswerAreCarriedUntilReadAgain) {
    auto prev = base();
    snapshot::signin_history log;
    log.last_seen = "2026-12-07T09:00:00Z";
    prev.signin_log = collected<snapshot::signin_history>::of(log);
    snapshot::whatif_exchange w;
    w.asked_at = "2026-12-07T09:00:00Z";
    prev.microsoft_whatif = collected<snapshot::whatif_exchange>::of(w);
    auto cur = base();
    cur.signin_log = collected<snapshot::signin_history>::failed({"graph.throttled", "429", ""});
    const auto kept = carry_forward(prev, cur);
    ASSERT_TRUE(kept.signin_log && kept.signin_log->ok());
    EXPECT_EQ(kept.signin_log->value->last_seen, "2026-12-07T09:00:00Z");
    ASSERT_TRUE(kept.microsoft_whatif && kept.microsoft_whatif->ok());
    // And both survive the state file's JSON round trip, without changing the settings digest.
    const auto back = snapshot::from_json(snapshot::to_json(kept));
    ASSERT_TRUE(back.signin_log && back.signin_log->ok());
    EXPECT_EQ(back.signin_log->value->last_seen, "2026-12-07T09:00:00Z");
    EXPECT_EQ(snapshot::digest(back), snapshot::digest(base()));
}

}  // namespace

namespace {
// What connguard_check_status counts per tenant: each check id once, at its worst subject's status.
TEST(Diff, WorstStatusByCheckIdCountsEachIdOnce) {
    v1::ValidationReport r;
    auto add = [&](const char* id, const char* subject, v1::CheckStatus st) {
        auto* c = r.add_checks();
        c->set_id(id);
        c->set_subject(subject);
        c->set_status(st);
    };
    add("CG-CAP", "policy-1", v1::CHECK_STATUS_OK);
    add("CG-CAP", "policy-2", v1::CHECK_STATUS_FAIL);
    add("CG-CAP", "policy-3", v1::CHECK_STATUS_WARN);
    add("CG-SECDEF", "", v1::CHECK_STATUS_OK);
    add("CG-MFA", "", v1::CHECK_STATUS_ERROR);
    const auto w = connguard::agent::worst_status_by_check(r);
    const std::vector<std::pair<std::string, std::string>> want = {
        {"CG-CAP", "FAIL"}, {"CG-MFA", "ERROR"}, {"CG-SECDEF", "OK"}};
    EXPECT_EQ(w, want);
}
}  // namespace
