#include "common/mqtt_client.h"

#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include "common/log.h"

namespace connguard::mqtt {
namespace {

using namespace std::chrono_literals;
namespace paho = ::mqtt;

constexpr int reason_not_authorized = 0x87;
/// How long publish_async() waits for a free slot in the un-acknowledged window (backpressure).
constexpr auto async_window_wait = 30s;
/// Upper bound for the in-place retry backoff of a handler that returned `retry`.
constexpr auto max_handler_backoff = 5s;

/// MQTT topic filter matching (+ and #), with an optional $share/<group>/ prefix on the filter.
bool topic_matches(std::string_view filter, std::string_view topic) {
    if (filter.starts_with("$share/")) {
        const auto group_end = filter.find('/', 7);
        if (group_end == std::string_view::npos) return false;
        filter.remove_prefix(group_end + 1);
    }
    if (!topic.empty() && topic[0] == '$' && (filter.empty() || filter[0] != '$')) return false;
    std::size_t f = 0, t = 0;
    while (true) {
        const auto f_end = std::min(filter.find('/', f), filter.size());
        const auto level = filter.substr(f, f_end - f);
        if (level == "#") return true;
        const auto t_end = std::min(topic.find('/', t), topic.size());
        if (t > topic.size()) return false;
        if (level != "+" && level != topic.substr(t, t_end - t)) return false;
        const bool f_last = f_end == filter.size();
        const bool t_last = t_end == topic.size();
        if (f_last || t_last) {
            if (f_last && t_last) return true;
            // "a/#" also matches "a"
            return t_last && !f_last && filter.substr(f_end + 1) == "#";
        }
        f = f_end + 1;
        t = t_end + 1;
    }
}

std::string reason_text(int reason) {
    return std::to_string(reason) + " (" + paho::exception::reason_code_str(reason) + ")";
}

/// Maps a failed paho token/exception to our error codes.
error failure(int rc, int reason, const std::string& what) {
    if (rc >= 0x80 && reason < 0x80) reason = rc;  // a refused CONNECT reports the CONNACK reason as rc
    if (reason == 0x86 || reason == 0x8C)
        return make_error("mqtt.not_authorized", what + ": refused by the broker: reason " + reason_text(reason));
    if (reason == reason_not_authorized)
        return make_error("mqtt.not_authorized", what + ": refused by the broker: not authorized (reason 0x87)");
    if (reason >= 0x80) return make_error("mqtt.refused", what + ": refused by the broker: reason " + reason_text(reason));
    return make_error("mqtt.failed", what + ": " + paho::exception::error_str(rc) + " (rc " + std::to_string(rc) + ")");
}

}  // namespace

struct client::impl final : public paho::iaction_listener {
    explicit impl(client_options o) : opts_(std::move(o)) {}

    client_options opts_;
    std::unique_ptr<paho::async_client> cli_;
    paho::connect_options conn_opts_;  // built in place: paho 1.2.0 loses properties on copy (#445)

    mutable std::mutex mu_;
    std::condition_variable cv_;

    struct subscription {
        std::string filter;
        std::shared_ptr<message_handler> handler;
    };
    std::vector<subscription> subs_;

    // Publishing: every publish handed to paho and not yet completed (on the wire or buffered).
    int outstanding_ = 0;
    int window_ = 1;
    std::uint64_t next_ctx_ = 1;
    std::map<std::uint64_t, std::function<void(status)>> pending_;

    bool connected_ = false;
    bool ever_connected_ = false;
    std::uint64_t conn_gen_ = 0;        // incremented on every CONNACK
    std::uint64_t subscribed_gen_ = 0;  // subscriptions renewed for this generation
    bool want_connect_ = false;         // supervisor: keep trying the first connect
    bool giving_up_handlers_ = false;   // disconnect/shutdown: handlers stop retrying
    bool connection_closed_ = false;    // set once the socket is closed during disconnect
    bool stopping_ = false;
    std::atomic<bool> closing_{false};  // the paho client is being destroyed
    int in_handler_ = 0;
    std::uint64_t held_seq_ = 0;
    std::thread supervisor_;

    std::atomic<std::uint64_t> published_{0}, publish_failures_{0}, received_{0}, handler_retries_{0},
        reconnects_{0}, dropped_unhandled_{0};

    // ---- set-up ------------------------------------------------------------------------------

