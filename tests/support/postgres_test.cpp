// tests/support/postgres.h against the real PostgreSQL server binaries: databases are separate,
// a killed server recovers its committed data, the unit-test speed settings apply only when asked,
// and destruction leaves no server and no directory behind. Skipped when PostgreSQL is not installed.
#include "tests/support/postgres.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/util.h"

namespace connguard::test {
namespace {

#define SKIP_WITHOUT_POSTGRES()                                                             \
    do {                                                                                    \
        if (const auto why = postgres_server::unavailable_reason(); !why.empty()) GTEST_SKIP() << why; \
    } while (0)

/// psql's unaligned, tuples-only output without the trailing newline.
std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

/// Runs SQL through a url as a client would (libpq parses it), not through the fixture's helper.
int psql_url(const std::string& url, const std::string& sql, std::string* out) {
    return run_command({"psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql}, out);
}

TEST(PostgresServer, CreatedDatabasesAreSeparate) {
    SKIP_WITHOUT_POSTGRES();
    auto& pg = shared_postgres();
    const std::string a = pg.create_database();
    const std::string b = pg.create_database();
    ASSERT_NE(a, b);
    const std::string prefix = "postgresql://postgres@127.0.0.1:" + std::to_string(pg.port()) + "/";
    ASSERT_EQ(a.rfind(prefix, 0), 0u) << a;
    ASSERT_EQ(b.rfind(prefix, 0), 0u) << b;

    std::string out;
    ASSERT_EQ(psql_url(a, "CREATE TABLE t (x int); INSERT INTO t VALUES (7)", &out), 0) << out;
    ASSERT_EQ(psql_url(a, "SELECT x FROM t", &out), 0) << out;
    EXPECT_EQ(trimmed(out), "7");
    ASSERT_EQ(psql_url(b, "SELECT to_regclass('public.t') IS NULL", &out), 0) << out;
    EXPECT_EQ(trimmed(out), "t") << "the table written in " << a << " is visible in " << b;
    ASSERT_EQ(psql_url(b, "SELECT current_database()", &out), 0) << out;
    EXPECT_EQ(prefix + trimmed(out), b);
}

TEST(PostgresServer, CreateDatabaseFromManyThreadsGivesDistinctDatabases) {
    SKIP_WITHOUT_POSTGRES();
    auto& pg = shared_postgres();
    std::vector<std::vector<std::string>> urls(4);
    std::vector<std::thread> threads;
    for (auto& mine : urls)
        threads.emplace_back([&pg, &mine] {
            for (int i = 0; i < 3; ++i) mine.push_back(pg.create_database());
        });
    for (auto& t : threads) t.join();
    std::set<std::string> all;
    for (const auto& mine : urls) all.insert(mine.begin(), mine.end());
    ASSERT_EQ(all.size(), 12u);
    for (const auto& url : all) {
        std::string out;
        EXPECT_EQ(psql_url(url, "SELECT 1", &out), 0) << url << ": " << out;
    }
}

TEST(PostgresServer, UnitTestSpeedTurnsOffFsyncOnlyWhenAsked) {
    SKIP_WITHOUT_POSTGRES();
    std::string out;
    ASSERT_EQ(shared_postgres().psql("postgres", "SHOW fsync; SHOW synchronous_commit", &out), 0) << out;
    EXPECT_EQ(trimmed(out), "off\noff") << "shared_postgres() runs with unit_test_speed";

    postgres_server durable;
    ASSERT_EQ(durable.psql("postgres", "SHOW fsync; SHOW synchronous_commit", &out), 0) << out;
    EXPECT_EQ(trimmed(out), "on\non") << "the default options keep the durable settings";
}

TEST(PostgresServer, KillThenStartKeepsCommittedData) {
    SKIP_WITHOUT_POSTGRES();
    postgres_server pg;
    const int port = pg.port();
    const std::string db = pg.create_database();
    std::string out;
    ASSERT_EQ(psql_url(db, "CREATE TABLE t (x int); INSERT INTO t VALUES (42)", &out), 0) << out;

    pg.kill();
    EXPECT_NE(psql_url(db, "SELECT 1", &out), 0) << "the server still answers after kill(): " << out;

    pg.start();
    EXPECT_EQ(pg.port(), port);
    ASSERT_EQ(psql_url(db, "SELECT x FROM t", &out), 0) << out << "\n" << slurp(pg.log_file());
    EXPECT_EQ(trimmed(out), "42");
    // A crash, not a clean stop: the restarted server replayed the WAL.
    EXPECT_NE(slurp(pg.log_file()).find("automatic recovery in progress"), std::string::npos)
        << slurp(pg.log_file());
}

TEST(PostgresServer, DestructionStopsTheServerAndRemovesItsDirectory) {
    SKIP_WITHOUT_POSTGRES();
    std::string url;
    std::filesystem::path dir;
    {
        postgres_server pg{postgres_options{.unit_test_speed = true}};
        url = pg.url();
        dir = pg.log_file().parent_path();
        std::string out;
        ASSERT_EQ(psql_url(url, "SELECT 1", &out), 0) << out;
        ASSERT_TRUE(std::filesystem::exists(dir / "data"));
    }
    std::string out;
    EXPECT_NE(psql_url(url, "SELECT 1", &out), 0) << "a server still answers on " << url << ": " << out;
    EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
}

}  // namespace
}  // namespace connguard::test
