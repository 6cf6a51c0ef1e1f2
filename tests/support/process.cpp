#include "tests/support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace connguard::test {

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        throw std::runtime_error("free_port: bind failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

bool wait_for_port(int port, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<uint16_t>(port));
        const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        if (ok) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    return false;
}

process::process(std::vector<std::string> argv, std::filesystem::path log_file,
                 std::map<std::string, std::string> extra_env) {
    if (argv.empty()) throw std::invalid_argument("process: empty argv");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("process: fork failed");
    if (pid_ == 0) {
        ::setpgid(0, 0);
        if (!log_file.empty()) {
            const int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
                ::close(fd);
            }
        }
        for (const auto& [k, v] : extra_env) ::setenv(k.c_str(), v.c_str(), 1);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        std::fprintf(stderr, "process: exec %s failed: %s\n", args[0], std::strerror(errno));
        ::_exit(127);
    }
}

process::~process() {
    if (pid_ > 0 && running()) {
        ::kill(pid_, SIGKILL);
        wait(std::chrono::seconds{5});
    }
}

process::process(process&& other) noexcept : pid_(other.pid_), status_(other.status_) { other.pid_ = -1; }

process& process::operator=(process&& other) noexcept {
    if (this != &other) {
        if (pid_ > 0 && running()) {
            ::kill(pid_, SIGKILL);
            wait(std::chrono::seconds{5});
        }
        pid_ = other.pid_;
        status_ = other.status_;
        other.pid_ = -1;
    }
    return *this;
}

bool process::running() {
    if (pid_ <= 0) return false;
    if (status_ != -1) return false;
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == 0) return true;
    if (r == pid_) status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
}

void process::signal(int sig) {
    if (pid_ > 0 && running()) ::kill(pid_, sig);
}

int process::wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() >= deadline) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    return status_;
}

int process::stop(std::chrono::milliseconds grace) {
    if (!running()) return status_;
    ::kill(pid_, SIGTERM);
    const int rc = wait(grace);
    if (rc != -1) return rc;
    ::kill(pid_, SIGKILL);
    return wait(std::chrono::seconds{5});
}

int run_command(const std::vector<std::string>& argv, std::string* output, bool merge_stderr,
                std::chrono::milliseconds timeout) {
    int pipefd[2];
    if (::pipe(pipefd) != 0) return -1;
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(pipefd[0]);
        ::dup2(pipefd[1], 1);
        if (merge_stderr) ::dup2(pipefd[1], 2);
        ::close(pipefd[1]);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    ::close(pipefd[1]);
    ::fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string out;
    int status = 0;
    bool done = false;
    while (!done) {
        char buf[4096];
        const ssize_t n = ::read(pipefd[0], buf, sizeof buf);
        if (n > 0) {
            out.append(buf, static_cast<size_t>(n));
            continue;
        }
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            done = true;
            ssize_t m;
            while ((m = ::read(pipefd[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(m));
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            ::close(pipefd[0]);
            if (output) *output = out;
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    ::close(pipefd[0]);
    if (output) *output = out;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

temp_dir::temp_dir(const std::string& prefix) {
    std::string templ = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (!::mkdtemp(templ.data())) throw std::runtime_error("temp_dir: mkdtemp failed");
    path_ = templ;
}

temp_dir::~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

}  // namespace connguard::test
