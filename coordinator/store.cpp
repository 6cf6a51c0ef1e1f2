#include "coordinator/store.h"

#include <algorithm>
#include <chrono>

#include <google/protobuf/util/time_util.h>

#include "common/ids.h"
#include "coordinator/sql/connection.h"

namespace connguard::coord {

namespace {

using google::protobuf::util::TimeUtil;

/// The schema, as numbered migrations, once per backend (the same tables, columns, keys and
/// indexes; only the types and DDL spelling differ). Never edit a released step; add a new one to
/// both lists.
const char* const sqlite_migrations[] = {
    // 1: the initial schema
    R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL);
CREATE TABLE envelopes_seen(
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, topic TEXT NOT NULL, received_at_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE events(
  seq INTEGER PRIMARY KEY, envelope_id TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL, body_type TEXT NOT NULL,
  kind TEXT NOT NULL, subject TEXT NOT NULL, time_ms INTEGER NOT NULL, received_at_ms INTEGER NOT NULL,
  envelope BLOB NOT NULL);
CREATE INDEX events_by_tenant ON events(tenant, seq);
CREATE TABLE posture(
  tenant TEXT PRIMARY KEY, envelope_id TEXT NOT NULL, cycle INTEGER NOT NULL, overall INTEGER NOT NULL,
  account_upn TEXT NOT NULL, report BLOB NOT NULL, received_at_ms INTEGER NOT NULL, collected_at_ms INTEGER NOT NULL);
CREATE TABLE agents(
  tenant TEXT PRIMARY KEY, state INTEGER NOT NULL, reason TEXT NOT NULL, last_seen_ms INTEGER NOT NULL);
CREATE TABLE tasks(
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, kind INTEGER NOT NULL, target TEXT NOT NULL, state INTEGER NOT NULL,
  plan_version INTEGER NOT NULL, risk INTEGER NOT NULL, created_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL, dispatch_deadline_ms INTEGER NOT NULL, succeeded_at_ms INTEGER NOT NULL,
  view BLOB NOT NULL);
CREATE INDEX tasks_by_tenant ON tasks(tenant, created_at_ms);
CREATE INDEX tasks_by_state ON tasks(state);
-- one open task per (tenant, kind, target): states 1..5 are PROPOSED..SUCCEEDED
CREATE UNIQUE INDEX tasks_one_open ON tasks(tenant, kind, target) WHERE state BETWEEN 1 AND 5;
CREATE TABLE approvals(
  task_id TEXT NOT NULL, plan_version INTEGER NOT NULL, admin TEXT NOT NULL, comment TEXT NOT NULL,
  at_ms INTEGER NOT NULL, PRIMARY KEY(task_id, plan_version, admin)) WITHOUT ROWID;
CREATE TABLE commands(
  command_id TEXT PRIMARY KEY, task_id TEXT NOT NULL, tenant TEXT NOT NULL, plan_version INTEGER NOT NULL,
  issued_at_ms INTEGER NOT NULL, not_after_ms INTEGER NOT NULL, command BLOB NOT NULL,
  outcome INTEGER, result_detail TEXT, result_at_ms INTEGER);
CREATE TABLE audit(
  seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, tenant TEXT NOT NULL,
  task_id TEXT NOT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX audit_by_task ON audit(task_id, seq);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TABLE alerts(
  fingerprint TEXT PRIMARY KEY, tenant TEXT NOT NULL, cause TEXT NOT NULL, severity INTEGER NOT NULL,
  active INTEGER NOT NULL, raised_at_ms INTEGER NOT NULL, resolved_at_ms INTEGER NOT NULL, alert BLOB NOT NULL);
CREATE INDEX alerts_active ON alerts(tenant, active);
CREATE TABLE alert_history(
  seq INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, tenant TEXT NOT NULL, cause TEXT NOT NULL,
  severity INTEGER NOT NULL, state INTEGER NOT NULL, at_ms INTEGER NOT NULL);
CREATE TABLE webhook_outbox(
  id INTEGER PRIMARY KEY, delivery_key TEXT NOT NULL UNIQUE, sink TEXT NOT NULL, url TEXT NOT NULL,
  body TEXT NOT NULL, created_at_ms INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL, delivered_at_ms INTEGER, http_status INTEGER, gave_up INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '');
CREATE INDEX webhook_due ON webhook_outbox(next_attempt_ms) WHERE delivered_at_ms IS NULL AND gave_up = 0;
CREATE TABLE mqtt_outbox(
  seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, retained INTEGER NOT NULL,
  response_topic TEXT NOT NULL, correlation BLOB NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  created_at_ms INTEGER NOT NULL);
)sql",
    // 2: the agent's own poll interval (AgentStatus.poll_interval_seconds): silence is two of them
    R"sql(
ALTER TABLE agents ADD COLUMN poll_interval_ms INTEGER NOT NULL DEFAULT 0;
)sql",
    // 3: the exception registry (issue 15): one row per (tenant, kind, policy, object)
    R"sql(
CREATE TABLE exceptions(
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL, policy_id TEXT NOT NULL, object_id TEXT NOT NULL,
  object_name TEXT NOT NULL, owner TEXT NOT NULL, reason TEXT NOT NULL, ticket TEXT NOT NULL, source TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL,
  UNIQUE(tenant, kind, policy_id, object_id));
CREATE INDEX exceptions_expiry ON exceptions(expires_at_ms);
)sql",
    // 4: the onboarding set: the exclusions a tenant already had when ConnGuard started watching it
    // (its first report with complete exclusion facts), recorded once; the marker row says it was
    R"sql(
CREATE TABLE onboarding(tenant TEXT PRIMARY KEY, recorded_at_ms INTEGER NOT NULL, envelope_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE onboarding_exclusions(tenant TEXT NOT NULL, exclusion_key TEXT NOT NULL,
  PRIMARY KEY(tenant, exclusion_key)) WITHOUT ROWID;
)sql",
    // 5: alert subscriptions added at runtime (issue 12): the WebhookSubscription as stored
    R"sql(
CREATE TABLE webhook_subscriptions(
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, updated_at_ms INTEGER NOT NULL, subscription BLOB NOT NULL)
  WITHOUT ROWID;
)sql",
    // 6: the failing check ids of the latest report, for tenant lists (the console's Tenants page)
    // without decoding every report; rows stored before are filled by backfill_failing_checks()
    R"sql(
ALTER TABLE posture ADD COLUMN failing_checks TEXT NOT NULL DEFAULT '';
)sql",
};


/// PostgreSQL: BIGINT for every integer (milliseconds), BYTEA for bytes, identity columns where
/// SQLite numbers rows itself. Sequence values are taken under the writer lock (connection.h), so
/// they are in commit order like SQLite's.
const char* const postgres_migrations_table =
    "CREATE TABLE IF NOT EXISTS schema_migrations(version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)";

