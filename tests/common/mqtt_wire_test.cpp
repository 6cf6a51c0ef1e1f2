// The wire through a real broker: every Envelope body round-trips over mosquitto (made by
// broker-config/make-broker) and decodes equal; the ACL of DESIGN §4 holds; authentication and TLS.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/envelope_codec.h"
#include "common/log.h"
#include "common/mqtt_client.h"
#include "common/topics.h"
#include "tests/common/mqtt_test_util.h"
#include "tests/support/broker.h"
#include "tests/support/util.h"

namespace connguard::test {
namespace {

using namespace std::chrono_literals;
using connguard::v1::Envelope;

/// One shared broker for the suite (each test uses its own client ids and topics).
class MqttWire : public ::testing::Test {
protected:
    static void SetUpTestSuite() { broker_ = new broker(); }
    static void TearDownTestSuite() {
        delete broker_;
        broker_ = nullptr;
    }
    static broker& b() { return *broker_; }

    static std::unique_ptr<mqtt::client> connected(const std::string& user, const std::string& id) {
        auto c = std::make_unique<mqtt::client>(client_for(b(), user, id));
        auto st = c->connect();
        EXPECT_TRUE(st.ok()) << user << ": " << (st.ok() ? "" : st.err().message);
        return c;
    }

    static broker* broker_;
};
broker* MqttWire::broker_ = nullptr;

struct wire_case {
    std::string name;
    std::string publisher;   // MQTT user that publishes
    std::string receiver;    // MQTT user that subscribes
    std::string topic;
    Envelope env;
};

std::vector<wire_case> all_bodies() {
    const std::string t = "tenant-a";
    std::vector<wire_case> cases;
    auto add = [&](std::string name, std::string pub, std::string recv, std::string topic, std::string tenant,
                   auto&& fill) {
        wire_case c{std::move(name), std::move(pub), std::move(recv), std::move(topic),
                    codec::make_envelope(tenant, "test/" + std::string(tenant.empty() ? "admin" : tenant))};
        fill(c.env);
        cases.push_back(std::move(c));
    };
    add("validation_report", t, "coordinator", topics::validation(t), t, [](Envelope& e) {
        auto* r = e.mutable_validation_report();
        r->set_azure_tenant_id("11111111-2222-3333-4444-555555555555");
        r->set_account_upn("svc-connect@contoso.example");
        r->set_overall(connguard::v1::CHECK_STATUS_FAIL);
        r->set_snapshot_digest(std::string(64, 'a'));
        r->set_cycle(42);
        auto* c = r->add_checks();
        c->set_id("CG-CAP");
        c->set_subject("policy-1");
        c->set_status(connguard::v1::CHECK_STATUS_FAIL);
        c->set_reason("policy 'Require MFA' requires MFA for the account");
        auto* ev = c->add_evidence();
        ev->set_kind("policy");
        ev->set_id("policy-1");
        auto* v = r->add_verdicts();
        v->set_resource_app_id("00000002-0000-0ff1-ce00-000000000000");
        v->set_result("mfa_required");
        v->add_causes("policy-1");
    });
    add("change_event", t, "coordinator", topics::events(t), t, [](Envelope& e) {
        auto* c = e.mutable_change_event();
        c->set_kind(connguard::v1::CHANGE_KIND_SECURITY_DEFAULTS_ENABLED);
        c->set_subject_id("securityDefaults");
    });
    add("agent_status", t, "coordinator", topics::agent_status(t), t, [](Envelope& e) {
        e.mutable_agent_status()->set_version("0.1.0");
    });
    add("agent_command", "coordinator", t, topics::commands(t), t, [](Envelope& e) {
        auto* c = e.mutable_agent_command();
        c->set_command_id("cmd-1");
        c->set_task_id("task-1");
        c->set_plan_version(3);
    });
    add("command_result", t, "coordinator", topics::results(t), t, [](Envelope& e) {
        auto* c = e.mutable_command_result();
        c->set_command_id("cmd-1");
        c->set_task_id("task-1");
    });
    add("alert", "coordinator", "watcher", topics::alert("critical", t), t, [](Envelope& e) {
        auto* a = e.mutable_alert();
        a->set_fingerprint("fp-1");
        a->set_cause("status:FAIL");
    });
    add("task_view", "coordinator", "watcher", topics::task(t, "task-1"), t, [](Envelope& e) {
        auto* v = e.mutable_task_view();
        v->set_task_id("task-1");
        v->set_tenant("tenant-a");
    });
    add("admin_request", "admin-x", "coordinator", topics::admin_requests("admin-x"), "", [](Envelope& e) {
        auto* r = e.mutable_admin_request();
        r->set_request_id("req-1");
        r->mutable_approve()->set_task_id("task-1");
        r->mutable_approve()->set_plan_version(3);
    });
    add("admin_response", "coordinator", "admin-x", topics::admin_responses("admin-x"), "", [](Envelope& e) {
        auto* r = e.mutable_admin_response();
        r->set_request_id("req-1");
        r->set_ok(false);
        r->set_error_code("stale_plan");
    });
    add("audit_checkpoint", "coordinator", "admin-x", topics::audit_checkpoint(), "", [](Envelope& e) {
        auto* c = e.mutable_audit_checkpoint();
        c->set_seq(42);
        c->set_entry_hash(std::string(64, 'c'));
        c->set_coordinator_id("connguard-coordinator");
        c->set_key_id("0011223344556677");
        c->set_signature(std::string(64, '\x5a'));
    });
    return cases;
}

TEST_F(MqttWire, EveryBodyTypeRoundTripsThroughTheBrokerAndDecodesEqual) {
    manual_clock clk;
    const auto cases = all_bodies();
    ASSERT_EQ(cases.size(), 10u);  // one per oneof member of Envelope.body
    std::set<int> bodies;
    for (const auto& c : cases) bodies.insert(c.env.body_case());
    EXPECT_EQ(bodies.size(), 10u);

    // One receiver and one sender per MQTT user; each receiver subscribes the topics it should get.
    std::map<std::string, std::unique_ptr<inbox>> inboxes;
    std::map<std::string, std::unique_ptr<mqtt::client>> receivers, senders;
    for (const auto& c : cases) {
        if (!receivers.count(c.receiver)) {
            inboxes[c.receiver] = std::make_unique<inbox>();
            receivers[c.receiver] = std::make_unique<mqtt::client>(client_for(b(), c.receiver, "rt-recv-" + c.receiver));
        }
        receivers[c.receiver]->subscribe(c.topic, inboxes[c.receiver]->handler());
    }
    for (auto& [user, r] : receivers) ASSERT_TRUE(r->connect().ok()) << user;
    for (const auto& c : cases)
        if (!senders.count(c.publisher)) senders[c.publisher] = connected(c.publisher, "rt-send-" + c.publisher);

    int n = 0;
    for (auto c : cases) {
        SCOPED_TRACE(c.name);
        const std::string suffix = std::to_string(n++);
        auto& in = *inboxes[c.receiver];
        const auto before = in.size();
        const std::string payload = codec::encode(c.env, clk);
        auto m = mqtt::make_message(c.topic, payload);
        m.response_topic = "reply/here";
        m.correlation_data = "corr-" + suffix;
        auto st = senders[c.publisher]->publish(m);
        ASSERT_TRUE(st.ok()) << st.err().message;
        ASSERT_EQ(in.wait_for(before + 1), before + 1);
        const auto got = in.messages().back();
        EXPECT_EQ(got.topic, c.topic);
        EXPECT_EQ(got.response_topic, "reply/here");
        EXPECT_EQ(got.correlation_data, "corr-" + suffix);
        auto decoded = codec::decode(got.topic, got.payload);
        ASSERT_TRUE(decoded.ok()) << codec::to_string(decoded.reason) << ": " << decoded.detail;
        EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(decoded.envelope, c.env))
            << decoded.envelope.DebugString() << "\nvs\n" << c.env.DebugString();
    }
}

/// Publishes `refused` as `user` on `topic` and expects the broker to refuse it (v5 PUBACK 0x87).
void expect_refused(mqtt::client& c, const std::string& topic) {
    auto st = c.publish(mqtt::make_message(topic, "forbidden"));
    ASSERT_FALSE(st.ok()) << "publish to " << topic << " was accepted";
    EXPECT_EQ(st.err().code, "mqtt.not_authorized") << st.err().message;
}

TEST_F(MqttWire, TenantCannotPublishIntoAnotherTenantsTopics) {
    inbox in;
    auto coord = std::make_unique<mqtt::client>(client_for(b(), "coordinator", "acl-coord-1"));
    coord->subscribe("connguard/v1/tenants/+/validation", in.handler());
    ASSERT_TRUE(coord->connect().ok());
    auto a = connected("tenant-a", "acl-a-1");
    const auto failures_before = a->stats().publish_failures;
    expect_refused(*a, topics::validation("tenant-b"));
    expect_refused(*a, topics::events("tenant-b"));
    EXPECT_EQ(a->stats().publish_failures, failures_before + 2);
    // A later legitimate publish of the same client arrives; the refused one never did.
    ASSERT_TRUE(a->publish(mqtt::make_message(topics::validation("tenant-a"), "marker")).ok());
    ASSERT_EQ(in.wait_for(1), 1u);
    EXPECT_EQ(in.messages()[0].payload, "marker");
    EXPECT_EQ(in.messages()[0].topic, topics::validation("tenant-a"));
    EXPECT_EQ(in.size(), 1u);
}

TEST_F(MqttWire, TenantCannotReadAnotherTenantsCommands) {
    inbox wild_in, own_in, b_in;
    auto a = std::make_unique<mqtt::client>(client_for(b(), "tenant-a", "acl-a-2"));
    // Tries to listen to everyone: the broker refuses a subscription wider than the grant (SUBACK
    // 0x87), so nothing is delivered for these filters (the wrapper still hands a message that
    // arrives for another subscription to every handler whose filter matches it).
    a->subscribe("connguard/v1/tenants/+/commands", wild_in.handler());
    a->subscribe("connguard/v1/tenants/+/acks", wild_in.handler());
    a->subscribe(topics::commands("tenant-a"), own_in.handler());  // positive control: its own commands
    ASSERT_TRUE(a->connect().ok());
    auto tb = std::make_unique<mqtt::client>(client_for(b(), "tenant-b", "acl-b-2"));
    tb->subscribe(topics::commands("tenant-b"), b_in.handler());
    tb->subscribe(topics::acks("tenant-b"), b_in.handler());
    ASSERT_TRUE(tb->connect().ok());
    auto coord = connected("coordinator", "acl-coord-2");
    ASSERT_TRUE(coord->publish(mqtt::make_message(topics::commands("tenant-b"), "for-b")).ok());
    ASSERT_TRUE(coord->publish(mqtt::make_message(topics::acks("tenant-b"), "ack-b")).ok());
    ASSERT_TRUE(coord->publish(mqtt::make_message(topics::acks("tenant-a"), "ack-a")).ok());
    ASSERT_TRUE(coord->publish(mqtt::make_message(topics::commands("tenant-a"), "for-a")).ok());
    ASSERT_EQ(b_in.wait_for(2), 2u);
    EXPECT_EQ(b_in.messages()[0].payload, "for-b");
    EXPECT_EQ(b_in.messages()[1].payload, "ack-b");
    ASSERT_EQ(own_in.wait_for(1), 1u);
    EXPECT_EQ(own_in.messages()[0].payload, "for-a");
    // Same publisher, same order: "for-a" arriving means "for-b", "ack-b" and "ack-a" would have
    // arrived before it on the wildcard subscriptions, had the broker accepted them.
    for (const auto& m : wild_in.messages()) EXPECT_EQ(m.payload, "for-a") << m.topic;
}

TEST_F(MqttWire, TenantCannotPublishCommandsAlertsTaskViewsOrAdminRequests) {
    auto a = connected("tenant-a", "acl-a-3");
    expect_refused(*a, topics::commands("tenant-a"));
    expect_refused(*a, topics::acks("tenant-a"));  // only the coordinator acknowledges ingest
    expect_refused(*a, topics::alert("critical", "tenant-a"));
    expect_refused(*a, topics::task("tenant-a", "t1"));
    expect_refused(*a, topics::admin_requests("admin-x"));
    expect_refused(*a, topics::admin_requests("tenant-a"));  // its own name as an admin
    expect_refused(*a, topics::admin_responses("admin-x"));
    // positive control: its own report is accepted
    EXPECT_TRUE(a->publish(mqtt::make_message(topics::validation("tenant-a"), "ok")).ok());
}

TEST_F(MqttWire, AdminCannotPublishAsAnotherAdminOrIntoTenantTopics) {
    inbox in;
    auto coord = std::make_unique<mqtt::client>(client_for(b(), "coordinator", "acl-coord-4"));
    coord->subscribe(topics::all_admin_requests_filter(), in.handler());
    ASSERT_TRUE(coord->connect().ok());
    auto x = connected("admin-x", "acl-x-4");
    expect_refused(*x, topics::admin_requests("admin-y"));
    expect_refused(*x, topics::admin_responses("admin-x"));
    expect_refused(*x, topics::commands("tenant-a"));
    expect_refused(*x, topics::validation("admin-x"));  // its own name as a tenant
    ASSERT_TRUE(x->publish(mqtt::make_message(topics::admin_requests("admin-x"), "mine")).ok());
    ASSERT_EQ(in.wait_for(1), 1u);
    EXPECT_EQ(in.messages()[0].topic, topics::admin_requests("admin-x"));
    EXPECT_EQ(in.size(), 1u);
}

TEST_F(MqttWire, AdminReadsOnlyItsOwnResponses) {
    inbox wild_in, own_in;
    auto x = std::make_unique<mqtt::client>(client_for(b(), "admin-x", "acl-x-5"));
    x->subscribe("connguard/v1/admin/+/responses", wild_in.handler());  // refused: wider than its grant
    x->subscribe(topics::admin_responses("admin-x"), own_in.handler());
    ASSERT_TRUE(x->connect().ok());
    auto coord = connected("coordinator", "acl-coord-5");
    ASSERT_TRUE(coord->publish(mqtt::make_message(topics::admin_responses("admin-y"), "for-y")).ok());
    ASSERT_TRUE(coord->publish(mqtt::make_message(topics::admin_responses("admin-x"), "for-x")).ok());
    ASSERT_EQ(own_in.wait_for(1), 1u);
    EXPECT_EQ(own_in.messages()[0].payload, "for-x");
    for (const auto& m : wild_in.messages()) EXPECT_EQ(m.payload, "for-x") << m.topic;
}

TEST_F(MqttWire, SubscriberReadsAlertsButCannotPublishOrReadTenantTopics) {
    inbox in;
    auto w = std::make_unique<mqtt::client>(client_for(b(), "watcher", "acl-w-6"));
    w->subscribe("connguard/v1/tenants/#", in.handler());
    w->subscribe(topics::all_alerts_filter(), in.handler());
    ASSERT_TRUE(w->connect().ok());
    expect_refused(*w, topics::alert("info", "tenant-a"));
    expect_refused(*w, topics::task("tenant-a", "t1"));
    expect_refused(*w, topics::validation("watcher"));
    expect_refused(*w, topics::admin_requests("watcher"));
    auto a = connected("tenant-a", "acl-a-6");
    ASSERT_TRUE(a->publish(mqtt::make_message(topics::validation("tenant-a"), "tenant-data")).ok());
    auto coord = connected("coordinator", "acl-coord-6");
    ASSERT_TRUE(coord->publish(mqtt::make_message(topics::alert("warning", "tenant-a"), "alert")).ok());
    ASSERT_EQ(in.wait_for(1), 1u);
    const auto got = in.messages();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].payload, "alert");
}

