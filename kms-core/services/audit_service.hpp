// Reading and verifying the audit chain, and recording denied requests.
#pragma once

#include <optional>
#include <string>

#include "services/context.hpp"

namespace kms::core {

struct AuditVerification {
    bool valid = true;
    std::uint64_t records = 0;
    AuditHead head;
    std::optional<std::uint64_t> first_invalid;  ///< seq of the first bad record
    std::string problem;                         ///< what is wrong there, empty when valid
};

/// Which records GET /v1/audit returns; an empty field matches everything.
struct AuditFilter {
    std::string actor;   ///< exact principal name ("-" for unauthenticated, "kmsd")
    std::string action;  ///< exact action, or a prefix when it ends in '*' ("session.*")
    std::string target;  ///< exact target (key id, principal, session id, ...)
    std::optional<AuditOutcome> outcome;
    std::optional<std::int64_t> since_ms;  ///< records at or after (epoch ms)
    std::optional<std::int64_t> until_ms;  ///< records before (epoch ms)

    bool empty() const {
        return actor.empty() && action.empty() && target.empty() && !outcome && !since_ms &&
               !until_ms;
    }
    bool matches(const AuditRecord& r) const;
};

/// One page of a filtered read: the matching records in sequence order and where to go on.
struct AuditPage {
    std::vector<AuditRecord> records;
    /// The seq to pass as `from` for the next page, or nullopt when the log's end was reached.
    /// Set when the page is full or the scan budget ran out (then the page may hold fewer than
    /// the limit, even none, and more matches may follow).
    std::optional<std::uint64_t> next;
    std::uint64_t scanned = 0;  ///< records read to build this page
};

/// Records one filtered read looks at, at most: keeps a request's cost bounded on a long log
/// (14 to 21 ms for 20,000 records on the 2-core development machine, other builds running);
/// the caller follows `next`.
inline constexpr std::uint64_t kAuditScanBudget = 20000;

class AuditService {
  public:
    explicit AuditService(ServiceContext& ctx) : m_ctx(ctx) {}

    /// Records with seq >= @p from, at most @p limit (1..1000). Roles: admin, auditor.
    std::vector<AuditRecord> list(const Principal& caller, std::uint64_t from, std::size_t limit);

    /// Records with seq >= @p from that match @p filter, at most @p limit (1..1000), reading at
    /// most @p budget records (kAuditScanBudget by default, at least @p limit). The cursor is
    /// a seq, so pages stay correct while records are appended. Roles: admin, auditor.
    AuditPage search(const Principal& caller, const AuditFilter& filter, std::uint64_t from,
                     std::size_t limit, std::uint64_t budget = kAuditScanBudget);

    /// Walks the whole chain: seq without gaps, each prev_hash equal to the hash before, each
    /// hash equal to SHA-256 of the canonical bytes, each seal present equal to the HSM's HMAC
    /// of the hash, the last record sealed (the store seals the last record of each commit
    /// batch; the chain carries that seal back over the batch), and the stored head equal to
    /// the last record. Detects an edited, inserted or deleted record, including one whose
    /// hashes were recomputed (the seal needs the HSM): then the first record reported is
    /// the first one after the last seal that still verifies.
    AuditVerification verify(const Principal& caller);

    /// Appends a "denied" record for a refused request. Never throws: a request already being
    /// refused is refused whether or not its record could be written (the failure is logged by
    /// the caller through the returned false).
    bool record_denial(const std::string& actor, const std::string& action,
                       const std::string& target, const std::string& detail) noexcept;

  private:
    ServiceContext& m_ctx;
};

}  // namespace kms::core
