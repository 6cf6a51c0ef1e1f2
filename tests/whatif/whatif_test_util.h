#pragma once
// Small builders for what-if tests: a policy from JSON text (or a base policy plus edits), a
// directory, a sign-in.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/whatif/whatif.h"

namespace connguard::test {

inline constexpr const char* user_a = "aaaaaaaa-0000-0000-0000-000000000001";
inline constexpr const char* group_g = "99999999-0000-0000-0000-000000000001";
inline constexpr const char* global_admin = "62e90394-69f5-4237-9190-012177145e10";

/// An enabled policy: all users, all apps, all client types, grant mfa (OR); `edit` changes it.
inline nlohmann::json policy_json(const std::string& id, const std::function<void(nlohmann::json&)>& edit = {}) {
    auto j = nlohmann::json::parse(R"({
      "state": "enabled",
      "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]},
                     "clientAppTypes": ["all"]},
      "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}})");
    j["id"] = id;
    j["displayName"] = "Policy " + id;
    if (edit) edit(j);
    return j;
}

inline whatif::policy make_policy(const std::string& id, const std::function<void(nlohmann::json&)>& edit = {}) {
    auto r = whatif::parse_policy(policy_json(id, edit));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
    return r.ok() ? r.value() : whatif::policy{};
}

inline whatif::sign_in make_sign_in(const std::string& app = whatif::app_exchange_online,
                                    const std::string& client = "mobileAppsAndDesktopClients") {
    whatif::sign_in s;
    s.user_id = user_a;
    s.applications = {app};
    s.client_app_type = client;
    return s;
}

inline whatif::directory make_directory(const std::string& json_text = "{}") {
    auto r = whatif::parse_directory(nlohmann::json::parse(json_text));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
    return r.ok() ? r.value() : whatif::directory{};
}

}  // namespace connguard::test
