#pragma once
// The topic scheme of DESIGN §4, in one place. Nothing else in the tree spells a topic.
#include <optional>
#include <string>
#include <string_view>

namespace connguard::topics {

inline constexpr std::string_view root = "connguard/v1";

/// Tenant keys (also the agents' MQTT usernames): [a-z0-9][a-z0-9-]{0,62}.
bool valid_tenant_key(std::string_view key);
/// Admin and subscriber names share the same rule, so they can stand as one topic level.
bool valid_principal_name(std::string_view name);

enum class tenant_channel { validation, events, agent, commands, results, acks };

std::string tenant_topic(std::string_view tenant, tenant_channel channel);
inline std::string validation(std::string_view t) { return tenant_topic(t, tenant_channel::validation); }
inline std::string events(std::string_view t) { return tenant_topic(t, tenant_channel::events); }
inline std::string agent_status(std::string_view t) { return tenant_topic(t, tenant_channel::agent); }
inline std::string commands(std::string_view t) { return tenant_topic(t, tenant_channel::commands); }
inline std::string results(std::string_view t) { return tenant_topic(t, tenant_channel::results); }
/// connguard/v1/tenants/{t}/acks: the coordinator's IngestAck (end-to-end commit acknowledgement);
/// only the coordinator writes it, only tenant {t}'s agent reads it.
inline std::string acks(std::string_view t) { return tenant_topic(t, tenant_channel::acks); }

/// connguard/v1/alerts/{severity}/{tenant}; severity is "info", "warning" or "critical".
std::string alert(std::string_view severity, std::string_view tenant);
/// connguard/v1/tasks/{tenant}/{task_id}
std::string task(std::string_view tenant, std::string_view task_id);
/// connguard/v1/admin/{admin}/requests and .../responses
std::string admin_requests(std::string_view admin);
std::string admin_responses(std::string_view admin);
/// connguard/v1/audit/checkpoint: the coordinator's latest signed audit checkpoint (retained);
/// admins read it, only the coordinator publishes it.
std::string audit_checkpoint();

/// Subscription filters.
std::string all_tenants_filter(tenant_channel channel);  // connguard/v1/tenants/+/<channel>
std::string all_alerts_filter();                         // connguard/v1/alerts/#
std::string all_admin_requests_filter();                 // connguard/v1/admin/+/requests
/// Prefixes a filter with $share/{group}/ when group is not empty (coordinators as a consumer group).
std::string shared(std::string_view group, std::string_view filter);

/// What a concrete topic names. Parsing never throws; unknown topics give kind::unknown.
struct parsed {
    enum class kind { unknown, tenant, alert, task, admin_request, admin_response, audit_checkpoint } what = kind::unknown;
    std::string tenant;                 ///< tenant, alert, task topics
    tenant_channel channel{};           ///< tenant topics
    std::string severity;               ///< alert topics
    std::string task_id;                ///< task topics
    std::string admin;                  ///< admin topics
};
parsed parse(std::string_view topic);

}  // namespace connguard::topics
