// The envelope codec: encode fills the envelope; decode refuses every kind of bad payload with the
// right reason and never crashes (the fuzz target in tests/fuzz/ hammers the same function).
#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/envelope_codec.h"
#include "common/topics.h"

namespace connguard::codec {
namespace {

using connguard::v1::Envelope;

Envelope report_for(const std::string& tenant) {
    auto env = make_envelope(tenant, "agent/" + tenant);
    auto* r = env.mutable_validation_report();
    r->set_account_upn("svc@" + tenant + ".example");
    r->set_overall(connguard::v1::CHECK_STATUS_OK);
    return env;
}

std::string encoded_report(const std::string& tenant) {
    manual_clock clk;
    auto env = report_for(tenant);
    return encode(env, clk);
}

TEST(Codec, EncodeFillsIdTimeAndSchemaVersionAndDecodeAcceptsIt) {
    manual_clock clk;
    auto env = report_for("contoso");
    const auto bytes = encode(env, clk);
    EXPECT_FALSE(env.id().empty());
    EXPECT_EQ(env.schema_version(), schema_version);
    EXPECT_EQ(env.time().seconds(), to_unix_ms(clk.now()) / 1000);
    auto d = decode(topics::validation("contoso"), bytes);
    ASSERT_TRUE(d.ok()) << d.detail;
    EXPECT_EQ(d.envelope.id(), env.id());
    EXPECT_EQ(d.envelope.validation_report().account_upn(), "svc@contoso.example");
    // two encodes give two different ids (dedupe key)
    auto env2 = report_for("contoso");
    encode(env2, clk);
    EXPECT_NE(env2.id(), env.id());
}

TEST(Codec, RejectsMalformedBytes) {
    auto d = decode(topics::validation("contoso"), std::string("\xff\xff\xff\xff\x0f garbage", 14));
    EXPECT_EQ(d.reason, reject_reason::malformed) << d.detail;
    EXPECT_FALSE(d.ok());
}

TEST(Codec, RejectsEveryTruncationOfAValidPayloadWithoutCrashing) {
    const auto bytes = encoded_report("contoso");
    int rejected = 0;
    for (std::size_t n = 1; n < bytes.size(); ++n) {
        auto d = decode(topics::validation("contoso"), std::string_view(bytes).substr(0, n));
        if (!d.ok()) ++rejected;
        EXPECT_NE(d.reason, reject_reason::none) << "a truncation to " << n << " bytes was accepted";
    }
    EXPECT_EQ(rejected, static_cast<int>(bytes.size()) - 1);
}

TEST(Codec, RejectsOversizedPayloadBeforeParsing) {
    std::string big(max_payload_bytes + 1, 'x');
    auto d = decode(topics::validation("contoso"), big);
    EXPECT_EQ(d.reason, reject_reason::oversize);
    EXPECT_NE(d.detail.find(std::to_string(max_payload_bytes)), std::string::npos) << d.detail;
    // exactly at the limit is not "oversize" (it fails later for other reasons)
    auto at = decode(topics::validation("contoso"), std::string(max_payload_bytes, 'x'));
    EXPECT_NE(at.reason, reject_reason::oversize);
}

TEST(Codec, RejectsUnknownSchemaVersion) {
    auto env = report_for("contoso");
    env.set_id("id-1");
    env.set_schema_version(schema_version + 1);
    auto d = decode(topics::validation("contoso"), env.SerializeAsString());
    EXPECT_EQ(d.reason, reject_reason::unknown_schema) << d.detail;
    env.set_schema_version(0);
    EXPECT_EQ(decode(topics::validation("contoso"), env.SerializeAsString()).reason, reject_reason::unknown_schema);
}

TEST(Codec, RejectsMissingId) {
    auto env = report_for("contoso");
    env.set_schema_version(schema_version);
    auto d = decode(topics::validation("contoso"), env.SerializeAsString());
    EXPECT_EQ(d.reason, reject_reason::missing_id) << d.detail;
}

TEST(Codec, RejectsMissingBody) {
    manual_clock clk;
    auto env = make_envelope("contoso", "agent/contoso");
    const auto bytes = encode(env, clk);
    auto d = decode(topics::validation("contoso"), bytes);
    EXPECT_EQ(d.reason, reject_reason::missing_body) << d.detail;
}

TEST(Codec, RejectsTenantThatDiffersFromTheTopic) {
    const auto bytes = encoded_report("contoso");
    auto d = decode(topics::validation("fabrikam"), bytes);
    EXPECT_EQ(d.reason, reject_reason::tenant_mismatch);
    EXPECT_NE(d.detail.find("contoso"), std::string::npos);
    EXPECT_NE(d.detail.find("fabrikam"), std::string::npos);
    EXPECT_EQ(decode(topics::alert("critical", "fabrikam"), bytes).reason, reject_reason::tenant_mismatch);
}

TEST(Codec, RejectsBodyThatDoesNotBelongOnTheTopic) {
    const auto bytes = encoded_report("contoso");
    EXPECT_EQ(decode(topics::events("contoso"), bytes).reason, reject_reason::wrong_body_for_topic);
    EXPECT_EQ(decode(topics::commands("contoso"), bytes).reason, reject_reason::wrong_body_for_topic);
    EXPECT_EQ(decode(topics::task("contoso", "t1"), bytes).reason, reject_reason::wrong_body_for_topic);
    manual_clock clk;
    auto cmd = make_envelope("contoso", "coordinator");
    cmd.mutable_agent_command()->set_command_id("c1");
    const auto cmd_bytes = encode(cmd, clk);
    EXPECT_EQ(decode(topics::results("contoso"), cmd_bytes).reason, reject_reason::wrong_body_for_topic);
    EXPECT_TRUE(decode(topics::commands("contoso"), cmd_bytes).ok());
}

TEST(Codec, AnAuditCheckpointBelongsOnItsOwnTopicOnly) {
    manual_clock clk;
    auto env = make_envelope("", "coordinator");
    env.mutable_audit_checkpoint()->set_seq(7);
    const auto bytes = encode(env, clk);
    EXPECT_TRUE(decode(topics::audit_checkpoint(), bytes).ok());
    EXPECT_EQ(decode(topics::admin_responses("alice"), bytes).reason, reject_reason::wrong_body_for_topic);
    EXPECT_EQ(decode(topics::audit_checkpoint(), encoded_report("")).reason, reject_reason::wrong_body_for_topic);
}

TEST(Codec, RejectsTopicOutsideTheScheme) {
    const auto bytes = encoded_report("contoso");
    EXPECT_EQ(decode("some/other/topic", bytes).reason, reject_reason::unknown_topic);
    EXPECT_EQ(decode("", bytes).reason, reject_reason::unknown_topic);
}

TEST(Codec, EveryReasonHasAStableName) {
    for (auto r : {reject_reason::none, reject_reason::oversize, reject_reason::malformed, reject_reason::unknown_schema,
                   reject_reason::missing_id, reject_reason::missing_body, reject_reason::tenant_mismatch,
                   reject_reason::wrong_body_for_topic, reject_reason::unknown_topic})
        EXPECT_NE(to_string(r), "unknown");
    EXPECT_EQ(to_string(reject_reason::tenant_mismatch), "tenant_mismatch");
}


}  // namespace
}  // namespace connguard::codec
