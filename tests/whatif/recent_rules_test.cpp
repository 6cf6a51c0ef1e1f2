// What changed 2024-2026 (graph.md §11): Microsoft-managed policies, agent identities, token
// protection, authentication flows, Security Defaults without a registration grace and with the
// Directory Synchronization Accounts exemption, baseline scopes, and causes that are never empty.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/whatif/whatif_test_util.h"

namespace connguard::whatif {
namespace {

using namespace test;
using nlohmann::json;

std::string reasons(const policy_result& r) { return reasons_to_string(r.analysis_reasons); }

bool mentions(const std::vector<std::string>& lines, const std::string& text) {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(text) != std::string::npos; });
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

directory user_directory(const std::string& facts, bool security_defaults = false) {
    return make_directory(std::string(R"({"securityDefaultsEnabled": )") + (security_defaults ? "true" : "false") +
                          R"(, "users": {")" + user_a + R"(": )" + facts + "}}");
}

// ---- 1. policy fields ---------------------------------------------------------------------------

TEST(WhatifPolicyFields, TemplateIdAndTimestampsAsGraphSentThem) {
    auto p = make_policy("p", [](json& j) {
        j["templateId"] = "4200930c-0da2-4e33-ca01-000000000007";
        j["createdDateTime"] = "2025-11-06T10:11:12.1234567Z";
        j["modifiedDateTime"] = "2026-01-02T03:04:05Z";
    });
    EXPECT_EQ(p.template_id, "4200930c-0da2-4e33-ca01-000000000007");
    EXPECT_EQ(p.created_date_time, "2025-11-06T10:11:12.1234567Z");
    EXPECT_EQ(p.modified_date_time, "2026-01-02T03:04:05Z");

    auto nulls = make_policy("q", [](json& j) {
        j["templateId"] = nullptr;
        j["createdDateTime"] = nullptr;
    });
    EXPECT_EQ(nulls.template_id, "");
    EXPECT_EQ(nulls.created_date_time, "");
    EXPECT_EQ(nulls.modified_date_time, "") << "absent";

    for (const char* key : {"templateId", "createdDateTime", "modifiedDateTime"}) {
        auto bad = parse_policy(policy_json("p", [&](json& j) { j[key] = 42; }));
        ASSERT_FALSE(bad.ok()) << key;
        EXPECT_NE(bad.err().message.find(std::string("policy 'Policy p': ") + key + ": expected a string"), std::string::npos)
            << bad.err().message;
    }
}

TEST(WhatifPolicyFields, SecureSignInSessionIsEnabledOnlyWhenIsEnabledIsTrue) {
    EXPECT_TRUE(make_policy("p", [](json& j) { j["sessionControls"] = {{"secureSignInSession", {{"isEnabled", true}}}}; })
                    .secure_sign_in_session);
    EXPECT_TRUE(make_policy("p", [](json& j) {
                    j["sessionControls"] = {{"SecureSignInSession", {{"isEnabled", "true"}}}};
                }).secure_sign_in_session)
        << "mis-cased key and a \"true\" string are tolerated like elsewhere";
    const json falses[] = {
        json(nullptr),
        json::object(),
        json::array(),
        json{{"secureSignInSession", nullptr}},
        json{{"secureSignInSession", json::object()}},
        json{{"secureSignInSession", json::array()}},
        json{{"secureSignInSession", {{"isEnabled", false}}}},
        json{{"secureSignInSession", {{"isEnabled", nullptr}}}},
        json{{"signInFrequency", {{"value", 4}, {"type", "hours"}, {"isEnabled", true}}}},
    };
    for (const auto& sc : falses) {
        EXPECT_FALSE(make_policy("p", [&](json& j) { j["sessionControls"] = sc; }).secure_sign_in_session) << sc.dump();
    }
    EXPECT_FALSE(make_policy("p").secure_sign_in_session) << "no sessionControls at all";

    auto bad_session = parse_policy(policy_json("p", [](json& j) { j["sessionControls"] = "on"; }));
    ASSERT_FALSE(bad_session.ok());
    EXPECT_NE(bad_session.err().message.find("sessionControls: expected an object"), std::string::npos)
        << bad_session.err().message;
    auto bad_secure = parse_policy(policy_json("p", [](json& j) { j["sessionControls"] = {{"secureSignInSession", 1}}; }));
    ASSERT_FALSE(bad_secure.ok());
    EXPECT_NE(bad_secure.err().message.find("sessionControls.secureSignInSession: expected an object"), std::string::npos)
        << bad_secure.err().message;
    auto bad_flag = parse_policy(
        policy_json("p", [](json& j) { j["sessionControls"] = {{"secureSignInSession", {{"isEnabled", 1}}}}; }));
    ASSERT_FALSE(bad_flag.ok());
    EXPECT_NE(bad_flag.err().message.find("policy 'Policy p': sessionControls.secureSignInSession.isEnabled"),
              std::string::npos)
        << bad_flag.err().message;
}

TEST(WhatifPolicyFields, AgentConditionsAreFoundWhereverTheyAppear) {
    struct place {
        const char* where;  // "", "users", "clientApplications"
        const char* key;
        json value;
    };
    const std::vector<place> configured = {
        {"", "agents", {{"includeAgentUsers", {"All"}}, {"excludeAgentUsers", json::array()}, {"agentFilter", nullptr}}},
        {"", "agentIdRiskLevels", "medium,high"},
        {"", "agentIdRiskLevels", {"high"}},
        {"", "includeAgentIdServicePrincipals", {"All"}},
        {"", "agentIdServicePrincipalFilter", {{"mode", "include"}, {"rule", "CustomSecurityAttribute.x -eq \"y\""}}},
        {"users", "includeAgentIdServicePrincipals", {"All"}},
        {"users", "excludeAgentIdServicePrincipals", {"11111111-0000-0000-0000-000000000001"}},
        {"users", "agentIdRiskLevels", "high"},
        {"users", "agents", {{"includeAgentUsers", {"All"}}}},
        {"clientApplications", "includeAgentIdServicePrincipals", {"All"}},
        {"clientApplications", "excludeAgentIdServicePrincipals", {"11111111-0000-0000-0000-000000000001"}},
        {"clientApplications", "agentIdServicePrincipalFilter", {{"mode", "exclude"}, {"rule", "x -eq \"y\""}}},
        {"clientApplications", "agentIdRiskLevels", "medium"},
        {"clientApplications", "agents", {{"includeAgentUsers", {"All"}}}},
    };
    auto edit_at = [](json& j, const place& pl) {
        if (std::string(pl.where).empty()) j["conditions"][pl.key] = pl.value;
        else j["conditions"][pl.where][pl.key] = pl.value;
    };
    for (const auto& pl : configured) {
        auto p = make_policy("p", [&](json& j) { edit_at(j, pl); });
        EXPECT_TRUE(p.targets_agents) << pl.where << "." << pl.key << " = " << pl.value.dump();
    }
    const std::vector<place> empty = {
        {"", "agents", nullptr},
        {"", "agents", json::object()},
        {"", "agents",
         {{"@odata.type", "#microsoft.graph.conditionalAccessAgents"},
          {"includeAgentUsers@odata.type", "#Collection(String)"},
          {"includeAgentUsers", json::array()},
          {"excludeAgentUsers", json::array()},
          {"agentFilter", nullptr}}},
        {"", "agentIdRiskLevels", ""},
        {"", "agentIdRiskLevels", "none"},
        {"", "agentIdRiskLevels", json::array()},
        {"users", "includeAgentIdServicePrincipals", json::array()},
        {"clientApplications", "includeAgentIdServicePrincipals", json::array()},
        {"clientApplications", "agentIdServicePrincipalFilter", nullptr},
        {"clientApplications", "agentIdServicePrincipalFilter", {{"mode", "include"}, {"rule", ""}}},
    };
    for (const auto& pl : empty) {
        auto p = make_policy("p", [&](json& j) { edit_at(j, pl); });
        EXPECT_FALSE(p.targets_agents) << pl.where << "." << pl.key << " = " << pl.value.dump();
    }
    EXPECT_FALSE(make_policy("p").targets_agents);

    auto bad = parse_policy(policy_json("p", [](json& j) { j["conditions"]["clientApplications"] = {{"includeAgentIdServicePrincipals", 7}}; }));
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.err().message.find("conditions.clientApplications.includeAgentIdServicePrincipals"), std::string::npos)
        << bad.err().message;
}

