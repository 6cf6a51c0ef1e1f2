// connguard-graph-sim: a faithful Microsoft Graph + Entra token endpoint simulator for many tenants.
// See tools/graph-sim/README.md for the scenario format and the /_sim/ admin API.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include <asio.hpp>
#include <spdlog/spdlog.h>

#include "common/http/http_server.h"
#include "common/log.h"
#include "tools/graph-sim/generate.h"
#include "tools/graph-sim/simulator.h"

namespace {

const char* usage =
    "usage: connguard-graph-sim --listen HOST:PORT --scenarios DIR [options]\n"
    "       connguard-graph-sim --check --scenarios DIR\n"
    "       connguard-graph-sim --generate N --out DIR [--seed S]\n"
    "\n"
    "Serves the Entra token endpoint (/{tenant}/oauth2/v2.0/token), Microsoft Graph (/v1.0, /beta)\n"
    "and the admin API (/_sim/...) on one port for every tenant scenario (*.json) in DIR; with --idp\n"
    "also the MSP's sign-in (OpenID Connect: authorize, token, keys).\n"
    "\n"
    "options:\n"
    "  --listen HOST:PORT       address to listen on (default 127.0.0.1:8443)\n"
    "  --scenarios DIR          folder of tenant scenario files (one JSON file per tenant)\n"
    "  --page-size N            items per page on every Graph list (default 100)\n"
    "  --token-lifetime SECONDS access token lifetime, expires_in (default 3599)\n"
    "  --ca-rate-limit on|off   override every scenario's 1 request/s limit on CA endpoints\n"
    "  --idp FILE               also be the MSP's own tenant as an OpenID Connect provider (people,\n"
    "                           app registrations; e.g. tools/graph-sim/idp/msp.json): discovery at\n"
    "                           /{tid}/v2.0/.well-known/openid-configuration, sign-in form, code + PKCE\n"
    "  --threads N              I/O threads (default 2)\n"
    "  --log-level LEVEL        trace, debug (one line per request), info, warn, error (default info)\n"
    "  --log-json               JSON log lines\n"
    "  --check                  validate the scenarios and exit (0 ok, 2 refused)\n"
    "  --generate N --out DIR   write N synthetic tenant scenarios (host-mode tests) and exit\n"
    "  --seed S                 seed for --generate (default 1)\n"
    "  --help                   this text\n"
    "\n"
    "exit codes: 0 clean shutdown (SIGINT/SIGTERM), 1 cannot listen, 2 bad arguments or scenario refused\n";

bool parse_long(const std::string& s, long min, long max, long& out) {
    try {
        std::size_t used = 0;
        const long v = std::stol(s, &used);
        if (used != s.size() || v < min || v > max) return false;
        out = v;
        return true;
    } catch (...) {
        return false;
    }
}

}  // namespace

