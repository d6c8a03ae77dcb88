// Use case: key ceremonies (see ceremonies.hpp). Components are XORed in locked memory only.
#include "services/ceremonies.hpp"

#include <algorithm>
#include <bit>

#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"
#include "services/key_lifecycle.hpp"

namespace kms::core {

namespace {

constexpr std::uint8_t kFormat = 1;
constexpr std::int64_t kMinExpiry = 60, kMaxExpiry = 86400;

/// AES: CMAC(K, 0^16)[0..3]; DES3: E(K, 0^8)[0..3] (DESIGN §5, API-CONTRACT).
Bytes component_kcv(Algorithm alg, ByteView key) {
    return info(alg).family == KeyFamily::Des3 ? crypto::kcv_des3(key) : crypto::kcv_aes_cmac(key);
}

std::string_view kcv_rule(Algorithm alg) {
    return info(alg).family == KeyFamily::Des3 ? "first 3 bytes of E(K, 0^8)"
                                               : "first 3 bytes of CMAC(K, 0^16)";
}

/// DES keys carry a parity bit per byte (FIPS 46-3 §1: odd parity). XORing components with
/// correct parity gives even parity, so set it again; DES ignores these bits, the KCV too.
void set_odd_parity(SecureBytes& key) {
    for (std::size_t i = 0; i < key.size(); ++i) {
        const std::uint8_t high = key[i] & 0xFE;
        key[i] = static_cast<std::uint8_t>(high | ((std::popcount(high) % 2 == 0) ? 1 : 0));
    }
}

std::string new_ceremony_id() {
    return "c-" + to_hex(crypto::random_bytes(16));
}

std::string not_found(std::string_view id) {
    return "no ceremony with id '" + std::string(id.substr(0, 64)) + "'";
}

}  // namespace

std::string_view ceremony_state_name(CeremonyState s) {
    switch (s) {
        case CeremonyState::Open:
            return "open";
        case CeremonyState::Completed:
            return "completed";
        case CeremonyState::Cancelled:
            return "cancelled";
        case CeremonyState::Expired:
            return "expired";
        case CeremonyState::Failed:
            return "failed";
        case CeremonyState::Interrupted:
            return "interrupted";
    }
    return "unknown";
}

Bytes encode_ceremony(const Ceremony& c) {
    Bytes out;
    put_u8(out, kFormat);
    put_lv(out, c.id);
    put_lv(out, c.name);
    put_u8(out, static_cast<std::uint8_t>(c.algorithm));
    put_u32(out, c.usage.bits());
    put_u8(out, c.components);
    put_u8(out, static_cast<std::uint8_t>((c.exportable ? 1 : 0) | (c.trusted ? 2 : 0)));
    put_lv(out, ByteView(c.expected_kcv));
    put_lv(out, c.created_by);
    put_u64(out, static_cast<std::uint64_t>(c.created_ms));
    put_u64(out, static_cast<std::uint64_t>(c.expires_ms));
    put_u8(out, static_cast<std::uint8_t>(c.state));
    put_u32(out, static_cast<std::uint32_t>(c.custodians.size()));
    for (const auto& k : c.custodians) {
        put_lv(out, k.name);
        put_u64(out, static_cast<std::uint64_t>(k.at_ms));
    }
    put_lv(out, c.key_id);
    put_lv(out, c.reason);
    put_u64(out, static_cast<std::uint64_t>(c.closed_ms));
    return out;
}

Ceremony decode_ceremony(ByteView data) {
    ByteReader r(data);
    if (r.u8() != kFormat) throw Error(ErrorCode::Integrity, "ceremony record: unknown format");
    Ceremony c;
    c.id = r.lv_string();
    c.name = r.lv_string();
    const std::uint8_t alg = r.u8();
    bool known = false;
    for (const auto& a : all_algorithms())
        known = known || static_cast<std::uint8_t>(a.algorithm) == alg;
    if (!known) throw Error(ErrorCode::Integrity, "ceremony record: unknown algorithm");
    c.algorithm = static_cast<Algorithm>(alg);
    c.usage = UsageMask(r.u32());
    c.components = r.u8();
    const std::uint8_t flags = r.u8();
    c.exportable = (flags & 1) != 0;
    c.trusted = (flags & 2) != 0;
    c.expected_kcv = r.lv_bytes();
    c.created_by = r.lv_string();
    c.created_ms = static_cast<std::int64_t>(r.u64());
    c.expires_ms = static_cast<std::int64_t>(r.u64());
    const std::uint8_t state = r.u8();
    if (state < 1 || state > 5) throw Error(ErrorCode::Integrity, "ceremony record: bad state");
    c.state = static_cast<CeremonyState>(state);
    const std::uint32_t n = r.u32();
    if (n > 3) throw Error(ErrorCode::Integrity, "ceremony record: too many custodians");
    for (std::uint32_t i = 0; i < n; ++i) {
        CeremonyCustodian k;
        k.name = r.lv_string();
        k.at_ms = static_cast<std::int64_t>(r.u64());
        c.custodians.push_back(std::move(k));
    }
    c.key_id = r.lv_string();
    c.reason = r.lv_string();
    c.closed_ms = static_cast<std::int64_t>(r.u64());
    if (!r.at_end()) throw Error(ErrorCode::Integrity, "ceremony record: trailing bytes");
    return c;
}

Ceremony CeremonyService::load(std::string_view id) {
    if (id.size() != 34 || id.substr(0, 2) != "c-") throw Error(ErrorCode::NotFound, not_found(id));
    auto raw = m_ctx.store.get(Table::Ceremonies, id);
    if (!raw) throw Error(ErrorCode::NotFound, not_found(id));
    return decode_ceremony(*raw);
}

Ceremony CeremonyService::with_derived_state(Ceremony c) {
    if (c.state != CeremonyState::Open) return c;
    if (m_ctx.clock.now_ms() >= c.expires_ms) {
        m_partial.erase(c.id);  // wipes the partial sum (SecureBytes destructor)
        c.state = CeremonyState::Expired;
        c.reason = "expired before all components arrived";
    } else if (c.received() > 0 && m_partial.find(c.id) == m_partial.end()) {
        c.state = CeremonyState::Interrupted;
        c.reason = "kmsd restarted: the components entered so far are lost";
    }
    return c;
}

void CeremonyService::close(Ceremony& c, CeremonyState state, const std::string& actor,
                            const std::string& action, const std::string& reason,
                            const AuditEvent* first) {
    m_partial.erase(c.id);
    c.state = state;
    c.reason = reason;
    c.closed_ms = m_ctx.clock.now_ms();
    const Bytes rec = encode_ceremony(c);
    m_ctx.store.write([&](WriteTxn& t) {
        t.put(Table::Ceremonies, c.id, rec);
        if (first) t.append_audit(*first);
        t.append_audit(AuditEvent{
            actor, action, c.id,
            state == CeremonyState::Cancelled ? AuditOutcome::Success : AuditOutcome::Failed,
            "name=" + c.name + " " + reason});
    });
}

Ceremony CeremonyService::create(const Principal& caller, const CeremonyRequest& req) {
    require_role(caller, {Role::Admin, Role::KeyOfficer}, "creating a key ceremony");
    validate_key_name(req.name);
    const KeyFamily family = info(req.algorithm).family;
    if (family != KeyFamily::Aes && family != KeyFamily::Des3)
        throw Error(ErrorCode::InvalidArgument,
                    "algorithm: a ceremony assembles AES-128, AES-192, AES-256, DES3-2K or "
                    "DES3-3K keys");
    validate_key_usage(req.algorithm, req.usage);
    validate_trusted(req.trusted, req.usage);
    if (req.components != 2 && req.components != 3)
        throw Error(ErrorCode::InvalidArgument, "components: must be 2 or 3");
    if (req.kcv && req.kcv->size() != 3)
        throw Error(ErrorCode::InvalidArgument, "kcv: must be 3 bytes (6 hex digits)");
    if (req.expires_in_s < kMinExpiry || req.expires_in_s > kMaxExpiry)
        throw Error(ErrorCode::InvalidArgument, "expiresInSeconds: must be between 60 and 86400");
    if (m_ctx.store.find_key_id_by_name(req.name))
        throw Error(ErrorCode::Conflict, "name: a key named '" + req.name + "' already exists");

    Ceremony c;
    c.id = new_ceremony_id();
    c.name = req.name;
    c.algorithm = req.algorithm;
    c.usage = req.usage;
    c.components = static_cast<std::uint8_t>(req.components);
    c.exportable = req.exportable;
    c.trusted = req.trusted;
    if (req.kcv) c.expected_kcv = *req.kcv;
    c.created_by = caller.name;
    c.created_ms = m_ctx.clock.now_ms();
    c.expires_ms = c.created_ms + req.expires_in_s * 1000;

    std::string usage;
    for (const auto& u : usage_names(c.usage)) usage += (usage.empty() ? "" : ",") + u;
    std::string detail = "name=" + c.name + " algorithm=" + std::string(info(c.algorithm).name) +
                         " usage=" + usage + " components=" + std::to_string(c.components) +
                         " expiresInSeconds=" + std::to_string(req.expires_in_s);
    if (!c.expected_kcv.empty()) detail += " kcv=" + to_hex(c.expected_kcv);
    if (c.exportable) detail += " exportable";
    if (c.trusted) detail += " trusted";
    const Bytes rec = encode_ceremony(c);
    m_ctx.store.write([&](WriteTxn& t) {
        t.put(Table::Ceremonies, c.id, rec);
        t.append_audit(
            AuditEvent{caller.name, "ceremony.create", c.id, AuditOutcome::Success, detail});
    });
    return c;
}

Ceremony CeremonyService::get(const Principal& caller, std::string_view id) {
    require_role(caller, {Role::Admin, Role::KeyOfficer, Role::Custodian, Role::Auditor},
                 "reading a key ceremony");
    Ceremony c = load(id);
    std::lock_guard lock(m_mutex);
    return with_derived_state(std::move(c));
}

std::vector<Ceremony> CeremonyService::list(const Principal& caller) {
    require_role(caller, {Role::Admin, Role::KeyOfficer, Role::Custodian, Role::Auditor},
                 "listing key ceremonies");
    std::vector<Ceremony> out;
    std::string after;
    while (out.size() < 1000) {
        const auto page = m_ctx.store.scan(Table::Ceremonies, after, 200);
        for (const auto& [key, value] : page) out.push_back(decode_ceremony(value));
        if (page.size() < 200) break;
        after = page.back().first;
    }
    std::lock_guard lock(m_mutex);
    for (auto& c : out) c = with_derived_state(std::move(c));
    std::stable_sort(out.begin(), out.end(), [](const Ceremony& a, const Ceremony& b) {
        return a.created_ms > b.created_ms;
    });
    return out;
}

ComponentResult CeremonyService::add_component(const Principal& caller, std::string_view id,
                                               const SecureBytes& component, ByteView kcv) {
    require_role(caller, {Role::Custodian}, "entering a key component");
    std::lock_guard lock(m_mutex);
    Ceremony c = load(id);
    if (c.state != CeremonyState::Open)
        throw Error(ErrorCode::WrongState, "ceremony '" + c.id + "' is " +
                                               std::string(ceremony_state_name(c.state)) +
                                               ": it takes no more components");
    if (m_ctx.clock.now_ms() >= c.expires_ms) {
        close(c, CeremonyState::Expired, caller.name, "ceremony.expire",
              "expired before all components arrived");
        throw Error(ErrorCode::Expired, "ceremony '" + c.id +
                                            "' has expired: the components entered so far are "
                                            "wiped; start a new ceremony");
    }
    auto partial = m_partial.find(c.id);
    if (c.received() > 0 && partial == m_partial.end())
        throw Error(ErrorCode::WrongState,
                    "ceremony '" + c.id +
                        "' is interrupted (kmsd restarted and the components entered so far are "
                        "lost): cancel it and start a new ceremony");
    for (const auto& k : c.custodians)
        if (k.name == caller.name)
            throw Error(ErrorCode::Conflict, "custodian '" + caller.name +
                                                 "' already entered a component of ceremony '" +
                                                 c.id +
                                                 "': each component needs another custodian");
    const std::size_t length = secret_length(c.algorithm);
    if (component.size() != length)
        throw Error(ErrorCode::InvalidArgument,
                    "component: " + std::string(info(c.algorithm).name) + " needs " +
                        std::to_string(length) + " bytes (" + std::to_string(2 * length) +
                        " hex digits), got " + std::to_string(component.size()));
    if (kcv.size() != 3)
        throw Error(ErrorCode::InvalidArgument, "kcv: must be 3 bytes (6 hex digits)");
    if (!equal_ct(component_kcv(c.algorithm, component.view()), kcv))
        throw Error(ErrorCode::VerificationFailed,
                    "kcv: does not match the component (the KCV of " +
                        std::string(info(c.algorithm).name) + " is the " +
                        std::string(kcv_rule(c.algorithm)) +
                        "); check the component and enter it again");

    // The new sum is built aside and only replaces the old one once the store took the change,
    // so a failed write leaves the ceremony as it was.
    SecureBytes sum(length);
    for (std::size_t i = 0; i < length; ++i)
        sum[i] = static_cast<std::uint8_t>(component[i] ^
                                           (partial == m_partial.end() ? 0 : partial->second[i]));
    const std::int64_t now = m_ctx.clock.now_ms();
    c.custodians.push_back(CeremonyCustodian{caller.name, now});
    const std::string count = std::to_string(c.received()) + "/" + std::to_string(c.components);
    const AuditEvent component_event{caller.name, "ceremony.component", c.id, AuditOutcome::Success,
                                     "custodian=" + caller.name + " received=" + count};

    if (c.received() < c.components) {
        const Bytes rec = encode_ceremony(c);
        m_ctx.store.write([&](WriteTxn& t) {
            t.put(Table::Ceremonies, c.id, rec);
            t.append_audit(component_event);
        });
        m_partial.insert_or_assign(c.id, std::move(sum));
        return ComponentResult{c.received(), std::nullopt};
    }

    // The last component: assemble, check, import into the HSM.
    if (info(c.algorithm).family == KeyFamily::Des3) set_odd_parity(sum);
    const Bytes assembled_kcv = component_kcv(c.algorithm, sum.view());
    if (!c.expected_kcv.empty() && !equal_ct(assembled_kcv, c.expected_kcv)) {
        // The message names only the expected KCV (already in the record), not the assembled
        // key's: a wrong KCV means a component was wrong, and the custodians start again.
        close(c, CeremonyState::Failed, caller.name, "ceremony.fail",
              "the assembled key's KCV does not match the expected kcv " + to_hex(c.expected_kcv),
              &component_event);
        throw Error(ErrorCode::VerificationFailed,
                    "kcv: the assembled key's KCV does not match the ceremony's expected kcv " +
                        to_hex(c.expected_kcv) +
                        "; the ceremony failed, its components are wiped; start a new one");
    }

    KeyRecord rec;
    rec.id = new_key_id();
    rec.name = c.name;
    rec.algorithm = c.algorithm;
    rec.usage = c.usage;
    rec.exportable = c.exportable;
    rec.trusted = c.trusted;
    rec.created_by = c.created_by;
    rec.created_ms = now;
    // If the HSM or the store fails below, the sum of the earlier components stays in memory
    // and the ceremony stays open: the last custodian can enter the component again.
    const GeneratedKey g = m_ctx.hsm.import_secret(
        KeySpec{rec.id, 1, c.algorithm, c.usage, c.exportable, c.trusted}, sum);
    if (!g.kcv.empty() && !equal_ct(g.kcv, assembled_kcv))
        throw Error(ErrorCode::HsmError,
                    "the HSM's KCV of the imported key differs from the one computed on the host");
    rec.versions.push_back(KeyVersion{1, g.block, assembled_kcv, g.public_key, now});
    rec.state = KeyState::Active;
    rec.activation_ms = now;
    rec.history.push_back(StateChange{KeyState::PreActive, KeyState::Active, now, c.created_by,
                                      "created by key ceremony " + c.id});
    c.state = CeremonyState::Completed;
    c.key_id = rec.id;
    c.closed_ms = now;

    std::string custodians;
    for (const auto& k : c.custodians) custodians += (custodians.empty() ? "" : ",") + k.name;
    const Bytes ceremony_rec = encode_ceremony(c);
    write_key(m_ctx, rec.id, [&](WriteTxn& t) {
        check_alias_free(t, rec.name, rec.id);  // a KMIP client's extra name
        t.put_key(rec);
        t.put(Table::Ceremonies, c.id, ceremony_rec);
        t.append_audit(component_event);
        t.append_audit(AuditEvent{c.created_by, "key.create", rec.id, AuditOutcome::Success,
                                  describe_new_key(rec) + " ceremony=" + c.id});
        t.append_audit(AuditEvent{caller.name, "ceremony.complete", c.id, AuditOutcome::Success,
                                  "key=" + rec.id + " name=" + rec.name + " kcv=" +
                                      to_hex(assembled_kcv) + " custodians=" + custodians});
    });
    m_partial.erase(c.id);
    return ComponentResult{c.received(), std::move(rec)};
}

Ceremony CeremonyService::cancel(const Principal& caller, std::string_view id) {
    require_role(caller, {Role::Admin, Role::KeyOfficer}, "cancelling a key ceremony");
    std::lock_guard lock(m_mutex);
    Ceremony c = load(id);
    if (c.state != CeremonyState::Open)
        throw Error(ErrorCode::WrongState, "ceremony '" + c.id + "' is " +
                                               std::string(ceremony_state_name(c.state)) +
                                               ": only an open ceremony can be cancelled");
    close(c, CeremonyState::Cancelled, caller.name, "ceremony.cancel",
          "cancelled after " + std::to_string(c.received()) + " of " +
              std::to_string(c.components) + " components");
    return c;
}

}  // namespace kms::core
