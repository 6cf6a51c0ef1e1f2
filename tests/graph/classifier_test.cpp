// The AADSTS classifier of the sign-in probe: keyed on error_codes only, claims parsed as JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/graph/signin_classifier.h"

namespace {

using connguard::graph::classify_token_response;
using connguard::snapshot::signin_outcome;

std::string error_body(std::vector<long> codes, const std::string& error = "invalid_grant",
                       const std::string& description = "AADSTS: something\r\nTrace ID: x") {
    nlohmann::json j = {{"error", error}, {"error_description", description}, {"error_codes", codes},
                        {"timestamp", "2026-01-01 10:00:00Z"}, {"trace_id", "t"}, {"correlation_id", "c"}};
    return j.dump();
}

struct case_row {
    long code;
    signin_outcome outcome;
};

TEST(SigninClassifier, EveryDocumentedCodeMapsToItsClass) {
    const std::vector<case_row> rows = {
        {50076, signin_outcome::mfa_required},
        {50074, signin_outcome::mfa_required},
        {50079, signin_outcome::mfa_registration_required},
        {50072, signin_outcome::mfa_registration_required},
        {53003, signin_outcome::blocked_by_ca},
        {530035, signin_outcome::blocked_by_security_defaults},
        {53000, signin_outcome::control_required},
        {53001, signin_outcome::control_required},
        {53002, signin_outcome::control_required},
        {50126, signin_outcome::bad_credentials},
        {50053, signin_outcome::locked},
        {50057, signin_outcome::disabled},
        {50055, signin_outcome::password_expired},
        {50144, signin_outcome::password_expired},
        {50034, signin_outcome::not_found},
        {7000218, signin_outcome::app_misconfigured},
        {700016, signin_outcome::app_misconfigured},
        {7000215, signin_outcome::app_misconfigured},
        {7000222, signin_outcome::app_misconfigured},
        {700027, signin_outcome::app_misconfigured},
        {65001, signin_outcome::app_misconfigured},
    };
    for (const auto& row : rows) {
        const auto r = classify_token_response(400, error_body({row.code}), "app");
        EXPECT_EQ(r.outcome, row.outcome) << row.code;
        EXPECT_EQ(r.aadsts_code, row.code);
        EXPECT_EQ(r.resource_app_id, "app");
    }
}

TEST(SigninClassifier, DecidesOnCodesNotOnText) {
    // The error string and the description say "MFA", the code says wrong password: the code wins.
    const auto r = classify_token_response(
        400, error_body({50126}, "interaction_required", "AADSTS50076: you must use multi-factor authentication"), "a");
    EXPECT_EQ(r.outcome, signin_outcome::bad_credentials);
    // 53003 arrives with either error string.
    EXPECT_EQ(classify_token_response(400, error_body({53003}, "interaction_required"), "a").outcome,
              signin_outcome::blocked_by_ca);
    EXPECT_EQ(classify_token_response(400, error_body({53003}, "invalid_grant"), "a").outcome,
              signin_outcome::blocked_by_ca);
    // 50053 comes as unauthorized_client.
    EXPECT_EQ(classify_token_response(400, error_body({50053}, "unauthorized_client"), "a").outcome,
              signin_outcome::locked);
}

TEST(SigninClassifier, SeveralCodesUseTheFirstKnownOne) {
    // graph.md: the federated ROPC failure carries [70002, 50126].
    const std::string body =
        R"({"error":"invalid_grant","error_description":"AADSTS70002: Error validating credentials. AADSTS50126: Invalid username or password\r\nTrace ID: ...","error_codes":[70002,50126],"timestamp":"2019-01-28 17:49:58Z","trace_id":"...","correlation_id":"..."})";
    const auto r = classify_token_response(400, body, "a");
    EXPECT_EQ(r.outcome, signin_outcome::bad_credentials);
    EXPECT_EQ(r.aadsts_code, 50126);
    EXPECT_EQ(r.error_codes, (std::vector<int>{70002, 50126}));
}

TEST(SigninClassifier, UnknownCodeIsOtherWithTheCodeAndText) {
    const auto r = classify_token_response(400, error_body({90072}, "invalid_grant", "AADSTS90072: external"), "a");
    EXPECT_EQ(r.outcome, signin_outcome::other);
    EXPECT_EQ(r.aadsts_code, 90072);
    EXPECT_EQ(r.error, "invalid_grant");
    EXPECT_NE(r.error_description.find("AADSTS90072"), std::string::npos);
}

TEST(SigninClassifier, PolicyIdsFromCapolidsAndPolidsClaims) {
    const std::string capolids =
        R"({"error":"invalid_grant","error_description":"AADSTS53003: Access has been blocked by Conditional Access policies.","error_codes":[53003],"suberror":"message_only","claims":"{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"01234567-89ab-cdef-fedc-ba9876543210\",\"11111111-2222-3333-4444-555555555555\"]}}}"})";
    auto r = classify_token_response(400, capolids, "a");
    EXPECT_EQ(r.outcome, signin_outcome::blocked_by_ca);
    EXPECT_EQ(r.policy_ids,
              (std::vector<std::string>{"01234567-89ab-cdef-fedc-ba9876543210", "11111111-2222-3333-4444-555555555555"}));

