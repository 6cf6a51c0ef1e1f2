// Broker identities at runtime: connguardctl tenant add/remove/import and admin add/remove against a
// real mosquitto made by make-broker (dynamic security plugin), no broker restart anywhere.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/mqtt_client.h"
#include "common/topics.h"
#include "tests/support/broker.h"
#include "tests/support/process.h"
#include "tests/support/util.h"

namespace connguard::test {
namespace {

namespace fs = std::filesystem;
const std::string ctl = std::string(CONNGUARD_BIN_DIR) + "/connguardctl";

int mode_of(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return -1;
    return static_cast<int>(st.st_mode & 0777);
}

std::string first_line(const fs::path& p) {
    std::ifstream in(p);
    std::string s;
    std::getline(in, s);
    return s;
}

class Identity : public ::testing::Test {
protected:
    void SetUp() override {
        conf_ = dir_.path() / "tenants.d";
        fs::create_directories(conf_);
        secret_ = dir_.path() / "app-secret";
        ASSERT_TRUE(write_file_atomic(secret_, "app-secret-value\n").ok());
    }
    /// Runs connguardctl with the dynamic security admin's connection.
    int run(std::vector<std::string> args, std::string* out) {
        args.insert(args.begin(), ctl);
        args.push_back("--broker");
        args.push_back(b_.uri());
        args.push_back("--password-file");
        args.push_back((b_.dir() / "broker" / "secrets" / "dynsec_admin").string());
        return run_command(args, out);
    }
    int add(const std::string& key, std::string* out) {
        return run({"tenant", "add", key, "--azure-tenant", "11111111-2222-3333-4444-555555555555", "--account",
                    "svc-connguard@" + key + ".example", "--app-id", "app-1", "--secret-file", secret_.string(),
                    "--config-dir", conf_.string()},
                   out);
    }
    std::unique_ptr<mqtt::client> client(const std::string& user, const std::string& password) {
        return std::make_unique<mqtt::client>(mqtt::client_options_builder()
                                                  .server_uri(b_.uri())
                                                  .client_id("id-" + user)
                                                  .credentials(user, password)
                                                  .clean_start(true)
                                                  .reconnect(std::chrono::milliseconds{200}, std::chrono::milliseconds{500})
                                                  .finalize());
    }
    /// The role's ACLs in the broker's own file, with `name` replaced by NAME (to compare roles).
    std::multiset<std::string> role_acls(const std::string& role, const std::string& name) {
        auto doc = nlohmann::json::parse(slurp(b_.dir() / "broker" / "dynamic-security.json"));
        std::multiset<std::string> out;
        for (const auto& r : doc["roles"])
            if (r["rolename"] == role)
                for (const auto& a : r["acls"]) {
                    std::string topic = a["topic"].get<std::string>();
                    if (auto p = topic.find("/" + name + "/"); p != std::string::npos)
                        topic.replace(p + 1, name.size(), "NAME");
                    out.insert(a["acltype"].get<std::string>() + " " + topic + " " + (a["allow"].get<bool>() ? "allow" : "deny"));
                }
        return out;
    }

