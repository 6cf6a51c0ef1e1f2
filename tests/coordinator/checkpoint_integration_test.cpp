// Audit checkpoints for real: the connguard-coordinator binary signs checkpoints with a key made by
// the openssl CLI; they appear retained on the broker (read as an admin), in the checkpoint file and
// at a webhook witness, and verify with the public key; an approval gets its checkpoint at once;
// `connguardctl audit --verify --checkpoint/--from-broker` passes, refuses an altered checkpoint or
// another key, and refuses a log whose newest entries were deleted from the SQLite file while the
// coordinator was stopped, naming the missing range, while the plain chain check still passes.
#include <gtest/gtest.h>

#include <sqlite3.h>
#include <sys/stat.h>

#include <mutex>

#include "common/envelope_codec.h"
#include "coordinator/audit_checkpoint.h"
#include "tests/coordinator/harness.h"
#include "tests/support/report_fixtures.h"
#include "tests/support/webhook_receiver.h"

namespace connguard::coord {
namespace {

using namespace test;
using namespace std::chrono_literals;

test::broker_options broker_opts() {
    test::broker_options o;
    o.tenants = {"contoso", "fabrikam"};
    o.admins = {"alice", "vera"};
    o.subscribers = {"watcher"};
    return o;
}

/// An Ed25519 key pair made the way coordinator/README.md says: openssl genpkey, mode 0600.
struct key_files {
    explicit key_files(const std::filesystem::path& dir, const std::string& name = "audit")
        : key(dir / (name + ".key")), pub(dir / (name + ".pub")) {
        std::string out;
        if (run_command({"openssl", "genpkey", "-algorithm", "ed25519", "-out", key.string()}, &out) != 0)
            throw std::runtime_error("openssl genpkey: " + out);
        ::chmod(key.c_str(), 0600);
        if (run_command({"openssl", "pkey", "-in", key.string(), "-pubout", "-out", pub.string()}, &out) != 0)
            throw std::runtime_error("openssl pkey: " + out);
    }
    checkpoint::public_key public_key() const {
        auto p = checkpoint::public_key::from_pem(slurp(pub));
        if (!p) throw std::runtime_error(p.err().message);
        return *p;
    }
    std::filesystem::path key, pub;
};

/// The checkpoints in the file, each verified; empty while there is none (or it does not verify).
std::vector<v1::AuditCheckpoint> checkpoints_in(const std::filesystem::path& file, const checkpoint::public_key& pub) {
    auto all = checkpoint::parse_file(slurp(file), pub);
    return all ? *all : std::vector<v1::AuditCheckpoint>{};
}

std::uint64_t newest_seq(const std::vector<v1::AuditCheckpoint>& cps) {
    std::uint64_t n = 0;
    for (const auto& c : cps) n = std::max<std::uint64_t>(n, c.seq());
    return n;
}

void publish_report(deployment& d, const std::string& tenant, std::vector<std::string> policies) {
    auto agent = d.client(tenant, "-report");
    ASSERT_TRUE(agent->connect());
    auto r = report(1, to_unix_ms(system_clock::instance().now()));
    for (const auto& p : policies) add_cap_fail(r, p, "2026-01-01T10:00:00Z");  // grant mfa: medium risk, 1 approval
    finish_overall(r);
    ASSERT_TRUE(agent->publish(envelope_message(topics::validation(tenant), wrap(tenant, r))));
    agent->disconnect();
}

TEST(CoordinatorCheckpoints, AppearRetainedInTheFileAndAtTheWitnessVerifyAndFollowAnApprovalAtOnce) {
    temp_dir keys("cg-keys");
    const key_files k(keys.path());
    const auto pub = k.public_key();
    const auto file = keys.path() / "checkpoints.jsonl";
    test::webhook_receiver wx;  // an outside witness of the checkpoints
    // An hour between timed checkpoints: any checkpoint after the first is the approval's.
    deployment d(broker_opts(), {{"audit",
                                  {{"signingKeyFile", k.key.string()},
                                   {"checkpointSeconds", 3600},
                                   {"checkpointFile", file.string()},
                                   {"checkpointWebhook", wx.url("/checkpoints")}}},
                                 {"alerts", {{"retry", {{"initialMilliseconds", 50}, {"maxMilliseconds", 200}}}}}});
    d.start();

    // What verifiers trust is the public half, the same as openssl derives.
    std::string out;
    ASSERT_EQ(run_command({std::string(CONNGUARD_BIN_DIR) + "/connguard-coordinator", "--config", d.config_path().string(),
                           "--print-audit-public-key"},
                          &out, /*merge_stderr=*/false),
              0)
        << out;
    EXPECT_EQ(out, slurp(k.pub));
    EXPECT_EQ(slurp(d.log_path()).find("PRIVATE KEY"), std::string::npos);

    // An admin follows the retained topic.
    std::mutex mu;
    std::vector<v1::AuditCheckpoint> on_topic;
    auto alice = d.client("alice", "-follow");
    alice->subscribe(topics::audit_checkpoint(), [&](const mqtt::message& m) {
        auto dec = codec::decode(m.topic, m.payload);
        if (dec.ok() && dec.envelope.has_audit_checkpoint()) {
            std::lock_guard lock(mu);
            on_topic.push_back(dec.envelope.audit_checkpoint());
        }
        return mqtt::handler_result::handled;
    });
    ASSERT_TRUE(alice->connect());

    // A report makes a task: audit entries, and the first checkpoint anchors them.
    publish_report(d, "contoso", {"pol-1"});
    const auto head = [&] { return static_cast<std::uint64_t>(d.count("SELECT coalesce(max(seq), 0) FROM audit")); };
    ASSERT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM tasks WHERE state = 2") == 1; })) << slurp(d.log_path());
    ASSERT_TRUE(eventually([&] { return newest_seq(checkpoints_in(file, pub)) == head(); })) << slurp(d.log_path());
    const auto first = checkpoints_in(file, pub);
    ASSERT_EQ(first.size(), 1u) << slurp(file);
    EXPECT_EQ(first[0].coordinator_id(), "coord-test");
    EXPECT_EQ(first[0].key_id(), pub.key_id());
    {
        auto db = d.db();
        auto h = db->audit_hash_at(first[0].seq());
        ASSERT_TRUE(h && *h);
        EXPECT_EQ(**h, first[0].entry_hash());
    }

    // An approval (medium risk: one approver) is anchored at once, not an hour later.
    ASSERT_EQ(d.ctl("vera", {"tasks", "--state", "pending-approval", "--json"}, &out), 0) << out;
    const std::string id = nlohmann::json::parse(out.substr(out.find('{')))["tasks"][0]["task_id"];
    ASSERT_EQ(d.ctl("alice", {"approve", id}, &out), 0) << out;
    const auto approved_seq =
        static_cast<std::uint64_t>(d.count("SELECT max(seq) FROM audit WHERE action = 'task.approved'"));
    ASSERT_GT(approved_seq, first[0].seq());
    ASSERT_TRUE(eventually([&] { return newest_seq(checkpoints_in(file, pub)) >= approved_seq; }))
        << slurp(file) << slurp(d.log_path());
    const auto cps = checkpoints_in(file, pub);
    ASSERT_EQ(cps.size(), 2u) << slurp(file);

    // The same checkpoints, signed and verifiable, on the broker (retained) and at the witness.
    ASSERT_TRUE(eventually([&] {
        std::lock_guard lock(mu);
        return !on_topic.empty() && on_topic.back().seq() == cps.back().seq();
    })) << slurp(d.log_path());
    {
        std::lock_guard lock(mu);
        for (const auto& c : on_topic) EXPECT_TRUE(checkpoint::verify(c, pub));
        EXPECT_EQ(on_topic.back().SerializeAsString(), cps.back().SerializeAsString());
    }
    ASSERT_TRUE(eventually([&] { return wx.bodies().size() >= 2; })) << slurp(d.log_path());
    for (const auto& body : wx.bodies()) {
        auto c = checkpoint::from_line(body);
        ASSERT_TRUE(c) << body;
        EXPECT_TRUE(checkpoint::verify(*c, pub)) << body;
    }
    const auto bodies = wx.bodies();
    EXPECT_NE(std::find(bodies.begin(), bodies.end(), checkpoint::to_line(cps.back())), bodies.end());

    // connguardctl verifies the log against the file and against the retained checkpoint.
    ASSERT_EQ(d.ctl("vera", {"audit", "--verify", "--checkpoint", file.string(), "--audit-public-key", k.pub.string()}, &out), 0)
        << out;
    EXPECT_NE(out.find("audit chain intact"), std::string::npos) << out;
    EXPECT_NE(out.find("audit log agrees with 2 signed checkpoint(s)"), std::string::npos) << out;
    ASSERT_EQ(d.ctl("vera", {"audit", "--verify", "--from-broker", "--audit-public-key", k.pub.string()}, &out), 0) << out;
    EXPECT_NE(out.find("agrees with 1 signed checkpoint(s)"), std::string::npos) << out;
    ASSERT_EQ(d.ctl("vera", {"audit", "--verify", "--checkpoint", file.string(), "--audit-public-key", k.pub.string(),
                             "--json"},
                    &out),
              0)
        << out;
    const auto j = nlohmann::json::parse(out.substr(out.find('{')));
    EXPECT_EQ(j["checkpoints"]["ok"], true) << out;
    EXPECT_EQ(j["checkpoints"]["compared"], 2) << out;
    EXPECT_TRUE(j["audit"]["verification"]["ok"].get<bool>()) << out;

    // A checkpoint whose signature was altered is refused, naming its line.
    {
        auto line = checkpoint::to_line(cps.back());
        auto c = cps.back();
        auto sig = c.signature();
        sig[0] = static_cast<char>(sig[0] ^ 0x01);
        c.set_signature(sig);
        std::ofstream(keys.path() / "altered.jsonl") << checkpoint::to_line(cps.front()) << "\n"
                                                     << checkpoint::to_line(c) << "\n";
    }
    EXPECT_EQ(d.ctl("vera", {"audit", "--verify", "--checkpoint", (keys.path() / "altered.jsonl").string(),
                             "--audit-public-key", k.pub.string()},
                    &out),
              1)
        << out;
    EXPECT_NE(out.find("line 2: checkpoint of entry " + std::to_string(cps.back().seq())), std::string::npos) << out;
    EXPECT_NE(out.find("bad signature"), std::string::npos) << out;
    // So is a genuine checkpoint checked against another public key.
    const key_files other(keys.path(), "other");
    EXPECT_EQ(d.ctl("vera", {"audit", "--verify", "--checkpoint", file.string(), "--audit-public-key", other.pub.string()},
                    &out),
              1)
        << out;
    EXPECT_NE(out.find("not by the given public key " + other.public_key().key_id()), std::string::npos) << out;
    // A comparison without a key to trust is a usage error.
    EXPECT_EQ(d.ctl("vera", {"audit", "--verify", "--checkpoint", file.string()}, &out), 2) << out;
    EXPECT_NE(out.find("need --audit-public-key FILE"), std::string::npos) << out;
}

TEST(CoordinatorCheckpoints, NewestEntriesDeletedWhileStoppedAreRefusedByRangeWhileThePlainChainStillPasses) {
    temp_dir keys("cg-keys");
    const key_files k(keys.path());
    const auto pub = k.public_key();
    const auto file = keys.path() / "checkpoints.jsonl";
    deployment d(broker_opts(), {{"audit",
                                  {{"signingKeyFile", k.key.string()},
                                   {"checkpointSeconds", 1},
                                   {"checkpointFile", file.string()}}}});
    d.start();
    publish_report(d, "contoso", {"pol-1", "pol-2"});
    publish_report(d, "fabrikam", {"pol-3"});
    ASSERT_TRUE(eventually([&] { return d.count("SELECT count(*) FROM tasks WHERE state = 2") == 3; })) << slurp(d.log_path());
    const auto head = [&] { return static_cast<std::uint64_t>(d.count("SELECT coalesce(max(seq), 0) FROM audit")); };
    // Timed checkpoints catch up with the head.
    ASSERT_TRUE(eventually([&] { return newest_seq(checkpoints_in(file, pub)) == head(); })) << slurp(d.log_path());
    const std::uint64_t anchored = head();
    ASSERT_GE(anchored, 6u);
    ASSERT_EQ(d.stop(), 0);

    // Someone with the database file cuts the newest three entries off (the triggers are no obstacle
    // to whoever can write the file). What is left is a valid, shorter chain.
    {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(d.db_path().c_str(), &db), SQLITE_OK);
        const std::string sql = "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq > " +
                                std::to_string(anchored - 3) + ";";
        char* err = nullptr;
        ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
        sqlite3_close(db);
    }
    d.start();

