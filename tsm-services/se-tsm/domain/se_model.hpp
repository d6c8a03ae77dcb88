// The SE TSM's domain: SE products per chip vendor, registered secure elements with their
// GlobalPlatform card life cycle, product private attributes and the outbox to sp-tsm.
// Pure C++ (no Poco, no LMDB): validation throws kms::Error(InvalidArgument) naming the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kms::tsm::se {

/// GlobalPlatform card life cycle states (GPCS 2.2 §5.1.1, Table 11-5 codes in comments).
enum class CardState {
    OpReady,      ///< '01'
    Initialized,  ///< '07'
    Secured,      ///< '0F'
    CardLocked,   ///< '7F'
    Terminated,   ///< 'FF'
};

/// "OP_READY", "INITIALIZED", "SECURED", "CARD_LOCKED", "TERMINATED".
std::string_view card_state_name(CardState state) noexcept;
/// Parses a state name; std::nullopt for anything else.
std::optional<CardState> parse_card_state(std::string_view name) noexcept;
/// Whether GP allows @p from -> @p to (GPCS 2.2 §5.1.1): OP_READY -> INITIALIZED -> SECURED,
/// SECURED <-> CARD_LOCKED, any state but TERMINATED -> TERMINATED. Staying in the same state
/// is not a transition (false).
bool card_transition_allowed(CardState from, CardState to) noexcept;

/// How the ISD keys of one SE are derived from the issuer master key.
enum class Diversification { None, Visa2, EmvCps11 };
std::string_view diversification_name(
    Diversification d) noexcept;  ///< "none", "VISA2", "EMV-CPS11"
std::optional<Diversification> parse_diversification(std::string_view name) noexcept;

/// One SE product of a chip vendor.
struct Product {
    std::string id;                   ///< 1..64 of A-Z a-z 0-9 . _ -
    std::string vendor;               ///< 1..128 printable ASCII
    std::string chip_model;           ///< 1..128 printable ASCII
    std::string gp_version;           ///< "2.1.1" or "2.2"
    std::vector<std::uint8_t> scp02;  ///< SCP02 "i" parameters supported
    std::vector<std::uint8_t> scp03;  ///< SCP03 "i" parameters supported
    std::string isd_aid;              ///< upper-case hex, 5..16 bytes (ISO 7816-5 AID)
    Diversification diversification = Diversification::None;
    int default_key_version = 1;  ///< 1..127 (GP key version numbers '01'..'7F')

    bool operator==(const Product&) const = default;
};

/// One registered secure element.
struct SecureElement {
    std::string seid;  ///< upper-case hex, 8..64 digits, even
    std::string cplc;  ///< upper-case hex, the 42-byte CPLC data (GET DATA tag 9F7F)
    std::string product_id;
    std::string isd_key_id;  ///< the KMS master key the ISD keys come from (a key id)
    Diversification isd_diversification = Diversification::None;
    /// Instead of isd_key_id, with diversification "none": the ISD's three static keys (KMS key
    /// ids of ENC, MAC, DEK), as a card whose keys were loaded by ceremony. Empty otherwise;
    /// exactly one of isd_key_id and these is set (validate_isd_key()).
    std::string isd_enc, isd_mac, isd_dek;
    CardState state = CardState::OpReady;
    std::string owner;  ///< user id, 1..128 of A-Z a-z 0-9 . _ @ + -
    /// The ISD key set's version on the card, 1..127; 0 until a rotate-keys operation sets it
    /// (then the product's defaultKeyVersion is the card's).
    int isd_key_version = 0;

    bool operator==(const SecureElement&) const = default;
};

/// The product private attribute of one (SE, SP product) pair.
struct Attribute {
    std::string seid;
    std::string product;  ///< an SP product id (sp-tsm's), same syntax as Product::id
    bool valid = true;

    bool operator==(const Attribute&) const = default;
};

/// Where an outbox entry is in its delivery to sp-tsm. Pending -> Delivered when sp-tsm
/// answered 2xx; Pending -> Rejected when it answered 4xx (the entry will not be accepted as
/// it is, so it is not retried; an operator sees it with GET /outbox?status=rejected).
enum class OutboxStatus { Pending, Delivered, Rejected };
/// "pending", "delivered", "rejected".
std::string_view outbox_status_name(OutboxStatus s) noexcept;
std::optional<OutboxStatus> parse_outbox_status(std::string_view name) noexcept;

/// What changed the attribute an outbox entry reports (its `event`).
inline constexpr std::string_view kEventAttributeSet = "attribute-set";  ///< PUT .../attributes
inline constexpr std::string_view kEventLossReport = "loss-report";      ///< POST /loss-reports
inline constexpr std::string_view kEventTerminated = "terminated";       ///< SE -> TERMINATED
/// The event of entries written by step 1 (loss reports only, always invalid).
inline constexpr std::string_view kEventStep1 = "attribute-invalidated";

/// One message to sp-tsm: "the attribute of (seid, product) is now `valid`", in the order the
/// attribute changed. Every change of an attribute queues one.
struct OutboxEntry {
    std::uint64_t seq = 0;  ///< 1, 2, ... in order of creation
    std::string seid;
    std::string product;
    bool valid = false;  ///< the attribute's value after the change
    std::string event = std::string(kEventLossReport);
    OutboxStatus status = OutboxStatus::Pending;
    std::uint32_t attempts = 0;  ///< delivery attempts so far
    std::string last_error;      ///< why the last attempt failed or was rejected; "" when none

    bool operator==(const OutboxEntry&) const = default;
};

// Field checks. Each throws kms::Error(InvalidArgument) with a message naming @p field.
void check_id(std::string_view field, std::string_view value);     ///< product ids
void check_owner(std::string_view field, std::string_view value);  ///< user ids
void check_text(std::string_view field, std::string_view value);   ///< 1..128 printable ASCII
/// Upper-cases and checks hex of an even number of digits, min_bytes..max_bytes bytes.
std::string normalize_hex(std::string_view field, std::string_view value, std::size_t min_bytes,
                          std::size_t max_bytes);
/// Normalizes hex fields and checks every field of @p p.
void validate(Product& p);
void validate(SecureElement& se);
/// The ISD key rule, once the diversification is known: either isdKey.keyId, or isdKey.enc,
/// .mac and .dek (then the diversification must be "none"). InvalidArgument naming the field.
void validate_isd_key(const SecureElement& se);

}  // namespace kms::tsm::se
