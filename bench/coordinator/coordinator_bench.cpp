// Coordinator benchmark (prints figures; never pass/fail):
//  1. the broker's forwarding rate of QoS 1 events (a) to a raw-socket MQTT 3.1.1 subscriber that
//     only counts PUBLISH packets and PUBACKs them (the broker's ceiling) and (b) to a counting
//     subscriber on the coordinator's client library (paho through common/mqtt_client.h);
//  2. the coordinator's sustained ingest: events committed in SQLite AND acknowledged to the
//     publisher (the IngestAck naming each one arrived), same broker, same publisher, same events,
//     in the same run; printed as ratios of (1a) and (1b);
//  3. latency from an agent's publish of a report to the alert reaching a subscriber (percentiles),
//     while another agent identity streams events at 1,000 events/s, and the WAL length meanwhile.
//
//  4. the same ingest as (2) with the store on PostgreSQL (a throwaway server from
//     tests/support/postgres.h, durable settings), as a ratio of (1a), (1b) and (2).
//
//   connguard-bench-coordinator [--events N] [--flips M] [--connections C] [--no-postgres]
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "common/envelope_codec.h"
#include "tests/support/report_fixtures.h"
#include "tests/coordinator/harness.h"
#include "tests/support/postgres.h"

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

/// A minimal MQTT 3.1.1 subscriber on a plain socket: counts PUBLISH packets and PUBACKs QoS 1 ones
/// (one write per read chunk). Costs the broker what any subscriber costs, itself almost nothing.
class raw_subscriber {
public:
    raw_subscriber(int port, const std::string& user, const std::string& password, const std::string& filter) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(0x7f000001);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("raw: connect");
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::string vh;
        vh += str("MQTT");
        vh += '\x04';
        vh += '\xC2';  // username, password, clean session
        vh += '\x00';
        vh += '\x3C';
        std::string pl = str("bench-raw-sub") + str(user) + str(password);
        send_packet('\x10', vh + pl);
        std::string sub;
        sub += '\x00';
        sub += '\x01';
        sub += str(filter);
        sub += '\x01';
        send_packet('\x82', sub);
        // CONNACK (4 bytes) + SUBACK (5 bytes)
        std::string in;
        char buf[64];
        while (in.size() < 9) {
            const auto n = ::read(fd_, buf, sizeof buf);
            if (n <= 0) throw std::runtime_error("raw: no CONNACK/SUBACK");
            in.append(buf, static_cast<std::size_t>(n));
        }
        if (in[0] != '\x20' || in[3] != '\x00') throw std::runtime_error("raw: connection refused");
        reader_ = std::thread([this] { read_loop(); });
    }
    ~raw_subscriber() {
        ::shutdown(fd_, SHUT_RDWR);
        if (reader_.joinable()) reader_.join();
        ::close(fd_);
    }
    int count() const { return got_.load(); }
    steady::time_point last() const {
        std::lock_guard lock(mu_);
        return last_;
    }

private:
    static std::string str(const std::string& s) {
        std::string out;
        out += static_cast<char>(s.size() >> 8);
        out += static_cast<char>(s.size() & 0xff);
        return out + s;
    }
    void send_packet(char type, const std::string& body) {
        std::string p(1, type);
        std::size_t len = body.size();
        do {
            char b = static_cast<char>(len % 128);
            len /= 128;
            if (len > 0) b = static_cast<char>(b | 0x80);
            p += b;
        } while (len > 0);
        p += body;
        (void)!::write(fd_, p.data(), p.size());
    }
    void read_loop() {
        std::vector<char> chunk(1 << 20);
        std::string buf;
        while (true) {
            const auto n = ::read(fd_, chunk.data(), chunk.size());
            if (n <= 0) return;
            buf.append(chunk.data(), static_cast<std::size_t>(n));
            std::string acks;
            std::size_t pos = 0;
            int publishes = 0;
            while (true) {
                if (buf.size() - pos < 2) break;
                std::size_t len = 0, mul = 1, i = pos + 1;
                bool complete = false;
                while (i < buf.size()) {
                    const auto b = static_cast<unsigned char>(buf[i++]);
                    len += (b & 127) * mul;
                    mul *= 128;
                    if ((b & 128) == 0) {
                        complete = true;
                        break;
                    }
                }
                if (!complete || buf.size() - i < len) break;
                const auto type = static_cast<unsigned char>(buf[pos]);
                if ((type >> 4) == 3) {
                    ++publishes;
                    if (((type >> 1) & 3) == 1) {
                        const auto tlen = (static_cast<unsigned char>(buf[i]) << 8) | static_cast<unsigned char>(buf[i + 1]);
                        acks += '\x40';
                        acks += '\x02';
                        acks += buf[i + 2 + static_cast<std::size_t>(tlen)];
                        acks += buf[i + 3 + static_cast<std::size_t>(tlen)];
                    }
                }
                pos = i + len;
            }
            buf.erase(0, pos);
            if (!acks.empty()) (void)!::write(fd_, acks.data(), acks.size());
            if (publishes > 0) {
                std::lock_guard lock(mu_);
                last_ = steady::now();
                got_ += publishes;
            }
        }
    }
    int fd_ = -1;
    std::thread reader_;
    std::atomic<int> got_{0};
    mutable std::mutex mu_;
    steady::time_point last_{};
};

