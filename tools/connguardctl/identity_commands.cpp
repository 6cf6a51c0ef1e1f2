// connguardctl tenant add|remove|import and admin add|remove: broker identities at runtime.
//
// They talk to Mosquitto's dynamic security plugin (broker-config/make-broker configures it) as its
// admin identity (make-broker's DIR/secrets/dynsec_admin): JSON commands published on
// $CONTROL/dynamic-security/v1, answered on $CONTROL/dynamic-security/v1/response, one answer per
// command with an "error" field when it failed. Each tenant gets the role tenant:KEY with exactly a
// one-tenant agent's rights of DESIGN §4 (the same role make-broker writes from acl.in); each admin
// the role admin:NAME (its own admin topics) plus the shared role `admins` (alerts, task views, audit
// checkpoints). The broker applies a change at once: a deleted identity is disconnected and refused.
//
// One tenant is all-or-nothing: inputs are checked first, then the broker identity is made (undone
// if a later step fails), then the files (0600 secrets, the agent config last, written atomically).
// Generated broker passwords go only into 0600 files and the request to the broker; never into a
// log line, an error message or the output.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/config.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/topics.h"
#include "tools/connguardctl/admin_client.h"
#include "tools/connguardctl/commands.h"

namespace connguard::ctl {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* control_topic = "$CONTROL/dynamic-security/v1";
constexpr const char* response_topic = "$CONTROL/dynamic-security/v1/response";
constexpr const char* default_dynsec_user = "dynsec_admin";

const char* tenant_usage =
    R"(usage: connguardctl tenant add KEY --azure-tenant ID --account UPN [--app-id ID]
                             [--secret-file FILE | --cert FILE --key FILE] [--account-password-file FILE]
                             [--config-dir DIR] [--state-dir DIR] [--host-config FILE]
                             [--agent-broker URL] [--agent-ca-file FILE] [--graph-url URL] [--poll-interval S]
       connguardctl tenant remove KEY [--config-dir DIR] [--host-config FILE]
       connguardctl tenant import FILE.csv [the add options that are the same for every line]

Onboards a tenant in one command, with no broker restart: creates its broker identity (username =
KEY, a random password) with exactly a one-tenant agent's rights on connguard/v1/tenants/KEY/
(DESIGN §4) through the broker's dynamic security plugin, then writes DIR/secrets/KEY/ (the broker
password, copies of the app secret or key and of the account password; files 0600, folders 0700)
and the agent config DIR/KEY.json (agent/README.md). A host-mode agent on DIR picks it up without a
restart. One tenant is all-or-nothing: on any error nothing of it is left (broker or files).

  --azure-tenant ID            the Entra tenant id (GUID) or a verified domain
  --account UPN                the connection account ConnGuard protects (user@domain)
  --app-id ID                  the app registration the agent reads Graph with   [CONNGUARD_APP_ID]
  --secret-file FILE           its client secret (0600)                 [CONNGUARD_APP_SECRET_FILE]
  --cert FILE --key FILE       or its certificate and private key (0600)
  --account-password-file FILE the account's password for the sign-in probe (0600); without it the
                               probe is off (account.probe false)
  --config-dir DIR             the agent config folder              [CONNGUARD_AGENT_CONFIG_DIR]
  --state-dir DIR              parent of the tenants' state folders (default DIR/../state)
  --host-config FILE           a host-mode agent's host config (agent/README.md): the tenant is also
                               granted to that host's broker identity (one connection for all its
                               tenants; the broker reconnects the host once) and added to FILE's list
  --agent-broker URL           the broker URL agents use (default: --broker)
  --agent-ca-file FILE         the CA file agents use for ssl:// (default: --ca-file)
  --graph-url URL              Graph and sign-in endpoints (default: Microsoft's; tests: the simulator)
  --poll-interval S            poll.intervalSeconds (default: the agent's, 300)

remove: deletes the tenant's broker identity and role at once (its agent is disconnected and
refused; a host granted it loses the grant), its config file and DIR/secrets/KEY/. The state folder
stays (delete it yourself).

import: FILE.csv has a header line naming its columns, one tenant per line after it. Columns: key,
azure-tenant, account (required), app-id, secret-file, cert, key-file, account-password-file
(optional; a non-empty cell overrides the option of the same name, key-file = --key). No quoting: a value cannot contain a comma.
Empty lines and lines starting with # are skipped. Every line is onboarded on its own and its
outcome printed ("line N: KEY: onboarded" or "line N: error: ..."); exit 1 when any line failed.

The broker connection is the dynamic security admin's (make-broker's DIR/secrets/dynsec_admin):
  --user NAME (default dynsec_admin) [CONNGUARD_DYNSEC_USER]
  --password-file FILE                [CONNGUARD_DYNSEC_PASSWORD_FILE]
