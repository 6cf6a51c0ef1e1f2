// oidc_client against the real connguard-graph-sim with --idp tools/graph-sim/idp/msp.json: discovery,
// the authorize page and its sign-in form posted as a browser would (common/http client, redirects
// followed by hand, the SSO cookie carried by hand), the code redeemed, the id_token validated.
#include <chrono>
#include <fstream>
#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/http/http_client.h"
#include "common/http/http_server.h"
#include "coordinator/console/oidc.h"
#include "tests/support/graph_sim.h"
#include "tests/support/html_form.h"

namespace connguard::coord::console {
namespace {

using test::html_form;
using test::read_html_form;

using json = nlohmann::json;
using ::testing::HasSubstr;

const std::string idp_file = std::string(CONNGUARD_SOURCE_DIR) + "/tools/graph-sim/idp/msp.json";
const std::string scenarios = std::string(CONNGUARD_SOURCE_DIR) + "/tools/graph-sim/scenarios";

json msp() {
    std::ifstream in(idp_file);
    return json::parse(in, nullptr, true, true);
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::map<std::string, std::string> query_of(const std::string& url) {
    std::map<std::string, std::string> out;
    const auto q = url.find('?');
    if (q == std::string::npos) return out;
    for (auto& [k, v] : http::parse_form(url.substr(q + 1))) out[k] = v;
    return out;
}

class OidcAgainstSim : public ::testing::Test {
protected:
    OidcAgainstSim() : sim_(scenarios, {}, {"--idp", idp_file}) {}

    void SetUp() override {
        const json m = msp();
        tenant_ = m["tenantId"].get<std::string>();
        settings_.issuer = sim_.base_url() + "/" + tenant_ + "/v2.0";
        settings_.client_id = m["apps"][0]["clientId"].get<std::string>();
        settings_.client_secret = m["apps"][0]["clientSecret"].get<std::string>();
        // The registered loopback redirect URI; the sim ignores its port as Entra does for localhost.
        redirect_uri_ = "http://127.0.0.1:49152/auth/callback";
        idp_ = std::make_unique<oidc_client>(settings_, http_);
        auto st = idp_->discover();
        ASSERT_TRUE(st.ok()) << st.err().message;
    }

    http::response get(const std::string& url) {
        http::request rq;
        rq.url = url;
        if (!cookie_.empty()) rq.headers.emplace_back("Cookie", cookie_);
        auto r = browser_.perform(rq);
        EXPECT_TRUE(r.ok()) << r.err().message;
        return r.ok() ? *r : http::response{};
    }

    /// Posts the form with username/password filled in, as a browser would; remembers the SSO cookie.
    http::response post_form(const html_form& form, const std::string& user, const std::string& password) {
        std::vector<std::pair<std::string, std::string>> fields;
        for (const auto& [k, v] : form.fields) {
            if (k == "username") fields.emplace_back(k, user);
            else if (k == "password") fields.emplace_back(k, password);
            else fields.emplace_back(k, v);
        }
        http::request rq;
        rq.method = "POST";
        rq.url = sim_.base_url() + form.action;
        rq.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
        if (!cookie_.empty()) rq.headers.emplace_back("Cookie", cookie_);
        rq.body = http::form_encode(fields);
        auto r = browser_.perform(rq);
        EXPECT_TRUE(r.ok()) << r.err().message;
        if (!r.ok()) return {};
        if (const std::string set = r->header("Set-Cookie"); !set.empty()) cookie_ = set.substr(0, set.find(';'));
        return *r;
    }

    /// begin -> authorize page -> form -> 302 back: the callback's query.
    std::map<std::string, std::string> sign_in(const sign_in_start& start, const std::string& user) {
        const auto page = get(start.authorize_url);
        if (page.status == 302 && !cookie_.empty()) return query_of(page.header("Location"));  // SSO: no form
        EXPECT_EQ(page.status, 200) << page.body;
        const auto form = read_html_form(page.body);
        EXPECT_TRUE(form.has_value()) << page.body;
        if (!form) return {};
        const auto back = post_form(*form, user, "connguard-demo");
        EXPECT_EQ(back.status, 302) << back.body;
        EXPECT_EQ(back.header("Location").rfind(redirect_uri_ + "?", 0), 0u) << back.header("Location");
        return query_of(back.header("Location"));
    }

    std::map<std::string, std::string> sign_in_alice(const sign_in_start& start) { return sign_in(start, "alice@msp.example"); }

    void next_id_token(const std::string& fault) {
        std::string body;
        ASSERT_EQ(sim_.admin("POST", "/_sim/idp/next-id-token", json{{"fault", fault}}.dump(), &body), 200) << body;
    }

    test::graph_sim sim_;
    std::string tenant_;
    oidc_settings settings_;
    std::string redirect_uri_;
    http::client http_;     // the coordinator's
    http::client browser_;  // the person's
    std::string cookie_;    // the browser's cookie jar for the sim
    std::unique_ptr<oidc_client> idp_;
};

TEST_F(OidcAgainstSim, DiscoveryDocumentIsEntraShaped) {
    const auto r = get(settings_.issuer + "/.well-known/openid-configuration");
    ASSERT_EQ(r.status, 200);
    const json doc = json::parse(r.body);
    EXPECT_EQ(doc["issuer"], settings_.issuer);
    EXPECT_EQ(doc["authorization_endpoint"], sim_.base_url() + "/" + tenant_ + "/oauth2/v2.0/authorize");
    EXPECT_EQ(doc["token_endpoint"], sim_.base_url() + "/" + tenant_ + "/oauth2/v2.0/token");
    EXPECT_EQ(doc["jwks_uri"], sim_.base_url() + "/" + tenant_ + "/discovery/v2.0/keys");
    EXPECT_EQ(doc["id_token_signing_alg_values_supported"], json::array({"RS256"}));
    EXPECT_EQ(doc["code_challenge_methods_supported"], json::array({"S256"}));
    const json keys = json::parse(get(doc["jwks_uri"].get<std::string>()).body);
    ASSERT_EQ(keys["keys"].size(), 1u);
    EXPECT_EQ(keys["keys"][0]["kty"], "RSA");
    EXPECT_EQ(keys["keys"][0]["use"], "sig");
    EXPECT_EQ(keys["keys"][0]["alg"], "RS256");
    EXPECT_FALSE(keys["keys"][0]["kid"].get<std::string>().empty());
}

TEST_F(OidcAgainstSim, AliceSignsInAndComesBackWithHerRoles) {
    const auto start = idp_->begin(redirect_uri_, std::nullopt);
    EXPECT_THAT(start.authorize_url, HasSubstr("code_challenge_method=S256"));
    const auto page = get(start.authorize_url);
    ASSERT_EQ(page.status, 200);
    const auto form = read_html_form(page.body);
    ASSERT_TRUE(form);
    EXPECT_TRUE(form->has_input("username"));
    EXPECT_TRUE(form->has_input("password"));
    EXPECT_THAT(page.body, HasSubstr("<button type=\"submit\""));
    const auto back = post_form(*form, "alice@msp.example", "connguard-demo");
    ASSERT_EQ(back.status, 302) << back.body;
    const auto q = query_of(back.header("Location"));
    EXPECT_EQ(q.at("state"), start.pending.state);
    const auto t0 = unix_now();
    auto claims = idp_->finish(q.at("code"), start.pending, unix_now());
    ASSERT_TRUE(claims.ok()) << claims.err().code << ": " << claims.err().message;
    EXPECT_EQ(claims->upn, "alice@msp.example");
    EXPECT_EQ(claims->object_id, "a11ce000-0000-4000-8000-000000000001");
    EXPECT_EQ(claims->tenant_id, tenant_);
    EXPECT_EQ(claims->name, "Alice Approver");
    EXPECT_EQ(claims->roles, std::vector<std::string>{"ConnGuard.Approver"});
    EXPECT_EQ(claims->groups, std::vector<std::string>{"9a0b1c2d-0000-4000-8000-0000000000a1"});
    EXPECT_LE(std::abs(claims->auth_time_s - t0), 5);
    EXPECT_GT(claims->expires_s, t0);
}

TEST_F(OidcAgainstSim, EveryDemoPersonHasTheirRole) {
    const std::map<std::string, std::string> want = {{"bob@msp.example", "ConnGuard.Approver"},
                                                     {"vera@msp.example", "ConnGuard.Viewer"},
                                                     {"adam@msp.example", "ConnGuard.Admin"}};
    for (const auto& [upn, role] : want) {
        cookie_.clear();
        const auto start = idp_->begin(redirect_uri_, std::nullopt);
        const auto q = sign_in(start, upn);
        ASSERT_TRUE(q.count("code")) << upn;
        auto claims = idp_->finish(q.at("code"), start.pending, unix_now());
        ASSERT_TRUE(claims.ok()) << upn << ": " << claims.err().message;
        EXPECT_EQ(claims->upn, upn);
        EXPECT_EQ(claims->roles, std::vector<std::string>{role}) << upn;
    }
}

TEST_F(OidcAgainstSim, WrongPasswordShowsTheFormAgainWithTheError) {
    const auto start = idp_->begin(redirect_uri_, std::nullopt);
    const auto form = read_html_form(get(start.authorize_url).body);
    ASSERT_TRUE(form);
    const auto again = post_form(*form, "alice@msp.example", "not-her-password");
    EXPECT_EQ(again.status, 200);
    EXPECT_THAT(again.body, HasSubstr("AADSTS50126"));
    EXPECT_THAT(again.body, HasSubstr("invalid username or password"));
    const auto form2 = read_html_form(again.body);
    ASSERT_TRUE(form2);
    EXPECT_TRUE(form2->has_input("password"));
    EXPECT_TRUE(cookie_.empty()) << "no SSO session after a failed sign-in";
    // The form still carries the request: the right password now works.
    const auto back = post_form(*form2, "alice@msp.example", "connguard-demo");
    ASSERT_EQ(back.status, 302);
    EXPECT_TRUE(idp_->finish(query_of(back.header("Location")).at("code"), start.pending, unix_now()).ok());
}

TEST_F(OidcAgainstSim, ACodeIsRedeemedOnce) {
    const auto start = idp_->begin(redirect_uri_, std::nullopt);
    const auto q = sign_in_alice(start);
    ASSERT_TRUE(idp_->finish(q.at("code"), start.pending, unix_now()).ok());
    auto again = idp_->finish(q.at("code"), start.pending, unix_now());
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.err().code, "oidc.token");
    EXPECT_THAT(again.err().message, HasSubstr("invalid_grant"));
    EXPECT_THAT(again.err().message, HasSubstr("AADSTS54005"));
    EXPECT_EQ(again.err().message.find(q.at("code")), std::string::npos) << "the code must not be in the message";
}

TEST_F(OidcAgainstSim, AWrongCodeVerifierIsRefused) {
    const auto start = idp_->begin(redirect_uri_, std::nullopt);
    const auto q = sign_in_alice(start);
    pending_sign_in wrong = start.pending;
    wrong.code_verifier = idp_->begin(redirect_uri_, std::nullopt).pending.code_verifier;
    auto r = idp_->finish(q.at("code"), wrong, unix_now());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, "oidc.token");
    EXPECT_THAT(r.err().message, HasSubstr("AADSTS501481"));
}

TEST_F(OidcAgainstSim, AWrongClientSecretIsRefused) {
    const auto start = idp_->begin(redirect_uri_, std::nullopt);
    const auto q = sign_in_alice(start);
    oidc_settings bad = settings_;
    bad.client_secret = "not-the-secret";
    oidc_client other(bad, http_);
    ASSERT_TRUE(other.discover().ok());
    auto r = other.finish(q.at("code"), start.pending, unix_now());
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.err().message, HasSubstr("invalid_client"));
    EXPECT_THAT(r.err().message, HasSubstr("AADSTS7000215"));
    EXPECT_EQ(r.err().message.find("not-the-secret"), std::string::npos);
}

