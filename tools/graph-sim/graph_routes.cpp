#include "tools/graph-sim/graph_routes.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <vector>

#include "agent/whatif/evaluate.h"
#include "agent/whatif/sign_in.h"
#include "common/ids.h"
#include "common/text.h"
#include "tools/graph-sim/access_token.h"
#include "tools/graph-sim/audit_log.h"
#include "tools/graph-sim/fault_injection.h"
#include "tools/graph-sim/graph_objects.h"
#include "tools/graph-sim/graph_wire.h"
#include "tools/graph-sim/json_merge.h"
#include "tools/graph-sim/sign_in_log.h"
#include "tools/graph-sim/sim_util.h"
#include "tools/graph-sim/tenant_state.h"

namespace connguard::graph_sim {

using http::server_response;

namespace {

// ---- permissions (Graph application permissions; a set is "any of") ---------------------------

using perm_set = std::set<std::string>;
const perm_set perm_secdef_read = {"Policy.Read.All", "Policy.ReadWrite.SecurityDefaults", "Policy.ReadWrite.ConditionalAccess"};
const perm_set perm_secdef_write = {"Policy.ReadWrite.SecurityDefaults"};
const perm_set perm_ca_read = {"Policy.Read.All", "Policy.Read.ConditionalAccess", "Policy.ReadWrite.ConditionalAccess"};
const perm_set perm_ca_write = {"Policy.ReadWrite.ConditionalAccess"};
const perm_set perm_policy_read_all = {"Policy.Read.All"};
const perm_set perm_users_read = {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All",
                                  "User.ReadBasic.All"};
const perm_set perm_member_read = {"GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All",
                                   "Directory.ReadWrite.All", "User.Read.All", "User.ReadWrite.All"};
const perm_set perm_roles_read = {"RoleManagement.Read.Directory", "RoleManagement.Read.All", "Directory.Read.All",
                                  "RoleManagement.ReadWrite.Directory", "Directory.ReadWrite.All"};
const perm_set perm_roles_write = {"RoleManagement.ReadWrite.Directory"};
const perm_set perm_audit = {"AuditLog.Read.All"};
const perm_set perm_peruser_read = {"Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"};
const perm_set perm_peruser_write = {"Policy.ReadWrite.AuthenticationMethod"};
const perm_set perm_org_read = {"Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All",
                                "Directory.ReadWrite.All", "User.Read.All"};

bool granted(const app* a, const perm_set& any_of) {
    if (!a) return false;
    for (const auto& p : any_of)
        if (a->permissions.count(p)) return true;
    return false;
}

// ---- the route table --------------------------------------------------------------------------

/// What a handler gets: the request, the tenant (locked), the calling app, the path.
struct graph_call {
    const request_ctx& c;
    simulator::tenant_state& t;
    const app* caller;                     ///< null for a user token
    const std::string& version;            ///< "v1.0" or "beta"
    const std::vector<std::string>& seg;   ///< path segments; seg[0] is the version
    std::size_t page_size;

