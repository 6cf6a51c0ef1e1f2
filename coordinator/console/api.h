#pragma once
// The console's JSON API (/api/v1/...): HTTP requests <-> v1::AdminRequest / AdminResponse through
// console_backend::admin(person, request). No HTTP library here: the server hands over method,
// path, query and body and writes back status and JSON, so this is tested without sockets.
// Every endpoint is documented in coordinator/console/README.md.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "coordinator/console/backend.h"
#include "coordinator/principal.h"

namespace connguard::coord::console {

struct api_request {
    std::string method;  ///< GET, POST, PUT, DELETE
    std::string path;    ///< after "/api/v1/", e.g. "tasks/abc/approve"
    std::multimap<std::string, std::string> query;  ///< decoded
    std::string body;    ///< JSON for POST / PUT
};

struct api_response {
    int status = 200;
    std::string body;  ///< JSON
};

struct api_context {
    console_backend& backend;
    const principal& who;
    std::string display_name;  ///< the person's name claim (GET me)
    std::string csrf;          ///< the session's CSRF token (GET me)
    std::int64_t now_ms = 0;
    std::chrono::seconds approval_reauth{900};  ///< approving needs a sign-in younger than this
};

/// Answers one API request. Never throws (a failure is a 500 JSON body naming what failed).
api_response handle_api(const api_request& req, const api_context& ctx);

/// {"error": code, "message": message}
std::string error_json(const std::string& code, const std::string& message);

}  // namespace connguard::coord::console
