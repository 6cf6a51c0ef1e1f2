#pragma once
// Test fixture: a throwaway PostgreSQL server (the newest /usr/lib/postgresql/*/bin), initdb'd into
// a temp dir and started with pg_ctl on a free loopback port. The binaries refuse to run as root,
// so as root (tests here and in CI) every server command runs as the `postgres` user through su.
//
//   if (auto why = connguard::test::postgres_server::unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
//   auto& pg = connguard::test::shared_postgres();
//   const std::string url = pg.create_database();   // postgresql://postgres@127.0.0.1:PORT/test_N
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace connguard::test {

struct postgres_options {
    /// fsync=off, synchronous_commit=off (and initdb --no-sync): for unit tests only. Off by
    /// default, i.e. durable settings, because benchmarks and durability tests use this fixture.
    bool unit_test_speed = false;
};

/// A throwaway PostgreSQL server: initdb into a temp dir, pg_ctl on a free loopback port; stopped
/// and removed on destruction. Trust authentication, superuser `postgres`, no password.
class postgres_server {
public:
    /// "" when the server binaries are installed; otherwise why not (for GTEST_SKIP()).
    static std::string unavailable_reason();
    /// Throws std::runtime_error with the tail of initdb's output or of the server log.
    explicit postgres_server(postgres_options o = {});
    ~postgres_server();
    postgres_server(const postgres_server&) = delete;
    postgres_server& operator=(const postgres_server&) = delete;

    int port() const { return port_; }
    /// postgresql://postgres@127.0.0.1:PORT/DB
    std::string url(const std::string& db = "postgres") const;
    /// Creates a fresh empty database (unique name) and returns its url. Thread-safe.
    std::string create_database();
    /// Runs `sql` with psql against database `db` (unaligned, tuples only, stops at the first
    /// error); the output goes to *output. Returns psql's exit code (0 = every statement succeeded).
    int psql(const std::string& db, const std::string& sql, std::string* output = nullptr) const;
    /// SIGKILLs the postmaster and every server process (a crash: no shutdown checkpoint, shared
    /// buffers lost, client connections reset), for recovery tests.
    void kill();
    /// Starts again on the same port and data dir (crash recovery runs after kill()). Throws
    /// std::runtime_error with the log tail when the server does not come up.
    void start();
    /// The server log (pg_ctl -l), for failure messages.
    std::filesystem::path log_file() const { return root_ / "pg.log"; }

private:
    int run_as_server_user(const std::vector<std::string>& argv, std::string* output) const;
    std::filesystem::path data_dir() const { return root_ / "data"; }
    bool stop();

    postgres_options options_;
    pid_t owner_pid_;                 ///< a forked child that exits must not stop or remove the server
    std::filesystem::path bin_dir_;
    std::unique_ptr<temp_dir> dir_;  ///< data/, pg.log and the Unix socket
    std::filesystem::path root_;     ///< dir_'s canonical path: kill() compares /proc/PID/cwd with it
    int port_ = 0;
    bool running_ = false;
    std::mutex create_mutex_;
    int databases_created_ = 0;
};

/// One server per test process, started on first use and stopped at exit (unit_test_speed on).
/// Callers check postgres_server::unavailable_reason() first.
postgres_server& shared_postgres();

}  // namespace connguard::test
