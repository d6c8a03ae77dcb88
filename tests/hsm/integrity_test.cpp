// Key blocks that were tampered with, KeyRefs that disagree with their block, usages, fits and
// malformed inputs: each a precise error, and no key is used or cached on the way.
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

struct Fixture {
    core::KeySpec spec;
    core::GeneratedKey key;
};

Fixture aes_key(core::UsageMask u = usage({Usage::Mac, Usage::Encrypt, Usage::Decrypt})) {
    Fixture f{{unique_id("integrity"), 1, Algorithm::Aes128, u}, {}};
    f.key = shared_hsm().import_secret(f.spec, secret("2b7e151628aed2a6abf7158809cf4f3c"));
    return f;
}

/// MAC over @p block, with the KeyRef taken from @p spec.
Bytes mac_with(const core::KeySpec& spec, const Bytes& block) {
    core::GeneratedKey g;
    g.block = block;
    return shared_hsm().mac(ref(spec, g), MacAlgorithm::AesCmac, {});
}

void expect_unusable(const core::KeySpec& spec, const Bytes& block, const char* what) {
    const auto before = shared_hsm().cache_stats().size;
    const auto msg = expect_error(ErrorCode::Integrity, [&] { mac_with(spec, block); });
    EXPECT_NE(msg.find(spec.key_id), std::string::npos) << what << ": " << msg;
    EXPECT_EQ(shared_hsm().cache_stats().size, before) << what << ": nothing may be cached";
}

TEST(Integrity, FlippedByteInTheWrappedKey) {
    const auto f = aes_key();
    core::KeyBlock b = core::decode_key_block(f.key.block);
    b.wrapped[5] ^= 0x01;
    expect_unusable(f.spec, core::encode_key_block(b), "wrapped");
}

TEST(Integrity, FlippedUsageInTheHeaderEvenWhenTheMetadataAgrees) {
    const auto f = aes_key(usage({Usage::Mac}));
    core::KeyBlock b = core::decode_key_block(f.key.block);
    b.header.usage.add(Usage::Encrypt);  // widen the usage in the block...
    core::KeySpec widened = f.spec;
    widened.usage = b.header.usage;  // ...and in the store record
    expect_unusable(widened, core::encode_key_block(b), "header usage");
}

TEST(Integrity, FlippedByteInTheSeal) {
    const auto f = aes_key();
    Bytes block = f.key.block;
    block.back() ^= 0x40;  // the seal is the last field
    expect_unusable(f.spec, block, "seal");
    core::KeyBlock b = core::decode_key_block(f.key.block);
    b.seal.resize(31);
    expect_unusable(f.spec, core::encode_key_block(b), "short seal");
}

TEST(Integrity, OtherKeysBlockUnderThisKeysName) {
    const auto a = aes_key();
    const auto b = aes_key();
    core::KeyBlock other = core::decode_key_block(b.key.block);
    other.header.key_id = a.spec.key_id;  // relabel b's block as a's
    expect_unusable(a.spec, core::encode_key_block(other), "relabelled block");
}

TEST(Integrity, KeyRefThatDisagreesWithTheBlock) {
    const auto f = aes_key(usage({Usage::Mac}));
    for (int field = 0; field < 4; ++field) {
        core::KeySpec lie = f.spec;
        if (field == 0) lie.usage = usage({Usage::Mac, Usage::Encrypt});
        if (field == 1) lie.version = 2;
        if (field == 2) lie.algorithm = Algorithm::Aes256;
        if (field == 3) lie.key_id = unique_id("other");
        core::GeneratedKey g;
        g.block = f.key.block;
        const auto msg = expect_error(ErrorCode::Integrity, [&] {
            shared_hsm().mac(ref(lie, g), MacAlgorithm::AesCmac, {});
        });
        EXPECT_NE(msg.find("does not match its metadata"), std::string::npos) << msg;
    }
}

TEST(Integrity, CachedKeyStillChecksTheMetadata) {
    const auto f = aes_key(usage({Usage::Mac}));
    EXPECT_EQ(mac_with(f.spec, f.key.block).size(), 16u);  // now cached
    core::KeySpec lie = f.spec;
    lie.usage = usage({Usage::Mac, Usage::Encrypt});
    expect_error(ErrorCode::Integrity, [&] {
        shared_hsm().encrypt(ref(lie, f.key), {CipherMode::AesCbc, Bytes(16), {}}, Bytes(16));
    });
}

TEST(Integrity, TruncatedAndEmptyBlocks) {
    const auto f = aes_key();
    expect_unusable(f.spec, Bytes(f.key.block.begin(), f.key.block.end() - 3), "truncated");
    expect_error(ErrorCode::InvalidArgument, [&] { mac_with(f.spec, {}); });
}

