#include "tools/graph-sim/odata.h"

#include <algorithm>
#include <cctype>

#include "common/clock.h"
#include "common/http/http_server.h"
#include "common/text.h"
#include "tools/graph-sim/crypto.h"
#include "tools/graph-sim/sim_util.h"

namespace connguard::graph_sim {

namespace {

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return {};
    const auto e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

/// Splits on " and " outside quotes, case-insensitively; rejects " or ".
result<std::vector<std::string>> split_and(const std::string& text) {
    std::vector<std::string> parts;
    std::string cur;
    bool quoted = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\'') quoted = !quoted;
        if (!quoted && c == ' ') {
            const std::string rest = to_lower(text.substr(i, 5));
            if (rest == " and ") {
                parts.push_back(trim(cur));
                cur.clear();
                i += 4;
                continue;
            }
            if (rest.substr(0, 4) == " or ")
                return make_error("odata.filter", "Invalid filter clause: 'or' is not supported by this resource.");
        }
        cur.push_back(c);
    }
    if (quoted) return make_error("odata.filter", "Invalid filter clause: unterminated string literal.");
    parts.push_back(trim(cur));
    return parts;
}

result<json> parse_literal(const std::string& v) {
    if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') {
        std::string s;
        for (std::size_t i = 1; i + 1 < v.size(); ++i) {
            if (v[i] == '\'' && i + 2 < v.size() && v[i + 1] == '\'') ++i;  // '' escape
            s.push_back(v[i]);
        }
        return json(s);
    }
    const std::string l = to_lower(v);
    if (l == "true") return json(true);
    if (l == "false") return json(false);
    if (l == "null") return json(nullptr);
    clock::time_point tp;
    if (parse_rfc3339(v, tp)) return json(v);  // unquoted DateTimeOffset literal
    try {
        std::size_t used = 0;
        const double d = std::stod(v, &used);
        if (used == v.size()) return json(d);
    } catch (...) {
    }
    return make_error("odata.filter", "Invalid filter clause: unsupported literal '" + v + "'.");
}

const json* resolve(const json& item, const std::string& path) {
    const json* cur = &item;
    std::size_t start = 0;
    while (true) {
        const auto slash = path.find('/', start);
        const std::string key = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (!cur->is_object()) return nullptr;
        auto it = cur->find(key);
        if (it == cur->end()) {
            // Graph property names are case-insensitive in $filter.
            for (auto j = cur->begin(); j != cur->end(); ++j)
                if (to_lower(j.key()) == to_lower(key)) it = j;
            if (it == cur->end()) return nullptr;
        }
        cur = &*it;
        if (slash == std::string::npos) return cur;
        start = slash + 1;
    }
}

int compare(const json& a, const json& b, bool& comparable) {
    comparable = true;
    if (a.is_string() && b.is_string()) {
        clock::time_point ta, tb;
        const auto sa = a.get<std::string>(), sb = b.get<std::string>();
        if (parse_rfc3339(sa, ta) && parse_rfc3339(sb, tb)) return ta < tb ? -1 : (tb < ta ? 1 : 0);
        const auto la = to_lower(sa), lb = to_lower(sb);
        return la < lb ? -1 : (lb < la ? 1 : 0);
    }
    if (a.is_number() && b.is_number()) {
        const double x = a.get<double>(), y = b.get<double>();
        return x < y ? -1 : (y < x ? 1 : 0);
    }
    if (a.is_boolean() && b.is_boolean()) return a.get<bool>() == b.get<bool>() ? 0 : 1;
    if (a.is_null() && b.is_null()) return 0;
    if (a.is_null() || b.is_null()) return 1;
    comparable = false;
    return 1;
}

}  // namespace

query_map parse_query(const std::string& raw_query) {
    query_map out;
    for (auto& [k, v] : http::parse_form(raw_query)) out[k] = v;
    return out;
}

