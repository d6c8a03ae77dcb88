// Canonical encoding of audit records for the hash chain.
#include "audit.hpp"

namespace kms::core {

std::string_view audit_outcome_name(AuditOutcome o) {
    switch (o) {
        case AuditOutcome::Success:
            return "success";
        case AuditOutcome::Denied:
            return "denied";
        case AuditOutcome::Failed:
            return "failed";
    }
    return "?";
}

Bytes canonical_audit_bytes(const AuditRecord& r) {
    Bytes out;
    const std::string_view magic = "KMSAUD1";
    for (char c : magic) out.push_back(static_cast<std::uint8_t>(c));
    put_u64(out, r.seq);
    put_u64(out, static_cast<std::uint64_t>(r.time_ms));
    put_lv(out, r.event.actor);
    put_lv(out, r.event.action);
    put_lv(out, r.event.target);
    put_u8(out, static_cast<std::uint8_t>(r.event.outcome));
    put_lv(out, r.event.detail);
    put_lv(out, r.prev_hash);
    return out;
}

}  // namespace kms::core