    void validate() const {
        if (opts_.client_id.empty()) throw std::invalid_argument("mqtt client: client_id is required");
        if (opts_.client_id.find_first_of("+#/") != std::string::npos)
            throw std::invalid_argument("mqtt client: client_id '" + opts_.client_id + "' must not contain + # /");
        if (opts_.username.empty()) throw std::invalid_argument("mqtt client: username is required");
        const bool tls_uri = opts_.server_uri.starts_with("ssl://");
        if (!tls_uri && !opts_.server_uri.starts_with("tcp://"))
            throw std::invalid_argument("mqtt client: server_uri '" + opts_.server_uri +
                                        "' must start with tcp:// or ssl://");
        if (tls_uri && (!opts_.tls || opts_.tls->ca_file.empty()))
            throw std::invalid_argument("mqtt client: " + opts_.server_uri + " needs tls options with a ca_file");
        if (!tls_uri && opts_.tls)
            throw std::invalid_argument("mqtt client: tls options given for the non-TLS URI " + opts_.server_uri);
        if (opts_.tls && opts_.tls->cert_file.empty() != opts_.tls->key_file.empty())
            throw std::invalid_argument("mqtt client: tls cert_file and key_file go together");
        if (opts_.max_inflight < 1 || opts_.max_inflight > 65535)
            throw std::invalid_argument("mqtt client: max_inflight must be 1..65535");
        if (opts_.max_buffered < 1) throw std::invalid_argument("mqtt client: max_buffered must be >= 1");
        if (opts_.will && (opts_.will->topic.empty() || opts_.will->qos < 0 || opts_.will->qos > 1))
            throw std::invalid_argument("mqtt client: the Last Will needs a topic and QoS 0 or 1");
    }

    void build() {
        validate();
        log::add_secret(opts_.password);
        window_ = opts_.max_inflight;

        paho::create_options copts(MQTTVERSION_5);
        // Buffer while disconnected, also before the first connect, up to our bound plus the window
        // (paho's limit also counts queued commands while connected). We check our bound first so a
        // full buffer is an error value, never a paho exception or a silent drop.
        copts.set_send_while_disconnected(true, true);
        copts.set_max_buffered_messages(opts_.max_buffered + opts_.max_inflight);
        copts.set_delete_oldest_messages(false);
        copts.set_restore_messages(true);
        copts.set_persist_qos0(false);
        if (opts_.persistence_dir.empty()) {
            cli_ = std::make_unique<paho::async_client>(opts_.server_uri, opts_.client_id, copts, nullptr);
        } else {
            std::error_code ec;
            std::filesystem::create_directories(opts_.persistence_dir, ec);
            if (ec)
                throw std::invalid_argument("mqtt client: cannot create persistence_dir " + opts_.persistence_dir +
                                            ": " + ec.message());
            cli_ = std::make_unique<paho::async_client>(opts_.server_uri, opts_.client_id, copts,
                                                        opts_.persistence_dir);
        }

        conn_opts_.set_mqtt_version(MQTTVERSION_5);
        conn_opts_.set_clean_start(opts_.clean_start);
        conn_opts_.set_keep_alive_interval(static_cast<int>(opts_.keep_alive.count()));
        conn_opts_.set_connect_timeout(10);
        conn_opts_.set_user_name(opts_.username);
        conn_opts_.set_password(opts_.password);
        conn_opts_.set_max_inflight(opts_.max_inflight);
        // paho counts reconnect intervals in whole seconds; round up so it never spins at 0.
        const auto secs = [](std::chrono::milliseconds ms) {
            return static_cast<int>(std::max<long long>(1, (ms.count() + 999) / 1000));
        };
        conn_opts_.set_automatic_reconnect(secs(opts_.reconnect_min),
                                           std::max(secs(opts_.reconnect_min), secs(opts_.reconnect_max)));
        paho::properties props;
        props.add(paho::property(paho::property::SESSION_EXPIRY_INTERVAL,
                                 static_cast<int>(opts_.clean_start ? 0 : opts_.session_expiry.count())));
        conn_opts_.set_properties(std::move(props));
        if (opts_.will) {
            paho::will_options w;
            w.set_topic(opts_.will->topic);
            w.set_payload(opts_.will->payload);
            w.set_qos(opts_.will->qos);
            w.set_retained(opts_.will->retained);
            conn_opts_.set_will(std::move(w));
        }
        if (opts_.tls) {
            paho::ssl_options ssl;
            ssl.set_trust_store(opts_.tls->ca_file);
            if (!opts_.tls->cert_file.empty()) {
                ssl.set_key_store(opts_.tls->cert_file);
                ssl.set_private_key(opts_.tls->key_file);
            }
            ssl.set_enable_server_cert_auth(opts_.tls->verify_server);
            ssl.set_verify(opts_.tls->verify_server);
            conn_opts_.set_ssl(std::move(ssl));
        }

        cli_->set_connected_handler([this](const std::string&) { on_connected(); });
        cli_->set_connection_lost_handler([this](const std::string& cause) { on_connection_lost(cause); });
        cli_->set_disconnected_handler(
            [this](const paho::properties&, paho::ReasonCode reason) { on_server_disconnect(reason); });
        cli_->set_message_callback([this](paho::const_message_ptr msg) { on_message(std::move(msg)); });
        supervisor_ = std::thread([this] { supervise(); });
    }

