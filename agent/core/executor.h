#pragma once
// Carries out one approved AgentCommand against Graph (DESIGN §8):
//   1. validate_command (tenant, expiry, approval, plan shape)          -> REFUSED, nothing read
//   2. read what the plan depends on (policy, user, MFA state, role)     -> FAILED when Graph errs
//   3. check the preconditions (modifiedDateTime, UPN, expected state)  -> STALE, nothing written
//   4. write through the Graph client, then read back and verify        -> SUCCEEDED or FAILED
// At-most-once per command id is the caller's job (tenant_agent persists before executing).
#include <string_view>

#include "agent/graph/graph_client.h"
#include "common/clock.h"
#include "connguard/v1/commands.pb.h"

namespace connguard::agent {

/// Never throws; the result names what was checked, written and read back.
v1::CommandResult execute_command(graph::graph_client& gc, const v1::AgentCommand& cmd, std::string_view tenant_key,
                                  std::string_view envelope_tenant, const clock& clk);

/// A result for a command that cannot be executed (REFUSED/FAILED without touching Graph).
v1::CommandResult make_result(const v1::AgentCommand& cmd, v1::CommandOutcome outcome, std::string detail,
                              const clock& clk);

}  // namespace connguard::agent
