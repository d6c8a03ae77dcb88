// Round trips between kmsd's GlobalPlatform sessions and the card side of the virtual SE
// (tsm-services/virtual-se), as a TSM runs them: a plugin (KmsClient, its own token) asks kmsd
// for every cryptogram and relays the APDUs to the card; the test never computes one. Static
// keys reach kmsd by ceremony and the card by configuration, with random values:
//   - SCP03 AES-128, i = 70 (pseudo-random card challenge checked in the HSM under the card's
//     ISD AID), level 33: GET DATA answered with R-MAC and R-ENC, unwrapped by kmsd;
//   - PUT KEY of three keys generated inside the KMS (exportable, values never seen by the test)
//     as key set 31, the card's KCVs checked by kmsd; then a session on key set 31 opens, so
//     the card holds exactly the KMS's keys;
//   - SCP02 i = 55 level 03: sensitive data encrypted by kmsd under the session DEK and sent in
//     STORE DATA is what the card decrypts; SCP02 i = 75 level 13: the card's R-MACs verify in
//     kmsd, a tampered one does not;
//   - a card whose keys differ: the card cryptogram fails in kmsd (400 verification_failed).
#include <openssl/rand.h>

#include <memory>

#include "ceremony_fixture.hpp"
#include "plugin-api/kms_client.hpp"
#include "virtual_se.hpp"

