#include "agent/core/state_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "common/atomic_file.h"
#include "common/ids.h"
#include "common/text.h"

namespace connguard::agent {
namespace {

using nlohmann::json;

json state_json(const committed_state& s) {
    json j = {{"version", 1}, {"cycle", s.cycle}, {"statuses", to_json(s.statuses)}};
    j["snapshot"] = s.snapshot ? snapshot::to_json(*s.snapshot) : json();
    return j;
}

committed_state state_from(const json& j) {
    committed_state s;
    s.cycle = j.at("cycle").get<std::uint64_t>();
    if (j.contains("snapshot") && !j["snapshot"].is_null()) s.snapshot = snapshot::from_json(j["snapshot"]);
    if (j.contains("statuses")) s.statuses = statuses_from_json(j["statuses"]);
    return s;
}

const char* phase_name(command_phase p) {
    switch (p) {
        case command_phase::received: return "received";
        case command_phase::executing: return "executing";
        case command_phase::done: return "done";
    }
    return "received";
}

command_phase phase_from(const std::string& s) {
    if (s == "executing") return command_phase::executing;
    if (s == "done") return command_phase::done;
    return command_phase::received;
}

result<command_record> command_from(const json& j) {
    command_record r;
    r.command_id = j.at("commandId").get<std::string>();
    r.phase = phase_from(j.at("phase").get<std::string>());
    r.published = j.value("published", false);
    auto command_bytes = base64_decode(j.value("command", std::string{}));
    auto result_bytes = base64_decode(j.value("result", std::string{}));
    if (!command_bytes || !result_bytes) return make_error("state.corrupt", "invalid base64 in command record");
    r.command_payload = std::move(*command_bytes);
    r.result_payload = std::move(*result_bytes);
    return r;
}

}  // namespace

// The agent's names for the shared atomic-file helper (common/atomic_file.h), with its error codes
// ("state.write", "state.missing", "state.read").
status write_file_atomic(const std::filesystem::path& path, const std::string& bytes) {
    auto st = connguard::write_file_atomic(path, bytes);
    if (!st) return make_error("state.write", st.err().message);
    return {};
}

result<std::string> read_file(const std::filesystem::path& path) {
    auto text = connguard::read_file(path);
    if (!text)
        return make_error(text.err().code == "file.missing" ? "state.missing" : "state.read", text.err().message);
    return text;
}

status state_store::open() {
    std::error_code ec;
    std::filesystem::create_directories(dir_ / "commands", ec);
    if (!ec) std::filesystem::create_directories(dir_ / "unacked", ec);
    if (ec) return make_error("state.open", dir_.string() + ": cannot create state directory: " + ec.message());
    std::filesystem::permissions(dir_ / "unacked", std::filesystem::perms::owner_all, ec);
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all, ec);
    std::filesystem::permissions(dir_ / "commands", std::filesystem::perms::owner_all, ec);
    return {};
}

result<committed_state> state_store::load_state() const {
    const auto p = dir_ / "state.json";
    auto text = read_file(p);
    if (!text) {
        if (text.err().code == "state.missing") return committed_state{};
        return text.err();
    }
    try {
        return state_from(json::parse(*text));
    } catch (const std::exception& e) {
        return make_error("state.corrupt", p.string() + ": not a valid state file: " + e.what());
    }
}

status state_store::save_state(const committed_state& s) const {
    return write_file_atomic(dir_ / "state.json", state_json(s).dump());
}

void state_store::quarantine_state() const {
    std::error_code ec;
    std::filesystem::rename(dir_ / "state.json", dir_ / "state.json.corrupt", ec);
}

result<std::optional<outbox>> state_store::load_outbox() const { return load_outbox_file(dir_ / "outbox.json"); }

result<std::optional<outbox>> state_store::load_outbox_file(const std::filesystem::path& p) const {
    auto text = read_file(p);
    if (!text) {
        if (text.err().code == "state.missing") return std::optional<outbox>{};
        return text.err();
    }
    try {
        auto j = json::parse(*text);
        outbox o;
        o.cycle = j.at("cycle").get<std::uint64_t>();
        for (const auto& m : j.at("messages")) {
            outbox_message om;
            om.topic = m.at("topic").get<std::string>();
            om.retained = m.value("retained", false);
            om.envelope_id = m.value("id", std::string{});
            auto payload = base64_decode(m.at("payload").get<std::string>());
            if (!payload) return make_error("state.corrupt", p.string() + ": invalid base64 payload");
            om.payload = std::move(*payload);
            o.messages.push_back(std::move(om));
        }
        o.next = state_from(j.at("next"));
        return std::optional<outbox>(std::move(o));
    } catch (const std::exception& e) {
        return make_error("state.corrupt", p.string() + ": not a valid outbox: " + e.what());
    }
}

