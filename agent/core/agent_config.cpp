#include "agent/core/agent_config.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/config.h"
#include "common/log.h"
#include "common/topics.h"

namespace connguard::agent {
namespace {

bool looks_like_url(const std::string& s) {
    return s.rfind("https://", 0) == 0 || s.rfind("http://", 0) == 0;
}

std::string strip_slash(std::string s) {
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
}

/// Reads a whole secret file (a PEM key) after the same permission check as read_secret_file.
result<std::string> read_whole_secret(const std::filesystem::path& p) {
    if (auto st = config::check_secret_file_permissions(p); !st) return st.err();
    std::ifstream in(p, std::ios::binary);
    if (!in) return make_error("config.secret_unreadable", p.string() + ": cannot open secret file");
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str().empty()) return make_error("config.secret_empty", p.string() + ": secret file is empty");
    return ss.str();
}

}  // namespace

result<tenant_config> load_tenant_config(const std::filesystem::path& file, const load_options& opts) {
    auto doc = config::load_file(file);
    if (!doc) return doc.err();
    config::reader r(*doc);
    tenant_config c;
    c.file = file;

    c.tenant_key = r.required_string("tenant");
    if (!c.tenant_key.empty() && !topics::valid_tenant_key(c.tenant_key))
        r.fail("tenant", "'" + c.tenant_key + "' is not a tenant key ([a-z0-9][a-z0-9-]{0,62})");
    c.azure_tenant_id = r.required_string("azureTenantId");

    c.client_id = r.required_string("app.clientId");
    c.client_secret_file = r.optional_path("app.clientSecretFile");
    c.certificate_file = r.optional_path("app.certificateFile");
    c.private_key_file = r.optional_path("app.privateKeyFile");
    const bool has_secret = !c.client_secret_file.empty();
    const bool has_cert = !c.certificate_file.empty() || !c.private_key_file.empty();
    if (has_secret && has_cert)
        r.fail("app", "give either clientSecretFile or certificateFile + privateKeyFile, not both");
    else if (!has_secret && !has_cert)
        r.fail("app", "missing credentials: clientSecretFile, or certificateFile + privateKeyFile");
    else if (has_cert && (c.certificate_file.empty() || c.private_key_file.empty()))
        r.fail(c.certificate_file.empty() ? "app.certificateFile" : "app.privateKeyFile",
               "missing (certificate auth needs both certificateFile and privateKeyFile)");

    c.account_upn = r.required_string("account.upn");
    if (!c.account_upn.empty() && c.account_upn.find('@') == std::string::npos)
        r.fail("account.upn", "'" + c.account_upn + "' is not a user principal name (user@domain)");
    c.account_password_file = r.optional_path("account.passwordFile");
    c.probe_enabled = r.optional_bool("account.probe", true);
    if (c.probe_enabled && c.account_password_file.empty())
        r.fail("account.passwordFile", "missing (the sign-in probe needs the account's password; set account.probe to false to skip it)");
    c.probe_client_id = r.optional_string("account.probeClientId", c.client_id);

    if (const auto* res = r.find("targets.resources")) {
        if (!res->is_array() || res->empty()) {
            r.fail("targets.resources", "must be a non-empty array of {\"appId\", \"name\"}");
        } else {
            for (std::size_t i = 0; i < res->size(); ++i) {
                const auto& item = (*res)[i];
                const std::string f = "targets.resources[" + std::to_string(i) + "]";
                if (!item.is_object() || !item.contains("appId") || !item["appId"].is_string() ||
                    item["appId"].get<std::string>().empty()) {
                    r.fail(f, "must be an object with a non-empty string appId");
                    continue;
                }
                r.reject_unknown_keys(item, f, {"appId", "name", "scopes"});
                target_resource t{item["appId"].get<std::string>(), item.value("name", item["appId"].get<std::string>()), {}};
                if (const auto sc = item.find("scopes"); sc != item.end()) {
                    bool ok = sc->is_array();
                    if (ok)
                        for (const auto& x : *sc) ok = ok && x.is_string();
                    if (!ok) r.fail(f + ".scopes", "must be an array of scope strings, e.g. [\"openid\", \"User.Read\"]");
                    else t.scopes = sc->get<std::vector<std::string>>();
                }
                c.resources.push_back(std::move(t));
            }
        }
    } else {
        c.resources = {{exchange_online_app_id, "Office 365 Exchange Online", {}},
                       {microsoft_graph_app_id, "Microsoft Graph", {}}};
    }
    c.client_app_type = r.optional_string("targets.clientAppType", c.client_app_type);
    static const std::vector<std::string> app_types = {"browser", "mobileAppsAndDesktopClients",
                                                       "exchangeActiveSync", "other"};
    if (std::find(app_types.begin(), app_types.end(), c.client_app_type) == app_types.end())
        r.fail("targets.clientAppType", "'" + c.client_app_type +
                                            "' is not one of browser, mobileAppsAndDesktopClients, exchangeActiveSync, other");
    // A legacy client type IS legacy authentication (graph.md §4 rule 13): derive one from the
    // other, and refuse a config that says both yes and no.
    const bool legacy_client = c.client_app_type == "exchangeActiveSync" || c.client_app_type == "other";
    if (r.find("targets.needsLegacyAuth") != nullptr) {
        c.needs_legacy_auth = r.optional_bool("targets.needsLegacyAuth", false);
        if (legacy_client && !c.needs_legacy_auth)
            r.fail("targets.needsLegacyAuth", "false contradicts targets.clientAppType '" + c.client_app_type +
                                                  "' (a legacy client is legacy authentication): set it to true or remove it");
    } else {
        c.needs_legacy_auth = legacy_client;
    }
    c.authentication_flow = r.optional_string("targets.authenticationFlow", c.authentication_flow);
    if (c.authentication_flow != "none" && c.authentication_flow != "deviceCodeFlow")
        r.fail("targets.authenticationFlow", "'" + c.authentication_flow + "' is not one of none, deviceCodeFlow");
    c.writes_azure_resource_manager = r.optional_bool("targets.writesAzureResourceManager", false);
    if (const auto* apps = r.find("targets.toolAppIds")) {
        bool ok = apps->is_array();
        if (ok)
            for (const auto& x : *apps) ok = ok && x.is_string() && !x.get<std::string>().empty();
        if (!ok) r.fail("targets.toolAppIds", "must be an array of app id strings");
        else c.tool_app_ids = apps->get<std::vector<std::string>>();
    }
    c.signin_log_enabled = r.optional_bool("signInLog.enabled", true);
    c.signin_log_window = std::chrono::hours{r.optional_int("signInLog.windowHours", 24, 1, 24 * 30)};
    c.engine_drift_enabled = r.optional_bool("engineDrift.enabled", true);
    c.engine_drift_interval = std::chrono::hours{r.optional_int("engineDrift.intervalHours", 24, 24, 24 * 30)};

    c.poll_interval = std::chrono::seconds{r.optional_int("poll.intervalSeconds", 300, 1, 86400)};
    c.poll_jitter = std::chrono::seconds{
        r.optional_int("poll.jitterSeconds", std::min<long long>(30, c.poll_interval.count() / 10), 0, 3600)};

    c.authority_url = strip_slash(r.optional_string("graph.authorityUrl", c.authority_url));
    c.graph_url = strip_slash(r.optional_string("graph.baseUrl", c.graph_url));
    if (!looks_like_url(c.authority_url)) r.fail("graph.authorityUrl", "must be an http(s) URL");
    if (!looks_like_url(c.graph_url)) r.fail("graph.baseUrl", "must be an http(s) URL");
    c.http_ca_file = r.optional_path("graph.caFile");
    c.graph_max_retries = static_cast<int>(r.optional_int("graph.maxRetries", 4, 0, 10));
    c.graph_retry_budget = static_cast<int>(r.optional_int("graph.retryBudget", 30, 0, 1000));
    c.ca_pacing = std::chrono::milliseconds{r.optional_int("graph.caPacingMs", 1000, 0, 60000)};
    c.request_timeout = std::chrono::milliseconds{r.optional_int("graph.requestTimeoutMs", 30000, 100, 300000)};

    if (opts.need_broker) {
        c.broker_url = r.required_string("broker.url");
        if (!c.broker_url.empty() && c.broker_url.rfind("tcp://", 0) != 0 && c.broker_url.rfind("ssl://", 0) != 0)
            r.fail("broker.url", "'" + c.broker_url + "' must start with tcp:// or ssl://");
        c.broker_username = r.optional_string("broker.username", c.tenant_key);
        if (c.broker_username != c.tenant_key)
            r.fail("broker.username", "must equal the tenant key '" + c.tenant_key +
                                          "' (the broker's ACL confines a tenant by username)");
        c.broker_password_file = r.required_path("broker.passwordFile");
        c.broker_ca_file = r.optional_path("broker.caFile");
        if (c.broker_url.rfind("ssl://", 0) == 0 && c.broker_ca_file.empty())
            r.fail("broker.caFile", "missing (needed for an ssl:// broker URL)");
        c.ingest_ack_timeout = std::chrono::seconds{r.optional_int("broker.ingestAckTimeoutSeconds", 30, 1, 3600)};
        c.max_unacked_messages =
            static_cast<std::size_t>(r.optional_int("broker.maxUnackedMessages", 10000, 10, 1000000));
    } else {
        r.allow("broker");  // a --once run does not publish; the section stays valid for the service
    }
    if (opts.need_state) {
        c.state_dir = r.required_path("stateDir");
    } else {
        c.state_dir = r.optional_path("stateDir");
    }

    r.reject_unknown_fields();
    if (!r.ok()) return make_error("config.invalid", r.error_text());

    // Secrets last: only for a config that is otherwise valid. Every failure names the file.
    std::vector<std::string> errs;
    auto secret = [&](const std::filesystem::path& p, const char* field, std::string& out) {
        if (p.empty()) return;
        auto s = config::read_secret_file(p);
        if (!s) {
            errs.push_back(file.string() + ": field '" + field + "': " + s.err().message);
            return;
        }
        out = *s;
        log::add_secret(out);
    };
    secret(c.client_secret_file, "app.clientSecretFile", c.client_secret);
    if (!c.private_key_file.empty()) {
        auto k = read_whole_secret(c.private_key_file);
        if (!k)
            errs.push_back(file.string() + ": field 'app.privateKeyFile': " + k.err().message);
        else
            c.private_key_pem = *k;
    }
    if (!c.certificate_file.empty() && !std::filesystem::exists(c.certificate_file))
        errs.push_back(file.string() + ": field 'app.certificateFile': " + c.certificate_file.string() +
                       ": file does not exist");
    if (c.probe_enabled) secret(c.account_password_file, "account.passwordFile", c.account_password);
    if (opts.need_broker) secret(c.broker_password_file, "broker.passwordFile", c.broker_password);
    if (!c.broker_ca_file.empty() && !std::filesystem::exists(c.broker_ca_file))
        errs.push_back(file.string() + ": field 'broker.caFile': " + c.broker_ca_file.string() + ": file does not exist");
    if (!errs.empty()) {
        std::string msg;
        for (const auto& e : errs) msg += (msg.empty() ? "" : "\n") + e;
        return make_error("config.secret", msg);
    }
    return c;
}

