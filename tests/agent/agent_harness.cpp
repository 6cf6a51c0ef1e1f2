#include "tests/agent/agent_harness.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <google/protobuf/util/json_util.h>

#include "common/envelope_codec.h"
#include "common/topics.h"

namespace connguard::test {

using nlohmann::json;

std::filesystem::path repo_scenarios() { return std::filesystem::path(CONNGUARD_SOURCE_DIR) / "tools/graph-sim/scenarios"; }
std::filesystem::path agent_binary() { return std::filesystem::path(CONNGUARD_BIN_DIR) / "connguard-agent"; }

sim_tenant tenant_from_scenario(const std::filesystem::path& file) {
    auto j = json::parse(slurp(file));
    sim_tenant t;
    t.tenant_id = j.at("tenantId").get<std::string>();
    t.domain = j.value("domain", std::string{});
    const auto& app = j.at("apps").at(0);
    t.app_id = app.at("appId").get<std::string>();
    t.client_secret = app.value("clientSecret", std::string{});
    const json* svc = &j.at("users").at(0);
    for (const auto& u : j.at("users"))
        if (u.value("userPrincipalName", std::string{}).rfind("svc-connguard@", 0) == 0) svc = &u;
    t.upn = svc->at("userPrincipalName").get<std::string>();
    t.password = svc->value("password", std::string{});
    t.user_id = svc->at("id").get<std::string>();
    return t;
}

sim_tenant repo_tenant(const std::string& file_name) { return tenant_from_scenario(repo_scenarios() / file_name); }

env::env(std::filesystem::path scenarios, std::vector<std::string> sim_args)
    : dir_("connguard-agent-test") {
    sim_ = std::make_unique<test::graph_sim>(scenarios, dir_.path() / "sim.log", std::move(sim_args));
}

namespace {
void write_secret(const std::filesystem::path& p, const std::string& value) {
    std::ofstream(p) << value << "\n";
    ::chmod(p.c_str(), 0600);
}
}  // namespace

json env::config_json(const std::string& key, const sim_tenant& t, const json& overrides, const test::broker* b,
                      const std::filesystem::path& secrets_dir) const {
    std::filesystem::create_directories(secrets_dir);
    write_secret(secrets_dir / "client-secret", t.client_secret);
    write_secret(secrets_dir / "account-password", t.password);
    json j = {{"tenant", key},
              {"azureTenantId", t.tenant_id},
              {"app", {{"clientId", t.app_id}, {"clientSecretFile", (secrets_dir / "client-secret").string()}}},
              {"account", {{"upn", t.upn}, {"passwordFile", (secrets_dir / "account-password").string()}}},
              {"poll", {{"intervalSeconds", 1}, {"jitterSeconds", 0}}},
              {"graph",
               {{"authorityUrl", sim_->base_url()},
                {"baseUrl", sim_->base_url()},
                {"caPacingMs", 0},
                {"maxRetries", 2},
                {"requestTimeoutMs", 5000}}},
              {"stateDir", (secrets_dir / "state").string()}};
    if (b) {
        write_secret(secrets_dir / "broker-password", b->password(key));
        j["broker"] = {{"url", b->uri()}, {"passwordFile", (secrets_dir / "broker-password").string()}};
    }
    if (!overrides.is_null()) j.merge_patch(overrides);
    return j;
}

std::filesystem::path env::write_config(const std::string& key, const sim_tenant& t, const json& overrides,
                                        const test::broker* b) const {
    const auto d = dir_.path() / key;
    auto j = config_json(key, t, overrides, b, d);
    const auto file = d / "agent.json";
    std::ofstream(file) << j.dump(2);
    return file;
}

env::once_result env::run_once(const std::filesystem::path& config) const {
    once_result r;
    const auto out_file = config.parent_path() / "once.out";
    const auto err_file = config.parent_path() / "once.err";
    const std::string cmd = "'" + agent_binary().string() + "' --config '" + config.string() + "' --once >'" +
                            out_file.string() + "' 2>'" + err_file.string() + "'";
    r.code = test::run_command({"/bin/sh", "-c", cmd}, nullptr, true, std::chrono::seconds{60});
    const auto out = slurp(out_file);
    r.output = out + slurp(err_file);
    r.parsed = google::protobuf::util::JsonStringToMessage(out, &r.report).ok() && r.report.checks_size() > 0;
    return r;
}

json env::admin(const std::string& method, const std::string& path, const json& body) {
    std::string resp;
    const int st = sim_->admin(method, path, body.is_null() ? "" : body.dump(), &resp);
    if (st < 200 || st >= 300)
        throw std::runtime_error("sim admin " + method + " " + path + " -> " + std::to_string(st) + ": " + resp);
    if (resp.empty()) return json();
    return json::parse(resp, nullptr, false);
}

const v1::CheckResult* find_check(const v1::ValidationReport& r, const std::string& id, const std::string& subject) {
    for (const auto& c : r.checks())
        if (c.id() == id && (subject.empty() || c.subject() == subject)) return &c;
    return nullptr;
}

v1::CheckStatus status_of(const v1::ValidationReport& r, const std::string& id, const std::string& subject) {
    // The worst status among the check's instances (CG-CAP has one per policy).
    v1::CheckStatus worst = v1::CHECK_STATUS_UNSPECIFIED;
    for (const auto& c : r.checks())
        if (c.id() == id && (subject.empty() || c.subject() == subject) && c.status() > worst) worst = c.status();
    return worst;
}

collector::collector(const test::broker& b, const std::string& client_id, bool ack) {
    auto opts = mqtt::client_options_builder()
                    .server_uri(b.uri())
                    .client_id(client_id)
                    .credentials(b.options().coordinator, b.password(b.options().coordinator))
                    .clean_start(false)
                    .reconnect(std::chrono::milliseconds{100}, std::chrono::milliseconds{1000})
                    .finalize();
    client_ = std::make_unique<mqtt::client>(opts);
    for (auto ch : {topics::tenant_channel::validation, topics::tenant_channel::events, topics::tenant_channel::agent,
                    topics::tenant_channel::results}) {
        client_->subscribe(topics::all_tenants_filter(ch), [this](const mqtt::message& m) {
            auto d = codec::decode(m.topic, m.payload);
            if (d.ok()) {
                std::lock_guard lock(mu_);
                to_ack_[d.envelope.tenant()].push_back(d.envelope.id());
                got_.push_back(std::move(d.envelope));
            }
            return mqtt::handler_result::handled;
        });
    }
    auto st = client_->connect(std::chrono::seconds{10});
    if (!st) throw std::runtime_error("collector: " + st.err().message);
    if (ack)
        acker_ = std::thread([this] {
            while (!stop_) {
                std::map<std::string, std::vector<std::string>> batch;
                {
                    std::lock_guard lock(mu_);
                    batch.swap(to_ack_);
                }
                for (const auto& [tenant, ids] : batch) send_ack(tenant, ids);
                std::this_thread::sleep_for(std::chrono::milliseconds{100});
            }
        });
}

collector::~collector() {
    stop_ = true;
    if (acker_.joinable()) acker_.join();
}

void collector::send_ack(const std::string& tenant, const std::vector<std::string>& committed,
                         const std::vector<std::pair<std::string, std::string>>& refused) {
    auto env = codec::make_envelope(tenant, "coordinator");
    auto* a = env.mutable_ingest_ack();
    for (const auto& id : committed) a->add_committed_ids(id);
    for (const auto& [id, reason] : refused) {
        auto* r = a->add_refused();
        r->set_envelope_id(id);
        r->set_reason(reason);
    }
    (void)client_->publish_async(mqtt::make_message(topics::acks(tenant), codec::encode(env, system_clock::instance()), 0));
}

std::vector<v1::Envelope> collector::all() const {
    std::lock_guard lock(mu_);
    return got_;
}

std::vector<v1::Envelope> collector::of(const std::string& tenant, v1::Envelope::BodyCase body) const {
    std::vector<v1::Envelope> out;
    std::lock_guard lock(mu_);
    for (const auto& e : got_)
        if (e.tenant() == tenant && e.body_case() == body) out.push_back(e);
    return out;
}

std::vector<v1::ChangeEvent> collector::events(const std::string& tenant) const {
    std::vector<v1::ChangeEvent> out;
    for (const auto& e : of(tenant, v1::Envelope::kChangeEvent)) out.push_back(e.change_event());
    return out;
}

std::vector<v1::ValidationReport> collector::reports(const std::string& tenant) const {
    std::vector<v1::ValidationReport> out;
    for (const auto& e : of(tenant, v1::Envelope::kValidationReport)) out.push_back(e.validation_report());
    return out;
}

std::vector<v1::CommandResult> collector::results(const std::string& tenant) const {
    std::vector<v1::CommandResult> out;
    for (const auto& e : of(tenant, v1::Envelope::kCommandResult)) out.push_back(e.command_result());
    return out;
}

std::vector<v1::AgentStatus> collector::statuses(const std::string& tenant) const {
    std::vector<v1::AgentStatus> out;
    for (const auto& e : of(tenant, v1::Envelope::kAgentStatus)) out.push_back(e.agent_status());
    return out;
}

bool collector::wait(const std::function<bool()>& pred, std::chrono::milliseconds timeout) const {
    return eventually(pred, timeout, std::chrono::milliseconds{50});
}

v1::ValidationReport collector::wait_report(const std::string& tenant, std::uint64_t min_cycle,
                                            std::chrono::milliseconds timeout) const {
    v1::ValidationReport found;
    wait(
        [&] {
            for (const auto& r : reports(tenant))
                if (r.cycle() >= min_cycle) {
                    found = r;
                    return true;
                }
            return false;
        },
        timeout);
    return found;
}

void collector::send_command(const std::string& tenant, const v1::AgentCommand& cmd, const std::string& envelope_tenant) {
    auto env = codec::make_envelope(envelope_tenant.empty() ? tenant : envelope_tenant, "coordinator");
    *env.mutable_agent_command() = cmd;
    auto payload = codec::encode(env, system_clock::instance());
    auto st = client_->publish({topics::commands(tenant), payload, 1, false, "", ""});
    if (!st) throw std::runtime_error("send_command: " + st.err().message);
}

test::process start_agent(const std::vector<std::string>& args, const std::filesystem::path& log) {
    std::vector<std::string> argv = {agent_binary().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::process(argv, log);
}

}  // namespace connguard::test
