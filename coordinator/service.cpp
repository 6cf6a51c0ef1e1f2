#include "coordinator/service.h"

#include <spdlog/spdlog.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/text.h"
#include "common/topics.h"
#include "coordinator/sql/connection.h"

namespace connguard::coord {

using namespace std::chrono_literals;

namespace {

// The `kind` label of connguard_coordinator_ingested_total: what a committed message was.
const char* ingest_kind(const std::string& topic) {
    const auto t = topics::parse(topic);
    if (t.what == topics::parsed::kind::admin_request) return "admin";
    if (t.what != topics::parsed::kind::tenant) return "other";
    switch (t.channel) {
        case topics::tenant_channel::validation: return "report";
        case topics::tenant_channel::events: return "event";
        case topics::tenant_channel::agent: return "agent_status";
        case topics::tenant_channel::results: return "result";
        default: return "other";
    }
}

std::string task_state_label(int s) { return enum_word(v1::TaskState_Name(static_cast<v1::TaskState>(s)), "TASK_STATE_"); }

void register_metrics() {
    std::vector<std::string> states;
    for (int s = v1::TaskState_MIN + 1; s <= v1::TaskState_MAX; ++s)
        if (v1::TaskState_IsValid(s)) states.push_back(task_state_label(s));
    std::vector<std::string> reasons;
    for (int r = static_cast<int>(codec::reject_reason::oversize); r <= static_cast<int>(codec::reject_reason::unknown_topic); ++r)
        reasons.emplace_back(codec::to_string(static_cast<codec::reject_reason>(r)));
    metrics::register_coordinator({"report", "event", "agent_status", "result", "admin"}, states, reasons);
}

// The gauges (tasks by state, outbox depths, agents online), counted on the committer's connection.
void refresh_gauges(store& db, std::int64_t now_ms, std::int64_t silence_ms) {
    auto g = db.gauges(now_ms, silence_ms);
    if (!g) {
        spdlog::warn("metrics: gauges not refreshed: {}", g.err().message);
        return;
    }
    for (int s = v1::TaskState_MIN + 1; s <= v1::TaskState_MAX; ++s) {
        if (!v1::TaskState_IsValid(s)) continue;
        const auto it = g->tasks_by_state.find(s);
        metrics::tasks(task_state_label(s), it == g->tasks_by_state.end() ? 0 : it->second);
    }
    metrics::outbox_depth("mqtt", g->mqtt_outbox);
    metrics::outbox_depth("webhook", g->webhook_outbox);
    metrics::agents_online(g->agents_online);
}

}  // namespace

service::service(coordinator_config cfg, const clock& clk) : cfg_(std::move(cfg)), clk_(clk) {}

service::~service() { stop(); }

status service::start() {
    store_options so;
    so.synchronous_full = cfg_.synchronous_full;
    so.wal_autocheckpoint_pages = wal_checkpointer::backstop_pages;  // wal_ checkpoints (wal_checkpointer.h)
    auto db = store::open(cfg_.store_location(), so);
    if (!db) return db.err();
    db_ = std::move(*db);
    if (db_->backend() == sql::dialect::sqlite) {
        wal_ = std::make_unique<wal_checkpointer>(cfg_.db_path);
        if (auto st = wal_->start(); !st) return st;
    }
    const bool shared_store = db_->backend() == sql::dialect::postgres;
    auto clock_duty = duty_lock::open(cfg_.store_location(), duty::clock);
    if (!clock_duty) return clock_duty.err();
    clock_duty_ = std::move(*clock_duty);
    engine_ = std::make_unique<engine>(*db_, clk_, cfg_.engine);
    register_metrics();
    if (cfg_.audit) {
        checkpointer_ = std::make_unique<checkpointer>(*db_, clk_, *cfg_.audit);
        if (auto st = checkpointer_->check_against_file(); !st) return st;
        spdlog::info("audit checkpoints: signed with key {} at least every {} s while the log grows and after each "
                     "approval; retained on {}{}{}",
                     cfg_.audit->key.key_id(), cfg_.audit->interval_ms / 1000, topics::audit_checkpoint(),
                     cfg_.audit->file.empty() ? "" : ", appended to " + cfg_.audit->file.string(),
                     cfg_.audit->webhook_url.empty() ? "" : ", posted to the checkpoint webhook");
    } else {
        spdlog::warn("audit checkpoints off (no audit.signingKeyFile): deleting the newest audit entries would "
                     "go unseen by `connguardctl audit --verify`");
    }

    // Recovery: nothing to repair (every change was transactional); say what resumes.
    {
        auto dispatched = db_->tasks_in_states({v1::TASK_STATE_DISPATCHED});
        auto outbox = db_->next_mqtt(1000000);
        auto hooks = db_->pending_webhooks();
        spdlog::info("store {}: schema v{}; {} task(s) DISPATCHED keep waiting for their results; {} MQTT "
                     "publication(s) and {} webhook delivery(ies) resume",
                     db_->describe(), store::latest_schema_version(), dispatched ? dispatched->size() : 0,
                     outbox ? outbox->size() : 0, hooks ? *hooks : 0);
    }

    webhook_options wo;
    wo.store_location = cfg_.store_location();
    wo.initial_backoff_ms = cfg_.webhook_initial_backoff_ms;
    wo.max_backoff_ms = cfg_.webhook_max_backoff_ms;
    wo.max_attempts = cfg_.webhook_max_attempts;
    wo.timeout_ms = cfg_.webhook_timeout_ms;
    // Another coordinator's commits do not wake this one's workers: poll a shared store often.
    wo.poll_ms = std::min<std::int64_t>(cfg_.tick_ms, shared_store ? 100 : 1000);
    webhooks_ = std::make_unique<webhook_worker>(wo, clk_);
    if (auto st = webhooks_->start(); !st) return st;

    auto base = [&](const std::string& id) {
        auto b = mqtt::client_options_builder()
                     .server_uri(cfg_.broker_url)
                     .client_id(id)
                     .credentials(cfg_.username, cfg_.password)
                     .clean_start(false);
        if (!cfg_.ca_file.empty()) b.tls(mqtt::tls_options{cfg_.ca_file, "", "", true});
        return b;
    };
    auto pub_opts = base(cfg_.client_id + "-pub");
    if (!cfg_.persistence_dir.empty()) pub_opts.persistence_dir(cfg_.persistence_dir);
    try {
        publisher_ = std::make_unique<mqtt::client>(pub_opts.finalize());
    } catch (const std::exception& e) {
        return make_error("coord.mqtt_options", std::string("publisher connection: ") + e.what());
    }
    if (auto st = publisher_->connect(10s); !st) return st;
    // IngestAcks on a connection of their own: at the ingest rate they would otherwise take the
    // publisher connection's in-flight window from alerts and commands (publish -> alert latency).
    try {
        acker_ = std::make_unique<mqtt::client>(base(cfg_.client_id + "-ack").clean_start(true).finalize());
    } catch (const std::exception& e) {
        return make_error("coord.mqtt_options", std::string("ack connection: ") + e.what());
    }
    if (auto st = acker_->connect(10s); !st) return st;

    max_queued_ = static_cast<std::size_t>(std::max(2 * cfg_.max_batch, 2));
    {
        std::lock_guard lock(qmu_);
        committer_running_ = true;
    }
    committer_ = std::thread([this] { committer_loop(); });
    ack_thread_ = std::thread([this] { ack_loop(); });
    publisher_thread_ = std::thread([this] { publisher_loop(); });

    const std::vector<std::string> filters = {
        topics::all_tenants_filter(topics::tenant_channel::validation),
        topics::all_tenants_filter(topics::tenant_channel::events),
        topics::all_tenants_filter(topics::tenant_channel::agent),
        topics::all_tenants_filter(topics::tenant_channel::results),
        topics::all_admin_requests_filter()};
    for (int i = 0; i < cfg_.ingest_connections; ++i) {
        try {
            auto c = std::make_unique<mqtt::client>(base(cfg_.client_id + "-in" + std::to_string(i)).finalize());
            for (const auto& f : filters)
                c->subscribe(topics::shared(cfg_.shared_group, f), [this](const mqtt::message& m) { return on_message(m); });
            ingest_.push_back(std::move(c));
        } catch (const std::exception& e) {
            return make_error("coord.mqtt_options", std::string("ingest connection: ") + e.what());
        }
        if (auto st = ingest_.back()->connect(10s); !st) return st;
    }
    started_ = true;
    spdlog::info("coordinator up: {} ingest connection(s){} to {}, {} admin(s), {} webhook sink(s)",
                 cfg_.ingest_connections, cfg_.shared_group.empty() ? "" : " in shared group '" + cfg_.shared_group + "'",
                 cfg_.broker_url, cfg_.engine.admins.size(), cfg_.engine.webhooks.size());
    return {};
}

void service::stop() {
    // Ingest first: a handler waiting for its commit is released by the still-running committer.
    for (auto& c : ingest_) c->disconnect(5s);
    ingest_.clear();
    {
        std::lock_guard lock(qmu_);
        stop_committer_ = true;
        committer_running_ = false;
    }
    qcv_.notify_all();
    room_cv_.notify_all();
    if (committer_.joinable()) committer_.join();
    {
        std::lock_guard lock(amu_);  // the acks of the last commits are still sent
        stop_acks_ = true;
    }
    acv_.notify_all();
    if (ack_thread_.joinable()) ack_thread_.join();
    if (acker_) acker_->disconnect(5s);
    acker_.reset();
    {
        std::lock_guard lock(pmu_);
        stop_publisher_ = true;
    }
    pcv_.notify_all();
    if (publisher_thread_.joinable()) publisher_thread_.join();
    if (publisher_) publisher_->disconnect(5s);
    publisher_.reset();
    if (webhooks_) webhooks_->stop();
    if (wal_) wal_->stop();
    if (started_) spdlog::info("coordinator stopped: {}", summary());
    started_ = false;
}

mqtt::handler_result service::on_message(const mqtt::message& m) {
    ++received_;
    auto d = codec::decode(m.topic, m.payload);
    if (!d.ok()) {
        const auto idx = static_cast<std::size_t>(d.reason);
        const auto n = ++rejected_[idx < rejected_.size() ? idx : 0];
        metrics::rejected(codec::to_string(d.reason));
        if (n <= 10 || n % 1000 == 0)
            spdlog::warn("ingest: rejected message on '{}' ({}, {} so far): {}", m.topic, codec::to_string(d.reason), n,
                         log::redact(d.detail));
        // Refused for good: tell the publishing agent (the broker's ACL lets only the topic's tenant
        // write there) so it does not re-publish it forever. Without an id there is nothing to name.
        const auto t = topics::parse(m.topic);
        if (t.what == topics::parsed::kind::tenant && !d.envelope.id().empty() && d.envelope.id().size() <= 128)
            queue_ack(t.tenant, d.envelope.id(), codec::to_string(d.reason));
        return mqtt::handler_result::handled;  // bad input is acknowledged: redelivery cannot fix it
    }
    // Tenant messages: queued, acknowledged to the broker at once; the agent keeps each until the
    // IngestAck after COMMIT. Admin requests (no agent outbox behind them): wait for the commit.
    const bool waits = d.envelope.tenant().empty();
    auto w = std::make_shared<work>();
    w->topic = m.topic;
    w->envelope = std::move(d.envelope);
    w->raw = m.payload;
    w->correlation = m.correlation_data;
    w->waits = waits;
    std::future<bool> fut;
    if (waits) fut = w->done.get_future();
    {
        std::unique_lock lock(qmu_);
        if (queue_.size() >= max_queued_) {
            ++queue_full_waits_;
            room_cv_.wait(lock, [&] { return stop_committer_ || queue_.size() < max_queued_; });
        }
        if (stop_committer_) return mqtt::handler_result::retry;
        queue_.push_back(w);
    }
    qcv_.notify_one();
    if (!waits) return mqtt::handler_result::handled;
    const bool ok = fut.get();  // the committer always fulfils the promise of a waiting item
    if (!ok) ++retried_;
    return ok ? mqtt::handler_result::handled : mqtt::handler_result::retry;
}

void service::queue_ack(const std::string& tenant, const std::string& id, std::string_view refused_reason) {
    {
        std::lock_guard lock(amu_);
        auto& a = acks_[tenant];
        if (refused_reason.empty()) {
            a.add_committed_ids(id);
        } else {
            auto* r = a.add_refused();
            r->set_envelope_id(id);
            r->set_reason(std::string(refused_reason));
        }
    }
    acv_.notify_one();
}

void service::ack_loop() {
    // QoS 0: an IngestAck is idempotent and its loss costs one re-publish after the agent's ack
    // timeout (deduped, acknowledged again); QoS 1 would hold broker queues for offline agents
    // and compete for the in-flight window with the outbox publications.
    constexpr int max_ids_per_ack = 2000;  // ~100 KB: well under codec::max_payload_bytes
    while (true) {
        std::map<std::string, v1::IngestAck> batch;
        {
            std::unique_lock lock(amu_);
            acv_.wait(lock, [&] { return stop_acks_ || !acks_.empty(); });
            if (acks_.empty()) return;  // stopping, everything sent
            batch.swap(acks_);
        }
        for (auto& [tenant, all] : batch) {
            const int committed = all.committed_ids_size();
            for (int from = 0; from < committed || (from == 0 && all.refused_size() > 0); from += max_ids_per_ack) {
                auto env = codec::make_envelope(tenant, "coordinator");
                auto* a = env.mutable_ingest_ack();
                for (int i = from; i < std::min(committed, from + max_ids_per_ack); ++i) a->add_committed_ids(all.committed_ids(i));
                if (from == 0) *a->mutable_refused() = all.refused();
                acked_ids_ += static_cast<std::uint64_t>(a->committed_ids_size() + a->refused_size());
                auto st = acker_->publish_async(mqtt::make_message(topics::acks(tenant), codec::encode(env, clk_), 0));
                if (st) ++acks_published_;
                else spdlog::warn("ingest: IngestAck for tenant {} not sent (the agent re-publishes after its ack timeout): {}",
                                  tenant, st.err().message);
            }
        }
    }
}

result<v1::AdminResponse> service::admin(const principal& who, const v1::AdminRequest& req) {
    auto w = std::make_shared<work>();
    w->who = &who;
    w->request = req;
    auto fut = w->done.get_future();
    {
        std::lock_guard lock(qmu_);
        if (stop_committer_ || !committer_running_)
            return make_error("coord.stopping", "the coordinator is not running; nothing was done");
        queue_.push_back(w);
    }
    qcv_.notify_one();
    if (!fut.get())  // the committer always fulfils the promise
        return make_error("coord.admin_failed", "the request was not committed (nothing changed): " + w->error);
    return std::move(w->response);
}

void service::committer_loop() {
    auto next_tick = std::chrono::steady_clock::now();
    auto next_gauges = next_tick;  // metrics gauges: counted at most once a second, after a tick
    std::vector<std::shared_ptr<work>> batch;
    while (true) {
        bool tick_due = false;
        {
            std::unique_lock lock(qmu_);
            qcv_.wait_until(lock, next_tick, [&] { return stop_committer_ || !queue_.empty(); });
            if (stop_committer_ && queue_.empty()) return;
            while (!queue_.empty() && static_cast<int>(batch.size()) < cfg_.max_batch) {
                batch.push_back(queue_.front());
                queue_.pop_front();
            }
            if (!batch.empty()) room_cv_.notify_all();
            tick_due = std::chrono::steady_clock::now() >= next_tick;
        }
        std::vector<bool> results(batch.size(), false);
        bool committed = false;
        const auto commit_started = std::chrono::steady_clock::now();
        if (auto st = db_->begin(); !st) {
            spdlog::error("ingest: cannot begin a transaction: {}", st.err().message);
            for (auto& w : batch) w->error = st.err().message;
        } else {
            for (std::size_t i = 0; i < batch.size(); ++i) {
                work& w = *batch[i];
                if (auto sp = db_->savepoint(); !sp) {
                    w.error = sp.err().message;
                    continue;
                }
                const auto mark = engine_->change_mark();
                if (w.who != nullptr) {
                    auto r = engine_->answer(*w.who, w.request, to_unix_ms(clk_.now()));
                    if (r) {
                        (void)db_->release_savepoint();
                        results[i] = true;
                        w.response = std::move(*r);
                    } else {
                        db_->rollback_to_savepoint();
                        engine_->drop_changes(mark);
                        w.error = r.err().message;
                        spdlog::error("console: request of {} not committed: {}", w.who->name, r.err().message);
                    }
                    continue;
                }
                auto r = engine_->handle(w.topic, w.envelope, w.raw, w.correlation);
                if (r) {
                    (void)db_->release_savepoint();
                    results[i] = true;
                    if (*r == ingest_outcome::duplicate) ++duplicates_;
                } else {
                    db_->rollback_to_savepoint();
                    engine_->drop_changes(mark);
                    spdlog::error("ingest: envelope {} on '{}' not stored (will be redelivered): {}", w.envelope.id(),
                                  w.topic, r.err().message);
                }
            }
            if (tick_due && clock_duty_->held()) {
                if (db_->savepoint()) {
                    const auto mark = engine_->change_mark();
                    if (auto st = engine_->tick(); st) (void)db_->release_savepoint();
                    else {
                        db_->rollback_to_savepoint();
                        engine_->drop_changes(mark);
                        spdlog::error("timers: {}", st.err().message);
                    }
                }
            }
            if (auto st = db_->commit(); st) {
                committed = true;
                ++commits_;
                feed_.publish(engine_->take_changes());  // before the waiters learn of the commit
            } else {
                spdlog::error("ingest: commit of {} message(s) failed (they will be redelivered): {}", batch.size(),
                              st.err().message);
                db_->rollback();
                (void)engine_->take_changes();  // none of it happened
                for (auto& w : batch)
                    if (w->error.empty()) w->error = st.err().message;
            }
            metrics::commit(std::chrono::duration<double>(std::chrono::steady_clock::now() - commit_started).count());
        }
        if (tick_due && std::chrono::steady_clock::now() >= next_gauges) {
            refresh_gauges(*db_, to_unix_ms(clk_.now()), cfg_.engine.silence_ms);
            next_gauges = std::chrono::steady_clock::now() + 1s;
        }
        if (tick_due) next_tick = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.tick_ms);
        bool approval = false;  // an approval request was committed: its audit entries get an anchor now
        for (std::size_t i = 0; i < batch.size(); ++i) {
            const bool ok = committed && results[i];
            if (ok && batch[i]->who == nullptr) {  // MQTT messages (console requests are not ingest)
                ++committed_;
                metrics::ingested(ingest_kind(batch[i]->topic));
            }
            if (ok && batch[i]->envelope.has_admin_request() && batch[i]->envelope.admin_request().has_approve())
                approval = true;
            if (ok && batch[i]->who != nullptr && batch[i]->request.has_approve()) approval = true;
            if (batch[i]->waits) {
                batch[i]->done.set_value(ok);
            } else {
                // Committed (or found already committed): the agent may drop its copy. Not committed:
                // no ack, the agent re-publishes it after its ack timeout (same id).
                if (ok) queue_ack(batch[i]->envelope.tenant(), batch[i]->envelope.id());
                else ++retried_;
            }
        }
        batch.clear();
        bool checkpointed = false;
        if (checkpointer_ && committed && clock_duty_->held()) {
            // After the commit: a checkpoint only ever anchors committed entries.
            auto c = checkpointer_->maybe_checkpoint(approval);
            if (!c) spdlog::error("audit checkpoint not written (retried shortly): {}", c.err().message);
            else checkpointed = *c;
        }
        if (committed || checkpointed) {
            wake_publisher();
            webhooks_->wake();
        }
    }
}

