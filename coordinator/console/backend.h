#pragma once
// What the console needs from the running coordinator, and nothing more: run an admin request as
// a person (through the committer, the same engine path as connguardctl's MQTT requests), and
// wait for what the coordinator commits (for Server-Sent Events).
//
// Implemented by coord::service; tests may implement it over a real engine and store.
#include <chrono>
#include <cstdint>
#include <vector>

#include "common/result.h"
#include "connguard/v1/admin.pb.h"
#include "coordinator/principal.h"

namespace connguard::coord {

class console_backend {
public:
    virtual ~console_backend() = default;

    /// Runs `req` as `who` and returns the answer once its transaction committed. A refusal
    /// (forbidden, stale plan, ...) is a response with ok=false; an error means the coordinator
    /// could not process it (stopping, database failure) and nothing changed.
    virtual result<v1::AdminResponse> admin(const principal& who, const v1::AdminRequest& req) = 0;

    /// The seq of the newest committed change (0 before any).
    virtual std::uint64_t change_head() const = 0;
    /// Changes with seq > after, waiting up to `timeout` for one to arrive. Returns them in seq
    /// order (possibly none). When `after` is older than what is kept, `*gap` is set: the caller
    /// must reload everything.
    virtual std::vector<v1::ConsoleChange> wait_changes(std::uint64_t after, std::chrono::milliseconds timeout,
                                                        bool* gap) = 0;
};

}  // namespace connguard::coord
