// Known-answer tests of the host primitives in kms-core/crypto/host_crypto.hpp against the
// published vectors in tests/vectors (each file cites its source), plus their input checks.
#include <gtest/gtest.h>

#include <string>

#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"
#include "vector_file.hpp"

namespace kms::crypto {
namespace {

using test::read_vector_file;

/// Compares as upper-case hex so a failure prints both values readably.
#define EXPECT_BYTES_EQ(actual, expected) EXPECT_EQ(to_hex(actual), to_hex(expected))

using test::error_code_of;

TEST(VectorFile, ParsesCasesCommentsAndAsciiFields) {
    const auto cases = test::parse_vectors(
        "# comment\n\nkey = 0A0b\nmsg_ascii =  hi there \r\n\n\n# c2\nkey=\nn = 42\n", "t.txt");
    ASSERT_EQ(cases.size(), 2u);
    EXPECT_EQ(cases[0].line, 3);
    EXPECT_BYTES_EQ(cases[0].bytes("key"), from_hex("0A0B"));
    EXPECT_BYTES_EQ(cases[0].bytes("msg"), from_hex("6869207468657265"));
    EXPECT_TRUE(cases[1].bytes("key").empty());
    EXPECT_EQ(cases[1].number("n"), 42u);
    EXPECT_EQ(cases[1].where(), "t.txt:8");
}

TEST(VectorFile, RejectsMalformedInput) {
    EXPECT_THROW(test::parse_vectors("key 00\n", "t"), std::runtime_error);
    EXPECT_THROW(test::parse_vectors("= 00\n", "t"), std::runtime_error);
    EXPECT_THROW(test::parse_vectors("a = 00\na = 01\n", "t"), std::runtime_error);
    const auto cases = test::parse_vectors("a = 0g\nn = x\n", "t");
    ASSERT_EQ(cases.size(), 1u);
    EXPECT_THROW(cases[0].bytes("a"), std::runtime_error);
    EXPECT_THROW(cases[0].bytes("missing"), std::runtime_error);
    EXPECT_THROW(cases[0].number("n"), std::runtime_error);
}

// FIPS 180-2 Appendices B and D, CAVP SHA256ShortMsg (tests/vectors/sha2.txt).
TEST(HostCryptoKat, Sha2) {
    const auto cases = read_vector_file("sha2.txt");
    ASSERT_EQ(cases.size(), 6u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        const Bytes unit = c.bytes("message");
        Bytes message;
        const std::size_t repeat = c.has("repeat") ? c.number("repeat") : 1;
        for (std::size_t i = 0; i < repeat; ++i)
            message.insert(message.end(), unit.begin(), unit.end());
        const std::string& alg = c.text("algorithm");
        ASSERT_TRUE(alg == "SHA-256" || alg == "SHA-384") << alg;
        const Bytes digest = alg == "SHA-256" ? sha256(message) : sha384(message);
        EXPECT_BYTES_EQ(digest, c.bytes("digest"));
    }
}

// RFC 4231 §4.2-4.8 (tests/vectors/hmac_sha256.txt).
TEST(HostCryptoKat, HmacSha256) {
    const auto cases = read_vector_file("hmac_sha256.txt");
    ASSERT_EQ(cases.size(), 7u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        Bytes mac = hmac_sha256(c.bytes("key"), c.bytes("data"));
        ASSERT_EQ(mac.size(), 32u);
        if (c.has("truncate")) mac.resize(c.number("truncate"));
        EXPECT_BYTES_EQ(mac, c.bytes("mac"));
    }
}

// RFC 2104 §2 allows a zero-length key. Regression test: OpenSSL's EVP_MAC_init reads a NULL
// key pointer as "no key", which an empty ByteView may carry. Expected value: the HMAC_SHA256
// example of the Wikipedia "HMAC" article (empty key, empty message), cross-checked with
// Python's hmac module.
TEST(HostCryptoKat, HmacSha256EmptyKeyAndMessage) {
    EXPECT_EQ(to_hex(hmac_sha256({}, {})),
              "B613679A0814D9EC772F95D778C35FC5FF1697C493715653C6C712144292C5AD");
}

// RFC 4493 §4, SP 800-38B D.2 and D.3 (tests/vectors/aes_cmac.txt).
TEST(HostCryptoKat, AesCmac) {
    const auto cases = read_vector_file("aes_cmac.txt");
    ASSERT_EQ(cases.size(), 12u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        EXPECT_BYTES_EQ(aes_cmac(c.bytes("key"), c.bytes("message")), c.bytes("tag"));
    }
}

TEST(HostCrypto, AesCmacRejectsBadKeyLength) {
    const Bytes key(20, 0x11);
    EXPECT_EQ(error_code_of([&] { aes_cmac(key, {}); }), ErrorCode::InvalidArgument);
}

// ISO/IEC 9797-1 MAC algorithm 3, padding 2 (tests/vectors/retail_mac.txt).
TEST(HostCryptoKat, RetailMac) {
    const auto cases = read_vector_file("retail_mac.txt");
    ASSERT_EQ(cases.size(), 2u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        EXPECT_BYTES_EQ(retail_mac(c.bytes("key"), c.bytes("data")), c.bytes("mac"));
    }
}

// With K' = K, MAC algorithm 3 collapses to MAC algorithm 1 (single-DES CBC-MAC), whose
// last block is the last block of a TDEA CBC encryption under K,K,K with a zero IV; with a
// single block it is plain ECB. Structural check of the output transformation.
TEST(HostCrypto, RetailMacWithEqualHalvesIsSingleDesCbcMac) {
    const Bytes key = from_hex("0123456789ABCDEF0123456789ABCDEF");
    const Bytes data = from_hex("4E6F772069732074");  // "Now is t": one block, padded to two
    const Bytes padded = pad_iso9797_m2(data, 8);
    const Bytes first = des3_ecb_encrypt(key, ByteView(padded).first(8));
    Bytes second(8);
    for (int i = 0; i < 8; ++i) second[i] = first[i] ^ padded[8 + i];
    EXPECT_BYTES_EQ(retail_mac(key, data), des3_ecb_encrypt(key, second));
    EXPECT_EQ(to_hex(first), "3FA40E8A984D4815");  // FIPS 81 Table B1, first block
}

TEST(HostCrypto, RetailMacRejectsBadKeyLength) {
    const Bytes key(8, 0x01);
    EXPECT_EQ(error_code_of([&] { retail_mac(key, from_hex("00")); }), ErrorCode::InvalidArgument);
}

// psec test_pad_iso_2 (tests/vectors/iso9797_m2_padding.txt).
TEST(HostCryptoKat, Iso9797PaddingMethod2) {
    const auto cases = read_vector_file("iso9797_m2_padding.txt");
    ASSERT_EQ(cases.size(), 7u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        EXPECT_BYTES_EQ(pad_iso9797_m2(c.bytes("data"), c.number("block")), c.bytes("padded"));
    }
}

// SP 800-67 Rev. 2 Appendix B, FIPS 81 Table B1, CAVP TCBCMMT2 (tests/vectors/tdea_ecb.txt).
TEST(HostCryptoKat, TdeaEcb) {
    const auto cases = read_vector_file("tdea_ecb.txt");
    ASSERT_EQ(cases.size(), 3u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        EXPECT_BYTES_EQ(des3_ecb_encrypt(c.bytes("key"), c.bytes("plaintext")),
                        c.bytes("ciphertext"));
        EXPECT_BYTES_EQ(des3_ecb_decrypt(c.bytes("key"), c.bytes("ciphertext")),
                        c.bytes("plaintext"));
    }
}

TEST(HostCrypto, TdeaEcbRejectsBadInput) {
    const Bytes key16(16, 0x01), key8(8, 0x01);
    EXPECT_EQ(error_code_of([&] { des3_ecb_encrypt(key8, Bytes(8)); }), ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] { des3_ecb_encrypt(key16, Bytes(7)); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] { des3_ecb_decrypt(key8, Bytes(8)); }), ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] { des3_ecb_decrypt(key16, Bytes(7)); }),
              ErrorCode::InvalidArgument);
}

