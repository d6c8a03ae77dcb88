// Managed objects that are not keys: KMIP Secret Data (a password or seed a client keeps in
// the KMS) and Certificates (X.509, DER), registered over KMIP (KMIP 1.4 §2.2.7, §2.2.1) and
// given the key lifecycle (NIST SP 800-57 states, domain/key_state.hpp's transition table).
//
// Storage: one record per object in Table::ManagedObjects (id "o-" + 32 hex digits), plus the
// name index "n:" + name -> id (names are unique among live objects; a destroyed object
// releases its name). A certificate is kept as its DER. A secret is never in the store in
// clear: it is AES-256-GCM encrypted in the HSM (NIST SP 800-38D; 12-byte IV from the HSM, the
// object id as additional data, so a value cannot be moved to another record) under the
// "kms-secret-data" key, generated in the HSM on first use and kept as a key block under the
// master key (setting "objects/secret-key/block"). Destroy wipes the value.
//
// Roles: register and manage: admin or key-officer; read (get, list, reveal): admin,
// key-officer or auditor (reveal: admin or key-officer). Policy-restricted callers (plugins)
// are Forbidden: plugin policies name keys, not these objects. Which objects a caller may
// manage beyond that (KMIP: its own) is the front's decision, as for keys.
// Audit: object.register, object.activate, object.revoke, object.destroy, object.reveal (the
// value returned to a client), each naming the object, never a value.
// Errors: kms::Error: InvalidArgument (name, size, a certificate that does not parse), Forbidden,
// NotFound, Conflict (name taken), WrongState (the transition table), Hsm*, StoreError.
// Thread safety: every method may be called from any thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "domain/key_state.hpp"
#include "domain/secure_bytes.hpp"
#include "services/context.hpp"

namespace kms::core {

enum class ObjectKind : std::uint8_t { SecretData = 1, Certificate = 2 };

struct ManagedObject {
    std::string id;  ///< "o-" followed by 32 hex digits
    ObjectKind kind = ObjectKind::SecretData;
    std::string name;
    /// KMIP Secret Data Type (1 password, 2 seed) or Certificate Type (1 X.509), as given.
    std::uint32_t subtype = 1;
    std::uint32_t usage_mask = 0;  ///< the KMIP Cryptographic Usage Mask given, kept as is
    KeyState state = KeyState::PreActive;
    std::string created_by;
    std::int64_t created_ms = 0;
    std::optional<std::int64_t> activation_ms, deactivation_ms, compromise_ms, destroy_ms;
    /// Certificate: its DER. Secret data: IV (12) || AES-GCM ciphertext || tag (16). Empty once
    /// destroyed.
    Bytes value;
};

struct RegisterObjectRequest {
    std::string name;
    std::uint32_t subtype = 1;
    std::uint32_t usage_mask = 0;
    bool activate = false;
    std::string source;  ///< "kmip", for the audit detail
};

/// At most this many bytes of secret data or certificate DER.
inline constexpr std::size_t kMaxObjectValue = 64 * 1024;

class ManagedObjectService {
  public:
    explicit ManagedObjectService(ServiceContext& ctx) : m_ctx(ctx) {}

    /// Encrypts @p value (1 to kMaxObjectValue bytes; only read) in the HSM and stores it.
    ManagedObject register_secret_data(const Principal& caller, const RegisterObjectRequest& r,
                                       const SecureBytes& value);
    /// Stores an X.509 certificate (DER) after checking that it parses.
    ManagedObject register_certificate(const Principal& caller, const RegisterObjectRequest& r,
                                       ByteView der);
    ManagedObject get(const Principal& caller, std::string_view id);
    /// Every object (destroyed ones too), ascending by id.
    std::vector<ManagedObject> list(const Principal& caller);
    /// The clear secret of a Secret Data object that is not destroyed, decrypted in the HSM;
    /// audited (object.reveal) before it is returned.
    SecureBytes reveal_secret(const Principal& caller, std::string_view id);
    /// Activate, Deactivate (revoke without compromise), Compromise (@p compromise_ms, else
    /// now) or Destroy, by the key transition table.
    ManagedObject transition(const Principal& caller, std::string_view id, Transition t,
                             const std::string& reason,
                             std::optional<std::int64_t> compromise_ms = std::nullopt);

  private:
    ManagedObject store_new(const Principal& caller, ManagedObject o, const std::string& source);
    Bytes secret_key_block();
    ServiceContext& m_ctx;
};

/// Whether @p id names a managed object ("o-" prefix), not a key.
inline bool is_managed_object_id(std::string_view id) {
    return id.size() > 2 && id[0] == 'o' && id[1] == '-';
}

Bytes encode_managed_object(const ManagedObject& o);
ManagedObject decode_managed_object(ByteView data);  ///< Integrity on a bad record

}  // namespace kms::core
