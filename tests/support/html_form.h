#pragma once
// Reading a server-rendered HTML page the way a browser's form handling does, for tests that sign
// in through the Graph simulator's IdP form without a browser: entities undone, one attribute of a
// tag, and a page's first form (action + every named input with its value).
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace connguard::test {

/// Undoes the five entities common/text.h's html_escape writes.
inline std::string html_unescape(std::string s) {
    const std::pair<const char*, const char*> entities[] = {
        {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}};
    for (const auto& [from, to] : entities) {
        const std::string f = from, t = to;
        for (auto pos = s.find(f); pos != std::string::npos; pos = s.find(f, pos + t.size())) s.replace(pos, f.size(), t);
    }
    return s;
}

/// The value of `name="…"` inside one tag's text (unescaped), "" when absent.
inline std::string html_attr(const std::string& tag, const std::string& name) {
    std::string key = " ";
    key += name;
    key += "=\"";
    const auto at = tag.find(key);
    if (at == std::string::npos) return {};
    const auto start = at + key.size();
    return html_unescape(tag.substr(start, tag.find('"', start) - start));
}

/// A form as a browser reads it: its action and every named input's value, in page order.
struct html_form {
    std::string action;
    std::vector<std::pair<std::string, std::string>> fields;
    bool has_input(const std::string& name) const {
        for (const auto& [k, v] : fields)
            if (k == name) return true;
        return false;
    }
};

/// The page's first <form>, or nullopt when it has none.
inline std::optional<html_form> read_html_form(const std::string& html) {
    const auto f = html.find("<form");
    if (f == std::string::npos) return std::nullopt;
    html_form out;
    out.action = html_attr(html.substr(f, html.find('>', f) - f), "action");
    const auto end = html.find("</form>", f);
    for (auto pos = html.find("<input", f); pos != std::string::npos && pos < end; pos = html.find("<input", pos + 1)) {
        const std::string tag = html.substr(pos, html.find('>', pos) - pos);
        out.fields.emplace_back(html_attr(tag, "name"), html_attr(tag, "value"));
    }
    return out;
}

}  // namespace connguard::test
