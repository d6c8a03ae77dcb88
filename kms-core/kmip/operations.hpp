// The KMIP operations kmsd implements, each mapped onto one kms-core use case (KMIP 1.4 §4,
// KMIP 2.0 §6). One Operations object serves one batch item: it knows the caller and the
// protocol version the answer must be written in. Request payloads are read strictly: a
// missing or mistyped field is Invalid Field, named in the Result Message.
#pragma once

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include "domain/key.hpp"
#include "kmip/attributes.hpp"
#include "kmip/processor.hpp"
#include "kmip/protocol.hpp"

namespace kms::kmip {

/// A refusal with its KMIP Result Reason (processor.cpp writes it into the batch item).
class KmipFailure : public std::runtime_error {
  public:
    KmipFailure(Reason r, const std::string& message) : std::runtime_error(message), m_r(r) {}
    Reason reason() const noexcept { return m_r; }

  private:
    Reason m_r;
};

class Operations {
  public:
    /// @p placeholder: the request's ID Placeholder, used when a payload names no object.
    Operations(KmipServices& s, const ProcessorLimits& limits, const core::Principal& caller,
               Version v, const std::string& placeholder)
        : m_s(s), m_limits(limits), m_caller(caller), m_v(v), m_placeholder(placeholder) {}

    // Each takes the Request Payload and returns the Response Payload; throws KmipFailure or
    // kms::Error (mapped by the processor).
    Item discover_versions(const Item& payload);   ///< §4.26
    Item query(const Item& payload);               ///< §4.25: operations, objects, vendor
    Item create(const Item& payload);              ///< §4.1: symmetric keys (AES, 3DES, HMAC)
    Item get(const Item& payload);                 ///< §4.11
    Item get_attributes(const Item& payload);      ///< §4.12 (1.x) / 2.0 §6.1.24
    Item get_attribute_list(const Item& payload);  ///< §4.13
    Item locate(const Item& payload);              ///< §4.9: name, object type, state, algorithm
    Item activate(const Item& payload);            ///< §4.19
    Item revoke(const Item& payload);              ///< §4.20
    Item destroy(const Item& payload);             ///< §4.21: refused for an Active object
    Item encrypt(const Item& payload);             ///< §4.29: AES/3DES CBC
    Item decrypt(const Item& payload);             ///< §4.30
    // operations_asymmetric.cpp
    Item create_key_pair(const Item& payload);   ///< §4.2: RSA 2048/3072, EC P-256/P-384
    Item sign(const Item& payload);              ///< §4.31
    Item signature_verify(const Item& payload);  ///< §4.32
    Item mac(const Item& payload);               ///< §4.33
    Item mac_verify(const Item& payload);        ///< §4.34
    Item rng_retrieve(const Item& payload);      ///< §4.35
    // operations_attributes.cpp: Name, Contact Information, Object Group, custom "x-"
    // attributes (1.x) through KeyLifecycle::change_attributes; the rest are read-only.
    Item add_attribute(const Item& payload);     ///< §4.14 / 2.0 §6.1 Add Attribute
    Item modify_attribute(const Item& payload);  ///< §4.15 / 2.0 §6.1 Modify Attribute
    Item delete_attribute(const Item& payload);  ///< §4.16 / 2.0 §6.1 Delete Attribute
    Item set_attribute(const Item& payload);     ///< 2.0 §6.1 Set Attribute: single-instance ones
    Item adjust_attribute(const Item& payload);  ///< 2.0 §6.1 Adjust Attribute: none is adjustable
    // operations_rekey.cpp
    Item rekey(const Item& payload);  ///< §4.4 / 2.0 §6.1 Re-key: KeyLifecycle::rekey
    // operations_register.cpp
    /// §4.3: a Symmetric Key (Raw, Transparent Symmetric Key) or a Public Key (X.509,
    /// PKCS#1, Transparent RSA / EC Public Key) onto core::KeyRegistration.
    Item register_object(const Item& payload);
    // operations_objects.cpp: Secret Data and Certificates (ids "o-...")
    /// Whether @p payload of @p op names a managed object (not a key) that object_operation()
    /// serves: Get, Get Attributes, Get Attribute List, Activate, Revoke, Destroy.
    bool names_object(Op op, const Item& payload) const;
    Item object_operation(Op op, const Item& payload);
    /// The ids of the caller's managed objects that match @p a (Locate), ascending.
    std::vector<std::string> locate_objects(const RequestedAttributes& a);

  private:
    Item payload_with_id(const std::string& id) const;
    std::string required_id(const Item& payload) const;
    ObjectRef resolve(const Item& payload) const;
    /// Whether the caller may manage @p k over KMIP (owns(): admin, policy-restricted, or
    /// the key's creator).
    bool owns(const core::KeyRecord& k) const;
    /// KeyLifecycle::get, then owns(): Permission Denied (audited) for another client's key.
    core::KeyRecord load(const std::string& id);
    /// load(ref.key_id); Item Not Found for the public half of a secret key.
    core::KeyRecord load(const ObjectRef& ref);
    /// Get of a key pair's public half: the DER SubjectPublicKeyInfo as Key Format X.509.
    Item get_public_key(const Item& payload, const core::KeyRecord& k);
    /// A Key Block (KMIP 1.4 §2.1.3) of @p format holding @p material (Key Value without
    /// attributes), with the Cryptographic Algorithm and Length of @p a in this version.
    Item key_block(std::uint32_t format, Item material, core::Algorithm a) const;
    /// Get of a symmetric key (operations_get.cpp): Raw or Transparent Symmetric Key, when
    /// ProcessorLimits::get_secret_keys and KeyLifecycle::reveal allow it.
    Item get_secret_key(const Item& payload, const core::KeyRecord& k);
    /// load(ref), then KeyLifecycle::change_attributes with @p edit (@p what: the audit
    /// label); Conflict (a name taken) becomes Non Unique Name Attribute. Returns the payload
    /// with the object's identifier. The public half of a pair is Illegal Operation.
    Item change_attributes(const ObjectRef& ref, const std::string& what,
                           const std::function<void(core::KeyAttributes&)>& edit);

    // operations_register.cpp
    Item register_symmetric(const Item& object, const RequestedAttributes& a);
    Item register_public(const Item& object, const RequestedAttributes& a);
    Item register_secret_data(const Item& object, const RequestedAttributes& a);
    Item register_certificate(const Item& object, const RequestedAttributes& a);
    // operations_objects.cpp
    core::ManagedObject load_object(const std::string& id);
    Item get_object(const Item& payload, const core::ManagedObject& o);

    KmipServices& m_s;
    const ProcessorLimits& m_limits;
    const core::Principal& m_caller;
    Version m_v;
    const std::string& m_placeholder;
};

}  // namespace kms::kmip
