// graph_client's typed reads: each builds its URL, sends through the Graph request layer
// (detail/graph_requests.h) and turns the answer into its typed result, or graph.malformed.
#include <algorithm>

#include "agent/graph/detail/impl.h"
#include "agent/graph/detail/wire.h"
#include "agent/graph/graph_client.h"
#include "common/text.h"

namespace connguard::graph {

using nlohmann::json;
using namespace detail;

// ---- policies, locations, the account --------------------------------------------------------

result<bool> graph_client::security_defaults_enabled() {
    const std::string url = opts_.graph_url + "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy";
    auto j = impl_->requests.get_object(graph_call::security_defaults, url);
    if (!j) return j.err();
    const auto it = j->find("isEnabled");
    if (it == j->end() || !it->is_boolean())
        return malformed(opts_, {graph_call::security_defaults, "GET", url, {}}, "no boolean 'isEnabled'");
    return it->get<bool>();
}

namespace {

/// Each item of a policy/location collection must be an object with a string id.
status check_items(const graph_client_options& o, graph_call c, const std::string& url, const std::vector<json>& items) {
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (!items[i].is_object() || str(items[i], "id").empty())
            return malformed(o, {c, "GET", url, {}}, "item " + std::to_string(i) + " is not an object with an 'id'");
    }
    return {};
}

}  // namespace

result<std::vector<json>> graph_client::list_ca_policies() {
    const std::string url = opts_.graph_url + "/v1.0/identity/conditionalAccess/policies";
    auto items = impl_->requests.get_all(graph_call::ca_policies, url);
    if (!items) return items.err();
    if (auto st = check_items(opts_, graph_call::ca_policies, url, *items); !st) return st.err();
    return items;
}

result<std::optional<json>> graph_client::get_ca_policy(const std::string& policy_id) {
    const std::string url = opts_.graph_url + "/v1.0/identity/conditionalAccess/policies/" + segment(policy_id);
    auto j = impl_->requests.get_object(graph_call::ca_policy_get, url);
    if (!j) {
        if (j.err().code == "graph.not_found") return std::optional<json>{};
        return j.err();
    }
    if (str(*j, "id").empty()) return malformed(opts_, {graph_call::ca_policy_get, "GET", url, {}}, "no 'id'");
    return std::optional<json>{std::move(*j)};
}

result<std::vector<json>> graph_client::list_named_locations() {
    const std::string url = opts_.graph_url + "/v1.0/identity/conditionalAccess/namedLocations";
    auto items = impl_->requests.get_all(graph_call::named_locations, url);
    if (!items) return items.err();
    if (auto st = check_items(opts_, graph_call::named_locations, url, *items); !st) return st.err();
    return items;
}

result<std::optional<snapshot::account>> graph_client::get_user(const std::string& upn) {
    const std::string url = opts_.graph_url + "/v1.0/users/" + segment(upn) +
                            "?$select=id,userPrincipalName,displayName,accountEnabled,userType";
    auto j = impl_->requests.get_object(graph_call::user_by_upn, url);
    if (!j) {
        if (j.err().code == "graph.not_found") return std::optional<snapshot::account>{};
        return j.err();
    }
    snapshot::account a;
    a.id = str(*j, "id");
    if (a.id.empty()) return malformed(opts_, {graph_call::user_by_upn, "GET", url, {}}, "the user has no 'id'");
    a.user_principal_name = str(*j, "userPrincipalName");
    a.display_name = str(*j, "displayName");
    if (const auto e = j->find("accountEnabled"); e != j->end() && !e->is_null()) {
        if (!e->is_boolean()) return malformed(opts_, {graph_call::user_by_upn, "GET", url, {}}, "'accountEnabled' is not a boolean");
        a.account_enabled = e->get<bool>();
    }
    if (const std::string t = str(*j, "userType"); !t.empty()) a.user_type = t;
    return std::optional<snapshot::account>{std::move(a)};
}

result<std::vector<std::string>> graph_client::transitive_group_ids(const std::string& user_id) {
    const std::string url = opts_.graph_url + "/v1.0/users/" + segment(user_id) + "/transitiveMemberOf";
    auto items = impl_->requests.get_all(graph_call::transitive_member_of, url);
    if (!items) return items.err();
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < items->size(); ++i) {
        const json& it = (*items)[i];
        if (!it.is_object() || str(it, "id").empty())
            return malformed(opts_, {graph_call::transitive_member_of, "GET", url, {}},
                             "item " + std::to_string(i) + " is not an object with an 'id'");
        const std::string type = str(it, "@odata.type");
        if (!type.empty() && type != "#microsoft.graph.group") continue;  // directoryRole, administrativeUnit, ...
        ids.push_back(str(it, "id"));
    }
    return ids;
}