TEST_F(MqttWire, AdminReadsAlertsAndTaskViewsButNoTenantTopics) {
    // `connguardctl alerts --follow` runs as an admin: it must see alerts and task views, and an
    // admin must still never see what agents publish.
    inbox in;
    auto x = std::make_unique<mqtt::client>(client_for(b(), "admin-x", "acl-x-7"));
    x->subscribe("connguard/v1/tenants/#", in.handler());
    x->subscribe(topics::all_alerts_filter(), in.handler());
    x->subscribe("connguard/v1/tasks/#", in.handler());
    ASSERT_TRUE(x->connect().ok());
    expect_refused(*x, topics::alert("critical", "tenant-a"));
    expect_refused(*x, topics::task("tenant-a", "t7"));
    auto a = connected("tenant-a", "acl-a-7");
    ASSERT_TRUE(a->publish(mqtt::make_message(topics::validation("tenant-a"), "tenant-data")).ok());
    auto coord = connected("coordinator", "acl-coord-7");
    ASSERT_TRUE(coord->publish(mqtt::make_message(topics::alert("warning", "tenant-a"), "alert")).ok());
    ASSERT_TRUE(coord->publish(mqtt::make_message(topics::task("tenant-a", "t7"), "task-view")).ok());
    ASSERT_EQ(in.wait_for(2), 2u);
    std::set<std::string> payloads;
    for (const auto& m : in.messages()) payloads.insert(m.payload);
    EXPECT_EQ(payloads, (std::set<std::string>{"alert", "task-view"}));
}

