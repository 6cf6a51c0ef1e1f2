#include "common/config.h"

#include <algorithm>

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace connguard::config {

result<document> load_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error("config.unreadable", path.string() + ": cannot open file");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF &&
        static_cast<unsigned char>(text[1]) == 0xBB && static_cast<unsigned char>(text[2]) == 0xBF)
        text.erase(0, 3);
    document doc;
    doc.path = path;
    try {
        doc.root = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        return make_error("config.invalid_json", path.string() + ": invalid JSON at byte " +
                                                     std::to_string(e.byte) + ": " + e.what());
    }
    if (!doc.root.is_object())
        return make_error("config.invalid_json", path.string() + ": top level must be a JSON object");
    return doc;
}

status check_secret_file_permissions(const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return make_error("config.secret_unreadable", path.string() + ": secret file does not exist or cannot be read");
    if ((st.st_mode & 0077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return make_error("config.secret_permissions",
                          path.string() + ": secret file is readable by others (mode " + mode +
                              "); run: chmod 600 " + path.string());
    }
    return {};
}

result<std::string> read_secret_file(const std::filesystem::path& path) {
    if (auto st = check_secret_file_permissions(path); !st) return st.err();
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error("config.secret_unreadable", path.string() + ": cannot open secret file");
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (line.empty()) return make_error("config.secret_empty", path.string() + ": secret file is empty");
    return line;
}

const nlohmann::json* reader::find(const std::string& field) const {
    asked_.insert(field);
    const nlohmann::json* cur = &doc_.root;
    std::size_t start = 0;
    while (true) {
        const auto dot = field.find('.', start);
        const std::string key = field.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (!cur->is_object()) return nullptr;
        auto it = cur->find(key);
        if (it == cur->end() || it->is_null()) return nullptr;
        cur = &*it;
        if (dot == std::string::npos) return cur;
        start = dot + 1;
    }
}

void reader::fail(const std::string& field, const std::string& reason) {
    errors_.push_back(doc_.path.string() + ": field '" + field + "': " + reason);
}

namespace {

// Levenshtein distance, for "did you mean" on a misspelled key.
std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

}  // namespace

void reader::reject_unknown_fields() {
    if (doc_.root.is_object()) reject_unknown_under(doc_.root, "");
}

void reader::reject_unknown_under(const nlohmann::json& object, const std::string& prefix) {
    for (const auto& [key, value] : object.items()) {
        if (!key.empty() && (key.front() == '_' || key.front() == '$')) continue;
        const std::string field = prefix + key;
        if (asked_.count(field)) continue;  // read (or allowed) as a whole
        const auto below = asked_.lower_bound(field + ".");
        if (below != asked_.end() && below->rfind(field + ".", 0) == 0) {
            if (value.is_object()) {
                reject_unknown_under(value, field + ".");
            } else {
                fail(field, std::string("must be an object, found ") + value.type_name());
            }
            continue;
        }
        fail_unknown(field, prefix, asked_);
    }
}

void reader::reject_unknown_keys(const nlohmann::json& object, const std::string& field,
                                 const std::vector<std::string>& known) {
    if (!object.is_object()) return;
    std::set<std::string> known_fields;
    for (const auto& k : known) known_fields.insert(field + "." + k);
    for (const auto& [key, value] : object.items()) {
        if (!key.empty() && (key.front() == '_' || key.front() == '$')) continue;
        if (!known_fields.count(field + "." + key)) fail_unknown(field + "." + key, field + ".", known_fields);
    }
}

void reader::fail_unknown(const std::string& field, const std::string& prefix, const std::set<std::string>& known) {
    std::string best;
    std::size_t best_distance = 4;  // suggest only close matches
    for (const auto& k : known) {
        if (k.rfind(prefix, 0) != 0) continue;
        const auto sibling = k.substr(0, k.find('.', prefix.size()));
        const auto d = edit_distance(field, sibling);
        if (d < best_distance) best_distance = d, best = sibling;
    }
    fail(field, best.empty() ? "unknown" : "unknown; did you mean '" + best + "'?");
}

std::string reader::error_text() const {
    std::string out;
    for (const auto& e : errors_) {
        if (!out.empty()) out += "\n";
        out += e;
    }
    return out;
}

const nlohmann::json* reader::typed(const std::string& field, nlohmann::json::value_t want, const char* type_name) {
    const auto* v = find(field);
    if (!v) return nullptr;
    const bool match = v->type() == want ||
                       (want == nlohmann::json::value_t::number_integer && v->is_number_integer());
    if (!match) {
        fail(field, std::string("must be ") + type_name + ", found " + v->type_name());
        return nullptr;
    }
    return v;
}

std::string reader::required_string(const std::string& field) {
    if (!find(field)) {
        fail(field, "missing");
        return {};
    }
    auto v = optional_string(field);
    if (v.empty() && find(field) && find(field)->is_string()) fail(field, "must not be empty");
    return v;
}

std::string reader::optional_string(const std::string& field, std::string fallback) {
    const auto* v = typed(field, nlohmann::json::value_t::string, "a string");
    return v ? v->get<std::string>() : fallback;
}

long long reader::optional_int(const std::string& field, long long fallback, long long min, long long max) {
    const auto* v = typed(field, nlohmann::json::value_t::number_integer, "an integer");
    if (!v) return fallback;
    const long long n = v->get<long long>();
    if (n < min || n > max) {
        fail(field, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", found " +
                        std::to_string(n));
        return fallback;
    }
    return n;
}

long long reader::required_int(const std::string& field, long long min, long long max) {
    if (!find(field)) {
        fail(field, "missing");
        return min;
    }
    return optional_int(field, min, min, max);
}

bool reader::optional_bool(const std::string& field, bool fallback) {
    const auto* v = typed(field, nlohmann::json::value_t::boolean, "true or false");
    return v ? v->get<bool>() : fallback;
}

std::vector<std::string> reader::optional_string_list(const std::string& field, std::vector<std::string> fallback) {
    const auto* v = typed(field, nlohmann::json::value_t::array, "an array of strings");
    if (!v) return fallback;
    std::vector<std::string> out;
    for (std::size_t i = 0; i < v->size(); ++i) {
        if (!(*v)[i].is_string()) {
            fail(field + "[" + std::to_string(i) + "]", "must be a string");
            continue;
        }
        out.push_back((*v)[i].get<std::string>());
    }
    return out;
}

std::filesystem::path reader::optional_path(const std::string& field) {
    const auto s = optional_string(field);
    if (s.empty()) return {};
    std::filesystem::path p(s);
    if (p.is_relative()) p = doc_.path.parent_path() / p;
    return p;
}

std::filesystem::path reader::required_path(const std::string& field) {
    if (!find(field)) {
        fail(field, "missing");
        return {};
    }
    return optional_path(field);
}

}  // namespace connguard::config
