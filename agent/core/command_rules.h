#pragma once
// The rules an approved AgentCommand must pass before the agent writes anything (DESIGN §8).
// Pure: the executor reads Graph, fills the observed_* structs and asks these functions.
//
//   validate_command()      static checks before any Graph call -> REFUSED
//                           (wrong tenant, expired, not approved, malformed or guidance-only plan)
//   check_*_preconditions() the tenant is still what the plan saw -> else STALE (nothing written)
//   verify_*()              the read-back after the write shows the planned state -> else FAILED
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "connguard/v1/commands.pb.h"

namespace connguard::agent {

enum class command_verdict { proceed, stale, refused, failed };

struct command_decision {
    command_verdict verdict = command_verdict::proceed;
    std::string detail;  ///< why (which precondition, which field); names policies and users
    bool ok() const { return verdict == command_verdict::proceed; }
};

/// Static validity. `envelope_tenant` is the tenant named by the envelope and topic.
command_decision validate_command(const v1::AgentCommand& cmd, std::string_view tenant_key,
                                  std::string_view envelope_tenant, clock::time_point now);

/// The user as Graph answers GET /users/{id} right before the write.
struct observed_user {
    bool found = false;
    std::string id;
    std::string user_principal_name;
};

/// The policy as Graph answers GET /identity/conditionalAccess/policies/{id}.
struct observed_policy {
    bool found = false;
    nlohmann::json policy;  ///< Graph JSON as returned
};

/// The assignment as Graph answers GET /roleManagement/directory/roleAssignments/{id}.
struct observed_role_assignment {
    bool found = false;
    std::string id;
    std::string role_definition_id;
    std::string principal_id;
};

command_decision check_exclude_preconditions(const v1::ExcludeFromCaPolicyPlan& plan, const observed_policy& policy,
                                             const observed_user& user);
command_decision check_per_user_mfa_preconditions(const v1::DisablePerUserMfaPlan& plan, const observed_user& user,
                                                  const std::string& observed_state);
command_decision check_remove_role_preconditions(const v1::RemovePrivilegedRolePlan& plan,
                                                 const observed_role_assignment& assignment, const observed_user& user);

/// Removing an expired exception's exclusion: the policy still exists, is unmodified since planning,
/// and its exclusion list is still exclude_before.
command_decision check_remove_exclusion_preconditions(const v1::RemoveCaPolicyExclusionPlan& plan,
                                                      const observed_policy& policy);
/// The read-back shows the list as exclude_after.
command_decision verify_exclusion_removed(const v1::RemoveCaPolicyExclusionPlan& plan, const observed_policy& after);
/// One of a policy's conditions.users lists ("excludeUsers", "excludeGroups", "excludeRoles"); empty when absent.
std::vector<std::string> exclusion_list_of(const nlohmann::json& policy, const std::string& list);
/// The body the agent PATCHes for an exclusion: {"conditions":{"users":{"excludeUsers":[...after]}}}.
nlohmann::json exclude_patch_body(const v1::ExcludeFromCaPolicyPlan& plan);

command_decision verify_exclude(const v1::ExcludeFromCaPolicyPlan& plan, const observed_policy& after);
command_decision verify_per_user_mfa(const std::string& observed_state);
command_decision verify_role_removed(const observed_role_assignment& after);

/// Graph ids that are safe in a URL path segment ([A-Za-z0-9._-], 1..200 chars).
bool safe_graph_id(std::string_view id);

/// The excludeUsers array of a policy (empty when absent).
std::vector<std::string> exclude_users_of(const nlohmann::json& policy);

}  // namespace connguard::agent
