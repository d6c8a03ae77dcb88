// RFC 3394 / RFC 5649 with OpenSSL 3's wrap ciphers (see key_wrap.hpp).
#include "crypto/key_wrap.hpp"

#include <openssl/evp.h>

#include "crypto/ossl.hpp"
#include "domain/error.hpp"

namespace kms::crypto {

namespace {

struct CipherDeleter {
    void operator()(EVP_CIPHER* c) const { EVP_CIPHER_free(c); }
};
struct CipherCtxDeleter {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

const char* wrap_name(std::size_t kek_size, bool pad) {
    switch (kek_size) {
        case 16:
            return pad ? "AES-128-WRAP-PAD" : "AES-128-WRAP";
        case 24:
            return pad ? "AES-192-WRAP-PAD" : "AES-192-WRAP";
        case 32:
            return pad ? "AES-256-WRAP-PAD" : "AES-256-WRAP";
        default:
            throw Error(ErrorCode::InvalidArgument, "AES key wrap needs a 16-, 24- or 32-byte KEK");
    }
}

/// Runs the wrap cipher; returns false when the final step fails (unwrap: the ICV check).
bool run(ByteView kek, bool pad, bool encrypt, ByteView in, std::uint8_t* out, std::size_t& out_len) {
    std::unique_ptr<EVP_CIPHER, CipherDeleter> c(
        EVP_CIPHER_fetch(nullptr, wrap_name(kek.size(), pad), nullptr));
    if (!c) detail::openssl_fail("EVP_CIPHER_fetch(AES wrap)");
    std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> ctx(EVP_CIPHER_CTX_new());
    if (!ctx) detail::openssl_fail("EVP_CIPHER_CTX_new");
    if (EVP_CipherInit_ex2(ctx.get(), c.get(), kek.data(), nullptr, encrypt ? 1 : 0, nullptr) != 1)
        detail::openssl_fail("EVP_CipherInit_ex2");
    int len = 0;
    if (EVP_CipherUpdate(ctx.get(), out, &len, in.data(), static_cast<int>(in.size())) != 1) {
        ERR_clear_error();
        return false;
    }
    int fin = 0;
    if (EVP_CipherFinal_ex(ctx.get(), out + len, &fin) != 1) {
        ERR_clear_error();
        return false;
    }
    out_len = static_cast<std::size_t>(len + fin);
    return true;
}

}  // namespace

Bytes aes_key_wrap(ByteView kek, ByteView key, bool with_padding) {
    if (with_padding ? key.empty() : (key.size() < 16 || key.size() % 8 != 0))
        throw Error(ErrorCode::InvalidArgument,
                    with_padding ? "AES-KWP needs a non-empty key"
                                 : "AES-KW needs a key of a multiple of 8 bytes, at least 16");
    Bytes out(key.size() + 16);
    std::size_t len = 0;
    if (!run(kek, with_padding, true, key, out.data(), len))
        throw Error(ErrorCode::Internal, "AES key wrap failed");
    out.resize(len);
    return out;
}

SecureBytes aes_key_unwrap(ByteView kek, ByteView wrapped, bool with_padding) {
    if (wrapped.size() < 16 || wrapped.size() % 8 != 0)
        throw Error(ErrorCode::VerificationFailed, "wrapped key has an invalid length");
    SecureBytes buffer(wrapped.size());
    std::size_t len = 0;
    if (!run(kek, with_padding, false, wrapped, buffer.data(), len))
        throw Error(ErrorCode::VerificationFailed, "wrapped key does not verify under the KEK");
    return SecureBytes(buffer.data(), len);
}

}  // namespace kms::crypto
