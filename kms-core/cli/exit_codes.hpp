// kmsctl's exit codes, which scripts test, and the one exception type that carries a failure
// with its exit code up to main(). The table here is the one `kmsctl --help` and docs/api.md
// print.
#pragma once

#include <stdexcept>
#include <string>

namespace kms::cli {

/// Process exit status of kmsctl. Values are part of the interface: never renumber.
enum class ExitCode : int {
    Ok = 0,               ///< the request succeeded
    Usage = 1,            ///< bad arguments or local configuration; nothing was sent
    Rejected = 2,         ///< the server rejected the request (4xx other than 401/403/404/410)
    AuthFailed = 3,       ///< authentication or authorization failed (401, 403)
    NotFound = 4,         ///< the key, principal or route does not exist (404)
    ServerError = 5,      ///< the server failed or is unavailable (5xx)
    ConnectFailed = 6,    ///< cannot connect, TLS handshake or certificate check failed
    VerifyNegative = 7,   ///< a verification answered negative (mac-verify, verify, audit
                          ///< verify, backup verify and restore)
    Expired = 8,          ///< a ceremony, approval or GP session ran out of time (410): redo
    PendingApproval = 9,  ///< accepted under dual control (202): nothing done yet, approval pending
};

inline int to_int(ExitCode c) {
    return static_cast<int>(c);
}

/// The exit code for an HTTP error status (>= 400), as the table above says. 410 (error
/// "expired": a ceremony, approval or GlobalPlatform session past its expiry) has its own code, so
/// a script can tell "start again" from "fix the request".
inline ExitCode exit_code_for_status(int status) {
    if (status == 401 || status == 403) return ExitCode::AuthFailed;
    if (status == 404) return ExitCode::NotFound;
    if (status == 410) return ExitCode::Expired;
    if (status >= 500) return ExitCode::ServerError;
    if (status >= 400) return ExitCode::Rejected;
    return ExitCode::Ok;
}

/// One line per exit code, for `kmsctl --help`.
inline const char* exit_code_help() {
    return "  0  success\n"
           "  1  usage error: bad arguments or local configuration (nothing was sent)\n"
           "  2  the server rejected the request (HTTP 4xx other than 401, 403, 404, 410)\n"
           "  3  authentication or authorization failed (HTTP 401, 403)\n"
           "  4  not found (HTTP 404)\n"
           "  5  server error or unavailable (HTTP 5xx)\n"
           "  6  cannot connect, or the TLS handshake or certificate check failed\n"
           "  7  a verification answered negative (mac-verify, verify, audit verify,\n"
           "     backup verify, restore: the archive does not verify)\n"
           "  8  expired (HTTP 410): the ceremony, approval or GP session ran out of time; start\n"
           "     it again\n"
           "  9  accepted, pending approval (HTTP 202): the operation is under dual control and\n"
           "     has not run yet; the approval's id is printed (see 'kmsctl approval --help')\n";
}

/// A failure with the exit code it ends kmsctl with. what() is the text after "kmsctl: "; it
/// never contains a token.
class CliError : public std::runtime_error {
  public:
    CliError(ExitCode code, const std::string& message)
        : std::runtime_error(message), m_code(code) {}
    ExitCode code() const noexcept { return m_code; }

  private:
    ExitCode m_code;
};

/// A usage error (exit 1): a bad argument, a missing option, an unreadable file.
class UsageError : public CliError {
  public:
    explicit UsageError(const std::string& message) : CliError(ExitCode::Usage, message) {}
};

}  // namespace kms::cli
