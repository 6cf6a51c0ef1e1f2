#include "coordinator/wal_checkpointer.h"

#include <sqlite3.h>
#include <spdlog/spdlog.h>

namespace connguard::coord {

wal_checkpointer::wal_checkpointer(std::filesystem::path db_path, std::chrono::milliseconds interval)
    : db_path_(std::move(db_path)), interval_(interval) {}

wal_checkpointer::~wal_checkpointer() { stop(); }

status wal_checkpointer::start() {
    store_options so;
    so.wal_autocheckpoint_pages = backstop_pages;
    auto db = store::open(db_path_, so);
    if (!db) return make_error(db.err().code, "WAL checkpointer: " + db.err().message);
    db_ = std::move(*db);
    thread_ = std::thread([this] { run(); });
    return {};
}

void wal_checkpointer::stop() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    db_.reset();
}

void wal_checkpointer::run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
        cv_.wait_for(lock, interval_, [&] { return stop_; });
        lock.unlock();
        checkpoint_once();
        lock.lock();
    }
}

void wal_checkpointer::checkpoint_once() {
    int wal_frames = 0, copied = 0;
    const int rc = sqlite3_wal_checkpoint_v2(db_->handle(), "main", SQLITE_CHECKPOINT_PASSIVE, &wal_frames, &copied);
    if (rc == SQLITE_OK) {
        if (copied > 0) ++checkpoints_;
        return;
    }
    // SQLITE_BUSY: another checkpoint (the backstop) is running; the next round retries.
    if (rc == SQLITE_BUSY) return;
    const auto n = ++failures_;
    if (n <= 10 || n % 1000 == 0)
        spdlog::warn("WAL checkpoint of {} failed ({} time(s); the writer's automatic checkpoint at {} pages is the "
                     "backstop): {}",
                     db_path_.string(), n, backstop_pages, sqlite3_errmsg(db_->handle()));
}

}  // namespace connguard::coord
