// GlobalPlatform secure channel sessions (see gp_sessions.hpp).
#include "services/gp_sessions.hpp"

#include "crypto/gp_put_key.hpp"
#include "crypto/gp_scp02.hpp"
#include "crypto/gp_scp03.hpp"
#include "crypto/host_crypto.hpp"
#include "domain/apdu.hpp"
#include "domain/error.hpp"
#include "services/key_lifecycle.hpp"
#include "services/policies.hpp"

namespace kms::core {

namespace {

const Bytes kDefaultAid{0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00};

std::string hex_byte(std::uint8_t b) { return to_hex(ByteView(&b, 1)); }

}  // namespace

std::string_view gp_protocol_name(GpProtocol p) {
    return p == GpProtocol::Scp02 ? "SCP02" : "SCP03";
}

std::optional<GpProtocol> parse_gp_protocol(std::string_view name) {
    if (name == "SCP02") return GpProtocol::Scp02;
    if (name == "SCP03") return GpProtocol::Scp03;
    return std::nullopt;
}

std::string_view gp_diversification_name(GpDiversification d) {
    switch (d) {
        case GpDiversification::None:
            return "none";
        case GpDiversification::Visa2:
            return "VISA2";
        case GpDiversification::EmvCps11:
            return "EMV-CPS11";
    }
    return "?";
}

std::optional<GpDiversification> parse_gp_diversification(std::string_view name) {
    if (name == "none") return GpDiversification::None;
    if (name == "VISA2") return GpDiversification::Visa2;
    if (name == "EMV-CPS11") return GpDiversification::EmvCps11;
    return std::nullopt;
}

struct GpSessionService::Session {
    std::mutex mutex;
    std::string id;
    std::string owner;
    std::int64_t expires_ms = 0;
    GpProtocol protocol = GpProtocol::Scp03;
    std::uint8_t i = 0;
    std::uint8_t key_version = 0;
    Bytes host_challenge;
    Bytes aid;
    GpDiversification diversification = GpDiversification::None;
    // The key records stay alive for the session: the KeyRefs handed to the HSM view them.
    std::shared_ptr<const KeyRecord> enc, mac, dek, kmc;
    bool authenticated = false;
    bool closed = false;
    std::optional<crypto::Scp02Wrapper> scp02;
    std::optional<crypto::scp03::Wrapper> scp03;
    /// The last PUT KEY built, until verify_put_key() checks the card's answer.
    std::optional<GpPutKeyResult> pending_put_key;
    /// The "gp.session.open" record, queued by create() without waiting for its commit;
    /// authenticate() confirms it before EXTERNAL AUTHENTICATE leaves kmsd.
    std::shared_ptr<QueuedWrite> open_record;
};

GpSessionService::GpSessionService(ServiceContext& ctx, std::int64_t lifetime_seconds,
                                   std::size_t max_sessions)
    : m_ctx(ctx), m_lifetime_ms(lifetime_seconds * 1000), m_max_sessions(max_sessions) {
    if (lifetime_seconds <= 0 || max_sessions == 0)
        throw Error(ErrorCode::InvalidArgument,
                    "GlobalPlatform sessions: the lifetime and the session limit must be positive");
}

GpSessionService::~GpSessionService() = default;

std::size_t GpSessionService::size() const {
    std::lock_guard lock(m_mutex);
    return m_sessions.size();
}

void GpSessionService::audit(const AuditEvent& event) {
    m_ctx.store.write([&](WriteTxn& t) { t.append_audit(event); });
}

void GpSessionService::sweep_expired_locked(std::int64_t now_ms) {
    for (auto it = m_sessions.begin(); it != m_sessions.end();) {
        if (it->second->expires_ms <= now_ms)
            it = m_sessions.erase(it);
        else
            ++it;
    }
    m_creates_since_sweep = 0;
}

namespace {

KeyRef ref_of(const KeyRecord& k) {
    const KeyVersion& v = k.current();
    return KeyRef{k.id, v.number, k.algorithm, k.usage, v.block, v.public_key};
}

bool is_aes(Algorithm a) {
    return a == Algorithm::Aes128 || a == Algorithm::Aes192 || a == Algorithm::Aes256;
}

/// Loads @p id for the role @p role ("enc", "mac", "dek", "kmc") of a session and checks the
/// plugin policy, the state, the usage and the algorithm.
std::shared_ptr<const KeyRecord> session_key(ServiceContext& ctx, const Principal& caller,
                                             const std::string& id, std::string_view role,
                                             GpProtocol protocol, bool needs_wrap) {
    if (id.empty())
        throw Error(ErrorCode::InvalidArgument, "keys." + std::string(role) + ": a key id is required");
    auto rec = load_key(ctx, id);
    authorize_policy(ctx, caller, rec.get(), PolicyOperation::Gp);
    if (rec->state != KeyState::Active)
        throw Error(ErrorCode::WrongState, "key '" + rec->id + "' (" + std::string(role) + ") is " +
                                               std::string(key_state_name(rec->state)) +
                                               ": a secure channel needs an Active key");
    if (!rec->usage.has(Usage::Derive) || (needs_wrap && !rec->usage.has(Usage::Wrap)))
        throw Error(ErrorCode::UsageNotPermitted,
                    "key '" + rec->id + "' (" + std::string(role) + ") needs the usage derive" +
                        (needs_wrap ? " and wrap" : ""));
    if (protocol == GpProtocol::Scp02 && rec->algorithm != Algorithm::Des3_2k)
        throw Error(ErrorCode::InvalidArgument,
                    "keys." + std::string(role) + ": SCP02 needs a DES3-2KEY key, key '" + rec->id +
                        "' is " + std::string(info(rec->algorithm).name));
    if (protocol == GpProtocol::Scp03 && !is_aes(rec->algorithm))
        throw Error(ErrorCode::InvalidArgument,
                    "keys." + std::string(role) + ": SCP03 needs an AES key, key '" + rec->id +
                        "' is " + std::string(info(rec->algorithm).name));
    return rec;
}

}  // namespace

GpSessionOpened GpSessionService::create(const Principal& caller, const GpSessionRequest& req) {
    require_role(caller, {Role::Admin, Role::KeyOfficer, Role::Plugin},
                 "opening a secure channel session");
    // "i" (GP 2.2.1 Table E-1 / Amd D §5.1).
    if (req.protocol == GpProtocol::Scp02) {
        if ((req.i & 0x01) == 0)
            throw Error(ErrorCode::Unsupported,
                        "i: SCP02 needs 3 Secure Channel Keys (b1 = 1), e.g. 15 or 55");
    } else if ((req.i & ~0x70) != 0) {
        throw Error(ErrorCode::Unsupported,
                    "i: SCP03 in S8 mode takes only the bits 10, 20 and 40 (e.g. 00, 10, 30, 70)");
    }
    if (req.host_challenge && req.host_challenge->size() != 8)
        throw Error(ErrorCode::InvalidArgument, "hostChallenge: must be 8 bytes");
    if (req.aid && (req.aid->size() < 5 || req.aid->size() > 16))
        throw Error(ErrorCode::InvalidArgument, "aid: an AID has 5 to 16 bytes");

    auto s = std::make_shared<Session>();
    s->owner = caller.name;
    s->protocol = req.protocol;
    s->i = req.i;
    s->key_version = req.key_version;
    s->aid = req.aid ? *req.aid : kDefaultAid;
    const bool statics = !req.enc.empty() || !req.mac.empty() || !req.dek.empty();
    if (statics == !req.kmc.empty())
        throw Error(ErrorCode::InvalidArgument,
                    "keys: give either enc, mac and dek, or kmc with a diversification");
    std::string key_list;
    if (statics) {
        if (req.diversification != GpDiversification::None)
            throw Error(ErrorCode::InvalidArgument,
                        "keys.diversification: only with kmc");
        s->enc = session_key(m_ctx, caller, req.enc, "enc", req.protocol, false);
        s->mac = session_key(m_ctx, caller, req.mac, "mac", req.protocol, false);
        s->dek = session_key(m_ctx, caller, req.dek, "dek", req.protocol, true);
        if (req.protocol == GpProtocol::Scp03 &&
            (s->enc->algorithm != s->mac->algorithm || s->enc->algorithm != s->dek->algorithm))
            throw Error(ErrorCode::InvalidArgument,
                        "keys: SCP03 static keys must all be of one AES length");
        key_list = "enc " + s->enc->id + ", mac " + s->mac->id + ", dek " + s->dek->id;
    } else {
        if (req.protocol == GpProtocol::Scp03 && req.diversification != GpDiversification::None)
            throw Error(ErrorCode::Unsupported,
                        "keys.diversification: VISA2 and EMV-CPS11 give DES3 keys (SCP02 only)");
        s->kmc = session_key(m_ctx, caller, req.kmc, "kmc", req.protocol, false);
        s->diversification = req.diversification;
        key_list = "kmc " + s->kmc->id + " (" +
                   std::string(gp_diversification_name(req.diversification)) + ")";
    }
    s->host_challenge = req.host_challenge ? *req.host_challenge : m_ctx.hsm.random(8);
    if (s->host_challenge.size() != 8)
        throw Error(ErrorCode::HsmError, "the HSM returned a host challenge of the wrong length");

    const Bytes iu = encode_command_apdu(
        crypto::scp03::initialize_update_command(s->key_version, s->host_challenge));
    s->id = "s-" + to_hex(crypto::random_bytes(16));

    const std::int64_t now = m_ctx.clock.now_ms();
    s->expires_ms = now + m_lifetime_ms;
    {
        std::lock_guard lock(m_mutex);
        if (m_sessions.size() >= m_max_sessions || ++m_creates_since_sweep >= 1024)
            sweep_expired_locked(now);
        if (m_sessions.size() >= m_max_sessions)
            throw Error(ErrorCode::Conflict,
                        "too many open secure channel sessions (" +
                            std::to_string(m_max_sessions) + "); close some or retry later");
        m_sessions.emplace(s->id, s);
    }
    // Queued, not waited for: INITIALIZE UPDATE uses no key, and authenticate() confirms
    // this record before the session's first cryptogram leaves kmsd. A crash before the
    // commit loses the record together with the in-memory session, which never did anything.
    AuditEvent opened{caller.name, "gp.session.open", s->id, AuditOutcome::Success,
                      std::string(gp_protocol_name(s->protocol)) + " i=" + hex_byte(s->i) +
                          " keyVersion=" + std::to_string(s->key_version) + ", " + key_list};
    try {
        std::lock_guard session_lock(s->mutex);  // the session is in the map already
        s->open_record = m_ctx.store.write_queued(
            [opened = std::move(opened)](WriteTxn& t) { t.append_audit(opened); });
    } catch (...) {
        std::lock_guard lock(m_mutex);
        m_sessions.erase(s->id);
        throw;
    }
    return GpSessionOpened{s->id, iu};
}

std::shared_ptr<GpSessionService::Session> GpSessionService::find(const Principal& caller,
                                                                  const std::string& id) {
    std::lock_guard lock(m_mutex);
    auto it = m_sessions.find(id);
    if (it == m_sessions.end() || it->second->owner != caller.name)
        throw Error(ErrorCode::NotFound, "no secure channel session '" + id + "'");
    if (it->second->expires_ms <= m_ctx.clock.now_ms()) {
        m_sessions.erase(it);
        throw Error(ErrorCode::Expired, "secure channel session '" + id + "' has expired");
    }
    return it->second;
}

GpSessionService::Held GpSessionService::hold(const Principal& caller, const std::string& id) {
    Held h{find(caller, id), {}};
    h.lock = std::unique_lock(h.session->mutex);
    if (h.session->closed) throw Error(ErrorCode::NotFound, "no secure channel session '" + id + "'");
    return h;
}

void GpSessionService::confirm_opened(const Held& s, const std::string& id) {
    // Called after the HSM work of authenticate(), by which time the open record's batch has
    // almost always committed: this rarely blocks, and the success record comes after it.
    try {
        s->open_record->wait();
    } catch (...) {
        // Fail closed: a session whose opening is not on record answers no cryptogram.
        s->closed = true;
        std::lock_guard lock(m_mutex);
        m_sessions.erase(id);
        throw;
    }
}

GpSessionService::Held GpSessionService::hold_authenticated(const Principal& caller,
                                                            const std::string& id) {
    Held h = hold(caller, id);
    if (!h.session->authenticated)
        throw Error(ErrorCode::WrongState,
                    "secure channel session '" + id + "' is not authenticated yet");
    return h;
}

namespace {

/// Strips a trailing SW 9000 from an INITIALIZE UPDATE response when the length says it has one.
ByteView response_data(ByteView r, std::initializer_list<std::size_t> data_lengths) {
    for (std::size_t n : data_lengths) {
        if (r.size() == n) return r;
        if (r.size() == n + 2) {
            if (r[n] != 0x90 || r[n + 1] != 0x00)
                throw Error(ErrorCode::InvalidArgument,
                            "initializeUpdateResponse: the card answered SW " +
                                to_hex(r.subspan(n, 2)) + ", not 9000");
            return r.first(n);
        }
    }
    throw Error(ErrorCode::InvalidArgument,
                "initializeUpdateResponse: wrong length (" + std::to_string(r.size()) + " bytes)");
}

Bytes concat(ByteView a, ByteView b) {
    Bytes out(a.begin(), a.end());
    out.insert(out.end(), b.begin(), b.end());
    return out;
}

}  // namespace

Bytes GpSessionService::authenticate(const Principal& caller, const std::string& id,
                                     ByteView response, std::uint8_t level) {
    const Held s = hold(caller, id);
    if (s->authenticated)
        throw Error(ErrorCode::WrongState, "secure channel session '" + id +
                                               "' is already authenticated");

    GpCardKeys card;
    if (s->kmc) {
        card.kmc = ref_of(*s->kmc);
        card.diversification = s->diversification;
    } else {
        card.enc = ref_of(*s->enc);
        card.mac = ref_of(*s->mac);
        card.dek = ref_of(*s->dek);
    }
    auto fail = [&](const std::string& why) {
        audit(AuditEvent{caller.name, "gp.authenticate", id, AuditOutcome::Failed, why});
        throw Error(ErrorCode::VerificationFailed, why);
    };

    if (s->protocol == GpProtocol::Scp02) {
        const auto r = crypto::parse_scp02_initialize_update_response(response);
        if (s->key_version != 0 && r.key_version != s->key_version)
            throw Error(ErrorCode::InvalidArgument,
                        "initializeUpdateResponse: the card used key version " +
                            std::to_string(r.key_version) + ", not " +
                            std::to_string(s->key_version));
        // Levels first, so a bad level does not cost an HSM derivation.
        if ((level & ~0x13) != 0 ||
            ((level & crypto::scp02_level::CDec) != 0 && (level & crypto::scp02_level::CMac) == 0))
            throw Error(ErrorCode::InvalidArgument,
                        "securityLevel: SCP02 takes 00, 01, 03, 10, 11 or 13");
        card.kdd = r.kdd;
        GpSessionKeys k = m_ctx.hsm.derive_gp_session_keys(GpProtocol::Scp02, card, r.seq);
        const Bytes expected =
            crypto::scp02_card_cryptogram(k.enc.view(), s->host_challenge, r.seq, r.card_challenge);
        if (!equal_ct(expected, r.card_cryptogram)) fail("the card cryptogram does not verify");
        if ((s->i & 0x40) != 0 &&
            !equal_ct(crypto::scp02_pseudo_random_card_challenge(k.mac.view(), s->aid),
                      r.card_challenge))
            fail("the card challenge is not the pseudo-random challenge for AID " +
                 to_hex(s->aid));
        const Bytes host = crypto::scp02_host_cryptogram(k.enc.view(), r.seq, r.card_challenge,
                                                         s->host_challenge);
        crypto::Scp02SessionKeys keys{std::move(k.enc), std::move(k.mac), std::move(k.rmac),
                                      std::move(k.dek)};
        s->scp02.emplace(std::move(keys), s->i, level);
        Bytes ea = s->scp02->external_authenticate(host);
        confirm_opened(s, id);
        audit(AuditEvent{caller.name, "gp.authenticate", id, AuditOutcome::Success,
                         "SCP02 level " + hex_byte(level)});
        s->authenticated = true;
        return ea;
    }

    const auto r = crypto::scp03::parse_initialize_update_response(response_data(response, {29, 32}));
    if (r.i != s->i)
        throw Error(ErrorCode::InvalidArgument, "initializeUpdateResponse: the card reports i=" +
                                                    hex_byte(r.i) + ", the session was opened with i=" +
                                                    hex_byte(s->i));
    if (s->key_version != 0 && r.key_version != s->key_version)
        throw Error(ErrorCode::InvalidArgument, "initializeUpdateResponse: the card used key version " +
                                                    std::to_string(r.key_version) + ", not " +
                                                    std::to_string(s->key_version));
    try {
        crypto::scp03::check_security_level(level, s->i);
    } catch (const Error& e) {
        throw Error(ErrorCode::InvalidArgument, std::string("securityLevel: ") + e.what());
    }
    card.kdd = r.key_diversification_data;
    const Bytes context = concat(s->host_challenge, r.card_challenge);
    GpSessionKeys k = m_ctx.hsm.derive_gp_session_keys(GpProtocol::Scp03, card, context);
    const Bytes expected =
        crypto::scp03::card_cryptogram(k.mac.view(), s->host_challenge, r.card_challenge);
    if (!equal_ct(expected, r.card_cryptogram)) fail("the card cryptogram does not verify");
    // i bit 0x10: the card challenge must be the pseudo-random one (Amd D §6.2.2.3), computed
    // in the HSM under the static ENC key (the KMC when the session was opened with one).
    if ((s->i & 0x10) != 0) {
        if (!r.sequence_counter)
            throw Error(ErrorCode::InvalidArgument,
                        "initializeUpdateResponse: i=" + hex_byte(s->i) +
                            " needs the sequence counter (32 bytes of data)");
        const KeyRef enc = s->kmc ? ref_of(*s->kmc) : ref_of(*s->enc);
        if (!equal_ct(m_ctx.hsm.gp_scp03_card_challenge(enc, *r.sequence_counter, s->aid),
                      r.card_challenge))
            fail("the card challenge is not the pseudo-random challenge for AID " +
                 to_hex(s->aid));
    }
    const Bytes host =
        crypto::scp03::host_cryptogram(k.mac.view(), s->host_challenge, r.card_challenge);
    crypto::scp03::SessionKeys keys{std::move(k.enc), std::move(k.mac), std::move(k.rmac)};
    s->scp03.emplace(std::move(keys), s->i);
    Bytes ea = encode_command_apdu(s->scp03->external_authenticate(host, level));
    confirm_opened(s, id);
    audit(AuditEvent{caller.name, "gp.authenticate", id, AuditOutcome::Success,
                     "SCP03 level " + hex_byte(level)});
    s->authenticated = true;
    return ea;
}

std::vector<Bytes> GpSessionService::wrap(const Principal& caller, const std::string& id,
                                          const std::vector<Bytes>& apdus) {
    if (apdus.size() > kGpMaxApdusPerCall)
        throw Error(ErrorCode::InvalidArgument, "apdus: at most " +
                                                    std::to_string(kGpMaxApdusPerCall) +
                                                    " per call");
    std::vector<CommandApdu> parsed;
    parsed.reserve(apdus.size());
    for (std::size_t n = 0; n < apdus.size(); ++n) {
        try {
            parsed.push_back(parse_command_apdu(apdus[n]));
        } catch (const Error& e) {
            throw Error(ErrorCode::InvalidArgument,
                        "apdus[" + std::to_string(n) + "]: " + e.what());
        }
    }
    const Held s = hold_authenticated(caller, id);
    const std::size_t pending =
        s->scp02 ? s->scp02->pending_responses() : s->scp03->pending_responses();
    const bool rmac = s->scp02 ? (s->scp02->security_level() & crypto::scp02_level::RMac) != 0
                               : (s->scp03->security_level() & crypto::scp03::kLevelRMac) != 0;
    if (rmac && pending + parsed.size() > kGpMaxPendingResponses)
        throw Error(ErrorCode::Conflict,
                    "secure channel session '" + id + "' has " + std::to_string(pending) +
                        " wrapped commands whose responses were not unwrapped; with R-MAC at most " +
                        std::to_string(kGpMaxPendingResponses) +
                        " may wait: unwrap their responses first");
    std::vector<Bytes> out;
    out.reserve(parsed.size());
    for (std::size_t n = 0; n < parsed.size(); ++n) {
        try {
            if (s->scp02)
                out.push_back(s->scp02->wrap(parsed[n]));
            else
                out.push_back(encode_command_apdu(s->scp03->wrap(parsed[n])));
        } catch (const Error& e) {
            if (e.code() != ErrorCode::InvalidArgument) throw;
            throw Error(ErrorCode::InvalidArgument,
                        "apdus[" + std::to_string(n) + "]: " + e.what() +
                            (n > 0 ? " (the APDUs before it were wrapped and the session advanced)"
                                   : ""));
        }
    }
    return out;
}

std::vector<Bytes> GpSessionService::unwrap(const Principal& caller, const std::string& id,
                                            const std::vector<Bytes>& responses) {
    if (responses.size() > kGpMaxApdusPerCall)
        throw Error(ErrorCode::InvalidArgument, "responses: at most " +
                                                    std::to_string(kGpMaxApdusPerCall) +
                                                    " per call");
    for (std::size_t n = 0; n < responses.size(); ++n)
        if (responses[n].size() < 2)
            throw Error(ErrorCode::InvalidArgument,
                        "responses[" + std::to_string(n) + "]: a response has at least SW1 SW2");
    const Held s = hold_authenticated(caller, id);
    std::vector<Bytes> out;
    out.reserve(responses.size());
    for (std::size_t n = 0; n < responses.size(); ++n) {
        try {
            if (s->scp02)
                out.push_back(s->scp02->unwrap(responses[n]));
            else
                out.push_back(
                    encode_response_apdu(s->scp03->unwrap(parse_response_apdu(responses[n]))));
        } catch (const Error& e) {
            if (e.code() != ErrorCode::VerificationFailed && e.code() != ErrorCode::InvalidArgument &&
                e.code() != ErrorCode::WrongState)
                throw;
            throw Error(e.code(), "responses[" + std::to_string(n) + "]: " + e.what());
        }
    }
    return out;
}

namespace {

/// The card's DEK: the static DEK, or the KMC; SCP02 adds the session DEK.
GpDek dek_of(const KeyRecord& dek_record, const std::optional<crypto::Scp02Wrapper>& scp02) {
    GpDek d;
    d.protocol = scp02 ? GpProtocol::Scp02 : GpProtocol::Scp03;
    d.key = ref_of(dek_record);
    if (scp02) d.session_dek = &scp02->session_dek();
    return d;
}

std::string kcv_list(const std::vector<Bytes>& kcvs) {
    std::string out;
    for (const auto& k : kcvs) out += (out.empty() ? "" : ",") + to_hex(k);
    return out;
}

}  // namespace

GpPutKeyResult GpSessionService::put_key(const Principal& caller, const std::string& id,
                                         const GpPutKeyRequest& req) {
    if (req.keys.empty() || req.keys.size() > 3)
        throw Error(ErrorCode::InvalidArgument, "keys: 1 to 3 key ids per PUT KEY");
    if (req.new_version < 1 || req.new_version > 0x7F)
        throw Error(ErrorCode::InvalidArgument, "newKeyVersion: must be 1..127");
    if (req.replace_version > 0x7F)
        throw Error(ErrorCode::InvalidArgument, "replaceKeyVersion: must be 0..127");
    if (req.key_id < 1 || req.key_id > 0x7F)
        throw Error(ErrorCode::InvalidArgument, "keyId: must be 1..127");
    const Held s = hold_authenticated(caller, id);
    const auto& dek_rec = s->dek ? s->dek : s->kmc;
    if (!dek_rec->trusted || !dek_rec->usage.has(Usage::Wrap))
        throw Error(ErrorCode::UsageNotPermitted,
                    "the card's DEK (key '" + dek_rec->id +
                        "') must be trusted with usage wrap to deliver keys by PUT KEY");
    std::vector<std::shared_ptr<const KeyRecord>> keys;
    for (std::size_t n = 0; n < req.keys.size(); ++n) {
        const std::string field = "keys[" + std::to_string(n) + "]";
        if (req.keys[n].empty()) throw Error(ErrorCode::InvalidArgument, field + ": a key id is required");
        auto rec = load_key(m_ctx, req.keys[n]);
        authorize_policy(m_ctx, caller, rec.get(), PolicyOperation::Gp);
        if (rec->state != KeyState::Active)
            throw Error(ErrorCode::WrongState, field + ": key '" + rec->id + "' is " +
                                                   std::string(key_state_name(rec->state)) +
                                                   "; PUT KEY delivers Active keys");
        if (!rec->exportable)
            throw Error(ErrorCode::UsageNotPermitted,
                        field + ": key '" + rec->id + "' is not exportable");
        // SCP02 also loads AES-128/256 keys (a card moving to SCP03), TDEA-ECB encrypted.
        const bool fits = s->scp02 ? rec->algorithm == Algorithm::Des3_2k ||
                                         rec->algorithm == Algorithm::Aes128 ||
                                         rec->algorithm == Algorithm::Aes256
                                   : is_aes(rec->algorithm);
        if (!fits)
            throw Error(ErrorCode::InvalidArgument,
                        field + ": " +
                            (s->scp02 ? "SCP02 loads DES3-2K, AES-128 and AES-256 keys"
                                      : "SCP03 loads AES keys") +
                            ", key '" + rec->id + "' is " + std::string(info(rec->algorithm).name));
        keys.push_back(std::move(rec));
    }
    const GpDek dek = dek_of(*dek_rec, s->scp02);
    std::vector<crypto::gp::PutKeyComponent> components;
    GpPutKeyResult out;
    std::string key_list;
    for (const auto& rec : keys) {
        GpEncryptedKey e = m_ctx.hsm.gp_encrypt_key(dek, ref_of(*rec));
        out.kcvs.push_back(e.kcv);
        components.push_back(crypto::gp::PutKeyComponent{
            rec->algorithm == Algorithm::Des3_2k ? crypto::gp::KeyType::Des
                                                 : crypto::gp::KeyType::Aes,
            static_cast<std::uint8_t>(e.key_length), std::move(e.encrypted), std::move(e.kcv)});
        key_list += (key_list.empty() ? "" : ",") + rec->id;
    }
    const CommandApdu command =
        crypto::gp::put_key_command(req.replace_version, req.key_id, req.new_version, components);
    out.apdu = s->scp02 ? s->scp02->wrap(command) : encode_command_apdu(s->scp03->wrap(command));
    out.key_version = req.new_version;
    s->pending_put_key = out;
    audit(AuditEvent{caller.name, "gp.put-key", id, AuditOutcome::Success,
                     "keyVersion=" + std::to_string(req.new_version) +
                         " replacing=" + std::to_string(req.replace_version) +
                         " keyId=" + std::to_string(req.key_id) + " keys=" + key_list +
                         " kcvs=" + kcv_list(out.kcvs) + " dek=" + dek_rec->id});
    return out;
}

GpPutKeyResult GpSessionService::verify_put_key(const Principal& caller, const std::string& id,
                                                ByteView response) {
    const Held s = hold(caller, id);
    if (!s->pending_put_key)
        throw Error(ErrorCode::WrongState,
                    "secure channel session '" + id + "' has no PUT KEY waiting for its response");
    const GpPutKeyResult expected = *s->pending_put_key;
    crypto::gp::PutKeyResponse got;
    try {
        got = crypto::gp::parse_put_key_response(response, expected.kcvs.size());
    } catch (const Error& e) {
        throw Error(ErrorCode::InvalidArgument, std::string("response: ") + e.what());
    }
    std::string why;
    if (got.key_version != expected.key_version)
        why = "the card reports key version " + std::to_string(got.key_version) + ", expected " +
              std::to_string(expected.key_version);
    for (std::size_t n = 0; why.empty() && n < got.kcvs.size(); ++n)
        if (!equal_ct(got.kcvs[n], expected.kcvs[n]))
            why = "the card's KCV of key " + std::to_string(n + 1) + " is " + to_hex(got.kcvs[n]) +
                  ", expected " + to_hex(expected.kcvs[n]);
    s->pending_put_key.reset();
    if (!why.empty()) {
        audit(AuditEvent{caller.name, "gp.put-key.verify", id, AuditOutcome::Failed, why});
        throw Error(ErrorCode::VerificationFailed, why);
    }
    audit(AuditEvent{caller.name, "gp.put-key.verify", id, AuditOutcome::Success,
                     "keyVersion=" + std::to_string(got.key_version) +
                         " kcvs=" + kcv_list(got.kcvs)});
    GpPutKeyResult out;
    out.key_version = got.key_version;
    out.kcvs = std::move(got.kcvs);
    return out;
}

Bytes GpSessionService::encrypt_data(const Principal& caller, const std::string& id, ByteView data,
                                     bool pad) {
    const Held s = hold_authenticated(caller, id);
    const auto& dek_rec = s->dek ? s->dek : s->kmc;
    if (!dek_rec->usage.has(Usage::Wrap))
        throw Error(ErrorCode::UsageNotPermitted,
                    "the card's DEK (key '" + dek_rec->id + "') needs usage wrap");
    const std::size_t block = s->scp02 ? 8 : 16;
    const Bytes padded = pad ? crypto::pad_iso9797_m2(data, block) : Bytes(data.begin(), data.end());
    if (padded.empty() || padded.size() % block != 0)
        throw Error(ErrorCode::InvalidArgument,
                    "data: " + std::to_string(data.size()) + " bytes is not a whole number of " +
                        std::to_string(block) + "-byte blocks (ask for padding ISO9797-M2)");
    if (padded.size() > kGpMaxDataBytes)
        throw Error(ErrorCode::InvalidArgument,
                    "data: at most " + std::to_string(kGpMaxDataBytes) + " bytes per call");
    return m_ctx.hsm.gp_encrypt_data(dek_of(*dek_rec, s->scp02), padded);
}

GpDiversifiedKeys GpSessionService::diversify(const Principal& caller,
                                              const GpDiversifyRequest& req) {
    require_role(caller, {Role::Admin, Role::KeyOfficer, Role::Plugin},
                 "diversifying a card key set");
    if (req.diversification == GpDiversification::None)
        throw Error(ErrorCode::InvalidArgument, "diversification: VISA2 or EMV-CPS11");
    if (req.kdd.size() != 10)
        throw Error(ErrorCode::InvalidArgument, "kdd: the key diversification data has 10 bytes");
    auto kmc = load_key(m_ctx, req.kmc);
    authorize_policy(m_ctx, caller, kmc.get(), PolicyOperation::Gp);
    if (kmc->state != KeyState::Active)
        throw Error(ErrorCode::WrongState, "kmc: key '" + kmc->id + "' is " +
                                               std::string(key_state_name(kmc->state)) +
                                               "; diversification needs an Active key");
    if (!kmc->usage.has(Usage::Derive))
        throw Error(ErrorCode::UsageNotPermitted, "kmc: key '" + kmc->id + "' needs the usage derive");
    if (kmc->algorithm != Algorithm::Des3_2k)
        throw Error(ErrorCode::InvalidArgument,
                    "kmc: VISA2 and EMV-CPS11 diversify a DES3-2K master key; key '" + kmc->id +
                        "' is " + std::string(info(kmc->algorithm).name));

    struct Role_ {
        const char* suffix;
        GpKeyRole role;
        bool dek;
    };
    const Role_ roles[] = {{"-enc", GpKeyRole::Enc, false},
                           {"-mac", GpKeyRole::Mac, false},
                           {"-dek", GpKeyRole::Dek, true}};
    std::vector<KeyRecord> recs;
    const std::int64_t now = m_ctx.clock.now_ms();
    for (const auto& r : roles) {
        KeyRecord rec;
        rec.name = req.name + r.suffix;
        try {
            validate_key_name(rec.name);
        } catch (const Error& e) {
            throw Error(ErrorCode::InvalidArgument, std::string("name: ") + e.what());
        }
        if (m_ctx.store.find_key_id_by_name(rec.name))
            throw Error(ErrorCode::Conflict, "name: a key named '" + rec.name + "' already exists");
        rec.id = new_key_id();
        rec.algorithm = Algorithm::Des3_2k;
        rec.usage = UsageMask().add(Usage::Derive);
        if (r.dek) rec.usage.add(Usage::Wrap);
        rec.exportable = true;
        rec.trusted = r.dek;
        rec.created_by = caller.name;
        rec.created_ms = now;
        // A plugin must be able to use what it creates: its policy must name the new keys.
        authorize_policy(m_ctx, caller, &rec, PolicyOperation::Gp);
        recs.push_back(std::move(rec));
    }
    for (std::size_t n = 0; n < recs.size(); ++n) {
        KeyRecord& rec = recs[n];
        const KeySpec spec{rec.id, 1, rec.algorithm, rec.usage, rec.exportable, rec.trusted};
        GeneratedKey g = m_ctx.hsm.gp_diversify_key(spec, ref_of(*kmc), req.diversification,
                                                    req.kdd, roles[n].role);
        rec.versions.push_back(KeyVersion{1, g.block, g.kcv, {}, now});
        rec.state = KeyState::Active;
        rec.activation_ms = now;
        rec.history.push_back(StateChange{KeyState::PreActive, KeyState::Active, now, caller.name,
                                          "diversified from " + kmc->id});
    }
    // All three in one transaction: a card key set is stored whole or not at all.
    m_ctx.store.write([&](WriteTxn& t) {
        for (const auto& rec : recs) {
            if (t.find_key_id_by_name(rec.name))
                throw Error(ErrorCode::Conflict, "name: a key named '" + rec.name + "' already exists");
            check_alias_free(t, rec.name, rec.id);  // a KMIP client's extra name
            t.put_key(rec);
            t.append_audit(AuditEvent{
                caller.name, "gp.diversify", rec.id, AuditOutcome::Success,
                describe_new_key(rec) + " kmc=" + kmc->id + " method=" +
                    std::string(gp_diversification_name(req.diversification)) +
                    " kdd=" + to_hex(req.kdd)});
        }
    });
    for (const auto& rec : recs) m_ctx.keys.invalidate(rec.id);
    return GpDiversifiedKeys{recs[0], recs[1], recs[2]};
}

void GpSessionService::close(const Principal& caller, const std::string& id) {
    std::shared_ptr<Session> s;
    {
        std::lock_guard lock(m_mutex);
        auto it = m_sessions.find(id);
        if (it == m_sessions.end() || it->second->owner != caller.name)
            throw Error(ErrorCode::NotFound, "no secure channel session '" + id + "'");
        s = std::move(it->second);
        m_sessions.erase(it);
    }
    {
        // Wait for a call in progress; then wipe the keys now rather than at the last release.
        std::lock_guard lock(s->mutex);
        s->closed = true;
        s->scp02.reset();
        s->scp03.reset();
    }
    audit(AuditEvent{caller.name, "gp.session.close", id, AuditOutcome::Success, ""});
}

}  // namespace kms::core
