#include "agent/graph/detail/token_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "agent/graph/detail/wire.h"
#include "agent/graph/signin_classifier.h"
#include "common/log.h"

namespace connguard::graph::detail {

using nlohmann::json;

token_source::token_source(const graph_client_options& o, const connguard::clock& clk, transport& t)
    : o_(o), clock_(clk), transport_(t) {
    if (!o_.client_secret.empty()) log::add_secret(o_.client_secret);
}

void token_source::invalidate() {
    token_.clear();
    token_expires_ = {};
    token_renew_at_ = {};
}

result<http::response> token_source::post(const std::string& form, const std::string& what) {
    http::request req;
    req.method = "POST";
    req.url = o_.authority_url + "/" + segment(o_.azure_tenant_id) + "/oauth2/v2.0/token";
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
    req.body = form;
    req.timeout = o_.request_timeout;
    req.ca_file = o_.ca_file;
    req.cancelled = o_.cancelled;
    exchange x;
    x.where = "tenant " + o_.tenant_key + ": " + what + " (POST " + path_for_message(req.url) + ")";
    x.counter = &request_counters::token_requests;
    x.endpoint = "token";
    x.prepare = [&req]() -> result<http::request> { return req; };
    x.describe_failure = [](const http::response& r, bool) { return "HTTP " + std::to_string(r.status); };
    return transport_.send(x);
}

status token_source::add_credential(form_fields& fields, clock::time_point now) {
    if (!o_.certificate_file.empty()) {
        if (!certificate_pem_) {
            auto cert = read_text_file(o_.certificate_file, "certificate");
            if (!cert) return make_error(cert.err().code, "tenant " + o_.tenant_key + ": " + cert.err().message);
            certificate_pem_ = std::move(*cert);
        }
        if (!private_key_pem_) {
            if (!o_.private_key_pem.empty()) {
                private_key_pem_ = o_.private_key_pem;
            } else {
                auto key = read_text_file(o_.private_key_file, "private key");
                if (!key) return make_error(key.err().code, "tenant " + o_.tenant_key + ": " + key.err().message);
                private_key_pem_ = std::move(*key);
            }
        }
        assertion_params ap;
        ap.client_id = o_.client_id;
        ap.audience = o_.authority_url + "/" + o_.azure_tenant_id + "/oauth2/v2.0/token";
        ap.certificate_pem = *certificate_pem_;
        ap.private_key_pem = *private_key_pem_;
        ap.alg = o_.assertion_algorithm;
        ap.now = now;
        auto assertion = build_client_assertion(ap);
        if (!assertion)
            return make_error("graph.credential", "tenant " + o_.tenant_key + ": certificate " +
                                                      o_.certificate_file.string() + ": " + assertion.err().message);
        fields.emplace_back("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        fields.emplace_back("client_assertion", *assertion);
        return {};
    }
    if (!o_.client_secret.empty()) {
        fields.emplace_back("client_secret", o_.client_secret);
        return {};
    }
    return make_error("graph.credential",
                      "tenant " + o_.tenant_key + ": no app credential configured (client secret or certificate)");
}

result<std::string> token_source::access_token() {
    const auto now = clock_.now();
    if (!token_.empty() && now < token_renew_at_) return token_;
    if (refusal_) return *refusal_;

    form_fields fields{
        {"client_id", o_.client_id},
        {"scope", o_.graph_resource + "/.default"},
        {"grant_type", "client_credentials"},
    };
    if (auto st = add_credential(fields, now); !st) return st.err();

    auto resp = post(http::form_encode(fields), "app token for client " + o_.client_id);
    if (!resp) return resp.err();
    const json j = parse_json(resp->body);
    const std::string where = "tenant " + o_.tenant_key + ": app token for client " + o_.client_id;
    if (resp->status != 200) {
        std::string detail = "HTTP " + std::to_string(resp->status);
        if (j.is_object()) {
            if (!str(j, "error").empty()) detail += " " + str(j, "error");
            const std::string desc = first_line(str(j, "error_description"));
            if (desc.rfind("AADSTS", 0) != 0 && j.contains("error_codes") && j["error_codes"].is_array() &&
                !j["error_codes"].empty())
                detail += " AADSTS" + j["error_codes"][0].dump();
            if (!desc.empty()) detail += ": " + desc;
        }
        refusal_ = make_error("graph.token", log::redact(where + ": " + detail));
        return *refusal_;
    }
    const std::string token = str(j, "access_token");
    long long expires_in = 0;
    if (j.is_object() && j.contains("expires_in")) {
        const json& e = j["expires_in"];
        if (e.is_number_integer()) expires_in = e.get<long long>();
        else if (e.is_string()) expires_in = std::atoll(e.get<std::string>().c_str());
    }
    if (token.empty() || expires_in <= 0)
        return make_error("graph.token", where + ": token endpoint answered 200 without access_token/expires_in");
    // The token is never logged (and log redaction masks "Bearer ..." anyway); it is not added to
    // log::add_secret, whose list would grow by one entry per token for the life of the process.
    token_ = token;
    token_expires_ = now + std::chrono::seconds{expires_in};
    const auto margin = std::min<std::chrono::seconds>(o_.token_refresh_margin, std::chrono::seconds{expires_in / 2});
    token_renew_at_ = token_expires_ - margin;
    spdlog::debug("tenant {}: app token acquired ({} s)", o_.tenant_key, expires_in);
    return token_;
}

result<snapshot::signin_result> token_source::probe_signin(const probe_request& req) {
    log::add_secret(req.password);
    const std::string form = http::form_encode({
        {"client_id", req.client_id},
        {"scope", scope_for_resource(req.resource_app_id)},
        {"username", req.username},
        {"password", req.password},
        {"grant_type", "password"},
    });
    auto resp = post(form, "sign-in probe for " + req.username + " to " + req.resource_app_id);
    if (!resp) return resp.err();
    auto r = classify_token_response(resp->status, resp->body, req.resource_app_id);
    r.error_description = log::redact(r.error_description);
    spdlog::info("tenant {}: sign-in probe for {} to {}: {} (AADSTS {})", o_.tenant_key, req.username,
                 req.resource_app_id, snapshot::to_string(r.outcome), r.aadsts_code);
    return r;
}

}  // namespace connguard::graph::detail
