#include "agent/whatif/compiled.h"

#include <algorithm>
#include <cstring>

#include "agent/whatif/device_rule.h"
#include "agent/whatif/json_util.h"

namespace connguard::whatif {

using namespace detail;

// ---------------------------------------------------------------------------------------------
// interner

namespace {
constexpr unsigned char lower_ascii(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c + 32) : c;
}

std::uint64_t ihash(std::string_view s) {
    // Eight bytes at a time; OR-ing 0x20 into every byte folds ASCII case (and merges a few
    // punctuation pairs, which only costs a rare collision: equality is iequals).
    std::uint64_t h = 0x9e3779b97f4a7c15ull ^ s.size();
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        h = (h ^ (w | 0x2020202020202020ull)) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    std::uint64_t tail = 0;
    for (; i < s.size(); ++i) tail = (tail << 8) | (static_cast<unsigned char>(s[i]) | 0x20u);
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

constexpr std::size_t block_bytes = 16384;

}  // namespace

std::size_t interner::slot_of(std::string_view s, std::uint64_t h) const {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = static_cast<std::size_t>(h) & mask;
    while (slots_[i] != 0) {
        const std::uint32_t id = slots_[i] - 1;
        if (hashes_[id] == h && (keys_[id] == s || iequals(keys_[id], s))) return i;
        i = (i + 1) & mask;
    }
    return i;
}

void interner::grow(std::size_t slots) {
    std::size_t n = 16;
    while (n < slots) n *= 2;
    if (n <= slots_.size()) return;
    slots_.assign(n, 0);
    const std::size_t mask = n - 1;
    for (std::uint32_t id = 0; id < keys_.size(); ++id) {
        std::size_t i = static_cast<std::size_t>(hashes_[id]) & mask;
        while (slots_[i] != 0) i = (i + 1) & mask;
        slots_[i] = id + 1;
    }
}

void interner::reserve(std::size_t n) {
    keys_.reserve(n);
    hashes_.reserve(n);
    grow(n * 2);
}

std::uint32_t interner::intern(std::string_view s) {
    if (slots_.size() < (keys_.size() + 1) * 2) grow((keys_.size() + 1) * 2);
    const std::uint64_t h = ihash(s);
    const std::size_t i = slot_of(s, h);
    if (slots_[i] != 0) return slots_[i] - 1;
    if (blocks_.empty() || block_left_ < s.size()) {
        const std::size_t size = std::max(block_bytes, s.size());
        blocks_.push_back(std::make_unique<char[]>(size));
        block_left_ = size;
        block_cap_ = size;
    }
    char* at = blocks_.back().get() + (block_cap_ - block_left_);
    if (!s.empty()) std::memcpy(at, s.data(), s.size());
    block_left_ -= s.size();
    const auto id = static_cast<std::uint32_t>(keys_.size());
    keys_.emplace_back(at, s.size());
    hashes_.push_back(h);
    slots_[i] = id + 1;
    return id;
}

std::uint32_t interner::find(std::string_view s) const {
    if (slots_.empty()) return none;
    const std::size_t i = slot_of(s, ihash(s));
    return slots_[i] == 0 ? none : slots_[i] - 1;
}

namespace {

/// Three-valued logic: a condition matches, does not, or cannot be decided from the input.
enum class tri : std::uint8_t { no, yes, unknown };
constexpr tri tri_or(tri a, tri b) {
    if (a == tri::yes || b == tri::yes) return tri::yes;
    if (a == tri::unknown || b == tri::unknown) return tri::unknown;
    return tri::no;
}
constexpr tri tri_and(tri a, tri b) {
    if (a == tri::no || b == tri::no) return tri::no;
    if (a == tri::unknown || b == tri::unknown) return tri::unknown;
    return tri::yes;
}
constexpr tri tri_not(tri a) { return a == tri::yes ? tri::no : a == tri::no ? tri::yes : tri::unknown; }
constexpr tri of(bool b) { return b ? tri::yes : tri::no; }

constexpr std::string_view legacy_trusted_ips_location = "00000000-0000-0000-0000-000000000000";

bool has(const id_list& l, std::uint32_t id) {
    if (id == interner::none) return false;
    if (l.size() <= 8) return std::find(l.begin(), l.end(), id) != l.end();
    return std::binary_search(l.begin(), l.end(), id);
}

/// Both sorted: any common element.
bool intersects(const id_list& a, const id_list& b) {
    auto i = a.begin();
    auto j = b.begin();
    while (i != a.end() && j != b.end()) {
        if (*i < *j) ++i;
        else if (*j < *i) ++j;
        else return true;
    }
    return false;
}

void sort_unique(id_list& l) {
    std::sort(l.begin(), l.end());
    l.erase(std::unique(l.begin(), l.end()), l.end());
}

// ---------------------------------------------------------------------------------------------
// compile

struct compiler {
    interner& ids;