const char* const postgres_migrations[] = {
    // 1: the initial schema
    R"sql(
CREATE TABLE envelopes_seen(
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, topic TEXT NOT NULL, received_at_ms BIGINT NOT NULL);
CREATE TABLE events(
  seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, envelope_id TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL,
  body_type TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, time_ms BIGINT NOT NULL,
  received_at_ms BIGINT NOT NULL, envelope BYTEA NOT NULL);
CREATE INDEX events_by_tenant ON events(tenant, seq);
CREATE TABLE posture(
  tenant TEXT PRIMARY KEY, envelope_id TEXT NOT NULL, cycle BIGINT NOT NULL, overall BIGINT NOT NULL,
  account_upn TEXT NOT NULL, report BYTEA NOT NULL, received_at_ms BIGINT NOT NULL, collected_at_ms BIGINT NOT NULL);
CREATE TABLE agents(
  tenant TEXT PRIMARY KEY, state BIGINT NOT NULL, reason TEXT NOT NULL, last_seen_ms BIGINT NOT NULL);
CREATE TABLE tasks(
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, kind BIGINT NOT NULL, target TEXT NOT NULL, state BIGINT NOT NULL,
  plan_version BIGINT NOT NULL, risk BIGINT NOT NULL, created_at_ms BIGINT NOT NULL, updated_at_ms BIGINT NOT NULL,
  expires_at_ms BIGINT NOT NULL, dispatch_deadline_ms BIGINT NOT NULL, succeeded_at_ms BIGINT NOT NULL,
  view BYTEA NOT NULL);
CREATE INDEX tasks_by_tenant ON tasks(tenant, created_at_ms);
CREATE INDEX tasks_by_state ON tasks(state);
CREATE UNIQUE INDEX tasks_one_open ON tasks(tenant, kind, target) WHERE state BETWEEN 1 AND 5;
CREATE TABLE approvals(
  task_id TEXT NOT NULL, plan_version BIGINT NOT NULL, admin TEXT NOT NULL, comment TEXT NOT NULL,
  at_ms BIGINT NOT NULL, PRIMARY KEY(task_id, plan_version, admin));
CREATE TABLE commands(
  command_id TEXT PRIMARY KEY, task_id TEXT NOT NULL, tenant TEXT NOT NULL, plan_version BIGINT NOT NULL,
  issued_at_ms BIGINT NOT NULL, not_after_ms BIGINT NOT NULL, command BYTEA NOT NULL,
  outcome BIGINT, result_detail TEXT, result_at_ms BIGINT);
CREATE TABLE audit(
  seq BIGINT PRIMARY KEY, at_ms BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, tenant TEXT NOT NULL,
  task_id TEXT NOT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX audit_by_task ON audit(task_id, seq);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
  'BEGIN RAISE EXCEPTION ''audit log is append-only''; END';
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TABLE alerts(
  fingerprint TEXT PRIMARY KEY, tenant TEXT NOT NULL, cause TEXT NOT NULL, severity BIGINT NOT NULL,
  active BIGINT NOT NULL, raised_at_ms BIGINT NOT NULL, resolved_at_ms BIGINT NOT NULL, alert BYTEA NOT NULL);
CREATE INDEX alerts_active ON alerts(tenant, active);
CREATE TABLE alert_history(
  seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, fingerprint TEXT NOT NULL, tenant TEXT NOT NULL,
  cause TEXT NOT NULL, severity BIGINT NOT NULL, state BIGINT NOT NULL, at_ms BIGINT NOT NULL);
CREATE TABLE webhook_outbox(
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, delivery_key TEXT NOT NULL UNIQUE, sink TEXT NOT NULL,
  url TEXT NOT NULL, body TEXT NOT NULL, created_at_ms BIGINT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0,
  next_attempt_ms BIGINT NOT NULL, delivered_at_ms BIGINT, http_status BIGINT, gave_up BIGINT NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '');
CREATE INDEX webhook_due ON webhook_outbox(next_attempt_ms) WHERE delivered_at_ms IS NULL AND gave_up = 0;
CREATE TABLE mqtt_outbox(
  seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, topic TEXT NOT NULL, payload BYTEA NOT NULL,
  retained BIGINT NOT NULL, response_topic TEXT NOT NULL, correlation BYTEA NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0, created_at_ms BIGINT NOT NULL);
)sql",
    // 2: the agent's own poll interval
    "ALTER TABLE agents ADD COLUMN poll_interval_ms BIGINT NOT NULL DEFAULT 0",
    // 3: the exception registry
    R"sql(
CREATE TABLE exceptions(
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL, policy_id TEXT NOT NULL, object_id TEXT NOT NULL,
  object_name TEXT NOT NULL, owner TEXT NOT NULL, reason TEXT NOT NULL, ticket TEXT NOT NULL, source TEXT NOT NULL,
  created_at_ms BIGINT NOT NULL, expires_at_ms BIGINT NOT NULL,
  UNIQUE(tenant, kind, policy_id, object_id));
CREATE INDEX exceptions_expiry ON exceptions(expires_at_ms);
)sql",
    // 4: the onboarding set
    R"sql(
CREATE TABLE onboarding(tenant TEXT PRIMARY KEY, recorded_at_ms BIGINT NOT NULL, envelope_id TEXT NOT NULL);
CREATE TABLE onboarding_exclusions(tenant TEXT NOT NULL, exclusion_key TEXT NOT NULL, PRIMARY KEY(tenant, exclusion_key));
)sql",
    // 5: alert subscriptions added at runtime
    R"sql(
CREATE TABLE webhook_subscriptions(
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, updated_at_ms BIGINT NOT NULL, subscription BYTEA NOT NULL);
)sql",
    // 6: the failing check ids of the latest report
    "ALTER TABLE posture ADD COLUMN failing_checks TEXT NOT NULL DEFAULT ''",
};

constexpr int n_migrations = static_cast<int>(sizeof sqlite_migrations / sizeof sqlite_migrations[0]);
static_assert(sizeof postgres_migrations == sizeof sqlite_migrations, "every migration exists for both backends");

}  // namespace

namespace {

/// A cached prepared statement with fluent binding; reports errors through the owning call's
/// status. Reset and unbound when it goes out of scope.
class stmt {
public:
    stmt(sql::connection& c, const char* sql_text, const char* purpose) : purpose_(purpose) {
        auto p = c.prepare(sql_text);
        if (p) s_ = *p;
        else prepare_error_ = make_error(p.err().code, "store: " + std::string(purpose) + ": " + p.err().message);
    }
    ~stmt() {
        if (s_ != nullptr) s_->reset();
    }
    stmt(const stmt&) = delete;
    stmt& operator=(const stmt&) = delete;

    stmt& text(const std::string& v) {
        if (s_ != nullptr) s_->bind_text(++i_, v);
        return *this;
    }
    stmt& blob(const std::string& v) {
        if (s_ != nullptr) s_->bind_blob(++i_, v);
        return *this;
    }
    stmt& i64(std::int64_t v) {
        if (s_ != nullptr) s_->bind_i64(++i_, v);
        return *this;
    }
    stmt& null() {
        if (s_ != nullptr) s_->bind_null(++i_);
        return *this;
    }

    /// Steps once: true = a row is available, false = done. Errors land in check().
    bool step() { return s_ != nullptr && s_->step(); }
    bool failed() const { return s_ == nullptr || s_->failed(); }
    status run() {
        step();
        return check();
    }
    status check() const {
        if (s_ == nullptr) return prepare_error_;
        if (!s_->failed()) return {};
        return s_->failure(purpose_);
    }

