#pragma once
// Helpers for the simulator tests: the shipped scenarios, token requests, authorized Graph calls
// over raw HTTP (so the tests see exactly what the simulator sends), and JWT client assertions.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/text.h"
#include "tests/support/graph_sim.h"
#include "tests/support/util.h"

namespace connguard::test::sim {

using json = nlohmann::json;

inline const std::string scenarios_dir = std::string(CONNGUARD_SOURCE_DIR) + "/tools/graph-sim/scenarios";

// The three shipped tenants (tools/graph-sim/scenarios).
inline const std::string healthy_tenant = "6f1c9a52-3c1e-4b8e-9d4a-1a2b3c4d5e01";
inline const std::string healthy_domain = "contoso-healthy.onmicrosoft.com";
inline const std::string healthy_app = "3f2a7c10-5b8e-4d21-9a6f-0c1d2e3f4001";
inline const std::string healthy_secret = "sim-secret-01~not-a-real-secret";
inline const std::string healthy_svc_id = "a1b2c3d4-0000-4000-8000-000000000011";
inline const std::string mfa_tenant = "6f1c9a52-3c1e-4b8e-9d4a-1a2b3c4d5e02";
inline const std::string mfa_domain = "fabrikam-mfa.onmicrosoft.com";
inline const std::string mfa_app = "3f2a7c10-5b8e-4d21-9a6f-0c1d2e3f4002";
inline const std::string sd_tenant = "6f1c9a52-3c1e-4b8e-9d4a-1a2b3c4d5e03";
inline const std::string sd_domain = "northwind-secdefaults.onmicrosoft.com";
inline const std::string sd_app = "3f2a7c10-5b8e-4d21-9a6f-0c1d2e3f4003";
inline const std::string svc_password = "Conn-Guard-Demo-1!";
inline const std::string mfa_policy_id = "809741fe-fb1b-4746-9ff0-83a978a4c891";  // j0eyv CA000

inline std::string enc(const std::string& v) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : v) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out.push_back(static_cast<char>(c));
        else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

inline std::string form(const std::vector<std::pair<std::string, std::string>>& fields) {
    std::string out;
    for (const auto& [k, v] : fields) {
        if (!out.empty()) out += '&';
        out += enc(k) + "=" + enc(v);
    }
    return out;
}

inline raw_http_response token_request(const graph_sim& s, const std::string& tenant,
                                       const std::vector<std::pair<std::string, std::string>>& fields) {
    return raw_http(s.port(), "POST", "/" + tenant + "/oauth2/v2.0/token", form(fields),
                    {{"Content-Type", "application/x-www-form-urlencoded"}});
}

inline raw_http_response ropc(const graph_sim& s, const std::string& tenant, const std::string& app,
                              const std::string& user, const std::string& password,
                              const std::string& scope = "https://graph.microsoft.com/.default") {
    return token_request(s, tenant, {{"client_id", app}, {"scope", scope}, {"username", user}, {"password", password},
                                     {"grant_type", "password"}});
}

inline std::string app_token(const graph_sim& s, const std::string& tenant = healthy_tenant,
                             const std::string& app = healthy_app, const std::string& secret = healthy_secret) {
    auto r = token_request(s, tenant, {{"client_id", app}, {"scope", "https://graph.microsoft.com/.default"},
                                       {"client_secret", secret}, {"grant_type", "client_credentials"}});
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body).value("access_token", std::string());
}

inline raw_http_response graph_call(const graph_sim& s, const std::string& token, const std::string& method,
                                    const std::string& target, const std::string& body = "") {
    std::vector<std::pair<std::string, std::string>> h{{"Authorization", "Bearer " + token}};
    return raw_http(s.port(), method, target, body, h);
}

inline json body_json(const raw_http_response& r) { return json::parse(r.body, nullptr, false); }

/// Checks the token-endpoint error shape of graph.md §1.5 and returns the body.
inline json expect_aad_error(const raw_http_response& r, int status, const std::string& error, long first_code) {
    EXPECT_EQ(r.status, status) << r.body;
    json b = body_json(r);
    EXPECT_TRUE(b.is_object()) << r.body;
    if (!b.is_object()) return b;
    EXPECT_EQ(b.value("error", ""), error) << r.body;
    EXPECT_TRUE(b["error_codes"].is_array());
    if (b["error_codes"].is_array() && !b["error_codes"].empty()) {
        EXPECT_EQ(b["error_codes"][0].get<long>(), first_code) << r.body;
    }
    const std::string d = b.value("error_description", "");
    EXPECT_EQ(d.rfind("AADSTS" + std::to_string(first_code) + ":", 0), 0u) << d;
    EXPECT_NE(d.find("\r\nTrace ID: " + b.value("trace_id", std::string("?"))), std::string::npos) << d;
    EXPECT_NE(d.find("\r\nCorrelation ID: " + b.value("correlation_id", std::string("?"))), std::string::npos) << d;
    EXPECT_NE(d.find("\r\nTimestamp: " + b.value("timestamp", std::string("?"))), std::string::npos) << d;
    // "2016-01-09 02:02:12Z"
    EXPECT_EQ(b.value("timestamp", "").size(), 20u);
    EXPECT_NE(b.value("error_uri", "").find("error?code="), std::string::npos);
    // Headers of §1.5.
    EXPECT_EQ(r.header("Cache-Control"), "no-store, no-cache");
    EXPECT_EQ(r.header("Pragma"), "no-cache");
    EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff");
    EXPECT_FALSE(r.header("Strict-Transport-Security").empty());
    EXPECT_EQ(r.header("x-ms-request-id"), b.value("trace_id", ""));
    EXPECT_NE(r.header("x-ms-ests-server").find("ProdSlices"), std::string::npos);
    EXPECT_EQ(r.header("Set-Cookie").rfind("fpc=", 0), 0u);
    return b;
}

// ---- JWT client assertions (tests only) -----------------------------------------------------

/// x5t#S256 of a PEM certificate file.
inline std::string cert_thumbprint(const std::string& pem_file) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(pem_file.c_str(), "rb"), &std::fclose);
    X509* x = PEM_read_X509(f.get(), nullptr, nullptr, nullptr);
    unsigned char* der = nullptr;
    const int len = i2d_X509(x, &der);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(der, static_cast<std::size_t>(len), md);
    OPENSSL_free(der);
    X509_free(x);
    return base64url_encode(std::string(reinterpret_cast<char*>(md), sizeof md));
}

/// Signs a client assertion with `key` (PS256 or RS256).
inline std::string make_assertion(EVP_PKEY* key, const std::string& alg, const std::string& x5t_s256,
                                  const json& claims) {
    const json header{{"alg", alg}, {"typ", "JWT"}, {"x5t#S256", x5t_s256}};
    const std::string input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    EVP_PKEY_CTX* pctx = nullptr;
    EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key);
    if (alg == "PS256") {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    std::size_t len = 0;
    EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    sig.resize(len);
    return input + "." + base64url_encode(sig);
}

inline EVP_PKEY* load_private_key(const std::string& pem_file) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(pem_file.c_str(), "rb"), &std::fclose);
    return PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr);
}

inline EVP_PKEY* generate_rsa_key() { return EVP_RSA_gen(2048); }

inline json assertion_claims(const std::string& app, const std::string& aud, long exp_offset = 600) {
    const long now = static_cast<long>(std::time(nullptr));
    return json{{"aud", aud}, {"iss", app}, {"sub", app}, {"jti", "5b0f4c3e-3c1e-4b8e-9d4a-000000000001"},
                {"nbf", now}, {"iat", now}, {"exp", now + exp_offset}};
}

}  // namespace connguard::test::sim
