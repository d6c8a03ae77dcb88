// Key lifecycle states (NIST SP 800-57 Part 1 Rev. 5 §5.3, KMIP 1.4 §3.22) and the one table
// that says which transitions and which cryptographic operations each state allows.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kms::core {

enum class KeyState : std::uint8_t {
    PreActive = 1,
    Active,
    Suspended,
    Deactivated,
    Compromised,
    Destroyed,
    DestroyedCompromised,
};

std::string_view key_state_name(KeyState s);  ///< "PreActive", "Active", ...
std::optional<KeyState> parse_key_state(std::string_view name);

/// Transitions an officer can ask for. Each maps to a target state (revoke depends on reason).
enum class Transition : std::uint8_t {
    Activate = 1,  ///< PreActive -> Active
    Suspend,       ///< Active -> Suspended (SP 800-57 §5.3.5)
    Resume,        ///< Suspended -> Active: the one way back that SP 800-57 allows
    Deactivate,    ///< Active|Suspended -> Deactivated (also revoke with a non-compromise reason)
    Compromise,    ///< any non-destroyed state -> Compromised; Destroyed -> DestroyedCompromised
    Destroy,  ///< PreActive|Deactivated|Suspended -> Destroyed; Compromised -> DestroyedCompromised
};
std::string_view transition_name(Transition t);  ///< "activate", "suspend", ...

/// The state after @p t from @p from, or nullopt when the table forbids it. Never moves a key
/// back to PreActive or out of a destroyed state; an Active key must be deactivated (or revoked)
/// before it is destroyed, as KMIP 1.4 §4.21 requires.
std::optional<KeyState> next_state(KeyState from, Transition t);

/// Cryptographic operations, as far as the lifecycle cares.
enum class Operation : std::uint8_t {
    Encrypt = 1,
    Decrypt,
    Mac,
    MacVerify,
    Sign,
    Verify,
    Wrap,
    Unwrap,
    Derive,
};
std::string_view operation_name(Operation op);  ///< "encrypt", "mac-verify", ...

/// Whether a key in state @p s may perform @p op (DESIGN §4: protect only when Active; process,
/// i.e. decrypt and verify, also when Suspended or Deactivated, never when Compromised or
/// destroyed).
bool state_allows(KeyState s, Operation op);

inline bool is_destroyed(KeyState s) {
    return s == KeyState::Destroyed || s == KeyState::DestroyedCompromised;
}

}  // namespace kms::core
