// Use case: rotate a key (add a version generated in the HSM; older versions keep processing).
#include "domain/error.hpp"
#include "services/key_lifecycle.hpp"

namespace kms::core {

KeyRecord KeyLifecycle::rotate(const Principal& caller, std::string_view id) {
    require_role(caller, {Role::Admin, Role::KeyOfficer}, "rotating a key");
    const auto before = load_key(m_ctx, id);
    if (before->state != KeyState::Active && before->state != KeyState::PreActive)
        throw Error(ErrorCode::WrongState, "key '" + before->id + "' is " +
                                               std::string(key_state_name(before->state)) +
                                               ": only an Active or PreActive key can rotate");
    if (before->current().block.empty())
        throw Error(ErrorCode::WrongState, "key '" + before->id +
                                               "' holds only an imported public key: import "
                                               "the new public key under a new name instead");
    const std::uint32_t next = before->current().number + 1;
    const GeneratedKey g = m_ctx.hsm.generate(KeySpec{
        before->id, next, before->algorithm, before->usage, before->exportable, before->trusted});

    KeyRecord out;
    write_key(m_ctx, id, [&](WriteTxn& t) {
        auto rec = t.find_key(id);
        if (!rec) throw Error(ErrorCode::NotFound, "no key with id '" + std::string(id) + "'");
        if (rec->current().number + 1 != next)
            throw Error(ErrorCode::Conflict,
                        "key '" + rec->id + "' was rotated at the same time; retry");
        if (rec->state != KeyState::Active && rec->state != KeyState::PreActive)
            throw Error(ErrorCode::WrongState,
                        "key '" + rec->id + "' is " + std::string(key_state_name(rec->state)));
        const std::int64_t now = m_ctx.clock.now_ms();
        rec->versions.push_back(KeyVersion{next, g.block, g.kcv, g.public_key, now});
        t.put_key(*rec);
        std::string detail = "version=" + std::to_string(next);
        if (!g.kcv.empty()) detail += " kcv=" + to_hex(g.kcv);
        t.append_audit(
            AuditEvent{caller.name, "key.rotate", rec->id, AuditOutcome::Success, detail});
        out = std::move(*rec);
    });
    return out;
}

}  // namespace kms::core
