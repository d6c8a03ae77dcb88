// Audit records: a hash chain (each record carries the SHA-256 of the one before) whose every
// link is also sealed by an HMAC computed in the HSM, so an edit that recomputes the hashes
// is still detected. The canonical encoding below is what gets hashed; keep it stable.
#pragma once

#include <cstdint>
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
    Bytes seal;       ///< HMAC-SHA256 under the HSM audit key over `hash`
};

/// The exact bytes hashed for a record: "KMSAUD1", seq, time, the event fields and prev_hash.
Bytes canonical_audit_bytes(const AuditRecord& r);

/// The head of the chain as the store keeps it.
struct AuditHead {
    std::uint64_t seq = 0;  ///< 0 when the log is empty
    Bytes hash;             ///< 32 zero bytes when empty
};

}  // namespace kms::core
