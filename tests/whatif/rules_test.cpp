// One focused test per documented evaluation rule (graph.md §4, §5, §6; issue 4's contract).
#include <gtest/gtest.h>

#include "tests/whatif/whatif_test_util.h"

namespace connguard::whatif {
namespace {

using namespace test;
using nlohmann::json;

policy_result one(const policy& p, const directory& d = {}, const sign_in& s = make_sign_in()) {
    return evaluate_policy(p, d, s);
}
std::string reasons(const policy_result& r) { return reasons_to_string(r.analysis_reasons); }

// ---- policy-level applicability ------------------------------------------------------------

TEST(WhatifRules, UnconfiguredConditionsApplyToEverything) {
    auto r = one(make_policy("p"));
    EXPECT_TRUE(r.applies);
    EXPECT_EQ(reasons(r), "notSet");
}

TEST(WhatifRules, ConditionsAreAndedAndEveryFailingOneIsNamed) {
    auto p = make_policy("p", [](json& j) {
        j["conditions"]["users"]["includeUsers"] = {"None"};
        j["conditions"]["applications"]["includeApplications"] = {app_sharepoint_online};
        j["conditions"]["clientAppTypes"] = {"browser"};
    });
    auto r = one(p);
    EXPECT_FALSE(r.applies);
    EXPECT_EQ(reasons(r), "users,application,clientApps");
}

TEST(WhatifRules, ExclusionBeatsInclusion) {
    auto p = make_policy("p", [](json& j) {
        j["conditions"]["users"]["includeUsers"] = {user_a};
        j["conditions"]["users"]["excludeUsers"] = {user_a};
    });
    EXPECT_EQ(reasons(one(p)), "users");
}

TEST(WhatifRules, GroupsAreTransitiveViaTheDirectory) {
    auto p = make_policy("p", [](json& j) { j["conditions"]["users"]["excludeGroups"] = {group_g}; });
    auto d = make_directory(R"({"users": {")" + std::string(user_a) + R"(": {"groups": [")" + group_g + R"("]}}})");
    EXPECT_EQ(reasons(one(p, d)), "users");
    EXPECT_TRUE(one(p).applies) << "a user not in the group is not excluded";
}

TEST(WhatifRules, IncludeUsersNoneMatchesNobody) {
    auto p = make_policy("p", [](json& j) { j["conditions"]["users"]["includeUsers"] = {"None"}; });
    EXPECT_EQ(reasons(one(p)), "users");
}

TEST(WhatifRules, RolesAreActiveRoleTemplateIds) {
    auto p = make_policy("p", [](json& j) {
        j["conditions"]["users"]["includeUsers"] = json::array();
        j["conditions"]["users"]["includeRoles"] = {global_admin};
    });
    EXPECT_EQ(reasons(one(p)), "users");
    auto d = make_directory(R"({"users": {")" + std::string(user_a) + R"(": {"roles": [")" + global_admin + R"("]}}})");
    EXPECT_TRUE(one(p, d).applies);
}

TEST(WhatifRules, GuestsOrExternalUsersKeywordMatchesGuestsOnly) {
    auto p = make_policy("p", [](json& j) { j["conditions"]["users"]["includeUsers"] = {"GuestsOrExternalUsers"}; });
    EXPECT_EQ(reasons(one(p)), "users");
    auto d = make_directory(R"({"users": {")" + std::string(user_a) + R"(": {"userType": "guest"}}})");
    EXPECT_TRUE(one(p, d).applies);
}

TEST(WhatifRules, GuestSelectorMatchesGuestKindAndTenants) {
    auto p = make_policy("p", [](json& j) {
        j["conditions"]["users"]["includeUsers"] = json::array();
        j["conditions"]["users"]["includeGuestsOrExternalUsers"] = {
            {"guestOrExternalUserTypes", "internalGuest,b2bCollaborationGuest"},
            {"externalTenants", {{"@odata.type", "#microsoft.graph.conditionalAccessAllExternalTenants"}, {"membershipKind", "all"}}}};
    });
    auto guest = make_directory(R"({"users": {")" + std::string(user_a) + R"(": {"userType": "guest"}}})");
    EXPECT_TRUE(one(p, guest).applies) << "guests default to b2bCollaborationGuest";
    auto direct = make_directory(R"({"users": {")" + std::string(user_a) +
                                 R"(": {"userType": "guest", "externalUserType": "b2bDirectConnectUser"}}})");
    EXPECT_EQ(reasons(one(p, direct)), "users");
    EXPECT_EQ(reasons(one(p)), "users") << "members are not guests";

    auto enumerated = make_policy("q", [](json& j) {
        j["conditions"]["users"]["includeUsers"] = json::array();
        j["conditions"]["users"]["includeGuestsOrExternalUsers"] = {
            {"guestOrExternalUserTypes", "b2bCollaborationGuest"},
            {"externalTenants", {{"membershipKind", "enumerated"}, {"members", {"tenant-1"}}}}};
    });
    auto r = one(enumerated, guest);
    EXPECT_FALSE(r.applies);
    EXPECT_EQ(reasons(r), "notEnoughInformation") << "the guest's home tenant is unknown";
    auto s = make_sign_in();
    s.external_tenant_id = "tenant-1";
    EXPECT_TRUE(one(enumerated, guest, s).applies);
}

