// graph_client's plain writes (remediation): one send each, ok on 2xx. The executor owns the
// guarded write path (agent/core/executor.h); a write in flight is never cancelled.
#include "agent/graph/detail/impl.h"
#include "agent/graph/detail/wire.h"
#include "agent/graph/graph_client.h"

namespace connguard::graph {

using namespace detail;

namespace {

status plain_write(graph_requests& requests, const graph_client_options& o, graph_call c, const std::string& method,
                   const std::string& url, const std::string& body) {
    const graph_request gr{c, method, url, body};
    auto r = requests.send(gr);
    if (!r) return r.err();
    if (r->status < 200 || r->status >= 300) return status_error(o, gr, *r);
    return {};
}

}  // namespace

status graph_client::patch_ca_policy(const std::string& policy_id, const std::string& body) {
    return plain_write(impl_->requests, opts_, graph_call::ca_policy_patch, "PATCH",
                       opts_.graph_url + "/v1.0/identity/conditionalAccess/policies/" + segment(policy_id), body);
}

status graph_client::patch_per_user_mfa(const std::string& user_id, const std::string& body) {
    return plain_write(impl_->requests, opts_, graph_call::per_user_mfa_patch, "PATCH",
                       opts_.graph_url + "/beta/users/" + segment(user_id) + "/authentication/requirements", body);
}

result<bool> graph_client::delete_role_assignment(const std::string& assignment_id) {
    const std::string url = opts_.graph_url + "/v1.0/roleManagement/directory/roleAssignments/" + segment(assignment_id);
    const graph_request del{graph_call::role_assignment_delete, "DELETE", url, {}};
    auto r = impl_->requests.send(del);
    if (!r) return r.err();
    if (r->status == 404) return false;
    if (r->status < 200 || r->status >= 300) return status_error(opts_, del, *r);
    return true;
}

}  // namespace connguard::graph
