// The sign-in log kept across cycles (agent/graph/collector.h merge_signins): pure.
#include <gtest/gtest.h>

#include "agent/graph/collector.h"

namespace {

using namespace connguard;
using namespace std::chrono_literals;

const auto now = from_unix_ms(1796601600000);  // 2026-12-07T00:00:00Z

snapshot::signin_log_entry entry(const std::string& app, const std::string& resource, std::chrono::minutes ago, int code = 0) {
    snapshot::signin_log_entry e;
    e.id = app + resource + std::to_string(ago.count());
    e.created = format_rfc3339(now - ago);
    e.app_id = app;
    e.resource_id = resource;
    e.error_code = code;
    return e;
}

TEST(SignInMerge, KeepsTheNewestPerAppAndResourceInsideTheWindow) {
    graph::signin_log_options o{.user_id = "u", .now = now, .window = 24h, .tool_app_ids = {}, .probe_client_id = "probe"};
    snapshot::signin_history prev;
    prev.latest = {entry("tool", "exo", 120min, 0), entry("tool", "graph", 30h)};
    prev.last_seen = prev.latest.front().created;
    const auto merged = graph::merge_signins(&prev, {entry("tool", "exo", 5min, 53003), entry("probe", "exo", 1min)}, o);
    ASSERT_EQ(merged.latest.size(), 1u) << "graph entry is older than the window; the probe is not the tool";
    EXPECT_EQ(merged.latest[0].error_code, 53003);
    EXPECT_EQ(merged.last_seen, format_rfc3339(now - 1min)) << "the next read starts after everything seen";
}

TEST(SignInMerge, OnlyTheToolsAppsCountWhenConfigured) {
    graph::signin_log_options o{.user_id = "u", .now = now, .window = 24h, .tool_app_ids = {"TOOL"}, .probe_client_id = {}};
    const auto merged = graph::merge_signins(nullptr, {entry("tool", "exo", 5min), entry("other", "exo", 1min)}, o);
    ASSERT_EQ(merged.latest.size(), 1u);
    EXPECT_EQ(merged.latest[0].app_id, "tool") << "app ids compare case-insensitively";
}

TEST(SignInMerge, WhatIfIsDueWhenNeverAskedPoliciesChangedOrADayPassed) {
    EXPECT_TRUE(graph::what_if_due(std::nullopt, "d1", now, 24h));
    snapshot::whatif_exchange w;
    w.asked_at = format_rfc3339(now - 2h);
    w.policies_digest = "d1";
    auto asked = std::optional{snapshot::collected<snapshot::whatif_exchange>::of(w)};
    EXPECT_FALSE(graph::what_if_due(asked, "d1", now, 24h));
    EXPECT_TRUE(graph::what_if_due(asked, "d2", now, 24h)) << "a CA change asks again";
    EXPECT_TRUE(graph::what_if_due(asked, "d1", now + 23h, 24h));
    auto failed = std::optional{snapshot::collected<snapshot::whatif_exchange>::failed({"graph.http", "503", ""})};
    EXPECT_TRUE(graph::what_if_due(failed, "d1", now, 24h));
}

}  // namespace