result<std::vector<snapshot::role_assignment>> graph_client::role_assignments(const std::string& user_id) {
    const std::string url = opts_.graph_url + "/v1.0/roleManagement/directory/roleAssignments?$filter=" +
                            http::url_encode("principalId eq '" + user_id + "'");
    auto items = impl_->requests.get_all(graph_call::role_assignments, url);
    if (!items) return items.err();
    std::vector<snapshot::role_assignment> out;
    for (std::size_t i = 0; i < items->size(); ++i) {
        const json& it = (*items)[i];
        snapshot::role_assignment ra;
        ra.id = str(it, "id");
        ra.role_template_id = str(it, "roleDefinitionId");
        ra.directory_scope_id = str(it, "directoryScopeId");
        if (ra.directory_scope_id.empty()) ra.directory_scope_id = "/";
        if (ra.id.empty() || ra.role_template_id.empty())
            return malformed(opts_, {graph_call::role_assignments, "GET", url, {}},
                             "item " + std::to_string(i) + " lacks 'id' or 'roleDefinitionId'");
        // The filter is the server's job, but never attribute someone else's role to the account.
        if (const std::string p = str(it, "principalId"); !p.empty() && p != user_id) continue;
        out.push_back(std::move(ra));
    }
    return out;
}

result<snapshot::registration> graph_client::registration_details(const std::string& user_id) {
    const std::string url =
        opts_.graph_url + "/v1.0/reports/authenticationMethods/userRegistrationDetails/" + segment(user_id);
    auto j = impl_->requests.get_object(graph_call::registration_details, url);
    if (!j) return j.err();
    const graph_request gr{graph_call::registration_details, "GET", url, {}};
    snapshot::registration reg;
    for (auto [key, field] : {std::pair{"isMfaRegistered", &reg.is_mfa_registered}, std::pair{"isMfaCapable", &reg.is_mfa_capable}}) {
        const auto it = j->find(key);
        if (it == j->end() || it->is_null()) continue;
        if (!it->is_boolean()) return malformed(opts_, gr, std::string("'") + key + "' is not a boolean");
        *field = it->get<bool>();
    }
    if (!j->contains("isMfaRegistered")) return malformed(opts_, gr, "no 'isMfaRegistered'");
    if (const auto m = j->find("methodsRegistered"); m != j->end() && !m->is_null()) {
        if (!m->is_array()) return malformed(opts_, gr, "'methodsRegistered' is not an array");
        for (const auto& v : *m)
            if (v.is_string()) reg.methods_registered.push_back(v.get<std::string>());
    }
    return reg;
}

result<std::string> graph_client::per_user_mfa_state(const std::string& user_id) {
    const std::string url = opts_.graph_url + "/beta/users/" + segment(user_id) + "/authentication/requirements";
    auto j = impl_->requests.get_object(graph_call::per_user_mfa_get, url);
    if (!j) return j.err();
    const std::string state = str(*j, "perUserMfaState");
    if (state.empty())
        return malformed(opts_, {graph_call::per_user_mfa_get, "GET", url, {}}, "no string 'perUserMfaState'");
    return state;
}

// ---- logs and What If ------------------------------------------------------------------------

namespace {

/// Graph's answer to a sign-in log read in a tenant without Entra ID P1 (graph.md §8.6).
bool not_premium(const http::response& resp) {
    if (resp.status != 403) return false;
    const json j = parse_json(resp.body);
    return j.is_object() && j.contains("error") && j["error"].is_object() &&
           str(j["error"], "code") == "Authentication_RequestFromNonPremiumTenantOrB2CTenant";
}

}  // namespace

