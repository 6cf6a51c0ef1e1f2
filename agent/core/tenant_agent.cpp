#include "agent/core/tenant_agent.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_map>

#include <google/protobuf/util/time_util.h>

#include "agent/core/command_rules.h"
#include "agent/core/cycle.h"
#include "agent/core/diff.h"
#include "agent/core/executor.h"
#include "agent/core/messages.h"
#include "agent/graph/graph_client.h"
#include "common/envelope_codec.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/topics.h"

namespace connguard::agent {
namespace {

using namespace std::chrono_literals;

google::protobuf::Timestamp timestamp(clock::time_point t) {
    return google::protobuf::util::TimeUtil::MillisecondsToTimestamp(to_unix_ms(t));
}

}  // namespace

tenant_agent::tenant_agent(tenant_config cfg, const clock& clk, std::shared_ptr<stop_signal> stop,
                           tenant_agent_options opts, std::unique_ptr<tenant_link> link)
    : cfg_(std::move(cfg)), clk_(clk), stop_(std::move(stop)), opts_(opts), store_(cfg_.state_dir),
      link_(std::move(link)), rng_(std::random_device{}()) {}

tenant_agent::~tenant_agent() {
    try {
        close();
    } catch (...) {
    }
}

status tenant_agent::start(std::function<void()> wake) {
    wake_ = std::move(wake);
    if (auto st = store_.open(); !st) return make_error(st.err().code, "tenant " + key() + ": " + st.err().message);
    recover();

    auto stop = stop_;
    gc_ = std::make_unique<graph::graph_client>(
        graph_options_of(
            cfg_, [stop](std::chrono::milliseconds d) { stop->sleep_for(d); }, [stop] { return stop->requested(); }),
        clk_);

    if (!link_) {
        auto own = make_own_link(cfg_, clk_);
        if (!own) return own.err();
        link_ = std::move(*own);
    }
    link_->subscribe(topics::tenant_channel::commands, [this](const mqtt::message& m) { return on_command(m); });
    link_->subscribe(topics::tenant_channel::acks, [this](const mqtt::message& m) { return on_ack(m); });
    if (auto st = link_->start(); !st) return make_error(st.err().code, "tenant " + key() + ": " + st.err().message);
    schedule_next_cycle(true);
    return {};
}

void tenant_agent::recover() {
    auto st = store_.load_state();
    if (!st) {
        spdlog::error("tenant {}: {}; moved aside, the next cycle starts a new baseline", key(), st.err().message);
        store_.quarantine_state();
    } else {
        committed_cycle_ = st->cycle;
        last_overall_ = st->statuses.overall;
    }
    auto ob = store_.load_outbox();
    if (!ob) {
        spdlog::error("tenant {}: {}; dropped (its cycle is collected again)", key(), ob.err().message);
        (void)store_.clear_outbox();
        cycle_floor_ = committed_cycle_ + 2;  // never reuse the ids a torn outbox may have published
    } else if (ob->has_value()) {
        if ((*ob)->cycle <= committed_cycle_) {
            // Committed before the crash; only the move to unacked/ was lost.
            if (auto k = store_.keep_unacked((*ob)->cycle); !k) spdlog::error("tenant {}: {}", key(), k.err().message);
        } else {
            spdlog::info("tenant {}: cycle {} was not acknowledged before the last stop; publishing it again",
                         key(), (*ob)->cycle);
            outbox_ = std::move(**ob);
        }
    }
    std::vector<std::string> errors;
    for (auto& o : store_.load_unacked(&errors)) {
        // A message that is also in the outbox waiting to be published goes out once, with the
        // outbox (whose copy is kept until acknowledged after that), not a second time from here.
        if (outbox_) {
            std::erase_if(o.messages, [&](const outbox_message& m) {
                return std::any_of(outbox_->messages.begin(), outbox_->messages.end(),
                                   [&](const outbox_message& p) { return p.envelope_id == m.envelope_id; });
            });
            if (o.messages.empty()) continue;
        }
        spdlog::info("tenant {}: cycle {}: {} message(s) not yet acknowledged by the coordinator; publishing them again",
                     key(), o.cycle, o.messages.size());
        unacked u;
        u.cycle = o.cycle;
        u.messages = std::move(o.messages);
        unacked_.push_back(std::move(u));  // sent_at in the past: re-published once connected
    }
    for (const auto& e : errors) spdlog::error("tenant {}: {}; skipped", key(), e);
    std::lock_guard io(commands_io_);
    for (auto& r : store_.unfinished_commands()) {
        if (r.phase == command_phase::executing) {
            // Interrupted mid-execution: the write may or may not have happened. Never run it twice.
            v1::Envelope env;
            v1::AgentCommand cmd;
            if (env.ParseFromString(r.command_payload)) cmd = env.agent_command();
            cmd.set_command_id(r.command_id);
            auto res = make_result(cmd, v1::COMMAND_OUTCOME_FAILED,
                                   "the agent stopped while executing this command; it is not executed again "
                                   "(the next report shows whether the change took effect)",
                                   clk_);
            r.phase = command_phase::done;
            r.result_payload = encode_result(key(), res, clk_);
            r.published = false;
            if (auto s = store_.save_command(r); !s) spdlog::error("tenant {}: {}", key(), s.err().message);
            spdlog::warn("tenant {}: command {} was interrupted by a stop; reported as FAILED", key(), r.command_id);
        }
        std::lock_guard lock(mu_);
        if (r.phase == command_phase::received) commands_.push_back(std::move(r));
        else results_.push_back(std::move(r));
    }
}

void tenant_agent::schedule_next_cycle(bool first) {
    using std::chrono::milliseconds;
    const auto jitter_ms = std::chrono::duration_cast<milliseconds>(cfg_.poll_jitter).count();
    std::uniform_int_distribution<long long> dist(0, std::max<long long>(0, jitter_ms));
    steady::duration wait;
    if (first) wait = opts_.spread_first_cycle ? milliseconds(dist(rng_)) : milliseconds(0);
    else wait = cfg_.poll_interval + milliseconds(dist(rng_));
    std::lock_guard lock(mu_);
    next_cycle_ = steady::now() + wait;
}

std::chrono::steady_clock::time_point tenant_agent::next_wake() const {
    std::lock_guard lock(mu_);
    if (cycle_requested_) return steady::now();
    auto t = next_cycle_;
    if (!commands_.empty()) t = std::min(t, std::max(steady::now(), commands_blocked_until_));
    if (outbox_ || !results_.empty()) t = std::min(t, retry_at_);
    if (!acks_in_.empty()) return steady::now();
    t = std::min(t, ack_due_);
    // Re-announce "online" after a reconnect within status_check.
    t = std::min(t, steady::now() + opts_.status_check);
    return t;
}

mqtt::handler_result tenant_agent::on_command(const mqtt::message& m) {
    // paho's thread: decode, persist, hand off. Never throws.
    try {
        v1::Envelope env;
        auto d = codec::decode(m.topic, m.payload);
        if (d.ok()) {
            env = std::move(d.envelope);
        } else if (!(d.reason == codec::reject_reason::tenant_mismatch && env.ParseFromString(m.payload) &&
                     env.has_agent_command() && !env.agent_command().command_id().empty())) {
            std::lock_guard lock(mu_);
            ++stats_.bad_commands;
            spdlog::warn("tenant {}: dropped a message on {}: {} ({})", key(), m.topic, codec::to_string(d.reason),
                         log::redact(d.detail));
            return mqtt::handler_result::handled;
        }
        if (!env.has_agent_command() || env.agent_command().command_id().empty()) {
            std::lock_guard lock(mu_);
            ++stats_.bad_commands;
            spdlog::warn("tenant {}: dropped a command without a command id on {}", key(), m.topic);
            return mqtt::handler_result::handled;
        }
        const auto& id = env.agent_command().command_id();
        {
            std::lock_guard io(commands_io_);
            auto known = store_.load_command(id);
            if (!known) {
                spdlog::error("tenant {}: command {}: {}; not acknowledged, the broker redelivers it", key(), id,
                              known.err().message);
                return mqtt::handler_result::retry;
            }
            if (known->has_value()) {
                auto rec = std::move(**known);
                std::lock_guard lock(mu_);
                ++stats_.commands_repeated;
                if (rec.phase == command_phase::done) {
                    spdlog::info("tenant {}: command {} was already carried out; re-sending its result", key(), id);
                    results_.push_back(std::move(rec));
                } else {
                    spdlog::info("tenant {}: command {} is already queued; ignoring the repeat", key(), id);
                }
            } else {
                command_record rec{id, command_phase::received, m.payload, "", false};
                if (auto st = store_.save_command(rec); !st) {
                    spdlog::error("tenant {}: command {}: {}; not acknowledged, the broker redelivers it", key(), id,
                                  st.err().message);
                    return mqtt::handler_result::retry;
                }
                spdlog::info("tenant {}: command {} (task {}, plan v{}) received", key(), id,
                             env.agent_command().task_id(), env.agent_command().plan_version());
                std::lock_guard lock(mu_);
                commands_.push_back(std::move(rec));
            }
        }
        if (wake_) wake_();
        return mqtt::handler_result::handled;
    } catch (const std::exception& e) {
        spdlog::error("tenant {}: command handler: {}", key(), e.what());
        return mqtt::handler_result::retry;
    }
}

namespace {

std::string envelope_id_of(const outbox_message& m) {
    if (!m.envelope_id.empty()) return m.envelope_id;
    v1::Envelope env;
    return env.ParseFromString(m.payload) ? env.id() : std::string{};
}

}  // namespace

mqtt::handler_result tenant_agent::on_ack(const mqtt::message& m) {
    // paho's thread: record the ids, the worker applies them (process_acks). Never throws.
    try {
        auto d = codec::decode(m.topic, m.payload);
        if (!d.ok() || !d.envelope.has_ingest_ack()) {
            spdlog::warn("tenant {}: dropped a message on {}: {} ({})", key(), m.topic, codec::to_string(d.reason),
                         log::redact(d.detail));
            return mqtt::handler_result::handled;
        }
        const auto& a = d.envelope.ingest_ack();
        {
            std::lock_guard lock(mu_);
            if (acks_in_.size() < 1000000) {  // bounded; a lost ack only costs a re-publish
                for (const auto& id : a.committed_ids()) acks_in_.emplace_back(id, "");
                for (const auto& r : a.refused())
                    acks_in_.emplace_back(r.envelope_id(), r.reason().empty() ? std::string("refused") : r.reason());
            }
        }
        if (wake_) wake_();
    } catch (const std::exception& e) {
        spdlog::error("tenant {}: ack handler: {}", key(), e.what());
    }
    return mqtt::handler_result::handled;  // QoS 0, idempotent: nothing to retry
}

tenant_agent::steady::time_point tenant_agent::republish_due(const unacked& u) const {
    return u.sent_at + cfg_.ingest_ack_timeout * (1 << std::min(u.republishes, 4));
}

std::size_t tenant_agent::unacked_count() const {
    std::size_t n = 0;
    for (const auto& u : unacked_) n += u.messages.size();
    return n;
}

void tenant_agent::process_acks() {
    std::vector<std::pair<std::string, std::string>> in;
    {
        std::lock_guard lock(mu_);
        in.swap(acks_in_);
    }
    std::uint64_t acked = 0, refused = 0;
    if (!in.empty() && !unacked_.empty()) {
        std::unordered_map<std::string, std::string> ids(in.begin(), in.end());
        for (auto& u : unacked_) {
            std::vector<outbox_message> left;
            for (auto& m : u.messages) {
                auto it = ids.find(envelope_id_of(m));
                if (it == ids.end()) {
                    left.push_back(std::move(m));
                    continue;
                }
                if (it->second.empty()) {
                    ++acked;
                } else {
                    ++refused;
                    spdlog::error("tenant {}: the coordinator refused message {} on {} for good ({}); dropped",
                                  key(), it->first, m.topic, it->second);
                }
            }
            u.messages = std::move(left);
        }
        std::vector<unacked> keep;
        for (auto& u : unacked_) {
            if (!u.messages.empty()) {
                keep.push_back(std::move(u));
                continue;
            }
            if (u.cycle != 0) {
                if (auto st = store_.drop_unacked(u.cycle); !st) spdlog::warn("tenant {}: {}", key(), st.err().message);
            } else {
                u.result.published = true;  // done for good: not re-published after a restart
                std::lock_guard io(commands_io_);
                if (auto st = store_.save_command(u.result); !st) spdlog::warn("tenant {}: {}", key(), st.err().message);
            }
        }
        unacked_ = std::move(keep);
    }
    // Re-publish what waited longer than the ack timeout, and everything after a reconnect (the
    // coordinator may have lost what it had not committed; same ids, it dedupes).
    const auto now = steady::now();
    std::uint64_t republished = 0;
    if (link_ && link_->connected() && !unacked_.empty()) {
        const auto reconnects = link_->reconnects();
        const bool reconnected = reconnects != unacked_reconnects_;
        unacked_reconnects_ = reconnects;
        for (auto& u : unacked_) {
            if (!reconnected && now < republish_due(u)) continue;
            for (const auto& m : u.messages) {
                if (auto st = link_->publish_async({m.topic, m.payload, 1, m.retained, "", ""}); st) ++republished;
                else spdlog::warn("tenant {}: re-publish of {}: {}", key(), envelope_id_of(m), st.err().message);
            }
            u.sent_at = now;
            ++u.republishes;
        }
        if (republished > 0)
            spdlog::info("tenant {}: re-published {} message(s) the coordinator had not acknowledged{}", key(),
                         republished, reconnected ? " (after a reconnect)" : "");
    }
    auto due = steady::time_point::max();
    for (const auto& u : unacked_) due = std::min(due, republish_due(u));
    std::lock_guard lock(mu_);
    stats_.ingest_acked += acked;
    stats_.ingest_refused += refused;
    stats_.republished += republished;
    stats_.unacked = unacked_count();
    ack_due_ = due;
}

bool tenant_agent::publish_all(const std::vector<outbox_message>& msgs) {
    if (!link_ || !link_->connected()) return false;
    struct latch {
        std::mutex mu;
        std::condition_variable cv;
        std::size_t left = 0;
        bool failed = false;
        std::string why;
    };
    auto l = std::make_shared<latch>();
    l->left = msgs.size();
    for (const auto& m : msgs) {
        auto st = link_->publish_async({m.topic, m.payload, 1, m.retained, "", ""}, [l](status s) {
            std::lock_guard lock(l->mu);
            if (!s) {
                l->failed = true;
                l->why = s.err().message;
            }
            --l->left;
            l->cv.notify_all();
        });
        if (!st) {
            std::lock_guard lock(l->mu);
            l->failed = true;
            l->why = st.err().message;
            --l->left;
        }
    }
    // Waits for the acknowledgements in short slices so a stop is noticed; a stop leaves one more
    // second (what is not acknowledged stays in the outbox, re-published with the same ids later).
    auto deadline = steady::now() + opts_.ack_timeout;
    bool stop_seen = false;
    std::unique_lock lock(l->mu);
    while (l->left != 0 && steady::now() < deadline) {
        l->cv.wait_until(lock, std::min(deadline, steady::now() + std::chrono::milliseconds{100}));
        if (!stop_seen && stop_->requested()) {
            stop_seen = true;
            deadline = std::min(deadline, steady::now() + std::chrono::seconds{1});
        }
    }
    const bool all = l->left == 0;
    if (!all || l->failed) {
        spdlog::warn("tenant {}: {} of {} messages not acknowledged{}{}; kept for the next attempt", key(),
                     l->left + (l->failed ? 1 : 0), msgs.size(), l->why.empty() ? "" : ": ", l->why);
        return false;
    }
    return true;
}

bool tenant_agent::flush_outbox() {
    if (!outbox_) return true;
    if (!publish_all(outbox_->messages)) return false;
    if (auto st = store_.save_state(outbox_->next); !st) {
        spdlog::error("tenant {}: cycle {} published but not committed: {}; it will be re-published (same ids)",
                      key(), outbox_->cycle, st.err().message);
        return false;
    }
    // Kept until the coordinator's IngestAck names every message (process_acks).
    if (auto st = store_.keep_unacked(outbox_->cycle); !st) spdlog::warn("tenant {}: {}", key(), st.err().message);
    {
        unacked u;
        u.cycle = outbox_->cycle;
        u.messages = outbox_->messages;
        u.sent_at = steady::now();
        unacked_.push_back(std::move(u));
    }
    committed_cycle_ = outbox_->next.cycle;
    last_overall_ = outbox_->next.statuses.overall;
    {
        std::lock_guard lock(mu_);
        stats_.cycles++;
        stats_.events += outbox_->messages.size() - 1;
    }
    outbox_.reset();
    return true;
}

void tenant_agent::publish_pending_results() {
    std::deque<command_record> todo;
    {
        std::lock_guard lock(mu_);
        todo.swap(results_);
    }
    std::deque<command_record> left;
    for (auto& r : todo) {
        if (!publish_all({{topics::results(key()), r.result_payload, false, ""}})) {
            left.push_back(std::move(r));
            continue;
        }
        // Marked published (on disk) only when the coordinator's IngestAck names it (process_acks).
        unacked u;
        u.messages.push_back({topics::results(key()), r.result_payload, false, ""});
        u.result = std::move(r);
        u.sent_at = steady::now();
        unacked_.push_back(std::move(u));
    }
    std::lock_guard lock(mu_);
    for (auto& r : left) results_.push_back(std::move(r));
}

void tenant_agent::execute_commands() {
    while (!stop_->requested()) {
        command_record rec;
        {
            std::lock_guard lock(mu_);
            if (commands_.empty() || steady::now() < commands_blocked_until_) return;
            rec = std::move(commands_.front());
            commands_.pop_front();
        }
        v1::Envelope env;
        v1::AgentCommand cmd;
        if (env.ParseFromString(rec.command_payload)) cmd = env.agent_command();
        cmd.set_command_id(rec.command_id);
        v1::CommandResult res;
        auto d = validate_command(cmd, key(), env.tenant(), clk_.now());
        if (!d.ok()) {
            res = make_result(cmd, v1::COMMAND_OUTCOME_REFUSED, d.detail, clk_);
        } else {
            rec.phase = command_phase::executing;
            {
                std::lock_guard io(commands_io_);
                if (auto st = store_.save_command(rec); !st) {
                    spdlog::error("tenant {}: command {}: {}; not executed now, retried", key(), rec.command_id,
                                  st.err().message);
                    rec.phase = command_phase::received;
                    std::lock_guard lock(mu_);
                    commands_.push_front(std::move(rec));
                    commands_blocked_until_ = steady::now() + opts_.retry_interval;
                    return;
                }
            }
            res = execute_command(*gc_, cmd, key(), env.tenant(), clk_);
        }
        spdlog::info("tenant {}: command {} (task {}, {}) -> {}: {}", key(), rec.command_id, cmd.task_id(),
                     v1::RemediationKind_Name(cmd.plan().kind()), v1::CommandOutcome_Name(res.outcome()),
                     res.detail());
        rec.phase = command_phase::done;
        rec.result_payload = encode_result(key(), res, clk_);
        rec.published = false;
        {
            std::lock_guard io(commands_io_);
            if (auto st = store_.save_command(rec); !st) spdlog::error("tenant {}: {}", key(), st.err().message);
        }
        std::lock_guard lock(mu_);
        ++stats_.commands_executed;
        results_.push_back(std::move(rec));
        if (res.outcome() == v1::COMMAND_OUTCOME_SUCCEEDED) cycle_requested_ = true;  // validate the fix now
    }
}

void tenant_agent::run_cycle() {
    auto state = store_.load_state();
    if (!state) {
        spdlog::error("tenant {}: {}; moved aside, this cycle starts a new baseline", key(), state.err().message);
        store_.quarantine_state();
        state = committed_state{};
    }
    const std::uint64_t cycle = std::max(state->cycle + 1, cycle_floor_);
    auto col = collect_and_check(*gc_, cfg_, cycle, clk_, state->snapshot ? &*state->snapshot : nullptr);
    if (stop_->requested()) {
        spdlog::info("tenant {}: cycle {} abandoned (stopping); nothing published", key(), cycle);
        return;
    }
    const bool have_prev = state->snapshot.has_value();
    const snapshot::tenant_snapshot prev = have_prev ? *state->snapshot : snapshot::tenant_snapshot{};
    auto events = diff_cycle(have_prev, prev, state->statuses, col.snapshot, col.report, cycle);

    outbox o;
    o.cycle = cycle;
    for (const auto& e : events)
        o.messages.push_back({topics::events(key()), encode_event(key(), e, clk_), false, event_id(key(), cycle, e.index())});
    o.messages.push_back({topics::validation(key()), encode_report(key(), col.report, clk_), true, report_id(key(), cycle)});
    o.next.cycle = cycle;
    o.next.snapshot = have_prev ? carry_forward(prev, col.snapshot) : col.snapshot;
    o.next.statuses = statuses_of(col.report);
    const double seconds = std::chrono::duration<double>(col.duration).count();
    if (auto st = store_.save_outbox(o); !st) {
        spdlog::error("tenant {}: cycle {}: cannot write the outbox: {}; nothing published, retried next cycle", key(),
                      cycle, st.err().message);
        metrics::agent_cycle(seconds, false);
        return;
    }
    metrics::agent_cycle(seconds, true);
    auto checks_now = worst_status_by_check(col.report);
    metrics::check_statuses_changed(counted_checks_, checks_now);
    counted_checks_ = std::move(checks_now);
    outbox_ = std::move(o);
    cycle_floor_ = 0;
    last_cycle_ms_ = static_cast<std::uint32_t>(col.duration.count());
    last_graph_requests_ = static_cast<std::uint32_t>(col.counters.total());
    last_cycle_at_ = clk_.now();
    const bool published = flush_outbox();
    if (!published) last_overall_ = col.report.overall();
    spdlog::info("tenant {} cycle {}: {} ms, {} Graph requests, {} token requests, overall {}, {} changes{}", key(), cycle,
                 col.duration.count(), col.counters.graph_requests, col.counters.token_requests,
                 status_name(col.report.overall()), events.size(),
                 published ? "" : " (waiting for the broker; published on reconnect)");
}

void tenant_agent::publish_status() {
    if (!link_ || !link_->connected()) return;
    v1::AgentStatus s;
    s.set_state(v1::AGENT_STATE_ONLINE);
    s.set_version(agent_version);
    s.set_last_cycle_ms(last_cycle_ms_);
    s.set_graph_requests_last_cycle(last_graph_requests_);
    if (last_cycle_at_ != clock::time_point{}) *s.mutable_last_cycle_at() = timestamp(last_cycle_at_);
    steady::time_point next;
    {
        std::lock_guard lock(mu_);
        next = next_cycle_;
    }
    const auto wall_next = clk_.now() + std::chrono::duration_cast<clock::time_point::duration>(
                                            std::max(steady::duration::zero(), next - steady::now()));
    *s.mutable_next_run_at() = timestamp(wall_next);
    s.set_last_overall(last_overall_);
    s.set_cycle(committed_cycle_);
    s.set_poll_interval_seconds(static_cast<std::uint32_t>((cfg_.poll_interval + cfg_.poll_jitter).count()));
    status_reconnects_ = link_->reconnects();
    auto st = link_->publish_async({topics::agent_status(key()), encode_status(key(), s, clk_), 1, true, "", ""});
    if (!st) spdlog::warn("tenant {}: status not published: {}", key(), st.err().message);
}

void tenant_agent::run_due() {
    try {
        if (stop_->requested()) return;
        bool progressed = true;
        if (outbox_) progressed = flush_outbox();
        publish_pending_results();
        execute_commands();
        publish_pending_results();
        process_acks();

        bool due;
        {
            std::lock_guard lock(mu_);
            due = cycle_requested_ || steady::now() >= next_cycle_;
        }
        if (due && !outbox_ && unacked_count() >= cfg_.max_unacked_messages) {
            // Never drop: wait for the coordinator (its IngestAcks wake us) before collecting more.
            if (!paused_logged_)
                spdlog::warn("tenant {}: {} message(s) wait for the coordinator's acknowledgement (limit {}); new cycles "
                             "pause until it catches up",
                             key(), unacked_count(), cfg_.max_unacked_messages);
            std::lock_guard lock(mu_);
            if (!paused_logged_) ++stats_.paused_cycles;  // once per pause
            paused_logged_ = true;
            cycle_requested_ = false;  // looked at again in a second (or when an IngestAck arrives)
            next_cycle_ = steady::now() + std::chrono::seconds{1};
            due = false;
        } else {
            paused_logged_ = false;
        }
        if (due && !outbox_ && !stop_->requested()) {
            {
                std::lock_guard lock(mu_);
                cycle_requested_ = false;
            }
            schedule_next_cycle();
            run_cycle();
            publish_status();
        } else if (progressed && link_ && link_->connected() && link_->reconnects() != status_reconnects_) {
            publish_status();  // back after a reconnect (the Last Will may have said offline)
        }
        if (gc_) gc_->release_connections();  // an idle tenant holds no socket (10,000 tenants: 20,000 fds)
        auto ack_due = steady::time_point::max();  // the cycle may have added kept messages
        for (const auto& u : unacked_) ack_due = std::min(ack_due, republish_due(u));
        std::lock_guard lock(mu_);
        retry_at_ = (outbox_ || !results_.empty()) ? steady::now() + opts_.retry_interval : steady::time_point::max();
        ack_due_ = ack_due;
        stats_.unacked = unacked_count();
        metrics::agent_unacked_add(static_cast<std::int64_t>(stats_.unacked) - static_cast<std::int64_t>(counted_unacked_));
        counted_unacked_ = stats_.unacked;
    } catch (const std::exception& e) {
        spdlog::error("tenant {}: {}", key(), e.what());
        std::lock_guard lock(mu_);
        retry_at_ = steady::now() + opts_.retry_interval;
    }
}

void tenant_agent::publish_offline(std::function<void()> done) {
    if (!link_ || !link_->connected()) {
        if (done) done();
        return;
    }
    v1::AgentStatus s;
    s.set_state(v1::AGENT_STATE_OFFLINE);
    s.set_version(agent_version);
    s.set_reason("shutdown");
    s.set_cycle(committed_cycle_);
    s.set_last_overall(last_overall_);
    s.set_last_cycle_ms(last_cycle_ms_);
    s.set_graph_requests_last_cycle(last_graph_requests_);
    if (last_cycle_at_ != clock::time_point{}) *s.mutable_last_cycle_at() = timestamp(last_cycle_at_);
    auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
    auto st = link_->publish_async({topics::agent_status(key()), encode_status(key(), s, clk_), 1, true, "", ""},
                                   [shared_done](status) {
                                       if (*shared_done) (*shared_done)();
                                   });
    if (!st && *shared_done) (*shared_done)();
}

void tenant_agent::close() {
    if (link_) {
        link_->close();
        link_.reset();
    }
    // A tenant that stops running (removed at runtime, or the host stops) leaves the host's
    // metrics: its check statuses and waiting messages no longer count.
    metrics::check_statuses_changed(counted_checks_, {});
    counted_checks_.clear();
    metrics::agent_unacked_add(-static_cast<std::int64_t>(counted_unacked_));
    counted_unacked_ = 0;
}

tenant_stats tenant_agent::stats() const {
    std::lock_guard lock(mu_);
    return stats_;
}

}  // namespace connguard::agent
