// Tests of kms-core/crypto/public_key.hpp: SPKI builders and host verification against RFC 6979
// and NIST CAVP vectors (tests/vectors), and the ECDSA raw <-> DER conversions.
#include "crypto/public_key.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "domain/error.hpp"
#include "vector_file.hpp"

namespace kms::crypto {
namespace {

using core::Algorithm;
using core::SignAlgorithm;

#define EXPECT_BYTES_EQ(actual, expected) EXPECT_EQ(to_hex(actual), to_hex(expected))

using test::error_code_of;

Bytes concat(ByteView a, ByteView b) {
    Bytes out(a.begin(), a.end());
    out.insert(out.end(), b.begin(), b.end());
    return out;
}

Bytes flip_bit(Bytes b, std::size_t byte, int bit = 0) {
    b.at(byte) ^= static_cast<std::uint8_t>(1u << bit);
    return b;
}

// RFC 6979 A.2.5 / A.2.6 (tests/vectors/ecdsa_rfc6979.txt).
TEST(PublicKeyKat, EcdsaRfc6979) {
    const auto cases = test::read_vector_file("ecdsa_rfc6979.txt");
    ASSERT_EQ(cases.size(), 4u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        const bool p256 = c.text("curve") == "P-256";
        const Algorithm curve = p256 ? Algorithm::EcP256 : Algorithm::EcP384;
        const SignAlgorithm alg =
            c.text("hash") == "SHA-256" ? SignAlgorithm::EcdsaSha256 : SignAlgorithm::EcdsaSha384;
        const Bytes point = concat(concat(from_hex("04"), c.bytes("ux")), c.bytes("uy"));
        const Bytes spki = ec_public_key_spki(curve, point);
        EXPECT_BYTES_EQ(spki, c.bytes("spki"));
        EXPECT_EQ(spki_algorithm(spki), curve);

        const Bytes message = c.bytes("message");
        const Bytes signature = concat(c.bytes("r"), c.bytes("s"));
        EXPECT_TRUE(verify_signature(spki, alg, message, signature));
        // Any change must be rejected: a bit of r, a bit of s, the message, the hash.
        EXPECT_FALSE(verify_signature(spki, alg, message, flip_bit(signature, 3)));
        EXPECT_FALSE(
            verify_signature(spki, alg, message, flip_bit(signature, signature.size() - 1, 7)));
        EXPECT_FALSE(verify_signature(spki, alg, flip_bit(message, 0), signature));
        const SignAlgorithm other = alg == SignAlgorithm::EcdsaSha256 ? SignAlgorithm::EcdsaSha384
                                                                      : SignAlgorithm::EcdsaSha256;
        EXPECT_FALSE(verify_signature(spki, other, message, signature));
        // A truncated signature is an answer (false), not an error.
        EXPECT_FALSE(
            verify_signature(spki, alg, message, ByteView(signature).first(signature.size() - 1)));
        EXPECT_EQ(error_code_of([&] {
                      verify_signature(spki, SignAlgorithm::RsaPkcs1Sha256, message, signature);
                  }),
                  ErrorCode::InvalidArgument);
    }
}

// NIST CAVP SigGen15_186-3 [mod = 2048] SHA-256 (tests/vectors/rsa_pkcs1v15_sha256.txt).
TEST(PublicKeyKat, RsaPkcs1v15Sha256) {
    const auto cases = test::read_vector_file("rsa_pkcs1v15_sha256.txt");
    ASSERT_EQ(cases.size(), 1u);
    const auto& c = cases[0];
    const Bytes spki = rsa_public_key_spki(c.bytes("n"), c.bytes("e"));
    EXPECT_EQ(spki_algorithm(spki), Algorithm::Rsa2048);
    const Bytes message = c.bytes("message");
    const Bytes signature = c.bytes("signature");
    EXPECT_TRUE(verify_signature(spki, SignAlgorithm::RsaPkcs1Sha256, message, signature));
    EXPECT_FALSE(
        verify_signature(spki, SignAlgorithm::RsaPkcs1Sha256, message, flip_bit(signature, 100)));
    EXPECT_FALSE(
        verify_signature(spki, SignAlgorithm::RsaPkcs1Sha256, flip_bit(message, 5), signature));
    EXPECT_FALSE(verify_signature(spki, SignAlgorithm::RsaPssSha256, message, signature));
    EXPECT_EQ(error_code_of(
                  [&] { verify_signature(spki, SignAlgorithm::EcdsaSha256, message, signature); }),
              ErrorCode::InvalidArgument);
}

// RSA-PSS: the host check insists on MGF1-SHA-256 and a 32-byte salt (RFC 8017 §9.1, the
// parameters kmsd gives PKCS#11), so a signature made with another salt length fails.
TEST(PublicKey, RsaPssRequiresSaltLengthOfHash) {
    EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
    ASSERT_NE(raw, nullptr);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(raw, EVP_PKEY_free);
    unsigned char* der = nullptr;
    const int der_len = i2d_PUBKEY(key.get(), &der);
    ASSERT_GT(der_len, 0);
    const Bytes spki(der, der + der_len);
    OPENSSL_free(der);
    const Bytes message = from_hex("0102030405");

    const auto sign = [&](int salt) {
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                    EVP_MD_CTX_free);
        EVP_PKEY_CTX* pctx = nullptr;
        EXPECT_EQ(
            EVP_DigestSignInit_ex(ctx.get(), &pctx, "SHA256", nullptr, nullptr, key.get(), nullptr),
            1);
        EXPECT_EQ(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        EXPECT_EQ(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt), 1);
        size_t len = 0;
        EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, message.data(), message.size()), 1);
        Bytes sig(len);
        EXPECT_EQ(EVP_DigestSign(ctx.get(), sig.data(), &len, message.data(), message.size()), 1);
        sig.resize(len);
        return sig;
    };
    EXPECT_TRUE(verify_signature(spki, SignAlgorithm::RsaPssSha256, message, sign(32)));
    EXPECT_FALSE(verify_signature(spki, SignAlgorithm::RsaPssSha256, message, sign(20)));
    EXPECT_FALSE(verify_signature(spki, SignAlgorithm::RsaPkcs1Sha256, message, sign(32)));
}

