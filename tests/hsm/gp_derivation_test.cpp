// GlobalPlatform session key derivation in the HSM (Pkcs11Hsm::derive_gp_session_keys) against
// the published vectors of tests/vectors/gp_scp02.txt, gp_scp03.txt and gp_diversify.txt (each
// file cites its sources) and against the host functions of kms-core/crypto.
#include <cstdlib>
#include <fstream>

#include "crypto/gp_diversify.hpp"
#include "crypto/gp_put_key.hpp"
#include "crypto/gp_scp02.hpp"
#include "crypto/gp_scp03.hpp"
#include "crypto/host_crypto.hpp"
#include "support.hpp"

#ifndef KMS_TEST_VECTORS_DIR
#define KMS_TEST_VECTORS_DIR "tests/vectors"
#endif

namespace kms::hsm::test {
namespace {

using core::Algorithm;
using core::GpCardKeys;
using core::GpDiversification;
using core::GpProtocol;
using core::Usage;

/// Records of a file in tests/vectors (KMS_TEST_VECTORS overrides the folder), in the format
/// of read_vectors(): "key = value", blank lines between records, '#' comments.
std::vector<Record> shared_vectors(const std::string& file) {
    const char* dir = std::getenv("KMS_TEST_VECTORS");
    const std::string path = std::string(dir != nullptr ? dir : KMS_TEST_VECTORS_DIR) + "/" + file;
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open vector file " + path);
    const auto trim = [](const std::string& s) {
        const auto b = s.find_first_not_of(" \t\r");
        const auto e = s.find_last_not_of(" \t\r");
        return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    };
    std::vector<Record> out;
    Record cur;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line[0] == '#') continue;
        const std::string t = trim(line);
        if (t.empty()) {
            if (!cur.empty()) out.push_back(std::move(cur));
            cur.clear();
            continue;
        }
        const auto eq = t.find('=');
        if (eq == std::string::npos) throw std::runtime_error("bad vector line: " + t);
        cur[trim(t.substr(0, eq))] = trim(t.substr(eq + 1));
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
}

std::vector<Record> of_type(const std::vector<Record>& all, const std::string& field,
                            const std::string& value) {
    std::vector<Record> out;
    for (const auto& r : all) {
        const auto it = r.find(field);
        if (it != r.end() && it->second == value) out.push_back(r);
    }
    return out;
}

struct Imported {
    core::KeySpec spec;
    core::GeneratedKey key;
    core::KeyRef ref() const { return test::ref(spec, key); }
};

Imported import(Algorithm a, ByteView value, core::UsageMask u) {
    Imported out{{unique_id("gp"), 1, a, u}, {}};
    out.key = shared_hsm().import_secret(out.spec, SecureBytes(value.data(), value.size()));
    return out;
}

Algorithm aes_for(std::size_t n) {
    return n == 16 ? Algorithm::Aes128 : n == 24 ? Algorithm::Aes192 : Algorithm::Aes256;
}

std::string hex(const SecureBytes& b) {
    return to_hex(b.view());
}

const core::UsageMask kDerive = usage({Usage::Derive});
const core::UsageMask kDeriveWrap = usage({Usage::Derive, Usage::Wrap});

/// The three static keys imported as DES3-2K (or AES), usage derive (the DEK also wrap).
struct StaticKeys {
    Imported enc, mac, dek;
    GpCardKeys card() const {
        GpCardKeys c;
        c.enc = enc.ref();
        c.mac = mac.ref();
        c.dek = dek.ref();
        return c;
    }
};

StaticKeys import_statics(Algorithm a, const Bytes& enc, const Bytes& mac, const Bytes& dek) {
    return {import(a, enc, kDerive), import(a, mac, kDerive), import(a, dek, kDeriveWrap)};
}

crypto::Scp02KeyConstant scp02_constant(const std::string& hex_text) {
    const Bytes c = from_hex(hex_text);
    return static_cast<crypto::Scp02KeyConstant>((c.at(0) << 8) | c.at(1));
}

const SecureBytes& pick(const core::GpSessionKeys& k, crypto::Scp02KeyConstant c) {
    switch (c) {
        case crypto::Scp02KeyConstant::Enc:
            return k.enc;
        case crypto::Scp02KeyConstant::CMac:
            return k.mac;
        case crypto::Scp02KeyConstant::RMac:
            return k.rmac;
        case crypto::Scp02KeyConstant::Dek:
            return k.dek;
    }
    throw std::logic_error("constant");
}

// ---- SCP02 -------------------------------------------------------------------------------------

TEST(GpDerivation, Scp02SessionKeysMatchPublishedKeysAndKcvs) {
    const auto records = of_type(shared_vectors("gp_scp02.txt"), "type", "session_key");
    ASSERT_EQ(records.size(), 7u);
    for (const auto& r : records) {
        const Bytes stat = hex_field(r, "static");
        const Bytes seq = hex_field(r, "seq");
        const auto keys = import_statics(Algorithm::Des3_2k, stat, stat, stat);
        const auto derived =
            shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, keys.card(), seq);
        const auto c = scp02_constant(r.at("constant"));
        const SecureBytes& got = pick(derived, c);
        ASSERT_EQ(got.size(), 16u);
        if (r.count("key") != 0) {
            EXPECT_EQ(hex(got), r.at("key")) << r.at("constant");
        } else {
            EXPECT_EQ(to_hex(crypto::kcv_des3(got.view())), r.at("kcv")) << r.at("constant");
        }
        // And exactly the host function of crypto/gp_scp02.hpp.
        EXPECT_EQ(hex(got), hex(crypto::scp02_session_key(stat, c, seq)));
    }
}

