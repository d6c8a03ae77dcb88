// KMIP Get of a Symmetric Key (KMIP 1.4 §4.11, §2.2.2; 2.0 §6.1.22): the clear value, in Key
// Format Type Raw or Transparent Symmetric Key (§2.1.7.1), for the client that created the key
// while kmip.get_secret_keys = owner (core::KeyLifecycle::reveal decides and audits).
#include "domain/error.hpp"
#include "kmip/attributes.hpp"
#include "kmip/operations.hpp"

namespace kms::kmip {

namespace {

/// KMIP 1.4 §2.1.5: a Key Wrapping Specification asks for the key wrapped under a KEK.
constexpr std::uint32_t kTagKeyWrappingSpecification = 0x420047;

}  // namespace

Item Operations::get_secret_key(const Item& payload, const core::KeyRecord& k) {
    // Checks of the request come before any release, so a refused request reveals nothing.
    if (payload.find(kTagKeyWrappingSpecification) != nullptr)
        throw KmipFailure(Reason::FeatureNotSupported,
                          "Get with a Key Wrapping Specification is not supported: export "
                          "wrapped over REST (POST /v1/keys/{id}/export)");
    if (payload.find(tag::KeyCompressionType) != nullptr)
        throw KmipFailure(Reason::KeyCompressionTypeNotSupported,
                          "Key Compression Type applies to EC keys only");
    // Raw unless the client asks for Transparent Symmetric Key (both exist in every version).
    std::uint32_t format = kFormatRaw;
    if (const Item* f = payload.find(tag::KeyFormatType)) {
        const auto n = static_cast<std::uint32_t>(f->number);
        if (f->type != ItemType::Enumeration ||
            (n != kFormatRaw && n != kFormatTransparentSymmetric))
            throw KmipFailure(Reason::KeyFormatTypeNotSupported,
                              "symmetric keys are served in Key Format Type Raw or Transparent "
                              "Symmetric Key");
        format = n;
    }
    if (!m_limits.get_secret_keys)
        throw KmipFailure(Reason::PermissionDenied,
                          "object " + k.id +
                              ": this kmsd hands out no secret key in clear "
                              "(kmip.get_secret_keys = never); export it wrapped over REST");
    // Owner, marker, exportable, state; audited key.reveal before it returns (fail closed).
    // The value stays in locked memory here; the listener wipes the response once sent.
    const SecureBytes value = m_s.keys.reveal(m_caller, k.id);
    Item material =
        format == kFormatRaw
            ? Item::byte_string(tag::KeyMaterial, value.view())
            : Item::structure(tag::KeyMaterial, {Item::byte_string(tag::Key, value.view())});
    Item block = key_block(format, std::move(material), k.algorithm);
    Item out = Item::structure(tag::ResponsePayload);
    out.add(
        Item::enumeration(tag::ObjectType, static_cast<std::uint32_t>(ObjectType::SymmetricKey)));
    out.add(Item::text(tag::UniqueIdentifier, k.id));
    out.add(Item::structure(tag::SymmetricKey, {std::move(block)}));
    return out;
}

}  // namespace kms::kmip
