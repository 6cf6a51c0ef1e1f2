// Audit checkpoints, the pure parts (coordinator/audit_checkpoint.h): Ed25519 signing and
// verification (RFC 8032 test vector, keys made by the real openssl CLI), the canonical signed bytes,
// the checkpoint file's line, reading a whole file, comparing a log with checkpoints; and the
// coordinator's `audit.*` configuration (coordinator/config.h).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include <google/protobuf/util/time_util.h>
#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "common/text.h"
#include "coordinator/audit_checkpoint.h"
#include "coordinator/config.h"
#include "coordinator/store.h"
#include "tests/support/process.h"
#include "tests/support/util.h"

namespace connguard::coord {
namespace {

using namespace test;
namespace cp = checkpoint;
using google::protobuf::util::TimeUtil;

std::string unhex(const std::string& hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
}

std::string pem(const std::string& label, const std::string& der) {
    return "-----BEGIN " + label + "-----\n" + base64_encode(der) + "\n-----END " + label + "-----\n";
}

/// Runs `openssl` with args and returns its stdout (a key in PEM); fails the test when it fails.
std::string openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "openssl");
    std::string out;
    EXPECT_EQ(run_command(args, &out, /*merge_stderr=*/false), 0) << out;
    return out;
}

std::string new_ed25519_pem() { return openssl({"genpkey", "-algorithm", "ed25519"}); }

cp::signing_key key_of(const std::string& pem_text) {
    auto k = cp::signing_key::from_pem(pem_text);
    if (!k) throw std::runtime_error(k.err().message);
    return *k;
}

cp::public_key public_of(const cp::signing_key& k) {
    auto p = cp::public_key::from_pem(k.public_key_pem());
    if (!p) throw std::runtime_error(p.err().message);
    return *p;
}

const std::string h1 = std::string(64, 'a');
const std::string h2 = std::string(64, 'b');

TEST(AuditCheckpointKeys, SignsExactlyAsRfc8032TestVectorOne) {
    // RFC 8032 §7.1 TEST 1: secret key, public key and the signature of the empty message.
    const auto seed = unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    const auto pub = unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    const auto sig = unhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe2"
        "4655141438e7a100b");
    // PKCS#8 and SubjectPublicKeyInfo DER prefixes of an Ed25519 key (RFC 8410).
    const auto key = key_of(pem("PRIVATE KEY", unhex("302e020100300506032b657004220420") + seed));
    EXPECT_EQ(key.sign(""), sig);
    auto p = cp::public_key::from_pem(pem("PUBLIC KEY", unhex("302a300506032b6570032100") + pub));
    ASSERT_TRUE(p) << p.err().message;
    EXPECT_TRUE(p->verifies("", sig));
    EXPECT_FALSE(p->verifies("x", sig));
    EXPECT_EQ(p->key_id(), key.key_id());
    EXPECT_EQ(key.key_id(), sha256_hex(pub).substr(0, 16));
}

TEST(AuditCheckpointKeys, PublicKeyIsWhatOpensslDerivesAndTheKeyIdNamesIt) {
    temp_dir dir;
    const auto pem_text = new_ed25519_pem();
    std::ofstream(dir.path() / "k.pem") << pem_text;
    const auto key = key_of(pem_text);
    EXPECT_EQ(key.public_key_pem(), openssl({"pkey", "-in", (dir.path() / "k.pem").string(), "-pubout"}));
    EXPECT_EQ(key.key_id().size(), 16u);
    EXPECT_NE(key.key_id(), key_of(new_ed25519_pem()).key_id());
    EXPECT_EQ(key.public_key_pem().find("PRIVATE"), std::string::npos);
}

