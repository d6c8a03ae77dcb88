// The card side of GlobalPlatform SCP03 in S8 mode (Card Spec v2.2 Amendment D): INITIALIZE
// UPDATE response, EXTERNAL AUTHENTICATE check, C-MAC / C-DECRYPTION removal and R-MAC /
// R-ENCRYPTION of responses. Built on kms-core/crypto's KDF, CMAC and AES primitives; the host
// Wrapper is the peer it is tested against, never used here.
#pragma once

#include <cstdint>
#include <optional>

#include "crypto/gp_scp03.hpp"
#include "secure_channel.hpp"

namespace kms::tsm::vse {

/// What INITIALIZE UPDATE gives the session. Views must stay valid for the constructor only.
struct Scp03CardParams {
    ByteView enc, mac, dek;        ///< static keys of the key set, AES, all of one length
    std::uint8_t key_version = 0;  ///< of that key set
    std::uint8_t i = 0x70;         ///< Amd D §5.1; 00, 10, 20, 30, 60 or 70
    ByteView kdd;                  ///< key diversification data, 10 bytes
    ByteView sequence_counter;     ///< 3 bytes; sent back when i has bit 10
    ByteView aid;                  ///< the ISD's AID (pseudo-random card challenge)
    ByteView host_challenge;       ///< 8 bytes, from the command
    /// A card challenge to use instead of a computed one (tests). Otherwise the pseudo-random
    /// challenge of Amd D §6.2.2.3 when i has bit 10, else 8 random bytes.
    std::optional<Bytes> fixed_card_challenge;
};

class Scp03CardChannel final : public CardSecureChannel {
  public:
    /// Derives the session keys and the card cryptogram (Amd D §6.2.1, §6.2.2.2). Throws
    /// kms::Error(InvalidArgument) when a key, the KDD, the counter or a challenge has the wrong
    /// length (the card's configuration is checked before, so this is a bug).
    explicit Scp03CardChannel(const Scp03CardParams& params);

    Bytes initialize_update_response() const override { return m_iu_response; }
    std::uint16_t external_authenticate(const core::CommandApdu& command) override;
    bool authenticated() const noexcept override { return m_authenticated; }
    std::uint8_t security_level() const noexcept override { return m_level; }
    std::optional<core::CommandApdu> unwrap(const core::CommandApdu& command) override;
    core::ResponseApdu wrap(const core::ResponseApdu& response) override;
    std::optional<SecureBytes> decrypt_with_dek(ByteView data) const override;
    std::size_t dek_block_size() const noexcept override { return 16; }

  private:
    crypto::scp03::SessionKeys m_keys;
    SecureBytes m_dek;  ///< static DEK (Amd D §7.2: key values are encrypted under it)
    std::uint8_t m_i;
    Bytes m_host_challenge, m_card_challenge;
    Bytes m_iu_response;
    bool m_authenticated = false;
    std::uint8_t m_level = 0;
    Bytes m_mac_chaining;         ///< full 16-byte CMAC of the last command
    std::uint32_t m_counter = 0;  ///< encryption counter of the last command
};

}  // namespace kms::tsm::vse
