// Known-answer tests through import_secret + the HSM operations, from the published vectors in
// tests/hsm/vectors (each file cites its source). Exact bytes, both directions.
#include "crypto/host_crypto.hpp"
#include "pkcs11/object_templates.hpp"
#include "support.hpp"

namespace kms::hsm::test {
namespace {

using core::Algorithm;
using core::CipherMode;
using core::MacAlgorithm;
using core::SignAlgorithm;
using core::Usage;

Algorithm aes_for(std::size_t key_bytes) {
    return key_bytes == 16   ? Algorithm::Aes128
           : key_bytes == 24 ? Algorithm::Aes192
                             : Algorithm::Aes256;
}

/// A key imported from a vector, with the KeyRef onto it.
struct Imported {
    core::KeySpec spec;
    core::GeneratedKey key;
    core::KeyRef ref() const { return test::ref(spec, key); }
};

Imported import(Algorithm a, const Bytes& value, core::UsageMask u) {
    Imported out{{unique_id("kat"), 1, a, u}, {}};
    out.key = shared_hsm().import_secret(out.spec, SecureBytes(value.data(), value.size()));
    return out;
}

TEST(KnownAnswer, AesCmacRfc4493AndSp800_38b) {
    const auto records = read_vectors("aes_cmac.txt");
    ASSERT_EQ(records.size(), 12u);
    for (const auto& r : records) {
        const Bytes key = hex_field(r, "key");
        const auto k = import(aes_for(key.size()), key, usage({Usage::Mac}));
        EXPECT_EQ(to_hex(shared_hsm().mac(k.ref(), MacAlgorithm::AesCmac, hex_field(r, "msg"))),
                  to_hex(hex_field(r, "mac")))
            << r.at("name");
    }
}

TEST(KnownAnswer, HmacSha256Wycheproof) {
    const auto records = read_vectors("hmac_sha256.txt");
    ASSERT_EQ(records.size(), 5u);
    for (const auto& r : records) {
        const auto k = import(Algorithm::HmacSha256, hex_field(r, "key"), usage({Usage::Mac}));
        EXPECT_EQ(to_hex(shared_hsm().mac(k.ref(), MacAlgorithm::HmacSha256, hex_field(r, "msg"))),
                  to_hex(hex_field(r, "mac")))
            << r.at("name");
    }
}

TEST(KnownAnswer, AesCbcSp800_38a) {
    for (const auto& r : read_vectors("aes_cbc.txt")) {
        const Bytes key = hex_field(r, "key");
        const auto k = import(aes_for(key.size()), key, usage({Usage::Encrypt, Usage::Decrypt}));
        const Bytes iv = hex_field(r, "iv");
        const core::CipherParams p{CipherMode::AesCbc, iv, {}};
        EXPECT_EQ(to_hex(shared_hsm().encrypt(k.ref(), p, hex_field(r, "plaintext"))),
                  to_hex(hex_field(r, "ciphertext")))
            << r.at("name");
        EXPECT_EQ(to_hex(shared_hsm().decrypt(k.ref(), p, hex_field(r, "ciphertext"))),
                  to_hex(hex_field(r, "plaintext")))
            << r.at("name");
    }
}

TEST(KnownAnswer, AesGcmMcGrewViega) {
    const auto records = read_vectors("aes_gcm.txt");
    ASSERT_EQ(records.size(), 3u);
    for (const auto& r : records) {
        const Bytes key = hex_field(r, "key");
        const auto k = import(aes_for(key.size()), key, usage({Usage::Encrypt, Usage::Decrypt}));
        const Bytes iv = hex_field(r, "iv"), aad = hex_field(r, "aad");
        const core::CipherParams p{CipherMode::AesGcm, iv, aad};
        Bytes expected = hex_field(r, "ciphertext");
        const Bytes tag = hex_field(r, "tag");
        expected.insert(expected.end(), tag.begin(), tag.end());
        EXPECT_EQ(to_hex(shared_hsm().encrypt(k.ref(), p, hex_field(r, "plaintext"))),
                  to_hex(expected))
            << r.at("name");
        EXPECT_EQ(to_hex(shared_hsm().decrypt(k.ref(), p, expected)),
                  to_hex(hex_field(r, "plaintext")))
            << r.at("name");

        // A wrong tag, a changed ciphertext byte or other AAD: VerificationFailed.
        Bytes bad_tag = expected;
        bad_tag.back() ^= 0x01;
        expect_error(ErrorCode::VerificationFailed,
                     [&] { shared_hsm().decrypt(k.ref(), p, bad_tag); });
        Bytes bad_ct = expected;
        bad_ct[0] ^= 0x80;
        expect_error(ErrorCode::VerificationFailed,
                     [&] { shared_hsm().decrypt(k.ref(), p, bad_ct); });
        const Bytes other_aad = text_bytes("other");
        expect_error(ErrorCode::VerificationFailed, [&] {
            shared_hsm().decrypt(k.ref(), {CipherMode::AesGcm, iv, other_aad}, expected);
        });
        // The session is usable after the failure (the operation was terminated).
        EXPECT_EQ(shared_hsm().decrypt(k.ref(), p, expected), hex_field(r, "plaintext"));
    }
}

TEST(KnownAnswer, WrongGcmTagKeepsTheNativeCode) {
    const auto r = read_vectors("aes_gcm.txt")[1];
    const auto k = import(Algorithm::Aes128, hex_field(r, "key"), usage({Usage::Decrypt}));
    const Bytes iv = hex_field(r, "iv"), aad = hex_field(r, "aad");
    Bytes ct = hex_field(r, "ciphertext");
    ct.resize(ct.size() + 16, 0);  // an all-zero tag
    try {
        shared_hsm().decrypt(k.ref(), {CipherMode::AesGcm, iv, aad}, ct);
        FAIL() << "a wrong tag must not decrypt";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::VerificationFailed);
        EXPECT_EQ(e.native_kind(), NativeKind::CkRv);
        EXPECT_EQ(e.native_code(), CKR_GENERAL_ERROR) << "SoftHSM 2.6.1's answer, see profiles.cpp";
        EXPECT_NE(std::string(e.what()).find("C_Decrypt"), std::string::npos);
    }
}

TEST(KnownAnswer, TdeaCbcCavp) {
    for (const auto& r : read_vectors("tdes_cbc.txt")) {
        const auto k = import(Algorithm::Des3_3k, hex_field(r, "key"),
                              usage({Usage::Encrypt, Usage::Decrypt}));
        const Bytes iv = hex_field(r, "iv");
        const core::CipherParams p{CipherMode::Des3Cbc, iv, {}};
        EXPECT_EQ(to_hex(shared_hsm().encrypt(k.ref(), p, hex_field(r, "plaintext"))),
                  to_hex(hex_field(r, "ciphertext")))
            << r.at("name");
        EXPECT_EQ(to_hex(shared_hsm().decrypt(k.ref(), p, hex_field(r, "ciphertext"))),
                  to_hex(hex_field(r, "plaintext")))
            << r.at("name");
    }
}

TEST(KnownAnswer, RetailMacIso9797Alg3) {
    const auto records = read_vectors("retail_mac.txt");
    ASSERT_EQ(records.size(), 2u);
    for (const auto& r : records) {
        const Bytes key = hex_field(r, "key");
        const auto k = import(Algorithm::Des3_2k, key, usage({Usage::Mac}));
        const Bytes mac = shared_hsm().mac(k.ref(), MacAlgorithm::Des3Retail, hex_field(r, "msg"));
        EXPECT_EQ(to_hex(mac), to_hex(hex_field(r, "mac"))) << r.at("name");
        EXPECT_EQ(to_hex(crypto::retail_mac(key, hex_field(r, "msg"))), to_hex(mac));
    }
}

TEST(KnownAnswer, RetailMacFallbackLeavesNoClearObject) {
    const auto r = read_vectors("retail_mac.txt")[0];
    const std::string label = new_token("retail");
    auto hsm = Pkcs11Hsm::open(config_for(label), MasterKeys::CreateIfMissing);
    const core::KeySpec spec{unique_id("retail"), 1, Algorithm::Des3_2k, usage({Usage::Mac})};
    const Bytes key = hex_field(r, "key");
    const auto block = hsm->import_secret(spec, SecureBytes(key.data(), key.size()));
    EXPECT_EQ(hsm->mac(ref(spec, block), MacAlgorithm::Des3Retail, hex_field(r, "msg")),
              hex_field(r, "mac"));
    EXPECT_EQ(hsm->cache_stats().size, 0u) << "the clear value is never cached";
    RawToken raw(label);
    Template all;
    EXPECT_EQ(find_objects(raw.fn(), raw.session(), all.data(), all.size()).size(), 3u);
}

TEST(KnownAnswer, EcdsaRfc6979VerifiesWithThePublicKeyOnly) {
    // DER SubjectPublicKeyInfo prefixes (RFC 5480) for an uncompressed point.
    const std::string p256 = "3059301306072a8648ce3d020106082a8648ce3d03010703420004";
    const std::string p384 = "3076301006072a8648ce3d020106052b8104002203620004";
    for (const auto& r : read_vectors("ecdsa.txt")) {
        const bool is256 = r.at("curve") == "P-256";
        const Bytes spki = from_hex((is256 ? p256 : p384) + r.at("ux") + r.at("uy"));
        core::KeyRef ref;
        const std::string id = unique_id("rfc6979");
        ref.key_id = id;
        ref.version = 1;
        ref.algorithm = is256 ? Algorithm::EcP256 : Algorithm::EcP384;
        ref.usage = usage({Usage::Verify});
        ref.public_key = spki;
        Bytes sig = hex_field(r, "r");
        const Bytes s = hex_field(r, "s");
        sig.insert(sig.end(), s.begin(), s.end());
        const Bytes msg = hex_field(r, "msg");
        EXPECT_TRUE(shared_hsm().verify(ref, SignAlgorithm::EcdsaSha256, msg, sig)) << r.at("name");
        EXPECT_TRUE(host_verify(spki, SignAlgorithm::EcdsaSha256, msg, sig));
        EXPECT_FALSE(shared_hsm().verify(ref, SignAlgorithm::EcdsaSha384, msg, sig));
        Bytes bad = sig;
        bad[5] ^= 0x10;
        EXPECT_FALSE(shared_hsm().verify(ref, SignAlgorithm::EcdsaSha256, msg, bad));
        EXPECT_FALSE(
            shared_hsm().verify(ref, SignAlgorithm::EcdsaSha256, text_bytes("samplf"), sig));
    }
}

}  // namespace
}  // namespace kms::hsm::test