    id_list list(const std::vector<std::string>& v) {
        id_list out;
        out.reserve(v.size());
        for (const auto& x : v) out.push_back(ids.intern(x));
        sort_unique(out);
        return out;
    }
    id_list office365, admin_portals;  // the app groups, interned once per set
    void add_set(id_list& out, const std::set<std::string>& apps, id_list& cache) {
        if (cache.empty()) {
            for (const auto& a : apps) cache.push_back(ids.intern(a));
        }
        out.insert(out.end(), cache.begin(), cache.end());
    }
    compiled_guests guests(const guest_selector& g) {
        return compiled_guests{list(g.user_types), g.all_tenants, list(g.tenant_ids)};
    }
    std::vector<compiled_location> locations(const std::vector<std::string>& v) {
        std::vector<compiled_location> out;
        for (const auto& e : v) {
            compiled_location l;
            if (iequals(e, "All")) l.type = compiled_location::kind::all;
            else if (iequals(e, "AllTrusted")) l.type = compiled_location::kind::all_trusted;
            else if (iequals(e, legacy_trusted_ips_location)) l.type = compiled_location::kind::legacy_trusted_ips;
            else l.id_lower = to_lower(e);
            out.push_back(std::move(l));
        }
        return out;
    }

    void users(const policy& p, compiled_policy& c) {
        for (const auto& x : p.include_users) {
            if (iequals(x, "All")) c.inc_all_users = true;
            else if (iequals(x, "GuestsOrExternalUsers")) c.inc_guests_or_external = true;
            else c.inc_users.push_back(ids.intern(x));
        }
        for (const auto& x : p.exclude_users) {
            if (iequals(x, "GuestsOrExternalUsers")) c.exc_guests_or_external = true;
            else if (iequals(x, "All")) c.exc_all_users = true;
            else c.exc_users.push_back(ids.intern(x));
        }
        sort_unique(c.inc_users);
        sort_unique(c.exc_users);
        c.inc_groups = list(p.include_groups);
        c.exc_groups = list(p.exclude_groups);
        c.inc_roles = list(p.include_roles);
        c.exc_roles = list(p.exclude_roles);
        if (p.include_guests) c.inc_guests = guests(*p.include_guests);
        if (p.exclude_guests) c.exc_guests = guests(*p.exclude_guests);
    }

    void applications(const policy& p, compiled_policy& c) {
        if (p.include_applications.empty() && !p.application_filter) {
            c.no_application_reason = !p.include_user_actions.empty()              ? reason_user_actions
                                      : !p.include_authentication_contexts.empty() ? reason_authentication_context
                                                                                   : reason_application;
        }
        for (const auto& e : p.include_applications) {
            if (iequals(e, "All")) c.inc_all_apps = true;
            else if (iequals(e, "None")) continue;
            else if (iequals(e, "Office365")) add_set(c.inc_apps, office365_apps(), office365);
            else if (iequals(e, "MicrosoftAdminPortals")) add_set(c.inc_apps, admin_portal_apps(), admin_portals);
            else c.inc_apps.push_back(ids.intern(e));
        }
        for (const auto& e : p.exclude_applications) {
            if (iequals(e, "All")) c.exc_all_apps = true;
            else if (iequals(e, "Office365")) add_set(c.exc_apps, office365_apps(), office365);
            else if (iequals(e, "MicrosoftAdminPortals")) add_set(c.exc_apps, admin_portal_apps(), admin_portals);
            else c.exc_apps.push_back(ids.intern(e));
        }
        sort_unique(c.inc_apps);
        sort_unique(c.exc_apps);
        if (p.application_filter) {
            c.application_filter = p.application_filter->mode == "include" ? compiled_policy::app_filter::include
                                                                           : compiled_policy::app_filter::exclude;
        }
        c.user_actions = list(p.include_user_actions);
        c.authentication_contexts = list(p.include_authentication_contexts);
    }

    void grant(const grant_controls& g, compiled_policy& c) {
        c.has_grant = true;
        c.grant_block = g.has("block");
        c.grant_and = g.is_and;
        using k = compiled_control::kind;
        for (const auto& name : g.built_in_controls) {
            compiled_control cc;
            if (iequals(name, "mfa") || iequals(name, "riskRemediation")) cc.type = k::mfa;
            else if (iequals(name, "compliantDevice")) cc.type = k::compliant_device;
            else if (iequals(name, "domainJoinedDevice")) cc.type = k::domain_joined_device;
            else if (iequals(name, "approvedApplication")) cc.type = k::approved_application;
            else if (iequals(name, "compliantApplication")) cc.type = k::compliant_application;
            else if (iequals(name, "passwordChange")) cc.type = k::password_change;
            else cc.type = k::other;
            c.controls.push_back(std::move(cc));
            append_detail(c, g.is_and, name);
        }
        if (g.authentication_strength_id) {
            c.controls.push_back(compiled_control{k::authentication_strength, {}});
            std::string name = "authenticationStrength";
            if (!g.authentication_strength_name.empty()) {
                name += " '";
                name += g.authentication_strength_name;
                name += "'";
            }
            append_detail(c, g.is_and, name);
        }
        for (const auto& t : g.terms_of_use) {
            c.controls.push_back(compiled_control{k::terms_of_use, t});
            append_detail(c, g.is_and, "termsOfUse ", t);
        }
        for (const auto& f : g.custom_authentication_factors) {
            c.controls.push_back(compiled_control{k::custom_factor, f});
            append_detail(c, g.is_and, "customAuthenticationFactor ", f);
        }
    }
    static void append_detail(compiled_policy& c, bool is_and, std::string_view name, std::string_view suffix = {}) {
        if (!c.detail.empty()) c.detail += is_and ? " AND " : " OR ";
        c.detail += name;
        c.detail += suffix;
    }

