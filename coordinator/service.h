#pragma once
// The running coordinator: MQTT ingest -> group commit into SQLite -> engine; publisher; webhooks.
//
// Threads and the path of one message (see coordinator/README.md "Ingest and group commit"):
//  - N ingest connections ("{clientId}-in{i}", persistent sessions, clean_start=false, QoS 1),
//    subscribed to tenants/+/{validation,events,agent,results} and admin/+/requests through
//    $share/{group}/ when N > 1 or a group is configured. paho runs each connection's handler on
//    that connection's thread, one message at a time, and sends the PUBACK when it returns.
//  - The handler decodes and validates the envelope (codec::decode). Bad input is counted per
//    reason, logged and acknowledged (never retried, never crashes). Good input is queued for the
//    committer and the handler WAITS for the commit: `handled` (ack) after COMMIT, `retry` (no ack,
//    redelivered) if the transaction failed.
//  - The committer thread owns the writer connection. It takes everything queued (up to maxBatch),
//    runs one BEGIN IMMEDIATE ... COMMIT with a SAVEPOINT per message (a failing message rolls
//    back alone and is retried), then releases all waiting handlers. With N connections up to N
//    messages share one commit; timers (expiry, deadlines, silence) run in the same loop.
//  - The publisher thread ("{clientId}-pub") sends the mqtt_outbox rows (alerts, task views,
//    commands, admin responses) in order and deletes each after the broker's PUBACK.
//  - The webhook worker delivers webhook_outbox rows.
//  - The console (console_backend::admin) queues its requests on the same committer queue: they
//    run in the same transactions, through engine::answer, as the MQTT admin requests; the
//    answer is returned after COMMIT. What each committed transaction changed goes to the change
//    feed (coordinator/change_feed.h) after COMMIT; a rolled-back message's changes are dropped.
//  - With audit.signingKeyFile, after each commit the committer signs an audit checkpoint when one
//    is due (coordinator/checkpointer.h): right after an approval, else at most every
//    audit.checkpointSeconds while the audit head moves.
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/envelope_codec.h"
#include "common/mqtt_client.h"
#include "coordinator/change_feed.h"
#include "coordinator/checkpointer.h"
#include "coordinator/config.h"
#include "coordinator/console/backend.h"
#include "coordinator/engine.h"
#include "coordinator/webhooks.h"

namespace connguard::coord {

class service : public console_backend {
public:
    service(coordinator_config cfg, const clock& clk);
    ~service() override;
    service(const service&) = delete;
    service& operator=(const service&) = delete;

    /// Opens the store (migrating it), reports what it recovers, starts the threads and connects.
    /// Errors: the database cannot be opened, the broker refuses the credentials, ...
    status start();
    /// Clean stop: ingest connections first (in-flight messages are committed or left unacked),
    /// then the committer, the publisher (outbox drained for up to 5 s) and the webhook worker.
    void stop();

    struct stats {
        std::uint64_t received = 0, committed = 0, duplicates = 0, retried = 0, commits = 0;
        std::array<std::uint64_t, 9> rejected{};  ///< indexed by codec::reject_reason
        std::uint64_t published = 0, publish_failures = 0;
    };
    stats snapshot() const;
    /// One line for the log: counters and reject reasons.
    std::string summary() const;

    // ---- console_backend ----
    /// Queued on the committer like an MQTT admin request and answered after its COMMIT. Errors:
    /// coord.stopping (not started or stopping), coord.admin_failed (the transaction was rolled
    /// back: nothing changed).
    result<v1::AdminResponse> admin(const principal& who, const v1::AdminRequest& req) override;
    std::uint64_t change_head() const override { return feed_.head(); }
    std::vector<v1::ConsoleChange> wait_changes(std::uint64_t after, std::chrono::milliseconds timeout,
                                                bool* gap) override {
        return feed_.wait(after, timeout, gap);
    }

private:
    struct work {
        std::string topic;
        v1::Envelope envelope;
        std::string raw;
        std::string correlation;
        const principal* who = nullptr;  ///< set: a console request (`request`), answered in `response`
        v1::AdminRequest request;
        v1::AdminResponse response;
        std::string error;               ///< why a console request was rolled back
        std::promise<bool> done;
    };
    mqtt::handler_result on_message(const mqtt::message& m);
    void committer_loop();
    void publisher_loop();
    void wake_publisher();

    coordinator_config cfg_;
    const clock& clk_;
    std::unique_ptr<store> db_;
    std::unique_ptr<engine> engine_;
    std::unique_ptr<checkpointer> checkpointer_;  ///< null without audit.signingKeyFile
    std::unique_ptr<webhook_worker> webhooks_;
    std::unique_ptr<mqtt::client> publisher_;
    std::vector<std::unique_ptr<mqtt::client>> ingest_;

    std::mutex qmu_;
    std::condition_variable qcv_;
    std::deque<work*> queue_;
    bool stop_committer_ = false;
    bool committer_running_ = false;  ///< under qmu_: console requests are accepted only then
    change_feed feed_;
    std::thread committer_;

    std::mutex pmu_;
    std::condition_variable pcv_;
    bool stop_publisher_ = false;
    bool publisher_woken_ = false;
    std::thread publisher_thread_;

    std::atomic<std::uint64_t> received_{0}, committed_{0}, duplicates_{0}, retried_{0}, commits_{0};
    std::array<std::atomic<std::uint64_t>, 9> rejected_{};
    std::atomic<std::uint64_t> published_{0}, publish_failures_{0};
    bool started_ = false;
};

}  // namespace connguard::coord
