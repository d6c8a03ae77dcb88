// GlobalPlatform SCP02 host side (GP Card Specification 2.2.1 Appendix E): session keys,
// card and host cryptograms, the pseudo-random card challenge, and a wrapper that applies
// C-MAC / C-DECRYPTION to commands and checks R-MAC on responses with the session's chaining.
// Every key is held in SecureBytes; all keys are two-key TDEA (16 bytes).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

#include "domain/apdu.hpp"
#include "domain/bytes.hpp"
#include "domain/secure_bytes.hpp"

namespace kms::crypto {

/// Derivation constants of GP 2.2.1 E.4.1.
enum class Scp02KeyConstant : std::uint16_t {
    CMac = 0x0101,
    RMac = 0x0102,
    Dek = 0x0181,
    Enc = 0x0182,
};

/// GP 2.2.1 E.4.1: TDEA-CBC, zero ICV, of constant(2) || sequence counter(2) || 00 x 12 under
/// @p static_key. Throws Error(InvalidArgument) unless the key is 16 and the counter 2 bytes.
SecureBytes scp02_session_key(ByteView static_key, Scp02KeyConstant constant, ByteView seq);

struct Scp02SessionKeys {
    SecureBytes enc;   ///< S-ENC (cryptograms, C-DECRYPTION)
    SecureBytes cmac;  ///< C-MAC
    SecureBytes rmac;  ///< R-MAC
    SecureBytes dek;   ///< session DEK (sensitive data, key components)
};

/// The four session keys from the three static keys (3 Secure Channel Keys, i b1 = 1).
Scp02SessionKeys scp02_session_keys(ByteView enc, ByteView mac, ByteView dek, ByteView seq);

/// "Full triple DES MAC" of GP 2.2.1 B.1.2.1: TDEA-CBC over data padded with ISO/IEC 9797-1
/// method 2, zero ICV; the MAC is the last block.
Bytes scp02_full_3des_mac(ByteView key, ByteView data);

/// ISO/IEC 9797-1 MAC algorithm 3 with padding method 2 and an explicit ICV (GP 2.2.1 B.1.2.2,
/// "single DES plus final triple DES"), used for C-MAC and R-MAC.
Bytes scp02_retail_mac(ByteView key, ByteView icv, ByteView data);

/// GP 2.2.1 E.4.2.1: card cryptogram = full 3DES MAC under S-ENC of
/// host challenge(8) || sequence counter(2) || card challenge(6).
Bytes scp02_card_cryptogram(ByteView s_enc, ByteView host_challenge, ByteView seq,
                            ByteView card_challenge);
/// GP 2.2.1 E.4.2.2: host cryptogram = full 3DES MAC under S-ENC of
/// sequence counter(2) || card challenge(6) || host challenge(8).
Bytes scp02_host_cryptogram(ByteView s_enc, ByteView seq, ByteView card_challenge,
                            ByteView host_challenge);

/// GP 2.2.1 E.4.2.3 ("well-known pseudo-random algorithm", i b7 = 1): the card challenge is
/// the first 6 bytes of the C-MAC algorithm (B.1.2.2, zero ICV) over the selected application's
/// @p aid under the C-MAC session key.
Bytes scp02_pseudo_random_card_challenge(ByteView s_cmac, ByteView aid);

/// The fields of the INITIALIZE UPDATE response data (GP 2.2.1 E.5.1.3, Table E-13).
struct Scp02InitializeUpdateResponse {
    Bytes kdd;  ///< key diversification data, 10 bytes
    std::uint8_t key_version = 0;
    std::uint8_t scp = 0;   ///< 02
    Bytes seq;              ///< sequence counter, 2 bytes
    Bytes card_challenge;   ///< 6 bytes
    Bytes card_cryptogram;  ///< 8 bytes
};

/// Parses the 28 data bytes, or 30 bytes ending with SW 9000. Throws Error(InvalidArgument)
/// on another length, another SW or an SCP identifier other than 02.
Scp02InitializeUpdateResponse parse_scp02_initialize_update_response(ByteView response);

/// Security levels of EXTERNAL AUTHENTICATE P1 (GP 2.2.1 E.5.2.2, Table E-15).
namespace scp02_level {
inline constexpr std::uint8_t CMac = 0x01;
inline constexpr std::uint8_t CDec = 0x02;  ///< needs CMac
inline constexpr std::uint8_t RMac = 0x10;
}  // namespace scp02_level

/// An open SCP02 session's command and response protection. Holds the session keys (wiped on
/// destruction) and the C-MAC / R-MAC chaining values. Move-only; not thread-safe: one session
/// is used by one caller at a time, in order.
///
/// Supported "i" options (GP 2.2.1 Table E-1): b1 = 1 (3 keys) only; b2 selects C-MAC on the
/// modified (0) or unmodified (1) APDU; b5 ICV encryption; b7 pseudo-random card challenge.
/// R-MAC follows the security level the host asks for (b6 only says the card supports it). i = 15
/// and i = 55 both set b5: the C-MAC ICV after the first command is the previous C-MAC encrypted
/// with single DES under the first half of the C-MAC key. Short-length APDUs only: the wrapped Lc
/// must fit in one byte.
class Scp02Wrapper {
  public:
    Scp02Wrapper(Scp02SessionKeys keys, std::uint8_t i, std::uint8_t security_level);

    /// EXTERNAL AUTHENTICATE (GP 2.2.1 E.5.2): 84 82 level 00 10 host cryptogram || C-MAC,
    /// the C-MAC with a zero ICV. Starts the C-MAC chain; starts the R-MAC chain (zero ICV)
    /// when the level asks for R-MAC.
    Bytes external_authenticate(ByteView host_cryptogram);

    /// Wraps @p command per the security level: C-MAC (E.4.4) and, with C-DECRYPTION, the data
    /// encrypted under S-ENC (E.4.6: TDEA-CBC, zero ICV, ISO 9797-1 method 2 padding; no data,
    /// no encryption). Le is kept. Throws InvalidArgument when the CLA already carries the
    /// secure messaging bit or the wrapped command would need extended length; the chaining is
    /// then unchanged. Must follow external_authenticate().
    Bytes wrap(const core::CommandApdu& command);

    /// Checks and strips the R-MAC of @p response (data || R-MAC(8) || SW1 SW2), which answers
    /// the oldest wrapped command not yet unwrapped, when the level includes R-MAC; otherwise
    /// returns it as is. A response of SW1 SW2 alone, with an error status (anything but 9000 or
    /// 61xx), carries no R-MAC and is returned as is. Throws VerificationFailed when the R-MAC
    /// is missing or wrong, InvalidArgument when no command is waiting for a response.
    Bytes unwrap(ByteView response);

    std::uint8_t security_level() const { return m_level; }
    /// Number of wrapped commands whose responses have not been unwrapped (always 0 without
    /// R-MAC in the level: nothing is kept for them).
    std::size_t pending_responses() const noexcept { return m_pending.size(); }
    /// The session DEK (GP 2.2.1 E.4.1, constant 0181): PUT KEY and sensitive data encryption.
    const SecureBytes& session_dek() const { return m_keys.dek; }

  private:
    Bytes next_cmac_icv() const;

    Scp02SessionKeys m_keys;
    std::uint8_t m_i;
    std::uint8_t m_level;
    bool m_authenticated = false;
    Bytes m_cmac;  ///< last C-MAC; the next ICV derives from it
    Bytes m_rmac_icv;
    std::deque<Bytes> m_pending;  ///< R-MAC input prefix of each command awaiting its response
};

}  // namespace kms::crypto
