#pragma once
// Small text, time and id helpers shared by the simulator's modules (no state, no I/O).
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace connguard::graph_sim {

using json = nlohmann::json;

/// Non-empty path segments: "/v1.0/users/x" -> {"v1.0", "users", "x"}.
std::vector<std::string> split_path(const std::string& path);

std::int64_t unix_now();

/// Now as RFC 3339 with milliseconds (createdDateTime / modifiedDateTime of CA policies).
std::string now_rfc3339();

/// HTTP Date header value: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date();

/// Parsed DateTimeOffset of a JSON field (epoch when absent or malformed).
std::chrono::system_clock::time_point time_of(const json& item, const char* key);

/// A stable GUID derived from text (directoryRole object ids and similar).
std::string derived_guid(const std::string& text);

/// Role template id -> display name (graph.md §5 and §7).
std::string role_name(const std::string& template_id);

}  // namespace connguard::graph_sim