TEST(WhatifPolicyFields, MicrosoftManagedByTemplateIdOrDisplayName) {
    EXPECT_TRUE(is_microsoft_managed(make_policy("p", [](json& j) { j["templateId"] = "4200930c-0da2-4e33-ca01-000000000007"; })));
    EXPECT_TRUE(is_microsoft_managed(make_policy("p", [](json& j) { j["templateId"] = "4200930C-0DA2-4E33-CA01-000000000001"; })))
        << "template ids compare ignoring case";
    EXPECT_TRUE(is_microsoft_managed(make_policy("p", [](json& j) {
        j["displayName"] = "Microsoft-managed: Multifactor authentication for admins accessing Microsoft Admin Portals";
    })));
    EXPECT_FALSE(is_microsoft_managed(make_policy("p", [](json& j) { j["templateId"] = "a4072ac0-722b-4991-981b-7f9755daef14"; })))
        << "a gallery template is not Microsoft-managed";
    EXPECT_FALSE(is_microsoft_managed(make_policy("p", [](json& j) { j["displayName"] = "CA001: not Microsoft-managed: really"; })));
    EXPECT_FALSE(is_microsoft_managed(make_policy("p", [](json& j) { j["templateId"] = "4200930c-0da2-4e33"; })))
        << "a prefix of the prefix is not enough";
    EXPECT_FALSE(is_microsoft_managed(make_policy("p")));
}

