#pragma once
// Test fixture: the real connguard-graph-sim (CONNGUARD_BIN_DIR/connguard-graph-sim) on a free
// loopback port, serving the tenant scenarios in a folder. One port serves the token endpoint
// (/{tenant}/oauth2/v2.0/token), Graph (/v1.0, /beta) and the simulator's admin API (/_sim/...);
// tools/graph-sim/README.md documents the scenario format and the admin API.
//
//   connguard::test::graph_sim sim(CONNGUARD_SOURCE_DIR "/tools/graph-sim/scenarios");
//   client.authority = sim.base_url(); client.graph_base = sim.base_url();
//   sim.admin("PATCH", "/_sim/tenants/" + tid + "/security-defaults", R"({"isEnabled":true})");
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace connguard::test {

class graph_sim {
public:
    /// Starts the simulator and waits until it accepts connections; throws std::runtime_error
    /// (with the tail of its log) when it does not start, e.g. because a scenario is refused.
    /// `extra_args` are appended to the command line (e.g. {"--page-size", "2"}).
    explicit graph_sim(std::filesystem::path scenarios_dir, std::filesystem::path log_file = {},
                       std::vector<std::string> extra_args = {});
    ~graph_sim();
    graph_sim(const graph_sim&) = delete;
    graph_sim& operator=(const graph_sim&) = delete;

    /// "http://127.0.0.1:PORT": both the authority base and the Graph base.
    std::string base_url() const;
    int port() const;
    /// Calls the simulator's admin API under /_sim/ (e.g. method "POST", path
    /// "/_sim/tenants/{tenantId}/faults"). Returns the HTTP status (-1 when the simulator cannot be
    /// reached); the response body goes to *response_body when given.
    int admin(const std::string& method, const std::string& path, const std::string& json_body = "",
              std::string* response_body = nullptr);
    /// Stops the simulator (SIGTERM); its state is lost.
    void stop();
    /// Starts it again on the same port with the same scenarios (state reloaded from the files).
    void restart();
    /// The log file (a temp file when none was given; removed by the destructor).
    const std::filesystem::path& log_file() const { return log_file_; }

private:
    void start();
    std::filesystem::path scenarios_dir_;
    std::filesystem::path log_file_;
    std::vector<std::string> extra_args_;
    bool owns_log_ = false;  ///< a temp log we created: removed on destruction
    int port_ = 0;
    process proc_;
};

/// A minimal blocking HTTP/1.1 exchange over loopback (Connection: close), used by the fixture's
/// admin() and by tests that must see the simulator's raw answer (headers, bytes). Returns the status
/// (-1 on a transport failure: refused, reset, timeout); headers are "Name: value" lines.
struct raw_http_response {
    int status = -1;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string header(const std::string& name) const;  ///< case-insensitive; empty when absent
};
raw_http_response raw_http(int port, const std::string& method, const std::string& target,
                           const std::string& body = "",
                           const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace connguard::test
