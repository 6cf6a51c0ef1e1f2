#include "tests/e2e/e2e_stack.h"

#include <signal.h>
#include <sqlite3.h>

#include <deque>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/envelope_codec.h"
#include "common/topics.h"
#include "coordinator/store.h"

namespace connguard::e2e {

using nlohmann::json;

std::string tail(const std::filesystem::path& p, int lines) {
    std::ifstream in(p);
    std::deque<std::string> last;
    std::string line;
    while (std::getline(in, line)) {
        last.push_back(line);
        if (static_cast<int>(last.size()) > lines) last.pop_front();
    }
    std::string out;
    for (const auto& l : last) out += l + "\n";
    return out;
}

std::string short_enum(const std::string& value) {
    for (const char* prefix : {"TASK_STATE_", "CHECK_STATUS_", "REMEDIATION_KIND_", "RISK_", "ALERT_STATE_", "SEVERITY_",
                               "EXCEPTION_KIND_"}) {
        const std::string p = prefix;
        if (value.rfind(p, 0) == 0) return value.substr(p.size());
    }
    return value;
}

std::set<std::string> loadgen_ids::ids_of(const std::string& kind) const {
    std::set<std::string> out;
    for (const auto& [id, k] : kind_of)
        if (k == kind) out.insert(id);
    return out;
}

loadgen_ids read_loadgen_ids(const std::filesystem::path& file) {
    loadgen_ids p;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        std::stringstream ss(line);
        std::string id, tenant, kind, cycle;
        std::getline(ss, id, '\t');
        std::getline(ss, tenant, '\t');
        std::getline(ss, kind, '\t');
        std::getline(ss, cycle, '\t');
        if (id.empty() || cycle.empty()) continue;
        ++p.lines;
        p.kind_of[id] = kind;
        if (kind == "report") {
            auto& c = p.last_cycle[tenant];
            c = std::max<std::uint64_t>(c, std::stoull(cycle));
        }
    }
    return p;
}

std::vector<std::string> tenant_keys(const std::string& prefix, int n) {
    std::vector<std::string> out;
    for (int i = 1; i <= n; ++i) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%s%02d", prefix.c_str(), i);
        out.push_back(buf);
    }
    return out;
}

// --- alert_recorder ---------------------------------------------------------------------------------

alert_recorder::alert_recorder(const test::broker& b) {
    client_ = std::make_unique<mqtt::client>(mqtt::client_options_builder()
                                                 .server_uri(b.uri())
                                                 .client_id("e2e-alert-recorder")
                                                 .credentials("noc", b.password("noc"))
                                                 .clean_start(true)
                                                 .finalize());
    client_->subscribe(topics::all_alerts_filter(), [this](const mqtt::message& m) {
        auto d = codec::decode(m.topic, m.payload);
        if (d.ok() && d.envelope.has_alert()) {
            std::lock_guard lock(mu_);
            got_.push_back({m.topic, topics::parse(m.topic).tenant, d.envelope.alert()});
        }
        return mqtt::handler_result::handled;
    });
    if (auto st = client_->connect(); !st) throw std::runtime_error("alert recorder: " + st.err().message);
}

alert_recorder::~alert_recorder() { client_->disconnect(); }

std::vector<seen_alert> alert_recorder::all() const {
    std::lock_guard lock(mu_);
    return got_;
}

bool alert_recorder::has(const std::string& tenant, const std::string& cause_prefix, v1::AlertState state) const {
    std::lock_guard lock(mu_);
    for (const auto& a : got_)
        if (a.tenant == tenant && a.alert.state() == state && a.alert.cause().rfind(cause_prefix, 0) == 0) return true;
    return false;
}

// --- stack ------------------------------------------------------------------------------------------

