// libFuzzer target for codec::decode (DESIGN §10: bad payloads are rejected, never a crash).
// Input: "<topic>\n<payload bytes>", so the fuzzer explores topics and payloads together.
//
// Built two ways (tests/fuzz/CMakeLists.txt):
//  - fuzz_envelope_decode (clang, -fsanitize=fuzzer; CONNGUARD_BUILD_FUZZ=ON): run by tests/fuzz/run-fuzzers.
//  - fuzz_envelope_decode_replay (any compiler, under ctest; tests/fuzz/replay_main.h): the seeds
//    are a valid envelope of every body type on its topic.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <google/protobuf/stubs/logging.h>

#include "common/envelope_codec.h"

/// protobuf logs every invalid UTF-8 string it meets; the fuzzer meets millions.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int, const std::string&) {});
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const auto nl = in.find('\n');
    const std::string_view topic = nl == std::string_view::npos ? std::string_view{} : in.substr(0, nl);
    const std::string_view payload = nl == std::string_view::npos ? in : in.substr(nl + 1);
    const auto r = connguard::codec::decode(topic, payload);
    // Invariants: a rejection always says why; an accepted envelope has an id and a body.
    if (!r.ok() && r.detail.empty()) __builtin_trap();
    if (r.ok() && (r.envelope.id().empty() || r.envelope.body_case() == connguard::v1::Envelope::BODY_NOT_SET))
        __builtin_trap();
    return 0;
}

#ifdef CONNGUARD_FUZZ_REPLAY_MAIN
#include "common/topics.h"
#include "tests/fuzz/replay_main.h"

namespace {

using connguard::v1::Envelope;

std::vector<std::pair<std::string, std::string>> seeds() {
    connguard::manual_clock clk;
    std::vector<std::pair<std::string, std::string>> out;
    auto add = [&](const std::string& name, const std::string& topic, Envelope env) {
        out.emplace_back(name, topic + "\n" + connguard::codec::encode(env, clk));
    };
    using namespace connguard;
    Envelope e = codec::make_envelope("contoso", "agent/contoso");
    e.mutable_validation_report()->add_checks()->set_id("CG-CAP");
    add("validation_report", topics::validation("contoso"), e);
    e = codec::make_envelope("contoso", "agent/contoso");
    e.mutable_change_event()->set_subject_id("securityDefaults");
    add("change_event", topics::events("contoso"), e);
    e = codec::make_envelope("contoso", "agent/contoso");
    e.mutable_agent_status()->set_version("0.1.0");
    add("agent_status", topics::agent_status("contoso"), e);
    e = codec::make_envelope("contoso", "coordinator");
    e.mutable_agent_command()->set_command_id("c1");
    add("agent_command", topics::commands("contoso"), e);
    e = codec::make_envelope("contoso", "agent/contoso");
    e.mutable_command_result()->set_command_id("c1");
    add("command_result", topics::results("contoso"), e);
    e = codec::make_envelope("contoso", "coordinator");
    e.mutable_alert()->set_cause("status:FAIL");
    add("alert", topics::alert("critical", "contoso"), e);
    e = codec::make_envelope("contoso", "coordinator");
    e.mutable_task_view()->set_task_id("t1");
    add("task_view", topics::task("contoso", "t1"), e);
    e = codec::make_envelope("", "admin/alice");
    e.mutable_admin_request()->set_request_id("r1");
    add("admin_request", topics::admin_requests("alice"), e);
    e = codec::make_envelope("", "coordinator");
    e.mutable_admin_response()->set_request_id("r1");
    add("admin_response", topics::admin_responses("alice"), e);
    e = codec::make_envelope("", "coordinator");
    e.mutable_audit_checkpoint()->set_seq(42);
    add("audit_checkpoint", topics::audit_checkpoint(), e);
    return out;
}

bool accepted(const std::string& data) {
    const auto nl = data.find('\n');
    return connguard::codec::decode(std::string_view(data).substr(0, nl), std::string_view(data).substr(nl + 1)).ok();
}

}  // namespace

int main(int argc, char** argv) {
    LLVMFuzzerInitialize(&argc, &argv);
    return connguard::fuzz::replay_main(
        argc, argv,
        {"fuzz_envelope_decode_replay",
         "Replays inputs (\"<topic>\\n<payload>\") through codec::decode, the function the\n"
         "libFuzzer target fuzz_envelope_decode explores (tests/fuzz/run-fuzzers).\n",
         seeds(), accepted});
}
#endif
