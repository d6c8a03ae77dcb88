// GlobalPlatform secure channel sessions through the use case: the published SCP03 (pySim,
// kaoh) and SCP02 (pySim, kaoh) sessions of tests/vectors driven through create, authenticate,
// wrap and unwrap; a wrong card cryptogram, another principal, expiry, policies, key checks and
// the audit records. The HSM is a fake that derives the session keys on the host from the known
// clear static keys (crypto/gp_scp02, gp_scp03, gp_diversify).
#include "services/gp_sessions.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>

#include "../crypto/vector_file.hpp"
#include "crypto/gp_diversify.hpp"
#include "crypto/gp_scp02.hpp"
#include "crypto/gp_scp03.hpp"
#include "domain/error.hpp"
#include "service_fixture.hpp"
#include "services/key_lifecycle.hpp"
#include "services/policies.hpp"
#include "services/principals.hpp"

namespace kms::core {
namespace {

using namespace test_support;

/// Derives GlobalPlatform session keys on the host from clear keys the test registers by key id.
class GpHsm : public FakeHsm {
  public:
    /// While true the audit seal fails, as when the audit key is unreachable.
    std::atomic<bool> seal_fails{false};
    Bytes audit_seal(ByteView d) override {
        if (seal_fails) throw Error(ErrorCode::HsmUnavailable, "audit key unreachable");
        return FakeHsm::audit_seal(d);
    }

