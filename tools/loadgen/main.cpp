// connguard-loadgen: N agent identities publishing real envelopes (ValidationReports and
// ChangeEvents) over the secured broker, the way connguard-agent does (QoS 1, persistent sessions,
// own username = tenant key). Used by the end-to-end resilience tests (tests/e2e) to stream while
// the coordinator is killed or the broker restarted, and usable as a quick load tool.
//
//   connguard-loadgen --broker URL --secrets DIR --tenants t1,t2,... [options]
//
// Every tenant publishes --messages envelopes in order: every --report-every'th one is a
// ValidationReport (cycle 1, 2, ...) whose CG-CAP checks FAIL for --policies policies with the
// evidence the coordinator's plan builder needs (so each tenant gets one task per policy); the
// others are ChangeEvents. Envelope ids are deterministic (sha256 of tenant, run id, sequence), so a
// restarted loadgen with the same --run-id republishes the same ids (the coordinator must dedupe).
//
// --ids-out FILE gets one line "ENVELOPE_ID<TAB>TENANT<TAB>event|report<TAB>CYCLE" per message
// before it is published. Like an agent, it keeps every message until the coordinator's IngestAck
// (tenants/{t}/acks) names it, and re-publishes it (same id) after --ack-timeout-s and after a
// reconnect. Exit 0 once every message was acknowledged by the coordinator (committed; within
// --flush-timeout-s after the last publish; publishes while the broker is away are buffered on disk
// under --persistence-dir and flushed on reconnect), 1 when some were not or were refused, 2 on bad
// usage.
// Without --interval-ms it publishes unpaced: each identity as fast as its un-acknowledged window
// allows (and into its offline buffer while the broker is away).
// --progress-file FILE is rewritten (atomically) a few times a second with "ACKNOWLEDGED TOTAL"
// (acknowledged by the coordinator),
// so a test can act while the stream is in flow (e.g. restart the broker at 20 % acknowledged).
// The last line sums up: acknowledged, refused, publish errors, reconnects, and paho clients the
// MQTT client replaced after a publish failed on its first write (common/mqtt_client.h); a tenant
// whose envelopes were not all acknowledged gets a line of its own before it.
// A publish that fails at the broker (connection lost, broker killed) is not a failure of the run:
// the message stays kept until the coordinator's IngestAck names it and is re-published. The exit
// status is 0 only when every envelope was acknowledged as committed and none was refused.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <google/protobuf/util/time_util.h>

#include "common/atomic_file.h"
#include "common/check_ids.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/envelope_codec.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/mqtt_client.h"
#include "common/topics.h"

