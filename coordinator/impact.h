#pragma once
// Pre-change impact (issue 15): a draft Conditional Access policy, evaluated AS IF ENABLED against
// each tenant's connection account, from the EvaluationContext of the tenant's latest report
// (what the agent collected; no Graph call). Pure: no I/O, no clock (the caller passes now and the
// report's age limit).
//
// Per tenant: would the account be blocked / asked for MFA / asked for another control, or is it
// unaffected; why (per sign-in, the draft's conditions that matched, or those that did not); and
// the exclusion to add to the draft (a group of the account that the tenant's policies already
// exclude, else the account's object id). A tenant whose report is older than its age limit, whose
// context is incomplete, or that has no report is listed as such and never evaluated.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/whatif/compiled.h"
#include "common/result.h"
#include "connguard/v1/admin.pb.h"
#include "connguard/v1/validation.pb.h"

namespace connguard::coord::impact {

enum class outcome {
    unaffected,        ///< the draft does not apply to any of the account's sign-ins, or demands nothing
    blocked,           ///< the draft blocks a sign-in
    mfa_required,      ///< the draft asks a sign-in for MFA (a non-interactive account cannot do it)
    control_required,  ///< the draft asks for another control (compliant device, ...)
    uncertain,         ///< the draft may apply: a condition depends on context the agent does not know
    stale,             ///< the tenant's latest report is older than its age limit: not evaluated
    incomplete,        ///< the report's context lacks facts (or there is none): not evaluated
    no_report,         ///< the coordinator holds no report for the tenant: not evaluated
};
/// "unaffected" | "blocked" | "mfa_required" | "control_required" | "uncertain" | "stale" | "incomplete" | "no_report"
const char* to_string(outcome o);
/// blocked, mfa_required, control_required: enabling the draft breaks the tenant's account.
bool breaks(outcome o);

/// The draft, parsed and compiled once with its state forced to enabled.
struct draft {
    whatif::policy policy;                 ///< as parsed, state forced to enabled
    std::string declared_state;            ///< the state the document gave ("disabled", ...)
    whatif::compiled_policy_set set;
};
/// Parses a draft: a Graph conditionalAccessPolicy object, a CIPP template ({"PolicyConfig":...}),
/// or a list/{"value":[...]} holding exactly one policy. Errors (code "impact.policy") say what is wrong.
result<draft> compile_draft(const nlohmann::json& doc);

/// One tenant to evaluate: its latest report (or none) and how old it may be.
struct tenant_input {
    std::string tenant;
    const v1::ValidationReport* report = nullptr;  ///< nullptr: no report held
    std::int64_t collected_ms = 0;                 ///< when its snapshot was collected (0 = unknown: received time)
    std::int64_t max_age_ms = 0;                   ///< older than this at `now_ms` is stale; 0 = never stale
    bool max_age_is_poll_interval = true;          ///< false: the configured fallback (the agent never said)
};

/// The draft against one of the account's sign-ins.
struct sign_in_result {
    std::string target_app_id, evaluated_app_id, client_app_type;
    outcome result = outcome::unaffected;     ///< unaffected | blocked | mfa_required | control_required | uncertain
    std::vector<std::string> matched;         ///< the draft's configured conditions that matched (Graph names)
    std::vector<std::string> not_matched;     ///< the conditions that did not (analysisReasons names)
    std::vector<std::string> undecided;       ///< uncertain: what the agent does not know, e.g. a named location
    std::string detail;                       ///< the grant in words ("mfa", "block", token protection)
};

struct exclusion {
    enum class kind { none, group, user };
    kind type = kind::none;
    std::string id;     ///< the group or user object id in that tenant
    std::string why;    ///< one line for people
};

struct tenant_impact {
    std::string tenant;
    outcome result = outcome::unaffected;
    std::string account_upn, account_object_id;
    std::int64_t collected_ms = 0;
    std::vector<sign_in_result> sign_ins;   ///< empty when not evaluated
    exclusion exclude;                      ///< what to add to the draft so the account keeps working
    std::string reason;                     ///< one line for people (why stale / incomplete / the verdict)
    std::vector<std::string> missing;       ///< incomplete: the facts that are missing
    std::vector<std::string> notes;         ///< what else decides in that tenant (Security Defaults on)
};

/// Evaluates the draft for one tenant.
tenant_impact evaluate_tenant(const draft& d, const tenant_input& in, std::int64_t now_ms);

/// The directory and sign-ins a context stands for (what evaluate_tenant evaluates).
whatif::directory to_directory(const v1::EvaluationContext& c);

/// JSON of one tenant's impact ({"tenant","result","reason","account":{...},"signIns":[...],"exclusion":{...}}).
nlohmann::json to_json(const tenant_impact& t);

/// The wire form (AdminResponse.impacts).
v1::ImpactOutcome to_proto(outcome o);
v1::TenantImpact to_proto(const tenant_impact& t);

/// The draft's label: displayName, else id, else "draft".
std::string label(const draft& d);

}  // namespace connguard::coord::impact
