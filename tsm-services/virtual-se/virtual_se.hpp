// A virtual GlobalPlatform secure element, card side: the Issuer Security Domain processing one
// command APDU and answering one response APDU, as a card would. SCP02 (i = 15, 35, 55, 75) and
// SCP03 (S8 mode, i = 00, 10, 20, 30, 60, 70) secure channels; SELECT, GET DATA (CPLC, key
// information template), PUT KEY, STORE DATA, SET STATUS, and the card content: INSTALL, LOAD,
// DELETE, GET STATUS, with the demo transit purse as the one applet. A test peer for the
// host-side GlobalPlatform code, not a secure card: its keys are clear in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "card_content.hpp"
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

/// One key of the card's key store, as VirtualSeState lists them.
struct CardKeyEntry {
    std::uint8_t version = 0, id = 0;
    CardKeyType type = CardKeyType::Aes;
    SecureBytes value;
};

/// Everything a card keeps across a power cycle: what VirtualSe::state() returns and the
/// VirtualSe(VirtualSeState) constructor restores. Not in it: the secure channel session, the
/// selected application, a LOAD in progress, the STORE DATA log and a fixed card challenge
/// (a power cycle ends them all). Move-only (it holds keys).
struct VirtualSeState {
    Bytes isd_aid;
    Scp scp = Scp::Scp03;
    std::uint8_t i = 0x70;
    Bytes kdd;
    std::uint32_t sequence_counter = 0;
    Bytes cplc;
    CardLifeCycle life_cycle = CardLifeCycle::Secured;
    std::vector<CardKeyEntry> keys;  ///< ordered by version, then identifier
    std::vector<LoadFile> load_files;
    std::vector<Application> applications;
};

/// One STORE DATA block as the card received it, its data decrypted when P1 said so.
struct StoreDataBlock {
    std::uint8_t p1 = 0, p2 = 0;
    bool was_encrypted = false;
    Bytes data;
};

/// One card: the Issuer Security Domain and the applications installed through it, on the basic
/// logical channel (CLA 80-87 and 00-07 with channel 0 only). Not thread-safe: a card processes
/// one APDU at a time; a caller sharing it between threads holds a mutex around every call.
///
/// SELECT by AID chooses the ISD (its AID, a prefix of it, or no data) or the first selectable
/// application whose AID starts with the data (6A82 none, 6A81 a locked one or any application
/// while the card is CARD_LOCKED). While an application is selected, INITIALIZE UPDATE and
/// EXTERNAL AUTHENTICATE still go to the ISD's secure channel (as a Java Card applet hands them
/// to org.globalplatform.SecureChannel.processSecurity), the channel unwraps every command, and
/// the plain command goes to the application with whether its C-MAC was verified.
///
/// Rules it follows, as cards do: a new INITIALIZE UPDATE, a SELECT or any failed security check
/// ends the current secure channel session; a command whose C-MAC or decryption does not verify
/// gets 6982 and ends the session; with a session at C-MAC level every command must carry a
/// C-MAC (CLA bit 04); error status words carry no R-MAC (Amd D §6.2.5). PUT KEY, STORE DATA,
/// SET STATUS, INSTALL, LOAD, DELETE and GET STATUS need an authenticated session with the ISD
/// selected; GET DATA and SELECT do not.
class VirtualSe {
  public:
    /// Throws kms::Error(InvalidArgument) naming the field when the configuration breaks a rule
    /// of VirtualSeConfig.
    explicit VirtualSe(VirtualSeConfig config);
    /// Restores a card saved by state(). Throws kms::Error(InvalidArgument) naming the field
    /// when the state breaks a rule of VirtualSeConfig (keys excepted: any key set may be
    /// there; a spent sequence counter, one past its last value, is allowed), lists an AID
    /// twice, or has an application whose load file is absent.
    explicit VirtualSe(VirtualSeState state);
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

    /// A power cycle or a reset of the card (the vpcd 00, 01 and 02 controls): ends the session,
    /// a LOAD in progress and a personalization, and selects the ISD.
    void reset() noexcept;
    /// The card's whole persistent state (see VirtualSeState); keys are copied.
    VirtualSeState state() const;
    /// Load files and applications on the card.
    const CardRegistry& content() const noexcept { return m_registry; }
    /// The selected application's AID; nullopt while the ISD is selected.
    const std::optional<Bytes>& selected() const noexcept { return m_selected; }

    /// Puts a personalized transit purse on the card, as a TSM would with LOAD, INSTALL, PUT KEY
    /// and STORE DATA (for demos and tests, card description files): load file
    /// kPursePackageAid (empty Load File Data Block), instance kPurseInstanceAid SELECTABLE and
    /// personalized with @p balance and @p counter, and @p credit_key (two-key TDEA, 16 bytes)
    /// as key 01 of key set 70. Throws kms::Error(InvalidArgument) when the key is not 16
    /// bytes, key set 70 exists or the purse's AIDs are taken.
    void install_purse(ByteView credit_key, std::uint32_t balance, std::uint16_t counter);

  private:
    core::ResponseApdu dispatch(const core::CommandApdu& command);
    core::ResponseApdu dispatch_plain(const core::CommandApdu& command);
    core::ResponseApdu select(const core::CommandApdu& command);
    core::ResponseApdu initialize_update(const core::CommandApdu& command);
    core::ResponseApdu external_authenticate(const core::CommandApdu& command);
    core::ResponseApdu get_data(const core::CommandApdu& command) const;
    core::ResponseApdu store_data(const core::CommandApdu& command);
    core::ResponseApdu set_status(const core::CommandApdu& command);
    core::ResponseApdu card_management(const core::CommandApdu& command);
    core::ResponseApdu to_application(const core::CommandApdu& command, bool c_mac_verified);
    void validate(bool restored) const;
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
    CardRegistry m_registry;
    std::optional<Bytes> m_selected;     ///< the selected application; nullopt: the ISD
    std::optional<Bytes> m_personalize;  ///< target of STORE DATA (INSTALL [for personalization])
};

}  // namespace kms::tsm::vse