/// An agent identity that keeps what it published until the coordinator's IngestAck names it.
struct acked_publisher {
    std::mutex mu;
    std::unordered_set<std::string> waiting;
    std::atomic<std::size_t> acked{0};
    steady::time_point last_ack{};
    mqtt::handler_result on_ack(const mqtt::message& m) {
        auto d = codec::decode(m.topic, m.payload);
        if (!d.ok() || !d.envelope.has_ingest_ack()) return mqtt::handler_result::handled;
        std::lock_guard lock(mu);
        for (const auto& id : d.envelope.ingest_ack().committed_ids())
            if (waiting.erase(id) > 0) {
                ++acked;
                last_ack = steady::now();
            }
        return mqtt::handler_result::handled;
    }
};

std::string envelope_id(const mqtt::message& m) {
    v1::Envelope e;
    return e.ParseFromString(m.payload) ? e.id() : std::string{};
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
    bool with_postgres = true;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--events" && i + 1 < argc) n = std::atoi(argv[++i]);
        else if (a == "--flips" && i + 1 < argc) flips = std::atoi(argv[++i]);
        else if (a == "--connections" && i + 1 < argc) connections = std::atoi(argv[++i]);
        else if (a == "--no-postgres") with_postgres = false;
        else {
            std::printf("usage: connguard-bench-coordinator [--events N] [--flips M] [--connections C] [--no-postgres]\n");
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

    // 1a. Broker forwarding to a raw-socket counting subscriber (the broker's ceiling).
    double raw_rate = 0;
    {
        raw_subscriber sub(d.broker().port(), "coordinator", d.broker().password("coordinator"),
                           topics::all_tenants_filter(topics::tenant_channel::events));
        auto pub = d.client("contoso", "-pub0");
        if (!pub->connect()) return 1;
        const auto t0 = steady::now();
        publish_all(*pub, events);
        eventually([&] { return sub.count() >= n; }, 120s);
        const double secs = std::chrono::duration<double>(sub.last() - t0).count();
        raw_rate = sub.count() / secs;
        std::printf("  broker -> raw-socket subscriber: %8.0f events/s (%d received in %.2f s)\n", raw_rate, sub.count(), secs);
    }

    // 1b. Broker forwarding to a counting subscriber (the coordinator's own credentials, not running).
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
        std::printf("  broker -> paho counting sub.  : %8.0f events/s (%d received in %.2f s)\n", forward_rate, got.load(), secs);
        sub->disconnect();
    }

    // 2. Coordinator ingest: committed AND acknowledged to the publisher (IngestAck).
    // `store` names the backend in the output; `client` keeps the publishers' ids apart.
    auto measure_ingest = [&](const char* store, const std::string& client) -> double {
        acked_publisher ap;
        for (const auto& m : events) ap.waiting.insert(envelope_id(m));
        auto pub = d.client("contoso", client);
        pub->subscribe(topics::acks("contoso"), [&](const mqtt::message& m) { return ap.on_ack(m); });
        if (!pub->connect()) return 0;
        const auto t0 = steady::now();
        publish_all(*pub, events);
        const bool all = eventually([&] { return ap.acked.load() >= static_cast<std::size_t>(n); }, 300s);
        steady::time_point end;
        {
            std::lock_guard lock(ap.mu);
            end = ap.last_ack;
        }
        const double secs = std::chrono::duration<double>(end - t0).count();
        const auto stored = d.count("SELECT count(*) FROM events");
        const double rate = static_cast<double>(ap.acked.load()) / secs;
        std::printf("  coordinator ingest on %-10s (committed + acknowledged): %8.0f events/s (%zu acknowledged, %lld stored, "
                    "in %.2f s%s)\n",
                    store, rate, ap.acked.load(), static_cast<long long>(stored), secs, all ? "" : ", INCOMPLETE");
        std::printf("  ratio ingest on %-10s / paho counting subscriber : %8.2f\n", store, forward_rate > 0 ? rate / forward_rate : 0.0);
        std::printf("  ratio ingest on %-10s / raw-socket subscriber    : %8.2f\n", store, raw_rate > 0 ? rate / raw_rate : 0.0);
        pub->disconnect();
        return rate;
    };
    d.start();
    const double sqlite_rate = measure_ingest("SQLite", "-pub2");

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
        // Background: another stream of events at 1,000 events/s (fresh ids) during the measurement.
        auto bg = d.client("contoso", "-bg");
        if (!bg->connect()) return 1;
        const auto bg_events = make_events(std::max(flips * 150, 1000));
        std::atomic<bool> bg_stop{false};
        std::atomic<int> bg_sent{0};
        std::thread background([&] {
            auto next = steady::now();
            for (const auto& m : bg_events) {
                if (bg_stop) break;
                next += 1ms;
                std::this_thread::sleep_until(next);
                if (bg->publish_async(m)) ++bg_sent;
            }
        });
        const auto bg_t0 = steady::now();
        // The WAL's length during part 3 (mxFrame, bytes 16-19 of the WAL-index header at the start of
        // the -shm file, sqlite.org/walformat.html): bounded by wal_checkpointer::backstop_pages.
        std::atomic<bool> shm_stop{false};
        std::atomic<unsigned> shm_max{0}, shm_last{0};
        std::thread shm_sampler([&] {
            const auto shm = d.db_path().string() + "-shm";
            while (!shm_stop) {
                if (FILE* f = std::fopen(shm.c_str(), "rb")) {
                    unsigned char h[64];
                    if (std::fread(h, 1, sizeof h, f) == sizeof h) {
                        unsigned mx;
                        std::memcpy(&mx, h + 16, 4);
                        shm_last = mx;
                        if (mx > shm_max) shm_max = mx;
                    }
                    std::fclose(f);
                }
                std::this_thread::sleep_for(5ms);
            }
        });
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
        bg_stop = true;
        background.join();
        shm_stop = true;
        shm_sampler.join();
        std::printf("  WAL length during part 3: max %u pages, at the end %u\n", shm_max.load(), shm_last.load());
        const double bg_secs = std::chrono::duration<double>(steady::now() - bg_t0).count();
        std::printf("  publish -> alert at subscriber: n=%zu p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms "
                    "(background stream %.0f events/s)\n",
                    ms.size(), percentile(ms, 50), percentile(ms, 90), percentile(ms, 99),
                    ms.empty() ? 0.0 : *std::max_element(ms.begin(), ms.end()), bg_sent.load() / bg_secs);
    }
    {
        // The WAL file keeps the size of its longest run (coordinator/wal_checkpointer.h).
        std::error_code ec;
        const auto wal = std::filesystem::file_size(d.db_path().string() + "-wal", ec);
        std::printf("  WAL file after the run: %.1f MiB\n", ec ? 0.0 : static_cast<double>(wal) / (1024.0 * 1024.0));
    }
    // 4. The same ingest on PostgreSQL (the store of several coordinators; a throwaway server with
    // durable settings, on this machine), same broker, same events, same run.
    if (with_postgres) {
        if (const auto why = test::postgres_server::unavailable_reason(); !why.empty()) {
            std::printf("  coordinator ingest on PostgreSQL: skipped (%s)\n", why.c_str());
        } else {
            test::postgres_server pg;
            d.stop();
            d.use_store_url(pg.create_database());
            d.start();
            const double pg_rate = measure_ingest("PostgreSQL", "-pub4");
            std::printf("  ratio ingest PostgreSQL / SQLite         : %8.2f\n", sqlite_rate > 0 ? pg_rate / sqlite_rate : 0.0);
            d.stop();
        }
    }
    d.stop();
    return 0;
}
