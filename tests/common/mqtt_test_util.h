#pragma once
// Helpers shared by the MQTT suites in tests/common: client options for a broker fixture user, a
// thread-safe inbox for received messages, and waiting for a condition without timing assertions.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "common/mqtt_client.h"
#include "tests/support/broker.h"
#include "tests/support/util.h"  // eventually()

namespace connguard::test {

inline mqtt::client_options client_for(const broker& b, const std::string& user, const std::string& client_id) {
    return mqtt::client_options_builder()
        .server_uri(b.uri())
        .client_id(client_id)
        .credentials(user, b.password(user))
        .reconnect(std::chrono::milliseconds{1000}, std::chrono::milliseconds{2000})
        .finalize();
}

/// Collects messages from a handler (paho's thread) for the test thread.
class inbox {
public:
    mqtt::message_handler handler() {
        return [this](const mqtt::message& m) {
            std::lock_guard lock(mu_);
            messages_.push_back(m);
            cv_.notify_all();
            return mqtt::handler_result::handled;
        };
    }
    /// Waits until at least n messages arrived (or the timeout passed); returns the count.
    std::size_t wait_for(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds{15}) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, timeout, [&] { return messages_.size() >= n; });
        return messages_.size();
    }
    std::vector<mqtt::message> messages() {
        std::lock_guard lock(mu_);
        return messages_;
    }
    std::size_t size() {
        std::lock_guard lock(mu_);
        return messages_.size();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<mqtt::message> messages_;
};

}  // namespace connguard::test