TEST(GpDerivation, Scp02SessionsCheckPublishedCardCryptograms) {
    const auto records = of_type(shared_vectors("gp_scp02.txt"), "type", "session");
    ASSERT_FALSE(records.empty());
    for (const auto& r : records) {
        const Bytes enc = hex_field(r, "enc"), mac = hex_field(r, "mac"), dek = hex_field(r, "dek");
        const auto iu = crypto::parse_scp02_initialize_update_response(hex_field(r, "iu_response"));
        const auto keys = import_statics(Algorithm::Des3_2k, enc, mac, dek);
        const auto derived =
            shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, keys.card(), iu.seq);
        const auto host = crypto::scp02_session_keys(enc, mac, dek, iu.seq);
        EXPECT_EQ(hex(derived.enc), hex(host.enc));
        EXPECT_EQ(hex(derived.mac), hex(host.cmac));
        EXPECT_EQ(hex(derived.rmac), hex(host.rmac));
        EXPECT_EQ(hex(derived.dek), hex(host.dek));
        // The card's cryptogram from the published trace verifies under the HSM's S-ENC.
        EXPECT_EQ(
            to_hex(crypto::scp02_card_cryptogram(derived.enc.view(), hex_field(r, "host_challenge"),
                                                 iu.seq, iu.card_challenge)),
            to_hex(iu.card_cryptogram));
    }
}

// ---- KMC diversification + SCP02 ---------------------------------------------------------------

