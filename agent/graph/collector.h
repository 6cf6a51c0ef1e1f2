#pragma once
// What the agent calls each cycle: read every item of the tenant snapshot through the Graph client,
// and run the ROPC sign-in probe for each target resource.
//
//   gc.reset_cycle_counters();
//   auto snap = graph::collect_snapshot(gc, {.tenant_key = key, .account_upn = upn});
//   snap.signins = graph::run_signin_probes(gc, {.client_id = probe_app, .username = upn,
//                                                .password = pw, .resource_app_ids = {exo, graph}});
//
// Items are collected independently: one failed call never blanks another. An item that needs the
// account's object id (groups, roles, registration, per-user MFA) fails with the user lookup's error
// when the lookup fails. A connection account that does not exist is `user` failed with code
// "graph.not_found" (and the dependent items too): the checks report it as a FAIL, not an ERROR.
#include <string>
#include <vector>

#include "agent/graph/graph_client.h"
#include "agent/snapshot/tenant_snapshot.h"

namespace connguard::graph {

struct collect_options {
    std::string tenant_key;   ///< copied into the snapshot
    std::string account_upn;  ///< the connection account
};

/// Reads security defaults, CA policies, named locations, the account, its transitive groups, role
/// assignments, MFA registration and per-user MFA state. Never throws; the sign-in list is left empty.
snapshot::tenant_snapshot collect_snapshot(graph_client& gc, const collect_options& opts);

struct probe_options {
    std::string client_id;                      ///< the public client the probe signs in with
    std::string username;                       ///< the connection account's UPN
    std::string password;                       ///< never logged
    std::vector<std::string> resource_app_ids;  ///< one probe per resource, in this order
};

/// One signin_result per resource. When the token endpoint cannot be reached (after retries), the
/// result is outcome `other` with error "probe_failed" and the reason in error_description (so a
/// network failure is never read as a sign-in verdict).
std::vector<snapshot::signin_result> run_signin_probes(graph_client& gc, const probe_options& opts);

}  // namespace connguard::graph
