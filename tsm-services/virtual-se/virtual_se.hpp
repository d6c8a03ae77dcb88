// A virtual GlobalPlatform secure element, card side: the Issuer Security Domain processing one
// command APDU and answering one response APDU, as a card would. SCP02 (i = 15, 35, 55, 75) and
// SCP03 (S8 mode, i = 00, 10, 20, 30, 60, 70) secure channels; SELECT, GET DATA (CPLC, key
// information template), PUT KEY, STORE DATA and SET STATUS of the card life cycle. A test peer
// for the host-side GlobalPlatform code, not a secure card: its keys are clear in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "card_keys.hpp"
#include "domain/apdu.hpp"
#include "domain/bytes.hpp"
#include "domain/secure_bytes.hpp"
#include "secure_channel.hpp"

namespace kms::tsm::vse {

/// Secure Channel Protocol of the ISD's key set.
enum class Scp : std::uint8_t { Scp02 = 0x02, Scp03 = 0x03 };

/// Card life cycle states (GPCS 2.2.1 §5.1.1, Table 11-5 coding).
enum class CardLifeCycle : std::uint8_t {
    OpReady = 0x01,
    Initialized = 0x07,
    Secured = 0x0F,
    CardLocked = 0x7F,
    Terminated = 0xFF,
};

/// The card as it leaves the factory. Move-only (it holds the static keys).
struct VirtualSeConfig {
    /// The ISD's AID, 5..16 bytes (GPCS 2.2.1 default A000000151000000).
    Bytes isd_aid = {0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00};
    Scp scp = Scp::Scp03;
    /// SCP03: 00, 10, 20, 30, 60 or 70 (Amd D §5.1; 10 pseudo-random challenge, 20 R-MAC, 40
    /// R-ENCRYPTION). SCP02: 15, 35, 55 or 75 (GP 2.2.1 Table E-1; 20 R-MAC support, 40
    /// pseudo-random challenge).
    std::uint8_t i = 0x70;
    /// The key set's version (1..127) and its ENC, MAC, DEK keys (key identifiers 1, 2, 3): AES
    /// 16, 24 or 32 bytes, all of one length, for SCP03; two-key TDEA (16 bytes) for SCP02.
    std::uint8_t key_version = 0x30;
    SecureBytes enc, mac, dek;
    /// Key diversification data of the INITIALIZE UPDATE response, 10 bytes.
    Bytes kdd = Bytes(10, 0x00);
    /// The sequence counter the next INITIALIZE UPDATE uses and reports; the card increments
    /// it after each INITIALIZE UPDATE. At most FFFF (SCP02, 2 bytes) or FFFFFF (SCP03, 3 bytes).
    std::uint32_t sequence_counter = 0;
    /// CPLC data returned by GET DATA 9F7F (GPCS 2.2.1 §H.6: 42 bytes on real cards); at most 252.
    Bytes cplc = Bytes(42, 0x00);
    CardLifeCycle life_cycle = CardLifeCycle::Secured;
    /// A fixed card challenge (6 bytes for SCP02, 8 for SCP03) for tests; otherwise the
    /// pseudo-random one when i asks for it, else random bytes from OpenSSL.
    std::optional<Bytes> card_challenge;
};

/// One STORE DATA block as the card received it, its data decrypted when P1 said so.
struct StoreDataBlock {
    std::uint8_t p1 = 0, p2 = 0;
    bool was_encrypted = false;
    Bytes data;
};

/// The Issuer Security Domain of one card, selected on the basic logical channel (CLA 80-87 and
/// 00-07 with channel 0 only). Not thread-safe: a card processes one APDU at a time.
///
/// Rules it follows, as cards do: a new INITIALIZE UPDATE, a SELECT or any failed security check
/// ends the current secure channel session; a command whose C-MAC or decryption does not verify
/// gets 6982 and ends the session; with a session at C-MAC level every command must carry a
/// C-MAC (CLA bit 04); error status words carry no R-MAC (Amd D §6.2.5). PUT KEY, STORE DATA
/// and SET STATUS need an authenticated session; GET DATA and SELECT do not.
class VirtualSe {
  public:
    /// Throws kms::Error(InvalidArgument) naming the field when the configuration breaks a rule
    /// of VirtualSeConfig.
    explicit VirtualSe(VirtualSeConfig config);
    ~VirtualSe();
    VirtualSe(VirtualSe&&) noexcept;
    VirtualSe& operator=(VirtualSe&&) noexcept;

    /// Processes one command APDU (ISO/IEC 7816-4, short or extended) and returns the response
    /// APDU (data || SW1 SW2). Never throws for card-level errors: a malformed APDU is 6700, an
    /// unknown class 6E00, an unknown instruction 6D00.
    Bytes process(ByteView command);

    CardLifeCycle life_cycle() const noexcept { return m_life_cycle; }
    /// The value the next INITIALIZE UPDATE will use.
    std::uint32_t sequence_counter() const noexcept { return m_sequence_counter; }
    /// True between a successful EXTERNAL AUTHENTICATE and the end of that session.
    bool secure_channel_open() const noexcept;
    /// The session's security level, 0 when no session is open.
    std::uint8_t security_level() const noexcept;
    /// STORE DATA blocks received so far, in order.
    const std::vector<StoreDataBlock>& stored_data() const noexcept { return m_store_data; }
    /// Key versions of the key sets on the card, ascending.
    std::vector<std::uint8_t> key_versions() const { return m_keys.versions(); }
    /// KCV of one key (DES E(K, 0^8), AES E(K, 01^16)), nullopt when there is no such key.
    std::optional<Bytes> key_check_value(std::uint8_t version, std::uint8_t id) const;
    /// Replaces the card challenge source (see VirtualSeConfig::card_challenge).
    void set_card_challenge(std::optional<Bytes> challenge);

  private:
    core::ResponseApdu dispatch(const core::CommandApdu& command);
    core::ResponseApdu dispatch_plain(const core::CommandApdu& command);
    core::ResponseApdu select(const core::CommandApdu& command);
    core::ResponseApdu initialize_update(const core::CommandApdu& command);
    core::ResponseApdu external_authenticate(const core::CommandApdu& command);
    core::ResponseApdu get_data(const core::CommandApdu& command) const;
    core::ResponseApdu store_data(const core::CommandApdu& command);
    core::ResponseApdu set_status(const core::CommandApdu& command);
    void close_channel() noexcept;

    Bytes m_aid;
    Scp m_scp;
    std::uint8_t m_i;
    Bytes m_kdd;
    std::uint32_t m_sequence_counter;
    Bytes m_cplc;
    CardLifeCycle m_life_cycle;
    std::optional<Bytes> m_card_challenge;
    CardKeyStore m_keys;
    /// The session from INITIALIZE UPDATE on; authenticated() after EXTERNAL AUTHENTICATE.
    std::unique_ptr<CardSecureChannel> m_channel;
    std::vector<StoreDataBlock> m_store_data;
    std::uint8_t m_next_block = 0;  ///< STORE DATA block number expected next
};

}  // namespace kms::tsm::vse
