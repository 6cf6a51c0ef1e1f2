#pragma once
// A real deployment for integration tests and the benchmark: a real mosquitto (make-broker), the
// real connguard-coordinator binary as a child process with a generated config, MQTT clients for
// agents/admins/subscribers, and read access to the coordinator's store (its SQLite file, or the
// PostgreSQL database given to use_store_url()).
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <signal.h>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/envelope_codec.h"
#include "common/mqtt_client.h"
#include "common/topics.h"
#include "coordinator/store.h"
#include "tests/support/broker.h"
#include "tests/support/process.h"
#include "tests/support/store_location.h"
#include "tests/support/util.h"

namespace connguard::test {

/// An envelope as an agent or an admin publishes it: encoded now, QoS 1.
inline mqtt::message envelope_message(const std::string& topic, v1::Envelope env) {
    return mqtt::make_message(topic, codec::encode(env, system_clock::instance()));
}

class deployment {
public:
    explicit deployment(test::broker_options bo, nlohmann::json extra = nlohmann::json::object())
        : broker_(std::move(bo)) {
        config_ = {{"broker",
                    {{"url", broker_.uri()},
                     {"username", "coordinator"},
                     {"passwordFile", (broker_.dir() / "broker" / "secrets" / "coordinator").string()},
                     {"clientId", "coord-test"},
                     {"ingestConnections", 2}}},
                   {"store", {{"path", (dir_.path() / "coordinator.db").string()}}},
                   {"approvers", {{"alice", "approver"}, {"bob", "approver"}, {"olga", "operator"}, {"vera", "viewer"}}},
                   {"tasks", {{"ttlSeconds", 3600}, {"dispatchTimeoutSeconds", 600}}},
                   {"agents", {{"silenceSeconds", 0}}},
                   {"timers", {{"tickMilliseconds", 100}}},
                   {"log", {{"level", "info"}}}};
        config_.merge_patch(extra);
        std::ofstream(config_path()) << config_.dump(2);
        // The "pg." copies of the suites (tests/support/store_location.h): a fresh PostgreSQL database.
        if (test::testing_postgres()) use_store_url(test::fresh_store_location(dir_.path()));
    }
    ~deployment() { stop(); }

    std::filesystem::path config_path() const { return dir_.path() / "coordinator.json"; }
    std::filesystem::path db_path() const { return dir_.path() / "coordinator.db"; }
    std::filesystem::path log_path() const { return dir_.path() / "coordinator.log"; }
    test::broker& broker() { return broker_; }
    const std::filesystem::path& dir() const { return dir_.path(); }

    /// Starts the coordinator binary and waits until it is connected and subscribed.
    void start() {
        const auto before = slurp(log_path()).size();
        coord_ = test::process({std::string(CONNGUARD_BIN_DIR) + "/connguard-coordinator", "--config", config_path().string()},
                               log_path());
        const bool up = eventually([&] {
            const auto log = slurp(log_path());
            return log.size() > before && log.find("coordinator up", before) != std::string::npos;
        });
        if (!up) throw std::runtime_error("coordinator did not come up; log:\n" + slurp(log_path()));
    }
    void kill() { coord_.signal(SIGKILL), coord_.wait(); }
    int stop() { return coord_.running() ? coord_.stop() : 0; }
    bool running() { return coord_.running(); }

    /// A connected MQTT client as `user` (agent = tenant key, admin, subscriber).
    std::unique_ptr<mqtt::client> client(const std::string& user, const std::string& id_suffix = "",
                                         bool persistent = false) {
        auto c = std::make_unique<mqtt::client>(mqtt::client_options_builder()
                                                    .server_uri(broker_.uri())
                                                    .client_id(user + "-test" + id_suffix)
                                                    .credentials(user, broker_.password(user))
                                                    .clean_start(!persistent)
                                                    .max_inflight(50)
                                                    .finalize());
        return c;
    }

    /// From now on the coordinator keeps its store in this PostgreSQL database (store.url) instead
    /// of db_path(); takes effect at the next start().
    void use_store_url(const std::string& url) {
        store_url_ = url;
        config_["store"] = {{"url", url}};
        std::ofstream(config_path()) << config_.dump(2);
    }

    /// A fresh connection to the coordinator's database (SQLite file or PostgreSQL).
    std::unique_ptr<coord::store> db() {
        auto s = coord::store::open(store_url_.empty() ? db_path().string() : store_url_);
        if (!s) throw std::runtime_error(s.err().message);
        return std::move(*s);
    }
    /// The number `sql` selects (first column of the first row); -1 on error.
    std::int64_t count(const std::string& sql) {
        auto rows = db()->query_strings(sql);
        if (!rows || rows->empty()) return -1;
        return std::strtoll(rows->front().c_str(), nullptr, 10);
    }

    /// Runs connguardctl as `user`; returns the exit code and fills output (stdout + stderr).
    int ctl(const std::string& user, std::vector<std::string> args, std::string* output = nullptr) {
        std::vector<std::string> argv = {std::string(CONNGUARD_BIN_DIR) + "/connguardctl"};
        argv.insert(argv.end(), args.begin(), args.end());
        for (const auto& a : {std::string("--broker"), broker_.uri(), std::string("--user"), user,
                              std::string("--password-file"), (broker_.dir() / "broker" / "secrets" / user).string(),
                              std::string("--timeout"), std::string("60")})
            argv.push_back(a);
        return test::run_command(argv, output, true, std::chrono::seconds{120});
    }

private:
    test::temp_dir dir_{"coord-it"};
    test::broker broker_;
    nlohmann::json config_;
    std::string store_url_;  ///< "" = the SQLite file db_path()
    test::process coord_;
};

}  // namespace connguard::test
