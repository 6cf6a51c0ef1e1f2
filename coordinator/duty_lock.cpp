#include "coordinator/duty_lock.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "coordinator/sql/connection.h"

namespace connguard::coord {

const char* duty_name(duty d) {
    switch (d) {
        case duty::mqtt_outbox: return "MQTT outbox";
        case duty::webhooks: return "webhooks";
        case duty::clock: return "clock";
    }
    return "?";
}

result<std::unique_ptr<duty_lock>> duty_lock::open(const std::string& store_location, duty d,
                                                   std::chrono::milliseconds retry_every) {
    std::unique_ptr<sql::connection> conn;
    if (sql::is_postgres_url(store_location)) {
        auto c = sql::open_postgres(store_location);
        if (!c) return c.err();
        conn = std::move(*c);
    }
    return std::unique_ptr<duty_lock>(new duty_lock(std::move(conn), d, retry_every));
}

duty_lock::duty_lock(std::unique_ptr<sql::connection> conn, duty d, std::chrono::milliseconds retry_every)
    : conn_(std::move(conn)), duty_(d), retry_every_(retry_every), held_(conn_ == nullptr) {}

duty_lock::~duty_lock() = default;  // closing the connection releases the lock

result<bool> duty_lock::ask() {
    // Held: is it still ours (a reconnected session lost it)? Not held: try to take it. A session
    // advisory lock stacks when taken twice, so the holder only looks.
    auto st = conn_->prepare(held_ ? "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                                     "AND pid = pg_backend_pid() AND classid = CAST(? AS oid) AND objid = CAST(? AS oid) "
                                     "AND objsubid = 2"
                                   : "SELECT CASE WHEN pg_try_advisory_lock(CAST(? AS INTEGER), CAST(? AS INTEGER)) "
                                     "THEN 1 ELSE 0 END");
    if (!st) return st.err();
    sql::statement& s = **st;
    s.bind_i64(1, sql::advisory_lock_namespace);
    s.bind_i64(2, static_cast<int>(duty_));
    const bool row = s.step();
    const bool yes = row && s.column_i64(0) > 0;
    auto failure = s.failed() ? std::optional<error>(s.failure(std::string("duty ") + duty_name(duty_))) : std::nullopt;
    s.reset();
    if (failure) return *failure;
    return yes;
}

bool duty_lock::held() {
    if (!conn_) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_check_) return held_;
    next_check_ = now + retry_every_;
    auto r = ask();
    const bool was = held_;
    if (!r) {
        // Unknown: stop doing it (another coordinator may take it over) and ask again later.
        if (was) spdlog::warn("duty {}: cannot confirm this coordinator still holds it; paused: {}", duty_name(duty_),
                              r.err().message);
        held_ = false;
        return false;
    }
    held_ = *r;
    if (held_ && !was) spdlog::info("duty {}: taken by this coordinator", duty_name(duty_));
    if (!held_ && was) spdlog::warn("duty {}: lost (another coordinator holds it now)", duty_name(duty_));
    return held_;
}

}  // namespace connguard::coord