TEST(WhatifRules, Office365GroupHasExchangeButNotGraphOrAzureManagement) {
    auto p = make_policy("p", [](json& j) { j["conditions"]["applications"]["includeApplications"] = {"Office365"}; });
    EXPECT_TRUE(one(p).applies);
    EXPECT_EQ(reasons(one(p, {}, make_sign_in(app_microsoft_graph))), "application");
    EXPECT_EQ(reasons(one(p, {}, make_sign_in(app_azure_management))), "application");
    EXPECT_TRUE(one(p, {}, make_sign_in("00000002-0000-0FF1-CE00-000000000000")).applies) << "app ids in any case";
}

TEST(WhatifRules, ExcludeApplicationsOffice365ExcludesExchange) {
    auto p = make_policy("p", [](json& j) { j["conditions"]["applications"]["excludeApplications"] = {"Office365"}; });
    EXPECT_EQ(reasons(one(p)), "application");
    EXPECT_TRUE(one(p, {}, make_sign_in(app_microsoft_graph)).applies);
}

TEST(WhatifRules, MicrosoftAdminPortalsIsNotExchangeOrGraph) {
    auto p = make_policy("p", [](json& j) { j["conditions"]["applications"]["includeApplications"] = {"MicrosoftAdminPortals"}; });
    EXPECT_EQ(reasons(one(p)), "application");
    EXPECT_EQ(reasons(one(p, {}, make_sign_in(app_microsoft_graph))), "application");
    EXPECT_TRUE(one(p, {}, make_sign_in("c44b4083-3bb0-49c1-b47d-974e53cbdf3c")).applies);
}

TEST(WhatifRules, UserActionsNeverMatchAnApplicationSignIn) {
    auto p = make_policy("p", [](json& j) {
        j["conditions"]["applications"] = {{"includeApplications", json::array()},
                                           {"includeUserActions", {"urn:user:registersecurityinfo"}}};
    });
    EXPECT_EQ(reasons(one(p)), "userActions");
    auto s = make_sign_in();
    s.context_kind = sign_in::context::user_action;
    s.applications.clear();
    s.user_action = "registerSecurityInformation";
    EXPECT_TRUE(one(p, {}, s).applies);
}

TEST(WhatifRules, AuthenticationContextsNeverMatchAnApplicationSignIn) {
    auto p = make_policy("p", [](json& j) {
        j["conditions"]["applications"] = {{"includeApplications", json::array()},
                                           {"includeAuthenticationContextClassReferences", {"c1"}}};
    });
    EXPECT_EQ(reasons(one(p)), "authenticationContext");
}

TEST(WhatifRules, WorkloadIdentityPoliciesNeverMatchAUserSignIn) {
    auto p = make_policy("p", [](json& j) {
        j["conditions"]["users"] = nullptr;
        j["conditions"]["clientApplications"] = {{"includeServicePrincipals", {"ServicePrincipalsInMyTenant"}}};
        j["grantControls"]["builtInControls"] = {"block"};
    });
    EXPECT_EQ(reasons(one(p)), "workloadIdentities");
    auto none = make_policy("q", [](json& j) {
        j["conditions"]["users"]["includeUsers"] = {"None"};
        j["conditions"]["clientApplications"] = {{"includeServicePrincipals", {"ServicePrincipalsInMyTenant"}}};
    });
    EXPECT_EQ(reasons(one(none)), "workloadIdentities");
}

