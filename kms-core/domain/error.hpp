// One exception type for the whole appliance: a portable error code plus the native code
// (CK_RV, LMDB rc, errno, OpenSSL error) that caused it. Messages never carry secrets.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace kms {

/// What went wrong, independent of the layer. The REST layer maps each to one HTTP status
/// (see api/error_mapping.cpp); kmsctl maps each to an exit code.
enum class ErrorCode {
    InvalidArgument,     ///< a field is missing, of the wrong type or out of range (400)
    MalformedRequest,    ///< the body is not JSON, or not an object (400)
    PayloadTooLarge,     ///< body over the limit (413)
    Unauthenticated,     ///< no or unknown credentials (401)
    Forbidden,           ///< the principal's roles do not allow the call (403)
    UsageNotPermitted,   ///< the key's usage mask does not include the operation (403)
    NotFound,            ///< unknown key, principal, route (404)
    Conflict,            ///< a name already taken, a duplicate (409)
    WrongState,          ///< the key's lifecycle state forbids the operation (409)
    Expired,             ///< a ceremony or approval whose time ran out (410)
    VerificationFailed,  ///< a MAC, signature, KCV or tag that does not verify (400)
    Unsupported,         ///< the algorithm or mechanism is not available on this HSM (400)
    HsmUnavailable,      ///< the HSM cannot be reached now; retry later (503)
    HsmError,            ///< the HSM refused or failed the call (500)
    StoreError,          ///< the metadata store failed (500/503)
    Integrity,           ///< stored data failed an integrity check: tampering or corruption (500)
    Internal,            ///< a bug (500)
};

/// Where Error::native_code() comes from.
enum class NativeKind { None, CkRv, Lmdb, Errno, OpenSsl };

/// Stable snake_case name used in JSON errors ("invalid_argument", "wrong_state", ...).
std::string_view error_code_name(ErrorCode code) noexcept;

class Error : public std::runtime_error {
  public:
    Error(ErrorCode code, const std::string& message, NativeKind native_kind = NativeKind::None,
          std::uint64_t native_code = 0)
        : std::runtime_error(message),
          m_code(code),
          m_native_kind(native_kind),
          m_native_code(native_code) {}

    ErrorCode code() const noexcept { return m_code; }
    NativeKind native_kind() const noexcept { return m_native_kind; }
    std::uint64_t native_code() const noexcept { return m_native_code; }

  private:
    ErrorCode m_code;
    NativeKind m_native_kind;
    std::uint64_t m_native_code;
};

}  // namespace kms
