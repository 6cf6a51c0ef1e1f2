#pragma once
// Text helpers of the Graph client (private): URL path segments, BOM-tolerant JSON, string fields,
// message-safe paths and Graph's error JSON as one line.
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/http/http_client.h"
#include "common/result.h"

namespace connguard::graph::detail {

std::string strip_trailing_slash(std::string s);
/// A path segment: unreserved characters and '@' stay, everything else is %-encoded.
std::string segment(const std::string& s);
/// The body as JSON (a UTF-8 BOM is skipped); a discarded value when it is not JSON.
nlohmann::json parse_json(std::string_view body);
/// j[key] when j is an object and it is a string; empty otherwise.
std::string str(const nlohmann::json& j, const char* key);
/// j[outer][key] when both exist and it is a string; empty otherwise.
std::string nested_str(const nlohmann::json& j, const char* outer, const char* key);
/// The path of a URL (scheme and authority removed, query kept short) for messages.
std::string path_for_message(const std::string& url);
std::string first_line(const std::string& s);
/// Graph's error JSON: {"error":{"code","message","innerError"|"innererror":{"code","request-id"}}}.
std::string describe_graph_error(const http::response& resp);
/// A credential file's text; "graph.credential" naming the file when it cannot be read.
result<std::string> read_text_file(const std::filesystem::path& file, const char* what);

}  // namespace connguard::graph::detail
