// ISO/IEC 7816-4 command and response APDUs: parsing and encoding of the four cases, short and
// extended length. Pure; used by the GlobalPlatform secure channel code to wrap and unwrap.
//
//   case 1: CLA INS P1 P2
//   case 2: CLA INS P1 P2 Le                 (short: Le 1 byte, 00 = 256; extended: 00 Le1 Le2,
//                                              0000 = 65536)
//   case 3: CLA INS P1 P2 Lc data            (short: Lc 1..255; extended: 00 Lc1 Lc2)
//   case 4: CLA INS P1 P2 Lc data Le         (extended: 00 Lc1 Lc2 data Le1 Le2)
#pragma once

#include <cstdint>
#include <optional>

#include "bytes.hpp"

namespace kms::core {

struct CommandApdu {
    std::uint8_t cla = 0, ins = 0, p1 = 0, p2 = 0;
    Bytes data;                       ///< empty for cases 1 and 2
    std::optional<std::uint32_t> le;  ///< 1..65536 when present (cases 2 and 4); 256/65536 for 00
    bool extended = false;            ///< encoded with extended length fields

    /// 1..4 per the header comment.
    int iso_case() const { return data.empty() ? (le ? 2 : 1) : (le ? 4 : 3); }
    bool operator==(const CommandApdu&) const = default;
};

/// Parses @p apdu. Throws Error(InvalidArgument) naming the problem when it is shorter than 4
/// bytes, when Lc does not match the data length, or when the length fields are malformed.
CommandApdu parse_command_apdu(ByteView apdu);

/// Encodes @p c, choosing extended length when c.extended is set or when the data is longer
/// than 255 bytes or Le is larger than 256. Throws InvalidArgument when data exceeds 65535 bytes
/// or le is 0 or larger than 65536.
Bytes encode_command_apdu(const CommandApdu& c);

struct ResponseApdu {
    Bytes data;
    std::uint16_t sw = 0;  ///< SW1 SW2
    bool operator==(const ResponseApdu&) const = default;
};

/// Splits data and SW1 SW2. Throws InvalidArgument when shorter than 2 bytes.
ResponseApdu parse_response_apdu(ByteView response);
Bytes encode_response_apdu(const ResponseApdu& r);

}  // namespace kms::core
