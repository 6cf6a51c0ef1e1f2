#include "agent/core/rescan.h"

#include <sys/stat.h>

#include <algorithm>

namespace connguard::agent {

namespace {

std::chrono::nanoseconds ns_of(const struct timespec& t) {
    return std::chrono::seconds{t.tv_sec} + std::chrono::nanoseconds{t.tv_nsec};
}

}  // namespace

file_stamp stamp_of(const std::filesystem::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return {};
    return {.exists = true,
            .device = static_cast<std::uint64_t>(st.st_dev),
            .inode = static_cast<std::uint64_t>(st.st_ino),
            .size = static_cast<std::int64_t>(st.st_size),
            .mtime = ns_of(st.st_mtim),
            .ctime = ns_of(st.st_ctim)};
}

std::chrono::nanoseconds wall_now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch());
}

bool changed_since(const std::optional<seen_stamp>& last, const file_stamp& now, std::chrono::nanoseconds granularity) {
    if (!last || !last->stamp.exists || last->stamp != now) return true;
    // Same stamp: trust it only if it was already older than one tick when it was observed (a
    // stamp in the future, a clock set back, also counts as too recent).
    return std::max(last->stamp.mtime, last->stamp.ctime) >= last->observed - granularity;
}

}  // namespace connguard::agent
