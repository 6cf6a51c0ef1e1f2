#include "common/mqtt/publish_window.h"

#include <algorithm>

namespace connguard::mqtt::detail {

std::uint64_t publish_window::add(completion on_done) {
    const auto key = next_key_++;
    pending_.emplace(key, std::move(on_done));
    return key;
}

std::optional<publish_window::completion> publish_window::take(std::uint64_t key) {
    auto it = pending_.find(key);
    if (it == pending_.end()) return std::nullopt;
    auto done = std::move(it->second);
    pending_.erase(it);
    return done;
}

void publish_window::set_receive_maximum(int receive_maximum) {
    window_ = std::max(1, std::min(max_inflight_, receive_maximum - 1));
}

}  // namespace connguard::mqtt::detail