// ---- 2. agent identities ------------------------------------------------------------------------

TEST(WhatifAgents, AgentIdentityPoliciesNeverApplyToAUserSignIn) {
    const std::vector<std::function<void(json&)>> edits = {
        [](json& j) { j["conditions"]["agents"] = {{"includeAgentUsers", {"All"}}}; },
        [](json& j) { j["conditions"]["agentIdRiskLevels"] = "medium,high"; },
        [](json& j) { j["conditions"]["clientApplications"] = {{"includeAgentIdServicePrincipals", {"All"}}}; },
        [](json& j) { j["conditions"]["users"]["excludeAgentIdServicePrincipals"] = {"11111111-0000-0000-0000-000000000001"}; },
    };
    for (size_t i = 0; i < edits.size(); ++i) {
        auto p = make_policy("agents", [&](json& j) {
            edits[i](j);
            j["grantControls"]["builtInControls"] = {"block"};  // includeUsers stays "All"
        });
        ASSERT_TRUE(p.targets_agents) << i;
        auto e = evaluate({p}, {}, make_sign_in());
        EXPECT_FALSE(e.policies[0].applies) << i;
        EXPECT_EQ(reasons(e.policies[0]), "users") << i;
        EXPECT_EQ(e.result.result, verdict_result::allowed) << i;
        EXPECT_TRUE(e.result.uncertain.empty()) << i;
    }
}

TEST(WhatifAgents, CloudshieldAgentPolicyShape) {
    // CA601 (Cloudshield): users None, clientApplications.includeAgentIdServicePrincipals All, AllAgentIdResources.
    auto p = make_policy("ca601", [](json& j) {
        j["conditions"]["users"]["includeUsers"] = {"None"};
        j["conditions"]["agents"] = nullptr;
        j["conditions"]["applications"]["includeApplications"] = {"AllAgentIdResources"};
        j["conditions"]["clientApplications"] = {{"includeServicePrincipals", json::array()},
                                                 {"includeAgentIdServicePrincipals", {"All"}},
                                                 {"excludeServicePrincipals", json::array()}};
        j["grantControls"]["builtInControls"] = {"block"};
    });
    EXPECT_TRUE(p.targets_agents);
    EXPECT_TRUE(p.include_service_principals.empty()) << "agent ids are not service principal ids";
    auto r = evaluate_policy(p, {}, make_sign_in());
    EXPECT_EQ(reasons(r), "users,application");
    sign_in sp;
    sp.identity_kind = sign_in::identity::service_principal;
    sp.service_principal_id = "22222222-0000-0000-0000-000000000002";
    sp.applications = {app_microsoft_graph};
    EXPECT_NE(evaluate_policy(p, {}, sp).analysis_reasons & reason_workload_identities, 0u)
        << "nor to an app-only service principal";
}

// ---- 3. token protection ------------------------------------------------------------------------

policy token_protection(const std::string& id, const std::function<void(json&)>& more = {}) {
    return make_policy(id, [&](json& j) {
        j["grantControls"] = nullptr;
        j["sessionControls"] = {{"secureSignInSession", {{"isEnabled", true}}}};
        if (more) more(j);
    });
}

