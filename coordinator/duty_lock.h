#pragma once
// Duties that exactly one coordinator may do at a time when several share one PostgreSQL store:
// publishing the MQTT outbox (alerts, commands), delivering webhooks, and the clock's duties
// (task expiry, dispatch deadlines, silence, audit checkpoints).
//
// On PostgreSQL a duty is a session advisory lock held on a connection of its own: the holder
// keeps it until it stops or its connection ends — the server releases the lock of a killed
// process at once, so another coordinator takes the duty over at its next try (every
// `retry_every`, 1 s by default). The holder confirms it still holds the lock at the same pace
// (a reconnected session would have lost it). With SQLite, one coordinator owns the file: every
// duty is always held.
//
// Ingest needs no duty: every coordinator ingests everything; idempotency by envelope id and the
// writer lock (sql/connection.h) make the second copy a no-op.
//
// One duty_lock belongs to the thread that does the duty.
#include <chrono>
#include <memory>
#include <string>

#include "common/result.h"

namespace connguard::coord {

namespace sql {
class connection;
}

enum class duty : int { mqtt_outbox = 1, webhooks = 2, clock = 3 };

/// "MQTT outbox", "webhooks", "clock" (logs).
const char* duty_name(duty d);

class duty_lock {
public:
    /// `store_location`: what store::open takes. SQLite: no connection, always held.
    static result<std::unique_ptr<duty_lock>> open(const std::string& store_location, duty d,
                                                   std::chrono::milliseconds retry_every = std::chrono::seconds{1});
    ~duty_lock();
    duty_lock(const duty_lock&) = delete;
    duty_lock& operator=(const duty_lock&) = delete;

    /// True while this process holds the duty. Asks the database at most once per retry interval;
    /// logs when the duty is taken or lost.
    bool held();

private:
    duty_lock(std::unique_ptr<sql::connection> conn, duty d, std::chrono::milliseconds retry_every);
    result<bool> ask();
    std::unique_ptr<sql::connection> conn_;  ///< nullptr for SQLite
    duty duty_;
    std::chrono::milliseconds retry_every_;
    std::chrono::steady_clock::time_point next_check_{};
    bool held_ = false;
};

}  // namespace connguard::coord
