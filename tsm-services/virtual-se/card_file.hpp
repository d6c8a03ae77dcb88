// The virtual-se executable's files: the card description (`--card`, JSON written by a person)
// and the card state (`--state`, JSON written by the card after every APDU that changed it),
// converted to and from the card's own types. Uses Poco JSON; the card library does not.
#pragma once

#include <optional>
#include <string>

#include "domain/bytes.hpp"
#include "virtual_se.hpp"

namespace kms::tsm::vse {

/// A card description file, parsed. Its JSON object (bytes and GP codes as hex strings):
///
///     {"isdAid": "A000000151000000",          optional, 5..16 bytes
///      "scp": "02" | "03",                    required
///      "i": "55",                             required (SCP02 15/35/55/75, SCP03 00..70)
///      "keyVersion": "20",                    required, 01..7F
///      "enc": hex, "mac": hex, "dek": hex,    required, 16 bytes (SCP02), 16/24/32 (SCP03)
///      "kdd": hex,                            optional, 10 bytes (default 10 zero bytes)
///      "cplc": hex,                           optional, at most 252 bytes (default 42 zeros)
///      "lifeCycle": "0F",                     optional: 01, 07, 0F, 7F, FF (default 0F)
///      "sequenceCounter": 0,                  optional integer
///      "atr": hex,                            optional, 2..33 bytes (default default_atr())
///      "purse": {"creditKey": hex(16),        optional: a personalized transit purse
///                "balance": u32, "counter": u16}}
struct CardDescription {
    VirtualSeConfig config;
    Bytes atr;
    struct Purse {
        Bytes credit_key;
        std::uint32_t balance = 0;
        std::uint16_t counter = 0;
    };
    std::optional<Purse> purse;

    /// The card as described (the purse installed when given). Throws
    /// kms::Error(InvalidArgument) naming the field as VirtualSe does.
    VirtualSe make_card();
};

/// Parses a card description. Throws kms::Error(InvalidArgument) with a message naming the
/// field ("card description: field 'enc': ...") or saying the text is not a JSON object.
CardDescription parse_card_description(const std::string& json);

/// The card state as JSON ({"format": "virtual-se-state/1", ...}: the VirtualSeState fields
/// in camelCase, bytes in hex, keys in the clear: the file must be private to its owner).
std::string state_to_json(const VirtualSeState& state);

/// Parses state_to_json()'s output. Throws kms::Error(InvalidArgument) naming the field.
VirtualSeState state_from_json(const std::string& json);

/// The virtual SE's default ATR: 3B 8A 80 01 (T=1) with the historical bytes "virtual-SE"... as
/// 10 bytes 'v' 'i' 'r' 't' 'u' 'a' 'l' '-' 'S' 'E', and TCK (ISO/IEC 7816-3 §8.2.5).
Bytes default_atr();

}  // namespace kms::tsm::vse