TEST_F(OidcAgainstSim, DefectiveIdTokensAreRefusedWithTheMatchingCode) {
    const std::vector<std::pair<std::string, std::string>> faults = {{"expired", "oidc.expired"},
                                                                     {"wrong_audience", "oidc.audience"},
                                                                     {"wrong_issuer", "oidc.issuer"},
                                                                     {"bad_signature", "oidc.signature"},
                                                                     {"replay_nonce", "oidc.nonce"}};
    for (const auto& [fault, code] : faults) {
        const auto start = idp_->begin(redirect_uri_, std::nullopt);
        const auto q = sign_in_alice(start);  // SSO after the first round: no form, straight back
        ASSERT_TRUE(q.count("code")) << fault;
        next_id_token(fault);
        auto r = idp_->finish(q.at("code"), start.pending, unix_now());
        ASSERT_FALSE(r.ok()) << fault << " was accepted";
        EXPECT_EQ(r.err().code, code) << fault << ": " << r.err().message;
        // The fault is spent: the next sign-in is good again.
        const auto start2 = idp_->begin(redirect_uri_, std::nullopt);
        const auto q2 = query_of(get(start2.authorize_url).header("Location"));
        ASSERT_TRUE(q2.count("code")) << fault;
        auto ok = idp_->finish(q2.at("code"), start2.pending, unix_now());
        EXPECT_TRUE(ok.ok()) << fault << ": " << ok.err().message;
    }
}

