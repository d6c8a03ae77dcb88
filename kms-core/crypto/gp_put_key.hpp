// GlobalPlatform PUT KEY (Card Specification v2.2.1 §11.8; Amendment D v1.1 §7.2 for AES keys)
// and sensitive data encryption for STORE DATA: encoding of the command data from keys already
// encrypted under the card's DEK, the command itself, and the card's response with the key
// version and KCVs. Pure functions on public or already-encrypted values; the encryption of
// key values happens in the HSM adapter (Hsm::gp_encrypt_key).
//
// Key data field of one key:
//   DES (SCP02):  '80' L=10 | E_DEK(key, 16 bytes, TDEA-ECB) | '03' | KCV = E(K, 0^8)[0..3]
//   AES:          '88' L=1+n | key length | E_DEK(key padded to n) | '03' |
//                 KCV = AES(K, 01^16)[0..3]; SCP03 AES-CBC with a zero ICV under the static DEK
//                 (AES-192 padded to 32 bytes: the card reads the key length, the sources pad
//                 differently); SCP02 TDEA-ECB under the session DEK (AES-128/256)
// Command: CLA '80' INS 'D8' P1 = key version to replace ('00': a new key set) P2 = key
// identifier, b8 set when several keys follow; data = new key version || key data fields; Le 00.
// Response data: key version || the KCV of each key, in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "domain/apdu.hpp"
#include "domain/bytes.hpp"

namespace kms::crypto::gp {

using core::CommandApdu;

enum class KeyType : std::uint8_t { Des = 0x80, Aes = 0x88 };

/// One key as it goes into PUT KEY: its type, its clear length (16, 24 or 32), the value
/// encrypted under the DEK and its 3-byte KCV.
struct PutKeyComponent {
    KeyType type = KeyType::Aes;
    std::uint8_t key_length = 16;
    Bytes encrypted;
    Bytes kcv;
};

/// The key data field of @p c (layouts above). InvalidArgument: DES with an encrypted value
/// that is not 16 bytes, AES with an encrypted value that is not a multiple of 16 or shorter
/// than the key, a KCV that is not 3 bytes.
Bytes encode_put_key_component(const PutKeyComponent& c);

/// The PUT KEY command (CLA 80, before secure messaging). @p replace_version: P1 (0 adds a new
/// key set); @p key_id: the first key identifier (1..127); @p new_version 1..127.
/// InvalidArgument on out-of-range values or when @p keys is empty or has more than 3 keys.
CommandApdu put_key_command(std::uint8_t replace_version, std::uint8_t key_id,
                            std::uint8_t new_version, std::span<const PutKeyComponent> keys);

/// The card's PUT KEY response.
struct PutKeyResponse {
    std::uint8_t key_version = 0;
    std::vector<Bytes> kcvs;
};

/// Parses a whole R-APDU (data || SW1 SW2, as unwrapped) answering a PUT KEY of @p keys keys.
/// InvalidArgument when the status word is not 9000 (named in the message) or the length is not
/// 1 + 3 x keys.
PutKeyResponse parse_put_key_response(ByteView response, std::size_t keys);

/// Block length of the DEK encryption: 8 for SCP02 (TDEA), 16 for SCP03 (AES).
inline constexpr std::size_t kDesBlock = 8;
inline constexpr std::size_t kAesBlock = 16;

}  // namespace kms::crypto::gp
