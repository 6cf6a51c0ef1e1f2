#include "common/mqtt_client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/mqtt/connect_diagnosis.h"
#include "common/mqtt/connection_state.h"
#include "common/mqtt/delivery.h"
#include "common/mqtt/held_store.h"
#include "common/mqtt/paho_glue.h"
#include "common/mqtt/publish_window.h"

// The client proper: paho callbacks, the supervisor thread and the API. Its parts: connection
// state (mqtt/connection_state.h), un-acknowledged publishes (mqtt/publish_window.h), handing
// messages to handlers (mqtt/delivery.h), held messages on disk (mqtt/held_store.h), paho
// translation (mqtt/paho_glue.h). When paho-mqtt-c leaves a paho client unusable (a publish whose
// first write failed, mqtt_client.h), the supervisor replaces it: replace_paho().

namespace connguard::mqtt {
namespace {

using namespace std::chrono_literals;
namespace paho = ::mqtt;
using detail::conn_event;

/// How long publish_async() waits for a free slot in the un-acknowledged window (backpressure).
constexpr auto async_window_wait = 30s;

/// How long replace_paho() waits for paho to close the broken connection of the client it sets
/// aside (paho's send thread does it right after the failed write).
constexpr auto close_wait = 10s;

void* key_context(std::uint64_t key) { return reinterpret_cast<void*>(static_cast<std::uintptr_t>(key)); }

}  // namespace

struct client::impl final {
    /// Routes the callbacks of one paho client (connection events, messages, publish outcomes) to
    /// the impl. When that paho client is set aside, `owner` is cleared first: whatever it still
    /// reports is dropped, and the impl never hears of a client it no longer uses.
    struct paho_link final : public paho::iaction_listener {
        std::atomic<impl*> owner{nullptr};
        paho::async_client* cli = nullptr;  ///< the paho client this link belongs to (outlives its use)

        // Publish outcomes: the user context carries the publish_window key.
        void on_success(const paho::token& tok) override {
            if (auto* o = owner.load()) o->complete(*this, tok, true);
        }
        void on_failure(const paho::token& tok) override {
            if (auto* o = owner.load()) o->complete(*this, tok, false);
        }

        /// Every connect token handed to this paho client, kept for as long as the client lives.
        /// paho-mqtt-cpp 1.2.0 holds only the newest one (async_client::connTok_), but paho-mqtt-c
        /// may still report an older connect attempt (its own automatic retry, copied into the
        /// client's connect data, racing a newer connect()) through that token's address: without
        /// this, paho-mqtt-cpp writes the failure into a freed token (seen under load as a leaked
        /// "TCP/TLS connect failure" string from token::on_failure5). One per connect() call, and
        /// those only happen until the first connect succeeds (paho reconnects by itself after).
        void keep_connect_token(paho::token_ptr tok) {
            std::lock_guard lock(connect_tokens_mu);
            connect_tokens.push_back(std::move(tok));
        }
        std::mutex connect_tokens_mu;
        std::vector<paho::token_ptr> connect_tokens;
    };

    explicit impl(client_options o)
        : opts_(std::move(o)), held_(opts_.persistence_dir), pubs_(opts_.max_inflight, opts_.max_buffered) {}

    client_options opts_;
    paho::connect_options conn_opts_;  // built in place: paho 1.2.0 loses properties on copy (#445)
    detail::held_store held_;

    // The current paho client and its link. Shared to use cli_ (publish, subscribe, connect,
    // disconnect), exclusive to replace it; taken before mu_, never while mu_ is held. paho's
    // callbacks never take it (replace_paho() waits on paho's threads while holding it).
    std::shared_mutex paho_mu_;
    std::unique_ptr<paho::async_client> cli_;
    std::shared_ptr<paho_link> link_;

    mutable std::mutex mu_;  // guards everything below but the atomic counters
    std::condition_variable cv_;

    detail::connection_state conn_;
    std::vector<detail::subscription> subs_;
    detail::publish_window pubs_;
    /// A publish of the current paho client failed on its first write: that client must be
    /// replaced before it connects again (mqtt_client.h); publishers wait meanwhile.
    bool poisoned_ = false;

    int in_handler_ = 0;
    std::thread supervisor_;

