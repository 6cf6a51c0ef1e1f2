// The PostgreSQL backend of sql::connection (connection.h), on libpqxx. Statements run in
// autocommit or inside the explicit transaction the store opens (BEGIN … COMMIT sent as SQL);
// every libpqxx exception stops here and becomes an error code.
#include <pqxx/pqxx>

#include <algorithm>
#include <charconv>
#include <optional>
#include <unordered_map>
#include <vector>

#include "coordinator/sql/connection.h"

namespace connguard::coord::sql {

namespace {

constexpr unsigned bytea_oid = 17;  // pg_type.oid of bytea (stable since PostgreSQL 7)

error from_exception(std::string_view purpose, const std::exception& e) {
    std::string code = "store.sql";
    if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) code = "store.connection";
    else if (const auto* s = dynamic_cast<const pqxx::sql_error*>(&e)) {
        const std::string& state = s->sqlstate();
        if (state.rfind("23", 0) == 0) code = "store.constraint";            // integrity constraint violation
        else if (state == "40P01" || state == "40001" || state == "55P03") code = "store.busy";  // deadlock, serialization, lock
        else if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0) code = "store.connection";  // connection, shutdown
    }
    std::string msg = e.what();
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return make_error(code, "store: " + std::string(purpose) + (purpose.empty() ? "" : ": ") + msg);
}

std::string hex_bytea(std::string_view v) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out = "\\x";
    out.reserve(2 + 2 * v.size());
    for (const unsigned char c : v) {
        out += digits[c >> 4];
        out += digits[c & 0xf];
    }
    return out;
}

class postgres_connection;

class postgres_statement final : public statement {
public:
    postgres_statement(postgres_connection& conn, std::string name) : conn_(conn), name_(std::move(name)) {}
    const std::string& name() const { return name_; }

    void bind_text(int i, std::string_view v) override { slot(i) = std::string(v); }
    void bind_blob(int i, std::string_view v) override { slot(i) = hex_bytea(v); }
    void bind_i64(int i, std::int64_t v) override { slot(i) = std::to_string(v); }
    void bind_null(int i) override { slot(i) = std::nullopt; }

    bool step() override;
    bool failed() const override { return err_.has_value(); }
    error failure(std::string_view purpose) const override {
        if (!err_) return make_error("store.sql", "store: " + std::string(purpose) + ": no error");
        return make_error(err_->code, "store: " + std::string(purpose) + ": " + err_->message);
    }
    std::int64_t column_i64(int c) const override {
        const auto f = rows_[row_][c];
        if (f.is_null()) return 0;
        std::int64_t v = 0;
        const char* s = f.c_str();
        std::from_chars(s, s + f.size(), v);
        return v;
    }
    bool column_null(int c) const override { return rows_[row_][c].is_null(); }
    std::string column_bytes(int c) const override {
        const auto f = rows_[row_][c];
        if (f.is_null()) return {};
        if (rows_.column_type(c) == bytea_oid) return pqxx::binarystring(f).str();
        return std::string(f.c_str(), f.size());
    }
    void reset() override {
        params_.clear();
        rows_ = pqxx::result();
        row_ = -1;
        ran_ = false;
        err_.reset();
    }

private:
    std::optional<std::string>& slot(int i) {
        if (params_.size() < static_cast<std::size_t>(i)) params_.resize(static_cast<std::size_t>(i));
        return params_[static_cast<std::size_t>(i) - 1];
    }
    postgres_connection& conn_;
    std::string name_;
    std::vector<std::optional<std::string>> params_;
    pqxx::result rows_;
    long row_ = -1;
    bool ran_ = false;
    std::optional<error> err_;
};

class postgres_connection final : public connection {
public:
    postgres_connection(std::unique_ptr<pqxx::connection> c, std::string url) : c_(std::move(c)), url_(std::move(url)) {}

    dialect kind() const override { return dialect::postgres; }

