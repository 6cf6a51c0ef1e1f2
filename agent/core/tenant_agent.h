#pragma once
// One tenant inside the agent process: its own Graph client, state directory and schedule, and a
// tenant_link to the broker: its own MQTT client (identity = tenant key) or, in host mode with a host
// config, the host's one connection (agent/core/tenant_link.h). The host calls run_due() on a worker thread whenever next_wake()
// passes or wake() was signalled; run_due() is never called concurrently for the same tenant.
//
// A cycle (DESIGN §2, §7, §10):
//   collect + probe + checks -> diff against the committed state -> write the outbox (report +
//   events, deterministic envelope ids) -> publish QoS 1 -> when EVERY message is acknowledged,
//   commit the new state (atomic) and drop the outbox -> AgentStatus online (retained).
// While the broker is away the outbox waits on disk and no new cycle runs (the next cycle's diff
// covers everything since the last commit, so nothing is lost and nothing repeats); it is flushed
// as soon as the client is connected again.
//
// Commands: the MQTT handler persists each new command id (received) before the message is
// acknowledged; run_due() executes it (state executing is persisted before any write, so a crash
// mid-write is reported as FAILED, never executed twice), persists the result, publishes it, and
// runs a cycle at once after a success. A repeated command id only re-publishes the stored result.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "agent/core/agent_config.h"
#include "agent/core/state_store.h"
#include "agent/core/tenant_link.h"
#include "common/clock.h"
#include "common/mqtt_client.h"
#include "common/result.h"
#include "connguard/v1/validation.pb.h"

namespace connguard::graph {
class graph_client;
}

namespace connguard::agent {

/// A stop request shared by the host and its tenants; cuts Graph backoff/pacing waits short.
class stop_signal {
public:
    void request() {
        {
            std::lock_guard lock(mu_);
            stopped_ = true;
        }
        cv_.notify_all();
    }
    bool requested() const {
        std::lock_guard lock(mu_);
        return stopped_;
    }
    /// Sleeps up to `d`; returns early when a stop is requested.
    void sleep_for(std::chrono::milliseconds d) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, d, [&] { return stopped_; });
    }

private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stopped_ = false;
};

struct tenant_agent_options {
    std::chrono::milliseconds ack_timeout{10000};     ///< wait for PUBACKs of a cycle's messages
    std::chrono::milliseconds retry_interval{3000};   ///< re-check the broker while an outbox waits
    std::chrono::milliseconds status_check{30000};    ///< re-announce "online" after a reconnect
    bool spread_first_cycle = false;                  ///< first cycle at a random point in [0, jitter]
};

/// Counters for logs and tests.
struct tenant_stats {
    std::uint64_t cycles = 0;           ///< committed cycles since start
    std::uint64_t events = 0;           ///< events committed since start
    std::uint64_t commands_executed = 0;
    std::uint64_t commands_repeated = 0;  ///< repeats of a known command id (not executed again)
    std::uint64_t bad_commands = 0;       ///< undecodable payloads on the commands topic
    std::uint64_t ingest_acked = 0;       ///< messages the coordinator acknowledged (committed)
    std::uint64_t ingest_refused = 0;     ///< messages the coordinator refused for good (dropped, logged)
    std::uint64_t republished = 0;        ///< re-published after the ack timeout or a reconnect
    std::uint64_t paused_cycles = 0;      ///< cycles not started: too many messages wait for the IngestAck
    std::uint64_t unacked = 0;            ///< messages waiting for the IngestAck now
};

class tenant_agent {
public:
    /// Without `link` the tenant makes its own connection in start() (make_own_link).
    tenant_agent(tenant_config cfg, const clock& clk, std::shared_ptr<stop_signal> stop,
                 tenant_agent_options opts = {}, std::unique_ptr<tenant_link> link = nullptr);
    ~tenant_agent();
    tenant_agent(const tenant_agent&) = delete;
    tenant_agent& operator=(const tenant_agent&) = delete;

    const std::string& key() const { return cfg_.tenant_key; }

    /// Opens the state directory (recovering an outbox and unfinished commands), builds the Graph
    /// client, subscribes through the link and starts it (an own link connects in the background). `wake` may be called from any
    /// thread when work arrives (a command). An error names the tenant and what failed.
    status start(std::function<void()> wake);

