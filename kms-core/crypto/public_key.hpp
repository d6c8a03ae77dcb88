// Public-key helpers on the host (OpenSSL 3): SubjectPublicKeyInfo encodings built from published
// key components, the two ECDSA signature encodings PKCS#11 and X.509 use, and a host-side
// signature check the self-tests and the CA use to double-check what the HSM produced.
// Only public keys pass through here; private keys stay in the HSM.
//
// Thread safety: every function is reentrant (no shared state beyond OpenSSL's own).
// Errors: kms::Error(InvalidArgument) for malformed input, (Internal, native OpenSsl) when
// OpenSSL itself fails.
#pragma once

#include <cstddef>
#include <optional>
#include <utility>

#include "domain/algorithm.hpp"
#include "domain/bytes.hpp"

namespace kms::crypto {

/// DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7; RFC 5480 §2: id-ecPublicKey with the named
/// curve) of an EC public key on @p curve (Algorithm::EcP256 or EcP384), given as the SEC 1
/// v2 §2.3.3 uncompressed point 04 || X || Y.
/// Throws InvalidArgument when @p curve is not an EC algorithm, the point has the wrong length
/// or prefix, or the point is not on the curve.
Bytes ec_public_key_spki(core::Algorithm curve, ByteView uncompressed_point);

/// DER SubjectPublicKeyInfo of an RSA public key (RFC 8017 §A.1.1; rsaEncryption with NULL
/// parameters, RFC 3279 §2.3.1) from the big-endian unsigned modulus and public exponent
/// (leading zero bytes allowed). Throws InvalidArgument when either is empty or zero, or the
/// exponent is even.
Bytes rsa_public_key_spki(ByteView modulus, ByteView public_exponent);

/// DER SubjectPublicKeyInfo of the RSA public key in @p pkcs1_der, a PKCS#1 RSAPublicKey
/// (RFC 8017 §A.1.1: SEQUENCE { modulus, publicExponent }). Throws InvalidArgument when it
/// does not parse, has trailing bytes, or fails SP 800-89 §5.3.3's public key checks.
Bytes rsa_pkcs1_to_spki(ByteView pkcs1_der);
/// The PKCS#1 RSAPublicKey (RFC 8017 §A.1.1) inside an RSA SubjectPublicKeyInfo. Throws
/// InvalidArgument when @p spki_der does not parse or holds no RSA key.
Bytes rsa_spki_to_pkcs1(ByteView spki_der);
/// The RSA public key in @p spki_der as its big-endian unsigned modulus and public exponent
/// (no leading zero bytes). Throws InvalidArgument when it does not parse or is not RSA.
std::pair<Bytes, Bytes> rsa_public_components(ByteView spki_der);
/// The EC public key in @p spki_der as the SEC 1 v2 §2.3.3 uncompressed point 04 || X || Y.
/// Throws InvalidArgument when it does not parse or is not an EC key.
Bytes ec_public_point(ByteView spki_der);
/// The algorithm of the key in @p spki_der: EcP256, EcP384, Rsa2048 or Rsa3072; nullopt for
/// any other key (other curves, other RSA sizes, Ed25519, ...) or when the DER does not parse.
std::optional<core::Algorithm> spki_algorithm(ByteView spki_der);

/// Raw r || s (PKCS#11 v2.40 curr §2.3.1, what Hsm::sign returns for ECDSA: each integer
/// big-endian, left-padded to the field size) to the DER ECDSA-Sig-Value
/// SEQUENCE { r INTEGER, s INTEGER } of RFC 3279 §2.2.3 (used in X.509 and TLS).
/// Throws InvalidArgument when @p raw_rs is empty, of odd length or longer than 132 bytes.
Bytes ecdsa_raw_to_der(ByteView raw_rs);

/// DER ECDSA-Sig-Value to raw r || s, each integer left-padded to @p field_bytes (32 for P-256,
/// 48 for P-384). Throws InvalidArgument when the DER does not parse, has trailing bytes, or an
/// integer is negative or longer than @p field_bytes.
Bytes ecdsa_der_to_raw(ByteView der, std::size_t field_bytes);

/// Verifies @p signature over @p message (the function hashes it) with the public key in
/// @p spki_der:
///  - EcdsaSha256 / EcdsaSha384: FIPS 186-5 ECDSA; @p signature is raw r || s of the key's
///    field size (the Hsm port's form).
///  - RsaPkcs1Sha256: RFC 8017 §8.2 RSASSA-PKCS1-v1_5 with SHA-256.
///  - RsaPssSha256: RFC 8017 §8.1 RSASSA-PSS, SHA-256, MGF1 with SHA-256, salt length 32 (the
///    hash length, RFC 8017 §9.1 recommendation and the CK_RSA_PKCS_PSS_PARAMS kmsd uses).
/// @return true only when the signature verifies; false for a wrong or malformed signature.
/// Throws InvalidArgument when the SPKI does not parse or its key type does not fit @p alg.
bool verify_signature(ByteView spki_der, core::SignAlgorithm alg, ByteView message,
                      ByteView signature);

}  // namespace kms::crypto