TEST(AuditCheckpointKeys, RefusesWhatIsNotAnEd25519KeyWithoutQuotingIt) {
    const auto ec = openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"});
    auto k = cp::signing_key::from_pem(ec);
    ASSERT_FALSE(k);
    EXPECT_EQ(k.err().code, "audit.key");
    EXPECT_NE(k.err().message.find("not an Ed25519 key"), std::string::npos) << k.err().message;

    auto garbage = cp::signing_key::from_pem("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXRleHQ=\n-----END PRIVATE KEY-----\n");
    ASSERT_FALSE(garbage);
    EXPECT_EQ(garbage.err().message.find("c2VjcmV0"), std::string::npos) << "the key text leaked into an error";

    // An encrypted key is refused (and no passphrase prompt blocks the process).
    const auto encrypted = openssl({"genpkey", "-algorithm", "ed25519", "-aes-256-cbc", "-pass", "pass:secret-pass"});
    auto e = cp::signing_key::from_pem(encrypted);
    ASSERT_FALSE(e);
    EXPECT_NE(e.err().message.find("encrypted"), std::string::npos) << e.err().message;

    // A verifier is given the public key; a private key in its place is refused.
    auto as_public = cp::public_key::from_pem(new_ed25519_pem());
    ASSERT_FALSE(as_public);
    EXPECT_NE(as_public.err().message.find("PUBLIC KEY"), std::string::npos) << as_public.err().message;
}

TEST(AuditCheckpoint, SignedBytesAreTheDocumentedLengthPrefixedFields) {
    v1::AuditCheckpoint c;
    c.set_seq(42);
    c.set_entry_hash("ab12");
    *c.mutable_at() = TimeUtil::MillisecondsToTimestamp(1767261600123);
    c.set_coordinator_id("coord|1");
    c.set_key_id("0011223344556677");
    c.set_signature("ignored");
    EXPECT_EQ(cp::signed_bytes(c),
              "connguard.v1.AuditCheckpoint|2:42|4:ab12|13:1767261600123|7:coord|1|16:0011223344556677");
    // Moving a separator between fields changes the bytes (what the length prefixes are for).
    auto d = c;
    d.set_entry_hash("ab12|7:coord");
    d.set_coordinator_id("1");
    EXPECT_NE(cp::signed_bytes(c), cp::signed_bytes(d));
}

TEST(AuditCheckpoint, VerifiesItsOwnSignatureAndRefusesEveryAlteration) {
    const auto key = key_of(new_ed25519_pem());
    const auto pub = public_of(key);
    const auto c = cp::make(100, h1, 1767261600123, "coord-a", key);
    EXPECT_EQ(c.seq(), 100u);
    EXPECT_EQ(c.key_id(), key.key_id());
    EXPECT_EQ(c.signature().size(), 64u);
    EXPECT_EQ(TimeUtil::TimestampToMilliseconds(c.at()), 1767261600123);
    ASSERT_TRUE(cp::verify(c, pub));

    std::vector<std::pair<std::string, v1::AuditCheckpoint>> altered;
    auto with = [&](const std::string& what, auto&& change) {
        auto x = c;
        change(x);
        altered.emplace_back(what, x);
    };
    with("seq", [](auto& x) { x.set_seq(99); });
    with("hash", [](auto& x) { x.set_entry_hash(h2); });
    with("time", [](auto& x) { *x.mutable_at() = TimeUtil::MillisecondsToTimestamp(1767261600124); });
    with("coordinator", [](auto& x) { x.set_coordinator_id("coord-b"); });
    with("signature", [](auto& x) {
        auto s = x.signature();
        s[10] = static_cast<char>(s[10] ^ 1);
        x.set_signature(s);
    });
    with("no signature", [](auto& x) { x.clear_signature(); });
    for (const auto& [what, x] : altered) {
        auto st = cp::verify(x, pub);
        ASSERT_FALSE(st) << what;
        EXPECT_EQ(st.err().code, "audit.checkpoint_signature") << what;
        EXPECT_NE(st.err().message.find("bad signature"), std::string::npos) << what << ": " << st.err().message;
    }
    // Signed by another key: the message names both keys (a rotation is the usual reason).
    const auto other = key_of(new_ed25519_pem());
    auto st = cp::verify(cp::make(100, h1, 1767261600123, "coord-a", other), pub);
    ASSERT_FALSE(st);
    EXPECT_NE(st.err().message.find("signed by key " + other.key_id()), std::string::npos) << st.err().message;
    EXPECT_NE(st.err().message.find(pub.key_id()), std::string::npos) << st.err().message;
}