    std::atomic<std::uint64_t> published_{0}, publish_failures_{0}, received_{0}, handler_retries_{0},
        reconnects_{0}, dropped_unhandled_{0}, paho_replaced_{0}, resent_after_replace_{0};

    /// The one place the connection state changes; wakes every waiter.
    void transition(conn_event e, std::uint64_t gen = 0) {
        std::lock_guard lock(mu_);
        transition_locked(e, gen);
    }
    void transition_locked(conn_event e, std::uint64_t gen = 0) {
        if (conn_.apply(e, gen)) cv_.notify_all();
    }

    // ---- set-up ------------------------------------------------------------------------------

    void build() {
        detail::validate(opts_);
        log::add_secret(opts_.password);
        if (!opts_.persistence_dir.empty()) {
            std::error_code ec;
            std::filesystem::create_directories(opts_.persistence_dir, ec);
            if (ec)
                throw std::invalid_argument("mqtt client: cannot create persistence_dir " + opts_.persistence_dir +
                                            ": " + ec.message());
        }
        detail::fill_connect_options(conn_opts_, opts_);
        new_paho();
        supervisor_ = std::thread([this] { supervise(); });
    }

    /// Creates a paho client and its link and makes them current (build(), or replace_paho()
    /// with paho_mu_ held exclusively). With persistence_dir, paho restores what an earlier paho
    /// client of this id left on disk (publishes not yet acknowledged, also from a set-aside one).
    /// Throws what paho's constructor throws.
    void new_paho() {
        const auto copts = detail::make_create_options(opts_);
        auto cli = opts_.persistence_dir.empty()
                       ? std::make_unique<paho::async_client>(opts_.server_uri, opts_.client_id, copts, nullptr)
                       : std::make_unique<paho::async_client>(opts_.server_uri, opts_.client_id, copts,
                                                              opts_.persistence_dir);
        auto link = std::make_shared<paho_link>();
        link->cli = cli.get();
        link->owner = this;
        // The handlers hold the link, not the impl: a set-aside client's late events go nowhere.
        cli->set_connected_handler([link](const std::string&) {
            if (auto* o = link->owner.load()) o->on_connected();
        });
        cli->set_connection_lost_handler([link](const std::string& cause) {
            if (auto* o = link->owner.load()) o->on_connection_lost(cause);
        });
        cli->set_disconnected_handler([link](const paho::properties&, paho::ReasonCode reason) {
            if (auto* o = link->owner.load()) o->on_server_disconnect(reason);
        });
        cli->set_message_callback([link](paho::const_message_ptr msg) {
            if (auto* o = link->owner.load()) o->on_message(std::move(msg));
        });
        cli_ = std::move(cli);
        link_ = std::move(link);
    }

    // ---- paho callbacks (paho's threads: cheap, never throw) ---------------------------------

    void on_connected() noexcept {
        try {
            {
                std::lock_guard lock(mu_);
                if (conn_.generation() > 0) ++reconnects_;
                transition_locked(conn_event::paho_connected);
            }
            spdlog::info("mqtt {}: connected to {} as {}", opts_.client_id, opts_.server_uri, opts_.username);
        } catch (...) {
        }
    }

    void on_connection_lost(const std::string& cause) noexcept {
        try {
            transition(conn_event::connection_lost);
            spdlog::warn("mqtt {}: connection to {} lost ({}); reconnecting, publishes are buffered",
                         opts_.client_id, opts_.server_uri, cause.empty() ? "no cause given" : cause);
        } catch (...) {
        }
    }

    void on_server_disconnect(paho::ReasonCode reason) noexcept {
        try {
            transition(conn_event::connection_lost);
            spdlog::warn("mqtt {}: broker {} closed the connection: reason {}", opts_.client_id, opts_.server_uri,
                         detail::reason_text(static_cast<int>(reason)));
        } catch (...) {
        }
    }

