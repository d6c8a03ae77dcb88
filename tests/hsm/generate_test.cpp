// generate() of every algorithm and a use of each key; KCVs computed in the HSM against the
// host implementation for imported known keys; spec validation.
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto/host_crypto.hpp"
#include "domain/key_block.hpp"
#include "pkcs11/object_templates.hpp"
#include "support.hpp"

namespace kms::hsm::test {
namespace {

using core::Algorithm;
using core::CipherMode;
using core::MacAlgorithm;
using core::SignAlgorithm;
using core::Usage;

/// The SPKI parsed by OpenSSL: key type name and size in bits.
std::pair<std::string, int> spki_kind(const Bytes& spki) {
    const unsigned char* p = spki.data();
    EVP_PKEY* k = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size()));
    if (k == nullptr) return {"", 0};
    std::pair<std::string, int> out{EVP_PKEY_get0_type_name(k), EVP_PKEY_get_bits(k)};
    EVP_PKEY_free(k);
    return out;
}

void expect_block_header(const core::KeySpec& spec, const core::GeneratedKey& key) {
    const core::KeyBlock block = core::decode_key_block(key.block);
    EXPECT_EQ(block.header, (core::KeyBlockHeader{spec.key_id, spec.version, spec.algorithm,
                                                  spec.usage, spec.exportable}));
    EXPECT_EQ(block.seal.size(), 32u);
    EXPECT_FALSE(block.wrapped.empty());
}

Bytes zeros(std::size_t n) {
    return Bytes(n, 0);
}

class GenerateAes : public ::testing::TestWithParam<Algorithm> {};

TEST_P(GenerateAes, MacsEncryptsAndHasTheCmacKcv) {
    auto& hsm = shared_hsm();
    const core::KeySpec spec{unique_id("gen-aes"), 3, GetParam(),
                             usage({Usage::Mac, Usage::Encrypt, Usage::Decrypt})};
    const auto key = hsm.generate(spec);
    expect_block_header(spec, key);
    EXPECT_TRUE(key.public_key.empty());
    // RFC 5649: 8-byte integrity check block plus the key padded to 8 bytes.
    EXPECT_EQ(core::decode_key_block(key.block).wrapped.size(),
              core::secret_length(spec.algorithm) + 8);
    ASSERT_EQ(key.kcv.size(), 3u);
    const auto r = ref(spec, key);
    // DESIGN §5: AES KCV = CMAC(K, 0^16)[0..3]; the HSM computes both sides here.
    const Bytes cmac0 = hsm.mac(r, MacAlgorithm::AesCmac, zeros(16));
    ASSERT_EQ(cmac0.size(), 16u);
    EXPECT_EQ(Bytes(cmac0.begin(), cmac0.begin() + 3), key.kcv);

    const Bytes iv = hsm.random(12);
    const Bytes msg = hsm.random(100);
    const core::CipherParams gcm{CipherMode::AesGcm, iv, as_view("header")};
    const Bytes ct = hsm.encrypt(r, gcm, msg);
    EXPECT_EQ(ct.size(), msg.size() + 16);
    EXPECT_EQ(hsm.decrypt(r, gcm, ct), msg);
    const Bytes iv16 = hsm.random(16);
    const core::CipherParams cbc{CipherMode::AesCbcPad, iv16, {}};
    const Bytes ct2 = hsm.encrypt(r, cbc, msg);
    EXPECT_EQ(ct2.size(), 112u);
    EXPECT_EQ(hsm.decrypt(r, cbc, ct2), msg);
}

INSTANTIATE_TEST_SUITE_P(All, GenerateAes,
                         ::testing::Values(Algorithm::Aes128, Algorithm::Aes192,
                                           Algorithm::Aes256));

class GenerateDes3 : public ::testing::TestWithParam<Algorithm> {};

TEST_P(GenerateDes3, RetailMacEncryptsAndHasTheEcbKcv) {
    auto& hsm = shared_hsm();
    const core::KeySpec spec{unique_id("gen-des3"), 1, GetParam(),
                             usage({Usage::Mac, Usage::Encrypt, Usage::Decrypt})};
    const auto key = hsm.generate(spec);
    expect_block_header(spec, key);
    ASSERT_EQ(key.kcv.size(), 3u);
    const auto r = ref(spec, key);
    // DES3 KCV = E(K, 0^8)[0..3] = first CBC block under a zero IV.
    const Bytes e0 = hsm.encrypt(r, {CipherMode::Des3Cbc, zeros(8), {}}, zeros(8));
    EXPECT_EQ(Bytes(e0.begin(), e0.begin() + 3), key.kcv);
    const Bytes m = hsm.mac(r, MacAlgorithm::Des3Retail, as_view("hello world"));
    EXPECT_EQ(m.size(), 8u);
    EXPECT_EQ(m, hsm.mac(r, MacAlgorithm::Des3Retail, as_view("hello world")));
    const Bytes iv = hsm.random(8);
    const Bytes msg = hsm.random(21);
    const core::CipherParams p{CipherMode::Des3CbcPad, iv, {}};
    const Bytes ct = hsm.encrypt(r, p, msg);
    EXPECT_EQ(ct.size(), 24u);
    EXPECT_EQ(hsm.decrypt(r, p, ct), msg);
}