    std::int64_t col_i64(int c) const { return s_->column_i64(c); }
    bool col_null(int c) const { return s_->column_null(c); }
    std::string col_text(int c) const { return s_->column_bytes(c); }

private:
    const char* purpose_;
    sql::statement* s_ = nullptr;
    error prepare_error_;
    int i_ = 0;
};

std::int64_t ts_ms(const google::protobuf::Timestamp& t) { return TimeUtil::TimestampToMilliseconds(t); }

task task_from(const stmt& s, int view_col, int deadline_col, int succeeded_col) {
    task t;
    t.view.ParseFromString(s.col_text(view_col));
    t.dispatch_deadline_ms = s.col_i64(deadline_col);
    t.succeeded_at_ms = s.col_i64(succeeded_col);
    return t;
}

constexpr const char* task_cols = "view, dispatch_deadline_ms, succeeded_at_ms";

}  // namespace

store::store(std::unique_ptr<sql::connection> conn) : conn_(std::move(conn)) {}

store::~store() = default;

int store::latest_schema_version() { return n_migrations; }

status store::exec(const std::string& sql_text) { return conn_->exec(sql_text); }

result<std::vector<std::string>> store::query_strings(const std::string& sql_text) {
    stmt s(*conn_, sql_text.c_str(), "query");
    std::vector<std::string> out;
    while (s.step()) out.push_back(s.col_text(0));
    if (s.failed()) return s.check().err();
    return out;
}

result<std::unique_ptr<store>> store::open(const std::string& location, store_options opts) {
    auto c = sql::is_postgres_url(location)
                 ? sql::open_postgres(location)
                 : sql::open_sqlite(location, {opts.synchronous_full, opts.busy_timeout_ms, opts.wal_autocheckpoint_pages});
    if (!c) return c.err();
    std::unique_ptr<store> s(new store(std::move(*c)));
    if (auto st = s->migrate(); !st) return make_error(st.err().code, s->describe() + ": " + st.err().message);
    return s;
}

sql::dialect store::backend() const { return conn_->kind(); }
std::string store::describe() const { return conn_->describe(); }
sqlite3* store::handle() { return conn_->sqlite_handle(); }

result<int> store::schema_version() {
    stmt s(*conn_,
           conn_->kind() == sql::dialect::sqlite ? "PRAGMA user_version"
                                                 : "SELECT coalesce(max(version), 0) FROM schema_migrations",
           "read the schema version");
    if (!s.step()) return s.check().err();
    return static_cast<int>(s.col_i64(0));
}

status store::migrate() {
    // One transaction under the writer lock: coordinators starting together on one PostgreSQL
    // database migrate it once; the second finds it done.
    if (auto b = conn_->begin_write(true); !b) return b.err();
    const bool sqlite = conn_->kind() == sql::dialect::sqlite;
    const char* const* steps = sqlite ? sqlite_migrations : postgres_migrations;
    auto fail = [&](int step, const error& e) {
        conn_->rollback();
        return make_error("store.migration", "migration " + std::to_string(step) + " failed: " + e.message);
    };
    if (!sqlite) {
        if (auto st = exec(postgres_migrations_table); !st) return fail(0, st.err());
    }
    auto v = schema_version();
    if (!v) return fail(0, v.err());
    if (*v > n_migrations) {
        conn_->rollback();
        return make_error("store.schema_too_new", "schema version " + std::to_string(*v) +
                                                      " is newer than this build understands (" +
                                                      std::to_string(n_migrations) + ")");
    }
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    for (int next = *v + 1; next <= n_migrations; ++next) {
        auto st = exec(steps[next - 1]);
        if (st && next == 6) st = backfill_failing_checks();
        if (st) {
            stmt ins(*conn_, "INSERT INTO schema_migrations(version, applied_at_ms) VALUES(?, ?)", "record migration");
            st = ins.i64(next).i64(now_ms).run();
        }
        if (st && sqlite) st = exec("PRAGMA user_version=" + std::to_string(next));
        if (!st) return fail(next, st.err());
    }
    if (auto st = conn_->commit(); !st) return fail(n_migrations, st.err());
    return {};
}

status store::begin() {
    auto b = conn_->begin_write(true);
    if (!b) return b.err();
    return {};
}
result<bool> store::try_begin() { return conn_->begin_write(false); }
status store::commit() { return conn_->commit(); }
void store::rollback() { conn_->rollback(); }
status store::savepoint() { return exec("SAVEPOINT msg"); }
status store::release_savepoint() { return exec("RELEASE msg"); }
void store::rollback_to_savepoint() {
    (void)exec("ROLLBACK TO msg");
    (void)exec("RELEASE msg");
}

// ---- ingest ----

result<bool> store::mark_seen(const std::string& id, const std::string& tenant, const std::string& topic, std::int64_t now_ms) {
    stmt s(*conn_, "INSERT INTO envelopes_seen(id, tenant, topic, received_at_ms) VALUES(?,?,?,?) ON CONFLICT DO NOTHING", "record envelope id");
    if (auto st = s.text(id).text(tenant).text(topic).i64(now_ms).run(); !st) return st.err();
    return conn_->changes() == 1;
}

status store::insert_event(const std::string& envelope_id, const std::string& tenant, const std::string& body_type,
                           const std::string& kind, const std::string& subject, std::int64_t time_ms,
                           std::int64_t received_ms, const std::string& payload) {
    stmt s(*conn_,
           "INSERT INTO events(envelope_id, tenant, body_type, kind, subject, time_ms, received_at_ms, envelope) "
           "VALUES(?,?,?,?,?,?,?,?)",
           "insert event");
    return s.text(envelope_id).text(tenant).text(body_type).text(kind).text(subject).i64(time_ms).i64(received_ms).blob(payload).run();
}

result<std::int64_t> store::count_events(const std::string& tenant) {
    stmt s(*conn_, tenant.empty() ? "SELECT count(*) FROM events" : "SELECT count(*) FROM events WHERE tenant = ?", "count events");
    if (!tenant.empty()) s.text(tenant);
    if (!s.step()) return s.check().err();
    return s.col_i64(0);
}

result<std::optional<posture_row>> store::posture(const std::string& tenant) {
    stmt s(*conn_, "SELECT envelope_id, cycle, report, received_at_ms, collected_at_ms FROM posture WHERE tenant = ?", "read posture");
    s.text(tenant);
    if (!s.step()) {
        if (s.failed()) return s.check().err();
        return std::optional<posture_row>{};
    }
    posture_row p;
    p.tenant = tenant;
    p.envelope_id = s.col_text(0);
    p.cycle = static_cast<std::uint64_t>(s.col_i64(1));
    p.report.ParseFromString(s.col_text(2));
    p.received_ms = s.col_i64(3);
    p.collected_ms = s.col_i64(4);
    return std::optional<posture_row>(std::move(p));
}

std::vector<std::string> failing_check_ids(const v1::ValidationReport& report) {
    std::vector<std::string> ids;
    for (const auto& c : report.checks()) {
        if (c.status() != v1::CHECK_STATUS_FAIL && c.status() != v1::CHECK_STATUS_ERROR) continue;
        if (std::find(ids.begin(), ids.end(), c.id()) == ids.end()) ids.push_back(c.id());
    }
    return ids;
}

