#include "coordinator/console/security.h"

#include <openssl/crypto.h>

#include "common/text.h"

namespace connguard::coord::console {

header_pairs security_headers(bool https, const std::string& idp_origin) {
    std::string csp = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
    if (!idp_origin.empty()) csp += " " + idp_origin;
    header_pairs h = {
        {"Content-Security-Policy", csp},
        {"X-Frame-Options", "DENY"},
        {"X-Content-Type-Options", "nosniff"},
        {"Referrer-Policy", "no-referrer"},
        {"Cache-Control", "no-store"},
        {"Cross-Origin-Opener-Policy", "same-origin"},
    };
    if (https) h.emplace_back("Strict-Transport-Security", "max-age=31536000");
    return h;
}

bool is_local_path(std::string_view path) {
    if (path.empty() || path.size() > 2048 || path.front() != '/') return false;
    if (path.size() > 1 && (path[1] == '/' || path[1] == '\\')) return false;
    for (const char c : path) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f || c == '\\') return false;
    }
    return true;
}

std::string origin_of(std::string_view url) {
    std::string scheme;
    if (url.rfind("https://", 0) == 0) scheme = "https";
    else if (url.rfind("http://", 0) == 0) scheme = "http";
    else return "";
    auto rest = url.substr(scheme.size() + 3);
    const auto end = rest.find_first_of("/?#");
    auto host = to_lower(rest.substr(0, end));
    if (host.empty() || host.find('@') != std::string::npos) return "";
    if (scheme == "https" && host.size() > 4 && host.ends_with(":443")) host.resize(host.size() - 4);
    if (scheme == "http" && host.size() > 3 && host.ends_with(":80")) host.resize(host.size() - 3);
    return scheme + "://" + host;
}

bool origin_allowed(const std::string& origin_header, const std::string& sec_fetch_site, const std::string& expected) {
    if (!origin_header.empty()) return origin_of(origin_header) == expected && !expected.empty();
    if (!sec_fetch_site.empty()) return sec_fetch_site == "same-origin";
    return true;
}

std::string cookie_value(std::string_view header, std::string_view name) {
    std::size_t pos = 0;
    while (pos < header.size()) {
        auto end = header.find(';', pos);
        if (end == std::string_view::npos) end = header.size();
        auto part = header.substr(pos, end - pos);
        while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
        const auto eq = part.find('=');
        if (eq != std::string_view::npos && part.substr(0, eq) == name) {
            auto v = part.substr(eq + 1);
            while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
            return std::string(v);
        }
        pos = end + 1;
    }
    return "";
}

std::string session_cookie(const std::string& value, long long max_age_s) {
    std::string c = std::string(session_cookie_name) + "=" + value + "; HttpOnly; Secure; SameSite=Strict; Path=/";
    if (max_age_s >= 0) c += "; Max-Age=" + std::to_string(max_age_s);
    return c;
}

std::string sign_in_cookie(const std::string& value, long long max_age_s) {
    return std::string(sign_in_cookie_name) + "=" + value + "; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=" +
           std::to_string(max_age_s < 0 ? 0 : max_age_s);
}

bool tokens_equal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace connguard::coord::console
