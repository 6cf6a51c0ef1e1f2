// The what-if evaluator as it was before the compiled form (agent/whatif/compiled.h): kept ONLY as
// the reference of the differential test (compiled_differential_test.cpp). Not used in production.
// Copied verbatim from agent/whatif/evaluate.cpp (the condition functions, evaluate_one, the tally),
// moved into connguard::test::reference (one `"report-only " + why_policy(r)` spelled with += to
// dodge a GCC 12 -Warray-bounds false positive; same text).
#include "tests/whatif/reference_evaluate.h"

#include <algorithm>
#include <map>

#include "agent/whatif/device_rule.h"
#include "agent/whatif/json_util.h"

namespace connguard::test::reference {

using namespace connguard::whatif;
using namespace connguard::whatif::detail;

namespace {

/// Three-valued logic: a condition matches, does not, or cannot be decided from the input.
enum class tri { no, yes, unknown };
tri tri_or(tri a, tri b) {
    if (a == tri::yes || b == tri::yes) return tri::yes;
    if (a == tri::unknown || b == tri::unknown) return tri::unknown;
    return tri::no;
}
tri tri_and(tri a, tri b) {
    if (a == tri::no || b == tri::no) return tri::no;
    if (a == tri::unknown || b == tri::unknown) return tri::unknown;
    return tri::yes;
}
tri tri_not(tri a) { return a == tri::yes ? tri::no : a == tri::no ? tri::yes : tri::unknown; }
tri of(bool b) { return b ? tri::yes : tri::no; }

const char* const legacy_trusted_ips_location = "00000000-0000-0000-0000-000000000000";

/// The identity as the engine needs it.
struct who {
    std::string id;
    user_facts facts;
    std::string kind;  // guest kind ("none" for internal members)
};

tri guest_match(const guest_selector& sel, const who& u) {
    if (u.kind == "none") return tri::no;
    if (!icontains(sel.user_types, u.kind)) return tri::no;
    if (sel.all_tenants || iequals(u.kind, "internalGuest")) return tri::yes;
    if (u.facts.external_tenant_id.empty()) return tri::unknown;
    return of(icontains(sel.tenant_ids, u.facts.external_tenant_id));
}

tri in_ids(const std::vector<std::string>& ids, const std::set<std::string>& have) {
    for (const auto& i : ids) {
        if (have.count(to_lower(i)) != 0) return tri::yes;
    }
    return tri::no;
}

/// users: inclusion AND NOT exclusion (exclusion beats inclusion).
tri users_condition(const policy& p, const who& u) {
    tri inc = tri::no;
    for (const auto& x : p.include_users) {
        if (iequals(x, "All")) inc = tri::yes;
        else if (iequals(x, "GuestsOrExternalUsers")) inc = tri_or(inc, of(u.kind != "none"));
        else if (iequals(x, u.id)) inc = tri::yes;
    }
    inc = tri_or(inc, in_ids(p.include_groups, u.facts.groups));
    inc = tri_or(inc, in_ids(p.include_roles, u.facts.roles));
    if (p.include_guests) inc = tri_or(inc, guest_match(*p.include_guests, u));

    tri exc = tri::no;
    for (const auto& x : p.exclude_users) {
        if (iequals(x, "GuestsOrExternalUsers")) exc = tri_or(exc, of(u.kind != "none"));
        else if (iequals(x, "All")) exc = tri::yes;
        else if (iequals(x, u.id)) exc = tri::yes;
    }
    exc = tri_or(exc, in_ids(p.exclude_groups, u.facts.groups));
    exc = tri_or(exc, in_ids(p.exclude_roles, u.facts.roles));
    if (p.exclude_guests) exc = tri_or(exc, guest_match(*p.exclude_guests, u));
    return tri_and(inc, tri_not(exc));
}

bool app_in(const std::string& entry, const std::string& app) {
    if (iequals(entry, "All")) return true;
    if (iequals(entry, "Office365")) return office365_apps().count(to_lower(app)) != 0;
    if (iequals(entry, "MicrosoftAdminPortals")) return admin_portal_apps().count(to_lower(app)) != 0;
    return iequals(entry, app);
}

tri application_condition(const policy& p, const std::string& app) {
    tri inc = tri::no;
    for (const auto& e : p.include_applications) {
        if (iequals(e, "All") || (!iequals(e, "None") && app_in(e, app))) inc = tri::yes;
    }
    tri exc = tri::no;
    for (const auto& e : p.exclude_applications) {
        if (app_in(e, app)) exc = tri::yes;
    }
    // applicationFilter matches apps by custom security attributes, which the input never carries.
    if (p.application_filter) {
        if (p.application_filter->mode == "include") inc = tri_or(inc, tri::unknown);
        else if (inc != tri::no) exc = tri_or(exc, tri::unknown);
    }
    return tri_and(inc, tri_not(exc));
}

bool client_type_matches(const std::string& entry, const std::string& type) {
    if (iequals(entry, type)) return true;
    if (iequals(type, "exchangeActiveSync"))
        return iequals(entry, "easSupported") || iequals(entry, "easUnsupported");
    return false;
}

tri client_apps_condition(const policy& p, const sign_in& s) {
    if (p.client_app_types.empty() || icontains(p.client_app_types, "all")) return tri::yes;
    if (!s.client_app_type) return tri::unknown;
    for (const auto& t : p.client_app_types) {
        if (client_type_matches(t, *s.client_app_type)) return tri::yes;
    }
    return tri::no;
}

tri platform_condition(const policy& p, const sign_in& s) {
    if (p.include_platforms.empty()) return tri::yes;  // not configured: every platform
    const bool include_all = icontains(p.include_platforms, "all");
    if (!s.device_platform) return (include_all && p.exclude_platforms.empty()) ? tri::yes : tri::unknown;
    const bool inc = include_all || icontains(p.include_platforms, *s.device_platform);
    const bool exc = icontains(p.exclude_platforms, *s.device_platform);
    return of(inc && !exc);
}

tri in_ranges(const std::vector<cidr>& ranges, const std::optional<cidr>& ip) {
    if (ranges.empty()) return tri::no;
    if (!ip) return tri::unknown;
    for (const auto& r : ranges) {
        if (contains(r, *ip)) return tri::yes;
    }
    return tri::no;
}

tri location_member(const std::string& entry, const directory& dir, const sign_in& s, const std::optional<cidr>& ip) {
    if (iequals(entry, "All")) return tri::yes;
    if (iequals(entry, "AllTrusted")) {
        tri t = in_ranges(dir.mfa_trusted_ips, ip);
        for (const auto& l : dir.named_locations) {
            if (l.type == named_location::kind::ip && l.is_trusted) t = tri_or(t, in_ranges(l.ip_ranges, ip));
        }
        return t;
    }
    if (iequals(entry, legacy_trusted_ips_location)) return in_ranges(dir.mfa_trusted_ips, ip);
    const named_location* l = dir.location(entry);
    if (l == nullptr) return tri::unknown;  // a location the directory does not describe (or a placeholder)
    switch (l->type) {
        case named_location::kind::ip: return in_ranges(l->ip_ranges, ip);
        case named_location::kind::country:
            if (!s.country) return tri::unknown;
            return of(std::find(l->countries.begin(), l->countries.end(), *s.country) != l->countries.end());
        case named_location::kind::unknown: return tri::unknown;
    }
    return tri::unknown;
}

tri location_condition(const policy& p, const directory& dir, const sign_in& s) {
    if (!p.has_locations) return tri::yes;
    std::optional<cidr> ip;
    if (s.ip_address) {
        auto r = parse_ip(*s.ip_address);
        if (r) ip = r.value();
    }
    tri inc = p.include_locations.empty() ? tri::yes : tri::no;
    for (const auto& e : p.include_locations) inc = tri_or(inc, location_member(e, dir, s, ip));
    tri exc = tri::no;
    for (const auto& e : p.exclude_locations) exc = tri_or(exc, location_member(e, dir, s, ip));
    return tri_and(inc, tri_not(exc));
}

tri device_condition(const policy& p, const sign_in& s) {
    tri r = tri::yes;
    if (p.device_filter) {
        if (!s.device) {
            r = tri::unknown;
        } else {
            auto m = evaluate_device_rule(p.device_filter->rule, s.device->properties);
            tri t = m == rule_match::yes ? tri::yes : m == rule_match::no ? tri::no : tri::unknown;
            r = tri_and(r, p.device_filter->mode == "exclude" ? tri_not(t) : t);
        }
    }
    if (p.device_states) {
        const auto& ds = *p.device_states;
        tri inc = (ds.include_states.empty() || icontains(ds.include_states, "All")) ? tri::yes : tri::unknown;
        tri exc = tri::no;
        if (!ds.exclude_states.empty()) {
            if (!s.device) {
                exc = tri::unknown;
            } else {
                if (icontains(ds.exclude_states, "Compliant"))
                    exc = tri_or(exc, s.device->is_compliant ? of(*s.device->is_compliant) : tri::unknown);
                if (icontains(ds.exclude_states, "DomainJoined"))
                    exc = tri_or(exc, s.device->trust_type ? of(iequals(*s.device->trust_type, "ServerAD")) : tri::unknown);
            }
        }
        r = tri_and(r, tri_and(inc, tri_not(exc)));
    }
    return r;
}

tri level_condition(const std::vector<std::string>& levels, const std::string& value) {
    if (levels.empty()) return tri::yes;
    return of(icontains(levels, value));
}

/// One control of a grant: what category it is and whether the sign-in satisfies it.
struct control_state {
    std::string name;
    bool mfa = false;
    bool satisfied = false;
};

std::vector<control_state> controls_of(const grant_controls& g, const sign_in& s) {
    std::vector<control_state> out;
    const device_info* d = s.device ? &*s.device : nullptr;
    for (const auto& c : g.built_in_controls) {
        control_state cs{c};
        if (iequals(c, "mfa") || iequals(c, "riskRemediation")) cs.mfa = true;
        else if (iequals(c, "compliantDevice")) cs.satisfied = d != nullptr && d->is_compliant.value_or(false);
        else if (iequals(c, "domainJoinedDevice"))
            cs.satisfied = d != nullptr && d->trust_type && iequals(*d->trust_type, "ServerAD");
        else if (iequals(c, "approvedApplication")) cs.satisfied = d != nullptr && d->approved_application;
        else if (iequals(c, "compliantApplication")) cs.satisfied = d != nullptr && d->compliant_application;
        else if (iequals(c, "passwordChange")) cs.satisfied = d != nullptr && d->password_changed;
        out.push_back(cs);
    }
    if (g.authentication_strength_id) {
        control_state cs{"authenticationStrength"};
        if (!g.authentication_strength_name.empty()) cs.name += " '" + g.authentication_strength_name + "'";
        cs.mfa = true;
        out.push_back(cs);
    }
    for (const auto& t : g.terms_of_use) {
        control_state cs{"termsOfUse " + t};
        cs.satisfied = d != nullptr && icontains(d->accepted_terms_of_use, t);
        out.push_back(cs);
    }
    for (const auto& f : g.custom_authentication_factors) {
        control_state cs{"customAuthenticationFactor " + f};
        cs.satisfied = d != nullptr && icontains(d->custom_factors, f);
        out.push_back(cs);
    }
    return out;
}

std::string describe(const grant_controls& g, const sign_in& s) {
    std::string text;
    for (const auto& c : controls_of(g, s)) text += (text.empty() ? "" : (g.is_and ? " AND " : " OR ")) + c.name;
    return text;
}

demand demand_of(const policy& p, const sign_in& s) {
    if (!p.grant) return demand::none;
    const auto& g = *p.grant;
    if (g.has("block")) return demand::block;
    if (s.legacy_client()) return demand::block;  // legacy clients cannot satisfy any grant control
    const auto controls = controls_of(g, s);
    if (controls.empty()) return demand::none;
    if (g.is_and) {
        bool mfa = false, other = false;
        for (const auto& c : controls) {
            if (c.satisfied) continue;
            (c.mfa ? mfa : other) = true;
        }
        return mfa ? demand::mfa : other ? demand::control : demand::none;
    }
    bool any_mfa = false;
    for (const auto& c : controls) {
        if (c.satisfied) return demand::none;
        any_mfa = any_mfa || c.mfa;
    }
    return any_mfa ? demand::mfa : demand::control;
}

/// Collects what applicable policies and settings demand, then decides.
struct tally {
    std::vector<std::string> block, mfa, control;
    std::vector<std::string> block_why, mfa_why, control_why;
    void add(demand d, const std::string& cause, const std::string& why) {
        switch (d) {
            case demand::block: block.push_back(cause); block_why.push_back(why); break;
            case demand::mfa: mfa.push_back(cause); mfa_why.push_back(why); break;
            case demand::control: control.push_back(cause); control_why.push_back(why); break;
            case demand::none: break;
        }
    }
    verdict_result decide(bool registered, std::vector<std::string>& causes, std::vector<std::string>* why) const {
        auto take = [&](const std::vector<std::string>& c, const std::vector<std::string>& w) {
            causes = c;
            if (why != nullptr) *why = w;
        };
        if (!block.empty()) {
            take(block, block_why);
            return verdict_result::blocked;
        }
        if (!mfa.empty()) {
            take(mfa, mfa_why);
            return registered ? verdict_result::mfa_required : verdict_result::mfa_registration_required;
        }
        if (!control.empty()) {
            take(control, control_why);
            return verdict_result::control_required;
        }
        causes.clear();
        return verdict_result::allowed;
    }
};

/// Security Defaults and per-user MFA for a user sign-in (graph.md §5, §6, §11.3).
void add_settings(tally& t, const directory& dir, const user_facts& u, const sign_in& s) {
    if (s.identity_kind != sign_in::identity::user) return;
    const bool legacy = s.legacy_client();
    // The Directory Synchronization Accounts role is exempt from Security Defaults altogether.
    const bool sd_exempt = u.roles.count(role_directory_synchronization_accounts) != 0;
    if (dir.security_defaults_enabled && !sd_exempt) {
        if (legacy) {
            t.add(demand::block, cause_security_defaults,
                  "Security Defaults block legacy authentication (client app type " + s.client_app_type.value_or("") + ")");
        } else {
            std::string role;
            for (const auto& r : u.roles) {
                if (security_defaults_privileged_roles().count(to_lower(r)) != 0) role = r;
            }
            if (!role.empty()) {
                t.add(demand::mfa, cause_security_defaults,
                      "Security Defaults require MFA for every sign-in of a privileged role (role template " + role + ")");
            } else if (s.context_kind == sign_in::context::application &&
                       icontains(s.applications, app_azure_management)) {
                t.add(demand::mfa, cause_security_defaults,
                      "Security Defaults require MFA for Azure management (" + std::string(app_azure_management) + ")");
            } else if (!u.is_mfa_registered) {
                t.add(demand::mfa, cause_security_defaults,
                      "Security Defaults require every user to register MFA, and the account has no MFA method "
                      "registered: Entra asks it to register at this sign-in (there is no registration grace period "
                      "since 2024-07-29)");
            }
        }
    }
    switch (u.per_user_mfa_state) {
        case per_user_mfa::disabled: break;
        case per_user_mfa::enforced:
            t.add(legacy ? demand::block : demand::mfa, cause_per_user_mfa,
                  legacy ? "per-user MFA is enforced: legacy authentication is blocked"
                         : "per-user MFA is enforced: MFA at every sign-in");
            break;
        case per_user_mfa::enabled:
            if (u.is_mfa_registered) {
                t.add(legacy ? demand::block : demand::mfa, cause_per_user_mfa,
                      legacy ? "per-user MFA is enabled and the account has MFA registered (Entra enforces it): "
                               "legacy authentication is blocked"
                             : "per-user MFA is enabled and the account has MFA registered (Entra enforces it)");
            } else if (!legacy) {
                t.add(demand::mfa, cause_per_user_mfa,
                      "per-user MFA is enabled and the account has not registered MFA: registration at next sign-in");
            }
            break;
    }
}

who identity_of(const directory& dir, const sign_in& s) {
    who u;
    u.id = s.user_id;
    u.facts = dir.user(s.user_id);
    // Ids compare case-insensitively; the directory parser lowers them, hand-built facts may not.
    auto lowered = [](const std::set<std::string>& in) {
        std::set<std::string> out;
        for (const auto& x : in) out.insert(to_lower(x));
        return out;
    };
    u.facts.groups = lowered(u.facts.groups);
    u.facts.roles = lowered(u.facts.roles);
    if (s.external_user_type) u.facts.external_user_type = iequals(*s.external_user_type, "none") ? "" : *s.external_user_type;
    if (s.external_tenant_id) u.facts.external_tenant_id = *s.external_tenant_id;
    u.kind = u.facts.guest_kind();
    return u;
}

/// Token protection (graph.md §11.5): the first resource of the sign-in that the policy covers and that
/// accepts only a bound token; empty when none (or the token is bound).
std::string token_protected_resource(const policy& p, const sign_in& s) {
    if (!p.secure_sign_in_session || s.bound_token || s.context_kind != sign_in::context::application) return {};
    for (const auto& app : s.applications) {
        if (token_protection_apps().count(to_lower(app)) != 0 && application_condition(p, app) == tri::yes) return app;
    }
    return {};
}

std::string label_of(const policy& p, std::size_t index) {
    if (!p.id.empty()) return p.id;
    if (!p.display_name.empty()) return p.display_name;
    return "policy #" + std::to_string(index);
}

policy_result evaluate_one(const policy& p, const directory& dir, const sign_in& s, const who& u, std::size_t index) {
    policy_result r;
    r.id = p.id;
    r.label = label_of(p, index);
    r.display_name = p.display_name;
    r.state = p.state;
    std::uint32_t reasons = 0;
    bool unknown = false;
    auto check = [&](tri t, std::uint32_t reason) {
        if (t == tri::no) reasons |= reason;
        else if (t == tri::unknown) unknown = true;
    };

    // identity
    const bool workload_policy = !p.include_service_principals.empty();
    if (p.targets_agents) {
        // Agent-identity policies target agents only: never a human user, never a workload identity.
        reasons |= s.identity_kind == sign_in::identity::user ? reason_users : reason_workload_identities;
    } else if (s.identity_kind == sign_in::identity::user) {
        if (!p.has_users) {
            reasons |= workload_policy ? reason_workload_identities : reason_users;
        } else {
            tri t = users_condition(p, u);
            if (t == tri::no && workload_policy) reasons |= reason_workload_identities;
            else check(t, reason_users);
        }
    } else {
        if (!workload_policy) {
            reasons |= reason_users;
        } else {
            tri inc = tri::no;
            for (const auto& x : p.include_service_principals) {
                if (iequals(x, "ServicePrincipalsInMyTenant") || iequals(x, s.service_principal_id)) inc = tri::yes;
            }
            tri exc = of(icontains(p.exclude_service_principals, s.service_principal_id));
            if (p.has_service_principal_filter) inc = tri_or(inc, tri::unknown);
            check(tri_and(inc, tri_not(exc)), reason_workload_identities);
        }
    }

    // target resource
    switch (s.context_kind) {
        case sign_in::context::application:
            if (p.include_applications.empty() && !p.application_filter) {
                if (!p.include_user_actions.empty()) reasons |= reason_user_actions;
                else if (!p.include_authentication_contexts.empty()) reasons |= reason_authentication_context;
                else reasons |= reason_application;
            } else {
                tri t = tri::no;
                for (const auto& app : s.applications) t = tri_or(t, application_condition(p, app));
                check(t, reason_application);
            }
            break;
        case sign_in::context::user_action: {
            std::string urn = iequals(s.user_action, "registerSecurityInformation") ? "urn:user:registersecurityinfo"
                              : iequals(s.user_action, "registerOrJoinDevices") ? "urn:user:registerdevice"
                                                                                : s.user_action;
            check(of(icontains(p.include_user_actions, urn)), reason_user_actions);
            break;
        }
        case sign_in::context::authentication_context:
            check(of(icontains(p.include_authentication_contexts, s.authentication_context)), reason_authentication_context);
            break;
    }

    check(client_apps_condition(p, s), reason_client_apps);
    check(platform_condition(p, s), reason_device_platform);
    check(location_condition(p, dir, s), reason_location);
    check(device_condition(p, s), reason_devices);
    check(level_condition(p.sign_in_risk_levels, s.sign_in_risk), reason_sign_in_risk);
    check(level_condition(p.user_risk_levels, s.user_risk), reason_user_risk);
    check(level_condition(p.insider_risk_levels, s.insider_risk), reason_insider_risk);
    if (s.identity_kind == sign_in::identity::service_principal)
        check(level_condition(p.service_principal_risk_levels, s.service_principal_risk), reason_workload_identities);
    check(level_condition(p.authentication_flows, s.authentication_flow), reason_authentication_flow);
    if (p.has_times) unknown = true;  // schedule conditions need a clock the input does not carry

    if (reasons == 0 && unknown) reasons |= reason_not_enough_information;
    const bool conditions_match = reasons == 0;
    if (p.state == policy_state::disabled) reasons |= reason_policy_not_enabled;
    r.analysis_reasons = reasons;
    r.applies = conditions_match && p.state != policy_state::disabled;
    r.uncertain = p.state != policy_state::disabled && reasons == reason_not_enough_information;
    if (p.grant) r.detail = describe(*p.grant, s);
    if (conditions_match) {
        r.required = demand_of(p, s);
        if (const auto app = token_protected_resource(p, s); !app.empty()) {
            r.required = demand::block;
            r.detail += (r.detail.empty() ? "" : "; ") + std::string("token protection (secureSignInSession): ") +
                        app_name(app) + " accepts only a device-bound token, and a password (ROPC) token is never bound";
        }
    }
    return r;
}

std::string why_policy(const policy_result& r) {
    std::string what;
    switch (r.required) {
        case demand::block: what = "blocks"; break;
        case demand::mfa: what = "requires MFA"; break;
        case demand::control: what = "requires a control a non-interactive sign-in cannot satisfy"; break;
        case demand::none: what = "applies"; break;
    }
    std::string name;
    if (!r.display_name.empty()) name = "policy '" + r.display_name + "'" + (r.id.empty() ? "" : " (" + r.id + ")");
    else if (!r.id.empty()) name = "policy " + r.id;
    else name = r.label;
    return name + " " + what + (r.detail.empty() ? "" : " [" + r.detail + "]");
}

}  // namespace

policy_result evaluate_policy(const policy& p, const directory& dir, const sign_in& s) {
    return evaluate_one(p, dir, s, identity_of(dir, s), 0);
}

// A named string rather than a pushed literal: GCC 12 reports a false -Warray-bounds on the latter here.
static const std::string& not_registered_note() {
    static const std::string note = "the account has not registered an MFA method";
    return note;
}

evaluation evaluate(const std::vector<policy>& policies, const directory& dir, const sign_in& s) {
    evaluation e;
    const who u = identity_of(dir, s);
    e.policies.reserve(policies.size());
    tally enforced, with_report_only;
    for (std::size_t i = 0; i < policies.size(); ++i) {
        const policy& p = policies[i];
        policy_result r = evaluate_one(p, dir, s, u, i);
        if (r.uncertain) e.result.uncertain.push_back(r.label);
        if (r.applies) {
            if (p.state == policy_state::enabled) {
                enforced.add(r.required, r.label, why_policy(r));
                with_report_only.add(r.required, r.label, why_policy(r));
            } else if (p.state == policy_state::report_only) {
                e.result.report_only_policies.push_back(r.label);
                std::string why = "report-only ";  // not `"..." + string&&`: GCC 12 -Warray-bounds false positive
                why += why_policy(r);
                with_report_only.add(r.required, r.label, why);
            }
        }
        e.policies.push_back(std::move(r));
    }
    add_settings(enforced, dir, u.facts, s);
    add_settings(with_report_only, dir, u.facts, s);
    const bool registered = s.identity_kind != sign_in::identity::user || u.facts.is_mfa_registered;
    e.result.result = enforced.decide(registered, e.result.causes, &e.result.explanations);
    e.result.report_only_result = with_report_only.decide(registered, e.result.report_only_causes, nullptr);
    if (e.result.result == verdict_result::mfa_registration_required && u.facts.is_mfa_registered == false)
        e.result.explanations.push_back(not_registered_note());
    return e;
}

}  // namespace connguard::test::reference
