// KMIP Register (KMIP 1.4 §4.3; KMIP 2.0 §6.1.43) onto core::KeyRegistration: a Symmetric Key
// whose clear value goes into the HSM (Hsm::import_secret) and a Public Key kept as its
// SubjectPublicKeyInfo. Key material is checked against the Key Format Type (§2.1.4, §2.1.7)
// and against the Cryptographic Algorithm and Length the request claims, before anything
// reaches the HSM or the store. The clear symmetric value is copied out of the message into
// a SecureBytes (locked, wiped) and is never named in a Result Message or an audit record.
#include <ctime>

#include "crypto/public_key.hpp"
#include "domain/error.hpp"
#include "domain/secure_bytes.hpp"
#include "kmip/attributes.hpp"
#include "kmip/operations.hpp"

namespace kms::kmip {

namespace {

const Item& need(const Item& s, std::uint32_t t, ItemType type, const char* what) {
    const Item* i = s.find(t);
    if (i == nullptr) throw KmipFailure(Reason::InvalidField, std::string(what) + " is missing");
    if (i->type != type)
        throw KmipFailure(Reason::InvalidField, std::string(what) + " has the wrong type");
    return *i;
}

/// A Key Block (§2.1.3) as Register reads it: unwrapped, uncompressed key material.
struct KeyBlockIn {
    std::uint32_t format = 0;
    const Item* material = nullptr;  ///< Key Material: Byte String or Structure (Transparent)
    std::optional<std::uint32_t> algorithm;
    std::optional<std::int64_t> length;
};

KeyBlockIn read_key_block(const Item& object) {
    if (object.type != ItemType::Structure)
        throw KmipFailure(Reason::InvalidField, "the managed object is not a Structure");
    const Item& kb = need(object, tag::KeyBlock, ItemType::Structure, "Key Block");
    KeyBlockIn out;
    out.format = static_cast<std::uint32_t>(
        need(kb, tag::KeyFormatType, ItemType::Enumeration, "Key Format Type").number);
    if (kb.find(tag::KeyWrappingData) != nullptr)
        throw KmipFailure(Reason::FeatureNotSupported,
                          "wrapped key material (Key Wrapping Data) is not accepted by Register; "
                          "import wrapped keys with the REST API (POST /v1/keys/import)");
    if (kb.find(tag::KeyCompressionType) != nullptr)
        throw KmipFailure(Reason::FeatureNotSupported, "Key Compression Type is not supported");
    const Item& kv = need(kb, tag::KeyValue, ItemType::Structure, "Key Value");
    const Item* km = kv.find(tag::KeyMaterial);
    if (km == nullptr) throw KmipFailure(Reason::InvalidField, "Key Material is missing");
    if (kv.find(tag::Attribute) != nullptr || kv.find(tag::Attributes) != nullptr)
        throw KmipFailure(Reason::FeatureNotSupported,
                          "attributes inside the Key Value are not supported; give them in the "
                          "request's attributes");
    out.material = km;
    if (const Item* a = kb.find(tag::CryptographicAlgorithm)) {
        if (a->type != ItemType::Enumeration)
            throw KmipFailure(Reason::InvalidField,
                              "Key Block Cryptographic Algorithm has the "
                              "wrong type");
        out.algorithm = static_cast<std::uint32_t>(a->number);
    }
    if (const Item* l = kb.find(tag::CryptographicLength)) {
        if (l->type != ItemType::Integer)
            throw KmipFailure(Reason::InvalidField,
                              "Key Block Cryptographic Length has the wrong type");
        out.length = l->number;
    }
    return out;
}

/// The one value of a field the key block and the request's attributes may both give.
template <typename T>
std::optional<T> agree(const std::optional<T>& block, const std::optional<T>& attr,
                       const char* what) {
    if (block && attr && *block != *attr)
        throw KmipFailure(Reason::InvalidField,
                          std::string(what) + ": the Key Block and the attributes differ");
    return block ? block : attr;
}

/// Pre-Active unless an Activation Date not in the future is given (as Create, §3.24).
bool activate_now(const RequestedAttributes& a) {
    if (!a.activation_s) return false;
    if (*a.activation_s > static_cast<std::int64_t>(std::time(nullptr)))
        throw KmipFailure(Reason::FeatureNotSupported,
                          "an Activation Date in the future is not supported; use Activate");
    return true;
}

std::string name_or_default(const RequestedAttributes& a) {
    return a.name ? *a.name : "kmip-" + core::new_key_id().substr(2);
}

/// A Big Integer (§9.1.1.4: two's complement, big-endian) as an unsigned magnitude.
ByteView unsigned_big(const Item& i, const char* what) {
    if (!i.bytes.empty() && (i.bytes[0] & 0x80) != 0)
        throw KmipFailure(Reason::InvalidField, std::string(what) + " is negative");
    return ByteView(i.bytes.data(), i.bytes.size());
}

}  // namespace

Item Operations::register_object(const Item& payload) {
    const Item& ot = need(payload, tag::ObjectType, ItemType::Enumeration, "Object Type");
    const RequestedAttributes a = read_request_attributes(payload, m_v);
    if (a.object_type && static_cast<std::int64_t>(*a.object_type) != ot.number)
        throw KmipFailure(Reason::InvalidField,
                          "the Object Type attribute differs from the "
                          "request's Object Type");
    if (a.state) throw KmipFailure(Reason::InvalidField, "State is set by the server (§3.22)");
    // REST puts key.import under dual control when a quorum is set; KMIP cannot carry the
    // approvals, so Register (an import of key material) is refused instead of bypassing them.
    if (m_s.approvals.quorum_for("key.import"))
        throw KmipFailure(Reason::PermissionDenied,
                          "key.import is under dual control: import the key through the REST API "
                          "and its approvals");
    switch (static_cast<ObjectType>(ot.number)) {
        case ObjectType::SymmetricKey:
            return register_symmetric(
                need(payload, tag::SymmetricKey, ItemType::Structure, "Symmetric Key"), a);
        case ObjectType::PublicKey:
            return register_public(need(payload, tag::PublicKey, ItemType::Structure, "Public Key"),
                                   a);
        case ObjectType::PrivateKey:
            throw KmipFailure(Reason::FeatureNotSupported,
                              "private keys are made in the HSM (Create Key Pair); Register does "
                              "not take one");
        case ObjectType::Certificate:
            return register_certificate(
                need(payload, tag::Certificate, ItemType::Structure, "Certificate"), a);
        case ObjectType::SecretData:
            return register_secret_data(
                need(payload, tag::SecretData, ItemType::Structure, "Secret Data"), a);
    }
    if (ot.number >= 1 && ot.number <= 0x0A)  // Split Key, Template, Opaque Object, PGP Key, ...
        throw KmipFailure(Reason::FeatureNotSupported,
                          "Object Type " + std::to_string(ot.number) + " is not supported");
    throw KmipFailure(Reason::InvalidField,
                      "Object Type " + std::to_string(ot.number) + " is unknown");
}

Item Operations::register_symmetric(const Item& object, const RequestedAttributes& attrs) {
    const KeyBlockIn kb = read_key_block(object);
    const Item* value = nullptr;  // the Byte String holding the key
    if (kb.format == kFormatRaw) {
        value = kb.material;
    } else if (kb.format == kFormatTransparentSymmetric) {
        if (kb.material->type != ItemType::Structure)
            throw KmipFailure(Reason::InvalidField,
                              "Key Material of a Transparent Symmetric Key is a Structure "
                              "holding Key (§2.1.7.1)");
        value = kb.material->find(tag::Key);
        if (value == nullptr) throw KmipFailure(Reason::InvalidField, "Key is missing");
    } else {
        throw KmipFailure(Reason::KeyFormatTypeNotSupported,
                          "a Symmetric Key registers in Key Format Type Raw or Transparent "
                          "Symmetric Key");
    }
    if (value->type != ItemType::ByteString)
        throw KmipFailure(Reason::InvalidField, kb.format == kFormatRaw
                                                    ? "Key Material of a Raw key is a Byte String"
                                                    : "Key is not a Byte String");
    RequestedAttributes a = attrs;
    // PyKMIP 0.10 sends a mask of 0 for an object made without masks: no usage given.
    if (a.usage_mask == 0u) a.usage_mask.reset();
    a.algorithm = agree(kb.algorithm, attrs.algorithm, "Cryptographic Algorithm");
    a.length = agree(kb.length, attrs.length, "Cryptographic Length");
    const std::size_t bytes = value->bytes.size();
    if (!a.length) {
        // The material says: 8 bits a byte (Triple DES: 128 or 192 with parity bits).
        a.length = static_cast<std::int64_t>(bytes) * 8;
    }
    const core::Algorithm alg = algorithm_for(a);
    if (bytes != core::secret_length(alg))
        throw KmipFailure(Reason::InvalidField, "Key Material is " + std::to_string(bytes) +
                                                    " bytes; " + std::string(core::info(alg).name) +
                                                    " takes " +
                                                    std::to_string(core::secret_length(alg)));
    core::RegisterSecretRequest req;
    req.algorithm = alg;
    req.usage = a.usage_mask ? usable_for(alg, usage_from_kmip(*a.usage_mask)) : default_usage(alg);
    req.name = name_or_default(a);
    req.activate = activate_now(a);
    req.source = "kmip";
    const SecureBytes key(value->bytes.data(), value->bytes.size());
    const core::KeyRecord k = m_s.registration.register_secret(m_caller, req, key);
    return payload_with_id(k.id);
}

Item Operations::register_public(const Item& object, const RequestedAttributes& attrs) {
    const KeyBlockIn kb = read_key_block(object);
    const Item& m = *kb.material;
    auto byte_string = [&](const char* what) {
        if (m.type != ItemType::ByteString)
            throw KmipFailure(Reason::InvalidField,
                              std::string("Key Material of a ") + what + " key is a Byte String");
        return ByteView(m.bytes.data(), m.bytes.size());
    };
    auto structure = [&](const char* what) -> const Item& {
        if (m.type != ItemType::Structure)
            throw KmipFailure(Reason::InvalidField,
                              std::string("Key Material of a ") + what + " key is a Structure");
        return m;
    };
    Bytes spki;
    try {
        switch (kb.format) {
            case kFormatX509: {
                const ByteView der = byte_string("X.509");
                spki.assign(der.begin(), der.end());
                break;
            }
            case kFormatPkcs1:
                spki = crypto::rsa_pkcs1_to_spki(byte_string("PKCS#1"));
                break;
            case kFormatTransparentRsaPublic: {  // §2.1.7.5
                const Item& s = structure("Transparent RSA Public");
                const Item& n = need(s, tag::Modulus, ItemType::BigInteger, "Modulus");
                const Item& e =
                    need(s, tag::PublicExponent, ItemType::BigInteger, "Public Exponent");
                spki = crypto::rsa_public_key_spki(unsigned_big(n, "Modulus"),
                                                   unsigned_big(e, "Public Exponent"));
                break;
            }
            case kFormatTransparentEcPublic:     // §2.1.7.12 (KMIP 1.3)
            case kFormatTransparentEcdsaPublic:  // §2.1.7.9 (reserved from 2.0)
            {
                if (kb.format == kFormatTransparentEcPublic && !m_v.at_least(1, 3))
                    throw KmipFailure(Reason::KeyFormatTypeNotSupported,
                                      "Transparent EC Public Key is a KMIP 1.3 format");
                if (kb.format == kFormatTransparentEcdsaPublic && m_v.at_least(2, 0))
                    throw KmipFailure(Reason::KeyFormatTypeNotSupported,
                                      "Transparent ECDSA Public Key is reserved in KMIP 2.0; use "
                                      "Transparent EC Public Key");
                const Item& s = structure("Transparent EC Public");
                const Item& c =
                    need(s, tag::RecommendedCurve, ItemType::Enumeration, "Recommended Curve");
                const Item& q = need(s, tag::QString, ItemType::ByteString, "Q String");
                core::Algorithm curve;
                if (c.number == kCurveP256)
                    curve = core::Algorithm::EcP256;
                else if (c.number == kCurveP384)
                    curve = core::Algorithm::EcP384;
                else
                    throw KmipFailure(Reason::FeatureNotSupported,
                                      "Recommended Curve: P-256 and P-384 are supported");
                spki = crypto::ec_public_key_spki(curve, ByteView(q.bytes.data(), q.bytes.size()));
                break;
            }
            default:
                throw KmipFailure(Reason::KeyFormatTypeNotSupported,
                                  "a Public Key registers in Key Format Type X.509, PKCS#1, "
                                  "Transparent RSA Public Key or Transparent EC Public Key");
        }
    } catch (const Error& e) {
        if (e.code() != ErrorCode::InvalidArgument) throw;
        throw KmipFailure(
            Reason::InvalidField,
            std::string("Key Material does not match its Key Format Type: ") + e.what());
    }
    const auto alg = crypto::spki_algorithm(spki);
    if (!alg)
        throw KmipFailure(Reason::InvalidField,
                          "Key Material: not an EC P-256/P-384 or RSA 2048/3072 public key");
    // What the request claims must be what the material is.
    if (const auto claimed = agree(kb.algorithm, attrs.algorithm, "Cryptographic Algorithm")) {
        const bool ec = core::info(*alg).family == core::KeyFamily::Ec;
        const auto c = static_cast<CryptoAlg>(*claimed);
        if (c == CryptoAlg::Ec && !m_v.at_least(1, 4))
            throw KmipFailure(Reason::InvalidField,
                              "Cryptographic Algorithm EC is a KMIP 1.4 value; use ECDSA");
        const bool fits = ec ? (c == CryptoAlg::Ec || c == CryptoAlg::Ecdsa) : c == CryptoAlg::Rsa;
        if (!fits)
            throw KmipFailure(Reason::InvalidField,
                              "Cryptographic Algorithm does not match the key material (" +
                                  std::string(core::info(*alg).name) + ")");
    }
    if (const auto len = agree(kb.length, attrs.length, "Cryptographic Length");
        len && *len != kmip_length(*alg))
        throw KmipFailure(Reason::InvalidField, "Cryptographic Length " + std::to_string(*len) +
                                                    " does not match the key material (" +
                                                    std::to_string(kmip_length(*alg)) + ")");
    // A public key only verifies (and, for RSA, wraps): other bits of the mask are dropped
    // as for Create (PyKMIP adds Encrypt and Decrypt to every mask).
    core::UsageMask allowed;
    allowed.add(core::Usage::Verify);
    if (core::info(*alg).family == core::KeyFamily::Rsa) allowed.add(core::Usage::Wrap);
    core::UsageMask usage;
    if (attrs.usage_mask && *attrs.usage_mask != 0) {  // 0: none given (PyKMIP, as above)
        usage = core::UsageMask(usage_from_kmip(*attrs.usage_mask).bits() & allowed.bits());
        if (usage.empty())
            throw KmipFailure(Reason::InvalidField,
                              "Cryptographic Usage Mask: a public key can have Verify (and Wrap "
                              "Key for RSA)");
    } else {
        usage.add(core::Usage::Verify);
    }
    core::RegisterPublicKeyRequest req;
    req.name = name_or_default(attrs);
    req.spki = std::move(spki);
    req.usage = usage;
    req.activate = activate_now(attrs);
    req.source = "kmip";
    const core::KeyRecord k = m_s.registration.register_public_key(m_caller, req);
    return payload_with_id(ObjectRef{k.id, true}.uid());
}

Item Operations::register_secret_data(const Item& object, const RequestedAttributes& a) {
    // §2.2.7: Secret Data Type and a Key Block (Opaque, as PyKMIP sends it, or Raw).
    const Item& type = need(object, tag::SecretDataType, ItemType::Enumeration, "Secret Data Type");
    if (type.number != kSecretPassword && type.number != kSecretSeed)
        throw KmipFailure(Reason::InvalidField, "Secret Data Type: Password (1) or Seed (2)");
    const KeyBlockIn kb = read_key_block(object);
    if (kb.format != kFormatOpaque && kb.format != kFormatRaw)
        throw KmipFailure(Reason::KeyFormatTypeNotSupported,
                          "Secret Data registers in Key Format Type Opaque or Raw");
    if (kb.material->type != ItemType::ByteString)
        throw KmipFailure(Reason::InvalidField, "Key Material of Secret Data is a Byte String");
    if (kb.algorithm || kb.length || a.algorithm || a.length)
        throw KmipFailure(Reason::InvalidField,
                          "Secret Data has no Cryptographic Algorithm or Length");
    core::RegisterObjectRequest req;
    req.name = name_or_default(a);
    req.subtype = static_cast<std::uint32_t>(type.number);
    req.usage_mask = a.usage_mask.value_or(0);
    req.activate = activate_now(a);
    req.source = "kmip";
    const SecureBytes value(kb.material->bytes.data(), kb.material->bytes.size());
    return payload_with_id(m_s.objects.register_secret_data(m_caller, req, value).id);
}

Item Operations::register_certificate(const Item& object, const RequestedAttributes& a) {
    // §2.2.1: Certificate Type and Certificate Value (DER).
    const Item& type =
        need(object, tag::CertificateType, ItemType::Enumeration, "Certificate Type");
    if (type.number != kCertificateX509)
        throw KmipFailure(Reason::FeatureNotSupported, "Certificate Type: X.509 (1) only");
    const Item& der =
        need(object, tag::CertificateValue, ItemType::ByteString, "Certificate Value");
    if (a.algorithm || a.length)
        throw KmipFailure(Reason::InvalidField,
                          "a Certificate's Cryptographic Algorithm and Length come from its key");
    core::RegisterObjectRequest req;
    req.name = name_or_default(a);
    req.subtype = kCertificateX509;
    req.usage_mask = a.usage_mask.value_or(0);
    req.activate = activate_now(a);
    req.source = "kmip";
    try {
        return payload_with_id(
            m_s.objects
                .register_certificate(m_caller, req, ByteView(der.bytes.data(), der.bytes.size()))
                .id);
    } catch (const Error& e) {
        if (e.code() != ErrorCode::InvalidArgument) throw;
        throw KmipFailure(Reason::InvalidField, std::string("Certificate Value: ") + e.what());
    }
}

}  // namespace kms::kmip