    // ---- paho callbacks (paho's threads: cheap, never throw) ---------------------------------

    void on_connected() noexcept {
        try {
            std::lock_guard lock(mu_);
            connected_ = true;
            connection_closed_ = false;
            if (ever_connected_) ++reconnects_;
            ever_connected_ = true;
            ++conn_gen_;
            want_connect_ = false;
            cv_.notify_all();
        } catch (...) {
        }
        try {
            spdlog::info("mqtt {}: connected to {} as {}", opts_.client_id, opts_.server_uri, opts_.username);
        } catch (...) {
        }
    }

    void mark_disconnected() {
        std::lock_guard lock(mu_);
        connected_ = false;
        cv_.notify_all();
    }

    void on_connection_lost(const std::string& cause) noexcept {
        try {
            mark_disconnected();
            spdlog::warn("mqtt {}: connection to {} lost ({}); reconnecting, publishes are buffered",
                         opts_.client_id, opts_.server_uri, cause.empty() ? "no cause given" : cause);
        } catch (...) {
        }
    }

    void on_server_disconnect(paho::ReasonCode reason) noexcept {
        try {
            mark_disconnected();
            spdlog::warn("mqtt {}: broker {} closed the connection: reason {}", opts_.client_id, opts_.server_uri,
                         reason_text(static_cast<int>(reason)));
        } catch (...) {
        }
    }

    // iaction_listener for publishes: the user context carries our pending_ key.
    void on_success(const paho::token& tok) override { complete(tok, true); }
    void on_failure(const paho::token& tok) override { complete(tok, false); }

    void complete(const paho::token& tok, bool ok) noexcept {
        try {
            const auto key = reinterpret_cast<std::uintptr_t>(tok.get_user_context());
            status st;
            if (ok) {
            } else if (closing_) {
                // paho discards queued publishes when the client is destroyed; with persistence_dir
                // they stay on disk and are sent by the next client with the same id.
                st = make_error("mqtt.closed", opts_.persistence_dir.empty()
                                                   ? "client closed before the publish was delivered"
                                                   : "client closed; the publish stays buffered on disk");
            } else {
                st = failure(tok.get_return_code(), static_cast<int>(tok.get_reason_code()),
                             "publish (message id " + std::to_string(tok.get_message_id()) + ")");
            }
            std::function<void(status)> done;
            {
                std::lock_guard lock(mu_);
                auto it = pending_.find(key);
                if (it == pending_.end()) return;
                done = std::move(it->second);
                pending_.erase(it);
                // counters first, so flush() returning means stats() already tell the truth
                if (ok)
                    ++published_;
                else if (!closing_)
                    ++publish_failures_;
                --outstanding_;
                cv_.notify_all();
            }
            if (!ok && !closing_) spdlog::warn("mqtt {}: {}", opts_.client_id, st.err().message);
            if (done) done(st);
        } catch (const std::exception& e) {
            try {
                spdlog::error("mqtt {}: publish completion callback threw: {}", opts_.client_id, e.what());
            } catch (...) {
            }
        } catch (...) {
        }
    }

