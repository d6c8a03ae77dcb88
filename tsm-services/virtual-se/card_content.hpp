// The card content the Issuer Security Domain manages (GPCS 2.2.1 chapter 9 and §11.1.1): load
// files, their executable modules and the application instances, with the card-management
// commands that change them: INSTALL, LOAD, DELETE, GET STATUS and SET STATUS of applications.
// Section numbers are those of GP Card Specification 2.2.1.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/apdu.hpp"
#include "domain/bytes.hpp"

namespace kms::tsm::vse {

/// The demo transit purse's AIDs, agreed with the TSM plugins and the wallet (docs/virtual-se.md).
inline const Bytes kPursePackageAid = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10};
inline const Bytes kPurseModuleAid = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10};
inline const Bytes kPurseInstanceAid = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF};

/// Application life cycle coding (§11.1.1 and §5.3.1): b1-b3 = 111 once selectable,
/// b4-b7 application specific, b8 LOCKED.
inline constexpr std::uint8_t kAppInstalled = 0x03;
inline constexpr std::uint8_t kAppSelectable = 0x07;
/// The application-specific state the purse enters once personalized (b4 set, §5.3.1).
inline constexpr std::uint8_t kAppPersonalized = 0x0F;
inline constexpr std::uint8_t kAppLockedBit = 0x80;
/// Executable Load File life cycle: LOADED (§5.2.1, coded as in §11.1.1).
inline constexpr std::uint8_t kLoadFileLoaded = 0x01;

/// The purse application's own data (see transit_purse.hpp).
struct PurseState {
    bool personalized = false;
    std::uint32_t balance = 0;
    std::uint16_t counter = 0;
};

/// An Executable Load File (§9.2): its AID, the Load File Data Block as LOAD delivered it, and
/// the executable modules it contains. A load file is accepted whatever its bytes; only the
/// purse package (kPursePackageAid) contains a module, kPurseModuleAid.
struct LoadFile {
    Bytes aid;
    Bytes data;  ///< the Load File Data Block (the value of tag C4)
    std::vector<Bytes> modules;
    std::uint8_t life_cycle = kLoadFileLoaded;
};

/// An application instance (§9.3): made by INSTALL [for install] from a module of a load file.
struct Application {
    Bytes aid;
    Bytes load_file_aid;
    Bytes module_aid;
    std::uint8_t life_cycle = kAppInstalled;
    Bytes privileges = {0x00, 0x00, 0x00};  ///< 3 bytes (§11.1.2)
    Bytes install_parameters;               ///< the C9 value of INSTALL [for install]
    std::optional<PurseState> purse;        ///< set when the module is the purse

    bool selectable() const noexcept {
        return (life_cycle & 0x07) == 0x07 && !(life_cycle & kAppLockedBit);
    }
    bool locked() const noexcept { return (life_cycle & kAppLockedBit) != 0; }
};

/// A LOAD sequence in progress between INSTALL [for load] and the last LOAD block (§11.6).
struct PendingLoad {
    Bytes load_file_aid;
    Bytes hash;  ///< Load File Data Block Hash from INSTALL [for load]; empty when absent
    std::uint8_t next_block = 0;
    Bytes received;  ///< the LOAD data fields so far
};

/// What the ISD tells the registry about itself, for GET STATUS P1 80 and the AID checks.
struct IsdView {
    ByteView aid;
    std::uint8_t card_life_cycle = 0x0F;
};

/// Load files and applications of one card, and the card side of the card-management commands.
/// Each command function takes the plain command (secure messaging already removed by the ISD,
/// which also checked that a session is authenticated) and returns the response; it never
/// throws for card-level errors. Not thread-safe, like the card that owns it.
class CardRegistry {
  public:
    const std::vector<LoadFile>& load_files() const noexcept { return m_load_files; }
    const std::vector<Application>& applications() const noexcept { return m_applications; }
    /// nullptr when absent. Pointers stay valid until the next command that changes the content.
    Application* find_application(ByteView aid);
    const Application* find_application(ByteView aid) const;
    const LoadFile* find_load_file(ByteView aid) const;