exit codes: 0 done, 1 the broker or a file operation failed (nothing left half-done), 2 usage
)";

const char* admin_usage =
    R"(usage: connguardctl admin add NAME --secrets-dir DIR
       connguardctl admin remove NAME

add: creates the broker identity of an admin (or approver) NAME with a random password written to
DIR/NAME (0600): publishes only its own connguard/v1/admin/NAME/requests, reads its own responses,
alerts, task views and audit checkpoints (DESIGN §4). What NAME may do at the coordinator (approve,
view) is the coordinator's config (coordinator/README.md). remove: deletes the identity at once.

The broker connection is the dynamic security admin's (make-broker's DIR/secrets/dynsec_admin):
  --user NAME (default dynsec_admin) [CONNGUARD_DYNSEC_USER]
  --password-file FILE                [CONNGUARD_DYNSEC_PASSWORD_FILE]
exit codes: 0 done, 1 the broker or a file operation failed, 2 usage
)";

/// A random password of 32 letters and digits (as make-broker's).
std::string new_password() {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::random_device rd;  // /dev/urandom on Linux
    std::uniform_int_distribution<int> pick(0, static_cast<int>(sizeof(alphabet)) - 2);
    std::string pw;
    pw.reserve(32);
    for (int i = 0; i < 32; ++i) pw.push_back(alphabet[pick(rd)]);
    log::add_secret(pw);
    return pw;
}

// ---- rights (DESIGN §4; the same as broker-config/acl.in's pattern lines) ----------------------

json acl(const char* type, const std::string& topic) {
    return json{{"acltype", type}, {"topic", topic}, {"allow", true}};
}
void grant_write(json& acls, const std::string& topic) { acls.push_back(acl("publishClientSend", topic)); }
void grant_read(json& acls, const std::string& topic) {
    acls.push_back(acl("publishClientReceive", topic));
    acls.push_back(acl("subscribePattern", topic));
}

json tenant_acls(const std::string& key) {
    json acls = json::array();
    grant_write(acls, topics::validation(key));
    grant_write(acls, topics::events(key));
    grant_write(acls, topics::agent_status(key));
    grant_write(acls, topics::results(key));
    grant_read(acls, topics::commands(key));
    grant_read(acls, topics::acks(key));
    return acls;
}

json admin_acls(const std::string& name) {
    json acls = json::array();
    grant_write(acls, topics::admin_requests(name));
    grant_read(acls, topics::admin_responses(name));
    return acls;
}

std::string tenant_role(const std::string& key) { return "tenant:" + key; }
std::string admin_role(const std::string& name) { return "admin:" + name; }

// ---- the dynamic security API ---------------------------------------------------------------

class dynsec_session {
public:
    static result<std::unique_ptr<dynsec_session>> open(const connection_flags& flags) {
        auto c = connect_as(flags, "dynamic security session");
        if (!c) return c.err();
        std::unique_ptr<dynsec_session> s(new dynsec_session());
        s->flags_ = flags;
        s->client_ = std::move(*c);
        auto st = s->st_;
        s->client_->subscribe(response_topic, [st](const mqtt::message& m) {
            // paho's receive thread: never throws.
            try {
                const auto doc = json::parse(m.payload, nullptr, /*allow_exceptions=*/false);
                if (!doc.is_object() || !doc.contains("responses") || !doc["responses"].is_array())
                    return mqtt::handler_result::handled;
                std::lock_guard lock(st->mu);
                for (const auto& r : doc["responses"])
                    if (r.is_object() && r.contains("correlationData") && r["correlationData"].is_string())
                        st->answers[r["correlationData"].get<std::string>()] = r;
                st->cv.notify_all();
            } catch (...) {
            }
            return mqtt::handler_result::handled;
        });
        if (auto cs = s->client_->connect(flags.timeout); !cs)
            return make_error("connect", "cannot connect to the broker's dynamic security API: " + cs.err().message);
        return s;
    }
    ~dynsec_session() {
        if (client_) client_->disconnect(std::chrono::seconds{2});
    }