    void on_message(paho::const_message_ptr msg) noexcept {
        {
            std::lock_guard lock(mu_);
            ++in_handler_;
        }
        try {
            deliver(*msg);
        } catch (const std::exception& e) {
            try {
                spdlog::error("mqtt {}: message dispatch failed: {}", opts_.client_id, e.what());
            } catch (...) {
            }
        } catch (...) {
        }
        std::lock_guard lock(mu_);
        --in_handler_;
        cv_.notify_all();
    }

    /// Runs every matching handler until each returned `handled`. Returning from here lets paho
    /// send the PUBACK (paho-mqtt-c >= 1.3.10 acknowledges after the callback returns).
    void deliver(const paho::message& pm) {
        message m;
        m.topic = pm.get_topic();
        m.payload = pm.get_payload_str();
        m.qos = pm.get_qos();
        m.retained = pm.is_retained();
        paho::properties props = pm.get_properties();
        if (props.contains(paho::property::RESPONSE_TOPIC))
            m.response_topic = paho::get<std::string>(props.get(paho::property::RESPONSE_TOPIC));
        if (props.contains(paho::property::CORRELATION_DATA))
            m.correlation_data = paho::get<std::string>(props.get(paho::property::CORRELATION_DATA));

        std::vector<std::shared_ptr<message_handler>> handlers;
        {
            std::lock_guard lock(mu_);
            for (const auto& s : subs_)
                if (topic_matches(s.filter, m.topic)) handlers.push_back(s.handler);
        }
        ++received_;
        if (handlers.empty()) {
            spdlog::warn("mqtt {}: message on '{}' matches no subscription; acknowledged and ignored",
                         opts_.client_id, m.topic);
            return;
        }
        std::vector<bool> done(handlers.size(), false);
        auto backoff = std::chrono::milliseconds{50};
        while (true) {
            bool all = true;
            for (std::size_t i = 0; i < handlers.size(); ++i) {
                if (done[i]) continue;
                handler_result r = handler_result::retry;
                try {
                    r = (*handlers[i])(m);
                } catch (const std::exception& e) {
                    spdlog::error("mqtt {}: handler for '{}' threw ({}); retrying", opts_.client_id, m.topic, e.what());
                } catch (...) {
                    spdlog::error("mqtt {}: handler for '{}' threw; retrying", opts_.client_id, m.topic);
                }
                if (r == handler_result::handled)
                    done[i] = true;
                else
                    all = false;
            }
            if (all) return;
            ++handler_retries_;
            std::unique_lock lock(mu_);
            if (giving_up_handlers_) {
                // disconnect()/shutdown while the handler still refuses the message. paho-mqtt-c
                // 1.3.12 sends the PUBACK as soon as this callback returns and holds its client
                // mutex meanwhile, so we cannot close the connection first. Instead the message is
                // written to persistence_dir/held/ and handed to the handler again by the next
                // connect() (before any new message). Without persistence_dir it is dropped and
                // counted (stats().dropped_unhandled).
                lock.unlock();
                hold(m);
                return;
            }
            if (handler_retries_ % 20 == 1)
                spdlog::warn("mqtt {}: handler asked to retry the message on '{}'; holding it (not acknowledged)",
                             opts_.client_id, m.topic);
            cv_.wait_for(lock, backoff, [&] { return giving_up_handlers_; });
            backoff = std::min<std::chrono::milliseconds>(backoff * 2, max_handler_backoff);
        }
    }

    // ---- held messages: unhandled at shutdown, kept on disk, replayed by the next connect() ---

    std::filesystem::path held_dir() const { return std::filesystem::path(opts_.persistence_dir) / "held"; }

    static void put_field(std::string& out, const std::string& v) {
        const auto n = static_cast<std::uint32_t>(v.size());
        for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
        out += v;
    }
    static bool get_field(std::string_view& in, std::string& v) {
        if (in.size() < 4) return false;
        std::uint32_t n = 0;
        for (int i = 0; i < 4; ++i) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
        in.remove_prefix(4);
        if (in.size() < n) return false;
        v.assign(in.substr(0, n));
        in.remove_prefix(n);
        return true;
    }

