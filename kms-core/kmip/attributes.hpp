// KMIP attributes of kmsd's keys (KMIP 1.4 §3; KMIP 2.0 §4): reading the ones a request
// carries (1.x Attribute structures, by name; 2.0 Attributes, by tag) and writing a key
// record's in the caller's version. Attributes are handled in their 2.0 "tagged" form (the
// value item carries the attribute's own tag); attribute_1x() wraps one for 1.x.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/key.hpp"
#include "kmip/processor.hpp"

namespace kms::kmip {

/// What a Create or Locate request asked for (absent: not given).
struct RequestedAttributes {
    std::optional<std::string> name;
    std::optional<std::uint32_t> object_type;
    std::optional<std::uint32_t> algorithm;  ///< KMIP Cryptographic Algorithm
    std::optional<std::int64_t> length;      ///< Cryptographic Length (bits)
    std::optional<std::uint32_t> usage_mask;
    std::optional<std::uint32_t> state;  ///< KMIP State
    std::optional<std::int64_t> activation_s;
    std::optional<std::string> object_group;         ///< Locate only
    std::optional<std::string> contact_information;  ///< Locate only
};

/// One KMIP managed object of kmsd: a key record, or the public half of an EC or RSA key
/// record (kmsd keeps a key pair as one record; its public half is the object "ID-pub").
struct ObjectRef {
    std::string key_id;
    bool public_half = false;
    std::string uid() const { return public_half ? key_id + kPublicSuffix : key_id; }
    static constexpr const char* kPublicSuffix = "-pub";
};
/// Whether @p k is a public key only (registered over KMIP, or imported as SPKI over REST): an
/// EC or RSA record with no private key, whose one KMIP object is its public half "ID-pub".
bool public_key_only(const core::KeyRecord& k);
/// Splits a Unique Identifier into the key id and the half it names.
ObjectRef parse_uid(const std::string& uid);

/// Reads the attributes of one Template-Attribute (1.x, Attribute children) or Attributes
/// (2.0, tagged children) structure, as read_request_attributes does.
RequestedAttributes read_attributes_in(const Item& container, Version v);

/// Reads the attributes of a Create (Template-Attribute / 2.0 Attributes) or Locate (Attribute
/// list / 2.0 Attributes) payload. Throws KmipFailure: Invalid Field for a wrong type or a
/// repeated attribute, Feature Not Supported for an attribute kmsd does not keep.
RequestedAttributes read_request_attributes(const Item& payload, Version v);

/// The kms-core algorithm for Cryptographic Algorithm + Length: AES 128/192/256, Triple DES
/// 112 or 168 (also 128/192, with parity bits), HMAC-SHA256 (256 or absent). Throws KmipFailure.
core::Algorithm algorithm_for(const RequestedAttributes& a);
/// KMIP usage bits → kms usages; bits kmsd has no usage for are refused (Invalid Field).
core::UsageMask usage_from_kmip(std::uint32_t mask);
/// @p requested without the usages a key of @p a cannot have: PyKMIP 0.10 adds Encrypt and
/// Decrypt to every mask it sends, so an HMAC key asked for MAC Generate arrives with them.
/// Throws KmipFailure(Invalid Field) when nothing usable is left.
core::UsageMask usable_for(core::Algorithm a, core::UsageMask requested);
/// encrypt+decrypt for AES/3DES, mac for HMAC: the usage of a Create without a mask.
core::UsageMask default_usage(core::Algorithm a);
std::uint32_t usage_to_kmip(core::UsageMask m);
std::uint32_t kmip_state(core::KeyState s);  ///< Suspended reads as Deactivated

/// Whether @p k satisfies every attribute of @p a (Locate, §4.9: all must match).
bool matches(const core::KeyRecord& k, const RequestedAttributes& a, Version v,
             bool public_half = false);

/// The attribute tags a Get Attributes request names (1.x Attribute Name text, 2.0 Attribute
/// Reference enumeration or structure); empty: all. Unknown names are skipped (§4.12: the
/// server returns the attributes it has).
std::vector<std::uint32_t> requested_attribute_tags(const Item& payload, Version v);

/// Every attribute kmsd keeps for @p k, tagged, without values newer than @p v: also the
/// extra Names, Contact Information and Object Group a client added, Replacement / Replaced
/// Object Links after a Re-key, and the public half's Digest; not the custom ones.
/// With @p public_half: the public half's (Object Type Public Key, usage Verify/Wrap, a Private
/// Key Link); an asymmetric private key carries a Public Key Link.
std::vector<Item> record_attributes(const core::KeyRecord& k, Version v, bool public_half = false);
/// The KMIP Cryptographic Algorithm and Length of a key of @p a, as written for @p v.
std::uint32_t kmip_algorithm(core::Algorithm a, Version v);
std::int32_t kmip_length(core::Algorithm a);
/// {Attribute Name, Attribute Value} for a tagged attribute (KMIP 1.x §2.1.1).
Item attribute_1x(const Item& tagged);
/// "Cryptographic Algorithm" for tag 0x420028; "" when not one kmsd keeps.
std::string attribute_name(std::uint32_t tag);
/// The tag of attribute @p name ("Contact Information" → 0x420022); 0 when not one kmsd keeps.
std::uint32_t attribute_tag(const std::string& name);

/// A Name attribute (Name Value, Name Type Uninterpreted Text String), tagged.
Item name_item(const std::string& name);
/// The Digest of a key pair's public half (KMIP 1.4 §3.17): SHA-256 over the DER
/// SubjectPublicKeyInfo that Get returns (Key Format Type X.509, written from 1.1 on). Secret
/// and private keys carry no Digest: their value exists only inside the HSM, which kmsd's Hsm
/// port does not ask for a digest of (the specification lets a server without access to the
/// value leave it out).
Item public_key_digest(const core::KeyRecord& k, Version v);
/// Whether @p name is a custom attribute name of KMIP 1.x (§3.39: "x-" client, "y-" server).
bool is_custom_name(const std::string& name);
/// A client attribute as the key record keeps it: @p value re-tagged Attribute Value, encoded
/// as TTLV. Throws std::invalid_argument when @p value cannot be encoded.
core::ClientAttribute client_attribute(const std::string& name, const Item& value);
/// The stored value of @p a, tagged Attribute Value. Throws TtlvError for a corrupt value.
Item client_attribute_value(const core::ClientAttribute& a);
/// The custom ("x-") client attributes of @p k as 1.x Attribute structures, in order. KMIP 2.0
/// replaced them with Vendor Attributes, which kmsd does not keep: 2.0 clients do not see them.
std::vector<Item> custom_attributes_1x(const core::KeyRecord& k);

}  // namespace kms::kmip
