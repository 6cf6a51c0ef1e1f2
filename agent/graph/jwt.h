#pragma once
// The certificate credential of the client-credentials flow: a JWT client assertion signed with the
// app certificate's private key (graph.md §1.2). Pure apart from OpenSSL; no I/O besides what the
// caller passes in (PEM text).
//
//   auto a = graph::build_client_assertion({.client_id = id, .audience = authority + "/" + tenant +
//                                           "/oauth2/v2.0/token", .certificate_pem = cert,
//                                           .private_key_pem = key, .now = clock.now()});
#include <chrono>
#include <string>
#include <string_view>

#include "common/result.h"

namespace connguard::graph {

/// base64url(SHA-256(DER of the first certificate in `certificate_pem`)): the `x5t#S256` header.
/// Error "graph.certificate" when the PEM holds no certificate.
result<std::string> certificate_thumbprint_s256(const std::string& certificate_pem);

enum class assertion_alg {
    ps256,  ///< RSASSA-PSS with SHA-256, salt length 32 (what Microsoft's current doc asks for)
    rs256,  ///< RSASSA-PKCS1-v1_5 with SHA-256 (older docs; kept as a fallback)
};

struct assertion_params {
    std::string client_id;        ///< iss and sub
    std::string audience;         ///< {authority}/{tenant}/oauth2/v2.0/token
    std::string certificate_pem;  ///< the app's registered certificate (public part)
    std::string private_key_pem;  ///< its RSA private key (PEM, PKCS#8 or PKCS#1)
    assertion_alg alg = assertion_alg::ps256;
    std::chrono::system_clock::time_point now;  ///< nbf and iat
    std::chrono::seconds lifetime{600};         ///< exp = now + lifetime (Microsoft: 5-10 minutes)
    std::string jti;                            ///< unique id; a fresh UUID when empty
};

/// header.claims.signature, each part base64url. Header {alg, typ:"JWT", x5t#S256}; claims {aud, iss,
/// sub, jti, nbf, iat, exp}. Errors "graph.certificate" / "graph.private_key" name what is wrong
/// (unreadable PEM, key not RSA, key does not match the certificate); the key never appears in a message.
result<std::string> build_client_assertion(const assertion_params& p);

}  // namespace connguard::graph
