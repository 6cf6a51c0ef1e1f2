#include "agent/whatif/device_rule.h"

#include <cctype>
#include <optional>
#include <vector>

#include "agent/whatif/json_util.h"

namespace connguard::whatif {

using namespace detail;

namespace {

struct token {
    enum kind { word, text, open, close, lbracket, rbracket, comma, end } k = end;
    std::string v;
};

std::optional<std::vector<token>> tokenize(const std::string& s) {
    std::vector<token> out;
    size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        if (std::isspace(static_cast<unsigned char>(c))) { ++i; continue; }
        if (c == '(') { out.push_back({token::open, "("}); ++i; continue; }
        if (c == ')') { out.push_back({token::close, ")"}); ++i; continue; }
        if (c == '[') { out.push_back({token::lbracket, "["}); ++i; continue; }
        if (c == ']') { out.push_back({token::rbracket, "]"}); ++i; continue; }
        if (c == ',') { out.push_back({token::comma, ","}); ++i; continue; }
        if (c == '"' || c == '\'') {
            const size_t close = s.find(c, i + 1);
            if (close == std::string::npos) return std::nullopt;
            out.push_back({token::text, s.substr(i + 1, close - i - 1)});
            i = close + 1;
            continue;
        }
        size_t j = i;
        while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j])) && s[j] != '(' && s[j] != ')' &&
               s[j] != '[' && s[j] != ']' && s[j] != ',')
            ++j;
        out.push_back({token::word, s.substr(i, j - i)});
        i = j;
    }
    out.push_back({token::end, ""});
    return out;
}

rule_match m_or(rule_match a, rule_match b) {
    if (a == rule_match::yes || b == rule_match::yes) return rule_match::yes;
    if (a == rule_match::unknown || b == rule_match::unknown) return rule_match::unknown;
    return rule_match::no;
}
rule_match m_and(rule_match a, rule_match b) {
    if (a == rule_match::no || b == rule_match::no) return rule_match::no;
    if (a == rule_match::unknown || b == rule_match::unknown) return rule_match::unknown;
    return rule_match::yes;
}
rule_match m_of(bool b) { return b ? rule_match::yes : rule_match::no; }

class parser {
public:
    parser(std::vector<token> t, const nlohmann::json& props) : t_(std::move(t)), props_(props) {}

    std::optional<rule_match> parse() {
        auto r = parse_or();
        if (!r || t_[pos_].k != token::end) return std::nullopt;
        return r;
    }

private:
    const token& peek() const { return t_[pos_]; }
    bool is_word(const char* w) const { return peek().k == token::word && iequals(peek().v, w); }

    std::optional<rule_match> parse_or() {
        auto left = parse_and();
        if (!left) return std::nullopt;
        while (is_word("-or")) {
            ++pos_;
            auto right = parse_and();
            if (!right) return std::nullopt;
            left = m_or(*left, *right);
        }
        return left;
    }
    std::optional<rule_match> parse_and() {
        auto left = parse_primary();
        if (!left) return std::nullopt;
        while (is_word("-and")) {
            ++pos_;
            auto right = parse_primary();
            if (!right) return std::nullopt;
            left = m_and(*left, *right);
        }
        return left;
    }
    std::optional<rule_match> parse_primary() {
        if (peek().k == token::open) {
            ++pos_;
            auto r = parse_or();
            if (!r || peek().k != token::close) return std::nullopt;
            ++pos_;
            return r;
        }
        if (peek().k != token::word) return std::nullopt;
        const std::string prop = peek().v;
        if (to_lower(prop).rfind("device.", 0) != 0) return std::nullopt;
        ++pos_;
        if (peek().k != token::word || peek().v.empty() || peek().v[0] != '-') return std::nullopt;
        const std::string op = to_lower(peek().v);
        ++pos_;
        std::vector<std::string> values;
        if (peek().k == token::lbracket) {
            ++pos_;
            while (peek().k != token::rbracket) {
                if (peek().k != token::text && peek().k != token::word) return std::nullopt;
                values.push_back(peek().v);
                ++pos_;
                if (peek().k == token::comma) ++pos_;
                else if (peek().k != token::rbracket) return std::nullopt;
            }
            ++pos_;
        } else if (peek().k == token::text || peek().k == token::word) {
            values.push_back(peek().v);
            ++pos_;
        } else {
            return std::nullopt;
        }
        return compare(prop.substr(7), op, values);
    }

    std::optional<rule_match> compare(const std::string& name, const std::string& op,
                                      const std::vector<std::string>& values) const {
        const nlohmann::json* v = member(props_, name);
        std::vector<std::string> have;
        if (v == nullptr || v->is_null()) return rule_match::unknown;
        auto text = [](const nlohmann::json& x) {
            if (x.is_string()) return x.get<std::string>();
            if (x.is_boolean()) return std::string(x.get<bool>() ? "true" : "false");
            return x.dump();
        };
        if (v->is_array()) {
            for (const auto& e : *v) have.push_back(text(e));
        } else {
            have.push_back(text(*v));
        }
        auto any = [&](auto pred) {
            for (const auto& h : have) {
                for (const auto& w : values) {
                    if (pred(to_lower(h), to_lower(w))) return true;
                }
            }
            return false;
        };
        auto eq = [](const std::string& a, const std::string& b) { return a == b; };
        auto starts = [](const std::string& a, const std::string& b) { return a.rfind(b, 0) == 0; };
        auto ends = [](const std::string& a, const std::string& b) {
            return a.size() >= b.size() && a.compare(a.size() - b.size(), b.size(), b) == 0;
        };
        auto has = [](const std::string& a, const std::string& b) { return a.find(b) != std::string::npos; };
        if (op == "-eq" || op == "-in") return m_of(any(eq));
        if (op == "-ne" || op == "-notin") return m_of(!any(eq));
        if (op == "-startswith") return m_of(any(starts));
        if (op == "-notstartswith") return m_of(!any(starts));
        if (op == "-endswith") return m_of(any(ends));
        if (op == "-notendswith") return m_of(!any(ends));
        if (op == "-contains") return m_of(any(has));
        if (op == "-notcontains") return m_of(!any(has));
        return std::nullopt;  // -match and friends: not evaluated
    }

    std::vector<token> t_;
    const nlohmann::json& props_;
    size_t pos_ = 0;
};

}  // namespace

rule_match evaluate_device_rule(const std::string& rule, const nlohmann::json& properties) {
    auto tokens = tokenize(rule);
    if (!tokens) return rule_match::unknown;
    parser p(std::move(*tokens), properties);
    auto r = p.parse();
    return r ? *r : rule_match::unknown;
}

}  // namespace connguard::whatif
