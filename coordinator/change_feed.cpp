#include "coordinator/change_feed.h"

namespace connguard::coord {

void change_feed::publish(std::vector<v1::ConsoleChange> changes) {
    if (changes.empty()) return;
    {
        std::lock_guard lock(mu_);
        for (auto& c : changes) {
            c.set_seq(++head_);
            ring_.push_back(std::move(c));
            if (ring_.size() > capacity_) ring_.pop_front();
        }
    }
    cv_.notify_all();
}

std::uint64_t change_feed::head() const {
    std::lock_guard lock(mu_);
    return head_;
}

std::vector<v1::ConsoleChange> change_feed::collect(std::uint64_t after, bool* gap) const {
    std::vector<v1::ConsoleChange> out;
    const std::uint64_t oldest = ring_.empty() ? head_ + 1 : ring_.front().seq();
    const bool lost = after > head_ || after + 1 < oldest;
    if (gap != nullptr) *gap = lost;
    for (const auto& c : ring_)
        if (lost || c.seq() > after) out.push_back(c);
    return out;
}

std::vector<v1::ConsoleChange> change_feed::wait(std::uint64_t after, std::chrono::milliseconds timeout, bool* gap) const {
    std::unique_lock lock(mu_);
    if (gap != nullptr) *gap = false;
    // A gap is reported at once; otherwise wait for something newer than `after`.
    cv_.wait_for(lock, timeout, [&] { return head_ != after; });
    return collect(after, gap);
}

}  // namespace connguard::coord
