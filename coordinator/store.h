#pragma once
// The coordinator's system of record — see coordinator/README.md "Schema". Two backends behind the
// same methods (coordinator/sql/connection.h): an embedded SQLite file (WAL; one coordinator) or a
// PostgreSQL database (several coordinators, all active).
//
// One `store` = one database connection, used by one thread. The ingest/committer thread owns the
// writer; the MQTT publisher and the webhook deliverer open their own connections. Writes take the
// one writer lock (begin()): SQLite's BEGIN IMMEDIATE, PostgreSQL's advisory writer lock, so every
// coordinator's read-decide-write runs alone.
//
// Durability: SQLite journal_mode=WAL; synchronous=NORMAL by default (a commit survives the process
// being killed, SIGKILL included; only an OS crash / power loss can lose the last commits) or FULL
// (fsync per commit, survives power loss). PostgreSQL: its own settings (synchronous_commit=on by
// default: a commit survives a crash of the server). Schema changes are numbered migrations
// recorded in schema_migrations (and SQLite's PRAGMA user_version); opening a database runs the
// missing ones, once, under the writer lock.
//
// Every method returns result/status; SQL errors carry the statement's purpose and SQLite's message.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "connguard/v1/admin.pb.h"
#include "connguard/v1/agent.pb.h"
#include "connguard/v1/alerts.pb.h"
#include "connguard/v1/commands.pb.h"
#include "connguard/v1/validation.pb.h"
#include "coordinator/exceptions.h"
#include "coordinator/task_machine.h"

struct sqlite3;

namespace connguard::coord {

namespace sql {
class connection;
enum class dialect;
}  // namespace sql

struct store_options {
    bool synchronous_full = false;  ///< fsync every commit (power-loss safe) instead of NORMAL
    int busy_timeout_ms = 10000;
    /// PRAGMA wal_autocheckpoint (pages); 0 = SQLite's default (1000). The coordinator's own
    /// connections raise it to a backstop and checkpoint from a background thread instead
    /// (coordinator/wal_checkpointer.h): an automatic checkpoint runs inside the COMMIT that
    /// crosses the threshold and stalls that thread for the copy and its fsyncs.
    int wal_autocheckpoint_pages = 0;
};

/// The latest report of a tenant.
struct posture_row {
    std::string tenant;
    std::string envelope_id;
    std::uint64_t cycle = 0;
    v1::ValidationReport report;
    std::int64_t received_ms = 0;
    std::int64_t collected_ms = 0;
};

/// The ids of a report's FAIL and ERROR checks, each once, in report order (what tenant lists show
/// as "failing checks").
std::vector<std::string> failing_check_ids(const v1::ValidationReport& report);

/// Last known liveness of a tenant's agent.
struct agent_row {
    std::string tenant;
    v1::AgentState state = v1::AGENT_STATE_UNSPECIFIED;
    std::string reason;
    std::int64_t last_seen_ms = 0;
    std::int64_t poll_interval_ms = 0;  ///< the agent's longest wait between cycles; 0 = not reported
};

/// One alert as stored (active or the last state of a resolved one).
struct alert_row {
    std::string fingerprint;
    std::string tenant;
    v1::Alert alert;
    bool active = false;
};

/// One dispatched command and, once its task accepted the agent's result, that result.
struct command_row {
    std::string command_id;
    std::string task_id;
    std::string tenant;
    std::uint32_t plan_version = 0;
    std::int64_t issued_ms = 0;
    std::int64_t not_after_ms = 0;
    std::optional<v1::CommandOutcome> outcome;  ///< empty until a result was accepted
    std::string result_detail;
    std::int64_t result_at_ms = 0;
};

/// A queued MQTT publication (coordinator -> broker), written in the same transaction as the
/// change it announces, published and deleted by the publisher thread.
struct mqtt_outbox_row {
    std::int64_t seq = 0;
    std::string topic;
    std::string payload;
    bool retained = false;
    std::string response_topic;
    std::string correlation_data;
    int attempts = 0;
};

/// A queued webhook delivery.
struct webhook_row {
    std::int64_t id = 0;
    std::string delivery_key;  ///< sent as Idempotency-Key; unique per (sink, alert transition)
    std::string sink;
    std::string url;
    std::string body;
    int attempts = 0;
    std::int64_t next_attempt_ms = 0;
};

/// What the metrics gauges show (common/metrics.h), counted in one call.
struct store_gauges {
    std::map<int, std::int64_t> tasks_by_state;  ///< v1::TaskState -> tasks
    std::int64_t mqtt_outbox = 0;                ///< rows waiting for the publisher
    std::int64_t webhook_outbox = 0;             ///< deliveries not done and not given up
    std::int64_t agents_online = 0;
};

class store {
public:
    /// Opens (creating if needed) and migrates the database: `location` is a SQLite file path or a
    /// PostgreSQL URL (postgresql://user@host:port/db, sql::is_postgres_url). SQLite-only options
    /// are ignored for PostgreSQL.
    static result<std::unique_ptr<store>> open(const std::string& location, store_options opts = {});
    ~store();
    store(const store&) = delete;
    store& operator=(const store&) = delete;

