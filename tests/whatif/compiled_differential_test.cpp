// Differential test of the compiled evaluation form (agent/whatif/compiled.h, the evaluator of
// record) against the evaluator as it was before it (tests/whatif/reference_evaluate.cpp): for every
// policy of ../shared/reference/ca-policies and thousands of generated sign-ins (deterministic
// pseudo-random identities, groups, roles, guests, apps, client app types, platforms, locations,
// devices, risks, flows, directories) every per-policy result (applies, analysis reasons, uncertain,
// demand, detail, label) and every verdict (result, causes, uncertain, explanations, report-only)
// must be identical. No timing here: throughput lives in bench/whatif.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "agent/whatif/compiled.h"
#include "agent/whatif/loader.h"
#include "agent/whatif/whatif.h"
#include "common/text.h"
#include "tests/whatif/reference_evaluate.h"

// Heap allocations so far (tests/whatif/alloc_counter.cpp replaces operator new for this binary).
std::size_t allocations_so_far();

namespace connguard::whatif {
namespace {

namespace fs = std::filesystem;
const fs::path corpus = fs::path(CONNGUARD_SHARED_DIR) / "reference" / "ca-policies";

#define SKIP_WITHOUT_CORPUS() \
    if (!fs::exists(corpus)) GTEST_SKIP() << "no policy corpus at " << corpus << " (../shared absent)"

/// Every policy of the corpus, files in sorted path order.
std::vector<policy> corpus_policies() {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(corpus)) {
        if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    std::vector<policy> out;
    for (const auto& f : files) {
        auto r = load_policies(f);
        if (!r) continue;
        for (auto& lp : r.value()) out.push_back(std::move(lp.value));
    }
    return out;
}

/// splitmix64: deterministic on every platform (std distributions are not).
struct rng {
    std::uint64_t state;
    std::uint64_t next() {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
    bool chance(int percent) { return below(100) < static_cast<std::size_t>(percent); }
    template <class T>
    const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }
};

/// Mixed case, to exercise the case-insensitive id comparisons.
std::string recase(rng& r, const std::string& s) {
    if (!r.chance(20)) return s;
    std::string out = s;
    for (auto& c : out) {
        if (c >= 'a' && c <= 'z' && r.chance(50)) c = static_cast<char>(c - 32);
        else if (c >= 'A' && c <= 'Z' && r.chance(50)) c = static_cast<char>(c + 32);
    }
    return out;
}

/// The ids the corpus mentions, plus some it does not.
struct pools {
    std::vector<std::string> users, groups, roles, apps, service_principals, locations, terms, factors, tenants;
    std::vector<std::string> user_actions, auth_contexts;

