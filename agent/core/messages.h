#pragma once
// Building the agent's envelopes (DESIGN §4). Ids of messages that may be re-published after a crash
// are derived deterministically, so a re-publish carries the SAME envelope id and the coordinator's
// dedupe makes delivery exactly-once:
//   report of cycle N     : derived_id(tenant, "report", N)
//   event i of cycle N    : derived_id(tenant, "event", N, i)
//   result of command C   : derived_id(tenant, "result", C)
// (Cycle numbers are persisted and monotonic per tenant, so the ids never repeat for new content.)
#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "connguard/v1/envelope.pb.h"

namespace connguard::agent {

inline constexpr const char* agent_version = "0.1.0";

/// A UUID-shaped id (8-4-4-4-12 hex, version nibble 8 = custom) from SHA-256 of the parts.
std::string derived_id(std::string_view tenant, std::string_view kind, std::string_view a, std::string_view b = {});

/// "agent/<tenant>"
std::string source_of(std::string_view tenant);

/// A finished envelope's bytes: id, tenant, source, time (from clk) and schema version set.
std::string encode_report(std::string_view tenant, const v1::ValidationReport& report, const clock& clk);
std::string encode_event(std::string_view tenant, const v1::ChangeEvent& event, const clock& clk);
std::string encode_status(std::string_view tenant, const v1::AgentStatus& status, const clock& clk);
std::string encode_result(std::string_view tenant, const v1::CommandResult& result, const clock& clk);

/// The id encode_report/encode_event/encode_result give.
std::string report_id(std::string_view tenant, std::uint64_t cycle);
std::string event_id(std::string_view tenant, std::uint64_t cycle, std::uint32_t index);
std::string result_id(std::string_view tenant, std::string_view command_id);

}  // namespace connguard::agent