    /// The newest schema version this build knows.
    static int latest_schema_version();
    result<int> schema_version();

    sql::dialect backend() const;
    /// The file path or the URL without its password (logs).
    std::string describe() const;

    // ---- transactions (the writer lock; savepoints for one message inside a group commit) ----
    status begin();
    /// begin() unless another connection is writing right now: false then, and no transaction.
    result<bool> try_begin();
    status commit();
    void rollback();
    status savepoint();
    status release_savepoint();
    void rollback_to_savepoint();

    // ---- ingest ----
    /// Records an envelope id; false when it was seen before (a redelivery).
    result<bool> mark_seen(const std::string& envelope_id, const std::string& tenant, const std::string& topic,
                           std::int64_t now_ms);
    status insert_event(const std::string& envelope_id, const std::string& tenant, const std::string& body_type,
                        const std::string& kind, const std::string& subject, std::int64_t time_ms,
                        std::int64_t received_ms, const std::string& payload);
    result<std::int64_t> count_events(const std::string& tenant = {});
    result<std::optional<posture_row>> posture(const std::string& tenant);
    status put_posture(const posture_row& p);
    result<std::optional<agent_row>> agent(const std::string& tenant);
    result<std::vector<agent_row>> agents();
    status put_agent(const agent_row& a);
    status touch_agent(const std::string& tenant, std::int64_t seen_ms);

    // ---- tasks ----
    result<std::optional<task>> task_by_id(const std::string& id);
    result<std::vector<task>> tasks_of_tenant(const std::string& tenant);
    /// The tenant's PROPOSED and PENDING_APPROVAL tasks, oldest first: what a change event can settle
    /// (its cost does not grow with the tenant's closed tasks).
    result<std::vector<task>> waiting_tasks_of_tenant(const std::string& tenant);
    /// Filtered list (state UNSPECIFIED = all; empty tenant = all), newest first.
    result<std::vector<task>> list_tasks(v1::TaskState state, const std::string& tenant, int limit = 1000);
    result<std::vector<task>> tasks_in_states(const std::vector<v1::TaskState>& states);
    status put_task(const task& t);
    status insert_approval(const std::string& task_id, const v1::Approval& a);
    status insert_command(const std::string& command_id, const std::string& task_id, const std::string& tenant,
                          std::uint32_t plan_version, std::int64_t issued_ms, std::int64_t not_after_ms,
                          const std::string& payload);
    /// Records the outcome of the command `command_id` of task `task_id` (tenant `tenant`) while that
    /// task is still DISPATCHED. Call it only for a result the task machine accepted, in the same
    /// transaction as that transition: a command row that does not match all three ids (or whose
    /// task is no longer DISPATCHED) is left alone and reported as `store.command_mismatch`.
    status record_command_result(const std::string& tenant, const std::string& task_id, const std::string& command_id,
                                 v1::CommandOutcome outcome, const std::string& detail, std::int64_t at_ms);
    result<std::optional<command_row>> command(const std::string& command_id);

    // ---- exception registry (at most one per tenant, kind, policy, object) ----
    /// The exceptions of `tenant` (empty = all), by tenant then creation.
    result<std::vector<exceptions::record>> exceptions_of(const std::string& tenant);
    result<std::optional<exceptions::record>> exception_by_id(const std::string& id);
    /// The exception with the same tenant, kind, policy and object as `like`, if any.
    result<std::optional<exceptions::record>> exception_by_key(const exceptions::record& like);
    /// Inserts or replaces by id (a different id with the same key is a store.constraint error).
    status put_exception(const exceptions::record& r);
    /// False when there was no such exception.
    result<bool> delete_exception(const std::string& id);

