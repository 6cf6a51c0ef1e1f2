#pragma once
// Webhook delivery from the store's outbox (table webhook_outbox).
//
// Rows are written by the engine in the same transaction as the alert transition they announce,
// so a restart never loses one. This worker POSTs due rows (JSON, header Idempotency-Key =
// delivery_key, unique per sink and alert transition), marks a 2xx as delivered right after the
// response, and reschedules anything else with exponential backoff (initial * 2^attempts, capped,
// with +-20% jitter). Restarts never duplicate a delivery the worker had marked; the only window
// for a repeat is a kill between the receiver's 2xx and the mark (milliseconds), and the repeat
// carries the same Idempotency-Key so the receiver can drop it.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "coordinator/duty_lock.h"
#include "coordinator/store.h"

namespace connguard::coord {

struct webhook_options {
    std::string store_location;  ///< store::open's argument (SQLite path or PostgreSQL URL)
    std::int64_t initial_backoff_ms = 1000;
    std::int64_t max_backoff_ms = 300000;
    int max_attempts = 0;  ///< 0 = forever
    std::int64_t timeout_ms = 10000;
    std::int64_t poll_ms = 1000;
};

class webhook_worker {
public:
    webhook_worker(webhook_options opts, const clock& clk);
    ~webhook_worker();
    webhook_worker(const webhook_worker&) = delete;
    webhook_worker& operator=(const webhook_worker&) = delete;

    status start();  ///< opens its own connection to the database and starts the thread
    void stop();
    void wake();     ///< new rows were committed

    std::uint64_t delivered() const { return delivered_; }
    std::uint64_t failed_attempts() const { return failed_; }

private:
    void run();
    webhook_options opts_;
    const clock& clk_;
    std::unique_ptr<store> db_;
    std::unique_ptr<duty_lock> duty_;  ///< several coordinators: only the holder delivers
    std::thread thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    bool woken_ = false;
    std::atomic<std::uint64_t> delivered_{0}, failed_{0};
};

/// Backoff before attempt n+1 after n failed attempts (no jitter; exposed for tests).
std::int64_t webhook_backoff_ms(int failed_attempts, std::int64_t initial_ms, std::int64_t max_ms);

}  // namespace connguard::coord
