#pragma once
// Logging on spdlog: text or JSON lines, secrets redacted, never throws into the caller.
//
//   connguard::log::init({.program = "connguard-agent", .json = false, .level = "info"});
//   spdlog::info("tenant {}: cycle done in {} ms", key, ms);
//
// Every line passes through a redacting formatter: anything registered with add_secret() and
// anything that looks like a credential (client_secret=, password=, "access_token": ..., Bearer ...)
// is replaced by "***" before it reaches a sink.
#include <string>
#include <string_view>

namespace connguard::log {

struct options {
    std::string program = "connguard";  ///< logger name, shown in each line
    bool json = false;                  ///< JSON lines instead of text
    std::string level = "info";         ///< trace, debug, info, warn, error, critical, off
    std::string file;                   ///< log to this file instead of stderr (empty = stderr)
};

/// Installs the default spdlog logger. Call once at start-up; safe to call again (replaces it).
/// Throws std::invalid_argument for an unknown level (a start-up error).
void init(const options& opts);

/// Registers a secret value (a password, a client secret) so it never appears in a log line.
/// Values shorter than 4 characters are ignored (they would redact ordinary words).
void add_secret(std::string secret);

/// The redaction applied to every line (exposed for tests and for text that leaves the process,
/// such as error details in a published message).
std::string redact(std::string_view text);

}  // namespace connguard::log
