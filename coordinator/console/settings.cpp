#include "coordinator/console/settings.h"

#include "common/text.h"

namespace connguard::coord::console {

bool is_loopback_host(const std::string& host) {
    if (host == "localhost" || host == "::1") return true;
    return host.rfind("127.", 0) == 0 && host.find_first_not_of("0123456789.") == std::string::npos;
}

bool parse_listen(const std::string& text, std::string& host, int& port) { return parse_host_port(text, host, port); }

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
