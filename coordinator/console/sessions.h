#pragma once
// Console sessions and pending sign-ins, in memory — pure: time comes from the project clock.
//
//   session_store s(clk, {.idle = 30min, .absolute = 12h});
//   auto sess = s.create(person);       // new id (the cookie value) and CSRF token
//   auto live = s.touch(id);            // nullopt when unknown or idle/absolutely expired (then erased)
//   s.put_pending(state, entry);        // a started sign-in, by its OIDC state
//   auto p = s.take_pending(state);     // once: a second take of the same state finds nothing
//
// Thread-safe (one mutex). Sessions end with the process: a restart signs everyone out.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"
#include "coordinator/console/oidc.h"
#include "coordinator/task_machine.h"  // role

namespace connguard::coord::console {

struct session {
    std::string id;    ///< the cookie value (random, 256 bits)
    std::string csrf;  ///< the CSRF token (random, 256 bits), required on every state-changing request
    std::string object_id, upn, name;
    role who = role::none;
    std::int64_t auth_time_ms = 0;  ///< when the person last signed in at the IdP
    std::int64_t created_ms = 0;
    std::int64_t last_seen_ms = 0;
};

struct pending_entry {
    pending_sign_in sign_in;
    std::string return_path;  ///< a local path ("/tasks/abc"), checked before it is stored
    std::string browser_binding;  ///< the value of the sign-in cookie given to the browser that started it
};

/// A random token: `bytes` random bytes (OpenSSL RAND_bytes), base64url without padding.
std::string random_token(std::size_t bytes = 32);

class session_store {
public:
    struct limits {
        std::chrono::milliseconds idle{std::chrono::minutes{30}};
        std::chrono::milliseconds absolute{std::chrono::hours{12}};
        std::chrono::milliseconds pending_ttl{std::chrono::minutes{10}};
        std::size_t max_pending = 10000;  ///< oldest dropped beyond this (sign-ins never finished)
    };
    session_store(const clock& clk, limits l) : clk_(clk), limits_(l) {}

    /// Stores a new session for `person` (its id, csrf, created and last-seen are set here).
    session create(session person);
    /// The live session with this id, its last-seen moved to now; nullopt (and erased) when
    /// unknown, idle longer than `idle` or older than `absolute`.
    std::optional<session> touch(const std::string& id);
    /// Whether the session is live, without moving its last-seen (an open event stream does not
    /// keep a session alive).
    bool alive(const std::string& id) const;
    void remove(const std::string& id);
    std::size_t size() const;

    void put_pending(pending_entry entry);
    /// The pending sign-in with this state, removed (used once); nullopt when unknown or older than pending_ttl.
    std::optional<pending_entry> take_pending(const std::string& state);

private:
    std::int64_t now_ms() const { return to_unix_ms(clk_.now()); }
    void sweep(std::int64_t now);
    const clock& clk_;
    limits limits_;
    mutable std::mutex mu_;
    std::map<std::string, session> sessions_;
    std::map<std::string, pending_entry> pending_;
    std::int64_t last_sweep_ms_ = 0;
};

}  // namespace connguard::coord::console
