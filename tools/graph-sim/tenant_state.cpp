#include "tools/graph-sim/tenant_state.h"

#include <algorithm>
#include <deque>

#include "common/text.h"
#include "tools/graph-sim/sim_util.h"

namespace connguard::graph_sim {

namespace {

constexpr std::size_t max_audits = 10000;
constexpr std::size_t max_sign_ins = 5000;

}  // namespace

// ---- CA policies ------------------------------------------------------------------------------

std::optional<std::size_t> ca_policy_set::index_of(const std::string& id) const {
    const std::string k = to_lower(id);
    for (std::size_t i = 0; i < json_.size(); ++i)
        if (to_lower(json_[i].value("id", std::string())) == k) return i;
    return std::nullopt;
}

status ca_policy_set::add(json policy) {
    auto parsed = whatif::parse_policy(policy);
    if (!parsed) return parsed.err();
    json_.push_back(std::move(policy));
    parsed_.push_back(std::move(*parsed));
    return {};
}

status ca_policy_set::replace(const std::string& id, json policy) {
    const auto i = index_of(id);
    if (!i) return make_error("sim.policy", "unknown policy '" + id + "'");
    auto parsed = whatif::parse_policy(policy);
    if (!parsed) return parsed.err();
    json_[*i] = std::move(policy);
    parsed_[*i] = std::move(*parsed);
    return {};
}

bool ca_policy_set::remove(const std::string& id) {
    const auto i = index_of(id);
    if (!i) return false;
    json_.erase(json_.begin() + static_cast<std::ptrdiff_t>(*i));
    parsed_.erase(parsed_.begin() + static_cast<std::ptrdiff_t>(*i));
    return true;
}

const json* ca_policy_set::find(const std::string& id) const {
    const auto i = index_of(id);
    return i ? &json_[*i] : nullptr;
}

const whatif::policy* ca_policy_set::find_parsed(const std::string& id) const {
    const auto i = index_of(id);
    return i ? &parsed_[*i] : nullptr;
}

std::set<std::string> ca_policy_set::ids() const {
    std::set<std::string> out;
    for (const auto& p : json_) out.insert(to_lower(p.value("id", std::string())));
    return out;
}

// ---- tenant -----------------------------------------------------------------------------------

user* simulator::tenant_state::find_user(const std::string& key) {
    const std::string k = to_lower(key);
    for (auto& u : sc.users)
        if (u.id == k || to_lower(u.upn) == k) return &u;
    return nullptr;
}

app* simulator::tenant_state::find_app(const std::string& app_id) {
    const std::string k = to_lower(app_id);
    for (auto& a : sc.apps)
        if (a.app_id == k) return &a;
    return nullptr;
}

std::set<std::string> simulator::tenant_state::transitive_groups(const user& u) const {
    std::set<std::string> out;
    std::deque<std::string> todo(u.groups.begin(), u.groups.end());
    while (!todo.empty()) {
        const std::string g = todo.front();
        todo.pop_front();
        if (!out.insert(g).second) continue;
        auto it = sc.groups.find(g);
        if (it != sc.groups.end())
            for (const auto& p : it->second.member_of) todo.push_back(p);
    }
    return out;
}

whatif::directory simulator::tenant_state::directory_for(const user* up) const {
    whatif::directory d;
    d.security_defaults_enabled = sc.security_defaults_enabled;
    for (const auto& l : sc.named_locations) {
        auto nl = whatif::parse_named_location(l);
        if (nl) d.named_locations.push_back(std::move(*nl));
    }
    if (!up) return d;
    const user& u = *up;
    whatif::user_facts f;
    f.guest = to_lower(u.graph.value("userType", std::string("Member"))) == "guest";
    f.groups = transitive_groups(u);
    for (const auto& ra : u.roles) f.roles.insert(ra.role_definition_id);
    f.per_user_mfa_state = u.per_user_mfa_state == "enforced"  ? whatif::per_user_mfa::enforced
                           : u.per_user_mfa_state == "enabled" ? whatif::per_user_mfa::enabled
                                                               : whatif::per_user_mfa::disabled;
    f.is_mfa_registered = u.is_mfa_registered();
    d.users[u.id] = f;
    return d;
}

void simulator::tenant_state::add_audit(json entry) {
    sc.audits.push_back(std::move(entry));
    if (sc.audits.size() > max_audits) sc.audits.erase(sc.audits.begin());
}

void simulator::tenant_state::add_sign_in(json entry) {
    sc.sign_ins.push_back(std::move(entry));
    if (sc.sign_ins.size() > max_sign_ins) {
        auto oldest = std::min_element(sc.sign_ins.begin(), sc.sign_ins.end(), [](const json& a, const json& b) {
            return time_of(a, "createdDateTime") < time_of(b, "createdDateTime");
        });
        sc.sign_ins.erase(oldest);
    }
}

void simulator::tenant_state::seed_rng() {
    if (sc.faults.seeded) rng.seed(sc.faults.seed);
    else rng.seed(std::random_device{}());
}

}  // namespace connguard::graph_sim