TEST_F(OidcAgainstSim, SsoSkipsTheFormUnlessMaxAgeAsksForAFreshSignIn) {
    const auto first = idp_->begin(redirect_uri_, std::nullopt);
    const auto q1 = sign_in_alice(first);
    auto c1 = idp_->finish(q1.at("code"), first.pending, unix_now());
    ASSERT_TRUE(c1.ok()) << c1.err().message;
    ASSERT_FALSE(cookie_.empty()) << "the sim sets its SSO cookie";

    // Without max_age: straight back with a code, no form; the same auth_time.
    const auto second = idp_->begin(redirect_uri_, std::nullopt);
    const auto r2 = get(second.authorize_url);
    ASSERT_EQ(r2.status, 302) << r2.body;
    const auto q2 = query_of(r2.header("Location"));
    EXPECT_EQ(q2.at("state"), second.pending.state);
    auto c2 = idp_->finish(q2.at("code"), second.pending, unix_now());
    ASSERT_TRUE(c2.ok()) << c2.err().message;
    EXPECT_EQ(c2->upn, "alice@msp.example");
    EXPECT_EQ(c2->auth_time_s, c1->auth_time_s);

    // max_age=0: the form again, and the new sign-in's auth_time passes the max_age check.
    const auto third = idp_->begin(redirect_uri_, 0);
    EXPECT_THAT(third.authorize_url, HasSubstr("max_age=0"));
    const auto r3 = get(third.authorize_url);
    EXPECT_EQ(r3.status, 200);
    ASSERT_TRUE(read_html_form(r3.body));
    const auto q3 = sign_in_alice(third);
    auto c3 = idp_->finish(q3.at("code"), third.pending, unix_now());
    EXPECT_TRUE(c3.ok()) << c3.err().message;

    // A generous max_age is satisfied by the session.
    const auto fourth = idp_->begin(redirect_uri_, 900);
    EXPECT_EQ(get(fourth.authorize_url).status, 302);
}

