// A decorator of the Hsm port that times every operation and counts failures in kmsd's metrics
// (api/metrics.hpp), so that neither the domain nor the PKCS#11 adapter knows about Prometheus.
// kmsd hands it to the services in place of the adapter; the health probe and the audit
// sealer of the store keep the adapter itself (a probe every 250 ms would drown the series).
//
// A failure is labelled with the PKCS#11 function and CKR name when the adapter's kms::Error
// carries a CK_RV (NativeKind::CkRv): the function is the first word of the message, which
// hsm-adapters/pkcs11/errors.hpp fixes as "<C_Function>: <CKR> (0x..)" or
// "<C_Function> (<context>): ...". Failures without a CK_RV (no free session, a check in the
// adapter) get empty labels; caller errors that are no HSM failure (InvalidArgument,
// VerificationFailed, UsageNotPermitted, WrongState, NotFound, Unsupported) count as calls but
// not as errors.
//
// Thread safety: as the wrapped Hsm (every method from any thread); Metrics is thread-safe.
#pragma once

#include "api/metrics.hpp"
#include "ports/hsm.hpp"

namespace kms::daemon {

class ObservedHsm final : public core::Hsm {
  public:
    /// @p inner and @p metrics must outlive this object.
    ObservedHsm(core::Hsm& inner, api::Metrics& metrics) : m_inner(inner), m_metrics(metrics) {}

    core::GeneratedKey generate(const core::KeySpec& spec) override;
    core::GeneratedKey import_secret(const core::KeySpec& spec, const SecureBytes& value) override;
    Bytes wrap_key(const core::KeyRef& key, const core::KeyRef& kek,
                   core::WrapFormat format) override;
    core::GeneratedKey unwrap_key(const core::KeySpec& spec, const core::KeyRef& kek,
                                  core::WrapFormat format, ByteView wrapped) override;
    Bytes wrap_key_rsa_oaep(const core::KeyRef& key, const core::KeyRef& recipient) override;
    core::GeneratedKey unwrap_key_rsa_oaep(const core::KeySpec& spec, const core::KeyRef& rsa_key,
                                           ByteView wrapped) override;
    SecureBytes reveal_secret(const core::KeyRef& key) override;
    std::string export_tr31(const core::KeyRef& key, const core::KeyRef& kbpk,
                            const core::Tr31Header& header) override;
    core::ImportedTr31 import_tr31(const core::KeySpec& spec, const core::KeyRef& kbpk,
                                   std::string_view block) override;
    core::GpSessionKeys derive_gp_session_keys(core::GpProtocol protocol,
                                               const core::GpCardKeys& card,
                                               ByteView context) override;
    Bytes gp_scp03_card_challenge(const core::KeyRef& static_enc, ByteView sequence_counter,
                                  ByteView aid) override;
    core::GpEncryptedKey gp_encrypt_key(const core::GpDek& dek, const core::KeyRef& key) override;
    Bytes gp_encrypt_data(const core::GpDek& dek, ByteView data) override;
    core::GeneratedKey gp_diversify_key(const core::KeySpec& spec, const core::KeyRef& kmc,
                                        core::GpDiversification method, ByteView kdd,
                                        core::GpKeyRole role) override;
    Bytes mac(const core::KeyRef& key, core::MacAlgorithm alg, ByteView data) override;
    Bytes encrypt(const core::KeyRef& key, const core::CipherParams& params,
                  ByteView plaintext) override;
    Bytes decrypt(const core::KeyRef& key, const core::CipherParams& params,
                  ByteView ciphertext) override;
    Bytes sign(const core::KeyRef& key, core::SignAlgorithm alg, ByteView message) override;
    bool verify(const core::KeyRef& key, core::SignAlgorithm alg, ByteView message,
                ByteView signature) override;
    Bytes random(std::size_t length) override;
    Bytes audit_seal(ByteView data) override;
    void forget(std::string_view key_id) override { m_inner.forget(key_id); }
    bool probe() noexcept override { return m_inner.probe(); }
    core::HsmInfo info() override;

  private:
    /// Runs @p call, records its latency under @p op and, when it throws an HSM failure, the
    /// error series; rethrows.
    template <typename Call>
    auto timed(api::HsmOp op, Call&& call) -> decltype(call());

    core::Hsm& m_inner;
    api::Metrics& m_metrics;
};

/// The PKCS#11 function named at the start of an adapter error message ("C_Sign: ..." ->
/// "C_Sign"), or "" when the message does not start with one. Public for tests.
std::string pkcs11_function_of(std::string_view message);

}  // namespace kms::daemon
