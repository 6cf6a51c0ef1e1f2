#include "common/http/http_server.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include <asio.hpp>
#include <spdlog/spdlog.h>

#include "common/text.h"

namespace connguard::http {

namespace {

using asio::ip::tcp;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

const char* reason_phrase(int status) {
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 409: return "Conflict";
        case 411: return "Length Required";
        case 413: return "Payload Too Large";
        case 415: return "Unsupported Media Type";
        case 424: return "Failed Dependency";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default: return "Status";
    }
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string percent_decode(std::string_view text, bool plus_as_space) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '%' && i + 2 < text.size()) {
            const int hi = hex_value(text[i + 1]);
            const int lo = hex_value(text[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(plus_as_space && c == '+' ? ' ' : c);
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> parse_form(std::string_view text) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!text.empty()) {
        const auto amp = text.find('&');
        const std::string_view part = text.substr(0, amp);
        text = amp == std::string_view::npos ? std::string_view{} : text.substr(amp + 1);
        if (part.empty()) continue;
        const auto eq = part.find('=');
        if (eq == std::string_view::npos) {
            out.emplace_back(percent_decode(part, true), std::string{});
        } else {
            out.emplace_back(percent_decode(part.substr(0, eq), true), percent_decode(part.substr(eq + 1), true));
        }
    }
    return out;
}

std::string server_request::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

class session;

struct server::impl {
    options opts;
    handler handle;
    asio::io_context io;
    tcp::acceptor acceptor{io};
    std::vector<std::thread> threads;
    std::mutex sessions_mutex;
    std::vector<std::weak_ptr<session>> sessions;
    bool started = false;
    bool stopped = false;
    int bound_port = 0;

    void do_accept();
    void track(const std::shared_ptr<session>& s) {
        std::lock_guard lock(sessions_mutex);
        // Drop expired entries now and then so the list stays proportional to live connections.
        if (sessions.size() > 64 && sessions.size() % 64 == 0) {
            sessions.erase(std::remove_if(sessions.begin(), sessions.end(),
                                          [](const std::weak_ptr<session>& w) { return w.expired(); }),
                           sessions.end());
        }
        sessions.push_back(s);
    }
};

class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket sock, server::impl& srv)
        : sock_(std::move(sock)), timer_(sock_.get_executor()), buf_(srv.opts.max_header_bytes), srv_(srv) {}

    void start() {
        asio::error_code ec;
        const auto ep = sock_.remote_endpoint(ec);
        if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
        read_head();
    }

