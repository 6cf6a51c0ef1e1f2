// The console's browser safety rules (pure): headers, return paths, Origin, cookies; its settings
// (listen parsing, loopback, role mapping) and the `console` config section.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>

#include "coordinator/config.h"
#include "coordinator/console/security.h"
#include "coordinator/console/settings.h"
#include "tests/support/process.h"

namespace connguard::coord::console {
namespace {

std::string header(const header_pairs& h, const std::string& name) {
    for (const auto& [k, v] : h)
        if (k == name) return v;
    return "";
}

TEST(ConsoleSecurity, HeadersForbidFramingInlineScriptAndCaching) {
    const auto h = security_headers(true, "https://login.microsoftonline.com");
    const auto csp = header(h, "Content-Security-Policy");
    EXPECT_NE(csp.find("default-src 'self'"), std::string::npos);
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
    EXPECT_NE(csp.find("base-uri 'none'"), std::string::npos);
    EXPECT_NE(csp.find("form-action 'self' https://login.microsoftonline.com"), std::string::npos);
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
    EXPECT_EQ(header(h, "X-Frame-Options"), "DENY");
    EXPECT_EQ(header(h, "X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(header(h, "Referrer-Policy"), "no-referrer");
    EXPECT_EQ(header(h, "Cache-Control"), "no-store");
    EXPECT_NE(header(h, "Strict-Transport-Security").find("max-age="), std::string::npos);
    EXPECT_EQ(header(security_headers(false, ""), "Strict-Transport-Security"), "") << "no HSTS over plain http";
}

TEST(ConsoleSecurity, ReturnPathMustBeLocal) {
    for (const char* ok : {"/", "/tasks", "/tasks/abc-123", "/tenants?status=FAIL&q=x"}) EXPECT_TRUE(is_local_path(ok)) << ok;
    for (const char* bad : {"", "tasks", "//evil.example", "/\\evil.example", "https://evil.example/", "/a\\b",
                            "/a b", "/a\r\nSet-Cookie:x", "javascript:alert(1)"})
        EXPECT_FALSE(is_local_path(bad)) << bad;
    EXPECT_FALSE(is_local_path("/" + std::string(3000, 'a')));
}

TEST(ConsoleSecurity, OriginComparison) {
    EXPECT_EQ(origin_of("https://Console.MSP.example:443/tasks"), "https://console.msp.example");
    EXPECT_EQ(origin_of("http://127.0.0.1:8444"), "http://127.0.0.1:8444");
    EXPECT_EQ(origin_of("ftp://x"), "");
    EXPECT_EQ(origin_of("https://user@evil.example"), "");
    const std::string mine = "https://127.0.0.1:8444";
    EXPECT_TRUE(origin_allowed("https://127.0.0.1:8444", "", mine));
    EXPECT_FALSE(origin_allowed("https://evil.example", "", mine));
    EXPECT_FALSE(origin_allowed("null", "", mine));
    EXPECT_FALSE(origin_allowed("https://127.0.0.1:8445", "", mine));
    EXPECT_TRUE(origin_allowed("", "same-origin", mine));
    EXPECT_FALSE(origin_allowed("", "cross-site", mine));
    EXPECT_TRUE(origin_allowed("", "", mine)) << "a script without Origin still needs the CSRF token";
}

TEST(ConsoleSecurity, CookieParsingAndAttributes) {
    EXPECT_EQ(cookie_value("a=1; __Host-connguard-session=abc_-9; b=2", session_cookie_name), "abc_-9");
    EXPECT_EQ(cookie_value("x__Host-connguard-session=no", session_cookie_name), "");
    EXPECT_EQ(cookie_value("", session_cookie_name), "");
    const auto c = session_cookie("v", -1);
    EXPECT_EQ(c, "__Host-connguard-session=v; HttpOnly; Secure; SameSite=Strict; Path=/");
    EXPECT_NE(session_cookie("", 0).find("Max-Age=0"), std::string::npos);
    EXPECT_TRUE(tokens_equal("abc", "abc"));
    EXPECT_FALSE(tokens_equal("abc", "abd"));
    EXPECT_FALSE(tokens_equal("", "")) << "an empty token never matches";
}

TEST(ConsoleSettings, ListenAndLoopback) {
    std::string host;
    int port = 0;
    ASSERT_TRUE(parse_listen("127.0.0.1:8444", host, port));
    EXPECT_EQ(host, "127.0.0.1");
    EXPECT_EQ(port, 8444);
    ASSERT_TRUE(parse_listen("[::1]:0", host, port));
    EXPECT_EQ(host, "::1");
    EXPECT_FALSE(parse_listen("8444", host, port));
    EXPECT_FALSE(parse_listen("host:99999", host, port));
    EXPECT_TRUE(is_loopback_host("127.0.0.1"));
    EXPECT_TRUE(is_loopback_host("127.1.2.3"));
    EXPECT_TRUE(is_loopback_host("::1"));
    EXPECT_TRUE(is_loopback_host("localhost"));
    EXPECT_FALSE(is_loopback_host("0.0.0.0"));
    EXPECT_FALSE(is_loopback_host("10.0.0.5"));
    EXPECT_FALSE(is_loopback_host("127.evil.example"));
}

TEST(ConsoleSettings, RoleFromClaimsOrObjectsHighestWins) {
    console_settings s;
    s.role_claims = {{"ConnGuard.Approver", role::approver}, {"ConnGuard.Viewer", role::viewer}};
    s.role_objects = {{"oid-vera", role::viewer}, {"group-ops", role::operator_}};
    EXPECT_EQ(map_role(s, {"ConnGuard.Viewer"}, "", {}), role::viewer);
    EXPECT_EQ(map_role(s, {"ConnGuard.Viewer", "ConnGuard.Approver"}, "", {}), role::approver);
    EXPECT_EQ(map_role(s, {}, "oid-vera", {"group-ops"}), role::operator_);
    EXPECT_EQ(map_role(s, {"Other"}, "oid-x", {"g"}), role::none);
}

class ConsoleConfig : public ::testing::Test {
protected:
    test::temp_dir dir_{"console-config"};
    std::filesystem::path write(const std::string& console_json) {
        const auto secret = dir_.path() / "secret";
        std::ofstream(secret) << "s3cret\n";
        ::chmod(secret.c_str(), 0600);
        std::ofstream(dir_.path() / "pw") << "pw\n";
        ::chmod((dir_.path() / "pw").c_str(), 0600);
        const auto p = dir_.path() / "coordinator.json";
        std::ofstream(p) << R"({"broker":{"url":"tcp://127.0.0.1:1883","username":"c","passwordFile":"pw"},
                                "store":{"path":"c.db"},"console":)"
                         << console_json << "}";
        return p;
    }
};

TEST_F(ConsoleConfig, InsecureHttpOnLoopbackLoads) {
    auto c = load_config(write(R"({"listen":"127.0.0.1:8444","insecureHttp":true,
        "oidc":{"issuer":"http://127.0.0.1:9000/tid/v2.0","clientId":"app","clientSecretFile":"secret"},
        "roles":{"claims":{"ConnGuard.Approver":"approver"},"objects":{"oid-vera":"viewer"}},
        "sessionIdleMinutes":5,"approvalReauthSeconds":600})"));
    ASSERT_TRUE(c) << c.err().message;
    ASSERT_TRUE(c->console);
    EXPECT_TRUE(c->console->insecure_http);
    EXPECT_EQ(c->console->oidc.client_secret, "s3cret");
    EXPECT_EQ(c->console->session_idle, std::chrono::minutes{5});
    EXPECT_EQ(c->console->session_max, std::chrono::hours{12});
    EXPECT_EQ(c->console->approval_reauth, std::chrono::seconds{600});
    EXPECT_EQ(c->console->role_claims.at("ConnGuard.Approver"), role::approver);
}

TEST_F(ConsoleConfig, NoSectionNoConsole) {
    const auto p = dir_.path() / "c.json";
    std::ofstream(dir_.path() / "pw") << "pw\n";
    ::chmod((dir_.path() / "pw").c_str(), 0600);
    std::ofstream(p) << R"({"broker":{"url":"tcp://127.0.0.1:1883","username":"c","passwordFile":"pw"},"store":{"path":"c.db"}})";
    auto c = load_config(p);
    ASSERT_TRUE(c) << c.err().message;
    EXPECT_FALSE(c->console);
}

TEST_F(ConsoleConfig, InsecureHttpOnANonLoopbackAddressIsRefused) {
    auto c = load_config(write(R"({"listen":"0.0.0.0:8444","insecureHttp":true,
        "oidc":{"issuer":"https://idp.example","clientId":"app","clientSecretFile":"secret"},
        "roles":{"claims":{"A":"approver"}}})"));
    ASSERT_FALSE(c);
    EXPECT_NE(c.err().message.find("field 'console.insecureHttp'"), std::string::npos) << c.err().message;
    EXPECT_NE(c.err().message.find("loopback"), std::string::npos) << c.err().message;
}

TEST_F(ConsoleConfig, HttpsNeedsCertAndKeyAndTheSecretFileMustBePrivate) {
    ::chmod((dir_.path() / "secret").c_str(), 0644);
    auto c = load_config(write(R"({"oidc":{"issuer":"https://idp.example","clientId":"app","clientSecretFile":"secret"},
        "roles":{"claims":{"A":"approver"}}})"));
    ASSERT_FALSE(c);
    EXPECT_NE(c.err().message.find("field 'console.tlsCertFile'"), std::string::npos) << c.err().message;
    EXPECT_NE(c.err().message.find("field 'console.tlsKeyFile'"), std::string::npos) << c.err().message;
}

TEST_F(ConsoleConfig, UnknownKeysAreRefusedWithASuggestion) {
    auto c = load_config(write(R"({"insecureHttp":true,"sessionIdleMinute":5,
        "oidc":{"issuer":"http://127.0.0.1:9/x","clientId":"app","clientSecretFile":"secret"},
        "roles":{"claims":{"A":"approver"}, "claim":{}}})"));
    ASSERT_FALSE(c);
    EXPECT_NE(c.err().message.find("console.sessionIdleMinute"), std::string::npos) << c.err().message;
    EXPECT_NE(c.err().message.find("console.sessionIdleMinutes"), std::string::npos) << c.err().message;
    EXPECT_NE(c.err().message.find("console.roles.claim'"), std::string::npos) << c.err().message;
}

TEST_F(ConsoleConfig, CheckConfigLoadsTheCertificateAndKeyPair) {
    const auto d = dir_.path().string();
    std::string out;
    for (const char* name : {"a", "b"})
        ASSERT_EQ(test::run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/" + name + ".key",
                                     "-out", d + "/" + name + ".crt", "-days", "2", "-subj", "/CN=127.0.0.1"},
                                    &out),
                  0)
            << out;
    ::chmod((d + "/a.key").c_str(), 0600);
    ::chmod((d + "/b.key").c_str(), 0600);
    const auto path = write(R"({"tlsCertFile":"a.crt","tlsKeyFile":"a.key",
        "oidc":{"issuer":"https://idp.example","clientId":"app","clientSecretFile":"secret"},"roles":{"claims":{"A":"approver"}}})");
    auto c = load_config(path);
    ASSERT_TRUE(c) << c.err().message;
    EXPECT_TRUE(check_startable(*c, path)) << check_startable(*c, path).err().message;
    c->console->tls_key_file = d + "/b.key";  // another certificate's key
    auto st = check_startable(*c, path);
    ASSERT_FALSE(st);
    EXPECT_NE(st.err().message.find("field 'console.tlsCertFile'"), std::string::npos) << st.err().message;
    EXPECT_NE(st.err().message.find("is not the key of the certificate"), std::string::npos) << st.err().message;
    c->console->tls_cert_file = d + "/secret";  // not PEM
    st = check_startable(*c, path);
    ASSERT_FALSE(st);
    EXPECT_NE(st.err().message.find("not a PEM certificate"), std::string::npos) << st.err().message;
}

TEST_F(ConsoleConfig, UnknownRoleAndMissingRolesAreRefused) {
    auto c = load_config(write(R"({"insecureHttp":true,
        "oidc":{"issuer":"http://127.0.0.1:9/x","clientId":"app","clientSecretFile":"secret"},
        "roles":{"claims":{"A":"superuser"}}})"));
    ASSERT_FALSE(c);
    EXPECT_NE(c.err().message.find("console.roles.claims.A"), std::string::npos) << c.err().message;
    auto d = load_config(write(R"({"insecureHttp":true,
        "oidc":{"issuer":"http://127.0.0.1:9/x","clientId":"app","clientSecretFile":"secret"}})"));
    ASSERT_FALSE(d);
    EXPECT_NE(d.err().message.find("field 'console.roles'"), std::string::npos) << d.err().message;
}

}  // namespace
}  // namespace connguard::coord::console
