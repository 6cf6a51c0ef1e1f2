#include "tools/graph-sim/access_token.h"

#include "common/text.h"
#include "tools/graph-sim/crypto.h"
#include "tools/graph-sim/sim_util.h"

namespace connguard::graph_sim {

namespace {

bool is_graph_audience(const std::string& aud) {
    return aud == "https://graph.microsoft.com" || aud == graph_app_id || aud == "https://graph.microsoft.com/";
}

}  // namespace

std::string issue_access_token(const std::string& key, const simulator::tenant_state& t, const std::string& app_id,
                               const std::string& aud, const user* u, const app* a, std::int64_t lifetime) {
    const std::int64_t now = unix_now();
    json header{{"typ", "JWT"}, {"alg", "HS256"}, {"kid", "connguard-sim"}};
    json claims{{"aud", aud},
                {"iss", "https://sts.windows.net/" + t.sc.tenant_id + "/"},
                {"iat", now},
                {"nbf", now},
                {"exp", now + lifetime},
                {"tid", t.sc.tenant_id},
                {"appid", app_id},
                {"ver", "1.0"},
                {"uti", base64url_encode(random_bytes(12))},
                {"sim_gen", t.token_generation}};
    if (u) {
        claims["idtyp"] = "user";
        claims["oid"] = u->id;
        claims["upn"] = u->upn;
        claims["scp"] = "User.Read";
    } else {
        claims["idtyp"] = "app";
        claims["oid"] = a && !a->service_principal_id.empty() ? a->service_principal_id : derived_guid("sp" + app_id);
        json roles = json::array();
        if (a)
            for (const auto& p : a->permissions) roles.push_back(p);
        claims["roles"] = roles;
    }
    const std::string signing_input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
    return signing_input + "." + base64url_encode(hmac_sha256(key, signing_input));
}

token_claims read_access_token(const std::string& key, const http::server_request& req) {
    token_claims out;
    const std::string auth = req.header("Authorization");
    if (auth.empty()) {
        out.error = "Access token is empty.";
        return out;
    }
    if (to_lower(auth.substr(0, 7)) != "bearer ") {
        out.error = "Access token validation failure. Invalid audience.";
        return out;
    }
    const std::string token = auth.substr(7);
    const auto d1 = token.find('.');
    const auto d2 = d1 == std::string::npos ? d1 : token.find('.', d1 + 1);
    if (d2 == std::string::npos) {
        out.error = "IDX14100: JWT is not well formed, there are no dots (.).";
        return out;
    }
    const std::string signing_input = token.substr(0, d2);
    const std::string sig = token.substr(d2 + 1);
    if (base64url_encode(hmac_sha256(key, signing_input)) != sig) {
        out.error = "Access token validation failure. Invalid signature.";
        return out;
    }
    auto payload = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
    if (!payload) {
        out.error = "Access token validation failure.";
        return out;
    }
    out.claims = json::parse(*payload, nullptr, false);
    if (!out.claims.is_object()) {
        out.error = "Access token validation failure.";
        return out;
    }
    if (out.claims.value("exp", std::int64_t{0}) <= unix_now()) {
        out.error = "Lifetime validation failed, the token is expired.";
        return out;
    }
    if (!is_graph_audience(out.claims.value("aud", std::string()))) {
        out.error = "Access token validation failure. Invalid audience.";
        return out;
    }
    return out;
}

}  // namespace connguard::graph_sim