TEST(AuditCheckpoint, FileLineRoundTripsAndIsOneJsonObject) {
    const auto key = key_of(new_ed25519_pem());
    const auto c = cp::make(7, h1, 1767261600123, "coord-a", key);
    const auto line = cp::to_line(c);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["seq"], "7");  // protobuf's JSON mapping writes 64-bit integers as strings
    EXPECT_EQ(j["entry_hash"], h1);
    EXPECT_EQ(j["at"], "2026-01-01T10:00:00.123Z");
    EXPECT_EQ(j["coordinator_id"], "coord-a");
    EXPECT_EQ(j["key_id"], key.key_id());
    EXPECT_EQ(base64_decode(j["signature"].get<std::string>()), c.signature());
    auto back = cp::from_line(line);
    ASSERT_TRUE(back) << back.err().message;
    EXPECT_EQ(back->SerializeAsString(), c.SerializeAsString());
    EXPECT_TRUE(cp::verify(*back, public_of(key)));

    EXPECT_EQ(cp::from_line("not json").err().code, "audit.checkpoint_format");
    auto missing = cp::from_line(R"({"seq":"7","entry_hash":"aa"})");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.err().message.find("at, key_id, signature"), std::string::npos) << missing.err().message;
    // A newer coordinator's extra field does not make the line unreadable.
    auto extra = j;
    extra["comment"] = "from a later version";
    EXPECT_TRUE(cp::from_line(extra.dump()));
}

TEST(AuditCheckpoint, FileIsReadWholeAndABadLineIsNamed) {
    const auto key = key_of(new_ed25519_pem());
    const auto pub = public_of(key);
    std::string text = cp::to_line(cp::make(3, h1, 1000, "c", key)) + "\n\n" + cp::to_line(cp::make(9, h2, 2000, "c", key)) +
                       "\r\n";
    auto all = cp::parse_file(text, pub);
    ASSERT_TRUE(all) << all.err().message;
    ASSERT_EQ(all->size(), 2u);
    EXPECT_EQ((*all)[1].seq(), 9u);

    auto forged = cp::make(12, h1, 3000, "c", key);
    forged.set_seq(13);  // moved the anchor without the key
    auto bad = cp::parse_file(text + cp::to_line(forged) + "\n", pub);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.err().code, "audit.checkpoint_signature");
    EXPECT_EQ(bad.err().message.rfind("line 4: ", 0), 0u) << bad.err().message;

    auto torn = cp::parse_file(text + "{\"seq\":\"1", pub);
    ASSERT_FALSE(torn);
    EXPECT_EQ(torn.err().message.rfind("line 4: ", 0), 0u) << torn.err().message;

    auto none = cp::parse_file("\n  \n", pub);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.err().code, "audit.checkpoint_none");
}