TEST(WhatifTokenProtection, PasswordTokensAreBlockedAtExchangeSharePointAndTeams) {
    const auto p = token_protection("tp");
    for (const char* app : {app_exchange_online, app_sharepoint_online, app_teams, app_teams_services}) {
        auto e = evaluate({p}, {}, make_sign_in(app));
        EXPECT_TRUE(e.policies[0].applies) << app;
        EXPECT_EQ(e.policies[0].required, demand::block) << app;
        EXPECT_EQ(e.result.result, verdict_result::blocked) << app;
        EXPECT_EQ(e.result.causes, (std::vector<std::string>{"tp"})) << app;
        EXPECT_TRUE(mentions(e.result.explanations, "token protection")) << joined(e.result.explanations);
        EXPECT_TRUE(mentions(e.result.explanations, "a password (ROPC) token is never bound")) << joined(e.result.explanations);
    }
    EXPECT_EQ(token_protection_apps().size(), 4u);
}

TEST(WhatifTokenProtection, OtherResourcesAndBoundTokensAreUnaffected) {
    const auto p = token_protection("tp");
    for (const char* app : {app_microsoft_graph, app_azure_management, app_azure_ad_graph}) {
        auto e = evaluate({p}, {}, make_sign_in(app));
        EXPECT_TRUE(e.policies[0].applies) << app;
        EXPECT_EQ(e.result.result, verdict_result::allowed) << app;
    }
    auto bound = make_sign_in(app_exchange_online);
    bound.bound_token = true;
    EXPECT_EQ(evaluate({p}, {}, bound).result.result, verdict_result::allowed);
    EXPECT_FALSE(sign_in{}.bound_token) << "a password token is never bound: the default";

    auto with_mfa = token_protection("tpm", [](json& j) { j["grantControls"] = {{"operator", "OR"}, {"builtInControls", {"mfa"}}}; });
    EXPECT_EQ(evaluate({with_mfa}, {}, make_sign_in(app_exchange_online)).result.result, verdict_result::blocked)
        << "block is stronger than the MFA it also asks for";
    EXPECT_EQ(evaluate({with_mfa}, {}, make_sign_in(app_microsoft_graph)).result.result, verdict_result::mfa_required);
    EXPECT_EQ(evaluate({with_mfa}, {}, bound).result.result, verdict_result::mfa_required);

    auto graph_only = token_protection("tpg", [](json& j) {
        j["conditions"]["applications"]["includeApplications"] = {app_sharepoint_online};
    });
    EXPECT_EQ(evaluate({graph_only}, {}, make_sign_in(app_exchange_online)).result.result, verdict_result::allowed)
        << "the policy does not cover Exchange Online";
    auto excluded = token_protection("tpx", [](json& j) { j["conditions"]["users"]["excludeUsers"] = {user_a}; });
    EXPECT_EQ(evaluate({excluded}, {}, make_sign_in(app_exchange_online)).result.result, verdict_result::allowed);
}

TEST(WhatifTokenProtection, ReportOnlyCountsInTheReportOnlyVerdictAndDisabledNowhere) {
    auto ro = token_protection("tp-ro", [](json& j) {
        j["state"] = "enabledForReportingButNotEnforced";
        j["conditions"]["applications"]["includeApplications"] = {"Office365"};
    });
    auto e = evaluate({ro}, {}, make_sign_in(app_sharepoint_online));
    EXPECT_EQ(e.result.result, verdict_result::allowed);
    EXPECT_EQ(e.result.report_only_result, verdict_result::blocked);
    EXPECT_EQ(e.result.report_only_causes, (std::vector<std::string>{"tp-ro"}));
    auto off = token_protection("tp-off", [](json& j) { j["state"] = "disabled"; });
    auto d = evaluate({off}, {}, make_sign_in(app_exchange_online));
    EXPECT_EQ(d.result.result, verdict_result::allowed);
    EXPECT_EQ(d.result.report_only_result, verdict_result::allowed);
}

