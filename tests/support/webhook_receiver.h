#pragma once
// A real HTTP webhook receiver on loopback (common/http's server) that keeps every body it is
// sent, for tests of alert subscriptions and checkpoint witnesses: `url(path)` is what a
// subscription points at.
#include <cstddef>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/http/http_server.h"

namespace connguard::test {

class webhook_receiver {
public:
    webhook_receiver()
        : server_({.host = "127.0.0.1", .port = 0, .threads = 1}, [this](const http::server_request& req) {
              std::lock_guard lock(mu_);
              bodies_.push_back(req.body);
              keys_.push_back(req.header("Idempotency-Key"));
              return http::server_response{};
          }) {
        if (auto st = server_.start(); !st) throw std::runtime_error("webhook receiver: " + st.err().message);
    }

    /// "http://127.0.0.1:PORT" (what an audit entry may show of a subscription).
    std::string origin() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }
    std::string url(const std::string& path) const { return origin() + path; }

    std::size_t count() const {
        std::lock_guard lock(mu_);
        return bodies_.size();
    }
    /// Every body received so far, in order.
    std::vector<std::string> bodies() const {
        std::lock_guard lock(mu_);
        return bodies_;
    }
    /// The Idempotency-Key of every request received so far, in order ("" when it had none).
    std::vector<std::string> idempotency_keys() const {
        std::lock_guard lock(mu_);
        return keys_;
    }
    /// The i-th body received ("" past the end).
    std::string body(std::size_t i) const {
        std::lock_guard lock(mu_);
        return i < bodies_.size() ? bodies_[i] : std::string{};
    }

private:
    mutable std::mutex mu_;
    std::vector<std::string> bodies_;
    std::vector<std::string> keys_;
    http::server server_;
};

}  // namespace connguard::test
