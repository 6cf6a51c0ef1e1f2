#include "tools/graph-sim/admin_api.h"

#include <chrono>
#include <optional>
#include <set>
#include <vector>

#include "common/ids.h"
#include "common/text.h"
#include "tools/graph-sim/audit_log.h"
#include "tools/graph-sim/graph_objects.h"
#include "tools/graph-sim/json_merge.h"
#include "tools/graph-sim/sign_in_log.h"
#include "tools/graph-sim/sim_util.h"
#include "tools/graph-sim/tenant_state.h"

namespace connguard::graph_sim {

using http::server_response;

namespace {

server_response admin_json(int status, const json& body) {
    server_response r;
    r.status = status;
    r.headers = {{"Content-Type", "application/json"}};
    if (status != 204) r.body = body.dump(2) + "\n";
    return r;
}

server_response admin_error(int status, const std::string& message) { return admin_json(status, {{"error", message}}); }

json tenant_counts_json(const counters& k) {
    return json{{"total", k.total}, {"token", k.token}, {"graph", k.graph}, {"throttled", k.throttled}, {"faults", k.faults},
                {"byRoute", k.by_route}};
}

json user_admin_json(const simulator::tenant_state& t, const user& u) {
    json out = u.graph;
    out["perUserMfaState"] = u.per_user_mfa_state;
    out["registration"] = u.registration;
    out["groups"] = u.groups;
    json roles = json::array();
    for (const auto& ra : u.roles) roles.push_back({{"id", ra.id}, {"roleDefinitionId", ra.role_definition_id}});
    out["roles"] = roles;
    out["transitiveGroups"] = t.transitive_groups(u);
    out["locked"] = u.locked;
    out["passwordExpired"] = u.password_expired;
    out["signInOutcomeOverride"] = u.sign_in_override ? json(*u.sign_in_override) : json(nullptr);
    return out;
}

/// One request on /_sim/tenants/{t}/...; the tenant is locked.
struct admin_call {
    const request_ctx& c;
    simulator::tenant_state& t;
    const std::vector<std::string>& seg;  ///< "_sim", "tenants", "{t}", ...
    const std::string& m;                 ///< method
    json& body;                           ///< parsed body ({} when empty)
};

// ---- /_sim/... (every tenant) -------------------------------------------------------------------

server_response all_requests(sim_handlers& sim, const std::string& m) {
    const auto all = sim.tenants();
    if (m == "DELETE") {
        for (auto& t : all) {
            std::lock_guard lock(t->mu);
            t->count = counters{};
        }
        return admin_json(204, {});
    }
    if (m != "GET") return admin_error(405, "use GET or DELETE");
    json tenants = json::object();
    long total = 0, token = 0, graph_n = 0, throttled_n = 0;
    for (auto& t : all) {
        std::lock_guard lock(t->mu);
        total += t->count.total;
        token += t->count.token;
        graph_n += t->count.graph;
        throttled_n += t->count.throttled;
        if (t->count.total > 0) tenants[t->sc.tenant_id] = tenant_counts_json(t->count);
    }
    return admin_json(200, {{"total", total}, {"token", token}, {"graph", graph_n}, {"throttled", throttled_n}, {"tenants", tenants}});
}

server_response all_ca_rate_limit(sim_handlers& sim, const std::string& m, const json& body) {
    if (m != "PUT" && m != "POST" && m != "PATCH") return admin_error(405, "use PUT");
    if (!body.contains("enabled") || !body["enabled"].is_boolean()) return admin_error(400, "body needs {\"enabled\": true|false}");
    const auto all = sim.tenants();
    for (auto& t : all) {
        std::lock_guard tl(t->mu);
        t->sc.ca_rate_limit_enabled = body["enabled"].get<bool>();
    }
    return admin_json(200, {{"enabled", body["enabled"]}, {"tenants", all.size()}});
}

server_response tenant_list(sim_handlers& sim) {
    json list = json::array();
    for (auto& t : sim.tenants())
        list.push_back({{"tenantId", t->sc.tenant_id}, {"domain", t->sc.domain}, {"displayName", t->sc.display_name},
                        {"file", t->sc.file.string()}});
    return admin_json(200, {{"value", list}});
}

// ---- /_sim/tenants/{t}/... ----------------------------------------------------------------------

/// GET /_sim/tenants/{t}: the tenant's state (no secrets) and its request counts.
server_response tenant_json(const simulator::tenant_state& t) {
    json users = json::array();
    for (const auto& u : t.sc.users) users.push_back(user_admin_json(t, u));
    json apps = json::array();
    for (const auto& a : t.sc.apps) {
        json certs = json::array();
        for (const auto& ce : a.certificates) certs.push_back({{"file", ce.file.string()}, {"x5t#S256", ce.x5t_s256}});
        apps.push_back({{"appId", a.app_id}, {"displayName", a.display_name}, {"permissions", a.permissions},
                        {"publicClient", a.public_client}, {"hasClientSecret", a.client_secret.has_value()},
                        {"certificates", certs}});
    }
    return admin_json(200, {{"tenantId", t.sc.tenant_id},
                            {"domain", t.sc.domain},
                            {"displayName", t.sc.display_name},
                            {"securityDefaultsEnabled", t.sc.security_defaults_enabled},
                            {"securityDefaultsUserMfa", t.sc.security_defaults_user_mfa},
                            {"ropcClientAppType", t.sc.ropc_client_app_type},
                            {"caRateLimit", {{"enabled", t.sc.ca_rate_limit_enabled}, {"requestsPerSecond", t.sc.ca_rate_limit_rps}}},
                            {"apps", apps},
                            {"users", users},
                            {"conditionalAccessPolicies", t.policies.json_list()},
                            {"namedLocations", t.sc.named_locations},
                            {"faults", faults_to_json(t.sc.faults)},
                            {"entraIdPremium", t.sc.entra_id_premium},
                            {"whatIfAnswers", t.sc.what_if_answers},
                            {"signIns", t.sc.sign_ins.size()},
                            {"requests", tenant_counts_json(t.count)}});
}

server_response security_defaults(const admin_call& a) {
    auto& t = a.t;
    if (a.m == "GET") return admin_json(200, security_defaults_json(t));
    if (a.m != "PUT" && a.m != "PATCH" && a.m != "POST") return admin_error(405, "use PATCH");
    if (!a.body.contains("isEnabled") || !a.body["isEnabled"].is_boolean()) return admin_error(400, "body needs {\"isEnabled\": true|false}");
    const bool old = t.sc.security_defaults_enabled;
    t.sc.security_defaults_enabled = a.body["isEnabled"].get<bool>();
    if (a.body.contains("userMfa") && a.body["userMfa"].is_boolean()) t.sc.security_defaults_user_mfa = a.body["userMfa"].get<bool>();
    if (old != t.sc.security_defaults_enabled) audit_security_defaults(t, actor{nullptr}, old, t.sc.security_defaults_enabled);
    return admin_json(200, security_defaults_json(t));
}

/// .../policies[/{id}]; nullopt for a path below a policy (unknown admin path).
std::optional<server_response> policies(const admin_call& a) {
    auto& t = a.t;
    const std::size_t n = a.seg.size();
    // ?initiatedBy=microsoft: the change is Microsoft's (Microsoft Managed Policy Manager), e.g. a
    // managed policy switched On; without it the portal admin made it.
    auto by = a.c.query.find("initiatedBy");
    if (by != a.c.query.end() && to_lower(by->second) != "microsoft" && to_lower(by->second) != "admin")
        return admin_error(400, "initiatedBy must be microsoft or admin");
    const actor who{nullptr, by != a.c.query.end() && to_lower(by->second) == "microsoft"};
    json& body = a.body;
    if (body.is_object())
        if (const std::string e = resolve_policy_sim_keys(body, std::chrono::system_clock::now()); !e.empty()) return admin_error(400, e);
    if (n == 4) {
        if (a.m == "GET") return admin_json(200, {{"value", t.policies.json_list()}});
        if (a.m != "POST") return admin_error(405, "use GET or POST");
        if (!body.is_object() || !body.contains("displayName")) return admin_error(400, "body must be a conditionalAccessPolicy with a displayName");
        if (!body.contains("id") || !body["id"].is_string()) body["id"] = new_uuid();
        if (t.policies.find(body["id"].get<std::string>())) return admin_error(409, "policy " + body["id"].get<std::string>() + " exists");
        if (!body.contains("createdDateTime")) body["createdDateTime"] = now_rfc3339();
        if (!body.contains("modifiedDateTime")) body["modifiedDateTime"] = nullptr;
        if (auto st = t.policies.add(body); !st) return admin_error(400, "the what-if engine refuses this policy: " + st.err().message);
        audit_policy(t, who, "Add Conditional Access policy", "Add", nullptr, &body);
        return admin_json(201, body);
    }
    if (n != 5) return std::nullopt;
    const std::string& id = a.seg[4];
    const json* p = t.policies.find(id);
    if (!p) return admin_error(404, "unknown policy '" + id + "'");
    if (a.m == "GET") return admin_json(200, *p);
    if (a.m == "PATCH" || a.m == "PUT") {
        if (!body.is_object()) return admin_error(400, "body must be a JSON object");
        const json before = *p;
        json updated = a.m == "PUT" ? body : *p;
        if (a.m == "PATCH") deep_merge(updated, body);
        updated["id"] = before["id"];
        if (!updated.contains("createdDateTime")) updated["createdDateTime"] = before.value("createdDateTime", json(nullptr));
        updated["modifiedDateTime"] = now_rfc3339();
        if (auto st = t.policies.replace(id, std::move(updated)); !st)
            return admin_error(400, "the what-if engine refuses this policy: " + st.err().message);
        p = t.policies.find(id);
        audit_policy(t, who, "Update Conditional Access policy", "Update", &before, p);
        return admin_json(200, *p);
    }
    if (a.m == "DELETE") {
        const json before = *p;
        t.policies.remove(id);
        audit_policy(t, who, "Delete Conditional Access policy", "Delete", &before, nullptr);
        return admin_json(204, {});
    }
    return admin_error(405, "use GET, PATCH, PUT or DELETE");
}

/// GET/PATCH .../users/{u}: registration facts, sign-in outcome, groups, any Graph property.
server_response one_user(const admin_call& a, user& u) {
    auto& t = a.t;
    const json& body = a.body;
    if (a.m == "GET") return admin_json(200, user_admin_json(t, u));
    if (a.m != "PATCH" && a.m != "PUT" && a.m != "POST") return admin_error(405, "use GET or PATCH");
    if (!body.is_object()) return admin_error(400, "body must be a JSON object of user fields");
    if (body.contains("perUserMfaState")) {
        const json& v = body["perUserMfaState"];
        if (!v.is_string() || (v != "disabled" && v != "enabled" && v != "enforced"))
            return admin_error(400, "perUserMfaState must be disabled, enabled or enforced");
    }
    if (body.contains("signInOutcomeOverride") && !body["signInOutcomeOverride"].is_null() && !body["signInOutcomeOverride"].is_number_integer())
        return admin_error(400, "signInOutcomeOverride must be an AADSTS code or null");
    if (body.contains("groups") && body["groups"].is_array())
        for (const auto& g : body["groups"])
            if (!g.is_string() || !t.sc.groups.count(to_lower(g.get<std::string>()))) return admin_error(400, "unknown group " + g.dump());
    const std::string old_mfa = u.per_user_mfa_state;
    apply_user_fields(u, body);
    if (old_mfa != u.per_user_mfa_state) audit_per_user_mfa(t, actor{nullptr}, u, old_mfa, u.per_user_mfa_state);
    return admin_json(200, user_admin_json(t, u));
}

/// .../users/{u}/roles[/{roleTemplateId or assignmentId}].
server_response user_roles(const admin_call& a, user& u) {
    auto& t = a.t;
    const std::size_t n = a.seg.size();
    if (n == 6 && a.m == "GET") {
        json roles = json::array();
        for (const auto& ra : u.roles) roles.push_back(assignment_json(u, ra));
        return admin_json(200, {{"value", roles}});
    }
    if (n == 6 && a.m == "POST") {
        const std::string rid = to_lower(a.body.value("roleDefinitionId", std::string()));
        if (!is_guid(rid)) return admin_error(400, "body needs {\"roleDefinitionId\": \"<role template id>\"}");
        for (const auto& ra : u.roles)
            if (ra.role_definition_id == rid) return admin_json(200, assignment_json(u, ra));
        role_assignment ra;
        ra.role_definition_id = rid;
        ra.id = a.body.value("id", role_assignment_id(rid, u.id));
        u.roles.push_back(ra);
        audit_role(t, actor{nullptr}, u, "Add member to role", "Assign",
                   json::array({modified_property("Role.TemplateId", "", json(rid).dump()),
                                modified_property("Role.DisplayName", "", json(role_name(rid)).dump())}));
        return admin_json(201, assignment_json(u, ra));
    }
    if (n == 7 && a.m == "DELETE") {
        for (std::size_t i = 0; i < u.roles.size(); ++i) {
            if (u.roles[i].id == a.seg[6] || u.roles[i].role_definition_id == to_lower(a.seg[6])) {
                const std::string rid = u.roles[i].role_definition_id;
                u.roles.erase(u.roles.begin() + static_cast<std::ptrdiff_t>(i));
                audit_role(t, actor{nullptr}, u, "Remove member from role", "Unassign",
                           json::array({modified_property("Role.TemplateId", json(rid).dump(), "")}));
                return admin_json(204, {});
            }
        }
        return admin_error(404, "user has no role assignment '" + a.seg[6] + "'");
    }
    return admin_error(405, "use GET or POST on .../roles, DELETE on .../roles/{roleTemplateId|assignmentId}");
}

server_response update_app(const admin_call& a) {
    app* ap = a.t.find_app(a.seg[4]);
    if (!ap) return admin_error(404, "unknown app '" + a.seg[4] + "'");
    if (a.m != "PATCH" && a.m != "PUT") return admin_error(405, "use PATCH");
    const json& body = a.body;
    if (body.contains("permissions")) {
        if (!body["permissions"].is_array()) return admin_error(400, "permissions must be an array of strings");
        ap->permissions.clear();
        for (const auto& p : body["permissions"])
            if (p.is_string()) ap->permissions.insert(p.get<std::string>());
    }
    if (body.contains("publicClient") && body["publicClient"].is_boolean()) ap->public_client = body["publicClient"].get<bool>();
    if (body.contains("clientSecret") && body["clientSecret"].is_string()) ap->client_secret = body["clientSecret"].get<std::string>();
    if (body.contains("clientSecretExpired") && body["clientSecretExpired"].is_boolean())
        ap->client_secret_expired = body["clientSecretExpired"].get<bool>();
    return admin_json(200, {{"appId", ap->app_id}, {"permissions", ap->permissions}, {"publicClient", ap->public_client}});
}

server_response faults(const admin_call& a) {
    auto& t = a.t;
    if (a.m == "GET") return admin_json(200, faults_to_json(t.sc.faults));
    if (a.m == "DELETE") {
        t.sc.faults = fault_config{};
        return admin_json(204, {});
    }
    if (a.m != "PUT" && a.m != "POST") return admin_error(405, "use GET, PUT/POST or DELETE");
    auto f = parse_faults(a.body, "faults");
    if (!f) return admin_error(400, f.err().message);
    t.sc.faults = std::move(*f);
    t.seed_rng();
    return admin_json(200, faults_to_json(t.sc.faults));
}

server_response ca_rate_limit(const admin_call& a) {
    auto& t = a.t;
    const json& body = a.body;
    if (a.m == "GET") return admin_json(200, {{"enabled", t.sc.ca_rate_limit_enabled}, {"requestsPerSecond", t.sc.ca_rate_limit_rps}});
    if (!body.contains("enabled") || !body["enabled"].is_boolean()) return admin_error(400, "body needs {\"enabled\": true|false}");
    t.sc.ca_rate_limit_enabled = body["enabled"].get<bool>();
    if (body.contains("requestsPerSecond") && body["requestsPerSecond"].is_number() && body["requestsPerSecond"].get<double>() > 0)
        t.sc.ca_rate_limit_rps = body["requestsPerSecond"].get<double>();
    t.ca_next_allowed = {};
    return admin_json(200, {{"enabled", t.sc.ca_rate_limit_enabled}, {"requestsPerSecond", t.sc.ca_rate_limit_rps}});
}

server_response sign_ins(const admin_call& a) {
    auto& t = a.t;
    const json& body = a.body;
    if (a.m == "GET") return admin_json(200, {{"value", sign_ins_newest_first(t)}});
    if (a.m == "DELETE") {
        t.sc.sign_ins.clear();
        return admin_json(204, {});
    }
    if (a.m != "POST") return admin_error(405, "use GET, POST or DELETE");
    const json entries = body.is_array() ? body : json::array({body});
    for (std::size_t i = 0; i < entries.size(); ++i)
        if (const std::string e = check_sign_in(entries[i]); !e.empty()) return admin_error(400, "signIns[" + std::to_string(i) + "]: " + e);
    json added = json::array();
    for (const auto& e : entries) {
        json filled = fill_sign_in(t, e);
        added.push_back(filled);
        t.add_sign_in(std::move(filled));
    }
    return admin_json(201, body.is_array() ? json{{"value", added}} : added[0]);
}

server_response what_if_answers(const admin_call& a) {
    auto& t = a.t;
    if (a.m == "GET") return admin_json(200, t.sc.what_if_answers);
    if (a.m != "PUT") return admin_error(405, "use GET or PUT (PUT replaces; {} clears)");
    auto answers = parse_what_if_answers(a.body, t.policies.ids(), "whatif-answers");
    if (!answers) return admin_error(400, answers.err().message);
    t.sc.what_if_answers = std::move(*answers);
    return admin_json(200, t.sc.what_if_answers);
}

}  // namespace

server_response handle_admin_request(sim_handlers& sim, request_ctx& c, std::string& log_tenant) {
    const auto seg = split_path(c.req.path);  // "_sim", ...
    const std::string& m = c.req.method;
    const std::size_t n = seg.size();
    json body = json::object();
    if (!c.req.body.empty()) {
        body = json::parse(c.req.body, nullptr, false);
        if (body.is_discarded()) return admin_error(400, "request body is not valid JSON");
    }
    const std::string unknown = "unknown admin path " + c.req.path + " (see tools/graph-sim/README.md)";
    if (n == 2 && seg[1] == "health") return admin_json(200, {{"status", "ok"}, {"tenants", sim.tenant_count()}});
    if (n == 2 && seg[1] == "reload") {
        if (m != "POST") return admin_error(405, "use POST");
        if (auto st = sim.reload(); !st) return admin_error(400, st.err().message);
        return admin_json(200, {{"status", "reloaded"}, {"tenants", sim.tenant_count()}});
    }
    if (n == 2 && seg[1] == "requests") return all_requests(sim, m);
    if (n == 2 && seg[1] == "ca-rate-limit") return all_ca_rate_limit(sim, m, body);
    if (n == 2 && seg[1] == "tenants") return tenant_list(sim);
    if (n < 3 || seg[1] != "tenants") return admin_error(404, unknown);

    auto tp = sim.find_tenant(seg[2]);
    if (!tp) return admin_error(404, "unknown tenant '" + seg[2] + "'");
    auto& t = *tp;
    std::lock_guard lock(t.mu);
    log_tenant = t.sc.tenant_id;
    if (n == 3) {
        if (m != "GET") return admin_error(405, "use GET");
        return tenant_json(t);
    }
    const admin_call a{c, t, seg, m, body};
    const std::string& what = seg[3];
    if (what == "security-defaults" && n == 4) return security_defaults(a);
    if (what == "policies")
        if (auto r = policies(a)) return *r;
    if (what == "users" && n >= 5) {
        user* u = t.find_user(seg[4]);
        if (!u) return admin_error(404, "unknown user '" + seg[4] + "'");
        if (n == 5) return one_user(a, *u);
        if (seg[5] == "roles") return user_roles(a, *u);
    }
    if (what == "apps" && n == 5) return update_app(a);
    if (what == "faults" && n == 4) return faults(a);
    if (what == "ca-rate-limit" && n == 4) return ca_rate_limit(a);
    if (what == "tokens" && n == 5 && seg[4] == "revoke") {
        if (m != "POST") return admin_error(405, "use POST");
        ++t.token_generation;
        return admin_json(200, {{"revoked", true}, {"generation", t.token_generation}});
    }
    if (what == "requests" && n == 4) {
        if (m == "DELETE") {
            t.count = counters{};
            return admin_json(204, {});
        }
        return admin_json(200, tenant_counts_json(t.count));
    }
    if (what == "audits" && n == 4) return admin_json(200, {{"value", t.sc.audits}});
    if (what == "signins" && n == 4) return sign_ins(a);
    if (what == "whatif-answers" && n == 4) return what_if_answers(a);
    return admin_error(404, unknown);
}

}  // namespace connguard::graph_sim
