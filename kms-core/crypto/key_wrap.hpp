// AES key wrap on the host (OpenSSL 3 "AES-n-WRAP" / "AES-n-WRAP-PAD"): RFC 3394 (NIST SP
// 800-38F KW) and RFC 5649 (KWP). The HSM adapter wraps and unwraps natively with
// CKM_AES_KEY_WRAP / CKM_AES_KEY_WRAP_PAD; these exist for known-answer tests and tools.
#pragma once

#include "domain/bytes.hpp"
#include "domain/secure_bytes.hpp"

namespace kms::crypto {

/// RFC 3394 (@p with_padding false: key a multiple of 8 bytes, at least 16) or RFC 5649 wrap of
/// @p key under the AES KEK @p kek (16, 24 or 32 bytes). InvalidArgument for bad lengths.
Bytes aes_key_wrap(ByteView kek, ByteView key, bool with_padding);
/// The inverse; VerificationFailed when the integrity check value does not verify.
SecureBytes aes_key_unwrap(ByteView kek, ByteView wrapped, bool with_padding);

}  // namespace kms::crypto
