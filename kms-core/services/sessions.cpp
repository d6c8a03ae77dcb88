// Use cases: open, check and close officer sessions (services/sessions.hpp).
#include "services/sessions.hpp"

#include <cctype>
#include <vector>

#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"
#include "services/principals.hpp"

namespace kms::core {

namespace {
constexpr std::string_view kPrefix = "kmss_";

std::string lower_hex(const Bytes& b) {
    std::string out;
    for (char c : to_hex(b)) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string hash_key(std::string_view token) {
    return to_hex(crypto::sha256(as_view(std::string(token))));
}

/// "15 min", "2 s", "8 h": the limits as an officer reads them in a message.
std::string duration_text(std::int64_t s) {
    if (s >= 3600 && s % 3600 == 0) return std::to_string(s / 3600) + " h";
    if (s >= 60 && s % 60 == 0) return std::to_string(s / 60) + " min";
    return std::to_string(s) + " s";
}

[[noreturn]] void unauthenticated(const std::string& message) {
    throw Error(ErrorCode::Unauthenticated, message);
}

constexpr const char* kUnknown =
    "the session token is not valid (logged out, expired, or kmsd restarted); log in again";
}  // namespace

SessionService::SessionService(ServiceContext& ctx, PrincipalService& principals,
                               SessionLimits limits)
    : m_ctx(ctx), m_principals(principals), m_limits(limits) {
    if (m_limits.idle_s < 1 || m_limits.max_s < 1 || m_limits.max_sessions < 1)
        throw Error(ErrorCode::InvalidArgument, "session limits: idle, maximum and count >= 1");
}

bool SessionService::is_session_token(std::string_view bearer) noexcept {
    if (bearer.size() != kPrefix.size() + 64 || bearer.substr(0, kPrefix.size()) != kPrefix)
        return false;
    for (char c : bearer.substr(kPrefix.size()))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

std::string SessionService::expiry_reason(const Entry& e, std::int64_t now_ms) const {
    if (now_ms - e.opened_ms >= m_limits.max_s * 1000)
        return "the session reached its maximum lifetime of " + duration_text(m_limits.max_s) +
               "; log in again";
    if (now_ms - e.last_used_ms >= m_limits.idle_s * 1000)
        return "the session expired after " + duration_text(m_limits.idle_s) +
               " without a request; log in again";
    return {};
}

void SessionService::audit(const std::string& actor, const std::string& action,
                           const std::string& target, AuditOutcome outcome,
                           const std::string& detail) {
    m_ctx.store.write([&](WriteTxn& t) {
        t.append_audit(AuditEvent{actor, action, target, outcome, detail});
    });
}

OpenedSession SessionService::open(const Principal& caller, std::string_view how) {
    OpenedSession out;
    out.token = std::string(kPrefix) + lower_hex(crypto::random_bytes(32));
    out.id = "ses-" + lower_hex(crypto::random_bytes(8));
    out.idle_s = m_limits.idle_s;
    const std::int64_t now = m_ctx.clock.now_ms();
    out.expires_ms = now + m_limits.max_s * 1000;
    const std::string key = hash_key(out.token);
    {
        // The slot is taken under the lock, so concurrent opens never pass max_sessions; the
        // token is not known to anyone until open() returns, so the entry is unusable until
        // its audit record below is written.
        std::lock_guard lock(m_mutex);
        if (m_by_hash.size() >= m_limits.max_sessions)
            for (auto it = m_by_hash.begin(); it != m_by_hash.end();)
                it = expiry_reason(it->second, now).empty() ? std::next(it) : m_by_hash.erase(it);
        if (m_by_hash.size() >= m_limits.max_sessions)
            throw Error(ErrorCode::Conflict, "sessions: " + std::to_string(m_limits.max_sessions) +
                                                 " are open, the most kmsd keeps; log out of one "
                                                 "or wait for one to expire");
        m_by_hash.emplace(key, Entry{out.id, caller.name, now, now});
    }
    try {
        // A session the audit log does not know never works: no record, no session.
        audit(caller.name, "session.open", out.id, AuditOutcome::Success,
              "by " + std::string(how) + ", idle " + duration_text(m_limits.idle_s) + ", maximum " +
                  duration_text(m_limits.max_s));
    } catch (...) {
        std::lock_guard lock(m_mutex);
        m_by_hash.erase(key);
        throw;
    }
    return out;
}

Principal SessionService::authenticate(std::string_view token) {
    if (!is_session_token(token)) unauthenticated(kUnknown);
    const std::string key = hash_key(token);
    const std::int64_t now = m_ctx.clock.now_ms();
    Entry e;
    std::string expired;
    {
        std::lock_guard lock(m_mutex);
        auto it = m_by_hash.find(key);
        if (it == m_by_hash.end()) unauthenticated(kUnknown);
        expired = expiry_reason(it->second, now);
        if (expired.empty()) it->second.last_used_ms = now;
        e = it->second;
        if (!expired.empty()) m_by_hash.erase(it);  // so the expiry is audited once
    }
    if (!expired.empty()) {
        try {
            audit(e.principal, "session.expire", e.id, AuditOutcome::Denied, expired);
        } catch (const std::exception&) {
            // The request is refused either way; the denial record of the server follows.
        }
        unauthenticated(expired);
    }
    auto p = m_principals.find(e.principal);
    if (!p || p->disabled) {
        {
            std::lock_guard lock(m_mutex);
            m_by_hash.erase(key);
        }
        unauthenticated(!p ? "the session's principal '" + e.principal + "' no longer exists"
                           : "principal '" + e.principal + "' is disabled");
    }
    return *p;
}

SessionInfo SessionService::describe(std::string_view token) {
    const Principal p = authenticate(token);
    std::lock_guard lock(m_mutex);
    const auto it = m_by_hash.find(hash_key(token));
    if (it == m_by_hash.end()) unauthenticated(kUnknown);  // closed meanwhile
    return SessionInfo{it->second.id, p.name, it->second.opened_ms,
                       it->second.opened_ms + m_limits.max_s * 1000, m_limits.idle_s};
}

SessionInfo SessionService::close(std::string_view token) {
    const SessionInfo info = describe(token);
    {
        std::lock_guard lock(m_mutex);
        if (m_by_hash.erase(hash_key(token)) == 0) unauthenticated(kUnknown);
    }
    // Closed before it is recorded: a log out must take effect even when the store fails.
    audit(info.principal, "session.close", info.id, AuditOutcome::Success, "logged out");
    return info;
}

std::size_t SessionService::size() {
    std::lock_guard lock(m_mutex);
    return m_by_hash.size();
}

}  // namespace kms::core
