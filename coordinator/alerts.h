#pragma once
// Alerts (DESIGN §9) — pure. An alert is a standing cause of one tenant: it is RAISED when the
// cause appears, stays quiet while it stands (same fingerprint = sha256(tenant + "|" + cause)),
// and is RESOLVED when the cause is gone. The coordinator recomputes the standing causes of a
// tenant after every change and reconciles them with the alerts table (which survives restarts).
//
// Causes:
//   status:WARN|FAIL|ERROR                overall status of the latest report is not OK
//   policy:<id>:blocks                    a CG-CAP FAIL: an enforced policy blocks / needs MFA
//   policy:<id>:report-only               a CG-CAP-REPORTONLY finding (alert only, never a task)
//   plan:<KIND>:<target>:incomplete       a FAIL whose remediation could not be planned
//   task:<id>:pending                     a task waits for approval
//   task:<id>:succeeded                   a remediation succeeded (until verified or re-opened)
//   task:<id>:failed | task:<id>:stale    a remediation failed (until the problem goes away or a
//                                         newer task for the same target exists)
//   agent:offline                         the agent's Last Will / clean stop said offline
//   agent:silent                          no message from the agent for two of its poll intervals
//                                         (or the configured silence threshold)
//   agent:never_reported                  an expected tenant (config) never heard from
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "connguard/v1/alerts.pb.h"
#include "connguard/v1/validation.pb.h"
#include "coordinator/rules.h"
#include "coordinator/task_machine.h"

namespace connguard::coord {

struct alert_cause {
    std::string cause;
    v1::Severity severity = v1::SEVERITY_WARNING;
    std::string title;
    std::string detail;
    std::string task_id;
    std::vector<std::string> evidence_ids;
};

/// Everything the coordinator knows about one tenant that can cause an alert.
struct tenant_facts {
    std::string tenant;
    const v1::ValidationReport* report = nullptr;  ///< latest report, if any
    const plan_build* plans = nullptr;             ///< plans of that report (problems)
    std::vector<task> tasks;                       ///< the tenant's tasks (newest per key suffices)
    v1::AgentState agent_state = v1::AGENT_STATE_UNSPECIFIED;
    std::string agent_reason;                      ///< AgentStatus.reason of the last status
    std::int64_t last_seen_ms = 0;                 ///< last message of any kind from the agent
    std::int64_t now_ms = 0;
    std::int64_t silence_threshold_ms = 0;         ///< silent after this without a message; 0 = no silence alerts
    /// The coordinator's config lists the tenant (`tenants`): silence counts from expected_since_ms
    /// (the coordinator's start) when its agent has never been heard from.
    bool expected = false;
    std::int64_t expected_since_ms = 0;
};

std::vector<alert_cause> standing_causes(const tenant_facts& facts);

/// Stable fingerprint of (tenant, cause): hex SHA-256 of tenant + "|" + cause.
std::string fingerprint(const std::string& tenant, const std::string& cause);

std::string severity_name(v1::Severity s);   ///< "info", "warning", "critical"
/// "info" | "warning" | "critical" -> severity; SEVERITY_UNSPECIFIED otherwise.
v1::Severity parse_severity(std::string_view text);

/// Webhook body formats.
enum class webhook_format { generic, teams, slack };
bool parse_webhook_format(std::string_view text, webhook_format& out);
/// The JSON body POSTed to a sink: generic (the alert as JSON), teams (MessageCard), slack ({"text"}).
std::string webhook_body(webhook_format format, const std::string& tenant, const v1::Alert& alert);

/// What of a webhook URL may be shown to anyone and written to logs and the audit log:
/// "scheme://host[:port]" (the path and query of a Teams / Slack URL are its secret; user info is
/// dropped too). "(not a URL)" when it has no scheme.
std::string url_origin(std::string_view url);
/// Why `url` cannot be an alert subscription's target (empty = it can): https to any host, http
/// only to a loopback host (localhost, 127.x.x.x, [::1]).
std::string webhook_url_problem(std::string_view url);

}  // namespace connguard::coord
