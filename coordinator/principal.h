#pragma once
// Who is asking: the identity every admin request runs as, whichever way it arrived. The MQTT
// admin path (connguardctl) and the console both hand the engine a principal, so both go through
// the same task state machine, two-person rule and audit log.
#include <cstdint>
#include <string>

#include "coordinator/task_machine.h"  // role

namespace connguard::coord {

/// How the request reached the coordinator (written into the audit entry).
enum class channel { cli, console };

struct principal {
    /// The identity the task machine counts for the two-person rule and the audit log's actor:
    /// the admin's MQTT user for the CLI; for the console the person's UPN (preferred_username).
    std::string name;
    role who = role::none;
    channel via = channel::cli;
    std::string object_id;  ///< console: the Entra object id (oid claim), stable
    std::string upn;        ///< console: preferred_username (display only, never for authorisation)
    std::string ip;         ///< console: the client's address
    std::int64_t auth_time_ms = 0;  ///< console: when the person last signed in (auth_time claim)
};

}  // namespace connguard::coord
