#include "common/mqtt/connection_state.h"

namespace connguard::mqtt::detail {

const char* to_string(conn_state s) {
    switch (s) {
        case conn_state::disconnected: return "disconnected";
        case conn_state::connecting: return "connecting";
        case conn_state::connected_waiting_subscriptions: return "connected_waiting_subscriptions";
        case conn_state::ready: return "ready";
        case conn_state::stopping: return "stopping";
        case conn_state::closed: return "closed";
    }
    return "unknown";
}

bool connection_state::apply(conn_event e, std::uint64_t gen) {
    using enum conn_state;
    const conn_state before = state_;
    if (state_ == closed) return false;  // final
    switch (e) {
        case conn_event::connect_requested:
            if (state_ == stopping) state_ = disconnected;
            break;
        case conn_event::background_connect:
            if (state_ == disconnected || state_ == stopping) state_ = connecting;
            break;
        case conn_event::connect_token_done:
            // paho completes the connect token before it calls the connected handler: never try
            // a second connect meanwhile; later drops are paho's automatic reconnect's job.
            if (state_ == connecting) state_ = disconnected;
            break;
        case conn_event::paho_connected:
            // Also from `stopping`: paho's automatic reconnect may still succeed after a
            // disconnect() that found no connection to close; the client is connected again.
            ++generation_;
            state_ = connected_waiting_subscriptions;
            break;
        case conn_event::subscriptions_done:
            if (state_ == connected_waiting_subscriptions && gen == generation_) state_ = ready;
            break;
        case conn_event::connection_lost:
            if (state_ == connected_waiting_subscriptions || state_ == ready) state_ = disconnected;
            break;
        case conn_event::disconnect_requested:
        case conn_event::disconnect_done:
            state_ = stopping;
            break;
        case conn_event::shutdown:
            state_ = closed;
            break;
    }
    return state_ != before;
}

}  // namespace connguard::mqtt::detail
