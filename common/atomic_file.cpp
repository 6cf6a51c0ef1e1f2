#include "common/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace connguard {
namespace {

std::string errno_text() { return std::strerror(errno); }

}  // namespace

status write_file_atomic(const std::filesystem::path& path, const std::string& bytes) {
    const auto tmp = path.string() + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return make_error("file.write", tmp + ": cannot create: " + errno_text());
    std::size_t off = 0;
    while (off < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            auto e = make_error("file.write", tmp + ": write failed: " + errno_text());
            ::close(fd);
            return e;
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        auto e = make_error("file.write", tmp + ": fsync failed: " + errno_text());
        ::close(fd);
        return e;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        return make_error("file.write", path.string() + ": rename failed: " + errno_text());
    const auto parent = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
    int dfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

result<std::string> read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (!std::filesystem::exists(path)) return make_error("file.missing", path.string() + ": does not exist");
        return make_error("file.read", path.string() + ": cannot open");
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace connguard
