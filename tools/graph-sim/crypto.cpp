#include "tools/graph-sim/crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <cstdio>
#include <memory>

#include "common/text.h"

namespace connguard::graph_sim {

std::string sha256_raw(std::string_view bytes) {
    std::string out(SHA256_DIGEST_LENGTH, '\0');
    SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), reinterpret_cast<unsigned char*>(out.data()));
    return out;
}

std::string sha1_raw(std::string_view bytes) {
    std::string out(SHA_DIGEST_LENGTH, '\0');
    SHA1(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), reinterpret_cast<unsigned char*>(out.data()));
    return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), md, &len);
    return std::string(reinterpret_cast<char*>(md), len);
}

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
        throw std::runtime_error("RAND_bytes failed");
    return out;
}

result<certificate> load_certificate(const std::filesystem::path& pem_file) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(pem_file.c_str(), "rb"), &std::fclose);
    if (!f) return make_error("sim.certificate", "cannot open certificate file " + pem_file.string());
    std::unique_ptr<X509, void (*)(X509*)> x509(PEM_read_X509(f.get(), nullptr, nullptr, nullptr), &X509_free);
    if (!x509) return make_error("sim.certificate", pem_file.string() + " holds no PEM certificate");
    unsigned char* der = nullptr;
    const int len = i2d_X509(x509.get(), &der);
    if (len <= 0) return make_error("sim.certificate", pem_file.string() + ": cannot encode certificate");
    certificate c;
    c.file = pem_file;
    c.der.assign(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    c.x5t_s256 = base64url_encode(sha256_raw(c.der));
    c.x5t = base64url_encode(sha1_raw(c.der));
    EVP_PKEY* key = X509_get_pubkey(x509.get());
    if (!key) return make_error("sim.certificate", pem_file.string() + ": certificate has no usable public key");
    if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(key);
        return make_error("sim.certificate", pem_file.string() + ": only RSA certificates are supported");
    }
    c.key = std::shared_ptr<void>(key, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
    return c;
}

bool verify_rsa_signature(const certificate& cert, std::string_view alg, std::string_view signing_input,
                          std::string_view signature) {
    if (alg != "RS256" && alg != "PS256") return false;
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    EVP_PKEY_CTX* pctx = nullptr;
    if (EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, static_cast<EVP_PKEY*>(cert.key.get())) != 1)
        return false;
    if (alg == "PS256") {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1) return false;
        if (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1) return false;
    } else {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) return false;
    }
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                            reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
}

std::string guid_bytes_le(const std::string& guid) {
    if (!is_guid(guid)) return {};
    std::string hex;
    for (char c : guid)
        if (c != '-') hex.push_back(c);
    std::string b(16, '\0');
    for (int i = 0; i < 16; ++i) b[i] = static_cast<char>(std::stoi(hex.substr(static_cast<std::size_t>(i) * 2, 2), nullptr, 16));
    std::swap(b[0], b[3]);
    std::swap(b[1], b[2]);
    std::swap(b[4], b[5]);
    std::swap(b[6], b[7]);
    return b;
}

}  // namespace connguard::graph_sim