    GpSessionKeys derive_gp_session_keys(GpProtocol protocol, const GpCardKeys& card,
                                         ByteView context) override {
        ++derivations;
        Bytes enc, mac, dek;
        if (card.kmc) {
            const Bytes& kmc = clear(card.kmc->key_id);
            if (card.diversification == GpDiversification::None) {
                enc = mac = dek = kmc;
            } else {
                const auto m = card.diversification == GpDiversification::Visa2
                                   ? crypto::GpDiversification::Visa2
                                   : crypto::GpDiversification::EmvCps11;
                auto d = [&](crypto::GpKeyPurpose p) {
                    auto k = crypto::gp_diversify_key(m, kmc, card.kdd, p);
                    return Bytes(k.view().begin(), k.view().end());
                };
                enc = d(crypto::GpKeyPurpose::Enc);
                mac = d(crypto::GpKeyPurpose::Mac);
                dek = d(crypto::GpKeyPurpose::Dek);
            }
        } else {
            enc = clear(card.enc->key_id);
            mac = clear(card.mac->key_id);
            dek = clear(card.dek->key_id);
        }
        if (protocol == GpProtocol::Scp02) {
            auto k = crypto::scp02_session_keys(enc, mac, dek, context);
            return GpSessionKeys{std::move(k.enc), std::move(k.cmac), std::move(k.rmac),
                                 std::move(k.dek)};
        }
        auto k = crypto::scp03::derive_session_keys(enc, mac, context.first(8), context.subspan(8));
        return GpSessionKeys{std::move(k.s_enc), std::move(k.s_mac), std::move(k.s_rmac), {}};
    }
    Bytes gp_scp03_card_challenge(const KeyRef& enc, ByteView seq, ByteView aid) override {
        return crypto::scp03::pseudo_random_card_challenge(clear(enc.key_id), seq, aid);
    }
    /// Host PUT KEY: SCP02 TDEA-ECB under the session DEK; SCP03 AES-CBC, zero ICV, under the
    /// static DEK (AES-192 padded with 80 00..; the real adapter's padding is tested in hsm/).
    GpEncryptedKey gp_encrypt_key(const GpDek& dek, const KeyRef& key) override {
        const Bytes& v = clear(key.key_id);
        GpEncryptedKey out;
        out.key_length = v.size();
        out.kcv = key.algorithm == Algorithm::Des3_2k ? crypto::kcv_des3(v) : crypto::kcv_aes_gp(v);
        const Bytes padded = v.size() % 16 == 0 ? v : crypto::pad_iso9797_m2(v, 16);
        out.encrypted = gp_encrypt_data(dek, padded);
        return out;
    }
    Bytes gp_encrypt_data(const GpDek& dek, ByteView data) override {
        if (dek.protocol == GpProtocol::Scp02)
            return crypto::des3_ecb_encrypt(dek.session_dek->view(), data);
        return crypto::aes_cbc_encrypt(clear(dek.key.key_id), Bytes(16, 0), data);
    }
    GeneratedKey gp_diversify_key(const KeySpec& spec, const KeyRef& kmc,
                                  GpDiversification method, ByteView kdd,
                                  GpKeyRole role) override {
        const auto m = method == GpDiversification::Visa2 ? crypto::GpDiversification::Visa2
                                                          : crypto::GpDiversification::EmvCps11;
        auto k = crypto::gp_diversify_key(m, clear(kmc.key_id), kdd,
                                          static_cast<crypto::GpKeyPurpose>(role));
        {
            std::lock_guard lock(this->m);
            keys[spec.key_id] = Bytes(k.view().begin(), k.view().end());
        }
        GeneratedKey g = generate(spec);
        g.kcv = crypto::kcv_des3(k.view());
        return g;
    }
    const Bytes& clear(std::string_view id) {
        std::lock_guard lock(m);
        return keys.at(std::string(id));
    }
    std::mutex m;
    std::map<std::string, Bytes> keys;
    std::atomic<int> derivations{0};
};

Bytes cat(std::initializer_list<ByteView> parts) {
    Bytes out;
    for (ByteView p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

constexpr std::uint32_t bits(Role r) { return static_cast<std::uint32_t>(r); }

/// The ISD-R AID of pySim's eUICC: its pseudo-random card challenges (i = 70) verify under it.
constexpr const char* kEuiccIsdR = "A0000005591010FFFFFFFF8900000100";
/// The card's INITIALIZE UPDATE response (data only) in pySim's SCP03_Test_AES128_33.
constexpr const char* kPySimIuResponse =
    "000000000000000000003003703B1ACA81E821F219081CDC01C26B372D000003";

class GpSessions : public ServiceFixture<GpHsm> {
  protected:
    GpSessions() : ServiceFixture("gp-sessions") {}
    void SetUp() override {
        ServiceFixture::SetUp();
        m_policies = std::make_unique<PolicyService>(*m_ctx);
        m_ctx->policies = m_policies.get();
        PrincipalService principals(*m_ctx);
        m_plugin = principals.create(m_admin, "tsm-a", bits(Role::Plugin)).principal;
        m_other = principals.create(m_admin, "tsm-b", bits(Role::Plugin)).principal;
        m_gp = std::make_unique<GpSessionService>(*m_ctx);
    }
    void TearDown() override {
        m_gp.reset();
        m_policies.reset();
        ServiceFixture::TearDown();
    }

    /// Creates an Active key holding @p clear (for the fake HSM).
    std::string key(const std::string& name, const Bytes& clear, bool wrap = false,
                    UsageMask usage = UsageMask().add(Usage::Derive)) {
        Algorithm alg = Algorithm::Des3_2k;
        if (clear.size() != 16 || scp03_next) {
            alg = clear.size() == 16   ? Algorithm::Aes128
                  : clear.size() == 24 ? Algorithm::Aes192
                                       : Algorithm::Aes256;
        }
        if (wrap) usage.add(Usage::Wrap);
        KeyLifecycle k(*m_ctx);
        auto rec = k.create(m_admin, CreateKeyRequest{name, alg, usage, true, false, false});
        m_hsm.keys[rec.id] = clear;
        return rec.id;
    }

    /// Static keys enc/mac/dek as keys of the protocol's family.
    GpSessionRequest statics(GpProtocol p, const Bytes& enc, const Bytes& mac, const Bytes& dek,
                             std::uint8_t i) {
        scp03_next = p == GpProtocol::Scp03;
        GpSessionRequest r;
        r.protocol = p;
        r.i = i;
        const std::string tag = std::to_string(++m_counter);
        r.enc = key("gp/" + tag + "/enc", enc);
        r.mac = key("gp/" + tag + "/mac", mac);
        r.dek = key("gp/" + tag + "/dek", dek, true);
        return r;
    }

    /// pySim's SCP03_Test_AES128_33 session: i = 70, the eUICC ISD-R AID, the fixed host
    /// challenge (the card answers kPySimIuResponse); the DEK is the ENC value.
    GpSessionRequest pysim_scp03_request() {
        auto req = statics(GpProtocol::Scp03, from_hex("000102030405060708090A0B0C0D0E0F"),
                           from_hex("101112131415161718191A1B1C1D1E1F"),
                           from_hex("000102030405060708090A0B0C0D0E0F"), 0x70);
        req.host_challenge = from_hex("FDF38259A1E0DE44");
        req.aid = from_hex(kEuiccIsdR);
        return req;
    }

    std::unique_ptr<PolicyService> m_policies;
    std::unique_ptr<GpSessionService> m_gp;
    Principal m_admin = person("admin", Role::Admin);
    Principal m_plugin, m_other;
    bool scp03_next = false;
    int m_counter = 0;
};

TEST_F(GpSessions, PublishedScp03SessionsRunThroughTheService) {
    int sessions = 0;
    for (const auto& c : test::read_vector_file("gp_scp03.txt")) {
        if (c.text("kind") != "session") continue;
        SCOPED_TRACE(c.where());
        const Bytes iu_response = c.bytes("initialize_update_response");
        auto req = statics(GpProtocol::Scp03, c.bytes("enc"), c.bytes("mac"), c.bytes("enc"),
                           iu_response.at(12));
        req.key_version = static_cast<std::uint8_t>(c.bytes("key_version").at(0));
        req.host_challenge = c.bytes("host_challenge");
        if (c.has("aid")) req.aid = c.bytes("aid");
        const auto opened = m_gp->create(m_admin, req);
        EXPECT_EQ(opened.session.size(), 34u);
        EXPECT_EQ(opened.session.substr(0, 2), "s-");
        EXPECT_EQ(to_hex(opened.initialize_update), to_hex(c.bytes("initialize_update")));
        const Bytes ea = m_gp->authenticate(m_admin, opened.session, iu_response,
                                            c.bytes("security_level").at(0));
        EXPECT_EQ(to_hex(ea), to_hex(c.bytes("external_authenticate")));
        for (int n = 1; c.has("plain_" + std::to_string(n)); ++n) {
            const std::string s = std::to_string(n);
            SCOPED_TRACE("plain_" + s);
            const auto w = m_gp->wrap(m_admin, opened.session, {c.bytes("plain_" + s)});
            ASSERT_EQ(w.size(), 1u);
            EXPECT_EQ(to_hex(w[0]), to_hex(c.bytes("wrapped_" + s)));
            if (c.has("response_" + s)) {
                const auto u = m_gp->unwrap(m_admin, opened.session, {c.bytes("response_" + s)});
                ASSERT_EQ(u.size(), 1u);
                EXPECT_EQ(to_hex(u[0]), to_hex(c.bytes("unwrapped_" + s)));
            }
        }
        m_gp->close(m_admin, opened.session);
        ++sessions;
    }
    EXPECT_GE(sessions, 13);
    EXPECT_EQ(m_gp->size(), 0u);
}

TEST_F(GpSessions, PublishedScp02SessionsRunThroughTheServiceInOneWrapCall) {
    int sessions = 0;
    for (const auto& c : test::read_vector_file("gp_scp02.txt")) {
        if (!c.has("type") || c.text("type") != "session") continue;
        SCOPED_TRACE(c.where());
        auto req = statics(GpProtocol::Scp02, c.bytes("enc"), c.bytes("mac"), c.bytes("dek"),
                           c.bytes("i").at(0));
        req.host_challenge = c.bytes("host_challenge");
        if (c.has("aid")) req.aid = c.bytes("aid");
        const auto opened = m_gp->create(m_admin, req);
        EXPECT_EQ(to_hex(opened.initialize_update),
                  "8050000008" + to_hex(c.bytes("host_challenge")) + "00");
        // With the SW the card sends: accepted as well.
        Bytes iu = c.bytes("iu_response");
        iu.push_back(0x90);
        iu.push_back(0x00);
        const Bytes ea = m_gp->authenticate(m_admin, opened.session, iu, c.bytes("level").at(0));
        EXPECT_EQ(to_hex(ea), to_hex(c.bytes("ext_auth")));
        std::vector<Bytes> plain, expected;
        for (int n = 1; c.has("command" + std::to_string(n)); ++n) {
            plain.push_back(c.bytes("command" + std::to_string(n)));
            expected.push_back(c.bytes("wrapped" + std::to_string(n)));
        }
        const auto wrapped = m_gp->wrap(m_admin, opened.session, plain);
        ASSERT_EQ(wrapped.size(), expected.size());
        for (std::size_t n = 0; n < wrapped.size(); ++n)
            EXPECT_EQ(to_hex(wrapped[n]), to_hex(expected[n])) << "command " << n + 1;
        m_gp->close(m_admin, opened.session);
        ++sessions;
    }
    EXPECT_EQ(sessions, 3);
}

// The pySim AES-128 level 33 session (R-MAC and R-ENC) with every command in one wrap call
// and its response in one unwrap call.
TEST_F(GpSessions, Scp03ScriptInOneCall) {
    const auto cases = test::read_vector_file("gp_scp03.txt");
    const test::VectorCase* c = nullptr;
    for (const auto& v : cases)
        if (v.text("kind") == "session" && v.has("host_challenge") &&
            to_hex(v.bytes("host_challenge")) == "FDF38259A1E0DE44")
            c = &v;
    ASSERT_NE(c, nullptr);
    const Bytes iu_response = c->bytes("initialize_update_response");
    auto req = statics(GpProtocol::Scp03, c->bytes("enc"), c->bytes("mac"), c->bytes("enc"),
                       iu_response.at(12));
    req.key_version = 0x30;
    req.host_challenge = c->bytes("host_challenge");
    if (c->has("aid")) req.aid = c->bytes("aid");
    const auto s = m_gp->create(m_admin, req);
    m_gp->authenticate(m_admin, s.session, iu_response, 0x33);
    // plain_1 with its response first, then the rest in one call.
    const auto w1 = m_gp->wrap(m_admin, s.session, {c->bytes("plain_1")});
    EXPECT_EQ(to_hex(w1.at(0)), to_hex(c->bytes("wrapped_1")));
    EXPECT_EQ(to_hex(m_gp->unwrap(m_admin, s.session, {c->bytes("response_1")}).at(0)),
              to_hex(c->bytes("unwrapped_1")));
    std::vector<Bytes> plain;
    for (int n = 2; c->has("plain_" + std::to_string(n)); ++n)
        plain.push_back(c->bytes("plain_" + std::to_string(n)));
    ASSERT_GE(plain.size(), 2u);
    const auto w = m_gp->wrap(m_admin, s.session, plain);
    for (std::size_t n = 0; n < w.size(); ++n)
        EXPECT_EQ(to_hex(w[n]), to_hex(c->bytes("wrapped_" + std::to_string(n + 2))));
}

TEST_F(GpSessions, WrongCardCryptogramIsVerificationFailedAndAudited) {
    auto req = pysim_scp03_request();
    const auto s = m_gp->create(m_admin, req);
    Bytes bad = from_hex(kPySimIuResponse);
    bad[25] ^= 0x01;  // inside the card cryptogram
    EXPECT_EQ(code_of([&] { m_gp->authenticate(m_admin, s.session, bad, 0x33); }),
              ErrorCode::VerificationFailed);
    bool audited = false;
    for (const auto& r : audit())
        if (r.event.action == "gp.authenticate" && r.event.outcome == AuditOutcome::Failed &&
            r.event.target == s.session)
            audited = true;
    EXPECT_TRUE(audited);
    // Not authenticated: wrapping is refused.
    EXPECT_EQ(code_of([&] { m_gp->wrap(m_admin, s.session, {from_hex("80CA006600")}); }),
              ErrorCode::WrongState);
}

TEST_F(GpSessions, SessionsAreBoundToThePrincipalThatOpenedThem) {
    m_policies->set(m_admin, "tsm-a", {"gp/*"}, {PolicyOperation::Gp});
    m_policies->set(m_admin, "tsm-b", {"gp/*"}, {PolicyOperation::Gp});
    auto req = pysim_scp03_request();
    const auto s = m_gp->create(m_plugin, req);
    const Bytes iu =
        from_hex(kPySimIuResponse);
    EXPECT_EQ(code_of([&] { m_gp->authenticate(m_other, s.session, iu, 0x33); }),
              ErrorCode::NotFound);
    EXPECT_EQ(code_of([&] { m_gp->close(m_other, s.session); }), ErrorCode::NotFound);
    EXPECT_EQ(code_of([&] { m_gp->close(m_admin, s.session); }), ErrorCode::NotFound);
    EXPECT_EQ(to_hex(m_gp->authenticate(m_plugin, s.session, iu, 0x33)),
              "84823300108C36F96BCC00724A4E13AD591D7DA3F0");
    EXPECT_EQ(code_of([&] { m_gp->wrap(m_other, s.session, {from_hex("80CA006600")}); }),
              ErrorCode::NotFound);
    EXPECT_EQ(code_of([&] { m_gp->authenticate(m_plugin, s.session, iu, 0x33); }),
              ErrorCode::WrongState);
    m_gp->close(m_plugin, s.session);
    EXPECT_EQ(code_of([&] { m_gp->wrap(m_plugin, s.session, {from_hex("80CA006600")}); }),
              ErrorCode::NotFound);
    EXPECT_EQ(code_of([&] { m_gp->wrap(m_plugin, "s-00000000000000000000000000000000", {}); }),
              ErrorCode::NotFound);
    int opened = 0, authenticated = 0, closed = 0;
    for (const auto& r : audit()) {
        if (r.event.target != s.session) continue;
        opened += r.event.action == "gp.session.open";
        authenticated += r.event.action == "gp.authenticate" &&
                         r.event.outcome == AuditOutcome::Success;
        closed += r.event.action == "gp.session.close";
    }
    EXPECT_EQ(opened, 1);
    EXPECT_EQ(authenticated, 1);
    EXPECT_EQ(closed, 1);
}

TEST_F(GpSessions, ASessionWhoseOpeningIsNotOnRecordNeverAuthenticates) {
    // gp.session.open is queued without waiting; when it cannot be written (the audit seal
    // fails), authenticate() answers no EXTERNAL AUTHENTICATE and the session is gone.
    auto req = pysim_scp03_request();
    m_hsm.seal_fails = true;
    const auto s = m_gp->create(m_admin, req);
    EXPECT_EQ(to_hex(s.initialize_update), "8050000008FDF38259A1E0DE4400");
    const Bytes iu =
        from_hex(kPySimIuResponse);
    // Once this write returns (or fails with it, if they share a batch) the queued open
    // record has failed.
    try {
        m_store->write([](WriteTxn&) {});
    } catch (const Error&) {
    }
    m_hsm.seal_fails = false;
    EXPECT_EQ(code_of([&] { m_gp->authenticate(m_admin, s.session, iu, 0x33); }),
              ErrorCode::HsmUnavailable);
    EXPECT_EQ(code_of([&] { m_gp->authenticate(m_admin, s.session, iu, 0x33); }),
              ErrorCode::NotFound);
    for (const auto& r : audit()) EXPECT_NE(r.event.target, s.session);
}

TEST_F(GpSessions, CommandsAwaitingTheirRMacAreCappedPerSession) {
    // pySim's SCP03 AES-128 session (i = 70). At level 33 (R-MAC) each wrapped command keeps
    // what its response's check needs until unwrap: at most kGpMaxPendingResponses. At level
    // 03 (no R-MAC) nothing is kept and there is no cap.
    const Bytes iu =
        from_hex(kPySimIuResponse);
    auto open = [&](std::uint8_t level) {
        auto req = pysim_scp03_request();
        const auto s = m_gp->create(m_admin, req);
        m_gp->authenticate(m_admin, s.session, iu, level);
        return s.session;
    };
    const std::vector<Bytes> script(kGpMaxApdusPerCall, from_hex("80CA006600"));
    const std::string rmac = open(0x33);
    ASSERT_EQ(m_gp->wrap(m_admin, rmac, script).size(), kGpMaxPendingResponses);
    const auto over = [&] { m_gp->wrap(m_admin, rmac, {from_hex("80CA006600")}); };
    EXPECT_EQ(code_of(over), ErrorCode::Conflict);
    // The refused call advanced nothing: an error status word (no R-MAC, Amd D §6.2.5)
    // answers the oldest command, and then exactly one more command fits.
    EXPECT_EQ(to_hex(m_gp->unwrap(m_admin, rmac, {from_hex("6A88")}).at(0)), "6A88");
    EXPECT_EQ(m_gp->wrap(m_admin, rmac, {from_hex("80CA006600")}).size(), 1u);
    EXPECT_EQ(code_of(over), ErrorCode::Conflict);

    const std::string plain = open(0x03);
    for (int call = 0; call < 3; ++call)
        EXPECT_EQ(m_gp->wrap(m_admin, plain, script).size(), script.size());
    EXPECT_EQ(to_hex(m_gp->unwrap(m_admin, plain, {from_hex("9000")}).at(0)), "9000");
}

TEST_F(GpSessions, SessionsExpireFiveMinutesAfterOpening) {
    auto req = pysim_scp03_request();
    const auto s = m_gp->create(m_admin, req);
    m_gp->authenticate(m_admin, s.session,
                       from_hex(kPySimIuResponse),
                       0x33);
    m_clock.advance_s(299);
    EXPECT_EQ(m_gp->wrap(m_admin, s.session, {from_hex("80CA006600")}).size(), 1u);
    m_clock.advance_s(1);
    EXPECT_EQ(code_of([&] { m_gp->wrap(m_admin, s.session, {from_hex("80CA006600")}); }),
              ErrorCode::Expired);
    EXPECT_EQ(code_of([&] { m_gp->wrap(m_admin, s.session, {from_hex("80CA006600")}); }),
              ErrorCode::NotFound)
        << "an expired session is dropped";
    EXPECT_EQ(m_gp->size(), 0u);
}

TEST_F(GpSessions, ConfigurableLifetimeAndSessionLimit) {
    GpSessionService small(*m_ctx, 10, 2);
    auto req = pysim_scp03_request();
    small.create(m_admin, req);
    const auto b = small.create(m_admin, req);
    EXPECT_EQ(code_of([&] { small.create(m_admin, req); }), ErrorCode::Conflict);
    m_clock.advance_s(10);
    EXPECT_EQ(code_of([&] { small.close(m_admin, "s-nope"); }), ErrorCode::NotFound);
    EXPECT_NO_THROW(small.create(m_admin, req)) << "expired sessions are swept at the limit";
    EXPECT_EQ(small.size(), 1u);
    EXPECT_EQ(code_of([&] { small.close(m_admin, b.session); }), ErrorCode::NotFound);
}

TEST_F(GpSessions, PluginsNeedTheGpPolicyOnEveryKey) {
    auto req = statics(GpProtocol::Scp03, from_hex("000102030405060708090A0B0C0D0E0F"),
                       from_hex("101112131415161718191A1B1C1D1E1F"),
                       from_hex("000102030405060708090A0B0C0D0E0F"), 0x70);
    EXPECT_EQ(code_of([&] { m_gp->create(m_plugin, req); }), ErrorCode::Forbidden) << "no policy";
    m_policies->set(m_admin, "tsm-a", {"gp/*"}, {PolicyOperation::Mac});
    EXPECT_EQ(code_of([&] { m_gp->create(m_plugin, req); }), ErrorCode::Forbidden)
        << "policy without gp";
    m_policies->set(m_admin, "tsm-a", {req.enc, req.mac}, {PolicyOperation::Gp});
    EXPECT_EQ(code_of([&] { m_gp->create(m_plugin, req); }), ErrorCode::Forbidden)
        << "the DEK is not covered";
    m_policies->set(m_admin, "tsm-a", {req.enc, req.mac, req.dek}, {PolicyOperation::Gp});
    EXPECT_NO_THROW(m_gp->create(m_plugin, req));
    const Principal auditor = person("aud", Role::Auditor);
    EXPECT_EQ(code_of([&] { m_gp->create(auditor, req); }), ErrorCode::Forbidden);
    EXPECT_EQ(m_hsm.derivations.load(), 0);
}

TEST_F(GpSessions, KeysMustBeActiveDeriveKeysOfTheProtocolsFamily) {
    const Bytes aes = from_hex("000102030405060708090A0B0C0D0E0F");
    auto ok = statics(GpProtocol::Scp03, aes, aes, aes, 0x00);
    // DEK without wrap.
    auto req = ok;
    scp03_next = true;
    req.dek = key("gp/dek-nowrap", aes, false);
    EXPECT_EQ(code_of([&] { m_gp->create(m_admin, req); }), ErrorCode::UsageNotPermitted);
    // MAC without derive.
    req = ok;
    req.mac = key("gp/mac-only", aes, false, UsageMask().add(Usage::Mac));
    EXPECT_EQ(code_of([&] { m_gp->create(m_admin, req); }), ErrorCode::UsageNotPermitted);
    // Not active.
    req = ok;
    {
        KeyLifecycle k(*m_ctx);
        auto rec = k.create(m_admin, CreateKeyRequest{"gp/pre", Algorithm::Aes128,
                                                      UsageMask().add(Usage::Derive), false});
        req.enc = rec.id;
    }
    EXPECT_EQ(code_of([&] { m_gp->create(m_admin, req); }), ErrorCode::WrongState);
    // AES keys for SCP02.
    req = ok;
    req.protocol = GpProtocol::Scp02;
    req.i = 0x15;
    EXPECT_EQ(code_of([&] { m_gp->create(m_admin, req); }), ErrorCode::InvalidArgument);
    // Unknown key, both key forms, neither, bad i, bad challenge.
    req = ok;
    req.enc = "k-00000000000000000000000000000000";
    EXPECT_EQ(code_of([&] { m_gp->create(m_admin, req); }), ErrorCode::NotFound);
    req = ok;
    req.kmc = ok.enc;
    EXPECT_EQ(code_of([&] { m_gp->create(m_admin, req); }), ErrorCode::InvalidArgument);
    req = GpSessionRequest{};
    EXPECT_EQ(code_of([&] { m_gp->create(m_admin, req); }), ErrorCode::InvalidArgument);
    req = ok;
    req.i = 0x01;
    EXPECT_EQ(code_of([&] { m_gp->create(m_admin, req); }), ErrorCode::Unsupported);
    req = ok;
    req.host_challenge = Bytes(7, 1);
    EXPECT_EQ(code_of([&] { m_gp->create(m_admin, req); }), ErrorCode::InvalidArgument);
    // Without a host challenge the HSM draws one (the fake: 07 x 8).
    req = ok;
    req.key_version = 0x30;
    EXPECT_EQ(to_hex(m_gp->create(m_admin, req).initialize_update),
              "80503000080707070707070707" "00");
}

TEST_F(GpSessions, MasterKeyWithVisa2DiversificationOpensAnScp02Session) {
    // KMC 40..4F diversified with VISA2 over a KDD; the card's cryptogram computed here from the
    // diversified keys, so the service must hand the HSM the KDD of the response.
    scp03_next = false;
    const Bytes kmc = from_hex("404142434445464748494A4B4C4D4E4F");
    GpSessionRequest req;
    req.protocol = GpProtocol::Scp02;
    req.i = 0x55;
    req.kmc = key("gp/kmc", kmc);
    req.diversification = GpDiversification::Visa2;
    req.host_challenge = from_hex("0102030405060708");
    const auto s = m_gp->create(m_admin, req);
    const Bytes kdd = from_hex("00001234567890ABCDEF");
    auto d = [&](crypto::GpKeyPurpose p) {
        auto k = crypto::gp_diversify_key(crypto::GpDiversification::Visa2, kmc, kdd, p);
        return Bytes(k.view().begin(), k.view().end());
    };
    const Bytes seq = from_hex("002A");
    const auto keys = crypto::scp02_session_keys(d(crypto::GpKeyPurpose::Enc),
                                                 d(crypto::GpKeyPurpose::Mac),
                                                 d(crypto::GpKeyPurpose::Dek), seq);
    // i = 55: pseudo-random card challenge over the default AID.
    const Bytes aid = from_hex("A000000151000000");
    const Bytes cc = crypto::scp02_pseudo_random_card_challenge(keys.cmac.view(), aid);
    const Bytes cryptogram =
        crypto::scp02_card_cryptogram(keys.enc.view(), *req.host_challenge, seq, cc);
    const Bytes iu = cat({kdd, from_hex("0102"), seq, cc, cryptogram});
    const Bytes host = crypto::scp02_host_cryptogram(keys.enc.view(), seq, cc, *req.host_challenge);
    const Bytes ea = m_gp->authenticate(m_admin, s.session, iu, 0x01);
    EXPECT_EQ(to_hex(ea).substr(0, 26), "8482010010" + to_hex(host));

    // A card challenge that is not the pseudo-random one is refused when i says so.
    const auto s2 = m_gp->create(m_admin, req);
    Bytes cc2 = cc;
    cc2[0] ^= 1;
    const Bytes cryptogram2 =
        crypto::scp02_card_cryptogram(keys.enc.view(), *req.host_challenge, seq, cc2);
    const Bytes iu2 = cat({kdd, from_hex("0102"), seq, cc2, cryptogram2});
    EXPECT_EQ(code_of([&] { m_gp->authenticate(m_admin, s2.session, iu2, 0x01); }),
              ErrorCode::VerificationFailed);
}

TEST_F(GpSessions, RMacFailureIsVerificationFailed) {
    const auto cases = test::read_vector_file("gp_scp03.txt");
    for (const auto& c : cases) {
        if (c.text("kind") != "session" || to_hex(c.bytes("host_challenge")) != "FDF38259A1E0DE44")
            continue;
        const Bytes iu = c.bytes("initialize_update_response");
        auto req = statics(GpProtocol::Scp03, c.bytes("enc"), c.bytes("mac"), c.bytes("enc"), iu.at(12));
        req.host_challenge = c.bytes("host_challenge");
        if (c.has("aid")) req.aid = c.bytes("aid");
        const auto s = m_gp->create(m_admin, req);
        m_gp->authenticate(m_admin, s.session, iu, 0x33);
        m_gp->wrap(m_admin, s.session, {c.bytes("plain_1")});
        Bytes r = c.bytes("response_1");
        r[r.size() - 3] ^= 0x01;  // last byte of the R-MAC
        EXPECT_EQ(code_of([&] { m_gp->unwrap(m_admin, s.session, {r}); }),
                  ErrorCode::VerificationFailed);
        EXPECT_EQ(code_of([&] { m_gp->unwrap(m_admin, s.session, {from_hex("9000")}); }),
                  ErrorCode::WrongState)
            << "no command waits for a response";
        EXPECT_EQ(code_of([&] {
                      m_gp->wrap(m_admin, s.session, std::vector<Bytes>(257, from_hex("80CA0066")));
                  }),
                  ErrorCode::InvalidArgument);
        EXPECT_EQ(code_of([&] { m_gp->wrap(m_admin, s.session, {from_hex("80CA00")}); }),
                  ErrorCode::InvalidArgument);
        return;
    }
    FAIL() << "pySim AES-128 level 33 session not found";
}

}  // namespace
}  // namespace kms::core
