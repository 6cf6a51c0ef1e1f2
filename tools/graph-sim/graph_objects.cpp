#include "tools/graph-sim/graph_objects.h"

#include <string>
#include <vector>

#include "agent/whatif/directory.h"

namespace connguard::graph_sim {

json security_defaults_json(const simulator::tenant_state& t) {
    return json{{"description",
                 "Security defaults is a set of basic identity security mechanisms recommended by Microsoft. When enabled, "
                 "these recommendations will be automatically enforced in your organization. Administrators and users will "
                 "be better protected from common identity related attacks."},
                {"displayName", "Security Defaults"},
                {"id", "00000000-0000-0000-0000-000000000005"},
                {"isEnabled", t.sc.security_defaults_enabled}};
}

json user_default_json(const user& u) {
    // Graph v1.0 returns only these properties unless $select names others.
    static const std::vector<std::string> defaults = {"businessPhones", "displayName", "givenName", "jobTitle",
                                                      "mail", "mobilePhone", "officeLocation", "preferredLanguage",
                                                      "surname", "userPrincipalName", "id"};
    json out = json::object();
    for (const auto& k : defaults) out[k] = u.graph.contains(k) ? u.graph[k] : (k == "businessPhones" ? json::array() : json(nullptr));
    return out;
}

json user_full_json(const user& u) {
    json out = user_default_json(u);
    for (auto it = u.graph.begin(); it != u.graph.end(); ++it) out[it.key()] = it.value();
    return out;
}

json assignment_json(const user& u, const role_assignment& ra) {
    return json{{"id", ra.id},
                {"principalId", u.id},
                {"resourceScope", ra.directory_scope_id},
                {"directoryScopeId", ra.directory_scope_id},
                {"roleDefinitionId", ra.role_definition_id}};
}

json registration_json(const user& u) {
    json r = u.registration;
    r["id"] = u.id;
    r["userPrincipalName"] = u.upn;
    r["userDisplayName"] = u.graph.value("displayName", u.upn);
    bool admin = false;  // follows the user's current privileged roles
    for (const auto& ra : u.roles)
        if (whatif::security_defaults_privileged_roles().count(ra.role_definition_id)) admin = true;
    r["isAdmin"] = admin;
    return r;
}

}  // namespace connguard::graph_sim
