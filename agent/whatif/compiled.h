#pragma once
// The compiled evaluation form of the what-if engine: the evaluator of record.
//
// compile() turns a policy list into a compiled_policy_set ONCE: every id-like string a condition
// compares (user, group, role, app, service principal, platform, client app type, risk level, flow,
// user action, authentication context) is interned, ignoring ASCII case, into a uint32 id held in
// a sorted vector; the Office365 and MicrosoftAdminPortals app groups are expanded once;
// "All"/"None"/"GuestsOrExternalUsers"-style selectors become flags; the grant controls become
// kinds, and their text (policy_result.detail) and each policy's label are built once.
// prepare() turns one sign-in (against a directory) into a prepared_sign_in ONCE: the same
// interned ids (a string the policies never mention gets no id and matches nothing), the parsed IP,
// the trusted-location answers, the Security Defaults / per-user MFA contributions.
// evaluate_into() then evaluates every policy into caller-provided storage: no allocation per
// policy evaluation (once the storage has grown) except for device filter rules, which are
// interpreted against deviceInfo when the sign-in carries one. materialize() / materialize_into()
// build the string form (`evaluation`, identical to what evaluate() returns). evaluate() and
// evaluate_policy() in evaluate.h are compile + prepare + evaluate_into + materialize.
// tests/whatif/compiled_differential_test.cpp holds it to the evaluator it replaced.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/whatif/directory.h"
#include "agent/whatif/evaluate.h"
#include "agent/whatif/policy.h"
#include "agent/whatif/sign_in.h"

namespace connguard::whatif {

/// ASCII-case-insensitive string -> dense uint32 id: an open-addressing table over keys kept in a
/// few large blocks (a handful of allocations per set, not two per string). Lookup never allocates.
/// Move-only (the table points into its own blocks).
class interner {
public:
    static constexpr std::uint32_t none = 0xFFFFFFFFu;  ///< "never interned": matches nothing
    interner() = default;
    interner(const interner&) = delete;
    interner& operator=(const interner&) = delete;
    interner(interner&&) noexcept = default;
    interner& operator=(interner&&) noexcept = default;

    std::uint32_t intern(std::string_view s);
    std::uint32_t find(std::string_view s) const;
    std::size_t size() const { return keys_.size(); }
    void reserve(std::size_t n);

private:
    std::size_t slot_of(std::string_view s, std::uint64_t h) const;
    void grow(std::size_t slots);
    std::vector<std::string_view> keys_;            ///< by id
    std::vector<std::uint64_t> hashes_;             ///< by id
    std::vector<std::uint32_t> slots_;              ///< id + 1, 0 = empty; size a power of two
    std::vector<std::unique_ptr<char[]>> blocks_;   ///< key storage
    std::size_t block_left_ = 0, block_cap_ = 0;
};

using id_list = std::vector<std::uint32_t>;  ///< sorted, unique

/// One location entry of a policy, resolved as far as the policy alone allows.
struct compiled_location {
    enum class kind : std::uint8_t { all, all_trusted, legacy_trusted_ips, named };
    kind type = kind::named;
    std::string id_lower;  ///< named: the id in lower case (matched against named_location::id)
};

struct compiled_guests {
    id_list user_types;
    bool all_tenants = true;
    id_list tenant_ids;
};

/// One grant control: its kind, and for terms of use / custom factors the name to find.
struct compiled_control {
    enum class kind : std::uint8_t {
        mfa, compliant_device, domain_joined_device, approved_application, compliant_application,
        password_change, other, authentication_strength, terms_of_use, custom_factor
    };
    kind type = kind::other;
    std::string name;  ///< terms_of_use / custom_factor: the agreement id / factor name
};

struct compiled_policy {
    // what the result names
    std::string id, label, display_name;
    policy_state state = policy_state::disabled;
    std::string detail;  ///< the grant controls in words (policy_result.detail before token protection)

    // identity
    bool targets_agents = false;
    bool has_users = false;
    bool workload_policy = false;
    bool inc_all_users = false, inc_guests_or_external = false;
    bool exc_all_users = false, exc_guests_or_external = false;
    id_list inc_users, exc_users, inc_groups, exc_groups, inc_roles, exc_roles;
    std::optional<compiled_guests> inc_guests, exc_guests;
    bool inc_all_service_principals = false;
    id_list inc_service_principals, exc_service_principals;
    bool has_service_principal_filter = false;

    // target resource
    std::uint32_t no_application_reason = 0;  ///< set when includeApplications is empty and no filter
    bool inc_all_apps = false, exc_all_apps = false;
    id_list inc_apps, exc_apps;  ///< app groups expanded
    enum class app_filter : std::uint8_t { none, include, exclude } application_filter = app_filter::none;
    id_list user_actions, authentication_contexts;

