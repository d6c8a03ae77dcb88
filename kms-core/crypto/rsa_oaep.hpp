// RSA-OAEP with SHA-256, MGF1-SHA-256 and an empty label (RFC 8017 §7.1) on the host.
// Encryption only needs the recipient's public key. Decryption is split: the RSA private-key
// operation (RSADP, raw "X.509" RSA) runs in the HSM, and the EME-OAEP decoding of its output
// runs here, because SoftHSM2 2.6 accepts only SHA-1 in CK_RSA_PKCS_OAEP_PARAMS
// (SoftHSM.cpp, AsymDecryptInit: "hashAlg must be CKM_SHA_1").
#pragma once

#include <cstddef>

#include "domain/bytes.hpp"
#include "domain/secure_bytes.hpp"

namespace kms::crypto {

/// RSAES-OAEP-ENCRYPT of @p message to the RSA key in @p spki_der (DER SubjectPublicKeyInfo).
/// InvalidArgument when the SPKI is not an RSA key or the message is too long
/// (> k - 2*32 - 2 bytes).
Bytes rsa_oaep_sha256_encrypt(ByteView spki_der, ByteView message);

/// EME-OAEP decoding (RFC 8017 §7.1.2 step 3) of @p em, the k-byte output of RSADP (k = the
/// modulus length in bytes, em left-padded with zeros to k). VerificationFailed (one message
/// for every failure; the checks run over the whole buffer without early exit) when the
/// encoding is invalid.
SecureBytes oaep_sha256_decode(ByteView em);

}  // namespace kms::crypto
