#include "coordinator/console/oidc.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include <memory>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "common/text.h"

namespace connguard::coord::console {

using json = nlohmann::json;

namespace {

template <class T, void (*F)(T*)>
struct deleter {
    void operator()(T* p) const { F(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
using bn_ptr = std::unique_ptr<BIGNUM, deleter<BIGNUM, BN_free>>;

/// An RSA public key from the JWK's base64url n and e; null when they do not make one.
pkey_ptr rsa_public_key(const jwk& k) {
    const auto n = base64url_decode(k.n);
    const auto e = base64url_decode(k.e);
    if (!n || !e || n->empty() || e->empty()) return nullptr;
    bn_ptr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr));
    bn_ptr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr));
    if (!bn_n || !bn_e) return nullptr;
    std::unique_ptr<OSSL_PARAM_BLD, deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>> bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
        return nullptr;
    std::unique_ptr<OSSL_PARAM, deleter<OSSL_PARAM, OSSL_PARAM_free>> params(OSSL_PARAM_BLD_to_param(bld.get()));
    std::unique_ptr<EVP_PKEY_CTX, deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    EVP_PKEY* key = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
        return nullptr;
    return pkey_ptr(key);
}

/// RSASSA-PKCS1-v1_5 with SHA-256 over `input`.
bool verify_rs256(EVP_PKEY* key, const std::string& input, const std::string& sig) {
    std::unique_ptr<EVP_MD_CTX, deleter<EVP_MD_CTX, EVP_MD_CTX_free>> ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key) != 1) return false;
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) return false;
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                            reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

std::string random_b64url(std::size_t n) {
    std::string bytes(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1)
        throw std::runtime_error("RAND_bytes failed");
    return base64url_encode(bytes);
}

std::string sha256(const std::string& s) {
    std::string out(SHA256_DIGEST_LENGTH, '\0');
    SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), reinterpret_cast<unsigned char*>(out.data()));
    return out;
}

std::string str_claim(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<std::int64_t> int_claim(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) return std::nullopt;
    return it->is_number_float() ? static_cast<std::int64_t>(it->get<double>()) : it->get<std::int64_t>();
}

std::vector<std::string> list_claim(const json& j, const char* key) {
    std::vector<std::string> out;
    auto it = j.find(key);
    if (it == j.end()) return out;
    if (it->is_string()) out.push_back(it->get<std::string>());
    if (it->is_array())
        for (const auto& v : *it)
            if (v.is_string()) out.push_back(v.get<std::string>());
    return out;
}

/// scheme + host of an URL, for the https-or-loopback rule; empty host when not parseable.
bool https_or_loopback(const std::string& url) {
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string::npos) return false;
    const std::string scheme = to_lower(url.substr(0, scheme_end));
    if (scheme == "https") return true;
    if (scheme != "http") return false;
    const auto start = scheme_end + 3;
    const auto end = url.find_first_of("/?#", start);
    std::string authority = to_lower(url.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (authority.find('@') != std::string::npos) return false;
    std::string host;
    if (!authority.empty() && authority.front() == '[') host = authority.substr(0, authority.find(']') + 1);
    else host = authority.substr(0, authority.find(':'));
    return host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

std::string time_words(std::int64_t s) { return std::to_string(s) + " (unix seconds)"; }

}  // namespace

