// broker-config/make-broker as a command: argument checking, file modes, many tenants.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "tests/support/process.h"

namespace connguard::test {
namespace {

const std::string make_broker = std::string(CONNGUARD_SOURCE_DIR) + "/broker-config/make-broker";

int run(std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), make_broker);
    return run_command(args, out);
}

int mode_of(const std::filesystem::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return -1;
    return static_cast<int>(st.st_mode & 0777);
}

TEST(MakeBroker, HelpDescribesTheCommand) {
    std::string out;
    EXPECT_EQ(run({"--help"}, &out), 0);
    EXPECT_NE(out.find("--coordinator NAME"), std::string::npos) << out;
    EXPECT_NE(out.find("--tls"), std::string::npos) << out;
    EXPECT_NE(out.find("--host NAME --host-tenants"), std::string::npos) << out;
}

TEST(MakeBroker, RefusesBadArgumentsWithAClearMessage) {
    temp_dir dir;
    const auto d = (dir.path() / "b").string();
    struct bad_case {
        std::vector<std::string> args;
        std::string says;
    };
    const std::vector<bad_case> cases = {
        {{d, "--coordinator", "c", "--tenants", "a", "--admins", "x"}, "missing --port"},
        {{d, "--port", "99999", "--coordinator", "c", "--tenants", "a", "--admins", "x"}, "not a port"},
        {{d, "--port", "1883", "--tenants", "a", "--admins", "x"}, "missing --coordinator"},
        {{d, "--port", "1883", "--coordinator", "c", "--admins", "x"}, "missing --tenants"},
        {{d, "--port", "1883", "--coordinator", "c", "--tenants", "a"}, "missing --admins"},
        {{d, "--port", "1883", "--coordinator", "c", "--tenants", "Bad_Name", "--admins", "x"}, "not valid"},
        {{d, "--port", "1883", "--coordinator", "c", "--tenants", "a/b", "--admins", "x"}, "not valid"},
        {{d, "--port", "1883", "--coordinator", "c", "--tenants", "a,,b", "--admins", "x"}, "empty name"},
        {{d, "--port", "1883", "--coordinator", "c", "--tenants", "a,x", "--admins", "x"}, "given twice"},
        {{d, "--port", "1883", "--coordinator", "c", "--tenants", "a", "--admins", "x", "--bogus"}, "unknown option"},
        {{"--port", "1883", "--coordinator", "c", "--tenants", "a", "--admins", "x"}, "missing DIR"},
        {{d, "--port", "1883", "--coordinator", "c", "--tenants", "a", "--admins", "x", "--host", "h"}, "--host h needs --host-tenants"},
        {{d, "--port", "1883", "--coordinator", "c", "--tenants", "a", "--admins", "x", "--host-tenants", "a"}, "must follow --host"},
        {{d, "--port", "1883", "--coordinator", "c", "--tenants", "a", "--admins", "x", "--host", "h", "--host-tenants", "b",
          "--host", "h2", "--host-tenants", "b"}, "given to two hosts"},
        {{d, "--port", "1883", "--coordinator", "c", "--tenants", "a", "--admins", "x", "--host", "h", "--host-tenants", "x"}, "also the name of a admin"},
    };
    for (const auto& c : cases) {
        std::string out;
        EXPECT_NE(run(c.args, &out), 0) << c.says;
        EXPECT_NE(out.find(c.says), std::string::npos) << "expected '" << c.says << "' in: " << out;
    }
    EXPECT_FALSE(std::filesystem::exists(d + "/mosquitto.conf"));
}

TEST(MakeBroker, WritesPrivateFilesForTwoHundredFiftyTenantsAndRefusesToOverwrite) {
    temp_dir dir;
    const auto d = dir.path() / "b";
    std::string tenants;
    for (int i = 0; i < 250; ++i) {
        if (i > 0) tenants += ',';
        tenants += "tenant-" + std::to_string(i);
    }
    std::string out;
    ASSERT_EQ(run({d.string(), "--port", "18999", "--coordinator", "coord", "--tenants", tenants, "--admins", "alice",
                   "--subscribers", "noc"},
                  &out),
              0)
        << out;
    EXPECT_EQ(mode_of(d / "secrets"), 0700);
    EXPECT_EQ(mode_of(d / "secrets" / "tenant-249"), 0600);
    EXPECT_EQ(mode_of(d / "dynamic-security.json"), 0600);
    EXPECT_EQ(mode_of(d / "secrets" / "dynsec_admin"), 0600);
    EXPECT_FALSE(std::filesystem::exists(d / "passwd.tmp")) << "plain passwords left behind";
    std::ifstream pw(d / "secrets" / "tenant-7");
    std::string password;
    std::getline(pw, password);
    EXPECT_EQ(password.size(), 32u);
    std::ifstream dynsec(d / "dynamic-security.json");
    std::string content((std::istreambuf_iterator<char>(dynsec)), {});
    EXPECT_EQ(content.find(password), std::string::npos) << "plain password in the dynamic-security file";
    EXPECT_NE(content.find(R"({"username":"tenant-249","password":")"), std::string::npos);
    EXPECT_NE(content.find(R"("roles":[{"rolename":"tenant:tenant-249"}])"), std::string::npos);
    // Default deny: every right is granted by a role (the wire tests prove the rights themselves).
    EXPECT_NE(content.find(R"("publishClientSend":false,"publishClientReceive":false,"subscribe":false)"),
              std::string::npos);
    std::ifstream conf(d / "mosquitto.conf");
    std::string c((std::istreambuf_iterator<char>(conf)), {});
    EXPECT_NE(c.find("listener 18999 127.0.0.1"), std::string::npos);
    EXPECT_NE(c.find("allow_anonymous false"), std::string::npos);
    EXPECT_NE(c.find("plugin_opt_config_file " + (d / "dynamic-security.json").string()), std::string::npos);
    EXPECT_EQ(c.find("password_file"), std::string::npos) << "the static password file is gone";
    EXPECT_NE(c.find("max_queued_messages 100000"), std::string::npos);
    EXPECT_NE(c.find("persistence_location " + d.string() + "/data/"), std::string::npos);
    EXPECT_NE(run({d.string(), "--port", "18999", "--coordinator", "coord", "--tenants", "a", "--admins", "x"}, &out),
              0);
    EXPECT_NE(out.find("--force"), std::string::npos) << out;
}

}  // namespace
}  // namespace connguard::test
