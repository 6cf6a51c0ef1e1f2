#pragma once
// The publishes of one client that paho has not completed yet (in flight or buffered), with their
// completion callbacks, and the backpressure bound: while connected at most window() are
// un-acknowledged (min(max_inflight, broker Receive Maximum - 1): paho-mqtt-c 1.3.12 stalls beyond
// it); while disconnected at most max_buffered wait in the offline buffer.
// Each publish handed to paho also keeps paho's message (opaque here), so that when the client
// has to replace its paho client (mqtt_client.h, "A publish whose first write fails") every
// un-acknowledged publish can be handed to the new one under the same key.
// No locking: the client holds its mutex around every call.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "common/result.h"

namespace connguard::mqtt::detail {

class publish_window {
public:
    using completion = std::function<void(status)>;
    /// What the client needs to hand a publish to another paho client (paho's message).
    using resend_handle = std::shared_ptr<const void>;

    publish_window(int max_inflight, int max_buffered)
        : max_inflight_(max_inflight), max_buffered_(max_buffered), window_(max_inflight) {}

    /// Whether one more publish may be handed to paho now.
    bool has_room(bool connected) const { return outstanding() < (connected ? window_ : max_buffered_); }
    /// Registers a publish about to be handed to paho; returns the key paho carries as user context.
    std::uint64_t add(completion on_done);
    /// Remembers what paho was handed for `key` (no-op when it already completed).
    void handed(std::uint64_t key, resend_handle what);
    /// Whether `key` is still waiting for its outcome.
    bool contains(std::uint64_t key) const { return pending_.count(key) != 0; }
    /// Completes a publish: its callback (possibly empty), or nullopt for an unknown key.
    std::optional<completion> take(std::uint64_t key);
    /// Completes every publish (the client closes without paho answering them): their callbacks.
    std::vector<completion> take_all();
    /// The publishes handed to paho and not yet completed, oldest key first.
    std::vector<std::pair<std::uint64_t, resend_handle>> handed_publishes() const;
    /// Applies the broker's Receive Maximum from the CONNACK.
    void set_receive_maximum(int receive_maximum);

    int outstanding() const { return static_cast<int>(pending_.size()); }
    int window() const { return window_; }

private:
    struct entry {
        completion on_done;
        resend_handle what;  ///< empty until the publish was handed to paho
    };
    int max_inflight_;
    int max_buffered_;
    int window_;
    std::uint64_t next_key_ = 1;
    std::map<std::uint64_t, entry> pending_;
};

}  // namespace connguard::mqtt::detail
