// TR-31 / ANSI X9.143 key blocks on the host: version B (TDES key block protection key, key
// derivation binding method, ASC X9 TR-31:2018 §5.3.2) and version D (AES KBPK, same method,
// §5.3.3). Used by the HSM adapter where the module cannot build or open key blocks itself;
// the KBPK and the key are clear here, so callers hold them in SecureBytes (locked memory)
// and only where the vendor profile lists the host fallback.
//
// Construction (both versions):
//   KBEK = CMAC(KBPK, 01 || 0000 || 00 || alg || len) [|| CMAC(KBPK, 02 || ...)], truncated
//   KBAK = the same with key usage indicator 0001
//          (alg: 0000 TDES-2K, 0001 TDES-3K, 0002 AES-128, 0003 AES-192, 0004 AES-256;
//           len: the KBPK's length in bits, 4 hex digits; CMAC: TDES-CMAC for B, AES-CMAC for D)
//   payload = key length in bits (2 bytes, big-endian) || key || padding to the cipher block
//   MAC     = CMAC(KBAK, header || payload), 8 bytes (B) or 16 bytes (D)
//   block   = header || HEX(CBC-encrypt(KBEK, IV = MAC, payload)) || HEX(MAC)
// Thread safety: reentrant. Errors: InvalidArgument (lengths, malformed text), VerificationFailed
// (the block's MAC does not verify).
#pragma once

#include <string>
#include <string_view>

#include "domain/bytes.hpp"
#include "domain/secure_bytes.hpp"
#include "domain/tr31.hpp"

namespace kms::crypto {

struct Tr31Opened {
    core::Tr31Header header;  ///< as the MAC covered it (block_length = the block's length)
    SecureBytes key;          ///< the clear key
    SecureBytes padding;      ///< the payload's padding (known-answer tests re-wrap with it)
};

/// The block of @p key under @p kbpk with @p header (version 'B': 16- or 24-byte TDES KBPK;
/// 'D': 16-, 24- or 32-byte AES KBPK). header.block_length is ignored and computed. When the
/// header with its optional blocks is not a multiple of the cipher block size, a "PB" optional
/// block pads it (X9.143 §6.3.6). @p pad: nullptr = the fewest random bytes that complete the
/// payload to the cipher block size; else exactly these bytes (known-answer tests).
std::string tr31_wrap(ByteView kbpk, const core::Tr31Header& header, ByteView key,
                      const ByteView* pad = nullptr);

/// Opens @p block under @p kbpk. VerificationFailed when the MAC does not verify (checked
/// before anything of the payload is used); InvalidArgument for a malformed block, a KBPK of
/// the wrong length for the version, or a key length field that does not fit the payload.
Tr31Opened tr31_unwrap(ByteView kbpk, std::string_view block);

}  // namespace kms::crypto
