// Config loading: defaults, errors that name file + field, secret file permissions.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "agent/core/agent_config.h"
#include "agent/core/config_check.h"
#include "tests/support/process.h"

namespace {

using namespace connguard;

void write(const std::filesystem::path& p, const std::string& text, mode_t mode = 0600) {
    std::ofstream(p) << text;
    ::chmod(p.c_str(), mode);
}

struct ConfigTest : ::testing::Test {
    test::temp_dir dir;
    std::filesystem::path cfg = dir.path() / "agent.json";
    void SetUp() override {
        write(dir.path() / "client-secret", "s3cr3t-value-123\n");
        write(dir.path() / "account-password", "Pa55word-xyz\n");
        write(dir.path() / "broker-password", "brokerpw-abc\n");
    }
    std::string minimal(const std::string& extra = "") {
        return R"({"tenant":"contoso","azureTenantId":"tid-1",
          "app":{"clientId":"app-1","clientSecretFile":"client-secret"},
          "account":{"upn":"svc@contoso.com","passwordFile":"account-password"},
          "broker":{"url":"tcp://127.0.0.1:1883","passwordFile":"broker-password"},
          "stateDir":"state")" + extra + "}";
    }
};

TEST_F(ConfigTest, MinimalConfigGetsTheDocumentedDefaults) {
    write(cfg, minimal());
    auto c = agent::load_tenant_config(cfg);
    ASSERT_TRUE(c) << c.err().message;
    EXPECT_EQ(c->tenant_key, "contoso");
    EXPECT_EQ(c->client_secret, "s3cr3t-value-123");
    EXPECT_EQ(c->account_password, "Pa55word-xyz");
    EXPECT_EQ(c->broker_password, "brokerpw-abc");
    EXPECT_EQ(c->broker_username, "contoso");
    EXPECT_EQ(c->poll_interval, std::chrono::seconds(300));
    ASSERT_EQ(c->resources.size(), 2u);
    EXPECT_EQ(c->resources[0].app_id, agent::exchange_online_app_id);
    EXPECT_EQ(c->resources[1].app_id, agent::microsoft_graph_app_id);
    EXPECT_EQ(c->client_app_type, "mobileAppsAndDesktopClients");
    EXPECT_FALSE(c->needs_legacy_auth);
    EXPECT_EQ(c->authority_url, "https://login.microsoftonline.com");
    EXPECT_EQ(c->graph_url, "https://graph.microsoft.com");
    EXPECT_EQ(c->state_dir, dir.path() / "state");
    EXPECT_EQ(c->probe_client_id, "app-1");
}

TEST_F(ConfigTest, ErrorsNameFileFieldAndReason) {
    write(cfg, R"({"tenant":"Bad_Key","azureTenantId":"t","app":{"clientId":"a"},
                   "account":{"upn":"nobody"},"poll":{"intervalSeconds":0},
                   "broker":{"url":"http://x","passwordFile":"broker-password"},"stateDir":"s"})");
    auto c = agent::load_tenant_config(cfg);
    ASSERT_FALSE(c);
    const auto& m = c.err().message;
    EXPECT_NE(m.find(cfg.string() + ": field 'tenant'"), std::string::npos) << m;
    EXPECT_NE(m.find("field 'app': missing credentials"), std::string::npos) << m;
    EXPECT_NE(m.find("field 'account.upn'"), std::string::npos) << m;
    EXPECT_NE(m.find("field 'account.passwordFile'"), std::string::npos) << m;
    EXPECT_NE(m.find("field 'poll.intervalSeconds'"), std::string::npos) << m;
    EXPECT_NE(m.find("field 'broker.url'"), std::string::npos) << m;
}

TEST_F(ConfigTest, HostConfigNamesItsIdentityAndGrantAndRefusesBadTenantKeys) {
    const auto host = dir.path() / "host.json";
    write(host, R"({"host":"host-a","tenants":["contoso","fabrikam"],
                    "broker":{"url":"tcp://127.0.0.1:1883","passwordFile":"broker-password"}})");
    auto h = agent::load_host_config(host);
    ASSERT_TRUE(h) << h.err().message;
    EXPECT_EQ(h->name, "host-a");
    EXPECT_TRUE(h->grants("fabrikam"));
    EXPECT_FALSE(h->grants("northwind"));
    EXPECT_EQ(h->broker_password, "brokerpw-abc");

    write(host, R"({"host":"host-a","tenants":["Bad_Key","host-a"],"broker":{"url":"tcp://x:1","passwordFile":"broker-password"},"extra":1})");
    auto bad = agent::load_host_config(host);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.err().message.find("'Bad_Key' is not a tenant key"), std::string::npos) << bad.err().message;
    EXPECT_NE(bad.err().message.find("'host-a' is the host's own name"), std::string::npos) << bad.err().message;
    EXPECT_NE(bad.err().message.find("extra"), std::string::npos) << bad.err().message;
}

