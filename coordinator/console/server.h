#pragma once
// The console's HTTP(S) server (cpp-httplib with OpenSSL): pages, static assets, sign-in routes,
// the JSON API and Server-Sent Events, with the safety rules of coordinator/console/security.h on
// every response. Served by connguard-coordinator (started after the service, stopped before it).
//
//   console::server web(settings, backend, idp, clock);
//   if (auto st = web.start(); !st) ...;   // binds listen (error "console.bind" / "console.tls")
//   web.url();                              // the public URL
//   web.stop();                             // also the destructor; ends open event streams
//
// No exception escapes into httplib's threads: every handler answers 500 instead.
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "coordinator/console/backend.h"
#include "coordinator/console/oidc.h"
#include "coordinator/console/settings.h"

namespace connguard::coord::console {

/// The sign-in side the server needs (implemented over oidc_client by make_oidc_provider; tests
/// may give their own). Called from several threads at once.
class identity_provider {
public:
    virtual ~identity_provider() = default;
    virtual result<sign_in_start> begin(const std::string& redirect_uri, std::optional<int> max_age) = 0;
    virtual result<id_token_claims> finish(const std::string& code, const pending_sign_in& pending, std::int64_t now_s) = 0;
};

class server {
public:
    server(console_settings s, console_backend& backend, identity_provider& idp, const clock& clk);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    status start();
    void stop();
    /// The public URL (settings.public_url, or scheme://listen with the bound port).
    std::string url() const;
    int port() const;

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace connguard::coord::console
