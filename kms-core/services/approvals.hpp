// Dual control (M-of-N approvals): quorum rules per operation, and approval requests that
// store a gated REST request until M officers other than the requester approve it; the
// requester then replays it exactly once. The REST layer (api/routes_approvals.cpp) does the
// storing and the replay; this service keeps the records, the votes and the audit trail.
//
// Records: core::Table::Quorums (operation name -> rule) and core::Table::Approvals
// ("a-" + 32 hex -> approval), each value starting with a format byte. Expiry is lazy: a
// pending or approved record past its expiresAt reads as Expired (Clock port), nothing
// rewrites it.
//
// Thread safety: every method may be called from any thread; votes and state changes are
// read-modify-write inside one store write transaction, so two concurrent votes or two
// concurrent executions never both succeed.
#pragma once

#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "services/context.hpp"

namespace kms::core {

/// M-of-N rule of one operation.
struct QuorumRule {
    std::string operation;  ///< e.g. "key.destroy" (one of ApprovalService::gated_operations())
    std::uint32_t approvals = 1;  ///< M, 1..9
    std::uint32_t approver_roles = static_cast<std::uint32_t>(Role::Admin) |
                                   static_cast<std::uint32_t>(Role::KeyOfficer);  ///< Role bits
    std::int64_t ttl_seconds = 86400;  ///< lifetime of a request, 60..604800
    std::int64_t updated_ms = 0;
    std::string updated_by;
};

enum class ApprovalState : std::uint8_t {
    Pending = 1,    ///< waiting for votes
    Approved = 2,   ///< M approvals; the requester may execute
    Rejected = 3,   ///< one rejection; final
    Expired = 4,    ///< pending or approved past expiresAt (computed, never stored)
    Executing = 5,  ///< replay started; stays so if kmsd stopped during the replay (final)
    Executed = 6,   ///< replayed, the operation succeeded; final
    Failed = 7,     ///< replayed, the operation answered an error; final
};
/// "pending", "approved", "rejected", "expired", "executing", "executed", "failed".
std::string_view approval_state_name(ApprovalState s);
std::optional<ApprovalState> parse_approval_state(std::string_view name);

struct ApprovalVote {
    std::string by;
    std::int64_t at_ms = 0;
    std::string comment;  ///< may be empty; at most 1024 bytes
};

/// The REST request to replay: never holds a bearer token (the requester re-authenticates to
/// execute). The body is the JSON text as parsed by the server.
struct StoredRequest {
    std::string method;
    std::string path;
    std::vector<std::pair<std::string, std::string>> query;
    std::string body_json;  ///< empty when the request had no body
};

struct Approval {
    std::string id;         ///< "a-" + 32 hex
    std::string operation;  ///< "principal.create", "quorum.key.destroy", ...
    std::string requested_by;
    std::string summary;                           ///< "METHOD /path": no secrets
    ApprovalState state = ApprovalState::Pending;  ///< as stored (see ApprovalService::state_of)
    std::uint32_t required = 1;                    ///< M as it was when the request was made
    std::uint32_t approver_roles = 0;              ///< approver roles as they were then
    std::int64_t created_ms = 0;
    std::int64_t expires_ms = 0;
    StoredRequest request;
    std::vector<ApprovalVote> approvals;
    std::vector<ApprovalVote> rejections;
    std::int64_t executed_ms = 0;    ///< when the replay started (0 before)
    std::int32_t result_status = 0;  ///< HTTP status of the replay once finished (0 before)
    std::string result;              ///< short outcome ("201", "400 invalid_argument"), no secrets
};

/// A rule plus how many principals can currently approve under it.
struct QuorumView {
    QuorumRule rule;
    std::size_t eligible = 0;
};

class ApprovalService {
  public:
    explicit ApprovalService(ServiceContext& ctx) : m_ctx(ctx) {}

    /// The operation names that routes put under dual control. A quorum can be set for these
    /// only, so a typo cannot leave an operation unguarded while looking configured.
    static const std::vector<std::string>& gated_operations();