INSTANTIATE_TEST_SUITE_P(All, GenerateDes3,
                         ::testing::Values(Algorithm::Des3_2k, Algorithm::Des3_3k));

TEST(Generate, HmacKeyMacsAndHasNoKcv) {
    auto& hsm = shared_hsm();
    const core::KeySpec spec{unique_id("gen-hmac"), 1, Algorithm::HmacSha256, usage({Usage::Mac})};
    const auto key = hsm.generate(spec);
    expect_block_header(spec, key);
    EXPECT_TRUE(key.kcv.empty());
    const Bytes m = hsm.mac(ref(spec, key), MacAlgorithm::HmacSha256, as_view("data"));
    EXPECT_EQ(m.size(), 32u);
    EXPECT_NE(m, hsm.mac(ref(spec, key), MacAlgorithm::HmacSha256, as_view("datA")));
}

struct AsymCase {
    Algorithm algorithm;
    const char* type;
    int bits;
    std::vector<SignAlgorithm> sign;
};

class GenerateAsymmetric : public ::testing::TestWithParam<AsymCase> {};

TEST_P(GenerateAsymmetric, SignsAndTheHostVerifies) {
    const auto& c = GetParam();
    auto& hsm = shared_hsm();
    const core::KeySpec spec{unique_id("gen-asym"), 2, c.algorithm,
                             usage({Usage::Sign, Usage::Verify})};
    const auto key = hsm.generate(spec);
    expect_block_header(spec, key);
    EXPECT_TRUE(key.kcv.empty());
    EXPECT_EQ(spki_kind(key.public_key), std::make_pair(std::string(c.type), c.bits));
    const auto r = ref(spec, key);
    const Bytes msg = text_bytes("the message to sign");
    for (const auto alg : c.sign) {
        const Bytes sig = hsm.sign(r, alg, msg);
        EXPECT_TRUE(host_verify(key.public_key, alg, msg, sig)) << core::sign_algorithm_name(alg);
        EXPECT_TRUE(hsm.verify(r, alg, msg, sig)) << core::sign_algorithm_name(alg);
        Bytes other = msg;
        other[0] ^= 1;
        EXPECT_FALSE(hsm.verify(r, alg, other, sig)) << core::sign_algorithm_name(alg);
        Bytes bad = sig;
        bad[bad.size() / 2] ^= 0x80;
        EXPECT_FALSE(hsm.verify(r, alg, msg, bad));
        EXPECT_FALSE(hsm.verify(r, alg, msg, Bytes(sig.begin(), sig.end() - 1)));
    }
    // Verify needs only the public key.
    core::KeyRef pub = r;
    pub.block = {};
    const Bytes sig = hsm.sign(r, c.sign[0], msg);
    EXPECT_TRUE(hsm.verify(pub, c.sign[0], msg, sig));
}

INSTANTIATE_TEST_SUITE_P(
    All, GenerateAsymmetric,
    ::testing::Values(
        AsymCase{
            Algorithm::EcP256, "EC", 256, {SignAlgorithm::EcdsaSha256, SignAlgorithm::EcdsaSha384}},
        AsymCase{
            Algorithm::EcP384, "EC", 384, {SignAlgorithm::EcdsaSha384, SignAlgorithm::EcdsaSha256}},
        AsymCase{Algorithm::Rsa2048,
                 "RSA",
                 2048,
                 {SignAlgorithm::RsaPssSha256, SignAlgorithm::RsaPkcs1Sha256}},
        AsymCase{Algorithm::Rsa3072,
                 "RSA",
                 3072,
                 {SignAlgorithm::RsaPkcs1Sha256, SignAlgorithm::RsaPssSha256}}));

TEST(Generate, RsaPkcs1SignatureIsDeterministic) {
    auto& hsm = shared_hsm();
    const core::KeySpec spec{unique_id("rsa-det"), 1, Algorithm::Rsa2048, usage({Usage::Sign})};
    const auto key = hsm.generate(spec);
    const auto r = ref(spec, key);
    const Bytes a = hsm.sign(r, SignAlgorithm::RsaPkcs1Sha256, as_view("x"));
    EXPECT_EQ(a.size(), 256u);
    EXPECT_EQ(a, hsm.sign(r, SignAlgorithm::RsaPkcs1Sha256, as_view("x")));
    EXPECT_NE(a, hsm.sign(r, SignAlgorithm::RsaPssSha256, as_view("x")));  // PSS is salted
}

