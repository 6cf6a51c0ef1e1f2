#pragma once
// The agent's durable state for one tenant, in its state directory (agent/README.md "State dir"):
//
//   state.json            last COMMITTED cycle: cycle counter, carried-forward snapshot, check statuses
//   outbox.json           a cycle's messages (exact envelope bytes, ids included) written BEFORE they
//                         are published, with the state to commit once the broker acknowledged them all
//   unacked/<cycle>.json  a published cycle's messages (same format as outbox.json, moved there by a
//                         rename after the state commit) kept until the coordinator's IngestAck
//                         names every one of them; re-published (same ids) after the ack timeout
//   commands/<sha256>.json one file per command id: received -> executing -> done (+ the result bytes)
//
// Every write is atomic: temp file in the same folder, fsync, rename, fsync of the folder. So a crash
// leaves either the old or the new file, never a torn one. Exactly-once events follow: a crash after
// publish but before commit re-publishes the same outbox (same envelope ids, deduped by the
// coordinator); a crash before the outbox was written publishes nothing and the next cycle diffs
// against the unchanged committed state.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/diff.h"
#include "agent/snapshot/tenant_snapshot.h"
#include "common/result.h"

namespace connguard::agent {

struct committed_state {
    std::uint64_t cycle = 0;                 ///< last committed cycle (0 = none yet)
    std::optional<snapshot::tenant_snapshot> snapshot;  ///< carried-forward snapshot (none = baseline next)
    report_statuses statuses;                ///< statuses of the last committed report
};

struct outbox_message {
    std::string topic;
    std::string payload;   ///< the serialized Envelope, byte for byte what is (re)published
    bool retained = false;
    std::string envelope_id;
};

struct outbox {
    std::uint64_t cycle = 0;
    std::vector<outbox_message> messages;
    committed_state next;  ///< what becomes state.json once every message is acknowledged
};

enum class command_phase { received, executing, done };

struct command_record {
    std::string command_id;
    command_phase phase = command_phase::received;
    std::string command_payload;  ///< the AgentCommand envelope as received
    std::string result_payload;   ///< the CommandResult envelope (phase done)
    bool published = false;       ///< the broker acknowledged the result
};

/// Writes `bytes` to `path` atomically (temp + fsync + rename + fsync dir), mode 0600.
status write_file_atomic(const std::filesystem::path& path, const std::string& bytes);
/// Reads a whole file; "state.missing" when it does not exist.
result<std::string> read_file(const std::filesystem::path& path);

class state_store {
public:
    explicit state_store(std::filesystem::path dir) : dir_(std::move(dir)) {}
    const std::filesystem::path& dir() const { return dir_; }

    /// Creates the folder tree (mode 0700).
    status open();

    /// The committed state; an empty state (cycle 0, no snapshot) when there is none yet.
    /// A corrupt file is an error naming it (the caller moves it aside and starts a baseline).
    result<committed_state> load_state() const;
    status save_state(const committed_state& s) const;
    /// Renames a corrupt state.json to state.json.corrupt so the agent can start over.
    void quarantine_state() const;

    result<std::optional<outbox>> load_outbox() const;
    status save_outbox(const outbox& o) const;
    status clear_outbox() const;

    /// Moves outbox.json to unacked/<cycle>.json (rename + fsync of the folder): the cycle is
    /// committed, its messages wait for the coordinator's IngestAck.
    status keep_unacked(std::uint64_t cycle) const;
    /// Every kept cycle, oldest first. A corrupt file is skipped and logged by the caller via `errors`.
    std::vector<outbox> load_unacked(std::vector<std::string>* errors = nullptr) const;
    /// Deletes unacked/<cycle>.json (every message of it was acknowledged).
    status drop_unacked(std::uint64_t cycle) const;

    result<std::optional<command_record>> load_command(const std::string& command_id) const;
    status save_command(const command_record& r) const;
    /// Commands that still need work after a restart: received, executing (interrupted), or done
    /// but the result not yet acknowledged by the broker.
    std::vector<command_record> unfinished_commands() const;

private:
    std::filesystem::path command_path(const std::string& id) const;
    std::filesystem::path unacked_path(std::uint64_t cycle) const;
    result<std::optional<outbox>> load_outbox_file(const std::filesystem::path& p) const;
    std::filesystem::path dir_;
};

}  // namespace connguard::agent