    result<statement*> prepare(const std::string& sql) override {
        if (auto it = cache_.find(sql); it != cache_.end()) return it->second.get();
        if (auto st = connect_again_if_lost(); !st) return st.err();
        const std::string name = "s" + std::to_string(cache_.size() + 1);
        try {
            c_->prepare(name, numbered_placeholders(sql));
        } catch (const std::exception& e) {
            return from_exception("prepare", e);
        }
        auto& slot = cache_[sql];
        slot = std::make_unique<postgres_statement>(*this, name);
        return slot.get();
    }

    status exec(const std::string& sql) override {
        auto r = run([&](pqxx::nontransaction& tx) { return tx.exec(sql); }, "");
        if (!r) return r.err();
        if (sql.rfind("ROLLBACK TO", 0) == 0) aborted_ = false;  // the failed part is undone
        return {};
    }

    std::int64_t changes() const override { return changes_; }

    result<bool> begin_write(bool wait) override {
        if (auto st = exec("BEGIN"); !st) return st.err();
        in_transaction_ = true;
        aborted_ = false;
        transaction_backend_ = c_ ? c_->backendpid() : 0;
        const std::string lock = std::string(wait ? "SELECT pg_advisory_xact_lock(" : "SELECT pg_try_advisory_xact_lock(") +
                                 std::to_string(advisory_lock_namespace) + "," + std::to_string(writer_lock) + ")";
        auto r = run([&](pqxx::nontransaction& tx) { return tx.exec(lock); }, "take the writer lock");
        if (!r) {
            rollback();
            return r.err();
        }
        if (!wait && !(r->size() == 1 && std::string_view((*r)[0][0].c_str()) == "t")) {
            rollback();
            return false;
        }
        return true;
    }

    status commit() override {
        // The connection died with it (or, belt and braces, the session changed under it): the
        // server rolled it back.
        if (!in_transaction_ || !c_ || c_->backendpid() != transaction_backend_) {
            in_transaction_ = false;
            return make_error("store.connection",
                              "store: commit: the transaction was lost with the connection to PostgreSQL; nothing of it "
                              "was committed");
        }
        if (aborted_) {
            rollback();
            return make_error("store.sql", "store: commit: a statement of this transaction failed; rolled back");
        }
        // PostgreSQL answers COMMIT of a failed transaction with ROLLBACK, not an error: aborted_
        // (any failed statement since BEGIN that no ROLLBACK TO repaired) is checked above.
        auto r = run([&](pqxx::nontransaction& tx) { return tx.exec("COMMIT"); }, "commit");
        in_transaction_ = false;
        if (!r) return r.err();
        return {};
    }

    void rollback() override {
        if (!in_transaction_) return;
        (void)run([&](pqxx::nontransaction& tx) { return tx.exec("ROLLBACK"); }, "rollback");
        in_transaction_ = false;
        aborted_ = false;
    }

    bool in_transaction() const override { return in_transaction_; }
    std::string describe() const override { return redact_url(url_); }

    /// Runs `f` on a short-lived nontransaction (libpqxx allows one transaction object at a time);
    /// records affected rows and the failed-transaction state.
    template <class F>
    result<pqxx::result> run(F&& f, std::string_view purpose) {
        if (auto st = connect_again_if_lost(); !st) return st.err();
        try {
            pqxx::nontransaction tx(*c_);
            pqxx::result r = f(tx);
            changes_ = static_cast<std::int64_t>(r.affected_rows());
            return r;
        } catch (const std::exception& e) {
            auto err = from_exception(purpose, e);
            if (err.code == "store.connection") {
                // The server ended the session and rolled its transaction back; the next call
                // connects again (explicitly: a new session has none of the old one's state).
                in_transaction_ = false;
                aborted_ = false;
                c_.reset();
            } else if (in_transaction_) {
                aborted_ = true;
            }
            return err;
        }
    }