    compiled_policy one(const policy& p, std::size_t index) {
        compiled_policy c;
        c.id = p.id;
        if (!p.id.empty()) {
            c.label = p.id;
        } else if (!p.display_name.empty()) {
            c.label = p.display_name;
        } else {
            c.label = "policy #";
            c.label += std::to_string(index);
        }
        c.display_name = p.display_name;
        c.state = p.state;

        c.targets_agents = p.targets_agents;
        c.has_users = p.has_users;
        c.workload_policy = !p.include_service_principals.empty();
        users(p, c);
        for (const auto& x : p.include_service_principals) {
            if (iequals(x, "ServicePrincipalsInMyTenant")) c.inc_all_service_principals = true;
            else c.inc_service_principals.push_back(ids.intern(x));
        }
        sort_unique(c.inc_service_principals);
        c.exc_service_principals = list(p.exclude_service_principals);
        c.has_service_principal_filter = p.has_service_principal_filter;

        applications(p, c);

        c.any_client_app = p.client_app_types.empty() || icontains(p.client_app_types, "all");
        c.client_apps_eas = icontains(p.client_app_types, "easSupported") || icontains(p.client_app_types, "easUnsupported");
        c.client_app_types = list(p.client_app_types);
        c.platforms_configured = !p.include_platforms.empty();
        c.platforms_include_all = icontains(p.include_platforms, "all");
        c.inc_platforms = list(p.include_platforms);
        c.exc_platforms = list(p.exclude_platforms);
        c.has_locations = p.has_locations;
        c.inc_locations = locations(p.include_locations);
        c.exc_locations = locations(p.exclude_locations);
        if (p.device_filter) {
            c.has_device_filter = true;
            c.device_filter_rule = p.device_filter->rule;
            c.device_filter_exclude = p.device_filter->mode == "exclude";
        }
        if (p.device_states) {
            const auto& ds = *p.device_states;
            c.has_device_states = true;
            c.device_states_include_yes = ds.include_states.empty() || icontains(ds.include_states, "All");
            c.device_states_exclude = !ds.exclude_states.empty();
            c.device_states_exclude_compliant = icontains(ds.exclude_states, "Compliant");
            c.device_states_exclude_domain_joined = icontains(ds.exclude_states, "DomainJoined");
        }
        c.sign_in_risk = list(p.sign_in_risk_levels);
        c.user_risk = list(p.user_risk_levels);
        c.service_principal_risk = list(p.service_principal_risk_levels);
        c.insider_risk = list(p.insider_risk_levels);
        c.authentication_flows = list(p.authentication_flows);
        c.has_times = p.has_times;

        if (p.grant) grant(*p.grant, c);
        c.secure_sign_in_session = p.secure_sign_in_session;
        return c;
    }
};

// ---------------------------------------------------------------------------------------------
// evaluate

tri guest_match(const compiled_guests& sel, const prepared_sign_in& u) {
    if (u.guest_none) return tri::no;
    if (!has(sel.user_types, u.guest_kind)) return tri::no;
    if (sel.all_tenants || u.guest_internal) return tri::yes;
    if (!u.external_tenant_known) return tri::unknown;
    return of(has(sel.tenant_ids, u.external_tenant));
}

tri users_condition(const compiled_policy& p, const prepared_sign_in& u) {
    tri inc = of(p.inc_all_users || (p.inc_guests_or_external && !u.guest_none) || has(p.inc_users, u.user_id) ||
                 intersects(p.inc_groups, u.groups) || intersects(p.inc_roles, u.roles));
    if (p.inc_guests) inc = tri_or(inc, guest_match(*p.inc_guests, u));
    tri exc = of(p.exc_all_users || (p.exc_guests_or_external && !u.guest_none) || has(p.exc_users, u.user_id) ||
                 intersects(p.exc_groups, u.groups) || intersects(p.exc_roles, u.roles));
    if (p.exc_guests) exc = tri_or(exc, guest_match(*p.exc_guests, u));
    return tri_and(inc, tri_not(exc));
}

tri application_condition(const compiled_policy& p, std::uint32_t app) {
    tri inc = of(p.inc_all_apps || has(p.inc_apps, app));
    tri exc = of(p.exc_all_apps || has(p.exc_apps, app));
    if (p.application_filter == compiled_policy::app_filter::include) inc = tri_or(inc, tri::unknown);
    else if (p.application_filter == compiled_policy::app_filter::exclude && inc != tri::no)
        exc = tri_or(exc, tri::unknown);
    return tri_and(inc, tri_not(exc));
}

tri client_apps_condition(const compiled_policy& p, const prepared_sign_in& u) {
    if (p.any_client_app) return tri::yes;
    if (!u.has_client_app_type) return tri::unknown;
    return of(has(p.client_app_types, u.client_app_type) || (u.client_is_eas && p.client_apps_eas));
}

tri platform_condition(const compiled_policy& p, const prepared_sign_in& u) {
    if (!p.platforms_configured) return tri::yes;
    if (!u.has_platform) return (p.platforms_include_all && p.exc_platforms.empty()) ? tri::yes : tri::unknown;
    const bool inc = p.platforms_include_all || has(p.inc_platforms, u.platform);
    return of(inc && !has(p.exc_platforms, u.platform));
}

tri in_ranges(const std::vector<cidr>& ranges, const std::optional<cidr>& ip) {
    if (ranges.empty()) return tri::no;
    if (!ip) return tri::unknown;
    for (const auto& r : ranges) {
        if (contains(r, *ip)) return tri::yes;
    }
    return tri::no;
}

tri location_member(const compiled_location& e, const prepared_sign_in& u) {
    switch (e.type) {
        case compiled_location::kind::all: return tri::yes;
        case compiled_location::kind::all_trusted: return static_cast<tri>(u.all_trusted);
        case compiled_location::kind::legacy_trusted_ips: return static_cast<tri>(u.legacy_trusted);
        case compiled_location::kind::named: break;
    }
    const named_location* l = nullptr;
    for (const auto& x : u.dir->named_locations) {
        if (x.id == e.id_lower) {
            l = &x;
            break;
        }
    }
    if (l == nullptr) return tri::unknown;  // a location the directory does not describe (or a placeholder)
    switch (l->type) {
        case named_location::kind::ip: return in_ranges(l->ip_ranges, u.ip);
        case named_location::kind::country:
            if (!u.s->country) return tri::unknown;
            return of(std::find(l->countries.begin(), l->countries.end(), *u.s->country) != l->countries.end());
        case named_location::kind::unknown: return tri::unknown;
    }
    return tri::unknown;
}

tri location_condition(const compiled_policy& p, const prepared_sign_in& u) {
    if (!p.has_locations) return tri::yes;
    tri inc = p.inc_locations.empty() ? tri::yes : tri::no;
    for (const auto& e : p.inc_locations) inc = tri_or(inc, location_member(e, u));
    tri exc = tri::no;
    for (const auto& e : p.exc_locations) exc = tri_or(exc, location_member(e, u));
    return tri_and(inc, tri_not(exc));
}

tri device_condition(const compiled_policy& p, const prepared_sign_in& u) {
    const auto& device = u.s->device;
    tri r = tri::yes;
    if (p.has_device_filter) {
        if (!device) {
            r = tri::unknown;
        } else {
            auto m = evaluate_device_rule(p.device_filter_rule, device->properties);
            tri t = m == rule_match::yes ? tri::yes : m == rule_match::no ? tri::no : tri::unknown;
            r = tri_and(r, p.device_filter_exclude ? tri_not(t) : t);
        }
    }
    if (p.has_device_states) {
        tri inc = p.device_states_include_yes ? tri::yes : tri::unknown;
        tri exc = tri::no;
        if (p.device_states_exclude) {
            if (!device) {
                exc = tri::unknown;
            } else {
                if (p.device_states_exclude_compliant)
                    exc = tri_or(exc, device->is_compliant ? of(*device->is_compliant) : tri::unknown);
                if (p.device_states_exclude_domain_joined)
                    exc = tri_or(exc, device->trust_type ? of(iequals(*device->trust_type, "ServerAD")) : tri::unknown);
            }
        }
        r = tri_and(r, tri_and(inc, tri_not(exc)));
    }
    return r;
}

tri level_condition(const id_list& levels, std::uint32_t value) {
    if (levels.empty()) return tri::yes;
    return of(has(levels, value));
}

bool icontains_list(const std::vector<std::string>& v, const std::string& s) {
    for (const auto& x : v) {
        if (iequals(x, s)) return true;
    }
    return false;
}

demand demand_of(const compiled_policy& p, const prepared_sign_in& u) {
    if (!p.has_grant) return demand::none;
    if (p.grant_block) return demand::block;
    if (u.legacy) return demand::block;  // legacy clients cannot satisfy any grant control
    if (p.controls.empty()) return demand::none;
    const device_info* d = u.s->device ? &*u.s->device : nullptr;
    bool mfa = false, other = false;
    for (const auto& c : p.controls) {
        bool is_mfa = false, satisfied = false;
        using k = compiled_control::kind;
        switch (c.type) {
            case k::mfa:
            case k::authentication_strength: is_mfa = true; break;
            case k::compliant_device: satisfied = d != nullptr && d->is_compliant.value_or(false); break;
            case k::domain_joined_device:
                satisfied = d != nullptr && d->trust_type && iequals(*d->trust_type, "ServerAD");
                break;
            case k::approved_application: satisfied = d != nullptr && d->approved_application; break;
            case k::compliant_application: satisfied = d != nullptr && d->compliant_application; break;
            case k::password_change: satisfied = d != nullptr && d->password_changed; break;
            case k::other: break;
            case k::terms_of_use: satisfied = d != nullptr && icontains_list(d->accepted_terms_of_use, c.name); break;
            case k::custom_factor: satisfied = d != nullptr && icontains_list(d->custom_factors, c.name); break;
        }
        if (p.grant_and) {
            if (!satisfied) (is_mfa ? mfa : other) = true;
        } else {
            if (satisfied) return demand::none;
            mfa = mfa || is_mfa;
        }
    }
    if (p.grant_and) return mfa ? demand::mfa : other ? demand::control : demand::none;
    return mfa ? demand::mfa : demand::control;
}

/// Token protection (graph.md §11.5): the index of the first resource of the sign-in that the policy
/// covers and that accepts only a bound token; -1 when none (or the token is bound).
std::int32_t token_protected_app(const compiled_policy& p, const prepared_sign_in& u) {
    if (!p.secure_sign_in_session || u.s->bound_token || u.s->context_kind != sign_in::context::application) return -1;
    for (std::size_t i = 0; i < u.apps_in_order.size(); ++i) {
        if (u.app_token_protected[i] != 0 && application_condition(p, u.apps_in_order[i]) == tri::yes)
            return static_cast<std::int32_t>(i);
    }
    return -1;
}

void why_policy_into(std::string& out, const policy_result& r) {
    out.clear();
    if (!r.display_name.empty()) {
        out += "policy '";
        out += r.display_name;
        out += "'";
        if (!r.id.empty()) {
            out += " (";
            out += r.id;
            out += ")";
        }
    } else if (!r.id.empty()) {
        out += "policy ";
        out += r.id;
    } else {
        out += r.label;
    }
    switch (r.required) {
        case demand::block: out += " blocks"; break;
        case demand::mfa: out += " requires MFA"; break;
        case demand::control: out += " requires a control a non-interactive sign-in cannot satisfy"; break;
        case demand::none: out += " applies"; break;
    }
    if (!r.detail.empty()) {
        out += " [";
        out += r.detail;
        out += "]";
    }
}

std::string why_setting(const setting_demand& d, const prepared_sign_in& u) {
    using w = setting_demand::why;
    switch (d.reason) {
        case w::sd_legacy: {
            std::string t = "Security Defaults block legacy authentication (client app type ";
            t += u.s->client_app_type.value_or("");
            t += ")";
            return t;
        }
        case w::sd_privileged_role: {
            std::string t = "Security Defaults require MFA for every sign-in of a privileged role (role template ";
            t += d.role;
            t += ")";
            return t;
        }
        case w::sd_azure_management: {
            std::string t = "Security Defaults require MFA for Azure management (";
            t += app_azure_management;
            t += ")";
            return t;
        }
        case w::sd_registration:
            return "Security Defaults require every user to register MFA, and the account has no MFA method "
                   "registered: Entra asks it to register at this sign-in (there is no registration grace period "
                   "since 2024-07-29)";
        case w::per_user_enforced:
            return u.legacy ? "per-user MFA is enforced: legacy authentication is blocked"
                            : "per-user MFA is enforced: MFA at every sign-in";
        case w::per_user_enabled_registered:
            return u.legacy ? "per-user MFA is enabled and the account has MFA registered (Entra enforces it): "
                              "legacy authentication is blocked"
                            : "per-user MFA is enabled and the account has MFA registered (Entra enforces it)";
        case w::per_user_enabled_unregistered:
            return "per-user MFA is enabled and the account has not registered MFA: registration at next sign-in";
    }
    return {};
}

/// Security Defaults and per-user MFA for a user sign-in (graph.md §5, §6, §11.3).
void add_settings(prepared_sign_in& out, const directory& dir, const user_facts& facts, const sign_in& s) {
    out.settings.clear();
    if (s.identity_kind != sign_in::identity::user) return;
    const bool legacy = out.legacy;
    using w = setting_demand::why;
    // The Directory Synchronization Accounts role is exempt from Security Defaults altogether.
    bool sd_exempt = false;
    for (const auto& r : facts.roles) sd_exempt = sd_exempt || iequals(r, role_directory_synchronization_accounts);
    if (dir.security_defaults_enabled && !sd_exempt) {
        if (legacy) {
            out.settings.push_back({demand::block, w::sd_legacy, cause_security_defaults, {}});
        } else {
            std::string role;  // the greatest privileged role id (lower case), as the ordered set gave it
            for (const auto& r : facts.roles) {
                std::string lr = to_lower(r);
                if (security_defaults_privileged_roles().count(lr) != 0 && lr > role) role = std::move(lr);
            }
            if (!role.empty()) {
                out.settings.push_back({demand::mfa, w::sd_privileged_role, cause_security_defaults, std::move(role)});
            } else if (s.context_kind == sign_in::context::application &&
                       icontains(s.applications, app_azure_management)) {
                out.settings.push_back({demand::mfa, w::sd_azure_management, cause_security_defaults, {}});
            } else if (!facts.is_mfa_registered) {
                out.settings.push_back({demand::mfa, w::sd_registration, cause_security_defaults, {}});
            }
        }
    }
    switch (facts.per_user_mfa_state) {
        case per_user_mfa::disabled: break;
        case per_user_mfa::enforced:
            out.settings.push_back({legacy ? demand::block : demand::mfa, w::per_user_enforced, cause_per_user_mfa, {}});
            break;
        case per_user_mfa::enabled:
            if (facts.is_mfa_registered) {
                out.settings.push_back(
                    {legacy ? demand::block : demand::mfa, w::per_user_enabled_registered, cause_per_user_mfa, {}});
            } else if (!legacy) {
                out.settings.push_back({demand::mfa, w::per_user_enabled_unregistered, cause_per_user_mfa, {}});
            }
            break;
    }
}

const user_facts& no_facts() {
    static const user_facts f;
    return f;
}

int demand_slot(demand d) { return d == demand::block ? 0 : d == demand::mfa ? 1 : d == demand::control ? 2 : -1; }

verdict_result decide(const std::vector<std::uint32_t> (&t)[3], bool registered, std::vector<std::uint32_t>& causes) {
    if (!t[0].empty()) {
        causes = t[0];
        return verdict_result::blocked;
    }
    if (!t[1].empty()) {
        causes = t[1];
        return registered ? verdict_result::mfa_required : verdict_result::mfa_registration_required;
    }
    if (!t[2].empty()) {
        causes = t[2];
        return verdict_result::control_required;
    }
    causes.clear();
    return verdict_result::allowed;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

compiled_policy_set compile(const std::vector<policy>& policies) {
    compiled_policy_set set;
    set.ids.reserve(policies.size() * 8 + 32);
    compiler c{set.ids, {}, {}};
    set.policies.reserve(policies.size());
    for (std::size_t i = 0; i < policies.size(); ++i) set.policies.push_back(c.one(policies[i], i));
    return set;
}

compiled_policy_set compile(const policy& p) {
    compiled_policy_set set;
    compiler c{set.ids, {}, {}};
    set.policies.push_back(c.one(p, 0));
    return set;
}

void prepare(const compiled_policy_set& set, const directory& dir, const sign_in& s, prepared_sign_in& out) {
    const interner& ids = set.ids;
    out.s = &s;
    out.dir = &dir;
    out.user = s.identity_kind == sign_in::identity::user;
    out.user_id = ids.find(s.user_id);

    // identity (directory facts, overridden by the request)
    out.scratch.assign(s.user_id);
    for (auto& ch : out.scratch) ch = static_cast<char>(lower_ascii(static_cast<unsigned char>(ch)));
    const auto it = dir.users.find(out.scratch);
    const user_facts& facts = it == dir.users.end() ? no_facts() : it->second;
    std::string_view external_user_type = facts.external_user_type;
    if (s.external_user_type)
        external_user_type = iequals(*s.external_user_type, "none") ? std::string_view{} : std::string_view{*s.external_user_type};
    const std::string_view external_tenant = s.external_tenant_id ? std::string_view{*s.external_tenant_id}
                                                                  : std::string_view{facts.external_tenant_id};
    const std::string_view kind = !external_user_type.empty() ? external_user_type
                                  : facts.guest                ? std::string_view{"b2bCollaborationGuest"}
                                                               : std::string_view{"none"};
    out.guest_none = kind == "none";
    out.guest_internal = iequals(kind, "internalGuest");
    out.guest_kind = ids.find(kind);
    out.external_tenant_known = !external_tenant.empty();
    out.external_tenant = ids.find(external_tenant);
    out.groups.clear();
    for (const auto& g : facts.groups) {
        if (auto id = ids.find(g); id != interner::none) out.groups.push_back(id);
    }
    sort_unique(out.groups);
    out.roles.clear();
    for (const auto& r : facts.roles) {
        if (auto id = ids.find(r); id != interner::none) out.roles.push_back(id);
    }
    sort_unique(out.roles);
    out.is_mfa_registered = facts.is_mfa_registered;
    out.service_principal = ids.find(s.service_principal_id);

    // target resource
    out.apps_in_order.clear();
    out.app_token_protected.clear();
    for (const auto& app : s.applications) {
        out.apps_in_order.push_back(ids.find(app));
        bool tp = false;
        for (const auto& t : token_protection_apps()) tp = tp || iequals(t, app);
        out.app_token_protected.push_back(tp ? 1 : 0);
    }
    const std::string_view urn = iequals(s.user_action, "registerSecurityInformation") ? "urn:user:registersecurityinfo"
                                 : iequals(s.user_action, "registerOrJoinDevices")     ? "urn:user:registerdevice"
                                                                                       : std::string_view{s.user_action};
    out.user_action = ids.find(urn);
    out.authentication_context = ids.find(s.authentication_context);

    // conditions
    out.has_client_app_type = s.client_app_type.has_value();
    out.client_app_type = s.client_app_type ? ids.find(*s.client_app_type) : interner::none;
    out.client_is_eas = s.client_app_type && iequals(*s.client_app_type, "exchangeActiveSync");
    out.legacy = s.legacy_client();
    out.has_platform = s.device_platform.has_value();
    out.platform = s.device_platform ? ids.find(*s.device_platform) : interner::none;
    out.ip.reset();
    if (s.ip_address) {
        auto r = parse_ip(*s.ip_address);
        if (r) out.ip = r.value();
    }
    tri trusted = in_ranges(dir.mfa_trusted_ips, out.ip);
    out.legacy_trusted = static_cast<std::uint8_t>(trusted);
    for (const auto& l : dir.named_locations) {
        if (l.type == named_location::kind::ip && l.is_trusted) trusted = tri_or(trusted, in_ranges(l.ip_ranges, out.ip));
    }
    out.all_trusted = static_cast<std::uint8_t>(trusted);
    out.sign_in_risk = ids.find(s.sign_in_risk);
    out.user_risk = ids.find(s.user_risk);
    out.service_principal_risk = ids.find(s.service_principal_risk);
    out.insider_risk = ids.find(s.insider_risk);
    out.authentication_flow = ids.find(s.authentication_flow);

    add_settings(out, dir, facts, s);
}

policy_outcome evaluate_compiled(const compiled_policy& p, const prepared_sign_in& u) {
    const sign_in& s = *u.s;
    std::uint32_t reasons = 0;
    bool unknown = false;
    auto check = [&](tri t, std::uint32_t reason) {
        if (t == tri::no) reasons |= reason;
        else if (t == tri::unknown) unknown = true;
    };

    // identity
    if (p.targets_agents) {
        // Agent-identity policies target agents only: never a human user, never a workload identity.
        reasons |= u.user ? reason_users : reason_workload_identities;
    } else if (u.user) {
        if (!p.has_users) {
            reasons |= p.workload_policy ? reason_workload_identities : reason_users;
        } else {
            tri t = users_condition(p, u);
            if (t == tri::no && p.workload_policy) reasons |= reason_workload_identities;
            else check(t, reason_users);
        }
    } else {
        if (!p.workload_policy) {
            reasons |= reason_users;
        } else {
            tri inc = of(p.inc_all_service_principals || has(p.inc_service_principals, u.service_principal));
            tri exc = of(has(p.exc_service_principals, u.service_principal));
            if (p.has_service_principal_filter) inc = tri_or(inc, tri::unknown);
            check(tri_and(inc, tri_not(exc)), reason_workload_identities);
        }
    }

    // target resource
    switch (s.context_kind) {
        case sign_in::context::application:
            if (p.no_application_reason != 0) {
                reasons |= p.no_application_reason;
            } else {
                tri t = tri::no;
                for (const auto app : u.apps_in_order) t = tri_or(t, application_condition(p, app));
                check(t, reason_application);
            }
            break;
        case sign_in::context::user_action: check(of(has(p.user_actions, u.user_action)), reason_user_actions); break;
        case sign_in::context::authentication_context:
            check(of(has(p.authentication_contexts, u.authentication_context)), reason_authentication_context);
            break;
    }

    check(client_apps_condition(p, u), reason_client_apps);
    check(platform_condition(p, u), reason_device_platform);
    check(location_condition(p, u), reason_location);
    check(device_condition(p, u), reason_devices);
    check(level_condition(p.sign_in_risk, u.sign_in_risk), reason_sign_in_risk);
    check(level_condition(p.user_risk, u.user_risk), reason_user_risk);
    check(level_condition(p.insider_risk, u.insider_risk), reason_insider_risk);
    if (!u.user) check(level_condition(p.service_principal_risk, u.service_principal_risk), reason_workload_identities);
    check(level_condition(p.authentication_flows, u.authentication_flow), reason_authentication_flow);
    if (p.has_times) unknown = true;  // schedule conditions need a clock the input does not carry

    if (reasons == 0 && unknown) reasons |= reason_not_enough_information;
    policy_outcome o;
    o.conditions_match = reasons == 0;
    if (p.state == policy_state::disabled) reasons |= reason_policy_not_enabled;
    o.analysis_reasons = reasons;
    o.applies = o.conditions_match && p.state != policy_state::disabled;
    o.uncertain = p.state != policy_state::disabled && reasons == reason_not_enough_information;
    if (o.conditions_match) {
        o.required = demand_of(p, u);
        o.token_protected_app = token_protected_app(p, u);
        if (o.token_protected_app >= 0) o.required = demand::block;
    }
    return o;
}

void evaluate_into(const compiled_policy_set& set, const prepared_sign_in& u, compiled_evaluation& out) {
    const std::size_t n = set.policies.size();
    out.policies.resize(n);
    out.uncertain.clear();
    out.report_only_policies.clear();
    for (auto& t : out.enforced) t.clear();
    for (auto& t : out.with_report_only) t.clear();
    for (std::size_t i = 0; i < n; ++i) {
        const compiled_policy& p = set.policies[i];
        const policy_outcome o = evaluate_compiled(p, u);
        out.policies[i] = o;
        const auto ref = static_cast<std::uint32_t>(i);
        if (o.uncertain) out.uncertain.push_back(ref);
        if (!o.applies) continue;
        const int slot = demand_slot(o.required);
        if (p.state == policy_state::enabled) {
            if (slot >= 0) {
                out.enforced[slot].push_back(ref);
                out.with_report_only[slot].push_back(ref);
            }
        } else if (p.state == policy_state::report_only) {
            out.report_only_policies.push_back(ref);
            if (slot >= 0) out.with_report_only[slot].push_back(ref);
        }
    }
    for (std::size_t k = 0; k < u.settings.size(); ++k) {
        const int slot = demand_slot(u.settings[k].required);
        if (slot < 0) continue;
        out.enforced[slot].push_back(static_cast<std::uint32_t>(n + k));
        out.with_report_only[slot].push_back(static_cast<std::uint32_t>(n + k));
    }
    const bool registered = !u.user || u.is_mfa_registered;
    out.result = decide(out.enforced, registered, out.causes);
    out.report_only_result = decide(out.with_report_only, registered, out.report_only_causes);
}

namespace {

void assign_result(policy_result& r, const compiled_policy& p, const policy_outcome& o, const prepared_sign_in& u) {
    r.id.assign(p.id);
    r.label.assign(p.label);
    r.display_name.assign(p.display_name);
    r.state = p.state;
    r.applies = o.applies;
    r.analysis_reasons = o.analysis_reasons;
    r.uncertain = o.uncertain;
    r.required = o.required;
    r.detail.assign(p.detail);
    if (o.token_protected_app >= 0) {
        if (!r.detail.empty()) r.detail += "; ";
        r.detail += "token protection (secureSignInSession): ";
        const std::string& app = u.s->applications[static_cast<std::size_t>(o.token_protected_app)];
        const char* known = known_app_name(app);
        if (known != nullptr) r.detail += known;
        else r.detail += app;
        r.detail += " accepts only a device-bound token, and a password (ROPC) token is never bound";
    }
}

}  // namespace

policy_result materialize(const compiled_policy& p, const policy_outcome& o, const prepared_sign_in& u) {
    policy_result r;
    assign_result(r, p, o, u);
    return r;
}

void materialize_into(const compiled_policy_set& set, const prepared_sign_in& u, const compiled_evaluation& e,
                      evaluation& out) {
    const std::size_t n = set.policies.size();
    out.policies.resize(n);
    for (std::size_t i = 0; i < n; ++i) assign_result(out.policies[i], set.policies[i], e.policies[i], u);
    auto name = [&](std::uint32_t ref) -> std::string_view {
        return ref < n ? std::string_view{set.policies[ref].label} : std::string_view{u.settings[ref - n].cause};
    };
    auto names = [&](std::vector<std::string>& dst, const std::vector<std::uint32_t>& refs) {
        dst.resize(refs.size());
        for (std::size_t k = 0; k < refs.size(); ++k) dst[k].assign(name(refs[k]));
    };
    verdict& v = out.result;
    v.result = e.result;
    v.report_only_result = e.report_only_result;
    names(v.uncertain, e.uncertain);
    names(v.report_only_policies, e.report_only_policies);
    names(v.causes, e.causes);
    names(v.report_only_causes, e.report_only_causes);
    const bool not_registered = e.result == verdict_result::mfa_registration_required && !u.is_mfa_registered;
    v.explanations.resize(e.causes.size() + (not_registered ? 1 : 0));
    for (std::size_t k = 0; k < e.causes.size(); ++k) {
        const std::uint32_t ref = e.causes[k];
        if (ref < n) why_policy_into(v.explanations[k], out.policies[ref]);
        else v.explanations[k] = why_setting(u.settings[ref - n], u);
    }
    if (not_registered) v.explanations.back().assign("the account has not registered an MFA method");
}

evaluation materialize(const compiled_policy_set& set, const prepared_sign_in& u, const compiled_evaluation& e) {
    evaluation out;
    materialize_into(set, u, e, out);
    return out;
}

}  // namespace connguard::whatif
