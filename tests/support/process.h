#pragma once
// Test support: run a real child process (mosquitto, connguard-graph-sim, connguard-agent, ...),
// find free loopback ports, wait for a port to accept connections.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace connguard::test {

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
int free_port();

/// True once something accepts TCP connections on 127.0.0.1:port (polls until timeout).
bool wait_for_port(int port, std::chrono::milliseconds timeout = std::chrono::seconds{10});

/// A child process; killed (SIGKILL) on destruction if still running.
class process {
public:
    process() = default;
    /// Starts argv[0] with argv; stdout+stderr go to `log_file` (appended) when given.
    process(std::vector<std::string> argv, std::filesystem::path log_file = {},
            std::map<std::string, std::string> extra_env = {});
    ~process();
    process(process&& other) noexcept;
    process& operator=(process&& other) noexcept;
    process(const process&) = delete;
    process& operator=(const process&) = delete;

    pid_t pid() const { return pid_; }
    bool running();
    /// Sends a signal (SIGTERM, SIGKILL, SIGSTOP, ...).
    void signal(int sig);
    /// Waits for exit; returns the exit code (128+signal when killed), or -1 on timeout.
    int wait(std::chrono::milliseconds timeout = std::chrono::seconds{10});
    /// SIGTERM, wait, then SIGKILL if needed; returns the exit status as wait() does.
    int stop(std::chrono::milliseconds grace = std::chrono::seconds{5});

private:
    pid_t pid_ = -1;
    int status_ = -1;
};

/// Runs a command to completion, capturing stdout (and stderr when merge_stderr). Returns exit code.
int run_command(const std::vector<std::string>& argv, std::string* output = nullptr,
                bool merge_stderr = true, std::chrono::milliseconds timeout = std::chrono::seconds{60});

/// A fresh temporary directory, removed on destruction.
class temp_dir {
public:
    explicit temp_dir(const std::string& prefix = "connguard-test");
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace connguard::test
