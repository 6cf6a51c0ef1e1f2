#include "coordinator/console/settings.h"

#include <charconv>

namespace connguard::coord::console {

bool is_loopback_host(const std::string& host) {
    if (host == "localhost" || host == "::1") return true;
    return host.rfind("127.", 0) == 0 && host.find_first_not_of("0123456789.") == std::string::npos;
}

bool parse_listen(const std::string& text, std::string& host, int& port) {
    std::string port_text;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string::npos || text.find(':') != colon) return false;
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    if (host.empty() || port_text.empty()) return false;
    int p = -1;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || p < 0 || p > 65535) return false;
    port = p;
    return true;
}

role map_role(const console_settings& s, const std::vector<std::string>& role_claims, const std::string& object_id,
              const std::vector<std::string>& groups) {
    role best = role::none;
    auto consider = [&](const std::map<std::string, role>& m, const std::string& key) {
        if (const auto it = m.find(key); it != m.end() && static_cast<int>(it->second) > static_cast<int>(best))
            best = it->second;
    };
    for (const auto& r : role_claims) consider(s.role_claims, r);
    if (!object_id.empty()) consider(s.role_objects, object_id);
    for (const auto& g : groups) consider(s.role_objects, g);
    return best;
}

}  // namespace connguard::coord::console
