#pragma once
// The one MQTT client of ConnGuard: a thin, safe wrapper over paho-mqtt-cpp 1.2.0 (async_client).
//
// What it guarantees (see ../shared/reference/mqtt.md for the traps it avoids):
//  - MQTT v5 only; username/password; optional TLS (CA file, optional client cert/key).
//  - Persistent session: clean_start=false + session expiry, stable client id. Subscriptions are
//    (re)made on every (re)connect, so automatic reconnect never loses them. A clean_start client
//    still sends a short session expiry (1-60 s), never 0 (see below).
//  - Last Will (topic, payload, qos, retained).
//  - Publishing: QoS 0/1, retained flag, v5 response topic and correlation data. While the broker is
//    away, publishes go to a bounded offline buffer (max_buffered) kept on disk by paho's file
//    persistence under `persistence_dir` (verified: a new client with the same persistence_dir,
//    client id and server URI sends them after a process restart; paho names its folder after
//    client id + URI). A publish past the bound fails with "mqtt.buffer_full", never silently.
//    While connected, at most min(max_inflight, broker Receive Maximum - 1) publishes are
//    un-acknowledged (paho-mqtt-c 1.3.12 stalls beyond it); publish()/publish_async() block
//    (backpressure) until a slot frees, publish_async for at most 30 s.
//    A v5 PUBACK >= 0x80 is an error: 0x87 (ACL refusal) gives code "mqtt.not_authorized".
//  - Receiving: the handler runs on paho's receive thread; paho-mqtt-c 1.3.12 sends the PUBACK only
//    after the callback returned, so a QoS 1 message is acknowledged only after every matching
//    handler returned `handled`. On `retry` (or an exception) the wrapper calls the handler again in
//    place with backoff (50 ms doubling to 5 s). CAUTION: paho-mqtt-c has ONE receive thread per
//    process and holds its client mutex during the callback, so while a handler holds a message
//    every MQTT client of the process pauses (that is the backpressure; keep handlers short).
//  - Shutdown (disconnect() or destruction) while a handler still answers `retry`: paho would ack
//    the message as soon as the callback returns and cannot close the connection first, so the
//    message is written to `persistence_dir`/held/ and handed to the handler again by the next
//    connect() of a client with that persistence_dir (before it connects). Without
//    persistence_dir it is dropped, logged as an error and counted in stats().dropped_unhandled.
//  - Never lets an exception escape into paho's threads; errors come back as result/status values
//    (codes: mqtt.not_authorized, mqtt.refused, mqtt.failed, mqtt.timeout, mqtt.buffered,
//    mqtt.buffer_full, mqtt.bad_topic, mqtt.bad_qos, mqtt.closed) and are logged; the password is
//    registered with log::add_secret and never logged.
//  - Do not call disconnect() or destroy the client from inside one of its handlers.
//
// A publish whose first write fails (paho-mqtt-c 1.3.12 bug; issue 13). When the connection breaks
// while paho's send thread writes a QoS 1 PUBLISH for the first time (a broker restart under load
// does it to almost every publishing client), MQTTAsync_processCommand takes its SOCKET_ERROR
// branch: it calls the publish's onFailure (rc -1, "message id 0") and MQTTAsync_freeCommand()
// frees the command's topic and payload, although MQTTProtocol_startPublish had already stored
// those same two buffers in the in-flight copy it keeps for the session (outboundMsgs). Nothing
// clears that copy: on the next reconnect MQTTAsync_completeConnection -> MQTTProtocol_retry ->
// MQTTProtocol_retries sends it again from freed memory, first of all. Measured before this
// workaround (50 unpaced connguard-loadgen agents, 3 broker restarts): PUBLISH packets with heap
// garbage as topic (a sniffing proxy saw pointer bytes and "TTProtocolClient.c"); Mosquitto logged
// "disconnected due to malformed packet" 1479 times and "protocol error" 113 times; an affected
// client was dropped again on every reconnect, so nothing behind that copy completed (6961 of 15000
// acknowledged; paced runs: one client with 73 publishes unacknowledged after 2 minutes, or the
// process killed by SIGSEGV); copies whose topic was still readable carried a freed payload that
// the broker accepted and the coordinator rejected as not an Envelope. AddressSanitizer (LD_PRELOAD, paho 1.3.12 built with
// symbols): heap-use-after-free in strlen <- MQTTPacket_send_publish <- MQTTProtocol_retries <-
// MQTTAsync_completeConnection, freed by MQTTAsync_freeCommand1 <- MQTTAsync_processCommand
// (MQTTAsyncUtils.c:1584 in v1.3.12; the branch is unchanged in 1.3.13). Cleaning the session or
// destroying that paho client frees the buffers a second time (the "double free" crashes of
// eclipse-paho/paho.mqtt.c#1532, #1621, #1622 and paho.mqtt.cpp#568).
// The workaround, where a publish completes: such a failure is not reported to the caller; the
// client switches that paho client's automatic reconnect off at once (in the callback, before
// paho's own DISCONNECT of the broken connection could schedule it), sets the paho client aside for
// the rest of the process (never reconnected, never destroyed: it keeps the memory it held),
// creates a new paho client for the same id (it restores what was persisted in persistence_dir),
// hands it every publish not yet acknowledged under the same key and reconnects. Session expiry 0
// would make paho empty its in-flight list within that same DISCONNECT, freeing the buffers a
// second time before the client can act, so the client never sends 0: a clean_start client asks
// for up to 60 s (its next clean start discards that session anyway). stats().paho_replaced counts
// the replacements. Costs: publishes in flight at the break may reach the broker twice (QoS 1 is at
// least once; the coordinator dedupes by envelope id), and each set-aside paho client stays in
// memory with the publishes it held. Proven by tests/e2e/broker_restart_test.cpp and
// MqttDurability.Unpaced* (tests/common/mqtt_durability_test.cpp).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace connguard::mqtt {

