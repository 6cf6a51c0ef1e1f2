#include "tools/graph-sim/scenario.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <fstream>
#include <sstream>

#include "common/clock.h"
#include "common/config.h"
#include "common/text.h"
#include "tools/graph-sim/crypto.h"
#include "tools/graph-sim/sim_util.h"

namespace connguard::graph_sim {

namespace {

/// Collects "<file>: field '<path>': <reason>" lines.
struct checker {
    std::string file;
    std::vector<std::string> errors;
    void fail(const std::string& field, const std::string& reason) {
        errors.push_back(file + ": field '" + field + "': " + reason);
    }
    const json* get(const json& obj, const std::string& key, const std::string& path, json::value_t type,
                    const char* type_name, bool required) {
        auto it = obj.find(key);
        if (it == obj.end() || it->is_null()) {
            if (required) fail(path, "missing");
            return nullptr;
        }
        const bool ok = type == json::value_t::number_float ? it->is_number() : it->type() == type ||
                        (type == json::value_t::number_integer && it->is_number_integer());
        if (!ok) {
            fail(path, std::string("must be ") + type_name);
            return nullptr;
        }
        return &*it;
    }
    std::string str(const json& obj, const std::string& key, const std::string& path, bool required) {
        const json* v = get(obj, key, path, json::value_t::string, "a string", required);
        return v ? v->get<std::string>() : std::string{};
    }
    std::string guid(const json& obj, const std::string& key, const std::string& path, bool required) {
        std::string s = str(obj, key, path, required);
        if (!s.empty() && !is_guid(s)) fail(path, "must be a GUID (got '" + s + "')");
        return to_lower(s);
    }
    bool boolean(const json& obj, const std::string& key, const std::string& path, bool fallback) {
        const json* v = get(obj, key, path, json::value_t::boolean, "true or false", false);
        return v ? v->get<bool>() : fallback;
    }
    const json* array(const json& obj, const std::string& key, const std::string& path) {
        return get(obj, key, path, json::value_t::array, "an array", false);
    }
    std::vector<std::string> strings(const json& obj, const std::string& key, const std::string& path) {
        std::vector<std::string> out;
        const json* a = array(obj, key, path);
        if (!a) return out;
        for (std::size_t i = 0; i < a->size(); ++i) {
            if (!(*a)[i].is_string()) {
                fail(path + "[" + std::to_string(i) + "]", "must be a string");
                continue;
            }
            out.push_back((*a)[i].get<std::string>());
        }
        return out;
    }
};

const std::set<std::string> sim_user_keys = {"password",        "groups",          "roles",
                                             "perUserMfaState", "isMfaRegistered", "registration",
                                             "methodsRegistered", "locked",        "passwordExpired",
                                             "signInOutcomeOverride"};

const std::set<std::string> fault_types = {"throttle", "unavailable", "latency", "malformedJson", "truncatedJson",
                                           "reset"};

json default_registration(const user& u) {
    const std::string user_type = to_lower(u.graph.value("userType", std::string("Member")));
    return json{{"id", u.id},
                {"userPrincipalName", u.upn},
                {"userDisplayName", u.graph.value("displayName", u.upn)},
                {"userType", user_type == "guest" ? "guest" : "member"},
                {"isAdmin", false},
                {"isSsprRegistered", false},
                {"isSsprEnabled", false},
                {"isSsprCapable", false},
                {"isMfaRegistered", false},
                {"isMfaCapable", false},
                {"isPasswordlessCapable", false},
                {"isSystemPreferredAuthenticationMethodEnabled", false},
                {"systemPreferredAuthenticationMethods", json::array()},
                {"userPreferredMethodForSecondaryAuthentication", ""},
                {"methodsRegistered", json::array()},
                {"lastUpdatedDateTime", "2026-01-01T00:00:00Z"}};
}

}  // namespace

std::string resolve_policy_sim_keys(json& policy, std::chrono::system_clock::time_point now) {
    if (!policy.is_object()) return {};
    auto it = policy.find("simCreatedDaysAgo");
    if (it == policy.end()) return {};
    if (!it->is_number() || it->get<double>() < 0 || !std::isfinite(it->get<double>()))
        return "simCreatedDaysAgo: must be a number of days >= 0";
    const auto ago = std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::duration<double>(it->get<double>() * 86400.0));
    policy["createdDateTime"] = format_rfc3339(now - ago, 7);
    policy.erase("simCreatedDaysAgo");
    return {};
}

