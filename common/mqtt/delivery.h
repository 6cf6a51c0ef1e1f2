#pragma once
// Handing a message to its handlers: the subscription table and the ONE retry loop, used both for
// live messages (paho's receive thread) and for replaying held messages (connect()).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/mqtt_client.h"

namespace connguard::mqtt::detail {

using handler_ptr = std::shared_ptr<message_handler>;

struct subscription {
    std::string filter;
    handler_ptr handler;
};

/// The handlers whose filter matches `topic`, in subscription order.
std::vector<handler_ptr> handlers_for(const std::vector<subscription>& subs, std::string_view topic);

enum class delivery_outcome {
    handled,  ///< every handler returned `handled`
    gave_up,  ///< the deadline came or the client is stopping while a handler still asked to retry
};

/// Between rounds: returns true at once when the handlers must give up (the client is stopping);
/// otherwise waits up to `backoff` (less if the client starts stopping meanwhile) and returns false.
using retry_wait = std::function<bool(std::chrono::milliseconds backoff)>;

struct retry_context {
    const std::string& client_id;               ///< for log lines
    std::atomic<std::uint64_t>& retries;        ///< counts every round that is repeated
    const retry_wait& wait;
};

/// Calls every handler until each returned `handled`, each handler at most once per round; a
/// handler that throws counts as `retry` (the exception never reaches paho). Rounds are repeated
/// after a backoff of 50 ms doubling to 5 s, until all handled, until `deadline` would pass
/// before the next round, or until `ctx.wait` says to give up.
delivery_outcome deliver_with_retry(const message& m, const std::vector<handler_ptr>& handlers,
                                    std::chrono::steady_clock::time_point deadline, const retry_context& ctx);

}  // namespace connguard::mqtt::detail
