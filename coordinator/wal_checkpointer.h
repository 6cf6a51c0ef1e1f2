#pragma once
// Checkpoints the coordinator's SQLite WAL on a thread and connection of its own.
//
// Why: SQLite's automatic checkpoint runs inside the COMMIT that makes the WAL cross
// wal_autocheckpoint (1,000 pages by default): that thread copies the WAL into the database file and
// fsyncs both before COMMIT returns. At 1,000 events/s this happened several times a second, on the
// committer (COMMIT 8–130 ms instead of 0.1 ms) or on the publisher, and every alert committed
// meanwhile waited (coordinator/README.md "Publish → alert latency under load").
//
// What: every `interval` a PASSIVE checkpoint (never waits for or blocks the writer or readers)
// copies into the database file what no reader still needs. Under a steady stream of commits a
// PASSIVE checkpoint never catches up with the last commit, and SQLite restarts the WAL from its
// beginning only when it did, so the coordinator's connections keep an automatic checkpoint at
// `backstop_pages` (store_options::wal_autocheckpoint_pages): when the WAL reaches it, the
// committing thread checkpoints the few frames this thread has not copied yet (plus the fsyncs)
// and its next transaction restarts the WAL. That stall comes once per `backstop_pages` pages
// instead of once per 1,000 pages with the whole copy. Durability is
// unchanged: a checkpoint only moves committed pages from the WAL into the database file.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "common/result.h"
#include "coordinator/store.h"

namespace connguard::coord {

class wal_checkpointer {
public:
    /// Automatic checkpoint threshold of the coordinator's connections while this thread runs
    /// (pages of 4 KiB: the WAL file grows to ≈ 32 MiB).
    static constexpr int backstop_pages = 8192;

    explicit wal_checkpointer(std::filesystem::path db_path,
                              std::chrono::milliseconds interval = std::chrono::milliseconds{100});
    ~wal_checkpointer();
    wal_checkpointer(const wal_checkpointer&) = delete;
    wal_checkpointer& operator=(const wal_checkpointer&) = delete;

    /// Opens its connection and starts the thread. Errors: the database cannot be opened.
    status start();
    /// Stops the thread after a last checkpoint.
    void stop();

    std::uint64_t checkpoints() const { return checkpoints_; }  ///< rounds that copied frames
    std::uint64_t failures() const { return failures_; }

private:
    void run();
    void checkpoint_once();

    std::filesystem::path db_path_;
    std::chrono::milliseconds interval_;
    std::unique_ptr<store> db_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;
    std::atomic<std::uint64_t> checkpoints_{0}, failures_{0};
};

}  // namespace connguard::coord