bool is_microsoft_managed(const json& policy) {
    if (!policy.is_object()) return false;
    const auto tid = policy.find("templateId");
    if (tid != policy.end() && tid->is_string() && to_lower(tid->get<std::string>()).rfind("4200930c-0da2-4e33-ca01-", 0) == 0)
        return true;
    const auto dn = policy.find("displayName");
    return dn != policy.end() && dn->is_string() && dn->get<std::string>().rfind("Microsoft-managed:", 0) == 0;
}

result<json> parse_what_if_answers(const json& j, const std::set<std::string>& policy_ids, const std::string& where) {
    std::vector<std::string> errors;
    auto fail = [&](const std::string& field, const std::string& reason) {
        errors.push_back(where + ": field '" + field + "': " + reason);
    };
    json out = json::object();
    if (!j.is_object()) {
        fail("whatIfAnswers", "must be an object {\"<policyId>\": {\"policyApplies\": bool, \"analysisReasons\": \"...\"}}");
    } else {
        for (auto it = j.begin(); it != j.end(); ++it) {
            const std::string p = "whatIfAnswers." + it.key();
            const std::string id = to_lower(it.key());
            if (!policy_ids.count(id)) fail(p, "names no Conditional Access policy of this tenant");
            const json& a = it.value();
            if (!a.is_object()) {
                fail(p, "must be an object {\"policyApplies\": bool, \"analysisReasons\": \"...\"}");
                continue;
            }
            if (!a.contains("policyApplies") || !a["policyApplies"].is_boolean()) {
                fail(p + ".policyApplies", "missing or not true/false");
                continue;
            }
            const bool applies = a["policyApplies"].get<bool>();
            std::string reasons = applies ? "notSet" : "";
            if (a.contains("analysisReasons")) {
                if (!a["analysisReasons"].is_string() || a["analysisReasons"].get<std::string>().empty()) {
                    fail(p + ".analysisReasons", "must be a string (\"notSet\" or Graph's flags, e.g. \"users,location\")");
                    continue;
                }
                reasons = a["analysisReasons"].get<std::string>();
            }
            if (reasons.empty()) {
                fail(p + ".analysisReasons", "missing (needed when policyApplies is false)");
                continue;
            }
            for (auto k = a.begin(); k != a.end(); ++k)
                if (k.key() != "policyApplies" && k.key() != "analysisReasons") fail(p + "." + k.key(), "unknown field");
            out[id] = json{{"policyApplies", applies}, {"analysisReasons", reasons}};
        }
    }
    if (!errors.empty()) {
        std::string msg;
        for (const auto& e : errors) msg += (msg.empty() ? "" : "\n") + e;
        return make_error("sim.whatif", msg);
    }
    return out;
}

std::string check_sign_in(const json& entry) {
    if (!entry.is_object()) return "must be an object (a Graph beta signIn)";
    if (auto it = entry.find("simMinutesAgo"); it != entry.end())
        if (!it->is_number() || it->get<double>() < 0 || !std::isfinite(it->get<double>()))
            return "simMinutesAgo: must be a number of minutes >= 0";
    for (const char* k : {"signInEventTypes", "appliedConditionalAccessPolicies"})
        if (auto it = entry.find(k); it != entry.end() && !it->is_array()) return std::string(k) + ": must be an array";
    for (const char* k : {"status", "location"})
        if (auto it = entry.find(k); it != entry.end() && !it->is_object() && !it->is_null())
            return std::string(k) + ": must be an object";
    return {};
}

bool is_guid(const std::string& s) {
    if (s.size() != 36) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return false;
        } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
            return false;
        }
    }
    return true;
}

std::string role_assignment_id(const std::string& role_template_id, const std::string& principal_id) {
    const std::string a = guid_bytes_le(to_lower(role_template_id));
    const std::string b = guid_bytes_le(to_lower(principal_id));
    if (a.empty() || b.empty()) return role_template_id + "-" + principal_id;
    return base64url_encode(a + b) + "-1";
}

