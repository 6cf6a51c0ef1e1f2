// connguard-coordinator: durable ingest, approval-gated remediation, alerts (DESIGN §2, §8-§11).
#include <signal.h>

#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "coordinator/config.h"
#include "coordinator/console/oidc_provider.h"
#include "coordinator/console/server.h"
#include "coordinator/service.h"

namespace {

const char* usage_text =
    R"(usage: connguard-coordinator --config FILE [--check-config | --print-audit-public-key]

Ingests ConnGuard agents' messages from the MQTT broker into its store — a SQLite file, or a
PostgreSQL database that several coordinators share (store.url) — idempotent, acknowledged only
after commit; turns FAILs into approval-gated remediation tasks, answers admin requests
(connguardctl), dispatches approved commands, raises and resolves alerts (MQTT + webhooks).
With a `console` section it also serves the web console (HTTPS, OpenID Connect sign-in, JSON API
under /api/v1/, live updates; coordinator/console/README.md) and logs its URL once at start.

options:
  --config FILE     JSON configuration (see coordinator/README.md and coordinator.example.json)
  --check-config    check the configuration as the start would and exit (0 = startable, 2 = not):
                    fields and unknown keys, secret files, the signing key, the store's folder
                    (SQLite) or that its PostgreSQL database accepts the login, log and checkpoint
                    files, the broker CA file, the console's certificate and key (PEM, a matching
                    pair); changes neither broker nor database
  --print-audit-public-key
                    print the public key of audit.signingKeyFile (PEM) and exit: what
                    `connguardctl audit --verify --audit-public-key FILE` trusts
  -h, --help        this text

exit codes: 0 clean stop, 1 runtime failure (database, broker), 2 usage or configuration error.
Stops cleanly on SIGTERM / SIGINT; a SIGKILL loses nothing that was acknowledged.
)";

}  // namespace

int main(int argc, char** argv) {
    std::string config_path;
    bool check_only = false;
    bool print_public_key = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::cout << usage_text;
            return 0;
        } else if (a == "--config" && i + 1 < argc) {
            config_path = argv[++i];
        } else if (a == "--check-config") {
            check_only = true;
        } else if (a == "--print-audit-public-key") {
            print_public_key = true;
        } else {
            std::cerr << "connguard-coordinator: unknown or incomplete argument '" << a << "'\n" << usage_text;
            return 2;
        }
    }
    if (config_path.empty()) {
        std::cerr << "connguard-coordinator: --config FILE is required\n" << usage_text;
        return 2;
    }
    auto cfg = connguard::coord::load_config(config_path);
    if (!cfg) {
        std::cerr << "connguard-coordinator: invalid configuration:\n" << cfg.err().message << "\n";
        return 2;
    }
    if (check_only) {
        if (auto st = connguard::coord::check_startable(*cfg, config_path); !st) {
            std::cerr << "connguard-coordinator: cannot start with this configuration:\n" << st.err().message << "\n";
            return 2;
        }
        std::cout << config_path << ": OK\n";
        return 0;
    }
    if (print_public_key) {
        // Only the public half leaves the process; the key id goes to stderr so stdout is the PEM alone.
        if (!cfg->audit) {
            std::cerr << "connguard-coordinator: " << config_path << ": no audit.signingKeyFile configured\n";
            return 2;
        }
        std::cout << cfg->audit->key.public_key_pem();
        std::cerr << "key id " << cfg->audit->key.key_id() << "\n";
        return 0;
    }
    try {
        connguard::log::init({.program = "connguard-coordinator", .json = cfg->log_json, .level = cfg->log_level,
                              .file = cfg->log_file});
    } catch (const std::exception& e) {
        std::cerr << "connguard-coordinator: " << config_path << ": field 'log': " << e.what() << "\n";
        return 2;
    }
    connguard::log::add_secret(cfg->password);
    if (cfg->console) connguard::log::add_secret(cfg->console->oidc.client_secret);
    const auto console_settings = cfg->console;
    const auto metrics_listen = cfg->metrics_listen;

    // Signals are taken by sigwait() in this thread; every other thread inherits the block.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    // Prometheus metrics (metrics.listen): up before the service, so that "coordinator up" means scrapeable.
    std::unique_ptr<connguard::metrics::endpoint> metrics_endpoint;
    if (!metrics_listen.empty()) {
        auto ep = connguard::metrics::endpoint::start(metrics_listen);
        if (!ep) {
            spdlog::critical("cannot start: {}", ep.err().message);
            return 1;
        }
        metrics_endpoint = std::move(*ep);
    }
    connguard::coord::service svc(std::move(*cfg), connguard::system_clock::instance());
    if (auto st = svc.start(); !st) {
        spdlog::critical("cannot start: {}", st.err().message);
        svc.stop();
        return 1;
    }
    // The console after the service (it runs requests through it), stopped before it.
    std::unique_ptr<connguard::coord::console::identity_provider> idp;
    std::unique_ptr<connguard::coord::console::server> web;
    if (console_settings) {
        idp = connguard::coord::console::make_oidc_provider(console_settings->oidc);
        web = std::make_unique<connguard::coord::console::server>(*console_settings, svc, *idp,
                                                                 connguard::system_clock::instance());
        if (auto st = web->start(); !st) {
            spdlog::critical("cannot start the console: {}", st.err().message);
            svc.stop();
            return 1;
        }
        spdlog::info("console at {}", web->url());
    }
    int sig = 0;
    sigwait(&sigs, &sig);
    spdlog::info("signal {} received; stopping", strsignal(sig));
    if (web) web->stop();
    svc.stop();
    return 0;
}
