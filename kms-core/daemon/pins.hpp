// Where kmsd's HSM PINs come from: a systemd credential, a PIN file, or (the embedded token's
// default) PINs generated at the first start into the data directory. Never the command line
// or the environment (a process's environment shows in /proc/PID/environ for its whole life).
//
// systemd.exec(5) "Credentials": LoadCredential=, LoadCredentialEncrypted= and
// SetCredentialEncrypted= place each credential as a read-only file named after it in the
// directory $CREDENTIALS_DIRECTORY, readable only by the service's user, on a non-swappable
// file system, for the life of the service. kmsd reads the credentials named below.
#pragma once

#include <optional>
#include <string>

#include "daemon/config.hpp"
#include "domain/secure_bytes.hpp"
#include "pkcs11/pkcs11_hsm.hpp"

namespace kms::daemon {

/// The credential holding the token's user PIN (every start) and the one holding the embedded
/// token's security officer PIN (only read by the start that initializes the token).
inline constexpr const char* kUserPinCredential = "hsm-pin";
inline constexpr const char* kSoPinCredential = "hsm-so-pin";

/// SoftHSM2's limits on a PIN's length in bytes (its MIN_PIN_LEN and MAX_PIN_LEN, which it
/// reports as ulMinPinLen/ulMaxPinLen in CK_TOKEN_INFO, PKCS#11 v2.40 §3.2).
inline constexpr std::size_t kMinPinLength = 4;
inline constexpr std::size_t kMaxPinLength = 255;

/// One PIN's source and a description of it for messages ("credential hsm-pin",
/// "PIN file /etc/kms/pin"), which never contain the PIN.
struct PinOrigin {
    hsm::PinSource source;
    std::string description;
    /// Non-empty when no source exists: why (read_pin() throws it), so a start that never
    /// reads the PIN (`kmsd init` on an initialized data directory) does not fail.
    std::string unavailable;
};

/// The PINs of one start.
struct PinPlan {
    PinOrigin user;               ///< C_Login at every start
    std::optional<PinOrigin> so;  ///< the embedded token's SO PIN, for its initialization
    /// Embedded token, no PIN given, no token yet: generate both PINs into DIR/hsm.pin and
    /// DIR/hsm-so.pin (0600) before initializing the token.
    bool generate = false;
};

/// $CREDENTIALS_DIRECTORY/@p name when the variable is set and names a directory holding that
/// file; std::nullopt otherwise.
std::optional<std::string> credential_path(const char* name);

/// Decides where this start's PINs come from, in this order for the user PIN: the credential
/// hsm-pin; --pin-file (hsm.pin_file); for the embedded token DIR/hsm.pin; for a vendor HSM
/// hsm.pin. For the embedded token's SO PIN: the credential hsm-so-pin;
/// --so-pin-file (hsm.so_pin_file); DIR/hsm-so.pin when the user PIN is DIR/hsm.pin. Reads no
/// PIN and never throws for a missing one: when the embedded token exists (its token folder is
/// not empty) but no user PIN source does (the credential is missing), the user origin's
/// `unavailable` says so and read_pin() throws it.
PinPlan plan_pins(const DaemonConfig& cfg);

/// True when the credential hsm-pin is present (a vendor HSM then needs no other PIN option).
bool user_pin_credential_present();

/// Reads the PIN of @p origin into locked memory. For the embedded token (@p embedded) its
/// length must be kMinPinLength..kMaxPinLength bytes. Throws kms::Error(InvalidArgument) naming
/// the origin (unavailable, missing, unreadable, readable by others, empty, too short or too
/// long), never the PIN.
SecretString read_pin(const PinOrigin& origin, bool embedded);

}  // namespace kms::daemon
