#include "agent/graph/collector.h"

#include <spdlog/spdlog.h>

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

}  // namespace connguard::graph