    void hold(const message& m) {
        if (opts_.persistence_dir.empty()) {
            ++dropped_unhandled_;
            spdlog::error("mqtt {}: closing with the message on '{}' not handled by its handler and no "
                          "persistence_dir to keep it: dropped", opts_.client_id, m.topic);
            return;
        }
        std::string rec = "CGHELD1\n";
        put_field(rec, m.topic);
        put_field(rec, m.payload);
        put_field(rec, std::to_string(m.qos) + (m.retained ? "r" : "-"));
        put_field(rec, m.response_topic);
        put_field(rec, m.correlation_data);
        std::error_code ec;
        std::filesystem::create_directories(held_dir(), ec);
        char name[64];
        std::snprintf(name, sizeof name, "%020lld-%06llu.msg",
                      static_cast<long long>(std::chrono::system_clock::now().time_since_epoch().count()),
                      static_cast<unsigned long long>(++held_seq_));
        const auto path = held_dir() / name;
        const auto tmp = path.string() + ".tmp";
        bool ok = false;
        if (FILE* f = std::fopen(tmp.c_str(), "wb")) {
            ok = std::fwrite(rec.data(), 1, rec.size(), f) == rec.size();
            ok = std::fflush(f) == 0 && ok;
            ok = ::fsync(::fileno(f)) == 0 && ok;
            ok = std::fclose(f) == 0 && ok;
        }
        if (ok) std::filesystem::rename(tmp, path, ec);
        if (!ok || ec) {
            ++dropped_unhandled_;
            spdlog::error("mqtt {}: could not keep the unhandled message on '{}' in {}: dropped", opts_.client_id,
                          m.topic, held_dir().string());
            return;
        }
        spdlog::warn("mqtt {}: closing with the message on '{}' not handled; kept in {} and handed to the "
                     "handler again on the next connect()", opts_.client_id, m.topic, path.string());
    }

    /// Hands held messages to their handlers (caller's thread, before connecting). A message whose
    /// handler still asks to retry after `budget` stays on disk for the next start.
    void replay_held(std::chrono::milliseconds budget) {
        if (opts_.persistence_dir.empty()) return;
        std::error_code ec;
        if (!std::filesystem::is_directory(held_dir(), ec)) return;
        std::vector<std::filesystem::path> files;
        for (const auto& e : std::filesystem::directory_iterator(held_dir(), ec))
            if (e.path().extension() == ".msg") files.push_back(e.path());
        std::sort(files.begin(), files.end());
        const auto deadline = std::chrono::steady_clock::now() + budget;
        for (const auto& path : files) {
            std::string data;
            if (FILE* f = std::fopen(path.c_str(), "rb")) {
                char buf[65536];
                std::size_t n;
                while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
                std::fclose(f);
            }
            std::string_view in(data);
            message m;
            std::string flags;
            const bool parsed = in.starts_with("CGHELD1\n") && (in.remove_prefix(8), true) &&
                                get_field(in, m.topic) && get_field(in, m.payload) && get_field(in, flags) &&
                                get_field(in, m.response_topic) && get_field(in, m.correlation_data) &&
                                flags.size() == 2;
            if (!parsed) {
                spdlog::error("mqtt {}: held message file {} is unreadable; left in place", opts_.client_id,
                              path.string());
                continue;
            }
            m.qos = flags[0] - '0';
            m.retained = flags[1] == 'r';
            std::vector<std::shared_ptr<message_handler>> handlers;
            {
                std::lock_guard lock(mu_);
                for (const auto& s : subs_)
                    if (topic_matches(s.filter, m.topic)) handlers.push_back(s.handler);
            }
            if (handlers.empty()) {
                spdlog::warn("mqtt {}: held message on '{}' matches no subscription yet; left in {}",
                             opts_.client_id, m.topic, path.string());
                continue;
            }
            bool all = false;
            auto backoff = std::chrono::milliseconds{50};
            while (true) {
                all = true;
                for (auto& h : handlers) {
                    if (!h) continue;
                    handler_result r = handler_result::retry;
                    try {
                        r = (*h)(m);
                    } catch (const std::exception& e) {
                        spdlog::error("mqtt {}: handler for held '{}' threw ({})", opts_.client_id, m.topic, e.what());
                    } catch (...) {
                    }
                    if (r == handler_result::handled)
                        h.reset();
                    else
                        all = false;
                }
                if (all || std::chrono::steady_clock::now() + backoff > deadline) break;
                ++handler_retries_;
                std::this_thread::sleep_for(backoff);
                backoff = std::min<std::chrono::milliseconds>(backoff * 2, max_handler_backoff);
            }
            if (!all) {
                spdlog::warn("mqtt {}: held message on '{}' still not handled; kept for the next start",
                             opts_.client_id, m.topic);
                continue;
            }
            ++received_;
            std::filesystem::remove(path, ec);
        }
    }

