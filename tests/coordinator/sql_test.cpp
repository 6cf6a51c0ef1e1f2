// The store's SQL layer (coordinator/sql/connection.h) on both backends — a real SQLite file and a
// real PostgreSQL database (skipped with the reason where PostgreSQL is not installed) — and the
// store's PostgreSQL configuration (store.url, store.passwordFile).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "coordinator/config.h"
#include "coordinator/duty_lock.h"
#include "coordinator/sql/connection.h"
#include "coordinator/store.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/support/util.h"

namespace connguard::coord {
namespace {

using namespace test;

TEST(SqlText, SqlitePlaceholdersBecomeNumberedOnesAndQuotedTextIsLeftAlone) {
    EXPECT_EQ(sql::numbered_placeholders("SELECT a FROM t WHERE b = ? AND c = ?"), "SELECT a FROM t WHERE b = $1 AND c = $2");
    EXPECT_EQ(sql::numbered_placeholders("WHERE ?1 = '' OR tenant = ?1"), "WHERE $1 = '' OR tenant = $1");
    // SQLite's rule: a bare ? is one more than the largest number so far.
    EXPECT_EQ(sql::numbered_placeholders("?2, ?, ?1, ?"), "$2, $3, $1, $4");
    EXPECT_EQ(sql::numbered_placeholders("SELECT '?', \"a?b\" WHERE x = ?"), "SELECT '?', \"a?b\" WHERE x = $1");
    EXPECT_EQ(sql::numbered_placeholders("SELECT 'it''s ?' WHERE x = ?"), "SELECT 'it''s ?' WHERE x = $1");
}

TEST(SqlText, UrlsShowNoPassword) {
    EXPECT_EQ(sql::redact_url("postgresql://cg:s3cret@db.example:5432/connguard"), "postgresql://cg:***@db.example:5432/connguard");
    EXPECT_EQ(sql::redact_url("postgresql://cg@db.example/connguard?sslmode=require&password=s3cret&x=1"),
              "postgresql://cg@db.example/connguard?sslmode=require&password=***&x=1");
    EXPECT_EQ(sql::redact_url("postgresql://cg@db.example/connguard?password=s3cret"), "postgresql://cg@db.example/connguard?password=***");
    EXPECT_EQ(sql::redact_url("postgresql://db.example:5432/connguard"), "postgresql://db.example:5432/connguard");
    EXPECT_TRUE(sql::is_postgres_url("postgresql://h/d"));
    EXPECT_TRUE(sql::is_postgres_url("postgres://h/d"));
    EXPECT_FALSE(sql::is_postgres_url("/var/lib/connguard/coordinator.db"));
}

/// Each test once per backend.
class SqlConnection : public ::testing::TestWithParam<sql::dialect> {
protected:
    void SetUp() override {
        if (GetParam() == sql::dialect::postgres) {
            if (const auto why = postgres_server::unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
            auto c = sql::open_postgres(shared_postgres().create_database());
            ASSERT_TRUE(c) << c.err().message;
            c_ = std::move(*c);
        } else {
            auto c = sql::open_sqlite(dir_.path() / "t.db", {});
            ASSERT_TRUE(c) << c.err().message;
            c_ = std::move(*c);
        }
        ASSERT_TRUE(c_->exec("CREATE TABLE t(k TEXT PRIMARY KEY, n BIGINT NOT NULL)"));
    }
    std::int64_t count() {
        auto s = c_->prepare("SELECT count(*) FROM t");
        EXPECT_TRUE(s);
        if (!s) return -1;
        const auto n = (*s)->step() ? (*s)->column_i64(0) : -1;
        (*s)->reset();
        return n;
    }
    status insert(const std::string& k, std::int64_t n) {
        auto s = c_->prepare("INSERT INTO t(k, n) VALUES(?, ?)");
        if (!s) return s.err();
        (*s)->bind_text(1, k);
        (*s)->bind_i64(2, n);
        (*s)->step();
        status st;
        if ((*s)->failed()) st = (*s)->failure("insert");
        (*s)->reset();
        return st;
    }
    temp_dir dir_;
    std::unique_ptr<sql::connection> c_;
};

TEST_P(SqlConnection, AFailedStatementInATransactionIsNeverReportedAsCommitted) {
    ASSERT_TRUE(insert("a", 1));
    ASSERT_TRUE(c_->begin_write(true));
    ASSERT_TRUE(insert("b", 2));
    const auto dup = insert("a", 3);
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.err().code, "store.constraint") << dup.err().message;
    EXPECT_NE(dup.err().message.find("insert"), std::string::npos) << dup.err().message;
    if (GetParam() == sql::dialect::postgres) {
        // PostgreSQL would answer this COMMIT with ROLLBACK; the connection says so instead of "ok".
        EXPECT_FALSE(c_->commit());
        EXPECT_EQ(count(), 1) << "b was rolled back with the failed transaction";
    } else {
        EXPECT_TRUE(c_->commit());  // SQLite undoes only the failed statement
        EXPECT_EQ(count(), 2);
    }
    EXPECT_FALSE(c_->in_transaction());
}

TEST_P(SqlConnection, ASavepointRolledBackRepairsTheTransaction) {
    ASSERT_TRUE(c_->begin_write(true));
    ASSERT_TRUE(insert("a", 1));
    ASSERT_TRUE(c_->exec("SAVEPOINT msg"));
    ASSERT_FALSE(insert("a", 2));
    ASSERT_TRUE(c_->exec("ROLLBACK TO msg"));
    ASSERT_TRUE(c_->exec("RELEASE msg"));
    ASSERT_TRUE(insert("b", 2));
    EXPECT_TRUE(c_->commit());
    EXPECT_EQ(count(), 2);
}

TEST_P(SqlConnection, BytesAndLargeIntegersRoundTrip) {
    ASSERT_TRUE(c_->exec(GetParam() == sql::dialect::postgres ? "CREATE TABLE b(id BIGINT, v BYTEA)" : "CREATE TABLE b(id BIGINT, v BLOB)"));
    std::string bytes;
    for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
    bytes += std::string("\0\\x'\"", 5);
    auto ins = c_->prepare("INSERT INTO b(id, v) VALUES(?, ?)");
    ASSERT_TRUE(ins);
    (*ins)->bind_i64(1, 9'007'199'254'740'993LL);  // beyond int32 and double precision
    (*ins)->bind_blob(2, bytes);
    (*ins)->step();
    ASSERT_FALSE((*ins)->failed()) << (*ins)->failure("insert").message;
    (*ins)->reset();
    auto sel = c_->prepare("SELECT id, v FROM b");
    ASSERT_TRUE(sel);
    ASSERT_TRUE((*sel)->step());
    EXPECT_EQ((*sel)->column_i64(0), 9'007'199'254'740'993LL);
    EXPECT_EQ((*sel)->column_bytes(1), bytes);
    EXPECT_FALSE((*sel)->step());
    (*sel)->reset();
}

TEST_P(SqlConnection, OneWriterAtATimeAcrossConnections) {
    std::unique_ptr<sql::connection> other;
    if (GetParam() == sql::dialect::postgres) {
        auto o = sql::open_postgres(c_->describe());  // no password in these URLs
        ASSERT_TRUE(o) << o.err().message;
        other = std::move(*o);
    } else {
        auto o = sql::open_sqlite(dir_.path() / "t.db", {});
        ASSERT_TRUE(o) << o.err().message;
        other = std::move(*o);
    }
    ASSERT_TRUE(c_->begin_write(true));
    auto busy = other->begin_write(false);
    ASSERT_TRUE(busy) << busy.err().message;
    EXPECT_FALSE(*busy) << "a second writer while the first holds the writer lock";
    EXPECT_FALSE(other->in_transaction());
    ASSERT_TRUE(c_->commit());
    auto free = other->begin_write(false);
    ASSERT_TRUE(free) << free.err().message;
    EXPECT_TRUE(*free);
    other->rollback();
}

INSTANTIATE_TEST_SUITE_P(Backends, SqlConnection, ::testing::Values(sql::dialect::sqlite, sql::dialect::postgres),
                         [](const auto& info) { return info.param == sql::dialect::sqlite ? "SQLite" : "PostgreSQL"; });

TEST(SqlConnectionLost, ATransactionCutByAServerCrashIsNeverACommitAndTheNextCallConnectsAgain) {
    if (const auto why = postgres_server::unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    postgres_server pg;  // its own server: this test crashes it
    auto opened = sql::open_postgres(pg.create_database());
    ASSERT_TRUE(opened) << opened.err().message;
    auto& c = **opened;
    ASSERT_TRUE(c.exec("CREATE TABLE t(k TEXT PRIMARY KEY)"));
    auto insert = [&](const std::string& k) -> status {
        auto s = c.prepare("INSERT INTO t(k) VALUES(?)");
        if (!s) return s.err();
        (*s)->bind_text(1, k);
        (*s)->step();
        status st;
        if ((*s)->failed()) st = (*s)->failure("insert");
        (*s)->reset();
        return st;
    };
    ASSERT_TRUE(insert("before"));
    ASSERT_TRUE(c.begin_write(true));
    ASSERT_TRUE(insert("in the cut transaction"));
    pg.kill();
    pg.start();
    const auto cut = insert("after the crash");
    ASSERT_FALSE(cut) << "a statement on a dead session";
    EXPECT_EQ(cut.err().code, "store.connection") << cut.err().message;
    const auto commit = c.commit();
    ASSERT_FALSE(commit) << "COMMIT of a transaction the crash rolled back";
    EXPECT_EQ(commit.err().code, "store.connection") << commit.err().message;
    EXPECT_FALSE(c.in_transaction());
    // The next call connects again; the cached statement works in the new session.
    ASSERT_TRUE(insert("next")) << "no new session after the crash";
    auto rows = c.prepare("SELECT k FROM t ORDER BY k");
    ASSERT_TRUE(rows);
    std::vector<std::string> keys;
    while ((*rows)->step()) keys.push_back((*rows)->column_bytes(0));
    (*rows)->reset();
    EXPECT_EQ(keys, (std::vector<std::string>{"before", "next"}));
}

TEST(DutyLock, OneHolderAtATimeAndTheNextTakesOverWhenTheHolderGoes) {
    if (const auto why = postgres_server::unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    const auto url = shared_postgres().create_database();
    auto a = duty_lock::open(url, duty::webhooks, std::chrono::milliseconds{0});
    auto b = duty_lock::open(url, duty::webhooks, std::chrono::milliseconds{0});
    auto other_duty = duty_lock::open(url, duty::clock, std::chrono::milliseconds{0});
    ASSERT_TRUE(a && b && other_duty);
    EXPECT_TRUE((*a)->held());
    EXPECT_FALSE((*b)->held());
    EXPECT_TRUE((*a)->held()) << "the holder keeps it (and does not stack it)";
    EXPECT_TRUE((*other_duty)->held()) << "duties are independent";
    a->reset();  // the holder's connection closes, as when its process dies
    // The server releases the lock when it has noticed (its backend exits): the next try after that.
    EXPECT_TRUE(eventually([&] { return (*b)->held(); }));
    // SQLite: one coordinator per file, every duty is its own.
    auto local = duty_lock::open("/tmp/unused.db", duty::webhooks);
    ASSERT_TRUE(local);
    EXPECT_TRUE((*local)->held());
}

// ---- configuration ----

class StoreConfig : public ::testing::Test {
protected:
    void SetUp() override {
        write("pw", "broker-password\n", 0600);
        write("pg-pw", "p@ss word/ü\n", 0600);
    }
    void write(const std::string& name, const std::string& text, mode_t mode) {
        std::ofstream(dir_.path() / name) << text;
        ::chmod((dir_.path() / name).c_str(), mode);
    }
    result<coordinator_config> load(const nlohmann::json& store) {
        nlohmann::json j = {{"broker", {{"url", "tcp://127.0.0.1:1883"}, {"username", "coordinator"}, {"passwordFile", "pw"}}},
                            {"store", store}};
        std::ofstream(dir_.path() / "c.json") << j.dump();
        return load_config(dir_.path() / "c.json");
    }
    temp_dir dir_;
};

TEST_F(StoreConfig, APostgresUrlWithItsPasswordFromA0600File) {
    auto c = load({{"url", "postgresql://connguard@db.example:5432/connguard"}, {"passwordFile", "pg-pw"}});
    ASSERT_TRUE(c) << c.err().message;
    EXPECT_TRUE(c->db_path.empty());
    EXPECT_EQ(c->store_url, "postgresql://connguard@db.example:5432/connguard");
    EXPECT_EQ(c->store_location(), "postgresql://connguard@db.example:5432/connguard?password=p%40ss%20word%2F%C3%BC");
    EXPECT_EQ(sql::redact_url(c->store_location()), "postgresql://connguard@db.example:5432/connguard?password=***");
    auto sqlite = load({{"path", "c.db"}});
    ASSERT_TRUE(sqlite) << sqlite.err().message;
    EXPECT_EQ(sqlite->store_location(), (dir_.path() / "c.db").string());
}

TEST_F(StoreConfig, RefusesBothStoresAPasswordInTheUrlAReadablePasswordFileAndANonPostgresUrl) {
    auto both = load({{"url", "postgresql://cg@db/connguard"}, {"path", "c.db"}});
    ASSERT_FALSE(both);
    EXPECT_NE(both.err().message.find("not both"), std::string::npos) << both.err().message;
    auto inline_password = load({{"url", "postgresql://cg:secret@db/connguard"}});
    ASSERT_FALSE(inline_password);
    EXPECT_NE(inline_password.err().message.find("store.passwordFile"), std::string::npos) << inline_password.err().message;
    EXPECT_EQ(inline_password.err().message.find("secret"), std::string::npos) << "the password is not repeated";
    write("pg-pw", "x\n", 0644);
    auto readable = load({{"url", "postgresql://cg@db/connguard"}, {"passwordFile", "pg-pw"}});
    ASSERT_FALSE(readable);
    EXPECT_NE(readable.err().message.find("store.passwordFile"), std::string::npos) << readable.err().message;
    auto mysql = load({{"url", "mysql://cg@db/connguard"}});
    ASSERT_FALSE(mysql);
    EXPECT_NE(mysql.err().message.find("PostgreSQL URL"), std::string::npos) << mysql.err().message;
    auto stray = load({{"path", "c.db"}, {"passwordFile", "pg-pw"}});
    ASSERT_FALSE(stray);
}

TEST_F(StoreConfig, CheckConfigTriesThePostgresLogin) {
    const std::string url = "postgresql://cg@127.0.0.1:" + std::to_string(free_port()) + "/connguard?connect_timeout=2";
    auto c = load({{"url", url}, {"passwordFile", "pg-pw"}});
    ASSERT_TRUE(c) << c.err().message;
    auto st = check_startable(*c, dir_.path() / "c.json");
    ASSERT_FALSE(st);
    EXPECT_NE(st.err().message.find("field 'store.url'"), std::string::npos) << st.err().message;
    EXPECT_NE(st.err().message.find("cannot connect to PostgreSQL"), std::string::npos) << st.err().message;
    EXPECT_EQ(st.err().message.find("p@ss"), std::string::npos) << "the password stays out";
    EXPECT_EQ(st.err().message.find("p%40ss"), std::string::npos) << "the password stays out";
}

TEST(StoreOpen, AnUnreachablePostgresIsAClearErrorWithoutThePassword) {
    const int port = free_port();  // nothing listens there
    auto s = store::open("postgresql://cg@127.0.0.1:" + std::to_string(port) + "/connguard?password=s3cret&connect_timeout=2");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.err().code, "store.open");
    EXPECT_NE(s.err().message.find("cannot connect to PostgreSQL"), std::string::npos) << s.err().message;
    EXPECT_EQ(s.err().message.find("s3cret"), std::string::npos) << s.err().message;
}

}  // namespace
}  // namespace connguard::coord
