#include "agent/graph/jwt.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>

#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "common/text.h"

namespace connguard::graph {

namespace {

struct bio_free {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct x509_free {
    void operator()(X509* x) const { X509_free(x); }
};
struct pkey_free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct md_ctx_free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

using x509_ptr = std::unique_ptr<X509, x509_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

std::unique_ptr<BIO, bio_free> mem_bio(const std::string& text) {
    return std::unique_ptr<BIO, bio_free>(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

x509_ptr read_certificate(const std::string& pem) {
    auto bio = mem_bio(pem);
    if (!bio) return nullptr;
    return x509_ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

result<std::string> der_of(X509* cert) {
    unsigned char* der = nullptr;
    const int len = i2d_X509(cert, &der);
    if (len <= 0) return make_error("graph.certificate", "certificate could not be DER-encoded");
    std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    return out;
}

std::string sha256_raw(std::string_view bytes) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<const char*>(md), len);
}

}  // namespace

result<std::string> certificate_thumbprint_s256(const std::string& certificate_pem) {
    auto cert = read_certificate(certificate_pem);
    if (!cert) return make_error("graph.certificate", "no PEM certificate found");
    auto der = der_of(cert.get());
    if (!der) return der.err();
    return base64url_encode(sha256_raw(*der));
}

result<std::string> build_client_assertion(const assertion_params& p) {
    auto cert = read_certificate(p.certificate_pem);
    if (!cert) return make_error("graph.certificate", "client assertion: no PEM certificate found");
    auto der = der_of(cert.get());
    if (!der) return der.err();

    pkey_ptr key;
    {
        auto bio = mem_bio(p.private_key_pem);
        if (bio) key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    }
    if (!key) return make_error("graph.private_key", "client assertion: the private key is not a readable PEM key");
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA)
        return make_error("graph.private_key", "client assertion: the private key is not an RSA key (PS256/RS256 need RSA)");
    if (X509_check_private_key(cert.get(), key.get()) != 1)
        return make_error("graph.private_key", "client assertion: the private key does not match the certificate");

    const nlohmann::json header = {
        {"alg", p.alg == assertion_alg::ps256 ? "PS256" : "RS256"},
        {"typ", "JWT"},
        {"x5t#S256", base64url_encode(sha256_raw(*der))},
    };
    const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(p.now.time_since_epoch()).count();
    const nlohmann::json claims = {
        {"aud", p.audience},
        {"iss", p.client_id},
        {"sub", p.client_id},
        {"jti", p.jti.empty() ? new_uuid() : p.jti},
        {"nbf", now_s},
        {"iat", now_s},
        {"exp", now_s + p.lifetime.count()},
    };
    const std::string signing_input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());

    std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
    if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key.get()) != 1)
        return make_error("graph.private_key", "client assertion: signing could not start");
    if (p.alg == assertion_alg::ps256) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)
            return make_error("graph.private_key", "client assertion: PSS padding not available");
    } else if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
        return make_error("graph.private_key", "client assertion: PKCS#1 padding not available");
    }
    std::size_t sig_len = 0;
    const auto* in = reinterpret_cast<const unsigned char*>(signing_input.data());
    if (EVP_DigestSign(ctx.get(), nullptr, &sig_len, in, signing_input.size()) != 1)
        return make_error("graph.private_key", "client assertion: signing failed");
    std::string sig(sig_len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len, in, signing_input.size()) != 1)
        return make_error("graph.private_key", "client assertion: signing failed");
    sig.resize(sig_len);
    return signing_input + "." + base64url_encode(sig);
}

}  // namespace connguard::graph
