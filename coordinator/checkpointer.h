#pragma once
// Audit checkpoints, the I/O side (the signing and the formats are coordinator/audit_checkpoint.h).
//
// Runs on the committer thread, after a commit, on the writer connection (outside a transaction):
// when the audit head moved since the last checkpoint and either an approval was just committed or
// `interval_ms` passed since the last one, it signs a checkpoint of the head and
//  - queues it retained on connguard/v1/audit/checkpoint and, when configured, as a webhook
//    delivery (one transaction on the outbox tables: the publisher thread and the webhook worker
//    send them with their usual retry), then
//  - appends it as one line to the checkpoint file (write + fsync).
// A checkpoint is signed only over committed entries, so no anchor ever names a rolled-back entry.
// A failure is logged and the whole checkpoint retried a few seconds later (a repeat is harmless).
//
// At start, check_against_file() compares the log with the newest checkpoint in the file: a log
// that was cut back or rewritten while the coordinator was stopped is logged as critical and
// recorded in the audit log itself (`audit.checkpoint_mismatch`), so the next checkpoints, which
// anchor the log as it now is, cannot make the loss look normal.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "coordinator/audit_checkpoint.h"
#include "coordinator/store.h"

namespace connguard::coord {

struct checkpoint_settings {
    checkpoint::signing_key key;
    std::string coordinator_id;             ///< signed into every checkpoint (broker.clientId)
    std::int64_t interval_ms = 60000;       ///< audit.checkpointSeconds
    std::filesystem::path file;             ///< audit.checkpointFile; empty = none
    std::string webhook_url;                ///< audit.checkpointWebhook; empty = none
};

class checkpointer {
public:
    checkpointer(store& db, const clock& clk, checkpoint_settings settings);

    /// Start-up: cuts a partial last line off the checkpoint file (a crash mid-write), then
    /// compares the log with the file's newest checkpoint (when it verifies with this key) and
    /// records a contradiction. Errors only for the database; file problems are logged.
    status check_against_file();

    /// Signs and emits a checkpoint when one is due (see above); true when it did.
    /// `approval` = an approval was committed since the last call: anchor it now.
    result<bool> maybe_checkpoint(bool approval);

    std::uint64_t emitted() const { return emitted_; }

private:
    status emit(const v1::AuditCheckpoint& c, std::int64_t now);
    status append_line(const std::string& line);

    store& db_;
    const clock& clk_;
    checkpoint_settings s_;
    std::optional<v1::AuditEntryHash> last_;  ///< the head of the last checkpoint emitted
    std::int64_t last_at_ms_ = 0;
    std::int64_t retry_after_ms_ = 0;         ///< after a failure: not before this
    bool approval_pending_ = false;           ///< an approval is waiting for its anchor
    std::uint64_t emitted_ = 0;
};

}  // namespace connguard::coord