/// TLS settings for ssl:// URIs.
struct tls_options {
    std::string ca_file{};    ///< CA that signed the broker certificate (required for ssl://)
    std::string cert_file{};  ///< optional client certificate (PEM)
    std::string key_file{};   ///< optional client private key (PEM)
    bool verify_server = true;
};

struct will_options {
    std::string topic{};
    std::string payload{};
    int qos = 1;
    bool retained = true;
};

struct client_options {
    std::string server_uri = "tcp://127.0.0.1:1883";  ///< tcp://host:port or ssl://host:port
    std::string client_id;       ///< stable and unique; required
    std::string username;        ///< required (anonymous access is off)
    std::string password;        ///< never logged
    std::optional<tls_options> tls;
    std::optional<will_options> will;
    bool clean_start = false;                              ///< false = persistent session
    /// How long the broker keeps the session after a disconnect. Sent as at least 1 s, and with
    /// clean_start as at most 60 s (never 0: see "A publish whose first write fails" above).
    std::chrono::seconds session_expiry{7 * 24 * 3600};
    std::chrono::seconds keep_alive{30};
    std::chrono::milliseconds reconnect_min{250};
    std::chrono::milliseconds reconnect_max{10000};
    std::string persistence_dir;   ///< on-disk offline buffer; empty = memory only (lost on restart)
    int max_buffered = 10000;      ///< offline buffer bound; a publish beyond it fails (never silently)
    int max_inflight = 16;         ///< our un-acked window; kept below the broker's receive maximum
};

/// Builder in the style of paho's connect_options_builder.
class client_options_builder {
public:
    client_options_builder& server_uri(std::string v) { o_.server_uri = std::move(v); return *this; }
    client_options_builder& client_id(std::string v) { o_.client_id = std::move(v); return *this; }
    client_options_builder& credentials(std::string user, std::string password) {
        o_.username = std::move(user);
        o_.password = std::move(password);
        return *this;
    }
    client_options_builder& tls(tls_options v) { o_.tls = std::move(v); return *this; }
    client_options_builder& will(will_options v) { o_.will = std::move(v); return *this; }
    client_options_builder& clean_start(bool v) { o_.clean_start = v; return *this; }
    client_options_builder& session_expiry(std::chrono::seconds v) { o_.session_expiry = v; return *this; }
    client_options_builder& keep_alive(std::chrono::seconds v) { o_.keep_alive = v; return *this; }
    client_options_builder& reconnect(std::chrono::milliseconds min, std::chrono::milliseconds max) {
        o_.reconnect_min = min;
        o_.reconnect_max = max;
        return *this;
    }
    client_options_builder& persistence_dir(std::string v) { o_.persistence_dir = std::move(v); return *this; }
    client_options_builder& max_buffered(int v) { o_.max_buffered = v; return *this; }
    client_options_builder& max_inflight(int v) { o_.max_inflight = v; return *this; }
    client_options finalize() const { return o_; }

private:
    client_options o_;
};

