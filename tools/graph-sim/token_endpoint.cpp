#include "tools/graph-sim/token_endpoint.h"

#include <ctime>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include <spdlog/spdlog.h>

#include "agent/whatif/evaluate.h"
#include "agent/whatif/sign_in.h"
#include "common/ids.h"
#include "common/text.h"
#include "tools/graph-sim/access_token.h"
#include "tools/graph-sim/crypto.h"
#include "tools/graph-sim/fault_injection.h"
#include "tools/graph-sim/sign_in_log.h"
#include "tools/graph-sim/sim_util.h"

namespace connguard::graph_sim {

using http::server_response;

// ---- Entra's wire format -----------------------------------------------------------------------

/// Entra's error timestamp: "2016-01-09 02:02:12Z".
std::string aad_timestamp() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
    return buf;
}

/// A token endpoint answer with Entra's headers.
server_response aad_json(const request_ctx& c, int status, const json& body) {
    server_response r;
    r.status = status;
    r.headers = {{"Content-Type", "application/json; charset=utf-8"},
                 {"Cache-Control", "no-store, no-cache"},
                 {"Pragma", "no-cache"},
                 {"Expires", "-1"},
                 {"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
                 {"X-Content-Type-Options", "nosniff"},
                 {"P3P", "CP=\"DSP CUR OTPi IND OTRi ONL FIN\""},
                 {"x-ms-request-id", c.request_id},
                 {"x-ms-ests-server", "2.1.19999.1 - SIM ProdSlices"},
                 {"Set-Cookie", "fpc=" + base64url_encode(random_bytes(12)) + "; expires=Thu, 01-Jan-2099 00:00:00 GMT; path=/; secure; HttpOnly; SameSite=None"},
                 {"Date", http_date()}};
    if (!c.client_request_id.empty()) r.headers.emplace_back("client-request-id", c.client_request_id);
    r.body = body.dump();
    return r;
}

/// Entra token endpoint error (graph.md §1.5): 400, or 401 for invalid_client.
server_response aad_error(const request_ctx& c, const std::string& error, std::vector<long> codes, const std::string& text,
                          json extra) {
    const std::string trace = c.request_id;
    const std::string corr = is_guid(c.client_request_id) ? c.client_request_id : new_uuid();
    const std::string ts = aad_timestamp();
    json body{{"error", error},
              {"error_description", text + "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + corr + "\r\nTimestamp: " + ts},
              {"error_codes", codes},
              {"timestamp", ts},
              {"trace_id", trace},
              {"correlation_id", corr},
              {"error_uri", "https://login.microsoftonline.com/error?code=" + std::to_string(codes.back())}};
    for (auto it = extra.begin(); it != extra.end(); ++it) body[it.key()] = it.value();
    return aad_json(c, error == "invalid_client" ? 401 : 400, body);
}

namespace {

// ---- request facts -----------------------------------------------------------------------------

/// The caller's IP address from "host:port" ("127.0.0.1:5000", "::1:5000").
std::string caller_ip(const std::string& remote) {
    const auto colon = remote.rfind(':');
    std::string ip = colon == std::string::npos ? remote : remote.substr(0, colon);
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    return ip;
}

bool is_loopback(const std::string& ip) { return ip.rfind("127.", 0) == 0 || ip == "::1" || ip.rfind("::ffff:127.", 0) == 0; }

/// Graph's clientAppUsed string for a conditionalAccessClientApp value.
std::string client_app_used(const std::string& type) {
    if (type == "mobileAppsAndDesktopClients") return "Mobile Apps and Desktop clients";
    if (type == "browser") return "Browser";
    if (type == "exchangeActiveSync") return "Exchange ActiveSync";
    return "Other clients";
}

/// Resource app id for a scope ("https://graph.microsoft.com/.default", "<appId>/.default", "User.Read").
std::string resource_for_scope(const std::string& scope_text, std::string& resource_uri) {
    static const std::set<std::string> oidc = {"openid", "profile", "offline_access", "email"};
    std::string first;
    std::size_t start = 0;
    while (start <= scope_text.size()) {
        const auto sp = scope_text.find(' ', start);
        const std::string s = scope_text.substr(start, sp == std::string::npos ? std::string::npos : sp - start);
        if (!s.empty() && !oidc.count(to_lower(s))) {
            first = s;
            break;
        }
        if (sp == std::string::npos) break;
        start = sp + 1;
    }
    if (first.empty()) {
        resource_uri = "https://graph.microsoft.com";
        return graph_app_id;
    }
    const auto scheme = first.find("://");
    std::string base = first;
    if (scheme != std::string::npos) {
        const auto slash = first.find('/', scheme + 3);
        base = slash == std::string::npos ? first : first.substr(0, slash);
    } else if (const auto slash = first.find('/'); slash != std::string::npos) {
        base = first.substr(0, slash);
    } else {
        // A bare permission name ("User.Read") means Microsoft Graph.
        resource_uri = "https://graph.microsoft.com";
        return graph_app_id;
    }
    resource_uri = base;
    static const std::map<std::string, std::string> known = {
        {"https://graph.microsoft.com", graph_app_id},
        {"https://outlook.office365.com", "00000002-0000-0ff1-ce00-000000000000"},
        {"https://outlook.office.com", "00000002-0000-0ff1-ce00-000000000000"},
        {"https://management.azure.com", "797f4846-ba00-4fd7-ba43-dac1f8f63013"},
        {"https://management.core.windows.net", "797f4846-ba00-4fd7-ba43-dac1f8f63013"},
        {"https://graph.windows.net", "00000002-0000-0000-c000-000000000000"},
    };
    auto it = known.find(to_lower(base));
    if (it != known.end()) return it->second;
    if (to_lower(base).find(".sharepoint.com") != std::string::npos) return "00000003-0000-0ff1-ce00-000000000000";
    return to_lower(base);
}

// ---- client authentication ---------------------------------------------------------------------

/// Checks the client's secret or certificate assertion (the app is known and a credential was
/// presented); the error answer when it fails.
std::optional<server_response> authenticate_client(const request_ctx& c, const simulator::tenant_state& t, const app& app_reg,
                                                   const query_map& form, const std::string& client_id,
                                                   const std::string& secret, const std::string& assertion) {
    const app* a = &app_reg;
    auto field = [&](const std::string& k) {
        auto it = form.find(k);
        return it == form.end() ? std::string() : it->second;
    };
    if (!secret.empty()) {
        if (!a->client_secret || *a->client_secret != secret)
            return aad_error(c, "invalid_client", {7000215},
                             "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is "
                             "the client secret value, not the client secret ID, for a secret added to app '" + a->app_id + "'.");
        if (a->client_secret_expired)
            return aad_error(c, "invalid_client", {7000222},
                             "AADSTS7000222: The provided client secret keys for app '" + a->app_id +
                                 "' are expired. Visit the Azure portal to create new keys for your app.");
    } else if (!assertion.empty()) {
        if (field("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            return aad_error(c, "invalid_request", {700023},
                             "AADSTS700023: Client assertion type is not supported. Use "
                             "'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.");
        auto bad = [&](const std::string& reason) {
            return aad_error(c, "invalid_client", {700027},
                             "AADSTS700027: Client assertion failed signature validation. [Reason - " + reason + "]");
        };
        const auto d1 = assertion.find('.');
        const auto d2 = d1 == std::string::npos ? d1 : assertion.find('.', d1 + 1);
        if (d2 == std::string::npos) return bad("The assertion is not a well-formed JWT.");
        auto hdr_raw = base64url_decode(assertion.substr(0, d1));
        auto pay_raw = base64url_decode(assertion.substr(d1 + 1, d2 - d1 - 1));
        auto sig = base64url_decode(assertion.substr(d2 + 1));
        if (!hdr_raw || !pay_raw || !sig) return bad("The assertion is not a well-formed JWT.");
        const json hdr = json::parse(*hdr_raw, nullptr, false);
        const json pay = json::parse(*pay_raw, nullptr, false);
        if (!hdr.is_object() || !pay.is_object()) return bad("The assertion is not a well-formed JWT.");
        const std::string alg = hdr.value("alg", std::string());
        if (alg != "PS256" && alg != "RS256") return bad("The signing algorithm '" + alg + "' is not supported (PS256, RS256).");
        const std::string x5t256 = hdr.value("x5t#S256", std::string());
        const std::string x5t = hdr.value("x5t", std::string());
        const certificate* cert = nullptr;
        for (const auto& ce : a->certificates)
            if ((!x5t256.empty() && ce.x5t_s256 == x5t256) || (x5t256.empty() && !x5t.empty() && ce.x5t == x5t)) cert = &ce;
        if (!cert)
            return bad("The key was not found., Thumbprint of key used by client: '" + (x5t256.empty() ? x5t : x5t256) +
                       "'. Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '" +
                       a->app_id + "'.");
        if (!verify_rsa_signature(*cert, alg, assertion.substr(0, d2), *sig)) return bad("The signature is invalid.");
        if (pay.value("iss", std::string()) != client_id || pay.value("sub", std::string()) != client_id)
            return aad_error(c, "invalid_client", {700021},
                             "AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter.");
        const std::string aud = pay.value("aud", std::string());
        const std::string want_path1 = "/" + t.sc.tenant_id + "/oauth2/v2.0/token";
        const std::string want_path2 = "/" + t.sc.domain + "/oauth2/v2.0/token";
        const auto ends_with = [&](const std::string& s) { return aud.size() >= s.size() && to_lower(aud.substr(aud.size() - s.size())) == s; };
        if (!(ends_with(want_path1) || ends_with(want_path2)) || aud.find("://") == std::string::npos)
            return aad_error(c, "invalid_client", {700027},
                             "AADSTS700027: Client assertion failed signature validation. [Reason - The audience '" + aud +
                                 "' is not the token endpoint of this tenant.]");
        const std::int64_t now = unix_now();
        const std::int64_t skew = 300;
        if (!pay.contains("exp") || !pay["exp"].is_number() || pay["exp"].get<std::int64_t>() + skew < now ||
            (pay.contains("nbf") && pay["nbf"].is_number() && pay["nbf"].get<std::int64_t>() - skew > now))
            return aad_error(c, "invalid_client", {700024},
                             "AADSTS700024: Client assertion is not within its valid time range.");
    }
    return std::nullopt;
}

// ---- ROPC --------------------------------------------------------------------------------------

/// The error answer of a ROPC sign-in that ends in AADSTS `code` (never 0).
server_response ropc_error(const request_ctx& c, long code, const std::string& username, const simulator::tenant_state& t,
                           const std::string& resource, const app& app_reg) {
    const app* a = &app_reg;
    switch (code) {
        case 50126:
            return aad_error(c, "invalid_grant", {70002, 50126},
                             "AADSTS70002: Error validating credentials. AADSTS50126: Invalid username or password");
        case 50053:
            return aad_error(c, "unauthorized_client", {50053},
                             "AADSTS50053: You've tried to sign in too many times with an incorrect user ID or password.");
        case 50057: return aad_error(c, "invalid_grant", {50057}, "AADSTS50057: The user account is disabled.");
        case 50055:
            return aad_error(c, "user_password_expired", {50055}, "AADSTS50055: Password is expired.",
                             {{"suberror", "user_password_expired"},
                              {"password_change_url", "https://portal.microsoftonline.com/ChangePassword.aspx"}});
        case 50144:
            return aad_error(c, "user_password_expired", {50144},
                             "AADSTS50144: User's Active Directory password has expired.",
                             {{"suberror", "user_password_expired"}});
        case 50034:
            return aad_error(c, "invalid_grant", {50034},
                             "AADSTS50034: The user account " + username + " does not exist in the " + t.sc.tenant_id + " directory.");
        case 50076:
        case 50074:
            return aad_error(c, "invalid_grant", {code},
                             "AADSTS" + std::to_string(code) +
                                 ": Due to a configuration change made by your administrator, or because you moved to a new "
                                 "location, you must use multi-factor authentication to access '" + resource + "'.",
                             {{"suberror", "basic_action"}});
        case 50079:
        case 50072:
            return aad_error(c, "interaction_required", {code},
                             "AADSTS" + std::to_string(code) +
                                 ": Due to a configuration change made by your administrator, or because you moved to a new "
                                 "location, you must enroll in multi-factor authentication to access '" + resource + "'.",
                             {{"suberror", "basic_action"}});
        case 530035:
            return aad_error(c, "invalid_grant", {530035},
                             "AADSTS530035: Access has been blocked by security defaults. This is due to the request using "
                             "legacy auth or being deemed unsafe by security defaults policies.",
                             {{"suberror", "message_only"}});
        case 53000:
            return aad_error(c, "invalid_grant", {53000},
                             "AADSTS53000: Device is not in required device state: compliant. Conditional Access policy "
                             "requires a compliant device, and the device is not compliant.",
                             {{"suberror", "message_only"}});
        case 53001:
            return aad_error(c, "invalid_grant", {53001},
                             "AADSTS53001: Device is not in required device state: domain_joined. Conditional Access policy "
                             "requires a domain joined device, and the device is not domain joined.",
                             {{"suberror", "message_only"}});
        case 53002:
            return aad_error(c, "invalid_grant", {53002},
                             "AADSTS53002: Application used is not an approved application. Conditional Access policy "
                             "requires an approved client application.",
                             {{"suberror", "message_only"}});
        case 53003:
            return aad_error(c, "invalid_grant", {53003},
                             "AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does "
                             "not allow token issuance.",
                             {{"suberror", "message_only"}});
        case 50158:
            return aad_error(c, "invalid_grant", {50158},
                             "AADSTS50158: External security challenge not satisfied. User will be redirected to another "
                             "page or authentication provider to satisfy additional authentication challenges.");
        case 53004:
            return aad_error(c, "interaction_required", {53004},
                             "AADSTS53004: Proof up required. The user needs to complete the multi-factor authentication "
                             "registration process before accessing this content; registration is blocked due to risk.",
                             {{"suberror", "basic_action"}});
        case 50131:
            return aad_error(c, "invalid_grant", {50131},
                             "AADSTS50131: Conditional Access failed. The request was blocked by a Conditional Access "
                             "decision (device state, suspicious activity, access policy or security policy).",
                             {{"suberror", "message_only"}});
        case 50105:
            return aad_error(c, "invalid_grant", {50105},
                             "AADSTS50105: Your administrator has configured the application " + a->display_name + " ('" +
                                 a->app_id +
                                 "') to block users unless they are specifically granted ('assigned') access to the "
                                 "application. The signed in user '{EmailHidden}' is blocked because they are not a direct "
                                 "member of a group with access, nor had access directly assigned by an administrator. "
                                 "Please contact your administrator to assign access to this application.");
        case 50135:
            return aad_error(c, "interaction_required", {50135},
                             "AADSTS50135: Password change is required due to account risk.",
                             {{"suberror", "user_password_expired"}});
        default:
            return aad_error(c, "invalid_grant", {code},
                             "AADSTS" + std::to_string(code) + ": Sign-in failed (simulated outcome override).");
    }
}

/// What the what-if engine's verdict makes of a ROPC sign-in with valid credentials.
struct ropc_decision {
    long code = 0;                       ///< 0: a token; else the AADSTS code
    bool name_policies = false;          ///< the answer names `policy_causes` in claims.capolids
    std::vector<std::string> policy_causes;  ///< the CA policies behind the verdict
};

ropc_decision decide_ropc(const simulator::tenant_state& t, const user& u, const whatif::evaluation& ev) {
    const auto& v = ev.result;
    ropc_decision d;
    bool by_sd = false;
    for (const auto& cause : v.causes) {
        if (cause == whatif::cause_security_defaults) by_sd = true;
        else if (cause != whatif::cause_per_user_mfa) d.policy_causes.push_back(cause);
    }
    switch (v.result) {
        case whatif::verdict_result::allowed:
            if (t.sc.security_defaults_enabled && t.sc.security_defaults_user_mfa) d.code = u.is_mfa_registered() ? 50076 : 50079;
            break;
        case whatif::verdict_result::mfa_required:
            d.code = 50076;
            d.name_policies = true;
            break;
        case whatif::verdict_result::mfa_registration_required:
            d.code = 50079;
            d.name_policies = true;
            break;
        case whatif::verdict_result::blocked:
            if (d.policy_causes.empty() && by_sd) {
                d.code = 530035;
            } else {
                d.code = 53003;
                d.name_policies = true;
            }
            break;
        case whatif::verdict_result::control_required: {
            long code = 53003;
            for (const auto& pid : d.policy_causes) {
                const whatif::policy* p = t.policies.find_parsed(pid);
                if (!p || !p->grant) continue;
                const auto& g = *p->grant;
                if (g.has("compliantDevice")) code = 53000;
                else if (g.has("domainJoinedDevice")) code = 53001;
                else if (g.has("approvedApplication") || g.has("compliantApplication")) code = 53002;
                if (code != 53003) break;
            }
            d.code = code;
            d.name_policies = true;
            break;
        }
    }
    return d;
}

/// Adds claims.capolids naming the policies to an error answer (none: unchanged).
server_response with_capolids(server_response r, const std::vector<std::string>& policy_causes) {
    if (policy_causes.empty()) return r;
    json body = json::parse(r.body);
    json claims{{"access_token", {{"capolids", {{"essential", true}, {"values", policy_causes}}}}}};
    body["claims"] = claims.dump();
    r.body = body.dump();
    return r;
}

/// The sign-in log entry of a ROPC answer (README "Sign-in logs"); `ev` when the engine evaluated it.
json ropc_sign_in_entry(const request_ctx& c, const simulator::tenant_state& t, const server_response& r, const user* u,
                        const std::string& username, const app& a, const std::string& resource, const std::string& remote_ip,
                        const whatif::evaluation* ev) {
    json status{{"errorCode", 0}, {"failureReason", nullptr}, {"additionalDetails", nullptr}};
    if (r.status != 200) {
        const json b = json::parse(r.body, nullptr, false);
        if (b.is_object() && b.contains("error_codes") && b["error_codes"].is_array() && !b["error_codes"].empty())
            status["errorCode"] = b["error_codes"].back();
        const std::string d = b.is_object() ? b.value("error_description", std::string()) : std::string();
        const auto colon = d.find(": ");
        const auto end = d.find("\r\n");
        if (colon != std::string::npos) status["failureReason"] = d.substr(colon + 2, end == std::string::npos ? end : end - colon - 2);
    }
    json e{{"userPrincipalName", u ? u->upn : username},
           {"appId", a.app_id},
           {"appDisplayName", a.display_name},
           {"resourceId", resource},
           {"ipAddress", remote_ip},
           {"clientAppUsed", client_app_used(t.sc.ropc_client_app_type)},
           {"correlationId", is_guid(c.client_request_id) ? c.client_request_id : new_uuid()},
           {"isInteractive", true},
           {"signInEventTypes", json::array({"interactiveUser"})},
           {"authenticationProtocol", "ropc"},
           {"authenticationRequirement", "singleFactorAuthentication"},
           {"status", status},
           {"location", {{"city", nullptr}, {"state", nullptr}, {"countryOrRegion", nullptr}, {"geoCoordinates", nullptr}}},
           {"deviceDetail", {{"deviceId", ""}, {"displayName", ""}, {"operatingSystem", ""}, {"browser", ""},
                             {"isCompliant", false}, {"isManaged", false}, {"trustType", ""}}},
           {"appliedConditionalAccessPolicies", ev ? applied_policies(t, *ev) : json::array()}};
    if (!u) e["userId"] = nullptr;
    return e;
}

}  // namespace

server_response handle_token_request(sim_handlers& sim, request_ctx& c, const std::string& tenant_key, std::string& log_tenant) {
    const auto& req = c.req;
    if (req.method != "POST")
        return aad_error(c, "invalid_request", {900561},
                         "AADSTS900561: The endpoint only accepts POST requests. Received a " + req.method + " request.");
    const auto form = parse_query(req.body);
    auto field = [&](const std::string& k) {
        auto it = form.find(k);
        return it == form.end() ? std::string() : it->second;
    };
    std::shared_ptr<simulator::tenant_state> tp;
    const std::string username = field("username");
    if (to_lower(tenant_key) == "organizations" && username.find('@') != std::string::npos) {
        tp = sim.find_tenant(username.substr(username.find('@') + 1));
    } else if (to_lower(tenant_key) == "common" || to_lower(tenant_key) == "consumers") {
        if (field("grant_type") == "password")
            return aad_error(c, "invalid_request", {9001023},
                             "AADSTS9001023: The grant type isn't supported over the /common or /consumers endpoints. "
                             "Please use the /organizations or tenant-specific endpoint.");
    }
    if (!tp) tp = sim.find_tenant(tenant_key);
    if (!tp)
        return aad_error(c, "invalid_request", {90002},
                         "AADSTS90002: Tenant '" + tenant_key +
                             "' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.");
    auto& t = *tp;
    std::lock_guard lock(t.mu);
    log_tenant = t.sc.tenant_id;
    ++t.count.total;
    ++t.count.token;
    fault_effect fx = roll_faults(t, c);
    if (fx.replace) {
        fx.replace->delay += fx.latency;
        return *fx.replace;
    }
    auto finish = [&](server_response r) {
        apply_body_fault(r, fx);
        return r;
    };

    const std::string grant = field("grant_type");
    if (grant.empty())
        return finish(aad_error(c, "invalid_request", {900144},
                                "AADSTS900144: The request body must contain the following parameter: 'grant_type'."));
    std::string client_id = field("client_id");
    std::string secret = field("client_secret");
    // HTTP Basic client authentication (RFC 6749 §2.3.1) is accepted too.
    if (const std::string auth = req.header("Authorization"); to_lower(auth.substr(0, 6)) == "basic ") {
        if (auto dec = base64url_decode(auth.substr(6)); dec && dec->find(':') != std::string::npos) {
            client_id = http::percent_decode(dec->substr(0, dec->find(':')), true);
            secret = http::percent_decode(dec->substr(dec->find(':') + 1), true);
        }
    }
    if (client_id.empty())
        return finish(aad_error(c, "invalid_request", {900144},
                                "AADSTS900144: The request body must contain the following parameter: 'client_id'."));
    if (grant != "client_credentials" && grant != "password")
        return finish(aad_error(c, "unsupported_grant_type", {70003},
                                "AADSTS70003: The app requested an unsupported grant type '" + grant + "'."));
    const std::string scope = field("scope");
    if (scope.empty())
        return finish(aad_error(c, "invalid_request", {900144},
                                "AADSTS900144: The request body must contain the following parameter: 'scope'."));
    app* a = t.find_app(client_id);
    if (!a)
        return finish(aad_error(c, "unauthorized_client", {700016},
                                "AADSTS700016: Application with identifier '" + client_id + "' was not found in the directory '" +
                                    t.sc.display_name +
                                    "'. This can happen if the application has not been installed by the administrator of the "
                                    "tenant or consented to by any user in the tenant. You may have sent your authentication "
                                    "request to the wrong tenant."));

    // client authentication
    const std::string assertion = field("client_assertion");
    const bool has_credential = !secret.empty() || !assertion.empty();
    if (grant == "password" && a->public_client && has_credential)
        return finish(aad_error(c, "invalid_client", {700025},
                                "AADSTS700025: Client is public so neither 'client_assertion' nor 'client_secret' should be presented."));
    if (!has_credential && !(grant == "password" && a->public_client))
        return finish(aad_error(c, "invalid_client", {7000218},
                                "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'."));
    if (auto refused = authenticate_client(c, t, *a, form, client_id, secret, assertion)) return finish(std::move(*refused));

    const long lifetime = sim.options().token_lifetime;
    std::string resource_uri;
    const std::string resource = resource_for_scope(scope, resource_uri);
    const std::string aud = resource == graph_app_id ? "https://graph.microsoft.com" : resource_uri;
    if (grant == "client_credentials") {
        if (scope.find("/.default") == std::string::npos || scope.find(' ') != std::string::npos)
            return finish(aad_error(c, "invalid_scope", {1002012},
                                    "AADSTS1002012: The provided value for scope " + scope +
                                        " is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."));
        json body{{"token_type", "Bearer"},
                  {"expires_in", lifetime},
                  {"ext_expires_in", lifetime},
                  {"access_token", issue_access_token(sim.token_key(), t, a->app_id, aud, nullptr, a, lifetime)}};
        return finish(aad_json(c, 200, body));
    }

    // ROPC: every answer from here on is logged as an interactive sign-in (README "Sign-in logs").
    if (username.empty())
        return finish(aad_error(c, "invalid_request", {900144},
                                "AADSTS900144: The request body must contain the following parameter: 'username'."));
    user* u = t.find_user(username);
    const std::string remote_ip = caller_ip(req.remote);
    auto ropc_done = [&](server_response r, const whatif::evaluation* ev) {
        t.add_sign_in(fill_sign_in(t, ropc_sign_in_entry(c, t, r, u, username, *a, resource, remote_ip, ev)));
        return finish(r);
    };
    if (!u)
        return ropc_done(aad_error(c, "invalid_grant", {50034},
                                   "AADSTS50034: The user account " + username + " does not exist in the " + t.sc.tenant_id +
                                       " directory. To sign into this application, the account must be added to the directory."),
                         nullptr);
    auto refuse = [&](long code) { return ropc_done(ropc_error(c, code, username, t, resource, *a), nullptr); };
    if (u->sign_in_override && *u->sign_in_override != 0) return refuse(*u->sign_in_override);
    if (u->locked) return refuse(50053);
    if (field("password") != u->password || u->password.empty()) return refuse(50126);
    if (!u->account_enabled()) return refuse(50057);
    if (u->password_expired) return refuse(50055);

    // Conditional Access, Security Defaults and per-user MFA through the what-if engine.
    whatif::sign_in s;
    s.identity_kind = whatif::sign_in::identity::user;
    s.user_id = u->id;
    s.context_kind = whatif::sign_in::context::application;
    s.applications = {resource};
    s.client_app_type = t.sc.ropc_client_app_type;
    // A loopback caller is not an address Entra could see: no IP, so location conditions are unknown.
    if (!remote_ip.empty() && !is_loopback(remote_ip)) s.ip_address = remote_ip;
    const whatif::evaluation ev = whatif::evaluate(t.policies.parsed(), t.directory_for(u), s);
    spdlog::debug("tenant {}: ROPC for user {} to {}: what-if verdict {}", t.sc.tenant_id, u->id, resource,
                  whatif::to_string(ev.result.result));
    const ropc_decision decision = decide_ropc(t, *u, ev);
    if (decision.code != 0) {
        server_response r = ropc_error(c, decision.code, username, t, resource, *a);
        return ropc_done(decision.name_policies ? with_capolids(std::move(r), decision.policy_causes) : std::move(r), &ev);
    }

    // success
    std::string granted;
    bool offline = false, openid = false;
    {
        std::size_t start = 0;
        while (start <= scope.size()) {
            const auto sp = scope.find(' ', start);
            const std::string sc = scope.substr(start, sp == std::string::npos ? std::string::npos : sp - start);
            if (to_lower(sc) == "offline_access") offline = true;
            else if (to_lower(sc) == "openid") openid = true;
            if (!sc.empty() && to_lower(sc) != "offline_access") granted += (granted.empty() ? "" : " ") + sc;
            if (sp == std::string::npos) break;
            start = sp + 1;
        }
    }
    json body{{"token_type", "Bearer"},
              {"scope", granted},
              {"expires_in", lifetime},
              {"ext_expires_in", lifetime},
              {"access_token", issue_access_token(sim.token_key(), t, a->app_id, aud, u, a, lifetime)}};
    if (offline) body["refresh_token"] = "0.SIM." + base64url_encode(random_bytes(48));
    if (openid) {
        json idc{{"aud", a->app_id},
                 {"iss", "https://login.microsoftonline.com/" + t.sc.tenant_id + "/v2.0"},
                 {"iat", unix_now()},
                 {"nbf", unix_now()},
                 {"exp", unix_now() + 3600},
                 {"oid", u->id},
                 {"preferred_username", u->upn},
                 {"name", u->graph.value("displayName", u->upn)},
                 {"tid", t.sc.tenant_id},
                 {"ver", "2.0"}};
        body["id_token"] = base64url_encode(R"({"typ":"JWT","alg":"none"})") + "." + base64url_encode(idc.dump()) + ".";
    }
    return ropc_done(aad_json(c, 200, body), &ev);
}

}  // namespace connguard::graph_sim
