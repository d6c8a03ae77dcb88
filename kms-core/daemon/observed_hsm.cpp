// The timing decorator of the Hsm port (see observed_hsm.hpp).
#include "daemon/observed_hsm.hpp"

#include <chrono>

#include "domain/error.hpp"
#include "pkcs11/errors.hpp"

namespace kms::daemon {

namespace {

/// Errors that are the HSM's (or the way to it): counted in kms_hsm_errors_total. The others
/// are the caller's (a wrong MAC, a bad length, a usage the key does not have).
bool is_hsm_failure(const Error& e) {
    switch (e.code()) {
        case ErrorCode::HsmUnavailable:
        case ErrorCode::HsmError:
        case ErrorCode::Integrity:
        case ErrorCode::Internal:
            return true;
        default:
            return e.native_kind() == NativeKind::CkRv &&
                   e.code() != ErrorCode::VerificationFailed &&
                   e.code() != ErrorCode::InvalidArgument &&
                   e.code() != ErrorCode::UsageNotPermitted && e.code() != ErrorCode::Unsupported;
    }
}

}  // namespace

std::string pkcs11_function_of(std::string_view message) {
    if (message.substr(0, 2) != "C_") return {};
    std::size_t n = 2;
    while (n < message.size() &&
           ((message[n] >= 'A' && message[n] <= 'Z') || (message[n] >= 'a' && message[n] <= 'z')))
        ++n;
    return std::string(message.substr(0, n));
}

template <typename Call>
auto ObservedHsm::timed(api::HsmOp op, Call&& call) -> decltype(call()) {
    const auto start = std::chrono::steady_clock::now();
    try {
        if constexpr (std::is_void_v<decltype(call())>) {
            call();
            m_metrics.record_hsm_call(op, std::chrono::steady_clock::now() - start, true);
        } else {
            auto result = call();
            m_metrics.record_hsm_call(op, std::chrono::steady_clock::now() - start, true);
            return result;
        }
    } catch (const Error& e) {
        const auto elapsed = std::chrono::steady_clock::now() - start;
        if (!is_hsm_failure(e)) {
            m_metrics.record_hsm_call(op, elapsed, true);
            throw;
        }
        if (e.native_kind() == NativeKind::CkRv)
            m_metrics.record_hsm_call(op, elapsed, false, pkcs11_function_of(e.what()),
                                      hsm::ckr_name(static_cast<CK_RV>(e.native_code())));
        else
            m_metrics.record_hsm_call(op, elapsed, false);
        throw;
    } catch (...) {
        m_metrics.record_hsm_call(op, std::chrono::steady_clock::now() - start, false);
        throw;
    }
}

using api::HsmOp;

core::GeneratedKey ObservedHsm::generate(const core::KeySpec& spec) {
    return timed(HsmOp::Generate, [&] { return m_inner.generate(spec); });
}
core::GeneratedKey ObservedHsm::import_secret(const core::KeySpec& spec, const SecureBytes& value) {
    return timed(HsmOp::ImportSecret, [&] { return m_inner.import_secret(spec, value); });
}
Bytes ObservedHsm::wrap_key(const core::KeyRef& key, const core::KeyRef& kek,
                            core::WrapFormat format) {
    return timed(HsmOp::WrapKey, [&] { return m_inner.wrap_key(key, kek, format); });
}
core::GeneratedKey ObservedHsm::unwrap_key(const core::KeySpec& spec, const core::KeyRef& kek,
                                           core::WrapFormat format, ByteView wrapped) {
    return timed(HsmOp::UnwrapKey, [&] { return m_inner.unwrap_key(spec, kek, format, wrapped); });
}
Bytes ObservedHsm::wrap_key_rsa_oaep(const core::KeyRef& key, const core::KeyRef& recipient) {
    return timed(HsmOp::WrapKeyRsaOaep, [&] { return m_inner.wrap_key_rsa_oaep(key, recipient); });
}
core::GeneratedKey ObservedHsm::unwrap_key_rsa_oaep(const core::KeySpec& spec,
                                                    const core::KeyRef& rsa_key, ByteView wrapped) {
    return timed(HsmOp::UnwrapKeyRsaOaep,
                 [&] { return m_inner.unwrap_key_rsa_oaep(spec, rsa_key, wrapped); });
}
SecureBytes ObservedHsm::reveal_secret(const core::KeyRef& key) {
    return timed(HsmOp::RevealSecret, [&] { return m_inner.reveal_secret(key); });
}
std::string ObservedHsm::export_tr31(const core::KeyRef& key, const core::KeyRef& kbpk,
                                     const core::Tr31Header& header) {
    return timed(HsmOp::ExportTr31, [&] { return m_inner.export_tr31(key, kbpk, header); });
}
core::ImportedTr31 ObservedHsm::import_tr31(const core::KeySpec& spec, const core::KeyRef& kbpk,
                                            std::string_view block) {
    return timed(HsmOp::ImportTr31, [&] { return m_inner.import_tr31(spec, kbpk, block); });
}
core::GpSessionKeys ObservedHsm::derive_gp_session_keys(core::GpProtocol protocol,
                                                        const core::GpCardKeys& card,
                                                        ByteView context) {
    return timed(HsmOp::DeriveGpSessionKeys,
                 [&] { return m_inner.derive_gp_session_keys(protocol, card, context); });
}
Bytes ObservedHsm::gp_scp03_card_challenge(const core::KeyRef& static_enc,
                                           ByteView sequence_counter, ByteView aid) {
    return timed(HsmOp::GpScp03CardChallenge, [&] {
        return m_inner.gp_scp03_card_challenge(static_enc, sequence_counter, aid);
    });
}
core::GpEncryptedKey ObservedHsm::gp_encrypt_key(const core::GpDek& dek, const core::KeyRef& key) {
    return timed(HsmOp::GpEncryptKey, [&] { return m_inner.gp_encrypt_key(dek, key); });
}
Bytes ObservedHsm::gp_encrypt_data(const core::GpDek& dek, ByteView data) {
    return timed(HsmOp::GpEncryptData, [&] { return m_inner.gp_encrypt_data(dek, data); });
}
core::GeneratedKey ObservedHsm::gp_diversify_key(const core::KeySpec& spec, const core::KeyRef& kmc,
                                                 core::GpDiversification method, ByteView kdd,
                                                 core::GpKeyRole role) {
    return timed(HsmOp::GpDiversifyKey,
                 [&] { return m_inner.gp_diversify_key(spec, kmc, method, kdd, role); });
}
Bytes ObservedHsm::mac(const core::KeyRef& key, core::MacAlgorithm alg, ByteView data) {
    return timed(HsmOp::Mac, [&] { return m_inner.mac(key, alg, data); });
}
Bytes ObservedHsm::encrypt(const core::KeyRef& key, const core::CipherParams& params,
                           ByteView plaintext) {
    return timed(HsmOp::Encrypt, [&] { return m_inner.encrypt(key, params, plaintext); });
}
Bytes ObservedHsm::decrypt(const core::KeyRef& key, const core::CipherParams& params,
                           ByteView ciphertext) {
    return timed(HsmOp::Decrypt, [&] { return m_inner.decrypt(key, params, ciphertext); });
}
Bytes ObservedHsm::sign(const core::KeyRef& key, core::SignAlgorithm alg, ByteView message) {
    return timed(HsmOp::Sign, [&] { return m_inner.sign(key, alg, message); });
}
bool ObservedHsm::verify(const core::KeyRef& key, core::SignAlgorithm alg, ByteView message,
                         ByteView signature) {
    return timed(HsmOp::Verify, [&] { return m_inner.verify(key, alg, message, signature); });
}
Bytes ObservedHsm::random(std::size_t length) {
    return timed(HsmOp::Random, [&] { return m_inner.random(length); });
}
Bytes ObservedHsm::audit_seal(ByteView data) {
    return timed(HsmOp::AuditSeal, [&] { return m_inner.audit_seal(data); });
}
core::HsmInfo ObservedHsm::info() {
    return timed(HsmOp::Info, [&] { return m_inner.info(); });
}

}  // namespace kms::daemon
