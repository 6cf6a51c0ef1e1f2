#pragma once
// The coordinator's decisions on top of the store: what an ingested envelope, an admin request or
// the passing of time changes. Runs on ONE thread (the committer) inside a transaction the caller
// opened; every change it makes (task transition, audit entry, alert, queued MQTT publication,
// queued webhook delivery) lands in that transaction, so a crash either keeps all of it or none.
//
// It never talks to the network: publications go to the mqtt_outbox table (the publisher thread
// sends them), webhook deliveries to webhook_outbox (the webhook thread sends them).
#include <atomic>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "connguard/v1/admin.pb.h"
#include "connguard/v1/envelope.pb.h"
#include "coordinator/alerts.h"
#include "coordinator/exceptions.h"
#include "coordinator/principal.h"
#include "coordinator/rules.h"
#include "coordinator/store.h"

namespace connguard::coord {

struct webhook_sink {
    std::string name;
    std::string url;
    webhook_format format = webhook_format::generic;
    v1::Severity min_severity = v1::SEVERITY_WARNING;
};

struct engine_settings {
    std::int64_t task_ttl_ms = 24LL * 3600 * 1000;        ///< PENDING_APPROVAL expires after this
    std::int64_t dispatch_timeout_ms = 10LL * 60 * 1000;  ///< DISPATCHED without a result -> FAILED
    std::int64_t command_validity_ms = 60LL * 60 * 1000;  ///< AgentCommand.not_after = dispatch + this
    /// An agent is silent after two of its own poll intervals (AgentStatus.poll_interval_seconds)
    /// without a message; this threshold applies to an agent that never said its interval and to
    /// an expected tenant never heard from. 0 = no silence alerts at all.
    std::int64_t silence_ms = 30LL * 60 * 1000;
    std::map<std::string, role> admins;                   ///< admin name -> role
    /// Tenants whose agents the coordinator expects (config `tenants`): listed even before they
    /// report, and one that never reports raises "agent never reported" after silence_ms.
    std::set<std::string> expected_tenants;
    std::vector<webhook_sink> webhooks;
    /// Exception registry: EXCEPTION_EXPIRING (and a review task) this long before an exception
    /// expires; an approved remediation that succeeds registers an exception lasting exception_validity_ms.
    std::int64_t exception_warning_ms = 14LL * 24 * 3600 * 1000;
    std::int64_t exception_validity_ms = 180LL * 24 * 3600 * 1000;
    /// Defense in depth for the console (config `console.approvalReauthSeconds`): an approval
    /// through the console by a person who signed in longer ago than this is refused with
    /// "reauth_required" (they sign in again). 0 = no limit.
    std::int64_t console_reauth_ms = 15LL * 60 * 1000;
};

/// What happened to one ingested envelope.
enum class ingest_outcome { stored, duplicate, ignored };

class engine {
public:
    engine(store& db, const clock& clk, engine_settings settings);

    /// Applies one validated envelope received on `topic` (already checked by codec::decode).
    /// Admin requests answer through the MQTT outbox on the admin's response topic.
    /// An error means the transaction must be rolled back and the message retried.
    result<ingest_outcome> handle(const std::string& topic, const v1::Envelope& env, const std::string& raw_payload,
                                  const std::string& correlation_data);

    /// Time-driven transitions: expired tasks, dispatch deadlines, silent agents.
    status tick();

    /// Decides one admin request of `who` (the one approval path: the MQTT admin path and the
    /// console both come here): reads, task decisions, registry and subscription changes, each
    /// audited in who.name with how it came ("via cli" / "via console by UPN (oid ..) from IP").
    /// A refusal is a response with ok=false (audited); an error means the transaction must be
    /// rolled back.
    result<v1::AdminResponse> answer(const principal& who, const v1::AdminRequest& req, std::int64_t now);

    /// What the transaction so far changed, for the console's live feed (seq left 0: the service
    /// numbers them after COMMIT). change_mark() / drop_changes(mark) bracket a savepoint;
    /// take_changes() empties the list (after COMMIT, or to discard on rollback).
    std::size_t change_mark() const { return changes_.size(); }
    void drop_changes(std::size_t mark) {
        if (mark < changes_.size()) changes_.resize(mark);
    }
    std::vector<v1::ConsoleChange> take_changes() { return std::exchange(changes_, {}); }

