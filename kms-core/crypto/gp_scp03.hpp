// GlobalPlatform SCP03 (Card Spec v2.2 Amendment D, S8 mode) on the host: the NIST SP 800-108
// KDF as Amd D §6.2.2 uses it, session keys, cryptograms, the pseudo-random card challenge, the
// INITIALIZE UPDATE response, and a wrapper that applies C-MAC / C-DECRYPTION to commands and
// checks R-MAC / removes R-ENCRYPTION from responses. Pure computation on clear keys held in
// SecureBytes; the HSM path computes the same KDF input blocks with CKM_AES_CMAC instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "domain/apdu.hpp"
#include "domain/bytes.hpp"
#include "domain/secure_bytes.hpp"

namespace kms::crypto::scp03 {

using core::CommandApdu;
using core::ResponseApdu;

/// Derivation constants of Amd D §6.2.2 (Table 6-1).
enum class DerivationConstant : std::uint8_t {
    CardCryptogram = 0x00,
    HostCryptogram = 0x01,
    CardChallenge = 0x02,
    SEnc = 0x04,
    SMac = 0x06,
    SRmac = 0x07,
};

/// Security levels of EXTERNAL AUTHENTICATE P1 (Amd D §5.1, §7.1.2): bits that may be combined
/// into 0x00, 0x01, 0x03, 0x11, 0x13 or 0x33.
inline constexpr std::uint8_t kLevelCMac = 0x01;
inline constexpr std::uint8_t kLevelCDecryption = 0x02;
inline constexpr std::uint8_t kLevelRMac = 0x10;
inline constexpr std::uint8_t kLevelREncryption = 0x20;

/// Bits of the "i" implementation parameter this code supports (Amd D §5.1): pseudo-random card
/// challenge, R-MAC support, R-ENCRYPTION support. i = 00, 10, 30 and 70 are the usual values.
inline constexpr std::uint8_t kIPseudoRandomChallenge = 0x10;
inline constexpr std::uint8_t kIRMacSupport = 0x20;
inline constexpr std::uint8_t kIREncSupport = 0x40;

/// NIST SP 800-108 KDF in counter mode with AES-CMAC as PRF and an 8-bit counter placed between
/// @p before and @p after ("middle fixed" in CAVP terms): block i = CMAC(K, before || i || after)
/// for i = 1..n, output the first @p out_bits bits. The fixed input (which may encode L) is the
/// caller's. @p key 16, 24 or 32 bytes; @p out_bits a positive multiple of 8 needing at most 255
/// blocks. InvalidArgument otherwise.
SecureBytes kdf_ctr_cmac(ByteView key, ByteView before, ByteView after, std::size_t out_bits);

/// The PRF inputs of the Amd D §6.2.2 KDF for @p constant, output length @p out_bits (64, 128,
/// 192 or 256) and @p context: for i = 1..ceil(L/128),
///   11 zero bytes || constant || 00 || L (2 bytes, big-endian, bits) || i || context.
/// CMAC of each block under the key, concatenated and cut to L bits, is the output; an HSM
/// computes those CMACs with CKM_AES_CMAC and the key never leaves it.
std::vector<Bytes> kdf_input_blocks(DerivationConstant constant, std::uint16_t out_bits,
                                    ByteView context);

/// The Amd D §6.2.2 KDF computed on the host from a clear @p key (16, 24 or 32 bytes).
SecureBytes kdf(ByteView key, DerivationConstant constant, std::uint16_t out_bits,
                ByteView context);

/// Static card keys (ENC, MAC, DEK), each AES-128/192/256 and all of one length.
struct StaticKeys {
    SecureBytes enc, mac, dek;
};

/// Session keys of Amd D §6.2.1, each as long as the static keys.
struct SessionKeys {
    SecureBytes s_enc, s_mac, s_rmac;
};

/// S-ENC from the static ENC key, S-MAC and S-RMAC from the static MAC key, with context
/// host challenge || card challenge (8 bytes each in S8 mode). InvalidArgument when the keys
/// differ in length or are not AES lengths, or when a challenge is not 8 bytes.
SessionKeys derive_session_keys(ByteView static_enc, ByteView static_mac, ByteView host_challenge,
                                ByteView card_challenge);

/// Card and host authentication cryptograms (Amd D §6.2.2.2, §6.2.2.3): the KDF under S-MAC
/// with constant 00 / 01, L = 64, context host challenge || card challenge. 8 bytes.
Bytes card_cryptogram(ByteView s_mac, ByteView host_challenge, ByteView card_challenge);
Bytes host_cryptogram(ByteView s_mac, ByteView host_challenge, ByteView card_challenge);

/// The pseudo-random card challenge (Amd D §6.2.2.3, i bit 0x10): the KDF under the static ENC
/// key with constant 02, L = 64, context sequence counter (3 bytes) || security domain AID.
Bytes pseudo_random_card_challenge(ByteView static_enc, ByteView sequence_counter, ByteView aid);

/// The data field of the INITIALIZE UPDATE response in S8 mode (Amd D §7.1.1.6, Table 7-3).
struct InitializeUpdateResponse {
    Bytes key_diversification_data;  ///< 10 bytes
    std::uint8_t key_version = 0;
    std::uint8_t scp_id = 0;  ///< always 03 here
    std::uint8_t i = 0;
    Bytes card_challenge;                   ///< 8 bytes
    Bytes card_cryptogram;                  ///< 8 bytes
    std::optional<Bytes> sequence_counter;  ///< 3 bytes, present when i has bit 0x10
};

/// Parses the response data (without SW1 SW2): 29 or 32 bytes. InvalidArgument when the length
/// is wrong or the SCP identifier is not 03; Unsupported when i has bits other than 0x10, 0x20 and
/// 0x40 set (S16 mode among them).
InitializeUpdateResponse parse_initialize_update_response(ByteView data);

/// INITIALIZE UPDATE (GPCS 11.6 / Amd D §7.1.1): 80 50 @p key_version 00 08 host challenge 00.
CommandApdu initialize_update_command(std::uint8_t key_version, ByteView host_challenge);

/// Checks that @p level is one of 0x00, 0x01, 0x03, 0x11, 0x13, 0x33 and that @p i allows it
/// (R-MAC needs i bit 0x20, R-ENCRYPTION needs i bit 0x40). InvalidArgument otherwise.
void check_security_level(std::uint8_t level, std::uint8_t i);

/// One secure channel session after the card cryptogram has been checked. Holds the session keys
/// (wiped on destruction), the MAC chaining value, the encryption counter and, for each command
/// wrapped and not yet unwrapped, the MAC chaining value and counter its response needs.
/// Not thread-safe: one caller at a time, commands and responses in order.
class Wrapper {
  public:
    /// @p i from the INITIALIZE UPDATE response. The security level is set by
    /// external_authenticate(); until then wrap() and unwrap() throw WrongState.
    Wrapper(SessionKeys keys, std::uint8_t i);

