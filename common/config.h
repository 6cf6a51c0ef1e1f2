#pragma once
// The one config loader: JSON files read with errors that name file, field and reason.
//
//   auto doc = config::load_file(path);            // result<config::document>
//   config::reader r(*doc);
//   std::string uri = r.required_string("broker.url");
//   int every = r.optional_int("poll.intervalSeconds", 300, /*min*/ 10, /*max*/ 86400);
//   r.reject_unknown_fields();                     // a misspelled key is an error, not a default
//   if (!r.ok()) -> r.errors(): "agent.json: field 'broker.url': missing"
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace connguard::config {

struct document {
    std::filesystem::path path;
    nlohmann::json root;
};

/// Reads and parses a JSON file (UTF-8, optional BOM). Errors name the file and the position.
result<document> load_file(const std::filesystem::path& path);

/// Refuses a secret file that others can read (mode & 0077 != 0), naming the file.
status check_secret_file_permissions(const std::filesystem::path& path);
/// Reads a secret file (first line, trailing newline and whitespace stripped) after the permission check.
result<std::string> read_secret_file(const std::filesystem::path& path);

/// Typed access to a document; collects every error instead of stopping at the first.
/// Field names are dotted paths ("broker.url"). A path relative to the config file's folder is
/// resolved by path() getters.
class reader {
public:
    explicit reader(const document& doc) : doc_(doc) {}

    std::string required_string(const std::string& field);
    std::string optional_string(const std::string& field, std::string fallback = {});
    long long optional_int(const std::string& field, long long fallback, long long min, long long max);
    long long required_int(const std::string& field, long long min, long long max);
    bool optional_bool(const std::string& field, bool fallback);
    std::vector<std::string> optional_string_list(const std::string& field,
                                                  std::vector<std::string> fallback = {});
    std::filesystem::path required_path(const std::string& field);
    std::filesystem::path optional_path(const std::string& field);
    /// The raw JSON at a field, or null when absent.
    const nlohmann::json* find(const std::string& field) const;
    bool has(const std::string& field) const { return find(field) != nullptr; }

    /// Records a custom validation error for a field.
    void fail(const std::string& field, const std::string& reason);

    /// Marks a field (and everything under it) as known although this run does not read it (a
    /// section for another mode, e.g. "broker" when running --once).
    void allow(const std::string& field) { asked_.insert(field); }
    /// Records an error for every key in the document that no getter asked for and allow() did not
    /// name ("field 'signInLog.windowHour': unknown; did you mean 'signInLog.windowHours'?"): a
    /// misspelled setting must not silently fall back to its default. Keys starting with '_' or '$'
    /// are comments ("_comment", "$schema"). Call after every getter.
    void reject_unknown_fields();
    /// The same for the objects inside an array the caller reads itself: every key of `object`
    /// (reported as `field`.key) must be one of `known`.
    void reject_unknown_keys(const nlohmann::json& object, const std::string& field,
                             const std::vector<std::string>& known);

    bool ok() const { return errors_.empty(); }
    const std::vector<std::string>& errors() const { return errors_; }
    /// All errors as one multi-line message (for an exception at start-up).
    std::string error_text() const;

private:
    const nlohmann::json* typed(const std::string& field, nlohmann::json::value_t want, const char* type_name);
    void reject_unknown_under(const nlohmann::json& object, const std::string& prefix);
    void fail_unknown(const std::string& field, const std::string& prefix, const std::set<std::string>& known);
    const document& doc_;
    std::vector<std::string> errors_;
    // Every field a getter looked up, present or not: what reject_unknown_fields() accepts.
    mutable std::set<std::string> asked_;
};

}  // namespace connguard::config
