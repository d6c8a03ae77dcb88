// The card content registry and the card side of INSTALL, LOAD, DELETE, GET STATUS and SET STATUS
// of applications (see card_content.hpp). Section numbers are those of GPCS 2.2.1.
#include "card_content.hpp"

#include <openssl/evp.h>

#include <algorithm>

#include "domain/error.hpp"
#include "status_words.hpp"

namespace kms::tsm::vse {

using core::CommandApdu;
using core::ResponseApdu;

namespace {

ResponseApdu status(std::uint16_t s) {
    return ResponseApdu{{}, s};
}

bool same(ByteView a, ByteView b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

bool starts_with(ByteView whole, ByteView prefix) {
    return prefix.size() <= whole.size() && std::equal(prefix.begin(), prefix.end(), whole.begin());
}

/// Reads the length-value fields of INSTALL data fields (§11.5.2.3, one length byte each).
class LvReader {
  public:
    explicit LvReader(ByteView data) : m_data(data) {}
    /// The next field's value, nullopt when the data ends early.
    std::optional<ByteView> next() {
        if (m_pos >= m_data.size()) return std::nullopt;
        const std::size_t n = m_data[m_pos++];
        if (m_data.size() - m_pos < n) return std::nullopt;
        const ByteView v = m_data.subspan(m_pos, n);
        m_pos += n;
        return v;
    }
    bool at_end() const noexcept { return m_pos == m_data.size(); }

  private:
    ByteView m_data;
    std::size_t m_pos = 0;
};

bool valid_aid(ByteView aid) {
    return aid.size() >= 5 && aid.size() <= 16;
}

/// A BER-TLV length (ISO/IEC 8825-1 definite form: 1 byte < 80, 81 xx, 82 xx xx) at @p pos;
/// advances @p pos. nullopt when malformed or past the end.
std::optional<std::size_t> read_ber_length(ByteView data, std::size_t& pos) {
    if (pos >= data.size()) return std::nullopt;
    const std::uint8_t first = data[pos++];
    if (first < 0x80) return first;
    const std::size_t n = first & 0x7F;
    if (n == 0 || n > 3 || data.size() - pos < n) return std::nullopt;
    std::size_t v = 0;
    for (std::size_t k = 0; k < n; ++k) v = v << 8 | data[pos++];
    return v;
}

void append_tlv(Bytes& out, std::uint16_t tag, ByteView value) {
    if (tag > 0xFF) out.push_back(static_cast<std::uint8_t>(tag >> 8));
    out.push_back(static_cast<std::uint8_t>(tag));
    if (value.size() >= 0x80) out.push_back(0x81);
    out.push_back(static_cast<std::uint8_t>(value.size()));
    out.insert(out.end(), value.begin(), value.end());
}

Bytes digest(const EVP_MD* md, ByteView data) {
    Bytes out(EVP_MAX_MD_SIZE);
    unsigned int n = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &n, md, nullptr) != 1)
        throw Error(ErrorCode::Internal, "virtual SE: EVP_Digest failed");
    out.resize(n);
    return out;
}

/// GET STATUS answers at most this much data per response, so that an R-MAC (8 bytes) and the
/// R-ENCRYPTION padding still fit in a short response (256 bytes).
constexpr std::size_t kGetStatusMaxResponse = 232;
/// §11.4.3: "more data available", the host asks again with P2 b1 set.
constexpr std::uint16_t kMoreDataAvailable = 0x6310;

/// The Security Domain privilege: b8 of the first privilege byte (§11.1.2).
constexpr std::uint8_t kPrivilegeSecurityDomain = 0x80;

}  // namespace

bool aid_taken(const CardRegistry& registry, ByteView isd_aid, ByteView aid) {
    if (same(isd_aid, aid)) return true;
    for (const auto& f : registry.load_files()) {
        if (same(f.aid, aid)) return true;
        for (const auto& m : f.modules)
            if (same(m, aid)) return true;
    }
    return registry.find_application(aid) != nullptr;
}

Application* CardRegistry::find_application(ByteView aid) {
    for (auto& a : m_applications)
        if (same(a.aid, aid)) return &a;
    return nullptr;
}

