// se-tsm's card operations: names, life cycle targets, the start check, the ISD channel.
#include "card_op.hpp"

#include "domain/error.hpp"

namespace kms::tsm::se {

std::string_view card_op_name(CardOp op) noexcept {
    switch (op) {
        case CardOp::Lock:
            return "lock";
        case CardOp::Unlock:
            return "unlock";
        case CardOp::Terminate:
            return "terminate";
        case CardOp::ListContents:
            return "list-contents";
        case CardOp::RotateKeys:
            return "rotate-keys";
        case CardOp::ConfirmKeys:
            return "confirm-keys";
    }
    return "lock";
}

std::optional<CardOp> parse_card_op(std::string_view name) noexcept {
    for (CardOp op : {CardOp::Lock, CardOp::Unlock, CardOp::Terminate, CardOp::ListContents,
                      CardOp::RotateKeys, CardOp::ConfirmKeys})
        if (card_op_name(op) == name) return op;
    return std::nullopt;
}

std::optional<CardState> card_op_target(CardOp op) noexcept {
    switch (op) {
        case CardOp::Lock:
            return CardState::CardLocked;
        case CardOp::Unlock:
            return CardState::Secured;
        case CardOp::Terminate:
            return CardState::Terminated;
        default:
            return std::nullopt;
    }
}

void check_card_op_allowed(const SecureElement& se, CardOp op) {
    const std::string from(card_state_name(se.state));
    if (const auto to = card_op_target(op)) {
        if (!card_transition_allowed(se.state, *to))
            throw Error(ErrorCode::WrongState, "SE " + se.seid + " is " + from + ": " +
                                                   std::string(card_op_name(op)) + " (" + from +
                                                   " -> " + std::string(card_state_name(*to)) +
                                                   ") is not a GP card life cycle transition");
        return;
    }
    if (se.state == CardState::Terminated)
        throw Error(ErrorCode::WrongState, "SE " + se.seid + " is TERMINATED: no " +
                                               std::string(card_op_name(op)) + " any more");
    // GPCS 2.2.1 §5.1.1.4: a CARD_LOCKED card allows no key change.
    if (op == CardOp::RotateKeys && se.state == CardState::CardLocked)
        throw Error(ErrorCode::WrongState,
                    "SE " + se.seid + " is CARD_LOCKED: unlock it before rotate-keys");
}

IsdChannel isd_channel(const Product& product, const SecureElement& se) {
    IsdChannel c;
    if (!product.scp02.empty()) {
        c.protocol = "SCP02";
        c.i = product.scp02.front();
    } else if (!product.scp03.empty()) {
        c.protocol = "SCP03";
        c.i = product.scp03.front();
    } else {
        throw Error(ErrorCode::InvalidArgument,
                    "scp02: the product " + product.id + " lists no secure channel protocol");
    }
    c.key_version = static_cast<std::uint8_t>(
        se.isd_key_version != 0 ? se.isd_key_version : product.default_key_version);
    return c;
}

}  // namespace kms::tsm::se