TEST_F(OidcAgainstSim, ANewSigningKeyIsFetchedOnceWhenTheKidIsUnknown) {
    // The simulator makes a new RSA key at every start: after a restart (same port, same issuer) the
    // client's JWKS is stale, and finish() refreshes it once instead of refusing.
    std::string before, after;
    ASSERT_EQ(sim_.admin("GET", "/_sim/idp", "", &before), 200);
    sim_.restart();
    ASSERT_EQ(sim_.admin("GET", "/_sim/idp", "", &after), 200);
    ASSERT_NE(json::parse(before)["kid"], json::parse(after)["kid"]);
    cookie_.clear();  // the sessions went with the old process
    const auto start = idp_->begin(redirect_uri_, std::nullopt);
    const auto q = sign_in_alice(start);
    auto claims = idp_->finish(q.at("code"), start.pending, unix_now());
    ASSERT_TRUE(claims.ok()) << claims.err().code << ": " << claims.err().message;
    EXPECT_EQ(claims->upn, "alice@msp.example");
}

TEST_F(OidcAgainstSim, AuthorizeRefusesAnUnregisteredRedirectWithAPageAndOtherErrorsAtTheClient) {
    auto start = idp_->begin("https://evil.example/auth/callback", std::nullopt);
    const auto page = get(start.authorize_url);
    EXPECT_EQ(page.status, 400);
    EXPECT_THAT(page.body, HasSubstr("AADSTS50011"));
    EXPECT_TRUE(page.header("Location").empty());

    // A trusted redirect without a PKCE challenge: the error goes back to the client.
    start = idp_->begin(redirect_uri_, std::nullopt);
    std::string url = start.authorize_url;
    const auto at = url.find("&code_challenge=");
    url.erase(at, url.find('&', at + 1) - at);
    const auto r = get(url);
    ASSERT_EQ(r.status, 302);
    const auto q = query_of(r.header("Location"));
    EXPECT_EQ(q.at("error"), "invalid_request");
    EXPECT_THAT(q.at("error_description"), HasSubstr("AADSTS900144"));
    EXPECT_EQ(q.at("state"), start.pending.state);
}

TEST_F(OidcAgainstSim, DiscoveryRefusesPlainHttpOffLoopbackAndAWrongIssuer) {
    oidc_settings s = settings_;
    s.issuer = "http://idp.example/" + tenant_ + "/v2.0";
    oidc_client remote(s, http_);
    auto st = remote.discover();
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.err().code, "oidc.discovery");
    EXPECT_THAT(st.err().message, HasSubstr("expected an https URL"));

    s.issuer = sim_.base_url() + "/" + tenant_ + "/v2.0/";  // discovery says it without the slash
    oidc_client slash(s, http_);
    st = slash.discover();
    ASSERT_FALSE(st.ok());
    EXPECT_THAT(st.err().message, HasSubstr("expected issuer"));
}

}  // namespace
}  // namespace connguard::coord::console