void apply_user_fields(user& u, const json& fields) {
    for (auto it = fields.begin(); it != fields.end(); ++it) {
        const std::string& k = it.key();
        const json& v = it.value();
        if (k == "password" && v.is_string()) u.password = v.get<std::string>();
        else if (k == "perUserMfaState" && v.is_string()) u.per_user_mfa_state = v.get<std::string>();
        else if (k == "isMfaRegistered" && v.is_boolean()) {
            u.registration["isMfaRegistered"] = v;
            u.registration["isMfaCapable"] = v;
            if (v.get<bool>() && u.registration["methodsRegistered"].empty())
                u.registration["methodsRegistered"] = json::array({"microsoftAuthenticatorPush"});
            if (!v.get<bool>()) u.registration["methodsRegistered"] = json::array();
        } else if (k == "methodsRegistered" && v.is_array()) u.registration["methodsRegistered"] = v;
        else if (k == "registration" && v.is_object()) u.registration.merge_patch(v);
        else if (k == "locked" && v.is_boolean()) u.locked = v.get<bool>();
        else if (k == "passwordExpired" && v.is_boolean()) u.password_expired = v.get<bool>();
        else if (k == "signInOutcomeOverride") {
            if (v.is_null()) u.sign_in_override.reset();
            else if (v.is_number_integer()) u.sign_in_override = v.get<long>();
        } else if (k == "groups" && v.is_array()) {
            u.groups.clear();
            for (const auto& g : v)
                if (g.is_string()) u.groups.push_back(to_lower(g.get<std::string>()));
        } else if (!sim_user_keys.count(k)) {
            if (k == "id" || k == "userPrincipalName") continue;  // identity is fixed
            u.graph[k] = v;
        }
    }
}

result<fault_config> parse_faults(const json& j, const std::string& where) {
    fault_config f;
    std::vector<std::string> errors;
    auto fail = [&](const std::string& field, const std::string& reason) {
        errors.push_back(where + ": field '" + field + "': " + reason);
    };
    const json* rules = nullptr;
    std::string base = "faults";
    if (j.is_array()) {
        rules = &j;
    } else if (j.is_object()) {
        if (j.contains("seed")) {
            if (!j["seed"].is_number_unsigned() && !j["seed"].is_number_integer()) fail("faults.seed", "must be an integer");
            else {
                f.seed = j["seed"].get<std::uint64_t>();
                f.seeded = true;
            }
        }
        if (j.contains("rules")) {
            if (!j["rules"].is_array()) fail("faults.rules", "must be an array");
            else rules = &j["rules"];
        }
        base = "faults.rules";
    } else if (!j.is_null()) {
        fail("faults", "must be an object {\"seed\":..., \"rules\":[...]} or an array of rules");
    }
    if (rules) {
        for (std::size_t i = 0; i < rules->size(); ++i) {
            const json& r = (*rules)[i];
            const std::string p = base + "[" + std::to_string(i) + "]";
            if (!r.is_object()) {
                fail(p, "must be an object");
                continue;
            }
            fault_rule rule;
            if (!r.contains("type") || !r["type"].is_string()) {
                fail(p + ".type", "missing or not a string");
                continue;
            }
            rule.type = r["type"].get<std::string>();
            if (!fault_types.count(rule.type)) {
                fail(p + ".type", "unknown fault type '" + rule.type +
                                      "' (throttle, unavailable, latency, malformedJson, truncatedJson, reset)");
                continue;
            }
            if (r.contains("rate")) {
                if (!r["rate"].is_number() || r["rate"].get<double>() < 0 || r["rate"].get<double>() > 1)
                    fail(p + ".rate", "must be a number from 0 to 1");
                else rule.rate = r["rate"].get<double>();
            }
            if (r.contains("pathPrefix")) {
                if (!r["pathPrefix"].is_string()) fail(p + ".pathPrefix", "must be a string");
                else rule.path_prefix = r["pathPrefix"].get<std::string>();
            }
            if (r.contains("retryAfter") && !r["retryAfter"].is_null()) {
                if (!r["retryAfter"].is_number() || r["retryAfter"].get<double>() < 0)
                    fail(p + ".retryAfter", "must be a number of seconds >= 0");
                else rule.retry_after = r["retryAfter"].get<double>();
            }
            if (r.contains("latencyMs")) {
                if (!r["latencyMs"].is_number_integer() || r["latencyMs"].get<long>() < 0 ||
                    r["latencyMs"].get<long>() > 600000)
                    fail(p + ".latencyMs", "must be an integer from 0 to 600000");
                else rule.latency_ms = r["latencyMs"].get<long>();
            }
            if (rule.type == "latency" && !r.contains("latencyMs")) fail(p + ".latencyMs", "missing (latency fault)");
            if (r.contains("maxCount")) {
                if (!r["maxCount"].is_number_integer() || r["maxCount"].get<long>() < 0)
                    fail(p + ".maxCount", "must be an integer >= 0");
                else rule.max_count = r["maxCount"].get<long>();
            }
            f.rules.push_back(rule);
        }
    }
    if (!errors.empty()) {
        std::string msg;
        for (const auto& e : errors) msg += (msg.empty() ? "" : "\n") + e;
        return make_error("sim.faults", msg);
    }
    return f;
}

