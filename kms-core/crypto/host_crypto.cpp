// OpenSSL 3 implementations of the host-side primitives (see host_crypto.hpp).
#include "host_crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>

#include "domain/error.hpp"
#include "domain/secure_bytes.hpp"

namespace kms::crypto {

namespace {

[[noreturn]] void fail(const char* what) {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    throw Error(ErrorCode::Internal, std::string("host crypto: ") + what, NativeKind::OpenSsl, e);
}

struct CipherCtxFree {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
struct MacFree {
    void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
};
struct MacCtxFree {
    void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
struct CipherFree {
    void operator()(EVP_CIPHER* c) const { EVP_CIPHER_free(c); }
};

Bytes mac(const char* mac_name, const char* param_name, const char* param_value, ByteView key,
          ByteView data) {
    std::unique_ptr<EVP_MAC, MacFree> m(EVP_MAC_fetch(nullptr, mac_name, nullptr));
    if (!m) fail("EVP_MAC_fetch");
    std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_new(m.get()));
    if (!ctx) fail("EVP_MAC_CTX_new");
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(param_name, const_cast<char*>(param_value), 0),
        OSSL_PARAM_construct_end()};
    // EVP_MAC_init treats a NULL key as "keep the previous key", so an empty key (whose
    // data() may be NULL) would fail with "no key set". RFC 2104 §2 allows a zero-length HMAC
    // key; hand OpenSSL a valid pointer with length 0 instead.
    static const std::uint8_t kNoKey[1] = {0};
    const std::uint8_t* key_ptr = key.empty() ? kNoKey : key.data();
    if (EVP_MAC_init(ctx.get(), key_ptr, key.size(), params) != 1) fail("EVP_MAC_init");
    if (EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1) fail("EVP_MAC_update");
    Bytes out(EVP_MAX_MD_SIZE);
    size_t len = 0;
    if (EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1) fail("EVP_MAC_final");
    out.resize(len);
    return out;
}

/// ECB without padding over whole blocks with the named cipher.
Bytes ecb(const char* cipher_name, ByteView key, ByteView data, bool encrypt) {
    std::unique_ptr<EVP_CIPHER, CipherFree> c(EVP_CIPHER_fetch(nullptr, cipher_name, nullptr));
    if (!c) fail("EVP_CIPHER_fetch");
    std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
    if (!ctx) fail("EVP_CIPHER_CTX_new");
    if (EVP_CipherInit_ex2(ctx.get(), c.get(), key.data(), nullptr, encrypt ? 1 : 0, nullptr) != 1)
        fail("EVP_CipherInit_ex2");
    EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
    Bytes out(data.size() + 32);
    int len = 0, fin = 0;
    if (EVP_CipherUpdate(ctx.get(), out.data(), &len, data.data(), static_cast<int>(data.size())) !=
        1)
        fail("EVP_CipherUpdate");
    if (EVP_CipherFinal_ex(ctx.get(), out.data() + len, &fin) != 1) fail("EVP_CipherFinal_ex");
    out.resize(static_cast<std::size_t>(len + fin));
    return out;
}

void require(bool ok, const char* what) {
    if (!ok) throw Error(ErrorCode::InvalidArgument, what);
}

/// Single-DES encryption of one 8-byte block under @p k (8 bytes). OpenSSL 3 keeps DES-ECB in
/// the legacy provider, which kmsd does not load; EDE with K1 = K2 is the same permutation
/// (E_K(D_K(E_K(x))) = E_K(x): SP 800-67 Rev. 1 keying option 3, K1 = K2 = K3, kept there for
/// backward compatibility with DES), so use DES-EDE-ECB.
void des_encrypt_block(ByteView k, const std::uint8_t in[8], std::uint8_t out[8]) {
    std::uint8_t kk[16];
    std::copy(k.begin(), k.end(), kk);
    std::copy(k.begin(), k.end(), kk + 8);
    const Bytes e = ecb("DES-EDE-ECB", ByteView(kk, 16), ByteView(in, 8), true);
    secure_wipe(kk, sizeof kk);
    std::copy(e.begin(), e.end(), out);
}

}  // namespace

Bytes sha256(ByteView data) {
    Bytes out(32);
    size_t len = 0;
    if (EVP_Q_digest(nullptr, "SHA256", nullptr, data.data(), data.size(), out.data(), &len) != 1)
        fail("SHA-256");
    return out;
}

Bytes sha384(ByteView data) {
    Bytes out(48);
    size_t len = 0;
    if (EVP_Q_digest(nullptr, "SHA384", nullptr, data.data(), data.size(), out.data(), &len) != 1)
        fail("SHA-384");
    return out;
}

Bytes hmac_sha256(ByteView key, ByteView data) {
    return mac("HMAC", OSSL_MAC_PARAM_DIGEST, "SHA256", key, data);
}

namespace {
Bytes aes_cbc(ByteView key, ByteView iv, ByteView data, bool encrypt) {
    const EVP_CIPHER* cipher = key.size() == 16   ? EVP_aes_128_cbc()
                               : key.size() == 24 ? EVP_aes_192_cbc()
                               : key.size() == 32 ? EVP_aes_256_cbc()
                                                  : nullptr;
    if (cipher == nullptr || iv.size() != 16 || data.size() % 16 != 0)
        throw Error(ErrorCode::InvalidArgument,
                    "AES-CBC needs a 16-, 24- or 32-byte key, a 16-byte IV and whole blocks");
    std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                        &EVP_CIPHER_CTX_free);
    if (!ctx) fail("EVP_CIPHER_CTX_new");
    if (EVP_CipherInit_ex(ctx.get(), cipher, nullptr, key.data(), iv.data(), encrypt ? 1 : 0) != 1)
        fail("EVP_CipherInit_ex");
    EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
    Bytes out(data.size() + 16);
    int len = 0, fin = 0;
    if (EVP_CipherUpdate(ctx.get(), out.data(), &len, data.data(), static_cast<int>(data.size())) !=
        1)
        fail("EVP_CipherUpdate");
    if (EVP_CipherFinal_ex(ctx.get(), out.data() + len, &fin) != 1)
        fail("EVP_CipherFinal_ex");
    out.resize(static_cast<std::size_t>(len + fin));
    return out;
}
}  // namespace

