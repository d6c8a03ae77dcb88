// Use case: hand a secret key's clear value to the client that created it (KMIP Get of a
// Symmetric Key, KMIP 1.4 §4.11), only for keys created to be released to their owner.
#include "domain/error.hpp"
#include "services/key_lifecycle.hpp"

namespace kms::core {

std::string reveal_setting(std::string_view key_id) {
    return "key-reveal/" + std::string(key_id);
}

SecureBytes KeyLifecycle::reveal(const Principal& caller, std::string_view id) {
    require_role(caller, {Role::Admin, Role::KeyOfficer}, "reading a key's value");
    const auto k = load_key(m_ctx, id);
    if (!is_symmetric(k->algorithm))
        throw Error(ErrorCode::Forbidden, "key " + k->id +
                                              " is a private key: private keys "
                                              "never leave the HSM");
    // Owner only, administrators included: an administrator manages every key but reads the
    // value of none, so a stolen admin certificate does not hand out every client's keys.
    if (k->created_by != caller.name)
        throw Error(ErrorCode::Forbidden, "key " + k->id + " was created by '" + k->created_by +
                                              "': only the client that created a key gets its "
                                              "value");
    // The marker is written with the key, in its creation transaction, only by a KMIP Create
    // under kmip.get_secret_keys = owner; REST, ceremonies, imports, Register and GP never
    // write it, and no route changes it, so `exportable` alone (REST's wrapped export) never
    // makes a key readable in clear.
    if (!k->exportable || !m_ctx.store.get_setting(reveal_setting(k->id)))
        throw Error(ErrorCode::Forbidden,
                    "key " + k->id +
                        " is not releasable in clear: only keys a KMIP client created while "
                        "kmip.get_secret_keys = owner are (export others wrapped over REST)");
    // KMIP 1.4 §3.22: Pre-Active and Active keys may be used, Deactivated and Compromised ones
    // still process protected data (decrypt), so their values are released; a destroyed key
    // has none.
    if (is_destroyed(k->state) || k->versions.empty())
        throw Error(
            ErrorCode::WrongState,
            "key " + k->id + " is " + std::string(key_state_name(k->state)) + ": it has no value");
    const KeyVersion& v = k->current();
    // The HSM checks `exportable` again from the sealed block.
    SecureBytes value = m_ctx.hsm.reveal_secret(
        KeyRef{k->id, v.number, k->algorithm, k->usage, v.block, v.public_key});
    // Fail closed: the value is returned only once its audit record is stored. Never the value.
    m_ctx.store.write([&](WriteTxn& t) {
        t.append_audit(AuditEvent{caller.name, "key.reveal", k->id, AuditOutcome::Success,
                                  "name=" + k->name + " version=" + std::to_string(v.number) +
                                      " state=" + std::string(key_state_name(k->state)) +
                                      " via=kmip"});
    });
    return value;
}

}  // namespace kms::core
