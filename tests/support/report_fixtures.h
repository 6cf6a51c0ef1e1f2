#pragma once
// Builders of what agents send, for the coordinator's tests and benchmark: validation reports
// with the checks' results and typed plans, change events, envelopes. Header-only.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <google/protobuf/util/time_util.h>

#include "common/clock.h"
#include "common/envelope_codec.h"
#include "common/ids.h"
#include "connguard/v1/envelope.pb.h"

namespace connguard::test {

inline constexpr const char* user_id = "5bde3e51-d13b-4db1-9948-fe4b109d11a7";
inline constexpr const char* upn = "svc-backup@contoso.onmicrosoft.com";

/// A CG-CAP FAIL for one policy with everything the plan builder needs.
inline void add_cap_fail(v1::ValidationReport& r, const std::string& policy_id, const std::string& modified,
                         const std::string& grant = "mfa", const std::string& include_users = R"(["group-x"])",
                         const std::string& exclude_users = R"(["11111111-1111-1111-1111-111111111111"])") {
    auto* c = r.add_checks();
    c->set_id("CG-CAP");
    c->set_subject(policy_id);
    c->set_status(v1::CHECK_STATUS_FAIL);
    c->set_reason("policy 'Require MFA " + policy_id + "' requires MFA for the connection account");
    auto ev = [&](const std::string& kind, const std::string& name, const std::string& detail) {
        auto* e = c->add_evidence();
        e->set_kind(kind);
        e->set_id(policy_id);
        e->set_name(name);
        e->set_detail(detail);
    };
    ev("policy", "Require MFA " + policy_id, "grantControls: " + grant);
    ev("policy.modifiedDateTime", "", modified);
    ev("policy.excludeUsers", "", exclude_users);
    ev("policy.includeUsers", "", include_users);
    ev("policy.grant", "", grant);
    auto* s = c->add_remediations();
    s->set_kind(v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
    s->set_target_id(policy_id);
    s->set_target_name("Require MFA " + policy_id);
    s->set_summary("exclude the account from 'Require MFA " + policy_id + "'");
    // The typed plan the agent's checks attach (agent/checks plan_for): what the coordinator reads.
    auto* plan = s->mutable_plan();
    plan->set_kind(v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
    auto* x = plan->mutable_exclude_from_ca_policy();
    x->set_policy_id(policy_id);
    x->set_policy_name("Require MFA " + policy_id);
    x->set_user_id(r.account_object_id());
    x->set_user_principal_name(r.account_upn());
    x->set_expected_modified_date_time(modified);
    bool present = false;
    for (const auto& u : nlohmann::json::parse(exclude_users)) {
        x->add_exclude_users_before(u.get<std::string>());
        x->add_exclude_users_after(u.get<std::string>());
        present = present || u.get<std::string>() == r.account_object_id();
    }
    if (!present) x->add_exclude_users_after(r.account_object_id());
    for (const auto& u : nlohmann::json::parse(include_users)) x->add_include_users(u.get<std::string>());
    x->add_grant_controls(grant);
}

inline v1::ValidationReport report(std::uint64_t cycle, std::int64_t collected_ms) {
    v1::ValidationReport r;
    r.set_azure_tenant_id("00000000-0000-0000-0000-0000000000aa");
    r.set_account_upn(upn);
    r.set_account_object_id(user_id);
    r.set_cycle(cycle);
    *r.mutable_collected_at() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(collected_ms);
    r.set_overall(v1::CHECK_STATUS_OK);
    auto* ok = r.add_checks();
    ok->set_id("CG-ACCOUNT");
    ok->set_status(v1::CHECK_STATUS_OK);
    return r;
}

/// The evaluation context an agent attaches (impact): the fixture account, a member of `groups`,
/// signing in to Exchange Online and Microsoft Graph as a desktop/mobile client.
inline void add_evaluation_context(v1::ValidationReport& r, const std::vector<std::string>& groups = {}) {
    auto& c = *r.mutable_evaluation_context();
    c.set_account_object_id(r.account_object_id());
    c.set_is_mfa_registered(true);
    c.set_named_locations_known(true);
    c.set_complete(true);
    for (const auto& g : groups) c.add_group_ids(g);
    for (const char* app : {"00000002-0000-0ff1-ce00-000000000000", "00000003-0000-0000-c000-000000000000"}) {
        auto* s = c.add_sign_ins();
        s->set_target_app_id(app);
        s->set_evaluated_app_id(app);
        s->set_client_app_type("mobileAppsAndDesktopClients");
        s->set_authentication_flow("none");
    }
}

/// One CA policy's exclusions as the agent lists them (exception registry facts); marks the facts
/// complete. `excluded` = (kind, object id); the fixture account's entry covers it directly.
inline void add_policy_exclusions(v1::ValidationReport& r, const std::string& policy_id, const std::string& name,
                                  const std::string& modified,
                                  const std::vector<std::pair<v1::ExclusionKind, std::string>>& excluded,
                                  v1::CaPolicyState state = v1::CA_POLICY_STATE_ENABLED) {
    auto& f = *r.mutable_evaluation_context()->mutable_exclusions();
    f.set_complete(true);
    auto* p = f.add_policies();
    p->set_policy_id(policy_id);
    p->set_policy_name(name);
    p->set_state(state);
    p->set_modified_date_time(modified);
    for (const auto& [kind, id] : excluded) {
        auto* o = p->add_excluded();
        o->set_kind(kind);
        o->set_object_id(id);
        const bool me = kind == v1::EXCLUSION_KIND_USER && id == r.account_object_id();
        if (me) o->set_display_name(r.account_upn());
        o->set_covers_account(me ? v1::ACCOUNT_COVERAGE_DIRECT : v1::ACCOUNT_COVERAGE_NONE);
    }
}

inline void finish_overall(v1::ValidationReport& r) {
    auto worst = v1::CHECK_STATUS_OK;
    for (const auto& c : r.checks())
        if (c.status() > worst) worst = c.status();
    r.set_overall(worst);
}

inline v1::Envelope wrap(const std::string& tenant, const v1::ValidationReport& r) {
    auto env = codec::make_envelope(tenant, "agent/" + tenant);
    *env.mutable_validation_report() = r;
    return env;
}

}  // namespace connguard::test