    /// Sends one command and waits for its answer. The error names the command and `what` (the
    /// identity), never the command's password.
    status run(json command, const std::string& what) {
        const std::string name = command.value("command", std::string("?"));
        const std::string id = new_uuid();
        command["correlationData"] = id;
        const json request{{"commands", json::array({command})}};
        if (auto st = client_->publish(mqtt::make_message(control_topic, request.dump()), flags_.timeout); !st)
            return make_error("broker", what + ": " + name + ": " + st.err().message);
        std::unique_lock lock(st_->mu);
        if (!st_->cv.wait_for(lock, flags_.timeout, [&] { return st_->answers.count(id) > 0; }))
            return make_error("broker", what + ": " + name + ": no answer from the broker's dynamic security plugin in " +
                                            std::to_string(flags_.timeout.count() / 1000) +
                                            " s (is it configured? broker-config/make-broker)");
        const json answer = st_->answers[id];
        st_->answers.erase(id);
        if (answer.contains("error") && answer["error"].is_string())
            return make_error("broker", what + ": " + name + ": " + answer["error"].get<std::string>());
        return {};
    }

private:
    dynsec_session() = default;
    struct state {
        std::mutex mu;
        std::condition_variable cv;
        std::map<std::string, json> answers;
    };
    std::shared_ptr<state> st_ = std::make_shared<state>();
    std::unique_ptr<mqtt::client> client_;
    connection_flags flags_;
};

/// Parses the connection flags (the dynamic security admin's) and the rest.
bool prepare(const char* cmd, int argc, char** argv, const char* usage, parsed_args& out, int& code) {
    if (!parse_subcommand_args(cmd, argc, argv, usage, out, code)) return false;
    auto& c = out.conn;
    if (c.broker.empty()) c.broker = env_or("CONNGUARD_BROKER");
    if (c.user.empty()) c.user = env_or("CONNGUARD_DYNSEC_USER");
    if (c.user.empty()) c.user = default_dynsec_user;
    if (c.password_file.empty()) c.password_file = env_or("CONNGUARD_DYNSEC_PASSWORD_FILE");
    if (c.ca_file.empty()) c.ca_file = env_or("CONNGUARD_CA_FILE");
    std::string err;
    if (c.broker.empty()) err = "no broker: give --broker URL or set CONNGUARD_BROKER";
    else if (c.password_file.empty())
        err = "no password: give --password-file FILE (make-broker's DIR/secrets/dynsec_admin) or set "
              "CONNGUARD_DYNSEC_PASSWORD_FILE";
    if (!err.empty()) {
        code = usage_error(cmd, err, usage);
        return false;
    }
    return true;
}

// ---- tenant add -----------------------------------------------------------------------------

/// What one tenant needs (from flags or a CSV line).
struct tenant_spec {
    std::string key, azure_tenant, account, app_id, secret_file, cert, key_file, account_password_file;
};

/// What is the same for every tenant of one command.
struct tenant_place {
    fs::path config_dir;
    fs::path state_dir;
    fs::path host_config;  ///< empty: no host
    std::string agent_broker, agent_ca_file, graph_url;
    long long poll_interval = 0;  ///< 0: the agent's default
};

/// Reads a secret file's whole content after the 0600 check (a private key spans lines).
result<std::string> read_secret_whole(const std::string& file, const char* what) {
    if (auto st = config::check_secret_file_permissions(file); !st)
        return make_error("input", std::string(what) + ": " + st.err().message);
    auto content = read_file(file);
    if (!content) return make_error("input", std::string(what) + ": " + content.err().message);
    if (content->empty()) return make_error("input", std::string(what) + ": " + file + ": file is empty");
    log::add_secret(*content);
    return content;
}

/// Writes a secret file (0600) in a 0700 folder.
status write_secret(const fs::path& file, const std::string& content) {
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    if (ec) return make_error("file", file.parent_path().string() + ": cannot create: " + ec.message());
    ::chmod(file.parent_path().c_str(), 0700);
    return write_file_atomic(file, content);
}