    // other conditions
    bool any_client_app = true;  ///< clientAppTypes empty or containing "all"
    bool client_apps_eas = false;  ///< lists easSupported or easUnsupported
    id_list client_app_types;
    bool platforms_configured = false, platforms_include_all = false;
    id_list inc_platforms, exc_platforms;
    bool has_locations = false;
    std::vector<compiled_location> inc_locations, exc_locations;
    bool has_device_filter = false;
    std::string device_filter_rule;
    bool device_filter_exclude = false;
    bool has_device_states = false, device_states_include_yes = false;
    bool device_states_exclude = false, device_states_exclude_compliant = false;
    bool device_states_exclude_domain_joined = false;
    id_list sign_in_risk, user_risk, service_principal_risk, insider_risk, authentication_flows;
    bool has_times = false;

    // grant and session
    bool has_grant = false, grant_block = false, grant_and = false;
    std::vector<compiled_control> controls;
    bool secure_sign_in_session = false;
};

struct compiled_policy_set {
    interner ids;
    std::vector<compiled_policy> policies;
};

/// Compiles a tenant's policies once (labels use each policy's position in `policies`).
compiled_policy_set compile(const std::vector<policy>& policies);
/// Compiles one policy as a set of one (its label falls back to "policy #0").
compiled_policy_set compile(const policy& p);

/// What Security Defaults or per-user MFA contributes to a user sign-in (graph.md §5, §6).
struct setting_demand {
    enum class why : std::uint8_t {
        sd_legacy, sd_privileged_role, sd_azure_management, sd_registration,
        per_user_enforced, per_user_enabled_registered, per_user_enabled_unregistered
    };
    demand required = demand::none;
    why reason = why::sd_legacy;
    const char* cause = cause_security_defaults;
    std::string role;  ///< sd_privileged_role: the role template id
};

/// One sign-in, resolved against a compiled set (and the directory) once.
struct prepared_sign_in {
    const sign_in* s = nullptr;
    const directory* dir = nullptr;
    bool user = true;  ///< identity_kind user
    std::uint32_t user_id = interner::none;
    bool guest_none = true;            ///< guest kind "none" (an internal member)
    bool guest_internal = false;       ///< guest kind internalGuest
    std::uint32_t guest_kind = interner::none;
    bool external_tenant_known = false;
    std::uint32_t external_tenant = interner::none;
    id_list groups, roles;
    bool is_mfa_registered = true;
    std::uint32_t service_principal = interner::none;
    id_list apps_in_order;             ///< sign_in.applications, same order (not sorted)
    std::vector<std::uint8_t> app_token_protected;  ///< per application: a token-protection resource
    std::uint32_t user_action = interner::none, authentication_context = interner::none;
    bool has_client_app_type = false, client_is_eas = false, legacy = false;
    std::uint32_t client_app_type = interner::none;
    bool has_platform = false;
    std::uint32_t platform = interner::none;
    std::optional<cidr> ip;
    std::uint8_t all_trusted = 0, legacy_trusted = 0;  ///< tri values (internal encoding)
    std::uint32_t sign_in_risk = interner::none, user_risk = interner::none,
                  service_principal_risk = interner::none, insider_risk = interner::none,
                  authentication_flow = interner::none;
    std::vector<setting_demand> settings;
    std::string scratch;  ///< reused lower-casing buffer
};

/// Resolves `s` against `set` and `dir` into `out` (its storage is reused). `s` and `dir` must outlive `out`.
void prepare(const compiled_policy_set& set, const directory& dir, const sign_in& s, prepared_sign_in& out);

/// One policy's result without strings.
struct policy_outcome {
    std::uint32_t analysis_reasons = 0;
    bool applies = false;
    bool uncertain = false;
    bool conditions_match = false;
    demand required = demand::none;
    std::int32_t token_protected_app = -1;  ///< index into sign_in.applications when token protection blocks
};

/// A tenant verdict without strings. A cause reference r < policies.size() is a policy index;
/// r >= policies.size() is prepared_sign_in::settings[r - policies.size()].
struct compiled_evaluation {
    std::vector<policy_outcome> policies;
    verdict_result result = verdict_result::allowed;
    verdict_result report_only_result = verdict_result::allowed;
    std::vector<std::uint32_t> causes, report_only_causes, uncertain, report_only_policies;
    // scratch of the tallies
    std::vector<std::uint32_t> enforced[3], with_report_only[3];
};

/// One compiled policy against one prepared sign-in. Never allocates.
policy_outcome evaluate_compiled(const compiled_policy& p, const prepared_sign_in& u);

/// Every policy of `set` and the verdict, into `out` (storage reused: no allocation once grown).
void evaluate_into(const compiled_policy_set& set, const prepared_sign_in& u, compiled_evaluation& out);

/// The string form of one outcome (what evaluate_policy returns).
policy_result materialize(const compiled_policy& p, const policy_outcome& o, const prepared_sign_in& u);
/// The string form of a whole evaluation (what evaluate returns).
evaluation materialize(const compiled_policy_set& set, const prepared_sign_in& u, const compiled_evaluation& e);
/// The same into `out`, reusing its strings and vectors (no allocation once they have grown, except
/// explanations of Security Defaults / per-user MFA).
void materialize_into(const compiled_policy_set& set, const prepared_sign_in& u, const compiled_evaluation& e,
                      evaluation& out);

namespace detail {
/// app_name() without allocating: the display name of a well-known app id (any case), else nullptr.
const char* known_app_name(std::string_view app_id);
}  // namespace detail

}  // namespace connguard::whatif