const Application* CardRegistry::find_application(ByteView aid) const {
    for (const auto& a : m_applications)
        if (same(a.aid, aid)) return &a;
    return nullptr;
}

const LoadFile* CardRegistry::find_load_file(ByteView aid) const {
    for (const auto& f : m_load_files)
        if (same(f.aid, aid)) return &f;
    return nullptr;
}

void CardRegistry::add_load_file(LoadFile file) {
    if (find_load_file(file.aid))
        throw Error(ErrorCode::InvalidArgument,
                    "virtual SE: load file " + to_hex(file.aid) + " is already on the card");
    m_load_files.push_back(std::move(file));
}

void CardRegistry::add_application(Application app) {
    if (find_application(app.aid))
        throw Error(ErrorCode::InvalidArgument,
                    "virtual SE: application " + to_hex(app.aid) + " is already on the card");
    m_applications.push_back(std::move(app));
}

ResponseApdu CardRegistry::install(const CommandApdu& c, const IsdView& isd,
                                   std::optional<Bytes>& personalize) {
    m_get_status_next.reset();  // the content may change: no GET STATUS continues after
    // §11.5.2.1: P1 b8 "more INSTALL commands" is informative; the role is in b2-b7.
    if (c.p2 != 0x00) return status(sw::kIncorrectP1P2);
    const std::uint8_t role = c.p1 & 0x7F;
    if (role != 0x02) m_pending.reset();  // a load sequence ends with any other INSTALL
    switch (role) {
        case 0x02:
            return install_for_load(c.data, isd);
        case 0x04:
            return install_for_install(c.data, false);
        case 0x0C:
            return install_for_install(c.data, true);
        case 0x08:
            return make_selectable(c.data);
        case 0x20: {
            // §11.5.2.3.6, [for personalization]: 00 00 L AID 00 00 00.
            LvReader r(c.data);
            const auto lf = r.next(), module = r.next(), aid = r.next();
            if (!lf || !module || !aid || !lf->empty() || !module->empty() || !valid_aid(*aid))
                return status(sw::kWrongData);
            Application* app = find_application(*aid);
            if (!app) return status(sw::kReferencedDataNotFound);
            // The application must be able to receive STORE DATA: installed, not locked.
            if (app->locked()) return status(sw::kConditionsNotSatisfied);
            personalize = app->aid;
            return ResponseApdu{{0x00}, sw::kOk};
        }
        default:
            return status(sw::kIncorrectP1P2);
    }
}

ResponseApdu CardRegistry::install_for_load(ByteView data, const IsdView& isd) {
    // §11.5.2.3.1, [for load]: L LF AID, L SD AID, L hash, L load parameters, L load token.
    m_pending.reset();
    LvReader r(data);
    const auto lf = r.next(), sd = r.next(), hash = r.next(), params = r.next(), token = r.next();
    if (!lf || !sd || !hash || !params || !token || !r.at_end() || !valid_aid(*lf))
        return status(sw::kWrongData);
    // No Supplementary Security Domains: the load file goes to the ISD (empty SD AID = the ISD).
    if (!sd->empty() && !same(*sd, isd.aid)) return status(sw::kReferencedDataNotFound);
    // The Load File Data Block Hash (§9.3.4 hash checking): SHA-1 in GPCS 2.2.1, SHA-256 as
    // later releases allow.
    if (!hash->empty() && hash->size() != 20 && hash->size() != 32) return status(sw::kWrongData);
    if (aid_taken(*this, isd.aid, *lf)) return status(sw::kWrongData);
    m_pending =
        PendingLoad{Bytes(lf->begin(), lf->end()), Bytes(hash->begin(), hash->end()), 0, {}};
    return ResponseApdu{{0x00}, sw::kOk};
}

