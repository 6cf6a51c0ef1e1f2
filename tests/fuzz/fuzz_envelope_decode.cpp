// libFuzzer target for codec::decode (DESIGN §10: bad payloads are rejected, never a crash).
// Input: "<topic>\n<payload bytes>", so the fuzzer explores topics and payloads together.
//
// Built two ways (tests/fuzz/CMakeLists.txt):
//  - fuzz_envelope_decode (clang, -fsanitize=fuzzer; CONNGUARD_BUILD_FUZZ=ON): run by tests/fuzz/run-fuzzers.
//  - fuzz_envelope_decode_replay (any compiler, under ctest): `--make-seeds DIR` writes a seed corpus
//    (a valid envelope of every body type on its topic), `--self-test` makes the seeds and replays
//    them plus every truncation and single-byte mutation of each, `FILE|DIR...` replays inputs.
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
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

#include "common/topics.h"

namespace {

namespace fs = std::filesystem;
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
    return out;
}

int run(const std::string& data) {
    return LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
}

bool accepted(const std::string& data) {
    const auto nl = data.find('\n');
    return connguard::codec::decode(std::string_view(data).substr(0, nl), std::string_view(data).substr(nl + 1)).ok();
}

int replay_path(const fs::path& p, int& count) {
    if (fs::is_directory(p)) {
        for (const auto& e : fs::directory_iterator(p)) replay_path(e.path(), count);
        return 0;
    }
    std::ifstream in(p, std::ios::binary);
    run(std::string((std::istreambuf_iterator<char>(in)), {}));
    ++count;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    LLVMFuzzerInitialize(&argc, &argv);
    const std::string first = argc > 1 ? argv[1] : "--help";
    if (first == "--help" || first == "-h") {
        std::cout << "usage: fuzz_envelope_decode_replay --make-seeds DIR | --self-test | FILE|DIR...\n"
                     "Replays inputs (\"<topic>\\n<payload>\") through codec::decode, the function the\n"
                     "libFuzzer target fuzz_envelope_decode explores (tests/fuzz/run-fuzzers).\n";
        return argc > 1 ? 0 : 2;
    }
    if (first == "--make-seeds") {
        if (argc < 3) {
            std::cerr << "--make-seeds needs a directory\n";
            return 2;
        }
        fs::create_directories(argv[2]);
        for (const auto& [name, data] : seeds()) std::ofstream(fs::path(argv[2]) / name, std::ios::binary) << data;
        return 0;
    }
    if (first == "--self-test") {
        int valid = 0, variants = 0;
        for (const auto& [name, data] : seeds()) {
            if (!accepted(data)) {
                std::cerr << "seed " << name << " does not decode\n";
                return 1;
            }
            ++valid;
            for (std::size_t n = 0; n < data.size(); ++n, ++variants) run(data.substr(0, n));
            for (std::size_t i = 0; i < data.size(); ++i)
                for (int bit = 0; bit < 8; ++bit, ++variants) {
                    std::string m = data;
                    m[i] = static_cast<char>(m[i] ^ (1 << bit));
                    run(m);
                }
        }
        std::cout << valid << " seeds decode; " << variants << " truncated/mutated variants handled without a crash\n";
        return valid == 9 ? 0 : 1;
    }
    int count = 0;
    for (int i = 1; i < argc; ++i) {
        if (!fs::exists(argv[i])) {
            std::cerr << argv[i] << ": no such file or directory\n";
            return 2;
        }
        replay_path(argv[i], count);
    }
    std::cout << "replayed " << count << " inputs without a crash\n";
    return 0;
}
#endif
