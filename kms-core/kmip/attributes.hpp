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
};

/// Reads the attributes of a Create (Template-Attribute / 2.0 Attributes) or Locate (Attribute
/// list / 2.0 Attributes) payload. Throws KmipFailure: Invalid Field for a wrong type or a
/// repeated attribute, Feature Not Supported for an attribute kmsd does not keep.
RequestedAttributes read_request_attributes(const Item& payload, Version v);

/// The kms-core algorithm for Cryptographic Algorithm + Length: AES 128/192/256, Triple DES
/// 112 or 168 (also 128/192, with parity bits), HMAC-SHA256 (256 or absent). Throws KmipFailure.
core::Algorithm algorithm_for(const RequestedAttributes& a);
/// KMIP usage bits → kms usages; bits kmsd has no usage for are refused (Invalid Field).
core::UsageMask usage_from_kmip(std::uint32_t mask);
/// encrypt+decrypt for AES/3DES, mac for HMAC: the usage of a Create without a mask.
core::UsageMask default_usage(core::Algorithm a);
std::uint32_t usage_to_kmip(core::UsageMask m);
std::uint32_t kmip_state(core::KeyState s);  ///< Suspended reads as Deactivated

/// Whether @p k satisfies every attribute of @p a (Locate, §4.9: all must match).
bool matches(const core::KeyRecord& k, const RequestedAttributes& a, Version v);

/// The attribute tags a Get Attributes request names (1.x Attribute Name text, 2.0 Attribute
/// Reference enumeration or structure); empty: all. Unknown names are skipped (§4.12: the
/// server returns the attributes it has).
std::vector<std::uint32_t> requested_attribute_tags(const Item& payload, Version v);

/// Every attribute kmsd keeps for @p k, tagged, without values newer than @p v.
std::vector<Item> record_attributes(const core::KeyRecord& k, Version v);
/// {Attribute Name, Attribute Value} for a tagged attribute (KMIP 1.x §2.1.1).
Item attribute_1x(const Item& tagged);
/// "Cryptographic Algorithm" for tag 0x420028; "" when not one kmsd keeps.
std::string attribute_name(std::uint32_t tag);

}  // namespace kms::kmip