    void close() {
        asio::error_code ec;
        timer_.cancel();
        sock_.shutdown(tcp::socket::shutdown_both, ec);
        sock_.close(ec);
    }

private:
    void arm_idle_timer() {
        timer_.expires_after(srv_.opts.idle_timeout);
        timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
            if (!ec) self->close();
        });
    }

    void read_head() {
        arm_idle_timer();
        asio::async_read_until(sock_, buf_, "\r\n\r\n",
                               [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                                   self->on_head(ec, n);
                               });
    }

    void on_head(const asio::error_code& ec, std::size_t n) {
        timer_.cancel();
        if (ec) {
            if (ec == asio::error::not_found) fail(431, "request head too large");
            else close();
            return;
        }
        std::string head(asio::buffers_begin(buf_.data()), asio::buffers_begin(buf_.data()) + static_cast<std::ptrdiff_t>(n));
        buf_.consume(n);
        req_ = server_request{};
        req_.remote = remote_;
        std::string_view rest(head);
        const auto eol = rest.find("\r\n");
        const std::string_view line = rest.substr(0, eol);
        rest.remove_prefix(eol + 2);
        const auto sp1 = line.find(' ');
        const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
        if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) {
            fail(400, "malformed request line");
            return;
        }
        req_.method = std::string(line.substr(0, sp1));
        req_.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
        const std::string_view version = line.substr(sp2 + 1);
        if (version.substr(0, 5) != "HTTP/") {
            fail(400, "malformed request line");
            return;
        }
        keep_alive_ = version != "HTTP/1.0";
        const auto q = req_.target.find('?');
        req_.path = percent_decode(std::string_view(req_.target).substr(0, q));
        if (q != std::string::npos) req_.query = req_.target.substr(q + 1);
        while (!rest.empty()) {
            const auto e = rest.find("\r\n");
            const std::string_view h = rest.substr(0, e);
            rest.remove_prefix(e == std::string_view::npos ? rest.size() : e + 2);
            if (h.empty()) continue;
            const auto colon = h.find(':');
            if (colon == std::string_view::npos) {
                fail(400, "malformed header line");
                return;
            }
            req_.headers.emplace_back(std::string(trim(h.substr(0, colon))), std::string(trim(h.substr(colon + 1))));
        }
        const std::string conn = req_.header("Connection");
        if (iequals(conn, "close")) keep_alive_ = false;
        if (iequals(conn, "keep-alive")) keep_alive_ = true;
        if (!req_.header("Transfer-Encoding").empty()) {
            fail(501, "chunked request bodies are not supported; send Content-Length");
            return;
        }
        std::size_t length = 0;
        const std::string cl = req_.header("Content-Length");
        if (!cl.empty()) {
            const auto [p, err] = std::from_chars(cl.data(), cl.data() + cl.size(), length);
            if (err != std::errc{} || p != cl.data() + cl.size()) {
                fail(400, "invalid Content-Length");
                return;
            }
        }
        if (length > srv_.opts.max_body_bytes) {
            fail(413, "request body too large");
            return;
        }
        req_.body.resize(length);
        const std::size_t have = std::min(length, buf_.size());
        asio::buffer_copy(asio::buffer(req_.body.data(), have), buf_.data());
        buf_.consume(have);
        if (have == length) {
            dispatch();
            return;
        }
        auto read_rest = [self = shared_from_this(), have, length]() {
            self->arm_idle_timer();
            asio::async_read(self->sock_, asio::buffer(self->req_.body.data() + have, length - have),
                             [self](const asio::error_code& e, std::size_t) {
                                 self->timer_.cancel();
                                 if (e) {
                                     self->close();
                                     return;
                                 }
                                 self->dispatch();
                             });
        };
        if (iequals(req_.header("Expect"), "100-continue")) {
            auto cont = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
            asio::async_write(sock_, asio::buffer(*cont),
                              [self = shared_from_this(), cont, read_rest](const asio::error_code& e, std::size_t) {
                                  if (e) {
                                      self->close();
                                      return;
                                  }
                                  read_rest();
                              });
            return;
        }
        read_rest();
    }

    void dispatch() {
        server_response resp;
        try {
            resp = srv_.handle(req_);
        } catch (const std::exception& e) {
            spdlog::error("http server: handler failed on {} {}: {}", req_.method, req_.path, e.what());
            resp = server_response{500, {{"Content-Type", "text/plain"}}, "internal error\n"};
        } catch (...) {
            spdlog::error("http server: handler failed on {} {}", req_.method, req_.path);
            resp = server_response{500, {{"Content-Type", "text/plain"}}, "internal error\n"};
        }
        if (resp.delay.count() > 0) {
            auto shared = std::make_shared<server_response>(std::move(resp));
            timer_.expires_after(shared->delay);
            timer_.async_wait([self = shared_from_this(), shared](const asio::error_code& ec) {
                if (ec) {
                    self->close();
                    return;
                }
                self->respond(std::move(*shared));
            });
            return;
        }
        respond(std::move(resp));
    }

    void respond(server_response resp) {
        if (resp.reset_connection) {
            asio::error_code ec;
            sock_.set_option(asio::socket_base::linger(true, 0), ec);
            sock_.close(ec);
            return;
        }
        if (resp.close_connection) keep_alive_ = false;
        write(resp.status, resp.headers, resp.body);
    }

    void fail(int status, const std::string& why) {
        spdlog::debug("http server: {} from {}: {}", status, remote_, why);
        keep_alive_ = false;
        write(status, {{"Content-Type", "text/plain"}}, why + "\n");
    }

    void write(int status, const header_list& headers, const std::string& body) {
        auto out = std::make_shared<std::string>();
        out->reserve(body.size() + 256);
        out->append("HTTP/1.1 ").append(std::to_string(status)).append(" ").append(reason_phrase(status)).append("\r\n");
        for (const auto& [k, v] : headers) {
            if (iequals(k, "Content-Length") || iequals(k, "Connection")) continue;
            out->append(k).append(": ").append(v).append("\r\n");
        }
        const bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
        if (!no_body) out->append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
        out->append(keep_alive_ ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
        out->append("\r\n");
        if (!no_body) out->append(body);
        asio::async_write(sock_, asio::buffer(*out), [self = shared_from_this(), out](const asio::error_code& ec, std::size_t) {
            if (ec || !self->keep_alive_) {
                self->close();
                return;
            }
            self->read_head();
        });
    }

    tcp::socket sock_;
    asio::steady_timer timer_;
    asio::streambuf buf_;
    server::impl& srv_;
    server_request req_;
    std::string remote_;
    bool keep_alive_ = true;
};

