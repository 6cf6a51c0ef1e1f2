// Unit tests of the small common modules: topics, config, log redaction, clock.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mqtt_client.h"
#include "common/topics.h"
#include "tests/support/process.h"

namespace connguard {
namespace {

TEST(Topics, BuildsTheSchemeOfDesign4) {
    EXPECT_EQ(topics::validation("contoso"), "connguard/v1/tenants/contoso/validation");
    EXPECT_EQ(topics::events("contoso"), "connguard/v1/tenants/contoso/events");
    EXPECT_EQ(topics::agent_status("contoso"), "connguard/v1/tenants/contoso/agent");
    EXPECT_EQ(topics::commands("contoso"), "connguard/v1/tenants/contoso/commands");
    EXPECT_EQ(topics::results("contoso"), "connguard/v1/tenants/contoso/results");
    EXPECT_EQ(topics::alert("critical", "contoso"), "connguard/v1/alerts/critical/contoso");
    EXPECT_EQ(topics::task("contoso", "t1"), "connguard/v1/tasks/contoso/t1");
    EXPECT_EQ(topics::admin_requests("alice"), "connguard/v1/admin/alice/requests");
    EXPECT_EQ(topics::admin_responses("alice"), "connguard/v1/admin/alice/responses");
    EXPECT_EQ(topics::audit_checkpoint(), "connguard/v1/audit/checkpoint");
    EXPECT_EQ(topics::all_alerts_filter(), "connguard/v1/alerts/#");
    EXPECT_EQ(topics::shared("coordinators", topics::all_admin_requests_filter()),
              "$share/coordinators/connguard/v1/admin/+/requests");
    EXPECT_EQ(topics::shared("", "a/b"), "a/b");
}

TEST(Topics, ParsesWhatATopicNames) {
    auto p = topics::parse("connguard/v1/tenants/contoso/results");
    EXPECT_EQ(p.what, topics::parsed::kind::tenant);
    EXPECT_EQ(p.tenant, "contoso");
    EXPECT_EQ(p.channel, topics::tenant_channel::results);
    p = topics::parse(topics::acks("contoso"));
    EXPECT_EQ(p.what, topics::parsed::kind::tenant);
    EXPECT_EQ(p.channel, topics::tenant_channel::acks);
    EXPECT_EQ(topics::acks("contoso"), "connguard/v1/tenants/contoso/acks");
    p = topics::parse("connguard/v1/tasks/contoso/t-9");
    EXPECT_EQ(p.what, topics::parsed::kind::task);
    EXPECT_EQ(p.task_id, "t-9");
    p = topics::parse("connguard/v1/admin/alice/requests");
    EXPECT_EQ(p.what, topics::parsed::kind::admin_request);
    EXPECT_EQ(p.admin, "alice");
    EXPECT_EQ(topics::parse("connguard/v1/audit/checkpoint").what, topics::parsed::kind::audit_checkpoint);
    for (const char* bad : {"", "connguard/v1", "connguard/v1/tenants/contoso/unknown", "other/v1/tenants/a/events",
                            "connguard/v1/tenants//events", "connguard/v1/admin/alice/other", "connguard/v1/audit/other",
                            "connguard/v1/audit/checkpoint/x"})
        EXPECT_EQ(topics::parse(bad).what, topics::parsed::kind::unknown) << bad;
}

TEST(Topics, TenantKeyRule) {
    const std::string longest(63, 'a');
    for (const char* ok : {"a", "contoso", "t-1", "0abc", longest.c_str()})
        EXPECT_TRUE(topics::valid_tenant_key(ok)) << ok;
    for (const std::string& bad : {std::string(""), std::string("-a"), std::string("A"), std::string("a/b"),
                                  std::string("a+"), std::string("a#"), std::string(64, 'a'), std::string("a_b")})
        EXPECT_FALSE(topics::valid_tenant_key(bad)) << bad;
}

TEST(MqttFilter, MatchesLikeTheBroker) {
    EXPECT_TRUE(mqtt::topic_matches_filter("connguard/v1/tenants/+/events", "connguard/v1/tenants/a/events"));
    EXPECT_FALSE(mqtt::topic_matches_filter("connguard/v1/tenants/+/events", "connguard/v1/tenants/a/b/events"));
    EXPECT_TRUE(mqtt::topic_matches_filter("connguard/v1/alerts/#", "connguard/v1/alerts/critical/a"));
    EXPECT_TRUE(mqtt::topic_matches_filter("connguard/v1/alerts/#", "connguard/v1/alerts"));
    EXPECT_TRUE(mqtt::topic_matches_filter("#", "a/b"));
    EXPECT_FALSE(mqtt::topic_matches_filter("#", "$SYS/broker/uptime"));
    EXPECT_TRUE(mqtt::topic_matches_filter("$share/g/connguard/v1/admin/+/requests", "connguard/v1/admin/x/requests"));
    EXPECT_FALSE(mqtt::topic_matches_filter("a/b", "a/b/c"));
    EXPECT_FALSE(mqtt::topic_matches_filter("a/b/c", "a/b"));
    EXPECT_TRUE(mqtt::topic_matches_filter("a/+", "a/"));
}

TEST(Config, ErrorsNameFileFieldAndReason) {
    test::temp_dir dir;
    const auto path = dir.path() / "agent.json";
    std::ofstream(path) << R"({"broker": {"url": 5}, "poll": {"intervalSeconds": 3}})";
    auto doc = config::load_file(path);
    ASSERT_TRUE(doc.ok());
    config::reader r(*doc);
    (void)r.required_string("broker.url");
    (void)r.optional_int("poll.intervalSeconds", 300, 10, 86400);
    (void)r.required_string("tenant.key");
    ASSERT_EQ(r.errors().size(), 3u);
    EXPECT_NE(r.error_text().find("agent.json"), std::string::npos);
    EXPECT_NE(r.error_text().find("broker.url"), std::string::npos);
    EXPECT_NE(r.error_text().find("tenant.key': missing"), std::string::npos) << r.error_text();
    EXPECT_NE(r.error_text().find("between 10 and 86400"), std::string::npos) << r.error_text();
}

TEST(Config, RefusesInvalidJsonAndWorldReadableSecrets) {
    test::temp_dir dir;
    const auto bad = dir.path() / "bad.json";
    std::ofstream(bad) << "{ not json";
    auto doc = config::load_file(bad);
    ASSERT_FALSE(doc.ok());
    EXPECT_EQ(doc.err().code, "config.invalid_json");
    EXPECT_NE(doc.err().message.find("bad.json"), std::string::npos);
    const auto secret = dir.path() / "secret";
    std::ofstream(secret) << "s3cr3t-value\n";
    ::chmod(secret.c_str(), 0644);
    auto s = config::read_secret_file(secret);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.err().code, "config.secret_permissions");
    EXPECT_EQ(s.err().message.find("s3cr3t-value"), std::string::npos);
    ::chmod(secret.c_str(), 0600);
    s = config::read_secret_file(secret);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(*s, "s3cr3t-value");
}

TEST(LogRedaction, RegisteredSecretsAndCredentialFieldsAreRedacted) {
    log::add_secret("pa55-word-xyz");
    const auto text = log::redact("connect with pa55-word-xyz; password=hunter22; Bearer abc.def.ghi "
                                  R"({"client_secret":"zzz"})");
    EXPECT_EQ(text.find("pa55-word-xyz"), std::string::npos) << text;
    EXPECT_EQ(text.find("hunter22"), std::string::npos) << text;
    EXPECT_EQ(text.find("abc.def.ghi"), std::string::npos) << text;
    EXPECT_EQ(text.find("zzz"), std::string::npos) << text;
    EXPECT_NE(text.find("connect with ***"), std::string::npos) << text;
}

// 10,000 hosted tenants register 30,000 secrets; secrets sharing a prefix are each redacted whole.
TEST(LogRedaction, ManySecretsWithSharedPrefixesAreEachRedactedWhole) {
    for (int i = 0; i < 3000; ++i) {
        std::string s = "tenant-secret-";
        s += std::to_string(i);
        log::add_secret(s);
    }
    log::add_secret("tenant-secret-12-longer");
    EXPECT_EQ(log::redact("a tenant-secret-12-longer b tenant-secret-2999 c tenant-secret-x"),
              "a *** b *** c tenant-secret-x");
}

TEST(LogRedaction, ALoggedPasswordNeverReachesTheLogFile) {
    test::temp_dir dir;
    const auto file = dir.path() / "log.txt";
    log::init({.program = "redaction-test", .json = true, .level = "info", .file = file.string()});
    log::add_secret("another-secret-42");
    spdlog::info("mqtt connect user=tenant-a password another-secret-42");
    spdlog::default_logger()->flush();
    std::ifstream in(file);
    std::string content((std::istreambuf_iterator<char>(in)), {});
    EXPECT_NE(content.find("tenant-a"), std::string::npos) << content;
    EXPECT_EQ(content.find("another-secret-42"), std::string::npos) << content;
    log::init({.program = "test", .json = false, .level = "info", .file = ""});
}

TEST(Clock, ManualClockMovesOnlyWhenTold) {
    manual_clock clk;
    const auto t0 = clk.now();
    clk.advance(std::chrono::milliseconds{1500});
    EXPECT_EQ(to_unix_ms(clk.now()) - to_unix_ms(t0), 1500);
}

TEST(Clock, Rfc3339RoundTripsAndParsesGraphForms) {
    const auto t = from_unix_ms(1767225600123);
    EXPECT_EQ(format_rfc3339(t), "2026-01-01T00:00:00.123Z");
    EXPECT_EQ(format_rfc3339(t, 7), "2026-01-01T00:00:00.1230000Z") << "Graph's DateTimeOffset";
    EXPECT_EQ(format_rfc3339(t, 0), "2026-01-01T00:00:00Z");
    EXPECT_EQ(format_rfc3339(from_unix_ms(-1), 3), "1969-12-31T23:59:59.999Z");
    clock::time_point parsed;
    ASSERT_TRUE(parse_rfc3339("2026-01-01T00:00:00.123Z", parsed));
    EXPECT_EQ(to_unix_ms(parsed), 1767225600123);
    ASSERT_TRUE(parse_rfc3339("2026-01-01T02:00:00+02:00", parsed));
    EXPECT_EQ(to_unix_ms(parsed), 1767225600000);
    EXPECT_FALSE(parse_rfc3339("yesterday", parsed));
    EXPECT_FALSE(parse_rfc3339("2026-13-01T00:00:00Z", parsed));
}

}  // namespace
}  // namespace connguard
