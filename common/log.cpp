#include "common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <regex>
#include <stdexcept>
#include <vector>

namespace connguard::log {
namespace {

std::mutex secrets_mutex;
std::vector<std::string>& secrets() {
    static std::vector<std::string> s;
    return s;
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
    auto& s = secrets();
    if (std::find(s.begin(), s.end(), secret) == s.end()) s.push_back(std::move(secret));
}

std::string redact(std::string_view text) {
    std::string out(text);
    {
        std::lock_guard lock(secrets_mutex);
        for (const auto& s : secrets()) {
            for (auto pos = out.find(s); pos != std::string::npos; pos = out.find(s, pos + 3))
                out.replace(pos, s.size(), "***");
        }
    }
    // Credential-looking fields, whatever their value: form bodies, JSON fields, auth headers.
    static const std::regex form(R"(((?:client_secret|password|client_assertion|access_token|refresh_token)=)[^&\s]+)",
                                 std::regex::icase);
    static const std::regex json_field(
        R"x(("(?:client_secret|clientSecret|password|access_token|refresh_token|id_token|client_assertion)"\s*:\s*")[^"]*("))x",
        std::regex::icase);
    static const std::regex bearer(R"((Bearer\s+)[A-Za-z0-9\-._~+/=]+)", std::regex::icase);
    out = std::regex_replace(out, form, "$1***");
    out = std::regex_replace(out, json_field, "$1***$2");
    out = std::regex_replace(out, bearer, "$1***");
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
