#pragma once
// Why a connect failed, in words an operator can act on. paho-mqtt-c reports every TCP and TLS
// failure as "TCP/TLS connect failure" (rc -1) with no errno, so for those this module asks the
// network itself: it resolves the host, opens a TCP connection and, for ssl://, does the TLS
// handshake with the client's CA file, and reports the first step that fails
// ("connection refused by tcp://127.0.0.1:1883"). Refusals by the broker (CONNACK reason codes)
// become sentences that name the user ("broker tcp://… refused user 'noc': wrong user name or
// password"). Never throws; never includes a password.
#include <chrono>
#include <string>

#include "common/mqtt_client.h"
#include "common/result.h"

namespace connguard::mqtt::detail {

/// The connect failure of `o` as an error: code mqtt.not_authorized (bad credentials, not
/// authorized, banned), mqtt.refused (any other CONNACK refusal), mqtt.unreachable (DNS, TCP or
/// TLS failed; the message says which and why) or mqtt.failed. `rc` and `reason` are paho's
/// return code and MQTT reason code; `probe_timeout` bounds the network probe.
error connect_failure(const client_options& o, int rc, int reason,
                      std::chrono::milliseconds probe_timeout = std::chrono::seconds{5});

/// What the network says about `server_uri` (tcp://host:port or ssl://host:port), as the words
/// after the URI: "connection refused by tcp://127.0.0.1:1883 (is the broker running …?)". Empty
/// when host, TCP and (for ssl://, with `tls`) the TLS handshake all work.
std::string probe_network(const std::string& server_uri, const tls_options* tls, std::chrono::milliseconds timeout);

}  // namespace connguard::mqtt::detail