    // The coordinator notices at start and records it in the log itself.
    const auto cut_to = anchored - 3;
    const std::string missing_at_start =
        "entries " + std::to_string(cut_to + 1) + "-" + std::to_string(anchored) + " are missing";
    EXPECT_NE(slurp(d.log_path()).find("contradicts the newest checkpoint"), std::string::npos) << slurp(d.log_path());
    EXPECT_EQ(d.count("SELECT count(*) FROM audit WHERE action = 'audit.checkpoint_mismatch' AND detail LIKE '%" +
                      missing_at_start + "%'"),
              1)
        << slurp(d.log_path());

    std::string out;
    ASSERT_EQ(d.ctl("vera", {"audit", "--verify"}, &out), 0) << out;
    EXPECT_NE(out.find("audit chain intact"), std::string::npos) << out;

    EXPECT_EQ(d.ctl("vera", {"audit", "--verify", "--checkpoint", file.string(), "--audit-public-key", k.pub.string()}, &out),
              1)
        << out;
    EXPECT_NE(out.find("audit chain intact"), std::string::npos) << "the chain alone still passes:\n" << out;
    EXPECT_NE(out.find("AUDIT LOG CONTRADICTS A SIGNED CHECKPOINT"), std::string::npos) << out;
    const auto now_head = head();  // the mismatch entry (and nothing else) was appended since
    EXPECT_NE(out.find("the log ends at entry " + std::to_string(now_head)), std::string::npos) << out;
    EXPECT_NE(out.find("entries " + std::to_string(now_head + 1) + "-" + std::to_string(anchored) + " are missing"),
              std::string::npos)
        << out;
}

}  // namespace
}  // namespace connguard::coord