TEST(WhatifTokenProtection, RequestAcceptsBoundTokenAsAConnGuardExtension) {
    auto request = [](const json& conditions) {
        json j = {{"signInIdentity", {{"@odata.type", "#microsoft.graph.userSignIn"}, {"userId", user_a}}},
                  {"signInContext",
                   {{"@odata.type", "#microsoft.graph.applicationContext"}, {"includeApplications", {app_exchange_online}}}},
                  {"signInConditions", conditions}};
        return parse_evaluate_request(j);
    };
    auto plain = request({{"clientAppType", "mobileAppsAndDesktopClients"}});
    ASSERT_TRUE(plain.ok()) << plain.err().message;
    EXPECT_FALSE(plain->bound_token);
    auto in_device = request({{"deviceInfo", {{"isCompliant", true}, {"boundToken", true}}}});
    ASSERT_TRUE(in_device.ok()) << in_device.err().message;
    EXPECT_TRUE(in_device->bound_token);
    auto top = request({{"boundToken", true}});
    ASSERT_TRUE(top.ok()) << top.err().message;
    EXPECT_TRUE(top->bound_token);
    EXPECT_FALSE(top->device.has_value()) << "boundToken outside deviceInfo says nothing about a device";
    auto bad = request({{"deviceInfo", {{"boundToken", 3}}}});
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.err().message.find("signInConditions.deviceInfo.boundToken"), std::string::npos) << bad.err().message;

    const auto p = token_protection("tp");
    EXPECT_EQ(evaluate({p}, {}, *plain).result.result, verdict_result::blocked);
    EXPECT_EQ(evaluate({p}, {}, *in_device).result.result, verdict_result::allowed);
}

// ---- 4. authentication flows --------------------------------------------------------------------

TEST(WhatifAuthenticationFlows, TransferMethodsMatchTheRequestsFlow) {
    auto request = [](const std::string& method) {
        json j = {{"signInIdentity", {{"@odata.type", "#microsoft.graph.userSignIn"}, {"userId", user_a}}},
                  {"signInContext", {{"includeApplications", {app_exchange_online}}}},
                  {"signInConditions", {{"clientAppType", "mobileAppsAndDesktopClients"}}}};
        if (!method.empty()) j["signInConditions"]["authenticationFlow"] = {{"transferMethod", method}};
        auto r = parse_evaluate_request(j);
        EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
        return r.ok() ? r.value() : sign_in{};
    };
    auto device_code = make_policy("dcf", [](json& j) {
        j["conditions"]["authenticationFlows"] = {{"transferMethods", "deviceCodeFlow"}};
        j["grantControls"]["builtInControls"] = {"block"};
    });
    EXPECT_TRUE(evaluate_policy(device_code, {}, request("deviceCodeFlow")).applies);
    EXPECT_TRUE(evaluate_policy(device_code, {}, request("DeviceCodeFlow")).applies) << "any case";
    EXPECT_EQ(request("DEVICECODEFLOW").authentication_flow, "deviceCodeFlow");
    EXPECT_EQ(reasons(evaluate_policy(device_code, {}, request("none"))), "authenticationFlow");
    EXPECT_EQ(reasons(evaluate_policy(device_code, {}, request(""))), "authenticationFlow") << "absent means none";
    EXPECT_EQ(reasons(evaluate_policy(device_code, {}, request("authenticationTransfer"))), "authenticationFlow");
    EXPECT_EQ(evaluate({device_code}, {}, request("deviceCodeFlow")).result.result, verdict_result::blocked);
    EXPECT_EQ(evaluate({device_code}, {}, request("none")).result.result, verdict_result::allowed);

    auto both = make_policy("both", [](json& j) {
        j["conditions"]["authenticationFlows"] = {{"transferMethods", "deviceCodeFlow,authenticationTransfer"}};
    });
    EXPECT_TRUE(evaluate_policy(both, {}, request("authenticationTransfer")).applies);
    EXPECT_TRUE(evaluate_policy(both, {}, request("deviceCodeFlow")).applies);
    EXPECT_FALSE(evaluate_policy(both, {}, request("none")).applies);
    auto array = make_policy("arr", [](json& j) {
        j["conditions"]["authenticationFlows"] = {{"transferMethods", {"authenticationTransfer"}}};
    });
    EXPECT_TRUE(evaluate_policy(array, {}, request("authenticationTransfer")).applies);
    EXPECT_FALSE(evaluate_policy(array, {}, request("deviceCodeFlow")).applies);
    auto none_only = make_policy("none", [](json& j) { j["conditions"]["authenticationFlows"] = {{"transferMethods", "none"}}; });
    EXPECT_TRUE(evaluate_policy(none_only, {}, request("")).applies) << "transferMethods none is not configured";
}

// ---- 5. Security Defaults now -------------------------------------------------------------------

