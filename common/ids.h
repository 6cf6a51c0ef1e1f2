#pragma once
// Unique ids: random UUIDv4 strings (envelope ids, task ids, command ids, request ids).
#include <string>

namespace connguard {

/// A random RFC 4122 version-4 UUID, lowercase, e.g. "1b4e28ba-2fa1-11d2-883f-0016d3cca427".
/// Thread-safe; seeded from the OS once per thread.
std::string new_uuid();

/// Hex SHA-256 of the bytes (used for digests, fingerprints and the audit hash chain).
std::string sha256_hex(const std::string& bytes);

}  // namespace connguard
