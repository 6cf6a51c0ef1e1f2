#include "coordinator/config.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>
#include <cstdio>
#include <memory>

#include "common/atomic_file.h"
#include "common/config.h"
#include "common/file_checks.h"
#include "common/text.h"
#include "common/topics.h"
#include "coordinator/sql/connection.h"

namespace connguard::coord {

namespace {

// The `console` section (coordinator/README.md "Console").
console::console_settings load_console(config::reader& r) {
    console::console_settings s;
    const auto listen = r.optional_string("console.listen", "127.0.0.1:8444");
    if (!console::parse_listen(listen, s.listen_host, s.listen_port))
        r.fail("console.listen", "must be host:port (e.g. \"127.0.0.1:8444\" or \"[::1]:8444\"), not '" + listen + "'");
    s.insecure_http = r.optional_bool("console.insecureHttp", false);
    s.tls_cert_file = r.optional_path("console.tlsCertFile").string();
    s.tls_key_file = r.optional_path("console.tlsKeyFile").string();
    if (s.insecure_http) {
        if (!s.listen_host.empty() && !console::is_loopback_host(s.listen_host))
            r.fail("console.insecureHttp", "plain HTTP is only allowed on a loopback listen address (127.0.0.1, ::1, "
                                           "localhost), not '" + s.listen_host + "'; configure tlsCertFile and tlsKeyFile");
        if (!s.tls_cert_file.empty() || !s.tls_key_file.empty())
            r.fail("console.insecureHttp", "set either insecureHttp or tlsCertFile/tlsKeyFile, not both");
    } else {
        if (s.tls_cert_file.empty()) r.fail("console.tlsCertFile", "required (HTTPS) unless console.insecureHttp is true");
        if (s.tls_key_file.empty()) r.fail("console.tlsKeyFile", "required (HTTPS) unless console.insecureHttp is true");
        else if (auto perm = config::check_secret_file_permissions(s.tls_key_file); !perm)
            r.fail("console.tlsKeyFile", perm.err().message);
    }
    s.public_url = r.optional_string("console.publicUrl", "");
    if (!s.public_url.empty() && s.public_url.rfind("https://", 0) != 0 && s.public_url.rfind("http://", 0) != 0)
        r.fail("console.publicUrl", "must be an http(s) URL, e.g. https://console.msp.example:8444");
    s.oidc.issuer = r.required_string("console.oidc.issuer");
    if (!s.oidc.issuer.empty() && s.oidc.issuer.rfind("https://", 0) != 0 && s.oidc.issuer.rfind("http://", 0) != 0)
        r.fail("console.oidc.issuer", "must be an https URL (http only for a loopback simulator)");
    s.oidc.client_id = r.required_string("console.oidc.clientId");
    const auto secret_file = r.required_path("console.oidc.clientSecretFile");
    if (!secret_file.empty()) {
        auto secret = config::read_secret_file(secret_file);
        if (!secret) r.fail("console.oidc.clientSecretFile", secret.err().message);
        else s.oidc.client_secret = *secret;
    }
    s.oidc.ca_file = r.optional_path("console.oidc.caFile").string();
    auto read_roles = [&](const std::string& field, std::map<std::string, role>& out) {
        const auto* m = r.find(field);
        if (m == nullptr) return;
        if (!m->is_object()) {
            r.fail(field, "must be an object {\"name\": \"viewer|operator|approver|admin\"}");
            return;
        }
        for (const auto& [key, value] : m->items()) {
            const role who = value.is_string() ? parse_role(value.get<std::string>()) : role::none;
            if (who == role::none) r.fail(field + "." + key, "role must be \"viewer\", \"operator\", \"approver\" or \"admin\"");
            else out[key] = who;
        }
    };
    read_roles("console.roles.claims", s.role_claims);
    read_roles("console.roles.objects", s.role_objects);
    if (s.role_claims.empty() && s.role_objects.empty())
        r.fail("console.roles", "map at least one app role claim (roles.claims) or object/group id (roles.objects) to a role");
    s.session_idle = std::chrono::minutes{r.optional_int("console.sessionIdleMinutes", 30, 1, 24 * 60)};
    s.session_max = std::chrono::hours{r.optional_int("console.sessionMaxHours", 12, 1, 24 * 7)};
    s.approval_reauth = std::chrono::seconds{r.optional_int("console.approvalReauthSeconds", 900, 60, 86400)};
    return s;
}

// The console's certificate and key: PEM, and the key belongs to the certificate (what the HTTPS
// server would refuse at start).
status check_tls_pair(const std::string& cert_file, const std::string& key_file) {
    using file_ptr = std::unique_ptr<FILE, int (*)(FILE*)>;
    file_ptr cf(std::fopen(cert_file.c_str(), "r"), &std::fclose);
    if (!cf) return make_error("config.tls", cert_file + ": cannot be opened");
    std::unique_ptr<X509, void (*)(X509*)> cert(PEM_read_X509(cf.get(), nullptr, nullptr, nullptr), &X509_free);
    if (!cert) return make_error("config.tls", cert_file + ": not a PEM certificate");
    file_ptr kf(std::fopen(key_file.c_str(), "r"), &std::fclose);
    if (!kf) return make_error("config.tls", key_file + ": cannot be opened");
    std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key(PEM_read_PrivateKey(kf.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
    if (!key) return make_error("config.tls", key_file + ": not a PEM private key (or it is encrypted)");
    if (X509_check_private_key(cert.get(), key.get()) != 1)
        return make_error("config.tls", key_file + ": is not the key of the certificate " + cert_file);
    return {};
}

}  // namespace

result<coordinator_config> load_config(const std::filesystem::path& path) {
    auto doc = config::load_file(path);
    if (!doc) return doc.err();
    config::reader r(*doc);
    coordinator_config c;

    c.broker_url = r.required_string("broker.url");
    if (!c.broker_url.empty() && c.broker_url.rfind("tcp://", 0) != 0 && c.broker_url.rfind("ssl://", 0) != 0)
        r.fail("broker.url", "must start with tcp:// or ssl://");
    c.username = r.required_string("broker.username");
    const auto password_file = r.required_path("broker.passwordFile");
    if (!password_file.empty()) {
        auto pw = config::read_secret_file(password_file);
        if (!pw) r.fail("broker.passwordFile", pw.err().message);
        else c.password = *pw;
    }
    c.ca_file = r.optional_path("broker.caFile").string();
    if (c.broker_url.rfind("ssl://", 0) == 0 && c.ca_file.empty()) r.fail("broker.caFile", "required for ssl:// URLs");
    c.client_id = r.optional_string("broker.clientId", c.client_id);
    if (c.client_id.empty()) r.fail("broker.clientId", "must not be empty");
    c.shared_group = r.optional_string("broker.sharedGroup", "");
    if (!c.shared_group.empty() && !topics::valid_principal_name(c.shared_group))
        r.fail("broker.sharedGroup", "must match [a-z0-9][a-z0-9-]{0,62}");
    c.ingest_connections = static_cast<int>(r.optional_int("broker.ingestConnections", 1, 1, 32));
    if (c.ingest_connections > 1 && c.shared_group.empty()) c.shared_group = "connguard-coordinator";
    c.persistence_dir = r.optional_path("broker.persistenceDir").string();

    if (r.has("store.url")) {
        // PostgreSQL (several coordinators): the URL names no password; it comes from a 0600 file.
        c.store_url = r.required_string("store.url");
        if (!sql::is_postgres_url(c.store_url))
            r.fail("store.url", "must be a PostgreSQL URL: postgresql://user@host:port/database");
        else if (sql::redact_url(c.store_url) != c.store_url || c.store_url.find("password=") != std::string::npos)
            r.fail("store.url", "must not contain the password (put it in store.passwordFile)");
        if (r.has("store.path")) r.fail("store.path", "give store.path (SQLite) or store.url (PostgreSQL), not both");
        const auto password_file = r.optional_path("store.passwordFile");
        if (!password_file.empty()) {
            auto pw = config::read_secret_file(password_file);
            if (!pw) r.fail("store.passwordFile", pw.err().message);
            else c.store_password = *pw;
        }
    } else {
        c.db_path = r.required_path("store.path");
        if (r.has("store.passwordFile")) r.fail("store.passwordFile", "only with store.url (PostgreSQL)");
    }
    const auto sync = r.optional_string("store.synchronous", "normal");
    if (sync == "full") c.synchronous_full = true;
    else if (sync != "normal") r.fail("store.synchronous", "must be \"normal\" or \"full\"");
    c.max_batch = static_cast<int>(r.optional_int("store.maxBatch", 2000, 1, 10000));

    if (const auto* approvers = r.find("approvers")) {
        if (!approvers->is_object()) {
            r.fail("approvers", "must be an object {\"name\": \"viewer|operator|approver|admin\"}");
        } else {
            for (const auto& [name, value] : approvers->items()) {
                if (!topics::valid_principal_name(name)) {
                    r.fail("approvers." + name, "admin name must match [a-z0-9][a-z0-9-]{0,62} (it is a topic level)");
                    continue;
                }
                const role who = value.is_string() ? parse_role(value.get<std::string>()) : role::none;
                if (who == role::none) r.fail("approvers." + name, "role must be \"viewer\", \"operator\", \"approver\" or \"admin\"");
                else c.engine.admins[name] = who;
            }
        }
    }
    for (const auto& tenant : r.optional_string_list("tenants")) {
        if (!topics::valid_tenant_key(tenant))
            r.fail("tenants", "'" + tenant + "' is not a tenant key ([a-z0-9][a-z0-9-]{0,62})");
        else
            c.engine.expected_tenants.insert(tenant);
    }
    c.engine.task_ttl_ms = r.optional_int("tasks.ttlSeconds", 86400, 1, 90LL * 86400) * 1000;
    c.engine.dispatch_timeout_ms = r.optional_int("tasks.dispatchTimeoutSeconds", 600, 1, 7LL * 86400) * 1000;
    c.engine.command_validity_ms = r.optional_int("tasks.commandValiditySeconds", 3600, 1, 7LL * 86400) * 1000;
    c.engine.silence_ms = r.optional_int("agents.silenceSeconds", 1800, 0, 30LL * 86400) * 1000;
    // An approval through the web console needs a sign-in at most this old (0 = no limit).
    c.tick_ms = static_cast<int>(r.optional_int("timers.tickMilliseconds", 1000, 10, 60000));
    // The exception registry (issue 15): warn this many days before an exception expires; an
    // exception an approved remediation creates lasts this many days.
    c.engine.exception_warning_ms = r.optional_int("exceptions.expiryWarningDays", 14, 0, 365) * 24LL * 3600 * 1000;
    c.engine.exception_validity_ms = r.optional_int("exceptions.defaultValidityDays", 180, 1, 3650) * 24LL * 3600 * 1000;

    if (const auto* hooks = r.find("alerts.webhooks")) {
        if (!hooks->is_array()) {
            r.fail("alerts.webhooks", "must be an array");
        } else {
            for (std::size_t i = 0; i < hooks->size(); ++i) {
                const std::string f = "alerts.webhooks[" + std::to_string(i) + "]";
                const auto& h = (*hooks)[i];
                if (!h.is_object()) { r.fail(f, "must be an object"); continue; }
                r.reject_unknown_keys(h, f, {"name", "url", "format", "minSeverity"});
                webhook_sink s;
                s.name = h.value("name", "webhook-" + std::to_string(i));
                s.url = h.value("url", "");
                if (s.url.rfind("http://", 0) != 0 && s.url.rfind("https://", 0) != 0)
                    r.fail(f + ".url", "missing or not an http(s) URL");
                if (!parse_webhook_format(h.value("format", "generic"), s.format))
                    r.fail(f + ".format", "must be \"generic\", \"teams\" or \"slack\"");
                s.min_severity = parse_severity(h.value("minSeverity", "warning"));
                if (s.min_severity == v1::SEVERITY_UNSPECIFIED)
                    r.fail(f + ".minSeverity", "must be \"info\", \"warning\" or \"critical\"");
                c.engine.webhooks.push_back(std::move(s));
            }
        }
    }
    c.webhook_initial_backoff_ms = r.optional_int("alerts.retry.initialMilliseconds", 1000, 10, 3600000);
    c.webhook_max_backoff_ms = r.optional_int("alerts.retry.maxMilliseconds", 300000, 10, 86400000);
    c.webhook_max_attempts = static_cast<int>(r.optional_int("alerts.retry.maxAttempts", 0, 0, 1000000));
    c.webhook_timeout_ms = r.optional_int("alerts.retry.timeoutMilliseconds", 10000, 100, 120000);

    // Audit checkpoints (coordinator/checkpointer.h): on with a signing key.
    const auto key_file = r.optional_path("audit.signingKeyFile");
    const auto interval_s = r.optional_int("audit.checkpointSeconds", 60, 1, 86400);
    const auto checkpoint_file = r.optional_path("audit.checkpointFile");
    const auto checkpoint_webhook = r.optional_string("audit.checkpointWebhook", "");
    if (!checkpoint_webhook.empty() && checkpoint_webhook.rfind("http://", 0) != 0 &&
        checkpoint_webhook.rfind("https://", 0) != 0)
        r.fail("audit.checkpointWebhook", "not an http(s) URL");
    if (key_file.empty()) {
        if (!checkpoint_file.empty() || !checkpoint_webhook.empty())
            r.fail("audit.signingKeyFile", "required when audit.checkpointFile or audit.checkpointWebhook is set");
    } else if (auto perm = config::check_secret_file_permissions(key_file); !perm) {
        r.fail("audit.signingKeyFile", perm.err().message);
    } else if (auto pem = read_file(key_file); !pem) {
        r.fail("audit.signingKeyFile", pem.err().message);
    } else {
        auto key = checkpoint::signing_key::from_pem(*pem);
        // The PEM text is not needed once parsed: wipe it rather than leave it in freed memory.
        OPENSSL_cleanse(pem->data(), pem->size());
        if (!key) {
            r.fail("audit.signingKeyFile", key_file.string() + ": " + key.err().message);
        } else {
            checkpoint_settings a{std::move(*key), c.client_id, interval_s * 1000, checkpoint_file, checkpoint_webhook};
            c.audit = std::move(a);
        }
    }

    // Not r.has(): that would mark the whole section as read and let misspelled keys in it pass.
    if (doc->root.is_object() && doc->root.contains("console")) {
        c.console = load_console(r);
        // One setting: the console asks for a fresh sign-in, and the engine refuses an older one.
        c.engine.console_reauth_ms = std::chrono::milliseconds(c.console->approval_reauth).count();
    }

    c.metrics_listen = r.optional_string("metrics.listen", "");
    std::string metrics_host;
    int metrics_port = 0;
    if (!c.metrics_listen.empty() && !parse_host_port(c.metrics_listen, metrics_host, metrics_port))
        r.fail("metrics.listen", "must be host:port (e.g. \"127.0.0.1:9464\" or \"[::1]:9464\"), not '" + c.metrics_listen + "'");

    c.log_level = r.optional_string("log.level", "info");
    c.log_json = r.optional_bool("log.json", false);
    c.log_file = r.optional_path("log.file").string();

    r.reject_unknown_fields();
    if (!r.ok()) return make_error("config.invalid", r.error_text());
    return c;
}

status check_startable(const coordinator_config& c, const std::filesystem::path& config_path) {
    std::string errors;
    auto check = [&](const char* field, const status& st) {
        if (!st) errors += (errors.empty() ? "" : "\n") + config_path.string() + ": field '" + field + "': " + st.err().message;
    };
    if (c.store_url.empty()) {
        check("store.path", check_writable_file(c.db_path));
        // SQLite writes its -wal and -shm files next to the database.
        check("store.path", check_writable_folder(c.db_path.parent_path().empty() ? "." : c.db_path.parent_path()));
    } else if (auto db = sql::open_postgres(c.store_location()); !db) {
        // Connecting changes nothing; the start would stop here.
        check("store.url", db.err());
    }
    if (!c.log_file.empty()) check("log.file", check_writable_file(c.log_file));
    if (!c.ca_file.empty()) check("broker.caFile", check_readable_file(c.ca_file));
    if (!c.persistence_dir.empty()) check("broker.persistenceDir", check_writable_folder(c.persistence_dir));
    if (c.audit && !c.audit->file.empty()) check("audit.checkpointFile", check_writable_file(c.audit->file));
    if (c.console) {
        if (!c.console->tls_cert_file.empty()) check("console.tlsCertFile", check_readable_file(c.console->tls_cert_file));
        if (!c.console->tls_key_file.empty()) check("console.tlsKeyFile", check_readable_file(c.console->tls_key_file));
        if (!c.console->tls_cert_file.empty() && !c.console->tls_key_file.empty() &&
            check_readable_file(c.console->tls_cert_file) && check_readable_file(c.console->tls_key_file))
            check("console.tlsCertFile", check_tls_pair(c.console->tls_cert_file, c.console->tls_key_file));
        if (!c.console->oidc.ca_file.empty()) check("console.oidc.caFile", check_readable_file(c.console->oidc.ca_file));
    }
    if (!errors.empty()) return make_error("config.not_startable", errors);
    return {};
}

std::string coordinator_config::store_location() const {
    if (store_url.empty()) return db_path.string();
    if (store_password.empty()) return store_url;
    // libpq takes connection parameters as URI query parameters; percent-encode the password.
    std::string enc;
    for (const unsigned char ch : store_password) {
        if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') enc += static_cast<char>(ch);
        else {
            static constexpr char hex[] = "0123456789ABCDEF";
            enc += '%';
            enc += hex[ch >> 4];
            enc += hex[ch & 0xf];
        }
    }
    return store_url + (store_url.find('?') == std::string::npos ? "?" : "&") + "password=" + enc;
}

}  // namespace connguard::coord
