#include "coordinator/impact.h"

#include <algorithm>
#include <set>

#include "agent/whatif/directory.h"
#include "agent/whatif/evaluate.h"
#include "agent/whatif/policy.h"
#include "agent/whatif/sign_in.h"
#include "common/text.h"

namespace connguard::coord::impact {

const char* to_string(outcome o) {
    switch (o) {
        case outcome::unaffected: return "unaffected";
        case outcome::blocked: return "blocked";
        case outcome::mfa_required: return "mfa_required";
        case outcome::control_required: return "control_required";
        case outcome::uncertain: return "uncertain";
        case outcome::stale: return "stale";
        case outcome::incomplete: return "incomplete";
        case outcome::no_report: return "no_report";
    }
    return "unknown";
}

bool breaks(outcome o) {
    return o == outcome::blocked || o == outcome::mfa_required || o == outcome::control_required;
}

namespace {

/// graph.md §2: organizations that implement CA policies "must disable security defaults", and the
/// portal does not let a CA policy be enabled beside them.
constexpr const char* security_defaults_note =
    "Security Defaults are on in this tenant: a Conditional Access policy cannot be enabled until they are "
    "turned off, and until then they, not this draft, decide the account's sign-ins";

/// Severity order for the tenant's result over its sign-ins.
int rank(outcome o) {
    switch (o) {
        case outcome::blocked: return 4;
        case outcome::mfa_required: return 3;
        case outcome::control_required: return 2;
        case outcome::uncertain: return 1;
        default: return 0;
    }
}

/// The draft's configured conditions, as (Graph analysisReasons flag, name).
std::vector<std::pair<std::uint32_t, const char*>> configured_conditions(const whatif::policy& p) {
    std::vector<std::pair<std::uint32_t, const char*>> out;
    out.emplace_back(whatif::reason_users, "users");
    if (p.has_applications || !p.include_user_actions.empty() || !p.include_authentication_contexts.empty() ||
        p.application_filter)
        out.emplace_back(whatif::reason_application, "application");
    if (!p.include_user_actions.empty()) out.emplace_back(whatif::reason_user_actions, "userActions");
    if (!p.include_authentication_contexts.empty())
        out.emplace_back(whatif::reason_authentication_context, "authenticationContext");
    if (!p.client_app_types.empty()) out.emplace_back(whatif::reason_client_apps, "clientApps");
    if (!p.include_platforms.empty()) out.emplace_back(whatif::reason_device_platform, "devicePlatform");
    if (p.has_locations) out.emplace_back(whatif::reason_location, "location");
    if (p.device_filter || p.device_states) out.emplace_back(whatif::reason_devices, "devices");
    if (!p.sign_in_risk_levels.empty()) out.emplace_back(whatif::reason_sign_in_risk, "signInRisk");
    if (!p.user_risk_levels.empty()) out.emplace_back(whatif::reason_user_risk, "userRisk");
    if (!p.insider_risk_levels.empty()) out.emplace_back(whatif::reason_insider_risk, "insiderRisk");
    if (!p.authentication_flows.empty()) out.emplace_back(whatif::reason_authentication_flow, "authenticationFlow");
    if (p.has_times) out.emplace_back(whatif::reason_time, "time");
    return out;
}

bool contains_ci(const std::vector<std::string>& list, const std::string& lower) {
    return std::any_of(list.begin(), list.end(), [&](const std::string& x) { return to_lower(x) == lower; });
}

/// How the draft already excludes the account (empty when it does not).
std::string draft_excludes(const whatif::policy& p, const v1::EvaluationContext& c) {
    if (contains_ci(p.exclude_users, c.account_object_id())) return "the draft excludes the account " + c.account_object_id();
    for (const auto& g : c.group_ids()) {
        if (contains_ci(p.exclude_groups, g)) return "the draft excludes the account's group " + g;
    }
    for (const auto& r : c.role_template_ids()) {
        if (contains_ci(p.exclude_roles, r)) return "the draft excludes the account's role " + r;
    }
    return {};
}

/// Why a draft may apply without the engine being able to say: the context a condition needs that
/// the evaluation context does not hold.
std::vector<std::string> undecided_hints(const whatif::policy& p, const whatif::directory& dir,
                                         const v1::EvaluationContext& c) {
    std::vector<std::string> out;
    if (p.has_locations) {
        std::vector<std::string> ids = p.include_locations;
        ids.insert(ids.end(), p.exclude_locations.begin(), p.exclude_locations.end());
        for (const auto& raw : ids) {
            const auto id = to_lower(raw);
            if (id == "all" || id == "alltrusted" || id == "00000000-0000-0000-0000-000000000000") continue;
            if (dir.location(id) == nullptr) out.push_back("location: named location " + raw + " is not defined in this tenant");
        }
        if (c.egress_ip().empty() && c.egress_country().empty())
            out.emplace_back("location: the tool's egress (IP, country) is unknown");
        else if (c.egress_country().empty())
            out.emplace_back("location: the tool's country is unknown");
    }
    if (!p.include_platforms.empty()) out.emplace_back("devicePlatform: the tool's device platform is unknown");
    if (p.device_filter) out.emplace_back("devices: a device filter needs device properties the sign-in does not have");
    if (p.application_filter) out.emplace_back("application: custom security attribute filters are not evaluated");
    if (p.has_times) out.emplace_back("time: the times condition is not evaluated");
    return out;
}

}  // namespace

result<draft> compile_draft(const nlohmann::json& doc) {
    auto parsed = whatif::parse_policies(doc);
    if (!parsed) return make_error("impact.policy", parsed.err().message);
    auto& list = parsed.value();
    if (list.empty()) return make_error("impact.policy", "the document holds no Conditional Access policy");
    if (list.size() != 1)
        return make_error("impact.policy", "the document holds " + std::to_string(list.size()) +
                                               " policies; impact evaluates one draft at a time");
    draft d;
    d.policy = std::move(list.front());
    d.declared_state = whatif::to_string(d.policy.state);
    d.policy.state = whatif::policy_state::enabled;
    d.set = whatif::compile(d.policy);
    return d;
}

whatif::directory to_directory(const v1::EvaluationContext& c) {
    whatif::directory d;
    for (const auto& n : c.named_locations()) {
        whatif::named_location l;
        l.id = to_lower(n.id());
        l.display_name = n.display_name();
        l.type = n.is_country() ? whatif::named_location::kind::country : whatif::named_location::kind::ip;
        l.is_trusted = n.is_trusted();
        for (const auto& r : n.ip_ranges()) {
            auto cidr = whatif::parse_cidr(r);
            if (cidr) l.ip_ranges.push_back(cidr.value());
        }
        for (const auto& x : n.countries()) l.countries.push_back(x);
        l.include_unknown_countries = n.include_unknown_countries();
        d.named_locations.push_back(std::move(l));
    }
    whatif::user_facts f;
    f.guest = c.guest();
    for (const auto& g : c.group_ids()) f.groups.insert(to_lower(g));
    for (const auto& r : c.role_template_ids()) f.roles.insert(to_lower(r));
    f.is_mfa_registered = c.is_mfa_registered();
    d.users[to_lower(c.account_object_id())] = std::move(f);
    return d;
}

tenant_impact evaluate_tenant(const draft& d, const tenant_input& in, std::int64_t now_ms) {
    tenant_impact t;
    t.tenant = in.tenant;
    if (in.report == nullptr) {
        t.result = outcome::no_report;
        t.reason = "the coordinator holds no report for this tenant";
        return t;
    }
    const auto& r = *in.report;
    t.account_upn = r.account_upn();
    t.account_object_id = r.evaluation_context().account_object_id();
    if (t.account_object_id.empty()) t.account_object_id = to_lower(r.account_object_id());
    t.collected_ms = in.collected_ms;
    if (in.collected_ms <= 0) {
        t.result = outcome::stale;
        t.reason = "the latest report does not say when its snapshot was collected";
        return t;
    }
    if (in.max_age_ms > 0 && now_ms - in.collected_ms > in.max_age_ms) {
        t.result = outcome::stale;
        t.reason = "the latest snapshot is " + std::to_string((now_ms - in.collected_ms) / 1000) + " s old, more than " +
                   (in.max_age_is_poll_interval ? std::string("one poll interval (")
                                                : std::string("agents.silenceSeconds (the agent never said its poll interval; ")) +
                   std::to_string(in.max_age_ms / 1000) + " s)";
        return t;
    }
    if (!r.has_evaluation_context()) {
        t.result = outcome::incomplete;
        t.reason = "the latest report carries no evaluation context (its agent predates impact)";
        t.missing.push_back("evaluation context");
        return t;
    }
    const auto& c = r.evaluation_context();
    if (!c.complete() || c.account_object_id().empty() || c.sign_ins().empty()) {
        t.result = outcome::incomplete;
        for (const auto& m : c.missing()) t.missing.push_back(m);
        if (c.account_object_id().empty() && t.missing.empty()) t.missing.push_back("the account's object id");
        if (c.sign_ins().empty()) t.missing.push_back("the account's target sign-ins");
        std::string why;
        for (const auto& m : t.missing) {
            if (!why.empty()) why += "; ";
            why += m;
        }
        t.reason = "the latest snapshot is incomplete: " + why;
        return t;
    }

    const auto dir = to_directory(c);
    const auto& cp = d.set.policies.front();
    const auto conditions = configured_conditions(d.policy);
    whatif::prepared_sign_in prepared;
    for (const auto& target : c.sign_ins()) {
        whatif::sign_in s;
        s.user_id = to_lower(c.account_object_id());
        s.applications = {to_lower(target.evaluated_app_id().empty() ? target.target_app_id() : target.evaluated_app_id())};
        if (!target.client_app_type().empty()) s.client_app_type = target.client_app_type();
        s.authentication_flow = target.authentication_flow().empty() ? "none" : target.authentication_flow();
        if (!c.egress_ip().empty()) s.ip_address = c.egress_ip();
        if (!c.egress_country().empty()) s.country = c.egress_country();
        whatif::prepare(d.set, dir, s, prepared);
        const auto o = whatif::evaluate_compiled(cp, prepared);

        sign_in_result sr;
        sr.target_app_id = target.target_app_id();
        sr.evaluated_app_id = s.applications.front();
        sr.client_app_type = target.client_app_type();
        for (const auto& [flag, name] : conditions) {
            if ((o.analysis_reasons & flag) != 0) sr.not_matched.emplace_back(name);
            else if (o.applies) sr.matched.emplace_back(name);
        }
        if (o.applies) {
            sr.detail = whatif::materialize(cp, o, prepared).detail;
            switch (o.required) {
                case whatif::demand::block: sr.result = outcome::blocked; break;
                case whatif::demand::mfa: sr.result = outcome::mfa_required; break;
                case whatif::demand::control: sr.result = outcome::control_required; break;
                case whatif::demand::none: sr.result = outcome::unaffected; break;
            }
        } else if (o.uncertain) {
            sr.result = outcome::uncertain;
            sr.not_matched.clear();
            sr.not_matched.emplace_back("notEnoughInformation");
            sr.undecided = undecided_hints(d.policy, dir, c);
        }
        if (rank(sr.result) > rank(t.result)) t.result = sr.result;
        t.sign_ins.push_back(std::move(sr));
    }

    if (breaks(t.result) || t.result == outcome::uncertain) {
        if (c.excluding_group_ids_size() > 0) {
            t.exclude.type = exclusion::kind::group;
            t.exclude.id = c.excluding_group_ids(0);
            t.exclude.why = "add group " + t.exclude.id +
                            " to excludeGroups: the account is a member and the tenant's policies already exclude it";
        } else {
            t.exclude.type = exclusion::kind::user;
            t.exclude.id = to_lower(c.account_object_id());
            t.exclude.why = "add the account " + t.exclude.id + " to excludeUsers";
        }
    }
    const std::string what = breaks(t.result) ? std::string("enabling the draft ") +
                                                    (t.result == outcome::blocked ? "blocks"
                                                     : t.result == outcome::mfa_required ? "asks MFA of"
                                                                                         : "asks a control of") +
                                                    " the connection account"
                              : t.result == outcome::uncertain
                                  ? std::string("the draft may apply to the connection account (not enough information)")
                                  : std::string("the connection account is unaffected");
    std::string detail;
    for (const auto& s : t.sign_ins) {
        if (s.result != t.result) continue;
        if (!detail.empty()) detail += "; ";
        detail += whatif::app_name(s.target_app_id);
        detail += " (";
        detail += s.client_app_type;
        detail += ")";
        auto list = [&detail](const char* head, const std::vector<std::string>& xs) {
            if (xs.empty()) return;
            detail += head;
            for (size_t i = 0; i < xs.size(); ++i) {
                if (i != 0) detail += ",";
                detail += xs[i];
            }
        };
        list(" matched ", s.matched);
        list(" not matched ", s.not_matched);
        if (!s.undecided.empty()) {
            detail += " (";
            for (size_t i = 0; i < s.undecided.size(); ++i) {
                if (i != 0) detail += "; ";
                detail += s.undecided[i];
            }
            detail += ")";
        }
    }
    t.reason = what + (detail.empty() ? "" : ": " + detail);
    if (c.security_defaults_known() && c.security_defaults_enabled())
        t.notes.emplace_back(security_defaults_note);
    if (t.result == outcome::unaffected) {
        const auto ex = draft_excludes(d.policy, c);
        if (!ex.empty()) t.reason += " (" + ex + ")";
    }
    return t;
}

nlohmann::json to_json(const tenant_impact& t) {
    nlohmann::json j = {{"tenant", t.tenant}, {"result", to_string(t.result)}, {"breaks", breaks(t.result)},
                        {"reason", t.reason}};
    j["account"] = {{"upn", t.account_upn}, {"objectId", t.account_object_id}};
    if (t.collected_ms > 0) j["collectedMs"] = t.collected_ms;
    if (!t.missing.empty()) j["missing"] = t.missing;
    if (!t.notes.empty()) j["notes"] = t.notes;
    nlohmann::json signins = nlohmann::json::array();
    for (const auto& s : t.sign_ins) {
        nlohmann::json x = {{"targetAppId", s.target_app_id}, {"evaluatedAppId", s.evaluated_app_id},
                            {"clientAppType", s.client_app_type}, {"result", to_string(s.result)},
                            {"matched", s.matched}, {"notMatched", s.not_matched}, {"undecided", s.undecided}};
        if (!s.detail.empty()) x["grant"] = s.detail;
        signins.push_back(std::move(x));
    }
    j["signIns"] = std::move(signins);
    if (t.exclude.type != exclusion::kind::none) {
        j["exclusion"] = {{"kind", t.exclude.type == exclusion::kind::group ? "excludeGroups" : "excludeUsers"},
                          {"id", t.exclude.id}, {"why", t.exclude.why}};
    }
    return j;
}

v1::ImpactOutcome to_proto(outcome o) {
    switch (o) {
        case outcome::unaffected: return v1::IMPACT_OUTCOME_UNAFFECTED;
        case outcome::blocked: return v1::IMPACT_OUTCOME_BLOCKED;
        case outcome::mfa_required: return v1::IMPACT_OUTCOME_MFA_REQUIRED;
        case outcome::control_required: return v1::IMPACT_OUTCOME_CONTROL_REQUIRED;
        case outcome::uncertain: return v1::IMPACT_OUTCOME_UNCERTAIN;
        case outcome::stale: return v1::IMPACT_OUTCOME_STALE;
        case outcome::incomplete: return v1::IMPACT_OUTCOME_INCOMPLETE;
        case outcome::no_report: return v1::IMPACT_OUTCOME_NO_REPORT;
    }
    return v1::IMPACT_OUTCOME_UNSPECIFIED;
}

v1::TenantImpact to_proto(const tenant_impact& t) {
    v1::TenantImpact x;
    x.set_tenant(t.tenant);
    x.set_outcome(to_proto(t.result));
    x.set_reason(t.reason);
    x.set_account_upn(t.account_upn);
    x.set_account_object_id(t.account_object_id);
    for (const auto& n : t.notes) x.add_notes(n);
    if (t.collected_ms > 0) {
        x.mutable_collected_at()->set_seconds(t.collected_ms / 1000);
        x.mutable_collected_at()->set_nanos(static_cast<std::int32_t>((t.collected_ms % 1000) * 1'000'000));
    }
    for (const auto& s : t.sign_ins) {
        auto* y = x.add_sign_ins();
        y->set_target_app_id(s.target_app_id);
        y->set_evaluated_app_id(s.evaluated_app_id);
        y->set_client_app_type(s.client_app_type);
        y->set_outcome(to_proto(s.result));
        for (const auto& m : s.matched) y->add_matched(m);
        for (const auto& m : s.not_matched) y->add_not_matched(m);
        for (const auto& m : s.undecided) y->add_undecided(m);
        y->set_grant(s.detail);
    }
    if (t.exclude.type != exclusion::kind::none) {
        x.set_exclusion_kind(t.exclude.type == exclusion::kind::group ? "excludeGroups" : "excludeUsers");
        x.set_exclusion_id(t.exclude.id);
        x.set_exclusion_why(t.exclude.why);
    }
    for (const auto& m : t.missing) x.add_missing(m);
    return x;
}

std::string label(const draft& d) {
    if (!d.policy.display_name.empty()) return d.policy.display_name;
    if (!d.policy.id.empty()) return d.policy.id;
    return "draft";
}

}  // namespace connguard::coord::impact
