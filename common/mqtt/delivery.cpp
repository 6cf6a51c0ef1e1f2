#include "common/mqtt/delivery.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

namespace connguard::mqtt {

using namespace std::chrono_literals;

bool topic_matches_filter(std::string_view filter, std::string_view topic) {
    if (filter.starts_with("$share/")) {
        const auto group_end = filter.find('/', 7);
        if (group_end == std::string_view::npos) return false;
        filter.remove_prefix(group_end + 1);
    }
    if (!topic.empty() && topic[0] == '$' && (filter.empty() || filter[0] != '$')) return false;
    std::size_t f = 0, t = 0;
    while (true) {
        const auto f_end = std::min(filter.find('/', f), filter.size());
        const auto level = filter.substr(f, f_end - f);
        if (level == "#") return true;
        const auto t_end = std::min(topic.find('/', t), topic.size());
        if (t > topic.size()) return false;
        if (level != "+" && level != topic.substr(t, t_end - t)) return false;
        const bool f_last = f_end == filter.size();
        const bool t_last = t_end == topic.size();
        if (f_last || t_last) {
            if (f_last && t_last) return true;
            // "a/#" also matches "a"
            return t_last && !f_last && filter.substr(f_end + 1) == "#";
        }
        f = f_end + 1;
        t = t_end + 1;
    }
}

namespace detail {
namespace {

constexpr auto first_backoff = 50ms;
/// Upper bound for the in-place retry backoff of a handler that returned `retry`.
constexpr auto max_backoff = 5s;

handler_result call(const message_handler& h, const message& m, const std::string& client_id) {
    try {
        return h(m);
    } catch (const std::exception& e) {
        spdlog::error("mqtt {}: handler for '{}' threw ({}); retrying", client_id, m.topic, e.what());
    } catch (...) {
        spdlog::error("mqtt {}: handler for '{}' threw; retrying", client_id, m.topic);
    }
    return handler_result::retry;
}

}  // namespace

std::vector<handler_ptr> handlers_for(const std::vector<subscription>& subs, std::string_view topic) {
    std::vector<handler_ptr> out;
    for (const auto& s : subs)
        if (topic_matches_filter(s.filter, topic)) out.push_back(s.handler);
    return out;
}

delivery_outcome deliver_with_retry(const message& m, const std::vector<handler_ptr>& handlers,
                                    std::chrono::steady_clock::time_point deadline, const retry_context& ctx) {
    std::vector<bool> done(handlers.size(), false);
    std::chrono::milliseconds backoff = first_backoff;
    while (true) {
        bool all = true;
        for (std::size_t i = 0; i < handlers.size(); ++i) {
            if (done[i]) continue;
            if (call(*handlers[i], m, ctx.client_id) == handler_result::handled)
                done[i] = true;
            else
                all = false;
        }
        if (all) return delivery_outcome::handled;
        if (deadline - std::chrono::steady_clock::now() < backoff) return delivery_outcome::gave_up;
        const auto n = ++ctx.retries;
        if (ctx.wait(backoff)) return delivery_outcome::gave_up;
        if (n % 20 == 1)
            spdlog::warn("mqtt {}: handler asked to retry the message on '{}'; holding it (not acknowledged)",
                         ctx.client_id, m.topic);
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, max_backoff);
    }
}

}  // namespace detail
}  // namespace connguard::mqtt
