#pragma once
// Host-mode rescan (host.h, host_options::config_dir): "did anything change since the last scan?"
// decided from stat() alone, so an idle host with 10,000 tenant files neither lists its config
// folder nor re-parses its host config every --rescan-seconds.
//
// What a stamp sees: adding, removing or renaming a file in a folder changes the folder's own
// mtime/ctime; rewriting a file in place or replacing it by rename changes the file's mtime, ctime,
// size or inode. ctime is in the stamp because `cp -p`, `rsync -t` and `touch -d` can give a new
// file an old mtime, but nothing can set ctime.
//
// The tick problem: a file system stores times of a coarse clock (a few ms on Linux, 1-2 s on
// some network or FAT file systems), so a change made just after a stat() can leave the very same
// stamp. A stamp whose time is within `granularity` of the moment it was observed therefore proves
// nothing: the next check counts as changed, and only a stamp observed well after its time is
// trusted to mean "unchanged".
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>

namespace connguard::agent {

/// What stat() says about one path (following symlinks). exists = false when it cannot be stat'ed.
struct file_stamp {
    bool exists = false;
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::int64_t size = 0;
    std::chrono::nanoseconds mtime{0};  ///< since the Unix epoch
    std::chrono::nanoseconds ctime{0};
    bool operator==(const file_stamp&) const = default;
};

/// A stamp and the wall-clock time (since the Unix epoch) just before it was taken.
struct seen_stamp {
    file_stamp stamp;
    std::chrono::nanoseconds observed{0};
};

/// The coarsest timestamp tick we allow for (FAT keeps 2 s; ext4, xfs and tmpfs a few ms).
inline constexpr std::chrono::nanoseconds stamp_granularity = std::chrono::seconds{2};

/// stat() of `p` now.
file_stamp stamp_of(const std::filesystem::path& p);

/// Wall-clock now since the Unix epoch (the clock file times are written with, not the host's
/// injectable clock: it is compared with what the kernel stamps on files).
std::chrono::nanoseconds wall_now();

/// Pure: may `path` have changed since `last` (nullopt: never seen, or the last look failed) given
/// that it now stamps `now`? True when the stamp differs, or when the last one was too close to the
/// moment it was observed to rule out a change within the same tick.
bool changed_since(const std::optional<seen_stamp>& last, const file_stamp& now,
                   std::chrono::nanoseconds granularity = stamp_granularity);

}  // namespace connguard::agent
