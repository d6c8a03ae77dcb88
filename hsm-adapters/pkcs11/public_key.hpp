// Public keys between PKCS#11 attributes and DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7,
// RFC 5480 for EC, RFC 3279 §2.3.1 for RSA), built and parsed with OpenSSL 3.
//
// Thread safety: pure functions.
#pragma once

#include "domain/algorithm.hpp"
#include "domain/bytes.hpp"

namespace kms::hsm {

/// The public key as PKCS#11 object attributes.
struct PublicKeyParts {
    Bytes ec_point;  ///< EC: CKA_EC_POINT, DER OCTET STRING around the uncompressed point
    Bytes modulus;   ///< RSA: CKA_MODULUS, big-endian
    Bytes exponent;  ///< RSA: CKA_PUBLIC_EXPONENT, big-endian
};

/// SPKI of an EC key of @p algorithm from its CKA_EC_POINT. Accepts the DER OCTET STRING that
/// PKCS#11 prescribes ("DER-encoding of ANSI X9.62 ECPoint value Q") and the raw point some
/// modules return.
/// Throws kms::Error(HsmError) when the point does not fit the curve.
Bytes ec_spki(core::Algorithm algorithm, ByteView ec_point);

/// SPKI of an RSA key from CKA_MODULUS and CKA_PUBLIC_EXPONENT.
Bytes rsa_spki(ByteView modulus, ByteView exponent);

/// Parses @p spki and checks it is a key of @p algorithm (EC: the curve; RSA: the modulus
/// length). Throws kms::Error(Integrity) when it is malformed or of another kind: the public
/// key comes from the store and must match the key's metadata.
PublicKeyParts parse_spki(core::Algorithm algorithm, ByteView spki);

/// The uncompressed point inside a CKA_EC_POINT value (DER OCTET STRING or raw), for a curve
/// whose point has @p point_size bytes (65 for P-256, 97 for P-384). Throws HsmError.
ByteView ec_point_octets(ByteView ec_point, std::size_t point_size);

}  // namespace kms::hsm