    // ---- quorums ----
    /// The rule of @p operation, or nullopt (the operation runs at once). Cached in memory;
    /// set_quorum/delete_quorum invalidate it. On a shared store (ServiceContext::shared_store)
    /// read from the store every time: another node may have set or deleted it.
    std::optional<QuorumRule> quorum_for(std::string_view operation);
    /// Creates or replaces the rule (admin). Checks: operation known, approvals 1..9, roles
    /// not empty and without "plugin", ttl 60..604800, approvals <= eligible principals.
    /// Whether the change itself needs approval is decided by the REST layer. Audited
    /// "quorum.set".
    QuorumView set_quorum(const Principal& caller, QuorumRule rule);
    /// The checks of set_quorum without the write (InvalidArgument naming the field); returns
    /// the number of eligible approvers. Lets the REST layer refuse a bad change before it is
    /// stored for approval.
    std::size_t check_quorum(const QuorumRule& rule);
    /// Removes the rule (admin); NotFound when none. Audited "quorum.delete".
    void delete_quorum(const Principal& caller, std::string_view operation);
    /// All rules (admin, key-officer, auditor), by operation name.
    std::vector<QuorumView> list_quorums(const Principal& caller);
    /// Principals holding one of @p roles and not disabled.
    std::size_t eligible(std::uint32_t roles);

    // ---- approvals ----
    /// Stores a pending approval of @p request under @p rule, requested by @p caller.
    /// @p operation names what is asked ("quorum.key.destroy" for a change of the
    /// key.destroy rule, which is decided under the key.destroy rule). Audited
    /// "approval.request".
    Approval request(const Principal& caller, std::string_view operation, const QuorumRule& rule,
                     std::string summary, StoredRequest request);
    /// Votes. Forbidden when @p caller is the requester, lacks an approver role or is
    /// disabled; Expired past expiresAt; WrongState unless pending; Conflict when @p caller
    /// already voted. M approvals make it Approved, one rejection Rejected. Audited
    /// "approval.approve" / "approval.reject".
    Approval approve(const Principal& caller, std::string_view id, const std::string& comment);
    Approval reject(const Principal& caller, std::string_view id, const std::string& comment);
    /// One approval (officers, or the requester). NotFound when unknown.
    Approval get(const Principal& caller, std::string_view id);
    /// Newest first, at most @p limit, optionally only those whose state_of() is @p state.
    std::vector<Approval> list(const Principal& caller, std::optional<ApprovalState> state,
                               std::size_t limit = 1000);
    /// Starts the replay: only the requester, only an Approved, unexpired record. Marks it
    /// Executing in a durable write before returning, so a second call (or a crash during the
    /// replay) can never run the operation twice. Audited "approval.execute" (started).
    Approval begin_execute(const Principal& caller, std::string_view id);
    /// Records the outcome of the replay: Executed when @p status < 400, else Failed.
    /// Audited "approval.execute" with the status. Never throws (the operation already ran;
    /// its reply must reach the caller); false when the record could not be written.
    bool finish_execute(std::string_view id, int status, const std::string& detail) noexcept;

    /// The state as callers see it: Pending/Approved past expiresAt read as Expired.
    ApprovalState state_of(const Approval& a) const;

  private:
    Approval vote(const Principal& caller, std::string_view id, const std::string& comment,
                  bool approve);
    void invalidate(std::string_view operation);

    ServiceContext& m_ctx;
    std::shared_mutex m_mutex;
    /// operation -> rule or nullopt (absent); negative entries too: every gated request asks.
    std::unordered_map<std::string, std::optional<QuorumRule>> m_quorums;
    std::uint64_t m_generation = 0;  ///< bumped by every change: a slow reader cannot insert
                                     ///< a rule older than the change
};

/// Record codecs (format byte 1), exposed for tests.
Bytes encode_quorum(const QuorumRule& q);
QuorumRule decode_quorum(ByteView data);
Bytes encode_approval(const Approval& a);
Approval decode_approval(ByteView data);

}  // namespace kms::core