TEST(AuditCheckpoint, ComparisonNamesTheMissingRangeAndRewrittenEntries) {
    const auto key = key_of(new_ed25519_pem());
    const std::vector<v1::AuditCheckpoint> cps = {cp::make(40, "h40", 1000, "coord-a", key),
                                                  cp::make(100, "h100", 2000, "coord-a", key),
                                                  cp::make(100, "h100", 2500, "coord-a", key)};
    // Consistent: the log reaches the newest checkpoint with the same hashes.
    cp::log_state ok{120, "h120", {{40, "h40"}, {100, "h100"}}};
    EXPECT_EQ(cp::seqs_to_fetch(cps, 120), (std::vector<std::uint64_t>{40, 100}));
    EXPECT_TRUE(cp::compare(cps, ok).empty());
    // The head itself is enough for a checkpoint of the head.
    EXPECT_TRUE(cp::compare({cps[1]}, cp::log_state{100, "h100", {}}).empty());

    // Cut back to 95: entries 96-100 are gone.
    cp::log_state cut{95, "h95", {{40, "h40"}}};
    EXPECT_EQ(cp::seqs_to_fetch(cps, 95), (std::vector<std::uint64_t>{40}));
    auto p = cp::compare(cps, cut);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_NE(p[0].find("the log ends at entry 95"), std::string::npos) << p[0];
    EXPECT_NE(p[0].find("anchors entry 100: entries 96-100 are missing"), std::string::npos) << p[0];
    EXPECT_NE(p[0].find("by coord-a"), std::string::npos) << p[0];
    // One entry missing.
    p = cp::compare(cps, cp::log_state{99, "h99", {{40, "h40"}}});
    ASSERT_EQ(p.size(), 1u);
    EXPECT_NE(p[0].find("entry 100 is missing"), std::string::npos) << p[0];
    // An empty log.
    p = cp::compare(cps, cp::log_state{});
    ASSERT_EQ(p.size(), 1u);
    EXPECT_NE(p[0].find("entries 1-100 are missing"), std::string::npos) << p[0];

    // Cut and grown again past the old head: the entry at the old anchor differs.
    cp::log_state rewritten{130, "h130", {{40, "h40"}, {100, "forged"}}};
    p = cp::compare(cps, rewritten);
    ASSERT_EQ(p.size(), 1u) << "reported once although two checkpoints name entry 100";
    EXPECT_NE(p[0].find("entry 100 has hash forged but"), std::string::npos) << p[0];
    EXPECT_NE(p[0].find("rewritten at or before entry 100"), std::string::npos) << p[0];

    // A hash the caller did not fetch is never taken as a match.
    p = cp::compare(cps, cp::log_state{120, "h120", {{100, "h100"}}});
    ASSERT_EQ(p.size(), 1u);
    EXPECT_NE(p[0].find("entry 40"), std::string::npos) << p[0];
    EXPECT_NE(p[0].find("not compared"), std::string::npos) << p[0];
}

// ---- what a checkpoint reads from the store ----

TEST(AuditCheckpointStore, HeadAndHashAtNameTheEntriesAndVerifyReportsTheHead) {
    temp_dir dir;
    auto db = store::open(dir.path() / "c.db");
    ASSERT_TRUE(db) << db.err().message;
    auto& s = **db;
    auto empty = s.audit_head();
    ASSERT_TRUE(empty);
    EXPECT_FALSE(empty->has_value());
    std::vector<v1::AuditEntry> entries;
    for (int i = 0; i < 3; ++i) {
        auto e = s.append_audit(1000 + i, "coordinator", "task.created", "contoso", std::to_string(i), "x");
        ASSERT_TRUE(e) << e.err().message;
        entries.push_back(*e);
    }
    auto head = s.audit_head();
    ASSERT_TRUE(head && head->has_value());
    EXPECT_EQ((*head)->seq(), 3u);
    EXPECT_EQ((*head)->hash(), entries[2].hash());
    auto at2 = s.audit_hash_at(2);
    ASSERT_TRUE(at2 && at2->has_value());
    EXPECT_EQ(**at2, entries[1].hash());
    auto at9 = s.audit_hash_at(9);
    ASSERT_TRUE(at9);
    EXPECT_FALSE(at9->has_value());
    auto v = s.verify_audit();
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->ok());
    EXPECT_EQ(v->head_seq(), 3u);
    EXPECT_EQ(v->head_hash(), entries[2].hash());
}

// ---- configuration (audit.*) ----