ResponseApdu CardRegistry::load(const CommandApdu& c) {
    m_get_status_next.reset();  // the content may change: no GET STATUS continues after
    // §11.6.2: P1 b8 = 1 last block; P2 block number, from 00 in sequence.
    if (!m_pending) return status(sw::kConditionsNotSatisfied);
    if ((c.p1 & 0x7F) != 0x00) return status(sw::kIncorrectP1P2);
    if (c.p2 != m_pending->next_block) {
        m_pending.reset();
        return status(sw::kIncorrectP1P2);
    }
    m_pending->received.insert(m_pending->received.end(), c.data.begin(), c.data.end());
    ++m_pending->next_block;
    if (!(c.p1 & 0x80)) {
        if (m_pending->next_block == 0) {  // 256 blocks and no last one: nothing left to number
            m_pending.reset();
            return status(sw::kWrongData);
        }
        return ResponseApdu{{0x00}, sw::kOk};
    }

    // §11.6.2.3: the Load File is [E2 DAP blocks...] C4 L Load File Data Block.
    PendingLoad done = std::move(*m_pending);
    m_pending.reset();
    const ByteView all(done.received);
    std::size_t pos = 0;
    std::optional<ByteView> block;
    while (pos < all.size()) {
        const std::uint8_t tag = all[pos++];
        const auto len = read_ber_length(all, pos);
        if (!len || all.size() - pos < *len) return status(sw::kWrongData);
        if (tag == 0xC4 && !block) {
            block = all.subspan(pos, *len);
        } else if (tag != 0xE2 || block) {
            return status(sw::kWrongData);  // DAP blocks come first, then exactly one C4
        }
        pos += *len;
    }
    if (!block) return status(sw::kWrongData);
    if (!done.hash.empty()) {
        const Bytes h = digest(done.hash.size() == 20 ? EVP_sha1() : EVP_sha256(), *block);
        if (!same(h, done.hash)) return status(sw::kWrongData);
    }
    LoadFile file{done.load_file_aid, Bytes(block->begin(), block->end()), {}, kLoadFileLoaded};
    if (same(file.aid, kPursePackageAid)) file.modules.push_back(kPurseModuleAid);
    m_load_files.push_back(std::move(file));
    return ResponseApdu{{0x00}, sw::kOk};
}

ResponseApdu CardRegistry::install_for_install(ByteView data, bool make_selectable) {
    // §11.5.2.3.2, [for install]: L LF AID, L module AID, L application AID, L privileges,
    // L install parameters (C9 L application specific parameters, mandatory), L install token.
    LvReader r(data);
    const auto lf = r.next(), module = r.next(), aid = r.next(), privileges = r.next(),
               params = r.next(), token = r.next();
    if (!lf || !module || !aid || !privileges || !params || !token || !r.at_end() ||
        !valid_aid(*lf) || !valid_aid(*module) || !valid_aid(*aid))
        return status(sw::kWrongData);
    // §11.1.2: privileges are one byte (GP 2.1.1 coding) or three.
    if (privileges->size() != 1 && privileges->size() != 3) return status(sw::kWrongData);
    // Supplementary Security Domains are not implemented.
    if ((*privileges)[0] & kPrivilegeSecurityDomain) return status(sw::kWrongData);
    // §11.5.2.3.7: the C9 tag is mandatory in the install parameters.
    if (params->size() < 2 || (*params)[0] != 0xC9 || (*params)[1] != params->size() - 2)
        return status(sw::kWrongData);
    const LoadFile* file = find_load_file(*lf);
    if (!file) return status(sw::kReferencedDataNotFound);
    const bool has_module = std::any_of(file->modules.begin(), file->modules.end(),
                                        [&](const Bytes& m) { return same(m, *module); });
    if (!has_module) return status(sw::kReferencedDataNotFound);
    if (find_application(*aid) || find_load_file(*aid)) return status(sw::kWrongData);

    Application app;
    app.aid.assign(aid->begin(), aid->end());
    app.load_file_aid = file->aid;
    app.module_aid.assign(module->begin(), module->end());
    app.life_cycle = make_selectable ? kAppSelectable : kAppInstalled;
    app.privileges.assign(privileges->begin(), privileges->end());
    app.privileges.resize(3, 0x00);
    app.install_parameters.assign(params->begin() + 2, params->end());
    if (same(app.module_aid, kPurseModuleAid)) app.purse = PurseState{};
    m_applications.push_back(std::move(app));
    return ResponseApdu{{0x00}, sw::kOk};
}