TEST(GpDerivation, KmcDiversificationThenScp02MatchesTheHostChain) {
    const auto records = shared_vectors("gp_diversify.txt");
    ASSERT_EQ(records.size(), 2u);
    for (const auto& r : records) {
        const bool visa2 = r.at("method") == "visa2";
        const auto method =
            visa2 ? crypto::GpDiversification::Visa2 : crypto::GpDiversification::EmvCps11;
        const Bytes kmc = hex_field(r, "kmc");
        const Bytes kdd = hex_field(r, "kdd");
        using P = crypto::GpKeyPurpose;
        // The host chain, anchored on GlobalPlatformPro's KCVs of the diversified keys.
        const auto enc = crypto::gp_diversify_key(method, kmc, kdd, P::Enc);
        const auto mac = crypto::gp_diversify_key(method, kmc, kdd, P::Mac);
        const auto dek = crypto::gp_diversify_key(method, kmc, kdd, P::Dek);
        ASSERT_EQ(to_hex(crypto::kcv_des3(enc.view())), r.at("kcv_enc"));
        ASSERT_EQ(to_hex(crypto::kcv_des3(mac.view())), r.at("kcv_mac"));
        ASSERT_EQ(to_hex(crypto::kcv_des3(dek.view())), r.at("kcv_dek"));

        const auto kmc_key = import(Algorithm::Des3_2k, kmc, kDerive);
        GpCardKeys card;
        card.kmc = kmc_key.ref();
        card.diversification = visa2 ? GpDiversification::Visa2 : GpDiversification::EmvCps11;
        card.kdd = kdd;
        for (const Bytes& seq : {from_hex("0000"), from_hex("002A"), from_hex("FFFF")}) {
            const auto derived = shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, card, seq);
            const auto host = crypto::scp02_session_keys(enc.view(), mac.view(), dek.view(), seq);
            EXPECT_EQ(hex(derived.enc), hex(host.enc)) << r.at("method");
            EXPECT_EQ(hex(derived.mac), hex(host.cmac)) << r.at("method");
            EXPECT_EQ(hex(derived.rmac), hex(host.rmac)) << r.at("method");
            EXPECT_EQ(hex(derived.dek), hex(host.dek)) << r.at("method");
        }
    }
}

// ---- SCP03 -------------------------------------------------------------------------------------

TEST(GpDerivation, Scp03SessionKeysMatchPublishedTracesAndTheHost) {
    const auto records = of_type(shared_vectors("gp_scp03.txt"), "kind", "session");
    ASSERT_GE(records.size(), 9u);
    std::size_t with_keys = 0;
    for (const auto& r : records) {
        const Bytes enc = hex_field(r, "enc"), mac = hex_field(r, "mac");
        const Bytes host_challenge = hex_field(r, "host_challenge");
        const auto iu = crypto::scp03::parse_initialize_update_response(
            hex_field(r, "initialize_update_response"));
        const auto a = aes_for(enc.size());
        StaticKeys keys{import(a, enc, kDerive), import(a, mac, kDerive),
                        import(a, enc, kDeriveWrap)};
        Bytes context = host_challenge;
        context.insert(context.end(), iu.card_challenge.begin(), iu.card_challenge.end());
        const auto derived =
            shared_hsm().derive_gp_session_keys(GpProtocol::Scp03, keys.card(), context);
        EXPECT_TRUE(derived.dek.empty());
        ASSERT_EQ(derived.enc.size(), enc.size());
        const auto host =
            crypto::scp03::derive_session_keys(enc, mac, host_challenge, iu.card_challenge);
        EXPECT_EQ(hex(derived.enc), hex(host.s_enc));
        EXPECT_EQ(hex(derived.mac), hex(host.s_mac));
        EXPECT_EQ(hex(derived.rmac), hex(host.s_rmac));
        if (r.count("s_enc") != 0) {
            ++with_keys;
            EXPECT_EQ(hex(derived.enc), to_hex(hex_field(r, "s_enc")));
            EXPECT_EQ(hex(derived.mac), to_hex(hex_field(r, "s_mac")));
            EXPECT_EQ(hex(derived.rmac), to_hex(hex_field(r, "s_rmac")));
        }
        // The card cryptogram of the published trace verifies under the HSM's S-MAC.
        EXPECT_EQ(to_hex(crypto::scp03::card_cryptogram(derived.mac.view(), host_challenge,
                                                        iu.card_challenge)),
                  to_hex(iu.card_cryptogram));
    }
    std::cout << "[ INFO     ] " << records.size() << " SCP03 traces, " << with_keys
              << " with published session keys\n";
}

