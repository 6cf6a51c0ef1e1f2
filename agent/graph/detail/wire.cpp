#include "agent/graph/detail/wire.h"

#include <fstream>
#include <sstream>

namespace connguard::graph::detail {

using nlohmann::json;

std::string strip_trailing_slash(std::string s) {
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
}

std::string segment(const std::string& s) {
    std::string out;
    for (const char c : s) {
        if (c == '@') out.push_back(c);
        else out += http::url_encode(std::string(1, c));
    }
    return out;
}

namespace {

std::string_view strip_bom(std::string_view body) {
    if (body.size() >= 3 && static_cast<unsigned char>(body[0]) == 0xEF && static_cast<unsigned char>(body[1]) == 0xBB &&
        static_cast<unsigned char>(body[2]) == 0xBF)
        body.remove_prefix(3);
    return body;
}

}  // namespace

json parse_json(std::string_view body) {
    body = strip_bom(body);
    return json::parse(body.begin(), body.end(), nullptr, false);
}

std::string str(const json& j, const char* key) {
    if (!j.is_object()) return {};
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::string nested_str(const json& j, const char* outer, const char* key) {
    if (!j.is_object()) return {};
    const auto it = j.find(outer);
    return it != j.end() && it->is_object() ? str(*it, key) : std::string{};
}

std::string path_for_message(const std::string& url) {
    std::string p = url;
    if (const auto s = p.find("://"); s != std::string::npos) {
        const auto slash = p.find('/', s + 3);
        p = slash == std::string::npos ? "/" : p.substr(slash);
    }
    if (const auto q = p.find("$skiptoken"); q != std::string::npos) p = p.substr(0, q) + "$skiptoken=...";
    if (p.size() > 200) p = p.substr(0, 200) + "...";
    return p;
}

std::string first_line(const std::string& s) {
    const auto e = s.find_first_of("\r\n");
    return e == std::string::npos ? s : s.substr(0, e);
}

std::string describe_graph_error(const http::response& resp) {
    const json j = parse_json(resp.body);
    std::string out;
    if (j.is_object() && j.contains("error") && j["error"].is_object()) {
        const json& e = j["error"];
        out = str(e, "code");
        json inner;
        if (e.contains("innerError")) inner = e["innerError"];
        else if (e.contains("innererror")) inner = e["innererror"];
        const std::string inner_code = str(inner, "code");
        if (!inner_code.empty() && inner_code != out) out += "/" + inner_code;
        const std::string msg = str(e, "message");
        if (!msg.empty()) out += (out.empty() ? "" : ": ") + msg;
        std::string rid = str(inner, "request-id");
        if (rid.empty()) rid = resp.header("request-id");
        if (!rid.empty()) out += " [request-id " + rid + "]";
    } else if (!resp.body.empty()) {
        out = "non-JSON error body";
    }
    return out;
}

result<std::string> read_text_file(const std::filesystem::path& file, const char* what) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return make_error("graph.credential", std::string("cannot read ") + what + " file " + file.string());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace connguard::graph::detail
