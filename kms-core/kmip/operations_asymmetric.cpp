// KMIP key pairs and the signing, MAC and random operations (KMIP 1.4 §4.2, §4.31 to §4.35),
// each onto one kms-core use case (KeyLifecycle::create, KeyOperations::sign/verify/mac/
// verify_mac/random). A key pair is one kmsd key record; its public half is the object
// "ID-pub" (kmip/attributes.hpp ObjectRef).
#include <ctime>

#include "crypto/public_key.hpp"
#include "domain/error.hpp"
#include "kmip/attributes.hpp"
#include "kmip/operations.hpp"

namespace kms::kmip {

namespace {

const Item& need(const Item& payload, std::uint32_t t, ItemType type, const char* what) {
    const Item* i = payload.find(t);
    if (i == nullptr) throw KmipFailure(Reason::InvalidField, std::string(what) + " is missing");
    if (i->type != type)
        throw KmipFailure(Reason::InvalidField, std::string(what) + " has the wrong type");
    return *i;
}

std::optional<std::uint32_t> param(const Item* params, std::uint32_t t, const char* what) {
    if (params == nullptr) return std::nullopt;
    const Item* i = params->find(t);
    if (i == nullptr) return std::nullopt;
    if (i->type != ItemType::Enumeration)
        throw KmipFailure(Reason::InvalidField, std::string(what) + " is not an Enumeration");
    return static_cast<std::uint32_t>(i->number);
}

const Item* crypto_params(const Item& payload) {
    const Item* p = payload.find(tag::CryptographicParameters);
    if (p != nullptr && p->type != ItemType::Structure)
        throw KmipFailure(Reason::InvalidField, "Cryptographic Parameters is not a Structure");
    return p;
}

/// The signature algorithm for KMIP Cryptographic Parameters on a key of @p a: a Digital
/// Signature Algorithm, or Padding Method + Hashing Algorithm; none: ECDSA with the curve's
/// hash, RSA PKCS#1 v1.5 with SHA-256.
core::SignAlgorithm sign_algorithm(const Item* params, core::Algorithm a) {
    using core::SignAlgorithm;
    const bool ec = core::info(a).family == core::KeyFamily::Ec;
    std::optional<SignAlgorithm> s;
    const auto hash = param(params, tag::HashingAlgorithm, "Hashing Algorithm");
    if (auto dsa = param(params, tag::DigitalSignatureAlgorithm, "Digital Signature Algorithm")) {
        if (*dsa == kEcdsaWithSha256) s = SignAlgorithm::EcdsaSha256;
        if (*dsa == kEcdsaWithSha384) s = SignAlgorithm::EcdsaSha384;
        if (*dsa == kSha256WithRsa) s = SignAlgorithm::RsaPkcs1Sha256;
        if (*dsa == kRsassaPss && hash.value_or(kHashSha256) == kHashSha256)
            s = SignAlgorithm::RsaPssSha256;
    } else if (ec) {
        const std::uint32_t h =
            hash.value_or(a == core::Algorithm::EcP384 ? kHashSha384 : kHashSha256);
        if (h == kHashSha256) s = SignAlgorithm::EcdsaSha256;
        if (h == kHashSha384) s = SignAlgorithm::EcdsaSha384;
    } else {
        const std::uint32_t pad =
            param(params, tag::PaddingMethod, "Padding Method").value_or(kPaddingPkcs1v15);
        if (hash.value_or(kHashSha256) == kHashSha256) {
            if (pad == kPaddingPkcs1v15) s = SignAlgorithm::RsaPkcs1Sha256;
            if (pad == kPaddingPss) s = SignAlgorithm::RsaPssSha256;
        }
    }
    if (!s || !core::sign_fits(*s, a))
        throw KmipFailure(Reason::FeatureNotSupported,
                          "signature parameters not supported for this key (ECDSA with SHA-256 "
                          "or SHA-384, RSA PKCS#1 v1.5 or PSS with SHA-256)");
    return *s;
}

bool is_ec(core::SignAlgorithm s) {
    return s == core::SignAlgorithm::EcdsaSha256 || s == core::SignAlgorithm::EcdsaSha384;
}

core::MacAlgorithm mac_algorithm(const Item* params, core::Algorithm a) {
    const auto alg = param(params, tag::CryptographicAlgorithm, "Cryptographic Algorithm");
    const auto mode = param(params, tag::BlockCipherMode, "Block Cipher Mode");
    std::optional<core::MacAlgorithm> m;
    switch (core::info(a).family) {
        case core::KeyFamily::Hmac:
            if (alg.value_or(static_cast<std::uint32_t>(CryptoAlg::HmacSha256)) ==
                static_cast<std::uint32_t>(CryptoAlg::HmacSha256))
                m = core::MacAlgorithm::HmacSha256;
            break;
        case core::KeyFamily::Aes:
            if (mode.value_or(kModeCmac) == kModeCmac) m = core::MacAlgorithm::AesCmac;
            break;
        case core::KeyFamily::Des3:
            m = core::MacAlgorithm::Des3Retail;  // ISO 9797-1 MAC algorithm 3 (kmsd's only one)
            break;
        default:
            break;
    }
    if (!m)
        throw KmipFailure(Reason::FeatureNotSupported,
                          "MAC parameters not supported for this key (HMAC-SHA256, AES CMAC, "
                          "Triple DES retail MAC)");
    return *m;
}

/// A Big Integer item (§9.1.1.4: two's complement, big-endian, a multiple of 8 bytes) of the
/// unsigned magnitude @p magnitude.
Item big_integer(std::uint32_t t, const Bytes& magnitude) {
    Item i;
    i.tag = t;
    i.type = ItemType::BigInteger;
    std::size_t len = magnitude.size() + 1;  // room for a 0 sign byte
    len = (len + 7) / 8 * 8;
    i.bytes.assign(len - magnitude.size(), 0);
    i.bytes.insert(i.bytes.end(), magnitude.begin(), magnitude.end());
    return i;
}

Bytes bytes_of(const Item& i) {
    return Bytes(i.bytes.begin(), i.bytes.end());
}

}  // namespace

Item Operations::create_key_pair(const Item& payload) {
    const bool v2 = m_v.at_least(2, 0);
    auto read = [&](std::uint32_t t1, std::uint32_t t2) {
        const Item* c = payload.find(v2 ? t2 : t1);
        return c != nullptr ? read_attributes_in(*c, m_v) : RequestedAttributes{};
    };
    const RequestedAttributes common = read(tag::CommonTemplateAttribute, tag::CommonAttributes);
    const RequestedAttributes priv =
        read(tag::PrivateKeyTemplateAttribute, tag::PrivateKeyAttributes);
    const RequestedAttributes pub = read(tag::PublicKeyTemplateAttribute, tag::PublicKeyAttributes);
    for (const auto* r : {&common, &priv, &pub})
        if (r->object_group || r->contact_information)
            throw KmipFailure(Reason::FeatureNotSupported,
                              "Create Key Pair takes no Object Group or Contact Information: add "
                              "them with Add Attribute");
    const auto alg = common.algorithm ? common.algorithm
                     : priv.algorithm ? priv.algorithm
                                      : pub.algorithm;
    const auto len = common.length ? common.length : priv.length ? priv.length : pub.length;
    if (!alg) throw KmipFailure(Reason::InvalidField, "Cryptographic Algorithm is missing");
    core::CreateKeyRequest req;
    const std::int64_t bits = len.value_or(0);
    const auto a = static_cast<CryptoAlg>(*alg);
    if (a == CryptoAlg::Rsa && bits == 2048)
        req.algorithm = core::Algorithm::Rsa2048;
    else if (a == CryptoAlg::Rsa && bits == 3072)
        req.algorithm = core::Algorithm::Rsa3072;
    else if ((a == CryptoAlg::Ec || a == CryptoAlg::Ecdsa) && bits == 256)
        req.algorithm = core::Algorithm::EcP256;
    else if ((a == CryptoAlg::Ec || a == CryptoAlg::Ecdsa) && bits == 384)
        req.algorithm = core::Algorithm::EcP384;
    else
        throw KmipFailure(Reason::FeatureNotSupported,
                          "Create Key Pair makes RSA 2048/3072 and EC (ECDSA) 256/384 keys");
    if (priv.usage_mask || pub.usage_mask || common.usage_mask) {
        const std::uint32_t mask = priv.usage_mask.value_or(0) | pub.usage_mask.value_or(0) |
                                   common.usage_mask.value_or(0);
        req.usage = usage_from_kmip(mask);
    } else {
        req.usage.add(core::Usage::Sign).add(core::Usage::Verify);
    }
    // One record holds both halves, so it has one name: the private key's, else the common
    // one, else the public key's.
    const auto name = priv.name ? priv.name : common.name ? common.name : pub.name;
    req.name = name ? *name : "kmip-" + core::new_key_id().substr(2);
    req.activate = false;
    const auto act = priv.activation_s ? priv.activation_s : common.activation_s;
    if (act) {
        if (*act > static_cast<std::int64_t>(std::time(nullptr)))
            throw KmipFailure(Reason::FeatureNotSupported,
                              "an Activation Date in the future is not supported; use Activate");
        req.activate = true;
    }
    const core::KeyRecord k = m_s.keys.create(m_caller, req);
    Item out = Item::structure(tag::ResponsePayload);
    out.add(Item::text(tag::PrivateKeyUniqueIdentifier, k.id));
    out.add(Item::text(tag::PublicKeyUniqueIdentifier, ObjectRef{k.id, true}.uid()));
    return out;
}

Item Operations::get_public_key(const Item& payload, const core::KeyRecord& k) {
    // X.509 (DER SubjectPublicKeyInfo) unless the client asks for another format: PKCS#1
    // (RSA, §2.1.4), Transparent RSA Public Key (§2.1.7.5), Transparent EC Public Key
    // (§2.1.7.12, KMIP 1.3 on) or Transparent ECDSA Public Key (§2.1.7.9, before 2.0).
    std::uint32_t format = kFormatX509;
    const bool rsa = core::info(k.algorithm).family == core::KeyFamily::Rsa;
    if (const Item* f = payload.find(tag::KeyFormatType)) {
        const auto n = static_cast<std::uint32_t>(f->number);
        const bool ok =
            f->type == ItemType::Enumeration &&
            (n == kFormatX509 || (rsa && (n == kFormatPkcs1 || n == kFormatTransparentRsaPublic)) ||
             (!rsa && n == kFormatTransparentEcPublic && m_v.at_least(1, 3)) ||
             (!rsa && n == kFormatTransparentEcdsaPublic && !m_v.at_least(2, 0)));
        if (!ok)
            throw KmipFailure(Reason::KeyFormatTypeNotSupported,
                              "public keys are served in Key Format Type X.509, PKCS#1 or "
                              "Transparent RSA Public Key (RSA), Transparent EC / ECDSA Public "
                              "Key (EC, as the version has it)");
        format = n;
    }
    const Bytes& spki = k.current().public_key;
    if (spki.empty()) throw KmipFailure(Reason::ItemNotFound, "object has no public key");
    Item material;
    if (format == kFormatPkcs1) {
        material = Item::byte_string(tag::KeyMaterial, crypto::rsa_spki_to_pkcs1(spki));
    } else if (format == kFormatTransparentRsaPublic) {
        const auto [n, e] = crypto::rsa_public_components(spki);
        material = Item::structure(
            tag::KeyMaterial, {big_integer(tag::Modulus, n), big_integer(tag::PublicExponent, e)});
    } else if (format == kFormatTransparentEcPublic || format == kFormatTransparentEcdsaPublic) {
        material = Item::structure(
            tag::KeyMaterial,
            {Item::enumeration(tag::RecommendedCurve,
                               k.algorithm == core::Algorithm::EcP384 ? kCurveP384 : kCurveP256),
             Item::byte_string(tag::QString, crypto::ec_public_point(spki))});
    } else {
        material = Item::byte_string(tag::KeyMaterial, spki);
    }
    Item block = key_block(format, std::move(material), k.algorithm);
    Item out = Item::structure(tag::ResponsePayload);
    out.add(Item::enumeration(tag::ObjectType, static_cast<std::uint32_t>(ObjectType::PublicKey)));
    out.add(Item::text(tag::UniqueIdentifier, ObjectRef{k.id, true}.uid()));
    out.add(Item::structure(tag::PublicKey, {std::move(block)}));
    return out;
}

Item Operations::key_block(std::uint32_t format, Item material, core::Algorithm a) const {
    return Item::structure(tag::KeyBlock,
                           {Item::enumeration(tag::KeyFormatType, format),
                            Item::structure(tag::KeyValue, {std::move(material)}),
                            Item::enumeration(tag::CryptographicAlgorithm, kmip_algorithm(a, m_v)),
                            Item::integer(tag::CryptographicLength, kmip_length(a))});
}

Item Operations::sign(const Item& payload) {
    const ObjectRef ref = resolve(payload);
    if (ref.public_half)
        throw KmipFailure(Reason::PermissionDenied, "a public key cannot sign; use " + ref.key_id);
    const Item& data = need(payload, tag::Data, ItemType::ByteString, "Data");
    const core::KeyRecord k = load(ref);
    const core::SignAlgorithm s = sign_algorithm(crypto_params(payload), k.algorithm);
    const core::SignResult r = m_s.ops.sign(m_caller, ref.key_id, s, bytes_of(data));
    // kmsd signs ECDSA as raw r||s (PKCS#11); KMIP clients expect the X9.62 DER form.
    const Bytes sig = is_ec(s) ? crypto::ecdsa_raw_to_der(r.signature) : r.signature;
    Item out = payload_with_id(ref.uid());
    out.add(Item::byte_string(tag::SignatureData, sig));
    return out;
}

Item Operations::signature_verify(const Item& payload) {
    const ObjectRef ref = resolve(payload);
    const Item& data = need(payload, tag::Data, ItemType::ByteString, "Data");
    const Item& sig = need(payload, tag::SignatureData, ItemType::ByteString, "Signature Data");
    const core::KeyRecord k = load(ref);
    const core::SignAlgorithm s = sign_algorithm(crypto_params(payload), k.algorithm);
    bool valid = false;
    Bytes raw = bytes_of(sig);
    bool parsed = true;
    if (is_ec(s)) {
        try {
            raw = crypto::ecdsa_der_to_raw(raw, k.algorithm == core::Algorithm::EcP384 ? 48 : 32);
        } catch (const Error&) {
            parsed = false;  // not a DER signature: it does not verify
        }
    }
    // A signature that is not even DER is simply invalid (§4.32: Validity Indicator Invalid).
    if (parsed)
        valid = m_s.ops.verify(m_caller, ref.key_id, s, bytes_of(data), raw, std::nullopt).valid;
    Item out = payload_with_id(ref.uid());
    out.add(Item::enumeration(tag::ValidityIndicator, valid ? kValid : kInvalid));
    return out;
}

Item Operations::mac(const Item& payload) {
    const ObjectRef ref = resolve(payload);
    const Item& data = need(payload, tag::Data, ItemType::ByteString, "Data");
    const core::KeyRecord k = load(ref);
    const core::MacResult r = m_s.ops.mac(
        m_caller, ref.key_id, mac_algorithm(crypto_params(payload), k.algorithm), bytes_of(data));
    Item out = payload_with_id(ref.uid());
    out.add(Item::byte_string(tag::MacData, r.mac));
    return out;
}

Item Operations::mac_verify(const Item& payload) {
    const ObjectRef ref = resolve(payload);
    const Item& data = need(payload, tag::Data, ItemType::ByteString, "Data");
    const Item& mac = need(payload, tag::MacData, ItemType::ByteString, "MAC Data");
    const core::KeyRecord k = load(ref);
    const core::CheckResult r =
        m_s.ops.verify_mac(m_caller, ref.key_id, mac_algorithm(crypto_params(payload), k.algorithm),
                           bytes_of(data), bytes_of(mac), std::nullopt);
    Item out = payload_with_id(ref.uid());
    out.add(Item::enumeration(tag::ValidityIndicator, r.valid ? kValid : kInvalid));
    return out;
}

Item Operations::rng_retrieve(const Item& payload) {
    const Item& len = need(payload, tag::DataLength, ItemType::Integer, "Data Length");
    if (len.number < 1 || len.number > 4096)
        throw KmipFailure(Reason::InvalidField, "Data Length must be from 1 to 4096");
    const Bytes r = m_s.ops.random(m_caller, static_cast<std::size_t>(len.number));
    return Item::structure(tag::ResponsePayload, {Item::byte_string(tag::Data, r)});
}

}  // namespace kms::kmip