    // ---- supervisor thread: first connect with retries, and (re)subscribing ------------------

    void supervise() {
        auto backoff = std::max<std::chrono::milliseconds>(opts_.reconnect_min, 100ms);
        std::unique_lock lock(mu_);
        while (!stopping_) {
            if (connected_ && subscribed_gen_ < conn_gen_) {
                const auto gen = conn_gen_;
                auto subs = subs_;
                lock.unlock();
                resubscribe(subs);
                lock.lock();
                subscribed_gen_ = std::max(subscribed_gen_, gen);
                cv_.notify_all();
                continue;
            }
            if (want_connect_ && !connected_) {
                lock.unlock();
                auto st = attempt_connect(std::chrono::seconds{10});
                lock.lock();
                if (st.ok() || connected_) {
                    // paho completes the connect token before it calls the connected handler:
                    // without this the loop could see "not connected yet" and connect a second
                    // time. Later drops are paho's automatic reconnect's job.
                    want_connect_ = false;
                    backoff = std::max<std::chrono::milliseconds>(opts_.reconnect_min, 100ms);
                    continue;
                }
                spdlog::info("mqtt {}: connect to {} failed ({}); retrying in {} ms", opts_.client_id,
                             opts_.server_uri, st.err().message, backoff.count());
                cv_.wait_for(lock, backoff, [&] { return stopping_ || !want_connect_; });
                backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::max(opts_.reconnect_max, 1000ms));
                continue;
            }
            cv_.wait(lock, [&] { return stopping_ || (connected_ && subscribed_gen_ < conn_gen_) ||
                                        (want_connect_ && !connected_); });
        }
    }

    status subscribe_one(const std::string& filter) {
        try {
            paho::subscribe_options so;
            so.set_retain_handling(paho::subscribe_options::SEND_RETAINED_ON_NEW);
            auto tok = cli_->subscribe(filter, 1, so);
            if (!tok->wait_for(10s)) return make_error("mqtt.timeout", "subscribe '" + filter + "': no SUBACK in 10 s");
            const auto rsp = tok->get_subscribe_response();
            const std::vector<paho::ReasonCode> codes = rsp.get_reason_codes();
            for (auto rc : codes)
                if (static_cast<int>(rc) >= 0x80)
                    return failure(0, static_cast<int>(rc), "subscribe '" + filter + "'");
            return {};
        } catch (const paho::exception& e) {
            return failure(e.get_return_code(), e.get_reason_code(), "subscribe '" + filter + "'");
        }
    }

    void resubscribe(const std::vector<subscription>& subs) {
        for (const auto& s : subs) {
            auto st = subscribe_one(s.filter);
            if (!st) spdlog::error("mqtt {}: {}", opts_.client_id, st.err().message);
        }
    }

    status attempt_connect(std::chrono::milliseconds timeout) {
        try {
            auto tok = cli_->connect(conn_opts_);
            if (!tok->wait_for(timeout))
                return make_error("mqtt.timeout", "connect to " + opts_.server_uri + ": no answer within " +
                                                      std::to_string(timeout.count()) + " ms");
            // Keep the un-acknowledged window below the broker's Receive Maximum (mqtt.md §1.4b).
            try {
                auto props = tok->get_connect_response().get_properties();
                if (props.contains(paho::property::RECEIVE_MAXIMUM)) {
                    const int rmax = paho::get<uint16_t>(props.get(paho::property::RECEIVE_MAXIMUM));
                    std::lock_guard lock(mu_);
                    window_ = std::max(1, std::min(opts_.max_inflight, rmax - 1));
                }
            } catch (const std::exception&) {
            }
            return {};
        } catch (const paho::exception& e) {
            return failure(e.get_return_code(), e.get_reason_code(), "connect to " + opts_.server_uri + " as " + opts_.username);
        }
    }

    // ---- API ---------------------------------------------------------------------------------

