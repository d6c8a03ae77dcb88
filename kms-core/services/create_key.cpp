// Use case: create a key. Generated inside the HSM, stored only as a sealed key block.
#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"
#include "services/key_lifecycle.hpp"

namespace kms::core {

std::string new_key_id() {
    return "k-" + to_hex(crypto::random_bytes(16));
}

void validate_key_usage(Algorithm alg, UsageMask usage) {
    if (usage.empty()) throw Error(ErrorCode::InvalidArgument, "usage: at least one is required");
    const UsageMask allowed = usages_allowed_for(alg);
    for (Usage u : all_usages()) {
        if (usage.has(u) && !allowed.has(u))
            throw Error(ErrorCode::InvalidArgument, "usage: '" + std::string(usage_name(u)) +
                                                        "' is not possible with " +
                                                        std::string(info(alg).name));
    }
}

void validate_trusted(bool trusted, UsageMask usage) {
    if (!trusted) return;
    // Key separation: a trusted KEK only wraps and unwraps keys, and may derive (a
    // GlobalPlatform card DEK or KMC: the HSM derives session keys from it, never returned to a
    // caller). A key that also encrypted or MACed data would let a caller feed it chosen input
    // and learn about wrapped keys.
    const std::uint32_t kek_bits =
        static_cast<std::uint32_t>(Usage::Wrap) | static_cast<std::uint32_t>(Usage::Unwrap);
    const std::uint32_t allowed = kek_bits | static_cast<std::uint32_t>(Usage::Derive);
    if ((usage.bits() & ~allowed) != 0 || (usage.bits() & kek_bits) == 0)
        throw Error(ErrorCode::InvalidArgument,
                    "trusted: a trusted KEK may only have the usages wrap and/or unwrap (and "
                    "derive)");
}

std::string describe_new_key(const KeyRecord& k) {
    std::string usage;
    for (const auto& u : usage_names(k.usage)) usage += (usage.empty() ? "" : ",") + u;
    std::string d = "name=" + k.name + " algorithm=" + std::string(info(k.algorithm).name) +
                    " usage=" + usage + " state=" + std::string(key_state_name(k.state));
    if (!k.versions.empty() && !k.current().kcv.empty()) d += " kcv=" + to_hex(k.current().kcv);
    if (k.exportable) d += " exportable";
    if (k.trusted) d += " trusted";
    return d;
}

KeyRecord KeyLifecycle::create(const Principal& caller, const CreateKeyRequest& req) {
    require_role(caller, {Role::Admin, Role::KeyOfficer}, "creating a key");
    validate_key_name(req.name);
    validate_key_usage(req.algorithm, req.usage);
    validate_trusted(req.trusted, req.usage);
    if (req.owner_may_reveal && (!req.exportable || req.trusted || !is_symmetric(req.algorithm)))
        throw Error(ErrorCode::InvalidArgument,
                    "a key released to its owner must be an exportable secret key, not a KEK");
    // Early, non-authoritative check so a taken name does not cost an HSM generation; the
    // store re-checks inside the transaction.
    if (m_ctx.store.find_key_id_by_name(req.name))
        throw Error(ErrorCode::Conflict, "name: a key named '" + req.name + "' already exists");

    KeyRecord rec;
    rec.id = new_key_id();
    rec.name = req.name;
    rec.algorithm = req.algorithm;
    rec.usage = req.usage;
    rec.exportable = req.exportable;
    rec.trusted = req.trusted;
    rec.created_by = caller.name;
    rec.created_ms = m_ctx.clock.now_ms();

    const GeneratedKey g = m_ctx.hsm.generate(
        KeySpec{rec.id, 1, req.algorithm, req.usage, req.exportable, req.trusted});
    rec.versions.push_back(KeyVersion{1, g.block, g.kcv, g.public_key, rec.created_ms});
    rec.state = req.activate ? KeyState::Active : KeyState::PreActive;
    if (req.activate) rec.activation_ms = rec.created_ms;
    rec.history.push_back(
        StateChange{KeyState::PreActive, rec.state, rec.created_ms, caller.name, "created"});

    write_key(m_ctx, rec.id, [&](WriteTxn& t) {
        check_alias_free(t, rec.name, rec.id);  // a KMIP client's extra name (key_attributes)
        t.put_key(rec);
        if (req.owner_may_reveal) t.put_setting(reveal_setting(rec.id), as_view("1"));
        t.append_audit(
            AuditEvent{caller.name, "key.create", rec.id, AuditOutcome::Success,
                       describe_new_key(rec) + (req.owner_may_reveal ? " owner-may-reveal" : "")});
    });
    return rec;
}

}  // namespace kms::core