status check_spec(const tenant_spec& t, const tenant_place& p) {
    if (t.key.empty()) return make_error("input", "missing the tenant key");
    if (!topics::valid_tenant_key(t.key))
        return make_error("input", "tenant key '" + t.key + "' is not valid ([a-z0-9][a-z0-9-]{0,62})");
    if (t.azure_tenant.empty()) return make_error("input", "tenant " + t.key + ": missing azure-tenant (--azure-tenant ID)");
    if (t.account.empty()) return make_error("input", "tenant " + t.key + ": missing account (--account UPN)");
    if (t.account.find('@') == std::string::npos)
        return make_error("input", "tenant " + t.key + ": account '" + t.account + "' is not a user principal name (user@domain)");
    if (t.app_id.empty())
        return make_error("input", "tenant " + t.key + ": missing app-id (--app-id ID or CONNGUARD_APP_ID)");
    const bool secret = !t.secret_file.empty(), cert = !t.cert.empty() || !t.key_file.empty();
    if (secret && cert) return make_error("input", "tenant " + t.key + ": give secret-file or cert + key, not both");
    if (!secret && !cert)
        return make_error("input", "tenant " + t.key + ": missing app credentials (--secret-file FILE, or --cert FILE --key FILE)");
    if (cert && (t.cert.empty() || t.key_file.empty()))
        return make_error("input", "tenant " + t.key + ": certificate auth needs both --cert and --key");
    if (cert && !fs::exists(t.cert)) return make_error("input", "tenant " + t.key + ": cert " + t.cert + ": file does not exist");
    std::error_code ec;
    if (fs::exists(p.config_dir / (t.key + ".json"), ec))
        return make_error("input", "tenant " + t.key + " is already onboarded (" + (p.config_dir / (t.key + ".json")).string() + " exists)");
    return {};
}

/// Adds or removes `key` in the host config's "tenants" list (atomic rewrite, other fields kept).
status update_host_config(const fs::path& file, const std::string& key, bool add) {
    auto text = read_file(file);
    if (!text) return make_error("file", "host config: " + text.err().message);
    auto doc = json::parse(*text, nullptr, false);
    if (!doc.is_object() || !doc.contains("tenants") || !doc["tenants"].is_array())
        return make_error("file", file.string() + ": not a host config (no \"tenants\" list)");
    json list = json::array();
    bool present = false;
    for (const auto& t : doc["tenants"]) {
        if (t == key) {
            present = true;
            if (!add) continue;
        }
        list.push_back(t);
    }
    if (add && !present) list.push_back(key);
    doc["tenants"] = list;
    return write_file_atomic(file, doc.dump(2) + "\n");
}

result<std::string> host_name_of(const fs::path& file) {
    auto text = read_file(file);
    if (!text) return make_error("input", "host config: " + text.err().message);
    auto doc = json::parse(*text, nullptr, false);
    if (!doc.is_object() || !doc.contains("host") || !doc["host"].is_string())
        return make_error("input", file.string() + ": not a host config (no \"host\" name)");
    return doc["host"].get<std::string>();
}