TEST(PublicKey, EcSpkiRejectsBadPoints) {
    const Bytes good = from_hex(
        "0460FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
        "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299");
    EXPECT_NO_THROW(ec_public_key_spki(Algorithm::EcP256, good));
    // Not on the curve: the last bit of Uy flipped (SP 800-56A Rev. 3 §5.6.2.3.3).
    EXPECT_EQ(error_code_of([&] { ec_public_key_spki(Algorithm::EcP256, flip_bit(good, 64)); }),
              ErrorCode::InvalidArgument);
    // Compressed prefix, wrong length, wrong curve, not an EC algorithm.
    Bytes compressed = good;
    compressed[0] = 0x02;
    EXPECT_EQ(error_code_of([&] { ec_public_key_spki(Algorithm::EcP256, compressed); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(
        error_code_of([&] { ec_public_key_spki(Algorithm::EcP256, ByteView(good).first(64)); }),
        ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] { ec_public_key_spki(Algorithm::EcP384, good); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] { ec_public_key_spki(Algorithm::Aes256, good); }),
              ErrorCode::InvalidArgument);
}

TEST(PublicKey, RsaSpkiRejectsBadComponents) {
    const Bytes n(256, 0xC3);
    EXPECT_EQ(error_code_of([&] { rsa_public_key_spki({}, from_hex("010001")); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] { rsa_public_key_spki(n, from_hex("010000")); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] { rsa_public_key_spki(n, from_hex("00")); }),
              ErrorCode::InvalidArgument);
}

TEST(PublicKey, SpkiAlgorithmOfGarbageIsEmpty) {
    EXPECT_FALSE(spki_algorithm({}).has_value());
    EXPECT_FALSE(spki_algorithm(from_hex("3003020101")).has_value());
    EXPECT_EQ(error_code_of([&] {
                  verify_signature(from_hex("3003020101"), SignAlgorithm::EcdsaSha256, {}, {});
              }),
              ErrorCode::InvalidArgument);
}

// RFC 3279 §2.2.3 ECDSA-Sig-Value, built by hand from the RFC 6979 A.2.5 signatures: an
// integer with its top bit set gets a 00 prefix (X.690 §8.3.2: INTEGER is two's complement),
// and a leading zero octet of the raw form is dropped (minimal encoding).
TEST(EcdsaEncoding, RawToDerAndBack) {
    const std::string r1 = "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716";
    const std::string s1 = "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8";
    const Bytes raw1 = from_hex(r1 + s1);
    const Bytes der1 = from_hex("3046022100" + r1 + "022100" + s1);
    EXPECT_BYTES_EQ(ecdsa_raw_to_der(raw1), der1);
    EXPECT_BYTES_EQ(ecdsa_der_to_raw(der1, 32), raw1);

    const std::string r2 = "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367";
    const std::string s2 = "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083";
    const Bytes raw2 = from_hex(r2 + s2);
    const Bytes der2 = from_hex("3045022100" + r2 + "0220" + s2);
    EXPECT_BYTES_EQ(ecdsa_raw_to_der(raw2), der2);
    EXPECT_BYTES_EQ(ecdsa_der_to_raw(der2, 32), raw2);

    // Small values are left-padded back to the field size.
    const Bytes five = concat(Bytes(31, 0), from_hex("05"));
    const Bytes raw_small = concat(five, five);
    EXPECT_BYTES_EQ(ecdsa_raw_to_der(raw_small), from_hex("3006020105020105"));
    EXPECT_BYTES_EQ(ecdsa_der_to_raw(from_hex("3006020105020105"), 32), raw_small);
}

TEST(EcdsaEncoding, RejectsMalformedInput) {
    EXPECT_EQ(error_code_of([&] { ecdsa_raw_to_der({}); }), ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] { ecdsa_raw_to_der(Bytes(63, 1)); }), ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] { ecdsa_raw_to_der(Bytes(134, 1)); }), ErrorCode::InvalidArgument);
    const Bytes der = from_hex("3006020105020105");
    EXPECT_EQ(error_code_of([&] { ecdsa_der_to_raw(concat(der, from_hex("00")), 32); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] { ecdsa_der_to_raw(ByteView(der).first(7), 32); }),
              ErrorCode::InvalidArgument);
    // A 32-byte integer does not fit a 16-byte field.
    const Bytes big = from_hex(
        "3046022100EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"
        "022100F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8");
    EXPECT_EQ(error_code_of([&] { ecdsa_der_to_raw(big, 16); }), ErrorCode::InvalidArgument);
    // Negative integer (top bit set without the 00 prefix).
    EXPECT_EQ(error_code_of([&] { ecdsa_der_to_raw(from_hex("30060201FF020105"), 32); }),
              ErrorCode::InvalidArgument);
}

}  // namespace
}  // namespace kms::crypto
