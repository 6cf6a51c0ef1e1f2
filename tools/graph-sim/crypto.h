#pragma once
// Small OpenSSL helpers for the simulator: base64url, digests, HMAC, certificate loading and
// RS256/PS256 signature verification (client assertions).
#include <optional>
#include <string>
#include <string_view>

#include "tools/graph-sim/scenario.h"

namespace connguard::graph_sim {

std::string base64_encode(std::string_view bytes);
std::string base64url_encode(std::string_view bytes);  ///< no padding
/// Accepts base64url or base64, with or without padding; nullopt on invalid input.
std::optional<std::string> base64url_decode(std::string_view text);

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