int main(int argc, char** argv) {
    using namespace connguard;
    std::string listen = "127.0.0.1:8443", scenarios, level = "info", out_dir, ca_limit, idp_file;
    long page_size = 100, lifetime = 3599, threads = 2, generate = -1, seed = 1;
    bool check = false, json_logs = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](std::string& dst) {
            if (i + 1 >= argc) {
                std::cerr << "connguard-graph-sim: " << a << " needs a value\n" << usage;
                std::exit(2);
            }
            dst = argv[++i];
        };
        auto number = [&](long& dst, long min, long max) {
            std::string v;
            value(v);
            if (!parse_long(v, min, max, dst)) {
                std::cerr << "connguard-graph-sim: " << a << ": '" << v << "' is not a number from " << min << " to " << max << "\n";
                std::exit(2);
            }
        };
        if (a == "--help" || a == "-h") {
            std::cout << usage;
            return 0;
        } else if (a == "--listen") value(listen);
        else if (a == "--scenarios") value(scenarios);
        else if (a == "--page-size") number(page_size, 1, 100000);
        else if (a == "--token-lifetime") number(lifetime, 1, 86400 * 2);
        else if (a == "--threads") number(threads, 1, 64);
        else if (a == "--log-level") value(level);
        else if (a == "--log-json") json_logs = true;
        else if (a == "--ca-rate-limit") value(ca_limit);
        else if (a == "--idp") value(idp_file);
        else if (a == "--check") check = true;
        else if (a == "--generate") number(generate, 1, 100000);
        else if (a == "--out") value(out_dir);
        else if (a == "--seed") number(seed, 0, 1L << 40);
        else {
            std::cerr << "connguard-graph-sim: unknown argument '" << a << "'\n" << usage;
            return 2;
        }
    }
    try {
        log::options lo;
        lo.program = "connguard-graph-sim";
        lo.json = json_logs;
        lo.level = level;
        log::init(lo);
    } catch (const std::exception& e) {
        std::cerr << "connguard-graph-sim: --log-level: " << e.what() << "\n";
        return 2;
    }
    if (generate > 0) {
        if (out_dir.empty()) {
            std::cerr << "connguard-graph-sim: --generate needs --out DIR\n";
            return 2;
        }
        auto st = graph_sim::generate_tenants(static_cast<std::size_t>(generate), out_dir, static_cast<std::uint64_t>(seed));
        if (!st) {
            std::cerr << "connguard-graph-sim: " << st.err().message << "\n";
            return 2;
        }
        std::cout << "wrote " << generate << " tenant scenarios to " << out_dir << "\n";
        return 0;
    }
    if (scenarios.empty()) {
        std::cerr << "connguard-graph-sim: --scenarios DIR is required\n" << usage;
        return 2;
    }
    graph_sim::sim_options opts;
    opts.scenarios = scenarios;
    opts.page_size = static_cast<std::size_t>(page_size);
    opts.token_lifetime = lifetime;
    opts.idp_file = idp_file;
    if (ca_limit == "on") opts.ca_rate_limit = true;
    else if (ca_limit == "off") opts.ca_rate_limit = false;
    else if (!ca_limit.empty()) {
        std::cerr << "connguard-graph-sim: --ca-rate-limit must be on or off\n";
        return 2;
    }
    auto sim = graph_sim::simulator::create(opts);
    if (!sim) {
        std::cerr << "connguard-graph-sim: scenario refused:\n" << sim.err().message << "\n";
        spdlog::error("scenario refused: {}", sim.err().message);
        return 2;
    }
    if (check) {
        std::cout << "ok: " << (*sim)->tenant_count() << " tenant scenarios in " << scenarios << "\n";
        return 0;
    }
    const auto colon = listen.rfind(':');
    long port = 0;
    if (colon == std::string::npos || !parse_long(listen.substr(colon + 1), 0, 65535, port)) {
        std::cerr << "connguard-graph-sim: --listen must be HOST:PORT (got '" << listen << "')\n";
        return 2;
    }
    graph_sim::simulator& s = **sim;
    http::server::options so;
    so.host = listen.substr(0, colon);
    so.port = static_cast<int>(port);
    so.threads = static_cast<std::size_t>(threads);
    http::server srv(so, [&s](const http::server_request& r) { return s.handle(r); });
    if (auto st = srv.start(); !st) {
        std::cerr << "connguard-graph-sim: " << st.err().message << "\n";
        spdlog::error("{}", st.err().message);
        return 1;
    }
    spdlog::info("listening on {}:{} with {} tenants from {} (page size {}, token lifetime {} s)", listen.substr(0, colon),
                 srv.port(), s.tenant_count(), scenarios, page_size, lifetime);
    asio::io_context signals_io;
    asio::signal_set signals(signals_io, SIGINT, SIGTERM);
    signals.async_wait([&](const asio::error_code&, int sig) { spdlog::info("signal {}: shutting down", sig); });
    signals_io.run();
    srv.stop();
    spdlog::info("stopped");
    return 0;
}
