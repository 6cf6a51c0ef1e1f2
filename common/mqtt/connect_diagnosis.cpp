#include "common/mqtt/connect_diagnosis.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include "common/mqtt/paho_glue.h"
#include "common/text.h"

namespace connguard::mqtt::detail {
namespace {

struct endpoint {
    bool tls = false;
    std::string host;
    std::string port;
};

/// tcp://host:port, ssl://host:port, ssl://[::1]:port (validate() already checked the scheme).
std::optional<endpoint> parse(const std::string& uri) {
    endpoint e;
    std::string rest;
    if (uri.starts_with("tcp://")) {
        rest = uri.substr(6);
    } else if (uri.starts_with("ssl://")) {
        e.tls = true;
        rest = uri.substr(6);
    } else {
        return std::nullopt;
    }
    if (rest.starts_with("[")) {
        const auto close = rest.find(']');
        if (close == std::string::npos) return std::nullopt;
        e.host = rest.substr(1, close - 1);
        rest = rest.substr(close + 1);
        if (rest.starts_with(":")) e.port = rest.substr(1);
    } else {
        const auto colon = rest.rfind(':');
        e.host = rest.substr(0, colon);
        if (colon != std::string::npos) e.port = rest.substr(colon + 1);
    }
    if (e.port.empty()) e.port = e.tls ? "8883" : "1883";
    if (e.host.empty()) return std::nullopt;
    return e;
}

struct fd_closer {
    int fd = -1;
    ~fd_closer() {
        if (fd >= 0) ::close(fd);
    }
};

/// Connects one address within `timeout`: 0 and an open socket in `out`, or the errno.
int tcp_connect(const addrinfo& ai, std::chrono::milliseconds timeout, fd_closer& out) {
    fd_closer s{::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol)};
    if (s.fd < 0) return errno;
    if (::connect(s.fd, ai.ai_addr, ai.ai_addrlen) != 0) {
        if (errno != EINPROGRESS) return errno;
        pollfd p{s.fd, POLLOUT, 0};
        const int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
        if (n == 0) return ETIMEDOUT;
        if (n < 0) return errno;
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
        if (err != 0) return err;
    }
    std::swap(out.fd, s.fd);
    return 0;
}

std::string openssl_error_text() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "the connection closed during the handshake";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

/// The TLS handshake paho would do, on a connected socket: empty when it succeeds.
std::string tls_handshake(int fd, const endpoint& ep, const std::string& uri, const tls_options& tls,
                          std::chrono::milliseconds timeout) {
    // Blocking from here on, bounded by socket timeouts (the probe is a one-off on a failure path).
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    ERR_clear_error();
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    if (!ctx) return "cannot set up TLS: " + openssl_error_text();
    if (!tls.ca_file.empty() && SSL_CTX_load_verify_locations(ctx.get(), tls.ca_file.c_str(), nullptr) != 1)
        return "cannot read the CA file " + tls.ca_file + ": " + openssl_error_text();
    if (!tls.cert_file.empty()) {
        if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert_file.c_str()) != 1)
            return "cannot read the client certificate " + tls.cert_file + ": " + openssl_error_text();
        if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
            return "cannot read the client key " + tls.key_file + ": " + openssl_error_text();
        if (SSL_CTX_check_private_key(ctx.get()) != 1)
            return "the client key " + tls.key_file + " does not belong to the certificate " + tls.cert_file;
    }
    SSL_CTX_set_verify(ctx.get(), tls.verify_server ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
    if (!ssl) return "cannot set up TLS: " + openssl_error_text();
    SSL_set_fd(ssl.get(), fd);
    SSL_set_tlsext_host_name(ssl.get(), ep.host.c_str());
    if (tls.verify_server) SSL_set1_host(ssl.get(), ep.host.c_str());
    if (SSL_connect(ssl.get()) == 1) {
        SSL_shutdown(ssl.get());
        return {};
    }
    const long verify = SSL_get_verify_result(ssl.get());
    if (tls.verify_server && verify != X509_V_OK) {
        std::string why = X509_verify_cert_error_string(verify);
        if (verify == X509_V_ERR_HOSTNAME_MISMATCH)
            return "the certificate of " + uri + " is not issued for '" + ep.host + "' (" + why + ")";
        return "the certificate of " + uri + " is not trusted with the CA file " + tls.ca_file + " (" + why + ")";
    }
    auto why = openssl_error_text();
    if (why.find("wrong version number") != std::string::npos || why.find("packet length too long") != std::string::npos)
        why += "; is it a plain MQTT listener (tcp://)?";
    return "the TLS handshake with " + uri + " failed: " + why;
}

