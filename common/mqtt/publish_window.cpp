#include "common/mqtt/publish_window.h"

#include <algorithm>

namespace connguard::mqtt::detail {

std::uint64_t publish_window::add(completion on_done) {
    const auto key = next_key_++;
    pending_.emplace(key, entry{std::move(on_done), nullptr});
    return key;
}

void publish_window::handed(std::uint64_t key, resend_handle what) {
    // The acknowledgement may already have come (paho answers on its own threads).
    if (auto it = pending_.find(key); it != pending_.end()) it->second.what = std::move(what);
}

std::optional<publish_window::completion> publish_window::take(std::uint64_t key) {
    auto it = pending_.find(key);
    if (it == pending_.end()) return std::nullopt;
    auto done = std::move(it->second.on_done);
    pending_.erase(it);
    return done;
}

std::vector<publish_window::completion> publish_window::take_all() {
    std::vector<completion> out;
    out.reserve(pending_.size());
    for (auto& [key, e] : pending_) out.push_back(std::move(e.on_done));
    pending_.clear();
    return out;
}

std::vector<std::pair<std::uint64_t, publish_window::resend_handle>> publish_window::handed_publishes() const {
    std::vector<std::pair<std::uint64_t, resend_handle>> out;
    for (const auto& [key, e] : pending_)
        if (e.what) out.emplace_back(key, e.what);
    return out;
}

void publish_window::set_receive_maximum(int receive_maximum) {
    window_ = std::max(1, std::min(max_inflight_, receive_maximum - 1));
}

}  // namespace connguard::mqtt::detail