    /// Counts of decisions since start (logs, tests, benchmarks).
    struct counters {
        std::uint64_t stored = 0, duplicates = 0, stale_reports = 0, tasks_created = 0, transitions = 0,
                      refusals = 0, alerts_raised = 0, alerts_resolved = 0, forged = 0,
                      results_refused = 0;  ///< command results refused for any reason (forged included)
    };
    const counters& stats() const { return stats_; }

private:
    result<ingest_outcome> on_report(const v1::Envelope& env, std::int64_t now);
    result<ingest_outcome> on_change(const v1::Envelope& env, const std::string& raw, std::int64_t now);
    result<ingest_outcome> on_agent(const v1::Envelope& env, const std::string& raw, std::int64_t now);
    result<ingest_outcome> on_result(const v1::Envelope& env, const std::string& raw, std::int64_t now);
    /// Audits a refused command result (and counts and logs it); writes nothing else.
    status refuse_result(const std::string& tenant, const v1::CommandResult& r, const std::string& why, std::int64_t now);
    status on_admin(const std::string& admin, const v1::Envelope& env, const std::string& correlation, std::int64_t now);

    status apply_actions(const std::string& tenant, const std::vector<task_action>& actions, std::int64_t now);
    status create_task(const std::string& tenant, const planned_remediation& p, const std::string& why, std::int64_t now);
    /// Stores a successful transition: task row, audit entry, retained TaskView; dispatches when APPROVED.
    status commit_transition(const transition& tr, const std::string& actor, std::int64_t now);
    status dispatch(task t, std::int64_t now);
    status audit(std::int64_t now, const std::string& actor, const std::string& action, const std::string& tenant,
                 const std::string& task_id, const std::string& detail);
    status publish(const std::string& topic, const v1::Envelope& env, bool retained, const std::string& correlation = {});
    status reconcile_alerts(const std::string& tenant, std::int64_t now);
    /// The exception registry's decisions for a tenant against its stored report.
    result<exceptions::decisions> registry_decisions(const std::string& tenant, const v1::ValidationReport* report,
                                                     std::int64_t now);
    /// Re-plans a tenant's tasks from its stored report plus the registry (expiry ticks, registry
    /// changes), then its alerts.
    status reconcile_tenant(const std::string& tenant, std::int64_t now);
    /// A task that just SUCCEEDED with an exclusion / MFA-off change registers its exception.
    status register_from_task(const task& t, std::int64_t now);

    /// Two poll intervals of the agent when it said its interval, else silence_ms; 0 = off.
    std::int64_t silence_threshold(std::int64_t agent_poll_interval_ms) const;
    status respond(const std::string& admin, v1::AdminResponse& resp, const std::string& correlation);
    void record_change(v1::ConsoleChange::Kind kind, const std::string& tenant, const std::string& task_id = {},
                       const std::string& alert_cause = {}, std::uint64_t audit_seq = 0);
    /// Alert subscriptions: config sinks then runtime ones (the database), as the wire shows them.
    result<std::vector<v1::WebhookSubscription>> subscriptions();
    result<v1::AdminResponse> answer_webhooks(const principal& who, const v1::AdminRequest& req, std::int64_t now,
                                              v1::AdminResponse& resp);
    result<v1::AdminResponse> answer_show_tenant(const v1::AdminRequest& req, v1::AdminResponse& resp);

    store& db_;
    const clock& clk_;
    engine_settings s_;
    counters stats_;
    std::int64_t started_ms_ = 0;  ///< silence of an expected tenant that never reported counts from here
    /// Last phase the tick saw per exception id: a tenant is re-planned only when one changes (a
    /// restart re-plans every tenant with exceptions once).
    std::map<std::string, exceptions::phase> exception_phase_;
    /// The person whose request answer() is deciding (null outside answer()).
    const principal* acting_ = nullptr;
    std::vector<v1::ConsoleChange> changes_;
};

}  // namespace connguard::coord
