#pragma once
// Test support: wait for asynchronous state, read a whole file (logs, fixtures, state files).
//   ASSERT_TRUE(connguard::test::eventually([&] { return got.size() >= 3; })) << connguard::test::slurp(log);
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

namespace connguard::test {

/// Polls pred() every `every` until it holds or `timeout` passes; returns pred(). Used only to wait
/// for asynchronous state, never to time anything.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds{20},
                std::chrono::milliseconds every = std::chrono::milliseconds{20});

/// The whole file as bytes; empty when it cannot be read (a log that does not exist yet).
std::string slurp(const std::filesystem::path& p);

}  // namespace connguard::test
