#pragma once
// Small OpenSSL helpers for the simulator: digests, HMAC, certificate loading and
// RS256/PS256 signature verification (client assertions).
#include <optional>
#include <string>
#include <string_view>

#include "tools/graph-sim/scenario.h"

namespace connguard::graph_sim {

std::string sha256_raw(std::string_view bytes);
std::string sha1_raw(std::string_view bytes);
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string random_bytes(std::size_t n);

/// Loads a PEM certificate (first one in the file): DER, thumbprints and public key.
result<certificate> load_certificate(const std::filesystem::path& pem_file);

/// Verifies an RS256 (PKCS#1 v1.5) or PS256 (PSS, any salt length) signature over `signing_input`.
bool verify_rsa_signature(const certificate& cert, std::string_view alg, std::string_view signing_input,
                          std::string_view signature);

/// GUID text -> 16 bytes in .NET (little-endian first three groups) order; empty on bad input.
std::string guid_bytes_le(const std::string& guid);

}  // namespace connguard::graph_sim