    const std::string polids =
        R"({"error":"interaction_required","error_description":"AADSTS50079: enroll","error_codes":[50079],"claims":"{\"access_token\":{\"polids\":{\"essential\":true,\"values\":[\"9ab03e19-ed42-4168-b6b7-7001fb3e933a\"]}}}"})";
    r = classify_token_response(400, polids, "a");
    EXPECT_EQ(r.outcome, signin_outcome::mfa_registration_required);
    EXPECT_EQ(r.policy_ids, (std::vector<std::string>{"9ab03e19-ed42-4168-b6b7-7001fb3e933a"}));

    // Malformed claims are ignored, not a crash.
    const std::string bad = R"({"error":"invalid_grant","error_codes":[53003],"claims":"{not json"})";
    r = classify_token_response(400, bad, "a");
    EXPECT_EQ(r.outcome, signin_outcome::blocked_by_ca);
    EXPECT_TRUE(r.policy_ids.empty());
}

TEST(SigninClassifier, SuccessNeedsAnAccessToken) {
    auto r = classify_token_response(200, R"({"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0"})", "a");
    EXPECT_EQ(r.outcome, signin_outcome::success);
    EXPECT_EQ(r.aadsts_code, 0);
    r = classify_token_response(200, R"({"token_type":"Bearer"})", "a");
    EXPECT_EQ(r.outcome, signin_outcome::other);
    EXPECT_EQ(r.error, "unexpected_response");
}

TEST(SigninClassifier, GarbageIsOtherNeverSuccess) {
    for (const std::string& body : {std::string(""), std::string("<html>502 Bad Gateway</html>"),
                                   std::string(R"({"access_token":"x",)"), std::string("[]")}) {
        for (long status : {200L, 400L, 502L}) {
            const auto r = classify_token_response(status, body, "a");
            EXPECT_EQ(r.outcome, signin_outcome::other) << status << " " << body;
            EXPECT_FALSE(r.error.empty());
        }
    }
}

TEST(SigninClassifier, ScopeForWellKnownResources) {
    using connguard::graph::scope_for_resource;
    EXPECT_EQ(scope_for_resource("00000002-0000-0ff1-ce00-000000000000"), "https://outlook.office365.com/.default");
    EXPECT_EQ(scope_for_resource("00000003-0000-0000-c000-000000000000"), "https://graph.microsoft.com/.default");
    EXPECT_EQ(scope_for_resource("797f4846-ba00-4fd7-ba43-dac1f8f63013"), "https://management.azure.com/.default");
    EXPECT_EQ(scope_for_resource("0f698dd4-f011-4d23-a33e-b36416dcb1e6"), "0f698dd4-f011-4d23-a33e-b36416dcb1e6/.default");
}

}  // namespace