    explicit pools(const std::vector<policy>& ps) {
        std::set<std::string> u, g, ro, a, sp, l, t, f, tn, ua, ac;
        for (const auto& p : ps) {
            u.insert(p.include_users.begin(), p.include_users.end());
            u.insert(p.exclude_users.begin(), p.exclude_users.end());
            g.insert(p.include_groups.begin(), p.include_groups.end());
            g.insert(p.exclude_groups.begin(), p.exclude_groups.end());
            ro.insert(p.include_roles.begin(), p.include_roles.end());
            ro.insert(p.exclude_roles.begin(), p.exclude_roles.end());
            a.insert(p.include_applications.begin(), p.include_applications.end());
            a.insert(p.exclude_applications.begin(), p.exclude_applications.end());
            sp.insert(p.include_service_principals.begin(), p.include_service_principals.end());
            sp.insert(p.exclude_service_principals.begin(), p.exclude_service_principals.end());
            l.insert(p.include_locations.begin(), p.include_locations.end());
            l.insert(p.exclude_locations.begin(), p.exclude_locations.end());
            ua.insert(p.include_user_actions.begin(), p.include_user_actions.end());
            ac.insert(p.include_authentication_contexts.begin(), p.include_authentication_contexts.end());
            for (const auto* gs : {&p.include_guests, &p.exclude_guests}) {
                if (*gs) tn.insert((*gs)->tenant_ids.begin(), (*gs)->tenant_ids.end());
            }
            if (p.grant) {
                t.insert(p.grant->terms_of_use.begin(), p.grant->terms_of_use.end());
                f.insert(p.grant->custom_authentication_factors.begin(), p.grant->custom_authentication_factors.end());
            }
        }
        for (const auto& x : office365_apps()) a.insert(x);
        for (const auto& x : admin_portal_apps()) a.insert(x);
        a.insert({app_microsoft_graph, app_azure_management, app_azure_ad_graph, "12345678-aaaa-bbbb-cccc-000000000001"});
        u.insert("eeeeeeee-0000-0000-0000-000000000001");
        g.insert("eeeeeeee-0000-0000-0000-0000000000g1");
        ro.insert({"62e90394-69f5-4237-9190-012177145e10", "194ae4cb-b126-40b2-bd5b-6091b380977d",
                   role_directory_synchronization_accounts, "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"});
        sp.insert("eeeeeeee-0000-0000-0000-0000000000s1");
        l.insert("eeeeeeee-0000-0000-0000-0000000000l1");
        tn.insert({"eeeeeeee-0000-0000-0000-0000000000t1", "eeeeeeee-0000-0000-0000-0000000000t2"});
        ua.insert({"urn:user:registersecurityinfo", "urn:user:registerdevice"});
        ac.insert({"c1", "c2"});
        t.insert("eeeeeeee-0000-0000-0000-0000000000a1");
        f.insert("factorX");
        users.assign(u.begin(), u.end());
        groups.assign(g.begin(), g.end());
        roles.assign(ro.begin(), ro.end());
        apps.assign(a.begin(), a.end());
        service_principals.assign(sp.begin(), sp.end());
        locations.assign(l.begin(), l.end());
        terms.assign(t.begin(), t.end());
        factors.assign(f.begin(), f.end());
        tenants.assign(tn.begin(), tn.end());
        user_actions.assign(ua.begin(), ua.end());
        auth_contexts.assign(ac.begin(), ac.end());
    }
};

cidr range(const std::string& text) {
    auto r = parse_cidr(text);
    EXPECT_TRUE(r.ok()) << text;
    return r.ok() ? r.value() : cidr{};
}

/// A directory describing some of the corpus' locations and users.
directory make_directory(rng& r, const pools& p, int variant) {
    directory d;
    d.security_defaults_enabled = variant % 2 == 1;
    if (variant % 3 != 0) d.mfa_trusted_ips = {range("198.51.100.0/24")};
    for (std::size_t i = 0; i < p.locations.size(); ++i) {
        if (!r.chance(60)) continue;
        named_location l;
        l.id = to_lower(p.locations[i]);
        switch (r.below(4)) {
            case 0:
                l.type = named_location::kind::ip;
                l.is_trusted = r.chance(50);
                l.ip_ranges = {range(r.chance(50) ? "203.0.113.0/24" : "2001:db8::/32")};
                break;
            case 1:
                l.type = named_location::kind::ip;
                l.ip_ranges = {range("192.0.2.0/24")};
                break;
            case 2:
                l.type = named_location::kind::country;
                l.countries = r.chance(50) ? std::vector<std::string>{"NL", "BE"} : std::vector<std::string>{"US"};
                break;
            default: l.type = named_location::kind::unknown; break;
        }
        d.named_locations.push_back(std::move(l));
    }
    for (std::size_t i = 0; i < p.users.size(); ++i) {
        if (!r.chance(70)) continue;
        user_facts f;
        f.guest = r.chance(25);
        if (r.chance(25)) f.external_user_type = r.pick(std::vector<std::string>{
                              "internalGuest", "b2bCollaborationGuest", "b2bCollaborationMember", "b2bDirectConnectUser",
                              "otherExternalUser", "serviceProvider"});
        if (r.chance(40)) f.external_tenant_id = r.pick(p.tenants);
        for (int k = 0, n = static_cast<int>(r.below(4)); k < n; ++k) f.groups.insert(recase(r, r.pick(p.groups)));
        for (int k = 0, n = static_cast<int>(r.below(3)); k < n; ++k) f.roles.insert(recase(r, r.pick(p.roles)));
        f.per_user_mfa_state = static_cast<per_user_mfa>(r.below(3));
        f.is_mfa_registered = r.chance(70);
        d.users[to_lower(p.users[i])] = std::move(f);
    }
    return d;
}

template <class T>
std::optional<T> maybe(rng& r, int percent, const T& value) {
    return r.chance(percent) ? std::optional<T>(value) : std::nullopt;
}

sign_in make_sign_in(rng& r, const pools& p) {
    sign_in s;
    s.identity_kind = r.chance(90) ? sign_in::identity::user : sign_in::identity::service_principal;
    s.user_id = recase(r, r.pick(p.users));
    if (r.chance(15)) s.external_user_type = r.pick(std::vector<std::string>{"none", "None", "internalGuest",
                                                                             "b2bCollaborationGuest", "otherExternalUser"});
    if (r.chance(15)) s.external_tenant_id = r.pick(p.tenants);
    s.service_principal_id = r.pick(p.service_principals);
    switch (r.below(10)) {
        case 0:
            s.context_kind = sign_in::context::user_action;
            s.user_action = r.pick(std::vector<std::string>{"registerSecurityInformation", "registerOrJoinDevices",
                                                            r.pick(p.user_actions)});
            break;
        case 1:
            s.context_kind = sign_in::context::authentication_context;
            s.authentication_context = r.pick(p.auth_contexts);
            break;
        default:
            s.context_kind = sign_in::context::application;
            for (int k = 0, n = 1 + static_cast<int>(r.below(r.chance(80) ? 1 : 3)); k < n; ++k)
                s.applications.push_back(recase(r, r.pick(p.apps)));
            if (r.chance(3)) s.applications.clear();
            break;
    }
    s.client_app_type = maybe<std::string>(
        r, 85, r.pick(std::vector<std::string>{"browser", "mobileAppsAndDesktopClients", "exchangeActiveSync",
                                               "easSupported", "other", "Browser"}));
    s.device_platform = maybe<std::string>(
        r, 70, r.pick(std::vector<std::string>{"android", "iOS", "windows", "macOS", "linux", "windowsPhone", "Windows"}));
    s.ip_address = maybe<std::string>(
        r, 70, r.pick(std::vector<std::string>{"203.0.113.9", "198.51.100.7", "192.0.2.1", "2001:db8::1", "10.0.0.1"}));
    s.country = maybe<std::string>(r, 60, r.pick(std::vector<std::string>{"NL", "US", "BE", "DE"}));
    const std::vector<std::string> levels = {"none", "low", "medium", "high", "High"};
    s.sign_in_risk = r.pick(levels);
    s.user_risk = r.pick(levels);
    s.service_principal_risk = r.pick(levels);
    s.insider_risk = r.pick(std::vector<std::string>{"none", "minor", "moderate", "elevated"});
    s.authentication_flow = r.pick(std::vector<std::string>{"none", "none", "deviceCodeFlow", "authenticationTransfer"});
    if (r.chance(40)) {
        device_info d;
        if (r.chance(70)) d.is_compliant = r.chance(50);
        if (r.chance(70)) d.trust_type = r.pick(std::vector<std::string>{"AzureAD", "ServerAD", "Workplace"});
        d.properties = nlohmann::json::object();
        if (d.is_compliant) d.properties["isCompliant"] = *d.is_compliant;
        if (d.trust_type) d.properties["trustType"] = *d.trust_type;
        if (r.chance(50)) d.properties["operatingSystem"] = r.pick(std::vector<std::string>{"Windows", "iOS", "Android"});
        if (r.chance(40)) d.properties["extensionAttribute1"] = r.pick(std::vector<std::string>{"PAW", "Kiosk", "x"});
        if (r.chance(40)) d.properties["displayName"] = r.pick(std::vector<std::string>{"PAW-01", "LAPTOP-7"});
        if (r.chance(30)) d.properties["deviceOwnership"] = r.pick(std::vector<std::string>{"Company", "Personal"});
        if (r.chance(30)) d.properties["model"] = "Surface";
        d.approved_application = r.chance(30);
        d.compliant_application = r.chance(30);
        d.password_changed = r.chance(20);
        if (r.chance(30)) d.accepted_terms_of_use = {recase(r, r.pick(p.terms))};
        if (r.chance(20)) d.custom_factors = {r.pick(p.factors)};
        s.device = std::move(d);
    }
    s.bound_token = r.chance(15);
    return s;
}

void expect_same(const policy_result& want, const policy_result& got, const std::string& where) {
    EXPECT_EQ(want.id, got.id) << where;
    EXPECT_EQ(want.label, got.label) << where;
    EXPECT_EQ(want.display_name, got.display_name) << where;
    EXPECT_EQ(want.state, got.state) << where;
    EXPECT_EQ(want.applies, got.applies) << where;
    EXPECT_EQ(reasons_to_string(want.analysis_reasons), reasons_to_string(got.analysis_reasons)) << where;
    EXPECT_EQ(want.uncertain, got.uncertain) << where;
    EXPECT_EQ(to_string(want.required), to_string(got.required)) << where;
    EXPECT_EQ(want.detail, got.detail) << where;
}

void expect_same(const evaluation& want, const evaluation& got, const std::string& where) {
    ASSERT_EQ(want.policies.size(), got.policies.size()) << where;
    for (std::size_t i = 0; i < want.policies.size(); ++i)
        expect_same(want.policies[i], got.policies[i], where + " policy " + want.policies[i].label);
    EXPECT_EQ(to_string(want.result.result), to_string(got.result.result)) << where;
    EXPECT_EQ(want.result.causes, got.result.causes) << where;
    EXPECT_EQ(want.result.uncertain, got.result.uncertain) << where;
    EXPECT_EQ(want.result.explanations, got.result.explanations) << where;
    EXPECT_EQ(to_string(want.result.report_only_result), to_string(got.result.report_only_result)) << where;
    EXPECT_EQ(want.result.report_only_policies, got.result.report_only_policies) << where;
    EXPECT_EQ(want.result.report_only_causes, got.result.report_only_causes) << where;
    EXPECT_EQ(to_graph_json(want).dump(), to_graph_json(got).dump()) << where;
}

/// Policies exercising what the corpus rarely or never does (added to the mixed tenant, compared too).
std::vector<policy> edge_policies() {
    const char* const texts[] = {
        R"({"id":"edge-eas","state":"enabled","conditions":{"users":{"includeUsers":["All"]},
            "applications":{"includeApplications":["All"]},"clientAppTypes":["easSupported"]},
            "grantControls":{"operator":"OR","builtInControls":["mfa"]}})",
        R"({"id":"edge-eas-unsupported","state":"enabledForReportingButNotEnforced","conditions":{
            "users":{"includeUsers":["All"]},"applications":{"includeApplications":["Office365"]},
            "clientAppTypes":["easUnsupported","Browser"]},"grantControls":{"operator":"AND",
            "builtInControls":["compliantDevice","domainJoinedDevice"]}})",
        R"({"id":"edge-guests","state":"enabled","conditions":{"users":{"includeGuestsOrExternalUsers":{
            "guestOrExternalUserTypes":"internalGuest,b2bCollaborationGuest,otherExternalUser",
            "externalTenants":{"membershipKind":"enumerated","members":["eeeeeeee-0000-0000-0000-0000000000t1"]}},
            "excludeGuestsOrExternalUsers":{"guestOrExternalUserTypes":["b2bCollaborationMember"]}},
            "applications":{"includeApplications":["All"],"excludeApplications":["MicrosoftAdminPortals"]},
            "clientAppTypes":["all"]},"grantControls":{"operator":"OR","builtInControls":["block"]}})",
        R"({"id":"edge-users","state":"enabled","conditions":{"users":{"includeUsers":["GuestsOrExternalUsers",
            "eeeeeeee-0000-0000-0000-000000000001"],"excludeUsers":["None"],"includeRoles":["62E90394-69F5-4237-9190-012177145E10"],
            "excludeGroups":["eeeeeeee-0000-0000-0000-0000000000g1"]},"applications":{"includeApplications":["MicrosoftAdminPortals",
            "00000003-0000-0000-c000-000000000000"],"excludeApplications":["Office365"]},"clientAppTypes":["browser",
            "mobileAppsAndDesktopClients"],"platforms":{"includePlatforms":["all"],"excludePlatforms":["iOS"]},
            "locations":{"includeLocations":["AllTrusted","eeeeeeee-0000-0000-0000-0000000000l1"],
            "excludeLocations":["00000000-0000-0000-0000-000000000000"]}},
            "grantControls":{"operator":"OR","builtInControls":["approvedApplication","compliantApplication"],
            "termsOfUse":["eeeeeeee-0000-0000-0000-0000000000a1"],"customAuthenticationFactors":["factorX"]}})",
        R"({"id":"edge-app-filter","state":"enabled","conditions":{"users":{"includeUsers":["All"]},
            "applications":{"includeApplications":["All"],"applicationFilter":{"mode":"exclude","rule":"x"}},
            "devices":{"deviceFilter":{"mode":"include","rule":"device.trustType -eq \"ServerAD\" -or device.isCompliant -eq True"}},
            "signInRiskLevels":["high","medium"],"userRiskLevels":["HIGH"],"insiderRiskLevels":["elevated"]},
            "grantControls":{"operator":"AND","builtInControls":["mfa","passwordChange"]}})",
        R"({"id":"edge-app-filter-include","state":"disabled","conditions":{"users":{"includeUsers":["All"]},
            "applications":{"includeApplications":[],"applicationFilter":{"mode":"include","rule":"x"}},
            "deviceStates":{"includeStates":["All"],"excludeStates":["Compliant","DomainJoined"]},
            "authenticationFlows":{"transferMethods":"deviceCodeFlow,authenticationTransfer"}},
            "grantControls":{"operator":"OR","builtInControls":["mfa"]}})",
        R"({"id":"edge-token-protection","state":"enabled","conditions":{"users":{"includeUsers":["All"]},
            "applications":{"includeApplications":["Office365"]},"clientAppTypes":["mobileAppsAndDesktopClients"]},
            "grantControls":{"operator":"OR","builtInControls":["compliantDevice"],"authenticationStrength":{
            "id":"00000000-0000-0000-0000-000000000002","displayName":"Multifactor authentication"}},
            "sessionControls":{"secureSignInSession":{"isEnabled":true}}})",
        R"({"id":"edge-workload","state":"enabled","conditions":{"clientApplications":{"includeServicePrincipals":
            ["ServicePrincipalsInMyTenant"],"excludeServicePrincipals":["eeeeeeee-0000-0000-0000-0000000000s1"]},
            "applications":{"includeApplications":["All"]},"servicePrincipalRiskLevels":["high","low"]},
            "grantControls":{"operator":"OR","builtInControls":["block"]}})",
        R"({"displayName":"edge-no-id","state":"enabled","conditions":{"users":{"includeUsers":["All"]},
            "applications":{"includeUserActions":["urn:user:registersecurityinfo"]}},
            "grantControls":{"operator":"OR","builtInControls":["mfa"]}})",
        R"({"state":"enabledForReportingButNotEnforced","conditions":{"users":{"includeUsers":["All"]},
            "applications":{"includeAuthenticationContextClassReferences":["c1"]}},"grantControls":null})",
    };
    std::vector<policy> out;
    for (const char* t : texts) {
        auto r = parse_policy(nlohmann::json::parse(t));
        EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
        if (r.ok()) out.push_back(std::move(r.value()));
    }
    return out;
}

