// Audit records: a hash chain (each record carries the SHA-256 of the one before) sealed by an
// HMAC computed in the HSM, so an edit that recomputes the hashes is still detected. The
// store seals the last record of each commit batch and names in the seal the first record of
// that batch: the seal covers exactly those records through the chain, and a record that no
// seal covers shows. The canonical encoding below is what gets hashed; keep it stable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "bytes.hpp"

namespace kms::core {

enum class AuditOutcome : std::uint8_t { Success = 1, Denied, Failed };
std::string_view audit_outcome_name(AuditOutcome o);  ///< "success", "denied", "failed"

/// What a use case wants recorded. No secret ever goes in here.
struct AuditEvent {
    std::string actor;   ///< principal name, or "-" when unauthenticated, "kmsd" for the daemon
    std::string action;  ///< e.g. "key.create", "key.destroy", "principal.create", "auth"
    std::string target;  ///< key id, principal name, or empty
    AuditOutcome outcome = AuditOutcome::Success;
    std::string detail;  ///< short, human-readable, no secrets (error code, new state, ...)
};

/// A stored record: the event plus its place in the chain.
struct AuditRecord {
    std::uint64_t seq = 0;  ///< 1, 2, ... with no gaps
    std::int64_t time_ms = 0;
    AuditEvent event;
    Bytes prev_hash;  ///< 32 bytes; all zero for seq 1
    Bytes hash;       ///< SHA-256(canonical_audit_bytes(record))
    Bytes seal;       ///< empty, or the batch seal (audit_batch_seal), or a legacy seal
};

/// The exact bytes hashed for a record: "KMSAUD1", seq, time, the event fields and prev_hash.
Bytes canonical_audit_bytes(const AuditRecord& r);

/// What the HSM's audit HMAC is computed over for a batch seal: @p first_seq (8 bytes,
/// big-endian; the batch's first record) || @p hash (the batch's last record). 40 bytes, so
/// never equal to a legacy seal's input (the 32-byte hash alone).
Bytes audit_batch_seal_input(std::uint64_t first_seq, ByteView hash);
/// The stored seal of a batch's last record: @p first_seq (8 bytes, big-endian) || @p mac.
Bytes audit_batch_seal(std::uint64_t first_seq, ByteView mac);

/// A record's seal taken apart for verification.
struct AuditSealParts {
    std::uint64_t first_seq;  ///< first record the seal covers (the record itself for legacy)
    Bytes mac_input;          ///< what the HSM's audit HMAC must be computed over
    Bytes mac;                ///< the HMAC to compare with
};
/// Empty seal: std::nullopt (a record inside a batch). 32 bytes: a legacy seal, HMAC of the
/// hash, covering the record alone. 40 bytes: a batch seal (audit_batch_seal). Any other
/// length, or a first_seq of 0 or beyond the record: Error(Integrity).
std::optional<AuditSealParts> audit_seal_parts(const AuditRecord& r);

/// The head of the chain as the store keeps it.
struct AuditHead {
    std::uint64_t seq = 0;  ///< 0 when the log is empty
    Bytes hash;             ///< 32 zero bytes when empty
};

}  // namespace kms::core
