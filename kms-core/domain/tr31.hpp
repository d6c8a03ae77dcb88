// TR-31 / ANSI X9.143 key block headers: the clear, MAC-covered first part of a key block, and
// how its fields map to this KMS's algorithms and usages. Pure: no cryptography here (that is
// kms-core/crypto/tr31.hpp and the HSM adapter).
//
// Header layout (ANSI X9.143-2022 §6.2, ASC X9 TR-31:2018 Table 1), all printable ASCII:
//   [0]     key block version ID: 'B' (TDES, key derivation binding) or 'D' (AES, same)
//   [1..4]  key block length, 4 decimal digits, the whole block including the MAC
//   [5..6]  key usage, e.g. "K0" KEK, "D0" data encryption, "M6" CMAC, "B0" BDK
//   [7]     algorithm: 'A' AES, 'T' TDES, 'H' HMAC
//   [8]     mode of use: 'B' both, 'C' MAC generate+verify, 'D' decrypt/unwrap only,
//           'E' encrypt/wrap only, 'G' generate only, 'N' none, 'S' sign, 'V' verify,
//           'X' derive keys
//   [9..10] key version number, "00" when unused
//   [11]    exportability: 'E' under a trusted key, 'N' non-exportable, 'S' sensitive
//   [12..13] number of optional blocks, 2 decimal digits
//   [14..15] reserved, "00"
// followed by the optional blocks (2-character ID, 2 hex digits of length including the 4
// header characters, data).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "algorithm.hpp"

namespace kms::core {

struct Tr31OptionalBlock {
    std::string id;    ///< 2 printable characters, e.g. "KS", "PB"
    std::string data;  ///< printable ASCII
    bool operator==(const Tr31OptionalBlock&) const = default;
};

struct Tr31Header {
    char version = 'D';
    std::size_t block_length = 0;  ///< as parsed; computed when formatting a block
    std::string usage = "D0";      ///< 2 characters
    char algorithm = 'A';
    char mode_of_use = 'B';
    std::string key_version = "00";  ///< 2 characters
    char exportability = 'N';
    std::vector<Tr31OptionalBlock> optional_blocks;
    bool operator==(const Tr31Header&) const = default;
};

/// Parses the header and optional blocks at the start of @p block. Returns the header and
/// the number of characters they take. Throws Error(InvalidArgument) naming the field that
/// is malformed (unknown version, non-digit length, length not equal to block.size(), ...).
std::pair<Tr31Header, std::size_t> parse_tr31_header(std::string_view block);

/// The header text of @p h (16 characters plus optional blocks) with @p total_length as the
/// block length field. Throws InvalidArgument when a field is malformed.
std::string format_tr31_header(const Tr31Header& h, std::size_t total_length);

/// The header this KMS writes when exporting a key of @p algorithm with @p usage as a block of
/// @p version ('B' or 'D'), with exportability 'N' unless @p exportable. Throws Unsupported
/// when the usage has no TR-31 equivalent (e.g. sign on a symmetric key).
Tr31Header tr31_header_for(char version, Algorithm algorithm, UsageMask usage, bool exportable);

/// Throws Error(InvalidArgument) naming the field when @p h contradicts importing a key of
/// @p algorithm with @p usage (e.g. an 'E'-only block imported with decrypt usage, an AES
/// header imported as DES3-2K, a KEK usage imported as a MAC key).
void check_tr31_import(const Tr31Header& h, Algorithm algorithm, UsageMask usage);

}  // namespace kms::core
