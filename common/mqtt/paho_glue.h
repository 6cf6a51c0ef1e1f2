#pragma once
// Translation between the wrapper's types and paho-mqtt-cpp 1.2.0: option checks, paho options,
// messages both ways, and paho failures to our error codes.
#include <mqtt/async_client.h>

#include <string>

#include "common/mqtt_client.h"
#include "common/result.h"

namespace connguard::mqtt::detail {

namespace paho = ::mqtt;

/// Throws std::invalid_argument for options that can never work (programming/config errors).
void validate(const client_options& o);

/// paho's create options: buffering while disconnected, bounded by max_buffered + max_inflight.
paho::create_options make_create_options(const client_options& o);

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

}  // namespace connguard::mqtt::detail
