#pragma once
// Test helpers for OIDC: an RSA key made with OpenSSL in the test, its JWK, and id_tokens signed with it.
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "common/text.h"
#include "coordinator/console/oidc.h"

namespace connguard::test::oidc {

using json = nlohmann::json;

class rsa_key {
public:
    explicit rsa_key(std::string kid) : kid_(std::move(kid)), key_(EVP_RSA_gen(2048), &EVP_PKEY_free) {
        if (!key_) throw std::runtime_error("EVP_RSA_gen failed");
    }
    coord::console::jwk public_jwk() const {
        return {kid_, "RSA", "RS256", base64url_encode(bn(OSSL_PKEY_PARAM_RSA_N)), base64url_encode(bn(OSSL_PKEY_PARAM_RSA_E))};
    }
    const std::string& kid() const { return kid_; }
    /// A compact JWS: base64url(header).base64url(payload).RS256 signature.
    std::string sign(const json& header, const json& payload) const {
        const std::string input = base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());
        std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
        EVP_PKEY_CTX* pctx = nullptr;
        std::size_t len = 0;
        if (EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key_.get()) != 1 ||
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1 ||
            EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
            throw std::runtime_error("sign failed");
        std::string sig(len, '\0');
        if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
            throw std::runtime_error("sign failed");
        sig.resize(len);
        return input + "." + base64url_encode(sig);
    }

private:
    std::string bn(const char* name) const {
        BIGNUM* b = nullptr;
        if (EVP_PKEY_get_bn_param(key_.get(), name, &b) != 1) throw std::runtime_error("no RSA param");
        std::string out(static_cast<std::size_t>(BN_num_bytes(b)), '\0');
        BN_bn2bin(b, reinterpret_cast<unsigned char*>(out.data()));
        BN_free(b);
        return out;
    }
    std::string kid_;
    std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key_;
};

/// base64url(header).base64url(payload).HMAC-SHA256 with `secret` (an HS256 token).
inline std::string hs256(const json& header, const json& payload, const std::string& secret) {
    const std::string input = base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(input.data()),
         input.size(), md, &len);
    return input + "." + base64url_encode(std::string(reinterpret_cast<char*>(md), len));
}

}  // namespace connguard::test::oidc