TEST_F(MqttWire, OnlyTheCoordinatorPublishesAuditCheckpointsAndOnlyAdminsReadThem) {
    // The retained checkpoint is the audit log's anchor outside the database: an agent, an admin or
    // a subscriber that could publish there could move it; admins read it to verify the log.
    inbox x_in, a_in, w_in;
    auto x = std::make_unique<mqtt::client>(client_for(b(), "admin-x", "acl-x-8"));
    x->subscribe(topics::audit_checkpoint(), x_in.handler());
    ASSERT_TRUE(x->connect().ok());
    auto a = std::make_unique<mqtt::client>(client_for(b(), "tenant-a", "acl-a-8"));
    a->subscribe("connguard/v1/audit/#", a_in.handler());
    a->subscribe(topics::commands("tenant-a"), a_in.handler());
    ASSERT_TRUE(a->connect().ok());
    auto w = std::make_unique<mqtt::client>(client_for(b(), "watcher", "acl-w-8"));
    w->subscribe("connguard/v1/audit/#", w_in.handler());
    w->subscribe(topics::all_alerts_filter(), w_in.handler());
    ASSERT_TRUE(w->connect().ok());
    expect_refused(*x, topics::audit_checkpoint());
    expect_refused(*a, topics::audit_checkpoint());
    expect_refused(*w, topics::audit_checkpoint());
    auto coord = connected("coordinator", "acl-coord-8");
    ASSERT_TRUE(coord->publish(mqtt::make_message(topics::audit_checkpoint(), "checkpoint", 1, /*retained=*/true)).ok());
    // Then a marker on a topic each may read: same publisher, same order, so once the marker is
    // there the checkpoint would have arrived before it.
    ASSERT_TRUE(coord->publish(mqtt::make_message(topics::commands("tenant-a"), "marker")).ok());
    ASSERT_TRUE(coord->publish(mqtt::make_message(topics::alert("info", "tenant-a"), "marker")).ok());
    ASSERT_EQ(x_in.wait_for(1), 1u);
    EXPECT_EQ(x_in.messages()[0].payload, "checkpoint");
    ASSERT_EQ(a_in.wait_for(1), 1u);
    ASSERT_EQ(w_in.wait_for(1), 1u);
    EXPECT_EQ(a_in.messages().size(), 1u);
    EXPECT_EQ(a_in.messages()[0].payload, "marker");
    EXPECT_EQ(w_in.messages().size(), 1u);
    EXPECT_EQ(w_in.messages()[0].payload, "marker");
    // An admin that connects later gets the retained checkpoint when it subscribes.
    inbox late_in;
    auto late = std::make_unique<mqtt::client>(client_for(b(), "admin-y", "acl-y-8"));
    late->subscribe(topics::audit_checkpoint(), late_in.handler());
    ASSERT_TRUE(late->connect().ok());
    ASSERT_EQ(late_in.wait_for(1), 1u);
    EXPECT_TRUE(late_in.messages()[0].retained);
    EXPECT_EQ(late_in.messages()[0].payload, "checkpoint");
    // Leave no retained message behind for the suite's other tests.
    ASSERT_TRUE(coord->publish(mqtt::make_message(topics::audit_checkpoint(), "", 1, /*retained=*/true)).ok());
}

