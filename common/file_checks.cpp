#include "common/file_checks.h"

#include <unistd.h>

namespace connguard {
namespace {

bool can(const std::filesystem::path& p, int mode) { return ::access(p.c_str(), mode) == 0; }

std::filesystem::path folder_of(const std::filesystem::path& p) {
    return p.parent_path().empty() ? std::filesystem::path(".") : p.parent_path();
}

}  // namespace

status check_writable_folder(const std::filesystem::path& dir) {
    std::error_code ec;
    if (std::filesystem::exists(dir, ec)) {
        if (!std::filesystem::is_directory(dir, ec)) return make_error("file.not_writable", dir.string() + ": not a folder");
        if (!can(dir, W_OK | X_OK)) return make_error("file.not_writable", dir.string() + ": not writable by this user");
        return {};
    }
    const auto parent = folder_of(dir);
    if (!std::filesystem::is_directory(parent, ec))
        return make_error("file.not_writable", dir.string() + ": does not exist, and neither does its folder " + parent.string());
    if (!can(parent, W_OK | X_OK))
        return make_error("file.not_writable",
                          dir.string() + ": does not exist and cannot be created (" + parent.string() + " is not writable)");
    return {};
}

status check_writable_file(const std::filesystem::path& file) {
    std::error_code ec;
    if (std::filesystem::exists(file, ec)) {
        if (std::filesystem::is_directory(file, ec)) return make_error("file.not_writable", file.string() + ": is a folder");
        if (!can(file, W_OK)) return make_error("file.not_writable", file.string() + ": not writable by this user");
        return {};
    }
    const auto folder = folder_of(file);
    if (!std::filesystem::is_directory(folder, ec))
        return make_error("file.not_writable", file.string() + ": its folder " + folder.string() + " does not exist");
    if (!can(folder, W_OK | X_OK))
        return make_error("file.not_writable", file.string() + ": cannot be created (" + folder.string() + " is not writable)");
    return {};
}

status check_readable_file(const std::filesystem::path& file) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) return make_error("file.not_readable", file.string() + ": does not exist");
    if (std::filesystem::is_directory(file, ec)) return make_error("file.not_readable", file.string() + ": is a folder");
    if (!can(file, R_OK)) return make_error("file.not_readable", file.string() + ": not readable by this user");
    return {};
}

}  // namespace connguard
