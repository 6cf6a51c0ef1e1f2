#pragma once
// What the coordinator committed, for live pages (the console's Server-Sent Events): an in-memory
// bounded ring of v1::ConsoleChange with strictly increasing seq. The committer publishes a
// transaction's changes only after its COMMIT (a rolled-back transaction publishes nothing);
// readers wait on a condition variable. Thread-safe; nothing persists across a restart (seq
// restarts at 1, and a reader whose `after` is ahead of the head is told to reload: gap).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "connguard/v1/admin.pb.h"

namespace connguard::coord {

class change_feed {
public:
    explicit change_feed(std::size_t capacity = 8192) : capacity_(capacity == 0 ? 1 : capacity) {}

    /// Numbers `changes` (seq = head + 1, ...) and appends them, dropping the oldest beyond the
    /// capacity; wakes every waiter.
    void publish(std::vector<v1::ConsoleChange> changes);
    /// The seq of the newest change (0 before any).
    std::uint64_t head() const;
    /// Changes with seq > after, oldest first, waiting up to `timeout` for one. `*gap` (when not
    /// null) is set when changes after `after` were dropped (or `after` is beyond the head: a
    /// restart): the reader must reload everything; the changes returned are then all kept ones.
    std::vector<v1::ConsoleChange> wait(std::uint64_t after, std::chrono::milliseconds timeout, bool* gap) const;

private:
    std::vector<v1::ConsoleChange> collect(std::uint64_t after, bool* gap) const;  // holds mu_
    std::size_t capacity_;
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    std::deque<v1::ConsoleChange> ring_;
    std::uint64_t head_ = 0;
};

}  // namespace connguard::coord