result<std::vector<filter_clause>> parse_filter(const std::string& text) {
    std::vector<filter_clause> out;
    auto parts = split_and(text);
    if (!parts) return parts.err();
    for (const auto& part : *parts) {
        if (part.empty()) return make_error("odata.filter", "Invalid filter clause: empty expression.");
        filter_clause c;
        // Lambda over a collection: "signInEventTypes/any(t: t eq 'nonInteractiveUser')" (any variable name).
        if (const auto any = to_lower(part).find("/any("); any != std::string::npos && part.back() == ')') {
            const std::string inner = part.substr(any + 5, part.size() - any - 6);
            const auto colon = inner.find(':');
            const std::string var = trim(colon == std::string::npos ? std::string() : inner.substr(0, colon));
            const std::string body = trim(colon == std::string::npos ? std::string() : inner.substr(colon + 1));
            bool ident = !var.empty() && (std::isalpha(static_cast<unsigned char>(var[0])) || var[0] == '_');
            for (char ch : var) ident = ident && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_');
            const std::string prefix = var + " eq ";
            if (!ident || body.size() <= prefix.size() || to_lower(body.substr(0, prefix.size())) != to_lower(prefix))
                return make_error("odata.filter", "Invalid filter clause: '" + part +
                                                      "' (supported lambda: <collection>/any(x: x eq <literal>)).");
            auto lit = parse_literal(trim(body.substr(prefix.size())));
            if (!lit) return lit.err();
            c.field = part.substr(0, any);
            c.op = "any_eq";
            c.value = *lit;
            out.push_back(c);
            continue;
        }
        if (to_lower(part).rfind("startswith(", 0) == 0 && part.back() == ')') {
            const std::string inner = part.substr(11, part.size() - 12);
            const auto comma = inner.find(',');
            if (comma == std::string::npos)
                return make_error("odata.filter", "Invalid filter clause: startswith needs two arguments.");
            c.field = trim(inner.substr(0, comma));
            c.op = "startswith";
            auto lit = parse_literal(trim(inner.substr(comma + 1)));
            if (!lit || !lit->is_string())
                return make_error("odata.filter", "Invalid filter clause: startswith needs a string literal.");
            c.value = *lit;
            out.push_back(c);
            continue;
        }
        const auto s1 = part.find(' ');
        const auto s2 = s1 == std::string::npos ? s1 : part.find(' ', s1 + 1);
        if (s1 == std::string::npos || s2 == std::string::npos)
            return make_error("odata.filter", "Invalid filter clause: '" + part + "'.");
        c.field = part.substr(0, s1);
        c.op = to_lower(part.substr(s1 + 1, s2 - s1 - 1));
        static const std::vector<std::string> ops{"eq", "ne", "ge", "gt", "le", "lt"};
        if (std::find(ops.begin(), ops.end(), c.op) == ops.end())
            return make_error("odata.filter", "Invalid filter clause: unsupported operator '" + c.op + "'.");
        auto lit = parse_literal(trim(part.substr(s2 + 1)));
        if (!lit) return lit.err();
        c.value = *lit;
        out.push_back(c);
    }
    return out;
}

bool matches(const json& item, const std::vector<filter_clause>& filter) {
    static const json null_value = nullptr;
    for (const auto& c : filter) {
        const json* v = resolve(item, c.field);
        const json& actual = v ? *v : null_value;
        if (c.op == "any_eq") {
            bool found = false;
            if (actual.is_array())
                for (const auto& e : actual) {
                    bool comparable = false;
                    if (compare(e, c.value, comparable) == 0 && comparable) found = true;
                }
            if (!found) return false;
            continue;
        }
        if (c.op == "startswith") {
            if (!actual.is_string() || to_lower(actual.get<std::string>()).rfind(to_lower(c.value.get<std::string>()), 0) != 0)
                return false;
            continue;
        }
        bool comparable = false;
        const int cmp = compare(actual, c.value, comparable);
        bool ok = false;
        if (c.op == "eq") ok = comparable && cmp == 0;
        else if (c.op == "ne") ok = !comparable || cmp != 0;
        else if (!comparable) ok = false;
        else if (c.op == "ge") ok = cmp >= 0;
        else if (c.op == "gt") ok = cmp > 0;
        else if (c.op == "le") ok = cmp <= 0;
        else if (c.op == "lt") ok = cmp < 0;
        if (!ok) return false;
    }
    return true;
}

json apply_select(const json& item, const std::string& select) {
    if (select.empty() || !item.is_object()) return item;
    json out = json::object();
    std::size_t start = 0;
    while (start <= select.size()) {
        const auto comma = select.find(',', start);
        const std::string name = trim(select.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (!name.empty()) {
            for (auto it = item.begin(); it != item.end(); ++it)
                if (to_lower(it.key()) == to_lower(name)) out[it.key()] = it.value();
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (item.contains("id")) out["id"] = item["id"];
    if (item.contains("@odata.type")) out["@odata.type"] = item["@odata.type"];
    return out;
}

std::string make_skiptoken(std::size_t offset) { return base64url_encode("connguard-sim:" + std::to_string(offset)); }

std::optional<std::size_t> parse_skiptoken(const std::string& token) {
    auto raw = base64url_decode(token);
    if (!raw || raw->rfind("connguard-sim:", 0) != 0) return std::nullopt;
    try {
        return static_cast<std::size_t>(std::stoull(raw->substr(14)));
    } catch (...) {
        return std::nullopt;
    }
}

std::string encode_query_value(const std::string& v) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : v) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '$' || c == ',' || c == ':' ||
            c == '/') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

}  // namespace connguard::graph_sim
