#pragma once
// OpenID Connect sign-in for the console: authorization code flow with PKCE (S256) against the
// MSP's Entra tenant (or any OIDC provider with discovery), id_token validated locally.
//
//   oidc_client idp(settings, http);           // settings.issuer = https://login.microsoftonline.com/{tid}/v2.0
//   if (auto st = idp.discover(); !st) ...;   // GET {issuer}/.well-known/openid-configuration + JWKS
//   auto start = idp.begin(redirect_uri, max_age);  // -> URL to send the browser to + what to keep
//   ... browser comes back to redirect_uri?code=...&state=...
//   auto person = idp.finish(code, start.pending, now);   // code -> tokens -> validated claims
//
// Endpoints must be https, except on a loopback host (the simulator, demos).
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/http/http_client.h"
#include "common/result.h"

namespace connguard::coord::console {

struct oidc_settings {
    std::string issuer;         ///< expected `iss`; discovery at {issuer}/.well-known/openid-configuration
    std::string client_id;      ///< expected `aud`
    std::string client_secret;  ///< read from console.oidc.clientSecretFile (0600); never logged
    std::string ca_file;        ///< CA bundle for the IdP's https (empty = system)
    std::chrono::seconds clock_skew{120};
};

/// What the browser's sign-in started with; kept server-side until the callback, used once.
struct pending_sign_in {
    std::string state;          ///< random, matched against the callback's state
    std::string nonce;          ///< random, must come back in the id_token
    std::string code_verifier;  ///< PKCE verifier (43+ chars); its S256 challenge went in the URL
    std::string redirect_uri;
    std::optional<int> max_age;  ///< asked for a fresh sign-in (approval older than 15 min)
    std::int64_t started_ms = 0;
};

struct sign_in_start {
    std::string authorize_url;  ///< where to redirect the browser
    pending_sign_in pending;
};

/// The person, from a validated id_token.
struct id_token_claims {
    std::string issuer, audience, subject;
    std::string object_id;       ///< oid
    std::string tenant_id;       ///< tid
    std::string upn;             ///< preferred_username
    std::string name;
    std::vector<std::string> roles;   ///< app roles
    std::vector<std::string> groups;  ///< group object ids (when the app asks for group claims)
    std::int64_t auth_time_s = 0;     ///< auth_time (0 when absent)
    std::int64_t expires_s = 0;       ///< exp
};

/// One RSA public key of the provider's JWKS.
struct jwk {
    std::string kid, kty, alg, n, e;  ///< n and e base64url as in the JWKS
};

struct id_token_expectations {
    std::string issuer, audience, nonce;
    std::int64_t now_s = 0;
    std::chrono::seconds clock_skew{120};
    std::optional<int> max_age;  ///< when set, auth_time must be present and within max_age (+ skew)
};

/// Pure: checks an id_token (compact JWS) — alg RS256 only, kid found in `keys`, signature, iss,
/// aud (string or array containing it), exp / nbf / iat with skew, nonce, auth_time for max_age.
/// Error codes "oidc.malformed", "oidc.alg", "oidc.unknown_key", "oidc.signature", "oidc.issuer",
/// "oidc.audience", "oidc.expired", "oidc.not_yet_valid", "oidc.nonce", "oidc.stale_auth"; the
/// message says what was expected and what came (never the token itself).
result<id_token_claims> validate_id_token(const std::string& jwt, const std::vector<jwk>& keys,
                                          const id_token_expectations& expect);

class oidc_client {
public:
    oidc_client(oidc_settings s, http::client& http);
    /// Fetches discovery and the JWKS. Error "oidc.discovery" names the URL and what failed.
    status discover();
    /// A new sign-in: random state, nonce and PKCE verifier; the authorize URL with
    /// response_type=code, scope "openid profile", code_challenge_method=S256, and max_age when set.
    sign_in_start begin(const std::string& redirect_uri, std::optional<int> max_age) const;
    /// Redeems the code at the token endpoint (client secret + code_verifier) and validates the
    /// id_token against `pending` (nonce, max_age). An unknown kid refreshes the JWKS once.
    result<id_token_claims> finish(const std::string& code, const pending_sign_in& pending, std::int64_t now_s);

private:
    oidc_settings s_;
    http::client& http_;
    std::string authorize_endpoint_, token_endpoint_, jwks_uri_;
    std::vector<jwk> keys_;
};

}  // namespace connguard::coord::console
