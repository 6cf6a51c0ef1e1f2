#pragma once
// Reading policy files and folders (the only I/O in connguard_whatif). Text encodings: UTF-8 with
// or without BOM, UTF-16 LE/BE with BOM. A folder contributes every *.json directly inside it, in
// name order. Errors name the file and, for invalid JSON, the line and column.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/whatif/policy.h"
#include "common/result.h"

namespace connguard::whatif {

/// A policy and the file it came from.
struct loaded_policy {
    policy value;
    std::filesystem::path file;
};

/// Bytes -> UTF-8 text: strips a UTF-8 BOM, converts UTF-16 LE/BE with BOM. Error code "whatif.encoding".
result<std::string> decode_text(const std::string& bytes);

/// Decodes and parses one JSON file. Errors: "whatif.io" (cannot read), "whatif.encoding",
/// "whatif.json" ("<file>: invalid JSON at line L, column C: ...").
result<nlohmann::json> read_json_file(const std::filesystem::path& file);

/// Policies from one file or folder, in order. Errors name the file (and the field).
result<std::vector<loaded_policy>> load_policies(const std::filesystem::path& path);

/// The *.json files directly inside a folder, in name order (or the path itself when it is a file).
result<std::vector<std::filesystem::path>> policy_files(const std::filesystem::path& path);

}  // namespace connguard::whatif