/// Onboards one tenant, all-or-nothing. Returns a one-line outcome or the error.
status add_tenant(dynsec_session& s, const tenant_spec& t, const tenant_place& p) {
    if (auto st = check_spec(t, p); !st) return st;
    // Inputs read before anything changes.
    std::string client_secret, private_key, account_password;
    if (!t.secret_file.empty()) {
        auto v = config::read_secret_file(t.secret_file);
        if (!v) return make_error("input", "tenant " + t.key + ": secret-file: " + v.err().message);
        client_secret = *v;
    } else {
        auto v = read_secret_whole(t.key_file, "key");
        if (!v) return make_error("input", "tenant " + t.key + ": " + v.err().message);
        private_key = *v;
    }
    if (!t.account_password_file.empty()) {
        auto v = config::read_secret_file(t.account_password_file);
        if (!v) return make_error("input", "tenant " + t.key + ": account-password-file: " + v.err().message);
        account_password = *v;
    }
    std::string host;
    if (!p.host_config.empty()) {
        auto h = host_name_of(p.host_config);
        if (!h) return h.err();
        host = *h;
    }

    // The broker identity; each step undone if a later one fails.
    const std::string what = "tenant " + t.key;
    const std::string role = tenant_role(t.key);
    const std::string password = new_password();
    std::vector<json> undo;
    auto rollback = [&] {
        for (auto it = undo.rbegin(); it != undo.rend(); ++it) (void)s.run(*it, what + " (undo)");
    };
    if (auto st = s.run(json{{"command", "createRole"}, {"rolename", role}, {"acls", tenant_acls(t.key)}}, what); !st)
        return st;
    undo.push_back(json{{"command", "deleteRole"}, {"rolename", role}});
    if (auto st = s.run(json{{"command", "createClient"},
                             {"username", t.key},
                             {"password", password},
                             {"textname", "ConnGuard agent of tenant " + t.key},
                             {"roles", json::array({json{{"rolename", role}}})}},
                        what);
        !st) {
        rollback();
        return st;
    }
    undo.push_back(json{{"command", "deleteClient"}, {"username", t.key}});
    if (!host.empty()) {
        if (auto st = s.run(json{{"command", "addClientRole"}, {"username", host}, {"rolename", role}}, what + " on host " + host);
            !st) {
            rollback();
            return st;
        }
    }

    // The files: secrets first, the agent config last (an agent scanning the folder sees a whole tenant).
    const fs::path secrets = p.config_dir / "secrets" / t.key;
    std::vector<fs::path> written;
    auto fail_files = [&](const error& e) {
        for (const auto& f : written) {
            std::error_code ec;
            fs::remove(f, ec);
        }
        std::error_code ec;
        fs::remove(secrets, ec);  // only when empty
        if (!host.empty()) (void)update_host_config(p.host_config, t.key, false);
        rollback();
        return make_error(e.code, what + ": " + e.message);
    };
    auto put = [&](const fs::path& f, const std::string& content) -> status {
        written.push_back(f);
        std::string bytes = content;
        if (bytes.empty() || bytes.back() != '\n') bytes += '\n';
        return write_secret(f, bytes);
    };
    json conf{{"tenant", t.key}, {"azureTenantId", t.azure_tenant}};
    json app{{"clientId", t.app_id}};
    if (!client_secret.empty()) {
        if (auto st = put(secrets / "client-secret", client_secret); !st) return fail_files(st.err());
        app["clientSecretFile"] = (secrets / "client-secret").string();
    } else {
        if (auto st = put(secrets / "private-key.pem", private_key); !st) return fail_files(st.err());
        app["certificateFile"] = fs::absolute(t.cert).string();
        app["privateKeyFile"] = (secrets / "private-key.pem").string();
    }
    conf["app"] = app;
    json account{{"upn", t.account}};
    if (!account_password.empty()) {
        if (auto st = put(secrets / "account-password", account_password); !st) return fail_files(st.err());
        account["passwordFile"] = (secrets / "account-password").string();
    } else {
        account["probe"] = false;
    }
    conf["account"] = account;
    if (auto st = put(secrets / "broker-password", password); !st) return fail_files(st.err());
    json broker{{"url", p.agent_broker}, {"passwordFile", (secrets / "broker-password").string()}};
    if (!p.agent_ca_file.empty()) broker["caFile"] = p.agent_ca_file;
    conf["broker"] = broker;
    if (!p.graph_url.empty()) conf["graph"] = json{{"authorityUrl", p.graph_url}, {"baseUrl", p.graph_url}};
    if (p.poll_interval > 0)
        conf["poll"] = json{{"intervalSeconds", p.poll_interval}, {"jitterSeconds", std::min(30LL, p.poll_interval / 10)}};
    conf["stateDir"] = (p.state_dir / t.key).string();
    if (!host.empty())
        if (auto st = update_host_config(p.host_config, t.key, true); !st) return fail_files(st.err());
    const fs::path file = p.config_dir / (t.key + ".json");
    written.push_back(file);
    if (auto st = write_file_atomic(file, conf.dump(2) + "\n"); !st) return fail_files(st.err());
    return {};
}

