// The key block: a working key wrapped under the HSM master key (RFC 5649 AES key wrap with
// padding) with its attributes bound by a MAC computed in the HSM under a second master key.
// Pure encoding; the HSM adapter produces and opens blocks.
//
// Layout (all integers big-endian):
//   "KMSKB" u8 format(=1)
//   lv(key_id) u32 version u8 algorithm u32 usage_bits u8 flags        -- the bound header
//   (flags: bit 0 exportable, bit 1 trusted KEK; blocks written before `trusted` existed
//   hold 0 or 1 and decode unchanged)
//   lv(wrapped)                                                        -- C_WrapKey output
//   lv(public_key)                                                     -- SPKI DER (EC/RSA) or
//   empty lv(seal)                                                           -- HMAC-SHA256 over
//                                                                         everything before it
// The public key is sealed too, so a store edit cannot swap in a key that verifies someone
// else's signatures.
#pragma once

#include <string>

#include "algorithm.hpp"
#include "bytes.hpp"

namespace kms::core {

struct KeyBlockHeader {
    std::string key_id;
    std::uint32_t version = 0;
    Algorithm algorithm = Algorithm::Aes256;
    UsageMask usage;
    bool exportable = false;  ///< may leave the HSM wrapped under a trusted key
    bool trusted = false;     ///< a trusted KEK: keys may be exported under it
    bool operator==(const KeyBlockHeader&) const = default;
};

struct KeyBlock {
    KeyBlockHeader header;
    Bytes wrapped;     ///< the wrapped key (secret key value or PKCS#8 private key)
    Bytes public_key;  ///< DER SubjectPublicKeyInfo of an EC/RSA key; empty for secret keys
    Bytes seal;        ///< MAC over sealed_part(); 32 bytes
};

/// The bytes the seal covers: magic, format, header, wrapped key and public key (not the seal).
Bytes sealed_part(const KeyBlock& block);
/// The full block: sealed_part() followed by lv(seal).
Bytes encode_key_block(const KeyBlock& block);
/// Parses a block; throws kms::Error(Integrity) when it is malformed. Does not check the seal.
KeyBlock decode_key_block(ByteView encoded);

}  // namespace kms::core
