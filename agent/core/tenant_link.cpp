#include "agent/core/tenant_link.h"

#include <spdlog/spdlog.h>

#include "agent/core/messages.h"
#include "connguard/v1/validation.pb.h"

namespace connguard::agent {
namespace {

using namespace std::chrono_literals;

/// The topic belongs to tenant `key` (connguard/v1/tenants/{key}/...).
bool own_topic(const std::string& key, const std::string& topic) {
    const auto p = topics::parse(topic);
    return p.what == topics::parsed::kind::tenant && p.tenant == key;
}

status not_own(const std::string& key, const std::string& topic) {
    return make_error("mqtt.bad_topic", "tenant " + key + ": refused to publish on '" + topic +
                                            "': not one of this tenant's topics");
}

class own_link final : public tenant_link {
public:
    own_link(std::string key, mqtt::client_options o) : key_(std::move(key)), client_(std::move(o)) {}
    void subscribe(topics::tenant_channel ch, mqtt::message_handler h) override {
        client_.subscribe(topics::tenant_topic(key_, ch), std::move(h));
    }
    status start() override { return client_.connect(10s, /*keep_trying=*/true); }
    bool connected() const override { return client_.connected(); }
    std::uint64_t reconnects() const override { return client_.stats().reconnects; }
    status publish_async(const mqtt::message& m, std::function<void(status)> on_done) override {
        if (!own_topic(key_, m.topic)) return not_own(key_, m.topic);
        return client_.publish_async(m, std::move(on_done));
    }
    void close() override { client_.disconnect(2s); }

private:
    std::string key_;
    mqtt::client client_;
};

}  // namespace

result<std::unique_ptr<tenant_link>> make_own_link(const tenant_config& cfg, const clock& clk) {
    v1::AgentStatus will;
    will.set_state(v1::AGENT_STATE_OFFLINE);
    will.set_version(agent_version);
    will.set_reason("connection lost (last will)");
    auto builder = mqtt::client_options_builder()
                       .server_uri(cfg.broker_url)
                       .client_id("connguard-agent-" + cfg.tenant_key)
                       .credentials(cfg.broker_username, cfg.broker_password)
                       .will({topics::agent_status(cfg.tenant_key), encode_status(cfg.tenant_key, will, clk), 1, true})
                       .clean_start(false)
                       .max_buffered(1000);
    if (cfg.broker_url.rfind("ssl://", 0) == 0) builder.tls({cfg.broker_ca_file.string(), "", "", true});
    try {
        return std::unique_ptr<tenant_link>(std::make_unique<own_link>(cfg.tenant_key, builder.finalize()));
    } catch (const std::exception& e) {
        return make_error("agent.mqtt", "tenant " + cfg.tenant_key + ": MQTT client: " + e.what());
    }
}

// ---- host mode: one connection ------------------------------------------------------------------

class host_connection::link final : public tenant_link {
public:
    link(host_connection& h, std::string key) : h_(h), key_(std::move(key)) {}
    ~link() override { close(); }
    void subscribe(topics::tenant_channel ch, mqtt::message_handler handler) override {
        h_.add_route(key_, ch, std::move(handler));
    }
    status start() override { return {}; }
    bool connected() const override { return h_.client_.connected(); }
    std::uint64_t reconnects() const override { return h_.client_.stats().reconnects; }
    status publish_async(const mqtt::message& m, std::function<void(status)> on_done) override {
        if (!own_topic(key_, m.topic)) return not_own(key_, m.topic);
        return h_.client_.publish_async(m, std::move(on_done));
    }
    void close() override {
        if (closed_) return;
        closed_ = true;
        h_.remove_routes(key_);
    }

private:
    host_connection& h_;
    std::string key_;
    bool closed_ = false;
};

namespace {

mqtt::client_options host_options(const host_config& cfg, std::size_t tenants) {
    // No Last Will: one connection has one will and it cannot name every tenant. An orderly stop
    // publishes AgentStatus offline for each tenant; after a crash the coordinator's silence
    // detection (agent:silent) covers every tenant of the host.
    auto builder = mqtt::client_options_builder()
                       .server_uri(cfg.broker_url)
                       .client_id("connguard-host-" + cfg.name)
                       .credentials(cfg.name, cfg.broker_password)
                       .clean_start(false)
                       // A one-tenant agent may buffer 1,000 messages while the broker is away;
                       // the host keeps 100 per tenant (a cycle is a report, a few events and a status).
                       .max_buffered(static_cast<int>(std::clamp<std::size_t>(tenants * 100, 1000, 2000000)));
    if (cfg.broker_url.rfind("ssl://", 0) == 0) builder.tls({cfg.broker_ca_file.string(), "", "", true});
    return builder.finalize();
}

}  // namespace

host_connection::host_connection(const host_config& cfg, std::size_t tenants)
    : name_(cfg.name), client_(host_options(cfg, tenants)) {}

host_connection::~host_connection() = default;

std::unique_ptr<tenant_link> host_connection::link_for(const std::string& key) {
    return std::make_unique<link>(*this, key);
}

void host_connection::add_route(const std::string& key, topics::tenant_channel ch, mqtt::message_handler h) {
    bool first = false;
    {
        std::lock_guard lock(mu_);
        routes_[key][ch] = std::make_shared<mqtt::message_handler>(std::move(h));
        first = subscribed_.insert(ch).second;
    }
    // One wildcard subscription per channel for all hosted tenants: the broker's ACL delivers only
    // the topics of the tenants this identity is granted; dispatch() routes by the tenant level.
    if (first)
        client_.subscribe(topics::all_tenants_filter(ch), [this](const mqtt::message& m) { return dispatch(m); });
}

void host_connection::remove_routes(const std::string& key) {
    std::lock_guard lock(mu_);
    routes_.erase(key);
}

mqtt::handler_result host_connection::dispatch(const mqtt::message& m) {
    // paho's receive thread. Never throws.
    try {
        const auto p = topics::parse(m.topic);
        std::shared_ptr<mqtt::message_handler> h;
        {
            std::lock_guard lock(mu_);
            if (p.what == topics::parsed::kind::tenant)
                if (auto it = routes_.find(p.tenant); it != routes_.end())
                    if (auto c = it->second.find(p.channel); c != it->second.end()) h = c->second;
        }
        if (!h) {
            const auto n = ++unrouted_;
            spdlog::warn("host {}: dropped a message on {}: no hosted tenant takes it ({} so far)", name_, m.topic, n);
            return mqtt::handler_result::handled;
        }
        return (*h)(m);
    } catch (const std::exception& e) {
        spdlog::error("host {}: routing a message on {}: {}", name_, m.topic, e.what());
        return mqtt::handler_result::retry;
    }
}

status host_connection::connect() {
    auto st = client_.connect(10s, /*keep_trying=*/true);
    if (!st) return make_error(st.err().code, "host " + name_ + ": " + st.err().message);
    return {};
}

void host_connection::disconnect(std::chrono::milliseconds timeout) {
    client_.flush(timeout);
    client_.disconnect(2s);
}

}  // namespace connguard::agent