/// Reads the tenant flags shared by add and import into spec/place; the rest (positional) into `pos`.
status parse_tenant_flags(const std::vector<std::string>& args, const connection_flags& conn, tenant_spec& t,
                          tenant_place& p, std::vector<std::string>& pos) {
    t.app_id = env_or("CONNGUARD_APP_ID");
    t.secret_file = env_or("CONNGUARD_APP_SECRET_FILE");
    std::string config_dir = env_or("CONNGUARD_AGENT_CONFIG_DIR"), state_dir, poll;
    bool secret_given = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.rfind("--", 0) != 0) {
            pos.push_back(a);
            continue;
        }
        if (i + 1 >= args.size()) return make_error("usage", a + " needs a value (or is unknown)");
        const std::string& v = args[++i];
        if (a == "--azure-tenant") t.azure_tenant = v;
        else if (a == "--account") t.account = v;
        else if (a == "--app-id") t.app_id = v;
        else if (a == "--secret-file") t.secret_file = v, secret_given = true;
        else if (a == "--cert") t.cert = v;
        else if (a == "--key") t.key_file = v;
        else if (a == "--account-password-file") t.account_password_file = v;
        else if (a == "--config-dir") config_dir = v;
        else if (a == "--state-dir") state_dir = v;
        else if (a == "--host-config") p.host_config = v;
        else if (a == "--agent-broker") p.agent_broker = v;
        else if (a == "--agent-ca-file") p.agent_ca_file = v;
        else if (a == "--graph-url") p.graph_url = v;
        else if (a == "--poll-interval") poll = v;
        else return make_error("usage", "unknown option '" + a + "'");
    }
    // --cert given: the environment's secret file does not apply.
    if (!t.cert.empty() && !secret_given) t.secret_file.clear();
    if (config_dir.empty()) return make_error("usage", "no agent config folder: give --config-dir DIR or set CONNGUARD_AGENT_CONFIG_DIR");
    std::error_code ec;
    if (!fs::is_directory(config_dir, ec)) return make_error("usage", "--config-dir " + config_dir + ": not a folder");
    p.config_dir = fs::absolute(config_dir);
    p.state_dir = state_dir.empty() ? p.config_dir.parent_path() / "state" : fs::absolute(state_dir);
    if (p.agent_broker.empty()) p.agent_broker = conn.broker;
    if (p.agent_ca_file.empty()) p.agent_ca_file = conn.ca_file;
    if (!p.host_config.empty()) p.host_config = fs::absolute(p.host_config);
    if (!poll.empty()) {
        char* end = nullptr;
        p.poll_interval = std::strtoll(poll.c_str(), &end, 10);
        if (end == poll.c_str() || *end != '\0' || p.poll_interval < 1 || p.poll_interval > 86400)
            return make_error("usage", "--poll-interval '" + poll + "' is not a number of seconds (1-86400)");
    }
    return {};
}