TEST_F(ConfigTest, RefusesASecretFileReadableByOthersNamingIt) {
    write(dir.path() / "client-secret", "s3cr3t-value-123\n", 0644);
    write(cfg, minimal());
    auto c = agent::load_tenant_config(cfg);
    ASSERT_FALSE(c);
    EXPECT_NE(c.err().message.find((dir.path() / "client-secret").string()), std::string::npos) << c.err().message;
    EXPECT_NE(c.err().message.find("readable by others"), std::string::npos);
}

TEST_F(ConfigTest, OnceModeNeedsNoBrokerOrState) {
    write(cfg, R"({"tenant":"contoso","azureTenantId":"t","app":{"clientId":"a","clientSecretFile":"client-secret"},
                   "account":{"upn":"svc@contoso.com","probe":false},
                   "targets":{"resources":[{"appId":"00000003-0000-0000-c000-000000000000","name":"Graph"}],
                              "clientAppType":"exchangeActiveSync","needsLegacyAuth":true}})");
    auto c = agent::load_tenant_config(cfg, {.need_broker = false, .need_state = false});
    ASSERT_TRUE(c) << c.err().message;
    EXPECT_FALSE(c->probe_enabled);
    ASSERT_EQ(c->resources.size(), 1u);
    EXPECT_TRUE(c->needs_legacy_auth);
    EXPECT_EQ(c->client_app_type, "exchangeActiveSync");
}

TEST_F(ConfigTest, CertificateAuthNeedsBothFilesAndAPrivateKey) {
    write(dir.path() / "app.crt", "-----BEGIN CERTIFICATE-----\n", 0644);
    write(dir.path() / "app.key", "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n", 0600);
    write(cfg, R"({"tenant":"contoso","azureTenantId":"t",
                   "app":{"clientId":"a","certificateFile":"app.crt","privateKeyFile":"app.key"},
                   "account":{"upn":"svc@contoso.com","probe":false},
                   "broker":{"url":"tcp://127.0.0.1:1","passwordFile":"broker-password"},"stateDir":"s"})");
    auto c = agent::load_tenant_config(cfg);
    ASSERT_TRUE(c) << c.err().message;
    EXPECT_NE(c->private_key_pem.find("END PRIVATE KEY"), std::string::npos);

    write(cfg, R"({"tenant":"contoso","azureTenantId":"t","app":{"clientId":"a","certificateFile":"app.crt"},
                   "account":{"upn":"svc@contoso.com","probe":false},
                   "broker":{"url":"tcp://127.0.0.1:1","passwordFile":"broker-password"},"stateDir":"s"})");
    auto bad = agent::load_tenant_config(cfg);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.err().message.find("app.privateKeyFile"), std::string::npos);
}

TEST_F(ConfigTest, ConfigDirRefusesDuplicateTenantKeys) {
    std::filesystem::create_directory(dir.path() / "d");
    for (auto name : {"a.json", "b.json"}) {
        write(dir.path() / "d" / name, R"({"tenant":"contoso","azureTenantId":"t",
            "app":{"clientId":"a","clientSecretFile":"../client-secret"},"account":{"upn":"svc@contoso.com","probe":false},
            "broker":{"url":"tcp://127.0.0.1:1","passwordFile":"../broker-password"},"stateDir":"state-)" +
                                          std::string(name) + "\"}");
    }
    auto all = agent::load_config_dir(dir.path() / "d");
    ASSERT_FALSE(all);
    EXPECT_NE(all.err().message.find("already used by"), std::string::npos) << all.err().message;
}

}  // namespace

