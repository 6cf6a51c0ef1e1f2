// The SQLite backend of sql::connection (connection.h): WAL, one connection per thread.
#include <sqlite3.h>

#include <unordered_map>

#include "coordinator/sql/connection.h"

namespace connguard::coord::sql {

namespace {

std::string code_of(int rc) {
    switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED: return "store.busy";
        case SQLITE_CONSTRAINT: return "store.constraint";
        default: return "store.sql";
    }
}

class sqlite_statement final : public statement {
public:
    sqlite_statement(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
    ~sqlite_statement() override { sqlite3_finalize(s_); }
    sqlite_statement(const sqlite_statement&) = delete;
    sqlite_statement& operator=(const sqlite_statement&) = delete;

    void bind_text(int i, std::string_view v) override {
        keep(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    }
    void bind_blob(int i, std::string_view v) override {
        keep(sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    }
    void bind_i64(int i, std::int64_t v) override { keep(sqlite3_bind_int64(s_, i, v)); }
    void bind_null(int i) override { keep(sqlite3_bind_null(s_, i)); }

    bool step() override {
        if (failed()) return false;
        rc_ = sqlite3_step(s_);
        return rc_ == SQLITE_ROW;
    }
    bool failed() const override { return rc_ != SQLITE_OK && rc_ != SQLITE_ROW && rc_ != SQLITE_DONE; }
    error failure(std::string_view purpose) const override {
        return make_error(code_of(rc_), "store: " + std::string(purpose) + ": " + sqlite3_errmsg(db_));
    }
    std::int64_t column_i64(int c) const override { return sqlite3_column_int64(s_, c); }
    bool column_null(int c) const override { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
    std::string column_bytes(int c) const override {
        const auto* p = sqlite3_column_blob(s_, c);
        const int n = sqlite3_column_bytes(s_, c);
        return p ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string();
    }
    void reset() override {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
        rc_ = SQLITE_OK;
    }

private:
    void keep(int rc) {
        if (rc != SQLITE_OK && !failed()) rc_ = rc;
    }
    sqlite3* db_;
    sqlite3_stmt* s_;
    int rc_ = SQLITE_OK;
};

class sqlite_connection final : public connection {
public:
    sqlite_connection(sqlite3* db, std::filesystem::path path, int busy_timeout_ms)
        : db_(db), path_(std::move(path)), busy_timeout_ms_(busy_timeout_ms) {}
    ~sqlite_connection() override {
        cache_.clear();  // finalize the statements before closing
        sqlite3_close_v2(db_);
    }
    sqlite_connection(const sqlite_connection&) = delete;
    sqlite_connection& operator=(const sqlite_connection&) = delete;

    dialect kind() const override { return dialect::sqlite; }

    result<statement*> prepare(const std::string& sql) override {
        if (auto it = cache_.find(sql); it != cache_.end()) return it->second.get();
        sqlite3_stmt* s = nullptr;
        const int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr);
        if (rc != SQLITE_OK) {
            sqlite3_finalize(s);
            return make_error(code_of(rc), sqlite3_errmsg(db_));
        }
        auto& slot = cache_[sql];
        slot = std::make_unique<sqlite_statement>(db_, s);
        return slot.get();
    }

    status exec(const std::string& sql) override {
        char* msg = nullptr;
        const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg);
        if (rc == SQLITE_OK) return {};
        std::string m = msg ? msg : sqlite3_errstr(rc);
        sqlite3_free(msg);
        return make_error(code_of(rc), "store: " + m);
    }

    std::int64_t changes() const override { return sqlite3_changes(db_); }

    result<bool> begin_write(bool wait) override {
        if (!wait) sqlite3_busy_timeout(db_, 0);
        auto st = exec("BEGIN IMMEDIATE");
        if (!wait) sqlite3_busy_timeout(db_, busy_timeout_ms_);
        if (st) return true;
        if (!wait && st.err().code == "store.busy") return false;
        return st.err();
    }
    status commit() override { return exec("COMMIT"); }
    void rollback() override {
        if (in_transaction()) (void)exec("ROLLBACK");
    }
    bool in_transaction() const override { return sqlite3_get_autocommit(db_) == 0; }
    std::string describe() const override { return path_.string(); }
    sqlite3* sqlite_handle() override { return db_; }

private:
    sqlite3* db_;
    std::filesystem::path path_;
    int busy_timeout_ms_;
    std::unordered_map<std::string, std::unique_ptr<sqlite_statement>> cache_;
};

}  // namespace

result<std::unique_ptr<connection>> open_sqlite(const std::filesystem::path& path, const sqlite_options& o) {
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string m = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close_v2(db);
        return make_error("store.open", path.string() + ": cannot open database: " + m);
    }
    auto c = std::make_unique<sqlite_connection>(db, path, o.busy_timeout_ms);
    sqlite3_busy_timeout(db, o.busy_timeout_ms);
    for (const std::string& pragma : {std::string("PRAGMA journal_mode=WAL"),
                                     std::string("PRAGMA synchronous=") + (o.synchronous_full ? "FULL" : "NORMAL"),
                                     std::string("PRAGMA foreign_keys=ON"),
                                     o.wal_autocheckpoint_pages > 0
                                         ? "PRAGMA wal_autocheckpoint=" + std::to_string(o.wal_autocheckpoint_pages)
                                         : std::string("SELECT 1")}) {
        if (auto st = c->exec(pragma); !st) return make_error("store.open", path.string() + ": " + st.err().message);
    }
    return std::unique_ptr<connection>(std::move(c));
}

}  // namespace connguard::coord::sql
