#pragma once
// The token side of the Graph client (private): the app token for Graph (client secret or
// certificate assertion), its cache and renewal, the memory of a refusal for the rest of the
// cycle, and the ROPC sign-in probe's token request. Every token request goes through the one
// retry loop (transport.h).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/graph/detail/transport.h"
#include "agent/graph/graph_client.h"
#include "common/clock.h"
#include "common/http/http_client.h"
#include "common/result.h"

namespace connguard::graph::detail {

class token_source {
public:
    /// Registers the client secret (if any) with log redaction.
    token_source(const graph_client_options& o, const connguard::clock& clk, transport& t);

    /// graph_client::access_token: the cached token, the remembered refusal, or a new token.
    result<std::string> access_token();
    /// Drops the cached token (the next call fetches a new one).
    void invalidate();
    /// Forgets a refusal by the token endpoint (start of a cycle).
    void forget_refusal() { refusal_.reset(); }

    /// graph_client::probe_signin: ROPC for the connection account, classified.
    result<snapshot::signin_result> probe_signin(const probe_request& req);

private:
    using form_fields = std::vector<std::pair<std::string, std::string>>;
    /// Adds the app credential to the form: the client secret, or a certificate assertion.
    status add_credential(form_fields& fields, clock::time_point now);
    /// POSTs a form to the tenant's token endpoint through the retry loop.
    result<http::response> post(const std::string& form, const std::string& what);

    const graph_client_options& o_;
    const connguard::clock& clock_;
    transport& transport_;
    std::string token_;
    clock::time_point token_expires_{};
    clock::time_point token_renew_at_{};
    std::optional<std::string> certificate_pem_;
    std::optional<std::string> private_key_pem_;
    /// A refusal by the token endpoint (bad secret, unknown app, ...) is remembered for the rest of
    /// the cycle instead of being asked again for every item.
    std::optional<error> refusal_;
};

}  // namespace connguard::graph::detail
