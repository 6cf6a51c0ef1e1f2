// The real connguard-graph-sim's token endpoint checked against graph.md §1 (payload shapes, status
// codes, headers, AADSTS codes) for client credentials (secret, certificate) and ROPC outcomes.
#include <gtest/gtest.h>

#include "tests/graphsim/sim_test_util.h"
#include "tests/support/process.h"

namespace connguard::test::sim {
namespace {

class sim_token : public ::testing::Test {
protected:
    graph_sim sim{scenarios_dir};
};

TEST_F(sim_token, client_credentials_success_has_the_documented_fields) {
    auto r = token_request(sim, healthy_tenant, {{"client_id", healthy_app}, {"scope", "https://graph.microsoft.com/.default"},
                                                 {"client_secret", healthy_secret}, {"grant_type", "client_credentials"}});
    ASSERT_EQ(r.status, 200) << r.body;
    const json b = body_json(r);
    EXPECT_EQ(b.value("token_type", ""), "Bearer");
    EXPECT_EQ(b.value("expires_in", 0), 3599);
    EXPECT_EQ(b.value("ext_expires_in", 0), 3599);
    EXPECT_FALSE(b.value("access_token", "").empty());
    EXPECT_FALSE(b.contains("refresh_token"));  // this flow never issues one
    EXPECT_EQ(r.header("Cache-Control"), "no-store, no-cache");
    // The domain works as the tenant segment too.
    auto by_domain = token_request(sim, healthy_domain, {{"client_id", healthy_app}, {"scope", "https://graph.microsoft.com/.default"},
                                                         {"client_secret", healthy_secret}, {"grant_type", "client_credentials"}});
    EXPECT_EQ(by_domain.status, 200) << by_domain.body;
}

TEST_F(sim_token, bad_secret_is_401_invalid_client_7000215) {
    auto r = token_request(sim, healthy_tenant, {{"client_id", healthy_app}, {"scope", "https://graph.microsoft.com/.default"},
                                                 {"client_secret", "wrong"}, {"grant_type", "client_credentials"}});
    const json b = expect_aad_error(r, 401, "invalid_client", 7000215);
    EXPECT_NE(b.value("error_description", "").find(healthy_app), std::string::npos);
    EXPECT_EQ(b.value("error_uri", ""), "https://login.microsoftonline.com/error?code=7000215");
}

TEST_F(sim_token, unknown_app_is_700016_and_unknown_tenant_is_90002) {
    auto r = token_request(sim, healthy_tenant, {{"client_id", "00000000-1111-2222-3333-444444444444"},
                                                 {"scope", "https://graph.microsoft.com/.default"},
                                                 {"client_secret", "x"}, {"grant_type", "client_credentials"}});
    expect_aad_error(r, 400, "unauthorized_client", 700016);
    auto t = token_request(sim, "nope.onmicrosoft.com", {{"client_id", healthy_app}, {"scope", "https://graph.microsoft.com/.default"},
                                                         {"client_secret", healthy_secret}, {"grant_type", "client_credentials"}});
    expect_aad_error(t, 400, "invalid_request", 90002);
}

TEST_F(sim_token, certificate_assertion_is_accepted_and_a_forged_one_refused) {
    const std::string cert = scenarios_dir + "/certs/connguard-demo.pem";
    const std::string thumb = cert_thumbprint(cert);
    const std::string aud = sim.base_url() + "/" + healthy_tenant + "/oauth2/v2.0/token";
    std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key(load_private_key(scenarios_dir + "/certs/connguard-demo.key"), &EVP_PKEY_free);
    ASSERT_TRUE(key);
    auto with_assertion = [&](const std::string& assertion) {
        return token_request(sim, healthy_tenant,
                             {{"client_id", healthy_app}, {"scope", "https://graph.microsoft.com/.default"},
                              {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                              {"client_assertion", assertion}, {"grant_type", "client_credentials"}});
    };
    for (const std::string alg : {"PS256", "RS256"}) {
        auto ok = with_assertion(make_assertion(key.get(), alg, thumb, assertion_claims(healthy_app, aud)));
        ASSERT_EQ(ok.status, 200) << alg << ": " << ok.body;
        EXPECT_EQ(body_json(ok).value("token_type", ""), "Bearer");
    }
    // The real login.microsoftonline.com audience is accepted too (an agent configured for Microsoft).
    auto ms_aud = with_assertion(make_assertion(key.get(), "PS256", thumb,
                                                assertion_claims(healthy_app, "https://login.microsoftonline.com/" + healthy_tenant + "/oauth2/v2.0/token")));
    EXPECT_EQ(ms_aud.status, 200) << ms_aud.body;

    // Forged: same thumbprint header, signed by another key.
    std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> other(generate_rsa_key(), &EVP_PKEY_free);
    auto forged = with_assertion(make_assertion(other.get(), "PS256", thumb, assertion_claims(healthy_app, aud)));
    expect_aad_error(forged, 401, "invalid_client", 700027);
    // Unknown certificate thumbprint.
    auto unknown = with_assertion(make_assertion(other.get(), "PS256", base64url_encode(std::string(32, 'x')), assertion_claims(healthy_app, aud)));
    expect_aad_error(unknown, 401, "invalid_client", 700027);
    // Tampered claims (signature no longer matches).
    std::string good = make_assertion(key.get(), "PS256", thumb, assertion_claims(healthy_app, aud));
    const auto d1 = good.find('.'), d2 = good.rfind('.');
    std::string tampered = good.substr(0, d1 + 1) + base64url_encode(assertion_claims(healthy_app, aud, 6000).dump()) + good.substr(d2);
    expect_aad_error(with_assertion(tampered), 401, "invalid_client", 700027);
    // Expired, wrong audience, iss/sub not the client id.
    expect_aad_error(with_assertion(make_assertion(key.get(), "PS256", thumb, assertion_claims(healthy_app, aud, -3600))), 401,
                     "invalid_client", 700024);
    expect_aad_error(with_assertion(make_assertion(key.get(), "PS256", thumb,
                                                   assertion_claims(healthy_app, "https://login.microsoftonline.com/other/oauth2/v2.0/token"))),
                     401, "invalid_client", 700027);
    expect_aad_error(with_assertion(make_assertion(key.get(), "PS256", thumb, assertion_claims(mfa_app, aud))), 401,
                     "invalid_client", 700021);
}

TEST_F(sim_token, ropc_success_returns_scope_and_tokens) {
    auto r = ropc(sim, healthy_tenant, healthy_app, "svc-connguard@" + healthy_domain, svc_password,
                  "https://graph.microsoft.com/.default openid offline_access");
    ASSERT_EQ(r.status, 200) << r.body;
    const json b = body_json(r);
    EXPECT_EQ(b.value("token_type", ""), "Bearer");
    EXPECT_NE(b.value("scope", "").find("https://graph.microsoft.com/.default"), std::string::npos);
    EXPECT_EQ(b.value("expires_in", 0), 3599);
    EXPECT_FALSE(b.value("access_token", "").empty());
    EXPECT_TRUE(b.contains("refresh_token"));  // offline_access requested
    EXPECT_TRUE(b.contains("id_token"));       // openid requested
}

TEST_F(sim_token, ropc_credential_and_account_outcomes_follow_the_documented_bodies) {
    const std::string svc = "svc-connguard@" + healthy_domain;
    // 50126 as in graph.md's example: error_codes [70002, 50126].
    auto bad = ropc(sim, healthy_tenant, healthy_app, svc, "wrong");
    json b = expect_aad_error(bad, 400, "invalid_grant", 70002);
    EXPECT_EQ(b["error_codes"], json::array({70002, 50126}));
    expect_aad_error(ropc(sim, healthy_tenant, healthy_app, "nobody@" + healthy_domain, "x"), 400, "invalid_grant", 50034);

    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + healthy_tenant + "/users/" + svc, R"({"locked":true})"), 200);
    expect_aad_error(ropc(sim, healthy_tenant, healthy_app, svc, svc_password), 400, "unauthorized_client", 50053);
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + healthy_tenant + "/users/" + svc, R"({"locked":false,"accountEnabled":false})"), 200);
    expect_aad_error(ropc(sim, healthy_tenant, healthy_app, svc, svc_password), 400, "invalid_grant", 50057);
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + healthy_tenant + "/users/" + svc, R"({"accountEnabled":true,"passwordExpired":true})"), 200);
    b = expect_aad_error(ropc(sim, healthy_tenant, healthy_app, svc, svc_password), 400, "user_password_expired", 50055);
    EXPECT_EQ(b.value("suberror", ""), "user_password_expired");
    EXPECT_FALSE(b.value("password_change_url", "").empty());
    // The override wins over everything the rules say.
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + healthy_tenant + "/users/" + svc,
                        R"({"passwordExpired":false,"signInOutcomeOverride":50158})"), 200);
    expect_aad_error(ropc(sim, healthy_tenant, healthy_app, svc, svc_password), 400, "invalid_grant", 50158);
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + healthy_tenant + "/users/" + svc, R"({"signInOutcomeOverride":null})"), 200);
    EXPECT_EQ(ropc(sim, healthy_tenant, healthy_app, svc, svc_password).status, 200);
    // A new password takes effect at once.
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + healthy_tenant + "/users/" + svc, R"({"password":"N3w-Passw0rd!"})"), 200);
    EXPECT_EQ(ropc(sim, healthy_tenant, healthy_app, svc, "N3w-Passw0rd!").status, 200);
    // An app that does not allow public client flows needs a secret: 7000218.
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + healthy_tenant + "/apps/" + healthy_app, R"({"publicClient":false})"), 200);
    expect_aad_error(ropc(sim, healthy_tenant, healthy_app, svc, "N3w-Passw0rd!"), 401, "invalid_client", 7000218);
    // One debug line per request, and no password, secret or token in any of them.
    const std::string log = slurp(sim.log_file().string());
    EXPECT_NE(log.find("POST /" + healthy_tenant + "/oauth2/v2.0/token"), std::string::npos);
    EXPECT_EQ(log.find(svc_password), std::string::npos);
    EXPECT_EQ(log.find("N3w-Passw0rd!"), std::string::npos);
    EXPECT_EQ(log.find(healthy_secret), std::string::npos);
    EXPECT_EQ(log.find("eyJ"), std::string::npos);
}