constexpr int directories = 6;
// The full sample proves equality in the normal build; under ASan+UBSan (≈ 10× slower here) a
// quarter of it still walks every corpus policy through every code path for memory errors.
#if defined(__SANITIZE_ADDRESS__)
constexpr int sign_ins_per_directory = 175;
#else
constexpr int sign_ins_per_directory = 700;
#endif

TEST(CompiledDifferential, EveryCorpusPolicyAndVerdictMatchesTheReferenceOnGeneratedSignIns) {
    SKIP_WITHOUT_CORPUS();
    const auto ps = corpus_policies();
    ASSERT_GE(ps.size(), 250u) << "the corpus should hold its 259 policies";
    const pools p(ps);
    rng r{20260216};

    // One compiled set, one prepared sign-in and one result buffer reused for every sign-in: what a
    // hot caller does; any state leaking from one sign-in to the next shows up as a difference.
    const compiled_policy_set all = compile(ps);
    std::vector<policy> tenant(ps.begin(), ps.begin() + 36);
    for (std::size_t i = 36; i < ps.size(); i += 7) tenant.push_back(ps[i]);  // a second, mixed tenant
    for (auto& e : edge_policies()) tenant.push_back(std::move(e));
    tenant.push_back(policy{});                                               // no id, no name: "policy #N"
    const compiled_policy_set mixed = compile(tenant);
    prepared_sign_in u;
    compiled_evaluation out;
    evaluation strings;

    std::size_t applied = 0, uncertain = 0, verdicts_not_allowed = 0, settings_causes = 0;
    for (int dv = 0; dv < directories; ++dv) {
        const directory dir = make_directory(r, p, dv);
        for (int k = 0; k < sign_ins_per_directory; ++k) {
            const sign_in s = make_sign_in(r, p);
            const std::string where = "directory " + std::to_string(dv) + " sign-in " + std::to_string(k);

            const evaluation want = connguard::test::reference::evaluate(ps, dir, s);
            prepare(all, dir, s, u);
            evaluate_into(all, u, out);
            materialize_into(all, u, out, strings);  // reused too
            expect_same(want, strings, where + " (corpus)");
            if (::testing::Test::HasFailure()) return;  // one diverging sign-in is enough to read

            const evaluation want_tenant = connguard::test::reference::evaluate(tenant, dir, s);
            prepare(mixed, dir, s, u);
            evaluate_into(mixed, u, out);
            expect_same(want_tenant, materialize(mixed, u, out), where + " (tenant)");
            if (k % 50 == 0) expect_same(want_tenant, evaluate(tenant, dir, s), where + " (evaluate)");
            if (k % 10 == 0) {
                const auto& one = ps[r.below(ps.size())];
                expect_same(connguard::test::reference::evaluate_policy(one, dir, s), evaluate_policy(one, dir, s),
                            where + " (evaluate_policy)");
            }
            if (::testing::Test::HasFailure()) return;

            for (const auto& pr : want.policies) {
                applied += pr.applies ? 1 : 0;
                uncertain += pr.uncertain ? 1 : 0;
            }
            verdicts_not_allowed += want.result.result != verdict_result::allowed ? 1 : 0;
            for (const auto& c : want.result.causes)
                settings_causes += (c == cause_security_defaults || c == cause_per_user_mfa) ? 1 : 0;
        }
    }
    // The generator must reach the interesting cases, or the comparison proves little.
    EXPECT_GT(applied, 1000u);
    EXPECT_GT(uncertain, 1000u);
    EXPECT_GT(verdicts_not_allowed, 100u);
    EXPECT_GT(settings_causes, 50u);
    std::cout << "[ compared  ] " << directories * sign_ins_per_directory << " sign-ins x " << ps.size()
              << " policies; applies " << applied << ", uncertain " << uncertain << ", verdicts not allowed "
              << verdicts_not_allowed << "\n";
}

