// GlobalPlatform secure channel session keys (DESIGN §7; issue 4, "Where keys live").
//
// Paths (SoftHSM2 2.6.1 SoftHSM::deriveSymmetric implements CKM_DES3_ECB_ENCRYPT_DATA and
// CKM_DES3_CBC_ENCRYPT_DATA; it has no CKM_SP800_108_COUNTER_KDF):
//   KMC diversification (VISA2, EMV CPS 1.1): C_DeriveKey CKM_DES3_ECB_ENCRYPT_DATA of the
//     16-byte diversification input (crypto/gp_diversify.hpp) under the KMC object into a
//     sensitive, non-extractable CKK_DES2 session object with CKA_DERIVE only; its value is
//     never read; it is destroyed when the session keys are made. (SoftHSM2 sets the DES
//     parity bits of a derived DES2 key; DES ignores them.)
//   SCP02 (GP 2.2.1 E.4.1): C_DeriveKey CKM_DES3_CBC_ENCRYPT_DATA, zero IV, over
//     constant || sequence counter || 00 x 12 under the static key into a short-lived
//     non-sensitive, extractable CKK_GENERIC_SECRET object of 16 bytes (generic, so the module
//     does not touch the parity bits and the value is exactly the E.4.1 output); CKA_VALUE is
//     read into SecureBytes and the object destroyed at once.
//   SCP03 (Amd D §6.2.2): each KDF input block (crypto/gp_scp03.hpp kdf_input_blocks) is
//     CMACed with CKM_AES_CMAC (C_Sign) by the static ENC / MAC object, straight into
//     SecureBytes; the concatenation is cut to the key length.
// The static objects: SCP02 and the KMC use the ordinary cached use objects (usage derive gives
// CKA_DERIVE); SCP03 static keys are unwrapped with UnwrapPurpose::GpKdf (CKA_SIGN only) and
// cached under ObjectRole::GpKdf, so the use objects of the same keys keep their capabilities.
// Usage derive is checked against the sealed block: a cached object was made from a block whose
// sealed header equals the KeyRef (open_block), and key_object() refuses a KeyRef whose usage
// differs from the cached object's.
#include <algorithm>

#include "crypto/gp_diversify.hpp"
#include "crypto/gp_scp02.hpp"
#include "crypto/gp_scp03.hpp"
#include "pkcs11/hsm_impl.hpp"
#include "pkcs11/session.hpp"

