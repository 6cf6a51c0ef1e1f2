#pragma once
// What `connguard-agent --check-config` adds to loading a tenant config: what the real start would
// otherwise find wrong only later, at the first cycle or the first write to disk.
//
//   if (auto st = agent::check_startable(cfg, clock.now()); !st) -> st.err().message
//
//   - certificate credential: the certificate parses and a client assertion can be signed with the
//     private key (they belong together) — else the first token request fails;
//   - stateDir: exists and is a writable folder, or can be created (its parent exists and is writable);
//   - graph.caFile: exists and is readable.
// Errors name the config file and the field, like the loader's; no secret appears in them.
#include <chrono>

#include "agent/core/agent_config.h"
#include "common/result.h"

namespace connguard::agent {

status check_startable(const tenant_config& c, std::chrono::system_clock::time_point now);

}  // namespace connguard::agent