    /// A publish's outcome (paho's thread, through the link of the paho client that had it).
    void complete(paho_link& from, const paho::token& tok, bool ok) noexcept {
        try {
            const auto key = reinterpret_cast<std::uintptr_t>(tok.get_user_context());
            if (!ok && detail::first_write_failed(tok.get_return_code())) {
                set_aside_soon(from, key);
                return;
            }
            detail::publish_window::completion done;
            bool closed = false;
            {
                std::lock_guard lock(mu_);
                auto taken = pubs_.take(key);
                if (!taken) return;
                done = std::move(*taken);
                closed = conn_.closed();
                // counters first, so flush() returning means stats() already tell the truth
                if (ok)
                    ++published_;
                else if (!closed)
                    ++publish_failures_;
                cv_.notify_all();
            }
            status st;
            if (ok) {
            } else if (closed) {
                st = closed_error();
            } else {
                st = detail::failure(tok.get_return_code(), static_cast<int>(tok.get_reason_code()),
                                     "publish (message id " + std::to_string(tok.get_message_id()) + ")");
                spdlog::warn("mqtt {}: {}", opts_.client_id, st.err().message);
            }
            if (done) done(st);
        } catch (const std::exception& e) {
            try {
                spdlog::error("mqtt {}: publish completion callback threw: {}", opts_.client_id, e.what());
            } catch (...) {
            }
        } catch (...) {
        }
    }

    /// paho's send thread, inside MQTTAsync_processCommand: the publish `key` failed on its first
    /// write (the connection broke). paho-mqtt-c 1.3.12 frees its topic and payload as soon as this
    /// returns while the session's in-flight copy still points at them; sending that copy again
    /// (on reconnect), acknowledging it, cleaning the session or destroying the client would read
    /// or free that memory again (mqtt_client.h). So this paho client must never reconnect: its
    /// automatic reconnect is switched off here, before paho's own DISCONNECT of the broken
    /// connection runs (that is what would schedule it), and the supervisor replaces the client.
    /// The publish keeps its slot in the window and is handed to the new client.
    void set_aside_soon(paho_link& from, std::uint64_t key) noexcept {
        try {
            {
                std::lock_guard lock(mu_);
                poisoned_ = true;
                cv_.notify_all();
            }
            try {
                // MQTTAsync_disconnect clears "should be connected" before anything else; paho may
                // then ignore the request itself (its own DISCONNECT is already queued): fine.
                from.cli->disconnect(0);
            } catch (const paho::exception&) {
            }
            spdlog::warn("mqtt {}: a publish failed on its first write to {} (connection broken); paho-mqtt-c "
                         "1.3.12 keeps a copy of it with freed topic and payload, so this paho client is set aside "
                         "and a new one sends every un-acknowledged publish again (key {})",
                         opts_.client_id, opts_.server_uri, key);
        } catch (...) {
        }
    }

