// connguard-agent: watches Microsoft 365 tenants for the MSP's connection account (agent/README.md).
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "agent/core/agent_config.h"
#include "agent/core/config_check.h"
#include "agent/core/cycle.h"
#include "agent/core/host.h"
#include "agent/core/messages.h"
#include "agent/graph/graph_client.h"
#include "common/log.h"
#include "common/text.h"

namespace {

const char* usage_text =
    R"(connguard-agent: watch Microsoft 365 tenants and report whether the connection account still
signs in non-interactively (MFA, Security Defaults, Conditional Access).

Usage:
  connguard-agent --config FILE [--once] [options]   one tenant
  connguard-agent --config-dir DIR [options]         every *.json tenant config in DIR, one process
  connguard-agent --config-dir DIR --host-config FILE [options]   the same on ONE MQTT connection
  connguard-agent (--config FILE | --config-dir DIR) --check-config
  connguard-agent --help | --version

Modes:
  --config FILE      run one tenant as a daemon: a cycle every poll.intervalSeconds (+ jitter),
                     publish to the broker, carry out approved commands.
  --config-dir DIR   host mode: many tenants, each with its own credentials, state directory and
                     Graph client; a bounded worker pool runs their cycles. Without --host-config
                     each tenant also has its own MQTT connection and identity (its file's broker).
  --host-config FILE with --config-dir: every tenant uses the host's ONE MQTT connection, whose
                     identity (FILE: host, tenants, broker) the broker grants exactly the topics of
                     the tenants listed in FILE (make-broker --host NAME --host-tenants LIST); the
                     tenant files' broker sections are then ignored, and a tenant not listed in
                     FILE does not run (named in the log; --check-config refuses it).
  --once             with --config: one cycle without a broker and without touching the state
                     directory; prints the ValidationReport as JSON (protobuf canonical mapping)
                     on stdout. Exit 0: nothing FAIL or ERROR; 1: something FAIL; 2: could not run,
                     or a check is ERROR.
  --check-config     check the config(s) the way the service starts them and exit: fields and
                     unknown keys, secret files and their permissions, the certificate and its
                     private key, the state folder, the CA file. Exit 0: startable; 2: not (every
                     problem named with file and field on stderr). Contacts neither Graph nor the broker.

Options:
  --workers N        worker threads for tenant work (default: 1 with --config, 8 with --config-dir)
  --metrics-listen HOST:PORT
                     serve Prometheus metrics on http://HOST:PORT/metrics (off by default; plain
                     HTTP, one thread; e.g. 127.0.0.1:9465). Cycles, Graph requests and 429s by
                     endpoint, check statuses summed over the tenants (agent/README.md "Metrics").
  --rescan-seconds N with --config-dir: look for added and removed tenant files every N seconds
                     (default 5; 0 = never): a new tenant (connguardctl tenant add) starts and a
                     removed one stops without a restart; --host-config FILE is re-read too
                     (nothing is read while the folder and FILE are unchanged)
  --log-level LEVEL  trace, debug, info (default), warn, error
  --log-json         JSON log lines
  --log-file FILE    log to FILE instead of stderr

SIGTERM or SIGINT: Graph reads and waits in flight are cut short (a remediation write in flight
finishes), an interrupted collection is abandoned unpublished, AgentStatus offline is published
(retained) for every tenant, and the agent exits 0.
The config format and the state directory are documented in agent/README.md.
)";

