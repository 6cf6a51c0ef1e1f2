#include "common/mqtt/paho_glue.h"

#include <algorithm>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace connguard::mqtt::detail {
namespace {

constexpr int reason_not_authorized = 0x87;

struct set_aside_client {
    std::unique_ptr<paho::async_client> cli;
    std::shared_ptr<const void> keep;
};

/// Never destroyed on purpose (see set_aside_forever): a static object would be destroyed at exit
/// and destroying such a paho client frees the same topic and payload a second time.
std::mutex& set_aside_mutex() {
    static auto* mu = new std::mutex;
    return *mu;
}
std::vector<set_aside_client>& set_aside_clients() {
    static auto* v = new std::vector<set_aside_client>;
    return *v;
}

}  // namespace

void validate(const client_options& o) {
    if (o.client_id.empty()) throw std::invalid_argument("mqtt client: client_id is required");
    if (o.client_id.find_first_of("+#/") != std::string::npos)
        throw std::invalid_argument("mqtt client: client_id '" + o.client_id + "' must not contain + # /");
    if (o.username.empty()) throw std::invalid_argument("mqtt client: username is required");
    const bool tls_uri = o.server_uri.starts_with("ssl://");
    if (!tls_uri && !o.server_uri.starts_with("tcp://"))
        throw std::invalid_argument("mqtt client: server_uri '" + o.server_uri + "' must start with tcp:// or ssl://");
    if (tls_uri && (!o.tls || o.tls->ca_file.empty()))
        throw std::invalid_argument("mqtt client: " + o.server_uri + " needs tls options with a ca_file");
    if (!tls_uri && o.tls)
        throw std::invalid_argument("mqtt client: tls options given for the non-TLS URI " + o.server_uri);
    if (o.tls && o.tls->cert_file.empty() != o.tls->key_file.empty())
        throw std::invalid_argument("mqtt client: tls cert_file and key_file go together");
    if (o.max_inflight < 1 || o.max_inflight > 65535)
        throw std::invalid_argument("mqtt client: max_inflight must be 1..65535");
    if (o.max_buffered < 1) throw std::invalid_argument("mqtt client: max_buffered must be >= 1");
    if (o.will && (o.will->topic.empty() || o.will->qos < 0 || o.will->qos > 1))
        throw std::invalid_argument("mqtt client: the Last Will needs a topic and QoS 0 or 1");
}

paho::create_options make_create_options(const client_options& o) {
    paho::create_options copts(MQTTVERSION_5);
    // Buffer while disconnected, also before the first connect, up to our bound plus the window
    // (paho's limit also counts queued commands while connected). The client checks our bound first
    // so a full buffer is an error value, never a paho exception or a silent drop. Twice our bound:
    // a paho client that replaces a set-aside one (mqtt_client.h) restores the old one's persisted
    // publishes and is handed the same un-acknowledged publishes again.
    copts.set_send_while_disconnected(true, true);
    copts.set_max_buffered_messages(static_cast<int>(
        std::min<long long>(2LL * o.max_buffered + o.max_inflight, std::numeric_limits<int>::max())));
    copts.set_delete_oldest_messages(false);
    copts.set_restore_messages(true);
    copts.set_persist_qos0(false);
    return copts;
}

std::chrono::seconds session_expiry_sent(const client_options& o) {
    // Never 0: with 0 (or a v3 clean session) paho-mqtt-c 1.3.12 empties its in-flight list when
    // the connection drops (MQTTAsync_closeSession -> MQTTAsync_cleanSession), which frees the
    // topic and payload of a publish whose first write just failed a second time, inside paho,
    // before the client can set that paho client aside (mqtt_client.h). A clean-start session
    // is discarded by the next connect anyway; the cap keeps an abandoned one from lingering.
    constexpr std::chrono::seconds clean_start_cap{60};
    const auto wanted = o.clean_start ? std::min(o.session_expiry, clean_start_cap) : o.session_expiry;
    return std::clamp<std::chrono::seconds>(wanted, std::chrono::seconds{1},
                                            std::chrono::seconds{std::numeric_limits<int>::max()});
}