    /// Runs every matching handler until each returned `handled`. Returning from here lets paho
    /// send the PUBACK (paho-mqtt-c >= 1.3.10 acknowledges after the callback returns).
    void on_message(paho::const_message_ptr msg) noexcept {
        {
            std::lock_guard lock(mu_);
            ++in_handler_;
        }
        try {
            const message m = detail::from_paho(*msg);
            const auto handlers = handlers_for(m.topic);
            ++received_;
            if (handlers.empty()) {
                spdlog::warn("mqtt {}: message on '{}' matches no subscription; acknowledged and ignored",
                             opts_.client_id, m.topic);
            } else if (deliver(m, handlers, std::chrono::steady_clock::time_point::max()) ==
                       detail::delivery_outcome::gave_up) {
                // disconnect()/shutdown while the handler still refuses the message. paho-mqtt-c
                // 1.3.12 sends the PUBACK as soon as this callback returns and holds its client
                // mutex meanwhile, so we cannot close the connection first: keep it on disk for the
                // next connect() (before any new message), or drop and count it without a store.
                hold(m);
            }
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

    // ---- delivery: one retry loop for live and held messages ----------------------------------

    std::vector<detail::handler_ptr> handlers_for(const std::string& topic) const {
        std::lock_guard lock(mu_);
        return detail::handlers_for(subs_, topic);
    }

    /// detail::deliver_with_retry, pausing on cv_ and giving up once the state says handlers must.
    detail::delivery_outcome deliver(const message& m, const std::vector<detail::handler_ptr>& handlers,
                                     std::chrono::steady_clock::time_point deadline) {
        const detail::retry_wait wait = [this](std::chrono::milliseconds backoff) {
            std::unique_lock lock(mu_);
            if (conn_.handlers_give_up()) return true;
            cv_.wait_for(lock, backoff, [&] { return conn_.handlers_give_up(); });
            return false;
        };
        return detail::deliver_with_retry(m, handlers, deadline, {opts_.client_id, handler_retries_, wait});
    }

    // ---- held messages: unhandled at shutdown, kept on disk, replayed by the next connect() ---

    void hold(const message& m) {
        if (!held_.enabled()) {
            ++dropped_unhandled_;
            spdlog::error("mqtt {}: closing with the message on '{}' not handled by its handler and no "
                          "persistence_dir to keep it: dropped", opts_.client_id, m.topic);
            return;
        }
        auto path = held_.keep(m);
        if (!path) {
            ++dropped_unhandled_;
            spdlog::error("mqtt {}: could not keep the unhandled message on '{}' ({}): dropped", opts_.client_id,
                          m.topic, path.err().message);
            return;
        }
        spdlog::warn("mqtt {}: closing with the message on '{}' not handled; kept in {} and handed to the "
                     "handler again on the next connect()", opts_.client_id, m.topic, path->string());
    }

    /// Hands held messages to their handlers (caller's thread, before connecting). A message whose
    /// handler still asks to retry after `budget` stays on disk for the next start.
    void replay_held(std::chrono::milliseconds budget) {
        const auto deadline = std::chrono::steady_clock::now() + budget;
        for (const auto& path : held_.list()) {
            auto m = held_.load(path);
            if (!m) {
                spdlog::error("mqtt {}: held message is unreadable ({}); left in place", opts_.client_id,
                              m.err().message);
                continue;
            }
            const auto handlers = handlers_for(m->topic);
            if (handlers.empty()) {
                spdlog::warn("mqtt {}: held message on '{}' matches no subscription yet; left in {}",
                             opts_.client_id, m->topic, path.string());
                continue;
            }
            if (deliver(*m, handlers, deadline) != detail::delivery_outcome::handled) {
                spdlog::warn("mqtt {}: held message on '{}' still not handled; kept for the next start",
                             opts_.client_id, m->topic);
                continue;
            }
            ++received_;
            held_.remove(path);
        }
    }

    // ---- supervisor thread: first connect with retries, and (re)subscribing ------------------

    void supervise() {
        const auto first_backoff = std::max<std::chrono::milliseconds>(opts_.reconnect_min, 100ms);
        auto backoff = first_backoff;
        struct {
            int attempts = 0;
            std::string last_said;
        } failures;
        std::unique_lock lock(mu_);
        while (!conn_.closed()) {
            if (poisoned_) {
                lock.unlock();
                const bool replaced = replace_paho(/*reconnect=*/true);
                lock.lock();
                if (!replaced) cv_.wait_for(lock, backoff, [&] { return conn_.closed(); });
                continue;
            }
            if (conn_.needs_subscriptions()) {
                const auto gen = conn_.generation();
                auto subs = subs_;
                lock.unlock();
                for (const auto& s : subs) {
                    auto st = subscribe_one(s.filter);
                    if (!st) spdlog::error("mqtt {}: {}", opts_.client_id, st.err().message);
                }
                lock.lock();
                transition_locked(conn_event::subscriptions_done, gen);
                continue;
            }
            if (conn_.wants_connect()) {
                lock.unlock();
                auto st = attempt_connect(std::chrono::seconds{10});
                lock.lock();
                if (st.ok() || conn_.connected()) {
                    transition_locked(conn_event::connect_token_done);
                    backoff = first_backoff;
                    if (failures.attempts > 0)
                        spdlog::info("mqtt {}: connected to {} after {} failed attempt(s)", opts_.client_id,
                                     opts_.server_uri, failures.attempts);
                    failures = {};
                    continue;
                }
                // Said once: the same failure again only counts; a different one is said.
                ++failures.attempts;
                if (st.err().message != failures.last_said) {
                    spdlog::warn("mqtt {}: cannot connect: {}; retrying in the background (said again only "
                                 "when the reason changes)",
                                 opts_.client_id, st.err().message);
                    failures.last_said = st.err().message;
                }
                cv_.wait_for(lock, backoff, [&] { return conn_.closed() || poisoned_ || !conn_.wants_connect(); });
                backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::max(opts_.reconnect_max, 1000ms));
                continue;
            }
            cv_.wait(lock, [&] {
                return conn_.closed() || poisoned_ || conn_.needs_subscriptions() || conn_.wants_connect();
            });
        }
    }

    /// Replaces a poisoned paho client (see set_aside_soon): waits until paho closed its broken
    /// connection, creates a new paho client (it restores from persistence_dir what the old one
    /// persisted), sets the old one aside for good (detail::set_aside_forever: never reconnected,
    /// never destroyed) and hands every publish the old one had not completed to the new one under
    /// the same key, oldest first. Some may have reached the broker already: QoS 1 is at least
    /// once, and with persistence_dir the restored copies go out too (receivers dedupe by id).
    /// With `reconnect` (the supervisor) the new client then connects in the background, unless
    /// disconnect() was called; connect() connects it itself.
    /// Returns false (and stays poisoned, to be tried again) when paho cannot create a client.
    bool replace_paho(bool reconnect) {
        std::unique_lock plock(paho_mu_);
        {
            std::lock_guard lock(mu_);
            if (!poisoned_) return true;
        }
        // paho's send thread closes the broken connection right after the failed write (its queued
        // DISCONNECT); until then its threads may still use the old client.
        const auto until = std::chrono::steady_clock::now() + close_wait;
        while (std::chrono::steady_clock::now() < until) {
            bool connected = false;
            try {
                connected = cli_->is_connected();
            } catch (const std::exception&) {
            }
            if (!connected) break;
            std::this_thread::sleep_for(10ms);
        }
        auto old_cli = std::move(cli_);
        auto old_link = std::move(link_);
        try {
            new_paho();
        } catch (const std::exception& e) {
            cli_ = std::move(old_cli);
            link_ = std::move(old_link);
            spdlog::error("mqtt {}: cannot create a new paho client to replace the one set aside ({}); retrying",
                          opts_.client_id, e.what());
            return false;
        }
        old_link->owner.store(nullptr);
        try {
            old_cli->disconnect(0);  // already off (set_aside_soon); also covers a client still connected
        } catch (const paho::exception&) {
        }
        detail::set_aside_forever(std::move(old_cli), old_link);
        ++paho_replaced_;

        std::vector<std::pair<std::uint64_t, detail::publish_window::resend_handle>> again;
        {
            std::lock_guard lock(mu_);
            again = pubs_.handed_publishes();
        }
        std::size_t resent = 0;
        for (const auto& [key, what] : again) {
            auto msg = std::static_pointer_cast<const paho::message>(what);
            try {
                cli_->publish(msg, key_context(key), *link_);
                ++resent;
            } catch (const paho::exception& e) {
                // The new client is empty and buffers up to max_buffered + max_inflight: only a
                // broken persistence_dir gets here. The caller learns the publish failed.
                fail_publish(key, detail::failure(e.get_return_code(), e.get_reason_code(),
                                                  "publish to '" + msg->get_topic() + "' (handing it to a new paho client)"));
            }
        }
        resent_after_replace_ += resent;
        {
            std::lock_guard lock(mu_);
            poisoned_ = false;
            transition_locked(conn_event::connection_lost);  // the old link's report may have been dropped
            if (reconnect && conn_.state() == detail::conn_state::disconnected)
                transition_locked(conn_event::background_connect);
            cv_.notify_all();
        }
        spdlog::info("mqtt {}: new paho client in place of the one set aside; {} un-acknowledged publishes handed "
                     "to it", opts_.client_id, resent);
        return true;
    }

    /// Completes publish `key` with `err` (counted as a failure).
    void fail_publish(std::uint64_t key, error err) {
        detail::publish_window::completion done;
        {
            std::lock_guard lock(mu_);
            auto taken = pubs_.take(key);
            if (!taken) return;
            done = std::move(*taken);
            ++publish_failures_;
            cv_.notify_all();
        }
        spdlog::warn("mqtt {}: {}", opts_.client_id, err.message);
        if (done) done(status(std::move(err)));
    }

    status subscribe_one(const std::string& filter) {
        try {
            paho::subscribe_options so;
            so.set_retain_handling(paho::subscribe_options::SEND_RETAINED_ON_NEW);
            paho::token_ptr tok;
            {
                std::shared_lock plock(paho_mu_);
                tok = cli_->subscribe(filter, 1, so);
            }
            if (!tok->wait_for(10s)) return make_error("mqtt.timeout", "subscribe '" + filter + "': no SUBACK in 10 s");
            const auto rsp = tok->get_subscribe_response();
            const std::vector<paho::ReasonCode> codes = rsp.get_reason_codes();
            for (auto rc : codes)
                if (static_cast<int>(rc) >= 0x80)
                    return detail::failure(0, static_cast<int>(rc), "subscribe '" + filter + "'");
            return {};
        } catch (const paho::exception& e) {
            return detail::failure(e.get_return_code(), e.get_reason_code(), "subscribe '" + filter + "'");
        }
    }

    status attempt_connect(std::chrono::milliseconds timeout) {
        try {
            paho::token_ptr tok;
            {
                std::shared_lock plock(paho_mu_);
                {
                    // Never connect a client whose in-flight copy of a publish points at freed memory.
                    std::lock_guard lock(mu_);
                    if (poisoned_)
                        return make_error("mqtt.failed", "connect to " + opts_.server_uri +
                                                             ": the paho client is being replaced");
                }
                tok = cli_->connect(conn_opts_);
                link_->keep_connect_token(tok);
            }
            if (!tok->wait_for(timeout))
                return make_error("mqtt.timeout", "no CONNACK from " + opts_.server_uri + " within " +
                                                      std::to_string(timeout.count()) + " ms");
            // Keep the un-acknowledged window below the broker's Receive Maximum (mqtt.md §1.4b).
            try {
                auto props = tok->get_connect_response().get_properties();
                if (props.contains(paho::property::RECEIVE_MAXIMUM)) {
                    const int rmax = paho::get<uint16_t>(props.get(paho::property::RECEIVE_MAXIMUM));
                    std::lock_guard lock(mu_);
                    pubs_.set_receive_maximum(rmax);
                }
            } catch (const std::exception&) {
            }
            return {};
        } catch (const paho::exception& e) {
            return detail::connect_failure(opts_, e.get_return_code(), e.get_reason_code());
        }
    }

    // ---- API ---------------------------------------------------------------------------------

    status connect(std::chrono::milliseconds timeout, bool keep_trying) {
        {
            std::lock_guard lock(mu_);
            if (conn_.connected()) return {};
            transition_locked(conn_event::connect_requested);
        }
        replay_held(timeout);
        replace_paho(/*reconnect=*/false);  // no-op unless a publish of this client failed on its first write
        if (keep_trying) {
            transition(conn_event::background_connect);
            return {};
        }
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        // A failure is the caller's to report (once); logging it here too would say it twice.
        if (auto st = attempt_connect(timeout); !st) return st;
        // Return once the subscriptions of this connection are in place. paho completes the
        // connect token before it calls the connected handler, so the state may not even be
        // connected yet here: wait for `ready`, or a request published right away can be answered
        // before its response subscription exists.
        std::unique_lock lock(mu_);
        if (!cv_.wait_until(lock, deadline, [&] { return conn_.ready(); }))
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
            now = conn_.connected();
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
            // Backpressure: while connected, at most window() publishes are un-acknowledged; while
            // disconnected, at most max_buffered wait in the (on-disk) buffer.
            // While a paho client is being replaced (poisoned_), nothing is handed to it.
            const auto room = [&] { return conn_.closed() || (!poisoned_ && pubs_.has_room(conn_.connected())); };
            cv_.wait_until(lock, deadline, room);
            if (conn_.closed()) return make_error("mqtt.closed", "publish: client is shutting down");
            if (!room()) {
                ++publish_failures_;
                if (!conn_.connected()) {
                    spdlog::warn("mqtt {}: offline buffer full ({} messages); publish to '{}' refused",
                                 opts_.client_id, opts_.max_buffered, m.topic);
                    return make_error("mqtt.buffer_full", "publish to '" + m.topic + "': offline buffer of " +
                                                              std::to_string(opts_.max_buffered) + " messages is full");
                }
                return make_error("mqtt.timeout", "publish to '" + m.topic + "': " + std::to_string(pubs_.window()) +
                                                      " publishes still unacknowledged");
            }
            key = pubs_.add(std::move(on_done));
        }
        try {
            paho::const_message_ptr msg = detail::to_paho(m);
            std::shared_lock plock(paho_mu_);
            cli_->publish(msg, key_context(key), *link_);
            // Kept so that a new paho client can take this publish over (replace_paho). Still under
            // paho_mu_: a replacement sees every publish handed to the client it replaces.
            std::lock_guard lock(mu_);
            pubs_.handed(key, msg);
            return {};
        } catch (const paho::exception& e) {
            {
                std::lock_guard lock(mu_);
                pubs_.take(key);
                cv_.notify_all();
            }
            ++publish_failures_;
            auto err = detail::failure(e.get_return_code(), e.get_reason_code(), "publish to '" + m.topic + "'");
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
        return cv_.wait_for(lock, timeout, [&] { return pubs_.outstanding() == 0; });
    }

    void disconnect(std::chrono::milliseconds timeout) {
        transition(conn_event::disconnect_requested);  // handlers that ask to retry give up now
        try {
            paho::token_ptr tok;
            {
                std::shared_lock plock(paho_mu_);
                if (cli_->is_connected())
                    tok = cli_->disconnect(paho::disconnect_options(static_cast<int>(timeout.count())));
            }
            if (tok) tok->wait_for(timeout + 1s);
        } catch (const std::exception& e) {
            spdlog::warn("mqtt {}: disconnect: {}", opts_.client_id, e.what());
        }
        std::unique_lock lock(mu_);
        transition_locked(conn_event::disconnect_done);
        // Let a handler that was holding a message return (it will not be acknowledged).
        cv_.wait_for(lock, 10s, [&] { return in_handler_ == 0; });
    }

    bool connected() const {
        std::lock_guard lock(mu_);
        return conn_.connected();
    }

    void shutdown() {
        disconnect(1s);
        transition(conn_event::shutdown);
        if (supervisor_.joinable()) supervisor_.join();
        std::unique_lock plock(paho_mu_);
        // disconnect() closes a live connection only: also stop paho's automatic reconnect. A paho
        // client that failed a first write must never be destroyed, and one that is somehow still
        // connected could fail one while it is destroyed (mqtt_client.h): both are set aside.
        bool set_aside = false;
        {
            std::lock_guard lock(mu_);
            set_aside = poisoned_;
        }
        try {
            cli_->disconnect(0);
        } catch (const paho::exception&) {
        }
        try {
            set_aside = set_aside || cli_->is_connected();
        } catch (const std::exception&) {
            set_aside = true;
        }
        // Publishes still buffered stay in persistence_dir (if set) for the next process.
        int left = 0;
        {
            std::lock_guard lock(mu_);
            left = pubs_.outstanding();
        }
        if (left > 0)
            spdlog::warn("mqtt {}: closing with {} publishes not yet acknowledged; {}", opts_.client_id, left,
                         opts_.persistence_dir.empty() ? "they are lost (no persistence_dir)"
                                                       : "kept in " + opts_.persistence_dir + " for the next start");
        if (!set_aside) {
            try {
                cli_.reset();  // paho fails what it still has: complete() answers mqtt.closed
            } catch (...) {
            }
            link_->owner.store(nullptr);
            return;
        }
        link_->owner.store(nullptr);
        detail::set_aside_forever(std::move(cli_), link_);
        // That paho client never answers again: answer its publishes here.
        std::vector<detail::publish_window::completion> unanswered;
        {
            std::lock_guard lock(mu_);
            unanswered = pubs_.take_all();
            cv_.notify_all();
        }
        for (auto& done : unanswered)
            if (done) done(closed_error());
    }

    /// The outcome of a publish the client closed before the broker acknowledged it.
    error closed_error() const {
        // paho discards queued publishes when the client is closed; with persistence_dir they stay
        // on disk and are sent by the next client with the same id.
        return make_error("mqtt.closed", opts_.persistence_dir.empty()
                                             ? "client closed before the publish was delivered"
                                             : "client closed; the publish stays buffered on disk");
    }
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
    s.connected = impl_->conn_.connected();
    s.pending = static_cast<std::uint64_t>(impl_->pubs_.outstanding());
    s.window = impl_->pubs_.window();
    s.dropped_unhandled = impl_->dropped_unhandled_;
    s.paho_replaced = impl_->paho_replaced_;
    s.resent_after_replace = impl_->resent_after_replace_;
    return s;
}

const client_options& client::options() const { return impl_->opts_; }

}  // namespace connguard::mqtt
