#include "coordinator/console/sessions.h"

#include <openssl/rand.h>

#include <stdexcept>
#include <string>

#include "common/text.h"

namespace connguard::coord::console {

std::string random_token(std::size_t bytes) {
    std::string raw(bytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) != 1)
        throw std::runtime_error("RAND_bytes failed");  // the caller's handler turns it into a 500
    return base64url_encode(raw);
}

session session_store::create(session person) {
    const auto now = now_ms();
    person.id = random_token();
    person.csrf = random_token();
    person.created_ms = now;
    person.last_seen_ms = now;
    std::lock_guard lock(mu_);
    sweep(now);
    sessions_[person.id] = person;
    return person;
}

std::optional<session> session_store::touch(const std::string& id) {
    const auto now = now_ms();
    std::lock_guard lock(mu_);
    sweep(now);
    const auto it = sessions_.find(id);
    if (it == sessions_.end()) return std::nullopt;
    auto& s = it->second;
    if (now - s.last_seen_ms > limits_.idle.count() || now - s.created_ms > limits_.absolute.count()) {
        sessions_.erase(it);
        return std::nullopt;
    }
    s.last_seen_ms = now;
    return s;
}

bool session_store::alive(const std::string& id) const {
    const auto now = now_ms();
    std::lock_guard lock(mu_);
    const auto it = sessions_.find(id);
    if (it == sessions_.end()) return false;
    const auto& s = it->second;
    return now - s.last_seen_ms <= limits_.idle.count() && now - s.created_ms <= limits_.absolute.count();
}

void session_store::remove(const std::string& id) {
    std::lock_guard lock(mu_);
    sessions_.erase(id);
}

std::size_t session_store::size() const {
    std::lock_guard lock(mu_);
    return sessions_.size();
}

void session_store::put_pending(pending_entry entry) {
    const auto now = now_ms();
    entry.sign_in.started_ms = entry.sign_in.started_ms ? entry.sign_in.started_ms : now;
    std::lock_guard lock(mu_);
    sweep(now);
    while (pending_.size() >= limits_.max_pending) {
        // Drop the oldest started sign-in.
        auto oldest = pending_.begin();
        for (auto it = pending_.begin(); it != pending_.end(); ++it)
            if (it->second.sign_in.started_ms < oldest->second.sign_in.started_ms) oldest = it;
        pending_.erase(oldest);
    }
    const auto state = entry.sign_in.state;
    pending_[state] = std::move(entry);
}

std::optional<pending_entry> session_store::take_pending(const std::string& state) {
    const auto now = now_ms();
    std::lock_guard lock(mu_);
    const auto it = pending_.find(state);
    if (it == pending_.end()) return std::nullopt;
    auto entry = std::move(it->second);
    pending_.erase(it);
    if (now - entry.sign_in.started_ms > limits_.pending_ttl.count()) return std::nullopt;
    return entry;
}

void session_store::sweep(std::int64_t now) {
    // At most once a minute: drop expired sessions and stale pending sign-ins.
    if (now - last_sweep_ms_ < 60000) return;
    last_sweep_ms_ = now;
    for (auto it = sessions_.begin(); it != sessions_.end();) {
        const auto& s = it->second;
        if (now - s.last_seen_ms > limits_.idle.count() || now - s.created_ms > limits_.absolute.count())
            it = sessions_.erase(it);
        else
            ++it;
    }
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (now - it->second.sign_in.started_ms > limits_.pending_ttl.count()) it = pending_.erase(it);
        else ++it;
    }
}

}  // namespace connguard::coord::console