namespace {
// Stored as one space-separated column: check ids never contain spaces (checks are named by the
// agent's check table, e.g. "CG-CAP").
std::string join_ids(const std::vector<std::string>& ids) {
    std::string out;
    for (const auto& id : ids) {
        if (!out.empty()) out += ' ';
        out += id;
    }
    return out;
}
}  // namespace

status store::backfill_failing_checks() {
    std::vector<std::pair<std::string, std::string>> rows;
    {
        stmt s(*conn_, "SELECT tenant, report FROM posture", "read posture for migration 6");
        while (s.step()) {
            v1::ValidationReport report;
            report.ParseFromString(s.col_text(1));
            rows.emplace_back(s.col_text(0), join_ids(failing_check_ids(report)));
        }
        if (s.failed()) return s.check();
    }
    for (const auto& [tenant, ids] : rows) {
        stmt u(*conn_, "UPDATE posture SET failing_checks = ? WHERE tenant = ?", "migration 6: failing checks");
        if (auto st = u.text(ids).text(tenant).run(); !st) return st;
    }
    return {};
}

status store::put_posture(const posture_row& p) {
    stmt s(*conn_,
           "INSERT INTO posture(tenant, envelope_id, cycle, overall, account_upn, report, received_at_ms, "
           "collected_at_ms, failing_checks) VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(tenant) DO UPDATE SET "
           "envelope_id=excluded.envelope_id, cycle=excluded.cycle, overall=excluded.overall, "
           "account_upn=excluded.account_upn, report=excluded.report, received_at_ms=excluded.received_at_ms, "
           "collected_at_ms=excluded.collected_at_ms, failing_checks=excluded.failing_checks",
           "store posture");
    return s.text(p.tenant).text(p.envelope_id).i64(static_cast<std::int64_t>(p.cycle)).i64(p.report.overall())
        .text(p.report.account_upn()).blob(p.report.SerializeAsString()).i64(p.received_ms).i64(p.collected_ms)
        .text(join_ids(failing_check_ids(p.report))).run();
}

result<std::optional<agent_row>> store::agent(const std::string& tenant) {
    stmt s(*conn_, "SELECT state, reason, last_seen_ms, poll_interval_ms FROM agents WHERE tenant = ?", "read agent");
    s.text(tenant);
    if (!s.step()) {
        if (s.failed()) return s.check().err();
        return std::optional<agent_row>{};
    }
    return std::optional<agent_row>(
        agent_row{tenant, static_cast<v1::AgentState>(s.col_i64(0)), s.col_text(1), s.col_i64(2), s.col_i64(3)});
}

result<std::vector<agent_row>> store::agents() {
    stmt s(*conn_, "SELECT tenant, state, reason, last_seen_ms, poll_interval_ms FROM agents ORDER BY tenant",
           "list agents");
    std::vector<agent_row> out;
    while (s.step())
        out.push_back({s.col_text(0), static_cast<v1::AgentState>(s.col_i64(1)), s.col_text(2), s.col_i64(3), s.col_i64(4)});
    if (s.failed()) return s.check().err();
    return out;
}

status store::put_agent(const agent_row& a) {
    stmt s(*conn_,
           "INSERT INTO agents(tenant, state, reason, last_seen_ms, poll_interval_ms) VALUES(?,?,?,?,?) "
           "ON CONFLICT(tenant) DO UPDATE SET state=excluded.state, reason=excluded.reason, "
           "last_seen_ms=excluded.last_seen_ms, poll_interval_ms=excluded.poll_interval_ms",
           "store agent");
    return s.text(a.tenant).i64(a.state).text(a.reason).i64(a.last_seen_ms).i64(a.poll_interval_ms).run();
}

status store::touch_agent(const std::string& tenant, std::int64_t seen_ms) {
    stmt s(*conn_,
           "INSERT INTO agents(tenant, state, reason, last_seen_ms) VALUES(?, 0, '', ?) "
           "ON CONFLICT(tenant) DO UPDATE SET last_seen_ms = CASE WHEN excluded.last_seen_ms > agents.last_seen_ms "
           "THEN excluded.last_seen_ms ELSE agents.last_seen_ms END",
           "touch agent");
    return s.text(tenant).i64(seen_ms).run();
}

// ---- exception registry ----

namespace {
constexpr const char* exception_cols =
    "id, tenant, kind, policy_id, object_id, object_name, owner, reason, ticket, source, created_at_ms, expires_at_ms";

exceptions::record exception_from(const stmt& s) {
    exceptions::record r;
    r.id = s.col_text(0);
    r.tenant = s.col_text(1);
    r.what = exceptions::parse_kind(s.col_text(2)).value_or(exceptions::kind::user);
    r.policy_id = s.col_text(3);
    r.object_id = s.col_text(4);
    r.object_name = s.col_text(5);
    r.owner = s.col_text(6);
    r.reason = s.col_text(7);
    r.ticket = s.col_text(8);
    r.source = s.col_text(9);
    r.created_ms = s.col_i64(10);
    r.expires_ms = s.col_i64(11);
    return r;
}
}  // namespace

result<std::vector<exceptions::record>> store::exceptions_of(const std::string& tenant) {
    stmt s(*conn_,
           (std::string("SELECT ") + exception_cols +
            " FROM exceptions WHERE ?1 = '' OR tenant = ?1 ORDER BY tenant, created_at_ms, id").c_str(),
           "list exceptions");
    s.text(tenant);
    std::vector<exceptions::record> out;
    while (s.step()) out.push_back(exception_from(s));
    if (s.failed()) return s.check().err();
    return out;
}

result<std::optional<exceptions::record>> store::exception_by_id(const std::string& id) {
    stmt s(*conn_, (std::string("SELECT ") + exception_cols + " FROM exceptions WHERE id = ?").c_str(), "read exception");
    s.text(id);
    if (!s.step()) {
        if (s.failed()) return s.check().err();
        return std::optional<exceptions::record>{};
    }
    return std::optional<exceptions::record>(exception_from(s));
}

result<std::optional<exceptions::record>> store::exception_by_key(const exceptions::record& like) {
    stmt s(*conn_,
           (std::string("SELECT ") + exception_cols +
            " FROM exceptions WHERE tenant = ? AND kind = ? AND policy_id = ? AND object_id = ?").c_str(),
           "find exception");
    s.text(like.tenant).text(exceptions::kind_word(like.what)).text(like.policy_id).text(like.object_id);
    if (!s.step()) {
        if (s.failed()) return s.check().err();
        return std::optional<exceptions::record>{};
    }
    return std::optional<exceptions::record>(exception_from(s));
}

status store::put_exception(const exceptions::record& r) {
    stmt s(*conn_,
           "INSERT INTO exceptions(id, tenant, kind, policy_id, object_id, object_name, owner, reason, ticket, "
           "source, created_at_ms, expires_at_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
           "tenant=excluded.tenant, kind=excluded.kind, policy_id=excluded.policy_id, object_id=excluded.object_id, "
           "object_name=excluded.object_name, owner=excluded.owner, reason=excluded.reason, ticket=excluded.ticket, "
           "source=excluded.source, created_at_ms=excluded.created_at_ms, expires_at_ms=excluded.expires_at_ms",
           "store exception");
    return s.text(r.id)
        .text(r.tenant)
        .text(exceptions::kind_word(r.what))
        .text(r.policy_id)
        .text(r.object_id)
        .text(r.object_name)
        .text(r.owner)
        .text(r.reason)
        .text(r.ticket)
        .text(r.source)
        .i64(r.created_ms)
        .i64(r.expires_ms)
        .run();
}

