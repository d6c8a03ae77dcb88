// Host-side cryptography with OpenSSL 3: hashing for the audit chain, the fallbacks a vendor
// profile may name (ISO/IEC 9797-1 MAC algorithm 3 on SoftHSM2), KCV checks of clear key
// components, and random numbers for non-secret values. Keys given here are clear: callers
// hold them in SecureBytes and only where the profile documents the exception.
#pragma once

#include <cstddef>

#include "domain/bytes.hpp"

namespace kms::crypto {

Bytes sha256(ByteView data);
Bytes sha384(ByteView data);
/// HMAC-SHA256 (RFC 2104, FIPS 198-1).
Bytes hmac_sha256(ByteView key, ByteView data);
/// AES-CMAC (NIST SP 800-38B), 16-byte tag. Key 16, 24 or 32 bytes.
Bytes aes_cmac(ByteView key, ByteView data);
/// TDEA ECB encryption of whole 8-byte blocks, no padding. Key 16 (K1K2K1) or 24 bytes.
Bytes des3_ecb_encrypt(ByteView key, ByteView data);
/// The inverse of des3_ecb_encrypt, same key and length rules (the card side of GlobalPlatform
/// PUT KEY over SCP02 and of SCP02 C-DECRYPTION in the virtual SE).
Bytes des3_ecb_decrypt(ByteView key, ByteView data);
/// AES-CBC over whole 16-byte blocks, no padding; key 16, 24 or 32 bytes, @p iv 16 bytes.
/// InvalidArgument otherwise. (SCP03 C-DECRYPTION, GlobalPlatform DEK encryption in tests.)
Bytes aes_cbc_encrypt(ByteView key, ByteView iv, ByteView data);
Bytes aes_cbc_decrypt(ByteView key, ByteView iv, ByteView data);
/// ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC") with padding method 2, 8-byte MAC:
/// single-DES CBC-MAC under K1 over all blocks but the last, then TDEA (K1,K2,K1 for a 16-byte
/// key; K1,K2,K3 for a 24-byte key) on the last chained block.
Bytes retail_mac(ByteView key, ByteView data);
/// ISO/IEC 9797-1 padding method 2: 0x80 then zeros up to a multiple of @p block.
Bytes pad_iso9797_m2(ByteView data, std::size_t block);

/// KCVs (first 3 bytes). DES3: E(K, 0^8). AES: CMAC(K, 0^16). AES GlobalPlatform form: E(K, 01^16).
Bytes kcv_des3(ByteView key);
Bytes kcv_aes_cmac(ByteView key);
Bytes kcv_aes_gp(ByteView key);

/// Cryptographically strong random bytes from OpenSSL's DRBG (ids, tokens; not key material).
Bytes random_bytes(std::size_t n);

}  // namespace kms::crypto
