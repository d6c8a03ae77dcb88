// Use cases: activate, suspend, resume, deactivate, revoke and destroy. One path for all of
// them, so the transition table in domain/key_state.cpp decides everything.
#include "domain/error.hpp"
#include "services/key_lifecycle.hpp"

namespace kms::core {

namespace {
struct ReasonName {
    RevocationReason reason;
    std::string_view name;
};
constexpr ReasonName kReasons[] = {
    {RevocationReason::Unspecified, "unspecified"},
    {RevocationReason::KeyCompromise, "keyCompromise"},
    {RevocationReason::CaCompromise, "caCompromise"},
    {RevocationReason::AffiliationChanged, "affiliationChanged"},
    {RevocationReason::Superseded, "superseded"},
    {RevocationReason::CessationOfOperation, "cessationOfOperation"},
    {RevocationReason::PrivilegeWithdrawn, "privilegeWithdrawn"},
};
}  // namespace

std::string_view revocation_reason_name(RevocationReason r) {
    for (const auto& e : kReasons)
        if (e.reason == r) return e.name;
    return "unspecified";
}

std::optional<RevocationReason> parse_revocation_reason(std::string_view name) {
    for (const auto& e : kReasons)
        if (e.name == name) return e.reason;
    return std::nullopt;
}

KeyRecord KeyLifecycle::transition(const Principal& caller, std::string_view id, Transition t,
                                   const std::string& reason) {
    if (t == Transition::Compromise || t == Transition::Destroy)
        throw Error(ErrorCode::Internal, "use revoke() or destroy()");
    return change_state(caller, id, t, reason, std::nullopt);
}

KeyRecord KeyLifecycle::revoke(const Principal& caller, std::string_view id,
                               RevocationReason reason, std::optional<std::int64_t> compromise_ms,
                               const std::string& message) {
    const bool compromise =
        reason == RevocationReason::KeyCompromise || reason == RevocationReason::CaCompromise;
    if (!compromise && compromise_ms)
        throw Error(ErrorCode::InvalidArgument,
                    "compromiseDate: only allowed with keyCompromise or caCompromise");
    std::string text = std::string(revocation_reason_name(reason));
    if (!message.empty()) text += ": " + message;
    return change_state(
        caller, id, compromise ? Transition::Compromise : Transition::Deactivate, text,
        compromise ? std::optional(compromise_ms.value_or(m_ctx.clock.now_ms())) : std::nullopt);
}

KeyRecord KeyLifecycle::destroy(const Principal& caller, std::string_view id,
                                const std::string& reason) {
    return change_state(caller, id, Transition::Destroy, reason, std::nullopt);
}

KeyRecord KeyLifecycle::change_state(const Principal& caller, std::string_view id, Transition t,
                                     const std::string& reason,
                                     std::optional<std::int64_t> compromise_ms) {
    require_role(caller, {Role::Admin, Role::KeyOfficer},
                 std::string("changing a key's state (") + std::string(transition_name(t)) + ")");
    if (reason.size() > 1024)
        throw Error(ErrorCode::InvalidArgument, "reason: at most 1024 characters");
    KeyRecord out;
    write_key(m_ctx, id, [&](WriteTxn& txn) {
        auto rec = txn.find_key(id);
        if (!rec) throw Error(ErrorCode::NotFound, "no key with id '" + std::string(id) + "'");
        const KeyState from = rec->state;
        const auto to = next_state(from, t);
        if (!to)
            throw Error(ErrorCode::WrongState, "key '" + rec->id + "' is " +
                                                   std::string(key_state_name(from)) + ": cannot " +
                                                   std::string(transition_name(t)) + " it");
        const std::int64_t now = m_ctx.clock.now_ms();
        rec->state = *to;
        if (*to == KeyState::Active && !rec->activation_ms) rec->activation_ms = now;
        if (*to == KeyState::Deactivated) rec->deactivation_ms = now;
        if (*to == KeyState::Compromised || *to == KeyState::DestroyedCompromised)
            rec->compromise_ms = compromise_ms.value_or(now);
        if (t == Transition::Destroy) {
            rec->destroy_ms = now;
            for (auto& v : rec->versions) {
                // The tombstone keeps what the audit trail needs (number, KCV, public key)
                // and loses the wrapped key for good.
                std::fill(v.block.begin(), v.block.end(), 0);
                v.block.clear();
            }
        }
        rec->history.push_back(StateChange{from, *to, now, caller.name, reason});
        txn.put_key(*rec);
        std::string detail =
            std::string(key_state_name(from)) + " -> " + std::string(key_state_name(*to));
        if (!reason.empty()) detail += " reason=" + reason;
        txn.append_audit(AuditEvent{caller.name, "key." + std::string(transition_name(t)), rec->id,
                                    AuditOutcome::Success, detail});
        out = std::move(*rec);
    });
    if (out.state != KeyState::Active && out.state != KeyState::PreActive &&
        out.state != KeyState::Suspended && out.state != KeyState::Deactivated)
        m_ctx.hsm.forget(out.id);  // Compromised or destroyed: drop the HSM session objects
    return out;
}

}  // namespace kms::core