    server_response list(const std::string& context_suffix, std::vector<json> items) const {
        return graph_list(c, page_size, version, context_suffix, std::move(items));
    }
    server_response entity(const std::string& context_suffix, const json& item) const {
        return graph_entity(c, version, context_suffix, item);
    }
    actor who() const { return actor{caller}; }
};

using graph_handler = server_response (*)(const graph_call&);

struct graph_route {
    const char* method;
    const char* pattern;                   ///< below the version; "{…}" matches any one segment
    std::vector<perm_set> permissions;     ///< every set must be granted (each: any of)
    graph_handler handler;
    bool beta_only = false;                ///< v1.0 answers 404 for the last segment (after counting)
    bool method_checked_first = false;     ///< a wrong method is 405 before the route is counted
};

// ---- handlers: security defaults ---------------------------------------------------------------

server_response get_security_defaults(const graph_call& g) {
    return g.entity("policies/identitySecurityDefaultsEnforcementPolicy", security_defaults_json(g.t));
}

server_response patch_security_defaults(const graph_call& g) {
    json body;
    if (auto e = read_json_body(g.c, body)) return *e;
    for (auto it = body.begin(); it != body.end(); ++it)
        if (it.key() != "isEnabled" && it.key().rfind("@odata", 0) != 0)
            return bad_request(g.c, "Property '" + it.key() + "' is read-only and cannot be set.");
    if (!body.contains("isEnabled") || !body["isEnabled"].is_boolean())
        return bad_request(g.c, "Invalid value for property 'isEnabled': a Boolean is required.");
    const bool old_value = g.t.sc.security_defaults_enabled;
    g.t.sc.security_defaults_enabled = body["isEnabled"].get<bool>();
    audit_security_defaults(g.t, g.who(), old_value, g.t.sc.security_defaults_enabled);
    return no_content(g.c);
}

// ---- handlers: Conditional Access --------------------------------------------------------------

server_response list_policies(const graph_call& g) {
    return g.list("identity/conditionalAccess/policies", g.t.policies.json_list());
}

server_response create_policy(const graph_call& g) {
    json body;
    if (auto e = read_json_body(g.c, body)) return *e;
    if (!body.contains("displayName") || !body["displayName"].is_string()) return bad_request(g.c, "Property 'displayName' is required.");
    if (!body.contains("conditions") || !body["conditions"].is_object()) return bad_request(g.c, "Property 'conditions' is required.");
    body["id"] = new_uuid();
    body["createdDateTime"] = now_rfc3339();
    body["modifiedDateTime"] = nullptr;
    if (!body.contains("state")) body["state"] = "enabled";
    if (auto st = g.t.policies.add(body); !st) return bad_request(g.c, st.err().message);
    audit_policy(g.t, g.who(), "Add Conditional Access policy", "Add", nullptr, &body);
    server_response r = g.entity("identity/conditionalAccess/policies/$entity", body);
    r.status = 201;
    r.headers.emplace_back("Location", g.c.base + "/" + g.version + "/identity/conditionalAccess/policies/" + body["id"].get<std::string>());
    return r;
}

server_response get_policy(const graph_call& g) {
    const json* p = g.t.policies.find(g.seg[4]);
    if (!p) return not_found(g.c, g.seg[4]);
    return g.entity("identity/conditionalAccess/policies/$entity", *p);
}

/// PATCH: deep merge; id, createdDateTime and modifiedDateTime are ignored; modifiedDateTime is set.
server_response update_policy(const graph_call& g) {
    const std::string& id = g.seg[4];
    const json* p = g.t.policies.find(id);
    if (!p) return not_found(g.c, id);
    json body;
    if (auto e = read_json_body(g.c, body)) return *e;
    const json before = *p;
    json updated = *p;
    body.erase("id");
    body.erase("createdDateTime");
    body.erase("modifiedDateTime");
    deep_merge(updated, body);
    if (updated.contains("state") && updated["state"].is_string()) {
        const std::string st = updated["state"].get<std::string>();
        if (st != "enabled" && st != "disabled" && st != "enabledForReportingButNotEnforced")
            return bad_request(g.c, "Invalid value '" + st + "' for property 'state'.");
    }
    updated["modifiedDateTime"] = now_rfc3339();
    if (auto st = g.t.policies.replace(id, std::move(updated)); !st) return bad_request(g.c, st.err().message);
    audit_policy(g.t, g.who(), "Update Conditional Access policy", "Update", &before, g.t.policies.find(id));
    return no_content(g.c);
}

server_response delete_policy(const graph_call& g) {
    const std::string& id = g.seg[4];
    const json* p = g.t.policies.find(id);
    if (!p) return not_found(g.c, id);
    const json before = *p;
    g.t.policies.remove(id);
    audit_policy(g.t, g.who(), "Delete Conditional Access policy", "Delete", &before, nullptr);
    return no_content(g.c);
}

/// What If (graph.md §4.1): Microsoft's answer is the scenario's whatIfAnswers where declared, else
/// the simulator's model of Entra (the what-if engine, as for ROPC).
server_response evaluate_policies(const graph_call& g) {
    json body;
    if (auto e = read_json_body(g.c, body)) return *e;
    // All three are required by Graph (the engine itself defaults missing conditions).
    for (const char* field : {"signInIdentity", "signInContext", "signInConditions"})
        if (!body.contains(field) || body[field].is_null()) return bad_request(g.c, std::string("Invalid request body: ") + field + ": missing");
    auto req = whatif::parse_evaluate_request(body);
    if (!req) return bad_request(g.c, "Invalid request body: " + req.err().message);
    bool applied_only = false;
    if (body.contains("appliedPoliciesOnly") && !body["appliedPoliciesOnly"].is_null()) {
        if (!body["appliedPoliciesOnly"].is_boolean()) return bad_request(g.c, "Invalid request body: appliedPoliciesOnly: expected a Boolean.");
        applied_only = body["appliedPoliciesOnly"].get<bool>();
    }
    const user* u = nullptr;
    if (req->identity_kind == whatif::sign_in::identity::user) {
        u = g.t.find_user(req->user_id);
        if (!u) return not_found(g.c, req->user_id);
    }
    const std::vector<json>& sources = g.t.policies.json_list();
    const whatif::evaluation ev = whatif::evaluate(g.t.policies.parsed(), g.t.directory_for(u), *req);
    json value = json::array();
    for (std::size_t i = 0; i < sources.size() && i < ev.policies.size(); ++i) {
        json item = sources[i];
        item.erase("@odata.context");
        bool applies = ev.policies[i].applies;
        std::string reasons = whatif::reasons_to_string(ev.policies[i].analysis_reasons);
        auto declared = g.t.sc.what_if_answers.find(to_lower(sources[i].value("id", std::string())));
        if (declared != g.t.sc.what_if_answers.end()) {
            applies = (*declared)["policyApplies"].get<bool>();
            reasons = (*declared)["analysisReasons"].get<std::string>();
        }
        if (applied_only && !applies) continue;
        item["policyApplies"] = applies;
        item["analysisReasons"] = reasons;
        value.push_back(std::move(item));
    }
    return graph_json(g.c, 200,
                      {{"@odata.context", context_url(g.c, g.version, "Collection(microsoft.graph.whatIfAnalysisResult)")}, {"value", value}});
}

server_response list_named_locations(const graph_call& g) {
    return g.list("identity/conditionalAccess/namedLocations", g.t.sc.named_locations);
}

server_response get_named_location(const graph_call& g) {
    for (const auto& l : g.t.sc.named_locations)
        if (to_lower(l.value("id", std::string())) == to_lower(g.seg[4])) return g.entity("identity/conditionalAccess/namedLocations/$entity", l);
    return not_found(g.c, g.seg[4]);
}

// ---- handlers: users ---------------------------------------------------------------------------

server_response list_users(const graph_call& g) {
    std::vector<json> items;
    const bool selected = g.c.query.count("$select") > 0;
    for (const auto& u : g.t.sc.users) items.push_back(selected ? user_full_json(u) : user_default_json(u));
    // $filter sees every property; the page shows the default set unless $select is given.
    if (g.c.query.count("$filter") && !selected) {
        std::vector<json> full;
        for (const auto& u : g.t.sc.users) full.push_back(user_full_json(u));
        auto f = parse_filter(g.c.query.at("$filter"));
        if (!f) return bad_request(g.c, f.err().message);
        items.clear();
        for (std::size_t i = 0; i < full.size(); ++i)
            if (matches(full[i], *f)) items.push_back(user_default_json(g.t.sc.users[i]));
        request_ctx c2 = g.c;
        c2.query.erase("$filter");
        return graph_list(c2, g.page_size, g.version, "users", items);
    }
    return g.list("users", items);
}

server_response get_user(const graph_call& g) {
    const user* u = g.t.find_user(g.seg[2]);
    if (!u) return not_found(g.c, g.seg[2]);
    if (g.c.query.count("$select")) return g.entity("users(" + g.c.query.at("$select") + ")/$entity", user_full_json(*u));
    return g.entity("users/$entity", user_default_json(*u));
}

/// memberOf (direct groups) and transitiveMemberOf (nested groups), plus the directory roles.
server_response list_user_member_of(const graph_call& g) {
    const user* u = g.t.find_user(g.seg[2]);
    if (!u) return not_found(g.c, g.seg[2]);
    std::vector<json> items;
    const std::set<std::string> groups =
        g.seg[3] == "memberOf" ? std::set<std::string>(u->groups.begin(), u->groups.end()) : g.t.transitive_groups(*u);
    for (const auto& gid : groups) {
        auto it = g.t.sc.groups.find(gid);
        items.push_back({{"@odata.type", "#microsoft.graph.group"},
                         {"id", gid},
                         {"displayName", it == g.t.sc.groups.end() ? gid : it->second.display_name},
                         {"securityEnabled", true},
                         {"mailEnabled", false},
                         {"groupTypes", json::array()}});
    }
    for (const auto& ra : u->roles)
        items.push_back({{"@odata.type", "#microsoft.graph.directoryRole"},
                         {"id", derived_guid(g.t.sc.tenant_id + ra.role_definition_id)},
                         {"displayName", role_name(ra.role_definition_id)},
                         {"roleTemplateId", ra.role_definition_id},
                         {"deletedDateTime", nullptr}});
    return g.list("directoryObjects", items);
}

server_response get_mfa_requirements(const graph_call& g) {
    const user* u = g.t.find_user(g.seg[2]);
    if (!u) return not_found(g.c, g.seg[2]);
    return graph_json(g.c, 200,
                      {{"@odata.context", context_url(g.c, g.version, "users('" + u->id + "')/authentication/requirements/$entity")},
                       {"perUserMfaState", u->per_user_mfa_state}});
}

server_response patch_mfa_requirements(const graph_call& g) {
    user* u = g.t.find_user(g.seg[2]);
    if (!u) return not_found(g.c, g.seg[2]);
    json body;
    if (auto e = read_json_body(g.c, body)) return *e;
    if (!body.contains("perUserMfaState") || !body["perUserMfaState"].is_string())
        return bad_request(g.c, "Property 'perUserMfaState' is required.");
    std::string st = body["perUserMfaState"].get<std::string>();
    if (st != "disabled" && st != "enabled" && st != "enforced")
        return bad_request(g.c, "Invalid value '" + st + "' for property 'perUserMfaState'.");
    // "enabled" on a user who already has an MFA method moves them to "enforced" (graph.md §6.2).
    if (st == "enabled" && u->is_mfa_registered()) st = "enforced";
    const std::string old = u->per_user_mfa_state;
    u->per_user_mfa_state = st;
    audit_per_user_mfa(g.t, g.who(), *u, old, st);
    return no_content(g.c);
}

// ---- handlers: roles, registration, logs, organization -------------------------------------------

server_response list_role_assignments(const graph_call& g) {
    std::vector<json> items;
    for (const auto& u : g.t.sc.users)
        for (const auto& ra : u.roles) items.push_back(assignment_json(u, ra));
    return g.list("roleManagement/directory/roleAssignments", items);
}

/// The user holding role assignment `id` and the assignment's index (owner null when none).
std::pair<user*, std::size_t> find_assignment(simulator::tenant_state& t, const std::string& id) {
    user* owner = nullptr;
    std::size_t index = 0;
    for (auto& u : t.sc.users)
        for (std::size_t i = 0; i < u.roles.size(); ++i)
            if (u.roles[i].id == id) {
                owner = &u;
                index = i;
            }
    return {owner, index};
}

server_response get_role_assignment(const graph_call& g) {
    const auto [owner, index] = find_assignment(g.t, g.seg[4]);
    if (!owner) return not_found(g.c, g.seg[4]);
    return g.entity("roleManagement/directory/roleAssignments/$entity", assignment_json(*owner, owner->roles[index]));
}

server_response delete_role_assignment(const graph_call& g) {
    const auto [owner, index] = find_assignment(g.t, g.seg[4]);
    if (!owner) return not_found(g.c, g.seg[4]);
    const role_assignment ra = owner->roles[index];
    owner->roles.erase(owner->roles.begin() + static_cast<std::ptrdiff_t>(index));
    audit_role(g.t, g.who(), *owner, "Remove member from role", "Unassign",
               json::array({modified_property("Role.TemplateId", json(ra.role_definition_id).dump(), ""),
                            modified_property("Role.DisplayName", json(role_name(ra.role_definition_id)).dump(), "")}));
    return no_content(g.c);
}

server_response list_registrations(const graph_call& g) {
    std::vector<json> items;
    for (const auto& u : g.t.sc.users) items.push_back(registration_json(u));
    return g.list("reports/authenticationMethods/userRegistrationDetails", items);
}

server_response get_registration(const graph_call& g) {
    const user* u = nullptr;
    for (const auto& x : g.t.sc.users)
        if (x.id == to_lower(g.seg[4])) u = &x;
    if (!u) return not_found(g.c, g.seg[4]);
    return g.entity("reports/authenticationMethods/userRegistrationDetails/$entity", registration_json(*u));
}

server_response list_directory_audits(const graph_call& g) {
    std::vector<json> items(g.t.sc.audits.rbegin(), g.t.sc.audits.rend());  // newest first
    std::stable_sort(items.begin(), items.end(), [](const json& a, const json& b) {
        return time_of(a, "activityDateTime") > time_of(b, "activityDateTime");
    });
    return g.list("auditLogs/directoryAudits", items);
}

/// graph.md §8.6: v1.0 has interactive sign-ins only; beta has every kind and signInEventTypes.
server_response list_sign_ins(const graph_call& g) {
    const request_ctx& c = g.c;
    if (!g.t.sc.entra_id_premium)
        return graph_error(c, 403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                           "Neither tenant is B2C or tenant doesn't have premium license");
    const bool beta = g.version == "beta";
    if (auto top = c.query.find("$top"); top != c.query.end()) {
        long v = 0;
        try {
            v = std::stol(top->second);
        } catch (...) {
            v = 0;
        }
        if (v < 1 || v > 1000) return bad_request(c, "Invalid page size specified: '" + top->second + "'. Must be between 1 and 1000 inclusive.");
    }
    if (!beta && c.query.count("$filter") && to_lower(c.query.at("$filter")).find("signineventtypes") != std::string::npos)
        return bad_request(c, "Could not find a property named 'signInEventTypes' on type 'microsoft.graph.signIn'.");
    const bool include_unknown = to_lower(c.req.header("Prefer")).find("include-unknown-enum-members") != std::string::npos;
    static const std::vector<std::string> beta_only = {
        "signInEventTypes", "authenticationProtocol", "authenticationRequirement", "authenticationRequirementPolicies",
        "authenticationDetails", "mfaDetail", "conditionalAccessAudiences", "userType", "originalTransferMethod",
        "tokenIssuerType", "sessionId"};
    std::vector<json> items;
    for (const json& e : sign_ins_newest_first(g.t)) {
        if (!beta && !e.value("isInteractive", false)) continue;
        json item = mask_unknown_enums(e, include_unknown);
        if (!beta)
            for (const auto& k : beta_only) item.erase(k);
        items.push_back(std::move(item));
    }
    return g.list("auditLogs/signIns", items);
}

server_response get_organization(const graph_call& g) {
    std::vector<json> items{{{"id", g.t.sc.tenant_id},
                             {"displayName", g.t.sc.display_name},
                             {"tenantType", "AAD"},
                             {"verifiedDomains", json::array({{{"name", g.t.sc.domain}, {"isDefault", true}, {"isInitial", true}, {"type", "Managed"}, {"capabilities", "Email, OfficeCommunicationsOnline"}}})}}};
    return g.list("organization", items);
}

// ---- the table --------------------------------------------------------------------------------

const std::vector<graph_route>& graph_routes() {
    static const std::vector<graph_route> table = {
        {"GET", "policies/identitySecurityDefaultsEnforcementPolicy", {perm_secdef_read}, get_security_defaults},
        {"PATCH", "policies/identitySecurityDefaultsEnforcementPolicy", {perm_secdef_write}, patch_security_defaults},
        {"GET", "identity/conditionalAccess/policies", {perm_ca_read}, list_policies},
        {"POST", "identity/conditionalAccess/policies", {perm_ca_write, perm_policy_read_all}, create_policy},
        {"GET", "identity/conditionalAccess/policies/{id}", {perm_ca_read}, get_policy},
        {"PATCH", "identity/conditionalAccess/policies/{id}", {perm_ca_write, perm_policy_read_all}, update_policy},
        {"DELETE", "identity/conditionalAccess/policies/{id}", {perm_ca_write}, delete_policy},
        {"POST", "identity/conditionalAccess/evaluate", {perm_ca_read}, evaluate_policies},
        {"GET", "identity/conditionalAccess/namedLocations", {perm_ca_read}, list_named_locations},
        {"GET", "identity/conditionalAccess/namedLocations/{id}", {perm_ca_read}, get_named_location},
        {"GET", "users", {perm_users_read}, list_users},
        {"GET", "users/{id}", {perm_users_read}, get_user},
        {"GET", "users/{id}/transitiveMemberOf", {perm_member_read}, list_user_member_of},
        {"GET", "users/{id}/memberOf", {perm_member_read}, list_user_member_of},
        {"GET", "users/{id}/authentication/requirements", {perm_peruser_read}, get_mfa_requirements, true},
        {"PATCH", "users/{id}/authentication/requirements", {perm_peruser_write}, patch_mfa_requirements, true},
        {"GET", "roleManagement/directory/roleAssignments", {perm_roles_read}, list_role_assignments},
        {"GET", "roleManagement/directory/roleAssignments/{id}", {perm_roles_read}, get_role_assignment},
        {"DELETE", "roleManagement/directory/roleAssignments/{id}", {perm_roles_write}, delete_role_assignment},
        {"GET", "reports/authenticationMethods/userRegistrationDetails", {perm_audit}, list_registrations, false, true},
        {"GET", "reports/authenticationMethods/userRegistrationDetails/{id}", {perm_audit}, get_registration, false, true},
        {"GET", "auditLogs/directoryAudits", {perm_audit}, list_directory_audits},
        {"GET", "auditLogs/signIns", {perm_audit}, list_sign_ins},
        {"GET", "organization", {perm_org_read}, get_organization},
    };
    return table;
}

/// True when `pattern` matches seg[1...] ("{…}" matches any one segment).
bool path_matches(const std::string& pattern, const std::vector<std::string>& seg) {
    const auto parts = split_path(pattern);
    if (parts.size() + 1 != seg.size()) return false;
    for (std::size_t i = 0; i < parts.size(); ++i)
        if (parts[i].front() != '{' && parts[i] != seg[i + 1]) return false;
    return true;
}

/// A path no route matches: Graph's 404 names the segment it stopped at, which depends on the
/// area; an unknown area is counted as "<method> /<version>/?".
server_response unknown_path(const graph_call& g) {
    const auto& seg = g.seg;
    const std::size_t n = seg.size();
    const std::string& area = seg[1];
    if (area == "policies") return unknown_segment(g.c, n > 2 ? seg[2] : seg[1]);
    if (area == "identity") {
        if (n < 3 || seg[2] != "conditionalAccess") return unknown_segment(g.c, n > 2 ? seg[2] : seg[1]);
        return unknown_segment(g.c, n > 3 ? seg[3] : seg[2]);
    }
    if (area == "users") return unknown_segment(g.c, n > 3 ? seg[3] : seg[2]);
    if (area == "roleManagement") return unknown_segment(g.c, n > 2 ? seg[n - 1] : seg[1]);
    if (area == "reports") {
        if (n >= 4 && seg[2] == "authenticationMethods" && seg[3] == "userRegistrationDetails" && g.c.req.method != "GET")
            return method_not_allowed(g.c);
        return unknown_segment(g.c, seg[n - 1]);
    }
    if (area == "auditLogs") return unknown_segment(g.c, seg[n - 1]);
    g.t.count_route(g.c.req.method + " /" + g.version + "/?");
    return unknown_segment(g.c, seg[1]);
}

/// Finds the route, counts it, checks the version, the method and the permissions, and calls it.
server_response dispatch_route(const graph_call& g) {
    const std::string& m = g.c.req.method;
    const graph_route* path_route = nullptr;  // the first route of the path
    const graph_route* hit = nullptr;         // the path's route for this method
    for (const auto& r : graph_routes()) {
        if (!path_matches(r.pattern, g.seg)) continue;
        if (!path_route) path_route = &r;
        if (m == r.method) {
            hit = &r;
            break;
        }
    }
    if (!path_route) return unknown_path(g);
    if (!hit && path_route->method_checked_first) return method_not_allowed(g.c);
    g.t.count_route(m + " /" + g.version + "/" + path_route->pattern);
    if (path_route->beta_only && g.version != "beta") return unknown_segment(g.c, g.seg.back());
    if (!hit) return method_not_allowed(g.c);
    for (const auto& any_of : hit->permissions)
        if (!granted(g.caller, any_of)) return forbidden(g.c);
    return hit->handler(g);
}

}  // namespace

server_response handle_graph_request(sim_handlers& sim, request_ctx& c, std::string& log_tenant) {
    using steady = std::chrono::steady_clock;
    const auto seg = split_path(c.req.path);
    const std::string version = seg.empty() ? std::string() : seg[0];
    token_claims tok = read_access_token(sim.token_key(), c.req);
    // The tenant comes from the token; without a readable token there is no tenant to charge.
    std::shared_ptr<simulator::tenant_state> tp;
    if (tok.claims.is_object()) tp = sim.find_tenant(tok.claims.value("tid", std::string()));
    if (!tp) return unauthorized(c, tok.error.empty() ? "Access token validation failure." : tok.error);
    auto& t = *tp;
    std::lock_guard lock(t.mu);
    log_tenant = t.sc.tenant_id;
    ++t.count.total;
    ++t.count.graph;
    if (tok.error.empty() && tok.claims.value("sim_gen", std::int64_t{0}) < t.token_generation)
        tok.error = "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenCreatedWithOutdatedPolicies";
    fault_effect fx = roll_faults(t, c);
    if (fx.replace) {
        fx.replace->delay += fx.latency;
        return *fx.replace;
    }
    server_response r;
    if (!tok.error.empty()) {
        r = unauthorized(c, tok.error);
    } else {
        const app* caller = tok.claims.value("idtyp", std::string()) == "app" ? t.find_app(tok.claims.value("appid", std::string())) : nullptr;
        // CA endpoints: 1 request per second per tenant, 429 without Retry-After (graph.md §8.2).
        const bool ca = seg.size() >= 3 && seg[1] == "identity" && seg[2] == "conditionalAccess";
        if (ca && t.sc.ca_rate_limit_enabled) {
            const auto now = steady::now();
            const auto interval = std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(1.0 / t.sc.ca_rate_limit_rps));
            if (now + std::chrono::milliseconds{50} < t.ca_next_allowed) {
                ++t.count.throttled;
                r = throttled(c, std::nullopt);
                apply_body_fault(r, fault_effect{std::nullopt, fx.latency, false, false});
                return r;
            }
            t.ca_next_allowed = now + interval;
        }
        if (version != "v1.0" && version != "beta") r = unknown_segment(c, version.empty() ? std::string("/") : version);
        else if (seg.size() < 2) r = bad_request(c, "Invalid request.");
        else r = dispatch_route(graph_call{c, t, caller, version, seg, sim.options().page_size});
    }
    apply_body_fault(r, fx);
    return r;
}

}  // namespace connguard::graph_sim