bool host_config::grants(const std::string& tenant_key) const {
    return std::find(tenants.begin(), tenants.end(), tenant_key) != tenants.end();
}

result<host_config> load_host_config(const std::filesystem::path& file) {
    auto doc = config::load_file(file);
    if (!doc) return doc.err();
    config::reader r(*doc);
    host_config h;
    h.file = file;
    h.name = r.required_string("host");
    if (!h.name.empty() && !topics::valid_principal_name(h.name))
        r.fail("host", "'" + h.name + "' is not a valid name ([a-z0-9][a-z0-9-]{0,62}, as make-broker --host)");
    h.tenants = r.optional_string_list("tenants");
    if (h.tenants.empty()) r.fail("tenants", "missing: the tenant keys the host's broker identity is granted");
    std::set<std::string> seen;
    for (const auto& t : h.tenants) {
        if (!topics::valid_tenant_key(t)) r.fail("tenants", "'" + t + "' is not a tenant key ([a-z0-9][a-z0-9-]{0,62})");
        else if (!seen.insert(t).second) r.fail("tenants", "'" + t + "' is listed twice");
        if (t == h.name) r.fail("tenants", "'" + t + "' is the host's own name; a host and a tenant need different names");
    }
    h.broker_url = r.required_string("broker.url");
    if (!h.broker_url.empty() && h.broker_url.rfind("tcp://", 0) != 0 && h.broker_url.rfind("ssl://", 0) != 0)
        r.fail("broker.url", "'" + h.broker_url + "' must start with tcp:// or ssl://");
    h.broker_password_file = r.required_path("broker.passwordFile");
    h.broker_ca_file = r.optional_path("broker.caFile");
    if (h.broker_url.rfind("ssl://", 0) == 0 && h.broker_ca_file.empty())
        r.fail("broker.caFile", "missing (needed for an ssl:// broker URL)");
    r.reject_unknown_fields();
    if (!r.ok()) return make_error("config.invalid", r.error_text());
    auto pw = config::read_secret_file(h.broker_password_file);
    if (!pw) return make_error("config.secret", file.string() + ": field 'broker.passwordFile': " + pw.err().message);
    h.broker_password = *pw;
    log::add_secret(h.broker_password);
    if (!h.broker_ca_file.empty() && !std::filesystem::exists(h.broker_ca_file))
        return make_error("config.secret", file.string() + ": field 'broker.caFile': " + h.broker_ca_file.string() +
                                               ": file does not exist");
    return h;
}

