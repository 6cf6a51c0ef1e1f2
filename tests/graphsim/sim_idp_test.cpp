// The real connguard-graph-sim with --idp (README "Sign-in (IdP)"): the parts the console's OIDC client
// does not exercise (tests/coordinator/oidc_sim_test.cpp does the happy path and the id_token faults):
// Entra's token errors of the code grant, the loopback redirect rule, escaping on the sign-in page,
// prompt=login, the admin view without secrets, and the scenario tenants' grants still working.
#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "common/http/http_server.h"

#include "tests/graphsim/sim_test_util.h"

namespace connguard::test::sim {
namespace {

const std::string idp_file = std::string(CONNGUARD_SOURCE_DIR) + "/tools/graph-sim/idp/msp.json";
const std::string msp_tenant = "0c9f3a1e-7b2d-4e5f-8a6b-3c4d5e6f7a80";
const std::string console_app = "c0c0a5e1-2b3c-4d5e-8f60-7a8b9c0d1e2f";
const std::string console_secret = "sim-console-secret~not-a-real-secret";
const std::string verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";  // RFC 7636 appendix B
const std::string challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

std::map<std::string, std::string> location_query(const raw_http_response& r) {
    std::map<std::string, std::string> out;
    const std::string loc = r.header("Location");
    const auto q = loc.find('?');
    if (q == std::string::npos) return out;
    for (auto& [k, v] : http::parse_form(loc.substr(q + 1))) out[k] = v;
    return out;
}

class sim_idp : public ::testing::Test {
protected:
    graph_sim sim{scenarios_dir, {}, {"--idp", idp_file}};