std::string trim(std::string s) {
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return {};
    const auto e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

std::vector<std::string> split_csv(const std::string& line) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : line) {
        if (c == ',') {
            out.push_back(trim(cur));
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    out.push_back(trim(cur));
    return out;
}

int tenant_import(dynsec_session* s, const std::string& csv, const tenant_spec& defaults, const tenant_place& p) {
    std::ifstream in(csv);
    if (!in) {
        std::fprintf(stderr, "connguardctl tenant import: %s: cannot open\n", csv.c_str());
        return exit_usage;
    }
    static const std::vector<std::string> known = {"key", "azure-tenant", "account", "app-id", "secret-file",
                                                   "cert", "key-file", "account-password-file"};
    std::vector<std::string> header;
    std::string line;
    int n = 0, ok = 0, failed = 0;
    while (std::getline(in, line)) {
        ++n;
        const std::string t = trim(line);
        if (t.empty() || t[0] == '#') continue;
        if (header.empty()) {
            header = split_csv(t);
            for (const auto& h : header) {
                if (std::find(known.begin(), known.end(), h) == known.end()) {
                    std::fprintf(stderr,
                                 "connguardctl tenant import: %s line %d: unknown column '%s' (columns: key, azure-tenant, "
                                 "account, app-id, secret-file, cert, key-file, account-password-file)\n",
                                 csv.c_str(), n, h.c_str());
                    return exit_usage;
                }
            }
            for (const char* need : {"key", "azure-tenant", "account"})
                if (std::find(header.begin(), header.end(), need) == header.end()) {
                    std::fprintf(stderr, "connguardctl tenant import: %s line %d: the header has no '%s' column\n",
                                 csv.c_str(), n, need);
                    return exit_usage;
                }
            continue;
        }
        auto fail = [&](const std::string& msg) {
            ++failed;
            std::printf("line %d: error: %s\n", n, msg.c_str());
        };
        if (t.find('"') != std::string::npos) {
            fail("quotes are not supported (a value cannot contain a comma)");
            continue;
        }
        const auto cells = split_csv(t);
        if (cells.size() != header.size()) {
            fail(std::to_string(cells.size()) + " fields, the header has " + std::to_string(header.size()));
            continue;
        }
        tenant_spec spec = defaults;
        for (std::size_t i = 0; i < cells.size(); ++i) {
            const auto& h = header[i];
            const auto& v = cells[i];
            if (h == "key") spec.key = v;
            else if (h == "azure-tenant") spec.azure_tenant = v;
            else if (h == "account") spec.account = v;
            else if (v.empty()) continue;  // an empty optional cell keeps the option's value
            else if (h == "app-id") spec.app_id = v;
            else if (h == "secret-file") spec.secret_file = v, spec.cert.clear(), spec.key_file.clear();
            else if (h == "cert") spec.cert = v, spec.secret_file.clear();
            else if (h == "key-file") spec.key_file = v;
            else if (h == "account-password-file") spec.account_password_file = v;
        }
        if (auto st = add_tenant(*s, spec, p); !st) {
            fail(st.err().message);
            continue;
        }
        ++ok;
        std::printf("line %d: %s: onboarded\n", n, spec.key.c_str());
    }
    if (header.empty()) {
        std::fprintf(stderr, "connguardctl tenant import: %s: no header line\n", csv.c_str());
        return exit_usage;
    }
    std::printf("%d onboarded, %d failed\n", ok, failed);
    std::fflush(stdout);
    return failed == 0 ? exit_ok : exit_refused;
}

int tenant_remove(dynsec_session& s, const std::string& key, const tenant_place& p) {
    const std::string what = "tenant " + key;
    int found = 0;
    std::string problems;
    // The client first: its agent is disconnected and refused at once. Then the role (a host holding
    // it loses the grant, and the broker reconnects that host once).
    for (const auto& cmd : {json{{"command", "deleteClient"}, {"username", key}},
                            json{{"command", "deleteRole"}, {"rolename", tenant_role(key)}}}) {
        auto st = s.run(cmd, what);
        if (st) ++found;
        else if (st.err().message.find("not found") == std::string::npos)
            problems += (problems.empty() ? "" : "; ") + st.err().message;
    }
    const fs::path file = p.config_dir / (key + ".json");
    std::error_code ec;
    const bool had_file = fs::exists(file, ec);
    if (!p.host_config.empty())
        if (auto st = update_host_config(p.host_config, key, false); !st)
            problems += (problems.empty() ? "" : "; ") + st.err().message;
    fs::remove(file, ec);
    fs::remove_all(p.config_dir / "secrets" / key, ec);
    if (!problems.empty()) {
        std::fprintf(stderr, "connguardctl tenant remove: %s\n", problems.c_str());
        return exit_refused;
    }
    if (found == 0 && !had_file) {
        std::fprintf(stderr, "connguardctl tenant remove: tenant %s: no broker identity and no config %s\n", key.c_str(),
                     file.c_str());
        return exit_refused;
    }
    std::printf("tenant %s: removed (broker identity revoked%s)\n", key.c_str(), had_file ? ", config deleted" : "");
    return exit_ok;
}

}  // namespace

int run_tenant(int argc, char** argv) {
    parsed_args a;
    int code = 0;
    if (!prepare("tenant", argc, argv, tenant_usage, a, code)) return code;
    if (a.rest.empty()) return usage_error("tenant", "expected add, remove or import", tenant_usage);
    const std::string verb = a.rest[0];
    if (verb != "add" && verb != "remove" && verb != "import")
        return usage_error("tenant", "unknown subcommand '" + verb + "'", tenant_usage);
    tenant_spec spec;
    tenant_place place;
    std::vector<std::string> pos;
    if (auto st = parse_tenant_flags({a.rest.begin() + 1, a.rest.end()}, a.conn, spec, place, pos); !st)
        return usage_error("tenant", verb + ": " + st.err().message, tenant_usage);
    if (pos.size() != 1)
        return usage_error("tenant", verb + (verb == "import" ? ": expected one FILE.csv" : ": expected one tenant KEY"),
                           tenant_usage);
    if (verb != "import" && !topics::valid_tenant_key(pos[0]))
        return usage_error("tenant", "tenant key '" + pos[0] + "' is not valid ([a-z0-9][a-z0-9-]{0,62})", tenant_usage);
    if (verb == "import" && !fs::exists(pos[0])) return usage_error("tenant", "import: " + pos[0] + ": no such file", tenant_usage);
    auto s = dynsec_session::open(a.conn);
    if (!s) {
        std::fprintf(stderr, "connguardctl tenant: %s\n", s.err().message.c_str());
        return exit_usage;
    }
    if (verb == "import") return tenant_import(s->get(), pos[0], spec, place);
    if (verb == "remove") return tenant_remove(**s, pos[0], place);
    spec.key = pos[0];
    if (auto st = add_tenant(**s, spec, place); !st) {
        std::fprintf(stderr, "connguardctl tenant add: %s\n", st.err().message.c_str());
        return st.err().code == "input" ? exit_usage : exit_refused;
    }
    std::printf("tenant %s: onboarded (broker identity %s, config %s)\n", spec.key.c_str(), spec.key.c_str(),
                (place.config_dir / (spec.key + ".json")).c_str());
    return exit_ok;
}

