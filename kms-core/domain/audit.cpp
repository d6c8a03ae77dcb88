// Canonical encoding of audit records for the hash chain.
#include "audit.hpp"

#include "error.hpp"

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

Bytes audit_batch_seal_input(std::uint64_t first_seq, ByteView hash) {
    Bytes out;
    put_u64(out, first_seq);
    out.insert(out.end(), hash.begin(), hash.end());
    return out;
}

Bytes audit_batch_seal(std::uint64_t first_seq, ByteView mac) {
    Bytes out;
    put_u64(out, first_seq);
    out.insert(out.end(), mac.begin(), mac.end());
    return out;
}

std::optional<AuditSealParts> audit_seal_parts(const AuditRecord& r) {
    if (r.seal.empty()) return std::nullopt;
    if (r.seal.size() == 32) return AuditSealParts{r.seq, r.hash, r.seal};
    if (r.seal.size() != 40)
        throw Error(ErrorCode::Integrity, "audit record " + std::to_string(r.seq) +
                                              " has a seal of " + std::to_string(r.seal.size()) +
                                              " bytes");
    std::uint64_t first = 0;
    for (std::size_t i = 0; i < 8; ++i) first = (first << 8) | r.seal[i];
    if (first == 0 || first > r.seq)
        throw Error(ErrorCode::Integrity, "audit record " + std::to_string(r.seq) +
                                              " has a seal naming record " +
                                              std::to_string(first) + " as its batch's first");
    return AuditSealParts{first, audit_batch_seal_input(first, r.hash),
                          Bytes(r.seal.begin() + 8, r.seal.end())};
}

}  // namespace kms::core