    std::vector<std::pair<std::string, std::string>> authorize_fields(const std::string& redirect_uri,
                                                                      const std::string& state = "st-1") {
        return {{"client_id", console_app}, {"redirect_uri", redirect_uri}, {"response_type", "code"},
                {"scope", "openid profile"}, {"state", state}, {"nonce", "n-1"},
                {"code_challenge", challenge}, {"code_challenge_method", "S256"}};
    }
    raw_http_response authorize_get(const std::vector<std::pair<std::string, std::string>>& f,
                                    const std::vector<std::pair<std::string, std::string>>& headers = {}) {
        return raw_http(sim.port(), "GET", "/" + msp_tenant + "/oauth2/v2.0/authorize?" + form(f), "", headers);
    }
    /// Signs alice in through the form's POST: the 302.
    raw_http_response sign_in(const std::string& redirect_uri, const std::string& password = "connguard-demo") {
        auto f = authorize_fields(redirect_uri);
        f.emplace_back("username", "alice@msp.example");
        f.emplace_back("password", password);
        return raw_http(sim.port(), "POST", "/" + msp_tenant + "/oauth2/v2.0/authorize", form(f),
                        {{"Content-Type", "application/x-www-form-urlencoded"}});
    }
    raw_http_response redeem(const std::string& code, const std::string& redirect_uri, const std::string& secret = console_secret,
                             const std::string& code_verifier = verifier) {
        return token_request(sim, msp_tenant, {{"grant_type", "authorization_code"}, {"client_id", console_app},
                                               {"client_secret", secret}, {"code", code}, {"redirect_uri", redirect_uri},
                                               {"code_verifier", code_verifier}});
    }
};

TEST_F(sim_idp, loopback_redirect_ignores_the_port_and_the_code_grant_answers_like_entra) {
    const std::string redirect = "http://127.0.0.1:51234/auth/callback";  // registered with :8080
    auto r = sign_in(redirect);
    ASSERT_EQ(r.status, 302) << r.body;
    const auto q = location_query(r);
    EXPECT_EQ(q.at("state"), "st-1");
    EXPECT_NE(r.header("Set-Cookie").find("ESTSAUTH="), std::string::npos);
    EXPECT_NE(r.header("Set-Cookie").find("HttpOnly"), std::string::npos);

    expect_aad_error(redeem(q.at("code"), redirect, "wrong-secret"), 401, "invalid_client", 7000215);
    // The failed attempt did not reach the code; a good one with Basic client authentication works.
    auto ok = raw_http(sim.port(), "POST", "/" + msp_tenant + "/oauth2/v2.0/token",
                  form({{"grant_type", "authorization_code"}, {"code", q.at("code")}, {"redirect_uri", redirect},
                        {"code_verifier", verifier}}),
                  {{"Content-Type", "application/x-www-form-urlencoded"},
                   {"Authorization", "Basic " + base64_encode(console_app + ":" + enc(console_secret))}});
    ASSERT_EQ(ok.status, 200) << ok.body;
    const json b = body_json(ok);
    EXPECT_EQ(b.value("token_type", ""), "Bearer");
    EXPECT_FALSE(b.value("id_token", "").empty());
    EXPECT_FALSE(b.value("access_token", "").empty());
    EXPECT_EQ(ok.header("Cache-Control"), "no-store, no-cache");
    expect_aad_error(redeem(q.at("code"), redirect), 400, "invalid_grant", 54005);
}

TEST_F(sim_idp, code_grant_refusals) {
    const std::string redirect = "http://localhost:8080/auth/callback";
    auto code = [&] { return location_query(sign_in(redirect)).at("code"); };
    expect_aad_error(redeem(code(), "http://localhost:8080/other"), 400, "invalid_grant", 500112);
    expect_aad_error(redeem(code(), redirect, console_secret, verifier + "x"), 400, "invalid_grant", 501481);
    expect_aad_error(redeem("0.SIMnot-a-code", redirect), 400, "invalid_grant", 9002313);
    expect_aad_error(token_request(sim, msp_tenant, {{"grant_type", "client_credentials"}, {"client_id", console_app},
                                                     {"client_secret", console_secret}, {"scope", "x/.default"}}),
                     400, "unsupported_grant_type", 70003);
}

TEST_F(sim_idp, unregistered_redirect_is_an_error_page_and_nothing_is_redirected) {
    auto r = authorize_get(authorize_fields("http://evil.example:8080/auth/callback"));
    EXPECT_EQ(r.status, 400);
    EXPECT_TRUE(r.header("Location").empty());
    EXPECT_NE(r.body.find("AADSTS50011"), std::string::npos) << r.body;
    // A non-loopback registered URI needs its exact port.
    r = authorize_get(authorize_fields("https://console.msp.example:8443/auth/callback"));
    EXPECT_EQ(r.status, 400);
    r = authorize_get(authorize_fields("https://console.msp.example/auth/callback"));
    EXPECT_EQ(r.status, 200);
}

TEST_F(sim_idp, the_sign_in_page_escapes_what_the_request_carries) {
    const std::string evil = "\"><script>alert(1)</script>";
    auto r = authorize_get(authorize_fields("http://127.0.0.1:8080/auth/callback", evil));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body.find("<script>"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("name=\"username\""), std::string::npos);
    EXPECT_NE(r.body.find("type=\"submit\""), std::string::npos);
    // Wrong password: the form again with Entra's 50126 wording, no cookie.
    auto bad = sign_in("http://127.0.0.1:8080/auth/callback", "nope");
    EXPECT_EQ(bad.status, 200);
    EXPECT_NE(bad.body.find("AADSTS50126: Error validating credentials due to invalid username or password."), std::string::npos);
    EXPECT_TRUE(bad.header("Set-Cookie").empty());
}

TEST_F(sim_idp, prompt_login_shows_the_form_despite_the_session_and_prompt_none_needs_one) {
    const std::string redirect = "http://127.0.0.1:8080/auth/callback";
    auto none = authorize_get([&] { auto f = authorize_fields(redirect); f.emplace_back("prompt", "none"); return f; }());
    ASSERT_EQ(none.status, 302);
    EXPECT_EQ(location_query(none).at("error"), "login_required");
    const std::string set = sign_in(redirect).header("Set-Cookie");
    const std::string cookie = set.substr(0, set.find(';'));
    EXPECT_EQ(authorize_get(authorize_fields(redirect), {{"Cookie", cookie}}).status, 302);
    auto login = authorize_fields(redirect);
    login.emplace_back("prompt", "login");
    EXPECT_EQ(authorize_get(login, {{"Cookie", cookie}}).status, 200);
}

TEST_F(sim_idp, admin_view_has_no_secrets_and_the_hook_checks_its_fault) {
    std::string body;
    ASSERT_EQ(sim.admin("GET", "/_sim/idp", "", &body), 200);
    EXPECT_EQ(body.find("connguard-demo"), std::string::npos);
    EXPECT_EQ(body.find(console_secret), std::string::npos);
    EXPECT_NE(body.find("alice@msp.example"), std::string::npos);
    EXPECT_EQ(sim.admin("POST", "/_sim/idp/next-id-token", R"({"fault":"sideways"})", &body), 400);
    EXPECT_EQ(sim.admin("POST", "/_sim/idp/next-id-token", R"({"fault":"expired"})", &body), 200);
}

TEST_F(sim_idp, scenario_tenants_keep_their_grants) {
    EXPECT_FALSE(app_token(sim).empty());
    EXPECT_EQ(ropc(sim, healthy_tenant, healthy_app, "svc-connguard@" + healthy_domain, svc_password).status, 200);
}

TEST(sim_idp_config, a_bad_idp_file_is_refused_at_start) {
    temp_dir dir;
    const auto file = dir.path() / "idp.json";
    std::ofstream(file) << R"({"tenantId":"not-a-guid","peopl":[],"apps":[]})";
    EXPECT_THROW((graph_sim{scenarios_dir, {}, {"--idp", file.string()}}), std::runtime_error);
}

}  // namespace
}  // namespace connguard::test::sim
