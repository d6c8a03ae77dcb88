// The virtual secure element's Issuer Security Domain (see virtual_se.hpp): configuration checks,
// the command dispatcher with the secure channel rules, and the ISD commands. Section numbers are
// those of GP Card Specification 2.2.1 unless they name Amendment D.
#include "virtual_se.hpp"

#include <algorithm>
#include <string>

#include "domain/error.hpp"
#include "scp02_card.hpp"
#include "scp03_card.hpp"
#include "status_words.hpp"
#include "transit_purse.hpp"

namespace kms::tsm::vse {

using core::CommandApdu;
using core::ResponseApdu;

namespace {

constexpr std::uint8_t kInsSelect = 0xA4;
constexpr std::uint8_t kInsInitializeUpdate = 0x50;
constexpr std::uint8_t kInsExternalAuthenticate = 0x82;
constexpr std::uint8_t kInsGetData = 0xCA;
constexpr std::uint8_t kInsPutKey = 0xD8;
constexpr std::uint8_t kInsStoreData = 0xE2;
constexpr std::uint8_t kInsSetStatus = 0xF0;
constexpr std::uint8_t kInsInstall = 0xE6;
constexpr std::uint8_t kInsLoad = 0xE8;
constexpr std::uint8_t kInsDelete = 0xE4;
constexpr std::uint8_t kInsGetStatus = 0xF2;
constexpr std::uint8_t kClaSecureMessaging = 0x04;
constexpr std::uint8_t kClaGp = 0x80;

ResponseApdu status(std::uint16_t s) {
    return ResponseApdu{{}, s};
}

void check(bool ok, const std::string& what) {
    if (!ok) throw Error(ErrorCode::InvalidArgument, "virtual SE configuration: " + what);
}

bool valid_life_cycle(std::uint8_t v) {
    return v == 0x01 || v == 0x07 || v == 0x0F || v == 0x7F || v == 0xFF;
}

/// §5.1.1: OP_READY -> INITIALIZED -> SECURED, SECURED <-> CARD_LOCKED, anything -> TERMINATED;
/// no way back towards OP_READY.
bool transition_allowed(CardLifeCycle from, CardLifeCycle to) {
    using L = CardLifeCycle;
    if (to == L::Terminated) return from != L::Terminated;
    switch (from) {
        case L::OpReady:
            return to == L::Initialized || to == L::Secured;
        case L::Initialized:
            return to == L::Secured;
        case L::Secured:
            return to == L::CardLocked;
        case L::CardLocked:
            return to == L::Secured;
        case L::Terminated:
            return false;
    }
    return false;
}

bool starts_with(ByteView whole, ByteView prefix) {
    return prefix.size() <= whole.size() && std::equal(prefix.begin(), prefix.end(), whole.begin());
}

}  // namespace

VirtualSe::VirtualSe(VirtualSeConfig config)
    : m_aid(std::move(config.isd_aid)),
      m_scp(config.scp),
      m_i(config.i),
      m_kdd(std::move(config.kdd)),
      m_sequence_counter(config.sequence_counter),
      m_cplc(std::move(config.cplc)),
      m_life_cycle(config.life_cycle),
      m_card_challenge(std::move(config.card_challenge)) {
    validate(false);
    check(config.key_version >= 1 && config.key_version <= 0x7F, "the key version must be 1..127");
    const std::size_t n = config.enc.size();
    check(config.mac.size() == n && config.dek.size() == n,
          "the ENC, MAC and DEK keys must be of one length");
    const CardKeyType type = m_scp == Scp::Scp02 ? CardKeyType::Des : CardKeyType::Aes;
    if (m_scp == Scp::Scp03)
        check(n == 16 || n == 24 || n == 32, "SCP03 keys must be AES-128, -192 or -256");
    else
        check(n == 16, "SCP02 keys must be two-key TDEA (16 bytes)");
    m_keys.put(config.key_version, kKeyIdEnc, CardKey{type, std::move(config.enc)});
    m_keys.put(config.key_version, kKeyIdMac, CardKey{type, std::move(config.mac)});
    m_keys.put(config.key_version, kKeyIdDek, CardKey{type, std::move(config.dek)});
}

VirtualSe::VirtualSe(VirtualSeState state)
    : m_aid(std::move(state.isd_aid)),
      m_scp(state.scp),
      m_i(state.i),
      m_kdd(std::move(state.kdd)),
      m_sequence_counter(state.sequence_counter),
      m_cplc(std::move(state.cplc)),
      m_life_cycle(state.life_cycle) {
    validate(true);
    for (auto& k : state.keys) {
        check(k.version >= 1 && k.version <= 0x7F, "a key version must be 1..127");
        check(k.id >= 1 && k.id <= 0x7F, "a key identifier must be 1..127");
        check(k.type == CardKeyType::Des
                  ? (k.value.size() == 16 || k.value.size() == 24)
                  : (k.value.size() == 16 || k.value.size() == 24 || k.value.size() == 32),
              "a key has a length its type does not allow");
        m_keys.put(k.version, k.id, CardKey{k.type, std::move(k.value)});
    }
    for (auto& f : state.load_files) {
        check(!aid_taken(m_registry, m_aid, f.aid), "AID " + to_hex(f.aid) + " is there twice");
        m_registry.add_load_file(std::move(f));
    }
    for (auto& a : state.applications) {
        check(!aid_taken(m_registry, m_aid, a.aid), "AID " + to_hex(a.aid) + " is there twice");
        check(m_registry.find_load_file(a.load_file_aid) != nullptr,
              "application " + to_hex(a.aid) + " has no load file on the card");
        check(a.privileges.size() == 3, "application privileges have 3 bytes");
        m_registry.add_application(std::move(a));
    }
}

void VirtualSe::validate(bool restored) const {
    // A restored card may have spent its counter: one past the last value (INITIALIZE UPDATE
    // then answers 6985); a new card may not.
    const std::uint32_t spent = restored ? 1 : 0;
    check(m_aid.size() >= 5 && m_aid.size() <= 16, "the ISD AID must be 5 to 16 bytes");
    check(m_kdd.size() == 10, "the key diversification data must be 10 bytes");
    check(m_cplc.size() <= 252, "the CPLC data must be at most 252 bytes");
    check(valid_life_cycle(static_cast<std::uint8_t>(m_life_cycle)),
          "the card life cycle must be 01, 07, 0F, 7F or FF");
    if (m_scp == Scp::Scp03) {
        check(
            m_i == 0x00 || m_i == 0x10 || m_i == 0x20 || m_i == 0x30 || m_i == 0x60 || m_i == 0x70,
            "SCP03 i must be 00, 10, 20, 30, 60 or 70");
        check(m_sequence_counter <= 0xFFFFFF + spent, "the SCP03 sequence counter has 3 bytes");
        check(!m_card_challenge || m_card_challenge->size() == 8,
              "an SCP03 card challenge has 8 bytes");
    } else if (m_scp == Scp::Scp02) {
        check(m_i == 0x15 || m_i == 0x35 || m_i == 0x55 || m_i == 0x75,
              "SCP02 i must be 15, 35, 55 or 75");
        check(m_sequence_counter <= 0xFFFF + spent, "the SCP02 sequence counter has 2 bytes");
        check(!m_card_challenge || m_card_challenge->size() == 6,
              "an SCP02 card challenge has 6 bytes");
    } else {
        check(false, "the SCP must be 02 or 03");
    }
}

VirtualSeState VirtualSe::state() const {
    VirtualSeState s;
    s.isd_aid = m_aid;
    s.scp = m_scp;
    s.i = m_i;
    s.kdd = m_kdd;
    s.sequence_counter = m_sequence_counter;
    s.cplc = m_cplc;
    s.life_cycle = m_life_cycle;
    for (const auto& [version, keys] : m_keys.sets())
        for (const auto& [id, key] : keys)
            s.keys.push_back(CardKeyEntry{version, id, key.type, SecureBytes(key.value.view())});
    s.load_files = m_registry.load_files();
    s.applications = m_registry.applications();
    return s;
}

void VirtualSe::install_purse(ByteView credit_key, std::uint32_t balance, std::uint16_t counter) {
    check(credit_key.size() == 16, "the purse credit key must be two-key TDEA (16 bytes)");
    check(!m_keys.has_version(kPurseCreditKeyVersion), "key set 70 is already on the card");
    check(!aid_taken(m_registry, m_aid, kPursePackageAid) &&
              !aid_taken(m_registry, m_aid, kPurseInstanceAid),
          "the purse's AIDs are already on the card");
    m_registry.add_load_file(LoadFile{kPursePackageAid, {}, {kPurseModuleAid}, kLoadFileLoaded});
    Application app;
    app.aid = kPurseInstanceAid;
    app.load_file_aid = kPursePackageAid;
    app.module_aid = kPurseModuleAid;
    app.life_cycle = kAppPersonalized;
    app.purse = PurseState{true, balance, counter};
    m_registry.add_application(std::move(app));
    m_keys.put(kPurseCreditKeyVersion, kPurseCreditKeyId,
               CardKey{CardKeyType::Des, SecureBytes(credit_key)});
}

void VirtualSe::reset() noexcept {
    close_channel();
    m_selected.reset();
}

VirtualSe::~VirtualSe() = default;
VirtualSe::VirtualSe(VirtualSe&&) noexcept = default;
VirtualSe& VirtualSe::operator=(VirtualSe&&) noexcept = default;

bool VirtualSe::secure_channel_open() const noexcept {
    return m_channel && m_channel->authenticated();
}

std::uint8_t VirtualSe::security_level() const noexcept {
    return secure_channel_open() ? m_channel->security_level() : 0;
}

std::optional<Bytes> VirtualSe::key_check_value(std::uint8_t version, std::uint8_t id) const {
    const CardKey* k = m_keys.find(version, id);
    if (!k) return std::nullopt;
    return card_key_kcv(*k);
}

void VirtualSe::set_card_challenge(std::optional<Bytes> challenge) {
    const std::size_t want = m_scp == Scp::Scp02 ? 6 : 8;
    if (challenge && challenge->size() != want)
        throw Error(ErrorCode::InvalidArgument,
                    "virtual SE: the card challenge must be " + std::to_string(want) + " bytes");
    m_card_challenge = std::move(challenge);
}

void VirtualSe::close_channel() noexcept {
    m_channel.reset();
    m_next_block = 0;
    m_personalize.reset();
    m_registry.end_session();
}

Bytes VirtualSe::process(ByteView raw) {
    CommandApdu c;
    try {
        c = core::parse_command_apdu(raw);
    } catch (const Error&) {
        return {0x67, 0x00};
    }
    ResponseApdu r;
    try {
        r = dispatch(c);
    } catch (const Error&) {
        // A bug or an unexpected input the checks above missed: no precise diagnosis (ISO/IEC
        // 7816-4 6F00), and no session survives it.
        close_channel();
        r = status(0x6F00);
    }
    return core::encode_response_apdu(r);
}

ResponseApdu VirtualSe::dispatch(const CommandApdu& c) {
    // ISO/IEC 7816-4 §5.4.1 interindustry class 00-0F and GP proprietary class 80-8F; only the
    // basic logical channel, no ISO secure messaging (bit 08) and no command chaining (bit 10).
    if (c.cla > 0x07 && !(c.cla >= kClaGp && c.cla <= 0x87)) return status(sw::kClaNotSupported);
    if (c.cla & 0x03) return status(sw::kLogicalChannelNotSupported);
    // A session waiting for EXTERNAL AUTHENTICATE ends with any other command.
    if (m_channel && !m_channel->authenticated() && c.ins != kInsExternalAuthenticate)
        close_channel();
    // §5.1.1.5: a TERMINATED card only answers GET DATA (and SELECT, to reach it).
    if (m_life_cycle == CardLifeCycle::Terminated && c.ins != kInsGetData && c.ins != kInsSelect)
        return status(sw::kFunctionNotSupported);

    switch (c.ins) {
        case kInsSelect:
            if (c.cla & kClaGp) return status(sw::kClaNotSupported);
            if (c.cla & kClaSecureMessaging) return status(sw::kSecureMessagingNotSupported);
            return select(c);
        case kInsInitializeUpdate:
            if (c.cla != kClaGp) return status(sw::kClaNotSupported);
            return initialize_update(c);
        case kInsExternalAuthenticate:
            if (!(c.cla & kClaGp)) return status(sw::kClaNotSupported);
            return external_authenticate(c);
        default:
            break;
    }
    if (secure_channel_open()) {
        // Every command of a session is checked, whatever its INS, so the MAC chaining and the
        // encryption counter stay in step with the host's.
        auto plain = m_channel->unwrap(c);
        if (!plain) {
            close_channel();
            return status(sw::kSecurityStatusNotSatisfied);
        }
        const bool c_mac = (m_channel->security_level() & 0x01) != 0;
        ResponseApdu r =
            m_channel->wrap(m_selected ? to_application(*plain, c_mac) : dispatch_plain(*plain));
        if (m_life_cycle == CardLifeCycle::Terminated) close_channel();
        return r;
    }
    if (m_selected) return to_application(c, false);
    if (c.cla & kClaSecureMessaging) {
        const bool known = c.ins == kInsGetData || c.ins == kInsPutKey || c.ins == kInsStoreData ||
                           c.ins == kInsSetStatus || c.ins == kInsInstall || c.ins == kInsLoad ||
                           c.ins == kInsDelete || c.ins == kInsGetStatus;
        return status(known ? sw::kSecurityStatusNotSatisfied : sw::kInsNotSupported);
    }
    return dispatch_plain(c);
}

ResponseApdu VirtualSe::dispatch_plain(const CommandApdu& c) {
    const bool gp_class = (c.cla & kClaGp) != 0;
    switch (c.ins) {
        case kInsGetData:
            return get_data(c);
        case kInsPutKey:
        case kInsStoreData:
        case kInsSetStatus:
        case kInsInstall:
        case kInsLoad:
        case kInsDelete:
        case kInsGetStatus:
            break;
        default:
            return status(sw::kInsNotSupported);
    }
    if (!gp_class) return status(sw::kClaNotSupported);
    if (!secure_channel_open()) return status(sw::kSecurityStatusNotSatisfied);
    if (c.ins == kInsSetStatus) return set_status(c);
    if (c.ins == kInsGetStatus)
        return m_registry.get_status(c, IsdView{m_aid, static_cast<std::uint8_t>(m_life_cycle)});
    // §5.1.1.4: CARD_LOCKED allows no card content or key change.
    if (m_life_cycle == CardLifeCycle::CardLocked) return status(sw::kConditionsNotSatisfied);
    if (c.ins == kInsPutKey) return m_keys.put_key(c, *m_channel);
    if (c.ins == kInsStoreData) return store_data(c);
    return card_management(c);
}

ResponseApdu VirtualSe::card_management(const CommandApdu& c) {
    const IsdView isd{m_aid, static_cast<std::uint8_t>(m_life_cycle)};
    switch (c.ins) {
        case kInsInstall: {
            std::optional<Bytes> target;
            ResponseApdu r = m_registry.install(c, isd, target);
            if (target) {
                m_personalize = std::move(target);
                m_next_block = 0;
            }
            return r;
        }
        case kInsLoad:
            return m_registry.load(c);
        default:
            return m_registry.delete_object(c, isd);
    }
}

ResponseApdu VirtualSe::to_application(const CommandApdu& c, bool c_mac_verified) {
    Application* app = m_registry.find_application(*m_selected);
    if (!app || !app->selectable()) return status(sw::kConditionsNotSatisfied);
    if (!app->purse) return status(sw::kInsNotSupported);
    // A command that reached here with CLA 84 outside a session carries an unverified MAC.
    if (c.cla & kClaSecureMessaging) return status(sw::kSecurityStatusNotSatisfied);
    const CardKey* credit = m_keys.find(kPurseCreditKeyVersion, kPurseCreditKeyId);
    const ByteView key =
        credit && credit->type == CardKeyType::Des ? credit->value.view() : ByteView{};
    return transit_purse_process(*app->purse, c,
                                 PurseCommandContext{c_mac_verified, key, app->aid});
}

ResponseApdu VirtualSe::select(const CommandApdu& c) {
    // §11.9: SELECT by name, first or only occurrence; an empty name selects the ISD. Selecting
    // ends the secure channel session (§10.2.3 / Amd D §6.1: sessions end when the application
    // is deselected or selected again).
    if (c.p1 != 0x04 || c.p2 != 0x00) return status(sw::kIncorrectP1P2);
    Bytes aid = m_aid;
    std::optional<Bytes> selected;
    if (!c.data.empty() && !starts_with(m_aid, c.data)) {
        const Application* found = nullptr;
        for (const auto& a : m_registry.applications())
            if (starts_with(a.aid, c.data) && (a.life_cycle & 0x07) == 0x07) {
                found = &a;
                break;
            }
        if (!found) return status(sw::kFileNotFound);
        // §5.1.1.4: a CARD_LOCKED card lets only the ISD be selected; §5.3.1 and §11.9.3 (6A81): a
        // LOCKED application is not selectable.
        if (m_life_cycle == CardLifeCycle::CardLocked || found->locked())
            return status(sw::kFunctionNotSupported);
        aid = found->aid;
        selected = found->aid;
    }
    close_channel();
    m_selected = std::move(selected);
    // §11.9.3.1 FCI: 6F { 84 AID, A5 { 9F65 01 FF: maximum length of command data } }.
    const Bytes proprietary{0x9F, 0x65, 0x01, 0xFF};
    Bytes fci{0x84, static_cast<std::uint8_t>(aid.size())};
    fci.insert(fci.end(), aid.begin(), aid.end());
    fci.push_back(0xA5);
    fci.push_back(static_cast<std::uint8_t>(proprietary.size()));
    fci.insert(fci.end(), proprietary.begin(), proprietary.end());
    ResponseApdu r{{0x6F, static_cast<std::uint8_t>(fci.size())}, sw::kOk};
    r.data.insert(r.data.end(), fci.begin(), fci.end());
    return r;
}

ResponseApdu VirtualSe::initialize_update(const CommandApdu& c) {
    // §11.6 / Amd D §7.1.1: 80 50 key version 00 08 host challenge 00.
    close_channel();
    if (c.data.size() != 8) return status(sw::kWrongLength);
    if (c.p2 != 0x00) return status(sw::kIncorrectP1P2);
    const bool scp02 = m_scp == Scp::Scp02;
    const CardKeyType type = scp02 ? CardKeyType::Des : CardKeyType::Aes;
    auto usable = [&](std::uint8_t v) {
        const CardKey* e = m_keys.find(v, kKeyIdEnc);
        const CardKey* m = m_keys.find(v, kKeyIdMac);
        const CardKey* d = m_keys.find(v, kKeyIdDek);
        if (!e || !m || !d || e->type != type || m->type != type || d->type != type) return false;
        const std::size_t n = e->value.size();
        if (m->value.size() != n || d->value.size() != n) return false;
        return scp02 ? n == 16 : (n == 16 || n == 24 || n == 32);
    };
    // P1 00: "the first available key set" (§11.6.2.1).
    std::uint8_t version = c.p1;
    if (version == 0) {
        for (std::uint8_t v : m_keys.versions())
            if (usable(v)) {
                version = v;
                break;
            }
    }
    if (version == 0 || !usable(version)) return status(sw::kReferencedDataNotFound);
    if (m_sequence_counter > (scp02 ? 0xFFFFu : 0xFFFFFFu))
        return status(sw::kConditionsNotSatisfied);  // the key set has no session left

    const ByteView enc = m_keys.find(version, kKeyIdEnc)->value.view();
    const ByteView mac = m_keys.find(version, kKeyIdMac)->value.view();
    const ByteView dek = m_keys.find(version, kKeyIdDek)->value.view();
    Bytes seq;
    for (int k = scp02 ? 1 : 2; k >= 0; --k)
        seq.push_back(static_cast<std::uint8_t>(m_sequence_counter >> (8 * k)));
    if (scp02) {
        m_channel = std::make_unique<Scp02CardChannel>(Scp02CardParams{
            enc, mac, dek, version, m_i, m_kdd, seq, m_aid, c.data, m_card_challenge});
    } else {
        m_channel = std::make_unique<Scp03CardChannel>(Scp03CardParams{
            enc, mac, dek, version, m_i, m_kdd, seq, m_aid, c.data, m_card_challenge});
    }
    ++m_sequence_counter;
    return ResponseApdu{m_channel->initialize_update_response(), sw::kOk};
}

ResponseApdu VirtualSe::external_authenticate(const CommandApdu& c) {
    // §11.5 / Amd D §7.1.2: only right after INITIALIZE UPDATE, always with a C-MAC (CLA 84).
    if (!m_channel || m_channel->authenticated()) {
        close_channel();
        return status(sw::kConditionsNotSatisfied);
    }
    if (c.cla != (kClaGp | kClaSecureMessaging)) {
        close_channel();
        return status(sw::kSecurityStatusNotSatisfied);
    }
    const std::uint16_t result = m_channel->external_authenticate(c);
    if (result != sw::kOk) close_channel();
    return status(result);
}

ResponseApdu VirtualSe::get_data(const CommandApdu& c) const {
    // §11.3: CPLC (9F7F) and the key information template (00E0); nothing else yet.
    const std::uint16_t tag = static_cast<std::uint16_t>(c.p1 << 8 | c.p2);
    if (tag == 0x9F7F) {
        ResponseApdu r{{0x9F, 0x7F, static_cast<std::uint8_t>(m_cplc.size())}, sw::kOk};
        r.data.insert(r.data.end(), m_cplc.begin(), m_cplc.end());
        return r;
    }
    if (tag == 0x00E0) return ResponseApdu{m_keys.key_information_template(), sw::kOk};
    return status(sw::kReferencedDataNotFound);
}

ResponseApdu VirtualSe::store_data(const CommandApdu& c) {
    // §11.11.2: P1 b8 last block, b7-b6 encryption (00 none, 01 application dependent, 11
    // encrypted under the DEK, 10 RFU), b5-b4 data structure; P2 block number from 00.
    const std::uint8_t encryption = (c.p1 >> 5) & 0x03;
    if (encryption == 0x02) return status(sw::kIncorrectP1P2);
    if (c.p2 != m_next_block) return status(sw::kIncorrectP1P2);
    StoreDataBlock block{c.p1, c.p2, encryption == 0x03, c.data};
    if (block.was_encrypted) {
        auto clear = m_channel->decrypt_with_dek(c.data);
        if (!clear) return status(sw::kWrongData);
        block.data.assign(clear->view().begin(), clear->view().end());
    }
    if (m_personalize) {
        // §11.11.1: after INSTALL [for personalization] the ISD forwards STORE DATA to the
        // application (decrypted when the ISD's DEK protected it).
        Application* app = m_registry.find_application(*m_personalize);
        if (!app || !app->purse) return status(sw::kConditionsNotSatisfied);
        ByteView data(block.data);
        if (block.was_encrypted) {
            // Encrypted data comes in whole cipher blocks, padded with ISO/IEC 9797-1 method 2
            // (80 00..) when it needed padding (GPCS 2.2.1 §B.2 / Amd D §6.2.6 for SCP03).
            std::size_t end = data.size();
            while (end > 0 && data[end - 1] == 0x00) --end;
            if (end > 0 && data[end - 1] == 0x80) data = data.first(end - 1);
        }
        ResponseApdu r = transit_purse_store_data(*app->purse, data);
        if (r.sw != sw::kOk) return r;
        if (app->purse->personalized && (app->life_cycle & 0x7F) == kAppSelectable)
            app->life_cycle =
                static_cast<std::uint8_t>((app->life_cycle & kAppLockedBit) | kAppPersonalized);
    }
    m_store_data.push_back(std::move(block));
    m_next_block = (c.p1 & 0x80) ? 0 : static_cast<std::uint8_t>(c.p2 + 1);
    return status(sw::kOk);
}

ResponseApdu VirtualSe::set_status(const CommandApdu& c) {
    // §11.10: P1 80 is the ISD, hence the card life cycle; P2 the new state; data absent or the
    // ISD's AID. Applications and security domains come with INSTALL.
    if (c.p1 == 0x40) {
        if (m_life_cycle == CardLifeCycle::CardLocked) return status(sw::kConditionsNotSatisfied);
        return m_registry.set_application_status(c);
    }
    if (c.p1 != 0x80) return status(sw::kIncorrectP1P2);
    if (!valid_life_cycle(c.p2)) return status(sw::kIncorrectP1P2);
    if (!c.data.empty() && !std::equal(c.data.begin(), c.data.end(), m_aid.begin(), m_aid.end()))
        return status(sw::kReferencedDataNotFound);
    const auto target = static_cast<CardLifeCycle>(c.p2);
    if (!transition_allowed(m_life_cycle, target)) return status(sw::kConditionsNotSatisfied);
    m_life_cycle = target;
    return status(sw::kOk);
}

}  // namespace kms::tsm::vse