status state_store::save_outbox(const outbox& o) const {
    json msgs = json::array();
    for (const auto& m : o.messages)
        msgs.push_back({{"topic", m.topic}, {"retained", m.retained}, {"id", m.envelope_id},
                        {"payload", base64_encode(m.payload)}});
    json j = {{"version", 1}, {"cycle", o.cycle}, {"messages", msgs}, {"next", state_json(o.next)}};
    return write_file_atomic(dir_ / "outbox.json", j.dump());
}

status state_store::clear_outbox() const {
    std::error_code ec;
    std::filesystem::remove(dir_ / "outbox.json", ec);
    if (ec) return make_error("state.write", (dir_ / "outbox.json").string() + ": cannot remove: " + ec.message());
    return {};
}

std::filesystem::path state_store::unacked_path(std::uint64_t cycle) const {
    std::string name = std::to_string(cycle);
    name.insert(0, 20 - std::min<std::size_t>(20, name.size()), '0');  // sorts by cycle
    name += ".json";
    return dir_ / "unacked" / name;
}

status state_store::keep_unacked(std::uint64_t cycle) const {
    const auto to = unacked_path(cycle);
    std::error_code ec;
    std::filesystem::rename(dir_ / "outbox.json", to, ec);
    if (ec) return make_error("state.write", (dir_ / "outbox.json").string() + ": cannot move to " + to.string() + ": " + ec.message());
    const int fd = ::open((dir_ / "unacked").c_str(), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)::fsync(fd);
        ::close(fd);
    }
    const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

std::vector<outbox> state_store::load_unacked(std::vector<std::string>* errors) const {
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_ / "unacked", ec))
        if (e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::vector<outbox> out;
    for (const auto& f : files) {
        auto o = load_outbox_file(f);
        if (!o) {
            if (errors) errors->push_back(o.err().message);
            continue;
        }
        if (o->has_value()) out.push_back(std::move(**o));
    }
    return out;
}

status state_store::drop_unacked(std::uint64_t cycle) const {
    std::error_code ec;
    std::filesystem::remove(unacked_path(cycle), ec);
    if (ec) return make_error("state.write", unacked_path(cycle).string() + ": cannot remove: " + ec.message());
    return {};
}

std::filesystem::path state_store::command_path(const std::string& id) const {
    return dir_ / "commands" / (sha256_hex(id).substr(0, 40) + ".json");
}

result<std::optional<command_record>> state_store::load_command(const std::string& command_id) const {
    const auto p = command_path(command_id);
    auto text = read_file(p);
    if (!text) {
        if (text.err().code == "state.missing") return std::optional<command_record>{};
        return text.err();
    }
    try {
        auto r = command_from(json::parse(*text));
        if (!r) return make_error("state.corrupt", p.string() + ": " + r.err().message);
        return std::optional<command_record>(std::move(*r));
    } catch (const std::exception& e) {
        return make_error("state.corrupt", p.string() + ": not a valid command record: " + e.what());
    }
}

status state_store::save_command(const command_record& r) const {
    json j = {{"commandId", r.command_id},
              {"phase", phase_name(r.phase)},
              {"command", base64_encode(r.command_payload)},
              {"result", base64_encode(r.result_payload)},
              {"published", r.published}};
    return write_file_atomic(command_path(r.command_id), j.dump());
}

std::vector<command_record> state_store::unfinished_commands() const {
    std::vector<command_record> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_ / "commands", ec)) {
        if (e.path().extension() != ".json") continue;
        auto text = read_file(e.path());
        if (!text) continue;
        try {
            auto r = command_from(json::parse(*text));
            if (r && (r->phase != command_phase::done || !r->published)) out.push_back(std::move(*r));
        } catch (const std::exception&) {
        }
    }
    return out;
}

}  // namespace connguard::agent