TEST(WhatifSecurityDefaultsNow, UnregisteredUserMustRegisterWithoutGrace) {
    auto d = user_directory(R"({"isMfaRegistered": false})", true);
    auto e = evaluate({}, d, make_sign_in());
    EXPECT_EQ(e.result.result, verdict_result::mfa_registration_required);
    EXPECT_EQ(e.result.causes, (std::vector<std::string>{cause_security_defaults}));
    EXPECT_TRUE(mentions(e.result.explanations, "register")) << joined(e.result.explanations);
    EXPECT_FALSE(mentions(e.result.explanations, "14 days")) << joined(e.result.explanations);
    EXPECT_FALSE(mentions(e.result.explanations, "14-day")) << joined(e.result.explanations);
    EXPECT_EQ(e.result.report_only_result, verdict_result::mfa_registration_required);
    EXPECT_EQ(evaluate({}, d, make_sign_in(app_microsoft_graph, "browser")).result.result,
              verdict_result::mfa_registration_required);
    auto legacy = evaluate({}, d, make_sign_in(app_exchange_online, "other"));
    EXPECT_EQ(legacy.result.result, verdict_result::blocked) << "legacy authentication stays blocked (530035)";
    EXPECT_EQ(evaluate({}, user_directory(R"({"isMfaRegistered": true})", true), make_sign_in()).result.result,
              verdict_result::allowed)
        << "a registered plain member: 'MFA when necessary' is not predicted";
    EXPECT_EQ(evaluate({}, user_directory(R"({"isMfaRegistered": false})", false), make_sign_in()).result.result,
              verdict_result::allowed)
        << "Security Defaults off";
}

TEST(WhatifSecurityDefaultsNow, DirectorySynchronizationAccountsAreExempt) {
    EXPECT_STREQ(role_directory_synchronization_accounts, "d29b2b05-8046-44ba-8758-1e26182fcf32");
    const std::string sync = std::string(R"({"isMfaRegistered": false, "roles": [")") +
                             role_directory_synchronization_accounts + R"(", ")" + global_admin + R"("]})";
    auto d = user_directory(sync, true);
    for (const char* app : {app_exchange_online, app_microsoft_graph, app_azure_management}) {
        for (const char* client : {"browser", "mobileAppsAndDesktopClients", "other", "exchangeActiveSync"}) {
            auto e = evaluate({}, d, make_sign_in(app, client));
            EXPECT_EQ(e.result.result, verdict_result::allowed) << app << " " << client << ": " << joined(e.result.explanations);
        }
    }
    auto upper = user_directory(R"({"roles": ["D29B2B05-8046-44BA-8758-1E26182FCF32"]})", true);
    EXPECT_EQ(evaluate({}, upper, make_sign_in(app_exchange_online, "other")).result.result, verdict_result::allowed)
        << "role ids compare ignoring case";
    auto per_user = user_directory(std::string(R"({"perUserMfaState": "enforced", "roles": [")") +
                                       role_directory_synchronization_accounts + R"("]})",
                                   true);
    auto e = evaluate({}, per_user, make_sign_in());
    EXPECT_EQ(e.result.result, verdict_result::mfa_required) << "the exemption is from Security Defaults only";
    EXPECT_EQ(e.result.causes, (std::vector<std::string>{cause_per_user_mfa}));
    EXPECT_EQ(evaluate({make_policy("ca")}, d, make_sign_in()).result.result, verdict_result::mfa_registration_required)
        << "nor from Conditional Access";
}

// ---- 6. baseline scopes -------------------------------------------------------------------------

TEST(WhatifBaselineScopes, OnlyBaselineScopes) {
    EXPECT_TRUE(only_baseline_scopes({"openid", "profile", "email", "offline_access", "User.Read"}));
    EXPECT_TRUE(only_baseline_scopes({"OPENID", "user.read"}));
    EXPECT_TRUE(only_baseline_scopes({"https://graph.microsoft.com/User.Read", "openid"}));
    EXPECT_TRUE(only_baseline_scopes({"openid profile offline_access"})) << "a space-separated scope string";
    EXPECT_FALSE(only_baseline_scopes({}));
    EXPECT_FALSE(only_baseline_scopes({""}));
    EXPECT_FALSE(only_baseline_scopes({"openid", "Mail.Read"}));
    EXPECT_FALSE(only_baseline_scopes({"https://graph.microsoft.com/.default"}));
    EXPECT_FALSE(only_baseline_scopes({"User.ReadBasic.All"}));
    EXPECT_FALSE(only_baseline_scopes({"https://outlook.office365.com/User.Read"})) << "not a Graph permission";
}

