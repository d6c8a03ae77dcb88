// The service manager's readiness protocol (sd_notify(3)) without libsystemd: one datagram per
// state change to the AF_UNIX socket named by $NOTIFY_SOCKET. Shared by kmsd and tsmd.
//
// Protocol (systemd's "The sd_notify protocol", docs/NOTIFY.md, and sd_notify(3)): the service
// manager passes NOTIFY_SOCKET, either a file system path ("/run/systemd/notify") or an abstract
// socket name written with a leading '@' (the '@' stands for the leading NUL byte). Each message
// is one datagram of newline-separated VAR=VALUE assignments, e.g. "READY=1\nSTATUS=serving".
// WATCHDOG_USEC (and WATCHDOG_PID, when set, naming the process that must ping) asks for
// "WATCHDOG=1" at least that often; sd_watchdog_enabled(3) recommends half the interval.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace kms::sysd {

/// One service's link to the service manager. Without NOTIFY_SOCKET (not started by systemd,
/// or Type= is not notify) every call is a no-op that reports success, so a daemon calls it
/// unconditionally.
///
/// Thread safety: send() opens a fresh socket per message and touches no member, so any
/// thread may call it at any time (kmsd pings the watchdog from its health thread).
/// Lifetime: plain value; reading the environment happens once, in from_environment().
class Notifier {
  public:
    /// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID of the calling process. Never
    /// throws; an unusable value (a socket name longer than sun_path, a relative path, a
    /// WATCHDOG_USEC that is not a positive number) is kept as an error that send() returns,
    /// so the daemon reports it once instead of failing to start.
    static Notifier from_environment();

    /// A notifier for an explicit socket name (the same syntax as NOTIFY_SOCKET; empty: none)
    /// and watchdog interval (zero: none). For tests.
    Notifier(std::string socket_name, std::chrono::microseconds watchdog);
    Notifier() = default;

    /// True when there is a socket to notify.
    bool enabled() const noexcept { return !m_socket.empty(); }

    /// Sends @p state (newline-separated VAR=VALUE lines, no trailing newline needed) as one
    /// datagram. Returns true when sent or when notification is disabled; false when the
    /// socket is unusable or sendto(2) fails, with the reason (never @p state, which the caller
    /// keeps free of secrets anyway) in @p error when not null. Never throws, never blocks on a
    /// full socket (MSG_DONTWAIT), never raises SIGPIPE (MSG_NOSIGNAL).
    bool send(std::string_view state, std::string* error = nullptr) const noexcept;

    /// How often to send "WATCHDOG=1": half of WATCHDOG_USEC, or zero when the manager asked
    /// for no watchdog (unset, 0, or WATCHDOG_PID naming another process).
    std::chrono::microseconds watchdog_interval() const noexcept { return m_watchdog / 2; }

  private:
    std::string m_socket;  ///< NOTIFY_SOCKET as given ('/' path or '@' abstract name)
    std::chrono::microseconds m_watchdog{0};
};

}  // namespace kms::sysd