int run_admin(int argc, char** argv) {
    parsed_args a;
    int code = 0;
    if (!prepare("admin", argc, argv, admin_usage, a, code)) return code;
    if (a.rest.empty()) return usage_error("admin", "expected add or remove", admin_usage);
    const std::string verb = a.rest[0];
    std::string name, secrets_dir;
    for (std::size_t i = 1; i < a.rest.size(); ++i) {
        const auto& x = a.rest[i];
        if (x == "--secrets-dir" && i + 1 < a.rest.size()) secrets_dir = a.rest[++i];
        else if (x.rfind("--", 0) == 0) return usage_error("admin", verb + ": unexpected argument '" + x + "'", admin_usage);
        else if (name.empty()) name = x;
        else return usage_error("admin", verb + ": unexpected argument '" + x + "'", admin_usage);
    }
    if (verb != "add" && verb != "remove") return usage_error("admin", "unknown subcommand '" + verb + "'", admin_usage);
    if (name.empty()) return usage_error("admin", verb + ": expected the admin's NAME", admin_usage);
    if (!topics::valid_principal_name(name))
        return usage_error("admin", "admin name '" + name + "' is not valid ([a-z0-9][a-z0-9-]{0,62})", admin_usage);
    if (verb == "add" && secrets_dir.empty())
        return usage_error("admin", "add: --secrets-dir DIR is required (the password goes to DIR/NAME)", admin_usage);
    const fs::path pw_file = secrets_dir.empty() ? fs::path() : fs::path(secrets_dir) / name;
    std::error_code ec;
    if (verb == "add" && fs::exists(pw_file, ec))
        return usage_error("admin", "add: " + pw_file.string() + " already exists", admin_usage);
    auto s = dynsec_session::open(a.conn);
    if (!s) {
        std::fprintf(stderr, "connguardctl admin: %s\n", s.err().message.c_str());
        return exit_usage;
    }
    const std::string what = "admin " + name;
    const std::string role = admin_role(name);
    if (verb == "remove") {
        auto c = (*s)->run(json{{"command", "deleteClient"}, {"username", name}}, what);
        auto r = (*s)->run(json{{"command", "deleteRole"}, {"rolename", role}}, what);
        if (!c) {
            std::fprintf(stderr, "connguardctl admin remove: %s\n", c.err().message.c_str());
            return exit_refused;
        }
        if (!r && r.err().message.find("not found") == std::string::npos) {
            std::fprintf(stderr, "connguardctl admin remove: %s\n", r.err().message.c_str());
            return exit_refused;
        }
        std::printf("admin %s: removed (broker identity revoked)\n", name.c_str());
        return exit_ok;
    }
    const std::string password = new_password();
    if (auto st = (*s)->run(json{{"command", "createRole"}, {"rolename", role}, {"acls", admin_acls(name)}}, what); !st) {
        std::fprintf(stderr, "connguardctl admin add: %s\n", st.err().message.c_str());
        return exit_refused;
    }
    auto st = (*s)->run(json{{"command", "createClient"},
                             {"username", name},
                             {"password", password},
                             {"textname", "ConnGuard admin " + name},
                             {"roles", json::array({json{{"rolename", role}}, json{{"rolename", "admins"}}})}},
                        what);
    if (st) st = write_secret(pw_file, password + "\n");
    if (!st) {
        (void)(*s)->run(json{{"command", "deleteClient"}, {"username", name}}, what + " (undo)");
        (void)(*s)->run(json{{"command", "deleteRole"}, {"rolename", role}}, what + " (undo)");
        fs::remove(pw_file, ec);
        std::fprintf(stderr, "connguardctl admin add: %s\n", st.err().message.c_str());
        return exit_refused;
    }
    std::printf("admin %s: added (password in %s)\n", name.c_str(), pw_file.c_str());
    return exit_ok;
}

}  // namespace connguard::ctl
