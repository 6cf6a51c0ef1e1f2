#pragma once
// Encoding and validating connguard.v1.Envelope payloads (DESIGN §4, §10).
#include <cstddef>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "connguard/v1/envelope.pb.h"

namespace connguard::codec {

inline constexpr std::uint32_t schema_version = 1;
/// Largest payload we accept; the broker's max_packet_size is set above it (broker-config/).
inline constexpr std::size_t max_payload_bytes = 256 * 1024;

/// Why a payload was refused. Stable names: they are counters and log fields.
enum class reject_reason {
    none,
    oversize,             ///< larger than max_payload_bytes
    malformed,            ///< not a protobuf Envelope (truncated, garbage)
    unknown_schema,       ///< schema_version is not one we speak
    missing_id,           ///< no envelope id (cannot dedupe)
    missing_body,         ///< no body set
    tenant_mismatch,      ///< the payload's tenant differs from the topic's tenant
    wrong_body_for_topic, ///< e.g. an AgentCommand on an events topic
    unknown_topic,        ///< the topic is not part of the scheme
};
std::string_view to_string(reject_reason r);

/// Fills id (new UUID if empty), time (from clk if unset) and schema_version, then serializes.
std::string encode(connguard::v1::Envelope& env, const clock& clk);

/// Builds an envelope around a body. `source` is e.g. "agent/contoso".
connguard::v1::Envelope make_envelope(std::string_view tenant, std::string_view source);

struct decode_result {
    reject_reason reason = reject_reason::none;
    std::string detail;              ///< for logs: what exactly was wrong
    connguard::v1::Envelope envelope;
    bool ok() const { return reason == reject_reason::none; }
};

/// Decodes and validates a payload received on `topic`: size, parse, schema version, id, body,
/// topic/body agreement and topic tenant == payload tenant. Never throws.
decode_result decode(std::string_view topic, std::string_view payload);

}  // namespace connguard::codec
