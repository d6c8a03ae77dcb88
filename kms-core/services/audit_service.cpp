// Use cases: list and verify the audit chain, record denials.
#include "services/audit_service.hpp"

#include <algorithm>
#include <optional>

#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"

namespace kms::core {

namespace {

/// Records queued without waiting (MetadataStore::write_queued) that were queued before this
/// call are committed when it returns: an empty write commits after them, and costs no fsync.
void settle_queued_records(MetadataStore& store) {
    store.write([](WriteTxn&) {});
}

}  // namespace

std::vector<AuditRecord> AuditService::list(const Principal& caller, std::uint64_t from,
                                            std::size_t limit) {
    require_role(caller, {Role::Admin, Role::Auditor}, "reading the audit log");
    if (limit < 1 || limit > 1000)
        throw Error(ErrorCode::InvalidArgument, "limit: must be between 1 and 1000");
    settle_queued_records(m_ctx.store);
    return m_ctx.store.read_audit(from, limit);
}

bool AuditFilter::matches(const AuditRecord& r) const {
    const AuditEvent& e = r.event;
    if (!actor.empty() && e.actor != actor) return false;
    if (!target.empty() && e.target != target) return false;
    if (!action.empty()) {
        if (action.back() == '*') {
            if (e.action.compare(0, action.size() - 1, action, 0, action.size() - 1) != 0)
                return false;
        } else if (e.action != action) {
            return false;
        }
    }
    if (outcome && e.outcome != *outcome) return false;
    if (since_ms && r.time_ms < *since_ms) return false;
    if (until_ms && r.time_ms >= *until_ms) return false;
    return true;
}

AuditPage AuditService::search(const Principal& caller, const AuditFilter& filter,
                               std::uint64_t from, std::size_t limit, std::uint64_t budget) {
    require_role(caller, {Role::Admin, Role::Auditor}, "reading the audit log");
    if (limit < 1 || limit > 1000)
        throw Error(ErrorCode::InvalidArgument, "limit: must be between 1 and 1000");
    if (from < 1) from = 1;
    budget = std::max<std::uint64_t>(budget, limit);
    settle_queued_records(m_ctx.store);
    AuditPage page;
    std::uint64_t at = from;
    while (page.records.size() < limit) {
        if (page.scanned >= budget) {
            page.next = at;  // budget spent: the caller goes on from here
            return page;
        }
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(
            filter.empty() ? limit - page.records.size() : 1000, budget - page.scanned));
        const auto batch = m_ctx.store.read_audit(at, want);
        for (const auto& r : batch) {
            ++page.scanned;
            at = r.seq + 1;
            if (filter.matches(r)) {
                page.records.push_back(r);
                if (page.records.size() == limit) break;
            }
        }
        if (batch.size() < want && page.records.size() < limit) return page;  // end of the log
    }
    page.next = at;  // full page: the next one starts after its last record
    return page;
}

AuditVerification AuditService::verify(const Principal& caller) {
    require_role(caller, {Role::Admin, Role::Auditor}, "verifying the audit log");
    AuditVerification out;
    settle_queued_records(m_ctx.store);
    out.head = m_ctx.store.audit_head();
    Bytes prev(32, 0);
    std::uint64_t expected = 1;
    // The store seals the last record of each commit batch, naming the batch's first record;
    // the records between are covered through the hash chain. The first record after the
    // last seal, 0 when the last record checked was sealed.
    std::uint64_t unsealed_from = 0;
    auto fail = [&](std::uint64_t seq, std::string problem) {
        out.valid = false;
        out.first_invalid = seq;
        out.problem = std::move(problem);
    };
    while (out.valid) {
        const auto page = m_ctx.store.read_audit(expected, 1000);
        if (page.empty()) break;
        for (const auto& r : page) {
            if (r.seq != expected) {
                fail(expected, "record " + std::to_string(expected) + " is missing");
                break;
            }
            if (!equal_ct(r.prev_hash, prev)) {
                fail(r.seq,
                     "previous-hash link does not match record " + std::to_string(r.seq - 1));
                break;
            }
            if (!equal_ct(crypto::sha256(canonical_audit_bytes(r)), r.hash)) {
                fail(r.seq, "content does not match its hash (edited)");
                break;
            }
            std::optional<AuditSealParts> seal;
            try {
                seal = audit_seal_parts(r);
            } catch (const Error& e) {
                fail(r.seq, e.what());
                break;
            }
            if (!seal) {
                if (unsealed_from == 0) unsealed_from = r.seq;
            } else {
                const std::uint64_t from = unsealed_from == 0 ? r.seq : unsealed_from;
                if (seal->first_seq != from) {
                    // Either records lost their seal (and a later batch's seal does not
                    // reach back to them), or the seal claims records that were sealed.
                    fail(std::min(from, seal->first_seq),
                         "the HSM seal of record " + std::to_string(r.seq) + " covers records " +
                             std::to_string(seal->first_seq) + " on, but the last seal before " +
                             "it is on record " + std::to_string(from - 1) +
                             " (seal removed, or records edited)");
                    break;
                }
                if (!equal_ct(m_ctx.hsm.audit_seal(seal->mac_input), seal->mac)) {
                    fail(from, from == r.seq
                                   ? "HSM seal does not verify (hashes recomputed or forged)"
                                   : "the HSM seal of record " + std::to_string(r.seq) +
                                         " does not verify: records " + std::to_string(from) +
                                         " to " + std::to_string(r.seq) +
                                         " were edited and their hashes recomputed, or forged");
                    break;
                }
                unsealed_from = 0;
            }
            prev = r.hash;
            ++expected;
            ++out.records;
        }
    }
    if (out.valid) {
        if (out.head.seq != out.records)
            fail(out.records + 1, "the chain ends at record " + std::to_string(out.records) +
                                      " but the head says " + std::to_string(out.head.seq) +
                                      " (records deleted at the end)");
        else if (out.records > 0 && !equal_ct(out.head.hash, prev))
            fail(out.records, "the head hash does not match the last record");
        else if (unsealed_from != 0)
            fail(unsealed_from, "records " + std::to_string(unsealed_from) + " to " +
                                    std::to_string(out.records) +
                                    " are covered by no HSM seal (the last record has none)");
    }
    return out;
}

bool AuditService::record_denial(const std::string& actor, const std::string& action,
                                 const std::string& target, const std::string& detail) noexcept {
    try {
        m_ctx.store.write([&](WriteTxn& t) {
            t.append_audit(AuditEvent{actor, action, target, AuditOutcome::Denied, detail});
        });
        return true;
    } catch (...) {
        return false;
    }
}

}  // namespace kms::core
