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

class AuditService {
  public:
    explicit AuditService(ServiceContext& ctx) : m_ctx(ctx) {}

    /// Records with seq >= @p from, at most @p limit (1..1000). Roles: admin, auditor.
    std::vector<AuditRecord> list(const Principal& caller, std::uint64_t from, std::size_t limit);

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
