#include "tests/support/graph_sim.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/text.h"
#include "tests/support/util.h"

namespace connguard::test {

namespace {

std::string tail_of(const std::filesystem::path& file, std::size_t max_bytes = 4000) {
    const std::string s = slurp(file);
    return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

}  // namespace

std::string raw_http_response::header(const std::string& name) const {
    const std::string want = to_lower(name);
    for (const auto& [k, v] : headers)
        if (to_lower(k) == want) return v;
    return {};
}

raw_http_response raw_http(int port, const std::string& method, const std::string& target, const std::string& body,
                           const std::vector<std::pair<std::string, std::string>>& headers) {
    raw_http_response out;
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return out;
    timeval tv{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return out;
    }
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                      "\r\nConnection: close\r\n";
    bool has_type = false;
    for (const auto& [k, v] : headers) {
        if (iequals(k, "content-type")) has_type = true;
        req += k + ": " + v + "\r\n";
    }
    if (!body.empty() && !has_type) req += "Content-Type: application/json\r\n";
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
        req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    std::size_t sent = 0;
    while (sent < req.size()) {
        const ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            ::close(fd);
            return out;
        }
        sent += static_cast<std::size_t>(n);
    }
    std::string raw;
    char buf[16384];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n == 0) break;
        if (n < 0) {
            ::close(fd);
            return out;  // reset or timeout
        }
        raw.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    const auto head_end = raw.find("\r\n\r\n");
    if (head_end == std::string::npos || raw.rfind("HTTP/1.", 0) != 0) return out;
    std::istringstream head(raw.substr(0, head_end));
    std::string line;
    std::getline(head, line);
    out.status = std::atoi(line.substr(9, 3).c_str());
    while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        out.headers.emplace_back(line.substr(0, colon), v);
    }
    out.body = raw.substr(head_end + 4);
    return out;
}

graph_sim::graph_sim(std::filesystem::path scenarios_dir, std::filesystem::path log_file,
                     std::vector<std::string> extra_args)
    : scenarios_dir_(std::move(scenarios_dir)), log_file_(std::move(log_file)), extra_args_(std::move(extra_args)) {
    if (log_file_.empty()) {
        owns_log_ = true;
        log_file_ = std::filesystem::temp_directory_path() /
                    ("connguard-graph-sim-" + std::to_string(::getpid()) + "-" + std::to_string(free_port()) + ".log");
    }
    port_ = free_port();
    start();
}

graph_sim::~graph_sim() {
    stop();
    if (owns_log_) {
        std::error_code ec;
        std::filesystem::remove(log_file_, ec);
    }
}

void graph_sim::start() {
    std::vector<std::string> argv{std::string(CONNGUARD_BIN_DIR) + "/connguard-graph-sim",
                                  "--listen",
                                  "127.0.0.1:" + std::to_string(port_),
                                  "--scenarios",
                                  scenarios_dir_.string(),
                                  "--log-level",
                                  "debug"};
    argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
    proc_ = process(argv, log_file_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
    while (std::chrono::steady_clock::now() < deadline) {
        if (!proc_.running()) {
            throw std::runtime_error("connguard-graph-sim exited at start-up (scenarios " + scenarios_dir_.string() +
                                     "); log " + log_file_.string() + ":\n" + tail_of(log_file_));
        }
        if (raw_http(port_, "GET", "/_sim/health").status == 200) return;
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    proc_.stop();
    throw std::runtime_error("connguard-graph-sim did not answer on port " + std::to_string(port_) + "; log " +
                             log_file_.string() + ":\n" + tail_of(log_file_));
}

std::string graph_sim::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

int graph_sim::port() const { return port_; }

int graph_sim::admin(const std::string& method, const std::string& path, const std::string& json_body,
                     std::string* response_body) {
    auto r = raw_http(port_, method, path, json_body);
    if (response_body) *response_body = r.body;
    return r.status;
}

void graph_sim::stop() { proc_.stop(); }

void graph_sim::restart() {
    proc_.stop();
    start();
}

}  // namespace connguard::test
