#pragma once
// Held messages: a message whose handler still asked to retry when the client shut down (paho
// acknowledges it as soon as the callback returns) is parked as one file in
// `persistence_dir`/held/ and handed to the handlers again by the next connect().
// Files are written with write_file_atomic (common/atomic_file.h) and replayed in arrival order.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/mqtt_client.h"
#include "common/result.h"

namespace connguard::mqtt::detail {

/// One held message as bytes ("CGHELD1\n" + length-prefixed fields) and back.
std::string encode_held(const message& m);
std::optional<message> decode_held(std::string_view bytes);

class held_store {
public:
    /// `persistence_dir` empty = no store (enabled() is false and nothing is kept).
    explicit held_store(const std::string& persistence_dir);

    bool enabled() const { return !dir_.empty(); }
    const std::filesystem::path& dir() const { return dir_; }

    /// Writes `m` to a new file; returns its path, or an error naming the file.
    result<std::filesystem::path> keep(const message& m);
    /// The held files, oldest first.
    std::vector<std::filesystem::path> list() const;
    /// Reads one held file; an error naming it when it is unreadable.
    result<message> load(const std::filesystem::path& file) const;
    /// Deletes a replayed file.
    void remove(const std::filesystem::path& file) const;

private:
    std::filesystem::path dir_;
    std::atomic<std::uint64_t> seq_{0};
};

}  // namespace connguard::mqtt::detail
