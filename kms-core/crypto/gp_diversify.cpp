// VISA2 and EMV CPS 1.1 diversification of GlobalPlatform static keys (see gp_diversify.hpp).
#include "gp_diversify.hpp"

#include "domain/error.hpp"
#include "host_crypto.hpp"

namespace kms::crypto {

Bytes gp_diversification_input(GpDiversification method, ByteView kdd, GpKeyPurpose purpose) {
    if (kdd.size() != 10) {
        throw Error(ErrorCode::InvalidArgument, "key diversification data must be 10 bytes");
    }
    const auto k = static_cast<std::uint8_t>(purpose);
    Bytes half;
    if (method == GpDiversification::Visa2) {
        half.assign(kdd.begin(), kdd.begin() + 2);
        half.insert(half.end(), kdd.begin() + 4, kdd.begin() + 8);
    } else {
        half.assign(kdd.begin() + 4, kdd.begin() + 10);
    }
    Bytes out(half);
    out.push_back(0xF0);
    out.push_back(k);
    out.insert(out.end(), half.begin(), half.end());
    out.push_back(0x0F);
    out.push_back(k);
    return out;
}

SecureBytes gp_diversify_key(GpDiversification method, ByteView kmc, ByteView kdd,
                             GpKeyPurpose purpose) {
    if (kmc.size() != 16) {
        throw Error(ErrorCode::InvalidArgument, "master key (KMC) must be a 16-byte DES3 key");
    }
    Bytes key = des3_ecb_encrypt(kmc, gp_diversification_input(method, kdd, purpose));
    SecureBytes out(key);
    secure_wipe(key.data(), key.size());
    return out;
}

}  // namespace kms::crypto
