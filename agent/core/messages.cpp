#include "agent/core/messages.h"

#include "common/envelope_codec.h"
#include "common/ids.h"

namespace connguard::agent {

std::string derived_id(std::string_view tenant, std::string_view kind, std::string_view a, std::string_view b) {
    std::string input;
    input.append(tenant).push_back('\n');
    input.append(kind).push_back('\n');
    input.append(a).push_back('\n');
    input.append(b);
    auto h = sha256_hex(input);
    h[12] = '8';
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20, 12);
}

std::string source_of(std::string_view tenant) { return "agent/" + std::string(tenant); }

std::string report_id(std::string_view tenant, std::uint64_t cycle) {
    return derived_id(tenant, "report", std::to_string(cycle));
}
std::string event_id(std::string_view tenant, std::uint64_t cycle, std::uint32_t index) {
    return derived_id(tenant, "event", std::to_string(cycle), std::to_string(index));
}
std::string result_id(std::string_view tenant, std::string_view command_id) {
    return derived_id(tenant, "result", command_id);
}

std::string encode_report(std::string_view tenant, const v1::ValidationReport& report, const clock& clk) {
    auto env = codec::make_envelope(tenant, source_of(tenant));
    env.set_id(report_id(tenant, report.cycle()));
    *env.mutable_validation_report() = report;
    return codec::encode(env, clk);
}

std::string encode_event(std::string_view tenant, const v1::ChangeEvent& event, const clock& clk) {
    auto env = codec::make_envelope(tenant, source_of(tenant));
    env.set_id(event_id(tenant, event.cycle(), event.index()));
    *env.mutable_change_event() = event;
    return codec::encode(env, clk);
}

std::string encode_status(std::string_view tenant, const v1::AgentStatus& status, const clock& clk) {
    auto env = codec::make_envelope(tenant, source_of(tenant));
    *env.mutable_agent_status() = status;
    return codec::encode(env, clk);
}

std::string encode_result(std::string_view tenant, const v1::CommandResult& result, const clock& clk) {
    auto env = codec::make_envelope(tenant, source_of(tenant));
    env.set_id(result_id(tenant, result.command_id()));
    *env.mutable_command_result() = result;
    return codec::encode(env, clk);
}

}  // namespace connguard::agent