TEST(GpDerivation, Scp03WithoutDekAndObjectsCachedForTheKdf) {
    const Bytes enc = from_hex("404142434445464748494A4B4C4D4E4F");
    const Bytes mac = from_hex("505152535455565758595A5B5C5D5E5F");
    const auto e = import(Algorithm::Aes128, enc, usage({Usage::Derive, Usage::Mac}));
    const auto m = import(Algorithm::Aes128, mac, kDerive);
    GpCardKeys card;
    card.enc = e.ref();
    card.mac = m.ref();
    const Bytes context = from_hex("0001020304050607F0F1F2F3F4F5F6F7");
    const auto first = shared_hsm().derive_gp_session_keys(GpProtocol::Scp03, card, context);
    const auto again = shared_hsm().derive_gp_session_keys(GpProtocol::Scp03, card, context);
    const auto host =
        crypto::scp03::derive_session_keys(enc, mac, Bytes(context.begin(), context.begin() + 8),
                                           Bytes(context.begin() + 8, context.end()));
    EXPECT_EQ(hex(first.enc), hex(host.s_enc));
    EXPECT_EQ(hex(again.enc), hex(host.s_enc));
    EXPECT_EQ(hex(again.rmac), hex(host.s_rmac));
    // The ENC key's ordinary use object is unchanged: it still MACs (CKA_SIGN from usage mac).
    EXPECT_EQ(to_hex(shared_hsm().mac(e.ref(), core::MacAlgorithm::AesCmac, context)),
              to_hex(crypto::aes_cmac(enc, context)));
}

// ---- refusals ----------------------------------------------------------------------------------

TEST(GpDerivation, RefusesKeysWithoutDeriveUsage) {
    const Bytes v = from_hex("404142434445464748494A4B4C4D4E4F");
    auto keys = import_statics(Algorithm::Des3_2k, v, v, v);
    const auto no_derive = import(Algorithm::Des3_2k, v, usage({Usage::Encrypt, Usage::Mac}));
    GpCardKeys card = keys.card();
    card.mac = no_derive.ref();
    expect_error(ErrorCode::UsageNotPermitted, [&] {
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, card, from_hex("0001"));
    });
    // A KeyRef claiming derive over a block sealed without it: the block decides (Integrity).
    core::KeyRef forged = no_derive.ref();
    forged.usage = kDerive;
    card.mac = forged;
    expect_error(ErrorCode::Integrity, [&] {
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, card, from_hex("0001"));
    });
    const auto kmc = import(Algorithm::Des3_2k, v, usage({Usage::Encrypt}));
    GpCardKeys by_kmc;
    by_kmc.kmc = kmc.ref();
    by_kmc.diversification = GpDiversification::Visa2;
    by_kmc.kdd = from_hex("00010203040506070809");
    expect_error(ErrorCode::UsageNotPermitted, [&] {
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, by_kmc, from_hex("0001"));
    });
    const Bytes a = from_hex("000102030405060708090A0B0C0D0E0F");
    GpCardKeys scp03;
    const auto enc = import(Algorithm::Aes128, a, kDerive);
    const auto mac = import(Algorithm::Aes128, a, usage({Usage::Mac}));
    scp03.enc = enc.ref();
    scp03.mac = mac.ref();
    expect_error(ErrorCode::UsageNotPermitted, [&] {
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp03, scp03, Bytes(16, 0));
    });
}

TEST(GpDerivation, RefusesAlgorithmsThatDoNotFitTheProtocol) {
    const Bytes des = from_hex("404142434445464748494A4B4C4D4E4F");
    const Bytes aes = from_hex("000102030405060708090A0B0C0D0E0F");
    const auto des_keys = import_statics(Algorithm::Des3_2k, des, des, des);
    const auto aes_keys = import_statics(Algorithm::Aes128, aes, aes, aes);
    expect_error(ErrorCode::InvalidArgument, [&] {
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, aes_keys.card(), from_hex("0001"));
    });
    expect_error(ErrorCode::InvalidArgument, [&] {
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp03, des_keys.card(), Bytes(16, 0));
    });
    // DES3-3K is not an SCP02 key either.
    const Bytes des3k = from_hex("404142434445464748494A4B4C4D4E4F5051525354555657");
    const auto k3 = import(Algorithm::Des3_3k, des3k, kDerive);
    GpCardKeys mixed = des_keys.card();
    mixed.enc = k3.ref();
    expect_error(ErrorCode::InvalidArgument, [&] {
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, mixed, from_hex("0001"));
    });
    // SCP03 keys of different lengths.
    const auto aes256 = import(Algorithm::Aes256, Bytes(32, 0x11), kDerive);
    GpCardKeys uneven = aes_keys.card();
    uneven.mac = aes256.ref();
    expect_error(ErrorCode::InvalidArgument, [&] {
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp03, uneven, Bytes(16, 0));
    });
    // A KMC must be DES3-2K; a KMC with SCP03 is not offered.
    GpCardKeys aes_kmc;
    aes_kmc.kmc = aes_keys.enc.ref();
    aes_kmc.diversification = GpDiversification::EmvCps11;
    aes_kmc.kdd = from_hex("00010203040506070809");
    expect_error(ErrorCode::InvalidArgument, [&] {
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, aes_kmc, from_hex("0001"));
    });
    GpCardKeys des_kmc = aes_kmc;
    des_kmc.kmc = des_keys.enc.ref();
    expect_error(ErrorCode::Unsupported, [&] {
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp03, des_kmc, Bytes(16, 0));
    });
}