namespace kms::hsm {

using core::Algorithm;
using core::GpCardKeys;
using core::GpDiversification;
using core::GpProtocol;
using core::GpSessionKeys;
using core::KeyFamily;
using core::KeyRef;
using core::Usage;

namespace {

std::string ref_name(const KeyRef& k) {
    return key_context(k.key_id, k.version);
}

void require_derive(const KeyRef& key) {
    if (!key.usage.has(Usage::Derive))
        throw Error(ErrorCode::UsageNotPermitted, ref_name(key) + " does not allow derive");
}

void require_algorithm(const KeyRef& key, bool ok, std::string_view what) {
    if (!ok)
        throw Error(ErrorCode::InvalidArgument, std::string(what) + "; " + ref_name(key) + " is " +
                                                    std::string(core::info(key.algorithm).name));
}

const KeyRef& require_key(const std::optional<KeyRef>& key, std::string_view name) {
    if (!key)
        throw Error(ErrorCode::InvalidArgument,
                    "the static " + std::string(name) + " key is missing");
    return *key;
}

crypto::GpDiversification crypto_method(GpDiversification d) {
    switch (d) {
        case GpDiversification::Visa2:
            return crypto::GpDiversification::Visa2;
        case GpDiversification::EmvCps11:
            return crypto::GpDiversification::EmvCps11;
        case GpDiversification::None:
            break;
    }
    throw Error(ErrorCode::InvalidArgument,
                "a KMC needs a diversification method (VISA2, EMV CPS 1.1)");
}

/// A secret key object made inside the HSM for one derivation and destroyed by its owner.
Template diversified_key_template() {
    Template t;
    t.ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_DES2)
        .flag(CKA_TOKEN, false)
        .flag(CKA_PRIVATE, true)
        .flag(CKA_SENSITIVE, true)
        .flag(CKA_EXTRACTABLE, false)
        .flag(CKA_DERIVE, true)
        .flag(CKA_ENCRYPT, false)
        .flag(CKA_DECRYPT, false)
        .flag(CKA_SIGN, false)
        .flag(CKA_VERIFY, false)
        .flag(CKA_WRAP, false)
        .flag(CKA_UNWRAP, false);
    return t;
}

Template session_key_template(const CK_ULONG& length) {
    Template t;
    t.ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
        .ulong(CKA_VALUE_LEN, length)
        .flag(CKA_TOKEN, false)
        .flag(CKA_PRIVATE, true)
        .flag(CKA_SENSITIVE, false)
        .flag(CKA_EXTRACTABLE, true)
        .flag(CKA_DERIVE, false)
        .flag(CKA_ENCRYPT, false)
        .flag(CKA_DECRYPT, false)
        .flag(CKA_SIGN, false)
        .flag(CKA_VERIFY, false)
        .flag(CKA_WRAP, false)
        .flag(CKA_UNWRAP, false);
    return t;
}

/// The KMC-diversified static key for @p purpose: a sensitive DES2 object with CKA_DERIVE.
ScopedObject diversify(Pkcs11Hsm::Impl& impl, Lease& lease, CK_OBJECT_HANDLE kmc,
                       const GpCardKeys& card, crypto::GpKeyPurpose purpose,
                       std::string_view context) {
    Bytes input =
        crypto::gp_diversification_input(crypto_method(card.diversification), card.kdd, purpose);
    CK_KEY_DERIVATION_STRING_DATA data{input.data(), static_cast<CK_ULONG>(input.size())};
    CK_MECHANISM m{CKM_DES3_ECB_ENCRYPT_DATA, &data, sizeof data};
    Template t = diversified_key_template();
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    check_rv(impl.fn().C_DeriveKey(lease.handle(), &m, kmc, t.data(), t.size(), &h), "C_DeriveKey",
             context);
    return ScopedObject(&impl.fn(), lease.handle(), h);
}

/// GP 2.2.1 E.4.1 in the HSM: TDEA-CBC, zero IV, of constant || seq || 00 x 12 under
/// @p static_key, through a short-lived non-sensitive generic secret read into SecureBytes.
SecureBytes scp02_session_key(Pkcs11Hsm::Impl& impl, Lease& lease, CK_OBJECT_HANDLE static_key,
                              crypto::Scp02KeyConstant constant, ByteView seq,
                              std::string_view context) {
    std::uint8_t block[16] = {};
    const auto c = static_cast<std::uint16_t>(constant);
    block[0] = static_cast<std::uint8_t>(c >> 8);
    block[1] = static_cast<std::uint8_t>(c);
    block[2] = seq[0];
    block[3] = seq[1];
    CK_DES_CBC_ENCRYPT_DATA_PARAMS params{};  // iv: zero
    params.pData = block;
    params.length = sizeof block;
    CK_MECHANISM m{CKM_DES3_CBC_ENCRYPT_DATA, &params, sizeof params};
    const CK_ULONG length = 16;
    Template t = session_key_template(length);
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    check_rv(impl.fn().C_DeriveKey(lease.handle(), &m, static_key, t.data(), t.size(), &h),
             "C_DeriveKey", context);
    ScopedObject object(&impl.fn(), lease.handle(), h);
    SecureBytes value = read_secret_value(impl.fn(), lease.handle(), object.get());
    object.reset();
    if (value.size() != 16)
        throw Error(ErrorCode::HsmError, "C_DeriveKey: the SCP02 session key has " +
                                             std::to_string(value.size()) + " bytes");
    return value;
}

/// Amd D §6.2.2 with CKM_AES_CMAC by @p static_key (CKA_SIGN), into locked memory.
SecureBytes scp03_kdf(Pkcs11Hsm::Impl& impl, Lease& lease, CK_OBJECT_HANDLE static_key,
                      crypto::scp03::DerivationConstant constant, std::size_t key_length,
                      ByteView context, std::string_view name) {
    const auto& fn = impl.fn();
    const auto s = lease.handle();
    const auto blocks = crypto::scp03::kdf_input_blocks(
        constant, static_cast<std::uint16_t>(key_length * 8), context);
    SecureBytes out(blocks.size() * 16);
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        CK_MECHANISM m{CKM_AES_CMAC, nullptr, 0};
        CK_RV rv = fn.C_SignInit(s, &m, static_key);
        if (rv == CKR_OPERATION_ACTIVE) {
            terminate_operation(fn, s, OperationKind::Sign);
            rv = fn.C_SignInit(s, &m, static_key);
        }
        check_rv(rv, "C_SignInit", name);
        CK_ULONG len = 16;
        rv = fn.C_Sign(s, in_ptr(blocks[i]), blocks[i].size(), out.data() + i * 16, &len);
        if (rv != CKR_OK) {
            terminate_operation(fn, s, OperationKind::Sign);
            throw ck_error(rv, "C_Sign", name);
        }
        if (len != 16)
            throw Error(ErrorCode::HsmError,
                        "C_Sign: CKM_AES_CMAC gave " + std::to_string(len) + " bytes");
    }
    if (out.size() == key_length) return out;
    return SecureBytes(out.data(), key_length);
}

