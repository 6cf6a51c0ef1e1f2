#include "common/clock.h"

#include <cstdio>
#include <ctime>

namespace connguard {

const system_clock& system_clock::instance() {
    static const system_clock c;
    return c;
}

std::int64_t to_unix_ms(clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

clock::time_point from_unix_ms(std::int64_t ms) {
    return clock::time_point{std::chrono::milliseconds{ms}};
}

std::string format_rfc3339(clock::time_point t, int fraction_digits) {
    using namespace std::chrono;
    fraction_digits = fraction_digits < 0 ? 0 : fraction_digits > 7 ? 7 : fraction_digits;
    // 100 ns ticks: Graph's DateTimeOffset has at most 7 fractional digits.
    const auto ticks = duration_cast<duration<std::int64_t, std::ratio<1, 10000000>>>(t.time_since_epoch()).count();
    std::int64_t secs = ticks / 10000000;
    std::int64_t frac = ticks % 10000000;
    if (frac < 0) {
        frac += 10000000;
        --secs;
    }
    for (int d = 7; d > fraction_digits; --d) frac /= 10;
    const std::time_t tt = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                          tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (fraction_digits > 0)
        n += std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), ".%0*lld", fraction_digits,
                           static_cast<long long>(frac));
    std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), "Z");
    return buf;
}

bool parse_rfc3339(const std::string& text, clock::time_point& out) {
    int y, mo, d, h, mi, s;
    int consumed = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) != 6 ||
        consumed != 19)
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return false;
    std::size_t pos = 19;
    std::int64_t frac_ms = 0;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        int digits = 0;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            if (digits < 3) frac_ms = frac_ms * 10 + (text[pos] - '0');
            ++digits;
            ++pos;
        }
        if (digits == 0) return false;
        for (int i = digits; i < 3; ++i) frac_ms *= 10;
    }
    std::int64_t offset_s = 0;
    if (pos < text.size()) {
        const char c = text[pos];
        if (c == 'Z' || c == 'z') {
            ++pos;
        } else if (c == '+' || c == '-') {
            int oh, om;
            if (text.size() - pos != 6 || std::sscanf(text.c_str() + pos + 1, "%2d:%2d", &oh, &om) != 2)
                return false;
            offset_s = (oh * 3600 + om * 60) * (c == '+' ? 1 : -1);
            pos += 6;
        } else {
            return false;
        }
    }
    if (pos != text.size()) return false;
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    const std::int64_t secs = static_cast<std::int64_t>(timegm(&tm)) - offset_s;
    out = clock::time_point{std::chrono::milliseconds{secs * 1000 + frac_ms}};
    return true;
}

}  // namespace connguard
