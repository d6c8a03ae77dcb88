// Key lifecycle use cases: create, read, list, rotate, state transitions, revoke, destroy.
// Every change is committed with its audit record in one store transaction (fail closed).
//
// Roles: create/rotate/transition/revoke/destroy need admin or key-officer; reads also allow
// auditor and plugin. Errors: kms::Error (InvalidArgument, Forbidden, NotFound, Conflict,
// WrongState, Hsm*, StoreError).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

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
    /// The creator may read the key's value in clear (KeyLifecycle::reveal). Needs
    /// exportable. Only KMIP Create sets it, under kmip.get_secret_keys = owner.
    bool owner_may_reveal = false;
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

/// The attributes of a key a client may change (KMIP Add / Modify / Delete / Set Attribute):
/// its names and the client attributes it carries. KeyLifecycle::change_attributes hands the
/// current ones to an edit function and stores what it leaves.
struct KeyAttributes {
    std::string name;                      ///< the key's name (KMIP Name index 0)
    std::vector<std::string> extra_names;  ///< further names (KMIP Name index 1, 2, ...)
    std::vector<ClientAttribute> client_attributes;
};

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

    // services/key_attributes.cpp
    /// Changes the names and client attributes of key @p id: @p edit receives the current ones
    /// inside the write transaction (so concurrent changes do not get lost) and may throw to
    /// refuse (nothing is written then). Every name must pass validate_key_name and be unique
    /// among live keys, primary and extra names alike (Conflict, field "name"). Needs admin or
    /// key-officer; a destroyed key is WrongState. Audited as "key.attributes" with the names
    /// and attribute names (values are not recorded: they are the client's data).
    /// @p what names the operation in the audit detail ("KMIP Add Attribute").
    KeyRecord change_attributes(const Principal& caller, std::string_view id,
                                const std::function<void(KeyAttributes&)>& edit,
                                const std::string& what);
    /// The id of the live key whose name or extra name is @p name, or nullopt. Same roles as
    /// get(); the caller still reads the key with get() (policy).
    std::optional<std::string> find_id_by_name(const Principal& caller, std::string_view name);

    // services/rekey_key.cpp
    /// Re-key (KMIP 1.4 §4.4): a new key (new id, generated in the HSM) with the algorithm,
    /// usage, flags, creator, names and client attributes of key @p id, which keeps its state
    /// and gives up its names (it is renamed to its id: kmsd keys always have a name). The new
    /// key links back (kmip_replaced_id), the old one forward (kmip_replacement_id). New key
    /// Active when @p activate, else PreActive. Only a PreActive, Active or Deactivated key
    /// with a key block can be re-keyed (WrongState), and only once (Conflict). One
    /// transaction, audited as "key.rekey" (target: the old key). Returns the new key.
    KeyRecord rekey(const Principal& caller, std::string_view id, bool activate);

    // services/reveal_key.cpp
    /// The clear value of secret key @p id (current version) for its creator, for KMIP Get:
    /// only when created with owner_may_reveal (the store setting reveal_setting(id), written
    /// with the key) and still exportable, the caller its creator (administrators included:
    /// Forbidden for anyone else), the key AES, DES3 or HMAC (Forbidden for a private key) and
    /// not destroyed (WrongState). The HSM checks the sealed block's `exportable` again.
    /// Audited "key.reveal" (never the value) before the value is returned: a failed audit
    /// write returns nothing. The caller wipes the value (SecureBytes) and must not log it.
    SecureBytes reveal(const Principal& caller, std::string_view id);

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
/// Throws Conflict (field "name") when @p name is an extra name of a live key other than
/// @p key_id. The store's own index covers primary names (WriteTxn::put_key); extra names are
/// indexed by settings "key-alias/NAME" holding the key id (services/key_attributes.cpp).
void check_alias_free(WriteTxn& t, const std::string& name, std::string_view key_id);
/// The setting whose presence lets key @p key_id's creator read its value (reveal).
std::string reveal_setting(std::string_view key_id);
/// The setting that indexes extra name @p name.
std::string alias_setting(std::string_view name);

/// The audit detail of a new key: "name=... algorithm=... usage=... state=... kcv=..." and
/// " exportable" / " trusted" when set. Never a secret.
std::string describe_new_key(const KeyRecord& k);

}  // namespace kms::core
