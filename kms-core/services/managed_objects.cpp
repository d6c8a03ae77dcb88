// Secret Data and Certificates: registration, the secret's encryption in the HSM, lifecycle
// and the record codec (see services/managed_objects.hpp).
#include "services/managed_objects.hpp"

#include "crypto/host_crypto.hpp"
#include "crypto/x509.hpp"
#include "domain/error.hpp"
#include "services/key_lifecycle.hpp"

namespace kms::core {

namespace {

constexpr std::uint8_t kFormat = 1;
constexpr std::string_view kSecretKeyId = "kms-secret-data";
constexpr std::string_view kSecretKeySetting = "objects/secret-key/block";
constexpr std::size_t kIv = 12;  // SP 800-38D §8.2: 96-bit IVs

UsageMask secret_key_usage() {
    return UsageMask().add(Usage::Encrypt).add(Usage::Decrypt);
}

std::string name_index(std::string_view name) {
    return "n:" + std::string(name);
}

void put_opt(Bytes& out, const std::optional<std::int64_t>& v) {
    put_u8(out, v ? 1 : 0);
    put_u64(out, static_cast<std::uint64_t>(v.value_or(0)));
}
std::optional<std::int64_t> opt(ByteReader& r) {
    const std::uint8_t set = r.u8();
    const auto v = static_cast<std::int64_t>(r.u64());
    if (set > 1) throw Error(ErrorCode::Integrity, "managed object record: bad flag");
    return set ? std::optional<std::int64_t>(v) : std::nullopt;
}

const char* kind_name(ObjectKind k) {
    return k == ObjectKind::SecretData ? "secret-data" : "certificate";
}

}  // namespace

Bytes encode_managed_object(const ManagedObject& o) {
    Bytes out;
    put_u8(out, kFormat);
    put_lv(out, o.id);
    put_u8(out, static_cast<std::uint8_t>(o.kind));
    put_lv(out, o.name);
    put_u32(out, o.subtype);
    put_u32(out, o.usage_mask);
    put_u8(out, static_cast<std::uint8_t>(o.state));
    put_lv(out, o.created_by);
    put_u64(out, static_cast<std::uint64_t>(o.created_ms));
    put_opt(out, o.activation_ms);
    put_opt(out, o.deactivation_ms);
    put_opt(out, o.compromise_ms);
    put_opt(out, o.destroy_ms);
    put_lv(out, ByteView(o.value));
    return out;
}

ManagedObject decode_managed_object(ByteView data) {
    ByteReader r(data);
    if (r.u8() != kFormat) throw Error(ErrorCode::Integrity, "managed object record: format");
    ManagedObject o;
    o.id = r.lv_string();
    const std::uint8_t kind = r.u8();
    if (kind != 1 && kind != 2) throw Error(ErrorCode::Integrity, "managed object record: kind");
    o.kind = static_cast<ObjectKind>(kind);
    o.name = r.lv_string();
    o.subtype = r.u32();
    o.usage_mask = r.u32();
    const std::uint8_t state = r.u8();
    if (state < 1 || state > 7) throw Error(ErrorCode::Integrity, "managed object record: state");
    o.state = static_cast<KeyState>(state);
    o.created_by = r.lv_string();
    o.created_ms = static_cast<std::int64_t>(r.u64());
    o.activation_ms = opt(r);
    o.deactivation_ms = opt(r);
    o.compromise_ms = opt(r);
    o.destroy_ms = opt(r);
    o.value = r.lv_bytes();
    if (r.remaining() != 0) throw Error(ErrorCode::Integrity, "managed object record: trailing");
    return o;
}

Bytes ManagedObjectService::secret_key_block() {
    if (auto b = m_ctx.store.get_setting(kSecretKeySetting)) return *b;
    // First use: generated in the HSM; a concurrent first use keeps whichever committed first.
    const GeneratedKey g = m_ctx.hsm.generate(
        KeySpec{std::string(kSecretKeyId), 1, Algorithm::Aes256, secret_key_usage(), false, false});
    Bytes kept;
    m_ctx.store.write([&](WriteTxn& t) {
        if (auto b = t.get_setting(kSecretKeySetting)) {
            kept = *b;
            return;
        }
        t.put_setting(kSecretKeySetting, g.block);
        kept = g.block;
    });
    return kept;
}

ManagedObject ManagedObjectService::register_secret_data(const Principal& caller,
                                                         const RegisterObjectRequest& r,
                                                         const SecureBytes& value) {
    require_role(caller, {Role::Admin, Role::KeyOfficer}, "registering secret data");
    validate_key_name(r.name);
    if (value.empty() || value.size() > kMaxObjectValue)
        throw Error(ErrorCode::InvalidArgument, "secret data: 1 to " +
                                                    std::to_string(kMaxObjectValue) +
                                                    " bytes, not " + std::to_string(value.size()));
    ManagedObject o;
    o.id = "o-" + new_key_id().substr(2);
    o.kind = ObjectKind::SecretData;
    o.name = r.name;
    o.subtype = r.subtype;
    o.usage_mask = r.usage_mask;
    const Bytes block = secret_key_block();
    const KeyRef key{kSecretKeyId, 1, Algorithm::Aes256, secret_key_usage(), block, {}};
    const Bytes iv = m_ctx.hsm.random(kIv);
    const Bytes ct =
        m_ctx.hsm.encrypt(key, CipherParams{CipherMode::AesGcm, iv, as_view(o.id)}, value.view());
    o.value = iv;
    o.value.insert(o.value.end(), ct.begin(), ct.end());
    o.state = r.activate ? KeyState::Active : KeyState::PreActive;
    return store_new(caller, std::move(o), r.source);
}

ManagedObject ManagedObjectService::register_certificate(const Principal& caller,
                                                         const RegisterObjectRequest& r,
                                                         ByteView der) {
    require_role(caller, {Role::Admin, Role::KeyOfficer}, "registering a certificate");
    validate_key_name(r.name);
    if (der.empty() || der.size() > kMaxObjectValue)
        throw Error(ErrorCode::InvalidArgument,
                    "certificate: 1 to " + std::to_string(kMaxObjectValue) + " bytes of DER");
    (void)crypto::certificate_info(der);  // InvalidArgument when it does not parse
    ManagedObject o;
    o.id = "o-" + new_key_id().substr(2);
    o.kind = ObjectKind::Certificate;
    o.name = r.name;
    o.subtype = r.subtype;
    o.usage_mask = r.usage_mask;
    o.value.assign(der.begin(), der.end());
    o.state = r.activate ? KeyState::Active : KeyState::PreActive;
    return store_new(caller, std::move(o), r.source);
}

ManagedObject ManagedObjectService::store_new(const Principal& caller, ManagedObject o,
                                              const std::string& source) {
    o.created_by = caller.name;
    o.created_ms = m_ctx.clock.now_ms();
    if (o.state == KeyState::Active) o.activation_ms = o.created_ms;
    std::string detail = "name=" + o.name + " object=" + kind_name(o.kind) +
                         " state=" + std::string(key_state_name(o.state));
    if (o.kind == ObjectKind::Certificate) {
        const auto info = crypto::certificate_info(o.value);
        detail += " serial=" + info.serial_hex;
    }
    if (!source.empty()) detail += " via=" + source;
    const Bytes rec = encode_managed_object(o);
    m_ctx.store.write([&](WriteTxn& t) {
        if (t.get(Table::ManagedObjects, name_index(o.name)) || t.find_key_id_by_name(o.name))
            throw Error(ErrorCode::Conflict, "name: an object named '" + o.name + "' exists");
        check_alias_free(t, o.name, {});  // a name a KMIP client added to a key
        t.put(Table::ManagedObjects, o.id, rec);
        t.put(Table::ManagedObjects, name_index(o.name), as_view(o.id));
        t.append_audit(
            AuditEvent{caller.name, "object.register", o.id, AuditOutcome::Success, detail});
    });
    return o;
}

ManagedObject ManagedObjectService::get(const Principal& caller, std::string_view id) {
    require_role(caller, {Role::Admin, Role::KeyOfficer, Role::Auditor}, "reading an object");
    if (!is_managed_object_id(id) || id.size() > 64)
        throw Error(ErrorCode::NotFound, "no object '" + std::string(id.substr(0, 64)) + "'");
    const auto rec = m_ctx.store.get(Table::ManagedObjects, id);
    if (!rec) throw Error(ErrorCode::NotFound, "no object '" + std::string(id) + "'");
    return decode_managed_object(*rec);
}

std::vector<ManagedObject> ManagedObjectService::list(const Principal& caller) {
    require_role(caller, {Role::Admin, Role::KeyOfficer, Role::Auditor}, "listing objects");
    std::vector<ManagedObject> out;
    std::string after;
    for (;;) {
        const auto page = m_ctx.store.scan(Table::ManagedObjects, after, 1000);
        for (const auto& [k, v] : page)
            if (is_managed_object_id(k)) out.push_back(decode_managed_object(v));
        if (page.size() < 1000) break;
        after = page.back().first;
    }
    return out;
}

SecureBytes ManagedObjectService::reveal_secret(const Principal& caller, std::string_view id) {
    require_role(caller, {Role::Admin, Role::KeyOfficer}, "reading secret data");
    const ManagedObject o = get(caller, id);
    if (o.kind != ObjectKind::SecretData)
        throw Error(ErrorCode::InvalidArgument, "object '" + o.id + "' is not secret data");
    if (is_destroyed(o.state) || o.value.size() < kIv + 16)
        throw Error(ErrorCode::WrongState, "object '" + o.id + "' is destroyed");
    const Bytes block = secret_key_block();
    const KeyRef key{kSecretKeyId, 1, Algorithm::Aes256, secret_key_usage(), block, {}};
    const ByteView all(o.value);
    Bytes clear = m_ctx.hsm.decrypt(
        key, CipherParams{CipherMode::AesGcm, all.first(kIv), as_view(o.id)}, all.subspan(kIv));
    SecureBytes out(clear.data(), clear.size());
    secure_wipe(clear.data(), clear.size());
    // Fail closed: the secret is handed out only once its audit record is stored.
    m_ctx.store.write([&](WriteTxn& t) {
        t.append_audit(AuditEvent{caller.name, "object.reveal", o.id, AuditOutcome::Success,
                                  "name=" + o.name + " object=secret-data"});
    });
    return out;
}

ManagedObject ManagedObjectService::transition(const Principal& caller, std::string_view id,
                                               Transition t, const std::string& reason,
                                               std::optional<std::int64_t> compromise_ms) {
    require_role(caller, {Role::Admin, Role::KeyOfficer}, "changing an object's state");
    ManagedObject o = get(caller, id);
    const auto next = next_state(o.state, t);
    if (!next)
        throw Error(ErrorCode::WrongState, "object '" + o.id + "' is " +
                                               std::string(key_state_name(o.state)) + ": cannot " +
                                               std::string(transition_name(t)) + " it");
    const std::int64_t now = m_ctx.clock.now_ms();
    const KeyState from = o.state;
    o.state = *next;
    if (t == Transition::Activate) o.activation_ms = now;
    if (t == Transition::Deactivate) o.deactivation_ms = now;
    if (t == Transition::Compromise) o.compromise_ms = compromise_ms.value_or(now);
    if (is_destroyed(o.state)) {
        o.destroy_ms = now;
        secure_wipe(o.value.data(), o.value.size());
        o.value.clear();
    }
    const Bytes rec = encode_managed_object(o);
    std::string detail = "name=" + o.name + " from=" + std::string(key_state_name(from)) +
                         " to=" + std::string(key_state_name(o.state));
    if (!reason.empty()) detail += " reason=" + reason.substr(0, 200);
    m_ctx.store.write([&](WriteTxn& w) {
        w.put(Table::ManagedObjects, o.id, rec);
        if (is_destroyed(o.state)) {
            const auto owner = w.get(Table::ManagedObjects, name_index(o.name));
            if (owner && std::string(owner->begin(), owner->end()) == o.id)
                w.erase(Table::ManagedObjects, name_index(o.name));
        }
        w.append_audit(AuditEvent{caller.name, "object." + std::string(transition_name(t)), o.id,
                                  AuditOutcome::Success, detail});
    });
    return o;
}

}  // namespace kms::core