Bytes aes_cbc_encrypt(ByteView key, ByteView iv, ByteView data) {
    return aes_cbc(key, iv, data, true);
}

Bytes aes_cbc_decrypt(ByteView key, ByteView iv, ByteView data) {
    return aes_cbc(key, iv, data, false);
}

Bytes aes_cmac(ByteView key, ByteView data) {
    require(key.size() == 16 || key.size() == 24 || key.size() == 32, "AES key length");
    const char* cipher = key.size() == 16   ? "AES-128-CBC"
                         : key.size() == 24 ? "AES-192-CBC"
                                            : "AES-256-CBC";
    return mac("CMAC", OSSL_MAC_PARAM_CIPHER, cipher, key, data);
}

Bytes des3_ecb_encrypt(ByteView key, ByteView data) {
    require(key.size() == 16 || key.size() == 24, "DES3 key length");
    require(data.size() % 8 == 0, "DES3 data must be whole 8-byte blocks");
    return ecb(key.size() == 16 ? "DES-EDE-ECB" : "DES-EDE3-ECB", key, data, true);
}

Bytes des3_ecb_decrypt(ByteView key, ByteView data) {
    require(key.size() == 16 || key.size() == 24, "DES3 key length");
    require(data.size() % 8 == 0, "DES3 data must be whole 8-byte blocks");
    return ecb(key.size() == 16 ? "DES-EDE-ECB" : "DES-EDE3-ECB", key, data, false);
}

Bytes pad_iso9797_m2(ByteView data, std::size_t block) {
    Bytes out(data.begin(), data.end());
    out.push_back(0x80);
    while (out.size() % block != 0) out.push_back(0x00);
    return out;
}

Bytes retail_mac(ByteView key, ByteView data) {
    require(key.size() == 16 || key.size() == 24, "DES3 key length");
    // ISO/IEC 9797-1:2011 §7.4 (MAC algorithm 3): initial transformation 1, iteration with
    // single DES under K, output transformation 3: G = e_K(d_K'(H_q)). Folding the last
    // iteration into the output step gives TDEA-EDE(K1,K2,K1 | K3) on (H_{q-1} XOR D_q).
    const Bytes padded = pad_iso9797_m2(data, 8);
    const ByteView k1 = key.subspan(0, 8);
    std::uint8_t chain[8] = {0};
    const std::size_t blocks = padded.size() / 8;
    for (std::size_t b = 0; b + 1 < blocks; ++b) {
        std::uint8_t x[8];
        for (int i = 0; i < 8; ++i) x[i] = chain[i] ^ padded[b * 8 + i];
        des_encrypt_block(k1, x, chain);
        secure_wipe(x, sizeof x);
    }
    std::uint8_t last[8];
    for (int i = 0; i < 8; ++i) last[i] = chain[i] ^ padded[(blocks - 1) * 8 + i];
    Bytes out = des3_ecb_encrypt(key, ByteView(last, 8));
    secure_wipe(chain, sizeof chain);
    secure_wipe(last, sizeof last);
    return out;
}

Bytes kcv_des3(ByteView key) {
    const std::uint8_t zero[8] = {0};
    Bytes e = des3_ecb_encrypt(key, ByteView(zero, 8));
    e.resize(3);
    return e;
}

Bytes kcv_aes_cmac(ByteView key) {
    const std::uint8_t zero[16] = {0};
    Bytes m = aes_cmac(key, ByteView(zero, 16));
    m.resize(3);
    return m;
}

Bytes kcv_aes_gp(ByteView key) {
    require(key.size() == 16 || key.size() == 24 || key.size() == 32, "AES key length");
    std::uint8_t ones[16];
    std::fill(std::begin(ones), std::end(ones), 0x01);
    const char* cipher = key.size() == 16   ? "AES-128-ECB"
                         : key.size() == 24 ? "AES-192-ECB"
                                            : "AES-256-ECB";
    Bytes e = ecb(cipher, key, ByteView(ones, 16), true);
    e.resize(3);
    return e;
}

Bytes random_bytes(std::size_t n) {
    Bytes out(n);
    if (n != 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1) fail("RAND_bytes");
    return out;
}

}  // namespace kms::crypto