ResponseApdu CardRegistry::make_selectable(ByteView data) {
    // §11.5.2.3.3, [for make selectable]: 00 00 L AID L privileges 00 L token.
    LvReader r(data);
    const auto lf = r.next(), module = r.next(), aid = r.next(), privileges = r.next(),
               params = r.next(), token = r.next();
    if (!lf || !module || !aid || !privileges || !params || !token || !r.at_end() || !lf->empty() ||
        !module->empty() || !valid_aid(*aid))
        return status(sw::kWrongData);
    Application* app = find_application(*aid);
    if (!app) return status(sw::kReferencedDataNotFound);
    // §5.3.1: INSTALLED -> SELECTABLE, once.
    if (app->life_cycle != kAppInstalled) return status(sw::kConditionsNotSatisfied);
    app->life_cycle = kAppSelectable;
    return ResponseApdu{{0x00}, sw::kOk};
}

ResponseApdu CardRegistry::delete_object(const CommandApdu& c, const IsdView& isd) {
    m_get_status_next.reset();  // the content may change: no GET STATUS continues after
    // §11.2.2: P1 00 (last or only command), P2 00 the object, 80 the object and related ones.
    if ((c.p1 & 0x7F) != 0x00 || (c.p2 != 0x00 && c.p2 != 0x80)) return status(sw::kIncorrectP1P2);
    const ByteView d(c.data);
    if (d.size() < 2 || d[0] != 0x4F || d[1] > d.size() - 2) return status(sw::kWrongData);
    const ByteView aid = d.subspan(2, d[1]);
    if (!valid_aid(aid)) return status(sw::kWrongData);
    if (same(aid, isd.aid)) return status(sw::kConditionsNotSatisfied);  // §11.2.1
    m_pending.reset();
    const auto app = std::find_if(m_applications.begin(), m_applications.end(),
                                  [&](const Application& a) { return same(a.aid, aid); });
    if (app != m_applications.end()) {
        m_applications.erase(app);
        return ResponseApdu{{0x00}, sw::kOk};
    }
    const auto file = std::find_if(m_load_files.begin(), m_load_files.end(),
                                   [&](const LoadFile& f) { return same(f.aid, aid); });
    if (file == m_load_files.end()) return status(sw::kReferencedDataNotFound);
    auto of_file = [&](const Application& a) { return same(a.load_file_aid, aid); };
    const bool has_instances = std::any_of(m_applications.begin(), m_applications.end(), of_file);
    // §11.2.1: a load file with instances is deleted only with its related objects.
    if (has_instances && c.p2 != 0x80) return status(sw::kConditionsNotSatisfied);
    std::erase_if(m_applications, of_file);
    m_load_files.erase(file);
    return ResponseApdu{{0x00}, sw::kOk};
}