result<id_token_claims> validate_id_token(const std::string& jwt, const std::vector<jwk>& keys, const id_token_expectations& expect) {
    const auto d1 = jwt.find('.');
    const auto d2 = d1 == std::string::npos ? d1 : jwt.find('.', d1 + 1);
    if (d2 == std::string::npos || jwt.find('.', d2 + 1) != std::string::npos)
        return make_error("oidc.malformed", "id_token: expected a compact JWS (three dot-separated parts)");
    const auto header_raw = base64url_decode(std::string_view(jwt).substr(0, d1));
    const auto payload_raw = base64url_decode(std::string_view(jwt).substr(d1 + 1, d2 - d1 - 1));
    const auto sig = base64url_decode(std::string_view(jwt).substr(d2 + 1));
    if (!header_raw || !payload_raw || !sig)
        return make_error("oidc.malformed", "id_token: expected base64url header, payload and signature");
    const json header = json::parse(*header_raw, nullptr, false);
    const json payload = json::parse(*payload_raw, nullptr, false);
    if (!header.is_object() || !payload.is_object())
        return make_error("oidc.malformed", "id_token: expected JSON objects in header and payload");

    const std::string alg = str_claim(header, "alg");
    if (alg != "RS256")
        return make_error("oidc.alg", "id_token: expected alg RS256, got '" + alg + "' (only RS256 is accepted)");
    const std::string kid = str_claim(header, "kid");
    const jwk* key = nullptr;
    for (const auto& k : keys)
        if (k.kid == kid && (k.kty.empty() || k.kty == "RSA")) key = &k;
    if (!key || kid.empty())
        return make_error("oidc.unknown_key",
                          "id_token: expected a kid of the provider's JWKS (" + std::to_string(keys.size()) + " keys), got '" + kid + "'");
    if (!key->alg.empty() && key->alg != "RS256")
        return make_error("oidc.alg", "id_token: key '" + kid + "' is for alg " + key->alg + ", expected RS256");
    const pkey_ptr pub = rsa_public_key(*key);
    if (!pub) return make_error("oidc.unknown_key", "id_token: key '" + kid + "' of the JWKS is not a usable RSA public key (n, e)");
    if (!verify_rs256(pub.get(), jwt.substr(0, d2), *sig))
        return make_error("oidc.signature", "id_token: expected a valid RS256 signature by key '" + kid + "'; the signature does not verify");

    id_token_claims c;
    c.issuer = str_claim(payload, "iss");
    if (c.issuer != expect.issuer)
        return make_error("oidc.issuer", "id_token: expected iss '" + expect.issuer + "', got '" + c.issuer + "'");
    const auto auds = list_claim(payload, "aud");
    bool aud_ok = false;
    for (const auto& a : auds) aud_ok = aud_ok || a == expect.audience;
    if (!aud_ok) {
        std::string got;
        for (const auto& a : auds) got += (got.empty() ? "" : ", ") + a;
        return make_error("oidc.audience", "id_token: expected aud '" + expect.audience + "', got '" + got + "'");
    }
    c.audience = expect.audience;
    const std::int64_t skew = expect.clock_skew.count();
    const auto exp = int_claim(payload, "exp");
    if (!exp) return make_error("oidc.malformed", "id_token: expected a numeric exp claim");
    if (expect.now_s > *exp + skew)
        return make_error("oidc.expired", "id_token: expected exp after now " + time_words(expect.now_s) + " - " + std::to_string(skew) +
                                              " s skew, got exp " + time_words(*exp));
    if (const auto nbf = int_claim(payload, "nbf"); nbf && *nbf > expect.now_s + skew)
        return make_error("oidc.not_yet_valid", "id_token: expected nbf at or before now " + time_words(expect.now_s) + " + " +
                                                    std::to_string(skew) + " s skew, got nbf " + time_words(*nbf));
    if (const auto iat = int_claim(payload, "iat"); iat && *iat > expect.now_s + skew)
        return make_error("oidc.not_yet_valid", "id_token: expected iat at or before now " + time_words(expect.now_s) + " + " +
                                                    std::to_string(skew) + " s skew, got iat " + time_words(*iat));
    const std::string nonce = str_claim(payload, "nonce");
    if (expect.nonce.empty() || nonce != expect.nonce)
        return make_error("oidc.nonce", nonce.empty() ? "id_token: expected the nonce sent with the sign-in, the token has none"
                                                      : "id_token: expected the nonce sent with the sign-in, got a different one");
    const auto auth_time = int_claim(payload, "auth_time");
    if (expect.max_age) {
        if (!auth_time)
            return make_error("oidc.stale_auth", "id_token: expected auth_time (max_age " + std::to_string(*expect.max_age) +
                                                     " s was asked), the token has none");
        if (expect.now_s - *auth_time > *expect.max_age + skew)
            return make_error("oidc.stale_auth", "id_token: expected a sign-in within max_age " + std::to_string(*expect.max_age) +
                                                     " s (+ " + std::to_string(skew) + " s skew), got auth_time " +
                                                     std::to_string(expect.now_s - *auth_time) + " s ago");
    }
    c.subject = str_claim(payload, "sub");
    c.object_id = str_claim(payload, "oid");
    c.tenant_id = str_claim(payload, "tid");
    c.upn = str_claim(payload, "preferred_username");
    c.name = str_claim(payload, "name");
    c.roles = list_claim(payload, "roles");
    c.groups = list_claim(payload, "groups");
    c.auth_time_s = auth_time.value_or(0);
    c.expires_s = *exp;
    return c;
}