class AuditConfig : public ::testing::Test {
protected:
    void SetUp() override {
        std::ofstream(dir_.path() / "pw") << "broker-password\n";
        ::chmod((dir_.path() / "pw").c_str(), 0600);
        std::ofstream(dir_.path() / "audit.key") << new_ed25519_pem();
        ::chmod((dir_.path() / "audit.key").c_str(), 0600);
    }
    result<coordinator_config> load(const nlohmann::json& audit) {
        nlohmann::json j = {{"broker", {{"url", "tcp://127.0.0.1:1883"}, {"username", "coordinator"}, {"passwordFile", "pw"}}},
                            {"store", {{"path", "c.db"}}}};
        if (!audit.is_null()) j["audit"] = audit;
        std::ofstream(dir_.path() / "c.json") << j.dump();
        return load_config(dir_.path() / "c.json");
    }
    temp_dir dir_;
};

TEST_F(AuditConfig, OffWithoutAKeyAndOnWithOne) {
    auto off = load(nullptr);
    ASSERT_TRUE(off) << off.err().message;
    EXPECT_FALSE(off->audit.has_value());

    auto on = load({{"signingKeyFile", "audit.key"},
                    {"checkpointSeconds", 30},
                    {"checkpointFile", "checkpoints.jsonl"},
                    {"checkpointWebhook", "https://witness.example/checkpoints"}});
    ASSERT_TRUE(on) << on.err().message;
    ASSERT_TRUE(on->audit.has_value());
    EXPECT_EQ(on->audit->interval_ms, 30000);
    EXPECT_EQ(on->audit->file, dir_.path() / "checkpoints.jsonl");  // relative to the config file
    EXPECT_EQ(on->audit->webhook_url, "https://witness.example/checkpoints");
    EXPECT_EQ(on->audit->coordinator_id, "connguard-coordinator");
    EXPECT_EQ(on->audit->key.key_id().size(), 16u);

    auto defaults = load({{"signingKeyFile", "audit.key"}});
    ASSERT_TRUE(defaults) << defaults.err().message;
    EXPECT_EQ(defaults->audit->interval_ms, 60000);
}

TEST_F(AuditConfig, RefusesAReadableKeyANonKeyAMisspellingAndOutletsWithoutAKey) {
    ::chmod((dir_.path() / "audit.key").c_str(), 0644);
    auto readable = load({{"signingKeyFile", "audit.key"}});
    ASSERT_FALSE(readable);
    EXPECT_NE(readable.err().message.find("field 'audit.signingKeyFile'"), std::string::npos) << readable.err().message;
    EXPECT_NE(readable.err().message.find("chmod 600"), std::string::npos) << readable.err().message;
    EXPECT_EQ(readable.err().message.find("PRIVATE KEY"), std::string::npos);

    std::ofstream(dir_.path() / "audit.key") << "not a key at all";
    ::chmod((dir_.path() / "audit.key").c_str(), 0600);
    auto not_key = load({{"signingKeyFile", "audit.key"}});
    ASSERT_FALSE(not_key);
    EXPECT_NE(not_key.err().message.find("not a PEM private key"), std::string::npos) << not_key.err().message;

    auto misspelled = load({{"signingKeyFile", "audit.key"}, {"checkpointSecond", 30}});
    ASSERT_FALSE(misspelled);
    EXPECT_NE(misspelled.err().message.find("did you mean 'audit.checkpointSeconds'"), std::string::npos)
        << misspelled.err().message;

    auto no_key = load({{"checkpointFile", "checkpoints.jsonl"}, {"checkpointWebhook", "ftp://x"}});
    ASSERT_FALSE(no_key);
    EXPECT_NE(no_key.err().message.find("field 'audit.signingKeyFile': required"), std::string::npos)
        << no_key.err().message;
    EXPECT_NE(no_key.err().message.find("field 'audit.checkpointWebhook': not an http(s) URL"), std::string::npos)
        << no_key.err().message;

    auto too_often = load({{"signingKeyFile", "audit.key"}, {"checkpointSeconds", 0}});
    EXPECT_FALSE(too_often);
}

}  // namespace
}  // namespace connguard::coord