/// Security Defaults and per-user MFA: every combination, with no policy and with the edge policies
/// (needs no corpus).
TEST(CompiledDifferential, SettingsMatchTheReferenceInEveryCombination) {
    const std::vector<std::vector<std::string>> role_sets = {
        {},
        {"62E90394-69F5-4237-9190-012177145E10"},
        {"62e90394-69f5-4237-9190-012177145e10", "194ae4cb-b126-40b2-bd5b-6091b380977d"},
        {"194ae4cb-b126-40b2-bd5b-6091b380977d", "f28a1f50-f6e7-4571-818b-6a12f2af6b6c", "29232cdf-9323-42fd-ade2-1d097af3e4de"},
        {role_directory_synchronization_accounts, "62e90394-69f5-4237-9190-012177145e10"},
    };
    const std::vector<policy> edges = edge_policies();
    const std::vector<policy> none;
    int compared = 0;
    for (bool sd : {false, true}) {
        for (int mfa_state = 0; mfa_state < 3; ++mfa_state) {
            for (bool registered : {false, true}) {
                for (const auto& roles : role_sets) {
                    directory dir;
                    dir.security_defaults_enabled = sd;
                    user_facts f;
                    f.per_user_mfa_state = static_cast<per_user_mfa>(mfa_state);
                    f.is_mfa_registered = registered;
                    f.roles.insert(roles.begin(), roles.end());
                    dir.users["aaaaaaaa-0000-0000-0000-000000000001"] = f;
                    for (const char* client : {"browser", "exchangeActiveSync", "other", ""}) {
                        for (const char* app : {app_exchange_online, app_azure_management}) {
                            sign_in s;
                            s.user_id = "AAAAAAAA-0000-0000-0000-000000000001";
                            s.applications = {app};
                            if (*client != 0) s.client_app_type = client;
                            const std::string where = std::string("sd ") + (sd ? "on" : "off") + " per-user " +
                                                      std::to_string(mfa_state) + " registered " +
                                                      (registered ? "yes" : "no") + " roles " +
                                                      std::to_string(roles.size()) + " client '" + client + "' app " + app;
                            expect_same(connguard::test::reference::evaluate(none, dir, s), evaluate(none, dir, s), where);
                            expect_same(connguard::test::reference::evaluate(edges, dir, s), evaluate(edges, dir, s),
                                        where + " (edge policies)");
                            ++compared;
                        }
                    }
                }
            }
        }
    }
    EXPECT_EQ(compared, 2 * 3 * 2 * 5 * 4 * 2);
}

