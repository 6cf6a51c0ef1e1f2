#include "common/envelope_codec.h"

#include <google/protobuf/util/time_util.h>

#include "common/ids.h"
#include "common/topics.h"

namespace connguard::codec {

using connguard::v1::Envelope;

std::string_view to_string(reject_reason r) {
    switch (r) {
        case reject_reason::none: return "none";
        case reject_reason::oversize: return "oversize";
        case reject_reason::malformed: return "malformed";
        case reject_reason::unknown_schema: return "unknown_schema";
        case reject_reason::missing_id: return "missing_id";
        case reject_reason::missing_body: return "missing_body";
        case reject_reason::tenant_mismatch: return "tenant_mismatch";
        case reject_reason::wrong_body_for_topic: return "wrong_body_for_topic";
        case reject_reason::unknown_topic: return "unknown_topic";
    }
    return "unknown";
}

Envelope make_envelope(std::string_view tenant, std::string_view source) {
    Envelope env;
    env.set_tenant(std::string(tenant));
    env.set_source(std::string(source));
    return env;
}

std::string encode(Envelope& env, const clock& clk) {
    if (env.id().empty()) env.set_id(new_uuid());
    if (!env.has_time())
        *env.mutable_time() =
            google::protobuf::util::TimeUtil::MillisecondsToTimestamp(to_unix_ms(clk.now()));
    env.set_schema_version(schema_version);
    return env.SerializeAsString();
}

namespace {

bool body_fits_topic(const topics::parsed& t, Envelope::BodyCase body) {
    using K = topics::parsed::kind;
    using C = topics::tenant_channel;
    switch (t.what) {
        case K::tenant:
            switch (t.channel) {
                case C::validation: return body == Envelope::kValidationReport;
                case C::events: return body == Envelope::kChangeEvent;
                case C::agent: return body == Envelope::kAgentStatus;
                case C::commands: return body == Envelope::kAgentCommand;
                case C::results: return body == Envelope::kCommandResult;
                case C::acks: return body == Envelope::kIngestAck;
            }
            return false;
        case K::alert: return body == Envelope::kAlert;
        case K::task: return body == Envelope::kTaskView;
        case K::admin_request: return body == Envelope::kAdminRequest;
        case K::admin_response: return body == Envelope::kAdminResponse;
        case K::audit_checkpoint: return body == Envelope::kAuditCheckpoint;
        case K::unknown: return false;
    }
    return false;
}

}  // namespace

decode_result decode(std::string_view topic, std::string_view payload) {
    decode_result r;
    auto fail = [&](reject_reason why, std::string detail) {
        r.reason = why;
        r.detail = std::move(detail);
        return std::move(r);
    };
    if (payload.size() > max_payload_bytes)
        return fail(reject_reason::oversize, "payload of " + std::to_string(payload.size()) +
                                                 " bytes exceeds the limit of " +
                                                 std::to_string(max_payload_bytes));
    const auto t = topics::parse(topic);
    if (t.what == topics::parsed::kind::unknown)
        return fail(reject_reason::unknown_topic, "topic '" + std::string(topic) + "' is not in the scheme");
    if (!r.envelope.ParseFromArray(payload.data(), static_cast<int>(payload.size())))
        return fail(reject_reason::malformed, "payload is not a connguard.v1.Envelope");
    if (r.envelope.schema_version() != schema_version)
        return fail(reject_reason::unknown_schema,
                    "schema_version " + std::to_string(r.envelope.schema_version()) +
                        " (this build speaks " + std::to_string(schema_version) + ")");
    if (r.envelope.id().empty()) return fail(reject_reason::missing_id, "envelope has no id");
    if (r.envelope.body_case() == Envelope::BODY_NOT_SET)
        return fail(reject_reason::missing_body, "envelope " + r.envelope.id() + " has no body");
    if (!t.tenant.empty() && r.envelope.tenant() != t.tenant)
        return fail(reject_reason::tenant_mismatch, "payload tenant '" + r.envelope.tenant() +
                                                        "' on topic of tenant '" + t.tenant + "'");
    if (!body_fits_topic(t, r.envelope.body_case()))
        return fail(reject_reason::wrong_body_for_topic,
                    "body field " + std::to_string(static_cast<int>(r.envelope.body_case())) +
                        " does not belong on '" + std::string(topic) + "'");
    return r;
}

}  // namespace connguard::codec
