// libFuzzer target for the config files people write by hand (and tools generate): any bytes as
// an agent tenant config and as a coordinator config, through the real loaders (common/config.h,
// agent/core/agent_config.cpp, coordinator/config.cpp). Input: the file's bytes.
//
// Invariants: nothing crashes or throws, and a refused file always says why, naming the file.
// The secret files a config points to exist (mode 0600) so valid inputs get past them.
//
// Built like fuzz_envelope_decode (tests/fuzz/CMakeLists.txt): fuzz_config with clang + libFuzzer
// (tests/fuzz/run-fuzzers), fuzz_config_replay under ctest with the seeds.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "agent/core/agent_config.h"
#include "common/log.h"
#include "coordinator/config.h"

namespace {

std::filesystem::path work_dir() {
    static const std::filesystem::path dir = [] {
        auto d = std::filesystem::temp_directory_path() / ("connguard-fuzz-config-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        for (const char* secret : {"client-secret", "account-password", "broker-password"}) {
            std::ofstream(d / secret) << "fuzz-secret-value\n";
            ::chmod((d / secret).c_str(), 0600);
        }
        return d;
    }();
    return dir;
}

void expect_named_refusal(const connguard::error& e, const std::filesystem::path& file) {
    if (e.message.empty() || e.message.find(file.filename().string()) == std::string::npos) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    connguard::log::init({.program = "fuzz_config", .json = false, .level = "off", .file = ""});
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto dir = work_dir();
    const auto file = dir / "config.json";
    std::ofstream(file, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                   static_cast<std::streamsize>(size));
    try {
        if (auto a = connguard::agent::load_tenant_config(file); !a) expect_named_refusal(a.err(), file);
        if (auto c = connguard::coord::load_config(file); !c) expect_named_refusal(c.err(), file);
    } catch (...) {
        __builtin_trap();  // a loader reports, it never throws
    }
    return 0;
}

#ifdef CONNGUARD_FUZZ_REPLAY_MAIN
#include "tests/fuzz/replay_main.h"

int main(int argc, char** argv) {
    LLVMFuzzerInitialize(&argc, &argv);
    const std::vector<std::pair<std::string, std::string>> seeds = {
        {"agent.json", R"({"tenant":"contoso","azureTenantId":"6f1c9a52-3c1e-4b8e-9d4a-1a2b3c4d5e01",
"app":{"clientId":"3f2a7c10-5b8e-4d21-9a6f-0c1d2e3f4001","clientSecretFile":"client-secret"},
"account":{"upn":"svc@contoso.onmicrosoft.com","passwordFile":"account-password"},
"targets":{"resources":[{"appId":"00000002-0000-0ff1-ce00-000000000000","name":"EXO","scopes":["openid"]}],
"clientAppType":"mobileAppsAndDesktopClients","toolAppIds":["a"]},
"poll":{"intervalSeconds":300,"jitterSeconds":30},"signInLog":{"windowHours":24},
"broker":{"url":"tcp://127.0.0.1:1883","passwordFile":"broker-password"},"stateDir":"state"})"},
        {"coordinator.json", R"({"broker":{"url":"tcp://127.0.0.1:1883","username":"coordinator",
"passwordFile":"broker-password","clientId":"c"},"store":{"path":"c.db","synchronous":"normal"},
"approvers":{"alice":"approver","vera":"viewer"},"tasks":{"ttlSeconds":86400},
"alerts":{"webhooks":[{"name":"psa","url":"https://psa.example/h","format":"teams","minSeverity":"critical"}],
"retry":{"maxAttempts":3}},"log":{"level":"info"}})"},
    };
    // A seed is valid when the loader it was written for accepts it.
    auto loads = [](const std::string& text) {
        const auto file = work_dir() / "seed.json";
        std::ofstream(file, std::ios::trunc) << text;
        return connguard::agent::load_tenant_config(file).ok() || connguard::coord::load_config(file).ok();
    };
    return connguard::fuzz::replay_main(
        argc, argv,
        {"fuzz_config_replay",
         "Replays inputs (a config file's bytes) through the agent's and the coordinator's config\n"
         "loaders, as the libFuzzer target fuzz_config does (tests/fuzz/run-fuzzers).\n",
         seeds, loads});
}
#endif