    /// Adds content as a restored state has it (no checks beyond AID uniqueness: throws
    /// kms::Error(InvalidArgument) naming the AID when taken).
    void add_load_file(LoadFile file);
    void add_application(Application app);

    /// INSTALL (§11.5): P1 02 [for load], 04 [for install], 08 [for make selectable], 0C [for
    /// install and make selectable], 20 [for personalization] (b8, "more INSTALL commands", is
    /// ignored); P2 00. For [for personalization] the instance's AID goes to @p personalize,
    /// the target of the STORE DATA commands that follow. Status words: 6A86 P1/P2, 6A80 a
    /// malformed data field, an AID already on the card, privileges not 1 or 3 bytes or asking
    /// for the Security Domain privilege, a hash that is not 20 or 32 bytes; 6A88 an unknown load
    /// file, module, instance or security domain; 6985 a state that forbids the step.
    core::ResponseApdu install(const core::CommandApdu& command, const IsdView& isd,
                               std::optional<Bytes>& personalize);

    /// LOAD (§11.6): P1 00 more blocks / 80 last block, P2 the block number from 00. The blocks
    /// concatenated are [E2 DAP blocks] C4 L Load File Data Block (BER length); at the last
    /// block the hash of INSTALL [for load], if given, must be SHA-1 (20 bytes) or SHA-256 (32)
    /// of the Load File Data Block. 6985 without a preceding INSTALL [for load], 6A86 a block out
    /// of order, 6A80 a malformed block sequence or a hash that does not match (the load is
    /// abandoned then).
    core::ResponseApdu load(const core::CommandApdu& command);

    /// DELETE (§11.2): data 4F L AID; P2 00 the object only, 80 with its related objects (a load
    /// file's instances). 6A88 an unknown AID, 6985 the ISD or a load file with instances and P2
    /// 00; answers 00 9000 (no confirmation). @p selected is cleared when it is deleted.
    core::ResponseApdu delete_object(const core::CommandApdu& command, const IsdView& isd);

    /// GET STATUS (§11.4): P1 80 the ISD, 40 applications, 20 load files, 10 load files with
    /// their modules; P2 02 tag-list format (E3 templates, §11.4.3), 00 the legacy format;
    /// data 4F L AID-prefix (4F 00 for all), optionally followed by a tag list (ignored). At
    /// most 232 bytes of entries per response: when more remain the answer is 6310 and the host
    /// asks again with P2 b1 set (P2 01 / 03) and the same P1 and data for the next entries
    /// (6985 without such a pending request). 6A88 when nothing matches, 6A86 other P1/P2,
    /// 6A80 a data field without 4F.
    core::ResponseApdu get_status(const core::CommandApdu& command, const IsdView& isd);

    /// SET STATUS P1 40 (§11.10): P2 80 locks the application named by the data field, P2 00
    /// unlocks it. 6A88 an unknown AID, 6985 locking a locked or unlocking an unlocked one,
    /// 6A86 another P2.
    core::ResponseApdu set_application_status(const core::CommandApdu& command);

    /// The end of a secure channel session or a reset: a LOAD in progress and a GET STATUS
    /// waiting for its next occurrences are abandoned.
    void end_session() noexcept {
        m_pending.reset();
        m_get_status_next.reset();
    }

  private:
    core::ResponseApdu install_for_load(ByteView data, const IsdView& isd);
    core::ResponseApdu install_for_install(ByteView data, bool make_selectable);
    core::ResponseApdu make_selectable(ByteView data);

    std::vector<LoadFile> m_load_files;
    std::vector<Application> m_applications;
    std::optional<PendingLoad> m_pending;
    /// Where GET STATUS [next occurrence] continues (§11.4.2).
    struct GetStatusCursor {
        std::uint8_t p1 = 0;
        bool tlv = false;
        Bytes prefix;
        std::size_t index = 0;
    };
    std::optional<GetStatusCursor> m_get_status_next;
};

/// True when @p aid names an AID already on the card (ISD, load file, module or application).
bool aid_taken(const CardRegistry& registry, ByteView isd_aid, ByteView aid);

}  // namespace kms::tsm::vse