void require_mechanism(const Pkcs11Hsm::Impl& impl, CK_MECHANISM_TYPE type, CK_FLAGS flags,
                       std::string_view what) {
    if (!impl.mechanisms.has(type, flags))
        throw Error(ErrorCode::Unsupported,
                    std::string(what) + " needs " + ckm_name(type) + ", which the token lacks");
}

}  // namespace

CachedHandle gp_object(Pkcs11Hsm::Impl& impl, Lease& lease, const KeyRef& key, ObjectRole role,
                       UnwrapPurpose purpose) {
    if (auto cached = impl.cache.find(key.key_id, key.version, role, lease.generation())) {
        if (cached->algorithm != key.algorithm || !(cached->usage == key.usage))
            throw Error(ErrorCode::Integrity,
                        "key block does not match its metadata (" + ref_name(key) + ")");
        return cached;
    }
    const core::KeyBlock block = impl.open_block(lease, key);
    ScopedObject object(&impl.fn(), lease.handle(), impl.unwrap(lease, block, purpose));
    auto entry = std::make_shared<const CachedObject>(object.get(), lease.generation(),
                                                      key.algorithm, key.usage, impl.pool.get());
    object.release();
    return impl.cache.insert(key.key_id, key.version, role, std::move(entry));
}

GpSessionKeys Pkcs11Hsm::derive_gp_session_keys(GpProtocol protocol, const GpCardKeys& card,
                                                ByteView context) {
    auto& impl = *m_impl;
    const bool scp02 = protocol == GpProtocol::Scp02;
    // ---- checks without PKCS#11 calls ----
    if (scp02 && context.size() != 2)
        throw Error(ErrorCode::InvalidArgument, "SCP02 needs the 2-byte sequence counter, got " +
                                                    std::to_string(context.size()) + " bytes");
    if (!scp02 && context.size() != 16)
        throw Error(ErrorCode::InvalidArgument,
                    "SCP03 needs host challenge || card challenge (16 bytes), got " +
                        std::to_string(context.size()) + " bytes");
    const bool statics = card.enc || card.mac || card.dek;
    if (card.kmc && statics)
        throw Error(ErrorCode::InvalidArgument, "give either a KMC or the static keys, not both");
    if (!card.kmc && !statics)
        throw Error(ErrorCode::InvalidArgument, "no card keys given (a KMC or the static keys)");

    if (card.kmc) {
        if (!scp02)
            throw Error(ErrorCode::Unsupported,
                        "KMC diversification (VISA2, EMV CPS 1.1) is for SCP02 DES3 keys; SCP03 "
                        "takes the static AES keys");
        const KeyRef& kmc = *card.kmc;
        (void)crypto_method(card.diversification);
        if (card.kdd.size() != 10)
            throw Error(ErrorCode::InvalidArgument,
                        "the key diversification data must have 10 bytes, got " +
                            std::to_string(card.kdd.size()));
        require_algorithm(kmc, kmc.algorithm == Algorithm::Des3_2k, "the KMC must be DES3-2K");
        require_derive(kmc);
        require_mechanism(impl, CKM_DES3_ECB_ENCRYPT_DATA, CKF_DERIVE, "KMC diversification");
        require_mechanism(impl, CKM_DES3_CBC_ENCRYPT_DATA, CKF_DERIVE, "SCP02");
        return impl.run([&](Lease& lease) {
            const CachedHandle kmc_object = impl.key_object(lease, kmc);
            const auto ctx = ref_name(kmc);
            ScopedObject enc =
                diversify(impl, lease, kmc_object->handle, card, crypto::GpKeyPurpose::Enc, ctx);
            ScopedObject mac =
                diversify(impl, lease, kmc_object->handle, card, crypto::GpKeyPurpose::Mac, ctx);
            ScopedObject dek =
                diversify(impl, lease, kmc_object->handle, card, crypto::GpKeyPurpose::Dek, ctx);
            using C = crypto::Scp02KeyConstant;
            GpSessionKeys out;
            out.enc = scp02_session_key(impl, lease, enc.get(), C::Enc, context, ctx);
            out.mac = scp02_session_key(impl, lease, mac.get(), C::CMac, context, ctx);
            out.rmac = scp02_session_key(impl, lease, mac.get(), C::RMac, context, ctx);
            out.dek = scp02_session_key(impl, lease, dek.get(), C::Dek, context, ctx);
            return out;
        });
    }

    if (scp02) {
        const KeyRef& enc = require_key(card.enc, "ENC");
        const KeyRef& mac = require_key(card.mac, "MAC");
        const KeyRef& dek = require_key(card.dek, "DEK");
        for (const KeyRef* k : {&enc, &mac, &dek}) {
            require_algorithm(*k, k->algorithm == Algorithm::Des3_2k,
                              "SCP02 static keys must be DES3-2K");
            require_derive(*k);
        }
        require_mechanism(impl, CKM_DES3_CBC_ENCRYPT_DATA, CKF_DERIVE, "SCP02");
        return impl.run([&](Lease& lease) {
            using C = crypto::Scp02KeyConstant;
            GpSessionKeys out;
            {
                const CachedHandle o = impl.key_object(lease, enc);
                out.enc = scp02_session_key(impl, lease, o->handle, C::Enc, context, ref_name(enc));
            }
            {
                const CachedHandle o = impl.key_object(lease, mac);
                const auto ctx = ref_name(mac);
                out.mac = scp02_session_key(impl, lease, o->handle, C::CMac, context, ctx);
                out.rmac = scp02_session_key(impl, lease, o->handle, C::RMac, context, ctx);
            }
            {
                const CachedHandle o = impl.key_object(lease, dek);
                out.dek = scp02_session_key(impl, lease, o->handle, C::Dek, context, ref_name(dek));
            }
            return out;
        });
    }

    // SCP03: S-ENC from ENC, S-MAC and S-RMAC from MAC; the DEK is not used here.
    const KeyRef& enc = require_key(card.enc, "ENC");
    const KeyRef& mac = require_key(card.mac, "MAC");
    for (const KeyRef* k : {&enc, &mac}) {
        require_algorithm(*k, core::info(k->algorithm).family == KeyFamily::Aes,
                          "SCP03 static keys must be AES");
        require_derive(*k);
    }
    if (card.dek) {
        require_algorithm(*card.dek, core::info(card.dek->algorithm).family == KeyFamily::Aes,
                          "SCP03 static keys must be AES");
        require_derive(*card.dek);
    }
    const std::size_t length = core::secret_length(enc.algorithm);
    if (core::secret_length(mac.algorithm) != length ||
        (card.dek && core::secret_length(card.dek->algorithm) != length))
        throw Error(ErrorCode::InvalidArgument, "SCP03 static keys must all have one length");
    require_mechanism(impl, CKM_AES_CMAC, CKF_SIGN, "SCP03");
    return impl.run([&](Lease& lease) {
        using D = crypto::scp03::DerivationConstant;
        GpSessionKeys out;
        {
            const CachedHandle o = gp_object(impl, lease, enc, ObjectRole::GpKdf, UnwrapPurpose::GpKdf);
            out.enc = scp03_kdf(impl, lease, o->handle, D::SEnc, length, context, ref_name(enc));
        }
        {
            const CachedHandle o = gp_object(impl, lease, mac, ObjectRole::GpKdf, UnwrapPurpose::GpKdf);
            const auto ctx = ref_name(mac);
            out.mac = scp03_kdf(impl, lease, o->handle, D::SMac, length, context, ctx);
            out.rmac = scp03_kdf(impl, lease, o->handle, D::SRmac, length, context, ctx);
        }
        return out;
    });
}

