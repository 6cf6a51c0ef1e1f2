// libFuzzer target for what attackers reach at the coordinator: any payload on any topic, decoded
// and handled by the engine against a real SQLite store (admin requests from a viewer and from
// approvers, forged reports, results and events). Input: "<topic>\n<payload bytes>".
//
// Invariants: nothing crashes, a handled envelope either commits or rolls back cleanly, and the
// audit log's hash chain still verifies afterwards (no input can break the record).
//
// Built like fuzz_envelope_decode (tests/fuzz/CMakeLists.txt): fuzz_coordinator_ingest with clang +
// libFuzzer (tests/fuzz/run-fuzzers), fuzz_coordinator_ingest_replay under ctest with the seeds.
// An admin request whose task id is "@task" is pointed at the store's pending task, so approvals,
// rejections and task views reach a real task instead of a miss.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <unistd.h>

#include <google/protobuf/stubs/logging.h>

#include "common/clock.h"
#include "common/envelope_codec.h"
#include "common/log.h"
#include "common/topics.h"
#include "coordinator/engine.h"
#include "coordinator/store.h"
#include "tests/support/report_fixtures.h"

namespace {

using namespace connguard;

struct world {
    std::filesystem::path dir;
    manual_clock clk;
    std::unique_ptr<coord::store> db;
    std::unique_ptr<coord::engine> eng;
    std::string pending_task;
    long inputs = 0;

    world() {
        dir = std::filesystem::temp_directory_path() / ("connguard-fuzz-ingest-" + std::to_string(::getpid()));
        reset();
    }
    ~world() {
        eng.reset();
        db.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }

    /// A fresh store with one tenant whose report made a task that waits for approval.
    void reset() {
        eng.reset();
        db.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
        std::filesystem::create_directories(dir);
        auto s = coord::store::open(dir / "coordinator.db");
        if (!s) __builtin_trap();
        db = std::move(*s);
        coord::engine_settings es;
        es.admins = {{"alice", coord::role::approver}, {"bob", coord::role::approver}, {"vera", coord::role::viewer}};
        eng = std::make_unique<coord::engine>(*db, clk, es);
        auto r = test::report(1, to_unix_ms(clk.now()));
        test::add_cap_fail(r, "pol-1", "2026-01-01T10:00:00Z");
        test::finish_overall(r);
        auto env = test::wrap("contoso", r);
        const std::string raw = codec::encode(env, clk);
        handle(topics::validation("contoso"), env, raw);
        auto tasks = db->tasks_of_tenant("contoso");
        pending_task = tasks && !tasks->empty() ? tasks->front().view.task_id() : "";
    }

    void handle(const std::string& topic, const v1::Envelope& env, const std::string& raw) {
        if (!db->begin()) __builtin_trap();
        auto r = eng->handle(topic, env, raw, "corr-1");
        if (r) {
            if (!db->commit()) __builtin_trap();
        } else {
            db->rollback();
        }
    }
};

world& the_world() {
    static world w;
    return w;
}

void point_at_pending_task(v1::Envelope& env, const std::string& task_id) {
    if (!env.has_admin_request()) return;
    auto* req = env.mutable_admin_request();
    if (req->has_approve() && req->approve().task_id() == "@task") req->mutable_approve()->set_task_id(task_id);
    if (req->has_reject() && req->reject().task_id() == "@task") req->mutable_reject()->set_task_id(task_id);
    if (req->has_show_task() && req->show_task().task_id() == "@task") req->mutable_show_task()->set_task_id(task_id);
}

}  // namespace

