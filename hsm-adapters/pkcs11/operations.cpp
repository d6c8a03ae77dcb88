// The cryptographic operations of the Hsm port: MAC, encrypt/decrypt, sign/verify. Each is
// checks without PKCS#11 calls (fit, usage, lengths), then one borrowed session: cached
// object (or unwrap on a miss) and exactly one single-part Init + operation pair.
#include "crypto/host_crypto.hpp"
#include "pkcs11/hsm_impl.hpp"
#include "pkcs11/session.hpp"

namespace kms::hsm {

using core::Algorithm;
using core::CipherMode;
using core::KeyRef;
using core::MacAlgorithm;
using core::SignAlgorithm;
using core::Usage;

namespace {

void require_usage(const KeyRef& key, Usage usage) {
    if (!key.usage.has(usage))
        throw Error(ErrorCode::UsageNotPermitted, "key " + std::string(key.key_id) +
                                                      " does not allow " +
                                                      std::string(core::usage_name(usage)));
}

[[noreturn]] void does_not_fit(std::string_view what, Algorithm a) {
    throw Error(ErrorCode::Unsupported,
                std::string(what) + " does not fit a " + std::string(core::info(a).name) + " key");
}

std::size_t signature_size(Algorithm a) {
    switch (a) {
        case Algorithm::EcP256:
            return 64;  // r || s, 32 bytes each (PKCS#11 curr., EC signatures)
        case Algorithm::EcP384:
            return 96;
        default:
            return core::info(a).bits / 8;  // RSA: the modulus length
    }
}

/// The cipher mechanism with its parameter block; the CK_MECHANISM points into this object,
/// so it must not be copied once mech() is used.
class CipherMechanism {
  public:
    CipherMechanism(const core::CipherParams& p) {
        switch (p.mode) {
            case CipherMode::AesGcm:
                // CK_GCM_PARAMS (PKCS#11 v3.0 curr. §2.13.5): 96-bit IV, 128-bit tag appended.
                // ulIvBits is in the v2.40 header but not its text; set it consistently.
                m_gcm.pIv = in_ptr(p.iv);
                m_gcm.ulIvLen = p.iv.size();
                m_gcm.ulIvBits = p.iv.size() * 8;
                m_gcm.pAAD = p.aad.empty() ? nullptr : in_ptr(p.aad);
                m_gcm.ulAADLen = p.aad.size();
                m_gcm.ulTagBits = 128;
                m_mech = {CKM_AES_GCM, &m_gcm, sizeof m_gcm};
                return;
            case CipherMode::AesCbcPad:
                m_mech = {CKM_AES_CBC_PAD, in_ptr(p.iv), 16};
                return;
            case CipherMode::AesCbc:
                m_mech = {CKM_AES_CBC, in_ptr(p.iv), 16};
                return;
            case CipherMode::Des3CbcPad:
                m_mech = {CKM_DES3_CBC_PAD, in_ptr(p.iv), 8};
                return;
            case CipherMode::Des3Cbc:
                m_mech = {CKM_DES3_CBC, in_ptr(p.iv), 8};
                return;
        }
        throw Error(ErrorCode::InvalidArgument, "unknown cipher mode");
    }
    CipherMechanism(const CipherMechanism&) = delete;
    CipherMechanism& operator=(const CipherMechanism&) = delete;
    CK_MECHANISM& mech() noexcept { return m_mech; }

