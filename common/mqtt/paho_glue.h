#pragma once
// Translation between the wrapper's types and paho-mqtt-cpp 1.2.0: option checks, paho options,
// messages both ways, and paho failures to our error codes.
#include <mqtt/async_client.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/mqtt_client.h"
#include "common/result.h"

namespace connguard::mqtt::detail {

namespace paho = ::mqtt;

/// Throws std::invalid_argument for options that can never work (programming/config errors).
void validate(const client_options& o);

/// paho's create options: buffering while disconnected, bounded by max_buffered + max_inflight.
paho::create_options make_create_options(const client_options& o);

/// The Session Expiry Interval sent in CONNECT: the option's value, at most 60 s with clean_start,
/// and never 0 (see the definition: 0 makes paho-mqtt-c free a failed publish twice).
std::chrono::seconds session_expiry_sent(const client_options& o);

/// Fills paho's connect options in place (paho 1.2.0 loses properties when they are copied, #445).
void fill_connect_options(paho::connect_options& co, const client_options& o);

/// Our message as a paho message (v5 response topic and correlation data as properties).
paho::message_ptr to_paho(const message& m);
/// A received paho message as ours.
message from_paho(const paho::message& pm);

/// "135 (Not authorized)".
std::string reason_text(int reason);

/// Maps a failed paho token/exception to mqtt.not_authorized, mqtt.refused or mqtt.failed.
error failure(int rc, int reason, const std::string& what);

/// True for the return code of a QoS 1 publish token that failed because paho-mqtt-c 1.3.12 could
/// not write it to the socket the first time (MQTTAsync_processCommand's SOCKET_ERROR branch,
/// rc -1; -2 for a persistence error on the same branch). paho then frees the publish's topic and
/// payload while its in-flight copy for the session still points at them (mqtt_client.h, "A
/// publish whose first write fails"): that paho client must never send, acknowledge, clean or
/// destroy that copy. Refusals by the broker (PUBACK reason >= 0x80, rc 0) and publishes failed
/// at shutdown (rc -11) are not this.
bool first_write_failed(int return_code);

/// Keeps a paho client that must never be touched again (see first_write_failed) alive and
/// untouched until the process ends, together with what its callbacks reference (`keep`).
/// Reachable from a global, so leak checkers do not report it; never destroyed.
void set_aside_forever(std::unique_ptr<paho::async_client> cli, std::shared_ptr<const void> keep);

}  // namespace connguard::mqtt::detail
