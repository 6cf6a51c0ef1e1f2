#pragma once
// Test fixture: a real, secured mosquitto made by broker-config/make-broker in a fresh temp dir on a
// free loopback port, with generated credentials. Every suite that needs a broker starts it this way.
//
//   connguard::test::broker b({.tenants = {"contoso", "fabrikam"}, .admins = {"alice"}});
//   auto opts = mqtt::client_options_builder().server_uri(b.uri()).client_id("t1")
//                   .credentials("contoso", b.password("contoso")).finalize();
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace connguard::test {

/// A host identity (make-broker --host NAME --host-tenants LIST): one connection for its tenants.
struct broker_host {
    std::string name;
    std::vector<std::string> tenants;
};

struct broker_options {
    std::string coordinator = "coordinator";
    std::vector<std::string> tenants = {"tenant-a", "tenant-b"};
    std::vector<std::string> admins = {"admin-x", "admin-y"};
    std::vector<std::string> subscribers = {"watcher"};
    std::vector<broker_host> hosts = {};
    bool tls = false;  ///< also a TLS listener (tls_uri(), ca_file())
};

class broker {
public:
    /// Runs make-broker and starts mosquitto; throws std::runtime_error (with the broker log) when
    /// either fails or the port does not open.
    explicit broker(broker_options opts = {});
    ~broker();  ///< kills mosquitto (if running) and removes the directory
    broker(const broker&) = delete;
    broker& operator=(const broker&) = delete;

    std::string uri() const;       ///< tcp://127.0.0.1:PORT
    std::string tls_uri() const;   ///< ssl://127.0.0.1:TLS_PORT (only with opts.tls)
    int port() const { return port_; }
    int tls_port() const { return tls_port_; }
    std::filesystem::path ca_file() const;     ///< DIR/tls/ca.crt (only with opts.tls)
    const std::filesystem::path& dir() const { return dir_.path(); }
    std::filesystem::path log_file() const;    ///< mosquitto's stderr
    std::string log() const;                   ///< the log's current content (for failure messages)
    const broker_options& options() const { return opts_; }

    /// The plain password of `user`, read from DIR/secrets/USER; throws for an unknown user.
    std::string password(const std::string& user) const;

    /// Clean stop (SIGTERM: mosquitto saves its persistence); no-op when not running.
    void stop();
    /// Starts again on the same port(s) with the same persistence (sessions, queued messages).
    void start();
    /// stop() + start().
    void restart();
    /// SIGKILL: no final save (only what the last autosave wrote survives).
    void kill();
    bool running();

private:
    broker_options opts_;
    temp_dir dir_;
    int port_ = 0;
    int tls_port_ = 0;
    process proc_;
};

}  // namespace connguard::test
