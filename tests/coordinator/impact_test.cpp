// Pre-change impact (issue 15), the pure part: real baseline policies from the shared corpus
// (j0eyv ConditionalAccessBaseline) evaluated as if enabled over simulated tenants' evaluation
// contexts, with the exact per-tenant answer; plus a tenant with an incomplete snapshot, a stale one
// and one without a report, which are never evaluated.
#include <filesystem>

#include <gtest/gtest.h>

#include "agent/whatif/loader.h"
#include "coordinator/impact.h"

namespace connguard::coord::impact {
namespace {

namespace fs = std::filesystem;
const fs::path corpus = fs::path(CONNGUARD_SHARED_DIR) / "reference" / "ca-policies";
const fs::path baseline = corpus / "j0eyv__ConditionalAccessBaseline" / "Config" / "ConditionalAccess";

#define SKIP_WITHOUT_CORPUS() \
    if (!fs::exists(baseline)) GTEST_SKIP() << "no policy corpus at " << baseline << " (../shared absent)"

const char* const exo = "00000002-0000-0ff1-ce00-000000000000";
const char* const graph = "00000003-0000-0000-c000-000000000000";
const char* const global_admin = "62e90394-69f5-4237-9190-012177145e10";
const char* const alpha_id = "aaaaaaaa-0000-0000-0000-00000000000a";
const char* const bravo_id = "bbbbbbbb-0000-0000-0000-00000000000b";
const char* const charlie_id = "cccccccc-0000-0000-0000-00000000000c";
// Groups the baseline's policies name: CA002 excludes 8861a932 (only it); CA300 includes 77c1ed37
// (service accounts); CA001 excludes the named location 185c993e (the country whitelist).
const char* const ca002_exclusion_group = "8861a932-f1d1-4d1d-a5e6-cdce20fada27";
const char* const service_accounts_group = "77c1ed37-10d0-4ef1-93dc-198e70abb166";
const char* const charlie_exclusion_group = "c0c0c0c0-1111-2222-3333-444444444444";
const char* const whitelist_location = "185c993e-10a9-44fa-98d1-230c8f72f497";

constexpr std::int64_t now_ms = 1'800'000'000'000;
constexpr std::int64_t poll_ms = 15 * 60 * 1000;

draft load(const std::string& file) {
    auto j = whatif::read_json_file(baseline / file);
    EXPECT_TRUE(j) << file;
    auto d = compile_draft(j.value());
    EXPECT_TRUE(d) << file << ": " << (d ? "" : d.err().message);
    return std::move(d.value());
}

void add_sign_in(v1::EvaluationContext& c, const char* app, const char* client) {
    auto* s = c.add_sign_ins();
    s->set_target_app_id(app);
    s->set_evaluated_app_id(app);
    s->set_client_app_type(client);
    s->set_authentication_flow("none");
}

v1::ValidationReport report(const std::string& upn, const std::string& id) {
    v1::ValidationReport r;
    r.set_account_upn(upn);
    r.set_account_object_id(id);
    auto& c = *r.mutable_evaluation_context();
    c.set_account_object_id(id);
    c.set_is_mfa_registered(true);
    c.set_named_locations_known(true);
    c.set_complete(true);
    add_sign_in(c, exo, "mobileAppsAndDesktopClients");
    add_sign_in(c, graph, "mobileAppsAndDesktopClients");
    return r;
}

struct fleet {
    v1::ValidationReport alpha, bravo, charlie, delta, echo;
    std::vector<tenant_input> inputs;
    fleet() {
        // alpha: a plain member, no groups, no roles, egress unknown.
        alpha = report("svc@alpha.example", alpha_id);
        // bravo: Global Administrator, member of the group CA002 excludes (reused by the tenant).
        bravo = report("svc@bravo.example", bravo_id);
        bravo.mutable_evaluation_context()->add_role_template_ids(global_admin);
        bravo.mutable_evaluation_context()->add_group_ids(ca002_exclusion_group);
        bravo.mutable_evaluation_context()->add_excluding_group_ids(ca002_exclusion_group);
        // charlie: a service account that also signs in with a legacy protocol, from NL, which the
        // tenant's country whitelist location allows.
        charlie = report("svc@charlie.example", charlie_id);
        auto& c = *charlie.mutable_evaluation_context();
        c.add_group_ids(service_accounts_group);
        c.add_group_ids(charlie_exclusion_group);
        c.add_excluding_group_ids(charlie_exclusion_group);
        add_sign_in(c, exo, "other");
        c.set_egress_ip("203.0.113.7");
        c.set_egress_country("NL");
        auto* loc = c.add_named_locations();
        loc->set_id(whitelist_location);
        loc->set_display_name("Allowed countries");
        loc->set_is_country(true);
        loc->add_countries("NL");
        loc->add_countries("BE");
        // delta: group memberships could not be read.
        delta = report("svc@delta.example", "dddddddd-0000-0000-0000-00000000000d");
        delta.mutable_evaluation_context()->set_complete(false);
        delta.mutable_evaluation_context()->add_missing(
            "the account's group memberships: graph.forbidden: GET /users/{id}/transitiveMemberOf answered 403");
        // echo: a complete context, collected two poll intervals ago.
        echo = report("svc@echo.example", "eeeeeeee-0000-0000-0000-00000000000e");
        inputs = {{"alpha", &alpha, now_ms - 60'000, poll_ms},      {"bravo", &bravo, now_ms - 60'000, poll_ms},
                  {"charlie", &charlie, now_ms - 1'000, poll_ms},   {"delta", &delta, now_ms - 60'000, poll_ms},
                  {"echo", &echo, now_ms - 2 * poll_ms, poll_ms},   {"foxtrot", nullptr, 0, poll_ms}};
    }
};

struct expected {
    outcome result;
    exclusion::kind kind;
    std::string exclusion_id;
};

void expect_fleet(const draft& d, const std::vector<expected>& want) {
    fleet f;
    ASSERT_EQ(want.size(), f.inputs.size());
    for (size_t i = 0; i < want.size(); ++i) {
        const auto t = evaluate_tenant(d, f.inputs[i], now_ms);
        SCOPED_TRACE(f.inputs[i].tenant + ": " + t.reason);
        EXPECT_EQ(to_string(t.result), std::string(to_string(want[i].result)));
        EXPECT_EQ(static_cast<int>(t.exclude.type), static_cast<int>(want[i].kind));
        EXPECT_EQ(t.exclude.id, want[i].exclusion_id);
    }
}

const std::vector<expected> not_evaluated = {
    {outcome::incomplete, exclusion::kind::none, ""},
    {outcome::stale, exclusion::kind::none, ""},
    {outcome::no_report, exclusion::kind::none, ""},
};

std::vector<expected> with_rest(std::vector<expected> first) {
    first.insert(first.end(), not_evaluated.begin(), not_evaluated.end());
    return first;
}

TEST(Impact, Ca000RequireMfaForAllUsers) {
    SKIP_WITHOUT_CORPUS();
    const auto d = load("CA000-Global-IdentityProtection-AnyApp-AnyPlatform-MFA.json");
    expect_fleet(d, with_rest({
                        {outcome::mfa_required, exclusion::kind::user, alpha_id},
                        {outcome::mfa_required, exclusion::kind::group, ca002_exclusion_group},
                        // the legacy sign-in cannot do MFA: blocked
                        {outcome::blocked, exclusion::kind::group, charlie_exclusion_group},
                    }));
    fleet f;
    const auto alpha = evaluate_tenant(d, f.inputs[0], now_ms);
    ASSERT_EQ(alpha.sign_ins.size(), 2u);
    EXPECT_EQ(alpha.sign_ins[0].matched, (std::vector<std::string>{"users", "application", "clientApps"}));
    EXPECT_TRUE(alpha.sign_ins[0].not_matched.empty());
    EXPECT_EQ(alpha.sign_ins[0].detail, "mfa");
    const auto charlie = evaluate_tenant(d, f.inputs[2], now_ms);
    ASSERT_EQ(charlie.sign_ins.size(), 3u);
    EXPECT_EQ(charlie.sign_ins[0].result, outcome::mfa_required);
    EXPECT_EQ(charlie.sign_ins[2].result, outcome::blocked);
    EXPECT_EQ(charlie.sign_ins[2].client_app_type, "other");
}

TEST(Impact, Ca001CountryWhitelistBlock) {
    SKIP_WITHOUT_CORPUS();
    const auto d = load("CA001-Global-AttackSurfaceReduction-AnyApp-AnyPlatform-BLOCK-CountryWhitelist.json");
    // alpha and bravo: the egress is unknown and the whitelist location is not in their tenant's
    // named locations: the draft may block them, never a guess either way.
    expect_fleet(d, with_rest({
                        {outcome::uncertain, exclusion::kind::user, alpha_id},
                        {outcome::uncertain, exclusion::kind::group, ca002_exclusion_group},
                        {outcome::unaffected, exclusion::kind::none, ""},
                    }));
    fleet f;
    const auto charlie = evaluate_tenant(d, f.inputs[2], now_ms);
    for (const auto& s : charlie.sign_ins) EXPECT_EQ(s.not_matched, (std::vector<std::string>{"location"}));
    const auto alpha = evaluate_tenant(d, f.inputs[0], now_ms);
    ASSERT_EQ(alpha.sign_ins.size(), 2u);
    EXPECT_EQ(alpha.sign_ins[0].undecided,
              (std::vector<std::string>{"location: named location " + std::string(whitelist_location) +
                                            " is not defined in this tenant",
                                        "location: the tool's egress (IP, country) is unknown"}));
}

TEST(Impact, Ca002BlockLegacyAuthentication) {
    SKIP_WITHOUT_CORPUS();
    const auto d = load("CA002-Global-IdentityProtection-AnyApp-AnyPlatform-Block-LegacyAuthentication.json");
    expect_fleet(d, with_rest({
                        {outcome::unaffected, exclusion::kind::none, ""},
                        {outcome::unaffected, exclusion::kind::none, ""},
                        {outcome::blocked, exclusion::kind::group, charlie_exclusion_group},
                    }));
    fleet f;
    const auto bravo = evaluate_tenant(d, f.inputs[1], now_ms);
    EXPECT_NE(bravo.reason.find("the draft excludes the account's group " + std::string(ca002_exclusion_group)),
              std::string::npos)
        << bravo.reason;
    const auto charlie = evaluate_tenant(d, f.inputs[2], now_ms);
    EXPECT_EQ(charlie.sign_ins[0].result, outcome::unaffected);
    EXPECT_EQ(charlie.sign_ins[0].not_matched, (std::vector<std::string>{"clientApps"}));
    EXPECT_EQ(charlie.sign_ins[2].matched, (std::vector<std::string>{"users", "application", "clientApps"}));
}

TEST(Impact, Ca101AdminsMfaByRole) {
    SKIP_WITHOUT_CORPUS();
    const auto d = load("CA101-Admins-IdentityProtection-AnyApp-AnyPlatform-MFA.json");
    expect_fleet(d, with_rest({
                        {outcome::unaffected, exclusion::kind::none, ""},
                        {outcome::mfa_required, exclusion::kind::group, ca002_exclusion_group},
                        {outcome::unaffected, exclusion::kind::none, ""},
                    }));
}

TEST(Impact, Ca300ServiceAccountsMfaByGroup) {
    SKIP_WITHOUT_CORPUS();
    const auto d = load("CA300-ServiceAccounts-IdentityProtection-AnyApp-AnyPlatform-MFA.json");
    expect_fleet(d, with_rest({
                        {outcome::unaffected, exclusion::kind::none, ""},
                        {outcome::unaffected, exclusion::kind::none, ""},
                        {outcome::mfa_required, exclusion::kind::group, charlie_exclusion_group},
                    }));
}

// A CIPP template (KelvinTegelaar/CIPP-API Config/*.CATemplate.json): no exclusion at all, so only
// the tenant whose tool signs in with a legacy protocol breaks.
TEST(Impact, CippBlockLegacyAuthenticationTemplate) {
    SKIP_WITHOUT_CORPUS();
    auto j = whatif::read_json_file(corpus / "KelvinTegelaar__CIPP-API" / "Config" /
                                    "f8be7e58-2419-40a8-a739-714bf5deff90.CATemplate.json");
    ASSERT_TRUE(j);
    auto d = compile_draft(j.value());
    ASSERT_TRUE(d) << d.err().message;
    EXPECT_EQ(label(d.value()), "CIPP: Block Legacy Authentication");
    expect_fleet(d.value(), with_rest({
                                {outcome::unaffected, exclusion::kind::none, ""},
                                {outcome::unaffected, exclusion::kind::none, ""},
                                {outcome::blocked, exclusion::kind::group, charlie_exclusion_group},
                            }));
}

TEST(Impact, NotEvaluatedTenantsSayWhy) {
    SKIP_WITHOUT_CORPUS();
    const auto d = load("CA000-Global-IdentityProtection-AnyApp-AnyPlatform-MFA.json");
    fleet f;
    const auto delta = evaluate_tenant(d, f.inputs[3], now_ms);
    EXPECT_TRUE(delta.sign_ins.empty());
    ASSERT_EQ(delta.missing.size(), 1u);
    EXPECT_NE(delta.reason.find("group memberships"), std::string::npos) << delta.reason;
    const auto echo = evaluate_tenant(d, f.inputs[4], now_ms);
    EXPECT_EQ(echo.reason, "the latest snapshot is 1800 s old, more than one poll interval (900 s)");
    auto fallback = f.inputs[4];
    fallback.max_age_is_poll_interval = false;
    EXPECT_EQ(evaluate_tenant(d, fallback, now_ms).reason,
              "the latest snapshot is 1800 s old, more than agents.silenceSeconds (the agent never said its poll "
              "interval; 900 s)");
    // A report from an agent that predates impact has no context: incomplete, not a guess.
    v1::ValidationReport old;
    old.set_account_object_id(alpha_id);
    const auto o = evaluate_tenant(d, {"old", &old, now_ms, poll_ms}, now_ms);
    EXPECT_EQ(o.result, outcome::incomplete);
    EXPECT_FALSE(breaks(o.result));
}

TEST(Impact, DraftStateIsForcedToEnabled) {
    nlohmann::json p = {{"displayName", "draft"},
                        {"state", "disabled"},
                        {"conditions",
                         {{"users", {{"includeUsers", {"All"}}}},
                          {"applications", {{"includeApplications", {"All"}}}},
                          {"clientAppTypes", {"all"}}}},
                        {"grantControls", {{"operator", "OR"}, {"builtInControls", {"block"}}}}};
    auto d = compile_draft(p);
    ASSERT_TRUE(d);
    EXPECT_EQ(d.value().declared_state, "disabled");
    fleet f;
    const auto t = evaluate_tenant(d.value(), f.inputs[0], now_ms);
    EXPECT_EQ(t.result, outcome::blocked);
    EXPECT_EQ(to_json(t)["exclusion"]["kind"], "excludeUsers");
    EXPECT_EQ(to_json(t)["exclusion"]["id"], alpha_id);
}

TEST(Impact, SecurityDefaultsOnAreNamedBesideTheVerdict) {
    nlohmann::json p = {{"displayName", "mfa for all"},
                        {"state", "enabled"},
                        {"conditions",
                         {{"users", {{"includeUsers", {"All"}}}},
                          {"applications", {{"includeApplications", {"All"}}}},
                          {"clientAppTypes", {"all"}}}},
                        {"grantControls", {{"operator", "OR"}, {"builtInControls", {"mfa"}}}}};
    auto d = compile_draft(p);
    ASSERT_TRUE(d);
    fleet f;
    // Off (or unknown): nothing to add to the verdict.
    const auto off = evaluate_tenant(d.value(), f.inputs[0], now_ms);
    EXPECT_EQ(off.result, outcome::mfa_required);
    EXPECT_TRUE(off.notes.empty());
    EXPECT_FALSE(to_json(off).contains("notes"));
    // On: the draft is still evaluated as enabled, and the answer says that Entra will not enable
    // it beside Security Defaults, which decide meanwhile.
    f.alpha.mutable_evaluation_context()->set_security_defaults_known(true);
    f.alpha.mutable_evaluation_context()->set_security_defaults_enabled(true);
    const auto on = evaluate_tenant(d.value(), f.inputs[0], now_ms);
    EXPECT_EQ(on.result, outcome::mfa_required);
    ASSERT_EQ(on.notes.size(), 1u);
    EXPECT_NE(on.notes[0].find("Security Defaults are on"), std::string::npos) << on.notes[0];
    EXPECT_NE(on.notes[0].find("cannot be enabled until they are turned off"), std::string::npos) << on.notes[0];
    ASSERT_EQ(to_proto(on).notes_size(), 1);
    EXPECT_EQ(to_proto(on).notes(0), on.notes[0]);
}

TEST(Impact, BadDraftsAreRefusedWithTheReason) {
    auto two = compile_draft(nlohmann::json::parse(
        R"([{"state":"enabled","conditions":{}},{"state":"enabled","conditions":{}}])"));
    ASSERT_FALSE(two);
    EXPECT_NE(two.err().message.find("holds 2 policies"), std::string::npos) << two.err().message;
    auto skeleton = compile_draft(nlohmann::json::parse(R"({"state":"string","conditions":{}})"));
    ASSERT_FALSE(skeleton);
    EXPECT_NE(skeleton.err().message.find("state"), std::string::npos) << skeleton.err().message;
    auto none = compile_draft(nlohmann::json::parse(R"({"value":[]})"));
    ASSERT_FALSE(none);
}

}  // namespace
}  // namespace connguard::coord::impact