namespace {

using namespace connguard;
using namespace std::chrono_literals;

constexpr const char* usage_text =
    "usage: connguard-loadgen --broker URL --secrets DIR --tenants T1,T2,... [options]\n"
    "\n"
    "Publishes real ConnGuard envelopes as agent identities (username = tenant key, password in\n"
    "DIR/<tenant>, e.g. broker-config/make-broker's DIR/secrets).\n"
    "\n"
    "  --messages N          envelopes per tenant (default 100)\n"
    "  --report-every K      every K-th envelope is a ValidationReport, the rest ChangeEvents (default 10)\n"
    "  --policies P          CA policies failing in each report: one task per tenant and policy (default 1)\n"
    "  --interval-ms MS      pause between two envelopes of one tenant (default 0)\n"
    "  --run-id ID           part of every envelope id; the same run id republishes the same ids (default: random)\n"
    "  --ids-out FILE        write ID<TAB>TENANT<TAB>event|report<TAB>CYCLE per envelope before publishing it\n"
    "  --progress-file FILE  rewrite FILE with \"ACKNOWLEDGED TOTAL\" a few times a second\n"
    "  --persistence-dir D   on-disk offline buffer (one folder per tenant below D)\n"
    "  --flush-timeout-s S   how long to wait for outstanding acknowledgements at the end (default 120)\n"
    "  --ack-timeout-s S     re-publish a message the coordinator has not acknowledged after S s (default 10)\n"
    "  --client-prefix P     MQTT client id prefix (default loadgen-)\n"
    "  --help\n"
    "\n"
    "Exit 0: every envelope acknowledged by the coordinator (IngestAck after its commit); 1: some were\n"
    "not, or were refused; 2: bad usage.\n";

struct options {
    std::string broker, secrets, run_id, ids_out, progress_file, persistence_dir, client_prefix = "loadgen-";
    std::vector<std::string> tenants;
    int messages = 100, report_every = 10, policies = 1, interval_ms = 0, flush_timeout_s = 120, ack_timeout_s = 10;
};

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

std::optional<options> parse(int argc, char** argv, std::string& error) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
            return argv[++i];
        };
        auto number = [&](int min) {
            const auto v = value();
            char* end = nullptr;
            const long n = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || n < min || n > 100000000)
                throw std::invalid_argument(k + " needs a number >= " + std::to_string(min) + ", got '" + v + "'");
            return static_cast<int>(n);
        };
        try {
            if (k == "--broker") o.broker = value();
            else if (k == "--secrets") o.secrets = value();
            else if (k == "--tenants") o.tenants = split(value());
            else if (k == "--messages") o.messages = number(1);
            else if (k == "--report-every") o.report_every = number(1);
            else if (k == "--policies") o.policies = number(0);
            else if (k == "--interval-ms") o.interval_ms = number(0);
            else if (k == "--run-id") o.run_id = value();
            else if (k == "--ids-out") o.ids_out = value();
            else if (k == "--progress-file") o.progress_file = value();
            else if (k == "--persistence-dir") o.persistence_dir = value();
            else if (k == "--flush-timeout-s") o.flush_timeout_s = number(1);
            else if (k == "--ack-timeout-s") o.ack_timeout_s = number(1);
            else if (k == "--client-prefix") o.client_prefix = value();
            else {
                error = "unknown argument '" + k + "'";
                return std::nullopt;
            }
        } catch (const std::invalid_argument& e) {
            error = e.what();
            return std::nullopt;
        }
    }
    if (o.broker.empty()) error = "missing --broker URL";
    else if (o.secrets.empty()) error = "missing --secrets DIR";
    else if (o.tenants.empty()) error = "missing --tenants T1,T2,...";
    for (const auto& t : o.tenants)
        if (error.empty() && !topics::valid_tenant_key(t)) error = "'" + t + "' is not a tenant key";
    if (!error.empty()) return std::nullopt;
    if (o.run_id.empty()) o.run_id = new_uuid();
    return o;
}