namespace kms::test {
namespace {

using tsm::GpOpenRequest;
using tsm::KmsClient;
using tsm::KmsError;
using tsm::vse::VirtualSe;
using tsm::vse::VirtualSeConfig;

Bytes random_bytes(std::size_t n) {
    Bytes b(n);
    if (RAND_bytes(b.data(), static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes");
    return b;
}

/// A card with fresh random static keys (16 bytes: AES-128 or two-key TDEA), key diversification
/// data and CPLC, and the key values for the KMS's ceremonies.
struct TestCard {
    Bytes enc = random_bytes(16), mac = random_bytes(16), dek = random_bytes(16);
    std::unique_ptr<VirtualSe> card;

    TestCard(tsm::vse::Scp scp, std::uint8_t i, std::uint8_t key_version) {
        VirtualSeConfig cfg;
        cfg.scp = scp;
        cfg.i = i;
        cfg.key_version = key_version;
        cfg.enc = SecureBytes(enc);
        cfg.mac = SecureBytes(mac);
        cfg.dek = SecureBytes(dek);
        cfg.kdd = random_bytes(10);
        cfg.cplc = random_bytes(42);
        card = std::make_unique<VirtualSe>(std::move(cfg));
    }
};

/// Sends @p apdu to @p card and returns the response; fails the test unless it ends in 9000
/// (when @p ok).
Bytes card_says(VirtualSe& card, const Bytes& apdu, bool ok = true) {
    const Bytes r = card.process(apdu);
    if (ok) {
        EXPECT_GE(r.size(), 2u);
        EXPECT_EQ(to_hex(ByteView(r).last(2)), "9000") << "card answered " << to_hex(r)
                                                        << " to " << to_hex(apdu);
    }
    return r;
}

class GpCard : public CeremonyRest {
  public:
    static void SetUpTestSuite() {
        CeremonyRest::SetUpTestSuite();
        s_tsm = create_principal("tsm-card", R"(["plugin"])");
        HttpsClient admin("127.0.0.1", s_kmsd->port(), s_kmsd->ca_file());
        auto pol = admin.request("PUT", "/v1/principals/tsm-card/policy",
                                 R"({"keys":["card/*"],"operations":["gp"]})", s_admin);
        if (pol.status != 200) throw std::runtime_error("policy: " + pol.body);
    }

  protected:
    KmsClient plugin() const {
        tsm::KmsClientOptions o;
        o.url = s_kmsd->url();
        o.ca_file = s_kmsd->ca_file();
        o.bearer_token = s_tsm;
        return KmsClient(o);
    }
    /// Ceremonies for enc, mac and dek of @p algorithm; the DEK trusted with wrap.
    GpOpenRequest load_keys(const std::string& prefix, const std::string& algorithm,
                            const Bytes& enc, const Bytes& mac, const Bytes& dek) {
        GpOpenRequest r;
        r.enc = ceremony_key(prefix + "/enc", algorithm, R"(["derive"])", enc);
        r.mac = ceremony_key(prefix + "/mac", algorithm, R"(["derive"])", mac);
        r.dek = ceremony_key(prefix + "/dek", algorithm, R"(["derive","wrap"])", dek,
                             R"(,"trusted":true)");
        return r;
    }
    /// Opens a session on @p card through kmsd; returns its id.
    std::string authenticate(KmsClient& kms, VirtualSe& card, const GpOpenRequest& r,
                             std::uint8_t level) {
        const auto opened = kms.gp_open(r);
        const Bytes iu = card_says(card, opened.initialize_update);
        const Bytes ea = kms.gp_authenticate(opened.session, iu, level);
        card_says(card, ea);
        EXPECT_TRUE(card.secure_channel_open());
        EXPECT_EQ(card.security_level(), level);
        return opened.session;
    }

    static std::string s_tsm;
};

std::string GpCard::s_tsm;

TEST_F(GpCard, Scp03SessionAndPutKeyOfKmsGeneratedKeysThatTheCardThenUses) {
    TestCard t(tsm::vse::Scp::Scp03, 0x70, 0x30);
    VirtualSe& card = *t.card;
    const Bytes cplc = card.process(from_hex("80CA9F7F00"));  // plain, before any session

    KmsClient kms = plugin();
    GpOpenRequest r = load_keys("card/scp03", "AES-128", t.enc, t.mac, t.dek);
    r.protocol = "SCP03";
    r.i = 0x70;
    r.key_version = 0x30;
    r.aid = from_hex("A000000151000000");  // the card's ISD: its pseudo-random challenge
    const std::string s = authenticate(kms, card, r, 0x33);

    // GET DATA (CPLC) under C-MAC, C-DEC, R-MAC and R-ENC.
    const auto wrapped = kms.gp_wrap(s, {from_hex("80CA9F7F00")});
    const Bytes protected_answer = card_says(card, wrapped.at(0));
    EXPECT_NE(protected_answer, cplc) << "R-ENC and R-MAC change the answer on the wire";
    EXPECT_EQ(to_hex(kms.gp_unwrap(s, {protected_answer}).at(0)), to_hex(cplc));

    // PUT KEY: three AES-128 keys made inside the KMS become key set 31 on the card.
    std::string ids;
    std::vector<std::string> new_keys;
    for (const char* role : {"enc", "mac", "dek"}) {
        const std::string usage = std::string(role) == "dek" ? R"(["derive","wrap"])"
                                                              : R"(["derive"])";
        const std::string extra = std::string(role) == "dek" ? R"(,"exportable":true,"trusted":true)"
                                                              : R"(,"exportable":true)";
        new_keys.push_back(str(create_key(std::string("card/new/") + role, "AES-128", usage,
                                          extra),
                               "id"));
        ids += (ids.empty() ? "\"" : ",\"") + new_keys.back() + "\"";
    }
    auto put = post("/v1/gp/scp/sessions/" + s + "/put-key",
                    "{\"keys\":[" + ids + "],\"newKeyVersion\":49}", s_tsm);
    ASSERT_EQ(put.status, 200) << put.body;
    const Bytes put_answer = card_says(card, from_hex(str(put.json(), "apdu")));
    const Bytes unwrapped = kms.gp_unwrap(s, {put_answer}).at(0);
    auto verified = post("/v1/gp/scp/sessions/" + s + "/put-key/verify",
                         "{\"response\":\"" + to_hex(unwrapped) + "\"}", s_tsm);
    ASSERT_EQ(verified.status, 200) << verified.body;
    EXPECT_TRUE(verified.json()->getValue<bool>("verified"));
    EXPECT_EQ(card.key_versions(), (std::vector<std::uint8_t>{0x30, 0x31}));
    kms.gp_close(s);

    // The card now holds the KMS's keys: a session on key set 31 authenticates both ways.
    GpOpenRequest r31 = r;
    r31.enc = new_keys[0];
    r31.mac = new_keys[1];
    r31.dek = new_keys[2];
    r31.key_version = 0x31;
    const std::string s31 = authenticate(kms, card, r31, 0x03);
    const Bytes answer = card_says(card, kms.gp_wrap(s31, {from_hex("80CA00E000")}).at(0));
    EXPECT_GT(answer.size(), 2u) << "the key information template";
    kms.gp_close(s31);
}

TEST_F(GpCard, Scp02SensitiveDataEncryptedByKmsdIsWhatTheCardDecrypts) {
    TestCard t(tsm::vse::Scp::Scp02, 0x55, 0x20);
    VirtualSe& card = *t.card;

    KmsClient kms = plugin();
    GpOpenRequest r = load_keys("card/scp02", "DES3-2K", t.enc, t.mac, t.dek);
    r.protocol = "SCP02";
    r.i = 0x55;
    r.key_version = 0x20;
    r.aid = from_hex("A000000151000000");
    const std::string s = authenticate(kms, card, r, 0x03);

    const Bytes secret = random_bytes(24);  // three TDEA blocks
    auto enc_data = post("/v1/gp/scp/sessions/" + s + "/encrypt",
                         "{\"data\":\"" + to_hex(secret) + "\"}", s_tsm);
    ASSERT_EQ(enc_data.status, 200) << enc_data.body;
    const Bytes cryptogram = from_hex(str(enc_data.json(), "data"));
    EXPECT_NE(cryptogram, secret);
    // STORE DATA, last block (80), encrypted under the DEK (60), block 0.
    Bytes store = from_hex("80E2E000");
    store.push_back(static_cast<std::uint8_t>(cryptogram.size()));
    store.insert(store.end(), cryptogram.begin(), cryptogram.end());
    card_says(card, kms.gp_wrap(s, {store}).at(0));
    ASSERT_EQ(card.stored_data().size(), 1u);
    EXPECT_TRUE(card.stored_data()[0].was_encrypted);
    EXPECT_EQ(to_hex(card.stored_data()[0].data), to_hex(secret));
    kms.gp_close(s);
}

TEST_F(GpCard, Scp02RMacOfTheCardVerifiesInKmsdAndATamperedOneDoesNot) {
    // No published SCP02 R-MAC session exists; the card's R-MAC code is written apart from
    // kmsd's. i = 75: R-MAC supported (b6), pseudo-random challenge (b7); level 13.
    TestCard t(tsm::vse::Scp::Scp02, 0x75, 0x21);
    VirtualSe& card = *t.card;
    const Bytes cplc = card.process(from_hex("80CA9F7F00"));

    KmsClient kms = plugin();
    GpOpenRequest r = load_keys("card/scp02-rmac", "DES3-2K", t.enc, t.mac, t.dek);
    r.protocol = "SCP02";
    r.i = 0x75;
    r.key_version = 0x21;
    r.aid = from_hex("A000000151000000");
    const std::string s = authenticate(kms, card, r, 0x13);
    const auto wrapped = kms.gp_wrap(s, {from_hex("80CA9F7F00"), from_hex("80CA9F7F00")});
    const Bytes first = card_says(card, wrapped.at(0));
    Bytes second = card_says(card, wrapped.at(1));
    EXPECT_EQ(first.size(), cplc.size() + 8) << "data, R-MAC, SW";
    EXPECT_EQ(to_hex(kms.gp_unwrap(s, {first}).at(0)), to_hex(cplc));
    second[second.size() - 3] ^= 0x01;  // inside the R-MAC
    try {
        kms.gp_unwrap(s, {second});
        FAIL() << "kmsd accepted a tampered R-MAC";
    } catch (const KmsError& e) {
        EXPECT_EQ(e.status(), 400);
        EXPECT_EQ(e.code(), "verification_failed") << e.what();
    }
}

TEST_F(GpCard, ACardWithOtherKeysFailsTheCardCryptogramInKmsd) {
    TestCard t(tsm::vse::Scp::Scp03, 0x70, 0x30);
    VirtualSe& card = *t.card;
    KmsClient kms = plugin();
    GpOpenRequest r = load_keys("card/other", "AES-128", random_bytes(16), random_bytes(16),
                                random_bytes(16));
    r.key_version = 0x30;
    r.aid = from_hex("A000000151000000");
    const auto opened = kms.gp_open(r);
    const Bytes iu = card_says(card, opened.initialize_update);
    try {
        kms.gp_authenticate(opened.session, iu, 0x01);
        FAIL() << "kmsd accepted the card cryptogram of a card with other keys";
    } catch (const KmsError& e) {
        EXPECT_EQ(e.status(), 400);
        EXPECT_EQ(e.code(), "verification_failed") << e.what();
    }
}

}  // namespace
}  // namespace kms::test
