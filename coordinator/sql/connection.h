#pragma once
// The store's narrow view of a SQL database (coordinator/store.h sits on it): prepared statements
// with positional parameters, plain statements, and one rule for writers. Two backends:
//   - SQLite: the embedded default, one coordinator on one machine (sqlite_connection.cpp);
//   - PostgreSQL through libpqxx: several coordinators on one database (postgres_connection.cpp).
//
// SQL text is written once, in the subset both engines accept (`INSERT … ON CONFLICT … DO
// NOTHING/UPDATE`, CASE instead of scalar max(), BIGINT-safe casts) with SQLite's `?` / `?N`
// placeholders; the PostgreSQL backend rewrites them to `$N` (numbered_placeholders). Only the
// schema (DDL) is written per backend (store.cpp's migrations).
//
// Writers: begin_write() makes one writer at a time across every connection to the database —
// SQLite's BEGIN IMMEDIATE, PostgreSQL's BEGIN plus a transaction-scoped advisory lock. The
// engine's read-decide-write steps (one open task per cause, the hash-chained audit log, outbox
// sequence order) therefore behave identically whichever coordinator runs them.
//
// A connection and its statements belong to one thread. Nothing here throws: errors carry a code
// (store.busy, store.constraint, store.connection, store.sql) and the database's message.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

struct sqlite3;

namespace connguard::coord::sql {

enum class dialect { sqlite, postgres };

/// PostgreSQL advisory locks are taken with two int4 keys: this namespace ("CGGD") and a lock
/// number — 0 the writer lock (begin_write), the others coordinator/duty_lock.h's duties.
inline constexpr int advisory_lock_namespace = 0x43474744;
inline constexpr int writer_lock = 0;

/// One prepared statement, owned and cached by its connection. Bind parameters (1-based), then
/// step(): the first call runs the statement, each call moves to the next row.
class statement {
public:
    virtual ~statement() = default;
    virtual void bind_text(int index, std::string_view v) = 0;
    /// Bytes for a BLOB (SQLite) / BYTEA (PostgreSQL) column.
    virtual void bind_blob(int index, std::string_view v) = 0;
    virtual void bind_i64(int index, std::int64_t v) = 0;
    virtual void bind_null(int index) = 0;
    /// True when a row is available; false when done or failed (failed() tells which).
    virtual bool step() = 0;
    virtual bool failed() const = 0;
    /// The failure, with `purpose` (what the caller was doing) in front of the database's message.
    virtual error failure(std::string_view purpose) const = 0;
    virtual std::int64_t column_i64(int c) const = 0;
    virtual bool column_null(int c) const = 0;
    /// The column's bytes (TEXT as is, BLOB/BYTEA decoded).
    virtual std::string column_bytes(int c) const = 0;
    /// Ready for the next use: parameters cleared, rows released.
    virtual void reset() = 0;
};

class connection {
public:
    virtual ~connection() = default;
    virtual dialect kind() const = 0;
    /// The cached statement for `sql`, prepared on first use.
    virtual result<statement*> prepare(const std::string& sql) = 0;
    /// Runs SQL that returns no rows (one or more statements).
    virtual status exec(const std::string& sql) = 0;
    /// Rows changed by the last INSERT / UPDATE / DELETE statement.
    virtual std::int64_t changes() const = 0;
    /// Starts the write transaction (see the file comment). `wait` false: returns false at once,
    /// with no transaction open, when another connection is writing.
    virtual result<bool> begin_write(bool wait) = 0;
    /// COMMIT; an error when the database rolled the transaction back instead.
    virtual status commit() = 0;
    /// Rolls back the open transaction, if any.
    virtual void rollback() = 0;
    virtual bool in_transaction() const = 0;
    /// Where it points, for logs (a PostgreSQL URL without its password).
    virtual std::string describe() const = 0;
    /// The SQLite handle (WAL checkpoints); nullptr for other backends.
    virtual sqlite3* sqlite_handle() { return nullptr; }
};

struct sqlite_options {
    bool synchronous_full = false;
    int busy_timeout_ms = 10000;
    int wal_autocheckpoint_pages = 0;  ///< 0 = SQLite's default
};

result<std::unique_ptr<connection>> open_sqlite(const std::filesystem::path& path, const sqlite_options& o);
/// `url`: postgresql://[user[:password]@]host[:port]/dbname[?param=value…] (libpq's URI form).
result<std::unique_ptr<connection>> open_postgres(const std::string& url);

/// True for a store location that names a PostgreSQL database (postgresql:// or postgres://).
bool is_postgres_url(std::string_view location);
/// The URL with its password replaced by "***" (for logs and errors).
std::string redact_url(std::string_view url);
/// SQLite placeholders rewritten to PostgreSQL's: `?N` -> `$N`, a bare `?` -> one more than the
/// largest number so far (SQLite's rule). Quoted text ('…', "…") is left alone.
std::string numbered_placeholders(std::string_view sql);

}  // namespace connguard::coord::sql
