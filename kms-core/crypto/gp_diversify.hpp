// GlobalPlatform static card key diversification (VISA2, EMV CPS 1.1): the 16-byte
// diversification input built from the key diversification data (KDD) that INITIALIZE UPDATE
// returns, and a host derivation from a clear master key (KMC) for tests and the host fallback.
// The HSM path encrypts the same input with CKM_DES3_ECB_ENCRYPT_DATA under the KMC.
#pragma once

#include <cstdint>

#include "domain/bytes.hpp"
#include "domain/secure_bytes.hpp"

namespace kms::crypto {

enum class GpDiversification {
    /// "VISA2" (Visa GP 2.1.1 card implementation requirements; GlobalPlatformPro's
    /// PlaintextKeys.fillVisa2): KDD[0..1] || KDD[4..7] || F0 k || KDD[0..1] || KDD[4..7] || 0F k.
    Visa2,
    /// EMV Card Personalization Specification 1.1 (the KDD ends with the 6-byte CSN): KDD[4..9] ||
    /// F0 k || KDD[4..9] || 0F k.
    EmvCps11,
};

/// Which static key is diversified; the value is the byte k in the layouts above.
enum class GpKeyPurpose : std::uint8_t { Enc = 0x01, Mac = 0x02, Dek = 0x03 };

/// The 16-byte block to encrypt under the KMC for @p purpose. Pure and not secret (the KDD is
/// sent in clear by the card). Throws Error(InvalidArgument) when @p kdd is not 10 bytes.
Bytes gp_diversification_input(GpDiversification method, ByteView kdd, GpKeyPurpose purpose);

/// Host derivation: two-key TDEA-ECB (K1,K2,K1) of gp_diversification_input() under @p kmc
/// (16 bytes). The result is a 16-byte DES3 key; parity bits are left as computed (cards and
/// GlobalPlatformPro do the same, and DES ignores them). Throws Error(InvalidArgument) on a KMC
/// that is not 16 bytes or a KDD that is not 10 bytes.
SecureBytes gp_diversify_key(GpDiversification method, ByteView kmc, ByteView kdd,
                             GpKeyPurpose purpose);

}  // namespace kms::crypto
