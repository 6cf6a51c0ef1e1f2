#pragma once
// What a service checks before it starts writing and reading files (--check-config): problems a
// config loader cannot see, found before the first cycle or the first write instead of after.
// Each answer names the path and the reason; nothing is created or changed.
#include <filesystem>

#include "common/result.h"

namespace connguard {

/// ok when `dir` is a folder this process can write into, or when it can be created (its parent
/// is such a folder). Error "file.not_writable".
status check_writable_folder(const std::filesystem::path& dir);
/// ok when `file` can be written: it exists as a writable file, or its folder is writable.
/// Error "file.not_writable".
status check_writable_file(const std::filesystem::path& file);
/// ok when `file` exists and this process can read it. Error "file.not_readable".
status check_readable_file(const std::filesystem::path& file);

}  // namespace connguard