void fill_connect_options(paho::connect_options& co, const client_options& o) {
    co.set_mqtt_version(MQTTVERSION_5);
    co.set_clean_start(o.clean_start);
    co.set_keep_alive_interval(static_cast<int>(o.keep_alive.count()));
    co.set_connect_timeout(10);
    co.set_user_name(o.username);
    co.set_password(o.password);
    co.set_max_inflight(o.max_inflight);
    // paho counts reconnect intervals in whole seconds; round up so it never spins at 0.
    const auto secs = [](std::chrono::milliseconds ms) {
        return static_cast<int>(std::max<long long>(1, (ms.count() + 999) / 1000));
    };
    co.set_automatic_reconnect(secs(o.reconnect_min), std::max(secs(o.reconnect_min), secs(o.reconnect_max)));
    paho::properties props;
    props.add(paho::property(paho::property::SESSION_EXPIRY_INTERVAL, static_cast<int>(session_expiry_sent(o).count())));
    co.set_properties(std::move(props));
    if (o.will) {
        paho::will_options w;
        w.set_topic(o.will->topic);
        w.set_payload(o.will->payload);
        w.set_qos(o.will->qos);
        w.set_retained(o.will->retained);
        co.set_will(std::move(w));
    }
    if (o.tls) {
        paho::ssl_options ssl;
        ssl.set_trust_store(o.tls->ca_file);
        if (!o.tls->cert_file.empty()) {
            ssl.set_key_store(o.tls->cert_file);
            ssl.set_private_key(o.tls->key_file);
        }
        ssl.set_enable_server_cert_auth(o.tls->verify_server);
        ssl.set_verify(o.tls->verify_server);
        co.set_ssl(std::move(ssl));
    }
}

paho::message_ptr to_paho(const message& m) {
    auto msg = paho::make_message(m.topic, m.payload.data(), m.payload.size(), m.qos, m.retained);
    if (!m.response_topic.empty() || !m.correlation_data.empty()) {
        paho::properties props;
        if (!m.response_topic.empty()) props.add(paho::property(paho::property::RESPONSE_TOPIC, m.response_topic));
        if (!m.correlation_data.empty())
            props.add(paho::property(paho::property::CORRELATION_DATA, m.correlation_data));
        msg->set_properties(std::move(props));
    }
    return msg;
}

message from_paho(const paho::message& pm) {
    message m;
    m.topic = pm.get_topic();
    m.payload = pm.get_payload_str();
    m.qos = pm.get_qos();
    m.retained = pm.is_retained();
    paho::properties props = pm.get_properties();  // get() is not const in paho 1.2.0
    if (props.contains(paho::property::RESPONSE_TOPIC))
        m.response_topic = paho::get<std::string>(props.get(paho::property::RESPONSE_TOPIC));
    if (props.contains(paho::property::CORRELATION_DATA))
        m.correlation_data = paho::get<std::string>(props.get(paho::property::CORRELATION_DATA));
    return m;
}

std::string reason_text(int reason) {
    return std::to_string(reason) + " (" + paho::exception::reason_code_str(reason) + ")";
}

error failure(int rc, int reason, const std::string& what) {
    if (rc >= 0x80 && reason < 0x80) reason = rc;  // a refused CONNECT reports the CONNACK reason as rc
    if (reason == 0x86 || reason == 0x8C)
        return make_error("mqtt.not_authorized", what + ": refused by the broker: reason " + reason_text(reason));
    if (reason == reason_not_authorized)
        return make_error("mqtt.not_authorized", what + ": refused by the broker: not authorized (reason 0x87)");
    if (reason >= 0x80)
        return make_error("mqtt.refused", what + ": refused by the broker: reason " + reason_text(reason));
    return make_error("mqtt.failed", what + ": " + paho::exception::error_str(rc) + " (rc " + std::to_string(rc) + ")");
}

bool first_write_failed(int return_code) {
    return return_code == MQTTASYNC_FAILURE || return_code == MQTTASYNC_PERSISTENCE_ERROR;
}

void set_aside_forever(std::unique_ptr<paho::async_client> cli, std::shared_ptr<const void> keep) {
    std::lock_guard lock(set_aside_mutex());
    set_aside_clients().push_back({std::move(cli), std::move(keep)});
}

}  // namespace connguard::mqtt::detail
