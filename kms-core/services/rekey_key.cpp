// Use case: Re-key (KMIP 1.4 §4.4, KMIP 2.0 §6.1 Re-key): a new key object replaces an existing
// one. Unlike rotate (a new version under the same id), the replacement has an id of its own;
// Replacement / Replaced Object Links join the two (KMIP 1.4 §3.35).
#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"
#include "services/key_lifecycle.hpp"

namespace kms::core {

namespace {
void check_rekeyable(const KeyRecord& k) {
    if (k.state != KeyState::PreActive && k.state != KeyState::Active &&
        k.state != KeyState::Deactivated)
        throw Error(ErrorCode::WrongState,
                    "key '" + k.id + "' is " + std::string(key_state_name(k.state)) +
                        ": only a PreActive, Active or Deactivated key can be re-keyed");
    if (!k.kmip_replacement_id.empty())
        throw Error(ErrorCode::Conflict,
                    "key '" + k.id + "' was already replaced by '" + k.kmip_replacement_id + "'");
    if (k.versions.empty() || k.current().block.empty())
        throw Error(ErrorCode::WrongState,
                    "key '" + k.id + "' holds only an imported public key: it cannot be re-keyed");
}
}  // namespace

KeyRecord KeyLifecycle::rekey(const Principal& caller, std::string_view id, bool activate) {
    require_role(caller, {Role::Admin, Role::KeyOfficer}, "re-keying a key");
    const auto before = load_key(m_ctx, id);
    check_rekeyable(*before);

    KeyRecord rec;
    rec.id = new_key_id();
    rec.algorithm = before->algorithm;
    rec.usage = before->usage;
    rec.exportable = before->exportable;
    rec.trusted = before->trusted;
    // The replacement belongs to whoever owned the key it replaces (a KMIP client manages the
    // keys it created, kmip/operations.cpp owns()); the caller is in the history and audit.
    rec.created_by = before->created_by;
    rec.created_ms = m_ctx.clock.now_ms();
    const GeneratedKey g = m_ctx.hsm.generate(
        KeySpec{rec.id, 1, rec.algorithm, rec.usage, rec.exportable, rec.trusted});
    rec.versions.push_back(KeyVersion{1, g.block, g.kcv, g.public_key, rec.created_ms});
    rec.state = activate ? KeyState::Active : KeyState::PreActive;
    if (activate) rec.activation_ms = rec.created_ms;
    rec.history.push_back(StateChange{KeyState::PreActive, rec.state, rec.created_ms, caller.name,
                                      "re-key of " + before->id});

    KeyRecord out;
    write_key(m_ctx, id, [&](WriteTxn& t) {
        auto old = t.find_key(id);
        if (!old) throw Error(ErrorCode::NotFound, "no key with id '" + std::string(id) + "'");
        check_rekeyable(*old);  // again, inside the transaction
        // KMIP 1.4 §4.4: the replacement takes the names; the existing key's are removed.
        // A kmsd key always has a name, so the old one is renamed to its id.
        rec.name = old->name;
        rec.kmip_extra_names = old->kmip_extra_names;
        rec.kmip_client_attributes = old->kmip_client_attributes;
        rec.kmip_replaced_id = old->id;
        old->name = old->id;
        old->kmip_extra_names.clear();
        old->kmip_replacement_id = rec.id;
        t.put_key(*old);  // frees the name first
        t.put_key(rec);
        for (const auto& n : rec.kmip_extra_names) t.put_setting(alias_setting(n), as_view(rec.id));
        t.append_audit(AuditEvent{caller.name, "key.rekey", old->id, AuditOutcome::Success,
                                  "replacement=" + rec.id + " " + describe_new_key(rec)});
        out = rec;
    });
    m_ctx.keys.invalidate(rec.id);
    return out;
}

}  // namespace kms::core
