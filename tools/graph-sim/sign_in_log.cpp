#include "tools/graph-sim/sign_in_log.h"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "common/clock.h"
#include "common/ids.h"
#include "common/text.h"
#include "tools/graph-sim/sim_util.h"

namespace connguard::graph_sim {

json fill_sign_in(simulator::tenant_state& t, json e) {
    const auto now = std::chrono::system_clock::now();
    if (auto it = e.find("simMinutesAgo"); it != e.end()) {
        if (it->is_number())
            e["createdDateTime"] = format_rfc3339(
                now - std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(it->get<double>() * 60.0)),
                7);
        e.erase("simMinutesAgo");
    }
    if (!e.contains("createdDateTime") || !e["createdDateTime"].is_string()) e["createdDateTime"] = format_rfc3339(now, 7);
    if (!e.contains("id") || !e["id"].is_string()) e["id"] = new_uuid();
    const user* u = nullptr;
    if (e.contains("userPrincipalName") && e["userPrincipalName"].is_string()) u = t.find_user(e["userPrincipalName"].get<std::string>());
    if (!u && e.contains("userId") && e["userId"].is_string()) u = t.find_user(e["userId"].get<std::string>());
    if (u) {
        if (!e.contains("userId")) e["userId"] = u->id;
        if (!e.contains("userPrincipalName")) e["userPrincipalName"] = u->upn;
        if (!e.contains("userDisplayName")) e["userDisplayName"] = u->graph.value("displayName", u->upn);
    }
    if (!e.contains("signInEventTypes") || !e["signInEventTypes"].is_array()) e["signInEventTypes"] = json::array({"nonInteractiveUser"});
    if (!e.contains("isInteractive") || !e["isInteractive"].is_boolean()) {
        bool interactive = false;
        for (const auto& v : e["signInEventTypes"])
            if (v.is_string() && to_lower(v.get<std::string>()) == "interactiveuser") interactive = true;
        e["isInteractive"] = interactive;
    }
    if (!e.contains("appliedConditionalAccessPolicies") || !e["appliedConditionalAccessPolicies"].is_array())
        e["appliedConditionalAccessPolicies"] = json::array();
    if (!e.contains("conditionalAccessStatus") || !e["conditionalAccessStatus"].is_string()) {
        bool failure = false, success = false;
        for (const auto& p : e["appliedConditionalAccessPolicies"]) {
            const std::string r = p.is_object() ? p.value("result", std::string()) : std::string();
            if (r == "failure") failure = true;
            if (r == "success") success = true;
        }
        e["conditionalAccessStatus"] = failure ? "failure" : (success ? "success" : "notApplied");
    }
    if (!e.contains("status") || !e["status"].is_object()) e["status"] = json::object();
    if (!e["status"].contains("errorCode")) e["status"]["errorCode"] = 0;
    if (!e["status"].contains("failureReason")) e["status"]["failureReason"] = nullptr;
    if (!e["status"].contains("additionalDetails")) e["status"]["additionalDetails"] = nullptr;
    if (!e.contains("correlationId")) e["correlationId"] = new_uuid();
    if (e.contains("appId") && e["appId"].is_string() && !e.contains("appDisplayName")) {
        const app* a = t.find_app(e["appId"].get<std::string>());
        e["appDisplayName"] = a ? a->display_name : whatif::app_name(to_lower(e["appId"].get<std::string>()));
    }
    if (e.contains("resourceId") && e["resourceId"].is_string() && !e.contains("resourceDisplayName"))
        e["resourceDisplayName"] = whatif::app_name(to_lower(e["resourceId"].get<std::string>()));
    if (!e.contains("homeTenantId")) e["homeTenantId"] = t.sc.tenant_id;
    if (!e.contains("resourceTenantId")) e["resourceTenantId"] = t.sc.tenant_id;
    return e;
}

json applied_policies(const simulator::tenant_state& t, const whatif::evaluation& ev) {
    json out = json::array();
    const auto& v = ev.result;
    auto in = [](const std::vector<std::string>& list, const std::string& label) {
        return std::find(list.begin(), list.end(), label) != list.end();
    };
    for (const auto& pr : ev.policies) {
        json grant = json::array();
        for (const auto& p : t.policies.json_list())
            if (to_lower(p.value("id", std::string())) == to_lower(pr.id) && p.contains("grantControls") && p["grantControls"].is_object() &&
                p["grantControls"].contains("builtInControls") && p["grantControls"]["builtInControls"].is_array())
                for (const auto& g : p["grantControls"]["builtInControls"])
                    if (g.is_string() && !g.get<std::string>().empty()) {
                        std::string name = g.get<std::string>();
                        name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
                        grant.push_back(name);
                    }
        std::string result;
        switch (pr.state) {
            case whatif::policy_state::disabled: result = "notEnabled"; break;
            case whatif::policy_state::enabled:
                result = !pr.applies ? "notApplied" : (in(v.causes, pr.label) ? "failure" : "success");
                break;
            case whatif::policy_state::report_only:
                if (!pr.applies) result = "reportOnlyNotApplied";
                else if (!in(v.report_only_causes, pr.label) || pr.required == whatif::demand::none) result = "reportOnlySuccess";
                else if (pr.required == whatif::demand::mfa) result = "reportOnlyInterrupted";
                else result = "reportOnlyFailure";
                break;
        }
        const bool enforced = result == "failure" || result == "success";
        out.push_back({{"id", pr.id},
                       {"displayName", pr.display_name},
                       {"enforcedGrantControls", enforced ? grant : json::array()},
                       {"enforcedSessionControls", json::array()},
                       {"result", result}});
    }
    return out;
}

json mask_unknown_enums(json e, bool include_unknown) {
    if (include_unknown || !e.contains("appliedConditionalAccessPolicies") || !e["appliedConditionalAccessPolicies"].is_array())
        return e;
    for (auto& p : e["appliedConditionalAccessPolicies"])
        if (p.is_object() && p.contains("result") && p["result"].is_string() && p["result"].get<std::string>().rfind("reportOnly", 0) == 0)
            p["result"] = "unknownFutureValue";
    return e;
}

std::vector<json> sign_ins_newest_first(const simulator::tenant_state& t) {
    std::vector<json> items(t.sc.sign_ins.rbegin(), t.sc.sign_ins.rend());
    std::stable_sort(items.begin(), items.end(), [](const json& a, const json& b) {
        return time_of(a, "createdDateTime") > time_of(b, "createdDateTime");
    });
    return items;
}

}  // namespace connguard::graph_sim
