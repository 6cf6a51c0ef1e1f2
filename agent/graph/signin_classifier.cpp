#include "agent/graph/signin_classifier.h"

#include <nlohmann/json.hpp>

namespace connguard::graph {

using snapshot::signin_outcome;

std::optional<signin_outcome> outcome_for_code(long code) { return snapshot::outcome_for_aadsts(code); }

namespace {

std::string string_field(const nlohmann::json& j, const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

/// Policy ids from the `claims` challenge: a JSON string {"access_token":{"capolids"|"polids":{"values":[...]}}}.
std::vector<std::string> policy_ids_from_claims(const nlohmann::json& body) {
    std::vector<std::string> ids;
    const auto it = body.find("claims");
    if (it == body.end()) return ids;
    nlohmann::json claims;
    if (it->is_string()) {
        claims = nlohmann::json::parse(it->get<std::string>(), nullptr, false);
    } else if (it->is_object()) {
        claims = *it;
    }
    if (!claims.is_object()) return ids;
    const auto at = claims.find("access_token");
    if (at == claims.end() || !at->is_object()) return ids;
    for (const char* key : {"capolids", "polids"}) {
        const auto p = at->find(key);
        if (p == at->end() || !p->is_object()) continue;
        const auto values = p->find("values");
        if (values == p->end() || !values->is_array()) continue;
        for (const auto& v : *values)
            if (v.is_string()) ids.push_back(v.get<std::string>());
        if (!ids.empty()) break;
    }
    return ids;
}

}  // namespace

snapshot::signin_result classify_token_response(long http_status, std::string_view body,
                                                const std::string& resource_app_id) {
    snapshot::signin_result r;
    r.resource_app_id = resource_app_id;
    r.outcome = signin_outcome::other;
    const auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
    if (!j.is_object()) {
        r.error = "unexpected_response";
        r.error_description = "token endpoint answered HTTP " + std::to_string(http_status) + " with a body that is not JSON";
        return r;
    }
    const auto codes = j.find("error_codes");
    if (codes != j.end() && codes->is_array() && !codes->empty()) {
        for (const auto& c : *codes)
            if (c.is_number_integer()) r.error_codes.push_back(c.get<int>());
    }
    r.error = string_field(j, "error");
    r.error_description = string_field(j, "error_description");
    if (r.error_codes.empty()) {
        if (http_status == 200 && j.contains("access_token") && j["access_token"].is_string() &&
            !j["access_token"].get<std::string>().empty()) {
            r.outcome = signin_outcome::success;
            r.error.clear();
            r.error_description.clear();
            return r;
        }
        if (r.error.empty()) r.error = "unexpected_response";
        r.error_description = "token endpoint answered HTTP " + std::to_string(http_status) +
                              " without error_codes" + (r.error_description.empty() ? "" : ": " + r.error_description);
        return r;
    }
    r.aadsts_code = r.error_codes.front();
    for (const int code : r.error_codes) {
        if (const auto o = outcome_for_code(code)) {
            r.outcome = *o;
            r.aadsts_code = code;
            break;
        }
    }
    r.policy_ids = policy_ids_from_claims(j);
    return r;
}

std::string scope_for_resource(const std::string& resource_app_id) {
    if (resource_app_id == "00000002-0000-0ff1-ce00-000000000000") return "https://outlook.office365.com/.default";
    if (resource_app_id == "00000003-0000-0000-c000-000000000000") return "https://graph.microsoft.com/.default";
    if (resource_app_id == "797f4846-ba00-4fd7-ba43-dac1f8f63013") return "https://management.azure.com/.default";
    return resource_app_id + "/.default";
}

}  // namespace connguard::graph