  private:
    CK_GCM_PARAMS m_gcm{};
    CK_MECHANISM m_mech{};
};

bool padded(CipherMode m) {
    return m == CipherMode::AesCbcPad || m == CipherMode::Des3CbcPad;
}

void check_cipher_input(const KeyRef& key, const core::CipherParams& p, std::size_t length,
                        bool encrypting) {
    if (!core::cipher_fits(p.mode, key.algorithm))
        does_not_fit(core::cipher_mode_name(p.mode), key.algorithm);
    require_usage(key, encrypting ? Usage::Encrypt : Usage::Decrypt);
    const auto name = std::string(core::cipher_mode_name(p.mode));
    const std::size_t block = core::cipher_block_size(p.mode);
    if (p.iv.size() != core::cipher_iv_size(p.mode))
        throw Error(ErrorCode::InvalidArgument,
                    name + " needs a " + std::to_string(core::cipher_iv_size(p.mode)) + "-byte IV");
    if (p.mode != CipherMode::AesGcm && !p.aad.empty())
        throw Error(ErrorCode::InvalidArgument, "additional authenticated data needs AES-GCM");
    if (p.mode == CipherMode::AesGcm) {
        if (!encrypting && length < 16)
            throw Error(ErrorCode::InvalidArgument, "AES-GCM ciphertext is shorter than its tag");
    } else if (!encrypting || !padded(p.mode)) {
        if (length % block != 0 || (!encrypting && length == 0))
            throw Error(ErrorCode::InvalidArgument, name +
                                                        " input must be a non-empty multiple of " +
                                                        std::to_string(block) + " bytes");
    }
}

Bytes host_retail_mac(Pkcs11Hsm::Impl& impl, Lease& lease, const KeyRef& key, ByteView data) {
    const core::KeyBlock block = impl.open_block(lease, key);
    ScopedObject object(&impl.fn(), lease.handle(),
                        impl.unwrap(lease, block, UnwrapPurpose::HostClearValue));
    SecureBytes value = read_secret_value(impl.fn(), lease.handle(), object.get());
    object.reset();  // the clear object lives only as long as the read
    if (value.size() != 16 && value.size() != 24)
        throw Error(ErrorCode::Integrity,
                    "DES3 key of unexpected length (" + key_context(key.key_id, key.version) + ")");
    return crypto::retail_mac(value.view(), data);  // value wiped by ~SecureBytes
}

}  // namespace

// ---- single-part helpers ------------------------------------------------------------------

void terminate_operation(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE s,
                         OperationKind kind) noexcept {
    CK_BYTE buffer[1024];
    CK_ULONG len = sizeof buffer;
    switch (kind) {
        case OperationKind::Sign:
            fn.C_SignFinal(s, buffer, &len);
            break;
        case OperationKind::Verify:
            fn.C_VerifyFinal(s, buffer, 1);
            break;
        case OperationKind::Encrypt:
            fn.C_EncryptFinal(s, buffer, &len);
            break;
        case OperationKind::Decrypt:
            fn.C_DecryptFinal(s, buffer, &len);
            break;
    }
}

namespace {
/// Runs an Init call; should the session still carry an active operation of the same kind
/// (CKR_OPERATION_ACTIVE, a module that did not terminate one on an error), ends it and tries
/// once more.
template <class Init>
void init_operation(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE s, OperationKind kind,
                    const char* function, std::string_view context, Init&& init) {
    CK_RV rv = init();
    if (rv == CKR_OPERATION_ACTIVE) {
        terminate_operation(fn, s, kind);
        rv = init();
    }
    check_rv(rv, function, context);
}
}  // namespace

Bytes sign_once(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE s, CK_MECHANISM& mechanism,
                CK_OBJECT_HANDLE key, ByteView data, std::size_t expected,
                std::string_view context) {
    init_operation(fn, s, OperationKind::Sign, "C_SignInit", context,
                   [&] { return fn.C_SignInit(s, &mechanism, key); });
    Bytes out(expected);
    CK_ULONG len = expected;
    CK_RV rv = fn.C_Sign(s, in_ptr(data), data.size(), out.data(), &len);
    if (rv == CKR_BUFFER_TOO_SMALL) {
        out.resize(len);
        rv = fn.C_Sign(s, in_ptr(data), data.size(), out.data(), &len);
    }
    if (rv != CKR_OK) {
        terminate_operation(fn, s, OperationKind::Sign);
        throw ck_error(rv, "C_Sign", context);
    }
    out.resize(len);
    return out;
}

Bytes encrypt_once(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE s, CK_MECHANISM& mechanism,
                   CK_OBJECT_HANDLE key, ByteView data, std::size_t expected,
                   std::string_view context) {
    init_operation(fn, s, OperationKind::Encrypt, "C_EncryptInit", context,
                   [&] { return fn.C_EncryptInit(s, &mechanism, key); });
    Bytes out(expected);
    CK_ULONG len = expected;
    CK_RV rv = fn.C_Encrypt(s, in_ptr(data), data.size(), out.data(), &len);
    if (rv == CKR_BUFFER_TOO_SMALL) {
        out.resize(len);
        rv = fn.C_Encrypt(s, in_ptr(data), data.size(), out.data(), &len);
    }
    if (rv != CKR_OK) {
        terminate_operation(fn, s, OperationKind::Encrypt);
        throw ck_error(rv, "C_Encrypt", context);
    }
    out.resize(len);
    return out;
}

bool verify_once(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE s, CK_MECHANISM& mechanism,
                 CK_OBJECT_HANDLE key, ByteView data, ByteView signature,
                 std::string_view context) {
    init_operation(fn, s, OperationKind::Verify, "C_VerifyInit", context,
                   [&] { return fn.C_VerifyInit(s, &mechanism, key); });
    const CK_RV rv = fn.C_Verify(s, in_ptr(data), data.size(), in_ptr(signature), signature.size());
    if (rv == CKR_OK) return true;
    terminate_operation(fn, s, OperationKind::Verify);
    if (rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE) return false;
    throw ck_error(rv, "C_Verify", context);
}

// ---- MAC ----------------------------------------------------------------------------------

Bytes Pkcs11Hsm::mac(const KeyRef& key, MacAlgorithm alg, ByteView data) {
    if (!core::mac_fits(alg, key.algorithm))
        does_not_fit(core::mac_algorithm_name(alg), key.algorithm);
    require_usage(key, Usage::Mac);
    auto& impl = *m_impl;

    CK_MECHANISM_TYPE type = CKM_AES_CMAC;  // NIST SP 800-38B, 16-byte tag
    std::size_t size = 16;
    ByteView input = data;
    Bytes padded_input;
    if (alg == MacAlgorithm::HmacSha256) {
        type = CKM_SHA256_HMAC;
        size = 32;
    } else if (alg == MacAlgorithm::Des3Retail) {
        if (impl.caps.retail_mac_mechanism == 0) {
            if (!impl.caps.retail_mac_on_host)
                throw Error(ErrorCode::Unsupported,
                            "DES3-RETAIL: the module has no ISO/IEC 9797-1 MAC algorithm 3 and "
                            "the profile forbids the host fallback");
            return impl.run([&](Lease& lease) { return host_retail_mac(impl, lease, key, data); });
        }
        // Profile contract: the vendor mechanism takes data padded with method 2.
        padded_input = crypto::pad_iso9797_m2(data, 8);
        input = padded_input;
        type = impl.caps.retail_mac_mechanism;
        size = 8;
    }
    return impl.run([&](Lease& lease) {
        const CachedHandle object = impl.key_object(lease, key);
        CK_MECHANISM mech{type, nullptr, 0};
        return sign_once(impl.fn(), lease.handle(), mech, object->handle, input, size, key.key_id);
    });
}

// ---- encrypt / decrypt ----------------------------------------------------------------------

Bytes Pkcs11Hsm::encrypt(const KeyRef& key, const core::CipherParams& params, ByteView plaintext) {
    check_cipher_input(key, params, plaintext.size(), true);
    const std::size_t block = core::cipher_block_size(params.mode);
    std::size_t size = plaintext.size();
    if (params.mode == CipherMode::AesGcm) size += 16;
    if (padded(params.mode)) size = (plaintext.size() / block + 1) * block;  // PKCS#7
    auto& impl = *m_impl;
    return impl.run([&](Lease& lease) {
        const CachedHandle object = impl.key_object(lease, key);
        CipherMechanism mech(params);
        return encrypt_once(impl.fn(), lease.handle(), mech.mech(), object->handle, plaintext, size,
                            key.key_id);
    });
}

Bytes Pkcs11Hsm::decrypt(const KeyRef& key, const core::CipherParams& params, ByteView ciphertext) {
    check_cipher_input(key, params, ciphertext.size(), false);
    auto& impl = *m_impl;
    const bool authenticated = params.mode == CipherMode::AesGcm || padded(params.mode);
    return impl.run([&](Lease& lease) {
        const CachedHandle object = impl.key_object(lease, key);
        CipherMechanism mech(params);
        const auto& fn = impl.fn();
        const auto s = lease.handle();
        init_operation(fn, s, OperationKind::Decrypt, "C_DecryptInit", key.key_id,
                       [&] { return fn.C_DecryptInit(s, &mech.mech(), object->handle); });
        Bytes out(ciphertext.size());  // the plaintext is never longer
        CK_ULONG len = out.size();
        CK_RV rv = fn.C_Decrypt(s, in_ptr(ciphertext), ciphertext.size(), out.data(), &len);
        if (rv == CKR_BUFFER_TOO_SMALL) {
            out.resize(len);
            rv = fn.C_Decrypt(s, in_ptr(ciphertext), ciphertext.size(), out.data(), &len);
        }
        if (rv != CKR_OK) terminate_operation(fn, s, OperationKind::Decrypt);
        if (rv != CKR_OK && authenticated) {
            const auto& extra = impl.caps.decrypt_failure_rvs;
            if (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_AEAD_DECRYPT_FAILED ||
                (rv != 0 && (rv == extra[0] || rv == extra[1]))) {
                const Error e = ck_error(rv, "C_Decrypt", key.key_id);
                throw Error(ErrorCode::VerificationFailed,
                            std::string(e.what()) + ": the tag or padding does not verify",
                            NativeKind::CkRv, rv);
            }
        }
        check_rv(rv, "C_Decrypt", key.key_id);
        out.resize(len);
        return out;
    });
}

// ---- sign / verify ------------------------------------------------------------------------

namespace {

/// Mechanism and the bytes it signs: ECDSA hashes in the module when the capabilities say so,
/// else on the host followed by raw CKM_ECDSA over the digest.
struct SignPlan {
    CK_RSA_PKCS_PSS_PARAMS pss{};
    CK_MECHANISM mech{};
    Bytes digest;
    ByteView input;

