#include "agent/whatif/json_util.h"

#include <algorithm>
#include <cctype>

namespace connguard::whatif::detail {

std::string trim(std::string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return std::string(s.substr(b, e - b));
}

bool icontains(const std::vector<std::string>& v, std::string_view s) {
    return std::any_of(v.begin(), v.end(), [&](const std::string& x) { return iequals(x, s); });
}

const nlohmann::json* member(const nlohmann::json& o, std::string_view key) {
    if (!o.is_object()) return nullptr;
    auto it = o.find(std::string(key));
    if (it != o.end()) return &*it;
    for (auto i = o.begin(); i != o.end(); ++i) {
        if (iequals(i.key(), key)) return &i.value();
    }
    return nullptr;
}

const nlohmann::json* present(const nlohmann::json& o, std::string_view key) {
    const auto* m = member(o, key);
    return (m == nullptr || m->is_null()) ? nullptr : m;
}

std::string type_name(const nlohmann::json& j) {
    switch (j.type()) {
        case nlohmann::json::value_t::null: return "null";
        case nlohmann::json::value_t::object: return "object";
        case nlohmann::json::value_t::array: return "array";
        case nlohmann::json::value_t::string: return "string";
        case nlohmann::json::value_t::boolean: return "boolean";
        case nlohmann::json::value_t::number_integer:
        case nlohmann::json::value_t::number_unsigned:
        case nlohmann::json::value_t::number_float: return "number";
        default: return "value";
    }
}

static void split_flags(const std::string& s, std::vector<std::string>& out) {
    size_t start = 0;
    while (start <= s.size()) {
        size_t comma = s.find(',', start);
        if (comma == std::string::npos) comma = s.size();
        auto part = trim(std::string_view(s).substr(start, comma - start));
        if (!part.empty()) out.push_back(part);
        start = comma + 1;
    }
}

result<std::vector<std::string>> strings(const nlohmann::json& o, std::string_view key, const std::string& path,
                                         const std::string& code) {
    std::vector<std::string> out;
    const auto* m = present(o, key);
    if (m == nullptr) return out;
    if (m->is_string()) {
        split_flags(m->get<std::string>(), out);
        return out;
    }
    if (!m->is_array()) {
        return make_error(code, path + ": expected an array of strings, got " + type_name(*m));
    }
    size_t i = 0;
    for (const auto& e : *m) {
        if (e.is_string()) {
            auto t = trim(e.get<std::string>());
            if (!t.empty()) out.push_back(std::move(t));
        } else if (!e.is_null()) {
            return make_error(code, path + "[" + std::to_string(i) + "]: expected a string, got " + type_name(e));
        }
        ++i;
    }
    return out;
}

result<std::string> string_field(const nlohmann::json& o, std::string_view key, const std::string& path,
                                 const std::string& code) {
    const auto* m = present(o, key);
    if (m == nullptr) return std::string{};
    if (!m->is_string()) return make_error(code, path + ": expected a string, got " + type_name(*m));
    return m->get<std::string>();
}

result<bool> bool_field(const nlohmann::json& o, std::string_view key, bool fallback, const std::string& path,
                        const std::string& code) {
    const auto* m = present(o, key);
    if (m == nullptr) return fallback;
    if (m->is_boolean()) return m->get<bool>();
    if (m->is_string()) {
        if (iequals(m->get<std::string>(), "true")) return true;
        if (iequals(m->get<std::string>(), "false")) return false;
    }
    return make_error(code, path + ": expected true or false, got " + type_name(*m));
}

}  // namespace connguard::whatif::detail
