// GlobalPlatform key delivery (issue 4): PUT KEY cryptograms and KCVs, and sensitive data
// encryption for STORE DATA, under a card's DEK (see pkcs11_hsm.hpp for the paths).
//
// Rules are checked against the SEALED blocks: the key sent to a card must be sealed
// exportable, and the DEK it is encrypted under (SCP03: the static DEK; SCP02: the static DEK
// or the KMC the session DEK comes from) sealed trusted with usage wrap, as for any export.
// SoftHSM2 2.6.1 C_WrapKey takes CKM_AES_CBC and CKM_AES_CBC_PAD but refuses CKM_DES3_ECB and
// CKM_DES3_CBC (CKR_MECHANISM_INVALID, although C_GetMechanismInfo lists CKF_WRAP); the SCP02
// session DEK lives in kmsd's locked memory anyway, so SCP02 PUT KEY runs on the host.
#include "crypto/host_crypto.hpp"
#include "pkcs11/hsm_impl.hpp"
#include "pkcs11/session.hpp"

namespace kms::hsm {

using core::Algorithm;
using core::GpDek;
using core::GpProtocol;
using core::KeyFamily;
using core::KeyRef;
using core::Usage;

namespace {

constexpr std::size_t kMaxGpData = 4096;

std::string ref_name(const KeyRef& k) {
    return key_context(k.key_id, k.version);
}

/// The protocol's key family for the card's DEK: SCP02 DES3-2K, SCP03 AES.
void require_dek_family(const GpDek& dek) {
    const bool scp02 = dek.protocol == GpProtocol::Scp02;
    const bool ok = scp02 ? dek.key.algorithm == Algorithm::Des3_2k
                          : core::info(dek.key.algorithm).family == KeyFamily::Aes;
    if (!ok)
        throw Error(ErrorCode::InvalidArgument,
                    std::string("the card's DEK: ") +
                        (scp02 ? "SCP02 takes a DES3-2K key; " : "SCP03 takes an AES key; ") +
                        ref_name(dek.key) + " is " +
                        std::string(core::info(dek.key.algorithm).name));
}

/// Keys PUT KEY delivers: SCP02 DES3-2K, AES-128 and AES-256 (a card moving to SCP03 keys; the
/// TDEA-ECB cryptogram needs whole 16-byte AES blocks); SCP03 AES.
void require_deliverable(const GpDek& dek, const KeyRef& key) {
    const bool aes = core::info(key.algorithm).family == KeyFamily::Aes;
    const bool ok = dek.protocol == GpProtocol::Scp02
                        ? key.algorithm == Algorithm::Des3_2k ||
                              (aes && core::secret_length(key.algorithm) % 16 == 0)
                        : aes;
    if (!ok)
        throw Error(ErrorCode::InvalidArgument,
                    std::string("PUT KEY: ") +
                        (dek.protocol == GpProtocol::Scp02
                             ? "SCP02 delivers DES3-2K, AES-128 and AES-256 keys; "
                             : "SCP03 delivers AES keys; ") +
                        ref_name(key) + " is " + std::string(core::info(key.algorithm).name));
}

const SecureBytes& session_dek(const GpDek& dek) {
    if (!dek.session_dek || dek.session_dek->size() != 16)
        throw Error(ErrorCode::InvalidArgument, "SCP02 needs the 16-byte session DEK");
    return *dek.session_dek;
}

}  // namespace

core::GpEncryptedKey Pkcs11Hsm::gp_encrypt_key(const GpDek& dek, const KeyRef& key) {
    const bool scp02 = dek.protocol == GpProtocol::Scp02;
    require_deliverable(dek, key);
    require_dek_family(dek);
    if (scp02) (void)session_dek(dek);
    const std::size_t length = core::secret_length(key.algorithm);
    const bool pad = length % 16 != 0;  // AES-192
    // SoftHSM2 2.6.1 lists CKF_WRAP for CKM_AES_CBC but not for CKM_AES_CBC_PAD: there an
    // AES-192 key (not a whole number of blocks) cannot be delivered under SCP03.
    if (!scp02 && !m_impl->mechanisms.has(pad ? CKM_AES_CBC_PAD : CKM_AES_CBC, CKF_WRAP))
        throw Error(ErrorCode::Unsupported,
                    "SCP03 PUT KEY of " + std::string(core::info(key.algorithm).name) +
                        " needs " + ckm_name(pad ? CKM_AES_CBC_PAD : CKM_AES_CBC) +
                        " wrapping, which the token lacks");
    return m_impl->run([&](Lease& lease) {
        const auto& f = m_impl->fn();
        const core::KeyBlock key_block = m_impl->open_block(lease, key);
        require_exportable(key_block);
        const core::KeyBlock dek_block = m_impl->open_block(lease, dek.key);
        require_export_kek(dek_block);
        core::GpEncryptedKey out;
        out.key_length = length;
        if (scp02) {
            const SecureBytes value = clear_value(*m_impl, lease, key_block);
            out.encrypted = crypto::des3_ecb_encrypt(session_dek(dek).view(), value.view());
            out.kcv = key.algorithm == Algorithm::Des3_2k ? crypto::kcv_des3(value.view())
                                                          : crypto::kcv_aes_gp(value.view());
            return out;
        }
        const CachedHandle dek_object =
            gp_object(*m_impl, lease, dek.key, ObjectRole::GpDek, UnwrapPurpose::GpDek);
        ScopedObject target(&f, lease.handle(),
                            m_impl->unwrap(lease, key_block, UnwrapPurpose::GpPutKey));
        std::uint8_t icv[16] = {};
        CK_MECHANISM m{pad ? CKM_AES_CBC_PAD : CKM_AES_CBC, icv, sizeof icv};
        const std::size_t expected = (length + 15) / 16 * 16;
        out.encrypted.resize(expected + 16);
        CK_ULONG len = static_cast<CK_ULONG>(out.encrypted.size());
        check_rv(f.C_WrapKey(lease.handle(), &m, dek_object->handle, target.get(),
                             out.encrypted.data(), &len),
                 "C_WrapKey", ref_name(key));
        if (len != expected)
            throw Error(ErrorCode::HsmError, "C_WrapKey: " + ckm_name(m.mechanism) + " gave " +
                                                 std::to_string(len) + " bytes for a " +
                                                 std::to_string(length) + "-byte key");
        out.encrypted.resize(len);
        // GlobalPlatform AES KCV (Amd D §7.2; GPPro GPCrypto.kcv_aes): AES(K, 01^16)[0..3].
        CK_MECHANISM ecb{CKM_AES_ECB, nullptr, 0};
        const Bytes ones(16, 0x01);
        const Bytes c = encrypt_once(f, lease.handle(), ecb, target.get(), ones, 16, ref_name(key));
        out.kcv.assign(c.begin(), c.begin() + 3);
        return out;
    });
}

Bytes Pkcs11Hsm::gp_encrypt_data(const GpDek& dek, ByteView data) {
    const bool scp02 = dek.protocol == GpProtocol::Scp02;
    const std::size_t block = scp02 ? 8 : 16;
    if (data.empty() || data.size() % block != 0 || data.size() > kMaxGpData)
        throw Error(ErrorCode::InvalidArgument,
                    "sensitive data must be 1 to " + std::to_string(kMaxGpData / block) +
                        " whole blocks of " + std::to_string(block) + " bytes, got " +
                        std::to_string(data.size()) + " bytes");
    require_dek_family(dek);
    if (!dek.key.usage.has(Usage::Wrap))
        throw Error(ErrorCode::UsageNotPermitted, ref_name(dek.key) + " does not allow wrap");
    if (scp02) return crypto::des3_ecb_encrypt(session_dek(dek).view(), data);
    if (!m_impl->mechanisms.has(CKM_AES_CBC, CKF_ENCRYPT))
        throw Error(ErrorCode::Unsupported, "the token lacks CKM_AES_CBC");
    return m_impl->run([&](Lease& lease) {
        // gp_object checks that the KeyRef's usage is the sealed one (cache or open_block).
        const CachedHandle o =
            gp_object(*m_impl, lease, dek.key, ObjectRole::GpDek, UnwrapPurpose::GpDek);
        std::uint8_t icv[16] = {};
        CK_MECHANISM m{CKM_AES_CBC, icv, sizeof icv};
        return encrypt_once(m_impl->fn(), lease.handle(), m, o->handle, data, data.size(),
                            ref_name(dek.key));
    });
}

}  // namespace kms::hsm