result<bool> store::delete_exception(const std::string& id) {
    stmt s(*conn_, "DELETE FROM exceptions WHERE id = ?", "delete exception");
    if (auto st = s.text(id).run(); !st) return st.err();
    return conn_->changes() > 0;
}

// ---- alert subscriptions ----

result<std::vector<v1::WebhookSubscription>> store::webhook_subscriptions() {
    stmt s(*conn_, "SELECT subscription FROM webhook_subscriptions ORDER BY name", "list webhook subscriptions");
    std::vector<v1::WebhookSubscription> out;
    while (s.step()) {
        v1::WebhookSubscription w;
        w.ParseFromString(s.col_text(0));
        out.push_back(std::move(w));
    }
    if (s.failed()) return s.check().err();
    return out;
}

result<std::optional<v1::WebhookSubscription>> store::webhook_subscription(const std::string& id) {
    stmt s(*conn_, "SELECT subscription FROM webhook_subscriptions WHERE id = ?", "read webhook subscription");
    s.text(id);
    if (!s.step()) {
        if (s.failed()) return s.check().err();
        return std::optional<v1::WebhookSubscription>{};
    }
    v1::WebhookSubscription w;
    w.ParseFromString(s.col_text(0));
    return std::optional<v1::WebhookSubscription>{std::move(w)};
}

status store::put_webhook_subscription(const v1::WebhookSubscription& w) {
    stmt s(*conn_,
           "INSERT INTO webhook_subscriptions(id, name, updated_at_ms, subscription) VALUES(?,?,?,?) "
           "ON CONFLICT(id) DO UPDATE SET name = excluded.name, updated_at_ms = excluded.updated_at_ms, "
           "subscription = excluded.subscription",
           "store webhook subscription");
    return s.text(w.id()).text(w.name()).i64(ts_ms(w.updated_at())).blob(w.SerializeAsString()).run();
}

result<bool> store::delete_webhook_subscription(const std::string& id) {
    stmt s(*conn_, "DELETE FROM webhook_subscriptions WHERE id = ?", "delete webhook subscription");
    if (auto st = s.text(id).run(); !st) return st.err();
    return conn_->changes() > 0;
}

result<std::int64_t> store::drop_pending_webhooks(const std::string& sink) {
    stmt s(*conn_, "DELETE FROM webhook_outbox WHERE sink = ? AND delivered_at_ms IS NULL AND gave_up = 0",
           "drop pending webhook deliveries");
    if (auto st = s.text(sink).run(); !st) return st.err();
    return static_cast<std::int64_t>(conn_->changes());
}

result<std::vector<std::string>> store::recent_events(const std::string& tenant, const std::string& body_type, int limit) {
    stmt s(*conn_, "SELECT envelope FROM events WHERE tenant = ? AND body_type = ? ORDER BY seq DESC LIMIT ?",
           "read recent events");
    s.text(tenant).text(body_type).i64(limit);
    std::vector<std::string> out;
    while (s.step()) out.push_back(s.col_text(0));
    if (s.failed()) return s.check().err();
    return out;
}

// ---- onboarding set ----

result<exceptions::onboarding> store::onboarding_of(const std::string& tenant) {
    exceptions::onboarding out;
    stmt m(*conn_, "SELECT recorded_at_ms FROM onboarding WHERE tenant = ?", "read onboarding marker");
    m.text(tenant);
    if (!m.step()) {
        if (m.failed()) return m.check().err();
        return out;
    }
    out.recorded = true;
    out.recorded_ms = m.col_i64(0);
    stmt k(*conn_, "SELECT exclusion_key FROM onboarding_exclusions WHERE tenant = ?", "read onboarding set");
    k.text(tenant);
    while (k.step()) out.keys.insert(k.col_text(0));
    if (k.failed()) return k.check().err();
    return out;
}

result<bool> store::record_onboarding(const std::string& tenant, const std::vector<std::string>& keys, std::int64_t now_ms,
                                      const std::string& envelope_id) {
    {
        stmt m(*conn_, "INSERT INTO onboarding(tenant, recorded_at_ms, envelope_id) VALUES(?,?,?) ON CONFLICT DO NOTHING",
               "record onboarding marker");
        if (auto st = m.text(tenant).i64(now_ms).text(envelope_id).run(); !st) return st.err();
    }
    if (conn_->changes() == 0) return false;  // recorded before: the set never changes
    for (const auto& key : keys) {
        stmt k(*conn_, "INSERT INTO onboarding_exclusions(tenant, exclusion_key) VALUES(?,?) ON CONFLICT DO NOTHING",
               "record onboarding exclusion");
        if (auto st = k.text(tenant).text(key).run(); !st) return st.err();
    }
    return true;
}

// ---- tasks ----

result<std::optional<task>> store::task_by_id(const std::string& id) {
    stmt s(*conn_, (std::string("SELECT ") + task_cols + " FROM tasks WHERE id = ?").c_str(), "read task");
    s.text(id);
    if (!s.step()) {
        if (s.failed()) return s.check().err();
        return std::optional<task>{};
    }
    return std::optional<task>(task_from(s, 0, 1, 2));
}

result<std::vector<task>> store::tasks_of_tenant(const std::string& tenant) {
    stmt s(*conn_, (std::string("SELECT ") + task_cols + " FROM tasks WHERE tenant = ? ORDER BY created_at_ms").c_str(),
           "read tenant tasks");
    s.text(tenant);
    std::vector<task> out;
    while (s.step()) out.push_back(task_from(s, 0, 1, 2));
    if (s.failed()) return s.check().err();
    return out;
}

result<std::vector<task>> store::list_tasks(v1::TaskState state, const std::string& tenant, int limit) {
    std::string sql = std::string("SELECT ") + task_cols + " FROM tasks WHERE (? = 0 OR state = ?) AND (? = '' OR tenant = ?) "
                      "ORDER BY created_at_ms DESC LIMIT ?";
    stmt s(*conn_, sql.c_str(), "list tasks");
    s.i64(state).i64(state).text(tenant).text(tenant).i64(limit);
    std::vector<task> out;
    while (s.step()) out.push_back(task_from(s, 0, 1, 2));
    if (s.failed()) return s.check().err();
    return out;
}

result<std::vector<task>> store::waiting_tasks_of_tenant(const std::string& tenant) {
    stmt s(*conn_,
           (std::string("SELECT ") + task_cols + " FROM tasks WHERE tenant = ? AND state IN (?, ?) ORDER BY created_at_ms").c_str(),
           "read waiting tenant tasks");
    s.text(tenant).i64(v1::TASK_STATE_PROPOSED).i64(v1::TASK_STATE_PENDING_APPROVAL);
    std::vector<task> out;
    while (s.step()) out.push_back(task_from(s, 0, 1, 2));
    if (s.failed()) return s.check().err();
    return out;
}

result<std::vector<task>> store::tasks_in_states(const std::vector<v1::TaskState>& states) {
    std::vector<task> out;
    for (auto st : states) {
        auto r = list_tasks(st, {}, 1000000);
        if (!r) return r.err();
        for (auto& t : *r) out.push_back(std::move(t));
    }
    return out;
}