    status connect(std::chrono::milliseconds timeout, bool keep_trying) {
        {
            std::lock_guard lock(mu_);
            giving_up_handlers_ = false;
            if (connected_) return {};
        }
        replay_held(timeout);
        {
            std::lock_guard lock(mu_);
            if (keep_trying) {
                want_connect_ = true;
                cv_.notify_all();
                return {};
            }
        }
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        auto st = attempt_connect(timeout);
        if (!st) {
            spdlog::warn("mqtt {}: {}", opts_.client_id, st.err().message);
            return st;
        }
        // Return once the subscriptions of this connection are in place. paho completes the
        // connect token before it calls the connected handler, so `connected_` may still be false
        // here: wait for the handler too, or a request published right away can be answered
        // before its response subscription exists.
        std::unique_lock lock(mu_);
        if (!cv_.wait_until(lock, deadline, [&] { return connected_ && subscribed_gen_ >= conn_gen_; }))
            spdlog::warn("mqtt {}: connected, but the subscriptions were not confirmed within {} ms; "
                         "they are renewed in the background",
                         opts_.client_id, timeout.count());
        return {};
    }

    void subscribe(std::string filter, message_handler handler) {
        bool now = false;
        {
            std::lock_guard lock(mu_);
            subs_.push_back({filter, std::make_shared<message_handler>(std::move(handler))});
            now = connected_;
        }
        if (now) {
            auto st = subscribe_one(filter);
            if (!st) spdlog::error("mqtt {}: {}", opts_.client_id, st.err().message);
        }
    }

    status start_publish(const message& m, std::function<void(status)> on_done,
                         std::chrono::steady_clock::time_point deadline) {
        if (m.topic.empty() || m.topic.find_first_of("+#") != std::string::npos)
            return make_error("mqtt.bad_topic", "publish: invalid topic '" + m.topic + "'");
        if (m.qos < 0 || m.qos > 1) return make_error("mqtt.bad_qos", "publish: QoS must be 0 or 1");
        std::uint64_t key = 0;
        {
            std::unique_lock lock(mu_);
            // Backpressure: while connected, at most window_ publishes are un-acknowledged; while
            // disconnected, at most max_buffered wait in the (on-disk) buffer.
            const auto room = [&] {
                return stopping_ || (connected_ ? outstanding_ < window_ : outstanding_ < opts_.max_buffered);
            };
            cv_.wait_until(lock, deadline, room);
            if (stopping_) return make_error("mqtt.closed", "publish: client is shutting down");
            if (!room()) {
                ++publish_failures_;
                if (!connected_) {
                    spdlog::warn("mqtt {}: offline buffer full ({} messages); publish to '{}' refused",
                                 opts_.client_id, opts_.max_buffered, m.topic);
                    return make_error("mqtt.buffer_full", "publish to '" + m.topic + "': offline buffer of " +
                                                              std::to_string(opts_.max_buffered) + " messages is full");
                }
                return make_error("mqtt.timeout", "publish to '" + m.topic + "': " + std::to_string(window_) +
                                                      " publishes still unacknowledged");
            }
            key = next_ctx_++;
            pending_.emplace(key, std::move(on_done));
            ++outstanding_;
        }
        try {
            auto msg = paho::make_message(m.topic, m.payload.data(), m.payload.size(), m.qos, m.retained);
            if (!m.response_topic.empty() || !m.correlation_data.empty()) {
                paho::properties props;
                if (!m.response_topic.empty())
                    props.add(paho::property(paho::property::RESPONSE_TOPIC, m.response_topic));
                if (!m.correlation_data.empty())
                    props.add(paho::property(paho::property::CORRELATION_DATA, m.correlation_data));
                msg->set_properties(std::move(props));
            }
            cli_->publish(msg, reinterpret_cast<void*>(static_cast<std::uintptr_t>(key)), *this);
            return {};
        } catch (const paho::exception& e) {
            {
                std::lock_guard lock(mu_);
                if (pending_.erase(key)) --outstanding_;
                cv_.notify_all();
            }
            ++publish_failures_;
            auto err = failure(e.get_return_code(), e.get_reason_code(), "publish to '" + m.topic + "'");
            spdlog::warn("mqtt {}: {}", opts_.client_id, err.message);
            return err;
        }
    }