    /// Does what is due: flush a waiting outbox, publish waiting results, execute commands, run the
    /// cycle when due. Blocking; never throws.
    void run_due();

    /// When run_due() wants to run next (steady clock).
    std::chrono::steady_clock::time_point next_wake() const;

    /// Publishes AgentStatus offline ("shutdown", retained) without waiting; `done` runs once when
    /// it is acknowledged, failed, or not sent (not connected).
    void publish_offline(std::function<void()> done);
    /// Closes the link: an own connection disconnects (no Last Will is sent on a clean disconnect);
    /// a host link stops routing messages to this tenant. The tenant leaves the host's metrics.
    /// Call it while no run_due() runs.
    void close();

    tenant_stats stats() const;

private:
    using steady = std::chrono::steady_clock;

    mqtt::handler_result on_command(const mqtt::message& m);
    mqtt::handler_result on_ack(const mqtt::message& m);
    /// Applies the IngestAcks received since the last call, re-publishes what waited too long.
    void process_acks();
    std::size_t unacked_count() const;
    void recover();
    bool flush_outbox();
    void publish_pending_results();
    void execute_commands();
    void run_cycle();
    void publish_status();
    bool publish_all(const std::vector<outbox_message>& msgs);
    void schedule_next_cycle(bool first = false);

    tenant_config cfg_;
    const clock& clk_;
    std::shared_ptr<stop_signal> stop_;
    tenant_agent_options opts_;
    state_store store_;
    std::unique_ptr<graph::graph_client> gc_;
    std::unique_ptr<tenant_link> link_;
    std::function<void()> wake_;
    std::mt19937 rng_;

    // Worker-thread state (run_due is never concurrent with itself).
    std::uint64_t committed_cycle_ = 0;
    std::uint64_t cycle_floor_ = 0;        ///< next cycle number is at least this (after a corrupt outbox)
    std::optional<outbox> outbox_;
    v1::CheckStatus last_overall_ = v1::CHECK_STATUS_UNSPECIFIED;
    std::uint32_t last_cycle_ms_ = 0;
    std::uint32_t last_graph_requests_ = 0;
    clock::time_point last_cycle_at_{};
    std::uint64_t status_reconnects_ = ~0ull;  ///< reconnect count when "online" was last published

    /// A committed cycle (or a command result) whose messages wait for the coordinator's IngestAck.
    struct unacked {
        std::uint64_t cycle = 0;                  ///< 0: a command result
        std::vector<outbox_message> messages;     ///< those not acknowledged yet
        command_record result;                    ///< cycle 0 only
        steady::time_point sent_at{};
        int republishes = 0;                      ///< re-publishes without an answer (backoff)
    };
    /// When `u` is re-published next: the ack timeout after the last send, doubled by each
    /// re-publish nobody answered (up to 16×), so a coordinator that stays away for hours is not
    /// sent the same messages every ack timeout.
    steady::time_point republish_due(const unacked& u) const;
    std::vector<unacked> unacked_;
    std::uint64_t unacked_reconnects_ = 0;        ///< reconnect count at the last re-publish
    bool paused_logged_ = false;
    /// What this tenant adds to the host's metrics now (common/metrics.h), taken back when it changes.
    std::vector<std::pair<std::string, std::string>> counted_checks_;
    std::size_t counted_unacked_ = 0;

    // Shared with the MQTT handler thread and next_wake().
    std::vector<std::pair<std::string, std::string>> acks_in_;  ///< (envelope id, refusal reason or "")
    steady::time_point ack_due_{steady::time_point::max()};
    mutable std::mutex mu_;
    std::deque<command_record> commands_;      ///< received, to execute
    std::deque<command_record> results_;       ///< done, result to (re)publish
    bool cycle_requested_ = false;
    steady::time_point next_cycle_{};
    steady::time_point retry_at_{steady::time_point::max()};
    steady::time_point commands_blocked_until_{};  ///< after a failed state write: back off
    std::mutex commands_io_;                   ///< serializes command-record file access
    tenant_stats stats_;
};

}  // namespace connguard::agent
