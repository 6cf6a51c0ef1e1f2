#pragma once
// One tenant's live state: the scenario as loaded and changed since (apps, users, groups, named
// locations, Security Defaults, audits, sign-ins, faults, CA limiter), its Conditional Access
// policies, request counters, the fault RNG and the token generation. Whoever reads or changes a
// tenant holds its `mu`.
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "agent/whatif/directory.h"
#include "agent/whatif/policy.h"
#include "tools/graph-sim/scenario.h"
#include "tools/graph-sim/simulator.h"

namespace connguard::graph_sim {

/// Request counts of a tenant (GET /_sim/.../requests).
struct counters {
    long total = 0;
    long token = 0;
    long graph = 0;
    long throttled = 0;  ///< 429 answers (rate limit and injected)
    long faults = 0;     ///< injected faults of any kind
    std::map<std::string, long> by_route;
};

/// A tenant's CA policies, in the tenant's order, each as Graph JSON and in the what-if engine's
/// parsed form. The two are kept in step here and nowhere else: a policy is stored only when
/// whatif::parse_policy accepts it, and json_list()[i] and parsed()[i] are always the same policy.
/// Ids compare case-insensitively.
class ca_policy_set {
public:
    /// Appends a policy; on the engine's refusal nothing is stored and its error is returned.
    status add(json policy);
    /// Replaces the policy `id` in place (same position); on refusal the old one is kept.
    status replace(const std::string& id, json policy);
    /// Removes the policy `id`; false when there is none.
    bool remove(const std::string& id);

    const json* find(const std::string& id) const;                  ///< null when unknown
    const whatif::policy* find_parsed(const std::string& id) const;  ///< null when unknown
    const std::vector<json>& json_list() const { return json_; }
    const std::vector<whatif::policy>& parsed() const { return parsed_; }
    std::set<std::string> ids() const;  ///< lower case

private:
    std::optional<std::size_t> index_of(const std::string& id) const;

    std::vector<json> json_;
    std::vector<whatif::policy> parsed_;
};

struct simulator::tenant_state {
    std::mutex mu;
    tenant_scenario sc;       ///< the tenant's data; sc.policies is left empty, the policies live in `policies`
    ca_policy_set policies;
    std::mt19937_64 rng;      ///< fault dice
    counters count;
    std::chrono::steady_clock::time_point ca_next_allowed{};
    std::int64_t token_generation = 0;  ///< tokens of an older generation are revoked

    /// By id or UPN (case-insensitive).
    user* find_user(const std::string& key);
    app* find_app(const std::string& app_id);
    /// Transitive group ids of a user.
    std::set<std::string> transitive_groups(const user& u) const;
    /// The what-if engine's view of the tenant and of one user (none: only tenant-wide facts).
    whatif::directory directory_for(const user* u) const;

    /// Appends a directoryAudits entry, dropping the oldest beyond 10000.
    void add_audit(json entry);
    /// Appends a (filled) sign-in log entry, dropping the oldest beyond 5000.
    void add_sign_in(json entry);
    /// Reseeds the fault dice: with the faults' seed when given, else at random.
    void seed_rng();
    void count_route(const std::string& route) { ++count.by_route[route]; }
};

}  // namespace connguard::graph_sim
