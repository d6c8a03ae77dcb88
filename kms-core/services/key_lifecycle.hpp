// Key lifecycle use cases: create, read, list, rotate, state transitions, revoke, destroy.
// Every change is committed with its audit record in one store transaction (fail closed).
//
// Roles: create/rotate/transition/revoke/destroy need admin or key-officer; reads also allow
// auditor and plugin. Errors: kms::Error (InvalidArgument, Forbidden, NotFound, Conflict,
// WrongState, Hsm*, StoreError).
#pragma once

#include <optional>
#include <string>

#include "ports/metadata_store.hpp"
#include "services/context.hpp"

namespace kms::core {

struct CreateKeyRequest {
    std::string name;
    Algorithm algorithm = Algorithm::Aes256;
    UsageMask usage;
    bool activate = true;  ///< false leaves the key PreActive
    bool exportable = false;
    /// A trusted KEK: exports may go under it. Only with usage wrap and/or unwrap (nothing
    /// else), so a KEK never also protects data.
    bool trusted = false;
};

/// RFC 5280 §5.3.1 reason codes, as KMIP 1.4 §3.31 Revocation Reason uses them.
enum class RevocationReason : std::uint8_t {
    Unspecified = 1,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    PrivilegeWithdrawn,
};
std::string_view revocation_reason_name(RevocationReason r);  ///< "keyCompromise", ...
std::optional<RevocationReason> parse_revocation_reason(std::string_view name);

class KeyLifecycle {
  public:
    explicit KeyLifecycle(ServiceContext& ctx) : m_ctx(ctx) {}

    KeyRecord create(const Principal& caller, const CreateKeyRequest& request);
    /// The record with its not yet flushed use counters added.
    KeyRecord get(const Principal& caller, std::string_view id);
    KeyPage list(const Principal& caller, const KeyFilter& filter, std::string_view after_id,
                 std::size_t limit);
    /// Adds a version (generated in the HSM) that new work uses from now on.
    KeyRecord rotate(const Principal& caller, std::string_view id);
    /// activate, suspend, resume, deactivate (compromise and destroy have their own calls).
    KeyRecord transition(const Principal& caller, std::string_view id, Transition t,
                         const std::string& reason);
    /// Compromise reasons move the key to Compromised (compromise date: @p compromise_ms or
    /// now), the others to Deactivated.
    KeyRecord revoke(const Principal& caller, std::string_view id, RevocationReason reason,
                     std::optional<std::int64_t> compromise_ms, const std::string& message);
    /// Wipes every key block and leaves a tombstone (state Destroyed / DestroyedCompromised).
    KeyRecord destroy(const Principal& caller, std::string_view id, const std::string& reason);

  private:
    KeyRecord change_state(const Principal& caller, std::string_view id, Transition t,
                           const std::string& reason, std::optional<std::int64_t> compromise_ms);
    ServiceContext& m_ctx;
};

/// "k-" and 32 hex digits from the host DRBG.
std::string new_key_id();

/// Throws InvalidArgument (field "usage") when @p usage is empty or holds a usage a key of
/// @p alg cannot have.
void validate_key_usage(Algorithm alg, UsageMask usage);
/// Throws InvalidArgument (field "trusted") when a trusted key would have a usage other than
/// wrap, unwrap and derive, or neither wrap nor unwrap. No-op when @p trusted is false.
void validate_trusted(bool trusted, UsageMask usage);
/// The audit detail of a new key: "name=... algorithm=... usage=... state=... kcv=..." and
/// " exportable" / " trusted" when set. Never a secret.
std::string describe_new_key(const KeyRecord& k);

}  // namespace kms::core