    broker b_{{.tenants = {"tenant-a"}, .admins = {"admin-x"}, .subscribers = {}}};
    temp_dir dir_{"connguard-identity"};
    fs::path conf_, secret_;
};

TEST_F(Identity, TenantAddCreatesMakeBrokersRoleWritesPrivateFilesAndTheIdentityWorksAtOnce) {
    std::string out;
    ASSERT_EQ(add("new-t", &out), 0) << out;
    EXPECT_NE(out.find("tenant new-t: onboarded"), std::string::npos) << out;
    // Exactly the rights make-broker gives a tenant (broker-config/acl.in), read from the file the
    // broker itself rewrote.
    const auto added = role_acls("tenant:new-t", "new-t");
    EXPECT_EQ(added.size(), 8u);
    EXPECT_EQ(added, role_acls("tenant:tenant-a", "tenant-a"));
    // The agent config and its secrets.
    const auto cfg = nlohmann::json::parse(slurp(conf_ / "new-t.json"));
    EXPECT_EQ(cfg["tenant"], "new-t");
    EXPECT_EQ(cfg["broker"]["url"], b_.uri());
    EXPECT_EQ(cfg["account"]["probe"], false);
    const fs::path pw_file = cfg["broker"]["passwordFile"].get<std::string>();
    EXPECT_EQ(mode_of(pw_file), 0600);
    EXPECT_EQ(mode_of(pw_file.parent_path()), 0700);
    EXPECT_EQ(mode_of(cfg["app"]["clientSecretFile"].get<std::string>()), 0600);
    EXPECT_EQ(first_line(cfg["app"]["clientSecretFile"].get<std::string>()), "app-secret-value");
    const std::string password = first_line(pw_file);
    ASSERT_EQ(password.size(), 32u);
    EXPECT_EQ(out.find(password), std::string::npos) << "the password was printed";
    EXPECT_EQ(b_.log().find(password), std::string::npos) << "the password reached the broker log";
    // No restart: the new identity publishes its own report, and only that.
    auto c = client("new-t", password);
    ASSERT_TRUE(c->connect().ok());
    EXPECT_TRUE(c->publish(mqtt::make_message(topics::validation("new-t"), "r")).ok());
    auto st = c->publish(mqtt::make_message(topics::validation("tenant-a"), "forged"));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.err().code, "mqtt.not_authorized");
    // A second add of the same key changes nothing and says why.
    EXPECT_EQ(add("new-t", &out), 2);
    EXPECT_NE(out.find("tenant new-t is already onboarded"), std::string::npos) << out;
}

TEST_F(Identity, TenantRemoveDisconnectsAndRefusesTheIdentityAtOnce) {
    std::string out;
    ASSERT_EQ(add("gone-t", &out), 0) << out;
    const std::string password = first_line(conf_ / "secrets" / "gone-t" / "broker-password");
    auto c = client("gone-t", password);
    ASSERT_TRUE(c->connect().ok());
    ASSERT_EQ(run({"tenant", "remove", "gone-t", "--config-dir", conf_.string()}, &out), 0) << out;
    EXPECT_NE(out.find("tenant gone-t: removed"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(conf_ / "gone-t.json"));
    EXPECT_FALSE(fs::exists(conf_ / "secrets" / "gone-t"));
    // Disconnected by the broker, and every reconnect refused: nothing it publishes gets through.
    EXPECT_TRUE(eventually([&] { return !c->connected(); }, std::chrono::seconds{10}));
    EXPECT_FALSE(c->publish(mqtt::make_message(topics::validation("gone-t"), "r"), std::chrono::seconds{1}).ok());
    auto again = client("gone-t", password);
    auto st = again->connect(std::chrono::seconds{5});
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.err().message.find("not authorized"), std::string::npos) << st.err().message;
    // Removing it again is an error that names it.
    EXPECT_EQ(run({"tenant", "remove", "gone-t", "--config-dir", conf_.string()}, &out), 1);
    EXPECT_NE(out.find("tenant gone-t: no broker identity"), std::string::npos) << out;
}

TEST_F(Identity, ImportReportsEveryLineExactlyAndOnboardsTheGoodOnes) {
    const auto loose = dir_.path() / "loose-secret";
    {
        std::ofstream(loose) << "x\n";
        ::chmod(loose.c_str(), 0644);
    }
    const auto csv = dir_.path() / "tenants.csv";
    std::ofstream(csv) << "key,azure-tenant,account,secret-file\n"
                          "good-1,tid-1,svc@good1.example,\n"
                          "# a comment\n"
                          "Bad_Key,tid-2,svc@bad.example,\n"
                          "no-account,tid-3,,\n"
                          "short,tid-4\n"
                          "good-1,tid-1,svc@good1.example,\n"
                          "loose,tid-5,svc@loose.example," + loose.string() + "\n"
                          "good-2,tid-6,svc@good2.example,\n";
    std::string out;
    EXPECT_EQ(run({"tenant", "import", csv.string(), "--app-id", "app-1", "--secret-file", secret_.string(),
                   "--config-dir", conf_.string()},
                  &out),
              1);
    const std::string config_file = (conf_ / "good-1.json").string();
    for (const std::string& line :
         {std::string("line 2: good-1: onboarded"),
          std::string("line 4: error: tenant key 'Bad_Key' is not valid ([a-z0-9][a-z0-9-]{0,62})"),
          std::string("line 5: error: tenant no-account: missing account (--account UPN)"),
          std::string("line 6: error: 2 fields, the header has 4"),
          "line 7: error: tenant good-1 is already onboarded (" + config_file + " exists)",
          "line 8: error: tenant loose: secret-file: " + loose.string(), std::string("line 9: good-2: onboarded"),
          std::string("2 onboarded, 5 failed")})
        EXPECT_NE(out.find(line), std::string::npos) << "expected '" << line << "' in:\n" << out;
    // Each bad line left nothing behind, in the broker or the folder.
    EXPECT_FALSE(fs::exists(conf_ / "loose.json"));
    EXPECT_FALSE(fs::exists(conf_ / "secrets" / "loose"));
    auto refused = client("loose", "whatever");
    EXPECT_FALSE(refused->connect(std::chrono::seconds{5}).ok());
    for (const std::string key : {"good-1", "good-2"}) {
        auto c = client(key, first_line(conf_ / "secrets" / key / "broker-password"));
        ASSERT_TRUE(c->connect().ok()) << key;
        EXPECT_TRUE(c->publish(mqtt::make_message(topics::events(key), "e")).ok()) << key;
    }
}

TEST_F(Identity, AdminAddGivesItsOwnAdminTopicsAndRemoveRevokesIt) {
    const auto secrets = dir_.path() / "admin-secrets";
    std::string out;
    ASSERT_EQ(run({"admin", "add", "bob", "--secrets-dir", secrets.string()}, &out), 0) << out;
    EXPECT_EQ(mode_of(secrets / "bob"), 0600);
    EXPECT_EQ(role_acls("admin:bob", "bob"), role_acls("admin:admin-x", "admin-x"));
    auto c = client("bob", first_line(secrets / "bob"));
    ASSERT_TRUE(c->connect().ok());
    EXPECT_TRUE(c->publish(mqtt::make_message(topics::admin_requests("bob"), "req")).ok());
    EXPECT_FALSE(c->publish(mqtt::make_message(topics::admin_requests("admin-x"), "forged")).ok());
    EXPECT_FALSE(c->publish(mqtt::make_message(topics::validation("tenant-a"), "forged")).ok());
    ASSERT_EQ(run({"admin", "remove", "bob"}, &out), 0) << out;
    EXPECT_TRUE(eventually([&] { return !c->connected(); }, std::chrono::seconds{10}));
    EXPECT_FALSE(client("bob", first_line(secrets / "bob"))->connect(std::chrono::seconds{5}).ok());
}

}  // namespace
}  // namespace connguard::test
