#include "common/mqtt/held_store.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "common/atomic_file.h"

namespace connguard::mqtt::detail {
namespace {

constexpr std::string_view magic = "CGHELD1\n";

void put_field(std::string& out, const std::string& v) {
    const auto n = static_cast<std::uint32_t>(v.size());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    out += v;
}

bool get_field(std::string_view& in, std::string& v) {
    if (in.size() < 4) return false;
    std::uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
    in.remove_prefix(4);
    if (in.size() < n) return false;
    v.assign(in.substr(0, n));
    in.remove_prefix(n);
    return true;
}

}  // namespace

std::string encode_held(const message& m) {
    std::string rec(magic);
    put_field(rec, m.topic);
    put_field(rec, m.payload);
    put_field(rec, std::to_string(m.qos) + (m.retained ? "r" : "-"));
    put_field(rec, m.response_topic);
    put_field(rec, m.correlation_data);
    return rec;
}

std::optional<message> decode_held(std::string_view in) {
    if (!in.starts_with(magic)) return std::nullopt;
    in.remove_prefix(magic.size());
    message m;
    std::string flags;
    if (!get_field(in, m.topic) || !get_field(in, m.payload) || !get_field(in, flags) ||
        !get_field(in, m.response_topic) || !get_field(in, m.correlation_data) || flags.size() != 2)
        return std::nullopt;
    m.qos = flags[0] - '0';
    m.retained = flags[1] == 'r';
    return m;
}

held_store::held_store(const std::string& persistence_dir)
    : dir_(persistence_dir.empty() ? std::filesystem::path{} : std::filesystem::path(persistence_dir) / "held") {}

result<std::filesystem::path> held_store::keep(const message& m) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    // Names sort in arrival order: wall-clock ticks, then a per-process sequence number.
    char name[64];
    std::snprintf(name, sizeof name, "%020lld-%06llu.msg",
                  static_cast<long long>(std::chrono::system_clock::now().time_since_epoch().count()),
                  static_cast<unsigned long long>(++seq_));
    const auto path = dir_ / name;
    auto st = write_file_atomic(path, encode_held(m));
    if (!st) return st.err();
    return path;
}

std::vector<std::filesystem::path> held_store::list() const {
    std::vector<std::filesystem::path> files;
    if (!enabled()) return files;
    std::error_code ec;
    if (!std::filesystem::is_directory(dir_, ec)) return files;
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec))
        if (e.path().extension() == ".msg") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
}

result<message> held_store::load(const std::filesystem::path& file) const {
    auto bytes = read_file(file);
    if (!bytes) return bytes.err();
    auto m = decode_held(*bytes);
    if (!m) return make_error("mqtt.held_corrupt", file.string() + ": not a held message");
    return std::move(*m);
}

void held_store::remove(const std::filesystem::path& file) const {
    std::error_code ec;
    std::filesystem::remove(file, ec);
}

}  // namespace connguard::mqtt::detail
