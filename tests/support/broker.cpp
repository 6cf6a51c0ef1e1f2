#include "tests/support/broker.h"

#include <csignal>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tests/support/util.h"

namespace connguard::test {
namespace {

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += ',';
        out += s;
    }
    return out;
}

}  // namespace

broker::broker(broker_options opts) : opts_(std::move(opts)), dir_("connguard-broker") {
    port_ = free_port();
    if (opts_.tls) {
        tls_port_ = free_port();
        while (tls_port_ == port_) tls_port_ = free_port();
    }
    // One element at a time: GCC 12 warns (stringop-overread, a false positive) about the
    // initializer-list copy of these strings once the host arguments below are added.
    std::vector<std::string> argv;
    std::string make_broker = CONNGUARD_SOURCE_DIR;
    make_broker += "/broker-config/make-broker";
    argv.push_back(std::move(make_broker));
    argv.push_back((dir_.path() / "broker").string());
    argv.emplace_back("--port");
    argv.push_back(std::to_string(port_));
    argv.emplace_back("--coordinator");
    argv.push_back(opts_.coordinator);
    argv.emplace_back("--tenants");
    argv.push_back(join(opts_.tenants));
    argv.emplace_back("--admins");
    argv.push_back(join(opts_.admins));
    if (!opts_.subscribers.empty()) {
        argv.push_back("--subscribers");
        argv.push_back(join(opts_.subscribers));
    }
    for (const auto& h : opts_.hosts) {
        argv.push_back("--host");
        argv.push_back(h.name);
        argv.push_back("--host-tenants");
        argv.push_back(join(h.tenants));
    }
    if (opts_.tls) {
        argv.push_back("--tls");
        argv.push_back("--tls-port");
        argv.push_back(std::to_string(tls_port_));
    }
    std::string out;
    if (run_command(argv, &out) != 0) throw std::runtime_error("make-broker failed: " + out);
    start();
}

broker::~broker() {
    if (proc_.pid() > 0 && proc_.running()) proc_.signal(SIGKILL), proc_.wait();
}

std::string broker::uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
std::string broker::tls_uri() const { return "ssl://127.0.0.1:" + std::to_string(tls_port_); }
std::filesystem::path broker::ca_file() const { return dir_.path() / "broker" / "tls" / "ca.crt"; }
std::filesystem::path broker::log_file() const { return dir_.path() / "mosquitto.log"; }

std::string broker::log() const { return slurp(log_file()); }

std::string broker::password(const std::string& user) const {
    std::ifstream in(dir_.path() / "broker" / "secrets" / user);
    std::string pw;
    if (!in || !std::getline(in, pw) || pw.empty())
        throw std::runtime_error("broker: no password for user '" + user + "'");
    return pw;
}

void broker::start() {
    if (running()) return;
    proc_ = process({"mosquitto", "-c", (dir_.path() / "broker" / "mosquitto.conf").string()}, log_file());
    bool up = wait_for_port(port_, std::chrono::seconds{15});
    if (up && opts_.tls) up = wait_for_port(tls_port_, std::chrono::seconds{15});
    if (!up) {
        proc_.signal(SIGKILL);
        proc_.wait();
        throw std::runtime_error("mosquitto did not open port " + std::to_string(port_) + "; log:\n" + log());
    }
}

void broker::stop() {
    if (proc_.pid() > 0 && proc_.running()) proc_.stop(std::chrono::seconds{10});
}

void broker::restart() {
    stop();
    start();
}

void broker::kill() {
    if (proc_.pid() > 0 && proc_.running()) {
        proc_.signal(SIGKILL);
        proc_.wait();
    }
}

bool broker::running() { return proc_.pid() > 0 && proc_.running(); }

}  // namespace connguard::test
