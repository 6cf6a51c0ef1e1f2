// The certificate client assertion: header, claims, and a signature that verifies with the
// certificate's public key (PS256 and RS256).
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "agent/graph/jwt.h"
#include "common/text.h"
#include "tests/support/process.h"
#include "tests/support/util.h"

namespace {

using namespace connguard;

struct test_cert {
    std::string cert_pem;
    std::string key_pem;
};

test_cert make_cert(const std::filesystem::path& dir, const std::string& name = "app") {
    const auto key = dir / (name + "-key.pem");
    const auto cert = dir / (name + "-cert.pem");
    std::string out;
    const int rc = test::run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key.string(),
                                      "-out", cert.string(), "-days", "2", "-subj", "/CN=connguard-test-" + name},
                                     &out);
    EXPECT_EQ(rc, 0) << out;
    return {test::slurp(cert), test::slurp(key)};
}

std::vector<std::string> split(const std::string& jwt) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (;;) {
        const auto dot = jwt.find('.', start);
        parts.push_back(jwt.substr(start, dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return parts;
}

bool verify(const std::string& cert_pem, const std::string& signing_input, const std::string& sig, bool pss) {
    BIO* bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    EVP_PKEY* pub = X509_get_pubkey(x);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    bool ok = EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), nullptr, pub) == 1;
    if (pss) {
        ok = ok && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    } else {
        ok = ok && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    }
    ok = ok && EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pub);
    X509_free(x);
    return ok;
}

graph::assertion_params params(const std::string& cert, const std::string& key,
                               graph::assertion_alg alg = graph::assertion_alg::ps256,
                               std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) {
    graph::assertion_params p;
    p.client_id = "11111111-2222-3333-4444-555555555555";
    p.audience = "https://login.example/tid/oauth2/v2.0/token";
    p.certificate_pem = cert;
    p.private_key_pem = key;
    p.alg = alg;
    p.now = now;
    return p;
}

std::string der_sha256_b64url(const std::string& cert_pem) {
    BIO* bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    unsigned char md[32];
    unsigned int len = 0;
    X509_digest(x, EVP_sha256(), md, &len);
    X509_free(x);
    return base64url_encode(std::string(reinterpret_cast<char*>(md), len));
}

TEST(Base64url, RoundTripsAndRejectsGarbage) {
    for (const std::string& s : {std::string(""), std::string("f"), std::string("fo"), std::string("foo"),
                                std::string("foob"), std::string("\xff\xfe\x00\x01", 4)}) {
        auto d = base64url_decode(base64url_encode(s));
        ASSERT_TRUE(d.has_value());
        EXPECT_EQ(*d, s);
    }
    EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
    EXPECT_FALSE(base64url_decode("a*b").has_value());
}

class ClientAssertion : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new test::temp_dir("graph-jwt");
        cert_ = make_cert(dir_->path());
        other_ = make_cert(dir_->path(), "other");
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }
    static inline test::temp_dir* dir_ = nullptr;
    static inline test_cert cert_;
    static inline test_cert other_;
};

TEST_F(ClientAssertion, Ps256HeaderClaimsAndSignature) {
    const auto now = std::chrono::system_clock::time_point{std::chrono::seconds{1767225600}};
    auto jwt = graph::build_client_assertion(params(cert_.cert_pem, cert_.key_pem, graph::assertion_alg::ps256, now));
    ASSERT_TRUE(jwt.ok()) << jwt.err().message;
    const auto parts = split(*jwt);
    ASSERT_EQ(parts.size(), 3u);
    const auto header = nlohmann::json::parse(*base64url_decode(parts[0]));
    const auto claims = nlohmann::json::parse(*base64url_decode(parts[1]));
    EXPECT_EQ(header["alg"], "PS256");
    EXPECT_EQ(header["typ"], "JWT");
    EXPECT_EQ(header["x5t#S256"], der_sha256_b64url(cert_.cert_pem));
    EXPECT_EQ(*graph::certificate_thumbprint_s256(cert_.cert_pem), der_sha256_b64url(cert_.cert_pem));
    EXPECT_EQ(claims["aud"], "https://login.example/tid/oauth2/v2.0/token");
    EXPECT_EQ(claims["iss"], "11111111-2222-3333-4444-555555555555");
    EXPECT_EQ(claims["sub"], "11111111-2222-3333-4444-555555555555");
    EXPECT_EQ(claims["nbf"], 1767225600);
    EXPECT_EQ(claims["iat"], 1767225600);
    EXPECT_EQ(claims["exp"], 1767225600 + 600);
    EXPECT_EQ(claims["jti"].get<std::string>().size(), 36u);
    const auto sig = base64url_decode(parts[2]);
    ASSERT_TRUE(sig.has_value());
    EXPECT_TRUE(verify(cert_.cert_pem, parts[0] + "." + parts[1], *sig, true));
    // The signature does not verify with another certificate, nor over altered claims.
    EXPECT_FALSE(verify(other_.cert_pem, parts[0] + "." + parts[1], *sig, true));
    EXPECT_FALSE(verify(cert_.cert_pem, parts[0] + "." + parts[1] + "x", *sig, true));
}

TEST_F(ClientAssertion, EachAssertionHasAFreshJti) {
    const auto p = params(cert_.cert_pem, cert_.key_pem);
    auto a = graph::build_client_assertion(p);
    auto b = graph::build_client_assertion(p);
    ASSERT_TRUE(a.ok() && b.ok());
    const auto ca = nlohmann::json::parse(*base64url_decode(split(*a)[1]));
    const auto cb = nlohmann::json::parse(*base64url_decode(split(*b)[1]));
    EXPECT_NE(ca["jti"], cb["jti"]);
}

TEST_F(ClientAssertion, Rs256Fallback) {
    auto jwt = graph::build_client_assertion(params(cert_.cert_pem, cert_.key_pem, graph::assertion_alg::rs256));
    ASSERT_TRUE(jwt.ok());
    const auto parts = split(*jwt);
    EXPECT_EQ(nlohmann::json::parse(*base64url_decode(parts[0]))["alg"], "RS256");
    EXPECT_TRUE(verify(cert_.cert_pem, parts[0] + "." + parts[1], *base64url_decode(parts[2]), false));
}

TEST_F(ClientAssertion, BadCredentialsAreClearErrorsWithoutTheKey) {
    auto r = graph::build_client_assertion(params("not a cert", cert_.key_pem));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, "graph.certificate");
    r = graph::build_client_assertion(
        params(cert_.cert_pem, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, "graph.private_key");
    // A key that belongs to another certificate is refused before anything is sent.
    r = graph::build_client_assertion(params(cert_.cert_pem, other_.key_pem));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, "graph.private_key");
    EXPECT_EQ(r.err().message.find("PRIVATE KEY"), std::string::npos);
}

}  // namespace
