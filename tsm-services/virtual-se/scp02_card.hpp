// The card side of GlobalPlatform SCP02 (Card Specification 2.2.1 Appendix E) with three secure
// channel keys, explicit initiation (i = 15, 35, 55, 75): INITIALIZE UPDATE response, EXTERNAL
// AUTHENTICATE check, C-MAC (with ICV encryption) and C-DECRYPTION removal, R-MAC of responses.
// Built on kms-core/crypto's SCP02 session keys, cryptograms and retail MAC; the host
// Scp02Wrapper is the peer it is tested against, never used here.
#pragma once

#include <cstdint>
#include <optional>

#include "crypto/gp_scp02.hpp"
#include "secure_channel.hpp"

namespace kms::tsm::vse {

/// i bits of GP 2.2.1 Table E-1 the card honours.
inline constexpr std::uint8_t kScp02IThreeKeys = 0x01;
inline constexpr std::uint8_t kScp02IUnmodifiedApdu = 0x02;  ///< clear: C-MAC on the modified APDU
inline constexpr std::uint8_t kScp02IExplicit = 0x04;
inline constexpr std::uint8_t kScp02IIcvEncryption = 0x10;
inline constexpr std::uint8_t kScp02IRMacSupport = 0x20;
inline constexpr std::uint8_t kScp02IPseudoRandomChallenge = 0x40;

/// What INITIALIZE UPDATE gives the session. Views must stay valid for the constructor only.
struct Scp02CardParams {
    ByteView enc, mac, dek;        ///< static keys of the key set, two-key TDEA (16 bytes)
    std::uint8_t key_version = 0;  ///< of that key set
    std::uint8_t i = 0x55;
    ByteView kdd;               ///< key diversification data, 10 bytes
    ByteView sequence_counter;  ///< 2 bytes
    ByteView aid;               ///< the ISD's AID (pseudo-random card challenge)
    ByteView host_challenge;    ///< 8 bytes, from the command
    /// A card challenge to use instead of a computed one (tests). Otherwise the pseudo-random
    /// challenge of E.4.2.3 when i has bit 40, else 6 random bytes.
    std::optional<Bytes> fixed_card_challenge;
};

class Scp02CardChannel final : public CardSecureChannel {
  public:
    /// Derives the session keys (E.4.1) and the card cryptogram (E.4.2.1). Throws
    /// kms::Error(InvalidArgument) on a wrong key, KDD, counter or challenge length.
    explicit Scp02CardChannel(const Scp02CardParams& params);

    Bytes initialize_update_response() const override { return m_iu_response; }
    std::uint16_t external_authenticate(const core::CommandApdu& command) override;
    bool authenticated() const noexcept override { return m_authenticated; }
    std::uint8_t security_level() const noexcept override { return m_level; }
    std::optional<core::CommandApdu> unwrap(const core::CommandApdu& command) override;
    core::ResponseApdu wrap(const core::ResponseApdu& response) override;
    std::optional<SecureBytes> decrypt_with_dek(ByteView data) const override;
    std::size_t dek_block_size() const noexcept override { return 8; }

  private:
    crypto::Scp02SessionKeys m_keys;
    std::uint8_t m_i;
    Bytes m_seq, m_host_challenge, m_card_challenge;
    Bytes m_iu_response;
    bool m_authenticated = false;
    std::uint8_t m_level = 0;
    Bytes m_cmac;         ///< last C-MAC: the next ICV derives from it
    Bytes m_rmac_icv;     ///< last R-MAC (zero after EXTERNAL AUTHENTICATE)
    Bytes m_rmac_prefix;  ///< the last command as the R-MAC covers it (E.4.5)
};

}  // namespace kms::tsm::vse
