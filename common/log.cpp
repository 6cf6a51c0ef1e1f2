#include "common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace connguard::log {
namespace {

std::mutex secrets_mutex;

/// The registered secrets, indexed by their first 4 bytes: redacting a line costs one lookup per
/// character whatever the number of secrets (a host with 10,000 tenants registers 30,000).
struct secret_index {
    std::unordered_set<std::string> all;
    std::unordered_map<std::uint32_t, std::vector<std::string>> by_prefix;  ///< longest first

    static std::uint32_t prefix(const char* p) {
        std::uint32_t v = 0;
        std::memcpy(&v, p, sizeof v);
        return v;
    }
    void add(std::string s) {
        if (!all.insert(s).second) return;
        auto& v = by_prefix[prefix(s.data())];
        const auto at = std::upper_bound(v.begin(), v.end(), s.size(),
                                         [](std::size_t n, const std::string& x) { return n > x.size(); });
        v.insert(at, std::move(s));
    }
};
secret_index& secrets() {
    static secret_index s;
    return s;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/// Case-insensitive search for an ASCII needle given in lower case.
std::size_t find_icase(const std::string& hay, std::string_view needle, std::size_t from) {
    if (needle.empty() || hay.size() < needle.size()) return std::string::npos;
    for (std::size_t i = from; i + needle.size() <= hay.size(); ++i) {
        std::size_t k = 0;
        while (k < needle.size() &&
               std::tolower(static_cast<unsigned char>(hay[i + k])) == static_cast<unsigned char>(needle[k]))
            ++k;
        if (k == needle.size()) return i;
    }
    return std::string::npos;
}

/// Replaces the run of characters accepted by `keep` right after every `key` with "***".
template <class Pred>
void mask_after(std::string& out, std::string_view key, Pred keep) {
    for (std::size_t pos = find_icase(out, key, 0); pos != std::string::npos;) {
        const std::size_t start = pos + key.size();
        std::size_t end = start;
        while (end < out.size() && keep(out[end])) ++end;
        if (end > start && out.compare(start, end - start, "***") != 0) out.replace(start, end - start, "***");
        pos = find_icase(out, key, start + 3);
    }
}

/// Replaces the string value of a JSON field `"key": "value"` with "***".
void mask_json_string_value(std::string& out, std::string_view quoted_key) {
    for (std::size_t pos = find_icase(out, quoted_key, 0); pos != std::string::npos;) {
        std::size_t i = pos + quoted_key.size();
        while (i < out.size() && is_space(out[i])) ++i;
        if (i < out.size() && out[i] == ':') {
            ++i;
            while (i < out.size() && is_space(out[i])) ++i;
            if (i < out.size() && out[i] == '"') {
                const std::size_t start = i + 1;
                std::size_t end = start;
                while (end < out.size() && out[end] != '"') end += (out[end] == '\\') ? 2 : 1;
                end = std::min(end, out.size());
                out.replace(start, end - start, "***");
                i = start + 3;
            }
        }
        pos = find_icase(out, quoted_key, i);
    }
}

std::string json_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 8);
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
    }
    return out;
}

/// A formatter that redacts the message and renders text or JSON.
class redacting_formatter final : public spdlog::formatter {
public:
    redacting_formatter(std::string program, bool json) : program_(std::move(program)), json_(json) {}

    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        const std::string text = redact(std::string_view(msg.payload.data(), msg.payload.size()));
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
        const std::time_t secs = static_cast<std::time_t>(ms / 1000);
        std::tm tm{};
        gmtime_r(&secs, &tm);
        char ts[64];
        std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
        const auto level = spdlog::level::to_string_view(msg.level);
        std::string line;
        if (json_) {
            line = std::string("{\"time\":\"") + ts + "\",\"level\":\"" + std::string(level.data(), level.size()) +
                   "\",\"program\":\"" + json_escape(program_) + "\",\"msg\":\"" + json_escape(text) + "\"}\n";
        } else {
            line = std::string(ts) + " " + std::string(level.data(), level.size()) + " [" + program_ + "] " + text + "\n";
        }
        dest.append(line.data(), line.data() + line.size());
    }

    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<redacting_formatter>(program_, json_);
    }

private:
    std::string program_;
    bool json_;
};

}  // namespace

void add_secret(std::string secret) {
    if (secret.size() < 4) return;
    std::lock_guard lock(secrets_mutex);
    secrets().add(std::move(secret));
}

std::string redact(std::string_view text) {
    std::string out;
    {
        std::lock_guard lock(secrets_mutex);
        const auto& idx = secrets().by_prefix;
        if (idx.empty()) {
            out.assign(text);
        } else {
            out.reserve(text.size());
            std::size_t i = 0;
            while (i < text.size()) {
                const std::string* hit = nullptr;
                if (i + 4 <= text.size())
                    if (auto it = idx.find(secret_index::prefix(text.data() + i)); it != idx.end())
                        for (const auto& s : it->second)
                            if (text.compare(i, s.size(), s) == 0) {
                                hit = &s;
                                break;
                            }
                if (hit) {
                    out += "***";
                    i += hit->size();
                } else {
                    out += text[i++];
                }
            }
        }
    }
    // Credential-looking fields, whatever their value: form bodies, JSON fields, auth headers.
    static const char* const form_keys[] = {"client_secret=", "password=", "client_assertion=",
                                            "access_token=", "refresh_token="};
    for (const char* key : form_keys)
        mask_after(out, key, [](char c) { return c != '&' && c != '"' && !is_space(c); });
    static const char* const json_keys[] = {"\"client_secret\"", "\"clientsecret\"", "\"password\"",
                                            "\"access_token\"", "\"refresh_token\"", "\"id_token\"",
                                            "\"client_assertion\""};
    for (const char* key : json_keys) mask_json_string_value(out, key);
    mask_after(out, "bearer ", [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~' ||
               c == '+' || c == '/' || c == '=';
    });
    return out;
}

void init(const options& opts) {
    const auto level = spdlog::level::from_str(opts.level);
    if (level == spdlog::level::off && opts.level != "off")
        throw std::invalid_argument("unknown log level '" + opts.level +
                                    "' (use trace, debug, info, warn, error, critical or off)");
    spdlog::sink_ptr sink;
    if (opts.file.empty())
        sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    else
        sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(opts.file);
    auto logger = std::make_shared<spdlog::logger>(opts.program, sink);
    logger->set_formatter(std::make_unique<redacting_formatter>(opts.program, opts.json));
    logger->set_level(level);
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace connguard::log