status store::put_task(const task& t) {
    const auto& v = t.view;
    stmt s(*conn_,
           "INSERT INTO tasks(id, tenant, kind, target, state, plan_version, risk, created_at_ms, updated_at_ms, "
           "expires_at_ms, dispatch_deadline_ms, succeeded_at_ms, view) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?) "
           "ON CONFLICT(id) DO UPDATE SET state=excluded.state, plan_version=excluded.plan_version, risk=excluded.risk, "
           "updated_at_ms=excluded.updated_at_ms, expires_at_ms=excluded.expires_at_ms, "
           "dispatch_deadline_ms=excluded.dispatch_deadline_ms, succeeded_at_ms=excluded.succeeded_at_ms, view=excluded.view",
           "store task");
    return s.text(v.task_id()).text(v.tenant()).i64(v.kind()).text(v.target()).i64(v.state()).i64(v.plan_version())
        .i64(v.risk()).i64(ts_ms(v.created_at())).i64(ts_ms(v.updated_at())).i64(ts_ms(v.expires_at()))
        .i64(t.dispatch_deadline_ms).i64(t.succeeded_at_ms).blob(v.SerializeAsString()).run();
}

status store::insert_approval(const std::string& task_id, const v1::Approval& a) {
    stmt s(*conn_, "INSERT INTO approvals(task_id, plan_version, admin, comment, at_ms) VALUES(?,?,?,?,?)", "record approval");
    return s.text(task_id).i64(a.plan_version()).text(a.admin()).text(a.comment()).i64(ts_ms(a.at())).run();
}

status store::insert_command(const std::string& command_id, const std::string& task_id, const std::string& tenant,
                             std::uint32_t plan_version, std::int64_t issued_ms, std::int64_t not_after_ms,
                             const std::string& payload) {
    stmt s(*conn_,
           "INSERT INTO commands(command_id, task_id, tenant, plan_version, issued_at_ms, not_after_ms, command) "
           "VALUES(?,?,?,?,?,?,?)",
           "record command");
    return s.text(command_id).text(task_id).text(tenant).i64(plan_version).i64(issued_ms).i64(not_after_ms).blob(payload).run();
}

status store::record_command_result(const std::string& tenant, const std::string& task_id, const std::string& command_id,
                                   v1::CommandOutcome outcome, const std::string& detail, std::int64_t at_ms) {
    // Matching on the command id alone let a result naming one task write into another task's
    // command row; all three ids and the task still waiting keep the row tied to its transition.
    // No "outcome IS NULL": a row written by that old bug must still take the genuine result.
    stmt s(*conn_,
           "UPDATE commands SET outcome = ?, result_detail = ?, result_at_ms = ? "
           "WHERE command_id = ? AND task_id = ? AND tenant = ? "
           "AND EXISTS(SELECT 1 FROM tasks WHERE tasks.id = commands.task_id AND tasks.tenant = commands.tenant "
           "AND tasks.state = ?)",
           "record command result");
    if (auto st = s.i64(outcome).text(detail).i64(at_ms).text(command_id).text(task_id).text(tenant)
                      .i64(v1::TASK_STATE_DISPATCHED).run();
        !st)
        return st;
    if (conn_->changes() != 1)
        return make_error("store.command_mismatch", "store: record command result: no command " + command_id +
                                                        " of task " + task_id + " (tenant " + tenant +
                                                        ") waiting for a result");
    return {};
}

result<std::optional<command_row>> store::command(const std::string& command_id) {
    stmt s(*conn_,
           "SELECT task_id, tenant, plan_version, issued_at_ms, not_after_ms, outcome, result_detail, result_at_ms "
           "FROM commands WHERE command_id = ?",
           "read command");
    s.text(command_id);
    if (!s.step()) {
        if (s.failed()) return s.check().err();
        return std::optional<command_row>{};
    }
    command_row c;
    c.command_id = command_id;
    c.task_id = s.col_text(0);
    c.tenant = s.col_text(1);
    c.plan_version = static_cast<std::uint32_t>(s.col_i64(2));
    c.issued_ms = s.col_i64(3);
    c.not_after_ms = s.col_i64(4);
    if (!s.col_null(5)) c.outcome = static_cast<v1::CommandOutcome>(s.col_i64(5));
    c.result_detail = s.col_text(6);
    c.result_at_ms = s.col_i64(7);
    return std::optional<command_row>(std::move(c));
}

// ---- audit ----

std::string store::audit_hash(const v1::AuditEntry& e) {
    // Length-prefixed fields so that no two different entries serialize alike.
    std::string canon = e.prev_hash();
    auto field = [&](const std::string& v) {
        canon += "|" + std::to_string(v.size()) + ":" + v;
    };
    field(std::to_string(e.seq()));
    field(std::to_string(TimeUtil::TimestampToMilliseconds(e.at())));
    field(e.actor());
    field(e.action());
    field(e.tenant());
    field(e.task_id());
    field(e.detail());
    return sha256_hex(canon);
}