json faults_to_json(const fault_config& f) {
    json rules = json::array();
    for (const auto& r : f.rules) {
        json j{{"type", r.type}, {"rate", r.rate}, {"fired", r.fired}};
        if (!r.path_prefix.empty()) j["pathPrefix"] = r.path_prefix;
        if (r.retry_after) j["retryAfter"] = *r.retry_after;
        if (r.latency_ms) j["latencyMs"] = r.latency_ms;
        if (r.max_count >= 0) j["maxCount"] = r.max_count;
        rules.push_back(j);
    }
    json out{{"rules", rules}};
    if (f.seeded) out["seed"] = f.seed;
    return out;
}

result<tenant_scenario> load_scenario(const std::filesystem::path& file) {
    auto doc = config::load_file(file);
    if (!doc) return doc.err();
    const json& root = doc->root;
    checker c{file.string(), {}};
    const auto load_time = std::chrono::system_clock::now();
    tenant_scenario t;
    t.file = file;
    t.tenant_id = c.guid(root, "tenantId", "tenantId", true);
    t.domain = to_lower(c.str(root, "domain", "domain", true));
    if (!t.domain.empty() && t.domain.find('.') == std::string::npos) c.fail("domain", "must be a DNS domain name");
    t.display_name = c.str(root, "displayName", "displayName", false);
    if (t.display_name.empty()) t.display_name = t.domain;
    t.security_defaults_enabled = c.boolean(root, "securityDefaultsEnabled", "securityDefaultsEnabled", false);
    t.security_defaults_user_mfa = c.boolean(root, "securityDefaultsUserMfa", "securityDefaultsUserMfa", false);
    if (root.contains("ropcClientAppType")) {
        t.ropc_client_app_type = c.str(root, "ropcClientAppType", "ropcClientAppType", false);
        static const std::set<std::string> types = {"browser", "mobileAppsAndDesktopClients", "exchangeActiveSync",
                                                    "other"};
        if (!types.count(t.ropc_client_app_type))
            c.fail("ropcClientAppType", "must be browser, mobileAppsAndDesktopClients, exchangeActiveSync or other");
    }
    if (const json* rl = c.get(root, "caRateLimit", "caRateLimit", json::value_t::object, "an object", false)) {
        t.ca_rate_limit_enabled = c.boolean(*rl, "enabled", "caRateLimit.enabled", true);
        if (rl->contains("requestsPerSecond")) {
            if (!(*rl)["requestsPerSecond"].is_number() || (*rl)["requestsPerSecond"].get<double>() <= 0)
                c.fail("caRateLimit.requestsPerSecond", "must be a number > 0");
            else t.ca_rate_limit_rps = (*rl)["requestsPerSecond"].get<double>();
        }
    }

    // groups
    if (const json* groups = c.array(root, "groups", "groups")) {
        for (std::size_t i = 0; i < groups->size(); ++i) {
            const json& g = (*groups)[i];
            const std::string p = "groups[" + std::to_string(i) + "]";
            if (!g.is_object()) {
                c.fail(p, "must be an object");
                continue;
            }
            group gr;
            gr.id = c.guid(g, "id", p + ".id", true);
            gr.display_name = c.str(g, "displayName", p + ".displayName", false);
            for (auto& m : c.strings(g, "memberOf", p + ".memberOf")) gr.member_of.push_back(to_lower(m));
            if (gr.id.empty()) continue;
            if (t.groups.count(gr.id)) c.fail(p + ".id", "duplicate group id " + gr.id);
            t.groups[gr.id] = gr;
        }
        for (const auto& [id, gr] : t.groups)
            for (const auto& parent : gr.member_of)
                if (!t.groups.count(parent)) c.fail("groups", "group " + id + " is a member of unknown group " + parent);
    }

    // apps
    if (const json* apps = c.array(root, "apps", "apps")) {
        std::set<std::string> seen;
        for (std::size_t i = 0; i < apps->size(); ++i) {
            const json& a = (*apps)[i];
            const std::string p = "apps[" + std::to_string(i) + "]";
            if (!a.is_object()) {
                c.fail(p, "must be an object");
                continue;
            }
            app ap;
            ap.app_id = c.guid(a, "appId", p + ".appId", true);
            if (!ap.app_id.empty() && !seen.insert(ap.app_id).second) c.fail(p + ".appId", "duplicate appId");
            ap.display_name = c.str(a, "displayName", p + ".displayName", false);
            if (ap.display_name.empty()) ap.display_name = "App " + ap.app_id;
            ap.service_principal_id = c.guid(a, "servicePrincipalId", p + ".servicePrincipalId", false);
            if (a.contains("clientSecret")) ap.client_secret = c.str(a, "clientSecret", p + ".clientSecret", true);
            ap.client_secret_expired = c.boolean(a, "clientSecretExpired", p + ".clientSecretExpired", false);
            std::vector<std::string> cert_files;
            if (a.contains("certificateFile")) cert_files.push_back(c.str(a, "certificateFile", p + ".certificateFile", true));
            for (auto& f : c.strings(a, "certificateFiles", p + ".certificateFiles")) cert_files.push_back(f);
            for (const auto& cf : cert_files) {
                if (cf.empty()) continue;
                std::filesystem::path cp = cf;
                if (cp.is_relative()) cp = file.parent_path() / cp;
                auto cert = load_certificate(cp);
                if (!cert) c.fail(p + ".certificateFile", cert.err().message);
                else ap.certificates.push_back(std::move(*cert));
            }
            if (!ap.client_secret && cert_files.empty())
                c.fail(p, "needs clientSecret and/or certificateFile (a credential to sign in with)");
            for (auto& perm : c.strings(a, "permissions", p + ".permissions")) ap.permissions.insert(perm);
            ap.public_client = c.boolean(a, "publicClient", p + ".publicClient", false);
            t.apps.push_back(std::move(ap));
        }
    }
    if (t.apps.empty() && c.errors.empty()) c.fail("apps", "at least one app is needed (the agent's app registration)");

    // users
    if (const json* users = c.array(root, "users", "users")) {
        std::set<std::string> ids, upns;
        for (std::size_t i = 0; i < users->size(); ++i) {
            const json& uj = (*users)[i];
            const std::string p = "users[" + std::to_string(i) + "]";
            if (!uj.is_object()) {
                c.fail(p, "must be an object");
                continue;
            }
            user u;
            u.id = c.guid(uj, "id", p + ".id", true);
            u.upn = c.str(uj, "userPrincipalName", p + ".userPrincipalName", true);
            if (!u.upn.empty() && u.upn.find('@') == std::string::npos)
                c.fail(p + ".userPrincipalName", "must look like name@domain");
            if (!u.id.empty() && !ids.insert(u.id).second) c.fail(p + ".id", "duplicate user id");
            if (!u.upn.empty() && !upns.insert(to_lower(u.upn)).second) c.fail(p + ".userPrincipalName", "duplicate UPN");
            c.str(uj, "password", p + ".password", false);
            c.str(uj, "displayName", p + ".displayName", false);
            c.boolean(uj, "accountEnabled", p + ".accountEnabled", true);
            c.boolean(uj, "locked", p + ".locked", false);
            c.boolean(uj, "passwordExpired", p + ".passwordExpired", false);
            c.boolean(uj, "isMfaRegistered", p + ".isMfaRegistered", false);
            c.strings(uj, "methodsRegistered", p + ".methodsRegistered");
            if (uj.contains("userType")) {
                const std::string ut = c.str(uj, "userType", p + ".userType", false);
                if (ut != "Member" && ut != "Guest") c.fail(p + ".userType", "must be Member or Guest");
            }
            if (uj.contains("perUserMfaState")) {
                const std::string s = c.str(uj, "perUserMfaState", p + ".perUserMfaState", false);
                if (s != "disabled" && s != "enabled" && s != "enforced")
                    c.fail(p + ".perUserMfaState", "must be disabled, enabled or enforced");
            }
            if (uj.contains("registration") && !uj["registration"].is_object())
                c.fail(p + ".registration", "must be an object (userRegistrationDetails fields)");
            if (uj.contains("signInOutcomeOverride") && !uj["signInOutcomeOverride"].is_null() &&
                !uj["signInOutcomeOverride"].is_number_integer())
                c.fail(p + ".signInOutcomeOverride", "must be an AADSTS code (integer) or null");
            for (auto& g : c.strings(uj, "groups", p + ".groups"))
                if (!t.groups.count(to_lower(g))) c.fail(p + ".groups", "unknown group " + g + " (add it to 'groups')");
            u.graph = json::object();
            u.graph["id"] = u.id;
            u.graph["userPrincipalName"] = u.upn;
            u.graph["displayName"] = u.upn.substr(0, u.upn.find('@'));
            u.graph["accountEnabled"] = true;
            u.graph["userType"] = "Member";
            u.registration = json::object();
            apply_user_fields(u, uj);
            u.registration = [&] {
                json r = default_registration(u);
                r.merge_patch(u.registration);
                return r;
            }();
            if (const json* roles = c.array(uj, "roles", p + ".roles")) {
                for (std::size_t k = 0; k < roles->size(); ++k) {
                    const json& r = (*roles)[k];
                    const std::string rp = p + ".roles[" + std::to_string(k) + "]";
                    role_assignment ra;
                    if (r.is_string()) {
                        ra.role_definition_id = to_lower(r.get<std::string>());
                    } else if (r.is_object()) {
                        ra.role_definition_id = c.guid(r, "roleDefinitionId", rp + ".roleDefinitionId", true);
                        ra.id = c.str(r, "id", rp + ".id", false);
                        if (r.contains("directoryScopeId"))
                            ra.directory_scope_id = c.str(r, "directoryScopeId", rp + ".directoryScopeId", false);
                    } else {
                        c.fail(rp, "must be a role template id or {\"roleDefinitionId\":..., \"id\":...}");
                        continue;
                    }
                    if (!is_guid(ra.role_definition_id)) {
                        c.fail(rp, "role template id must be a GUID");
                        continue;
                    }
                    if (ra.id.empty()) ra.id = role_assignment_id(ra.role_definition_id, u.id);
                    u.roles.push_back(ra);
                }
            }
            t.users.push_back(std::move(u));
        }
    }

    // conditional access policies (Graph JSON as exported; kept as is)
    if (const json* pols = c.array(root, "conditionalAccessPolicies", "conditionalAccessPolicies")) {
        std::set<std::string> ids;
        for (std::size_t i = 0; i < pols->size(); ++i) {
            const json& pj = (*pols)[i];
            const std::string p = "conditionalAccessPolicies[" + std::to_string(i) + "]";
            if (!pj.is_object()) {
                c.fail(p, "must be an object (a conditionalAccessPolicy)");
                continue;
            }
            const std::string id = c.str(pj, "id", p + ".id", true);
            if (!id.empty() && !ids.insert(to_lower(id)).second) c.fail(p + ".id", "duplicate policy id " + id);
            c.str(pj, "displayName", p + ".displayName", true);
            json resolved = pj;
            if (const std::string e = resolve_policy_sim_keys(resolved, load_time); !e.empty())
                c.fail(p + "." + e.substr(0, e.find(':')), e.substr(e.find(':') + 2));
            t.policies.push_back(std::move(resolved));
        }
    }
    if (const json* locs = c.array(root, "namedLocations", "namedLocations")) {
        for (std::size_t i = 0; i < locs->size(); ++i) {
            const json& lj = (*locs)[i];
            const std::string p = "namedLocations[" + std::to_string(i) + "]";
            if (!lj.is_object()) {
                c.fail(p, "must be an object (a namedLocation)");
                continue;
            }
            c.str(lj, "id", p + ".id", true);
            t.named_locations.push_back(lj);
        }
    }
    if (const json* audits = c.array(root, "directoryAudits", "directoryAudits")) {
        for (const auto& a : *audits)
            if (a.is_object()) t.audits.push_back(a);
    }
    if (root.contains("faults")) {
        auto f = parse_faults(root["faults"], file.string());
        if (!f) c.errors.push_back(f.err().message);
        else t.faults = std::move(*f);
    }
    t.entra_id_premium = c.boolean(root, "entraIdPremium", "entraIdPremium", true);
    if (const json* sis = c.array(root, "signIns", "signIns")) {
        for (std::size_t i = 0; i < sis->size(); ++i) {
            const std::string e = check_sign_in((*sis)[i]);
            const std::string p = "signIns[" + std::to_string(i) + "]";
            if (!e.empty()) {
                const auto colon = e.find(": ");
                if (colon == std::string::npos) c.fail(p, e);
                else c.fail(p + "." + e.substr(0, colon), e.substr(colon + 2));
                continue;
            }
            t.sign_ins.push_back((*sis)[i]);
        }
    }
    if (root.contains("whatIfAnswers") && !root["whatIfAnswers"].is_null()) {
        std::set<std::string> ids;
        for (const auto& p : t.policies) ids.insert(to_lower(p.value("id", std::string())));
        auto a = parse_what_if_answers(root["whatIfAnswers"], ids, file.string());
        if (!a) c.errors.push_back(a.err().message);
        else t.what_if_answers = std::move(*a);
    }
    static const std::set<std::string> known = {
        "tenantId",  "domain", "displayName", "securityDefaultsEnabled", "securityDefaultsUserMfa",
        "ropcClientAppType", "caRateLimit", "groups", "apps", "users", "conditionalAccessPolicies",
        "namedLocations", "directoryAudits", "faults", "entraIdPremium", "signIns", "whatIfAnswers",
        "description", "$comment"};
    for (auto it = root.begin(); it != root.end(); ++it)
        if (!known.count(it.key())) c.fail(it.key(), "unknown field (see tools/graph-sim/README.md)");

    if (!c.errors.empty()) {
        std::string msg;
        for (const auto& e : c.errors) msg += (msg.empty() ? "" : "\n") + e;
        return make_error("sim.scenario", msg);
    }
    return t;
}

result<std::vector<tenant_scenario>> load_scenarios(const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        return make_error("sim.scenario", dir.string() + ": not a folder of scenario files");
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
        if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) return make_error("sim.scenario", dir.string() + ": no *.json scenario files");
    std::vector<tenant_scenario> out;
    out.reserve(files.size());
    std::map<std::string, std::string> ids, domains;
    std::string errors;
    for (const auto& f : files) {
        auto s = load_scenario(f);
        if (!s) {
            errors += (errors.empty() ? "" : "\n") + s.err().message;
            continue;
        }
        if (auto [it, fresh] = ids.emplace(s->tenant_id, f.string()); !fresh)
            errors += (errors.empty() ? "" : "\n") + f.string() + ": field 'tenantId': duplicate of " + it->second;
        if (auto [it, fresh] = domains.emplace(s->domain, f.string()); !fresh)
            errors += (errors.empty() ? "" : "\n") + f.string() + ": field 'domain': duplicate of " + it->second;
        out.push_back(std::move(*s));
    }
    if (!errors.empty()) return make_error("sim.scenario", errors);
    return out;
}

}  // namespace connguard::graph_sim