TEST(WhatifRules, ClientAppTypesMatchTheSignInsType) {
    auto browser = make_policy("p", [](json& j) { j["conditions"]["clientAppTypes"] = {"browser"}; });
    EXPECT_EQ(reasons(one(browser)), "clientApps");
    EXPECT_TRUE(one(browser, {}, make_sign_in(app_exchange_online, "browser")).applies);
    auto all_caps = make_policy("q", [](json& j) { j["conditions"]["clientAppTypes"] = {"All"}; });
    EXPECT_TRUE(one(all_caps).applies) << "'All' in any case means every client type";
    auto legacy = make_policy("r", [](json& j) { j["conditions"]["clientAppTypes"] = {"exchangeActiveSync", "other"}; });
    EXPECT_TRUE(one(legacy, {}, make_sign_in(app_exchange_online, "other")).applies);
    EXPECT_TRUE(one(legacy, {}, make_sign_in(app_exchange_online, "exchangeActiveSync")).applies);
    EXPECT_EQ(reasons(one(legacy)), "clientApps");
    auto s = make_sign_in();
    s.client_app_type.reset();
    EXPECT_EQ(reasons(one(browser, {}, s)), "notEnoughInformation");
}

TEST(WhatifRules, UnknownPlatformIsNotEnoughInformation) {
    auto p = make_policy("p", [](json& j) {
        j["conditions"]["platforms"] = {{"includePlatforms", {"all"}}, {"excludePlatforms", {"iOS", "android"}}};
    });
    auto r = one(p);
    EXPECT_FALSE(r.applies);
    EXPECT_TRUE(r.uncertain);
    EXPECT_EQ(reasons(r), "notEnoughInformation");
    auto s = make_sign_in();
    s.device_platform = "iOS";
    EXPECT_EQ(reasons(one(p, {}, s)), "devicePlatform");
    s.device_platform = "windows";
    EXPECT_TRUE(one(p, {}, s).applies);
    auto all_only = make_policy("q", [](json& j) { j["conditions"]["platforms"] = {{"includePlatforms", {"all"}}}; });
    EXPECT_TRUE(one(all_only).applies) << "include all without exclusions covers unknown platforms";
}

TEST(WhatifRules, NotEnoughInformationOnlyWhenNothingFailsForCertain) {
    auto p = make_policy("p", [](json& j) {
        j["conditions"]["users"]["includeUsers"] = {"None"};
        j["conditions"]["platforms"] = {{"includePlatforms", {"android"}}};
    });
    auto r = one(p);
    EXPECT_EQ(reasons(r), "users");
    EXPECT_FALSE(r.uncertain);
}

const char* const locations_directory = R"({
  "namedLocations": [
    {"@odata.type": "#microsoft.graph.ipNamedLocation", "id": "11111111-1111-1111-1111-111111111111",
     "displayName": "Office", "isTrusted": true,
     "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"},
                  {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2001:db8:abcd::/48"}]},
    {"@odata.type": "#microsoft.graph.countryNamedLocation", "id": "22222222-2222-2222-2222-222222222222",
     "displayName": "Blocked countries", "countriesAndRegions": ["KP", "RU"], "includeUnknownCountriesAndRegions": false}],
  "mfaTrustedIps": ["198.51.100.7/32"]})";

TEST(WhatifRules, LocationsMatchIpRangesIncludingIpv6) {
    auto d = make_directory(locations_directory);
    auto p = make_policy("p", [](json& j) {
        j["conditions"]["locations"] = {{"includeLocations", {"All"}}, {"excludeLocations", {"AllTrusted"}}};
    });
    auto s = make_sign_in();
    s.ip_address = "203.0.113.55";
    EXPECT_EQ(reasons(one(p, d, s)), "location") << "trusted office IP is excluded";
    s.ip_address = "2001:db8:abcd:12::1";
    EXPECT_EQ(reasons(one(p, d, s)), "location") << "IPv6 inside the trusted /48";
    s.ip_address = "192.0.2.1";
    EXPECT_TRUE(one(p, d, s).applies);
    s.ip_address = "198.51.100.7";
    EXPECT_EQ(reasons(one(p, d, s)), "location") << "legacy MFA trusted IPs are trusted";
    EXPECT_EQ(reasons(one(p, d)), "notEnoughInformation") << "no IP given";
    EXPECT_TRUE(one(p, {}).applies) << "no trusted location exists at all: nothing to be excluded by";
}

TEST(WhatifRules, LegacyTrustedIpsLocation) {
    auto d = make_directory(locations_directory);
    auto p = make_policy("p", [](json& j) {
        j["conditions"]["locations"] = {{"includeLocations", {"All"}},
                                        {"excludeLocations", {"00000000-0000-0000-0000-000000000000"}}};
    });
    auto s = make_sign_in();
    s.ip_address = "198.51.100.7";
    EXPECT_EQ(reasons(one(p, d, s)), "location");
    s.ip_address = "203.0.113.55";
    EXPECT_TRUE(one(p, d, s).applies) << "a trusted named location is not the legacy trusted-IPs list";
}

