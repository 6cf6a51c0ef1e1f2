#pragma once
// Audit checkpoints: a signed anchor of the audit log's head, kept outside the database, so that
// cutting the newest entries off the log (which leaves a perfectly valid, shorter hash chain) is
// seen. The coordinator signs one checkpoint at least every `audit.checkpointSeconds` while the
// head moves and right after every approval (coordinator/checkpointer.h does the I/O); verifiers
// (`connguardctl audit --verify --checkpoint FILE | --from-broker`) trust only the public key.
//
// Pure: keys come in as PEM text, time as a number, and nothing here reads a file, a clock or the
// network. Used by the coordinator and by connguardctl.
//
// What is signed (Ed25519, RFC 8032) is a canonical byte string, never the protobuf encoding
// (which no implementation promises to keep byte-stable):
//
//   "connguard.v1.AuditCheckpoint" "|" len:seq "|" len:entry_hash "|" len:at_ms "|" len:coordinator_id "|" len:key_id
//
// where len:x is x's byte length in decimal, ':', then x; seq and at_ms (Unix milliseconds) are
// decimal. Length prefixes keep two different checkpoints from ever signing the same bytes.
//
// The checkpoint file holds one checkpoint per line (JSON Lines), protobuf's JSON mapping of
// connguard.v1.AuditCheckpoint with the proto field names, e.g.
//   {"seq":"42","entry_hash":"9f…","at":"2026-03-01T10:00:00.123Z","coordinator_id":"connguard-coordinator",
//    "key_id":"3b1f0c2a9d8e7f60","signature":"q83v…=="}
// The webhook body is the same JSON object.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "connguard/v1/admin.pb.h"

namespace connguard::coord::checkpoint {

/// An Ed25519 private key. Copies share the key; the key never leaves the process (no getter
/// returns it), so it cannot reach a log line or a message.
class signing_key {
public:
    /// Parses a PEM private key ("-----BEGIN PRIVATE KEY-----", as `openssl genpkey -algorithm
    /// ed25519` writes it). Errors ("audit.key"): not PEM, or not an Ed25519 key. The error never
    /// quotes the text.
    static result<signing_key> from_pem(std::string_view pem);

    /// The public half as PEM ("-----BEGIN PUBLIC KEY-----", SubjectPublicKeyInfo), what
    /// verifiers are given; the same text as `openssl pkey -in KEY -pubout`.
    std::string public_key_pem() const;
    /// First 16 hex digits of SHA-256 over the raw 32-byte public key; names the key in checkpoints.
    const std::string& key_id() const { return key_id_; }

    /// Ed25519 signature (64 bytes) of `bytes`.
    std::string sign(std::string_view bytes) const;

private:
    signing_key() = default;
    struct impl;
    std::shared_ptr<const impl> impl_;
    std::string key_id_;
};

/// An Ed25519 public key: what verifiers trust.
class public_key {
public:
    /// Parses a PEM public key ("-----BEGIN PUBLIC KEY-----"). Errors ("audit.key"): not PEM, or
    /// not an Ed25519 key (a private key given by mistake is refused too: verifiers never need it).
    static result<public_key> from_pem(std::string_view pem);

    const std::string& key_id() const { return key_id_; }
    /// True when `signature` is this key's Ed25519 signature of `bytes`.
    bool verifies(std::string_view bytes, std::string_view signature) const;

private:
    public_key() = default;
    struct impl;
    std::shared_ptr<const impl> impl_;
    std::string key_id_;
};

/// The canonical bytes a checkpoint's signature covers (see the top of this file).
std::string signed_bytes(const v1::AuditCheckpoint& c);

/// A signed checkpoint of the entry (seq, entry_hash) at `at_ms` (Unix milliseconds).
v1::AuditCheckpoint make(std::uint64_t seq, const std::string& entry_hash, std::int64_t at_ms,
                         const std::string& coordinator_id, const signing_key& key);

/// Checks the signature with `key`. Errors ("audit.checkpoint_signature") name the checkpoint (seq,
/// time, coordinator) and say whether another key signed it (key_id differs) or the content or
/// signature was altered.
status verify(const v1::AuditCheckpoint& c, const public_key& key);

/// One line of the checkpoint file (no newline); also the webhook body.
std::string to_line(const v1::AuditCheckpoint& c);
/// Parses one line. Errors ("audit.checkpoint_format"): not JSON of an AuditCheckpoint, or a field
/// missing (seq, entry_hash, at, key_id, signature). Does not check the signature.
result<v1::AuditCheckpoint> from_line(std::string_view line);

/// Every checkpoint of a checkpoint file's text, in file order, each one's signature checked with
/// `key`. Blank lines are skipped. Errors name the 1-based line: "line 7: ..." with code
/// "audit.checkpoint_format" or "audit.checkpoint_signature". Zero checkpoints is an error
/// ("audit.checkpoint_none"): a verifier that asked for a comparison must not pass on nothing.
result<std::vector<v1::AuditCheckpoint>> parse_file(std::string_view text, const public_key& key);

/// What a verifier knows of the log (from the coordinator's verify answer).
struct log_state {
    std::uint64_t head_seq = 0;                    ///< newest entry (0 = empty log)
    std::string head_hash;                         ///< its hash
    std::map<std::uint64_t, std::string> hash_at;  ///< hash of the entry at each asked sequence number
};

/// The sequence numbers whose hashes compare() needs: each distinct checkpoint seq that the log
/// still reaches (seq <= head_seq), ascending.
std::vector<std::uint64_t> seqs_to_fetch(const std::vector<v1::AuditCheckpoint>& checkpoints, std::uint64_t head_seq);

/// Compares the log with (already verified) checkpoints. Empty = consistent. Otherwise one message
/// per problem, the most telling first:
///  - the log ends before the newest checkpoint: "the log ends at entry 95 but the checkpoint of
///    <time> by <coordinator> anchors entry 100: entries 96-100 are missing";
///  - an entry differs from a checkpoint: "entry 40 has hash ab12… but the checkpoint of <time> by
///    <coordinator> signed 9f3c…: the log was rewritten at or before entry 40";
///  - a checkpoint's seq the log reaches but whose hash the caller did not supply is reported as
///    not checked (a caller bug, never silently passed).
std::vector<std::string> compare(const std::vector<v1::AuditCheckpoint>& checkpoints, const log_state& log);

}  // namespace connguard::coord::checkpoint