result<v1::AuditEntry> store::append_audit(std::int64_t at_ms, const std::string& actor, const std::string& action,
                                           const std::string& tenant, const std::string& task_id, const std::string& detail) {
    v1::AuditEntry e;
    {
        stmt last(*conn_, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", "read audit head");
        if (last.step()) {
            e.set_seq(static_cast<std::uint64_t>(last.col_i64(0)) + 1);
            e.set_prev_hash(last.col_text(1));
        } else {
            if (last.failed()) return last.check().err();
            e.set_seq(1);
        }
    }
    *e.mutable_at() = TimeUtil::MillisecondsToTimestamp(at_ms);
    e.set_actor(actor);
    e.set_action(action);
    e.set_tenant(tenant);
    e.set_task_id(task_id);
    e.set_detail(detail);
    e.set_hash(audit_hash(e));
    stmt s(*conn_, "INSERT INTO audit(seq, at_ms, actor, action, tenant, task_id, detail, prev_hash, hash) VALUES(?,?,?,?,?,?,?,?,?)",
           "append audit entry");
    if (auto st = s.i64(static_cast<std::int64_t>(e.seq())).i64(at_ms).text(actor).text(action).text(tenant).text(task_id)
                      .text(detail).text(e.prev_hash()).text(e.hash()).run();
        !st)
        return st.err();
    return e;
}

namespace {
v1::AuditEntry audit_from(const stmt& s) {
    v1::AuditEntry e;
    e.set_seq(static_cast<std::uint64_t>(s.col_i64(0)));
    *e.mutable_at() = TimeUtil::MillisecondsToTimestamp(s.col_i64(1));
    e.set_actor(s.col_text(2));
    e.set_action(s.col_text(3));
    e.set_tenant(s.col_text(4));
    e.set_task_id(s.col_text(5));
    e.set_detail(s.col_text(6));
    e.set_prev_hash(s.col_text(7));
    e.set_hash(s.col_text(8));
    return e;
}
}  // namespace

result<std::vector<v1::AuditEntry>> store::audit(std::uint64_t after_seq, std::uint32_t limit, const std::string& task_id,
                                                 bool newest_first) {
    // Two fixed statements (not one with a spliced ORDER BY) so both stay in the statement cache.
    stmt s(*conn_,
           newest_first ? "SELECT seq, at_ms, actor, action, tenant, task_id, detail, prev_hash, hash FROM audit "
                          "WHERE seq > ? AND (? = '' OR task_id = ?) ORDER BY seq DESC LIMIT ?"
                        : "SELECT seq, at_ms, actor, action, tenant, task_id, detail, prev_hash, hash FROM audit "
                          "WHERE seq > ? AND (? = '' OR task_id = ?) ORDER BY seq LIMIT ?",
           "read audit");
    s.i64(static_cast<std::int64_t>(after_seq)).text(task_id).text(task_id).i64(limit == 0 ? 1000 : limit);
    std::vector<v1::AuditEntry> out;
    while (s.step()) out.push_back(audit_from(s));
    if (s.failed()) return s.check().err();
    return out;
}

result<v1::AuditVerification> store::verify_audit() {
    stmt s(*conn_, "SELECT seq, at_ms, actor, action, tenant, task_id, detail, prev_hash, hash FROM audit ORDER BY seq",
           "verify audit");
    v1::AuditVerification v;
    v.set_ok(true);
    std::string prev;
    std::uint64_t expect_seq = 1;
    while (s.step()) {
        const auto e = audit_from(s);
        v.set_entries(v.entries() + 1);
        if (e.seq() != expect_seq || e.prev_hash() != prev || audit_hash(e) != e.hash()) {
            v.set_ok(false);
            v.set_first_bad_seq(e.seq() != expect_seq ? expect_seq : e.seq());
            break;
        }
        prev = e.hash();
        ++expect_seq;
    }
    if (s.failed()) return s.check().err();
    // The head is what a checkpoint comparison needs, also (especially) when the chain is broken.
    auto head = audit_head();
    if (!head) return head.err();
    if (*head) {
        v.set_head_seq((*head)->seq());
        v.set_head_hash((*head)->hash());
    }
    return v;
}

result<std::optional<v1::AuditEntryHash>> store::audit_head() {
    stmt s(*conn_, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", "read audit head");
    if (!s.step()) {
        if (s.failed()) return s.check().err();
        return std::optional<v1::AuditEntryHash>{};
    }
    v1::AuditEntryHash h;
    h.set_seq(static_cast<std::uint64_t>(s.col_i64(0)));
    h.set_hash(s.col_text(1));
    return std::optional<v1::AuditEntryHash>(std::move(h));
}

result<std::optional<std::string>> store::audit_hash_at(std::uint64_t seq) {
    stmt s(*conn_, "SELECT hash FROM audit WHERE seq = ?", "read audit entry hash");
    s.i64(static_cast<std::int64_t>(seq));
    if (!s.step()) {
        if (s.failed()) return s.check().err();
        return std::optional<std::string>{};
    }
    return std::optional<std::string>(s.col_text(0));
}

// ---- alerts ----

namespace {
alert_row alert_from(const stmt& s) {
    alert_row a;
    a.fingerprint = s.col_text(0);
    a.tenant = s.col_text(1);
    a.active = s.col_i64(2) != 0;
    a.alert.ParseFromString(s.col_text(3));
    return a;
}
}  // namespace

result<std::vector<alert_row>> store::active_alerts(const std::string& tenant) {
    stmt s(*conn_, "SELECT fingerprint, tenant, active, alert FROM alerts WHERE active = 1 AND (? = '' OR tenant = ?)", "read alerts");
    s.text(tenant).text(tenant);
    std::vector<alert_row> out;
    while (s.step()) out.push_back(alert_from(s));
    if (s.failed()) return s.check().err();
    return out;
}

result<std::optional<alert_row>> store::alert(const std::string& fp) {
    stmt s(*conn_, "SELECT fingerprint, tenant, active, alert FROM alerts WHERE fingerprint = ?", "read alert");
    s.text(fp);
    if (!s.step()) {
        if (s.failed()) return s.check().err();
        return std::optional<alert_row>{};
    }
    return std::optional<alert_row>(alert_from(s));
}

result<std::vector<alert_row>> store::list_alerts(bool include_resolved, std::int64_t since_ms, const std::string& tenant,
                                                  v1::Severity min_severity, std::uint32_t limit) {
    // A cause's latest change is its resolve time when resolved, else its raise time.
    stmt s(*conn_,
           "SELECT fingerprint, tenant, active, alert FROM alerts "
           "WHERE (active = 1 OR ? = 1) AND (? = '' OR tenant = ?) AND severity >= ? "
           "AND (CASE WHEN active = 1 THEN raised_at_ms ELSE CASE WHEN resolved_at_ms > raised_at_ms THEN resolved_at_ms ELSE raised_at_ms END END) >= ? "
           "ORDER BY (CASE WHEN active = 1 THEN raised_at_ms ELSE CASE WHEN resolved_at_ms > raised_at_ms THEN resolved_at_ms ELSE raised_at_ms END END) DESC, "
           "fingerprint LIMIT ?",
           "list alerts");
    s.i64(include_resolved ? 1 : 0).text(tenant).text(tenant).i64(min_severity).i64(since_ms).i64(limit == 0 ? 1000 : limit);
    std::vector<alert_row> out;
    while (s.step()) out.push_back(alert_from(s));
    if (s.failed()) return s.check().err();
    return out;
}

status store::put_alert(const alert_row& a, std::int64_t at_ms) {
    const auto& al = a.alert;
    stmt s(*conn_,
           "INSERT INTO alerts(fingerprint, tenant, cause, severity, active, raised_at_ms, resolved_at_ms, alert) "
           "VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(fingerprint) DO UPDATE SET tenant=excluded.tenant, "
           "cause=excluded.cause, severity=excluded.severity, active=excluded.active, "
           "raised_at_ms=excluded.raised_at_ms, resolved_at_ms=excluded.resolved_at_ms, alert=excluded.alert",
           "store alert");
    if (auto st = s.text(a.fingerprint).text(a.tenant).text(al.cause()).i64(al.severity()).i64(a.active ? 1 : 0)
                      .i64(ts_ms(al.raised_at())).i64(al.has_resolved_at() ? ts_ms(al.resolved_at()) : 0)
                      .blob(al.SerializeAsString()).run();
        !st)
        return st;
    stmt h(*conn_, "INSERT INTO alert_history(fingerprint, tenant, cause, severity, state, at_ms) VALUES(?,?,?,?,?,?)",
           "append alert history");
    return h.text(a.fingerprint).text(a.tenant).text(al.cause()).i64(al.severity()).i64(al.state()).i64(at_ms).run();
}

result<std::int64_t> store::count_alert_history(const std::string& fp) {
    stmt s(*conn_, "SELECT count(*) FROM alert_history WHERE fingerprint = ?", "count alert history");
    s.text(fp);
    if (!s.step()) return s.check().err();
    return s.col_i64(0);
}

// ---- outboxes ----

status store::enqueue_mqtt(const mqtt_outbox_row& m, std::int64_t now_ms) {
    stmt s(*conn_,
           "INSERT INTO mqtt_outbox(topic, payload, retained, response_topic, correlation, created_at_ms) VALUES(?,?,?,?,?,?)",
           "queue MQTT publication");
    return s.text(m.topic).blob(m.payload).i64(m.retained ? 1 : 0).text(m.response_topic).blob(m.correlation_data).i64(now_ms).run();
}

result<std::vector<mqtt_outbox_row>> store::next_mqtt(int limit, std::int64_t after_seq) {
    stmt s(*conn_,
           "SELECT seq, topic, payload, retained, response_topic, correlation, attempts FROM mqtt_outbox WHERE seq > ? "
           "ORDER BY seq LIMIT ?",
           "read MQTT outbox");
    s.i64(after_seq).i64(limit);
    std::vector<mqtt_outbox_row> out;
    while (s.step())
        out.push_back({s.col_i64(0), s.col_text(1), s.col_text(2), s.col_i64(3) != 0, s.col_text(4), s.col_text(5),
                       static_cast<int>(s.col_i64(6))});
    if (s.failed()) return s.check().err();
    return out;
}

status store::delete_mqtt(std::int64_t seq) {
    stmt s(*conn_, "DELETE FROM mqtt_outbox WHERE seq = ?", "delete published MQTT message");
    return s.i64(seq).run();
}

status store::bump_mqtt_attempts(std::int64_t seq) {
    stmt s(*conn_, "UPDATE mqtt_outbox SET attempts = attempts + 1 WHERE seq = ?", "count MQTT attempt");
    return s.i64(seq).run();
}

status store::enqueue_webhook(const webhook_row& w, std::int64_t now_ms) {
    stmt s(*conn_,
           "INSERT INTO webhook_outbox(delivery_key, sink, url, body, created_at_ms, next_attempt_ms) "
           "VALUES(?,?,?,?,?,?) ON CONFLICT DO NOTHING",
           "queue webhook delivery");
    return s.text(w.delivery_key).text(w.sink).text(w.url).text(w.body).i64(now_ms).i64(now_ms).run();
}

result<std::vector<webhook_row>> store::due_webhooks(std::int64_t now_ms, int limit) {
    stmt s(*conn_,
           "SELECT id, delivery_key, sink, url, body, attempts, next_attempt_ms FROM webhook_outbox "
           "WHERE delivered_at_ms IS NULL AND gave_up = 0 AND next_attempt_ms <= ? ORDER BY id LIMIT ?",
           "read webhook outbox");
    s.i64(now_ms).i64(limit);
    std::vector<webhook_row> out;
    while (s.step())
        out.push_back({s.col_i64(0), s.col_text(1), s.col_text(2), s.col_text(3), s.col_text(4),
                       static_cast<int>(s.col_i64(5)), s.col_i64(6)});
    if (s.failed()) return s.check().err();
    return out;
}

status store::webhook_delivered(std::int64_t id, std::int64_t now_ms, long http_status) {
    stmt s(*conn_, "UPDATE webhook_outbox SET delivered_at_ms = ?, http_status = ?, attempts = attempts + 1 WHERE id = ?",
           "mark webhook delivered");
    return s.i64(now_ms).i64(http_status).i64(id).run();
}

status store::webhook_attempt_failed(std::int64_t id, std::int64_t next_ms, const std::string& error, bool give_up) {
    stmt s(*conn_,
           "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_ms = ?, last_error = ?, gave_up = ? WHERE id = ?",
           "record webhook failure");
    return s.i64(next_ms).text(error).i64(give_up ? 1 : 0).i64(id).run();
}

result<std::int64_t> store::pending_webhooks() {
    stmt s(*conn_, "SELECT count(*) FROM webhook_outbox WHERE delivered_at_ms IS NULL AND gave_up = 0", "count webhooks");
    if (!s.step()) return s.check().err();
    return s.col_i64(0);
}

result<store_gauges> store::gauges(std::int64_t now_ms, std::int64_t silence_ms) {
    store_gauges g;
    {
        stmt s(*conn_, "SELECT state, count(*) FROM tasks GROUP BY state", "count tasks by state");
        while (s.step()) g.tasks_by_state[static_cast<int>(s.col_i64(0))] = s.col_i64(1);
        if (auto st = s.check(); !st) return st.err();
    }
    {
        stmt s(*conn_, "SELECT count(*) FROM mqtt_outbox", "count the MQTT outbox");
        if (!s.step()) return s.check().err();
        g.mqtt_outbox = s.col_i64(0);
    }
    auto w = pending_webhooks();
    if (!w) return w.err();
    g.webhook_outbox = *w;
    {
        // Online: the last status said online and, with silence detection on, the agent was heard
        // from within its silence threshold (engine::silence_threshold: two poll intervals).
        stmt s(*conn_,
               "SELECT count(*) FROM agents WHERE state = 1 AND (CAST(?1 AS BIGINT) <= 0 OR last_seen_ms = 0 OR "
               "CAST(?2 AS BIGINT) - last_seen_ms <= CASE WHEN poll_interval_ms > 0 THEN 2 * poll_interval_ms ELSE CAST(?1 AS BIGINT) END)",
               "count online agents");
        s.i64(silence_ms).i64(now_ms);
        if (!s.step()) return s.check().err();
        g.agents_online = s.col_i64(0);
    }
    return g;
}

// ---- admin views ----

result<std::vector<v1::TenantSummary>> store::tenant_summaries() {
    stmt s(*conn_,
           "WITH t(tenant) AS (SELECT tenant FROM posture UNION SELECT tenant FROM agents UNION SELECT tenant FROM tasks) "
           "SELECT t.tenant, p.overall, p.collected_at_ms, p.received_at_ms, a.state, a.last_seen_ms, p.account_upn, "
           " (SELECT count(*) FROM tasks k WHERE k.tenant = t.tenant AND k.state BETWEEN 1 AND 5), "
           " (SELECT count(*) FROM alerts l WHERE l.tenant = t.tenant AND l.active = 1), p.failing_checks "
           "FROM t LEFT JOIN posture p ON p.tenant = t.tenant LEFT JOIN agents a ON a.tenant = t.tenant ORDER BY t.tenant",
           "list tenants");
    std::vector<v1::TenantSummary> out;
    while (s.step()) {
        v1::TenantSummary t;
        t.set_tenant(s.col_text(0));
        if (!s.col_null(1)) {
            t.set_overall(static_cast<v1::CheckStatus>(s.col_i64(1)));
            *t.mutable_last_report_at() = TimeUtil::MillisecondsToTimestamp(s.col_i64(3));
            t.set_account_upn(s.col_text(6));
            const std::string ids = s.col_text(9);
            for (std::size_t at = 0; at < ids.size();) {
                const auto end = std::min(ids.find(' ', at), ids.size());
                if (end > at) t.add_failing_checks(ids.substr(at, end - at));
                at = end + 1;
            }
        }
        if (!s.col_null(4)) {
            t.set_agent_state(static_cast<v1::AgentState>(s.col_i64(4)));
            *t.mutable_last_seen_at() = TimeUtil::MillisecondsToTimestamp(s.col_i64(5));
        }
        t.set_open_tasks(static_cast<std::uint32_t>(s.col_i64(7)));
        t.set_active_alerts(static_cast<std::uint32_t>(s.col_i64(8)));
        out.push_back(std::move(t));
    }
    if (s.failed()) return s.check().err();
    return out;
}

}  // namespace connguard::coord