/// A CONNACK refusal in words (MQTT v5 reason codes; v3.1.1 return codes 1-5 too).
std::optional<error> refusal(const client_options& o, int rc, int reason) {
    if (rc >= 0x80 && reason < 0x80) reason = rc;  // a refused CONNECT reports the CONNACK reason as rc
    if (reason == 0 && rc >= 1 && rc <= 5) {       // MQTT 3.1.1 CONNACK return codes
        static constexpr int v5[] = {0, 0x84, 0x85, 0x88, 0x86, 0x87};
        reason = v5[rc];
    }
    if (reason < 0x80) return std::nullopt;
    const std::string broker = "broker " + o.server_uri;
    const std::string user = "user '" + o.username + "'";
    switch (reason) {
        case 0x86:
            return make_error("mqtt.not_authorized", broker + " refused " + user + ": wrong user name or password");
        case 0x87:
            // Mosquitto answers a wrong password (password file, dynamic security) with 0x87.
            return make_error("mqtt.not_authorized", broker + " refused " + user +
                                                         ": wrong user name or password, or the user may not "
                                                         "connect (not authorized)");
        case 0x8A:
            return make_error("mqtt.not_authorized", broker + " refused " + user + ": banned");
        case 0x8C:
            return make_error("mqtt.not_authorized", broker + " refused " + user + ": bad authentication method");
        case 0x84:
            return make_error("mqtt.refused", broker + " does not speak MQTT v5 (unsupported protocol version)");
        case 0x85:
            return make_error("mqtt.refused", broker + " refused the client id '" + o.client_id + "' as not valid");
        case 0x88:
            return make_error("mqtt.refused", broker + " is unavailable (server unavailable)");
        case 0x89:
            return make_error("mqtt.refused", broker + " is busy (server busy); retrying helps");
        case 0x97:
            return make_error("mqtt.refused", broker + " refused " + user + ": quota exceeded");
        case 0x9F:
            return make_error("mqtt.refused", broker + " refused the connection: too many connections per second "
                                              "(connection rate exceeded)");
        default:
            return make_error("mqtt.refused", broker + " refused the connection: reason " + reason_text(reason));
    }
}

}  // namespace

std::string probe_network(const std::string& server_uri, const tls_options* tls, std::chrono::milliseconds timeout) {
    const auto ep = parse(server_uri);
    if (!ep) return "'" + server_uri + "' is not a tcp://host:port or ssl://host:port URI";
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (const int g = ::getaddrinfo(ep->host.c_str(), ep->port.c_str(), &hints, &found); g != 0) {
        const std::string why = g == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(g);
        return "cannot resolve the host '" + ep->host + "' of " + server_uri + " (" + why + ")";
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addrs(found, ::freeaddrinfo);
    int first_error = 0;
    fd_closer sock;
    for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
        const int err = tcp_connect(*ai, timeout, sock);
        if (err == 0) break;
        if (first_error == 0) first_error = err;
    }
    if (sock.fd < 0) {
        switch (first_error) {
            case ECONNREFUSED:
                return "connection refused by " + server_uri + " (is the broker running and listening on port " +
                       ep->port + "?)";
            case ETIMEDOUT:
                return "no answer from " + server_uri + " within " + duration_words(timeout.count()) +
                       " (a firewall dropping packets, or the wrong address?)";
            case ENETUNREACH:
                return "network unreachable for " + server_uri;
            case EHOSTUNREACH:
                return "host unreachable: " + server_uri;
            default:
                return "cannot open a TCP connection to " + server_uri + " (" + std::strerror(first_error) + ")";
        }
    }
    if (ep->tls && tls != nullptr) return tls_handshake(sock.fd, *ep, server_uri, *tls, timeout);
    return {};
}

error connect_failure(const client_options& o, int rc, int reason, std::chrono::milliseconds probe_timeout) {
    if (auto refused = refusal(o, rc, reason)) return std::move(*refused);
    const std::string paho_said = paho::exception::error_str(rc) + " (rc " + std::to_string(rc) + ")";
    if (rc != MQTTASYNC_FAILURE && rc != MQTTASYNC_SSL_NOT_SUPPORTED)
        return make_error("mqtt.failed", "connect to " + o.server_uri + " as '" + o.username + "': " + paho_said);
    // paho's "TCP/TLS connect failure": find out which step failed.
    auto why = probe_network(o.server_uri, o.tls ? &*o.tls : nullptr, probe_timeout);
    if (!why.empty()) return make_error("mqtt.unreachable", std::move(why));
    if (o.server_uri.starts_with("tcp://"))
        return make_error("mqtt.failed", o.server_uri + " accepted the TCP connection but closed it before answering "
                                         "the MQTT CONNECT (a TLS listener needs ssl://; the broker's log says why)");
    return make_error("mqtt.failed", "connect to " + o.server_uri + " as '" + o.username +
                                         "' failed although TCP and TLS work when checked separately: " + paho_said);
}

}  // namespace connguard::mqtt::detail
