#include "agent/core/host.h"

#include <spdlog/spdlog.h>

#include <asio.hpp>
#include <condition_variable>
#include <csignal>
#include <mutex>

#include "agent/core/tenant_link.h"
#include "agent/graph/graph_client.h"
#include "common/metrics.h"

namespace connguard::agent {

struct host::impl {
    struct slot {
        std::unique_ptr<tenant_agent> agent;
        std::unique_ptr<asio::steady_timer> timer;
        bool busy = false;   // on a worker now (io thread only)
        bool again = false;  // work arrived while busy (io thread only)
    };

    impl(std::vector<tenant_config> t, host_options o, const clock& c)
        : tenants(std::move(t)), opts(o), clk(c), pool(static_cast<std::size_t>(std::max(1, o.workers))),
          guard(asio::make_work_guard(io)), signals(io, SIGTERM, SIGINT) {}

    std::vector<tenant_config> tenants;
    host_options opts;
    const clock& clk;
    asio::io_context io;
    asio::thread_pool pool;
    asio::executor_work_guard<asio::io_context::executor_type> guard;
    asio::signal_set signals;
    std::shared_ptr<stop_signal> stop_flag = std::make_shared<stop_signal>();
    std::unique_ptr<host_connection> conn;  // outlives the slots' links (members die in reverse order)
    std::vector<std::unique_ptr<slot>> slots;
    bool stopping = false;  // io thread only

    void arm(slot& s) {
        if (stopping) return;
        s.timer->expires_at(s.agent->next_wake());
        s.timer->async_wait([this, &s](const std::error_code& ec) {
            if (!ec) kick(s);
        });
    }

    void kick(slot& s) {
        if (stopping) return;
        if (s.busy) {
            s.again = true;
            return;
        }
        s.busy = true;
        s.timer->cancel();
        asio::post(pool, [this, &s] {
            try {
                s.agent->run_due();
            } catch (...) {
            }
            asio::post(io, [this, &s] { done(s); });
        });
    }

    void done(slot& s) {
        s.busy = false;
        if (stopping) return;
        if (s.again) {
            s.again = false;
            kick(s);
            return;
        }
        arm(s);
    }

    void begin_stop(const char* why) {
        if (stopping) return;
        spdlog::info("stopping ({}): finishing running work, then publishing offline status", why);
        stopping = true;
        stop_flag->request();
        signals.cancel();
        for (auto& s : slots) s->timer->cancel();
        guard.reset();
    }

    int run() {
        metrics::register_agent(graph::metric_endpoints());
        std::unique_ptr<metrics::endpoint> metrics_endpoint;  // stops when run() returns
        if (!opts.metrics_listen.empty()) {
            auto ep = metrics::endpoint::start(opts.metrics_listen);
            if (!ep) {
                spdlog::error("{}", ep.err().message);
                return 2;
            }
            metrics_endpoint = std::move(*ep);
        }
        if (opts.connection) {
            try {
                conn = std::make_unique<host_connection>(*opts.connection, tenants.size());
            } catch (const std::exception& e) {
                spdlog::error("host {}: MQTT client: {}", opts.connection->name, e.what());
                return 2;
            }
        }
        for (auto& cfg : tenants) {
            auto s = std::make_unique<slot>();
            const std::string key = cfg.tenant_key;
            std::unique_ptr<tenant_link> link;
            if (conn) {
                if (!opts.connection->grants(key)) {
                    spdlog::error("tenant {} ({}): not granted to host {}: its broker identity may only use the "
                                  "topics of the tenants in {} ('tenants'; make-broker --host-tenants); this tenant "
                                  "does not run, the others do",
                                  key, cfg.file.string(), opts.connection->name, opts.connection->file.string());
                    continue;
                }
                link = conn->link_for(key);
            }
            s->agent = std::make_unique<tenant_agent>(std::move(cfg), clk, stop_flag, opts.agent, std::move(link));
            s->timer = std::make_unique<asio::steady_timer>(io);
            slot* raw = s.get();
            auto st = s->agent->start([this, raw] { asio::post(io, [this, raw] { kick(*raw); }); });
            if (!st) {
                spdlog::error("{}; this tenant does not run, the others do", st.err().message);
                continue;
            }
            slots.push_back(std::move(s));
        }
        tenants.clear();
        metrics::agent_tenants(static_cast<std::int64_t>(slots.size()));
        if (slots.empty()) {
            spdlog::error("no tenant could be started");
            return 2;
        }
        if (conn) {
            // Every tenant's route exists before the first message can arrive.
            if (auto st = conn->connect(); !st) {
                spdlog::error("{}", st.err().message);
                return 2;
            }
            spdlog::info("running {} tenant(s) on {} worker thread(s), one MQTT connection as host {}", slots.size(),
                         std::max(1, opts.workers), opts.connection->name);
        } else {
            spdlog::info("running {} tenant(s) on {} worker thread(s)", slots.size(), std::max(1, opts.workers));
        }
        for (auto& s : slots) arm(*s);
        signals.async_wait([this](const std::error_code& ec, int sig) {
            if (!ec) begin_stop(sig == SIGTERM ? "SIGTERM" : "SIGINT");
        });
        io.run();
        pool.join();  // running work finishes (Graph waits are cut short; cycles abandon)

        // Offline status for every tenant, in parallel, bounded.
        std::mutex mu;
        std::condition_variable cv;
        std::size_t left = slots.size();
        for (auto& s : slots)
            s->agent->publish_offline([&] {
                std::lock_guard lock(mu);
                --left;
                cv.notify_all();
            });
        {
            std::unique_lock lock(mu);
            cv.wait_for(lock, std::chrono::seconds{5}, [&] { return left == 0; });
        }
        for (auto& s : slots) s->agent->close();
        if (conn) conn->disconnect(std::chrono::seconds{5});  // before the tenants (their handlers) go
        spdlog::info("stopped");
        return 0;
    }
};

host::host(std::vector<tenant_config> tenants, host_options opts, const clock& clk)
    : impl_(std::make_unique<impl>(std::move(tenants), opts, clk)) {}

host::~host() = default;

int host::run() { return impl_->run(); }

void host::stop() {
    asio::post(impl_->io, [this] { impl_->begin_stop("stop requested"); });
}

}  // namespace connguard::agent