TEST(WhatifRules, CountryLocations) {
    auto d = make_directory(locations_directory);
    auto p = make_policy("p", [](json& j) {
        j["conditions"]["locations"] = {{"includeLocations", {"22222222-2222-2222-2222-222222222222"}}};
        j["grantControls"]["builtInControls"] = {"block"};
    });
    auto s = make_sign_in();
    s.country = "RU";
    EXPECT_TRUE(one(p, d, s).applies);
    s.country = "NL";
    EXPECT_EQ(reasons(one(p, d, s)), "location");
    s.country.reset();
    s.ip_address = "192.0.2.1";
    EXPECT_EQ(reasons(one(p, d, s)), "notEnoughInformation") << "no geo-IP lookup from an address alone";
}

TEST(WhatifRules, UnknownNamedLocationIsNotEnoughInformation) {
    auto p = make_policy("p", [](json& j) {
        j["conditions"]["locations"] = {{"includeLocations", {"%SvcCountryLocationId%"}}};
    });
    auto s = make_sign_in();
    s.ip_address = "192.0.2.1";
    EXPECT_EQ(reasons(one(p, {}, s)), "notEnoughInformation");
}

TEST(WhatifRules, DeviceFilterNeedsDeviceInfo) {
    auto p = make_policy("p", [](json& j) {
        j["conditions"]["devices"] = {{"deviceFilter", {{"mode", "exclude"}, {"rule", "device.trustType -eq \"ServerAD\" -or device.isCompliant -eq True"}}}};
    });
    EXPECT_EQ(reasons(one(p)), "notEnoughInformation");
    auto s = make_sign_in();
    s.device = device_info{};
    s.device->properties = {{"trustType", "ServerAD"}};
    EXPECT_EQ(reasons(one(p, {}, s)), "devices") << "a hybrid-joined device is excluded";
    s.device->properties = {{"trustType", "AzureAD"}, {"isCompliant", false}};
    EXPECT_TRUE(one(p, {}, s).applies);
    s.device->properties = {{"trustType", "AzureAD"}};
    EXPECT_EQ(reasons(one(p, {}, s)), "notEnoughInformation") << "isCompliant not given";
}

TEST(WhatifRules, RiskLevelsDefaultToNone) {
    auto p = make_policy("p", [](json& j) { j["conditions"]["signInRiskLevels"] = {"high", "medium"}; });
    EXPECT_EQ(reasons(one(p)), "signInRisk");
    auto s = make_sign_in();
    s.sign_in_risk = "high";
    EXPECT_TRUE(one(p, {}, s).applies);
    auto u = make_policy("q", [](json& j) { j["conditions"]["userRiskLevels"] = {"high"}; });
    EXPECT_EQ(reasons(one(u)), "userRisk");
    auto ins = make_policy("r", [](json& j) { j["conditions"]["insiderRiskLevels"] = "moderate,elevated"; });
    EXPECT_EQ(reasons(one(ins)), "insiderRisk");
    s.insider_risk = "elevated";
    EXPECT_TRUE(one(ins, {}, s).applies);
}

TEST(WhatifRules, AuthenticationFlowsDefaultToNone) {
    auto p = make_policy("p", [](json& j) {
        j["conditions"]["authenticationFlows"] = {{"transferMethods", "deviceCodeFlow,authenticationTransfer"}};
        j["grantControls"]["builtInControls"] = {"block"};
    });
    EXPECT_EQ(reasons(one(p)), "authenticationFlow");
    auto s = make_sign_in();
    s.authentication_flow = "deviceCodeFlow";
    EXPECT_TRUE(one(p, {}, s).applies);
    auto arr = make_policy("q", [](json& j) { j["conditions"]["authenticationFlows"] = {{"transferMethods", {"deviceCodeFlow"}}}; });
    EXPECT_TRUE(one(arr, {}, s).applies) << "an array of transfer methods is accepted too";
}