    // ---- alert subscriptions added at runtime (config ones live in engine_settings) ----
    /// By name.
    result<std::vector<v1::WebhookSubscription>> webhook_subscriptions();
    result<std::optional<v1::WebhookSubscription>> webhook_subscription(const std::string& id);
    /// Inserts or replaces by id (a name another subscription has is a store.constraint error).
    status put_webhook_subscription(const v1::WebhookSubscription& w);
    /// False when there was no such subscription.
    result<bool> delete_webhook_subscription(const std::string& id);
    /// Deletes the undelivered webhook_outbox rows of `sink`; returns how many.
    result<std::int64_t> drop_pending_webhooks(const std::string& sink);
    /// The stored envelopes (raw payloads) of `tenant` with `body_type` ("change_event", ...),
    /// newest first, at most `limit`.
    result<std::vector<std::string>> recent_events(const std::string& tenant, const std::string& body_type, int limit);

    // ---- onboarding set (the exclusions a tenant had when ConnGuard started watching it) ----
    /// recorded = false until record_onboarding ran for the tenant.
    result<exceptions::onboarding> onboarding_of(const std::string& tenant);
    /// Records the tenant's onboarding set once: false (and nothing written) when it was recorded before.
    result<bool> record_onboarding(const std::string& tenant, const std::vector<std::string>& keys, std::int64_t now_ms,
                                   const std::string& envelope_id);

    // ---- audit (append-only, hash-chained) ----
    result<v1::AuditEntry> append_audit(std::int64_t at_ms, const std::string& actor, const std::string& action,
                                        const std::string& tenant, const std::string& task_id, const std::string& detail);
    /// Entries after `after_seq` (of `task_id` when not empty), oldest first; with `newest_first`
    /// the newest `limit` of them, newest first (audit --tail N). limit 0 = 1000.
    result<std::vector<v1::AuditEntry>> audit(std::uint64_t after_seq, std::uint32_t limit, const std::string& task_id,
                                              bool newest_first = false);
    result<v1::AuditVerification> verify_audit();
    /// The newest entry's sequence number and hash (what an audit checkpoint anchors); nullopt when
    /// the log is empty.
    result<std::optional<v1::AuditEntryHash>> audit_head();
    /// The hash of the entry at `seq`; nullopt when there is no such entry.
    result<std::optional<std::string>> audit_hash_at(std::uint64_t seq);
    /// hash = sha256(prev_hash + canonical fields); exposed for tests.
    static std::string audit_hash(const v1::AuditEntry& e);

    // ---- alerts ----
    result<std::vector<alert_row>> active_alerts(const std::string& tenant);
    result<std::optional<alert_row>> alert(const std::string& fingerprint);
    /// One row per cause in its latest state, newest change (raise or resolve) first: only active
    /// ones unless `include_resolved`; changed at or after `since_ms`; `tenant` / `min_severity`
    /// (UNSPECIFIED = all) filter; limit 0 = 1000.
    result<std::vector<alert_row>> list_alerts(bool include_resolved, std::int64_t since_ms, const std::string& tenant,
                                               v1::Severity min_severity, std::uint32_t limit);
    status put_alert(const alert_row& a, std::int64_t at_ms);  ///< also appends alert_history
    result<std::int64_t> count_alert_history(const std::string& fingerprint);

    // ---- outboxes ----
    status enqueue_mqtt(const mqtt_outbox_row& m, std::int64_t now_ms);
    /// The oldest `limit` rows with seq > after_seq, in order.
    result<std::vector<mqtt_outbox_row>> next_mqtt(int limit, std::int64_t after_seq = 0);
    status delete_mqtt(std::int64_t seq);
    status bump_mqtt_attempts(std::int64_t seq);
    status enqueue_webhook(const webhook_row& w, std::int64_t now_ms);
    result<std::vector<webhook_row>> due_webhooks(std::int64_t now_ms, int limit);
    status webhook_delivered(std::int64_t id, std::int64_t now_ms, long http_status);
    status webhook_attempt_failed(std::int64_t id, std::int64_t next_ms, const std::string& error, bool give_up);
    result<std::int64_t> pending_webhooks();
    /// Counts for the metrics gauges; agents online as engine::tick judges silence (silence_ms 0: off).
    result<store_gauges> gauges(std::int64_t now_ms, std::int64_t silence_ms);

    // ---- admin views ----
    result<std::vector<v1::TenantSummary>> tenant_summaries();

    /// Runs raw SQL (tests and tools only).
    status exec(const std::string& sql);
    /// The first column of every row of `sql`, as text (tests and tools only).
    result<std::vector<std::string>> query_strings(const std::string& sql);
    /// The SQLite handle (WAL checkpoints, tests); nullptr on PostgreSQL.
    sqlite3* handle();

private:
    explicit store(std::unique_ptr<sql::connection> conn);
    status migrate();
    /// Migration 6: fills posture.failing_checks of the rows stored before it.
    status backfill_failing_checks();
    std::unique_ptr<sql::connection> conn_;
};

}  // namespace connguard::coord
