#pragma once
// The MSP's own tenant as an OpenID Connect provider (--idp FILE; README "Sign-in (IdP)"): Entra's
// v2.0 discovery document, the authorize endpoint with a plain HTML sign-in form and an SSO cookie,
// the authorization code grant with PKCE (S256) on the token endpoint, the JWKS, and RS256 id_tokens
// signed with a key generated at start. A test hook makes the next id_token defective.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/http/http_server.h"
#include "common/result.h"
#include "tools/graph-sim/handler_context.h"

namespace connguard::graph_sim {

struct idp_person {
    std::string upn, object_id, name, password;
    std::vector<std::string> roles;   ///< app role values ("ConnGuard.Approver")
    std::vector<std::string> groups;  ///< group object ids
};

struct idp_app {
    std::string client_id, client_secret, display_name;
    std::vector<std::string> redirect_uris;
};

struct idp_config {
    std::filesystem::path file;
    std::string tenant_id, display_name;
    std::vector<idp_person> people;
    std::vector<idp_app> apps;
};

/// Reads and validates an --idp file; every problem as "<file>: field '<path>': <reason>".
result<idp_config> load_idp_config(const std::filesystem::path& file);

class identity_provider {
public:
    /// Generates the RSA-2048 signing key. Error "sim.idp" when OpenSSL fails.
    static result<std::unique_ptr<identity_provider>> create(idp_config cfg);
    ~identity_provider();

    const std::string& tenant_id() const { return cfg_.tenant_id; }
    /// Handles /{tid}/v2.0/.well-known/openid-configuration, /{tid}/oauth2/v2.0/authorize,
    /// /{tid}/oauth2/v2.0/token, /{tid}/discovery/v2.0/keys; nullopt for any other path.
    std::optional<http::server_response> handle(const request_ctx& c, const std::vector<std::string>& seg);
    /// /_sim/idp/... (the test hook POST /_sim/idp/next-id-token).
    http::server_response handle_admin(const request_ctx& c, const std::vector<std::string>& seg);

    struct impl;

private:
    explicit identity_provider(idp_config cfg);
    idp_config cfg_;
    std::unique_ptr<impl> impl_;
};

}  // namespace connguard::graph_sim
