#pragma once
// Whole-file writes that a crash cannot tear, and the matching whole-file read.
//
// write_file_atomic: temp file next to the target (`<path>.tmp`, mode 0600), write, fsync, rename
// over the target, fsync the folder. A crash leaves the old file or the new one, never a mix.
// Errors name the file: "file.write"; read_file: "file.missing" (no such file) or "file.read".
#include <filesystem>
#include <string>

#include "common/result.h"

namespace connguard {

/// Writes `bytes` to `path` atomically (temp + fsync + rename + fsync of the folder), mode 0600.
status write_file_atomic(const std::filesystem::path& path, const std::string& bytes);

/// Reads a whole file; "file.missing" when it does not exist, "file.read" when it cannot be read.
result<std::string> read_file(const std::filesystem::path& path);

}  // namespace connguard
