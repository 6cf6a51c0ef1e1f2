#pragma once
// Internal helpers of connguard_whatif for tolerant reading of Graph JSON (not part of the contract).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "common/text.h"  // to_lower, iequals: used throughout the what-if engine

namespace connguard::whatif::detail {

std::string trim(std::string_view s);
/// Case-insensitive membership.
bool icontains(const std::vector<std::string>& v, std::string_view s);

/// The member `key` of object `o`: the exact key, else a key equal ignoring case; nullptr when
/// absent or when `o` is not an object. `null` values are returned as they are.
const nlohmann::json* member(const nlohmann::json& o, std::string_view key);
/// member() that treats null as absent.
const nlohmann::json* present(const nlohmann::json& o, std::string_view key);

/// Reads a string collection: absent/null -> empty; array of strings (nulls skipped); a string is
/// a comma-separated flags value. Anything else is an error naming `path`.
result<std::vector<std::string>> strings(const nlohmann::json& o, std::string_view key, const std::string& path,
                                         const std::string& code);
/// Reads an optional string; absent/null -> empty. Non-string is an error naming `path`.
result<std::string> string_field(const nlohmann::json& o, std::string_view key, const std::string& path,
                                 const std::string& code);
/// Reads an optional bool; absent/null -> fallback. Accepts "true"/"false" strings.
result<bool> bool_field(const nlohmann::json& o, std::string_view key, bool fallback, const std::string& path,
                        const std::string& code);
/// Short JSON type name for error messages ("number", "array", ...).
std::string type_name(const nlohmann::json& j);

}  // namespace connguard::whatif::detail
