#include "coordinator/webhooks.h"

#include <random>

#include <spdlog/spdlog.h>

#include "common/http/http_client.h"
#include "common/metrics.h"
#include "coordinator/alerts.h"

namespace connguard::coord {

std::int64_t webhook_backoff_ms(int failed_attempts, std::int64_t initial_ms, std::int64_t max_ms) {
    std::int64_t d = initial_ms;
    for (int i = 1; i < failed_attempts && d < max_ms; ++i) d *= 2;
    return std::min(d, max_ms);
}

webhook_worker::webhook_worker(webhook_options opts, const clock& clk) : opts_(std::move(opts)), clk_(clk) {}

webhook_worker::~webhook_worker() { stop(); }

status webhook_worker::start() {
    auto db = store::open(opts_.store_location);
    if (!db) return db.err();
    db_ = std::move(*db);
    auto d = duty_lock::open(opts_.store_location, duty::webhooks);
    if (!d) return d.err();
    duty_ = std::move(*d);
    thread_ = std::thread([this] { run(); });
    return {};
}

void webhook_worker::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void webhook_worker::wake() {
    {
        std::lock_guard lock(mu_);
        woken_ = true;
    }
    cv_.notify_all();
}

void webhook_worker::run() {
    http::client http;
    std::mt19937_64 rng(std::random_device{}());
    while (true) {
        {
            std::unique_lock lock(mu_);
            if (stopping_) return;
        }
        if (!duty_->held()) {  // another coordinator delivers
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
            continue;
        }
        const std::int64_t now = to_unix_ms(clk_.now());
        auto due = db_->due_webhooks(now, 20);
        if (!due) spdlog::error("webhooks: {}", due.err().message);
        bool any = false;
        if (due) {
            for (const auto& w : *due) {
                {
                    std::lock_guard lock(mu_);
                    if (stopping_) return;
                }
                any = true;
                http::request req;
                req.method = "POST";
                req.url = w.url;
                req.body = w.body;
                req.timeout = std::chrono::milliseconds(opts_.timeout_ms);
                req.headers = {{"Content-Type", "application/json"},
                               {"Idempotency-Key", w.delivery_key},
                               {"User-Agent", "connguard-coordinator"}};
                auto rsp = http.perform(req);
                const bool ok = rsp && rsp->status >= 200 && rsp->status < 300;
                metrics::webhook_attempt(ok);
                if (ok) {
                    // Marked delivered right away, in its own short transaction.
                    if (auto st = db_->webhook_delivered(w.id, to_unix_ms(clk_.now()), rsp->status); !st)
                        spdlog::error("webhooks: sink {}: delivered {} but could not record it: {}", w.sink,
                                      w.delivery_key, st.err().message);
                    ++delivered_;
                    continue;
                }
                ++failed_;
                std::string why = rsp ? "HTTP " + std::to_string(rsp->status) : rsp.err().message;
                // The URL's path is a secret (Teams / Slack): logs and the outbox name its origin only.
                for (auto at = why.find(w.url); !w.url.empty() && at != std::string::npos; at = why.find(w.url))
                    why.replace(at, w.url.size(), url_origin(w.url));
                const int attempts = w.attempts + 1;
                const bool give_up = opts_.max_attempts > 0 && attempts >= opts_.max_attempts;
                std::int64_t delay = webhook_backoff_ms(attempts, opts_.initial_backoff_ms, opts_.max_backoff_ms);
                delay += static_cast<std::int64_t>(std::uniform_real_distribution<double>(-0.2, 0.2)(rng) * delay);
                if (give_up)
                    spdlog::error("webhooks: sink {}: giving up on delivery {} after {} attempts ({})", w.sink,
                                  w.delivery_key, attempts, why);
                else
                    spdlog::warn("webhooks: sink {}: delivery {} failed ({}), attempt {}; retrying in {} ms", w.sink,
                                 w.delivery_key, why, attempts, delay);
                if (auto st = db_->webhook_attempt_failed(w.id, to_unix_ms(clk_.now()) + delay, why, give_up); !st)
                    spdlog::error("webhooks: {}", st.err().message);
            }
        }
        std::unique_lock lock(mu_);
        if (stopping_) return;
        if (!any || (due && due->empty())) {
            cv_.wait_for(lock, std::chrono::milliseconds(opts_.poll_ms), [&] { return stopping_ || woken_; });
            woken_ = false;
        }
    }
}

}  // namespace connguard::coord
