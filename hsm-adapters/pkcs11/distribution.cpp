// Key distribution (DESIGN §5): export and import of secret keys under a KEK (AES-KW/KWP,
// natively), as TR-31 key blocks and with RSA-OAEP-SHA256 (host fallbacks the profile lists).
//
// Every rule is checked against the SEALED key blocks (open_block verifies the seal and that
// the block's header equals the KeyRef), never against the caller's metadata alone: the exported
// key must be sealed exportable, the KEK / KBPK / recipient sealed trusted with usage wrap; an
// import KEK needs usage unwrap only. Imported values become key blocks through the same path
// as generated keys (KCV in the HSM, C_WrapKey under the LMK, seal); for AES-KW/KWP the value
// never leaves the HSM (C_UnwrapKey into a temporary session object, then wrapped under the LMK).
#include "crypto/rsa_oaep.hpp"
#include "crypto/tr31.hpp"
#include "pkcs11/hsm_impl.hpp"
#include "pkcs11/session.hpp"

namespace kms::hsm {

using core::Algorithm;
using core::KeyFamily;
using core::KeyRef;
using core::Usage;
using core::WrapFormat;

namespace {

std::string ref_name(const KeyRef& k) {
    return key_context(k.key_id, k.version);
}

void require_secret(const KeyRef& key) {
    if (!core::is_symmetric(key.algorithm))
        throw Error(ErrorCode::InvalidArgument,
                    "only secret (AES, DES3, HMAC) keys are exported; " + ref_name(key) + " is " +
                        std::string(core::info(key.algorithm).name));
}

void require_family(const KeyRef& key, KeyFamily family, std::string_view what) {
    if (core::info(key.algorithm).family != family)
        throw Error(ErrorCode::InvalidArgument, std::string(what) + " needs " +
                                                    (family == KeyFamily::Aes    ? "an AES"
                                                     : family == KeyFamily::Des3 ? "a DES3"
                                                                                 : "an RSA") +
                                                    " key; " + ref_name(key) + " is " +
                                                    std::string(core::info(key.algorithm).name));
}

void require_unwrap(const core::KeyBlock& b) {
    if (!b.header.usage.has(Usage::Unwrap))
        throw Error(ErrorCode::UsageNotPermitted,
                    key_context(b.header.key_id, b.header.version) + " does not allow unwrap");
}

void require_value_length(const core::KeySpec& spec, std::size_t length) {
    if (length != core::secret_length(spec.algorithm))
        throw Error(ErrorCode::VerificationFailed,
                    "the unwrapped value has " + std::to_string(length) + " bytes; " +
                        std::string(core::info(spec.algorithm).name) + " needs " +
                        std::to_string(core::secret_length(spec.algorithm)));
}

void validate_import_spec(const core::KeySpec& spec) {
    validate_spec(spec);
    if (!core::is_symmetric(spec.algorithm))
        throw Error(ErrorCode::InvalidArgument, "only secret (AES, DES3, HMAC) keys are imported");
}

CK_MECHANISM_TYPE wrap_mechanism(WrapFormat f) {
    return f == WrapFormat::AesKw ? CKM_AES_KEY_WRAP : CKM_AES_KEY_WRAP_PAD;
}

/// CK_RVs by which a module reports wrapped material that does not verify or does not fit.
bool means_bad_wrapped(const Error& e, const Capabilities& caps) {
    if (e.native_kind() != NativeKind::CkRv) return false;
    const auto rv = static_cast<CK_RV>(e.native_code());
    switch (rv) {
        case CKR_WRAPPED_KEY_INVALID:
        case CKR_WRAPPED_KEY_LEN_RANGE:
        case CKR_ENCRYPTED_DATA_INVALID:
        case CKR_ENCRYPTED_DATA_LEN_RANGE:
        case CKR_TEMPLATE_INCONSISTENT:
        case CKR_ATTRIBUTE_VALUE_INVALID:
        case CKR_KEY_SIZE_RANGE:
            return true;
        default:
            return rv != 0 && (rv == caps.decrypt_failure_rvs[0] || rv == caps.decrypt_failure_rvs[1]);
    }
}

}  // namespace

void require_exportable(const core::KeyBlock& b) {
    if (!b.header.exportable)
        throw Error(ErrorCode::UsageNotPermitted,
                    key_context(b.header.key_id, b.header.version) + " is not exportable");
}

void require_export_kek(const core::KeyBlock& b) {
    const auto name = key_context(b.header.key_id, b.header.version);
    if (!b.header.usage.has(Usage::Wrap))
        throw Error(ErrorCode::UsageNotPermitted, name + " does not allow wrap");
    if (!b.header.trusted)
        throw Error(ErrorCode::UsageNotPermitted,
                    name + " is not a trusted key encryption key");
}

/// The clear value of the key in @p block: unwrapped into a short-lived non-sensitive object,
/// read into locked memory, the object destroyed at once (the DES3-RETAIL fallback's path).
SecureBytes clear_value(Pkcs11Hsm::Impl& impl, Lease& lease, const core::KeyBlock& block) {
    ScopedObject object(&impl.fn(), lease.handle(),
                        impl.unwrap(lease, block, UnwrapPurpose::HostClearValue));
    SecureBytes value = read_secret_value(impl.fn(), lease.handle(), object.get());
    object.reset();
    if (value.size() != core::secret_length(block.header.algorithm))
        throw Error(ErrorCode::Integrity, "key of unexpected length (" +
                                              key_context(block.header.key_id,
                                                          block.header.version) +
                                              ")");
    return value;
}

// ---- clear value for its owner (KMIP Get) ---------------------------------------------------

SecureBytes Pkcs11Hsm::reveal_secret(const KeyRef& key) {
    require_secret(key);
    return m_impl->run([&](Lease& lease) {
        const core::KeyBlock key_block = m_impl->open_block(lease, key);
        require_exportable(key_block);  // from the sealed block, not the caller's record
        return clear_value(*m_impl, lease, key_block);
    });
}

// ---- AES-KW / AES-KWP (native) ----------------------------------------------------------------

Bytes Pkcs11Hsm::wrap_key(const KeyRef& key, const KeyRef& kek, WrapFormat format) {
    require_secret(key);
    require_family(kek, KeyFamily::Aes, format == WrapFormat::AesKw ? "AES-KW" : "AES-KWP");
    const CK_MECHANISM_TYPE mech_type = wrap_mechanism(format);
    if (!m_impl->mechanisms.has(mech_type, CKF_WRAP))
        throw Error(ErrorCode::Unsupported, "the token lacks " + ckm_name(mech_type));
    return m_impl->run([&](Lease& lease) {
        const auto& f = m_impl->fn();
        const core::KeyBlock key_block = m_impl->open_block(lease, key);
        require_exportable(key_block);
        const core::KeyBlock kek_block = m_impl->open_block(lease, kek);
        require_export_kek(kek_block);
        const CachedHandle kek_object = m_impl->key_object(lease, kek);
        // The only extractable copy of the key: made for this one C_WrapKey, then destroyed.
        ScopedObject copy(&f, lease.handle(),
                          m_impl->unwrap(lease, key_block, UnwrapPurpose::Export));
        CK_MECHANISM m{mech_type, nullptr, 0};
        CK_ULONG len = 0;
        const auto ctx = ref_name(key);
        check_rv(f.C_WrapKey(lease.handle(), &m, kek_object->handle, copy.get(), nullptr, &len),
                 "C_WrapKey", ctx);
        Bytes out(len);
        check_rv(f.C_WrapKey(lease.handle(), &m, kek_object->handle, copy.get(), out.data(), &len),
                 "C_WrapKey", ctx);
        out.resize(len);
        return out;
    });
}

core::GeneratedKey Pkcs11Hsm::unwrap_key(const core::KeySpec& spec, const KeyRef& kek,
                                         WrapFormat format, ByteView wrapped) {
    validate_import_spec(spec);
    require_family(kek, KeyFamily::Aes, format == WrapFormat::AesKw ? "AES-KW" : "AES-KWP");
    const CK_MECHANISM_TYPE mech_type = wrap_mechanism(format);
    if (!m_impl->mechanisms.has(mech_type, CKF_UNWRAP))
        throw Error(ErrorCode::Unsupported, "the token lacks " + ckm_name(mech_type));
    // RFC 3394 §2.2.1: n >= 2 64-bit blocks, output (n+1)*8; RFC 5649: at least 16 bytes.
    if (wrapped.size() < 16 || wrapped.size() % 8 != 0 || wrapped.size() > 8 + 64)
        throw Error(ErrorCode::VerificationFailed, "wrapped key has an invalid length");
    const std::size_t expected = core::secret_length(spec.algorithm);
    if (format == WrapFormat::AesKw && wrapped.size() != expected + 8)
        throw Error(ErrorCode::VerificationFailed,
                    "AES-KW output of " + std::to_string(wrapped.size()) + " bytes cannot hold a " +
                        std::string(core::info(spec.algorithm).name) + " key");
    if (format == WrapFormat::AesKwp && wrapped.size() != (expected + 7) / 8 * 8 + 8)
        throw Error(ErrorCode::VerificationFailed,
                    "AES-KWP output of " + std::to_string(wrapped.size()) + " bytes cannot hold a " +
                        std::string(core::info(spec.algorithm).name) + " key");
    return m_impl->run([&](Lease& lease) {
        const auto& f = m_impl->fn();
        const core::KeyBlock kek_block = m_impl->open_block(lease, kek);
        require_unwrap(kek_block);
        const CachedHandle kek_object = m_impl->key_object(lease, kek);
        Template t = temp_unwrap_template(spec.algorithm, m_impl->caps.lmk_trusted);
        CK_MECHANISM m{mech_type, nullptr, 0};
        CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
        const CK_RV rv = f.C_UnwrapKey(lease.handle(), &m, kek_object->handle, in_ptr(wrapped),
                                       wrapped.size(), t.data(), t.size(), &h);
        if (rv != CKR_OK) {
            Error e = ck_error(rv, "C_UnwrapKey", key_context(spec.key_id, spec.version));
            if (means_bad_wrapped(e, m_impl->caps))
                throw Error(ErrorCode::VerificationFailed,
                            "wrapped key does not verify under " + ref_name(kek) + " (" +
                                ckr_name(rv) + ")",
                            NativeKind::CkRv, rv);
            throw e;
        }
        ScopedObject temp(&f, lease.handle(), h);
        // The unwrapped length must be the algorithm's (KWP carries any length). SoftHSM2 2.6
        // leaves CKA_VALUE_LEN at 0 on unwrapped AES / DES keys; then the ciphertext length is
        // what can be checked without reading the value: KW (above) is exact, KWP is exact to
        // the 8-byte block (RFC 5649 §4.1: ceil(len/8)*8 + 8).
        const CK_ULONG value_len = read_ulong(f, lease.handle(), temp.get(), CKA_VALUE_LEN);
        if (value_len != 0) require_value_length(spec, value_len);
        return m_impl->block_from_object(lease, spec, temp.get());
    });
}

// ---- RSA-OAEP-SHA256 ---------------------------------------------------------------------------

Bytes Pkcs11Hsm::wrap_key_rsa_oaep(const KeyRef& key, const KeyRef& recipient) {
    require_secret(key);
    require_family(recipient, KeyFamily::Rsa, "RSA-OAEP-SHA256");
    if (!m_impl->caps.rsa_oaep_sha256_on_host)
        throw Error(ErrorCode::Unsupported, "RSA-OAEP-SHA256 is not available with this HSM profile");
    return m_impl->run([&](Lease& lease) {
        const core::KeyBlock key_block = m_impl->open_block(lease, key);
        require_exportable(key_block);
        ByteView spki = recipient.public_key;
        core::KeyBlock recipient_block;
        if (!recipient.block.empty()) {
            // A key of ours: trust, usage and the public key all from its sealed block.
            recipient_block = m_impl->open_block(lease, recipient);
            require_export_kek(recipient_block);
            spki = recipient_block.public_key;
        } else if (!recipient.usage.has(Usage::Wrap)) {
            // An outside public key (SPKI import): nothing sealed; the caller vouches for it.
            throw Error(ErrorCode::UsageNotPermitted, ref_name(recipient) + " does not allow wrap");
        }
        if (spki.empty())
            throw Error(ErrorCode::InvalidArgument, ref_name(recipient) + " has no public key");
        const SecureBytes value = clear_value(*m_impl, lease, key_block);
        return crypto::rsa_oaep_sha256_encrypt(spki, value.view());
    });
}

core::GeneratedKey Pkcs11Hsm::unwrap_key_rsa_oaep(const core::KeySpec& spec,
                                                  const KeyRef& rsa_key, ByteView wrapped) {
    validate_import_spec(spec);
    require_family(rsa_key, KeyFamily::Rsa, "RSA-OAEP-SHA256");
    if (!m_impl->caps.rsa_oaep_sha256_on_host)
        throw Error(ErrorCode::Unsupported, "RSA-OAEP-SHA256 is not available with this HSM profile");
    const std::size_t k = core::info(rsa_key.algorithm).bits / 8;
    if (wrapped.size() != k)
        throw Error(ErrorCode::VerificationFailed,
                    "RSA-OAEP ciphertext must have " + std::to_string(k) + " bytes");
    return m_impl->run([&](Lease& lease) {
        const auto& f = m_impl->fn();
        const core::KeyBlock rsa_block = m_impl->open_block(lease, rsa_key);
        require_unwrap(rsa_block);
        // RSADP in the HSM with a private key object made for it (DECRYPT only), destroyed after.
        ScopedObject priv(&f, lease.handle(),
                          m_impl->unwrap(lease, rsa_block, UnwrapPurpose::RsaRawDecrypt));
        CK_MECHANISM m{CKM_RSA_X_509, nullptr, 0};
        const auto ctx = ref_name(rsa_key);
        check_rv(f.C_DecryptInit(lease.handle(), &m, priv.get()), "C_DecryptInit", ctx);
        SecureBytes em(k);
        CK_ULONG len = static_cast<CK_ULONG>(k);
        const CK_RV rv = f.C_Decrypt(lease.handle(), in_ptr(wrapped), wrapped.size(), em.data(), &len);
        if (rv != CKR_OK) {
            terminate_operation(f, lease.handle(), OperationKind::Decrypt);
            if (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE)
                throw Error(ErrorCode::VerificationFailed, "RSA-OAEP decryption failed",
                            NativeKind::CkRv, rv);
            throw ck_error(rv, "C_Decrypt", ctx);
        }
        priv.reset();
        SecureBytes full(k);  // RSADP output, left-padded to k bytes
        std::copy(em.data(), em.data() + len, full.data() + (k - len));
        const SecureBytes value = crypto::oaep_sha256_decode(full.view());
        require_value_length(spec, value.size());
        return m_impl->make_block(lease, spec, &value);
    });
}

// ---- TR-31 (host fallback) ---------------------------------------------------------------------

std::string Pkcs11Hsm::export_tr31(const KeyRef& key, const KeyRef& kbpk,
                                   const core::Tr31Header& header) {
    require_secret(key);
    if (!m_impl->caps.tr31_on_host)
        throw Error(ErrorCode::Unsupported, "TR-31 is not available with this HSM profile");
    require_family(kbpk, header.version == 'B' ? KeyFamily::Des3 : KeyFamily::Aes,
                   std::string("a TR-31 version ") + header.version + " block");
    return m_impl->run([&](Lease& lease) {
        const core::KeyBlock key_block = m_impl->open_block(lease, key);
        require_exportable(key_block);
        const core::KeyBlock kbpk_block = m_impl->open_block(lease, kbpk);
        require_export_kek(kbpk_block);
        // The header may not claim more than the sealed key allows.
        const core::Tr31Header want =
            core::tr31_header_for(header.version, key_block.header.algorithm,
                                  key_block.header.usage, true);
        if (header.usage != want.usage || header.algorithm != want.algorithm ||
            header.mode_of_use != want.mode_of_use)
            throw Error(ErrorCode::InvalidArgument,
                        "TR-31 header " + header.usage + header.algorithm + header.mode_of_use +
                            " does not match " + ref_name(key) + " (" + want.usage +
                            want.algorithm + want.mode_of_use + ")");
        const SecureBytes kbpk_value = clear_value(*m_impl, lease, kbpk_block);
        const SecureBytes value = clear_value(*m_impl, lease, key_block);
        return crypto::tr31_wrap(kbpk_value.view(), header, value.view());
    });
}

core::ImportedTr31 Pkcs11Hsm::import_tr31(const core::KeySpec& spec, const KeyRef& kbpk,
                                          std::string_view block) {
    validate_import_spec(spec);
    if (!m_impl->caps.tr31_on_host)
        throw Error(ErrorCode::Unsupported, "TR-31 is not available with this HSM profile");
    const auto parsed = core::parse_tr31_header(block).first;  // InvalidArgument when malformed
    require_family(kbpk, parsed.version == 'B' ? KeyFamily::Des3 : KeyFamily::Aes,
                   std::string("a TR-31 version ") + parsed.version + " block");
    core::check_tr31_import(parsed, spec.algorithm, spec.usage);
    if (parsed.exportability == 'N' && spec.exportable)
        throw Error(ErrorCode::InvalidArgument,
                    "TR-31 header exportability 'N' contradicts exportable");
    return m_impl->run([&](Lease& lease) {
        const core::KeyBlock kbpk_block = m_impl->open_block(lease, kbpk);
        require_unwrap(kbpk_block);
        const SecureBytes kbpk_value = clear_value(*m_impl, lease, kbpk_block);
        crypto::Tr31Opened opened = crypto::tr31_unwrap(kbpk_value.view(), block);
        require_value_length(spec, opened.key.size());
        core::ImportedTr31 out;
        out.key = m_impl->make_block(lease, spec, &opened.key);
        out.header = std::move(opened.header);
        return out;
    });
}

}  // namespace kms::hsm