/// A report like agent/checks writes for a tenant whose CA policies require MFA for the account.
v1::ValidationReport make_report(const std::string& tenant, std::uint64_t cycle, int policies) {
    v1::ValidationReport r;
    r.set_azure_tenant_id("00000000-0000-4000-8000-" + sha256_hex(tenant).substr(0, 12));
    r.set_account_upn("svc-connguard@" + tenant + ".example");
    r.set_account_object_id("a0000000-0000-4000-8000-" + sha256_hex("user|" + tenant).substr(0, 12));
    r.set_cycle(cycle);
    *r.mutable_collected_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
    auto* ok = r.add_checks();
    ok->set_id(checks::check_account);
    ok->set_status(v1::CHECK_STATUS_OK);
    ok->set_reason("the connection account exists and is enabled");
    for (int p = 1; p <= policies; ++p) {
        const std::string id = "00000000-0000-4000-9000-" + std::string(12 - std::to_string(p).size(), '0') + std::to_string(p);
        const std::string name = "CA" + std::to_string(100 + p) + "-Require-MFA";
        auto* c = r.add_checks();
        c->set_id(checks::check_cap);
        c->set_subject(id);
        c->set_status(v1::CHECK_STATUS_FAIL);
        c->set_reason("policy '" + name + "' requires MFA for the account's non-interactive sign-in");
        auto ev = [&](const std::string& kind, const std::string& ename, const std::string& detail) {
            auto* e = c->add_evidence();
            e->set_kind(kind);
            e->set_id(id);
            e->set_name(ename);
            e->set_detail(detail);
        };
        ev("policy", name, "grantControls: mfa");
        ev("policy.modifiedDateTime", "", "2025-01-01T10:00:00Z");
        ev("policy.excludeUsers", "", "[]");
        ev("policy.includeUsers", "", R"(["group-staff"])");
        ev("policy.grant", "", "mfa");
        auto* s = c->add_remediations();
        s->set_kind(v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
        s->set_target_id(id);
        s->set_target_name(name);
        s->set_summary("exclude the account from '" + name + "'");
        auto* x = s->mutable_plan()->mutable_exclude_from_ca_policy();
        s->mutable_plan()->set_kind(v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY);
        x->set_policy_id(id);
        x->set_policy_name(name);
        x->set_user_id(r.account_object_id());
        x->set_user_principal_name(r.account_upn());
        x->set_expected_modified_date_time("2025-01-01T10:00:00Z");
        x->add_exclude_users_after(r.account_object_id());
        x->add_include_users("group-staff");
        x->add_grant_controls("mfa");
    }
    r.set_overall(policies > 0 ? v1::CHECK_STATUS_FAIL : v1::CHECK_STATUS_OK);
    return r;
}

struct tenant_run {
    std::string tenant;
    std::unique_ptr<mqtt::client> client;
    std::atomic<int> acked{0};        ///< named as committed by the coordinator's IngestAck
    std::atomic<int> refused{0};      ///< refused for good by the coordinator (IngestAck)
    std::atomic<int> publish_errors{0};  ///< publishes that failed at the broker; kept, re-published
    std::atomic<int> republished{0};
    struct kept {
        mqtt::message m;
        std::chrono::steady_clock::time_point sent_at;
    };
    std::mutex mu;
    std::unordered_map<std::string, kept> unacked;  ///< envelope id -> message, until the IngestAck
    std::uint64_t reconnects = 0;                   ///< at the last re-publish pass
};

/// The IngestAck handler: drops what the coordinator committed or refused for good.
mqtt::handler_result on_ack(tenant_run& r, const mqtt::message& m) {
    auto d = codec::decode(m.topic, m.payload);
    if (!d.ok() || !d.envelope.has_ingest_ack()) return mqtt::handler_result::handled;
    std::lock_guard lock(r.mu);
    for (const auto& id : d.envelope.ingest_ack().committed_ids())
        if (r.unacked.erase(id) > 0) r.acked.fetch_add(1);
    for (const auto& x : d.envelope.ingest_ack().refused())
        if (r.unacked.erase(x.envelope_id()) > 0) {
            r.refused.fetch_add(1);
            std::fprintf(stderr, "connguard-loadgen: tenant %s: envelope %s refused by the coordinator: %s\n",
                         r.tenant.c_str(), x.envelope_id().c_str(), x.reason().c_str());
        }
    return mqtt::handler_result::handled;
}

/// Re-publishes what the coordinator did not acknowledge within the timeout, or everything after a reconnect.
void republish_due(tenant_run& r, std::chrono::seconds timeout) {
    if (!r.client->connected()) return;
    std::vector<mqtt::message> due;
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(r.mu);
        const auto reconnects = r.client->stats().reconnects;
        const bool reconnected = reconnects != r.reconnects;
        r.reconnects = reconnects;
        for (auto& [id, k] : r.unacked)
            if (reconnected || now - k.sent_at >= timeout) {
                due.push_back(k.m);
                k.sent_at = now;
            }
    }
    for (const auto& m : due)
        if (r.client->publish_async(m)) r.republished.fetch_add(1);
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)
        if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
            std::cout << usage_text;
            return 0;
        }
    std::string error;
    auto opts = parse(argc, argv, error);
    if (!opts) {
        std::cerr << "connguard-loadgen: " << error << "\n\n" << usage_text;
        return 2;
    }
    log::init({.program = "connguard-loadgen", .json = false, .level = "warn", .file = ""});
    const auto& o = *opts;

    std::ofstream ids;
    std::mutex ids_mu;
    if (!o.ids_out.empty()) {
        ids.open(o.ids_out, std::ios::trunc);
        if (!ids) {
            std::cerr << "connguard-loadgen: cannot write --ids-out '" << o.ids_out << "'\n";
            return 2;
        }
    }

    std::vector<std::unique_ptr<tenant_run>> runs;
    for (const auto& t : o.tenants) {
        auto pw = config::read_secret_file(std::filesystem::path(o.secrets) / t);
        if (!pw) {
            std::cerr << "connguard-loadgen: tenant " << t << ": " << pw.err().message << "\n";
            return 2;
        }
        auto b = mqtt::client_options_builder()
                     .server_uri(o.broker)
                     .client_id(o.client_prefix + t)
                     .credentials(t, *pw)
                     .clean_start(false)
                     .reconnect(100ms, 2000ms)
                     .max_buffered(1000000)
                     .max_inflight(20);
        if (!o.persistence_dir.empty()) b.persistence_dir((std::filesystem::path(o.persistence_dir) / t).string());
        auto r = std::make_unique<tenant_run>();
        r->tenant = t;
        r->client = std::make_unique<mqtt::client>(b.finalize());
        auto* rp = r.get();
        r->client->subscribe(topics::acks(t), [rp](const mqtt::message& m) { return on_ack(*rp, m); });
        runs.push_back(std::move(r));
    }
    // Connect every identity at once (a connect takes up to a second of paho's polling).
    {
        std::atomic<bool> connect_failed{false};
        std::vector<std::thread> connecting;
        for (auto& r : runs)
            connecting.emplace_back([&r, &connect_failed] {
                if (auto st = r->client->connect(30s); !st) {
                    std::cerr << "connguard-loadgen: tenant " << r->tenant << ": cannot connect: " << st.err().message << "\n";
                    connect_failed = true;
                }
            });
        for (auto& c : connecting) c.join();
        if (connect_failed) return 1;
    }

    // --progress-file: how many envelopes the broker acknowledged so far, while the stream runs.
    const long total_messages = static_cast<long>(runs.size()) * o.messages;
    const auto write_progress = [&] {
        long acked = 0;
        for (auto& r : runs) acked += r->acked.load();
        // Best effort: a reader that misses one update sees the next.
        (void)write_file_atomic(o.progress_file, std::to_string(acked) + " " + std::to_string(total_messages) + "\n");
    };
    std::atomic<bool> stop_progress{false};
    std::thread progress;
    if (!o.progress_file.empty())
        progress = std::thread([&] {
            while (!stop_progress) {
                write_progress();
                std::this_thread::sleep_for(200ms);
            }
        });

    // One thread per 10 tenants publishes round-robin, so every tenant streams at the same time.
    const std::size_t per_thread = 10;
    std::vector<std::thread> threads;
    for (std::size_t first = 0; first < runs.size(); first += per_thread) {
        threads.emplace_back([&, first] {
            const std::size_t last = std::min(runs.size(), first + per_thread);
            std::uint64_t cycle[per_thread] = {};
            for (int i = 0; i < o.messages; ++i) {
                for (std::size_t k = first; k < last; ++k) {
                    auto& r = *runs[k];
                    const bool is_report = (i % o.report_every) == 0;
                    auto env = codec::make_envelope(r.tenant, "agent/" + r.tenant);
                    env.set_id(sha256_hex(r.tenant + "|" + o.run_id + "|" + std::to_string(i)).substr(0, 32));
                    std::uint64_t c = 0;
                    std::string topic;
                    if (is_report) {
                        c = ++cycle[k - first];
                        *env.mutable_validation_report() = make_report(r.tenant, c, o.policies);
                        topic = topics::validation(r.tenant);
                    } else {
                        auto* ce = env.mutable_change_event();
                        ce->set_kind(v1::CHANGE_KIND_CA_POLICY_STATE_CHANGED);
                        ce->set_subject_id("00000000-0000-4000-a000-" + std::string(12 - std::to_string(i % 7).size(), '0') +
                                           std::to_string(i % 7));
                        ce->set_cycle(cycle[k - first]);
                        ce->set_index(static_cast<std::uint32_t>(i));
                        ce->set_before("\"disabled\"");
                        ce->set_after("\"enabled\"");
                        topic = topics::events(r.tenant);
                    }
                    if (ids.is_open()) {
                        std::lock_guard lock(ids_mu);
                        ids << env.id() << '\t' << r.tenant << '\t' << (is_report ? "report" : "event") << '\t' << c << '\n';
                        ids.flush();
                    }
                    auto m = mqtt::make_message(topic, codec::encode(env, system_clock::instance()), 1, is_report);
                    {
                        std::lock_guard lock(r.mu);
                        r.unacked[env.id()] = {m, std::chrono::steady_clock::now()};
                    }
                    auto st = r.client->publish_async(m, [&r](status s) {
                        if (!s && s.err().code != "mqtt.buffered") r.publish_errors.fetch_add(1);
                    });
                    if (!st && st.err().code != "mqtt.buffered") {
                        r.publish_errors.fetch_add(1);
                        std::cerr << "connguard-loadgen: tenant " << r.tenant << " message " << i << ": " << st.err().message
                                  << "\n";
                    }
                }
                if (o.interval_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.interval_ms));
            }
        });
    }
    // Re-publishing runs beside the stream (a long stream outlives a coordinator restart).
    std::atomic<bool> publishing_done{false};
    std::thread resender([&] {
        while (!publishing_done) {
            for (auto& r : runs) republish_due(*r, std::chrono::seconds(o.ack_timeout_s));
            std::this_thread::sleep_for(200ms);
        }
    });
    for (auto& t : threads) t.join();

    bool all = true;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.flush_timeout_s);
    const auto left_unacked = [&] {
        std::size_t n = 0;
        for (auto& r : runs) {
            std::lock_guard lock(r->mu);
            n += r->unacked.size();
        }
        return n;
    };
    while (left_unacked() > 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
    publishing_done = true;
    resender.join();
    if (left_unacked() > 0) all = false;
    for (auto& r : runs) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (!r->client->flush(std::max(left, std::chrono::milliseconds{1}))) all = false;
    }
    if (progress.joinable()) {
        stop_progress = true;
        progress.join();
        write_progress();
    }
    long total_acked = 0, total_refused = 0, total_publish_errors = 0, total_reconnects = 0, total_replaced = 0,
         total_republished = 0;
    for (auto& r : runs) {
        const auto s = r->client->stats();
        if (s.pending != 0) all = false;
        std::size_t unacked = 0;
        {
            std::lock_guard lock(r->mu);
            unacked = r->unacked.size();
        }
        if (s.pending != 0 || r->refused.load() != 0 || unacked != 0)
            std::printf("connguard-loadgen: tenant %s: %d of %d acknowledged by the coordinator, %zu not, %llu still "
                        "pending at the broker, %d refused, %d publish errors, %s\n",
                        r->tenant.c_str(), r->acked.load(), o.messages, unacked,
                        static_cast<unsigned long long>(s.pending), r->refused.load(), r->publish_errors.load(),
                        s.connected ? "connected" : "NOT connected");
        total_acked += r->acked.load();
        total_republished += r->republished.load();
        total_refused += r->refused.load();
        total_publish_errors += r->publish_errors.load();
        total_reconnects += static_cast<long>(s.reconnects);
        total_replaced += static_cast<long>(s.paho_replaced);
        r->client->disconnect();
    }
    if (total_refused > 0) all = false;
    std::printf("connguard-loadgen: %zu tenants, %d envelopes each, %ld acknowledged, %ld refused, %ld publish errors "
                "(re-published), %ld reconnects, %ld paho clients replaced, %ld re-published%s\n",
                runs.size(), o.messages, total_acked, total_refused, total_publish_errors, total_reconnects,
                total_replaced, total_republished,
                all ? "" : " - NOT everything was acknowledged");
    return all ? 0 : 1;
}