TEST(GpDerivation, RefusesBadKddContextAndKeySets) {
    const Bytes v = from_hex("404142434445464748494A4B4C4D4E4F");
    const auto keys = import_statics(Algorithm::Des3_2k, v, v, v);
    GpCardKeys by_kmc;
    by_kmc.kmc = keys.enc.ref();
    by_kmc.diversification = GpDiversification::Visa2;
    for (const Bytes& kdd : {Bytes{}, Bytes(9, 1), Bytes(11, 1)}) {
        by_kmc.kdd = kdd;
        expect_error(ErrorCode::InvalidArgument, [&] {
            shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, by_kmc, from_hex("0001"));
        });
    }
    by_kmc.kdd = Bytes(10, 1);
    by_kmc.diversification = GpDiversification::None;
    expect_error(ErrorCode::InvalidArgument, [&] {
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, by_kmc, from_hex("0001"));
    });
    // Context lengths: SCP02 the 2-byte counter, SCP03 16 bytes of challenges.
    for (const Bytes& seq : {Bytes{}, Bytes(1, 0), Bytes(3, 0), Bytes(16, 0)}) {
        expect_error(ErrorCode::InvalidArgument, [&] {
            shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, keys.card(), seq);
        });
    }
    const Bytes a = from_hex("000102030405060708090A0B0C0D0E0F");
    const auto aes_keys = import_statics(Algorithm::Aes128, a, a, a);
    for (const Bytes& ctx : {Bytes{}, Bytes(8, 0), Bytes(10, 0), Bytes(15, 0), Bytes(17, 0)}) {
        expect_error(ErrorCode::InvalidArgument, [&] {
            shared_hsm().derive_gp_session_keys(GpProtocol::Scp03, aes_keys.card(), ctx);
        });
    }
    // Key sets: none, both a KMC and static keys, a missing static key.
    expect_error(ErrorCode::InvalidArgument, [&] {
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, GpCardKeys{}, from_hex("0001"));
    });
    GpCardKeys both = keys.card();
    both.kmc = keys.enc.ref();
    both.diversification = GpDiversification::Visa2;
    both.kdd = Bytes(10, 1);
    expect_error(ErrorCode::InvalidArgument, [&] {
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, both, from_hex("0001"));
    });
    GpCardKeys no_dek = keys.card();
    no_dek.dek.reset();
    expect_error(ErrorCode::InvalidArgument, [&] {
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, no_dek, from_hex("0001"));
    });
    GpCardKeys no_mac = aes_keys.card();
    no_mac.mac.reset();
    expect_error(ErrorCode::InvalidArgument, [&] {
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp03, no_mac, Bytes(16, 0));
    });
}

/// Non-sensitive secret key session objects visible on the shared token: the short-lived SCP02
/// session key objects must be gone once derive_gp_session_keys returns.
std::size_t clear_session_secrets() {
    RawToken raw(kSharedToken);
    const auto& fn = raw.fn();
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls},
                        {CKA_TOKEN, &no, sizeof no},
                        {CKA_SENSITIVE, &no, sizeof no}};
    EXPECT_EQ(fn.C_FindObjectsInit(raw.session(), t, 3), CKR_OK);
    CK_OBJECT_HANDLE found[64];
    CK_ULONG n = 0;
    EXPECT_EQ(fn.C_FindObjects(raw.session(), found, 64, &n), CKR_OK);
    fn.C_FindObjectsFinal(raw.session());
    return n;
}