// ---- oidc_client ---------------------------------------------------------------------------------

oidc_client::oidc_client(oidc_settings s, http::client& http) : s_(std::move(s)), http_(http) {}

namespace {

result<json> get_json(http::client& http, const std::string& url, const std::string& ca_file, const char* what) {
    if (!https_or_loopback(url))
        return make_error("oidc.discovery", std::string(what) + " " + url + ": expected an https URL (http only on a loopback host)");
    http::request rq;
    rq.url = url;
    rq.ca_file = ca_file;
    rq.timeout = std::chrono::seconds(15);
    rq.headers = {{"Accept", "application/json"}};
    auto r = http.perform(rq);
    if (!r) return make_error("oidc.discovery", std::string(what) + " " + url + ": " + r.err().message);
    if (r->status != 200)
        return make_error("oidc.discovery", std::string(what) + " " + url + ": expected HTTP 200, got " + std::to_string(r->status));
    json j = json::parse(r->body, nullptr, false);
    if (!j.is_object()) return make_error("oidc.discovery", std::string(what) + " " + url + ": expected a JSON object");
    return j;
}

result<std::vector<jwk>> fetch_jwks(http::client& http, const std::string& url, const std::string& ca_file) {
    auto j = get_json(http, url, ca_file, "JWKS");
    if (!j) return j.err();
    if (!j->contains("keys") || !(*j)["keys"].is_array())
        return make_error("oidc.discovery", "JWKS " + url + ": expected a 'keys' array");
    std::vector<jwk> keys;
    for (const auto& k : (*j)["keys"]) {
        if (!k.is_object()) continue;
        jwk w{str_claim(k, "kid"), str_claim(k, "kty"), str_claim(k, "alg"), str_claim(k, "n"), str_claim(k, "e")};
        const std::string use = str_claim(k, "use");
        if (w.kty != "RSA" || (!use.empty() && use != "sig") || w.n.empty() || w.e.empty()) continue;
        keys.push_back(std::move(w));
    }
    if (keys.empty()) return make_error("oidc.discovery", "JWKS " + url + ": expected at least one RSA signing key, found none");
    return keys;
}

}  // namespace

status oidc_client::discover() {
    std::string base = s_.issuer;
    while (!base.empty() && base.back() == '/') base.pop_back();
    const std::string url = base + "/.well-known/openid-configuration";
    auto doc = get_json(http_, url, s_.ca_file, "discovery");
    if (!doc) return doc.err();
    const std::string issuer = str_claim(*doc, "issuer");
    if (issuer != s_.issuer)
        return make_error("oidc.discovery", "discovery " + url + ": expected issuer '" + s_.issuer + "', got '" + issuer + "'");
    std::string authorize = str_claim(*doc, "authorization_endpoint");
    std::string token = str_claim(*doc, "token_endpoint");
    std::string jwks = str_claim(*doc, "jwks_uri");
    const std::pair<const char*, const std::string*> endpoints[] = {
        {"authorization_endpoint", &authorize}, {"token_endpoint", &token}, {"jwks_uri", &jwks}};
    for (const auto& [name, value] : endpoints)
        if (value->empty() || !https_or_loopback(*value))
            return make_error("oidc.discovery", "discovery " + url + ": expected an https " + name + " (http only on loopback), got '" +
                                                    *value + "'");
    if (doc->contains("code_challenge_methods_supported")) {
        bool s256 = false;
        for (const auto& m : list_claim(*doc, "code_challenge_methods_supported")) s256 = s256 || m == "S256";
        if (!s256) return make_error("oidc.discovery", "discovery " + url + ": expected code_challenge_methods_supported to hold S256");
    }
    auto keys = fetch_jwks(http_, jwks, s_.ca_file);
    if (!keys) return keys.err();
    authorize_endpoint_ = std::move(authorize);
    token_endpoint_ = std::move(token);
    jwks_uri_ = std::move(jwks);
    keys_ = std::move(*keys);
    return {};
}