TEST(Integrity, BadPublicKeysAreIntegrityErrors) {
    const core::KeySpec spec{unique_id("pub"), 1, Algorithm::EcP256,
                             usage({Usage::Sign, Usage::Verify})};
    const auto key = shared_hsm().generate(spec);
    core::KeyRef r = ref(spec, key);
    Bytes junk = key.public_key;
    junk.resize(junk.size() - 1);
    r.public_key = junk;
    expect_error(ErrorCode::Integrity,
                 [&] { shared_hsm().verify(r, SignAlgorithm::EcdsaSha256, {}, Bytes(64)); });
    // A P-384 key presented as the P-256 key's public key.
    const core::KeySpec other{unique_id("pub"), 1, Algorithm::EcP384,
                              usage({Usage::Sign, Usage::Verify})};
    const auto k384 = shared_hsm().generate(other);
    core::KeyRef wrong = ref(spec, key);
    const std::string wrong_id = other.key_id + "-as-p256";  // KeyRef holds views
    wrong.key_id = wrong_id;
    wrong.public_key = k384.public_key;
    expect_error(ErrorCode::Integrity,
                 [&] { shared_hsm().verify(wrong, SignAlgorithm::EcdsaSha256, {}, Bytes(64)); });
    core::KeyRef none = ref(spec, key);
    const std::string none_id = spec.key_id + "-nopub";
    none.key_id = none_id;
    none.public_key = {};
    none.block = {};  // neither a sealed block nor a public key: nothing to verify with
    expect_error(ErrorCode::InvalidArgument,
                 [&] { shared_hsm().verify(none, SignAlgorithm::EcdsaSha256, {}, Bytes(64)); });
}

TEST(Integrity, APublicKeySwappedInTheStoreIsRefused) {
    // The attacker replaces the stored SPKI beside a genuine block with their own key's: the
    // public key is sealed inside the block, so verify() refuses instead of trusting it.
    const core::KeySpec spec{unique_id("swap"), 1, Algorithm::EcP256,
                             usage({Usage::Sign, Usage::Verify})};
    const auto genuine = shared_hsm().generate(spec);
    const core::KeySpec theirs_spec{unique_id("swap-theirs"), 1, Algorithm::EcP256,
                                    usage({Usage::Sign, Usage::Verify})};
    const auto theirs = shared_hsm().generate(theirs_spec);
    core::KeyRef r = ref(spec, genuine);
    r.public_key = theirs.public_key;
    const auto msg = expect_error(ErrorCode::Integrity, [&] {
        shared_hsm().verify(r, SignAlgorithm::EcdsaSha256, as_view("m"), Bytes(64));
    });
    EXPECT_NE(msg.find("sealed"), std::string::npos) << msg;
    // The genuine pair still verifies its own signature.
    core::KeyRef ok = ref(spec, genuine);
    const Bytes sig = shared_hsm().sign(ok, SignAlgorithm::EcdsaSha256, as_view("m"));
    EXPECT_TRUE(shared_hsm().verify(ok, SignAlgorithm::EcdsaSha256, as_view("m"), sig));
}

TEST(Usage, OperationsOutsideTheUsageMaskAreRefused) {
    const auto f = aes_key(usage({Usage::Mac}));
    const auto r = ref(f.spec, f.key);
    const Bytes iv(16);
    const auto msg = expect_error(ErrorCode::UsageNotPermitted, [&] {
        shared_hsm().encrypt(r, {CipherMode::AesCbc, iv, {}}, Bytes(16));
    });
    EXPECT_NE(msg.find("encrypt"), std::string::npos);
    expect_error(ErrorCode::UsageNotPermitted, [&] {
        shared_hsm().decrypt(r, {CipherMode::AesCbc, iv, {}}, Bytes(16));
    });

    const core::KeySpec ec{unique_id("verify-only"), 1, Algorithm::EcP256, usage({Usage::Verify})};
    const auto k = shared_hsm().generate(ec);
    expect_error(ErrorCode::UsageNotPermitted,
                 [&] { shared_hsm().sign(ref(ec, k), SignAlgorithm::EcdsaSha256, {}); });
}