TEST_F(MqttWire, WrongPasswordIsRefused) {
    auto opts = client_for(b(), "tenant-a", "auth-wrong");
    opts.password = "not-the-password";
    mqtt::client c(opts);
    auto st = c.connect(5s);
    ASSERT_FALSE(st.ok());
    EXPECT_FALSE(c.connected());
    EXPECT_EQ(st.err().code, "mqtt.not_authorized") << st.err().message;
    EXPECT_EQ(st.err().message, "broker " + b().uri() + " refused user 'tenant-a': wrong user name or password, or the user may not connect (not authorized)");
    EXPECT_EQ(st.err().message.find("not-the-password"), std::string::npos) << "password leaked into an error";
}

TEST_F(MqttWire, UnknownUserIsRefused) {
    auto opts = client_for(b(), "tenant-a", "auth-unknown");
    opts.username = "tenant-zzz";
    mqtt::client c(opts);
    auto st = c.connect(5s);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.err().code, "mqtt.not_authorized") << st.err().message;
    EXPECT_EQ(st.err().message, "broker " + b().uri() + " refused user 'tenant-zzz': wrong user name or password, or the user may not connect (not authorized)");
}

TEST_F(MqttWire, NothingListeningIsSaidAsConnectionRefused) {
    auto opts = client_for(b(), "tenant-a", "refused-port");
    const int port = free_port();
    opts.server_uri = "tcp://127.0.0.1:" + std::to_string(port);
    mqtt::client c(opts);
    auto st = c.connect(5s);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.err().code, "mqtt.unreachable");
    EXPECT_EQ(st.err().message, "connection refused by " + opts.server_uri +
                                    " (is the broker running and listening on port " + std::to_string(port) + "?)");
}