    /// EXTERNAL AUTHENTICATE (Amd D §7.1.2): 84 82 @p level 00 10 host cryptogram C-MAC, MACed with
    /// a zero MAC chaining value and never encrypted. Starts the session at @p level (checked
    /// with check_security_level) with the encryption counter at 0, so the first command uses 1.
    CommandApdu external_authenticate(ByteView host_cryptogram, std::uint8_t level);

    /// Applies the session's protection to @p command (Amd D §6.2.4, §6.2.6): with C-DECRYPTION
    /// the data is padded 80 00.. to 16 bytes and AES-CBC encrypted under S-ENC with ICV =
    /// AES(S-ENC, counter as 16-byte big-endian); the counter is incremented for every command,
    /// with or without data. With C-MAC, CLA gets bit 0x04 (logical channel bits kept), Lc grows by
    /// 8 and the 8-byte truncated CMAC over MAC chaining value || CLA INS P1 P2 || Lc' || data is
    /// appended; the full CMAC becomes the next chaining value. Le is kept. At level 0x00 the
    /// command is returned unchanged. InvalidArgument when the wrapped data would exceed 65535.
    CommandApdu wrap(const CommandApdu& command);

    /// Checks and strips the protection of the response to the oldest wrapped command not yet
    /// unwrapped (Amd D §6.2.5, §6.2.7). Error status words (all but 9000, 62xx, 63xx) carry no
    /// R-MAC and are returned as they are. With R-MAC the last 8 data bytes must equal the CMAC
    /// under S-RMAC over that command's MAC chaining value || data || SW1 SW2
    /// (VerificationFailed otherwise); with R-ENCRYPTION non-empty data is AES-CBC decrypted with
    /// ICV = AES(S-ENC, 80 || counter in the 15 low bytes) and unpadded (VerificationFailed on bad
    /// padding); empty data stays empty. WrongState when no wrapped command is pending.
    /// Without R-MAC in the level the response is returned as it is and nothing is pending.
    ResponseApdu unwrap(const ResponseApdu& response);

    std::uint8_t security_level() const noexcept { return m_level; }
    /// The encryption counter of the last wrapped command (0 before the first).
    std::uint32_t encryption_counter() const noexcept { return m_counter; }
    /// Number of wrapped commands whose responses have not been unwrapped (always 0 without
    /// R-MAC in the level: nothing is kept for them).
    std::size_t pending_responses() const noexcept { return m_pending.size(); }

  private:
    struct Pending {
        Bytes mac_chaining;  // the command's full C-MAC: the R-MAC chaining input
        std::uint32_t counter = 0;
    };
    Bytes c_mac(ByteView mac_input);
    SessionKeys m_keys;
    std::uint8_t m_i = 0;
    std::uint8_t m_level = 0;
    bool m_authenticated = false;
    Bytes m_mac_chaining;
    std::uint32_t m_counter = 0;
    std::deque<Pending> m_pending;
};

}  // namespace kms::crypto::scp03
