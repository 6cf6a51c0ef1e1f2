// connguard-wire-demo: one ValidationReport over the real broker, through common/mqtt_client.
//
//   connguard-wire-demo publish --uri URI --user TENANT --password-file F [--tenant T]
//   connguard-wire-demo receive --uri URI --user COORDINATOR --password-file F [--timeout-s N]
//
// `publish` sends a ValidationReport envelope as agent TENANT on tenants/T/validation (T defaults to
// TENANT; a different T shows the broker refusing a cross-tenant publish: exit 3).
// `receive` subscribes to tenants/+/validation, decodes the first envelope with common/envelope_codec
// and prints it (exit 0), or exits 4 when nothing valid arrives in time.
#include <google/protobuf/text_format.h>

#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "common/envelope_codec.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/mqtt_client.h"
#include "common/topics.h"

namespace {

using namespace connguard;

void usage(std::ostream& out) {
    out << "usage:\n"
           "  connguard-wire-demo publish --uri URI --user TENANT --password-file FILE [--tenant T]\n"
           "  connguard-wire-demo receive --uri URI --user COORDINATOR --password-file FILE [--timeout-s N]\n"
           "\n"
           "publish: sends a ValidationReport envelope as agent TENANT on connguard/v1/tenants/T/validation\n"
           "         (T defaults to TENANT). Exit 0 when the broker acknowledged it, 3 when it refused it.\n"
           "receive: subscribes to connguard/v1/tenants/+/validation as COORDINATOR, decodes the first\n"
           "         envelope and prints it. Exit 0 on a valid report, 4 when none arrived in time.\n"
           "FILE holds the MQTT password (mode 0600, e.g. broker-config/make-broker's DIR/secrets/USER).\n"
           "URI is tcp://127.0.0.1:PORT (ssl:// needs --ca-file FILE).\n";
}

struct args {
    std::string mode, uri, user, password_file, tenant, ca_file;
    int timeout_s = 20;
};

std::optional<args> parse(int argc, char** argv) {
    if (argc < 2) return std::nullopt;
    args a;
    a.mode = argv[1];
    for (int i = 2; i < argc; ++i) {
        const std::string k = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
            return argv[++i];
        };
        if (k == "--uri") a.uri = value();
        else if (k == "--user") a.user = value();
        else if (k == "--password-file") a.password_file = value();
        else if (k == "--tenant") a.tenant = value();
        else if (k == "--ca-file") a.ca_file = value();
        else if (k == "--timeout-s") a.timeout_s = std::stoi(value());
        else throw std::invalid_argument("unknown option '" + k + "'");
    }
    if (a.mode != "publish" && a.mode != "receive") throw std::invalid_argument("unknown mode '" + a.mode + "'");
    if (a.uri.empty() || a.user.empty() || a.password_file.empty())
        throw std::invalid_argument("--uri, --user and --password-file are required");
    if (a.tenant.empty()) a.tenant = a.user;
    return a;
}

mqtt::client_options options(const args& a, const std::string& password) {
    auto b = mqtt::client_options_builder()
                 .server_uri(a.uri)
                 .client_id("wire-demo-" + a.mode + "-" + a.user)
                 .credentials(a.user, password);
    if (!a.ca_file.empty()) b.tls(mqtt::tls_options{.ca_file = a.ca_file, .cert_file = {}, .key_file = {}});
    return b.finalize();
}

int publish(const args& a, const std::string& password) {
    mqtt::client c(options(a, password));
    if (auto st = c.connect(); !st) {
        std::cerr << "connect failed: " << st.err().message << "\n";
        return 1;
    }
    auto env = codec::make_envelope(a.tenant, "agent/" + a.user);
    auto* r = env.mutable_validation_report();
    r->set_azure_tenant_id("00000000-0000-0000-0000-000000000001");
    r->set_account_upn("svc-connect@" + a.tenant + ".example");
    r->set_account_object_id("11111111-0000-0000-0000-000000000001");
    r->set_overall(v1::CHECK_STATUS_FAIL);
    r->set_snapshot_digest(sha256_hex("demo snapshot of " + a.tenant));
    r->set_cycle(1);
    auto* check = r->add_checks();
    check->set_id("CG-CAP");
    check->set_subject("policy-require-mfa");
    check->set_status(v1::CHECK_STATUS_FAIL);
    check->set_reason("CA policy 'Require MFA for all users' requires MFA for the connection account");
    auto* ev = check->add_evidence();
    ev->set_kind("policy");
    ev->set_id("policy-require-mfa");
    const std::string payload = codec::encode(env, system_clock::instance());
    const std::string topic = topics::validation(a.tenant);
    auto st = c.publish(mqtt::make_message(topic, payload, 1, false));
    if (!st) {
        std::cout << "publish as '" << a.user << "' to " << topic << " REFUSED: " << st.err().message << "\n";
        return st.err().code == "mqtt.not_authorized" ? 3 : 1;
    }
    std::cout << "published ValidationReport " << env.id() << " (" << payload.size() << " bytes) as '" << a.user
              << "' to " << topic << "; broker acknowledged\n";
    c.disconnect();
    return 0;
}

int receive(const args& a, const std::string& password) {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<codec::decode_result> got;
    std::string topic;
    mqtt::client c(options(a, password));
    c.subscribe(topics::all_tenants_filter(topics::tenant_channel::validation), [&](const mqtt::message& m) {
        auto d = codec::decode(m.topic, m.payload);
        std::lock_guard lock(mu);
        if (!d.ok()) {
            std::cerr << "rejected payload on " << m.topic << ": " << codec::to_string(d.reason) << " (" << d.detail
                      << ")\n";
            return mqtt::handler_result::handled;
        }
        if (!got) {
            got = std::move(d);
            topic = m.topic;
        }
        cv.notify_all();
        return mqtt::handler_result::handled;
    });
    if (auto st = c.connect(); !st) {
        std::cerr << "connect failed: " << st.err().message << "\n";
        return 1;
    }
    std::cout << "subscribed as '" << a.user << "' to "
              << topics::all_tenants_filter(topics::tenant_channel::validation) << std::endl;
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds{a.timeout_s}, [&] { return got.has_value(); })) {
        std::cerr << "no valid ValidationReport within " << a.timeout_s << " s\n";
        return 4;
    }
    std::string text;
    google::protobuf::TextFormat::PrintToString(got->envelope, &text);
    std::cout << "received on " << topic << ", decoded and validated:\n" << text << std::flush;
    lock.unlock();
    c.disconnect();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)
        if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
            usage(std::cout);
            return 0;
        }
    try {
        auto a = parse(argc, argv);
        if (!a) {
            usage(std::cerr);
            return 2;
        }
        log::init({.program = "connguard-wire-demo", .json = false, .level = "warn", .file = ""});
        auto pw = config::read_secret_file(a->password_file);
        if (!pw) {
            std::cerr << pw.err().message << "\n";
            return 2;
        }
        return a->mode == "publish" ? publish(*a, *pw) : receive(*a, *pw);
    } catch (const std::exception& e) {
        std::cerr << "connguard-wire-demo: " << e.what() << " (see --help)\n";
        return 2;
    }
}
