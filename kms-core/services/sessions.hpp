// Officer sessions (the web console's log in, docs/console.md): a short-lived bearer token
// opened with a long-lived credential (an officer token or a client certificate), so the
// long-lived one need not stay in a browser. A session ends when it is closed (log out), after
// an idle time without a request, at a maximum lifetime, or when its principal is disabled or
// removed; kmsd's restart ends them all (they live in memory only, by design).
//
// Tokens are "kmss_" + 64 lowercase hex digits (32 random bytes); only their SHA-256 is kept,
// as for principal tokens (services/principals.hpp). Opening, closing and the first request
// refused because a session expired are audited ("session.open", "session.close",
// "session.expire") with the session's id, a random name that is not derived from the token;
// no token value is ever recorded, logged or put in an error message.
//
// Thread safety: every method may be called from any thread (one mutex over the table; the
// audit writes happen outside it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "domain/principal.hpp"
#include "services/context.hpp"

namespace kms::core {

class PrincipalService;

/// How long sessions live; kmsd reads them from console.session_idle_s and
/// console.session_max_s (docs/operations.md).
struct SessionLimits {
    std::int64_t idle_s = 15 * 60;     ///< ends after this long without a request
    std::int64_t max_s = 8 * 60 * 60;  ///< ends this long after it was opened, regardless
    std::size_t max_sessions = 10000;  ///< live sessions at most (expired ones are dropped first)
};

/// What POST /v1/sessions returns. The token is shown once; never logged.
struct OpenedSession {
    std::string token;            ///< "kmss_" + 64 hex digits
    std::string id;               ///< "ses-" + 16 hex digits: names the session in the audit log
    std::int64_t idle_s = 0;      ///< the idle timeout in force
    std::int64_t expires_ms = 0;  ///< the absolute end (opening + max_s), epoch ms
};

/// A live session as the caller holding it may see it.
struct SessionInfo {
    std::string id;
    std::string principal;
    std::int64_t opened_ms = 0;
    std::int64_t expires_ms = 0;  ///< absolute end
    std::int64_t idle_s = 0;
};

class SessionService {
  public:
    /// @p principals is read on every request so that a disabled principal's sessions stop at
    /// once and roles are always the stored ones. @p limits: idle_s and max_s at least 1.
    SessionService(ServiceContext& ctx, PrincipalService& principals, SessionLimits limits);

    /// True when @p bearer has the shape of a session token (not whether it is valid).
    static bool is_session_token(std::string_view bearer) noexcept;

    /// Opens a session for @p caller, already authenticated by a long-lived credential (@p how:
    /// "token" or "certificate", recorded in the audit detail). Throws Error(Conflict) when
    /// max_sessions live sessions exist even after dropping the expired ones, and the store's
    /// error when the audit record cannot be written (then no session exists).
    OpenedSession open(const Principal& caller, std::string_view how);

    /// The principal behind the session token @p token, and the session's idle clock restarted.
    /// Throws Error(Unauthenticated) with a message an officer can act on: unknown token
    /// (never opened, closed, or kmsd restarted), idle timeout, maximum lifetime (both audited
    /// once as "session.expire", and the session is dropped), principal disabled or removed.
    Principal authenticate(std::string_view token);

    /// What the session @p token is (for GET-like answers); Unauthenticated as authenticate().
    SessionInfo describe(std::string_view token);

    /// Ends the session @p token (log out), audited "session.close" by its principal. Throws
    /// Error(Unauthenticated) when it is not a live session.
    SessionInfo close(std::string_view token);

    /// Live sessions (expired ones not yet dropped included); for tests and metrics.
    std::size_t size();

    const SessionLimits& limits() const noexcept { return m_limits; }

  private:
    struct Entry {
        std::string id;
        std::string principal;
        std::int64_t opened_ms = 0;
        std::int64_t last_used_ms = 0;
    };
    /// Why @p e is over at @p now_ms, or empty when it is live.
    std::string expiry_reason(const Entry& e, std::int64_t now_ms) const;
    void audit(const std::string& actor, const std::string& action, const std::string& target,
               AuditOutcome outcome, const std::string& detail);

    ServiceContext& m_ctx;
    PrincipalService& m_principals;
    SessionLimits m_limits;
    std::mutex m_mutex;
    std::unordered_map<std::string, Entry> m_by_hash;  ///< hex SHA-256 of the token -> session
};

}  // namespace kms::core