ResponseApdu CardRegistry::get_status(const CommandApdu& c, const IsdView& isd) {
    // §11.4.2: P1 the subset, P2 b2 the format (1 tag list, 0 legacy), b1 0 first or all
    // occurrences, 1 next occurrences (after a 6310 "more data available", §11.4.3).
    const std::uint8_t subset = c.p1;
    const bool tlv = (c.p2 & 0x02) != 0;
    const bool next = (c.p2 & 0x01) != 0;
    if ((c.p2 & ~0x03) != 0) return status(sw::kIncorrectP1P2);
    if (subset != 0x80 && subset != 0x40 && subset != 0x20 && subset != 0x10)
        return status(sw::kIncorrectP1P2);
    const ByteView d(c.data);
    if (d.size() < 2 || d[0] != 0x4F || d[1] > d.size() - 2) return status(sw::kWrongData);
    const ByteView prefix = d.subspan(2, d[1]);

    std::vector<Bytes> entries;
    // One entry: tag list format E3 { 4F AID, 9F70 life cycle, C5 privileges, C4 load file,
    // 84 module AIDs } (§11.4.3), or the legacy L AID | life cycle | privileges byte
    // [| module count | L module AID ...] (§11.4.3).
    auto entry = [&](ByteView aid, std::uint8_t lc, ByteView privileges, ByteView load_file,
                     const std::vector<Bytes>* modules) {
        Bytes out;
        if (tlv) {
            Bytes body;
            append_tlv(body, 0x4F, aid);
            append_tlv(body, 0x9F70, Bytes{lc});
            if (!privileges.empty()) append_tlv(body, 0xC5, privileges);
            if (!load_file.empty()) append_tlv(body, 0xC4, load_file);
            if (modules)
                for (const auto& m : *modules) append_tlv(body, 0x84, m);
            append_tlv(out, 0xE3, body);
        } else {
            out.push_back(static_cast<std::uint8_t>(aid.size()));
            out.insert(out.end(), aid.begin(), aid.end());
            out.push_back(lc);
            out.push_back(privileges.empty() ? 0x00 : privileges[0]);
            if (modules) {
                out.push_back(static_cast<std::uint8_t>(modules->size()));
                for (const auto& m : *modules) {
                    out.push_back(static_cast<std::uint8_t>(m.size()));
                    out.insert(out.end(), m.begin(), m.end());
                }
            }
        }
        entries.push_back(std::move(out));
    };
    // ISD privileges: Security Domain, Card Lock, Card Terminate, CVM Management (9E), then
    // Trusted Path, Authorized Management, Token Verification, Global Delete, Lock, Registry,
    // Final Application (FE), Receipt Generation (80).
    const Bytes isd_privileges{0x9E, 0xFE, 0x80};
    if (subset == 0x80) {
        if (starts_with(isd.aid, prefix))
            entry(isd.aid, isd.card_life_cycle, isd_privileges, {}, nullptr);
    } else if (subset == 0x40) {
        for (const auto& a : m_applications)
            if (starts_with(a.aid, prefix))
                entry(a.aid, a.life_cycle, a.privileges, a.load_file_aid, nullptr);
    } else {
        for (const auto& f : m_load_files)
            if (starts_with(f.aid, prefix))
                entry(f.aid, f.life_cycle, {}, {}, subset == 0x10 ? &f.modules : nullptr);
    }

    std::size_t first = 0;
    if (next) {
        // Only right after a 6310 for the same request.
        const bool same_request = m_get_status_next && m_get_status_next->p1 == c.p1 &&
                                  m_get_status_next->tlv == tlv &&
                                  same(m_get_status_next->prefix, prefix);
        if (!same_request) {
            m_get_status_next.reset();
            return status(sw::kConditionsNotSatisfied);
        }
        first = m_get_status_next->index;
    }
    m_get_status_next.reset();
    if (entries.empty() || first >= entries.size()) return status(sw::kReferencedDataNotFound);
    Bytes out;
    std::size_t k = first;
    while (k < entries.size() &&
           (k == first || out.size() + entries[k].size() <= kGetStatusMaxResponse)) {
        out.insert(out.end(), entries[k].begin(), entries[k].end());
        ++k;
    }
    if (k < entries.size()) {
        m_get_status_next = GetStatusCursor{c.p1, tlv, Bytes(prefix.begin(), prefix.end()), k};
        return ResponseApdu{std::move(out), kMoreDataAvailable};
    }
    return ResponseApdu{std::move(out), sw::kOk};
}

ResponseApdu CardRegistry::set_application_status(const CommandApdu& c) {
    m_get_status_next.reset();  // the content may change: no GET STATUS continues after
    // §11.10.2: P1 40 an application; P2 80 LOCKED, 00 back to the state before locking.
    if (c.p2 != 0x80 && c.p2 != 0x00) return status(sw::kIncorrectP1P2);
    Application* app = find_application(c.data);
    if (!app) return status(sw::kReferencedDataNotFound);
    const bool lock = c.p2 == 0x80;
    if (app->locked() == lock) return status(sw::kConditionsNotSatisfied);
    app->life_cycle = lock ? (app->life_cycle | kAppLockedBit)
                           : static_cast<std::uint8_t>(app->life_cycle & ~kAppLockedBit);
    return status(sw::kOk);
}

}  // namespace kms::tsm::vse
