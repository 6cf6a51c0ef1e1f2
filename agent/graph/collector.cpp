#include "agent/graph/collector.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "common/text.h"

namespace connguard::graph {

namespace {

template <class T>
snapshot::collected<T> collect(result<T> r, graph_call c) {
    if (r) return snapshot::collected<T>::of(std::move(*r));
    spdlog::warn("{}", r.err().message);
    return snapshot::collected<T>::failed(to_collect_error(r.err(), c));
}

}  // namespace

snapshot::tenant_snapshot collect_snapshot(graph_client& gc, const collect_options& opts) {
    snapshot::tenant_snapshot s;
    s.tenant_key = opts.tenant_key;
    s.azure_tenant_id = gc.options().azure_tenant_id;
    s.account_upn = opts.account_upn;

    s.security_defaults_enabled = collect(gc.security_defaults_enabled(), graph_call::security_defaults);
    s.ca_policies = collect(gc.list_ca_policies(), graph_call::ca_policies);
    s.named_locations = collect(gc.list_named_locations(), graph_call::named_locations);

    auto user = gc.get_user(opts.account_upn);
    std::optional<snapshot::collect_error> user_error;
    if (!user) {
        spdlog::warn("{}", user.err().message);
        user_error = to_collect_error(user.err(), graph_call::user_by_upn);
    } else if (!*user) {
        user_error = snapshot::collect_error{
            "graph.not_found",
            "tenant " + opts.tenant_key + ": the connection account " + opts.account_upn + " does not exist (GET /v1.0/users: 404)",
            {}};
        spdlog::warn("{}", user_error->message);
    }
    if (user_error) {
        s.user = snapshot::collected<snapshot::account>::failed(*user_error);
        snapshot::collect_error dep = *user_error;
        dep.message = "needs the account's object id: " + user_error->message;
        s.group_ids = snapshot::collected<std::vector<std::string>>::failed(dep);
        s.roles = snapshot::collected<std::vector<snapshot::role_assignment>>::failed(dep);
        s.mfa_registration = snapshot::collected<snapshot::registration>::failed(dep);
        s.per_user_mfa_state = snapshot::collected<std::string>::failed(dep);
        return s;
    }
    const std::string id = (*user)->id;
    s.user = snapshot::collected<snapshot::account>::of(std::move(**user));
    s.group_ids = collect(gc.transitive_group_ids(id), graph_call::transitive_member_of);
    s.roles = collect(gc.role_assignments(id), graph_call::role_assignments);
    s.mfa_registration = collect(gc.registration_details(id), graph_call::registration_details);
    s.per_user_mfa_state = collect(gc.per_user_mfa_state(id), graph_call::per_user_mfa_get);
    return s;
}

std::vector<snapshot::signin_result> run_signin_probes(graph_client& gc, const probe_options& opts) {
    std::vector<snapshot::signin_result> out;
    for (const auto& app : opts.resource_app_ids) {
        auto r = gc.probe_signin({.client_id = opts.client_id,
                                  .username = opts.username,
                                  .password = opts.password,
                                  .resource_app_id = app});
        if (r) {
            out.push_back(std::move(*r));
            continue;
        }
        spdlog::warn("{}", r.err().message);
        snapshot::signin_result failed;
        failed.outcome = snapshot::signin_outcome::other;
        failed.resource_app_id = app;
        failed.error = "probe_failed";
        failed.error_description = r.err().code + ": " + r.err().message;
        out.push_back(std::move(failed));
    }
    return out;
}

snapshot::signin_history merge_signins(const snapshot::signin_history* previous,
                                       const std::vector<snapshot::signin_log_entry>& fresh,
                                       const signin_log_options& opts) {
    auto at = [](const snapshot::signin_log_entry& e) {
        clock::time_point t{};
        parse_rfc3339(e.created, t);
        return t;
    };
    snapshot::signin_history out;
    clock::time_point last_seen{};
    if (previous != nullptr && !previous->last_seen.empty() && parse_rfc3339(previous->last_seen, last_seen))
        out.last_seen = previous->last_seen;
    std::map<std::pair<std::string, std::string>, snapshot::signin_log_entry> newest;
    auto consider = [&](const snapshot::signin_log_entry& e) {
        const auto t = at(e);
        if (t > last_seen) {
            last_seen = t;
            out.last_seen = e.created;
        }
        if (!opts.probe_client_id.empty() && iequals(e.app_id, opts.probe_client_id)) return;
        if (!opts.tool_app_ids.empty()) {
            bool tool = false;
            for (const auto& a : opts.tool_app_ids) tool = tool || iequals(a, e.app_id);
            if (!tool) return;
        }
        if (t + opts.window < opts.now) return;
        const auto key = std::make_pair(to_lower(e.app_id), to_lower(e.resource_id));
        auto it = newest.find(key);
        if (it == newest.end() || at(it->second) < t) newest[key] = e;
    };
    if (previous != nullptr)
        for (const auto& e : previous->latest) consider(e);
    for (const auto& e : fresh) consider(e);
    for (auto& [k, e] : newest) out.latest.push_back(std::move(e));
    std::sort(out.latest.begin(), out.latest.end(), [&](const auto& a, const auto& b) { return at(a) > at(b); });
    return out;
}

snapshot::collected<snapshot::signin_history> collect_signin_log(graph_client& gc,
                                                                  const snapshot::signin_history* previous,
                                                                  const signin_log_options& opts) {
    std::string after = previous != nullptr ? previous->last_seen : std::string{};
    if (after.empty()) after = format_rfc3339(opts.now - opts.window);
    auto fresh = gc.recent_signins(opts.user_id, after);
    if (!fresh) {
        if (fresh.err().code == "graph.not_premium") spdlog::info("{}", fresh.err().message);
        else spdlog::warn("{}", fresh.err().message);
        return snapshot::collected<snapshot::signin_history>::failed(to_collect_error(fresh.err(), graph_call::sign_ins));
    }
    return snapshot::collected<snapshot::signin_history>::of(merge_signins(previous, *fresh, opts));
}

std::vector<snapshot::policy_audit> collect_policy_audits(graph_client& gc, const std::string& since) {
    auto r = gc.policy_audits_since(since);
    if (!r) {
        spdlog::warn("{} (change events carry no initiator this cycle)", r.err().message);
        return {};
    }
    return std::move(*r);
}

bool what_if_due(const std::optional<snapshot::collected<snapshot::whatif_exchange>>& previous,
                 const std::string& current_policies_digest, clock::time_point now, std::chrono::hours interval) {
    if (!previous || !previous->ok()) return true;
    const auto& w = *previous->value;
    if (w.policies_digest != current_policies_digest) return true;
    clock::time_point asked;
    if (!parse_rfc3339(w.asked_at, asked)) return true;
    return now - asked >= interval;
}

}  // namespace connguard::graph