TEST(GpDerivation, ShortLivedObjectsAreDestroyed) {
    const Bytes v = from_hex("404142434445464748494A4B4C4D4E4F");
    const auto keys = import_statics(Algorithm::Des3_2k, v, v, v);
    const auto kmc = import(Algorithm::Des3_2k, v, kDerive);
    GpCardKeys by_kmc;
    by_kmc.kmc = kmc.ref();
    by_kmc.diversification = GpDiversification::EmvCps11;
    by_kmc.kdd = from_hex("00010203040506070809");
    const std::size_t before = clear_session_secrets();
    for (int i = 0; i < 5; ++i) {
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, keys.card(), from_hex("0001"));
        shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, by_kmc, from_hex("0001"));
    }
    EXPECT_EQ(clear_session_secrets(), before);
}

TEST(GpDerivation, ProfileNamesThePath) {
    const auto info = shared_hsm().info();
    ASSERT_FALSE(info.host_fallbacks.empty());
    const std::string& last = info.host_fallbacks.back();
    EXPECT_EQ(last.rfind("GlobalPlatform session keys:", 0), 0u) << last;
    EXPECT_NE(last.find("CKM_DES3_CBC_ENCRYPT_DATA"), std::string::npos);
    EXPECT_NE(last.find("lacks CKM_SP800_108_COUNTER_KDF"), std::string::npos);
}


// ---- PUT KEY, sensitive data, pseudo-random challenge, diversified key blocks -----------------

Imported import_flagged(Algorithm a, ByteView value, core::UsageMask u, bool exportable,
                        bool trusted) {
    Imported out{{unique_id("gp"), 1, a, u, exportable, trusted}, {}};
    out.key = shared_hsm().import_secret(out.spec, SecureBytes(value.data(), value.size()));
    return out;
}

Algorithm algorithm_for(ByteView key, bool des) {
    return des ? Algorithm::Des3_2k : aes_for(key.size());
}

TEST(GpKeys, Scp03PutKeyMatchesPublishedCryptogramsAndKcvs) {
    int checked = 0;
    for (const auto& r : of_type(shared_vectors("gp_put_key.txt"), "kind", "scp03-key")) {
        const Bytes dek = hex_field(r, "dek");
        const Bytes key = hex_field(r, "key");
        const bool des = r.count("kcv_des3") != 0 && r.count("kcv_aes") == 0;
        if (des) continue;  // SCP03 delivers AES keys
        const auto d = import_flagged(aes_for(dek.size()), dek, kDeriveWrap, false, true);
        const auto k = import_flagged(aes_for(key.size()), key, usage({Usage::Encrypt}), true, false);
        core::GpDek g{GpProtocol::Scp03, d.ref(), nullptr};
        if (key.size() % 16 != 0) {
            // The test token, SoftHSM2 2.6.1, has no CKF_WRAP on CKM_AES_CBC_PAD: AES-192 keys
            // are refused as Unsupported (a module with it would take the branch below).
            try {
                shared_hsm().gp_encrypt_key(g, k.ref());
                ADD_FAILURE() << "AES-192 PUT KEY without CKM_AES_CBC_PAD wrapping";
            } catch (const Error& e) {
                EXPECT_EQ(e.code(), ErrorCode::Unsupported);
            }
            continue;
        }
        const auto e = shared_hsm().gp_encrypt_key(g, k.ref());
        EXPECT_EQ(e.key_length, key.size());
        EXPECT_EQ(to_hex(e.encrypted), r.at("encrypted")) << r.at("key");
        if (r.count("kcv_aes")) {
            EXPECT_EQ(to_hex(e.kcv), r.at("kcv_aes"));
        }
        ++checked;
    }
    EXPECT_GE(checked, 10);
}