int usage_error(const std::string& msg) {
    std::fprintf(stderr, "connguard-agent: %s (see --help)\n", msg.c_str());
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace connguard;
    std::string config_file, config_dir, host_config_file, log_level = "info", log_file, metrics_listen;
    bool once = false, log_json = false, check_config = false;
    int workers = 0;
    int rescan_seconds = 5;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](const char* name) -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(std::string(name) + " needs a value");
            return argv[++i];
        };
        try {
            if (a == "--help" || a == "-h") {
                std::fputs(usage_text, stdout);
                return 0;
            } else if (a == "--version") {
                std::printf("connguard-agent %s\n", agent::agent_version);
                return 0;
            } else if (a == "--config") {
                config_file = value("--config");
            } else if (a == "--config-dir") {
                config_dir = value("--config-dir");
            } else if (a == "--host-config") {
                host_config_file = value("--host-config");
            } else if (a == "--once") {
                once = true;
            } else if (a == "--check-config") {
                check_config = true;
            } else if (a == "--workers") {
                workers = std::stoi(value("--workers"));
                if (workers < 1 || workers > 256) return usage_error("--workers must be 1..256");
            } else if (a == "--metrics-listen") {
                metrics_listen = value("--metrics-listen");
                std::string host;
                int port = 0;
                if (!parse_host_port(metrics_listen, host, port))
                    return usage_error("--metrics-listen must be HOST:PORT (e.g. 127.0.0.1:9465), not '" + metrics_listen + "'");
            } else if (a == "--rescan-seconds") {
                rescan_seconds = std::stoi(value("--rescan-seconds"));
                if (rescan_seconds < 0 || rescan_seconds > 86400) return usage_error("--rescan-seconds must be 0..86400");
            } else if (a == "--log-level") {
                log_level = value("--log-level");
            } else if (a == "--log-json") {
                log_json = true;
            } else if (a == "--log-file") {
                log_file = value("--log-file");
            } else {
                return usage_error("unknown argument '" + a + "'");
            }
        } catch (const std::exception& e) {
            return usage_error(a + ": " + e.what());
        }
    }
    if (config_file.empty() == config_dir.empty()) return usage_error("give exactly one of --config FILE or --config-dir DIR");
    if (once && !config_dir.empty()) return usage_error("--once works with --config FILE only");
    if (!host_config_file.empty() && config_dir.empty()) return usage_error("--host-config needs --config-dir DIR");
    if (once && check_config) return usage_error("give --once or --check-config, not both");
    if (once && !metrics_listen.empty()) return usage_error("--metrics-listen is for the daemon, not --once");

    try {
        log::init({.program = "connguard-agent", .json = log_json, .level = log_level, .file = log_file});
    } catch (const std::exception& e) {
        return usage_error(e.what());
    }

    if (once) {
        auto cfg = agent::load_tenant_config(config_file, {.need_broker = false, .need_state = false});
        if (!cfg) {
            std::fprintf(stderr, "connguard-agent: %s\n", cfg.err().message.c_str());
            return 2;
        }
        graph::graph_client gc(agent::graph_options_of(*cfg), system_clock::instance());
        auto col = agent::collect_and_check(gc, *cfg, 0, system_clock::instance());
        std::cout << agent::report_to_json(col.report) << std::endl;
        const int code = agent::once_exit_code(col.report);
        spdlog::info("tenant {} (--once): {} ms, {} Graph requests, {} token requests, overall {}, exit {}",
                     cfg->tenant_key, col.duration.count(), col.counters.graph_requests, col.counters.token_requests,
                     agent::status_name(col.report.overall()), code);
        return code;
    }

    std::vector<agent::tenant_config> tenants;
    if (!config_file.empty()) {
        auto cfg = agent::load_tenant_config(config_file);
        if (!cfg) {
            std::fprintf(stderr, "connguard-agent: %s\n", cfg.err().message.c_str());
            return 2;
        }
        tenants.push_back(std::move(*cfg));
    } else {
        agent::load_options lo;
        if (!host_config_file.empty()) lo.need_broker = false;  // the host's connection is used
        auto all = agent::load_config_dir(config_dir, lo);
        if (!all) {
            std::fprintf(stderr, "connguard-agent: %s\n", all.err().message.c_str());
            return 2;
        }
        tenants = std::move(*all);
    }
    std::optional<agent::host_config> host_cfg;
    if (!host_config_file.empty()) {
        auto h = agent::load_host_config(host_config_file);
        if (!h) {
            std::fprintf(stderr, "connguard-agent: %s\n", h.err().message.c_str());
            return 2;
        }
        host_cfg = std::move(*h);
    }
    if (check_config) {
        std::string problems;
        if (host_cfg)
            for (const auto& t : tenants)
                if (!host_cfg->grants(t.tenant_key)) {
                    std::string p = t.file.string();
                    p += ": tenant '";
                    p += t.tenant_key;
                    p += "' is not granted to host '" + host_cfg->name + "' (" + host_cfg->file.string() +
                         ": field 'tenants'; make-broker --host-tenants)";
                    problems += (problems.empty() ? "" : "\n") + p;
                }
        for (const auto& t : tenants)
            if (auto st = agent::check_startable(t, system_clock::instance().now()); !st)
                problems += (problems.empty() ? "" : "\n") + st.err().message;
        if (!problems.empty()) {
            std::fprintf(stderr, "connguard-agent: %s\n", problems.c_str());
            return 2;
        }
        for (const auto& t : tenants)
            std::printf("%s: tenant %s: startable\n", t.file.c_str(), t.tenant_key.c_str());
        return 0;
    }
    agent::host_options opts;
    opts.workers = workers > 0 ? workers : (config_dir.empty() ? 1 : 8);
    opts.agent.spread_first_cycle = !config_dir.empty();
    opts.connection = std::move(host_cfg);
    opts.metrics_listen = metrics_listen;
    if (!config_dir.empty()) {
        opts.config_dir = config_dir;
        opts.host_config_file = host_config_file;
        opts.load.need_broker = host_config_file.empty();
        opts.rescan = std::chrono::seconds{rescan_seconds};
    }
    agent::host h(std::move(tenants), opts, system_clock::instance());
    return h.run();
}