struct KcvCase {
    Algorithm algorithm;
    const char* hex;
};

class ImportKcv : public ::testing::TestWithParam<KcvCase> {};

TEST_P(ImportKcv, EqualsTheHostKcvOfTheClearValue) {
    const auto& c = GetParam();
    const core::KeySpec spec{unique_id("kcv"), 1, c.algorithm, usage({Usage::Mac})};
    const auto key = shared_hsm().import_secret(spec, secret(c.hex));
    const Bytes clear = from_hex(c.hex);
    const Bytes host = core::info(c.algorithm).family == core::KeyFamily::Aes
                           ? crypto::kcv_aes_cmac(clear)
                           : crypto::kcv_des3(clear);
    EXPECT_EQ(to_hex(key.kcv), to_hex(host));
    expect_block_header(spec, key);
}

INSTANTIATE_TEST_SUITE_P(
    All, ImportKcv,
    ::testing::Values(
        KcvCase{Algorithm::Aes128, "2b7e151628aed2a6abf7158809cf4f3c"},
        KcvCase{Algorithm::Aes192, "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b"},
        KcvCase{Algorithm::Aes256,
                "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"},
        KcvCase{Algorithm::Des3_2k, "0123456789abcdeffedcba9876543210"},
        KcvCase{Algorithm::Des3_3k, "9b162a0df8ad9b61c88676e3d586434570b902f12a2046e0"}));

TEST(Import, HmacKeyHasNoKcvAndWrongLengthsAreRefused) {
    auto& hsm = shared_hsm();
    const core::KeySpec hmac{unique_id("imp-hmac"), 1, Algorithm::HmacSha256, usage({Usage::Mac})};
    EXPECT_TRUE(hsm.import_secret(hmac, secret(std::string(64, 'a'))).kcv.empty());
    expect_error(ErrorCode::InvalidArgument,
                 [&] { hsm.import_secret(hmac, secret(std::string(40, 'a'))); });
    const core::KeySpec aes{unique_id("imp-aes"), 1, Algorithm::Aes256, usage({Usage::Mac})};
    expect_error(ErrorCode::InvalidArgument,
                 [&] { hsm.import_secret(aes, secret(std::string(32, 'a'))); });
    const core::KeySpec ec{unique_id("imp-ec"), 1, Algorithm::EcP256, usage({Usage::Sign})};
    expect_error(ErrorCode::InvalidArgument,
                 [&] { hsm.import_secret(ec, secret(std::string(64, 'a'))); });
}

TEST(Generate, SpecIsValidated) {
    auto& hsm = shared_hsm();
    expect_error(ErrorCode::InvalidArgument, [&] {
        hsm.generate({unique_id("bad"), 1, Algorithm::EcP256, usage({Usage::Encrypt})});
    });
    expect_error(ErrorCode::InvalidArgument, [&] {
        hsm.generate({unique_id("bad"), 1, Algorithm::Aes128, core::UsageMask()});
    });
    expect_error(ErrorCode::InvalidArgument, [&] {
        hsm.generate({"", 1, Algorithm::Aes128, usage({Usage::Mac})});
    });
    expect_error(ErrorCode::InvalidArgument, [&] {
        hsm.generate({unique_id("bad"), 0, Algorithm::Aes128, usage({Usage::Mac})});
    });
}

TEST(Generate, TemporaryObjectsAreDestroyed) {
    // generate() leaves no object behind: the only objects of the session are cached ones.
    const std::string label = new_token("temp");
    auto hsm = Pkcs11Hsm::open(config_for(label), MasterKeys::CreateIfMissing);
    for (const auto a : {Algorithm::Aes128, Algorithm::Des3_3k, Algorithm::HmacSha256,
                         Algorithm::EcP256, Algorithm::Rsa2048}) {
        hsm->generate({unique_id("tmp"), 1, a,
                       core::is_symmetric(a) ? usage({Usage::Mac}) : usage({Usage::Sign})});
    }
    hsm->import_secret({unique_id("tmp"), 1, Algorithm::Aes128, usage({Usage::Mac})},
                       secret("000102030405060708090a0b0c0d0e0f"));
    RawToken raw(label);
    Template all;  // every object this application can see, session or token
    const auto objects = find_objects(raw.fn(), raw.session(), all.data(), all.size());
    EXPECT_EQ(objects.size(), 3u) << "only the three master keys may remain";
}

}  // namespace
}  // namespace kms::hsm::test