namespace {

// Every example config in agent/examples loads (with its secret files stood in by temp files).
TEST(ConfigExamples, EveryExampleIsAValidConfig) {
    using nlohmann::json;
    test::temp_dir dir;
    int n = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(std::filesystem::path(CONNGUARD_SOURCE_DIR) / "agent/examples")) {
        if (e.path().extension() != ".json") continue;
        auto j = json::parse(std::ifstream(e.path()));
        std::function<void(json&)> patch = [&](json& v) {
            for (auto it = v.begin(); it != v.end(); ++it) {
                if (it->is_object()) patch(*it);
                else if (it->is_string() && it.key().size() > 4 && it.key().ends_with("File")) {
                    auto p = dir.path() / (std::to_string(n) + "-" + it.key());
                    write(p, "example-value-1234\n");
                    *it = p.string();
                }
            }
        };
        patch(j);
        const bool host = j.contains("host");  // a host config (--host-config)
        if (!host) j["stateDir"] = (dir.path() / ("state" + std::to_string(n))).string();
        const auto file = dir.path() / ("example" + std::to_string(n++) + ".json");
        std::ofstream(file) << j.dump();
        if (host) {
            auto h = agent::load_host_config(file);
            EXPECT_TRUE(h) << e.path() << ": " << h.err().message;
            continue;
        }
        auto c = agent::load_tenant_config(file);
        EXPECT_TRUE(c) << e.path() << ": " << c.err().message;
    }
    EXPECT_GE(n, 4);
}

}  // namespace

namespace {

TEST_F(ConfigTest, LegacyClientTypeMeansLegacyAuthAndAContradictionIsRefused) {
    write(cfg, minimal(R"(,"targets":{"clientAppType":"other"})"));
    auto c = agent::load_tenant_config(cfg);
    ASSERT_TRUE(c) << c.err().message;
    EXPECT_TRUE(c->needs_legacy_auth) << "a legacy client type is legacy authentication";

    write(cfg, minimal(R"(,"targets":{"clientAppType":"exchangeActiveSync","needsLegacyAuth":false})"));
    c = agent::load_tenant_config(cfg);
    ASSERT_FALSE(c);
    EXPECT_NE(c.err().message.find("targets.needsLegacyAuth"), std::string::npos) << c.err().message;
    EXPECT_NE(c.err().message.find("contradicts"), std::string::npos) << c.err().message;

    write(cfg, minimal(R"(,"targets":{"needsLegacyAuth":true})"));
    c = agent::load_tenant_config(cfg);
    ASSERT_TRUE(c) << c.err().message;
    EXPECT_TRUE(c->needs_legacy_auth) << "a modern tool may also use legacy authentication";
}

TEST_F(ConfigTest, EntraTwentyTwentySixFieldsHaveDefaultsAndAreValidated) {
    write(cfg, minimal());
    auto c = agent::load_tenant_config(cfg);
    ASSERT_TRUE(c) << c.err().message;
    EXPECT_EQ(c->authentication_flow, "none");
    EXPECT_FALSE(c->writes_azure_resource_manager);
    EXPECT_TRUE(c->signin_log_enabled);
    EXPECT_EQ(c->signin_log_window, std::chrono::hours(24));
    EXPECT_TRUE(c->engine_drift_enabled);
    EXPECT_EQ(c->engine_drift_interval, std::chrono::hours(24));

    write(cfg, minimal(R"(,"targets":{"authenticationFlow":"deviceCodeFlow","writesAzureResourceManager":true,
        "toolAppIds":["fb78d390-0c51-40cd-8e17-fdbfab77341b"],
        "resources":[{"appId":"00000003-0000-0000-c000-000000000000","scopes":["openid","User.Read"]}]},
        "signInLog":{"windowHours":48},"engineDrift":{"enabled":false})"));
    c = agent::load_tenant_config(cfg);
    ASSERT_TRUE(c) << c.err().message;
    EXPECT_EQ(c->authentication_flow, "deviceCodeFlow");
    EXPECT_TRUE(c->writes_azure_resource_manager);
    ASSERT_EQ(c->tool_app_ids.size(), 1u);
    ASSERT_EQ(c->resources.size(), 1u);
    EXPECT_EQ(c->resources[0].scopes, (std::vector<std::string>{"openid", "User.Read"}));
    EXPECT_EQ(c->signin_log_window, std::chrono::hours(48));
    EXPECT_FALSE(c->engine_drift_enabled);

    write(cfg, minimal(R"(,"targets":{"authenticationFlow":"browserFlow"},"engineDrift":{"intervalHours":1})"));
    c = agent::load_tenant_config(cfg);
    ASSERT_FALSE(c);
    EXPECT_NE(c.err().message.find("targets.authenticationFlow"), std::string::npos) << c.err().message;
    EXPECT_NE(c.err().message.find("engineDrift.intervalHours"), std::string::npos)
        << "more often than daily is refused: " << c.err().message;
}

}  // namespace