TEST(GpKeys, Scp02PutKeyMatchesPublishedCryptogramsUnderTheSessionDek) {
    int checked = 0;
    for (const auto& r : of_type(shared_vectors("gp_put_key.txt"), "kind", "scp02-key")) {
        Bytes sdek;
        if (r.count("session_dek")) {
            sdek = hex_field(r, "session_dek");
        } else {
            const Bytes st = hex_field(r, "static_dek");
            const auto k = crypto::scp02_session_keys(st, st, st, hex_field(r, "seq"));
            sdek.assign(k.dek.view().begin(), k.dek.view().end());
        }
        const Bytes key = hex_field(r, "key");
        const bool aes = r.count("kcv_aes") != 0;
        if (aes && key.size() % 16 != 0) continue;
        // The static DEK the session DEK came from only has to be a trusted DES3 key with wrap.
        const auto d = import_flagged(Algorithm::Des3_2k, Bytes(16, 0x11), kDeriveWrap, false, true);
        const auto k = import_flagged(algorithm_for(key, !aes), key,
                                      usage({Usage::Encrypt}), true, false);
        const SecureBytes session(sdek.data(), sdek.size());
        core::GpDek g{GpProtocol::Scp02, d.ref(), &session};
        const auto e = shared_hsm().gp_encrypt_key(g, k.ref());
        EXPECT_EQ(to_hex(e.encrypted), r.at("encrypted")) << r.at("key");
        EXPECT_EQ(to_hex(e.kcv), aes ? r.at("kcv_aes") : r.count("kcv_des3") ? r.at("kcv_des3")
                                                                           : to_hex(crypto::kcv_des3(key)));
        ++checked;
    }
    EXPECT_GE(checked, 5);
}

TEST(GpKeys, PutKeyNeedsAnExportableKeyAndATrustedDekWithWrap) {
    const Bytes v = from_hex("404142434445464748494A4B4C4D4E4F");
    const auto trusted = import_flagged(Algorithm::Aes128, v, kDeriveWrap, false, true);
    const auto untrusted = import_flagged(Algorithm::Aes128, v, kDeriveWrap, false, false);
    const auto exportable = import_flagged(Algorithm::Aes128, v, usage({Usage::Encrypt}), true, false);
    const auto fixed = import_flagged(Algorithm::Aes128, v, usage({Usage::Encrypt}), false, false);
    const auto des = import_flagged(Algorithm::Des3_2k, v, usage({Usage::Encrypt}), true, false);
    auto code = [](const std::function<void()>& f) {
        try {
            f();
        } catch (const Error& e) {
            return e.code();
        }
        return ErrorCode::Internal;
    };
    core::GpDek good{GpProtocol::Scp03, trusted.ref(), nullptr};
    core::GpDek bad{GpProtocol::Scp03, untrusted.ref(), nullptr};
    EXPECT_EQ(shared_hsm().gp_encrypt_key(good, exportable.ref()).encrypted.size(), 16u);
    EXPECT_EQ(code([&] { shared_hsm().gp_encrypt_key(bad, exportable.ref()); }),
              ErrorCode::UsageNotPermitted);
    EXPECT_EQ(code([&] { shared_hsm().gp_encrypt_key(good, fixed.ref()); }),
              ErrorCode::UsageNotPermitted);
    EXPECT_EQ(code([&] { shared_hsm().gp_encrypt_key(good, des.ref()); }),
              ErrorCode::InvalidArgument);
    // A KeyRef claiming exportable cannot: the flag is in the sealed block, not the KeyRef.
    core::GpDek scp02{GpProtocol::Scp02, trusted.ref(), nullptr};
    EXPECT_EQ(code([&] { shared_hsm().gp_encrypt_key(scp02, exportable.ref()); }),
              ErrorCode::InvalidArgument);  // an AES DEK for SCP02, and no session DEK
}