TEST(WhatifBaselineScopes, AllResourcesWithExclusionsAppliesToAzureAdGraph) {
    EXPECT_EQ(std::string(app_azure_ad_graph), "00000002-0000-0000-c000-000000000000");
    EXPECT_EQ(app_name(app_azure_ad_graph), "Windows Azure Active Directory");
    auto p = make_policy("all-but-exo", [](json& j) {
        j["displayName"] = "All resources excluding Exchange Online: require MFA";
        j["conditions"]["applications"]["excludeApplications"] = {app_exchange_online};
    });
    auto e = evaluate({p}, {}, make_sign_in(app_azure_ad_graph));
    EXPECT_TRUE(e.policies[0].applies) << reasons(e.policies[0]);
    EXPECT_EQ(e.result.result, verdict_result::mfa_required);
    EXPECT_FALSE(evaluate_policy(p, {}, make_sign_in(app_exchange_online)).applies);
    auto o365 = make_policy("o365", [](json& j) { j["conditions"]["applications"]["includeApplications"] = {"Office365"}; });
    EXPECT_FALSE(evaluate_policy(o365, {}, make_sign_in(app_azure_ad_graph)).applies) << "Azure AD Graph is not in Office365";
}

// ---- 7. causes are never empty ------------------------------------------------------------------

TEST(WhatifLabels, PolicyWithoutIdIsNamedByDisplayNameOrIndex) {
    auto named = make_policy("x", [](json& j) {
        j.erase("id");
        j["displayName"] = "CA018: Require Token Protection";
    });
    auto anonymous = make_policy("y", [](json& j) {
        j.erase("id");
        j.erase("displayName");
        j["grantControls"]["builtInControls"] = {"block"};
    });
    auto with_id = make_policy("has-id", [](json& j) { j["grantControls"]["builtInControls"] = {"block"}; });
    ASSERT_TRUE(named.id.empty());
    ASSERT_TRUE(anonymous.id.empty() && anonymous.display_name.empty());

    auto e = evaluate({named, with_id, anonymous}, {}, make_sign_in());
    EXPECT_EQ(e.policies[0].id, "") << "the raw id stays as given";
    EXPECT_EQ(e.policies[0].label, "CA018: Require Token Protection");
    EXPECT_EQ(e.policies[1].label, "has-id");
    EXPECT_EQ(e.policies[2].id, "");
    EXPECT_EQ(e.policies[2].label, "policy #2");
    EXPECT_EQ(e.result.result, verdict_result::blocked);
    EXPECT_EQ(e.result.causes, (std::vector<std::string>{"has-id", "policy #2"}));
    EXPECT_EQ(e.result.report_only_causes, (std::vector<std::string>{"has-id", "policy #2"}));
    EXPECT_EQ(evaluate_policy(anonymous, {}, make_sign_in()).label, "policy #0");

    auto mfa_only = evaluate({named}, {}, make_sign_in());
    EXPECT_EQ(mfa_only.result.causes, (std::vector<std::string>{"CA018: Require Token Protection"}));
    EXPECT_TRUE(mentions(mfa_only.result.explanations, "policy 'CA018: Require Token Protection' requires MFA"))
        << joined(mfa_only.result.explanations);

    auto ro = anonymous;
    ro.state = policy_state::report_only;
    auto maybe = make_policy("m", [](json& j) {
        j.erase("id");
        j["conditions"]["platforms"] = {{"includePlatforms", {"android"}}};
    });
    auto r = evaluate({ro, maybe}, {}, make_sign_in());
    EXPECT_EQ(r.result.report_only_policies, (std::vector<std::string>{"policy #0"}));
    EXPECT_EQ(r.result.report_only_causes, (std::vector<std::string>{"policy #0"}));
    EXPECT_EQ(r.result.uncertain, (std::vector<std::string>{"Policy m"}));
    for (const auto* list : {&r.result.causes, &r.result.uncertain, &r.result.report_only_policies, &r.result.report_only_causes}) {
        for (const auto& x : *list) EXPECT_FALSE(x.empty());
    }
}

}  // namespace
}  // namespace connguard::whatif
