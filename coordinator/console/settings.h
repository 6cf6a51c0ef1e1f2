#pragma once
// The console's configuration (coordinator config section `console`; absent = no console).
// Loaded by coordinator/config.cpp through common/config.h; documented in coordinator/README.md.
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "coordinator/console/oidc.h"
#include "coordinator/task_machine.h"  // role

namespace connguard::coord::console {

struct console_settings {
    std::string listen_host = "127.0.0.1";
    int listen_port = 8444;                 ///< 0 = any free port (tests)
    std::string tls_cert_file, tls_key_file;  ///< PEM; required unless insecure_http
    bool insecure_http = false;             ///< plain HTTP: only with a loopback listen address
    /// The origin people use, e.g. "https://console.msp.example:8444" (redirect URI = publicUrl +
    /// "/auth/callback"; the Origin header of state-changing requests must equal it). Empty =
    /// scheme://listen (resolved after binding when the port is 0).
    std::string public_url;
    oidc_settings oidc;
    std::map<std::string, role> role_claims;   ///< app role claim value -> role
    std::map<std::string, role> role_objects;  ///< user object id or group id -> role
    std::chrono::minutes session_idle{30};
    std::chrono::hours session_max{12};
    std::chrono::seconds approval_reauth{900};
};

/// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(const std::string& host);
/// "host:port" or "[v6]:port" -> host (without brackets) and port; false when malformed.
bool parse_listen(const std::string& text, std::string& host, int& port);

/// The role a person gets: the highest of the roles their `roles` claim values and their object id
/// / group ids map to; role::none when nothing maps.
role map_role(const console_settings& s, const std::vector<std::string>& role_claims, const std::string& object_id,
              const std::vector<std::string>& groups);

}  // namespace connguard::coord::console
