// The checks of DESIGN §5: one snapshot per check, passing and failing; missing data -> ERROR.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include "tests/support/check_fixtures.h"

namespace connguard::checks {
namespace {

using nlohmann::json;
using snapshot::collect_error;
using snapshot::collected;

using test::account_id;
using test::results;
using test::the;

json policy(const std::string& id, const std::string& control, const std::string& state = "enabled") {
    return {{"id", id}, {"displayName", "Policy " + id}, {"state", state},
            {"conditions", {{"users", {{"includeUsers", {"All"}}}}, {"applications", {{"includeApplications", {"All"}}}},
                            {"clientAppTypes", {"all"}}}},
            {"grantControls", {{"operator", "OR"}, {"builtInControls", {control}}}}};
}

snapshot::tenant_snapshot healthy() {
    auto s = test::healthy_tenant();
    snapshot::signin_result ok;
    ok.outcome = snapshot::signin_outcome::success;
    ok.resource_app_id = whatif::app_exchange_online;
    s.signins = {ok};
    // The tool's own latest sign-in succeeded, and Microsoft's What If agrees (no policies).
    snapshot::signin_history log;
    snapshot::signin_log_entry e;
    e.id = "signin-1";
    e.created = "2026-01-01T00:00:00Z";
    e.app_id = "fb78d390-0c51-40cd-8e17-fdbfab77341b";
    e.resource_id = whatif::app_exchange_online;
    e.ip_address = "198.51.100.20";
    log.latest = {e};
    log.last_seen = e.created;
    s.signin_log = collected<snapshot::signin_history>::of(log);
    snapshot::whatif_exchange w;
    w.asked_at = "2026-01-01T00:00:00Z";
    w.resource_app_id = whatif::app_exchange_online;
    w.policies_digest = snapshot::policies_digest(s);
    s.microsoft_whatif = collected<snapshot::whatif_exchange>::of(w);
    return s;
}

collect_error graph_error(const std::string& what) { return {"graph.http", what + ": 503 Service Unavailable", ""}; }


TEST(Checks, HealthyTenantIsAllOkInStableOrder) {
    auto r = run_checks(healthy());
    EXPECT_EQ(r.overall(), v1::CHECK_STATUS_OK);
    std::vector<std::string> ids;
    for (const auto& c : r.checks()) {
        ids.push_back(c.id());
        EXPECT_EQ(c.status(), v1::CHECK_STATUS_OK) << c.id() << ": " << c.reason();
        EXPECT_FALSE(c.reason().empty());
    }
    EXPECT_EQ(ids, check_ids());
    EXPECT_EQ(r.account_object_id(), account_id);
    EXPECT_EQ(r.snapshot_digest(), snapshot::digest(healthy()));
    ASSERT_EQ(r.verdicts_size(), 2);
    EXPECT_EQ(r.verdicts(0).resource_app_id(), whatif::app_exchange_online);
    EXPECT_EQ(r.verdicts(0).result(), "allowed");
    EXPECT_EQ(r.verdicts(1).resource_app_id(), whatif::app_microsoft_graph);
    EXPECT_EQ(r.verdicts(1).client_app_type(), "mobileAppsAndDesktopClients");
}

TEST(Checks, AccountDisabledOrMissing) {
    auto s = healthy();
    s.user.value->account_enabled = false;
    EXPECT_EQ(the(run_checks(s), check_account).status(), v1::CHECK_STATUS_FAIL);
    s.user = collected<snapshot::account>::failed(graph_error("GET /users/svc@contoso.example"));
    auto r = run_checks(s);
    EXPECT_EQ(the(r, check_account).status(), v1::CHECK_STATUS_ERROR);
    EXPECT_NE(the(r, check_account).reason().find("503"), std::string::npos);
    EXPECT_EQ(the(r, check_cap).status(), v1::CHECK_STATUS_ERROR) << "no account, no CA evaluation";
    EXPECT_EQ(r.verdicts_size(), 0) << "no verdict from missing data";
    EXPECT_EQ(r.overall(), v1::CHECK_STATUS_ERROR);
}

TEST(Checks, SecurityDefaults) {
    auto s = healthy();
    s.security_defaults_enabled = collected<bool>::of(true);
    auto r = run_checks(s);
    EXPECT_EQ(the(r, check_secdef).status(), v1::CHECK_STATUS_WARN) << "on, but nothing it forces applies";
    s.roles = collected<std::vector<snapshot::role_assignment>>::of(
        {{"assign-1", "62e90394-69f5-4237-9190-012177145e10", "/"}});
    r = run_checks(s);
    const auto& sd = the(r, check_secdef);
    EXPECT_EQ(sd.status(), v1::CHECK_STATUS_FAIL);
    ASSERT_EQ(sd.remediations_size(), 1);
    EXPECT_EQ(sd.remediations(0).kind(), v1::REMEDIATION_KIND_MOVE_TO_APP_ONLY_AUTH);
    EXPECT_EQ(r.verdicts(0).result(), "mfa_required");
    EXPECT_EQ(r.verdicts(0).causes(0), "securityDefaults");
    s.security_defaults_enabled = collected<bool>::failed(graph_error("GET /policies/identitySecurityDefaultsEnforcementPolicy"));
    EXPECT_EQ(the(run_checks(s), check_secdef).status(), v1::CHECK_STATUS_ERROR);
}

TEST(Checks, SecurityDefaultsAdminRole) {
    auto s = healthy();
    s.roles = collected<std::vector<snapshot::role_assignment>>::of({{"assign-ga", "62e90394-69f5-4237-9190-012177145e10", "/"}});
    EXPECT_EQ(the(run_checks(s), check_secdef_admin).status(), v1::CHECK_STATUS_WARN) << "Security Defaults off";
    s.security_defaults_enabled = collected<bool>::of(true);
    auto r = run_checks(s);
    const auto& c = the(r, check_secdef_admin);
    EXPECT_EQ(c.status(), v1::CHECK_STATUS_FAIL);
    EXPECT_NE(c.reason().find("Global Administrator"), std::string::npos) << c.reason();
    ASSERT_EQ(c.remediations_size(), 1);
    EXPECT_EQ(c.remediations(0).kind(), v1::REMEDIATION_KIND_REMOVE_PRIVILEGED_ROLE);
    EXPECT_EQ(c.remediations(0).target_id(), "assign-ga");
    s.roles = collected<std::vector<snapshot::role_assignment>>::failed(graph_error("GET roleAssignments"));
    EXPECT_EQ(the(run_checks(s), check_secdef_admin).status(), v1::CHECK_STATUS_ERROR);
}

TEST(Checks, PerUserMfa) {
    auto s = healthy();
    s.per_user_mfa_state = collected<std::string>::of("enforced");
    auto r = run_checks(s);
    const auto& c = the(r, check_per_user_mfa);
    EXPECT_EQ(c.status(), v1::CHECK_STATUS_FAIL);
    ASSERT_EQ(c.remediations_size(), 1);
    EXPECT_EQ(c.remediations(0).kind(), v1::REMEDIATION_KIND_DISABLE_PER_USER_MFA);
    EXPECT_EQ(c.remediations(0).target_id(), account_id);
    EXPECT_EQ(r.verdicts(0).result(), "mfa_required");
    s.per_user_mfa_state = collected<std::string>::failed(graph_error("GET /beta/users/x/authentication/requirements"));
    EXPECT_EQ(the(run_checks(s), check_per_user_mfa).status(), v1::CHECK_STATUS_ERROR);
}

TEST(Checks, MfaRegistration) {
    auto s = healthy();
    s.mfa_registration.value->is_mfa_registered = false;
    EXPECT_EQ(the(run_checks(s), check_mfa_reg).status(), v1::CHECK_STATUS_OK) << "nothing needs MFA";
    s.ca_policies = collected<std::vector<json>>::of({policy("mfa-all", "mfa")});
    auto r = run_checks(s);
    const auto& c = the(r, check_mfa_reg);
    EXPECT_EQ(c.status(), v1::CHECK_STATUS_FAIL);
    // Registering would only turn the prompt into MFA at each sign-in (graph.md §11.4): the fix
    // removes the requirement instead.
    ASSERT_EQ(c.remediations_size(), 1);
    EXPECT_EQ(c.remediations(0).kind(), v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
    EXPECT_EQ(c.remediations(0).target_id(), "mfa-all");
    EXPECT_EQ(r.verdicts(0).result(), "mfa_registration_required");
    s.mfa_registration = collected<snapshot::registration>::failed({"graph.forbidden", "403", "AuditLog.Read.All"});
    r = run_checks(s);
    EXPECT_EQ(the(r, check_mfa_reg).status(), v1::CHECK_STATUS_ERROR);
    EXPECT_NE(the(r, check_mfa_reg).reason().find("AuditLog.Read.All"), std::string::npos);
}

TEST(Checks, ConditionalAccessOneResultPerBlockingPolicy) {
    auto s = healthy();
    auto excluded = policy("excluded", "block");
    excluded["conditions"]["users"]["excludeUsers"] = {account_id};
    auto legacy_only = policy("legacy", "block");
    legacy_only["conditions"]["clientAppTypes"] = {"exchangeActiveSync", "other"};
    s.ca_policies = collected<std::vector<json>>::of(
        {policy("mfa-all", "mfa"), excluded, policy("off", "block", "disabled"), legacy_only, policy("dev", "compliantDevice")});
    auto r = run_checks(s);
    auto caps = results(r, check_cap);
    ASSERT_EQ(caps.size(), 2u);
    EXPECT_EQ(caps[0]->subject(), "mfa-all");
    EXPECT_EQ(caps[0]->status(), v1::CHECK_STATUS_FAIL);
    EXPECT_NE(caps[0]->reason().find("'Policy mfa-all'"), std::string::npos) << caps[0]->reason();
    ASSERT_EQ(caps[0]->remediations_size(), 1);
    EXPECT_EQ(caps[0]->remediations(0).kind(), v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
    EXPECT_EQ(caps[0]->remediations(0).target_id(), "mfa-all");
    EXPECT_EQ(caps[0]->evidence(0).id(), "mfa-all");
    EXPECT_EQ(caps[1]->subject(), "dev");
    EXPECT_EQ(r.verdicts(0).result(), "mfa_required");
    EXPECT_EQ(r.overall(), v1::CHECK_STATUS_FAIL);
}

TEST(Checks, ConditionalAccessFailCarriesTheFactsAnExactExclusionPlanNeeds) {
    auto s = healthy();
    auto p = policy("mfa-all", "mfa");
    p["modifiedDateTime"] = "2026-03-01T10:00:00Z";
    p["conditions"]["users"]["excludeUsers"] = {"bbbbbbbb-0000-0000-0000-000000000009"};
    s.ca_policies = collected<std::vector<json>>::of({p});
    auto r = run_checks(s);
    const auto& cap = the(r, check_cap);
    ASSERT_EQ(cap.status(), v1::CHECK_STATUS_FAIL);
    std::map<std::string, std::string> facts;
    for (const auto& e : cap.evidence())
        if (e.id() == "mfa-all") facts[e.kind()] = e.detail();
    EXPECT_EQ(facts["policy.modifiedDateTime"], "2026-03-01T10:00:00Z") << "the plan's precondition";
    EXPECT_EQ(json::parse(facts["policy.excludeUsers"]), json({"bbbbbbbb-0000-0000-0000-000000000009"}))
        << "the merge base of the PATCH";
    EXPECT_EQ(json::parse(facts["policy.includeUsers"]), json({"All"}));
    EXPECT_EQ(facts["policy.grant"], "mfa");
}

TEST(Checks, ConditionalAccessUncertainIsWarnAndMissingIsError) {
    auto s = healthy();
    auto maybe = policy("maybe", "block");
    maybe["conditions"]["platforms"] = {{"includePlatforms", {"android"}}};
    s.ca_policies = collected<std::vector<json>>::of({maybe, json{{"id", "broken"}, {"state", 3}}});
    auto r = run_checks(s);
    auto caps = results(r, check_cap);
    ASSERT_EQ(caps.size(), 2u);
    EXPECT_EQ(caps[0]->status(), v1::CHECK_STATUS_ERROR) << "an unreadable policy is never ignored";
    EXPECT_EQ(caps[0]->subject(), "broken");
    EXPECT_EQ(caps[1]->status(), v1::CHECK_STATUS_WARN);
    EXPECT_EQ(caps[1]->subject(), "maybe");
    s.ca_policies = collected<std::vector<json>>::failed({"graph.throttled", "GET /identity/conditionalAccess/policies: 429 after 5 retries", ""});
    r = run_checks(s);
    EXPECT_EQ(the(r, check_cap).status(), v1::CHECK_STATUS_ERROR);
    EXPECT_NE(the(r, check_cap).reason().find("429"), std::string::npos);
    EXPECT_EQ(the(r, check_cap_report_only).status(), v1::CHECK_STATUS_ERROR);
}

TEST(Checks, ReportOnlyPolicyThatWouldBlock) {
    auto s = healthy();
    s.ca_policies = collected<std::vector<json>>::of({policy("ro", "block", "enabledForReportingButNotEnforced")});
    auto r = run_checks(s);
    const auto& c = the(r, check_cap_report_only);
    EXPECT_EQ(c.status(), v1::CHECK_STATUS_WARN);
    EXPECT_EQ(c.subject(), "ro");
    EXPECT_EQ(the(r, check_cap).status(), v1::CHECK_STATUS_OK);
    EXPECT_EQ(r.verdicts(0).result(), "allowed");
    EXPECT_EQ(r.verdicts(0).report_only_result(), "blocked");
}

TEST(Checks, LegacyAuthentication) {
    auto s = healthy();
    s.security_defaults_enabled = collected<bool>::of(true);
    options o;
    EXPECT_EQ(the(run_checks(s, o), check_legacy).status(), v1::CHECK_STATUS_OK) << "the tool does not need it";
    o.needs_legacy_auth = true;
    auto r = run_checks(s, o);
    const auto& c = the(r, check_legacy);
    EXPECT_EQ(c.status(), v1::CHECK_STATUS_FAIL);
    EXPECT_NE(c.reason().find("Security Defaults"), std::string::npos);
    ASSERT_GE(c.remediations_size(), 1);
    EXPECT_EQ(c.remediations(0).kind(), v1::REMEDIATION_KIND_MOVE_TO_APP_ONLY_AUTH);
    s.security_defaults_enabled = collected<bool>::of(false);
    auto block = policy("block-legacy", "block");
    block["conditions"]["clientAppTypes"] = {"exchangeActiveSync", "other"};
    s.ca_policies = collected<std::vector<json>>::of({block});
    r = run_checks(s, o);
    EXPECT_EQ(the(r, check_legacy).status(), v1::CHECK_STATUS_FAIL);
    EXPECT_EQ(the(r, check_legacy).remediations(0).target_id(), "block-legacy");
    EXPECT_EQ(the(r, check_cap).status(), v1::CHECK_STATUS_OK) << "the modern sign-in is not affected";
}

TEST(Checks, SignInProbeAndPrediction) {
    auto s = healthy();
    s.signin_log.reset();  // the probe alone (the tool's own sign-ins are compared in checks_entra2026_test)
    s.ca_policies = collected<std::vector<json>>::of({policy("mfa-all", "mfa")});
    snapshot::signin_result denied;
    denied.outcome = snapshot::signin_outcome::mfa_required;
    denied.resource_app_id = whatif::app_exchange_online;
    denied.aadsts_code = 50076;
    s.signins = {denied};
    auto r = run_checks(s);
    const auto& sig = the(r, check_signin);
    EXPECT_EQ(sig.status(), v1::CHECK_STATUS_FAIL);
    EXPECT_NE(sig.reason().find("AADSTS50076"), std::string::npos);
    ASSERT_GE(sig.remediations_size(), 1);
    EXPECT_EQ(sig.remediations(0).target_id(), "mfa-all");
    EXPECT_EQ(the(r, check_prediction).status(), v1::CHECK_STATUS_OK) << "predicted mfa_required, got mfa_required";

    s.ca_policies = collected<std::vector<json>>::of({});
    r = run_checks(s);
    EXPECT_EQ(the(r, check_prediction).status(), v1::CHECK_STATUS_WARN) << "predicted allowed, got MFA";
    s.signins.clear();
    r = run_checks(s);
    EXPECT_EQ(the(r, check_signin).status(), v1::CHECK_STATUS_WARN) << "no probe: never OK";
    EXPECT_EQ(the(r, check_prediction).status(), v1::CHECK_STATUS_WARN);
}

TEST(Checks, PermissionsNameTheMissingOnes) {
    auto s = healthy();
    s.per_user_mfa_state = collected<std::string>::failed({"graph.forbidden", "GET /beta/users/x/authentication/requirements: 403", "Policy.Read.All"});
    s.mfa_registration = collected<snapshot::registration>::failed({"graph.forbidden", "GET userRegistrationDetails: 403", "AuditLog.Read.All"});
    auto r = run_checks(s);
    const auto& c = the(r, check_perms);
    EXPECT_EQ(c.status(), v1::CHECK_STATUS_FAIL);
    EXPECT_NE(c.reason().find("AuditLog.Read.All"), std::string::npos) << c.reason();
    EXPECT_NE(c.reason().find("Policy.Read.All"), std::string::npos) << c.reason();
    EXPECT_EQ(c.evidence_size(), 2);
}

TEST(Checks, WorstStatusOrder) {
    EXPECT_EQ(worst(v1::CHECK_STATUS_OK, v1::CHECK_STATUS_WARN), v1::CHECK_STATUS_WARN);
    EXPECT_EQ(worst(v1::CHECK_STATUS_FAIL, v1::CHECK_STATUS_WARN), v1::CHECK_STATUS_FAIL);
    EXPECT_EQ(worst(v1::CHECK_STATUS_FAIL, v1::CHECK_STATUS_ERROR), v1::CHECK_STATUS_ERROR);
}

}  // namespace
}  // namespace connguard::checks

namespace connguard::checks {
namespace {

// The report carries the account's facts for pre-change impact (coordinator/impact.h): typed, the
// same ones CG-CAP evaluates with; an uncollected fact makes it incomplete with the reason.
TEST(Checks, EvaluationContextCarriesTheAccountsFacts) {
    auto s = test::healthy_tenant();
    s.group_ids = snapshot::collected<std::vector<std::string>>::of({"GGGGGGGG-0000-0000-0000-000000000002",
                                                                     "gggggggg-0000-0000-0000-000000000001"});
    s.roles = snapshot::collected<std::vector<snapshot::role_assignment>>::of(
        {{"ra-1", "62E90394-69F5-4237-9190-012177145E10", "/"}});
    s.ca_policies = snapshot::collected<std::vector<nlohmann::json>>::of(
        {nlohmann::json{{"id", "p1"},
                        {"state", "enabled"},
                        {"conditions",
                         {{"users", {{"includeUsers", {"All"}}, {"excludeGroups", {"gggggggg-0000-0000-0000-000000000001"}}}},
                          {"applications", {{"includeApplications", {"All"}}}}}},
                        {"grantControls", {{"operator", "OR"}, {"builtInControls", {"mfa"}}}}}});
    s.named_locations = snapshot::collected<std::vector<nlohmann::json>>::of(
        {nlohmann::json{{"@odata.type", "#microsoft.graph.ipNamedLocation"},
                        {"id", "loc-1"},
                        {"displayName", "Office"},
                        {"isTrusted", true},
                        {"ipRanges", {{{"@odata.type", "#microsoft.graph.iPv4CidrRange"}, {"cidrAddress", "198.51.100.0/24"}}}}}});
    options o;
    o.needs_legacy_auth = true;
    const auto r = run_checks(s, o);
    ASSERT_TRUE(r.has_evaluation_context());
    const auto& c = r.evaluation_context();
    EXPECT_TRUE(c.complete());
    EXPECT_EQ(c.missing_size(), 0);
    EXPECT_EQ(c.account_object_id(), account_id);
    EXPECT_FALSE(c.guest());
    EXPECT_TRUE(c.security_defaults_known());
    EXPECT_FALSE(c.security_defaults_enabled());
    ASSERT_EQ(c.group_ids_size(), 2);
    EXPECT_EQ(c.group_ids(0), "gggggggg-0000-0000-0000-000000000001");
    EXPECT_EQ(c.group_ids(1), "gggggggg-0000-0000-0000-000000000002");
    ASSERT_EQ(c.role_template_ids_size(), 1);
    EXPECT_EQ(c.role_template_ids(0), "62e90394-69f5-4237-9190-012177145e10");
    ASSERT_EQ(c.excluding_group_ids_size(), 1);
    EXPECT_EQ(c.excluding_group_ids(0), "gggggggg-0000-0000-0000-000000000001");
    // The exception registry's facts: every exclusion, typed, with how it covers the account.
    ASSERT_TRUE(c.has_exclusions());
    EXPECT_TRUE(c.exclusions().complete());
    ASSERT_EQ(c.exclusions().policies_size(), 1);
    const auto& px = c.exclusions().policies(0);
    EXPECT_EQ(px.policy_id(), "p1");
    EXPECT_EQ(px.state(), v1::CA_POLICY_STATE_ENABLED);
    ASSERT_EQ(px.excluded_size(), 1);
    EXPECT_EQ(px.excluded(0).kind(), v1::EXCLUSION_KIND_GROUP);
    EXPECT_EQ(px.excluded(0).object_id(), "gggggggg-0000-0000-0000-000000000001");
    EXPECT_EQ(px.excluded(0).covers_account(), v1::ACCOUNT_COVERAGE_GROUP);
    ASSERT_EQ(c.named_locations_size(), 1);
    EXPECT_TRUE(c.named_locations(0).is_trusted());
    ASSERT_EQ(c.named_locations(0).ip_ranges_size(), 1);
    EXPECT_EQ(c.named_locations(0).ip_ranges(0), "198.51.100.0/24");
    ASSERT_EQ(c.sign_ins_size(), 4);  // Exchange Online and Graph, modern then legacy
    EXPECT_EQ(c.sign_ins(0).client_app_type(), "mobileAppsAndDesktopClients");
    EXPECT_EQ(c.sign_ins(3).client_app_type(), "other");

    s.group_ids = snapshot::collected<std::vector<std::string>>::failed(
        {"graph.forbidden", "GET /users/{id}/transitiveMemberOf: 403", "GroupMember.Read.All"});
    const auto broken = run_checks(s, o).evaluation_context();
    EXPECT_FALSE(broken.complete());
    ASSERT_EQ(broken.missing_size(), 1);
    EXPECT_NE(broken.missing(0).find("group memberships"), std::string::npos) << broken.missing(0);

    // Too many groups to carry: left out and said so, never cut silently.
    std::vector<std::string> many;
    for (int i = 0; i < 4000; ++i) {
        char id[48];
        std::snprintf(id, sizeof id, "group-%d-0000-0000-0000-000000000000", i);
        many.emplace_back(id);
    }
    s.group_ids = snapshot::collected<std::vector<std::string>>::of(many);
    const auto big = run_checks(s, o).evaluation_context();
    EXPECT_FALSE(big.complete());
    EXPECT_EQ(big.group_ids_size(), 0);
    ASSERT_EQ(big.missing_size(), 1);
    EXPECT_EQ(big.missing(0), "the account's group memberships: 4000 groups are too many to carry in the report");
    EXPECT_LE(big.ByteSizeLong(), max_evaluation_context_bytes);
    EXPECT_TRUE(big.exclusions().complete()) << "the groups were the large part; the exclusions stay";
}

// Thousands of policies with exclusions: whole policies are cut from the end, counted and said;
// the policy that excludes the account (listed first) stays, and the report stays bounded.
TEST(Checks, ExclusionFactsAreBoundedCountedAndKeepTheAccountsPolicies) {
    auto s = test::healthy_tenant();
    std::vector<nlohmann::json> policies;
    for (int i = 0; i < 3000; ++i) {
        char id[48];
        std::snprintf(id, sizeof id, "pol-%04d-0000-0000-0000-000000000000", i);
        policies.push_back(nlohmann::json{
            {"id", id},
            {"displayName", std::string("Policy ") + id},
            {"state", i % 2 ? "disabled" : "enabledForReportingButNotEnforced"},
            {"conditions",
             {{"users", {{"includeUsers", {"All"}}, {"excludeUsers", {i == 2999 ? std::string(account_id) : std::string(id)}}}},
              {"applications", {{"includeApplications", {"All"}}}}}},
            {"grantControls", {{"operator", "OR"}, {"builtInControls", {"mfa"}}}}});
    }
    s.ca_policies = snapshot::collected<std::vector<nlohmann::json>>::of(policies);
    const auto c = evaluation_context(s);
    EXPECT_LE(c.ByteSizeLong(), max_evaluation_context_bytes);
    const auto& e = c.exclusions();
    EXPECT_FALSE(e.complete());
    EXPECT_GT(e.omitted(), 0u);
    EXPECT_EQ(e.policies_size() + static_cast<int>(e.omitted()), 3000);
    ASSERT_EQ(e.missing_size(), 1);
    EXPECT_NE(e.missing(0).find("policies are too many"), std::string::npos) << e.missing(0);
    ASSERT_GT(e.policies_size(), 0);
    EXPECT_EQ(e.policies(0).policy_id(), "pol-2999-0000-0000-0000-000000000000");
    EXPECT_EQ(e.policies(0).excluded(0).covers_account(), v1::ACCOUNT_COVERAGE_DIRECT);
    EXPECT_EQ(e.policies(0).state(), v1::CA_POLICY_STATE_DISABLED);
}

}  // namespace
}  // namespace connguard::checks