TEST(WhatifRules, DisabledPolicyNeverAppliesAndSaysPolicyNotEnabled) {
    auto p = make_policy("p", [](json& j) { j["state"] = "disabled"; });
    auto r = one(p);
    EXPECT_FALSE(r.applies);
    EXPECT_EQ(reasons(r), "policyNotEnabled");
    auto e = evaluate({p}, {}, make_sign_in());
    EXPECT_EQ(e.result.result, verdict_result::allowed);
    auto q = make_policy("q", [](json& j) {
        j["state"] = "disabled";
        j["conditions"]["platforms"] = {{"includePlatforms", {"android"}}};
    });
    auto e2 = evaluate({q}, {}, make_sign_in());
    EXPECT_TRUE(e2.result.uncertain.empty()) << "a disabled policy is never uncertain";
}

// ---- verdict ------------------------------------------------------------------------------

TEST(WhatifVerdict, AllApplicablePoliciesMustBeSatisfied) {
    auto mfa = make_policy("mfa");
    auto device = make_policy("dev", [](json& j) { j["grantControls"]["builtInControls"] = {"compliantDevice"}; });
    auto e = evaluate({device, mfa}, {}, make_sign_in());
    EXPECT_EQ(e.result.result, verdict_result::mfa_required);
    EXPECT_EQ(e.result.causes, (std::vector<std::string>{"mfa"}));
    auto only_device = evaluate({device}, {}, make_sign_in());
    EXPECT_EQ(only_device.result.result, verdict_result::control_required);
    EXPECT_EQ(only_device.result.causes, (std::vector<std::string>{"dev"}));
}

TEST(WhatifVerdict, BlockWins) {
    auto block = make_policy("block", [](json& j) { j["grantControls"]["builtInControls"] = {"block"}; });
    auto e = evaluate({make_policy("mfa"), block}, {}, make_sign_in());
    EXPECT_EQ(e.result.result, verdict_result::blocked);
    EXPECT_EQ(e.result.causes, (std::vector<std::string>{"block"}));
}

TEST(WhatifVerdict, LegacyClientFailsAnyGrantControl) {
    auto device = make_policy("dev", [](json& j) { j["grantControls"]["builtInControls"] = {"compliantDevice"}; });
    auto e = evaluate({device}, {}, make_sign_in(app_exchange_online, "exchangeActiveSync"));
    EXPECT_EQ(e.result.result, verdict_result::blocked);
    auto s = make_sign_in(app_exchange_online, "other");
    s.device = device_info{};
    s.device->is_compliant = true;
    EXPECT_EQ(evaluate({device}, {}, s).result.result, verdict_result::blocked) << "even with a compliant device";
}

TEST(WhatifVerdict, AuthenticationStrengthCountsAsMfa) {
    auto p = make_policy("p", [](json& j) {
        j["grantControls"] = {{"operator", "OR"}, {"builtInControls", json::array()},
                              {"authenticationStrength", {{"id", "00000000-0000-0000-0000-000000000004"}, {"displayName", "Phishing-resistant MFA"}}}};
    });
    EXPECT_EQ(evaluate({p}, {}, make_sign_in()).result.result, verdict_result::mfa_required);
}

TEST(WhatifVerdict, OrGrantIsSatisfiedByAnySatisfiableControl) {
    auto p = make_policy("p", [](json& j) { j["grantControls"]["builtInControls"] = {"mfa", "compliantDevice"}; });
    EXPECT_EQ(evaluate({p}, {}, make_sign_in()).result.result, verdict_result::mfa_required)
        << "no device, no prompt: MFA is what Entra asks for";
    auto s = make_sign_in();
    s.device = device_info{};
    s.device->is_compliant = true;
    EXPECT_EQ(evaluate({p}, {}, s).result.result, verdict_result::allowed);
    auto devices = make_policy("q", [](json& j) { j["grantControls"]["builtInControls"] = {"compliantDevice", "domainJoinedDevice"}; });
    EXPECT_EQ(evaluate({devices}, {}, make_sign_in()).result.result, verdict_result::control_required);
    s.device->is_compliant = false;
    s.device->trust_type = "ServerAD";
    EXPECT_EQ(evaluate({devices}, {}, s).result.result, verdict_result::allowed) << "hybrid joined satisfies domainJoinedDevice";
}

TEST(WhatifVerdict, AndGrantNeedsEveryControlAndOperatorIsCaseInsensitive) {
    auto p = make_policy("p", [](json& j) {
        j["grantControls"] = {{"operator", "and"}, {"builtInControls", {"mfa", "compliantDevice"}}};
    });
    auto s = make_sign_in();
    s.device = device_info{};
    s.device->is_compliant = true;
    EXPECT_EQ(evaluate({p}, {}, s).result.result, verdict_result::mfa_required);
    auto q = make_policy("q", [](json& j) {
        j["grantControls"] = {{"operator", "AND"}, {"builtInControls", {"compliantDevice", "approvedApplication"}}};
    });
    EXPECT_EQ(evaluate({q}, {}, s).result.result, verdict_result::control_required);
    s.device->approved_application = true;
    EXPECT_EQ(evaluate({q}, {}, s).result.result, verdict_result::allowed);
}

