#pragma once
// The running coordinator: MQTT ingest -> group commit into the store (SQLite or PostgreSQL) ->
// engine; publisher; webhooks.
//
// Threads and the path of one message (see coordinator/README.md "Ingest and group commit"):
//  - N ingest connections ("{clientId}-in{i}", persistent sessions, clean_start=false, QoS 1),
//    subscribed to tenants/+/{validation,events,agent,results} and admin/+/requests through
//    $share/{group}/ when N > 1 or a group is configured. paho runs each connection's handler on
//    that connection's thread, one message at a time, and sends the PUBACK when it returns.
//  - The handler decodes and validates the envelope (codec::decode). Bad input is counted per
//    reason, logged and acknowledged (never retried, never crashes); when it names an envelope id
//    on a tenant topic the tenant's agent is told it is refused for good (IngestAck.refused).
//    A good tenant message is queued for the committer and the handler returns AT ONCE (the PUBACK
//    goes to the broker before the commit: the agent keeps the message until the coordinator's
//    IngestAck names it, docs/ARCHITECTURE.md "Ingest acknowledgement"). The queue is bounded
//    (2 x store.maxBatch): when it is full the handler WAITS for room (back-pressure on the broker,
//    never a drop). Admin requests (connguardctl) still wait for their commit (`retry` if it failed).
//  - The committer thread owns the writer connection. It takes everything queued (up to maxBatch),
//    runs one BEGIN IMMEDIATE ... COMMIT with a SAVEPOINT per message (a failing message rolls
//    back alone; its agent re-publishes it after its ack timeout), then hands the ids it stored or
//    found already stored (duplicates) to the ack thread; timers (expiry, deadlines, silence) run in
//    the same loop.
//  - The ack thread publishes one IngestAck per tenant (QoS 0, at most 2000 ids each) on
//    tenants/{t}/acks after each COMMIT through its own connection ("{clientId}-ack"), merging what several commits produced while it was busy.
//    It never blocks the committer (the publisher connection's window can be full while paho's one
//    receive thread is held by a waiting ingest handler).
//  - The publisher thread ("{clientId}-pub") sends the mqtt_outbox rows (alerts, task views,
//    commands, admin responses) in order and deletes them after the broker's PUBACK, in one
//    transaction taken only when the write lock is free at once (never waiting behind the
//    committer while the next alert is due; after 2 s of trying it waits like any writer).
//  - The WAL checkpointer thread (coordinator/wal_checkpointer.h) checkpoints SQLite's WAL every
//    100 ms on its own connection, so no COMMIT pays for a checkpoint.
//  - The webhook worker delivers webhook_outbox rows.
//  - Several coordinators on one PostgreSQL store (coordinator/README.md "Several coordinators"):
//    each ingests everything on its own persistent session; what must happen once — publishing
//    the MQTT outbox, delivering webhooks, the clock's duties (tick, audit checkpoints) — is done
//    by whichever holds that duty's advisory lock (coordinator/duty_lock.h); the others poll.
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
#include <map>
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
#include "coordinator/duty_lock.h"
#include "coordinator/console/backend.h"
#include "coordinator/engine.h"
#include "coordinator/wal_checkpointer.h"
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
        std::uint64_t acks_published = 0;   ///< IngestAck messages sent (QoS 0)
        std::uint64_t acked_ids = 0;        ///< envelope ids named in them (committed or refused)
        std::uint64_t queue_full_waits = 0; ///< ingest handlers that waited for room in the queue
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
        bool waits = true;               ///< false: an acknowledged tenant message nobody waits for
        std::promise<bool> done;         ///< fulfilled by the committer only when `waits`
    };
    mqtt::handler_result on_message(const mqtt::message& m);
    void committer_loop();
    /// Adds ids to the next IngestAck of `tenant` (committed, or refused with `reason`) and wakes the ack thread.
    void queue_ack(const std::string& tenant, const std::string& id, std::string_view refused_reason = {});
    void ack_loop();
    void publisher_loop();
    void wake_publisher();

    coordinator_config cfg_;
    const clock& clk_;
    std::unique_ptr<store> db_;
    std::unique_ptr<engine> engine_;
    std::unique_ptr<checkpointer> checkpointer_;  ///< null without audit.signingKeyFile
    std::unique_ptr<duty_lock> clock_duty_;       ///< the committer's tick and audit checkpoints
    std::unique_ptr<wal_checkpointer> wal_;       ///< checkpoints the WAL off the commit path
    std::unique_ptr<webhook_worker> webhooks_;
    std::unique_ptr<mqtt::client> publisher_;
    std::unique_ptr<mqtt::client> acker_;  ///< "{clientId}-ack": IngestAcks only (QoS 0, clean session)
    std::vector<std::unique_ptr<mqtt::client>> ingest_;

    std::mutex qmu_;
    std::condition_variable qcv_;
    std::deque<std::shared_ptr<work>> queue_;  ///< shared: a waiting handler holds its item too
    bool stop_committer_ = false;
    bool committer_running_ = false;  ///< under qmu_: console requests are accepted only then
    change_feed feed_;
    std::thread committer_;

    std::size_t max_queued_ = 512;    ///< bound of queue_ (2 x max_batch)
    std::condition_variable room_cv_; ///< ingest handlers waiting for room in queue_

    std::mutex amu_;
    std::condition_variable acv_;
    std::map<std::string, v1::IngestAck> acks_;  ///< per tenant, not yet published
    bool stop_acks_ = false;
    std::thread ack_thread_;

    std::mutex pmu_;
    std::condition_variable pcv_;
    bool stop_publisher_ = false;
    bool publisher_woken_ = false;
    std::thread publisher_thread_;

    std::atomic<std::uint64_t> received_{0}, committed_{0}, duplicates_{0}, retried_{0}, commits_{0};
    std::array<std::atomic<std::uint64_t>, 9> rejected_{};
    std::atomic<std::uint64_t> published_{0}, publish_failures_{0};
    std::atomic<std::uint64_t> acks_published_{0}, acked_ids_{0}, queue_full_waits_{0};
    bool started_ = false;
};

}  // namespace connguard::coord
