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
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "agent/graph/graph_client.h"
#include "agent/snapshot/tenant_snapshot.h"
#include "common/clock.h"

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

struct signin_log_options {
    std::string user_id;                     ///< the connection account's object id
    clock::time_point now;
    std::chrono::hours window{24};           ///< how far back sign-ins count
    std::vector<std::string> tool_app_ids;   ///< the tool's client app ids; empty = any app
    std::string probe_client_id;             ///< the probe's own sign-ins are never the tool's
};

/// Folds newly read sign-ins into what was kept: entries of the probe's client, of apps that are not
/// the tool's, or older than the window are dropped; the newest entry per (client app, resource) is
/// kept; last_seen is the newest createdDateTime ever read. Pure.
snapshot::signin_history merge_signins(const snapshot::signin_history* previous,
                                       const std::vector<snapshot::signin_log_entry>& fresh,
                                       const signin_log_options& opts);

/// Reads the account's non-interactive sign-ins since the last one seen (one Graph request; on the
/// first read, since now - window) and merges them with `previous`. A tenant without Entra ID P1 is
/// an item failed with "graph.not_premium".
snapshot::collected<snapshot::signin_history> collect_signin_log(graph_client& gc,
                                                                  const snapshot::signin_history* previous,
                                                                  const signin_log_options& opts);

/// Who changed which CA policy since `since` (the directory audit log); empty on error (logged).
std::vector<snapshot::policy_audit> collect_policy_audits(graph_client& gc, const std::string& since);

/// True when Microsoft's What If should be asked now: never asked, the last answer failed, the CA
/// policies changed since, or the answer is older than `interval`.
bool what_if_due(const std::optional<snapshot::collected<snapshot::whatif_exchange>>& previous,
                 const std::string& current_policies_digest, clock::time_point now, std::chrono::hours interval);

}  // namespace connguard::graph