TEST(GpKeys, SensitiveDataUnderTheDek) {
    const Bytes v = from_hex("404142434445464748494A4B4C4D4E4F");
    const auto dek = import_flagged(Algorithm::Aes128, v, kDeriveWrap, false, false);
    const Bytes data = from_hex("0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F20");
    core::GpDek g{GpProtocol::Scp03, dek.ref(), nullptr};
    EXPECT_EQ(to_hex(shared_hsm().gp_encrypt_data(g, data)),
              to_hex(crypto::aes_cbc_encrypt(v, Bytes(16, 0), data)));
    EXPECT_THROW(shared_hsm().gp_encrypt_data(g, ByteView(data).first(15)), Error);
    const auto no_wrap = import_flagged(Algorithm::Aes128, v, kDerive, false, false);
    core::GpDek nw{GpProtocol::Scp03, no_wrap.ref(), nullptr};
    EXPECT_THROW(shared_hsm().gp_encrypt_data(nw, data), Error);
    const auto des_dek = import_flagged(Algorithm::Des3_2k, v, kDeriveWrap, false, false);
    const SecureBytes session(v.data(), v.size());
    core::GpDek s2{GpProtocol::Scp02, des_dek.ref(), &session};
    EXPECT_EQ(to_hex(shared_hsm().gp_encrypt_data(s2, ByteView(data).first(24))),
              to_hex(crypto::des3_ecb_encrypt(v, ByteView(data).first(24))));
}

TEST(GpKeys, Scp03PseudoRandomCardChallengeMatchesPublishedVectors) {
    int checked = 0;
    for (const auto& r : of_type(shared_vectors("gp_scp03.txt"), "kind", "challenge")) {
        const Bytes key = hex_field(r, "key");
        const auto enc = import(aes_for(key.size()), key, kDerive);
        EXPECT_EQ(to_hex(shared_hsm().gp_scp03_card_challenge(enc.ref(),
                                                              hex_field(r, "sequence_counter"),
                                                              hex_field(r, "aid"))),
                  r.at("card_challenge"));
        ++checked;
    }
    EXPECT_GE(checked, 2);
}

TEST(GpKeys, KmcDiversifiedIntoKeyBlocksMatchesGlobalPlatformProKcvs) {
    for (const auto& r : shared_vectors("gp_diversify.txt")) {
        const bool visa2 = r.at("method") == "visa2";
        const auto kmc = import(Algorithm::Des3_2k, hex_field(r, "kmc"), kDerive);
        const Bytes kdd = hex_field(r, "kdd");
        const struct {
            core::GpKeyRole role;
            const char* kcv;
        } roles[] = {{core::GpKeyRole::Enc, "kcv_enc"},
                     {core::GpKeyRole::Mac, "kcv_mac"},
                     {core::GpKeyRole::Dek, "kcv_dek"}};
        GpCardKeys card;
        std::vector<Imported> stored;  // the KeyRefs in card view these
        stored.reserve(3);
        for (const auto& x : roles) {
            core::KeySpec spec{unique_id("div"), 1, Algorithm::Des3_2k,
                               x.role == core::GpKeyRole::Dek ? kDeriveWrap : kDerive, true,
                               x.role == core::GpKeyRole::Dek};
            const auto g = shared_hsm().gp_diversify_key(
                spec, kmc.ref(), visa2 ? GpDiversification::Visa2 : GpDiversification::EmvCps11,
                kdd, x.role);
            EXPECT_EQ(to_hex(g.kcv), r.at(x.kcv)) << r.at("method");
            stored.push_back(Imported{spec, g});
            (x.role == core::GpKeyRole::Enc   ? card.enc
             : x.role == core::GpKeyRole::Mac ? card.mac
                                              : card.dek) = stored.back().ref();
            // The stored key block works: its session keys equal those of the KMC path.
            if (x.role == core::GpKeyRole::Dek) {
                GpCardKeys by_kmc;
                by_kmc.kmc = kmc.ref();
                by_kmc.diversification =
                    visa2 ? GpDiversification::Visa2 : GpDiversification::EmvCps11;
                by_kmc.kdd = kdd;
                const Bytes seq = from_hex("002A");
                const auto a = shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, card, seq);
                const auto b = shared_hsm().derive_gp_session_keys(GpProtocol::Scp02, by_kmc, seq);
                EXPECT_EQ(hex(a.enc), hex(b.enc));
                EXPECT_EQ(hex(a.mac), hex(b.mac));
                EXPECT_EQ(hex(a.dek), hex(b.dek));
            }
        }
    }
}

}  // namespace
}  // namespace kms::hsm::test