TEST_F(sim_token, ropc_policy_outcomes_come_from_the_what_if_engine) {
    // (b) the real "require MFA for all users" policy hits the connection account: 50076 + capolids.
    auto r = ropc(sim, mfa_tenant, mfa_app, "svc-connguard@" + mfa_domain, svc_password);
    json b = expect_aad_error(r, 400, "invalid_grant", 50076);
    EXPECT_EQ(b.value("suberror", ""), "basic_action");
    const json claims = json::parse(b.value("claims", "{}"));
    ASSERT_TRUE(claims.contains("access_token")) << b.dump();
    EXPECT_EQ(claims["access_token"]["capolids"]["values"], json::array({mfa_policy_id}));
    EXPECT_TRUE(claims["access_token"]["capolids"]["essential"].get<bool>());

    // Excluding the account from that policy (what the remediation does) lets it sign in.
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + mfa_tenant + "/policies/" + mfa_policy_id,
                        R"({"conditions":{"users":{"excludeUsers":["a1b2c3d4-0000-4000-8000-000000000021"]}}})"), 200);
    EXPECT_EQ(ropc(sim, mfa_tenant, mfa_app, "svc-connguard@" + mfa_domain, svc_password).status, 200);

    // A block policy: 53003 with the policy id.
    const std::string block = R"({"id":"0a0b0c0d-0000-4000-8000-00000000b10c","displayName":"Block everyone","state":"enabled",
        "conditions":{"clientAppTypes":["all"],"applications":{"includeApplications":["All"]},"users":{"includeUsers":["All"]}},
        "grantControls":{"operator":"OR","builtInControls":["block"]}})";
    ASSERT_EQ(sim.admin("POST", "/_sim/tenants/" + mfa_tenant + "/policies", block), 201);
    b = expect_aad_error(ropc(sim, mfa_tenant, mfa_app, "svc-connguard@" + mfa_domain, svc_password), 400, "invalid_grant", 53003);
    EXPECT_NE(b.value("claims", "").find("0a0b0c0d-0000-4000-8000-00000000b10c"), std::string::npos);
    // A compliant-device policy instead: 53000.
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + mfa_tenant + "/policies/0a0b0c0d-0000-4000-8000-00000000b10c",
                        R"({"grantControls":{"builtInControls":["compliantDevice"]}})"), 200);
    expect_aad_error(ropc(sim, mfa_tenant, mfa_app, "svc-connguard@" + mfa_domain, svc_password), 400, "invalid_grant", 53000);
    ASSERT_EQ(sim.admin("DELETE", "/_sim/tenants/" + mfa_tenant + "/policies/0a0b0c0d-0000-4000-8000-00000000b10c"), 204);
    EXPECT_EQ(ropc(sim, mfa_tenant, mfa_app, "svc-connguard@" + mfa_domain, svc_password).status, 200);

    // Per-user MFA enforced on an MFA-registered account: 50076.
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + mfa_tenant + "/users/svc-connguard@" + mfa_domain, R"({"perUserMfaState":"enforced"})"), 200);
    expect_aad_error(ropc(sim, mfa_tenant, mfa_app, "svc-connguard@" + mfa_domain, svc_password), 400, "invalid_grant", 50076);
}

