#pragma once
// A tenant's MQTT side as tenant_agent sees it: publish on this tenant's topics, receive on this
// tenant's topics. Two implementations (agent/README.md "Host mode on one connection"):
//
//  - make_own_link(): a one-tenant agent (`--config FILE`, or `--config-dir` without a host config):
//    its own mqtt::client, identity = tenant key, Last Will = AgentStatus offline on its own topic.
//  - host_connection::link_for(): host mode with a host config: every hosted tenant shares the
//    host's ONE mqtt::client (identity = the host's name, whose broker ACL grants exactly the
//    connguard/v1/tenants/{tenant}/ topics of the tenants it hosts, with a one-tenant agent's rights).
//    Receiving: one subscription per channel, connguard/v1/tenants/+/{channel}; the broker checks
//    read access on every delivery, so only the granted tenants' messages arrive; each is routed by
//    the topic's tenant level to that tenant's handler (a topic of a tenant not hosted here is
//    counted and logged, never handed to another tenant).
//
// A link refuses to publish outside its own tenant's topics (mqtt.bad_topic), so a bug in tenant
// code cannot publish as another tenant even where the host's grant would allow it.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include "agent/core/agent_config.h"
#include "common/clock.h"
#include "common/mqtt_client.h"
#include "common/result.h"
#include "common/topics.h"

namespace connguard::agent {

class tenant_link {
public:
    virtual ~tenant_link() = default;
    /// Handler for this tenant's topic of `channel` (QoS 1; see mqtt::client::subscribe for
    /// handled/retry). Call before start().
    virtual void subscribe(topics::tenant_channel channel, mqtt::message_handler handler) = 0;
    /// Own link: connects in the background (an error only for options that can never work).
    /// Host link: nothing to do (the host connects its connection).
    virtual status start() = 0;
    virtual bool connected() const = 0;
    /// Successful reconnects of the underlying connection (to re-announce "online").
    virtual std::uint64_t reconnects() const = 0;
    /// Publishes on one of THIS tenant's topics without waiting; `on_done` runs on paho's thread.
    virtual status publish_async(const mqtt::message& m, std::function<void(status)> on_done = {}) = 0;
    /// Own link: clean disconnect (no Will). Host link: stops routing to this tenant.
    virtual void close() = 0;
};

/// A one-tenant agent's own connection (client id connguard-agent-{key}, Last Will offline).
result<std::unique_ptr<tenant_link>> make_own_link(const tenant_config& cfg, const clock& clk);

/// The host's one connection, shared by every hosted tenant.
class host_connection {
public:
    /// Throws std::invalid_argument for options that can never work (as mqtt::client does).
    host_connection(const host_config& cfg, std::size_t tenants);
    ~host_connection();
    host_connection(const host_connection&) = delete;
    host_connection& operator=(const host_connection&) = delete;

    /// The link of hosted tenant `key` (the caller checked that the grant covers it).
    std::unique_ptr<tenant_link> link_for(const std::string& key);

    /// Connects in the background (keeps trying); subscriptions already made are sent first.
    status connect();
    /// Waits up to `timeout` for every publish to be acknowledged, then disconnects cleanly.
    void disconnect(std::chrono::milliseconds timeout);

    mqtt::client& client() { return client_; }
    /// Messages on a tenant topic of a tenant this host does not run (counted, logged, dropped).
    std::uint64_t unrouted() const { return unrouted_.load(); }

private:
    class link;
    friend class link;
    void add_route(const std::string& key, topics::tenant_channel ch, mqtt::message_handler h);
    void remove_routes(const std::string& key);
    mqtt::handler_result dispatch(const mqtt::message& m);

    std::string name_;
    mqtt::client client_;
    std::mutex mu_;
    std::set<topics::tenant_channel> subscribed_;
    std::unordered_map<std::string, std::map<topics::tenant_channel, std::shared_ptr<mqtt::message_handler>>> routes_;
    std::atomic<std::uint64_t> unrouted_{0};
};

}  // namespace connguard::agent
