#include "common/topics.h"

#include <vector>

namespace connguard::topics {
namespace {

std::string_view channel_name(tenant_channel c) {
    switch (c) {
        case tenant_channel::validation: return "validation";
        case tenant_channel::events: return "events";
        case tenant_channel::agent: return "agent";
        case tenant_channel::commands: return "commands";
        case tenant_channel::results: return "results";
        case tenant_channel::acks: return "acks";
    }
    return "unknown";
}

std::optional<tenant_channel> channel_from(std::string_view s) {
    for (auto c : {tenant_channel::validation, tenant_channel::events, tenant_channel::agent,
                   tenant_channel::commands, tenant_channel::results, tenant_channel::acks})
        if (channel_name(c) == s) return c;
    return std::nullopt;
}

std::vector<std::string_view> split(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (true) {
        auto pos = s.find('/', start);
        out.push_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
        if (pos == std::string_view::npos) break;
        start = pos + 1;
    }
    return out;
}

std::string join(std::initializer_list<std::string_view> parts) {
    std::string out(root);
    for (auto p : parts) {
        out.push_back('/');
        out.append(p);
    }
    return out;
}

}  // namespace

bool valid_tenant_key(std::string_view key) {
    if (key.empty() || key.size() > 63) return false;
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!alnum(key[0])) return false;
    for (char c : key)
        if (!alnum(c) && c != '-') return false;
    return true;
}

bool valid_principal_name(std::string_view name) { return valid_tenant_key(name); }

std::string tenant_topic(std::string_view tenant, tenant_channel channel) {
    return join({"tenants", tenant, channel_name(channel)});
}
std::string alert(std::string_view severity, std::string_view tenant) {
    return join({"alerts", severity, tenant});
}
std::string task(std::string_view tenant, std::string_view task_id) {
    return join({"tasks", tenant, task_id});
}
std::string admin_requests(std::string_view admin) { return join({"admin", admin, "requests"}); }
std::string admin_responses(std::string_view admin) { return join({"admin", admin, "responses"}); }
std::string audit_checkpoint() { return join({"audit", "checkpoint"}); }
std::string all_tenants_filter(tenant_channel channel) {
    return join({"tenants", "+", channel_name(channel)});
}
std::string all_alerts_filter() { return join({"alerts", "#"}); }
std::string all_admin_requests_filter() { return join({"admin", "+", "requests"}); }
std::string shared(std::string_view group, std::string_view filter) {
    if (group.empty()) return std::string(filter);
    std::string out = "$share/";
    out.append(group);
    out.push_back('/');
    out.append(filter);
    return out;
}

parsed parse(std::string_view topic) {
    parsed p;
    auto lv = split(topic);
    if (lv.size() < 3 || lv[0] != "connguard" || lv[1] != "v1") return p;
    if (lv.size() == 5 && lv[2] == "tenants" && valid_tenant_key(lv[3])) {
        if (auto c = channel_from(lv[4])) {
            p.what = parsed::kind::tenant;
            p.tenant = lv[3];
            p.channel = *c;
        }
    } else if (lv.size() == 5 && lv[2] == "alerts" && valid_tenant_key(lv[4]) &&
               (lv[3] == "info" || lv[3] == "warning" || lv[3] == "critical")) {
        p.what = parsed::kind::alert;
        p.severity = lv[3];
        p.tenant = lv[4];
    } else if (lv.size() == 5 && lv[2] == "tasks" && valid_tenant_key(lv[3]) && !lv[4].empty()) {
        p.what = parsed::kind::task;
        p.tenant = lv[3];
        p.task_id = lv[4];
    } else if (lv.size() == 5 && lv[2] == "admin" && valid_principal_name(lv[3])) {
        if (lv[4] == "requests") p.what = parsed::kind::admin_request;
        else if (lv[4] == "responses") p.what = parsed::kind::admin_response;
        if (p.what != parsed::kind::unknown) p.admin = lv[3];
    } else if (lv.size() == 4 && lv[2] == "audit" && lv[3] == "checkpoint") {
        p.what = parsed::kind::audit_checkpoint;
    }
    return p;
}

}  // namespace connguard::topics
