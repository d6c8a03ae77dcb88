// KMIP operations onto kms-core use cases (KMIP 1.4 §4; KMIP 2.0 §6). Attributes are read
// from a 1.x Template-Attribute / Attribute list or a 2.0 Attributes structure into one
// tagged form, and written back in the caller's version (kmip/attributes.hpp).
#include "kmip/operations.hpp"

#include <algorithm>
#include <ctime>

#include "domain/error.hpp"
#include "kmip/attributes.hpp"
#include "services/policies.hpp"

namespace kms::kmip {

namespace {

const Item& field(const Item& payload, std::uint32_t t, ItemType type, const char* what) {
    const Item* i = payload.find(t);
    if (i == nullptr) throw KmipFailure(Reason::InvalidField, std::string(what) + " is missing");
    if (i->type != type)
        throw KmipFailure(Reason::InvalidField, std::string(what) + " has the wrong type");
    return *i;
}

const Item* optional_field(const Item& payload, std::uint32_t t, ItemType type, const char* what) {
    const Item* i = payload.find(t);
    if (i != nullptr && i->type != type)
        throw KmipFailure(Reason::InvalidField, std::string(what) + " has the wrong type");
    return i;
}

Bytes to_bytes(const Octets& o) {
    return Bytes(o.begin(), o.end());
}

/// AES-GCM's tag: kms-core appends 16 bytes to the ciphertext (SP 800-38D, the full tag).
constexpr std::size_t kGcmTagBytes = 16;

/// The kms-core cipher mode for KMIP Cryptographic Parameters (Block Cipher Mode, Padding
/// Method, Tag Length) on a key of @p alg. Absent parameters: CBC with PKCS#5 padding. GCM
/// (KMIP 1.4 §2.1.5 Tag Length, §4.29) is AES only, from 1.4 on, with a 16-byte tag.
core::CipherMode cipher_mode(const Item* params, core::Algorithm alg, Version v) {
    std::uint32_t mode = kModeCbc, padding = kPaddingPkcs5;
    if (params != nullptr) {
        if (params->type != ItemType::Structure)
            throw KmipFailure(Reason::InvalidField, "Cryptographic Parameters is not a Structure");
        if (const Item* m = optional_field(*params, tag::BlockCipherMode, ItemType::Enumeration,
                                           "Block Cipher Mode"))
            mode = static_cast<std::uint32_t>(m->number);
        if (const Item* p = optional_field(*params, tag::PaddingMethod, ItemType::Enumeration,
                                           "Padding Method"))
            padding = static_cast<std::uint32_t>(p->number);
    }
    const bool des = core::info(alg).family == core::KeyFamily::Des3;
    if (mode == kModeGcm && v.at_least(1, 4) && !des) {
        if (const Item* t =
                optional_field(*params, tag::TagLength, ItemType::Integer, "Tag Length");
            t != nullptr && t->number != static_cast<std::int64_t>(kGcmTagBytes))
            throw KmipFailure(Reason::FeatureNotSupported,
                              "AES-GCM: only a Tag Length of 16 bytes is supported");
        return core::CipherMode::AesGcm;
    }
    if (mode != kModeCbc || (padding != kPaddingPkcs5 && padding != kPaddingNone))
        throw KmipFailure(Reason::FeatureNotSupported,
                          "only Block Cipher Mode CBC with Padding Method PKCS5 or None, and "
                          "GCM with AES keys from KMIP 1.4 on, are supported over KMIP");
    if (padding == kPaddingPkcs5)
        return des ? core::CipherMode::Des3CbcPad : core::CipherMode::AesCbcPad;
    return des ? core::CipherMode::Des3Cbc : core::CipherMode::AesCbc;
}

/// Authenticated Encryption Additional Data (KMIP 1.4 §4.29): only with AES-GCM.
Bytes additional_data(const Item& payload, core::CipherMode mode) {
    const Item* a =
        optional_field(payload, tag::AuthenticatedEncryptionAdditionalData, ItemType::ByteString,
                       "Authenticated Encryption Additional Data");
    if (a == nullptr) return {};
    if (mode != core::CipherMode::AesGcm)
        throw KmipFailure(Reason::InvalidField,
                          "Authenticated Encryption Additional Data needs Block Cipher Mode GCM");
    return to_bytes(a->bytes);
}

}  // namespace

std::string Operations::required_id(const Item& payload) const {
    // Absent: the ID Placeholder an earlier item of the same request set (§3.1.1).
    const Item* id = payload.find(tag::UniqueIdentifier);
    if (id == nullptr && !m_placeholder.empty()) return m_placeholder;
    if (id == nullptr)
        throw KmipFailure(Reason::InvalidField,
                          "Unique Identifier is missing and no earlier batch item set the ID "
                          "Placeholder");
    if (id->type != ItemType::TextString)
        throw KmipFailure(Reason::InvalidField, "Unique Identifier is not a Text String");
    if (id->bytes.size() > 128) throw KmipFailure(Reason::ItemNotFound, "no such object");
    return id->text_value();
}

bool Operations::owns(const core::KeyRecord& k) const {
    // Administrators manage every key; policy-restricted callers (plugins) are held to their
    // policy by the use cases themselves; any other KMIP client (a key-officer: a storage
    // array, a database) manages the keys it created, so that two clients never see or touch
    // each other's keys.
    return m_caller.has(core::Role::Admin) || core::policy_restricted(m_caller) ||
           k.created_by == m_caller.name;
}

core::KeyRecord Operations::load(const std::string& id) {
    core::KeyRecord k = m_s.keys.get(m_caller, id);  // NotFound, roles, plugin policy
    if (!owns(k))
        throw KmipFailure(Reason::PermissionDenied,
                          "object " + k.id + " was created by another client ('" + k.created_by +
                              "'); a KMIP client manages the objects it created");
    return k;
}

core::KeyRecord Operations::load(const ObjectRef& ref) {
    core::KeyRecord k = load(ref.key_id);
    // Only EC and RSA keys have a public half: "ID-pub" of a secret key names nothing.
    if (ref.public_half && !core::is_asymmetric(k.algorithm))
        throw KmipFailure(Reason::ItemNotFound, "no object " + ref.uid());
    // A public key only (imported as SPKI, registered) has no private half: "ID-pub" only.
    if (!ref.public_half && public_key_only(k))
        throw KmipFailure(Reason::ItemNotFound, "no object " + ref.uid() + " (a public key only: " +
                                                    ObjectRef{k.id, true}.uid() + ")");
    return k;
}

ObjectRef Operations::resolve(const Item& payload) const {
    return parse_uid(required_id(payload));
}

Item Operations::payload_with_id(const std::string& id) const {
    return Item::structure(tag::ResponsePayload, {Item::text(tag::UniqueIdentifier, id)});
}

Item Operations::discover_versions(const Item& payload) {
    // §4.26: the versions the client offers that we speak, in the client's order; none
    // offered: all of ours, newest first.
    static const Version ours[] = {{2, 0}, {1, 4}, {1, 3}, {1, 2}, {1, 1}, {1, 0}};
    Item out = Item::structure(tag::ResponsePayload);
    auto add = [&](Version v) {
        out.add(Item::structure(tag::ProtocolVersion,
                                {Item::integer(tag::ProtocolVersionMajor, v.major),
                                 Item::integer(tag::ProtocolVersionMinor, v.minor)}));
    };
    const auto offered = payload.find_all(tag::ProtocolVersion);
    if (offered.empty())
        for (Version v : ours) add(v);
    for (const Item* pv : offered) {
        const Item& mj =
            field(*pv, tag::ProtocolVersionMajor, ItemType::Integer, "Protocol Version Major");
        const Item& mn =
            field(*pv, tag::ProtocolVersionMinor, ItemType::Integer, "Protocol Version Minor");
        const Version v{static_cast<int>(mj.number), static_cast<int>(mn.number)};
        if (supported(v)) add(v);
    }
    return out;
}

Item Operations::query(const Item& payload) {
    Item out = Item::structure(tag::ResponsePayload);
    for (const Item* f : payload.find_all(tag::QueryFunction)) {
        if (f->type != ItemType::Enumeration)
            throw KmipFailure(Reason::InvalidField, "Query Function is not an Enumeration");
        if (f->number == kQueryOperations) {
            for (Op op :
                 {Op::Create, Op::Register, Op::ReKey, Op::Locate, Op::Get, Op::GetAttributes,
                  Op::GetAttributeList, Op::AddAttribute, Op::ModifyAttribute, Op::DeleteAttribute,
                  Op::SetAttribute, Op::AdjustAttribute, Op::Activate, Op::Revoke, Op::Destroy,
                  Op::Query, Op::DiscoverVersions, Op::Encrypt, Op::Decrypt}) {
                // Discover Versions is 1.1 (§4.26), Encrypt and Decrypt 1.2 (§4.29, §4.30),
                // Set and Adjust Attribute 2.0.
                if (op == Op::DiscoverVersions && !m_v.at_least(1, 1)) continue;
                if ((op == Op::SetAttribute || op == Op::AdjustAttribute) && !m_v.at_least(2, 0))
                    continue;
                if ((op == Op::Encrypt || op == Op::Decrypt) && !m_v.at_least(1, 2)) continue;
                out.add(Item::enumeration(tag::Operation, static_cast<std::uint32_t>(op)));
            }
        } else if (f->number == kQueryObjects) {
            for (ObjectType t :
                 {ObjectType::SymmetricKey, ObjectType::PublicKey, ObjectType::PrivateKey,
                  ObjectType::SecretData, ObjectType::Certificate})
                out.add(Item::enumeration(tag::ObjectType, static_cast<std::uint32_t>(t)));
        } else if (f->number == kQueryServerInformation) {
            out.add(Item::text(tag::VendorIdentification, "kmsd"));
        }
        // Other functions (application namespaces, extensions, ...): nothing to report.
    }
    return out;
}

Item Operations::create(const Item& payload) {
    const Item& ot = field(payload, tag::ObjectType, ItemType::Enumeration, "Object Type");
    if (ot.number != static_cast<std::int64_t>(ObjectType::SymmetricKey))
        throw KmipFailure(Reason::FeatureNotSupported,
                          "Create makes symmetric keys only (Object Type 2)");
    const RequestedAttributes a = read_request_attributes(payload, m_v);
    if (a.object_group || a.contact_information)
        throw KmipFailure(Reason::FeatureNotSupported,
                          "Create takes no Object Group or Contact Information: add them with "
                          "Add Attribute");
    core::CreateKeyRequest req;
    req.algorithm = algorithm_for(a);
    req.usage = a.usage_mask ? usable_for(req.algorithm, usage_from_kmip(*a.usage_mask))
                             : default_usage(req.algorithm);
    req.name = a.name ? *a.name : "kmip-" + core::new_key_id().substr(2);
    // KMIP objects start Pre-Active (§3.22) unless an Activation Date not in the future is
    // given; a later Activation Date would need a scheduler: refused.
    req.activate = false;
    if (a.activation_s) {
        if (*a.activation_s > static_cast<std::int64_t>(std::time(nullptr)))
            throw KmipFailure(Reason::FeatureNotSupported,
                              "an Activation Date in the future is not supported; use Activate");
        req.activate = true;
    }
    // kmip.get_secret_keys = owner: the key is sealed exportable and its creator may Get it
    // (KeyLifecycle::reveal); otherwise it never leaves the HSM in clear.
    req.exportable = req.owner_may_reveal = m_limits.get_secret_keys;
    const core::KeyRecord k = m_s.keys.create(m_caller, req);
    Item out = Item::structure(tag::ResponsePayload);
    out.add(
        Item::enumeration(tag::ObjectType, static_cast<std::uint32_t>(ObjectType::SymmetricKey)));
    out.add(Item::text(tag::UniqueIdentifier, k.id));
    return out;
}

Item Operations::get(const Item& payload) {
    const ObjectRef ref = parse_uid(required_id(payload));
    const core::KeyRecord k = load(ref);  // NotFound, roles, policy
    if (ref.public_half && core::is_asymmetric(k.algorithm)) return get_public_key(payload, k);
    if (core::is_symmetric(k.algorithm)) return get_secret_key(payload, k);
    // Private keys never leave the HSM in clear (DESIGN §4): Get hands out no private Key Value.
    // Exports of secret keys go wrapped through POST /v1/keys/{id}/export.
    throw KmipFailure(Reason::NotExtractable,
                      "object " + k.id +
                          ": a private key does not leave the HSM; its public half is " +
                          ObjectRef{k.id, true}.uid());
}

Item Operations::get_attributes(const Item& payload) {
    const ObjectRef ref = resolve(payload);
    const core::KeyRecord k = load(ref);
    const std::vector<std::uint32_t> wanted = requested_attribute_tags(payload, m_v);
    Item out = payload_with_id(ref.uid());
    std::vector<Item> attrs;
    for (Item& a : record_attributes(k, m_v, ref.public_half))
        if (wanted.empty() || std::find(wanted.begin(), wanted.end(), a.tag) != wanted.end())
            attrs.push_back(std::move(a));
    if (m_v.at_least(2, 0)) {
        out.add(Item::structure(tag::Attributes, std::move(attrs)));
    } else {
        for (const Item& a : attrs) out.add(attribute_1x(a));
        // Custom "x-" attributes (1.x only), all or those named.
        std::vector<std::string> names;
        for (const Item* n : payload.find_all(tag::AttributeName)) names.push_back(n->text_value());
        for (const Item& c : custom_attributes_1x(k))
            if (names.empty() || std::find(names.begin(), names.end(),
                                           c.find(tag::AttributeName)->text_value()) != names.end())
                out.add(c);
    }
    return out;
}

Item Operations::get_attribute_list(const Item& payload) {
    const ObjectRef ref = resolve(payload);
    const core::KeyRecord k = load(ref);
    Item out = payload_with_id(ref.uid());
    std::vector<std::uint32_t> seen;  // a multi-instance attribute is listed once
    for (const Item& a : record_attributes(k, m_v, ref.public_half)) {
        if (std::find(seen.begin(), seen.end(), a.tag) != seen.end()) continue;
        seen.push_back(a.tag);
        if (m_v.at_least(2, 0))
            out.add(Item::enumeration(tag::AttributeReference, a.tag));
        else
            out.add(Item::text(tag::AttributeName, attribute_name(a.tag)));
    }
    if (!m_v.at_least(2, 0)) {
        std::vector<std::string> custom;
        for (const Item& c : custom_attributes_1x(k)) {
            const std::string n = c.find(tag::AttributeName)->text_value();
            if (std::find(custom.begin(), custom.end(), n) != custom.end()) continue;
            custom.push_back(n);
            out.add(Item::text(tag::AttributeName, n));
        }
    }
    return out;
}

Item Operations::locate(const Item& payload) {
    const RequestedAttributes a = read_request_attributes(payload, m_v);
    std::size_t max_items = m_limits.max_located;
    if (const Item* mi =
            optional_field(payload, tag::MaximumItems, ItemType::Integer, "Maximum Items")) {
        if (mi->number < 0) throw KmipFailure(Reason::InvalidField, "Maximum Items is negative");
        max_items = std::min<std::size_t>(max_items, static_cast<std::size_t>(mi->number));
    }
    std::size_t offset = 0;
    if (const Item* oi =
            optional_field(payload, tag::OffsetItems, ItemType::Integer, "Offset Items")) {
        if (oi->number < 0) throw KmipFailure(Reason::InvalidField, "Offset Items is negative");
        offset = static_cast<std::size_t>(oi->number);
    }
    core::KeyFilter f;
    std::vector<std::string> ids;
    std::size_t skipped = 0, matched = 0;
    std::string after;
    for (;;) {
        core::KeyPage page;
        if (a.name) {
            // Names are unique among live keys (the key's name or an extra Name a client
            // added): at most one key to look at.
            if (const auto id = m_s.keys.find_id_by_name(m_caller, *a.name)) try {
                    page.keys.push_back(m_s.keys.get(m_caller, *id));
                } catch (const Error& e) {
                    if (e.code() != ErrorCode::Forbidden && e.code() != ErrorCode::NotFound)
                        throw;  // a plugin's policy hides it, or it went away: not found
                }
        } else {
            page = m_s.keys.list(m_caller, f, after, 1000);
        }
        for (const auto& k : page.keys) {
            // An EC or RSA key is two KMIP objects: the private key and its public half.
            for (const bool half : {false, true}) {
                if (half && !core::is_asymmetric(k.algorithm)) break;
                if (!half && public_key_only(k)) continue;  // no private half
                if (!owns(k) || !matches(k, a, m_v, half)) continue;
                ++matched;
                if (skipped < offset) {
                    ++skipped;
                    continue;
                }
                if (ids.size() < max_items) ids.push_back(ObjectRef{k.id, half}.uid());
            }
        }
        if (page.next_after.empty()) break;
        after = page.next_after;
    }
    for (const auto& id : locate_objects(a)) {  // Secret Data and Certificates
        ++matched;
        if (skipped < offset) {
            ++skipped;
            continue;
        }
        if (ids.size() < max_items) ids.push_back(id);
    }
    Item out = Item::structure(tag::ResponsePayload);
    if (m_v.at_least(1, 3))
        out.add(Item::integer(tag::LocatedItems, static_cast<std::int32_t>(matched)));
    for (const auto& id : ids) out.add(Item::text(tag::UniqueIdentifier, id));
    return out;
}

Item Operations::activate(const Item& payload) {
    // The halves of a key pair share one lifecycle (one record): activating the public half
    // after the private one is a no-op, as a client activating both expects.
    const ObjectRef ref = resolve(payload);
    if (ref.public_half && load(ref).state == core::KeyState::Active)
        return payload_with_id(ref.uid());
    (void)load(ref);  // ownership first
    m_s.keys.transition(m_caller, ref.key_id, core::Transition::Activate, "KMIP Activate");
    return payload_with_id(ref.uid());
}

Item Operations::revoke(const Item& payload) {
    const ObjectRef ref = resolve(payload);
    const std::string& id = ref.key_id;
    const Item& rr =
        field(payload, tag::RevocationReason, ItemType::Structure, "Revocation Reason");
    const Item& code =
        field(rr, tag::RevocationReasonCode, ItemType::Enumeration, "Revocation Reason Code");
    if (code.number < 1 || code.number > 7)
        throw KmipFailure(Reason::InvalidField,
                          "Revocation Reason Code " + std::to_string(code.number) + " is unknown");
    const auto reason = static_cast<core::RevocationReason>(code.number);
    std::string message;
    if (const Item* m =
            optional_field(rr, tag::RevocationMessage, ItemType::TextString, "Revocation Message"))
        message = m->text_value().substr(0, 1024);
    std::optional<std::int64_t> when;
    if (const Item* d = optional_field(payload, tag::CompromiseOccurrenceDate, ItemType::DateTime,
                                       "Compromise Occurrence Date")) {
        // Seconds since 1970 up to 9999-12-31 (milliseconds must not overflow).
        if (d->number < 0 || d->number > 253402300799)
            throw KmipFailure(Reason::InvalidField, "Compromise Occurrence Date is out of range");
        when = d->number * 1000;
    }
    const bool compromise = reason == core::RevocationReason::KeyCompromise ||
                            reason == core::RevocationReason::CaCompromise;
    if (compromise && !when)
        throw KmipFailure(Reason::InvalidField,
                          "Compromise Occurrence Date is required for a compromise (§4.20)");
    (void)load(ref);  // ownership first
    m_s.keys.revoke(m_caller, id, reason, compromise ? when : std::nullopt, message);
    return payload_with_id(ref.uid());
}

Item Operations::destroy(const Item& payload) {
    const ObjectRef ref = resolve(payload);
    const std::string& id = ref.key_id;
    const core::KeyRecord k = load(ref);
    // Destroying either half of a key pair destroys the pair (one record, one key in the HSM).
    if (ref.public_half &&
        (k.state == core::KeyState::Destroyed || k.state == core::KeyState::DestroyedCompromised))
        return payload_with_id(ref.uid());
    // §4.21: "the object SHALL NOT be Active" (destroy only after Revoke or before Activate).
    if (k.state == core::KeyState::Active || k.state == core::KeyState::Suspended)
        throw KmipFailure(Reason::WrongKeyLifecycleState,
                          "object " + k.id + " is Active: revoke it before Destroy");
    // REST puts key.destroy under dual control when a quorum is set; KMIP cannot carry the
    // approvals, so it refuses instead of bypassing them.
    if (m_s.approvals.quorum_for("key.destroy"))
        throw KmipFailure(Reason::PermissionDenied, "key.destroy is under dual control: destroy " +
                                                        k.id +
                                                        " through the REST API and its approvals");
    m_s.keys.destroy(m_caller, id, "KMIP Destroy");
    return payload_with_id(ref.uid());
}

Item Operations::encrypt(const Item& payload) {
    const std::string id = required_id(payload);
    const Item& data = field(payload, tag::Data, ItemType::ByteString, "Data");
    const core::KeyRecord k = load(id);
    const core::CipherMode mode =
        cipher_mode(optional_field(payload, tag::CryptographicParameters, ItemType::Structure,
                                   "Cryptographic Parameters"),
                    k.algorithm, m_v);
    Bytes iv;
    if (const Item* n =
            optional_field(payload, tag::IvCounterNonce, ItemType::ByteString, "IV/Counter/Nonce"))
        iv = to_bytes(n->bytes);
    const Bytes in = to_bytes(data.bytes);
    const Bytes aad = additional_data(payload, mode);
    const core::EncryptResult r = m_s.ops.encrypt(m_caller, id, mode, in, iv, aad);
    Item out = payload_with_id(id);
    if (mode == core::CipherMode::AesGcm) {
        // kms-core returns ciphertext || tag; KMIP 1.4 §4.29 answers them apart.
        if (r.ciphertext.size() < kGcmTagBytes)
            throw KmipFailure(Reason::CryptographicFailure, "AES-GCM: no tag");
        const auto split = r.ciphertext.end() - static_cast<std::ptrdiff_t>(kGcmTagBytes);
        out.add(Item::byte_string(tag::Data, Bytes(r.ciphertext.begin(), split)));
        if (iv.empty()) out.add(Item::byte_string(tag::IvCounterNonce, r.iv));
        out.add(
            Item::byte_string(tag::AuthenticatedEncryptionTag, Bytes(split, r.ciphertext.end())));
        return out;
    }
    out.add(Item::byte_string(tag::Data, r.ciphertext));
    if (iv.empty()) out.add(Item::byte_string(tag::IvCounterNonce, r.iv));
    return out;
}

Item Operations::decrypt(const Item& payload) {
    const std::string id = required_id(payload);
    const Item& data = field(payload, tag::Data, ItemType::ByteString, "Data");
    const Item& n = field(payload, tag::IvCounterNonce, ItemType::ByteString, "IV/Counter/Nonce");
    const core::KeyRecord k = load(id);
    const core::CipherMode mode =
        cipher_mode(optional_field(payload, tag::CryptographicParameters, ItemType::Structure,
                                   "Cryptographic Parameters"),
                    k.algorithm, m_v);
    Bytes in = to_bytes(data.bytes);
    if (mode == core::CipherMode::AesGcm) {
        const Item& t = field(payload, tag::AuthenticatedEncryptionTag, ItemType::ByteString,
                              "Authenticated Encryption Tag");
        if (t.bytes.size() != kGcmTagBytes)
            throw KmipFailure(Reason::FeatureNotSupported,
                              "AES-GCM: only a 16-byte Authenticated Encryption Tag is supported");
        in.insert(in.end(), t.bytes.begin(), t.bytes.end());
    }
    const Bytes aad = additional_data(payload, mode);
    const core::DecryptResult r =
        m_s.ops.decrypt(m_caller, id, mode, in, to_bytes(n.bytes), aad, std::nullopt);
    Item out = payload_with_id(id);
    out.add(Item::byte_string(tag::Data, r.plaintext));
    return out;
}

}  // namespace kms::kmip
