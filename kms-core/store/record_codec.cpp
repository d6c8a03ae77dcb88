// Format-1 encoders and bounds-checked decoders of the store's records.
#include "store/record_codec.hpp"

#include <string>

#include "domain/algorithm.hpp"
#include "domain/error.hpp"

namespace kms::store {

using core::AuditHead;
using core::AuditRecord;
using core::KeyRecord;
using core::Principal;

namespace {

[[noreturn]] void corrupt(const std::string& what) {
    throw Error(ErrorCode::Integrity, "stored record: " + what);
}

void put_time(Bytes& out, std::int64_t ms) {
    put_u64(out, static_cast<std::uint64_t>(ms));
}
std::int64_t get_time(ByteReader& in) {
    return static_cast<std::int64_t>(in.u64());
}

void put_opt_time(Bytes& out, const std::optional<std::int64_t>& ms) {
    put_u8(out, ms ? 1 : 0);
    if (ms) put_time(out, *ms);
}

bool get_flag(ByteReader& in, const char* field) {
    const std::uint8_t v = in.u8();
    if (v > 1) corrupt(std::string("bad flag ") + field);
    return v == 1;
}

std::optional<std::int64_t> get_opt_time(ByteReader& in, const char* field) {
    if (!get_flag(in, field)) return std::nullopt;
    return get_time(in);
}

void expect_format(ByteReader& in, const char* kind) {
    const std::uint8_t format = in.u8();
    if (format != kRecordFormat)
        corrupt(std::string(kind) + " has unknown format " + std::to_string(format));
}

void expect_end(const ByteReader& in, const char* kind) {
    if (!in.at_end()) corrupt(std::string(kind) + " has trailing bytes");
}

core::Algorithm get_algorithm(ByteReader& in) {
    const std::uint8_t v = in.u8();
    for (const auto& i : core::all_algorithms())
        if (static_cast<std::uint8_t>(i.algorithm) == v) return i.algorithm;
    corrupt("unknown algorithm " + std::to_string(v));
}

core::KeyState get_state(ByteReader& in) {
    const std::uint8_t v = in.u8();
    if (v < static_cast<std::uint8_t>(core::KeyState::PreActive) ||
        v > static_cast<std::uint8_t>(core::KeyState::DestroyedCompromised))
        corrupt("unknown key state " + std::to_string(v));
    return static_cast<core::KeyState>(v);
}

core::KeyStorage get_storage(ByteReader& in) {
    const std::uint8_t v = in.u8();
    if (v != static_cast<std::uint8_t>(core::KeyStorage::KeyBlock))
        corrupt("unknown key storage " + std::to_string(v));
    return static_cast<core::KeyStorage>(v);
}

core::AuditOutcome get_outcome(ByteReader& in) {
    const std::uint8_t v = in.u8();
    if (v < static_cast<std::uint8_t>(core::AuditOutcome::Success) ||
        v > static_cast<std::uint8_t>(core::AuditOutcome::Failed))
        corrupt("unknown audit outcome " + std::to_string(v));
    return static_cast<core::AuditOutcome>(v);
}

}  // namespace

Bytes encode_key(const KeyRecord& k) {
    Bytes out;
    out.reserve(256);
    put_u8(out, kKeyRecordFormat);
    put_lv(out, k.id);
    put_lv(out, k.name);
    put_u8(out, static_cast<std::uint8_t>(k.algorithm));
    put_u32(out, k.usage.bits());
    put_u8(out, static_cast<std::uint8_t>(k.state));
    put_u8(out, k.exportable ? 1 : 0);
    put_u8(out, static_cast<std::uint8_t>(k.storage));
    put_lv(out, k.created_by);
    put_time(out, k.created_ms);
    put_opt_time(out, k.activation_ms);
    put_opt_time(out, k.deactivation_ms);
    put_opt_time(out, k.compromise_ms);
    put_opt_time(out, k.destroy_ms);
    put_u32(out, static_cast<std::uint32_t>(k.versions.size()));
    for (const auto& v : k.versions) {
        put_u32(out, v.number);
        put_lv(out, v.block);
        put_lv(out, v.kcv);
        put_lv(out, v.public_key);
        put_time(out, v.created_ms);
    }
    put_u32(out, static_cast<std::uint32_t>(k.history.size()));
    for (const auto& h : k.history) {
        put_u8(out, static_cast<std::uint8_t>(h.from));
        put_u8(out, static_cast<std::uint8_t>(h.to));
        put_time(out, h.at_ms);
        put_lv(out, h.by);
        put_lv(out, h.reason);
    }
    const auto& c = k.counters;
    for (std::uint64_t n : {c.encrypt, c.decrypt, c.mac, c.mac_verify, c.sign, c.verify})
        put_u64(out, n);
    put_u8(out, k.trusted ? 1 : 0);                                       // format 2
    put_u32(out, static_cast<std::uint32_t>(k.kmip_extra_names.size()));  // format 3
    for (const auto& n : k.kmip_extra_names) put_lv(out, n);
    put_u32(out, static_cast<std::uint32_t>(k.kmip_client_attributes.size()));
    for (const auto& a : k.kmip_client_attributes) {
        put_lv(out, a.name);
        put_lv(out, a.value);
    }
    put_lv(out, k.kmip_replaced_id);
    put_lv(out, k.kmip_replacement_id);
    return out;
}

KeyRecord decode_key(ByteView data) {
    ByteReader in(data);
    const std::uint8_t format = in.u8();
    if (format < 1 || format > kKeyRecordFormat)
        corrupt("key has unknown format " + std::to_string(format));
    KeyRecord k;
    k.id = in.lv_string();
    k.name = in.lv_string();
    k.algorithm = get_algorithm(in);
    k.usage = core::UsageMask(in.u32());
    k.state = get_state(in);
    k.exportable = get_flag(in, "exportable");
    k.storage = get_storage(in);
    k.created_by = in.lv_string();
    k.created_ms = get_time(in);
    k.activation_ms = get_opt_time(in, "activation");
    k.deactivation_ms = get_opt_time(in, "deactivation");
    k.compromise_ms = get_opt_time(in, "compromise");
    k.destroy_ms = get_opt_time(in, "destroy");
    // No reserve() from a stored count: a corrupt count must not allocate; each element
    // consumes input, so a too-large count ends in a truncation error instead.
    for (std::uint32_t n = in.u32(); n > 0; --n) {
        core::KeyVersion v;
        v.number = in.u32();
        v.block = in.lv_bytes();
        v.kcv = in.lv_bytes();
        v.public_key = in.lv_bytes();
        v.created_ms = get_time(in);
        k.versions.push_back(std::move(v));
    }
    for (std::uint32_t n = in.u32(); n > 0; --n) {
        core::StateChange h;
        h.from = get_state(in);
        h.to = get_state(in);
        h.at_ms = get_time(in);
        h.by = in.lv_string();
        h.reason = in.lv_string();
        k.history.push_back(std::move(h));
    }
    auto& c = k.counters;
    for (std::uint64_t* n : {&c.encrypt, &c.decrypt, &c.mac, &c.mac_verify, &c.sign, &c.verify})
        *n = in.u64();
    if (format >= 2) k.trusted = get_flag(in, "trusted");
    if (format >= 3) {
        for (std::uint32_t n = in.u32(); n > 0; --n) k.kmip_extra_names.push_back(in.lv_string());
        for (std::uint32_t n = in.u32(); n > 0; --n) {
            core::ClientAttribute a;
            a.name = in.lv_string();
            a.value = in.lv_bytes();
            k.kmip_client_attributes.push_back(std::move(a));
        }
        k.kmip_replaced_id = in.lv_string();
        k.kmip_replacement_id = in.lv_string();
    }
    expect_end(in, "key");
    return k;
}

Bytes encode_principal(const Principal& p) {
    Bytes out;
    put_u8(out, kRecordFormat);
    put_lv(out, p.name);
    put_u32(out, p.roles);
    put_lv(out, p.token_hash);
    put_time(out, p.created_ms);
    put_lv(out, p.created_by);
    put_u8(out, p.disabled ? 1 : 0);
    return out;
}

Principal decode_principal(ByteView data) {
    ByteReader in(data);
    expect_format(in, "principal");
    Principal p;
    p.name = in.lv_string();
    p.roles = in.u32();
    p.token_hash = in.lv_bytes();
    p.created_ms = get_time(in);
    p.created_by = in.lv_string();
    p.disabled = get_flag(in, "disabled");
    expect_end(in, "principal");
    return p;
}

Bytes encode_audit(const AuditRecord& r) {
    Bytes out;
    out.reserve(160 + r.event.detail.size());
    put_u8(out, kRecordFormat);
    put_u64(out, r.seq);
    put_time(out, r.time_ms);
    put_lv(out, r.event.actor);
    put_lv(out, r.event.action);
    put_lv(out, r.event.target);
    put_u8(out, static_cast<std::uint8_t>(r.event.outcome));
    put_lv(out, r.event.detail);
    put_lv(out, r.prev_hash);
    put_lv(out, r.hash);
    put_lv(out, r.seal);
    return out;
}

AuditRecord decode_audit(ByteView data) {
    ByteReader in(data);
    expect_format(in, "audit record");
    AuditRecord r;
    r.seq = in.u64();
    r.time_ms = get_time(in);
    r.event.actor = in.lv_string();
    r.event.action = in.lv_string();
    r.event.target = in.lv_string();
    r.event.outcome = get_outcome(in);
    r.event.detail = in.lv_string();
    r.prev_hash = in.lv_bytes();
    r.hash = in.lv_bytes();
    r.seal = in.lv_bytes();
    expect_end(in, "audit record");
    return r;
}

Bytes encode_audit_head(const AuditHead& head) {
    Bytes out;
    put_u8(out, kRecordFormat);
    put_u64(out, head.seq);
    put_lv(out, head.hash);
    return out;
}

AuditHead decode_audit_head(ByteView data) {
    ByteReader in(data);
    expect_format(in, "audit head");
    AuditHead head;
    head.seq = in.u64();
    head.hash = in.lv_bytes();
    expect_end(in, "audit head");
    return head;
}

Bytes audit_key(std::uint64_t seq) {
    Bytes out;
    out.reserve(8);
    put_u64(out, seq);
    return out;
}

std::string use_counter_detail(const core::UseCounters& d) {
    std::string out;
    const std::pair<const char*, std::uint64_t> fields[] = {
        {"encrypt", d.encrypt},       {"decrypt", d.decrypt}, {"mac", d.mac},
        {"mac_verify", d.mac_verify}, {"sign", d.sign},       {"verify", d.verify},
    };
    for (const auto& [name, n] : fields) {
        if (n == 0) continue;
        if (!out.empty()) out += ' ';
        out += name;
        out += '=';
        out += std::to_string(n);
    }
    return out;
}

}  // namespace kms::store
