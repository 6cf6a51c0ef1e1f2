#include "agent/whatif/evaluate.h"

#include <algorithm>

#include "agent/whatif/compiled.h"
#include "agent/whatif/json_util.h"

namespace connguard::whatif {

using nlohmann::json;
using namespace detail;

std::string reasons_to_string(std::uint32_t reasons) {
    static const std::pair<std::uint32_t, const char*> names[] = {
        {reason_not_enough_information, "notEnoughInformation"},
        {reason_invalid_condition, "invalidCondition"},
        {reason_users, "users"},
        {reason_workload_identities, "workloadIdentities"},
        {reason_application, "application"},
        {reason_user_actions, "userActions"},
        {reason_authentication_context, "authenticationContext"},
        {reason_device_platform, "devicePlatform"},
        {reason_devices, "devices"},
        {reason_client_apps, "clientApps"},
        {reason_location, "location"},
        {reason_sign_in_risk, "signInRisk"},
        {reason_empty_policy, "emptyPolicy"},
        {reason_invalid_policy, "invalidPolicy"},
        {reason_policy_not_enabled, "policyNotEnabled"},
        {reason_user_risk, "userRisk"},
        {reason_time, "time"},
        {reason_insider_risk, "insiderRisk"},
        {reason_authentication_flow, "authenticationFlow"},
    };
    if (reasons == 0) return "notSet";
    std::string out;
    for (const auto& [flag, name] : names) {
        if ((reasons & flag) != 0) out += (out.empty() ? "" : ",") + std::string(name);
    }
    return out;
}

const char* to_string(demand d) {
    switch (d) {
        case demand::none: return "none";
        case demand::block: return "block";
        case demand::mfa: return "mfa";
        case demand::control: return "control";
    }
    return "none";
}

const char* to_string(verdict_result r) {
    switch (r) {
        case verdict_result::allowed: return "allowed";
        case verdict_result::mfa_required: return "mfa_required";
        case verdict_result::mfa_registration_required: return "mfa_registration_required";
        case verdict_result::blocked: return "blocked";
        case verdict_result::control_required: return "control_required";
    }
    return "allowed";
}

policy_result evaluate_policy(const policy& p, const directory& dir, const sign_in& s) {
    const compiled_policy_set set = compile(p);
    prepared_sign_in u;
    prepare(set, dir, s, u);
    return materialize(set.policies.front(), evaluate_compiled(set.policies.front(), u), u);
}

evaluation evaluate(const std::vector<policy>& policies, const directory& dir, const sign_in& s) {
    const compiled_policy_set set = compile(policies);
    prepared_sign_in u;
    prepare(set, dir, s, u);
    compiled_evaluation e;
    evaluate_into(set, u, e);
    return materialize(set, u, e);
}

json to_graph_json(const evaluation& e) {
    json value = json::array();
    for (const auto& r : e.policies) {
        value.push_back({{"id", r.id},
                         {"displayName", r.display_name},
                         {"state", to_string(r.state)},
                         {"policyApplies", r.applies},
                         {"analysisReasons", reasons_to_string(r.analysis_reasons)}});
    }
    json v = {{"result", to_string(e.result.result)},
              {"causes", e.result.causes},
              {"uncertain", e.result.uncertain},
              {"reportOnly",
               {{"result", to_string(e.result.report_only_result)},
                {"policies", e.result.report_only_policies},
                {"causes", e.result.report_only_causes}}},
              {"explanations", e.result.explanations}};
    return {{"value", std::move(value)}, {"verdict", std::move(v)}};
}

const std::set<std::string>& office365_apps() {
    static const std::set<std::string> apps = {
        "00000002-0000-0ff1-ce00-000000000000",  // Office 365 Exchange Online
        "00000003-0000-0ff1-ce00-000000000000",  // Office 365 SharePoint Online
        "00000004-0000-0ff1-ce00-000000000000",  // Skype for Business Online
        "00000005-0000-0ff1-ce00-000000000000",  // Viva Engage (Yammer)
        "00000006-0000-0ff1-ce00-000000000000",  // Microsoft Office 365 Portal
        "00000007-0000-0ff1-ce00-000000000000",  // Microsoft Exchange Online Protection
        "1fec8e78-bce4-4aaf-ab1b-5451cc387264",  // Microsoft Teams
        "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe",  // Microsoft Teams Services
        "c9a559d2-7aab-4f13-a6ed-e7e9c52aec87",  // Microsoft Forms
        "905fcf26-4eb7-48a0-9ff0-8dcc7194b5ba",  // Sway
        "94c63fef-13a3-47bc-8074-75af8c65887a",  // Office Delve
        "0f698dd4-f011-4d23-a33e-b36416dcb1e6",  // OfficeClientService
        "4765445b-32c6-49b0-83e6-1d93765276ca",  // OfficeHome
        "4b233688-031c-404b-9a80-a4f3f2351f90",  // Office.com
        "d3590ed6-52b3-4102-aeff-aad2292ab01c",  // Microsoft Office
    };
    return apps;
}

const std::set<std::string>& token_protection_apps() {
    static const std::set<std::string> apps = {
        app_exchange_online,
        app_sharepoint_online,
        app_teams,
        app_teams_services,
    };
    return apps;
}

bool only_baseline_scopes(const std::vector<std::string>& scopes) {
    static const std::set<std::string> baseline = {"openid", "profile", "email", "offline_access", "user.read"};
    static const std::string prefixes[] = {"https://graph.microsoft.com/", "00000003-0000-0000-c000-000000000000/"};
    bool any = false;
    for (const auto& element : scopes) {
        std::size_t pos = 0;
        const std::string text = to_lower(element);
        while (pos < text.size()) {
            const auto start = text.find_first_not_of(" \t\r\n", pos);
            if (start == std::string::npos) break;
            auto end = text.find_first_of(" \t\r\n", start);
            if (end == std::string::npos) end = text.size();
            std::string scope = text.substr(start, end - start);
            pos = end;
            for (const auto& prefix : prefixes) {  // the baseline scopes are Microsoft Graph permissions
                if (scope.size() > prefix.size() && scope.compare(0, prefix.size(), prefix) == 0)
                    scope = scope.substr(prefix.size());
            }
            if (baseline.count(scope) == 0) return false;
            any = true;
        }
    }
    return any;
}

const std::set<std::string>& admin_portal_apps() {
    static const std::set<std::string> apps = {
        "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",  // Azure Portal
    };
    return apps;
}

namespace detail {

const char* known_app_name(std::string_view app_id) {
    static constexpr std::pair<std::string_view, const char*> names[] = {
        {"00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online"},
        {"00000003-0000-0ff1-ce00-000000000000", "Office 365 SharePoint Online"},
        {"00000003-0000-0000-c000-000000000000", "Microsoft Graph"},
        {"797f4846-ba00-4fd7-ba43-dac1f8f63013", "Windows Azure Service Management API"},
        {"00000002-0000-0000-c000-000000000000", "Windows Azure Active Directory"},
        {"c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "Azure Portal"},
        {"00000004-0000-0ff1-ce00-000000000000", "Skype for Business Online"},
        {"00000006-0000-0ff1-ce00-000000000000", "Microsoft Office 365 Portal"},
        {"1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams"},
        {"cc15fd57-2c6c-4117-a88c-83b1d56b4bbe", "Microsoft Teams Services"},
    };
    for (const auto& [id, name] : names) {
        if (iequals(id, app_id)) return name;
    }
    return nullptr;
}

}  // namespace detail

std::string app_name(const std::string& app_id) {
    const char* name = known_app_name(app_id);
    return name == nullptr ? app_id : std::string(name);
}

}  // namespace connguard::whatif