TEST(WhatifVerdict, TermsOfUseAndPasswordChangeAreOtherControls) {
    auto tou = make_policy("t", [](json& j) {
        j["grantControls"] = {{"operator", "OR"}, {"builtInControls", json::array()}, {"termsOfUse", {"agreement-1"}}};
    });
    EXPECT_EQ(evaluate({tou}, {}, make_sign_in()).result.result, verdict_result::control_required);
    auto s = make_sign_in();
    s.device = device_info{};
    s.device->accepted_terms_of_use = {"agreement-1"};
    EXPECT_EQ(evaluate({tou}, {}, s).result.result, verdict_result::allowed);
}

TEST(WhatifVerdict, SessionOnlyPolicyDemandsNothing) {
    auto p = make_policy("p", [](json& j) {
        j["grantControls"] = nullptr;
        j["sessionControls"] = {{"signInFrequency", {{"value", 4}, {"type", "hours"}, {"isEnabled", true}}}};
    });
    auto e = evaluate({p}, {}, make_sign_in());
    EXPECT_TRUE(e.policies[0].applies);
    EXPECT_EQ(e.result.result, verdict_result::allowed);
}

TEST(WhatifVerdict, NotRegisteredUserNeedingMfaMustRegister) {
    auto d = make_directory(R"({"users": {")" + std::string(user_a) + R"(": {"isMfaRegistered": false}}})");
    EXPECT_EQ(evaluate({make_policy("p")}, d, make_sign_in()).result.result, verdict_result::mfa_registration_required);
}

TEST(WhatifVerdict, ReportOnlyCountsOnlyInReportOnlyVerdict) {
    auto p = make_policy("ro", [](json& j) {
        j["state"] = "enabledForReportingButNotEnforced";
        j["grantControls"]["builtInControls"] = {"block"};
    });
    auto e = evaluate({p}, {}, make_sign_in());
    EXPECT_TRUE(e.policies[0].applies);
    EXPECT_EQ(e.result.result, verdict_result::allowed);
    EXPECT_EQ(e.result.report_only_result, verdict_result::blocked);
    EXPECT_EQ(e.result.report_only_policies, (std::vector<std::string>{"ro"}));
}

TEST(WhatifVerdict, UncertainPoliciesAreListedAndDoNotDecide) {
    auto p = make_policy("maybe", [](json& j) {
        j["conditions"]["platforms"] = {{"includePlatforms", {"android"}}};
        j["grantControls"]["builtInControls"] = {"block"};
    });
    auto e = evaluate({p}, {}, make_sign_in());
    EXPECT_EQ(e.result.result, verdict_result::allowed);
    EXPECT_EQ(e.result.uncertain, (std::vector<std::string>{"maybe"}));
}

TEST(WhatifSecurityDefaults, BlockLegacyAuthentication) {
    auto d = make_directory(R"({"securityDefaultsEnabled": true})");
    auto e = evaluate({}, d, make_sign_in(app_exchange_online, "other"));
    EXPECT_EQ(e.result.result, verdict_result::blocked);
    EXPECT_EQ(e.result.causes, (std::vector<std::string>{"securityDefaults"}));
    EXPECT_EQ(evaluate({}, d, make_sign_in()).result.result, verdict_result::allowed) << "a plain member, modern client";
}

TEST(WhatifSecurityDefaults, PrivilegedRolesAlwaysNeedMfa) {
    for (const auto& role : security_defaults_privileged_roles()) {
        auto d = make_directory(R"({"securityDefaultsEnabled": true, "users": {")" + std::string(user_a) +
                                R"(": {"roles": [")" + role + R"("]}}})");
        EXPECT_EQ(evaluate({}, d, make_sign_in()).result.result, verdict_result::mfa_required) << role;
    }
    EXPECT_EQ(security_defaults_privileged_roles().size(), 17u);
    auto reader = make_directory(R"({"securityDefaultsEnabled": true, "users": {")" + std::string(user_a) +
                                 R"(": {"roles": ["f2ef992c-3afb-46b9-b7cf-a126ee74c451"]}}})");
    EXPECT_EQ(evaluate({}, reader, make_sign_in()).result.result, verdict_result::allowed) << "Global Reader is not in the list";
}