void service::wake_publisher() {
    {
        std::lock_guard lock(pmu_);
        publisher_woken_ = true;
    }
    pcv_.notify_all();
}

void service::publisher_loop() {
    store_options so;
    so.wal_autocheckpoint_pages = wal_checkpointer::backstop_pages;
    auto opened = store::open(cfg_.store_location(), so);
    if (!opened) {
        spdlog::critical("publisher: {}", opened.err().message);
        return;
    }
    auto db = std::move(*opened);
    auto duty_opened = duty_lock::open(cfg_.store_location(), duty::mqtt_outbox);
    if (!duty_opened) {
        spdlog::critical("publisher: {}", duty_opened.err().message);
        return;
    }
    auto outbox_duty = std::move(*duty_opened);
    // Another coordinator's commits do not wake this thread: poll a shared store often.
    const auto idle_wait = db->backend() == sql::dialect::postgres ? 100ms : 1000ms;
    // Rows the broker acknowledged (or refused for good) are deleted later, in one transaction taken
    // only when the writer lock is free at once: waiting for it behind the committer (SQLite's busy
    // handler sleeps 1, 2, 5, 10, 15 ... ms) held the next alert back by up to 50 ms at 1,000
    // events/s. Until then they are not fetched again (seq <= sent_upto). A crash before the delete
    // re-publishes them after the restart, as a crash between PUBACK and delete always did.
    std::vector<std::int64_t> done_seqs;
    std::int64_t sent_upto = 0;
    auto pending_since = std::chrono::steady_clock::now();
    constexpr auto max_pending = 2s;  // then wait for the lock like any writer
    // Deletes done_seqs and counts an attempt for each of `bump`. Not `blocking`: gives up at once
    // when another connection holds the write lock (the next round tries again).
    auto flush = [&](bool blocking, const std::vector<std::int64_t>& bump) {
        if (done_seqs.empty() && bump.empty()) return true;
        if (blocking) {
            if (auto st = db->begin(); !st) {
                spdlog::error("publisher: {}", st.err().message);
                return false;
            }
        } else if (auto free = db->try_begin(); !free || !*free) {
            return false;
        }
        for (const auto seq : done_seqs) (void)db->delete_mqtt(seq);
        for (const auto seq : bump) (void)db->bump_mqtt_attempts(seq);
        if (auto c = db->commit(); !c) {
            db->rollback();
            spdlog::error("publisher: {}", c.err().message);
            return false;
        }
        done_seqs.clear();
        sent_upto = 0;  // all published rows are gone: what remains is unsent (rowids may be reused)
        return true;
    };
    while (true) {
        {
            std::unique_lock lock(pmu_);
            if (stop_publisher_) {
                lock.unlock();
                (void)flush(true, {});
                return;
            }
        }
        if (!outbox_duty->held()) {
            // Another coordinator publishes; what this one had sent is deleted first.
            if (!done_seqs.empty()) (void)flush(true, {});
            std::unique_lock lock(pmu_);
            pcv_.wait_for(lock, 1s, [&] { return stop_publisher_; });
            continue;
        }
        auto rows = db->next_mqtt(64, sent_upto);
        if (!rows) spdlog::error("publisher: {}", rows.err().message);
        if (!rows || rows->empty() || !publisher_->connected()) {
            if (!done_seqs.empty() && !flush(false, {}) && std::chrono::steady_clock::now() - pending_since > max_pending)
                (void)flush(true, {});
            std::unique_lock lock(pmu_);
            const auto wait = !done_seqs.empty() ? 20ms : rows && !rows->empty() ? 200ms : idle_wait;
            pcv_.wait_for(lock, wait, [&] { return stop_publisher_ || publisher_woken_; });
            publisher_woken_ = false;
            continue;
        }
        // Send the batch in order without waiting per message, then collect the acknowledgements.
        struct outcome {
            std::mutex mu;
            std::condition_variable cv;
            std::size_t pending = 0;
            std::vector<int> state;  // 0 pending, 1 ok, 2 permanent failure, 3 transient failure
        };
        auto out = std::make_shared<outcome>();
        out->state.assign(rows->size(), 0);
        out->pending = rows->size();
        for (std::size_t i = 0; i < rows->size(); ++i) {
            const auto& r = (*rows)[i];
            if (r.payload.size() > codec::max_payload_bytes) {
                // Would get the connection dropped by the broker and block the queue forever.
                std::lock_guard lock(out->mu);
                out->state[i] = 2;
                --out->pending;
                continue;
            }
            mqtt::message m;
            m.topic = r.topic;
            m.payload = r.payload;
            m.qos = 1;
            m.retained = r.retained;
            m.response_topic = r.response_topic;
            m.correlation_data = r.correlation_data;
            auto done = [out, i](status st) {
                std::lock_guard lock(out->mu);
                out->state[i] = st ? 1
                                : (st.err().code == "mqtt.not_authorized" || st.err().code == "mqtt.refused" ||
                                   st.err().code == "mqtt.bad_topic")
                                    ? 2
                                    : 3;
                --out->pending;
                out->cv.notify_all();
            };
            if (auto st = publisher_->publish_async(m, done); !st) {
                done(st);
                if (st.err().code != "mqtt.bad_topic") {
                    // Not sent: the rest of the batch waits too (order is kept).
                    std::lock_guard lock(out->mu);
                    for (std::size_t j = i + 1; j < rows->size(); ++j) {
                        out->state[j] = 3;
                        --out->pending;
                    }
                    break;
                }
            }
        }
        {
            std::unique_lock lock(out->mu);
            out->cv.wait_for(lock, 15s, [&] { return out->pending == 0; });
        }
        std::vector<std::int64_t> bump;
        {
            std::lock_guard lock(out->mu);
            if (done_seqs.empty()) pending_since = std::chrono::steady_clock::now();
            for (std::size_t i = 0; i < rows->size(); ++i) {
                const auto& r = (*rows)[i];
                if (out->state[i] == 1) {
                    ++published_;
                    done_seqs.push_back(r.seq);
                } else if (out->state[i] == 2) {
                    ++publish_failures_;
                    spdlog::error("publisher: the broker refused the publication on '{}'; dropped", r.topic);
                    done_seqs.push_back(r.seq);
                } else {
                    bump.push_back(r.seq);
                }
            }
        }
        if (bump.empty()) {
            sent_upto = rows->back().seq;
            (void)flush(false, {});
            continue;
        }
        // A transient failure: record it now, then fetch everything not deleted again after a pause.
        (void)flush(true, bump);
        done_seqs.clear();
        sent_upto = 0;
        std::unique_lock lock(pmu_);
        pcv_.wait_for(lock, 500ms, [&] { return stop_publisher_; });
    }
}

