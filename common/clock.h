#pragma once
// The one clock of the project. Domain code takes a `const clock&` so tests can drive time.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace connguard {

class clock {
public:
    using time_point = std::chrono::system_clock::time_point;
    virtual ~clock() = default;
    /// Wall-clock now (UTC).
    virtual time_point now() const = 0;
};

/// The real wall clock.
class system_clock final : public clock {
public:
    time_point now() const override { return std::chrono::system_clock::now(); }
    /// A process-wide instance.
    static const system_clock& instance();
};

/// A clock that only moves when told to (tests).
class manual_clock final : public clock {
public:
    explicit manual_clock(time_point start = time_point{std::chrono::seconds{1767225600}})
        : now_(start) {}
    time_point now() const override {
        std::lock_guard lock(mutex_);
        return now_;
    }
    void advance(std::chrono::milliseconds d) {
        std::lock_guard lock(mutex_);
        now_ += d;
    }
    void set(time_point t) {
        std::lock_guard lock(mutex_);
        now_ = t;
    }

private:
    mutable std::mutex mutex_;
    time_point now_;
};

/// RFC 3339 UTC, by default with millisecond precision ("2026-11-25T09:00:00.123Z"); 7 fraction
/// digits is Graph's DateTimeOffset ("2026-11-25T09:00:00.1234567Z"), 0 none.
std::string format_rfc3339(clock::time_point t, int fraction_digits = 3);
/// Parses RFC 3339 / ISO 8601 (Graph's DateTimeOffset: "2026-01-01T10:00:00Z", fractional seconds,
/// and +hh:mm offsets). Returns false on malformed input.
bool parse_rfc3339(const std::string& text, clock::time_point& out);
/// Milliseconds since the Unix epoch.
std::int64_t to_unix_ms(clock::time_point t);
clock::time_point from_unix_ms(std::int64_t ms);

}  // namespace connguard