TEST(WhatifSecurityDefaults, AzureManagementNeedsMfaForEveryone) {
    auto d = make_directory(R"({"securityDefaultsEnabled": true})");
    EXPECT_EQ(evaluate({}, d, make_sign_in(app_azure_management)).result.result, verdict_result::mfa_required);
    EXPECT_EQ(evaluate({}, d, make_sign_in(app_microsoft_graph)).result.result, verdict_result::allowed);
}

TEST(WhatifPerUserMfa, EnforcedNeedsMfaAndBlocksLegacy) {
    auto d = make_directory(R"({"users": {")" + std::string(user_a) + R"(": {"perUserMfaState": "enforced"}}})");
    auto e = evaluate({}, d, make_sign_in());
    EXPECT_EQ(e.result.result, verdict_result::mfa_required);
    EXPECT_EQ(e.result.causes, (std::vector<std::string>{"perUserMfa"}));
    EXPECT_EQ(evaluate({}, d, make_sign_in(app_exchange_online, "other")).result.result, verdict_result::blocked);
}

TEST(WhatifPerUserMfa, EnabledAndRegisteredActsAsEnforced) {
    auto d = make_directory(R"({"users": {")" + std::string(user_a) + R"(": {"perUserMfaState": "enabled", "isMfaRegistered": true}}})");
    EXPECT_EQ(evaluate({}, d, make_sign_in()).result.result, verdict_result::mfa_required);
    EXPECT_EQ(evaluate({}, d, make_sign_in(app_exchange_online, "exchangeActiveSync")).result.result, verdict_result::blocked);
}

TEST(WhatifPerUserMfa, EnabledAndNotRegisteredNeedsRegistrationButLegacyKeepsWorking) {
    auto d = make_directory(R"({"users": {")" + std::string(user_a) + R"(": {"perUserMfaState": "enabled", "isMfaRegistered": false}}})");
    EXPECT_EQ(evaluate({}, d, make_sign_in()).result.result, verdict_result::mfa_registration_required);
    EXPECT_EQ(evaluate({}, d, make_sign_in(app_exchange_online, "other")).result.result, verdict_result::allowed);
}

// ---- parsing ------------------------------------------------------------------------------

TEST(WhatifParse, ToleratesAnnotationsNullsAndVariantShapes) {
    auto j = json::parse(R"js({
      "@odata.context": "x", "#microsoft.graph.restore": {"title": "restore"},
      "id": "p", "displayName": "P", "state": "ENABLED", "createdDateTime": null, "unknownField": 1,
      "conditions": {
        "clientAppTypes@odata.type": "#Collection(microsoft.graph.conditionalAccessClientApp)",
        "clientAppTypes": ["all"], "platforms": {}, "locations": [], "devices": null, "signInRiskLevels": null,
        "users": {"includeUsers": ["All"], "excludeUsers": null,
                  "excludeGuestsOrExternalUsers": {"guestOrExternalUserTypes": "b2bCollaborationGuest",
                     "externalTenants": "@{@odata.type=#microsoft.graph.conditionalAccessAllExternalTenants; membershipKind=all}"}},
        "applications": {"includeApplications": ["All"], "applicationFilter": null},
        "grantControls": {"operator": "or", "builtInControls": ["block"]}},
      "GrantControls": {}
    })js");
    auto p = parse_policy(j);
    ASSERT_TRUE(p.ok()) << p.err().message;
    EXPECT_EQ(p->state, policy_state::enabled);
    EXPECT_FALSE(p->has_locations);
    ASSERT_TRUE(p->grant.has_value()) << "grantControls nested inside conditions is found";
    EXPECT_TRUE(p->grant->has("block"));
    ASSERT_TRUE(p->exclude_guests.has_value());
    EXPECT_TRUE(p->exclude_guests->all_tenants);
}

TEST(WhatifParse, ErrorsNameTheField) {
    auto bad = parse_policy(json::array());
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.err().message.find("expected a JSON object"), std::string::npos);
    auto j = policy_json("p", [](json& x) { x["conditions"]["users"]["includeUsers"] = {42}; });
    auto r = parse_policy(j);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("policy 'Policy p': conditions.users.includeUsers[0]: expected a string"), std::string::npos)
        << r.err().message;
    auto s = parse_policy(policy_json("p", [](json& x) { x["state"] = "string"; }));
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.err().message.find("state"), std::string::npos);
}