    SignPlan(const Capabilities& caps, SignAlgorithm alg, ByteView message) : input(message) {
        switch (alg) {
            case SignAlgorithm::EcdsaSha256:
                if (caps.ecdsa_sha256_in_module) {
                    mech = {CKM_ECDSA_SHA256, nullptr, 0};
                } else {
                    digest = crypto::sha256(message);
                    mech = {CKM_ECDSA, nullptr, 0};
                }
                break;
            case SignAlgorithm::EcdsaSha384:
                if (caps.ecdsa_sha384_in_module) {
                    mech = {CKM_ECDSA_SHA384, nullptr, 0};
                } else {
                    digest = crypto::sha384(message);
                    mech = {CKM_ECDSA, nullptr, 0};
                }
                break;
            case SignAlgorithm::RsaPssSha256:
                // RFC 8017 §8.1 with SHA-256, MGF1-SHA-256 and a 32-byte salt.
                pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
                mech = {CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof pss};
                break;
            case SignAlgorithm::RsaPkcs1Sha256:  // RFC 8017 §8.2
                mech = {CKM_SHA256_RSA_PKCS, nullptr, 0};
                break;
        }
        if (!digest.empty()) input = digest;
    }
    SignPlan(const SignPlan&) = delete;
    SignPlan& operator=(const SignPlan&) = delete;
};

}  // namespace

Bytes Pkcs11Hsm::sign(const KeyRef& key, SignAlgorithm alg, ByteView message) {
    if (!core::sign_fits(alg, key.algorithm))
        does_not_fit(core::sign_algorithm_name(alg), key.algorithm);
    require_usage(key, Usage::Sign);
    auto& impl = *m_impl;
    SignPlan plan(impl.caps, alg, message);
    return impl.run([&](Lease& lease) {
        const CachedHandle object = impl.key_object(lease, key);
        return sign_once(impl.fn(), lease.handle(), plan.mech, object->handle, plan.input,
                         signature_size(key.algorithm), key.key_id);
    });
}

bool Pkcs11Hsm::verify(const KeyRef& key, SignAlgorithm alg, ByteView message, ByteView signature) {
    if (!core::sign_fits(alg, key.algorithm))
        does_not_fit(core::sign_algorithm_name(alg), key.algorithm);
    require_usage(key, Usage::Verify);
    auto& impl = *m_impl;
    SignPlan plan(impl.caps, alg, message);
    return impl.run([&](Lease& lease) {
        const CachedHandle object = impl.public_object(lease, key);
        return verify_once(impl.fn(), lease.handle(), plan.mech, object->handle, plan.input,
                           signature, key.key_id);
    });
}

}  // namespace kms::hsm
