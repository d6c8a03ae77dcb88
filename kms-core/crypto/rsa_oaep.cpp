// RSA-OAEP SHA-256 on the host (see rsa_oaep.hpp).
#include "crypto/rsa_oaep.hpp"

#include <openssl/rsa.h>

#include <cstring>

#include "crypto/ossl.hpp"
#include "domain/error.hpp"

namespace kms::crypto {

namespace {

constexpr std::size_t kHashLen = 32;

void sha256_into(ByteView a, const std::uint8_t* b, std::size_t b_len, std::uint8_t out[32]) {
    detail::MdCtxPtr ctx(EVP_MD_CTX_new());
    unsigned int len = 0;
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx.get(), a.data(), a.size()) != 1 ||
        (b_len != 0 && EVP_DigestUpdate(ctx.get(), b, b_len) != 1) ||
        EVP_DigestFinal_ex(ctx.get(), out, &len) != 1)
        detail::openssl_fail("SHA-256");
}

/// out ^= MGF1-SHA256(seed, out_len) (RFC 8017 §B.2.1).
void xor_mgf1(ByteView seed, std::uint8_t* out, std::size_t out_len) {
    std::uint8_t block[kHashLen];
    for (std::uint32_t counter = 0; out_len > 0; ++counter) {
        const std::uint8_t c[4] = {static_cast<std::uint8_t>(counter >> 24),
                                   static_cast<std::uint8_t>(counter >> 16),
                                   static_cast<std::uint8_t>(counter >> 8),
                                   static_cast<std::uint8_t>(counter)};
        sha256_into(seed, c, 4, block);
        const std::size_t n = out_len < kHashLen ? out_len : kHashLen;
        for (std::size_t i = 0; i < n; ++i) out[i] ^= block[i];
        out += n;
        out_len -= n;
    }
    secure_wipe(block, sizeof block);
}

/// 0xFF when @p a == @p b, else 0, without branches.
std::uint8_t eq_mask(std::uint8_t a, std::uint8_t b) {
    const unsigned x = static_cast<unsigned>(a ^ b);
    return static_cast<std::uint8_t>(((x - 1u) >> 8) & 0xFFu);
}

}  // namespace

Bytes rsa_oaep_sha256_encrypt(ByteView spki_der, ByteView message) {
    const unsigned char* p = spki_der.data();
    detail::PkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size())));
    if (!key || p != spki_der.data() + spki_der.size())
        detail::invalid("RSA-OAEP: the recipient's public key does not parse");
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA)
        detail::invalid("RSA-OAEP: the recipient's key is not an RSA key");
    const std::size_t k = static_cast<std::size_t>(EVP_PKEY_get_size(key.get()));
    if (message.size() > k - 2 * kHashLen - 2)
        detail::invalid("RSA-OAEP: the key is too long for the recipient's modulus");
    detail::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) != 1)
        detail::openssl_fail("RSA-OAEP init");
    std::size_t len = k;
    Bytes out(k);
    if (EVP_PKEY_encrypt(ctx.get(), out.data(), &len, message.data(), message.size()) != 1)
        detail::openssl_fail("EVP_PKEY_encrypt");
    out.resize(len);
    return out;
}

SecureBytes oaep_sha256_decode(ByteView em) {
    const std::size_t k = em.size();
    if (k < 2 * kHashLen + 2)
        throw Error(ErrorCode::VerificationFailed, "RSA-OAEP decryption failed");
    const std::size_t db_len = k - kHashLen - 1;
    SecureBytes seed(em.data() + 1, kHashLen);
    SecureBytes db(em.data() + 1 + kHashLen, db_len);
    xor_mgf1(db.view(), seed.data(), kHashLen);
    xor_mgf1(seed.view(), db.data(), db_len);

    std::uint8_t lhash[kHashLen];
    sha256_into(ByteView(), nullptr, 0, lhash);  // SHA-256 of the empty label
    std::uint8_t good = eq_mask(em[0], 0);
    std::uint8_t diff = 0;
    for (std::size_t i = 0; i < kHashLen; ++i) diff |= static_cast<std::uint8_t>(db[i] ^ lhash[i]);
    good &= eq_mask(diff, 0);
    // DB = lHash' || PS (zeros) || 0x01 || M: find the first 0x01 over the whole buffer.
    std::uint8_t found = 0, bad_ps = 0;
    std::size_t index = 0;
    for (std::size_t i = kHashLen; i < db_len; ++i) {
        const std::uint8_t is_one = eq_mask(db[i], 1);
        const std::uint8_t is_zero = eq_mask(db[i], 0);
        const std::uint8_t first = static_cast<std::uint8_t>(is_one & ~found);
        const std::size_t mask = static_cast<std::size_t>(0) - static_cast<std::size_t>(first & 1);
        index = (index & ~mask) | (i & mask);
        bad_ps |= static_cast<std::uint8_t>(~found & ~is_one & ~is_zero);
        found |= is_one;
    }
    good &= static_cast<std::uint8_t>(found & ~bad_ps);
    if (good != 0xFF) throw Error(ErrorCode::VerificationFailed, "RSA-OAEP decryption failed");
    return SecureBytes(db.data() + index + 1, db_len - index - 1);
}

}  // namespace kms::crypto
