#include "tools/connguardctl/admin_client.h"

#include <signal.h>

#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>

#include "common/clock.h"
#include "common/config.h"
#include "common/envelope_codec.h"
#include "common/ids.h"
#include "common/topics.h"

namespace connguard::ctl {

std::string env_or(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

int usage_error(const char* cmd, const std::string& msg, const char* usage) {
    std::fprintf(stderr, "connguardctl %s: %s\n\n%s\n%s", cmd, msg.c_str(), usage, connection_help());
    return exit_usage;
}

bool parse_subcommand_args(const char* cmd, int argc, char** argv, const char* usage, parsed_args& out, int& code) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::printf("%s\n%s", usage, connection_help());
            code = exit_ok;
            return false;
        }
    }
    std::vector<std::string> args(argv + 1, argv + argc);
    auto f = parse_connection_flags(args, out.rest);
    if (!f) {
        code = usage_error(cmd, f.err().message, usage);
        return false;
    }
    out.conn = *f;
    return true;
}

result<std::unique_ptr<mqtt::client>> connect_as(const connection_flags& f, const std::string& purpose) {
    auto pw = config::read_secret_file(f.password_file);
    if (!pw) return pw.err();
    auto b = mqtt::client_options_builder()
                 .server_uri(f.broker)
                 .client_id("connguardctl-" + f.user + "-" + new_uuid().substr(0, 8))
                 .credentials(f.user, *pw)
                 .clean_start(true)
                 .session_expiry(std::chrono::seconds{0})
                 .reconnect(std::chrono::milliseconds{250}, std::chrono::milliseconds{2000});
    if (!f.ca_file.empty()) b.tls(mqtt::tls_options{f.ca_file, "", "", true});
    std::unique_ptr<mqtt::client> c;
    try {
        c = std::make_unique<mqtt::client>(b.finalize());
    } catch (const std::exception& e) {
        return make_error("ctl.options", purpose + ": " + e.what());
    }
    return c;
}

namespace {

/// The client's words already name the broker and, where it matters, the user.
error connect_error(const error& e) { return make_error("connect", "cannot connect: " + e.message); }

}  // namespace

const char* connection_help() {
    return "connection (flags override the environment):\n"
           "  --broker URL          tcp://host:port or ssl://host:port      [CONNGUARD_BROKER]\n"
           "  --user NAME           your admin (or subscriber) MQTT user     [CONNGUARD_USER]\n"
           "  --password-file FILE  file with the password (mode 0600)       [CONNGUARD_PASSWORD_FILE]\n"
           "  --ca-file FILE        CA certificate for ssl://                [CONNGUARD_CA_FILE]\n"
           "  --timeout SECONDS     how long to wait for the coordinator (default 10)\n"
           "  --json                machine-readable output: the coordinator's answer as JSON, every\n"
           "                        list present (empty ones as []), enums by full name\n"
           "                        (\"TASK_STATE_PENDING_APPROVAL\"); see coordinator/README.md\n"
           "exit codes: 0 done, 1 refused by the coordinator, 2 usage, connection or timeout error\n";
}

result<connection_flags> parse_connection_flags(const std::vector<std::string>& args, std::vector<std::string>& rest) {
    connection_flags f;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto& a = args[i];
        auto value = [&](std::string& out) -> bool {
            if (i + 1 >= args.size()) return false;
            out = args[++i];
            return true;
        };
        if (a == "--broker") {
            if (!value(f.broker)) return make_error("usage", "--broker needs a URL");
        } else if (a == "--user") {
            if (!value(f.user)) return make_error("usage", "--user needs a name");
        } else if (a == "--password-file") {
            if (!value(f.password_file)) return make_error("usage", "--password-file needs a file");
        } else if (a == "--ca-file") {
            if (!value(f.ca_file)) return make_error("usage", "--ca-file needs a file");
        } else if (a == "--timeout") {
            std::string v;
            if (!value(v)) return make_error("usage", "--timeout needs seconds");
            char* end = nullptr;
            const double s = std::strtod(v.c_str(), &end);
            if (end == v.c_str() || *end != '\0' || s <= 0 || s > 3600)
                return make_error("usage", "--timeout '" + v + "' is not a number of seconds (0-3600)");
            f.timeout = std::chrono::milliseconds(static_cast<long long>(s * 1000));
        } else if (a == "--json") {
            f.json = true;
        } else {
            rest.push_back(a);
        }
    }
    return f;
}

status complete_from_env(connection_flags& f) {
    if (f.broker.empty()) f.broker = env_or("CONNGUARD_BROKER");
    if (f.user.empty()) f.user = env_or("CONNGUARD_USER");
    if (f.password_file.empty()) f.password_file = env_or("CONNGUARD_PASSWORD_FILE");
    if (f.ca_file.empty()) f.ca_file = env_or("CONNGUARD_CA_FILE");
    if (f.broker.empty()) return make_error("usage", "no broker: give --broker URL or set CONNGUARD_BROKER");
    if (f.user.empty()) return make_error("usage", "no user: give --user NAME or set CONNGUARD_USER");
    if (!topics::valid_principal_name(f.user))
        return make_error("usage", "user '" + f.user + "' is not a valid admin name ([a-z0-9][a-z0-9-]{0,62})");
    if (f.password_file.empty())
        return make_error("usage", "no password: give --password-file FILE or set CONNGUARD_PASSWORD_FILE");
    return {};
}

struct admin_session::state {
    std::mutex mu;
    std::condition_variable cv;
    std::map<std::string, v1::AdminResponse> answers;  // request id -> response
};

admin_session::~admin_session() {
    if (client_) client_->disconnect(std::chrono::seconds{2});
}