void server::impl::do_accept() {
    acceptor.async_accept(asio::make_strand(io), [this](const asio::error_code& ec, tcp::socket sock) {
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
            spdlog::warn("http server: accept failed: {}", ec.message());
        } else {
            asio::error_code ignore;
            sock.set_option(tcp::no_delay(true), ignore);
            auto s = std::make_shared<session>(std::move(sock), *this);
            track(s);
            s->start();
        }
        do_accept();
    });
}

server::server(options opts, handler h) : impl_(std::make_unique<impl>()) {
    impl_->opts = std::move(opts);
    impl_->handle = std::move(h);
    if (impl_->opts.threads == 0) impl_->opts.threads = 1;
}

server::~server() { stop(); }

status server::start() {
    auto& s = *impl_;
    if (s.started) return make_error("http.bind", "server already started");
    const std::string where = s.opts.host + ":" + std::to_string(s.opts.port);
    asio::error_code ec;
    const auto addr = asio::ip::make_address(s.opts.host, ec);
    if (ec) return make_error("http.bind", "listen address " + where + ": " + ec.message());
    const tcp::endpoint ep(addr, static_cast<unsigned short>(s.opts.port));
    s.acceptor.open(ep.protocol(), ec);
    if (!ec) s.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) s.acceptor.bind(ep, ec);
    if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        asio::error_code ignore;
        s.acceptor.close(ignore);
        return make_error("http.bind", "cannot listen on " + where + ": " + ec.message());
    }
    s.bound_port = s.acceptor.local_endpoint(ec).port();
    s.started = true;
    s.do_accept();
    for (std::size_t i = 0; i < s.opts.threads; ++i) {
        s.threads.emplace_back([&s] {
            for (;;) {
                try {
                    s.io.run();
                    return;
                } catch (const std::exception& e) {
                    spdlog::error("http server: I/O thread caught: {}", e.what());
                }
            }
        });
    }
    return {};
}

int server::port() const { return impl_->bound_port; }

void server::stop() {
    auto& s = *impl_;
    if (!s.started || s.stopped) return;
    s.stopped = true;
    asio::post(s.io, [&s] {
        asio::error_code ec;
        s.acceptor.close(ec);
    });
    s.io.stop();
    for (auto& t : s.threads)
        if (t.joinable()) t.join();
    s.threads.clear();
    asio::error_code ec;
    s.acceptor.close(ec);
    std::vector<std::shared_ptr<session>> live;
    {
        std::lock_guard lock(s.sessions_mutex);
        for (auto& w : s.sessions)
            if (auto p = w.lock()) live.push_back(std::move(p));
        s.sessions.clear();
    }
    for (auto& p : live) p->close();
    live.clear();
    // Let the aborted operations run so their handlers (and the sessions they hold) are released.
    s.io.restart();
    s.io.poll();
}

}  // namespace connguard::http