TEST(Usage, UnwrappedObjectCarriesOnlyItsUsageAndCannotLeave) {
    // A MAC-only key, once used, is a session object that can sign/verify and nothing else,
    // is sensitive and not extractable: the module enforces the usage mask too.
    const auto f = aes_key(usage({Usage::Mac}));
    EXPECT_EQ(mac_with(f.spec, f.key.block).size(), 16u);
    RawToken raw(kSharedToken);
    Template t;
    t.text(CKA_LABEL, f.spec.key_id);
    const auto found = find_objects(raw.fn(), raw.session(), t.data(), t.size());
    ASSERT_EQ(found.size(), 1u);
    CK_BBOOL token = 1, sensitive = 0, extractable = 1, sign = 0, verify = 0, encrypt = 1,
             decrypt = 1, wrap = 1;
    CK_ATTRIBUTE a[] = {{CKA_TOKEN, &token, 1},
                        {CKA_SENSITIVE, &sensitive, 1},
                        {CKA_EXTRACTABLE, &extractable, 1},
                        {CKA_SIGN, &sign, 1},
                        {CKA_VERIFY, &verify, 1},
                        {CKA_ENCRYPT, &encrypt, 1},
                        {CKA_DECRYPT, &decrypt, 1},
                        {CKA_WRAP, &wrap, 1}};
    ASSERT_EQ(raw.fn().C_GetAttributeValue(raw.session(), found[0], a, 8), CKR_OK);
    EXPECT_FALSE(token);
    EXPECT_TRUE(sensitive);
    EXPECT_FALSE(extractable);
    EXPECT_TRUE(sign && verify);
    EXPECT_FALSE(encrypt || decrypt || wrap);
    // The module itself refuses to encrypt with it...
    CK_BYTE iv[16] = {};
    CK_MECHANISM cbc{CKM_AES_CBC, iv, sizeof iv};
    EXPECT_EQ(raw.fn().C_EncryptInit(raw.session(), &cbc, found[0]),
              CKR_KEY_FUNCTION_NOT_PERMITTED);
    // ...to reveal it, or to wrap it under the LMK.
    CK_BYTE value[16];
    CK_ATTRIBUTE v{CKA_VALUE, value, sizeof value};
    EXPECT_EQ(raw.fn().C_GetAttributeValue(raw.session(), found[0], &v, 1),
              CKR_ATTRIBUTE_SENSITIVE);
    const auto lmk = raw.find_secret("kms-lmk");
    ASSERT_EQ(lmk.size(), 1u);
    CK_MECHANISM kwp{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
    CK_ULONG len = 0;
    EXPECT_EQ(raw.fn().C_WrapKey(raw.session(), &kwp, lmk[0], found[0], nullptr, &len),
              CKR_KEY_UNEXTRACTABLE);
}

TEST(Fit, AlgorithmsThatDoNotFitTheKeyAreUnsupported) {
    const auto f = aes_key();
    const auto r = ref(f.spec, f.key);
    expect_error(ErrorCode::Unsupported,
                 [&] { shared_hsm().mac(r, MacAlgorithm::HmacSha256, {}); });
    expect_error(ErrorCode::Unsupported,
                 [&] { shared_hsm().mac(r, MacAlgorithm::Des3Retail, {}); });
    expect_error(ErrorCode::Unsupported, [&] {
        shared_hsm().encrypt(r, {CipherMode::Des3Cbc, Bytes(8), {}}, Bytes(8));
    });
    expect_error(ErrorCode::Unsupported,
                 [&] { shared_hsm().sign(r, SignAlgorithm::EcdsaSha256, {}); });
}

TEST(Input, LengthsAndIvsAreCheckedBeforeTheHsm) {
    const auto f = aes_key();
    const auto r = ref(f.spec, f.key);
    auto& hsm = shared_hsm();
    expect_error(ErrorCode::InvalidArgument, [&] {
        hsm.encrypt(r, {CipherMode::AesGcm, Bytes(16), {}}, Bytes(4));
    });
    expect_error(ErrorCode::InvalidArgument, [&] {
        hsm.encrypt(r, {CipherMode::AesCbc, Bytes(12), {}}, Bytes(16));
    });
    expect_error(ErrorCode::InvalidArgument, [&] {
        hsm.encrypt(r, {CipherMode::AesCbc, Bytes(16), {}}, Bytes(17));
    });
    const Bytes aad = text_bytes("aad");
    expect_error(ErrorCode::InvalidArgument, [&] {
        hsm.encrypt(r, {CipherMode::AesCbcPad, Bytes(16), aad}, Bytes(3));
    });
    expect_error(ErrorCode::InvalidArgument, [&] {
        hsm.decrypt(r, {CipherMode::AesGcm, Bytes(12), {}}, Bytes(15));
    });
    expect_error(ErrorCode::InvalidArgument, [&] {
        hsm.decrypt(r, {CipherMode::AesCbcPad, Bytes(16), {}}, Bytes(20));
    });
    expect_error(ErrorCode::InvalidArgument, [&] {
        hsm.decrypt(r, {CipherMode::AesCbc, Bytes(16), {}}, {});
    });
    // Padded modes accept any length, including none.
    EXPECT_EQ(hsm.encrypt(r, {CipherMode::AesCbcPad, Bytes(16), {}}, {}).size(), 16u);
    EXPECT_EQ(hsm.encrypt(r, {CipherMode::AesGcm, Bytes(12), {}}, {}).size(), 16u);
}

TEST(Input, BadCbcPaddingIsVerificationFailed) {
    const auto f = aes_key();
    const auto r = ref(f.spec, f.key);
    const Bytes iv(16);  // CipherParams holds views: the IV must outlive them
    const core::CipherParams cbc{CipherMode::AesCbc, iv, {}};
    const core::CipherParams pad{CipherMode::AesCbcPad, iv, {}};
    // A block whose plaintext ends in 0x00: never valid PKCS#7 padding.
    const Bytes ct = shared_hsm().encrypt(r, cbc, Bytes(16, 0));
    expect_error(ErrorCode::VerificationFailed, [&] { shared_hsm().decrypt(r, pad, ct); });
    EXPECT_EQ(shared_hsm().decrypt(r, cbc, ct), Bytes(16, 0));
}

}  // namespace
}  // namespace kms::hsm::test