result<std::unique_ptr<admin_session>> admin_session::open(const connection_flags& flags) {
    auto c = connect_as(flags, "admin session");
    if (!c) return c.err();
    std::unique_ptr<admin_session> s(new admin_session());
    s->flags_ = flags;
    s->st_ = std::make_shared<state>();
    s->client_ = std::move(*c);
    auto st = s->st_;
    s->client_->subscribe(topics::admin_responses(flags.user), [st](const mqtt::message& m) {
        auto d = codec::decode(m.topic, m.payload);
        if (!d.ok() || !d.envelope.has_admin_response()) return mqtt::handler_result::handled;
        std::lock_guard lock(st->mu);
        const auto& r = d.envelope.admin_response();
        st->answers[r.request_id().empty() ? m.correlation_data : r.request_id()] = r;
        st->cv.notify_all();
        return mqtt::handler_result::handled;
    });
    if (auto cs = s->client_->connect(flags.timeout); !cs)
        return connect_error(cs.err());
    return s;
}

result<v1::AdminResponse> admin_session::call(v1::AdminRequest req) {
    if (req.request_id().empty()) req.set_request_id(new_uuid());
    auto env = codec::make_envelope("", "admin/" + flags_.user);
    *env.mutable_admin_request() = req;
    mqtt::message m;
    m.topic = topics::admin_requests(flags_.user);
    m.payload = codec::encode(env, system_clock::instance());
    m.qos = 1;
    m.response_topic = topics::admin_responses(flags_.user);
    m.correlation_data = req.request_id();
    if (auto ps = client_->publish(m, flags_.timeout); !ps) {
        if (ps.err().code == "mqtt.not_authorized")
            return make_error("forbidden", "the broker refused the request: user '" + flags_.user +
                                               "' may not publish admin requests (" + ps.err().message + ")");
        return make_error("publish", "sending the request failed: " + ps.err().message);
    }
    std::unique_lock lock(st_->mu);
    if (!st_->cv.wait_for(lock, flags_.timeout, [&] { return st_->answers.count(req.request_id()) > 0; }))
        return make_error("timeout", "no answer from the coordinator within " +
                                         std::to_string(flags_.timeout.count() / 1000.0).substr(0, 4) +
                                         " s (is connguard-coordinator running, and is '" + flags_.user +
                                         "' in its approvers?)");
    return st_->answers[req.request_id()];
}

result<v1::AuditCheckpoint> fetch_retained_checkpoint(const connection_flags& flags) {
    auto c = connect_as(flags, "audit checkpoint");
    if (!c) return c.err();
    struct shared {
        std::mutex mu;
        std::condition_variable cv;
        std::optional<v1::AuditCheckpoint> got;
    };
    auto sh = std::make_shared<shared>();
    (*c)->subscribe(topics::audit_checkpoint(), [sh](const mqtt::message& m) {
        auto d = codec::decode(m.topic, m.payload);
        if (!d.ok() || !d.envelope.has_audit_checkpoint()) return mqtt::handler_result::handled;
        std::lock_guard lock(sh->mu);
        sh->got = d.envelope.audit_checkpoint();
        sh->cv.notify_all();
        return mqtt::handler_result::handled;
    });
    if (auto cs = (*c)->connect(flags.timeout); !cs)
        return connect_error(cs.err());
    std::optional<v1::AuditCheckpoint> got;
    {
        std::unique_lock lock(sh->mu);
        sh->cv.wait_for(lock, flags.timeout, [&] { return sh->got.has_value(); });
        got = sh->got;
    }
    (*c)->disconnect(std::chrono::seconds{2});
    if (!got)
        return make_error("no_checkpoint",
                          "no audit checkpoint retained on " + topics::audit_checkpoint() + " within " +
                              std::to_string(flags.timeout.count() / 1000.0).substr(0, 4) +
                              " s (does the coordinator have audit.signingKeyFile, and may '" + flags.user +
                              "' read that topic?)");
    return *got;
}

status follow_alerts(const connection_flags& flags, const std::vector<std::string>& filters,
                     const std::function<bool(const std::string&, const v1::Alert&)>& on_alert) {
    auto c = connect_as(flags, "alerts");
    if (!c) return c.err();
    struct shared {
        std::mutex mu;
        std::condition_variable cv;
        bool done = false;
    };
    auto sh = std::make_shared<shared>();
    for (const auto& f : filters) {
        (*c)->subscribe(f, [sh, &on_alert](const mqtt::message& m) {
            auto d = codec::decode(m.topic, m.payload);
            if (!d.ok() || !d.envelope.has_alert()) return mqtt::handler_result::handled;
            std::lock_guard lock(sh->mu);
            if (sh->done) return mqtt::handler_result::handled;
            if (!on_alert(m.topic, d.envelope.alert())) {
                sh->done = true;
                sh->cv.notify_all();
            }
            return mqtt::handler_result::handled;
        });
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);  // paho's threads inherit the block
    if (auto cs = (*c)->connect(flags.timeout); !cs)
        return connect_error(cs.err());
    // Wait for the handler to finish or a signal (polled so both can end the wait).
    while (true) {
        {
            std::unique_lock lock(sh->mu);
            if (sh->cv.wait_for(lock, std::chrono::milliseconds{200}, [&] { return sh->done; })) break;
        }
        timespec zero{0, 0};
        if (sigtimedwait(&sigs, nullptr, &zero) > 0) break;
    }
    {
        std::lock_guard lock(sh->mu);
        sh->done = true;
    }
    (*c)->disconnect(std::chrono::seconds{2});
    return {};
}

}  // namespace connguard::ctl