TEST_F(MqttWire, UnknownHostIsSaidAsNotResolvable) {
    auto opts = client_for(b(), "tenant-a", "unknown-host");
    opts.server_uri = "tcp://no-such-host.invalid:1883";  // .invalid never resolves (RFC 6761)
    mqtt::client c(opts);
    auto st = c.connect(10s);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.err().code, "mqtt.unreachable") << st.err().message;
    EXPECT_TRUE(st.err().message.starts_with("cannot resolve the host 'no-such-host.invalid' of " + opts.server_uri))
        << st.err().message;
}

TEST_F(MqttWire, ABrokerThatStaysDownIsReportedOnceAndTheRecoveryToo) {
    temp_dir dir("connguard-connect-log");
    const auto log_file = dir.path() / "client.log";
    log::init({.program = "wire-test", .json = false, .level = "info", .file = log_file.string()});
    broker down;
    down.stop();
    {
        mqtt::client c(mqtt::client_options_builder()
                           .server_uri(down.uri())
                           .client_id("said-once")
                           .credentials("tenant-a", down.password("tenant-a"))
                           .reconnect(100ms, 400ms)
                           .finalize());
        ASSERT_TRUE(c.connect(5s, /*keep_trying=*/true).ok());
        std::this_thread::sleep_for(4s);  // several attempts fail meanwhile (backoff 100 ms .. 1 s)
        down.start();
        const auto until = std::chrono::steady_clock::now() + 20s;
        while (!c.connected() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(50ms);
        EXPECT_TRUE(c.connected());
        c.disconnect(2s);
    }
    log::init(log::options{});  // back to stderr; the file logger is flushed as it goes
    const auto text = slurp(log_file);
    std::size_t said = 0;
    for (std::size_t at = text.find("connection refused by " + down.uri()); at != std::string::npos;
         at = text.find("connection refused by " + down.uri(), at + 1))
        ++said;
    EXPECT_EQ(said, 1u) << text;
    EXPECT_NE(text.find("cannot connect: connection refused by " + down.uri()), std::string::npos) << text;
    EXPECT_NE(text.find("connected to " + down.uri() + " after "), std::string::npos) << text;
}

TEST_F(MqttWire, AnonymousConnectIsRefused) {
    // The wrapper never connects without a username, so use the stock client for the anonymous try.
    std::string out;
    const int rc = run_command({"mosquitto_pub", "-V", "5", "-h", "127.0.0.1", "-p", std::to_string(b().port()), "-q",
                                "1", "-t", topics::validation("tenant-a"), "-m", "anon"},
                               &out);
    EXPECT_NE(rc, 0) << out;
    EXPECT_NE(out.find("ot authori"), std::string::npos) << out;
    EXPECT_THROW(mqtt::client(mqtt::client_options_builder().server_uri(b().uri()).client_id("anon").finalize()),
                 std::invalid_argument);
}

TEST(MqttTls, ConnectsOverTlsWithTheGeneratedCaAndRefusesAnotherCa) {
    broker b({.tls = true});
    broker other({.tls = true});
    auto opts_for = [&](const std::string& user, const std::string& id, const std::filesystem::path& ca) {
        auto o = client_for(b, user, id);
        o.server_uri = b.tls_uri();
        o.tls = mqtt::tls_options{.ca_file = ca.string()};
        return o;
    };
    inbox in;
    mqtt::client coord(opts_for("coordinator", "tls-coord", b.ca_file()));
    coord.subscribe(topics::all_tenants_filter(topics::tenant_channel::validation), in.handler());
    auto st = coord.connect();
    ASSERT_TRUE(st.ok()) << st.err().message << "\n" << b.log();
    mqtt::client agent(opts_for("tenant-a", "tls-agent", b.ca_file()));
    ASSERT_TRUE(agent.connect().ok());
    ASSERT_TRUE(agent.publish(mqtt::make_message(topics::validation("tenant-a"), "over-tls")).ok());
    ASSERT_EQ(in.wait_for(1), 1u);
    EXPECT_EQ(in.messages()[0].payload, "over-tls");

    mqtt::client wrong_ca(opts_for("tenant-a", "tls-wrong", other.ca_file()));
    auto refused = wrong_ca.connect(5s);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.err().code, "mqtt.unreachable");
    EXPECT_TRUE(refused.err().message.starts_with("the certificate of " + b.tls_uri() +
                                                  " is not trusted with the CA file " + other.ca_file().string()))
        << refused.err().message;

    auto plain = opts_for("tenant-a", "tls-to-plain", b.ca_file());
    plain.server_uri = "ssl://127.0.0.1:" + std::to_string(b.port());
    mqtt::client tls_to_plain(plain);
    auto no_tls = tls_to_plain.connect(5s);
    ASSERT_FALSE(no_tls.ok());
    EXPECT_TRUE(no_tls.err().message.starts_with("the TLS handshake with " + plain.server_uri + " failed"))
        << no_tls.err().message;
    EXPECT_THROW(mqtt::client(mqtt::client_options_builder()
                                  .server_uri(b.tls_uri())
                                  .client_id("x")
                                  .credentials("tenant-a", "pw-pw-pw")
                                  .finalize()),
                 std::invalid_argument);
}

}  // namespace
}  // namespace connguard::test
