#pragma once
// The driver of every fuzz target's *_replay build (any compiler, run by ctest): it feeds inputs to
// the target's LLVMFuzzerTestOneInput without libFuzzer.
//
//   NAME --make-seeds DIR    writes the target's seed corpus (tests/fuzz/run-fuzzers starts from it)
//   NAME --self-test         each seed must be accepted by the code under test; then the seed, every
//                            truncation of it and every single-bit flip of it run without a crash
//   NAME FILE|DIR...         replays inputs (e.g. a crash artifact of libFuzzer)
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace connguard::fuzz {

struct replay_target {
    std::string name;         ///< the replay binary, for the usage line
    std::string description;  ///< what an input is and which code it goes through
    std::vector<std::pair<std::string, std::string>> seeds;  ///< (file name, bytes)
    std::function<bool(const std::string&)> seed_is_valid;    ///< the code under test accepts it
};

inline int run_input(const std::string& data) {
    return LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
}

inline void replay_path(const std::filesystem::path& p, int& count) {
    if (std::filesystem::is_directory(p)) {
        for (const auto& e : std::filesystem::directory_iterator(p)) replay_path(e.path(), count);
        return;
    }
    std::ifstream in(p, std::ios::binary);
    run_input(std::string((std::istreambuf_iterator<char>(in)), {}));
    ++count;
}

inline int replay_main(int argc, char** argv, const replay_target& t) {
    const std::string first = argc > 1 ? argv[1] : "--help";
    if (first == "--help" || first == "-h") {
        std::cout << "usage: " << t.name << " --make-seeds DIR | --self-test | FILE|DIR...\n" << t.description;
        return argc > 1 ? 0 : 2;
    }
    if (first == "--make-seeds") {
        if (argc < 3) {
            std::cerr << "--make-seeds needs a directory\n";
            return 2;
        }
        std::filesystem::create_directories(argv[2]);
        for (const auto& [name, data] : t.seeds)
            std::ofstream(std::filesystem::path(argv[2]) / name, std::ios::binary) << data;
        return 0;
    }
    if (first == "--self-test") {
        long variants = 0;
        for (const auto& [name, data] : t.seeds) {
            if (!t.seed_is_valid(data)) {
                std::cerr << "seed " << name << " is not accepted by the code under test\n";
                return 1;
            }
            run_input(data);
            for (std::size_t n = 0; n < data.size(); ++n, ++variants) run_input(data.substr(0, n));
            for (std::size_t i = 0; i < data.size(); ++i)
                for (int bit = 0; bit < 8; ++bit, ++variants) {
                    std::string m = data;
                    m[i] = static_cast<char>(m[i] ^ (1 << bit));
                    run_input(m);
                }
        }
        std::cout << t.seeds.size() << " seeds accepted; " << variants
                  << " truncated/mutated variants handled without a crash\n";
        return t.seeds.empty() ? 1 : 0;
    }
    int count = 0;
    for (int i = 1; i < argc; ++i) {
        if (!std::filesystem::exists(argv[i])) {
            std::cerr << argv[i] << ": no such file or directory\n";
            return 2;
        }
        replay_path(argv[i], count);
    }
    std::cout << "replayed " << count << " inputs without a crash\n";
    return 0;
}

}  // namespace connguard::fuzz