/// protobuf logs every invalid UTF-8 string it meets, and the engine logs every refusal: the
/// fuzzer meets millions.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int, const std::string&) {});
    connguard::log::init({.program = "fuzz_coordinator_ingest", .json = false, .level = "off", .file = ""});
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto& w = the_world();
    // A bounded store: the audit check below reads the whole log.
    if (++w.inputs % 2000 == 0) w.reset();
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const auto nl = in.find('\n');
    const std::string topic(nl == std::string_view::npos ? std::string_view{} : in.substr(0, nl));
    const std::string payload(nl == std::string_view::npos ? in : in.substr(nl + 1));
    auto d = codec::decode(topic, payload);
    if (!d.ok()) return 0;
    point_at_pending_task(d.envelope, w.pending_task);
    w.clk.advance(std::chrono::milliseconds{10});
    w.handle(topic, d.envelope, payload);
    auto v = w.db->verify_audit();
    if (!v || !v->ok()) __builtin_trap();
    return 0;
}

#ifdef CONNGUARD_FUZZ_REPLAY_MAIN
#include "tests/fuzz/replay_main.h"

namespace {

std::vector<std::pair<std::string, std::string>> seeds() {
    manual_clock clk;
    std::vector<std::pair<std::string, std::string>> out;
    auto add = [&](const std::string& name, const std::string& topic, v1::Envelope env) {
        out.emplace_back(name, topic + "\n" + codec::encode(env, clk));
    };
    auto admin = [&](const std::string& name, const std::string& who, const v1::AdminRequest& req) {
        auto env = codec::make_envelope("", "admin/" + who);
        *env.mutable_admin_request() = req;
        env.mutable_admin_request()->set_request_id("r-" + name);
        add(name, topics::admin_requests(who), env);
    };
    v1::AdminRequest req;
    req.mutable_list_tenants();
    admin("list_tenants", "vera", req);
    req.Clear();
    req.mutable_list_tasks();
    admin("list_tasks", "vera", req);
    req.Clear();
    req.mutable_show_task()->set_task_id("@task");
    admin("show_task", "vera", req);
    req.Clear();
    req.mutable_approve()->set_task_id("@task");
    req.mutable_approve()->set_plan_version(1);
    admin("approve_viewer", "vera", req);
    admin("approve_alice", "alice", req);
    admin("approve_bob", "bob", req);
    req.Clear();
    req.mutable_reject()->set_task_id("@task");
    req.mutable_reject()->set_reason("not now");
    admin("reject", "alice", req);
    req.Clear();
    req.mutable_query_audit()->set_verify(true);
    admin("query_audit", "vera", req);

    auto r = test::report(2, 1'800'000'000'000);
    test::add_cap_fail(r, "pol-2", "2026-02-01T10:00:00Z");
    test::finish_overall(r);
    add("report", topics::validation("contoso"), test::wrap("contoso", r));
    auto e = codec::make_envelope("contoso", "agent/contoso");
    e.mutable_command_result()->set_task_id("@task");
    e.mutable_command_result()->set_command_id("c1");
    e.mutable_command_result()->set_outcome(v1::COMMAND_OUTCOME_SUCCEEDED);
    add("command_result", topics::results("contoso"), e);
    e = codec::make_envelope("contoso", "agent/contoso");
    e.mutable_change_event()->set_kind(v1::CHANGE_KIND_SECURITY_DEFAULTS_DISABLED);
    e.mutable_change_event()->set_subject_id("securityDefaults");
    add("change_event", topics::events("contoso"), e);
    e = codec::make_envelope("contoso", "agent/contoso");
    e.mutable_agent_status()->set_version("0.1.0");
    e.mutable_agent_status()->set_state(v1::AGENT_STATE_ONLINE);
    add("agent_status", topics::agent_status("contoso"), e);
    return out;
}

bool accepted(const std::string& data) {
    const auto nl = data.find('\n');
    return codec::decode(std::string_view(data).substr(0, nl), std::string_view(data).substr(nl + 1)).ok();
}

}  // namespace

int main(int argc, char** argv) {
    LLVMFuzzerInitialize(&argc, &argv);
    return connguard::fuzz::replay_main(
        argc, argv,
        {"fuzz_coordinator_ingest_replay",
         "Replays inputs (\"<topic>\\n<payload>\") through codec::decode and the coordinator's engine on a\n"
         "real SQLite store, as the libFuzzer target fuzz_coordinator_ingest does (tests/fuzz/run-fuzzers).\n",
         seeds(), accepted});
}
#endif
