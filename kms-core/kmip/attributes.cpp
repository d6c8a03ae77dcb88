// KMIP attributes ↔ kms key records (KMIP 1.4 §3, KMIP 2.0 §4).
#include "kmip/attributes.hpp"

#include <algorithm>

#include "crypto/host_crypto.hpp"
#include "kmip/operations.hpp"
#include "kmip/protocol.hpp"

namespace kms::kmip {

namespace {

struct AttrDef {
    const char* name;
    std::uint32_t tag;
    ItemType type;
};

// The attributes kmsd keeps (KMIP 1.4 §3.1 to §3.28).
const AttrDef kAttrs[] = {
    {"Unique Identifier", tag::UniqueIdentifier, ItemType::TextString},
    {"Name", tag::Name, ItemType::Structure},
    {"Object Type", tag::ObjectType, ItemType::Enumeration},
    {"Cryptographic Algorithm", tag::CryptographicAlgorithm, ItemType::Enumeration},
    {"Cryptographic Length", tag::CryptographicLength, ItemType::Integer},
    {"Cryptographic Usage Mask", tag::CryptographicUsageMask, ItemType::Integer},
    {"State", tag::State, ItemType::Enumeration},
    {"Initial Date", tag::InitialDate, ItemType::DateTime},
    {"Activation Date", tag::ActivationDate, ItemType::DateTime},
    {"Deactivation Date", tag::DeactivationDate, ItemType::DateTime},
    {"Compromise Date", tag::CompromiseDate, ItemType::DateTime},
    {"Compromise Occurrence Date", tag::CompromiseOccurrenceDate, ItemType::DateTime},
    {"Link", tag::Link, ItemType::Structure},
    {"Contact Information", tag::ContactInformation, ItemType::TextString},
    {"Object Group", tag::ObjectGroup, ItemType::TextString},
    {"Digest", tag::Digest, ItemType::Structure},
};

const AttrDef* by_name(const std::string& n) {
    for (const auto& d : kAttrs)
        if (n == d.name) return &d;
    return nullptr;
}
const AttrDef* by_tag(std::uint32_t t) {
    for (const auto& d : kAttrs)
        if (t == d.tag) return &d;
    return nullptr;
}

std::vector<Item> from_1x(const std::vector<const Item*>& list);

/// The tagged attributes of a request, in either version's form.
std::vector<Item> tagged_attributes(const Item& payload, Version v) {
    std::vector<Item> out;
    if (v.at_least(2, 0)) {
        if (const Item* attrs = payload.find(tag::Attributes)) {
            if (attrs->type != ItemType::Structure)
                throw KmipFailure(Reason::InvalidField, "Attributes is not a Structure");
            out = attrs->children;
        }
        return out;
    }
    std::vector<const Item*> list = payload.find_all(tag::Attribute);
    if (const Item* ta = payload.find(tag::TemplateAttribute)) {
        if (ta->type != ItemType::Structure)
            throw KmipFailure(Reason::InvalidField, "Template-Attribute is not a Structure");
        if (ta->find(tag::Name) != nullptr)
            throw KmipFailure(Reason::FeatureNotSupported, "Templates are not supported");
        for (const Item* a : ta->find_all(tag::Attribute)) list.push_back(a);
    }
    return from_1x(list);
}

/// 1.x Attribute structures (Attribute Name, Attribute Value) to tagged attributes.
std::vector<Item> from_1x(const std::vector<const Item*>& list) {
    std::vector<Item> out;
    for (const Item* a : list) {
        if (a->type != ItemType::Structure)
            throw KmipFailure(Reason::InvalidField, "Attribute is not a Structure");
        const Item* n = a->find(tag::AttributeName);
        const Item* val = a->find(tag::AttributeValue);
        if (n == nullptr || n->type != ItemType::TextString || val == nullptr)
            throw KmipFailure(Reason::InvalidField, "Attribute needs an Attribute Name and Value");
        const std::string name = n->text_value();
        const AttrDef* d = by_name(name);
        if (d == nullptr)
            throw KmipFailure(Reason::FeatureNotSupported,
                              "attribute '" + name.substr(0, 64) + "' is not supported");
        Item t = *val;
        t.tag = d->tag;
        out.push_back(std::move(t));
    }
    return out;
}

std::int64_t seconds(std::int64_t ms) {
    return ms / 1000;
}

RequestedAttributes read_tagged(const std::vector<Item>& tagged);

}  // namespace

ObjectRef parse_uid(const std::string& uid) {
    const std::string suffix = ObjectRef::kPublicSuffix;
    if (uid.size() > suffix.size() &&
        uid.compare(uid.size() - suffix.size(), suffix.size(), suffix) == 0)
        return {uid.substr(0, uid.size() - suffix.size()), true};
    return {uid, false};
}

bool public_key_only(const core::KeyRecord& k) {
    if (!core::is_asymmetric(k.algorithm) || k.versions.empty()) return false;
    // A destroyed key pair has wiped blocks too: its first history entry tells them apart
    // ("imported (SPKI)" over REST, "registered (public key, ...)" by KeyRegistration).
    if (!k.history.empty()) {
        const std::string& why = k.history.front().reason;
        if (why.rfind("imported (SPKI", 0) == 0 || why.rfind("registered (public key", 0) == 0)
            return true;
    }
    return !core::is_destroyed(k.state) && k.current().block.empty();
}

RequestedAttributes read_request_attributes(const Item& payload, Version v) {
    return read_tagged(tagged_attributes(payload, v));
}

RequestedAttributes read_attributes_in(const Item& container, Version v) {
    if (container.type != ItemType::Structure)
        throw KmipFailure(Reason::InvalidField, "an attribute container is not a Structure");
    if (v.at_least(2, 0)) return read_tagged(container.children);
    if (container.find(tag::Name) != nullptr)
        throw KmipFailure(Reason::FeatureNotSupported, "Templates are not supported");
    return read_tagged(from_1x(container.find_all(tag::Attribute)));
}

namespace {

RequestedAttributes read_tagged(const std::vector<Item>& tagged) {
    RequestedAttributes r;
    for (const Item& a : tagged) {
        const AttrDef* d = by_tag(a.tag);
        if (d == nullptr)
            throw KmipFailure(Reason::FeatureNotSupported,
                              "attribute tag " + std::to_string(a.tag) + " is not supported");
        if (a.type != d->type)
            throw KmipFailure(Reason::InvalidField,
                              std::string("attribute '") + d->name + "' has the wrong type");
        auto once = [&](auto& slot, auto value) {
            if (slot)
                throw KmipFailure(Reason::InvalidField,
                                  std::string("attribute '") + d->name + "' given twice");
            slot = value;
        };
        const auto u32 = static_cast<std::uint32_t>(a.number);
        switch (a.tag) {
            case tag::Name: {
                const Item* nv = a.find(tag::NameValue);
                if (nv == nullptr || nv->type != ItemType::TextString)
                    throw KmipFailure(Reason::InvalidField,
                                      "Name needs a Name Value (Text String)");
                once(r.name, nv->text_value());
                break;
            }
            case tag::ObjectType:
                once(r.object_type, u32);
                break;
            case tag::CryptographicAlgorithm:
                once(r.algorithm, u32);
                break;
            case tag::CryptographicLength:
                once(r.length, a.number);
                break;
            case tag::CryptographicUsageMask:
                once(r.usage_mask, u32);
                break;
            case tag::State:
                once(r.state, u32);
                break;
            case tag::ActivationDate:
                once(r.activation_s, a.number);
                break;
            case tag::ObjectGroup:
                once(r.object_group, a.text_value());
                break;
            case tag::ContactInformation:
                once(r.contact_information, a.text_value());
                break;
            default:
                throw KmipFailure(
                    Reason::FeatureNotSupported,
                    std::string("attribute '") + d->name + "' cannot be set or searched for");
        }
    }
    return r;
}

}  // namespace

core::Algorithm algorithm_for(const RequestedAttributes& a) {
    if (!a.algorithm) throw KmipFailure(Reason::InvalidField, "Cryptographic Algorithm is missing");
    const std::int64_t len = a.length.value_or(0);
    switch (static_cast<CryptoAlg>(*a.algorithm)) {
        case CryptoAlg::Aes:
            if (len == 128) return core::Algorithm::Aes128;
            if (len == 192) return core::Algorithm::Aes192;
            if (len == 256) return core::Algorithm::Aes256;
            throw KmipFailure(Reason::InvalidField,
                              "AES keys have a Cryptographic Length of 128, 192 or 256");
        case CryptoAlg::TripleDes:
            if (len == 112 || len == 128) return core::Algorithm::Des3_2k;
            if (len == 168 || len == 192) return core::Algorithm::Des3_3k;
            throw KmipFailure(Reason::InvalidField,
                              "Triple DES keys have a Cryptographic Length of 112 or 168");
        case CryptoAlg::HmacSha256:
            if (len == 0 || len == 256) return core::Algorithm::HmacSha256;
            throw KmipFailure(Reason::InvalidField,
                              "HMAC-SHA256 keys have a Cryptographic Length of 256");
        default:
            throw KmipFailure(Reason::FeatureNotSupported,
                              "Cryptographic Algorithm " + std::to_string(*a.algorithm) +
                                  " is not supported by Create (AES, Triple DES, HMAC-SHA256)");
    }
}

core::UsageMask usage_from_kmip(std::uint32_t mask) {
    using core::Usage;
    const std::pair<std::uint32_t, Usage> map[] = {
        {usage::Sign, Usage::Sign},       {usage::Verify, Usage::Verify},
        {usage::Encrypt, Usage::Encrypt}, {usage::Decrypt, Usage::Decrypt},
        {usage::WrapKey, Usage::Wrap},    {usage::UnwrapKey, Usage::Unwrap},
        {usage::MacGenerate, Usage::Mac}, {usage::MacVerify, Usage::Mac},
        {usage::DeriveKey, Usage::Derive}};
    core::UsageMask out;
    std::uint32_t left = mask;
    for (const auto& [bit, u] : map)
        if ((mask & bit) != 0) {
            out.add(u);
            left &= ~bit;
        }
    if (left != 0)
        throw KmipFailure(Reason::InvalidField,
                          "Cryptographic Usage Mask bits " + std::to_string(left) +
                              " have no kmsd usage (supported: Sign, Verify, Encrypt, Decrypt, "
                              "Wrap Key, Unwrap Key, MAC Generate, MAC Verify, Derive Key)");
    return out;
}

core::UsageMask usable_for(core::Algorithm a, core::UsageMask requested) {
    const core::UsageMask kept(requested.bits() & core::usages_allowed_for(a).bits());
    if (kept.empty())
        throw KmipFailure(Reason::InvalidField,
                          "Cryptographic Usage Mask: no usage a key of this algorithm can have");
    return kept;
}

core::UsageMask default_usage(core::Algorithm a) {
    core::UsageMask m;
    if (core::info(a).family == core::KeyFamily::Hmac)
        m.add(core::Usage::Mac);
    else
        m.add(core::Usage::Encrypt).add(core::Usage::Decrypt);
    return m;
}

std::uint32_t usage_to_kmip(core::UsageMask m) {
    using core::Usage;
    std::uint32_t out = 0;
    if (m.has(Usage::Sign)) out |= usage::Sign;
    if (m.has(Usage::Verify)) out |= usage::Verify;
    if (m.has(Usage::Encrypt)) out |= usage::Encrypt;
    if (m.has(Usage::Decrypt)) out |= usage::Decrypt;
    if (m.has(Usage::Wrap)) out |= usage::WrapKey;
    if (m.has(Usage::Unwrap)) out |= usage::UnwrapKey;
    if (m.has(Usage::Mac)) out |= usage::MacGenerate | usage::MacVerify;
    if (m.has(Usage::Derive)) out |= usage::DeriveKey;
    return out;
}

std::uint32_t kmip_state(core::KeyState s) {
    using core::KeyState;
    switch (s) {
        case KeyState::PreActive:
            return static_cast<std::uint32_t>(State::PreActive);
        case KeyState::Active:
            return static_cast<std::uint32_t>(State::Active);
        case KeyState::Suspended:
        case KeyState::Deactivated:
            return static_cast<std::uint32_t>(State::Deactivated);
        case KeyState::Compromised:
            return static_cast<std::uint32_t>(State::Compromised);
        case KeyState::Destroyed:
            return static_cast<std::uint32_t>(State::Destroyed);
        case KeyState::DestroyedCompromised:
            return static_cast<std::uint32_t>(State::DestroyedCompromised);
    }
    return 0;
}

namespace {
std::uint32_t object_type(const core::KeyRecord& k, bool public_half) {
    if (public_half) return static_cast<std::uint32_t>(ObjectType::PublicKey);
    return static_cast<std::uint32_t>(core::is_symmetric(k.algorithm) ? ObjectType::SymmetricKey
                                                                      : ObjectType::PrivateKey);
}
/// The public half can verify (and wrap, for RSA keys with wrap); the private half the rest.
core::UsageMask half_usage(const core::KeyRecord& k, bool public_half) {
    if (core::is_symmetric(k.algorithm)) return k.usage;
    core::UsageMask m;
    for (core::Usage u : core::all_usages()) {
        const bool pub =
            u == core::Usage::Verify || u == core::Usage::Wrap || u == core::Usage::Encrypt;
        if (k.usage.has(u) && pub == public_half) m.add(u);
    }
    return m;
}
}  // namespace

std::uint32_t kmip_algorithm(core::Algorithm a, Version v) {
    switch (core::info(a).family) {
        case core::KeyFamily::Aes:
            return static_cast<std::uint32_t>(CryptoAlg::Aes);
        case core::KeyFamily::Des3:
            return static_cast<std::uint32_t>(CryptoAlg::TripleDes);
        case core::KeyFamily::Hmac:
            return static_cast<std::uint32_t>(CryptoAlg::HmacSha256);
        case core::KeyFamily::Rsa:
            return static_cast<std::uint32_t>(CryptoAlg::Rsa);
        case core::KeyFamily::Ec:
            // "EC" is KMIP 1.4 (§9.1.3.2.13); older clients know the key as ECDSA.
            return static_cast<std::uint32_t>(v.at_least(1, 4) ? CryptoAlg::Ec : CryptoAlg::Ecdsa);
    }
    return 0;
}
std::int32_t kmip_length(core::Algorithm a) {
    if (a == core::Algorithm::Des3_2k) return 112;  // KMIP counts 3DES without parity bits
    if (a == core::Algorithm::Des3_3k) return 168;
    return static_cast<std::int32_t>(core::info(a).bits);
}

bool matches(const core::KeyRecord& k, const RequestedAttributes& a, Version v, bool public_half) {
    if (a.name && k.name != *a.name &&
        (public_half || std::find(k.kmip_extra_names.begin(), k.kmip_extra_names.end(), *a.name) ==
                            k.kmip_extra_names.end()))
        return false;
    if (a.object_type && *a.object_type != object_type(k, public_half)) return false;
    if (a.algorithm && *a.algorithm != kmip_algorithm(k.algorithm, v)) return false;
    if (a.length && *a.length != kmip_length(k.algorithm)) return false;
    if (a.usage_mask &&
        (usage_to_kmip(half_usage(k, public_half)) & *a.usage_mask) != *a.usage_mask)
        return false;
    if (a.state && *a.state != kmip_state(k.state)) return false;
    if (a.activation_s && (!k.activation_ms || seconds(*k.activation_ms) != *a.activation_s))
        return false;
    // Client attributes (operations_attributes.cpp): the private half or secret key has them.
    const std::pair<const std::optional<std::string>*, const char*> wanted[] = {
        {&a.object_group, "Object Group"}, {&a.contact_information, "Contact Information"}};
    for (const auto& w : wanted) {
        if (!*w.first) continue;
        if (public_half) return false;
        const bool found = std::any_of(
            k.kmip_client_attributes.begin(), k.kmip_client_attributes.end(), [&](const auto& c) {
                return c.name == w.second && client_attribute_value(c).text_value() == **w.first;
            });
        if (!found) return false;
    }
    return true;
}

std::vector<std::uint32_t> requested_attribute_tags(const Item& payload, Version v) {
    std::vector<std::uint32_t> out;
    if (v.at_least(2, 0)) {
        for (const Item* r : payload.find_all(tag::AttributeReference)) {
            if (r->type == ItemType::Enumeration) {
                out.push_back(static_cast<std::uint32_t>(r->number));
            } else if (r->type == ItemType::Structure) {
                const Item* n = r->find(tag::AttributeName);
                if (n == nullptr || n->type != ItemType::TextString)
                    throw KmipFailure(Reason::InvalidField,
                                      "Attribute Reference needs an Attribute Name");
                if (const AttrDef* d = by_name(n->text_value()))
                    out.push_back(d->tag);
                else
                    out.push_back(0);  // asked for, not kept: matches nothing
            } else {
                throw KmipFailure(Reason::InvalidField, "Attribute Reference has the wrong type");
            }
        }
        return out;
    }
    for (const Item* n : payload.find_all(tag::AttributeName)) {
        if (n->type != ItemType::TextString)
            throw KmipFailure(Reason::InvalidField, "Attribute Name is not a Text String");
        const AttrDef* d = by_name(n->text_value());
        out.push_back(d != nullptr ? d->tag : 0);
    }
    return out;
}

std::vector<Item> record_attributes(const core::KeyRecord& k, Version v, bool public_half) {
    std::vector<Item> out;
    const ObjectRef self{k.id, public_half};
    out.push_back(Item::text(tag::UniqueIdentifier, self.uid()));
    out.push_back(name_item(k.name));
    if (!public_half)  // further names a client added (operations_attributes.cpp)
        for (const auto& n : k.kmip_extra_names) out.push_back(name_item(n));
    out.push_back(Item::enumeration(tag::ObjectType, object_type(k, public_half)));
    out.push_back(Item::enumeration(tag::CryptographicAlgorithm, kmip_algorithm(k.algorithm, v)));
    out.push_back(Item::integer(tag::CryptographicLength, kmip_length(k.algorithm)));
    out.push_back(
        Item::integer(tag::CryptographicUsageMask,
                      static_cast<std::int32_t>(usage_to_kmip(half_usage(k, public_half)))));
    out.push_back(Item::enumeration(tag::State, kmip_state(k.state)));
    out.push_back(Item::date_time(tag::InitialDate, seconds(k.created_ms)));
    if (k.activation_ms)
        out.push_back(Item::date_time(tag::ActivationDate, seconds(*k.activation_ms)));
    if (k.deactivation_ms)
        out.push_back(Item::date_time(tag::DeactivationDate, seconds(*k.deactivation_ms)));
    if (k.compromise_ms) {
        // kms keeps one compromise date: when the compromise happened (the officer's date).
        out.push_back(Item::date_time(tag::CompromiseOccurrenceDate, seconds(*k.compromise_ms)));
        out.push_back(Item::date_time(tag::CompromiseDate, seconds(*k.compromise_ms)));
    }
    if (core::is_asymmetric(k.algorithm) && !public_key_only(k)) {
        // KMIP 1.4 §3.35: each half links to the other.
        const ObjectRef other{k.id, !public_half};
        out.push_back(Item::structure(
            tag::Link,
            {Item::enumeration(tag::LinkType, public_half ? kLinkPrivateKey : kLinkPublicKey),
             Item::text(tag::LinkedObjectIdentifier, other.uid())}));
    }
    if (public_half) {
        out.push_back(public_key_digest(k, v));
        return out;
    }
    // Re-key (KMIP 1.4 §4.4, §3.35): the replacement points back, the replaced one forward.
    for (const auto& [id, type] : {std::pair{k.kmip_replacement_id, kLinkReplacementObject},
                                   std::pair{k.kmip_replaced_id, kLinkReplacedObject}})
        if (!id.empty())
            out.push_back(
                Item::structure(tag::Link, {Item::enumeration(tag::LinkType, type),
                                            Item::text(tag::LinkedObjectIdentifier, id)}));
    for (const auto& a : k.kmip_client_attributes) {
        const AttrDef* d = by_name(a.name);
        if (d == nullptr) continue;  // custom "x-" attributes: custom_attributes_1x()
        Item t = client_attribute_value(a);
        t.tag = d->tag;
        out.push_back(std::move(t));
    }
    return out;
}

Item name_item(const std::string& name) {
    return Item::structure(tag::Name, {Item::text(tag::NameValue, name),
                                       Item::enumeration(tag::NameType, kNameUninterpretedText)});
}

Item public_key_digest(const core::KeyRecord& k, Version v) {
    // KMIP 1.4 §3.17: the digest of the key value in the Key Format Type it was registered or
    // generated in; kmsd hands the public half out as X.509 (DER SubjectPublicKeyInfo), so
    // SHA-256 over exactly the bytes Get returns. Key Format Type came with KMIP 1.1.
    const Bytes spki = k.versions.empty() ? Bytes{} : k.current().public_key;
    const Bytes d = crypto::sha256(spki);
    Item out = Item::structure(tag::Digest, {Item::enumeration(tag::HashingAlgorithm, kHashSha256),
                                             Item::byte_string(tag::DigestValue, d)});
    if (v.at_least(1, 1)) out.add(Item::enumeration(tag::KeyFormatType, kFormatX509));
    return out;
}

bool is_custom_name(const std::string& name) {
    return name.size() > 2 && (name.compare(0, 2, "x-") == 0 || name.compare(0, 2, "y-") == 0);
}

core::ClientAttribute client_attribute(const std::string& name, const Item& value) {
    Item v = value;
    v.tag = tag::AttributeValue;
    const Octets enc = encode(v);
    return core::ClientAttribute{name, Bytes(enc.begin(), enc.end())};
}

Item client_attribute_value(const core::ClientAttribute& a) {
    // Written by client_attribute() into a record this kmsd decoded without error; a value
    // that no longer decodes is store corruption (decode throws TtlvError, General Failure).
    return decode(OctetView(a.value.data(), a.value.size()));
}

std::vector<Item> custom_attributes_1x(const core::KeyRecord& k) {
    std::vector<Item> out;
    for (const auto& a : k.kmip_client_attributes)
        if (is_custom_name(a.name))
            out.push_back(Item::structure(tag::Attribute, {Item::text(tag::AttributeName, a.name),
                                                           client_attribute_value(a)}));
    return out;
}

Item attribute_1x(const Item& tagged) {
    Item value = tagged;
    value.tag = tag::AttributeValue;
    return Item::structure(
        tag::Attribute,
        {Item::text(tag::AttributeName, attribute_name(tagged.tag)), std::move(value)});
}

std::string attribute_name(std::uint32_t t) {
    const AttrDef* d = by_tag(t);
    return d != nullptr ? d->name : "";
}

std::uint32_t attribute_tag(const std::string& name) {
    const AttrDef* d = by_name(name);
    return d != nullptr ? d->tag : 0;
}

}  // namespace kms::kmip