    /// After a lost connection: a new session, with every cached statement prepared again.
    status connect_again_if_lost() {
        if (c_) return {};
        try {
            auto c = std::make_unique<pqxx::connection>(url_);
            for (const auto& [sql, st] : cache_) c->prepare(st->name(), numbered_placeholders(sql));
            c_ = std::move(c);
            return {};
        } catch (const std::exception& e) {
            auto err = from_exception("connect again", e);
            err.code = "store.connection";
            return err;
        }
    }

    result<pqxx::result> exec_prepared(const std::string& name, const std::vector<std::optional<std::string>>& params) {
        std::vector<const char*> values;
        values.reserve(params.size());
        for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
        return run([&](pqxx::nontransaction& tx) { return tx.exec_prepared(name, pqxx::prepare::make_dynamic_params(values)); },
                   "");
    }

private:
    std::unique_ptr<pqxx::connection> c_;  ///< null after a lost connection, until the next call
    std::string url_;
    std::unordered_map<std::string, std::unique_ptr<postgres_statement>> cache_;
    std::int64_t changes_ = 0;
    bool in_transaction_ = false;
    bool aborted_ = false;
    int transaction_backend_ = 0;  ///< the server process of the open transaction's session
};

bool postgres_statement::step() {
    if (err_) return false;
    if (!ran_) {
        ran_ = true;
        auto r = conn_.exec_prepared(name_, params_);
        if (!r) {
            err_ = r.err();
            // from_exception put "store: " in front; failure() adds its own prefix.
            if (err_->message.rfind("store: ", 0) == 0) err_->message.erase(0, 7);
            return false;
        }
        rows_ = std::move(*r);
        row_ = 0;
    } else {
        ++row_;
    }
    return row_ < static_cast<long>(rows_.size());
}

}  // namespace

bool is_postgres_url(std::string_view location) {
    return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}

std::string redact_url(std::string_view url) {
    std::string out(url);
    // user:password@host
    const auto scheme = out.find("://");
    if (scheme != std::string::npos) {
        const auto auth_end = out.find('@', scheme + 3);
        const auto path = out.find('/', scheme + 3);
        const auto colon = out.find(':', scheme + 3);
        if (auth_end != std::string::npos && (path == std::string::npos || auth_end < path) && colon < auth_end)
            out = out.substr(0, colon + 1) + "***" + out.substr(auth_end);
    }
    // ?password=… / &password=…
    for (auto at = out.find("password="); at != std::string::npos; at = out.find("password=", at + 1)) {
        if (at == 0 || (out[at - 1] != '?' && out[at - 1] != '&')) continue;
        const auto value = at + 9;
        const auto end = std::min(out.find('&', value), out.size());
        out = out.substr(0, value) + "***" + out.substr(end);
    }
    return out;
}

std::string numbered_placeholders(std::string_view sql) {
    std::string out;
    out.reserve(sql.size() + 16);
    int largest = 0;
    char quote = 0;
    for (std::size_t i = 0; i < sql.size(); ++i) {
        const char c = sql[i];
        if (quote != 0) {
            out += c;
            if (c == quote) quote = 0;
            continue;
        }
        if (c == '\'' || c == '"') {
            quote = c;
            out += c;
            continue;
        }
        if (c != '?') {
            out += c;
            continue;
        }
        std::size_t j = i + 1;
        int n = 0;
        while (j < sql.size() && sql[j] >= '0' && sql[j] <= '9') n = n * 10 + (sql[j++] - '0');
        if (j == i + 1) n = largest + 1;
        largest = std::max(largest, n);
        out += '$';
        out += std::to_string(n);
        i = j - 1;
    }
    return out;
}

result<std::unique_ptr<connection>> open_postgres(const std::string& url) {
    try {
        auto c = std::make_unique<pqxx::connection>(url);
        return std::unique_ptr<connection>(std::make_unique<postgres_connection>(std::move(c), url));
    } catch (const std::exception& e) {
        std::string msg = e.what();
        while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
        return make_error("store.open", redact_url(url) + ": cannot connect to PostgreSQL: " + msg);
    }
}

}  // namespace connguard::coord::sql
