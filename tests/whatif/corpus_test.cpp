// The real policy sets in ../shared/reference/ca-policies: every file loads or is refused with a
// precise error; for each source, what applies to a break-glass account, a Global Administrator, a
// plain member and a guest, for Exchange Online, Microsoft Graph and Azure management, browser and
// legacy clients. Concrete expectations below were derived by reading the named policies.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "agent/whatif/loader.h"
#include "agent/whatif/whatif.h"
#include "common/text.h"

namespace connguard::whatif {
namespace {

namespace fs = std::filesystem;
const fs::path corpus = fs::path(CONNGUARD_SHARED_DIR) / "reference" / "ca-policies";

const char* const break_glass = "b9b9b9b9-0000-0000-0000-00000000b9b9";
const char* const admin = "a0a0a0a0-0000-0000-0000-00000000a0a0";
const char* const member = "c0c0c0c0-0000-0000-0000-00000000c0c0";
const char* const guest = "d0d0d0d0-0000-0000-0000-00000000d0d0";
const char* const global_admin_role = "62e90394-69f5-4237-9190-012177145e10";

#define SKIP_WITHOUT_CORPUS() \
    if (!fs::exists(corpus)) GTEST_SKIP() << "no policy corpus at " << corpus << " (../shared absent)"

struct source {
    std::string name;
    std::vector<policy> policies;  // in file-name order
};

std::vector<fs::path> json_files_under(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (e.is_regular_file() && e.path().extension() == ".json") out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

bool expected_refusal(const fs::path& f) {
    const auto s = f.string();
    return s.find(".INVALID.json") != std::string::npos || s.find("/resources/conditionalaccesspolicy/") != std::string::npos ||
           s.find("ACME-_ZTCA_") != std::string::npos;
}

std::map<std::string, source> load_corpus() {
    std::map<std::string, source> out;
    for (const auto& dir : fs::directory_iterator(corpus)) {
        if (!dir.is_directory()) continue;
        source s{dir.path().filename().string(), {}};
        for (const auto& f : json_files_under(dir.path())) {
            auto loaded = load_policies(f);
            if (!loaded) continue;
            for (auto& lp : loaded.value()) s.policies.push_back(std::move(lp.value));
        }
        out[s.name] = std::move(s);
    }
    return out;
}

const std::map<std::string, source>& sources() {
    static const auto all = load_corpus();
    return all;
}

directory people_for(const source& s) {
    directory d;
    user_facts bg;
    for (const auto& p : s.policies) {
        for (const auto& g : p.exclude_groups) bg.groups.insert(g.size() == 36 ? std::string(g) : g);
    }
    std::set<std::string> lowered;
    for (const auto& g : bg.groups) lowered.insert(to_lower(g));
    bg.groups = lowered;
    d.users[break_glass] = bg;
    user_facts ga;
    ga.roles.insert(global_admin_role);
    d.users[admin] = ga;
    user_facts g;
    g.guest = true;
    d.users[guest] = g;
    return d;
}

sign_in request(const std::string& user, const std::string& app, const std::string& client) {
    sign_in s;
    s.user_id = user;
    s.applications = {app};
    s.client_app_type = client;
    return s;
}

std::vector<policy> as_if_enabled(std::vector<policy> ps) {
    for (auto& p : ps) p.state = policy_state::enabled;
    return ps;
}

const policy_result* find(const evaluation& e, const std::string& name_prefix) {
    for (const auto& r : e.policies) {
        if (r.display_name.rfind(name_prefix, 0) == 0) return &r;
    }
    return nullptr;
}

// ---- loading ------------------------------------------------------------------------------------

TEST(WhatifCorpus, EveryFileLoadsOrIsRefusedPrecisely) {
    SKIP_WITHOUT_CORPUS();
    size_t files = 0, policies = 0, refused = 0;
    for (const auto& f : json_files_under(corpus)) {
        ++files;
        auto r = load_policies(f);
        if (r) {
            EXPECT_FALSE(expected_refusal(f)) << f << " was expected to be refused";
            EXPECT_FALSE(r->empty()) << f;
            policies += r->size();
            continue;
        }
        ++refused;
        EXPECT_TRUE(expected_refusal(f)) << r.err().message;
        EXPECT_NE(r.err().message.find(f.string()), std::string::npos) << "error names the file: " << r.err().message;
        if (f.string().find(".INVALID.json") != std::string::npos) {
            EXPECT_EQ(r.err().code, "whatif.json");
            EXPECT_NE(r.err().message.find("line 7"), std::string::npos) << r.err().message;
        } else {
            EXPECT_NE(r.err().message.find("state"), std::string::npos) << "schema skeleton refused on its state: " << r.err().message;
        }
    }
    EXPECT_GE(files, 250u);
    EXPECT_GE(policies, 250u);
    EXPECT_LE(refused, 5u);
}

TEST(WhatifCorpus, Utf16AndBomFilesLoad) {
    SKIP_WITHOUT_CORPUS();
    auto r = load_policies(corpus / "j0eyv__ConditionalAccessBaseline" / "Config" / "ConditionalAccess");
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->size(), 36u);
    EXPECT_EQ(r->front().value.display_name.rfind("CA000", 0), 0u) << "name order";
}

// ---- invariants for every source, person, resource and client -----------------------------------

TEST(WhatifCorpus, InvariantsHoldForEverySource) {
    SKIP_WITHOUT_CORPUS();
    ASSERT_GE(sources().size(), 10u);
    for (const auto& [name, src] : sources()) {
        const auto dir = people_for(src);
        for (const bool forced : {false, true}) {
            const auto ps = forced ? as_if_enabled(src.policies) : src.policies;
            for (const char* user : {break_glass, admin, member, guest}) {
                for (const char* app : {app_exchange_online, app_microsoft_graph, app_azure_management}) {
                    for (const char* client : {"browser", "mobileAppsAndDesktopClients", "other"}) {
                        const auto e = evaluate(ps, dir, request(user, app, client));
                        ASSERT_EQ(e.policies.size(), ps.size());
                        for (size_t i = 0; i < ps.size(); ++i) {
                            const auto& p = ps[i];
                            const auto& r = e.policies[i];
                            const std::string where = name + " / " + p.display_name + " / " + user + " / " + app + " / " + client;
                            if (p.state == policy_state::disabled) {
                                EXPECT_FALSE(r.applies) << where;
                                EXPECT_NE(r.analysis_reasons & reason_policy_not_enabled, 0u) << where;
                            } else {
                                EXPECT_EQ(r.applies, r.analysis_reasons == 0) << where;
                                EXPECT_EQ(r.uncertain, r.analysis_reasons == reason_not_enough_information) << where;
                            }
                            if (std::string(user) == break_glass && !p.exclude_groups.empty()) {
                                EXPECT_FALSE(r.applies) << "break-glass is in every excluded group: " << where;
                            }
                            if (!p.include_user_actions.empty() && p.include_applications.empty()) {
                                EXPECT_FALSE(r.applies) << where;
                            }
                        }
                        if (e.result.result == verdict_result::allowed) {
                            for (size_t i = 0; i < ps.size(); ++i) {
                                if (ps[i].state == policy_state::enabled && e.policies[i].applies) {
                                    EXPECT_EQ(e.policies[i].required, demand::none) << name << " / " << ps[i].display_name;
                                }
                            }
                        }
                        if (std::string(client) == "other") {
                            EXPECT_NE(e.result.result, verdict_result::mfa_required) << "legacy clients are blocked, not prompted";
                        }
                    }
                }
            }
            // A user named in excludeUsers is never subject to that policy.
            for (size_t i = 0; i < ps.size(); ++i) {
                for (const auto& x : ps[i].exclude_users) {
                    if (x.size() != 36) continue;
                    auto r = evaluate_policy(ps[i], dir, request(x, app_exchange_online, "browser"));
                    EXPECT_FALSE(r.applies) << name << " / " << ps[i].display_name;
                    EXPECT_NE(r.analysis_reasons & reason_users, 0u);
                }
            }
        }
    }
}

// ---- concrete expectations per source -----------------------------------------------------------

struct expectation_runner {
    const source& src;
    directory dir;
    bool forced;
    evaluation run(const char* user, const char* app, const char* client) const {
        return evaluate(forced ? as_if_enabled(src.policies) : src.policies, dir, request(user, app, client));
    }
};

expectation_runner runner(const std::string& name, bool forced = false) {
    const auto& s = sources().at(name);
    return expectation_runner{s, people_for(s), forced};
}

void expect_applies(const evaluation& e, const std::string& prefix, bool applies, const std::string& reasons = {}) {
    const auto* r = find(e, prefix);
    ASSERT_NE(r, nullptr) << "no policy named " << prefix;
    EXPECT_EQ(r->applies, applies) << prefix << ": " << reasons_to_string(r->analysis_reasons);
    if (!reasons.empty()) {
        EXPECT_EQ(reasons_to_string(r->analysis_reasons), reasons) << prefix;
    }
}

TEST(WhatifCorpus, GoodworkaroundStarterPack) {
    SKIP_WITHOUT_CORPUS();
    auto r = runner("goodworkaround__conditional-access-starter-pack");
    auto legacy = r.run(member, app_exchange_online, "other");
    expect_applies(legacy, "All apps - Block legacy authentication", true);
    EXPECT_EQ(legacy.result.result, verdict_result::blocked);
    auto browser = r.run(member, app_exchange_online, "browser");
    expect_applies(browser, "All apps - Block legacy authentication", false, "clientApps");
    expect_applies(browser, "All apps - Require MFA for all guests", false, "users");
    expect_applies(browser, "All apps - Require MFA or compliant device", true);
    expect_applies(browser, "Azure management - Require MFA for all users", false, "application");
    EXPECT_EQ(browser.result.result, verdict_result::mfa_required) << "mfa OR compliant device, no device";
    expect_applies(r.run(guest, app_microsoft_graph, "browser"), "All apps - Require MFA for all guests", true);
    expect_applies(r.run(member, app_azure_management, "browser"), "Azure management - Require MFA for all users", true);
}

TEST(WhatifCorpus, J0eyvBaseline) {
    SKIP_WITHOUT_CORPUS();
    auto r = runner("j0eyv__ConditionalAccessBaseline");
    auto modern = r.run(member, app_exchange_online, "mobileAppsAndDesktopClients");
    expect_applies(modern, "CA000-Global-IdentityProtection-AnyApp-AnyPlatform-MFA", true);
    expect_applies(modern, "CA003-Global-BaseProtection-RegisterOrJoin", false, "userActions");
    EXPECT_EQ(modern.result.result, verdict_result::mfa_required);
    auto legacy = r.run(member, app_exchange_online, "other");
    expect_applies(legacy, "CA002-Global-IdentityProtection-AnyApp-AnyPlatform-Block", true);
    EXPECT_EQ(legacy.result.result, verdict_result::blocked);
    auto bg = r.run(break_glass, app_exchange_online, "mobileAppsAndDesktopClients");
    EXPECT_EQ(bg.result.result, verdict_result::allowed) << "the break-glass account is excluded everywhere";
}

TEST(WhatifCorpus, Clutch2ViewReportOnly) {
    SKIP_WITHOUT_CORPUS();
    auto r = runner("Clutch2View__nis2-conditional-access-policies");
    auto legacy = r.run(member, app_exchange_online, "other");
    expect_applies(legacy, "CA001: Block Legacy Authentication", true);
    EXPECT_EQ(legacy.result.result, verdict_result::allowed) << "every policy is report-only";
    EXPECT_EQ(legacy.result.report_only_result, verdict_result::blocked);
    auto member_browser = r.run(member, app_microsoft_graph, "browser");
    expect_applies(member_browser, "CA002: Require MFA", true);
    expect_applies(member_browser, "CA003: Require MFA", false, "users");
    expect_applies(r.run(admin, app_microsoft_graph, "browser"), "CA003: Require MFA", true);
}

TEST(WhatifCorpus, CippTemplates) {
    SKIP_WITHOUT_CORPUS();
    auto r = runner("KelvinTegelaar__CIPP-API");
    auto legacy = r.run(member, app_exchange_online, "other");
    expect_applies(legacy, "CIPP: Block Legacy Authentication", true);
    EXPECT_EQ(legacy.result.result, verdict_result::blocked);
    auto browser = r.run(member, app_exchange_online, "browser");
    expect_applies(browser, "CIPP: Enforce Multi factor authentication for each", true);
    EXPECT_EQ(browser.result.result, verdict_result::mfa_required);
    expect_applies(browser, "Require MFA for Azure management", false, "application");
    expect_applies(r.run(member, app_azure_management, "browser"), "Require MFA for Azure management", true);
}

TEST(WhatifCorpus, AzureSamplesAsIfEnabled) {
    SKIP_WITHOUT_CORPUS();
    auto r = runner("Azure-Samples__azure-ad-conditional-access-apis", true);
    expect_applies(r.run(guest, app_exchange_online, "browser"), "Template 3 - Require MFA for Guest Access", true);
    expect_applies(r.run(member, app_exchange_online, "browser"), "Template 3 - Require MFA for Guest Access", false, "users");
    expect_applies(r.run(admin, app_microsoft_graph, "browser"), "Template 2 - Require MFA for Privileged Accounts", true);
    expect_applies(r.run(member, app_microsoft_graph, "browser"), "Template 2 - Require MFA for Privileged Accounts", false, "users");
    expect_applies(r.run(member, app_microsoft_graph, "browser"), "CA001: Require MFA for medium + sign-in risk", false,
                   "users,signInRisk");  // includes one group only, and risk defaults to none
}

TEST(WhatifCorpus, AlexFilipinAsIfEnabled) {
    SKIP_WITHOUT_CORPUS();
    auto r = runner("AlexFilipin__ConditionalAccess", true);
    auto e = r.run(member, app_exchange_online, "browser");
    expect_applies(e, "203 - <RING> - Base protection - All apps: Block access When high sign", false, "signInRisk");
    expect_applies(e, "202 - <RING> - Base protection - All apps: Require Strong Auth When me", false, "signInRisk");
    auto legacy = r.run(member, app_exchange_online, "other");
    EXPECT_EQ(legacy.result.result, verdict_result::blocked);
    auto as_is = runner("AlexFilipin__ConditionalAccess").run(member, app_exchange_online, "browser");
    EXPECT_EQ(as_is.result.result, verdict_result::allowed) << "every AlexFilipin policy is report-only";
}

TEST(WhatifCorpus, FortigiDisplayNamesAreNotIds) {
    SKIP_WITHOUT_CORPUS();
    auto r = runner("Fortigi__ConditionalAccess", true);
    auto e = r.run(member, app_exchange_online, "browser");
    expect_applies(e, "CA-01- All Apps - All Admins - Require MFA", false);
    const auto* p = find(e, "CA-01- All Apps - All Admins - Require MFA");
    ASSERT_NE(p, nullptr);
    EXPECT_NE(p->analysis_reasons & reason_users, 0u) << "'William Overweg' is not a user id";
    EXPECT_NE(p->analysis_reasons & reason_application, 0u) << "'Office 365' is not the Office365 app group";
}

TEST(WhatifCorpus, PhilippkohnAsIfEnabled) {
    SKIP_WITHOUT_CORPUS();
    auto r = runner("philippkohn__ConditionalAccessforZeroTrustResources", true);
    expect_applies(r.run(member, app_exchange_online, "browser"), "CA001-Global-BaseProtection-AllApps-AnyPlatform-Bl", true);
    expect_applies(r.run(break_glass, app_exchange_online, "browser"), "CA001-Global-BaseProtection-AllApps-AnyPlatform-Bl", false, "users");
    expect_applies(r.run(member, app_exchange_online, "browser"), "CA002-Global-AttackSurfaceReduction-VariousApps", false, "application");
}

TEST(WhatifCorpus, CloudshieldAsIfEnabled) {
    SKIP_WITHOUT_CORPUS();
    auto r = runner("Cloudshield-io__Conditional-Access-Framework", true);
    auto e = r.run(member, app_exchange_online, "browser");
    expect_applies(e, "CA004-CSB-L2-Global-IdentityProtection-AdminPortal", false, "application");
    expect_applies(e, "CA001-CSB-L1-Global-IdentityProtection-RegisterSec", false, "userActions");
    // Device filter (exclude company-owned compliant devices): no device info, so not decidable.
    expect_applies(e, "CA021-CSB-L3-Global-SessionProtection-AnyApp-AnyPl", false, "notEnoughInformation");
    expect_applies(r.run(member, app_exchange_online, "mobileAppsAndDesktopClients"),
                   "CA021-CSB-L3-Global-SessionProtection-AnyApp-AnyPl", false, "clientApps");
}

}  // namespace
}  // namespace connguard::whatif