void stack::start_sim() {
    // The simulator serves exactly the scenario files of this stack (copied, so tests may differ).
    const auto scen = dir_.path() / "scenarios";
    std::filesystem::create_directories(scen);
    const std::filesystem::path shipped = std::filesystem::path(CONNGUARD_SOURCE_DIR) / "tools/graph-sim/scenarios";
    std::filesystem::copy(shipped / "certs", scen / "certs", std::filesystem::copy_options::recursive);
    for (const auto& t : opts_.tenants) std::filesystem::copy_file(shipped / t.file, scen / t.file);
    sim_ = std::make_unique<test::graph_sim>(scen, dir_.path() / "graph-sim.log", opts_.sim_args);
}

stack::stack(stack_options opts) : opts_(std::move(opts)) {
    test::broker_options bo;
    bo.coordinator = "coordinator";
    bo.tenants.clear();
    for (const auto& t : opts_.tenants) bo.tenants.push_back(t.tenant);
    for (const auto& t : opts_.extra_tenants) bo.tenants.push_back(t);
    bo.admins = opts_.admins;
    bo.subscribers = {"noc"};
    broker_ = std::make_unique<test::broker>(bo);

    if (opts_.with_sim) start_sim();

    json config = {{"broker",
                    {{"url", broker_->uri()},
                     {"username", "coordinator"},
                     {"passwordFile", (broker_->dir() / "broker" / "secrets" / "coordinator").string()},
                     {"clientId", "e2e-coordinator"}}},
                   {"store", opts_.store_url.empty() ? json{{"path", db_path().string()}} : json{{"url", opts_.store_url}}},
                   {"approvers", {{"alice", "approver"}, {"bob", "approver"}, {"olga", "operator"}, {"vera", "viewer"}}},
                   {"tasks", {{"ttlSeconds", 86400}, {"dispatchTimeoutSeconds", 300}}},
                   {"agents", {{"silenceSeconds", 0}}},
                   {"timers", {{"tickMilliseconds", 200}}},
                   {"log", {{"level", "info"}}}};
    config.merge_patch(opts_.coordinator_overrides);
    if (opts_.coordinators > 1 && opts_.store_url.empty())
        throw std::logic_error("stack: several coordinators share a PostgreSQL store (store_url)");
    coordinators_.resize(static_cast<std::size_t>(std::max(1, opts_.coordinators)));
    for (int i = 0; i < static_cast<int>(coordinators_.size()); ++i) {
        if (i > 0) config["broker"]["clientId"] = "e2e-coordinator-" + std::to_string(i + 1);
        std::ofstream(dir_.path() / file_of(i, "json")) << config.dump(2);
    }
}

stack::~stack() {
    if (agent_.running()) agent_.stop(10s);
    for (auto& c : coordinators_)
        if (c.running()) c.stop(10s);
}

void stack::start_coordinator(int i) {
    const auto log_file = coordinator_log(i);
    const auto before = slurp(log_file).size();
    coordinators_.at(static_cast<std::size_t>(i)) =
        test::process({std::string(CONNGUARD_BIN_DIR) + "/connguard-coordinator", "--config", (dir_.path() / file_of(i, "json")).string()},
                      log_file);
    const bool up = eventually([&] {
        const auto log = slurp(log_file);
        return log.size() > before && log.find("coordinator up", before) != std::string::npos;
    }, 60s);
    if (!up) throw std::runtime_error("the coordinator did not come up; log:\n" + tail(log_file));
}

void stack::kill_coordinator(int i) {
    auto& c = coordinators_.at(static_cast<std::size_t>(i));
    c.signal(SIGKILL);
    c.wait(30s);
}

int stack::stop_coordinator(int i) {
    auto& c = coordinators_.at(static_cast<std::size_t>(i));
    return c.running() ? c.stop(15s) : 0;
}

