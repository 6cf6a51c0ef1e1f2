#include "common/text.h"

#include <charconv>

namespace connguard {
namespace {

char lower_char(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr std::string_view std_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view url_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Encodes `bytes` with `alphabet`; pads the last group with '=' when `pad`.
std::string encode(std::string_view bytes, std::string_view alphabet, bool pad) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const unsigned v = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (const std::size_t rest = bytes.size() - i; rest != 0) {
        unsigned v = b[i] << 16;
        if (rest == 2) v |= b[i + 1] << 8;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        if (rest == 2) out += alphabet[(v >> 6) & 63];
        if (pad) out.append(3 - rest, '=');
    }
    return out;
}

/// The 6-bit value of a base64 character; `url` and `standard` say which alphabets count. -1 otherwise.
int sextet(char c, bool standard, bool url) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if ((standard && c == '+') || (url && c == '-')) return 62;
    if ((standard && c == '/') || (url && c == '_')) return 63;
    return -1;
}

/// Decodes unpadded text; nullopt on a foreign character or a truncated final group.
std::optional<std::string> decode(std::string_view text, bool standard, bool url) {
    std::string out;
    out.reserve(text.size() * 3 / 4);
    unsigned acc = 0;
    int bits = 0;
    for (const char c : text) {
        const int v = sextet(c, standard, url);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    if (bits >= 6) return std::nullopt;
    return out;
}

}  // namespace

std::string to_lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = lower_char(c);
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower_char(a[i]) != lower_char(b[i])) return false;
    return true;
}

std::string base64_encode(std::string_view bytes) { return encode(bytes, std_alphabet, true); }

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::size_t pad = 0;
    while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
    return decode(text.substr(0, text.size() - pad), true, false);
}

std::string base64url_encode(std::string_view bytes) { return encode(bytes, url_alphabet, false); }

std::optional<std::string> base64url_decode(std::string_view text) {
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    return decode(text, true, true);
}

std::string enum_word(std::string_view name, std::string_view prefix) {
    if (name.empty()) return "UNSPECIFIED";
    if (name.substr(0, prefix.size()) == prefix) name.remove_prefix(prefix.size());
    return std::string(name);
}

std::string duration_words(std::int64_t ms) {
    if (ms < 0) ms = 0;
    if (ms < 1000) return std::to_string(ms) + " ms";
    const auto s = ms / 1000;
    if (s < 120) return std::to_string(s) + " s";
    const auto min = s / 60;
    if (min < 10 && s % 60 != 0) return std::to_string(min) + " min " + std::to_string(s % 60) + " s";
    if (min < 120) return std::to_string(min) + " min";
    const auto rest = min % 60;
    return std::to_string(min / 60) + " h" + (rest ? " " + std::to_string(rest) + " min" : "");
}

std::string html_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out.push_back(c);
        }
    }
    return out;
}

bool parse_host_port(std::string_view text, std::string& host, int& port) {
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
        host = std::string(text.substr(1, close - 1));
        port_text = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos || text.find(':') != colon) return false;
        host = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
    }
    if (host.empty() || port_text.empty()) return false;
    int p = -1;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || p < 0 || p > 65535) return false;
    port = p;
    return true;
}

}  // namespace connguard
