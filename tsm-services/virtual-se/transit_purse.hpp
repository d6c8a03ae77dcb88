// The demo transit purse applet of the virtual SE (docs/virtual-se.md "The transit purse"):
// READ BALANCE and CREDIT through the ISD's secure channel, DEBIT in the clear, personalized by
// STORE DATA DGI 0101. The commands and AIDs are the ones agreed with the TSM plugins.
#pragma once

#include <cstdint>

#include "card_content.hpp"
#include "domain/apdu.hpp"
#include "domain/bytes.hpp"

namespace kms::tsm::vse {

/// Key version and identifier of the purse's credit key in the ISD's key store: a one-key key
/// set put there by PUT KEY, never used for a secure channel.
inline constexpr std::uint8_t kPurseCreditKeyVersion = 0x70;
inline constexpr std::uint8_t kPurseCreditKeyId = 0x01;

/// How a command reached the purse.
struct PurseCommandContext {
    /// True when the command came through the ISD's secure channel with a verified C-MAC
    /// (CLA 84 at security level 01 or more), as org.globalplatform.SecureChannel.unwrap tells
    /// a Java Card applet.
    bool c_mac_verified = false;
    /// The purse's credit key (two-key TDEA, 16 bytes), empty when the ISD has none.
    ByteView credit_key;
    /// The purse instance's AID, the first input of the CREDIT MAC.
    ByteView instance_aid;
};

/// Processes one plain purse command (secure messaging removed, CLA 80):
/// - READ BALANCE 80 5C 00 00 Le: balance u32 BE || counter u16 BE, 9000. Needs the C-MAC.
/// - CREDIT 80 52 00 00 amount u32 || counter u16 || MAC(8): MAC = ISO/IEC 9797-1 MAC algorithm 3
///   over instance AID || amount || counter under the credit key; the counter must equal the
///   purse's; then balance += amount and counter += 1. Needs the C-MAC. 6985 on a bad MAC or
///   counter, a missing credit key or a counter at FFFF; 6A84 when the balance would overflow.
/// - DEBIT 80 54 00 00 amount u32, in the clear (a merchant terminal): 6A84 when the balance is
///   too low.
/// Any of them on a purse not yet personalized: 6985; without the C-MAC where it is needed:
/// 6982; a wrong data length 6700; P1 P2 not 00 00: 6A86; another INS 6D00; another class 6E00.
core::ResponseApdu transit_purse_process(PurseState& purse, const core::CommandApdu& command,
                                         const PurseCommandContext& context);

/// Personalization (STORE DATA after INSTALL [for personalization], GPCS 2.2.1 §11.11): the data
/// is DGIs (2-byte tag, 1-byte length or FF + 2 bytes); DGI 0101 of 4 bytes sets the balance
/// (u32 BE), the counter to 0, and marks the purse personalized. 6A80 on malformed DGIs, a DGI
/// 0101 of another length, or an unknown DGI; 6985 when already personalized.
core::ResponseApdu transit_purse_store_data(PurseState& purse, ByteView data);

}  // namespace kms::tsm::vse