result<std::vector<tenant_config>> load_config_dir(const std::filesystem::path& dir, const load_options& opts) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        return make_error("config.unreadable", dir.string() + ": not a directory");
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
        if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    if (ec) return make_error("config.unreadable", dir.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
    if (files.empty()) return make_error("config.empty", dir.string() + ": no *.json tenant configs");

    std::vector<tenant_config> out;
    std::string errors;
    std::map<std::string, std::string> keys, states;
    for (const auto& f : files) {
        auto c = load_tenant_config(f, opts);
        if (!c) {
            errors += (errors.empty() ? "" : "\n") + c.err().message;
            continue;
        }
        if (auto [it, fresh] = keys.emplace(c->tenant_key, f.string()); !fresh) {
            errors += (errors.empty() ? "" : "\n") + f.string() + ": field 'tenant': '" + c->tenant_key +
                      "' is already used by " + it->second;
            continue;
        }
        if (!c->state_dir.empty()) {
            auto norm = std::filesystem::weakly_canonical(c->state_dir).string();
            if (auto [it, fresh] = states.emplace(norm, f.string()); !fresh) {
                errors += (errors.empty() ? "" : "\n") + f.string() + ": field 'stateDir': '" + norm +
                          "' is already used by " + it->second;
                continue;
            }
        }
        out.push_back(std::move(*c));
    }
    if (!errors.empty()) return make_error("config.invalid", errors);
    return out;
}

}  // namespace connguard::agent