service::stats service::snapshot() const {
    stats s;
    s.received = received_;
    s.committed = committed_;
    s.duplicates = duplicates_;
    s.retried = retried_;
    s.commits = commits_;
    for (std::size_t i = 0; i < rejected_.size(); ++i) s.rejected[i] = rejected_[i];
    s.published = published_;
    s.publish_failures = publish_failures_;
    s.acks_published = acks_published_;
    s.acked_ids = acked_ids_;
    s.queue_full_waits = queue_full_waits_;
    return s;
}

std::string service::summary() const {
    const auto s = snapshot();
    std::string out = "received " + std::to_string(s.received) + ", committed " + std::to_string(s.committed) +
                      " in " + std::to_string(s.commits) + " commit(s), duplicates " + std::to_string(s.duplicates) +
                      ", retried " + std::to_string(s.retried) + ", published " + std::to_string(s.published) +
                      ", publish failures " + std::to_string(s.publish_failures) + ", ingest acks " +
                      std::to_string(s.acks_published) + " naming " + std::to_string(s.acked_ids) + " id(s), queue-full waits " +
                      std::to_string(s.queue_full_waits) + ", rejected:";
    bool any = false;
    for (std::size_t i = 1; i < s.rejected.size(); ++i) {
        if (s.rejected[i] == 0) continue;
        any = true;
        out += " " + std::string(codec::to_string(static_cast<codec::reject_reason>(i))) + "=" + std::to_string(s.rejected[i]);
    }
    if (!any) out += " none";
    return out;
}

}  // namespace connguard::coord
