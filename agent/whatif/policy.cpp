#include "agent/whatif/policy.h"

#include <algorithm>

#include "agent/whatif/json_util.h"

namespace connguard::whatif {

using nlohmann::json;
using namespace detail;

namespace {

const std::string code = "whatif.policy";

/// Error context: "policy 'Name': conditions.users.includeUsers: ...".
struct ctx {
    std::string who;
    error fail(const std::string& path, const std::string& what) const {
        return make_error(code, who + path + ": " + what);
    }
    error wrap(const error& e) const { return make_error(e.code, who + e.message); }
};

#define CG_TRY_ASSIGN(target, expr)          \
    do {                                     \
        auto cg_r_ = (expr);                 \
        if (!cg_r_) return c.wrap(cg_r_.err()); \
        target = std::move(cg_r_.value());   \
    } while (0)

/// An object-valued condition: null, {}, [] and absent all mean "not configured" (nullptr).
result<const json*> object_condition(const json& o, std::string_view key, const std::string& path, const ctx& c) {
    const auto* m = present(o, key);
    if (m == nullptr) return static_cast<const json*>(nullptr);
    if (m->is_array() && m->empty()) return static_cast<const json*>(nullptr);
    if (!m->is_object()) return c.fail(path, "expected an object, got " + type_name(*m));
    if (m->empty()) return static_cast<const json*>(nullptr);
    return m;
}

result<std::optional<guest_selector>> parse_guests(const json& users, std::string_view key, const std::string& path,
                                                   const ctx& c) {
    auto obj = object_condition(users, key, path, c);
    if (!obj) return obj.err();
    if (*obj == nullptr) return std::optional<guest_selector>{};
    const json& g = **obj;
    guest_selector sel;
    auto types = strings(g, "guestOrExternalUserTypes", path + ".guestOrExternalUserTypes", code);
    if (!types) return c.wrap(types.err());
    sel.user_types = std::move(types.value());
    sel.user_types.erase(std::remove_if(sel.user_types.begin(), sel.user_types.end(),
                                        [](const std::string& t) { return iequals(t, "none"); }),
                         sel.user_types.end());
    if (const auto* t = present(g, "externalTenants")) {
        if (t->is_string()) {
            // PowerShell-stringified hashtable: "@{@odata.type=...; membershipKind=all}".
            const auto text = to_lower(t->get<std::string>());
            sel.all_tenants = text.find("membershipkind=enumerated") == std::string::npos;
        } else if (t->is_object()) {
            auto kind = string_field(*t, "membershipKind", path + ".externalTenants.membershipKind", code);
            if (!kind) return c.wrap(kind.err());
            sel.all_tenants = !iequals(kind.value(), "enumerated");
            auto members = strings(*t, "members", path + ".externalTenants.members", code);
            if (!members) return c.wrap(members.err());
            sel.tenant_ids = std::move(members.value());
            if (!sel.tenant_ids.empty() && kind.value().empty()) sel.all_tenants = false;
        } else {
            return c.fail(path + ".externalTenants", "expected an object, got " + type_name(*t));
        }
    }
    return std::optional<guest_selector>{std::move(sel)};
}

result<std::optional<filter_condition>> parse_filter(const json& parent, std::string_view key, const std::string& path,
                                                  const ctx& c) {
    auto obj = object_condition(parent, key, path, c);
    if (!obj) return obj.err();
    if (*obj == nullptr) return std::optional<filter_condition>{};
    filter_condition f;
    auto mode = string_field(**obj, "mode", path + ".mode", code);
    if (!mode) return c.wrap(mode.err());
    auto rule = string_field(**obj, "rule", path + ".rule", code);
    if (!rule) return c.wrap(rule.err());
    f.mode = to_lower(mode.value());
    f.rule = rule.value();
    if (f.rule.empty()) return std::optional<filter_condition>{};
    if (f.mode.empty()) f.mode = "include";
    if (f.mode != "include" && f.mode != "exclude") return c.fail(path + ".mode", "expected include or exclude, got '" + mode.value() + "'");
    return std::optional<filter_condition>{std::move(f)};
}

/// A preview condition object counts as configured when any member other than an OData annotation holds a
/// value: a non-empty string other than "none", a number, true, or a collection holding such a value.
bool configured(const json& v) {
    switch (v.type()) {
        case json::value_t::null: return false;
        case json::value_t::string: {
            const auto t = trim(v.get<std::string>());
            return !t.empty() && !iequals(t, "none");
        }
        case json::value_t::boolean: return v.get<bool>();
        case json::value_t::array:
            return std::any_of(v.begin(), v.end(), [](const json& e) { return configured(e); });
        case json::value_t::object:
            for (auto it = v.begin(); it != v.end(); ++it) {
                if (it.key().find("@odata") != std::string::npos) continue;
                if (configured(it.value())) return true;
            }
            return false;
        default: return true;  // numbers
    }
}

/// The agent-identity conditions (graph.md §11.5) found in `o` (conditions, conditions.users or
/// conditions.clientApplications): true when any is configured non-empty. `base` ends with '.' or is empty.
result<bool> agent_conditions(const json& o, const std::string& base, const ctx& c) {
    bool any = false;
    for (const char* key : {"includeAgentIdServicePrincipals", "excludeAgentIdServicePrincipals", "agentIdRiskLevels"}) {
        auto v = strings(o, key, base + key, code);
        if (!v) return c.wrap(v.err());
        for (const auto& x : v.value()) any = any || !iequals(x, "none");
    }
    auto f = parse_filter(o, "agentIdServicePrincipalFilter", base + "agentIdServicePrincipalFilter", c);
    if (!f) return f.err();
    any = any || f.value().has_value();
    for (const char* key : {"agents", "agentContext"}) {
        auto obj = object_condition(o, key, base + key, c);
        if (!obj) return obj.err();
        any = any || (*obj != nullptr && configured(**obj));
    }
    return any;
}

result<std::optional<grant_controls>> parse_grant(const json& g, const ctx& c) {
    const std::string path = "grantControls";
    if (g.is_null() || (g.is_array() && g.empty())) return std::optional<grant_controls>{};
    if (!g.is_object()) return c.fail(path, "expected an object, got " + type_name(g));
    grant_controls gc;
    auto op = string_field(g, "operator", path + ".operator", code);
    if (!op) return c.wrap(op.err());
    if (!op.value().empty() && !iequals(op.value(), "and") && !iequals(op.value(), "or"))
        return c.fail(path + ".operator", "expected AND or OR, got '" + op.value() + "'");
    gc.is_and = iequals(op.value(), "and");
    CG_TRY_ASSIGN(gc.built_in_controls, strings(g, "builtInControls", path + ".builtInControls", code));
    CG_TRY_ASSIGN(gc.custom_authentication_factors,
                  strings(g, "customAuthenticationFactors", path + ".customAuthenticationFactors", code));
    CG_TRY_ASSIGN(gc.terms_of_use, strings(g, "termsOfUse", path + ".termsOfUse", code));
    if (const auto* s = present(g, "authenticationStrength")) {
        if (s->is_string()) {
            gc.authentication_strength_id = s->get<std::string>();
        } else if (s->is_object()) {
            if (!s->empty()) {
                auto id = string_field(*s, "id", path + ".authenticationStrength.id", code);
                if (!id) return c.wrap(id.err());
                auto name = string_field(*s, "displayName", path + ".authenticationStrength.displayName", code);
                if (!name) return c.wrap(name.err());
                gc.authentication_strength_id = id.value();
                gc.authentication_strength_name = name.value();
            }
        } else {
            return c.fail(path + ".authenticationStrength", "expected an object, got " + type_name(*s));
        }
    }
    return std::optional<grant_controls>{std::move(gc)};
}

}  // namespace

const char* to_string(policy_state s) {
    switch (s) {
        case policy_state::enabled: return "enabled";
        case policy_state::disabled: return "disabled";
        case policy_state::report_only: return "enabledForReportingButNotEnforced";
    }
    return "disabled";
}

bool grant_controls::empty() const {
    return built_in_controls.empty() && custom_authentication_factors.empty() && terms_of_use.empty() &&
           !authentication_strength_id.has_value();
}

bool grant_controls::has(const std::string& control) const { return icontains(built_in_controls, control); }

bool is_microsoft_managed(const policy& p) {
    static constexpr std::string_view template_prefix = "4200930c-0da2-4e33-ca01-";
    static constexpr std::string_view name_prefix = "Microsoft-managed:";
    auto starts = [](const std::string& s, std::string_view prefix) {
        return s.size() >= prefix.size() && iequals(std::string_view(s).substr(0, prefix.size()), prefix);
    };
    return starts(p.template_id, template_prefix) || starts(p.display_name, name_prefix);
}

result<policy> parse_policy(const json& j) {
    if (!j.is_object()) return make_error(code, "policy: expected a JSON object, got " + type_name(j));
    policy p;
    ctx c;
    {
        auto name = string_field(j, "displayName", "displayName", code);
        if (!name) return name.err();
        p.display_name = name.value();
        auto id = string_field(j, "id", "id", code);
        if (!id) return id.err();
        p.id = id.value();
        if (!p.display_name.empty()) c.who = "policy '" + p.display_name + "': ";
        else if (!p.id.empty()) c.who = "policy " + p.id + ": ";
    }
    CG_TRY_ASSIGN(p.template_id, string_field(j, "templateId", "templateId", code));
    CG_TRY_ASSIGN(p.created_date_time, string_field(j, "createdDateTime", "createdDateTime", code));
    CG_TRY_ASSIGN(p.modified_date_time, string_field(j, "modifiedDateTime", "modifiedDateTime", code));
    {
        auto st = string_field(j, "state", "state", code);
        if (!st) return c.wrap(st.err());
        const auto& s = st.value();
        if (s.empty()) return c.fail("state", "missing");
        if (iequals(s, "enabled")) p.state = policy_state::enabled;
        else if (iequals(s, "disabled")) p.state = policy_state::disabled;
        else if (iequals(s, "enabledForReportingButNotEnforced")) p.state = policy_state::report_only;
        else return c.fail("state", "expected enabled, disabled or enabledForReportingButNotEnforced, got '" + s + "'");
    }
    const json* cond = present(j, "conditions");
    if (cond == nullptr) return c.fail("conditions", "missing");
    if (!cond->is_object()) return c.fail("conditions", "expected an object, got " + type_name(*cond));

    // users
    {
        auto users = object_condition(*cond, "users", "conditions.users", c);
        if (!users) return users.err();
        if (const json* u = *users) {
            p.has_users = true;
            const std::string base = "conditions.users.";
            CG_TRY_ASSIGN(p.include_users, strings(*u, "includeUsers", base + "includeUsers", code));
            CG_TRY_ASSIGN(p.exclude_users, strings(*u, "excludeUsers", base + "excludeUsers", code));
            CG_TRY_ASSIGN(p.include_groups, strings(*u, "includeGroups", base + "includeGroups", code));
            CG_TRY_ASSIGN(p.exclude_groups, strings(*u, "excludeGroups", base + "excludeGroups", code));
            CG_TRY_ASSIGN(p.include_roles, strings(*u, "includeRoles", base + "includeRoles", code));
            CG_TRY_ASSIGN(p.exclude_roles, strings(*u, "excludeRoles", base + "excludeRoles", code));
            auto ig = parse_guests(*u, "includeGuestsOrExternalUsers", base + "includeGuestsOrExternalUsers", c);
            if (!ig) return ig.err();
            p.include_guests = std::move(ig.value());
            auto eg = parse_guests(*u, "excludeGuestsOrExternalUsers", base + "excludeGuestsOrExternalUsers", c);
            if (!eg) return eg.err();
            p.exclude_guests = std::move(eg.value());
            auto agents = agent_conditions(*u, base, c);
            if (!agents) return agents.err();
            p.targets_agents = p.targets_agents || agents.value();
        }
    }
    // clientApplications
    {
        auto ca = object_condition(*cond, "clientApplications", "conditions.clientApplications", c);
        if (!ca) return ca.err();
        if (const json* a = *ca) {
            const std::string base = "conditions.clientApplications.";
            CG_TRY_ASSIGN(p.include_service_principals,
                          strings(*a, "includeServicePrincipals", base + "includeServicePrincipals", code));
            CG_TRY_ASSIGN(p.exclude_service_principals,
                          strings(*a, "excludeServicePrincipals", base + "excludeServicePrincipals", code));
            auto agents = agent_conditions(*a, base, c);
            if (!agents) return agents.err();
            p.targets_agents = p.targets_agents || agents.value();
            p.has_service_principal_filter = present(*a, "servicePrincipalFilter") != nullptr;
        }
    }
    // applications
    {
        auto apps = object_condition(*cond, "applications", "conditions.applications", c);
        if (!apps) return apps.err();
        if (const json* a = *apps) {
            const std::string base = "conditions.applications.";
            p.has_applications = present(*a, "includeApplications") != nullptr;
            CG_TRY_ASSIGN(p.include_applications, strings(*a, "includeApplications", base + "includeApplications", code));
            CG_TRY_ASSIGN(p.exclude_applications, strings(*a, "excludeApplications", base + "excludeApplications", code));
            CG_TRY_ASSIGN(p.include_user_actions, strings(*a, "includeUserActions", base + "includeUserActions", code));
            CG_TRY_ASSIGN(p.include_authentication_contexts,
                          strings(*a, "includeAuthenticationContextClassReferences",
                                  base + "includeAuthenticationContextClassReferences", code));
            auto f = parse_filter(*a, "applicationFilter", base + "applicationFilter", c);
            if (!f) return f.err();
            p.application_filter = std::move(f.value());
        }
    }
    CG_TRY_ASSIGN(p.client_app_types, strings(*cond, "clientAppTypes", "conditions.clientAppTypes", code));
    {
        auto pl = object_condition(*cond, "platforms", "conditions.platforms", c);
        if (!pl) return pl.err();
        if (const json* o = *pl) {
            CG_TRY_ASSIGN(p.include_platforms, strings(*o, "includePlatforms", "conditions.platforms.includePlatforms", code));
            CG_TRY_ASSIGN(p.exclude_platforms, strings(*o, "excludePlatforms", "conditions.platforms.excludePlatforms", code));
        }
    }
    {
        auto loc = object_condition(*cond, "locations", "conditions.locations", c);
        if (!loc) return loc.err();
        if (const json* o = *loc) {
            CG_TRY_ASSIGN(p.include_locations, strings(*o, "includeLocations", "conditions.locations.includeLocations", code));
            CG_TRY_ASSIGN(p.exclude_locations, strings(*o, "excludeLocations", "conditions.locations.excludeLocations", code));
            p.has_locations = !p.include_locations.empty() || !p.exclude_locations.empty();
        }
    }
    {
        auto dev = object_condition(*cond, "devices", "conditions.devices", c);
        if (!dev) return dev.err();
        if (const json* o = *dev) {
            auto f = parse_filter(*o, "deviceFilter", "conditions.devices.deviceFilter", c);
            if (!f) return f.err();
            p.device_filter = std::move(f.value());
        }
        auto states = object_condition(*cond, "deviceStates", "conditions.deviceStates", c);
        if (!states) return states.err();
        if (const json* o = *states) {
            device_state_condition ds;
            CG_TRY_ASSIGN(ds.include_states, strings(*o, "includeStates", "conditions.deviceStates.includeStates", code));
            CG_TRY_ASSIGN(ds.exclude_states, strings(*o, "excludeStates", "conditions.deviceStates.excludeStates", code));
            if (!ds.include_states.empty() || !ds.exclude_states.empty()) p.device_states = std::move(ds);
        }
    }
    CG_TRY_ASSIGN(p.sign_in_risk_levels, strings(*cond, "signInRiskLevels", "conditions.signInRiskLevels", code));
    CG_TRY_ASSIGN(p.user_risk_levels, strings(*cond, "userRiskLevels", "conditions.userRiskLevels", code));
    CG_TRY_ASSIGN(p.service_principal_risk_levels,
                  strings(*cond, "servicePrincipalRiskLevels", "conditions.servicePrincipalRiskLevels", code));
    CG_TRY_ASSIGN(p.insider_risk_levels, strings(*cond, "insiderRiskLevels", "conditions.insiderRiskLevels", code));
    {
        auto flows = object_condition(*cond, "authenticationFlows", "conditions.authenticationFlows", c);
        if (!flows) return flows.err();
        if (const json* o = *flows) {
            CG_TRY_ASSIGN(p.authentication_flows,
                          strings(*o, "transferMethods", "conditions.authenticationFlows.transferMethods", code));
            p.authentication_flows.erase(std::remove_if(p.authentication_flows.begin(), p.authentication_flows.end(),
                                                        [](const std::string& t) { return iequals(t, "none"); }),
                                         p.authentication_flows.end());
        }
    }
    {
        auto times = object_condition(*cond, "times", "conditions.times", c);
        if (!times) return times.err();
        p.has_times = *times != nullptr;
    }
    {
        auto agents = agent_conditions(*cond, "conditions.", c);
        if (!agents) return agents.err();
        p.targets_agents = p.targets_agents || agents.value();
    }
    {
        auto session = object_condition(j, "sessionControls", "sessionControls", c);
        if (!session) return session.err();
        if (const json* sc = *session) {
            auto secure = object_condition(*sc, "secureSignInSession", "sessionControls.secureSignInSession", c);
            if (!secure) return secure.err();
            if (const json* ss = *secure) {
                CG_TRY_ASSIGN(p.secure_sign_in_session,
                              bool_field(*ss, "isEnabled", false, "sessionControls.secureSignInSession.isEnabled", code));
            }
        }
    }
    // grant controls: top level, or (a known export oddity) nested inside conditions.
    const json* g = member(j, "grantControls");
    if (g == nullptr || g->is_null() || (g->is_object() && g->empty())) {
        if (const json* nested = present(*cond, "grantControls")) g = nested;
    }
    if (g != nullptr) {
        auto gc = parse_grant(*g, c);
        if (!gc) return gc.err();
        p.grant = std::move(gc.value());
        if (p.grant && p.grant->empty()) p.grant.reset();
    }
    return p;
}

namespace {
bool looks_like_policy(const json& j) {
    return j.is_object() && member(j, "conditions") != nullptr;
}
}  // namespace

result<std::vector<policy>> parse_policies(const json& doc) {
    std::vector<policy> out;
    auto add_array = [&](const json& arr, const std::string& where) -> status {
        size_t i = 0;
        for (const auto& e : arr) {
            auto p = parse_policy(e);
            if (!p) return make_error(p.err().code, where + "[" + std::to_string(i) + "]: " + p.err().message);
            out.push_back(std::move(p.value()));
            ++i;
        }
        return {};
    };
    if (doc.is_array()) {
        auto s = add_array(doc, "");
        if (!s) return s.err();
        return out;
    }
    if (!doc.is_object()) return make_error(code, "expected a policy object, an array of policies or {\"value\": [...]}, got " + type_name(doc));
    if (!looks_like_policy(doc)) {
        if (const auto* v = member(doc, "value"); v != nullptr && v->is_array()) {
            auto s = add_array(*v, "value");
            if (!s) return s.err();
            return out;
        }
        if (const auto* pc = present(doc, "PolicyConfig"); pc != nullptr) {
            auto p = parse_policy(*pc);
            if (!p) return make_error(p.err().code, "PolicyConfig: " + p.err().message);
            out.push_back(std::move(p.value()));
            return out;
        }
    }
    auto p = parse_policy(doc);
    if (!p) return p.err();
    out.push_back(std::move(p.value()));
    return out;
}

}  // namespace connguard::whatif