void stack::start_agent() {
    if (!sim_) throw std::logic_error("start_agent: this stack has no simulator");
    if (!agent_configs_written_) {
        std::vector<std::string> argv = {std::string(CONNGUARD_SOURCE_DIR) + "/tools/demo/write-agent-configs",
                                         "--scenarios", (dir_.path() / "scenarios").string(),
                                         "--out", (dir_.path() / "agents").string(),
                                         "--graph-url", sim_->base_url(),
                                         "--broker-url", broker_->uri(),
                                         "--broker-secrets", (broker_->dir() / "broker" / "secrets").string(),
                                         "--interval", std::to_string(opts_.poll_seconds),
                                         "--jitter", "1"};
        for (const auto& t : opts_.tenants) {
            argv.push_back("--key");
            argv.push_back(t.file + "=" + t.tenant);
        }
        std::string out;
        if (test::run_command(argv, &out) != 0) throw std::runtime_error("write-agent-configs failed: " + out);
        if (!opts_.agent_overrides.empty()) {
            for (const auto& t : opts_.tenants) {
                const auto p = agent_config_dir() / (t.tenant + ".json");
                auto j = json::parse(slurp(p));
                j.merge_patch(opts_.agent_overrides);
                std::ofstream(p, std::ios::trunc) << j.dump(2);
            }
        }
        agent_configs_written_ = true;
    }
    std::vector<std::string> argv = {std::string(CONNGUARD_BIN_DIR) + "/connguard-agent", "--config-dir",
                                     agent_config_dir().string(), "--workers", "3"};
    argv.insert(argv.end(), opts_.agent_args.begin(), opts_.agent_args.end());
    agent_ = test::process(argv, agent_log());
}

int stack::stop_agent() { return agent_.running() ? agent_.stop(20s) : 0; }

test::process stack::start_loadgen(const std::vector<std::string>& tenants, const std::vector<std::string>& args,
                                   const std::filesystem::path& log) {
    std::string list;
    for (const auto& t : tenants) {
        if (!list.empty()) list += ',';
        list += t;
    }
    std::vector<std::string> argv = {std::string(CONNGUARD_BIN_DIR) + "/connguard-loadgen", "--broker", broker_->uri(),
                                     "--secrets", (broker_->dir() / "broker" / "secrets").string(), "--tenants", list};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::process(argv, log);
}

int stack::ctl(const std::string& user, const std::vector<std::string>& args, std::string* output) {
    std::vector<std::string> argv = {std::string(CONNGUARD_BIN_DIR) + "/connguardctl"};
    argv.insert(argv.end(), args.begin(), args.end());
    for (const auto& a : {std::string("--broker"), broker_->uri(), std::string("--user"), user, std::string("--password-file"),
                          (broker_->dir() / "broker" / "secrets" / user).string(), std::string("--timeout"), std::string("60")})
        argv.push_back(a);
    std::string out;
    const int rc = test::run_command(argv, &out, /*merge_stderr=*/false, 120s);
    if (output) {
        // Drop log lines of the MQTT wrapper ("[2026-...] [info] mqtt ...") that connguardctl prints.
        std::stringstream in(out);
        std::string line, kept;
        while (std::getline(in, line))
            if (!(line.rfind("[20", 0) == 0 && line.find("] [") != std::string::npos)) kept += line + "\n";
        *output = kept;
    }
    return rc;
}

json stack::ctl_json(const std::string& user, std::vector<std::string> args, int* exit_code) {
    args.push_back("--json");
    std::string out;
    const int rc = ctl(user, args, &out);
    if (exit_code) *exit_code = rc;
    json answer;
    std::stringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] != '{') continue;
        auto j = json::parse(line, nullptr, false);
        if (!j.is_discarded()) answer = j;
    }
    return answer;
}

std::vector<json> stack::tasks(const std::string& tenant) {
    std::vector<std::string> args = {"tasks"};
    if (!tenant.empty()) args.insert(args.end(), {"--tenant", tenant});
    auto j = ctl_json("alice", args);
    std::vector<json> out;
    if (j.is_object() && j.value("ok", false) && j.contains("tasks"))
        for (const auto& t : j["tasks"]) out.push_back(t);
    return out;
}