Bytes Pkcs11Hsm::gp_scp03_card_challenge(const KeyRef& enc, ByteView sequence_counter,
                                         ByteView aid) {
    if (sequence_counter.size() != 3)
        throw Error(ErrorCode::InvalidArgument, "the SCP03 sequence counter has 3 bytes, got " +
                                                    std::to_string(sequence_counter.size()));
    if (aid.size() < 5 || aid.size() > 16)
        throw Error(ErrorCode::InvalidArgument, "an AID has 5 to 16 bytes");
    require_algorithm(enc, core::info(enc.algorithm).family == KeyFamily::Aes,
                      "SCP03 static keys must be AES");
    require_derive(enc);
    require_mechanism(*m_impl, CKM_AES_CMAC, CKF_SIGN, "SCP03");
    // Reserved up front: one allocation, and no GCC 12 -Warray-bounds false positive on
    // growing a 3-byte vector.
    Bytes context;
    context.reserve(sequence_counter.size() + aid.size());
    context.insert(context.end(), sequence_counter.begin(), sequence_counter.end());
    context.insert(context.end(), aid.begin(), aid.end());
    return m_impl->run([&](Lease& lease) {
        const CachedHandle o =
            gp_object(*m_impl, lease, enc, ObjectRole::GpKdf, UnwrapPurpose::GpKdf);
        const SecureBytes c = scp03_kdf(*m_impl, lease, o->handle,
                                        crypto::scp03::DerivationConstant::CardChallenge, 8,
                                        context, ref_name(enc));
        return Bytes(c.view().begin(), c.view().end());
    });
}

