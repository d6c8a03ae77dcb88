// Names, parsing, the GP card life cycle table and field validation of the SE TSM domain.
#include "se_model.hpp"

#include <algorithm>

#include "domain/error.hpp"

namespace kms::tsm::se {
namespace {

[[noreturn]] void bad(std::string_view field, const std::string& what) {
    throw Error(ErrorCode::InvalidArgument, std::string(field) + " " + what);
}

bool is_id_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

}  // namespace

std::string_view card_state_name(CardState state) noexcept {
    switch (state) {
        case CardState::OpReady:
            return "OP_READY";
        case CardState::Initialized:
            return "INITIALIZED";
        case CardState::Secured:
            return "SECURED";
        case CardState::CardLocked:
            return "CARD_LOCKED";
        case CardState::Terminated:
            return "TERMINATED";
    }
    return "?";
}

std::optional<CardState> parse_card_state(std::string_view name) noexcept {
    for (CardState s : {CardState::OpReady, CardState::Initialized, CardState::Secured,
                        CardState::CardLocked, CardState::Terminated})
        if (card_state_name(s) == name) return s;
    return std::nullopt;
}

bool card_transition_allowed(CardState from, CardState to) noexcept {
    // GPCS 2.2 §5.1.1: the card life cycle only moves forward, except that the card may be
    // locked and unlocked (SECURED <-> CARD_LOCKED); TERMINATED is reachable from every state
    // and is final.
    if (from == CardState::Terminated) return false;
    if (to == CardState::Terminated) return true;
    switch (from) {
        case CardState::OpReady:
            return to == CardState::Initialized;
        case CardState::Initialized:
            return to == CardState::Secured;
        case CardState::Secured:
            return to == CardState::CardLocked;
        case CardState::CardLocked:
            return to == CardState::Secured;
        case CardState::Terminated:
            return false;
    }
    return false;
}

std::string_view diversification_name(Diversification d) noexcept {
    switch (d) {
        case Diversification::None:
            return "none";
        case Diversification::Visa2:
            return "VISA2";
        case Diversification::EmvCps11:
            return "EMV-CPS11";
    }
    return "?";
}

std::optional<Diversification> parse_diversification(std::string_view name) noexcept {
    for (Diversification d :
         {Diversification::None, Diversification::Visa2, Diversification::EmvCps11})
        if (diversification_name(d) == name) return d;
    return std::nullopt;
}

std::string_view outbox_status_name(OutboxStatus s) noexcept {
    switch (s) {
        case OutboxStatus::Pending:
            return "pending";
        case OutboxStatus::Delivered:
            return "delivered";
        case OutboxStatus::Rejected:
            return "rejected";
    }
    return "?";
}

std::optional<OutboxStatus> parse_outbox_status(std::string_view name) noexcept {
    for (OutboxStatus s : {OutboxStatus::Pending, OutboxStatus::Delivered, OutboxStatus::Rejected})
        if (outbox_status_name(s) == name) return s;
    return std::nullopt;
}

void check_id(std::string_view field, std::string_view value) {
    if (value.empty() || value.size() > 64 || !std::all_of(value.begin(), value.end(), is_id_char))
        bad(field, "must be 1 to 64 of A-Z a-z 0-9 . _ -");
}

void check_owner(std::string_view field, std::string_view value) {
    if (value.empty() || value.size() > 128 || !std::all_of(value.begin(), value.end(), [](char c) {
            return is_id_char(c) || c == '@' || c == '+';
        }))
        bad(field, "must be 1 to 128 of A-Z a-z 0-9 . _ @ + -");
}

void check_text(std::string_view field, std::string_view value) {
    if (value.empty() || value.size() > 128 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c <= 0x7E; }))
        bad(field, "must be 1 to 128 printable ASCII characters");
}

std::string normalize_hex(std::string_view field, std::string_view value, std::size_t min_bytes,
                          std::size_t max_bytes) {
    std::string out;
    for (char c : value) {
        if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) bad(field, "must be hex");
        out += c;
    }
    if (out.size() % 2 != 0) bad(field, "must have an even number of hex digits");
    if (out.size() / 2 < min_bytes || out.size() / 2 > max_bytes) {
        if (min_bytes == max_bytes) bad(field, "must be " + std::to_string(min_bytes) + " bytes");
        bad(field,
            "must be " + std::to_string(min_bytes) + " to " + std::to_string(max_bytes) + " bytes");
    }
    return out;
}

void validate(Product& p) {
    check_id("id", p.id);
    check_text("vendor", p.vendor);
    check_text("chipModel", p.chip_model);
    if (p.gp_version != "2.1.1" && p.gp_version != "2.2")
        bad("gpVersion", "must be \"2.1.1\" or \"2.2\"");
    if (p.scp02.empty() && p.scp03.empty()) bad("scp02", "and scp03 must not both be empty");
    for (auto* list : {&p.scp02, &p.scp03}) {
        std::vector<std::uint8_t> sorted = *list;
        std::sort(sorted.begin(), sorted.end());
        if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
            bad(list == &p.scp02 ? "scp02" : "scp03", "lists an i value twice");
    }
    // ISO/IEC 7816-5: an AID is 5 to 16 bytes.
    p.isd_aid = normalize_hex("isdAid", p.isd_aid, 5, 16);
    if (p.default_key_version < 1 || p.default_key_version > 127)
        bad("defaultKeyVersion", "must be 1 to 127");
}

void validate(SecureElement& se) {
    se.seid = normalize_hex("seid", se.seid, 4, 32);
    // The CPLC data object (GET DATA tag 9F7F) is 42 bytes.
    se.cplc = normalize_hex("cplc", se.cplc, 42, 42);
    check_id("productId", se.product_id);
    const bool statics = !se.isd_enc.empty() || !se.isd_mac.empty() || !se.isd_dek.empty();
    if (statics) {
        if (!se.isd_key_id.empty())
            throw Error(ErrorCode::InvalidArgument,
                        "isdKey: give keyId, or enc, mac and dek, not both");
        check_text("isdKey.enc", se.isd_enc);
        check_text("isdKey.mac", se.isd_mac);
        check_text("isdKey.dek", se.isd_dek);
    } else {
        check_text("isdKey.keyId", se.isd_key_id);
    }
    check_owner("owner", se.owner);
    if (se.isd_key_version < 0 || se.isd_key_version > 127)
        throw Error(ErrorCode::InvalidArgument, "isdKey.keyVersion must be 1 to 127");
}

void validate_isd_key(const SecureElement& se) {
    if (!se.isd_enc.empty() && se.isd_diversification != Diversification::None)
        throw Error(ErrorCode::InvalidArgument,
                    "isdKey.diversification must be \"none\" with static keys enc, mac, dek");
}

}  // namespace kms::tsm::se