sign_in_start oidc_client::begin(const std::string& redirect_uri, std::optional<int> max_age) const {
    sign_in_start s;
    s.pending.state = random_b64url(32);
    s.pending.nonce = random_b64url(32);
    s.pending.code_verifier = random_b64url(32);
    s.pending.redirect_uri = redirect_uri;
    s.pending.max_age = max_age;
    s.pending.started_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::vector<std::pair<std::string, std::string>> q = {{"client_id", s_.client_id},
                                                          {"response_type", "code"},
                                                          {"redirect_uri", redirect_uri},
                                                          {"response_mode", "query"},
                                                          {"scope", "openid profile"},
                                                          {"state", s.pending.state},
                                                          {"nonce", s.pending.nonce},
                                                          {"code_challenge", base64url_encode(sha256(s.pending.code_verifier))},
                                                          {"code_challenge_method", "S256"}};
    if (max_age) q.emplace_back("max_age", std::to_string(*max_age));
    s.authorize_url = authorize_endpoint_ + (authorize_endpoint_.find('?') == std::string::npos ? "?" : "&") + http::form_encode(q);
    return s;
}

result<id_token_claims> oidc_client::finish(const std::string& code, const pending_sign_in& pending, std::int64_t now_s) {
    if (token_endpoint_.empty()) return make_error("oidc.discovery", "sign-in: discover() has not succeeded yet");
    http::request rq;
    rq.method = "POST";
    rq.url = token_endpoint_;
    rq.ca_file = s_.ca_file;
    rq.timeout = std::chrono::seconds(15);
    rq.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
    rq.body = http::form_encode({{"grant_type", "authorization_code"},
                                 {"client_id", s_.client_id},
                                 {"client_secret", s_.client_secret},
                                 {"code", code},
                                 {"redirect_uri", pending.redirect_uri},
                                 {"code_verifier", pending.code_verifier},
                                 {"scope", "openid profile"}});
    auto r = http_.perform(rq);
    if (!r) return make_error("oidc.token", "token request to " + token_endpoint_ + ": " + r.err().message);
    const json body = json::parse(r->body, nullptr, false);
    if (r->status != 200) {
        // Entra's error and the first line of its description (AADSTS code and text; no secrets).
        std::string what = "HTTP " + std::to_string(r->status);
        if (body.is_object()) {
            std::string desc = str_claim(body, "error_description");
            desc = desc.substr(0, desc.find('\r'));
            what += " " + str_claim(body, "error") + (desc.empty() ? "" : ": " + desc);
        }
        return make_error("oidc.token", "token request to " + token_endpoint_ + ": " + what);
    }
    const std::string id_token = body.is_object() ? str_claim(body, "id_token") : std::string();
    if (id_token.empty()) return make_error("oidc.token", "token response from " + token_endpoint_ + ": expected an id_token, got none");
    id_token_expectations e;
    e.issuer = s_.issuer;
    e.audience = s_.client_id;
    e.nonce = pending.nonce;
    e.now_s = now_s;
    e.clock_skew = s_.clock_skew;
    e.max_age = pending.max_age;
    auto claims = validate_id_token(id_token, keys_, e);
    if (!claims && claims.err().code == "oidc.unknown_key") {
        // The provider may have rolled its keys: refresh the JWKS once.
        auto keys = fetch_jwks(http_, jwks_uri_, s_.ca_file);
        if (!keys) return keys.err();
        keys_ = std::move(*keys);
        claims = validate_id_token(id_token, keys_, e);
    }
    return claims;
}

}  // namespace connguard::coord::console