core::GeneratedKey Pkcs11Hsm::gp_diversify_key(const core::KeySpec& spec, const KeyRef& kmc,
                                               GpDiversification method, ByteView kdd,
                                               core::GpKeyRole role) {
    validate_spec(spec);
    if (spec.algorithm != Algorithm::Des3_2k)
        throw Error(ErrorCode::InvalidArgument, "a diversified card key is DES3-2K");
    require_algorithm(kmc, kmc.algorithm == Algorithm::Des3_2k, "the KMC must be DES3-2K");
    require_derive(kmc);
    if (method == GpDiversification::None)
        throw Error(ErrorCode::InvalidArgument,
                    "a diversification method is needed (VISA2, EMV CPS 1.1)");
    if (kdd.size() != 10)
        throw Error(ErrorCode::InvalidArgument,
                    "the key diversification data must have 10 bytes, got " +
                        std::to_string(kdd.size()));
    require_mechanism(*m_impl, CKM_DES3_ECB_ENCRYPT_DATA, CKF_DERIVE, "KMC diversification");
    Bytes input = crypto::gp_diversification_input(
        crypto_method(method), kdd, static_cast<crypto::GpKeyPurpose>(role));
    return m_impl->run([&](Lease& lease) {
        const auto& f = m_impl->fn();
        const CachedHandle kmc_object = m_impl->key_object(lease, kmc);
        CK_KEY_DERIVATION_STRING_DATA data{input.data(), static_cast<CK_ULONG>(input.size())};
        CK_MECHANISM m{CKM_DES3_ECB_ENCRYPT_DATA, &data, sizeof data};
        // The working-key template (extractable only to be wrapped under the LMK, ENCRYPT for
        // the DES3 KCV), as for a key imported under a KEK.
        Template t = temp_unwrap_template(spec.algorithm, m_impl->caps.lmk_trusted);
        CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
        check_rv(f.C_DeriveKey(lease.handle(), &m, kmc_object->handle, t.data(), t.size(), &h),
                 "C_DeriveKey", ref_name(kmc));
        ScopedObject temp(&f, lease.handle(), h);
        return m_impl->block_from_object(lease, spec, temp.get());
    });
}

}  // namespace kms::hsm