    status publish(const message& m, std::chrono::milliseconds timeout) {
        struct waiter {
            std::mutex mu;
            std::condition_variable cv;
            bool done = false;
            status st;
        };
        auto w = std::make_shared<waiter>();
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        auto st = start_publish(
            m,
            [w](status s) {
                std::lock_guard lock(w->mu);
                w->st = std::move(s);
                w->done = true;
                w->cv.notify_all();
            },
            deadline);
        if (!st) return st;
        std::unique_lock lock(w->mu);
        if (w->cv.wait_until(lock, deadline, [&] { return w->done; })) return w->st;
        lock.unlock();
        if (!connected())
            return make_error("mqtt.buffered", "publish to '" + m.topic +
                                                   "': broker unreachable; buffered and delivered on reconnect");
        return make_error("mqtt.timeout", "publish to '" + m.topic + "': no acknowledgement within " +
                                              std::to_string(timeout.count()) + " ms (still pending)");
    }

    bool flush(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, timeout, [&] { return outstanding_ == 0; });
    }

    void disconnect(std::chrono::milliseconds timeout) {
        {
            std::lock_guard lock(mu_);
            want_connect_ = false;
            giving_up_handlers_ = true;
            cv_.notify_all();
        }
        try {
            if (cli_->is_connected()) {
                auto tok = cli_->disconnect(paho::disconnect_options(static_cast<int>(timeout.count())));
                tok->wait_for(timeout + 1s);
            }
        } catch (const std::exception& e) {
            spdlog::warn("mqtt {}: disconnect: {}", opts_.client_id, e.what());
        }
        std::unique_lock lock(mu_);
        connected_ = false;
        connection_closed_ = true;
        cv_.notify_all();
        // Let a handler that was holding a message return (it will not be acknowledged).
        cv_.wait_for(lock, 10s, [&] { return in_handler_ == 0; });
    }

    bool connected() const {
        std::lock_guard lock(mu_);
        return connected_;
    }

    void shutdown() {
        disconnect(1s);
        {
            std::lock_guard lock(mu_);
            stopping_ = true;
            cv_.notify_all();
        }
        if (supervisor_.joinable()) supervisor_.join();
        // Publishes still buffered stay in persistence_dir (if set) for the next process.
        int left = 0;
        {
            std::lock_guard lock(mu_);
            left = outstanding_;
        }
        if (left > 0)
            spdlog::warn("mqtt {}: closing with {} publishes not yet acknowledged; {}", opts_.client_id, left,
                         opts_.persistence_dir.empty() ? "they are lost (no persistence_dir)"
                                                       : "kept in " + opts_.persistence_dir + " for the next start");
        closing_ = true;
        try {
            cli_.reset();
        } catch (...) {
        }
    }

    ~impl() override = default;
};

client::client(client_options opts) : impl_(std::make_unique<impl>(std::move(opts))) { impl_->build(); }

client::~client() {
    try {
        impl_->shutdown();
    } catch (...) {
    }
}

void client::subscribe(std::string filter, message_handler handler) {
    impl_->subscribe(std::move(filter), std::move(handler));
}

status client::connect(std::chrono::milliseconds timeout, bool keep_trying) {
    return impl_->connect(timeout, keep_trying);
}

status client::publish(const message& m, std::chrono::milliseconds timeout) { return impl_->publish(m, timeout); }

status client::publish_async(const message& m, std::function<void(status)> on_done) {
    return impl_->start_publish(m, std::move(on_done), std::chrono::steady_clock::now() + async_window_wait);
}

bool client::flush(std::chrono::milliseconds timeout) { return impl_->flush(timeout); }

void client::disconnect(std::chrono::milliseconds timeout) { impl_->disconnect(timeout); }

bool client::connected() const { return impl_->connected(); }

client_stats client::stats() const {
    client_stats s;
    s.published = impl_->published_;
    s.publish_failures = impl_->publish_failures_;
    s.received = impl_->received_;
    s.handler_retries = impl_->handler_retries_;
    s.reconnects = impl_->reconnects_;
    std::lock_guard lock(impl_->mu_);
    s.connected = impl_->connected_;
    s.pending = static_cast<std::uint64_t>(impl_->outstanding_);
    s.window = impl_->window_;
    s.dropped_unhandled = impl_->dropped_unhandled_;
    return s;
}

const client_options& client::options() const { return impl_->opts_; }

bool topic_matches_filter(std::string_view filter, std::string_view topic) { return topic_matches(filter, topic); }

}  // namespace connguard::mqtt
