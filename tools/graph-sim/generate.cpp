#include "tools/graph-sim/generate.h"

#include <cstdio>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "common/ids.h"

namespace connguard::graph_sim {

namespace {

using json = nlohmann::json;

std::string guid_for(const std::string& text) {
    const std::string h = sha256_hex(text);
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-4" + h.substr(13, 3) + "-8" + h.substr(17, 3) + "-" + h.substr(20, 12);
}

json mfa_all_users(const std::string& id, const std::vector<std::string>& exclude_users) {
    return json{{"id", id},
                {"displayName", "CA001 - Require MFA for all users"},
                {"createdDateTime", "2025-01-15T09:00:00Z"},
                {"modifiedDateTime", "2025-01-15T09:00:00Z"},
                {"state", "enabled"},
                {"sessionControls", nullptr},
                {"conditions",
                 {{"clientAppTypes", {"all"}},
                  {"signInRiskLevels", json::array()},
                  {"userRiskLevels", json::array()},
                  {"platforms", nullptr},
                  {"locations", nullptr},
                  {"applications", {{"includeApplications", {"All"}}, {"excludeApplications", json::array()}, {"includeUserActions", json::array()}}},
                  {"users",
                   {{"includeUsers", {"All"}},
                    {"excludeUsers", exclude_users},
                    {"includeGroups", json::array()},
                    {"excludeGroups", json::array()},
                    {"includeRoles", json::array()},
                    {"excludeRoles", json::array()}}}}},
                {"grantControls", {{"operator", "OR"}, {"builtInControls", {"mfa"}}, {"customAuthenticationFactors", json::array()}, {"termsOfUse", json::array()}}}};
}

json block_legacy(const std::string& id) {
    return json{{"id", id},
                {"displayName", "CA002 - Block legacy authentication"},
                {"createdDateTime", "2025-01-15T09:05:00Z"},
                {"modifiedDateTime", "2025-01-15T09:05:00Z"},
                {"state", "enabled"},
                {"sessionControls", nullptr},
                {"conditions",
                 {{"clientAppTypes", {"exchangeActiveSync", "other"}},
                  {"signInRiskLevels", json::array()},
                  {"userRiskLevels", json::array()},
                  {"platforms", nullptr},
                  {"locations", nullptr},
                  {"applications", {{"includeApplications", {"All"}}, {"excludeApplications", json::array()}, {"includeUserActions", json::array()}}},
                  {"users",
                   {{"includeUsers", {"All"}},
                    {"excludeUsers", json::array()},
                    {"includeGroups", json::array()},
                    {"excludeGroups", json::array()},
                    {"includeRoles", json::array()},
                    {"excludeRoles", json::array()}}}}},
                {"grantControls", {{"operator", "OR"}, {"builtInControls", {"block"}}, {"customAuthenticationFactors", json::array()}, {"termsOfUse", json::array()}}}};
}

}  // namespace

status generate_tenants(std::size_t n, const std::filesystem::path& dir, std::uint64_t seed) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return make_error("sim.generate", "cannot create " + dir.string() + ": " + ec.message());
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> dist(0.0, 1.0);
    json index = json::array();
    const std::vector<std::string> all_permissions = {
        "Policy.Read.All", "Policy.ReadWrite.ConditionalAccess", "Policy.ReadWrite.SecurityDefaults",
        "Policy.ReadWrite.AuthenticationMethod", "User.Read.All", "GroupMember.Read.All", "RoleManagement.ReadWrite.Directory",
        "AuditLog.Read.All", "Directory.Read.All"};
    for (std::size_t i = 1; i <= n; ++i) {
        char num[16];
        std::snprintf(num, sizeof num, "%04zu", i);
        const std::string key = "seed" + std::to_string(seed) + "-tenant" + num;
        const std::string tenant_id = guid_for(key);
        const std::string domain = std::string("tenant") + num + ".onmicrosoft.com";
        const std::string app_id = guid_for(key + "-app");
        const std::string secret = "sim~" + sha256_hex(key + "-secret").substr(0, 32);
        const std::string svc_id = guid_for(key + "-svc");
        const std::string svc_upn = "svc-connguard@" + domain;
        const std::string password = "Pw-" + sha256_hex(key + "-password").substr(0, 20);
        const std::string admin_id = guid_for(key + "-admin");
        const double roll = dist(rng);
        const std::string problem = roll < 0.70 ? "none" : roll < 0.80 ? "mfaPolicy" : roll < 0.90 ? "securityDefaultsAdmin" : "perUserMfa";

        json users = json::array();
        json svc{{"id", svc_id},
                 {"userPrincipalName", svc_upn},
                 {"displayName", "ConnGuard connection account"},
                 {"accountEnabled", true},
                 {"userType", "Member"},
                 {"password", password},
                 {"perUserMfaState", problem == "perUserMfa" ? "enforced" : "disabled"},
                 {"isMfaRegistered", false},
                 {"groups", json::array()},
                 {"roles", problem == "securityDefaultsAdmin" ? json::array({"62e90394-69f5-4237-9190-012177145e10"}) : json::array()}};
        users.push_back(svc);
        users.push_back({{"id", admin_id},
                         {"userPrincipalName", "admin@" + domain},
                         {"displayName", "Tenant Admin"},
                         {"password", "Admin-" + sha256_hex(key + "-adminpw").substr(0, 16)},
                         {"isMfaRegistered", true},
                         {"roles", json::array({"62e90394-69f5-4237-9190-012177145e10"})}});
        for (int u = 1; u <= 3; ++u)
            users.push_back({{"id", guid_for(key + "-user" + std::to_string(u))},
                             {"userPrincipalName", "user" + std::to_string(u) + "@" + domain},
                             {"displayName", "User " + std::to_string(u)},
                             {"password", "User-" + sha256_hex(key + "-userpw" + std::to_string(u)).substr(0, 16)},
                             {"isMfaRegistered", true},
                             {"groups", json::array({guid_for(key + "-staff")})}});
        json policies = json::array();
        if (problem == "none") {
            policies.push_back(mfa_all_users(guid_for(key + "-ca001"), {svc_id}));
            policies.push_back(block_legacy(guid_for(key + "-ca002")));
        } else if (problem == "mfaPolicy") {
            policies.push_back(mfa_all_users(guid_for(key + "-ca001"), json::array()));
            policies.push_back(block_legacy(guid_for(key + "-ca002")));
        }
        json scenario{{"$comment", "generated by connguard-graph-sim --generate (synthetic tenant for host-mode tests)"},
                      {"tenantId", tenant_id},
                      {"domain", domain},
                      {"displayName", std::string("Synthetic tenant ") + num},
                      {"securityDefaultsEnabled", problem == "securityDefaultsAdmin"},
                      {"apps",
                       json::array({{{"appId", app_id},
                                     {"displayName", "ConnGuard agent"},
                                     {"clientSecret", secret},
                                     {"permissions", all_permissions},
                                     {"publicClient", true}}})},
                      {"groups", json::array({{{"id", guid_for(key + "-staff")}, {"displayName", "All staff"}}})},
                      {"users", users},
                      {"conditionalAccessPolicies", policies},
                      {"namedLocations", json::array()},
                      // The tool's own latest sign-in (CG-SIGNIN-LOG): fine in a healthy tenant, an MFA
                      // registration demand (the account has no method) in one with a problem.
                      {"signIns",
                       json::array({{{"simMinutesAgo", 20},
                                     {"userPrincipalName", svc_upn},
                                     {"appId", "fb78d390-0c51-40cd-8e17-fdbfab77341b"},
                                     {"appDisplayName", "Microsoft Exchange REST API Based Powershell"},
                                     {"resourceId", "00000002-0000-0ff1-ce00-000000000000"},
                                     {"resourceDisplayName", "Office 365 Exchange Online"},
                                     {"ipAddress", "198.51.100.20"},
                                     {"signInEventTypes", json::array({"nonInteractiveUser"})},
                                     {"status", {{"errorCode", problem == "none" ? 0 : 50079}}}}})}};
        const auto file = dir / (std::string("tenant-") + num + ".json");
        std::ofstream out(file);
        out << scenario.dump(2) << "\n";
        if (!out) return make_error("sim.generate", "cannot write " + file.string());
        index.push_back({{"tenantId", tenant_id},
                         {"domain", domain},
                         {"appId", app_id},
                         {"clientSecret", secret},
                         {"connectionAccount", svc_upn},
                         {"connectionAccountId", svc_id},
                         {"password", password},
                         {"problem", problem}});
    }
    // The index is not a scenario (no *.json under the scenarios folder): it goes next to it.
    const auto index_file = dir.parent_path() / (dir.filename().string() + "-index.json");
    std::ofstream out(index_file);
    out << index.dump(2) << "\n";
    if (!out) return make_error("sim.generate", "cannot write " + index_file.string());
    return {};
}

}  // namespace connguard::graph_sim
