#pragma once
// Small ASCII text helpers shared by every module: lower-casing, case-insensitive comparison,
// base64 / base64url (RFC 4648), HTML escaping and the short names of the wire enums. Pure; no locale.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace connguard {

/// ASCII lower case ("Contoso.COM" -> "contoso.com"); other bytes unchanged.
std::string to_lower(std::string_view s);

/// Equal ignoring ASCII case.
bool iequals(std::string_view a, std::string_view b);

/// Standard base64 (alphabet "+/"), padded with '='.
std::string base64_encode(std::string_view bytes);
/// Strict inverse of base64_encode: standard alphabet, length a multiple of 4, '=' only as the
/// final padding; nullopt on anything else.
std::optional<std::string> base64_decode(std::string_view text);

/// Base64url (alphabet "-_") without padding (RFC 7515 §2).
std::string base64url_encode(std::string_view bytes);
/// Tolerant decoder: base64url or standard base64, padded or not; nullopt on a character outside
/// both alphabets or a truncated final group.
std::optional<std::string> base64url_decode(std::string_view text);

/// The short name of a wire enum value: its generated `<Enum>_Name()` without the enum's prefix,
/// "UNSPECIFIED" for a number the enum does not define (protobuf names it ""):
///   enum_word(v1::CheckStatus_Name(s), "CHECK_STATUS_") -> "WARN".
std::string enum_word(std::string_view name, std::string_view prefix);

/// Splits a listen address "host:port" or "[v6]:port" (port 0..65535; brackets removed from the
/// host). False on anything else: no port, an empty host, an unbracketed IPv6 address.
bool parse_host_port(std::string_view text, std::string& host, int& port);

/// Text safe inside HTML element content and quoted attribute values: & < > " ' as entities.
std::string html_escape(std::string_view s);

/// A duration for people, whole units rounded down: "750 ms", "45 s", "2 min 1 s", "12 min",
/// "3 h 5 min" (seconds below 2 minutes and beside minutes below 10, minutes below 2 hours).
/// Negative counts as 0.
std::string duration_words(std::int64_t ms);

}  // namespace connguard