std::string stack::task_state(const std::string& task_id) {
    for (const auto& t : tasks())
        if (t.value("task_id", "") == task_id) return short_enum(t.value("state", ""));
    return "";
}

std::optional<json> stack::task(const std::string& tenant, const std::string& kind, const std::string& target) {
    for (const auto& t : tasks(tenant))  // newest first
        if (short_enum(t.value("kind", "")) == kind && (target.empty() || t.value("target", "") == target)) return t;
    return std::nullopt;
}

std::map<std::string, std::string> stack::statuses() {
    std::map<std::string, std::string> out;
    auto j = ctl_json("alice", {"tenants"});
    if (j.is_object() && j.value("ok", false) && j.contains("tenants"))
        for (const auto& t : j["tenants"]) out[t.value("tenant", "")] = short_enum(t.value("overall", ""));
    return out;
}

namespace {
struct db_handle {
    sqlite3* db = nullptr;
    explicit db_handle(const std::filesystem::path& p) {
        if (sqlite3_open_v2(p.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
            sqlite3_close(db);
            db = nullptr;
        } else {
            sqlite3_busy_timeout(db, 10000);
        }
    }
    ~db_handle() { sqlite3_close(db); }
};
}  // namespace

std::int64_t stack::sql_int(const std::string& sql) {
    if (!opts_.store_url.empty()) {
        const auto v = sql_strings(sql);
        if (v.empty() || v.front().empty() || v.front().find_first_not_of("-0123456789") != std::string::npos) return -1;
        return std::stoll(v.front());
    }
    db_handle h(db_path());
    if (!h.db) return -1;
    sqlite3_stmt* st = nullptr;
    std::int64_t n = -1;
    if (sqlite3_prepare_v2(h.db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

std::vector<std::string> stack::sql_strings(const std::string& sql) {
    if (!opts_.store_url.empty()) {
        auto db = coord::store::open(opts_.store_url);
        if (!db) return {};
        auto rows = (*db)->query_strings(sql);
        return rows ? std::move(*rows) : std::vector<std::string>{};
    }
    db_handle h(db_path());
    std::vector<std::string> out;
    if (!h.db) return out;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h.db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const auto* t = sqlite3_column_text(st, 0);
            out.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
        }
    }
    sqlite3_finalize(st);
    return out;
}

json stack::sim_get(const std::string& path) {
    json out;
    return sim_call("GET", path, nullptr, &out) / 100 == 2 ? out : json();
}

int stack::sim_call(const std::string& method, const std::string& path, const json& body, json* response) {
    std::string text;
    const int status = sim_->admin(method, path, body.is_null() ? "" : body.dump(), &text);
    if (response) *response = json::parse(text, nullptr, false);
    return status;
}

std::string stack::logs() {
    std::string out;
    // The lines that explain most failures (connections, commands, warnings) can scroll out of a
    // tail: they come first, then the tail.
    auto notable = [](const std::filesystem::path& p) {
        std::ifstream in(p);
        std::string line, found;
        int n = 0;
        while (std::getline(in, line) && n < 40)
            for (const char* mark : {" warning ", " error ", " critical ", " mqtt ", "command "})
                if (line.find(mark) != std::string::npos) {
                    found += line + "\n";
                    ++n;
                    break;
                }
        return found;
    };
    auto add = [&](const std::string& name, const std::filesystem::path& p) {
        out += "\n----- " + name + " (" + p.string() + "): notable lines -----\n" + notable(p);
        out += "----- " + name + ": last lines -----\n" + tail(p, 25);
    };
    add("coordinator", coordinator_log());
    for (int i = 1; i < static_cast<int>(coordinators_.size()); ++i)
        add("coordinator-" + std::to_string(i + 1), coordinator_log(i));
    add("agent", agent_log());
    add("mosquitto", broker_->log_file());
    if (sim_) add("graph-sim", dir_.path() / "graph-sim.log");
    return out;
}

}  // namespace connguard::e2e
