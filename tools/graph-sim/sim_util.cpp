#include "tools/graph-sim/sim_util.h"

#include <algorithm>
#include <cctype>
#include <ctime>

#include "agent/whatif/directory.h"
#include "common/clock.h"
#include "common/ids.h"

namespace connguard::graph_sim {

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < path.size()) {
        const auto slash = path.find('/', start);
        const std::string seg = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (!seg.empty()) out.push_back(seg);
        if (slash == std::string::npos) break;
        start = slash + 1;
    }
    return out;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string now_rfc3339() { return format_rfc3339(std::chrono::system_clock::now()); }

std::string http_date() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

std::chrono::system_clock::time_point time_of(const json& item, const char* key) {
    clock::time_point tp{};
    if (item.is_object()) {
        auto it = item.find(key);
        if (it != item.end() && it->is_string() && parse_rfc3339(it->get<std::string>(), tp)) return tp;
    }
    return clock::time_point{};
}

std::string derived_guid(const std::string& text) {
    const std::string h = sha256_hex(text);
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-4" + h.substr(13, 3) + "-a" + h.substr(17, 3) + "-" + h.substr(20, 12);
}

std::string role_name(const std::string& template_id) {
    const char* name = whatif::role_display_name(template_id);
    return name != nullptr ? std::string(name) : "Directory role " + template_id;
}

}  // namespace connguard::graph_sim
