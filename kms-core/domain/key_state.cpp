// The lifecycle table. Every decision about states is made here and nowhere else.
#include "key_state.hpp"

namespace kms::core {

std::string_view key_state_name(KeyState s) {
    switch (s) {
        case KeyState::PreActive:
            return "PreActive";
        case KeyState::Active:
            return "Active";
        case KeyState::Suspended:
            return "Suspended";
        case KeyState::Deactivated:
            return "Deactivated";
        case KeyState::Compromised:
            return "Compromised";
        case KeyState::Destroyed:
            return "Destroyed";
        case KeyState::DestroyedCompromised:
            return "DestroyedCompromised";
    }
    return "?";
}

std::optional<KeyState> parse_key_state(std::string_view name) {
    for (auto s :
         {KeyState::PreActive, KeyState::Active, KeyState::Suspended, KeyState::Deactivated,
          KeyState::Compromised, KeyState::Destroyed, KeyState::DestroyedCompromised})
        if (key_state_name(s) == name) return s;
    return std::nullopt;
}

std::string_view transition_name(Transition t) {
    switch (t) {
        case Transition::Activate:
            return "activate";
        case Transition::Suspend:
            return "suspend";
        case Transition::Resume:
            return "resume";
        case Transition::Deactivate:
            return "deactivate";
        case Transition::Compromise:
            return "compromise";
        case Transition::Destroy:
            return "destroy";
    }
    return "?";
}

std::optional<KeyState> next_state(KeyState from, Transition t) {
    using S = KeyState;
    switch (t) {
        case Transition::Activate:
            if (from == S::PreActive) return S::Active;
            break;
        case Transition::Suspend:
            if (from == S::Active) return S::Suspended;
            break;
        case Transition::Resume:
            if (from == S::Suspended) return S::Active;
            break;
        case Transition::Deactivate:
            if (from == S::Active || from == S::Suspended) return S::Deactivated;
            break;
        case Transition::Compromise:
            if (from == S::PreActive || from == S::Active || from == S::Suspended ||
                from == S::Deactivated)
                return S::Compromised;
            if (from == S::Destroyed) return S::DestroyedCompromised;
            break;
        case Transition::Destroy:
            if (from == S::PreActive || from == S::Suspended || from == S::Deactivated)
                return S::Destroyed;
            if (from == S::Compromised) return S::DestroyedCompromised;
            break;
    }
    return std::nullopt;
}

std::string_view operation_name(Operation op) {
    switch (op) {
        case Operation::Encrypt:
            return "encrypt";
        case Operation::Decrypt:
            return "decrypt";
        case Operation::Mac:
            return "mac";
        case Operation::MacVerify:
            return "mac-verify";
        case Operation::Sign:
            return "sign";
        case Operation::Verify:
            return "verify";
        case Operation::Wrap:
            return "wrap";
        case Operation::Unwrap:
            return "unwrap";
        case Operation::Derive:
            return "derive";
    }
    return "?";
}

bool state_allows(KeyState s, Operation op) {
    const bool processes = op == Operation::Decrypt || op == Operation::Verify ||
                           op == Operation::MacVerify || op == Operation::Unwrap;
    switch (s) {
        case KeyState::Active:
            return true;
        case KeyState::Suspended:
        case KeyState::Deactivated:
            return processes;
        default:
            return false;
    }
}

}  // namespace kms::core
