// graph_client: the call table, construction, counters and the token entry points. The parts:
// detail/transport (the one retry loop), detail/token_source (app tokens, ROPC probe),
// detail/graph_requests (token, CA pacing, 401 refresh, paging), graph_reads.cpp, graph_writes.cpp.
#include "agent/graph/graph_client.h"

#include <thread>

#include "agent/graph/detail/impl.h"
#include "agent/graph/detail/wire.h"

namespace connguard::graph {

// ---- call table ------------------------------------------------------------------------------

const char* to_string(graph_call c) {
    switch (c) {
        case graph_call::security_defaults: return "read security defaults";
        case graph_call::ca_policies: return "list CA policies";
        case graph_call::ca_policy_get: return "get CA policy";
        case graph_call::ca_policy_patch: return "update CA policy";
        case graph_call::named_locations: return "list named locations";
        case graph_call::user_by_upn: return "get user";
        case graph_call::transitive_member_of: return "list transitive group memberships";
        case graph_call::role_assignments: return "list role assignments";
        case graph_call::role_assignment_delete: return "delete role assignment";
        case graph_call::registration_details: return "read MFA registration details";
        case graph_call::per_user_mfa_get: return "read per-user MFA state";
        case graph_call::per_user_mfa_patch: return "set per-user MFA state";
        case graph_call::sign_ins: return "read the sign-in log";
        case graph_call::directory_audits: return "read the directory audit log";
        case graph_call::ca_evaluate: return "ask Conditional Access What If";
    }
    return "graph call";
}

const char* endpoint_name(graph_call c) {
    switch (c) {
        case graph_call::security_defaults: return "security_defaults";
        case graph_call::ca_policies: return "ca_policies";
        case graph_call::ca_policy_get: return "ca_policy_get";
        case graph_call::ca_policy_patch: return "ca_policy_patch";
        case graph_call::named_locations: return "named_locations";
        case graph_call::user_by_upn: return "user_by_upn";
        case graph_call::transitive_member_of: return "transitive_member_of";
        case graph_call::role_assignments: return "role_assignments";
        case graph_call::role_assignment_delete: return "role_assignment_delete";
        case graph_call::registration_details: return "registration_details";
        case graph_call::per_user_mfa_get: return "per_user_mfa_get";
        case graph_call::per_user_mfa_patch: return "per_user_mfa_patch";
        case graph_call::sign_ins: return "sign_ins";
        case graph_call::directory_audits: return "directory_audits";
        case graph_call::ca_evaluate: return "ca_evaluate";
    }
    return "other";
}

std::vector<std::string> metric_endpoints() {
    std::vector<std::string> out = {"token"};
    for (int c = 0; c <= static_cast<int>(graph_call::ca_evaluate); ++c) out.emplace_back(endpoint_name(static_cast<graph_call>(c)));
    return out;
}

const char* required_permission(graph_call c) {
    switch (c) {
        case graph_call::security_defaults:
        case graph_call::ca_policies:
        case graph_call::ca_policy_get:
        case graph_call::named_locations:
        case graph_call::per_user_mfa_get:
            return "Policy.Read.All";
        case graph_call::ca_policy_patch: return "Policy.ReadWrite.ConditionalAccess + Policy.Read.All";
        case graph_call::user_by_upn: return "User.Read.All";
        case graph_call::transitive_member_of: return "GroupMember.Read.All";
        case graph_call::role_assignments: return "RoleManagement.Read.Directory";
        case graph_call::role_assignment_delete: return "RoleManagement.ReadWrite.Directory";
        case graph_call::registration_details: return "AuditLog.Read.All";
        case graph_call::per_user_mfa_patch: return "Policy.ReadWrite.AuthenticationMethod";
        case graph_call::sign_ins:
        case graph_call::directory_audits: return "AuditLog.Read.All";
        case graph_call::ca_evaluate: return "Policy.Read.ConditionalAccess";
    }
    return "";
}

snapshot::collect_error to_collect_error(const error& e, graph_call c) {
    snapshot::collect_error out{e.code, e.message, {}};
    if (e.code == "graph.forbidden") out.missing_permission = required_permission(c);
    return out;
}

// ---- client ----------------------------------------------------------------------------------

graph_client::graph_client(graph_client_options opts, const connguard::clock& clk) : opts_(std::move(opts)), clock_(clk) {
    opts_.authority_url = detail::strip_trailing_slash(opts_.authority_url);
    opts_.graph_url = detail::strip_trailing_slash(opts_.graph_url);
    opts_.graph_resource = detail::strip_trailing_slash(opts_.graph_resource);
    if (!opts_.sleep) opts_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
    // The parts keep references to opts_ and counters_, so they are made once the options are final.
    impl_ = std::make_unique<impl>(opts_, clock_, counters_);
}

graph_client::~graph_client() = default;

void graph_client::reset_cycle_counters() {
    counters_ = {};
    impl_->transport.refill_budget();
    impl_->tokens.forget_refusal();
}

void graph_client::release_connections() { impl_->transport.close_connections(); }

result<std::string> graph_client::access_token() { return impl_->tokens.access_token(); }

void graph_client::invalidate_token() { impl_->tokens.invalidate(); }

result<snapshot::signin_result> graph_client::probe_signin(const probe_request& req) {
    return impl_->tokens.probe_signin(req);
}

}  // namespace connguard::graph
