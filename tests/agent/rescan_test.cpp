// The host's rescan decision (agent/core/rescan.h): unchanged stamps observed well after their time
// mean "read nothing"; any difference, or a stamp too close to its observation (same clock tick),
// means "read again". With real files: a change made right after a look is never missed.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "agent/core/rescan.h"
#include "tests/support/process.h"

namespace {

using namespace connguard;
using namespace connguard::agent;
using namespace std::chrono_literals;

file_stamp stamp_at(std::chrono::nanoseconds t) {
    return {.exists = true, .device = 1, .inode = 7, .size = 10, .mtime = t, .ctime = t};
}

TEST(RescanDecision, NeverSeenOrMissingIsChanged) {
    EXPECT_TRUE(changed_since(std::nullopt, stamp_at(100s)));
    EXPECT_TRUE(changed_since(seen_stamp{file_stamp{}, 200s}, file_stamp{}));  // gone then, gone now: look again
}

TEST(RescanDecision, SameOldStampIsUnchanged) {
    const seen_stamp last{stamp_at(100s), 200s};
    EXPECT_FALSE(changed_since(last, stamp_at(100s)));
}

TEST(RescanDecision, AnyFieldThatDiffersIsChanged) {
    const seen_stamp last{stamp_at(100s), 200s};
    auto later = stamp_at(100s);
    later.mtime += 1ns;
    EXPECT_TRUE(changed_since(last, later));
    auto ctime = stamp_at(100s);
    ctime.ctime += 1s;  // cp -p / touch -d: an old mtime, but a new ctime
    EXPECT_TRUE(changed_since(last, ctime));
    auto size = stamp_at(100s);
    size.size = 11;
    EXPECT_TRUE(changed_since(last, size));
    auto replaced = stamp_at(100s);
    replaced.inode = 8;  // renamed over
    EXPECT_TRUE(changed_since(last, replaced));
    EXPECT_TRUE(changed_since(last, file_stamp{}));  // deleted
}

TEST(RescanDecision, SameStampWithinOneTickOfTheLookIsChanged) {
    // Looked at 1 s after the stamp's time: a second change in the same (2 s) tick would leave the
    // same stamp, so it is not trusted ...
    EXPECT_TRUE(changed_since(seen_stamp{stamp_at(100s), 101s}, stamp_at(100s)));
    EXPECT_TRUE(changed_since(seen_stamp{stamp_at(100s), 102s}, stamp_at(100s)));
    // ... nor a stamp from the future (clock set back);
    EXPECT_TRUE(changed_since(seen_stamp{stamp_at(100s), 50s}, stamp_at(100s)));
    // a later ctime alone makes it recent too;
    auto recent_ctime = stamp_at(90s);
    recent_ctime.ctime = 100s;
    EXPECT_TRUE(changed_since(seen_stamp{recent_ctime, 101s}, recent_ctime));
    // once looked at more than a tick after its time, the same stamp means unchanged.
    EXPECT_FALSE(changed_since(seen_stamp{stamp_at(100s), 102s + 1ns}, stamp_at(100s)));
    EXPECT_FALSE(changed_since(seen_stamp{stamp_at(100s), 101s}, stamp_at(100s), 500ms));
}

TEST(RescanDecision, StampOfARealFile) {
    test::temp_dir dir;
    const auto f = dir.path() / "a.json";
    EXPECT_FALSE(stamp_of(f).exists);
    std::ofstream(f) << "{}";
    const auto s = stamp_of(f);
    ASSERT_TRUE(s.exists);
    EXPECT_EQ(s.size, 2);
    EXPECT_GT(s.mtime.count(), 0);
    EXPECT_EQ(s, stamp_of(f));  // nothing changed, nothing differs
}

// The folder and a file changed right after a look (well within any tick): whatever the file
// system's timestamp resolution, the next check says "changed".
TEST(RescanDecision, AChangeRightAfterALookIsNeverMissed) {
    test::temp_dir dir;
    const auto f = dir.path() / "contoso.json";
    std::ofstream(f) << "{\"a\":1}";

    const seen_stamp dir_seen{stamp_of(dir.path()), wall_now()};
    const seen_stamp file_seen{stamp_of(f), wall_now()};
    std::ofstream(dir.path() / "fabrikam.json") << "{}";  // added: the folder's stamp
    std::ofstream(f) << "{\"a\":2}";                      // edited in place, same size: the file's stamp
    EXPECT_TRUE(changed_since(dir_seen, stamp_of(dir.path())));
    EXPECT_TRUE(changed_since(file_seen, stamp_of(f)));
}

// The other half: a folder last changed long before the look is trusted as unchanged (what lets
// an idle host read nothing), and a change after that look shows in its stamp.
TEST(RescanDecision, AnOldFolderIsUnchangedUntilAFileIsAddedRemovedOrRenamed) {
    test::temp_dir dir;
    std::ofstream(dir.path() / "contoso.json") << "{}";
    // The folder's mtime put an hour back, observed a tick after its ctime (the utime call), as a
    // scan seconds later would: then any entry change gives it a new mtime, whatever the tick.
    const auto look = [&] {
        std::filesystem::last_write_time(dir.path(), std::filesystem::file_time_type::clock::now() - std::chrono::hours{1});
        const auto s = stamp_of(dir.path());
        return seen_stamp{s, std::max(s.mtime, s.ctime) + stamp_granularity + 1s};
    };
    auto seen = look();
    EXPECT_FALSE(changed_since(seen, stamp_of(dir.path())));
    std::ofstream(dir.path() / "contoso.json") << "{\"edited\":true}";  // in place: not the folder's business
    EXPECT_FALSE(changed_since(seen, stamp_of(dir.path())));

    std::ofstream(dir.path() / "fabrikam.json") << "{}";
    EXPECT_TRUE(changed_since(seen, stamp_of(dir.path())));
    seen = look();
    std::filesystem::rename(dir.path() / "fabrikam.json", dir.path() / "northwind.json");
    EXPECT_TRUE(changed_since(seen, stamp_of(dir.path())));
    seen = look();
    std::filesystem::remove(dir.path() / "northwind.json");
    EXPECT_TRUE(changed_since(seen, stamp_of(dir.path())));
}

}  // namespace
