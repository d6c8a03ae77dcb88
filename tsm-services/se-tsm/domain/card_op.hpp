// se-tsm's card operations, their pure part: which operations exist, which GP card life cycle
// transition each makes, whether an SE may run one, how the ISD's secure channel is chosen from
// the SE's product, and the stored binding of an operation to its SE (docs/se-tsm.md, "Card
// operations"). No I/O: the plugin (plugin/card_ops.cpp) runs the conversation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "se_model.hpp"

namespace kms::tsm::se {

/// What a wallet may ask se-tsm to do on its card through the ISD.
enum class CardOp {
    Lock,          ///< SET STATUS card CARD_LOCKED (GPCS 2.2.1 §11.10, P1 80 P2 7F)
    Unlock,        ///< SET STATUS card SECURED (P2 0F)
    Terminate,     ///< SET STATUS card TERMINATED (P2 FF)
    ListContents,  ///< GET STATUS of the applications (GPCS 2.2.1 §11.4, P1 40 P2 02)
    RotateKeys,    ///< PUT KEY of a new ISD key set (GPCS 2.2.1 §11.8)
    /// Opens a secure channel with the key set of a rotate-keys whose end is uncertain (it
    /// did not succeed, but its PUT KEY may have reached the card): success means the card
    /// holds the new set, and se-tsm records it.
    ConfirmKeys,
};

/// "lock", "unlock", "terminate", "list-contents", "rotate-keys", "confirm-keys".
std::string_view card_op_name(CardOp op) noexcept;
std::optional<CardOp> parse_card_op(std::string_view name) noexcept;

/// The card life cycle state the operation moves the card to; std::nullopt for operations that
/// leave it (list-contents, rotate-keys).
std::optional<CardState> card_op_target(CardOp op) noexcept;

/// Throws kms::Error(WrongState) with a message naming the states when @p se may not run
/// @p op: a life cycle move the GP table forbids (the same rule as POST /ses/{seid}/lifecycle,
/// card_transition_allowed()), or any operation on a TERMINATED card (it answers nothing).
/// list-contents, rotate-keys and confirm-keys need an SE that is not TERMINATED; rotate-keys
/// also not CARD_LOCKED (§5.1.1.4: a locked card changes no key).
void check_card_op_allowed(const SecureElement& se, CardOp op);

/// How se-tsm opens the secure channel on an SE's ISD.
struct IsdChannel {
    std::string protocol;      ///< "SCP02" or "SCP03"
    std::uint8_t i = 0;        ///< the product's first listed i of that protocol
    std::uint8_t key_version;  ///< the SE's ISD key version
};

/// SCP02 with the product's first scp02 "i" when it lists one, else SCP03 with its first scp03
/// "i"; the key version is @p se's (isd_key_version), or the product's defaultKeyVersion when
/// the SE has none recorded. Throws Error(InvalidArgument) naming "scp02" when the product lists
/// neither (validate() prevents it).
IsdChannel isd_channel(const Product& product, const SecureElement& se);

/// Which SE an operation runs on, and whether its effect on se-tsm's own records (the life cycle
/// move, the new key set) has been applied after the card confirmed it. Stored beside the
/// conversation record (table "card-op-bindings", key: the operation id).
struct CardOpBinding {
    std::string seid;
    CardOp op = CardOp::Lock;
    bool applied = false;
    /// rotate-keys: the new ISD key set, written before PUT KEY is sent (crash safety: the
    /// intent is on disk before the card can change), applied to the SE after kmsd verified
    /// the card's answer.
    std::string new_key_id, new_diversification;
    std::uint8_t new_key_version = 0;
    /// rotate-keys: the KMS ids of the diversified key set (enc, mac, dek) once kmsd made it,
    /// so a repeated request reuses them instead of asking kmsd for a second set.
    std::vector<std::string> new_key_ids;
    /// rotate-keys: true from the moment kmsd is asked to build PUT KEY (it may then reach the
    /// card), so a failed rotation is known to be uncertain. confirm-keys: the rotation's id.
    bool put_key_sent = false;
    std::string confirms;

    bool operator==(const CardOpBinding&) const = default;
};

/// Stored as versioned text by se_codec (encode(), decode_card_op_binding()).

}  // namespace kms::tsm::se