TEST_F(ConfigTest, AMisspelledKeyIsRefusedWithTheKeyItProbablyMeant) {
    // "windowHour" instead of "windowHours" would otherwise fall back to 24 h without a word.
    write(cfg, minimal(R"(,"signInLog":{"windowHour":48})"));
    auto c = agent::load_tenant_config(cfg);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.err().code, "config.invalid");
    EXPECT_NE(c.err().message.find("agent.json: field 'signInLog.windowHour': unknown; did you mean "
                                   "'signInLog.windowHours'?"),
              std::string::npos)
        << c.err().message;

    write(cfg, minimal(R"(,"pol":{"intervalSeconds":60},"targets":{"resources":[{"appId":"a","scope":["x"]}]})"));
    c = agent::load_tenant_config(cfg);
    ASSERT_FALSE(c);
    EXPECT_NE(c.err().message.find("field 'pol': unknown; did you mean 'poll'?"), std::string::npos)
        << c.err().message;
    EXPECT_NE(c.err().message.find("field 'targets.resources[0].scope': unknown; did you mean "
                                   "'targets.resources[0].scopes'?"),
              std::string::npos)
        << c.err().message;
}

TEST_F(ConfigTest, CommentKeysAndTheBrokerSectionOfAOnceRunAreAccepted) {
    write(cfg, minimal(R"(,"_comment":"contoso's backup tool","$schema":"agent.schema.json")"));
    agent::load_options once;
    once.need_broker = false;
    once.need_state = false;
    auto c = agent::load_tenant_config(cfg, once);
    ASSERT_TRUE(c) << c.err().message;
    c = agent::load_tenant_config(cfg);
    ASSERT_TRUE(c) << c.err().message;
}

// --check-config: what the service would trip over only at its first cycle or first write.
TEST_F(ConfigTest, StartableChecksTheCertificateAgainstItsKeyAndTheStateFolder) {
    auto make_pair = [&](const std::string& name) {
        std::string out;
        const int rc = test::run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                                          (dir.path() / (name + ".key")).string(), "-out",
                                          (dir.path() / (name + ".crt")).string(), "-days", "2", "-subj",
                                          "/CN=connguard-test-" + name},
                                         &out);
        ASSERT_EQ(rc, 0) << out;
        ::chmod((dir.path() / (name + ".key")).c_str(), 0600);
    };
    make_pair("app");
    make_pair("other");
    const auto now = std::chrono::system_clock::now();
    auto config_with = [&](const std::string& key_file, const std::string& state_dir) {
        write(cfg, R"({"tenant":"contoso","azureTenantId":"tid-1",
          "app":{"clientId":"app-1","certificateFile":"app.crt","privateKeyFile":")" + key_file + R"("},
          "account":{"upn":"svc@contoso.com","passwordFile":"account-password"},
          "broker":{"url":"tcp://127.0.0.1:1883","passwordFile":"broker-password"},
          "stateDir":")" + state_dir + R"("})");
        auto c = agent::load_tenant_config(cfg);
        EXPECT_TRUE(c) << c.err().message;
        return c;
    };

    auto good = config_with("app.key", "state");
    ASSERT_TRUE(good);
    EXPECT_TRUE(agent::check_startable(*good, now)) << agent::check_startable(*good, now).err().message;

    // The other certificate's key loads fine; only signing with it shows it is the wrong one.
    auto mismatched = config_with("other.key", "state");
    ASSERT_TRUE(mismatched);
    auto st = agent::check_startable(*mismatched, now);
    ASSERT_FALSE(st);
    EXPECT_NE(st.err().message.find("agent.json: field 'app.privateKeyFile': cannot sign a client assertion: "
                                    "client assertion: the private key does not match the certificate"),
              std::string::npos)
        << st.err().message;
    EXPECT_EQ(st.err().message.find("PRIVATE KEY"), std::string::npos) << "key material in the message";

    // A state folder that cannot exist: its parent is a file.
    auto no_state = config_with("app.key", "client-secret/state");
    ASSERT_TRUE(no_state);
    st = agent::check_startable(*no_state, now);
    ASSERT_FALSE(st);
    EXPECT_NE(st.err().message.find("field 'stateDir': "), std::string::npos) << st.err().message;
    EXPECT_NE(st.err().message.find("client-secret/state: does not exist"), std::string::npos) << st.err().message;
}