TEST(WhatifParse, DocumentShapes) {
    auto one_policy = policy_json("a");
    auto list = json{{"@odata.context", "x"}, {"value", {policy_json("a"), policy_json("b")}}};
    auto wrapper = json{{"ExportDate", "2024"}, {"AssignmentDetails", {{"IncludeUsers", json::array()}}}, {"PolicyConfig", policy_json("w")}};
    EXPECT_EQ(parse_policies(one_policy)->size(), 1u);
    EXPECT_EQ(parse_policies(json::array({policy_json("a"), policy_json("b"), policy_json("c")}))->size(), 3u);
    auto l = parse_policies(list);
    ASSERT_TRUE(l.ok());
    EXPECT_EQ((*l)[1].id, "b");
    auto w = parse_policies(wrapper);
    ASSERT_TRUE(w.ok()) << w.err().message;
    EXPECT_EQ((*w)[0].id, "w");
    auto bad = parse_policies(json{{"value", {policy_json("a"), 7}}});
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.err().message.find("value[1]"), std::string::npos) << bad.err().message;
}

TEST(WhatifParse, EvaluateRequestAndDirectoryErrorsNameTheField) {
    auto r = parse_evaluate_request(json::parse(R"({"signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn"},
                                                   "signInContext": {"includeApplications": ["x"]}})"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().message, "signInIdentity.userId: missing");
    auto d = parse_directory(json::parse(R"({"users": {"u1": {"userType": "alien"}}})"));
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.err().message.find("users.u1.userType"), std::string::npos);
    auto ok = parse_evaluate_request(json::parse(R"({
      "signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": "U1"},
      "signInContext": {"@odata.type": "#microsoft.graph.applicationContext", "includeApplications": ["00000002-0000-0ff1-ce00-000000000000"]},
      "signInConditions": {"clientAppType": "Browser", "devicePlatform": "android", "ipAddress": "40.77.182.32", "country": "us",
         "signInRiskLevel": "high", "authenticationFlow": {"transferMethod": "deviceCodeFlow"}, "deviceInfo": {"isCompliant": true}}})"));
    ASSERT_TRUE(ok.ok()) << ok.err().message;
    EXPECT_EQ(ok->user_id, "u1");
    EXPECT_EQ(*ok->client_app_type, "browser");
    EXPECT_EQ(*ok->country, "US");
    EXPECT_EQ(ok->sign_in_risk, "high");
    EXPECT_EQ(ok->insider_risk, "none");
    EXPECT_TRUE(ok->device->is_compliant.value());
}

TEST(WhatifJson, GraphShape) {
    auto e = evaluate({make_policy("p"), make_policy("d", [](json& j) { j["state"] = "disabled"; })}, {}, make_sign_in());
    auto j = to_graph_json(e);
    ASSERT_EQ(j["value"].size(), 2u);
    EXPECT_EQ(j["value"][0]["id"], "p");
    EXPECT_EQ(j["value"][0]["policyApplies"], true);
    EXPECT_EQ(j["value"][0]["analysisReasons"], "notSet");
    EXPECT_EQ(j["value"][1]["state"], "disabled");
    EXPECT_EQ(j["value"][1]["analysisReasons"], "policyNotEnabled");
    EXPECT_EQ(j["verdict"]["result"], "mfa_required");
    EXPECT_EQ(j["verdict"]["causes"], json::array({"p"}));
    EXPECT_TRUE(j["verdict"]["uncertain"].is_array());
    EXPECT_EQ(j["verdict"]["reportOnly"]["result"], "mfa_required");
    EXPECT_TRUE(j["verdict"]["reportOnly"]["policies"].is_array());
}

TEST(WhatifCidr, Ipv4AndIpv6Ranges) {
    auto r = parse_cidr("10.0.0.0/8");
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(contains(*r, *parse_ip("10.255.1.2")));
    EXPECT_FALSE(contains(*r, *parse_ip("11.0.0.1")));
    EXPECT_TRUE(contains(*r, *parse_ip("::ffff:a00:1"))) << "IPv4-mapped IPv6 is the IPv4 address";
    auto v6 = parse_cidr("2001:db8::/32");
    ASSERT_TRUE(v6.ok());
    EXPECT_TRUE(contains(*v6, *parse_ip("2001:db8:1::5")));
    EXPECT_FALSE(contains(*v6, *parse_ip("10.0.0.1")));
    EXPECT_FALSE(parse_cidr("10.0.0.0/33").ok());
    EXPECT_FALSE(parse_cidr("not-an-ip").ok());
}

}  // namespace
}  // namespace connguard::whatif