// GlobalPlatformPro and openemv/tr31 published KCVs (tests/vectors/kcv.txt).
TEST(HostCryptoKat, KeyCheckValues) {
    const auto cases = read_vector_file("kcv.txt");
    ASSERT_EQ(cases.size(), 5u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        const std::string& type = c.text("type");
        const Bytes key = c.bytes("key");
        Bytes kcv;
        if (type == "des3")
            kcv = kcv_des3(key);
        else if (type == "aes-cmac")
            kcv = kcv_aes_cmac(key);
        else if (type == "aes-gp")
            kcv = kcv_aes_gp(key);
        else
            FAIL() << "unknown KCV type " << type;
        EXPECT_BYTES_EQ(kcv, c.bytes("kcv"));
    }
}

// The CMAC-form KCV is by definition the first 3 bytes of the RFC 4493 computation over one
// zero block; tie the two together so the KCV can never drift from the MAC.
TEST(HostCrypto, AesCmacKcvIsTruncatedCmacOfZeroBlock) {
    const Bytes key = from_hex("2B7E151628AED2A6ABF7158809CF4F3C");
    Bytes mac = aes_cmac(key, Bytes(16, 0x00));
    mac.resize(3);
    EXPECT_BYTES_EQ(kcv_aes_cmac(key), mac);
}

TEST(HostCrypto, RandomBytes) {
    EXPECT_TRUE(random_bytes(0).empty());
    const Bytes a = random_bytes(32);
    const Bytes b = random_bytes(32);
    EXPECT_EQ(a.size(), 32u);
    EXPECT_NE(a, b);  // 2^-256 chance of a false failure
}

}  // namespace
}  // namespace kms::crypto