/// The hot path: once the caller's storage has grown, preparing a sign-in (one without deviceInfo,
/// Security Defaults or per-user MFA, whose explanations are strings) and evaluating every compiled
/// corpus policy and the verdict allocates nothing.
TEST(CompiledDifferential, EvaluatingCompiledPoliciesDoesNotAllocate) {
    SKIP_WITHOUT_CORPUS();
    const auto ps = corpus_policies();
    const compiled_policy_set set = compile(ps);
    auto parsed = parse_directory(nlohmann::json::parse(R"({"users":{"aaaaaaaa-0000-0000-0000-000000000001":{
        "groups":["11111111-0000-0000-0000-000000000001"],"roles":["62e90394-69f5-4237-9190-012177145e10"]}}})"));
    ASSERT_TRUE(parsed.ok());
    const directory dir = parsed.value();
    sign_in s;
    s.user_id = "aaaaaaaa-0000-0000-0000-000000000001";
    s.applications = {app_exchange_online, app_microsoft_graph};
    s.client_app_type = "mobileAppsAndDesktopClients";
    s.device_platform = "windows";
    s.ip_address = "203.0.113.9";
    s.country = "NL";
    prepared_sign_in u;
    compiled_evaluation e;
    prepare(set, dir, s, u);
    evaluate_into(set, u, e);  // grows the storage
    const std::size_t before = allocations_so_far();
    std::uint32_t any = 0;
    for (int i = 0; i < 10; ++i) {
        prepare(set, dir, s, u);
        evaluate_into(set, u, e);
        for (const auto& cp : set.policies) any |= evaluate_compiled(cp, u).analysis_reasons;
    }
    EXPECT_EQ(allocations_so_far() - before, 0u);
    EXPECT_NE(any, 0u);
    const std::size_t mark = allocations_so_far();  // the counter does count: a fresh string form allocates
    EXPECT_EQ(materialize(set, u, e).policies.size(), ps.size());
    EXPECT_GT(allocations_so_far(), mark);

    // The string form into reused storage: nothing either, once grown (this sign-in involves no
    // Security Defaults / per-user MFA explanation).
    evaluation strings;
    materialize_into(set, u, e, strings);
    const std::size_t again = allocations_so_far();
    for (int i = 0; i < 10; ++i) {
        prepare(set, dir, s, u);
        evaluate_into(set, u, e);
        materialize_into(set, u, e, strings);
    }
    EXPECT_EQ(allocations_so_far() - again, 0u);
    EXPECT_EQ(strings.policies.size(), ps.size());
}

TEST(CompiledDifferential, EvaluatingACompiledPolicyTwiceGivesTheSameOutcome) {
    SKIP_WITHOUT_CORPUS();
    const auto ps = corpus_policies();
    const compiled_policy_set set = compile(ps);
    directory dir;
    sign_in s;
    s.user_id = "aaaaaaaa-0000-0000-0000-000000000001";
    s.applications = {app_exchange_online};
    s.client_app_type = "browser";
    prepared_sign_in u;
    prepare(set, dir, s, u);
    for (const auto& cp : set.policies) {
        const auto a = evaluate_compiled(cp, u);
        const auto b = evaluate_compiled(cp, u);
        EXPECT_EQ(a.analysis_reasons, b.analysis_reasons) << cp.label;
        EXPECT_EQ(a.required, b.required) << cp.label;
    }
}

}  // namespace
}  // namespace connguard::whatif