TEST_F(sim_token, security_defaults_with_an_admin_account_and_legacy_clients) {
    // (c) Security Defaults on, account holds Global Administrator, not MFA-registered: 50079.
    json b = expect_aad_error(ropc(sim, sd_tenant, sd_app, "svc-connguard@" + sd_domain, svc_password), 400,
                              "interaction_required", 50079);
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + sd_tenant + "/users/svc-connguard@" + sd_domain, R"({"isMfaRegistered":true})"), 200);
    expect_aad_error(ropc(sim, sd_tenant, sd_app, "svc-connguard@" + sd_domain, svc_password), 400, "invalid_grant", 50076);
    // Removing the role clears it.
    ASSERT_EQ(sim.admin("DELETE", "/_sim/tenants/" + sd_tenant + "/users/svc-connguard@" + sd_domain +
                                      "/roles/62e90394-69f5-4237-9190-012177145e10"), 204);
    EXPECT_EQ(ropc(sim, sd_tenant, sd_app, "svc-connguard@" + sd_domain, svc_password).status, 200);
    // Turning Security Defaults off and on again through the admin API.
    ASSERT_EQ(sim.admin("PATCH", "/_sim/tenants/" + sd_tenant + "/security-defaults", R"({"isEnabled":false})"), 200);
    ASSERT_EQ(sim.admin("POST", "/_sim/tenants/" + sd_tenant + "/users/svc-connguard@" + sd_domain + "/roles",
                        R"({"roleDefinitionId":"62e90394-69f5-4237-9190-012177145e10"})"), 201);
    EXPECT_EQ(ropc(sim, sd_tenant, sd_app, "svc-connguard@" + sd_domain, svc_password).status, 200);
}

TEST(sim_token_legacy, security_defaults_block_legacy_clients_with_530035) {
    temp_dir dir;
    json s = json::parse(slurp(scenarios_dir + "/northwind-secdefaults.json"));
    s["ropcClientAppType"] = "exchangeActiveSync";  // the probe counts as a legacy client here
    for (auto& a : s["apps"]) a["certificateFile"] = scenarios_dir + "/certs/connguard-demo.pem";
    for (auto& u : s["users"]) u["roles"] = json::array();
    std::ofstream(dir.path() / "t.json") << s.dump();
    graph_sim sim(dir.path());
    const json b = expect_aad_error(ropc(sim, sd_tenant, sd_app, "svc-connguard@" + sd_domain, svc_password), 400,
                                    "invalid_grant", 530035);
    EXPECT_FALSE(b.contains("claims"));
}

}  // namespace
}  // namespace connguard::test::sim