result<std::vector<snapshot::signin_log_entry>> graph_client::recent_signins(const std::string& user_id,
                                                                             const std::string& after, int top) {
    std::string filter = "userId eq '" + user_id + "' and signInEventTypes/any(t: t eq 'nonInteractiveUser')";
    if (!after.empty()) filter += " and createdDateTime gt " + after;
    const std::string url = opts_.graph_url + "/beta/auditLogs/signIns?$filter=" + http::url_encode(filter) +
                            "&$top=" + std::to_string(std::clamp(top, 1, 1000));
    graph_request gr{graph_call::sign_ins, "GET", url, {}, "include-unknown-enum-members"};
    auto r = impl_->requests.send(gr);
    if (!r) return r.err();
    if (not_premium(*r))
        return make_error("graph.not_premium", "tenant " + opts_.tenant_key + ": " + to_string(gr.call) + " (GET " +
                                                   path_for_message(url) + "): 403 " + describe_graph_error(*r) +
                                                   "; the sign-in log needs Entra ID P1 or P2");
    if (r->status < 200 || r->status >= 300) return status_error(opts_, gr, *r);
    const json j = parse_json(r->body);
    if (!j.is_object() || !j.contains("value") || !j["value"].is_array())
        return malformed(opts_, gr, "the body is not a JSON object with a 'value' array");
    std::vector<snapshot::signin_log_entry> out;
    for (std::size_t i = 0; i < j["value"].size(); ++i) {
        const json& e = j["value"][i];
        snapshot::signin_log_entry x;
        x.id = str(e, "id");
        x.created = str(e, "createdDateTime");
        if (!e.is_object() || x.created.empty())
            return malformed(opts_, gr, "item " + std::to_string(i) + " is not a sign-in with a 'createdDateTime'");
        // The filter is the server's job, but never attribute someone else's sign-in to the account.
        if (const std::string u = str(e, "userId"); !u.empty() && u != user_id) continue;
        x.app_id = str(e, "appId");
        x.app_name = str(e, "appDisplayName");
        x.resource_id = str(e, "resourceId");
        x.resource_name = str(e, "resourceDisplayName");
        x.ip_address = str(e, "ipAddress");
        x.country = nested_str(e, "location", "countryOrRegion");
        x.client_app_used = str(e, "clientAppUsed");
        if (const auto st = e.find("status"); st != e.end() && st->is_object()) {
            if (const auto c = st->find("errorCode"); c != st->end() && !c->is_null()) {
                if (!c->is_number_integer()) return malformed(opts_, gr, "item " + std::to_string(i) + ": status.errorCode is not a number");
                x.error_code = c->get<int>();
            }
            x.failure_reason = str(*st, "failureReason");
        }
        if (const auto ap = e.find("appliedConditionalAccessPolicies"); ap != e.end() && ap->is_array()) {
            for (const auto& p : *ap) {
                if (!p.is_object()) continue;
                x.applied_policies.push_back({str(p, "id"), str(p, "displayName"), str(p, "result")});
            }
        }
        out.push_back(std::move(x));
    }
    return out;
}

result<std::vector<snapshot::policy_audit>> graph_client::policy_audits_since(const std::string& since) {
    std::string filter = "category eq 'Policy'";
    if (!since.empty()) filter += " and activityDateTime ge " + since;
    const std::string url = opts_.graph_url + "/v1.0/auditLogs/directoryAudits?$filter=" + http::url_encode(filter);
    auto items = impl_->requests.get_all(graph_call::directory_audits, url);
    if (!items) return items.err();
    std::vector<snapshot::policy_audit> out;
    for (const auto& e : *items) {
        if (!e.is_object()) continue;
        const std::string activity = str(e, "activityDisplayName");
        // Activities match case-insensitively (graph.md §8.5: the casing differs between sources).
        if (to_lower(activity).find("conditional access policy") == std::string::npos) continue;
        snapshot::policy_audit a;
        a.activity = activity;
        a.time = str(e, "activityDateTime");
        if (const auto by = e.find("initiatedBy"); by != e.end() && by->is_object()) {
            const std::string app = nested_str(*by, "app", "displayName");
            const std::string user = nested_str(*by, "user", "userPrincipalName");
            a.initiated_by = !app.empty() ? app : user;
            a.by_microsoft = app == "Microsoft Managed Policy Manager";
        }
        if (const auto t = e.find("targetResources"); t != e.end() && t->is_array()) {
            for (const auto& r : *t) {
                if (!str(r, "id").empty()) {
                    a.policy_id = str(r, "id");
                    break;
                }
            }
        }
        if (!a.policy_id.empty()) out.push_back(std::move(a));
    }
    return out;
}

result<std::vector<snapshot::whatif_answer>> graph_client::evaluate_what_if(const json& request) {
    const std::string url = opts_.graph_url + "/v1.0/identity/conditionalAccess/evaluate";
    const graph_request gr{graph_call::ca_evaluate, "POST", url, request.dump()};
    auto r = impl_->requests.send(gr);
    if (!r) return r.err();
    if (r->status < 200 || r->status >= 300) return status_error(opts_, gr, *r);
    const json j = parse_json(r->body);
    if (!j.is_object() || !j.contains("value") || !j["value"].is_array())
        return malformed(opts_, gr, "the body is not a JSON object with a 'value' array");
    std::vector<snapshot::whatif_answer> out;
    for (std::size_t i = 0; i < j["value"].size(); ++i) {
        const json& p = j["value"][i];
        const auto applies = p.is_object() ? p.find("policyApplies") : p.end();
        if (!p.is_object() || applies == p.end() || !applies->is_boolean())
            return malformed(opts_, gr, "item " + std::to_string(i) + " has no boolean 'policyApplies'");
        std::string reasons;
        if (const auto a = p.find("analysisReasons"); a != p.end()) {
            if (a->is_string()) reasons = a->get<std::string>();
            else if (a->is_array())
                for (const auto& x : *a)
                    if (x.is_string()) reasons += (reasons.empty() ? "" : ",") + x.get<std::string>();
        }
        out.push_back({str(p, "id"), str(p, "displayName"), applies->get<bool>(), reasons});
    }
    return out;
}

}  // namespace connguard::graph
