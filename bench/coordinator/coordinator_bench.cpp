// Coordinator benchmark (prints figures; never pass/fail):
//  1. the broker's forwarding rate of QoS 1 events to a subscriber that only counts;
//  2. the coordinator's sustained ingest (events durably committed in SQLite), same broker, same
//     publisher, same events, in the same run; printed as a ratio of (1);
//  3. latency from an agent's publish of a report to the alert reaching a subscriber (percentiles).
//
//   connguard-bench-coordinator [--events N] [--flips M] [--connections C]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/envelope_codec.h"
#include "tests/support/report_fixtures.h"
#include "tests/coordinator/harness.h"

using namespace connguard;
using namespace connguard::test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

std::vector<mqtt::message> make_events(int n) {
    std::vector<mqtt::message> out;
    out.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        auto env = codec::make_envelope("contoso", "agent/contoso");
        auto* ce = env.mutable_change_event();
        ce->set_kind(v1::CHANGE_KIND_CA_POLICY_UPDATED);
        ce->set_subject_id("6f8bd5c2-3f57-4f07-9a4c-" + std::to_string(100000000000 + i % 50));
        ce->set_subject_name("Require MFA for all users");
        ce->add_changed_fields("conditions.users.excludeUsers");
        ce->set_before(R"(["11111111-1111-1111-1111-111111111111"])");
        ce->set_after(R"(["11111111-1111-1111-1111-111111111111","22222222-2222-2222-2222-222222222222"])");
        ce->set_cycle(static_cast<std::uint64_t>(i));
        mqtt::message m;
        m.topic = topics::events("contoso");
        m.payload = codec::encode(env, system_clock::instance());
        m.qos = 1;
        out.push_back(std::move(m));
    }
    return out;
}

/// Publishes everything with the wrapper's in-flight window; returns when all were acknowledged.
void publish_all(mqtt::client& c, const std::vector<mqtt::message>& msgs) {
    std::atomic<std::size_t> done{0};
    for (const auto& m : msgs) {
        while (!c.publish_async(m, [&](status) { ++done; })) std::this_thread::sleep_for(1ms);
    }
    while (done.load() < msgs.size()) std::this_thread::sleep_for(1ms);
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto idx = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(idx, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
    int n = 20000, flips = 200, connections = 4;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--events" && i + 1 < argc) n = std::atoi(argv[++i]);
        else if (a == "--flips" && i + 1 < argc) flips = std::atoi(argv[++i]);
        else if (a == "--connections" && i + 1 < argc) connections = std::atoi(argv[++i]);
        else {
            std::printf("usage: connguard-bench-coordinator [--events N] [--flips M] [--connections C]\n");
            return a == "--help" || a == "-h" ? 0 : 2;
        }
    }
    connguard::test::broker_options bo;
    bo.tenants = {"contoso"};
    bo.admins = {"alice"};
    bo.subscribers = {"watcher"};
    deployment d(bo, {{"broker", {{"ingestConnections", connections}}}, {"log", {{"level", "info"}}}});
    const auto events = make_events(n);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std::printf("coordinator benchmark: %d events of %zu bytes, QoS 1, %d ingest connection(s)\n", n,
                events.front().payload.size(), connections);

    // 1. Broker forwarding to a counting subscriber (the coordinator's own credentials, not running).
    double forward_rate = 0;
    {
        auto sub = d.client("coordinator", "-count");
        std::atomic<int> got{0};
        steady::time_point first{}, last{};
        sub->subscribe(topics::all_tenants_filter(topics::tenant_channel::events), [&](const mqtt::message&) {
            const auto now = steady::now();
            if (got.fetch_add(1) == 0) first = now;
            last = now;
            return mqtt::handler_result::handled;
        });
        if (!sub->connect()) return 1;
        auto pub = d.client("contoso", "-pub1");
        if (!pub->connect()) return 1;
        const auto t0 = steady::now();
        publish_all(*pub, events);
        eventually([&] { return got.load() >= n; }, 120s);
        const double secs = std::chrono::duration<double>(last - t0).count();
        forward_rate = got.load() / secs;
        std::printf("  broker -> counting subscriber : %8.0f events/s (%d received in %.2f s)\n", forward_rate, got.load(), secs);
        sub->disconnect();
    }

    // 2. Coordinator ingest, durably committed.
    double ingest_rate = 0;
    {
        d.start();
        auto pub = d.client("contoso", "-pub2");
        if (!pub->connect()) return 1;
        const auto t0 = steady::now();
        publish_all(*pub, events);
        const bool all = eventually([&] { return d.count("SELECT count(*) FROM events") >= n; }, 300s);
        const double secs = std::chrono::duration<double>(steady::now() - t0).count();
        const auto stored = d.count("SELECT count(*) FROM events");
        ingest_rate = static_cast<double>(stored) / secs;
        std::printf("  coordinator ingest (committed): %8.0f events/s (%lld stored in %.2f s%s)\n", ingest_rate,
                    static_cast<long long>(stored), secs, all ? "" : ", INCOMPLETE");
        std::printf("  ratio ingest / broker forward : %8.2f\n", forward_rate > 0 ? ingest_rate / forward_rate : 0.0);
    }

    // 3. Latency: agent publishes a report that flips the status; time until the alert arrives.
    {
        auto watcher = d.client("watcher", "-lat");
        std::mutex mu;
        std::vector<steady::time_point> arrivals;
        watcher->subscribe(std::string(topics::root) + "/alerts/+/contoso", [&](const mqtt::message& m) {
            auto dec = codec::decode(m.topic, m.payload);
            if (dec.ok() && dec.envelope.alert().cause().rfind("status:", 0) == 0) {
                std::lock_guard lock(mu);
                arrivals.push_back(steady::now());
            }
            return mqtt::handler_result::handled;
        });
        if (!watcher->connect()) return 1;
        auto agent = d.client("contoso", "-lat");
        if (!agent->connect()) return 1;
        std::vector<double> ms;
        for (int i = 0; i < flips; ++i) {
            auto r = report(static_cast<std::uint64_t>(1000 + i), to_unix_ms(system_clock::instance().now()));
            if (i % 2 == 0) add_cap_fail(r, "pol-1", "2026-01-01T10:00:00Z");
            finish_overall(r);
            auto env = wrap("contoso", r);
            mqtt::message m;
            m.topic = topics::validation("contoso");
            m.payload = codec::encode(env, system_clock::instance());
            m.qos = 1;
            std::size_t before;
            {
                std::lock_guard lock(mu);
                before = arrivals.size();
            }
            const auto t0 = steady::now();
            if (!agent->publish_async(m)) continue;
            if (!eventually([&] {
                    std::lock_guard lock(mu);
                    return arrivals.size() > before;
                }, 10s))
                continue;
            std::lock_guard lock(mu);
            ms.push_back(std::chrono::duration<double, std::milli>(arrivals[before] - t0).count());
        }
        std::printf("  publish -> alert at subscriber: n=%zu p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                    ms.size(), percentile(ms, 50), percentile(ms, 90), percentile(ms, 99),
                    ms.empty() ? 0.0 : *std::max_element(ms.begin(), ms.end()));
    }
    d.stop();
    return 0;
}
