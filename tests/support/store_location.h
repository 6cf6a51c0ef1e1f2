#pragma once
// Where a test's coordinator store lives. The store suites run twice (tests/coordinator/
// CMakeLists.txt): as written, on a SQLite file in the test's directory, and as "pg." copies with
// CONNGUARD_TEST_STORE=postgres, on a fresh database of the test process's throwaway PostgreSQL
// server (tests/support/postgres.h). Where PostgreSQL is not installed the "pg." copies skip.
#include <filesystem>
#include <string>

namespace connguard::test {

/// True when this test process runs the store suites on PostgreSQL.
bool testing_postgres();

/// "" when the backend under test is usable; otherwise why not (for GTEST_SKIP()).
std::string store_unavailable_reason();

/// A fresh store location: `dir / file` for SQLite, a new database's URL for PostgreSQL.
std::string fresh_store_location(const std::filesystem::path& dir, const std::string& file = "coordinator.db");

}  // namespace connguard::test