/// A received or outgoing message.
struct message {
    std::string topic{};
    std::string payload{};
    int qos = 1;
    bool retained = false;
    std::string response_topic{};   ///< MQTT v5 Response Topic (request/response)
    std::string correlation_data{}; ///< MQTT v5 Correlation Data
};

/// A QoS 1 (by default) message; avoids -Wmissing-field-initializers with brace initialisation.
inline message make_message(std::string topic, std::string payload, int qos = 1, bool retained = false) {
    message m;
    m.topic = std::move(topic);
    m.payload = std::move(payload);
    m.qos = qos;
    m.retained = retained;
    return m;
}

enum class handler_result { handled, retry };
using message_handler = std::function<handler_result(const message&)>;

/// Counters for logs, status and tests.
struct client_stats {
    std::uint64_t published = 0;          ///< acknowledged by the broker (QoS 1) or sent (QoS 0)
    std::uint64_t publish_failures = 0;   ///< refused by the broker (e.g. ACL: reason 0x87) or buffer full
    std::uint64_t received = 0;           ///< messages handed to the handler
    std::uint64_t handler_retries = 0;    ///< handler asked to retry
    std::uint64_t reconnects = 0;         ///< successful reconnects after a loss
    bool connected = false;
    std::uint64_t pending = 0;            ///< publishes of this process not yet acknowledged (in flight or buffered)
    int window = 0;                       ///< current un-acked window: min(max_inflight, broker Receive Maximum - 1)
    std::uint64_t dropped_unhandled = 0;  ///< closed while a handler still refused a message and no persistence_dir
    std::uint64_t paho_replaced = 0;      ///< paho clients set aside after a publish failed on its first write (see above)
    std::uint64_t resent_after_replace = 0;  ///< un-acknowledged publishes handed to a new paho client
};

/// MQTT filter matching (+, #, and a leading $share/<group>/), as the wrapper uses to dispatch.
bool topic_matches_filter(std::string_view filter, std::string_view topic);

class client {
public:
    /// Throws std::invalid_argument for options that can never work (programming/config errors).
    explicit client(client_options opts);
    ~client();  ///< disconnects (without sending the Will) if still connected
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    /// Subscribes `filter` (QoS 1) with `handler`; remembered and renewed on every reconnect.
    /// May be called before or after connect().
    void subscribe(std::string filter, message_handler handler);

    /// Connects (waits up to `timeout` for the first CONNACK) and keeps reconnecting afterwards.
    /// Returns an error (refused credentials, unreachable broker) if the first attempt fails; with
    /// `keep_trying` it returns at once and connects in the background instead.
    status connect(std::chrono::milliseconds timeout = std::chrono::seconds{10}, bool keep_trying = false);

    /// Publishes and waits until the broker acknowledged (QoS 1) or `timeout` passed.
    /// When disconnected the message is buffered (on disk when persistence_dir is set) and the call
    /// returns an error code "mqtt.buffered" after the timeout; the message is still delivered later.
    status publish(const message& m, std::chrono::milliseconds timeout = std::chrono::seconds{10});

    /// Publishes without waiting; `on_done` (optional) runs on paho's thread with the outcome.
    status publish_async(const message& m, std::function<void(status)> on_done = {});

    /// Waits until every buffered/in-flight publish was acknowledged or `timeout` passed.
    bool flush(std::chrono::milliseconds timeout);

    /// Clean disconnect (the broker does not send the Will).
    void disconnect(std::chrono::milliseconds timeout = std::chrono::seconds{5});

    bool connected() const;
    client_stats stats() const;
    const client_options& options() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace connguard::mqtt
