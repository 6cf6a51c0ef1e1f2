#pragma once
// For tests of the checks (agent/checks): a tenant in which nothing stands in the connection
// account's way, and lookups of a check's results, evidence and remediations in a report.
// Header-only; a test that includes it links connguard::checks.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/checks/checks.h"

namespace connguard::test {

inline constexpr const char* account_id = "aaaaaaaa-0000-0000-0000-000000000001";

/// contoso's connection account svc@contoso.example: no Security Defaults, no CA policy or named
/// location, no roles or groups, MFA registered, per-user MFA disabled. Sign-ins (probe, log,
/// Microsoft's What If) are left to the test.
inline snapshot::tenant_snapshot healthy_tenant() {
    using snapshot::collected;
    snapshot::tenant_snapshot s;
    s.tenant_key = "contoso";
    s.azure_tenant_id = "tttttttt-0000-0000-0000-000000000000";
    s.account_upn = "svc@contoso.example";
    s.security_defaults_enabled = collected<bool>::of(false);
    s.ca_policies = collected<std::vector<nlohmann::json>>::of({});
    s.named_locations = collected<std::vector<nlohmann::json>>::of({});
    s.user = collected<snapshot::account>::of({account_id, "svc@contoso.example", "Service", true, "Member"});
    s.group_ids = collected<std::vector<std::string>>::of({});
    s.roles = collected<std::vector<snapshot::role_assignment>>::of({});
    s.mfa_registration = collected<snapshot::registration>::of({true, true, {"microsoftAuthenticatorPush"}});
    s.per_user_mfa_state = collected<std::string>::of("disabled");
    return s;
}

/// Every result of check `id` in the report (a per-policy or per-resource check has several).
inline std::vector<const v1::CheckResult*> results(const v1::ValidationReport& r, const std::string& id) {
    std::vector<const v1::CheckResult*> out;
    for (const auto& c : r.checks())
        if (c.id() == id) out.push_back(&c);
    return out;
}

/// The one result of check `id`; a test failure (and an empty result) when there is not exactly one.
/// Keep the report alive: the result points into it.
inline const v1::CheckResult& the(const v1::ValidationReport& r, const std::string& id) {
    auto v = results(r, id);
    EXPECT_EQ(v.size(), 1u) << id;
    static const v1::CheckResult none;
    return v.empty() ? none : *v.front();
}

inline const v1::Evidence* evidence(const v1::CheckResult& c, const std::string& kind) {
    for (const auto& e : c.evidence())
        if (e.kind() == kind) return &e;
    return nullptr;
}

inline bool suggests(const v1::CheckResult& c, v1::RemediationKind k) {
    for (const auto& r : c.remediations())
        if (r.kind() == k) return true;
    return false;
}

}  // namespace connguard::test
