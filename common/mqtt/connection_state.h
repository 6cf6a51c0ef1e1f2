#pragma once
// The connection state of mqtt::client as one value, and every transition in one function.
// Pure: no locking, no I/O. The client holds its mutex around every call.
//
//   disconnected/stopping --connect(keep_trying)--> connecting --token done--> disconnected
//   stopping --connect()--> disconnected
//   any but closed --paho connected--> connected_waiting_subscriptions --subscribed--> ready
//   connected_waiting_subscriptions/ready --connection lost--> disconnected (paho reconnects)
//   any but closed --disconnect()--> stopping (handlers stop retrying)
//   any --destruction--> closed (final)
#include <cstdint>

namespace connguard::mqtt::detail {

enum class conn_state {
    disconnected,                     ///< not connected; paho's automatic reconnect may be running
    connecting,                       ///< the supervisor keeps trying the first connect (background)
    connected_waiting_subscriptions,  ///< paho's connected callback ran; subscriptions being renewed
    ready,                            ///< connected and this connection's subscriptions acknowledged
    stopping,                         ///< disconnect() called: not connected, handlers stop retrying
    closed,                           ///< the client is being destroyed (final)
};

enum class conn_event {
    connect_requested,     ///< connect() called (leaves `stopping`)
    background_connect,    ///< connect(keep_trying): the supervisor takes over
    connect_token_done,    ///< an attempt's CONNACK arrived (the connected callback may still follow)
    paho_connected,        ///< paho's connected callback (first connect or automatic reconnect)
    subscriptions_done,    ///< the subscriptions of connection generation `gen` were acknowledged
    connection_lost,       ///< connection lost or closed by the broker
    disconnect_requested,  ///< disconnect() called
    disconnect_done,       ///< disconnect() finished closing the connection
    shutdown,              ///< destruction began
};

const char* to_string(conn_state s);

class connection_state {
public:
    /// Applies `e`; `gen` is only read for subscriptions_done. Returns true when the state changed.
    bool apply(conn_event e, std::uint64_t gen = 0);

    conn_state state() const { return state_; }
    /// Incremented on every paho_connected: tells a renewal for an older connection from this one.
    std::uint64_t generation() const { return generation_; }

    bool connected() const {
        return state_ == conn_state::connected_waiting_subscriptions || state_ == conn_state::ready;
    }
    bool ready() const { return state_ == conn_state::ready; }
    bool needs_subscriptions() const { return state_ == conn_state::connected_waiting_subscriptions; }
    bool wants_connect() const { return state_ == conn_state::connecting; }
    /// Handlers that ask to retry give up (their message is held on disk or dropped).
    bool handlers_give_up() const { return state_ == conn_state::stopping || state_ == conn_state::closed; }
    bool closed() const { return state_ == conn_state::closed; }

private:
    conn_state state_ = conn_state::disconnected;
    std::uint64_t generation_ = 0;
};

}  // namespace connguard::mqtt::detail
