#include "agent/core/host.h"

#include <spdlog/spdlog.h>

#include <asio.hpp>
#include <condition_variable>
#include <csignal>
#include <map>
#include <set>
#include <mutex>

#include "agent/core/rescan.h"
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
        bool removed = false;  // its file or grant is gone: no more work; closed once idle (io thread only)
        std::filesystem::path file;
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
    // Slots are never destroyed before the end of run(): timers, posted work and in-flight MQTT
    // handlers may still name a removed one.
    std::vector<std::unique_ptr<slot>> slots;
    std::map<std::filesystem::path, slot*> active;  // running tenants by file (io thread only)
    std::map<std::filesystem::path, std::string> said;  // last problem logged per file (no repeats)
    // Files that did not start, with their stamp then: retried only once they change (or the
    // host's tenants list does). Pruned to the folder's files on each full scan.
    std::map<std::filesystem::path, seen_stamp> tried;
    // What the folder and the host config stamped at the last full scan that read them (nullopt:
    // none yet, or it failed): while they and `tried` are unchanged a rescan reads nothing (rescan.h).
    std::optional<seen_stamp> dir_seen, host_config_seen;
    std::unique_ptr<asio::steady_timer> rescan_timer;
    bool stopping = false;  // io thread only

    void arm(slot& s) {
        if (stopping || s.removed) return;
        s.timer->expires_at(s.agent->next_wake());
        s.timer->async_wait([this, &s](const std::error_code& ec) {
            if (!ec) kick(s);
        });
    }

    void kick(slot& s) {
        if (stopping || s.removed) return;
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
        if (s.removed) {
            s.agent->close();
            return;
        }
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
        if (rescan_timer) rescan_timer->cancel();
        guard.reset();
    }

    /// Starts one tenant (io thread, or before io runs). Returns a problem to log, empty on success.
    /// A tenant added at runtime starts its first cycle at once (`at_startup` spreads it, as configured).
    std::string start_tenant(tenant_config cfg, bool at_startup) {
        auto s = std::make_unique<slot>();
        const std::string key = cfg.tenant_key;
        const auto file = cfg.file;
        std::unique_ptr<tenant_link> link;
        if (conn) {
            if (!opts.connection->grants(key)) {
                std::string why = "tenant " + key + " (" + file.string() + "): not granted to host " +
                                  opts.connection->name + ": its broker identity may only use the topics of the tenants in " +
                                  opts.connection->file.string() +
                                  " ('tenants'; make-broker --host-tenants, connguardctl tenant add --host-config); this "
                                  "tenant does not run, the others do";
                if (said[file] != why) spdlog::error("{}", why);
                said[file] = why;
                return why;
            }
            link = conn->link_for(key);
        }
        s->file = file;
        auto agent_opts = opts.agent;
        if (!at_startup) agent_opts.spread_first_cycle = false;
        s->agent = std::make_unique<tenant_agent>(std::move(cfg), clk, stop_flag, agent_opts, std::move(link));
        s->timer = std::make_unique<asio::steady_timer>(io);
        slot* raw = s.get();
        auto st = s->agent->start([this, raw] { asio::post(io, [this, raw] { kick(*raw); }); });
        if (!st) {
            std::string why = st.err().message + "; this tenant does not run, the others do";
            if (said[file] != why) spdlog::error("{}", why);
            said[file] = why;
            return why;  // as at start-up: the slot goes (its link's routes with it)
        }
        said.erase(file);
        active[file] = raw;
        slots.push_back(std::move(s));
        return {};
    }

    void retire(slot& s, const std::string& why) {
        spdlog::info("tenant {}: stopped ({}); the other tenants go on", s.agent->key(), why);
        s.removed = true;
        s.timer->cancel();
        if (!s.busy) s.agent->close();  // else done() closes it
        active.erase(s.file);
        metrics::agent_tenants(static_cast<std::int64_t>(active.size()));
    }

    /// Why a rescan must read the folder and host config again; empty: nothing changed (rescan.h).
    /// A running tenant's file is not looked at: an edit of it takes effect at a restart, as before.
    std::string rescan_reason(const file_stamp& dir_now, const std::optional<file_stamp>& host_now) const {
        if (changed_since(dir_seen, dir_now)) return opts.config_dir.string() + " (or not seen unchanged yet)";
        if (host_now && changed_since(host_config_seen, *host_now)) return opts.host_config_file.string() + " (or not seen unchanged yet)";
        // Files that did not start: few, and an edit in place does not touch the folder's stamp.
        for (const auto& [file, seen] : tried)
            if (changed_since(seen, stamp_of(file))) return file.string() + ", which did not start before";
        return {};
    }

    /// Runtime onboarding: new tenant files start, removed ones stop (host_options::config_dir).
    void rescan() {
        if (stopping) return;
        try {
            // Stamps first, then the reads: a change during the reads shows as a newer stamp (or the
            // same tick, which changed_since() does not trust) at the next rescan.
            const auto observed = wall_now();
            const bool host_file = conn && !opts.host_config_file.empty();
            const auto dir_now = stamp_of(opts.config_dir);
            const auto host_now = host_file ? std::optional(stamp_of(opts.host_config_file)) : std::nullopt;
            if (const auto why = rescan_reason(dir_now, host_now); why.empty()) {
                spdlog::debug("rescan: nothing changed; {} not listed{}", opts.config_dir.string(),
                              host_file ? ", " + opts.host_config_file.string() + " not re-read" : std::string());
            } else {
                spdlog::debug("rescan: reading again, changed: {}", why);
                // Forgotten until the reads below succeed: a failed or interrupted scan is redone.
                dir_seen.reset();
                host_config_seen.reset();
                scan(observed, dir_now, host_now);
            }
        } catch (const std::exception& e) {
            spdlog::error("rescanning {}: {}", opts.config_dir.string(), e.what());
        }
        rescan_timer->expires_after(opts.rescan);
        rescan_timer->async_wait([this](const std::error_code& ec) {
            if (!ec) rescan();
        });
    }

    void scan(std::chrono::nanoseconds observed, const file_stamp& dir_now, const std::optional<file_stamp>& host_now) {
        if (host_now) {
            auto h = load_host_config(opts.host_config_file);
            if (!h) {
                if (said[opts.host_config_file] != h.err().message)
                    spdlog::error("host config (re-read, the previous one stays in force): {}", h.err().message);
                said[opts.host_config_file] = h.err().message;
            } else {
                said.erase(opts.host_config_file);
                if (opts.connection->tenants != h->tenants) tried.clear();
                opts.connection->tenants = h->tenants;
                // Only a good read is remembered: a bad file (or its password file) is re-read each time.
                host_config_seen = seen_stamp{*host_now, observed};
            }
        }
        std::set<std::filesystem::path> present;
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(opts.config_dir, ec))
            if (e.is_regular_file() && e.path().extension() == ".json") present.insert(e.path());
        if (ec) {
            spdlog::warn("rescanning {}: {}", opts.config_dir.string(), ec.message());
            return;
        }
        std::erase_if(tried, [&](const auto& t) { return !present.count(t.first); });
        std::vector<slot*> gone;
        for (auto& [file, s] : active)
            if (!present.count(file) || (conn && !opts.connection->grants(s->agent->key()))) gone.push_back(s);
        for (auto* s : gone)
            retire(*s, present.count(s->file) ? "no longer granted to host " + opts.connection->name
                                              : std::string("its config file is gone"));
        std::set<std::string> keys;
        for (auto& [file, s] : active) keys.insert(s->agent->key());
        for (const auto& file : present) {
            if (active.count(file)) continue;
            // Stamped before the load, as above: an edit during the load is seen next time.
            const seen_stamp stamp{stamp_of(file), wall_now()};
            if (auto t = tried.find(file); t != tried.end() && !changed_since(t->second, stamp.stamp)) continue;
            tried[file] = stamp;
            auto cfg = load_tenant_config(file, opts.load);
            if (!cfg) {
                if (said[file] != cfg.err().message) spdlog::error("{} (retried on the next rescan)", cfg.err().message);
                said[file] = cfg.err().message;
                continue;
            }
            if (keys.count(cfg->tenant_key)) {
                std::string why = file.string() + ": field 'tenant': '" + cfg->tenant_key + "' already runs";
                if (said[file] != why) spdlog::error("{}", why);
                said[file] = why;
                continue;
            }
            const std::string key = cfg->tenant_key;
            if (!start_tenant(std::move(*cfg), /*at_startup=*/false).empty()) continue;
            tried.erase(file);
            keys.insert(key);
            spdlog::info("tenant {}: added ({}), running without a restart", key, file.string());
            metrics::agent_tenants(static_cast<std::int64_t>(active.size()));
            arm(*active[file]);
        }
        dir_seen = seen_stamp{dir_now, observed};
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
        for (auto& cfg : tenants) (void)start_tenant(std::move(cfg), /*at_startup=*/true);
        tenants.clear();
        metrics::agent_tenants(static_cast<std::int64_t>(active.size()));
        if (active.empty()) {
            spdlog::error("no tenant could be started");
            return 2;
        }
        if (conn) {
            // Every tenant's route exists before the first message can arrive.
            if (auto st = conn->connect(); !st) {
                spdlog::error("{}", st.err().message);
                return 2;
            }
            spdlog::info("running {} tenant(s) on {} worker thread(s), one MQTT connection as host {}", active.size(),
                         std::max(1, opts.workers), opts.connection->name);
        } else {
            spdlog::info("running {} tenant(s) on {} worker thread(s)", active.size(), std::max(1, opts.workers));
        }
        for (auto& s : slots) arm(*s);
        if (!opts.config_dir.empty() && opts.rescan.count() > 0) {
            for (auto& s : slots)
                if (!s->removed) said.erase(s->file);
            rescan_timer = std::make_unique<asio::steady_timer>(io);
            rescan_timer->expires_after(opts.rescan);
            rescan_timer->async_wait([this](const std::error_code& ec) {
                if (!ec) rescan();
            });
        }
        signals.async_wait([this](const std::error_code& ec, int sig) {
            if (!ec) begin_stop(sig == SIGTERM ? "SIGTERM" : "SIGINT");
        });
        io.run();
        pool.join();  // running work finishes (Graph waits are cut short; cycles abandon)

        // Offline status for every tenant, in parallel, bounded.
        std::mutex mu;
        std::condition_variable cv;
        std::size_t left = 0;
        for (auto& s : slots) left += s->removed ? 0 : 1;
        for (auto& s : slots)
            if (!s->removed) s->agent->publish_offline([&] {
                std::lock_guard lock(mu);
                --left;
                cv.notify_all();
            });
        {
            std::unique_lock lock(mu);
            cv.wait_for(lock, std::chrono::seconds{5}, [&] { return left == 0; });
        }
        for (auto& s : slots)
            if (!s->removed) s->agent->close();
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
