// GlobalPlatform secure channel sessions (DESIGN §7, API-CONTRACT "GlobalPlatform secure
// channel"): kmsd builds INITIALIZE UPDATE, checks the card cryptogram, derives the session keys
// in the HSM (Hsm::derive_gp_session_keys), returns EXTERNAL AUTHENTICATE and then wraps
// commands and unwraps responses with the session's chaining values and counters. Session keys
// stay in kmsd's locked memory (SecureBytes, wiped on close and expiry) and never reach a caller.
//
// Sessions live in memory only, are bound to the principal that opened them (another principal
// gets NotFound, as for an unknown session) and expire a fixed lifetime after they were opened
// (Expired). Opening, authenticating (success and a wrong card cryptogram) and closing are
// audited; single wraps and unwraps are not.
// Thread safety: every method may be called from any thread; the calls on one session are
// serialised by that session's mutex, so the wraps of one session happen in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "domain/bytes.hpp"
#include "domain/principal.hpp"
#include "ports/hsm.hpp"
#include "services/context.hpp"

namespace kms::core {

/// POST /v1/gp/scp/sessions. Either the three static keys (enc, mac, dek) or a master key (kmc)
/// with a diversification method, by key id.
struct GpSessionRequest {
    GpProtocol protocol = GpProtocol::Scp03;
    std::uint8_t i = 0;  ///< SCP02: 15 or 55 (b1 = 1); SCP03 (S8): bits 10, 20, 40 only
    std::string enc, mac, dek;
    std::string kmc;
    GpDiversification diversification = GpDiversification::None;
    std::uint8_t key_version = 0;
    std::optional<Bytes> host_challenge;  ///< 8 bytes; drawn from the HSM when absent
    std::optional<Bytes> aid;             ///< default A000000151000000
};

struct GpSessionOpened {
    std::string session;  ///< "s-" + 32 hex digits
    Bytes initialize_update;
};

/// Defaults: a session lives 5 minutes from its opening; at most 100000 live sessions.
inline constexpr std::int64_t kGpSessionLifetimeSeconds = 300;
inline constexpr std::size_t kGpMaxSessions = 100000;
/// Most APDUs (or responses) one wrap or unwrap call takes.
inline constexpr std::size_t kGpMaxApdusPerCall = 256;

std::string_view gp_protocol_name(GpProtocol p);  ///< "SCP02", "SCP03"
std::optional<GpProtocol> parse_gp_protocol(std::string_view name);
std::string_view gp_diversification_name(GpDiversification d);  ///< "none", "VISA2", "EMV-CPS11"
std::optional<GpDiversification> parse_gp_diversification(std::string_view name);

class GpSessionService {
  public:
    explicit GpSessionService(ServiceContext& ctx,
                              std::int64_t lifetime_seconds = kGpSessionLifetimeSeconds,
                              std::size_t max_sessions = kGpMaxSessions);
    ~GpSessionService();
    GpSessionService(const GpSessionService&) = delete;
    GpSessionService& operator=(const GpSessionService&) = delete;

    /// Opens a session (roles admin, key-officer, plugin; plugins need "gp" in their policy for
    /// each key). Each key must be Active with usage derive (the DEK also wrap) and fit the
    /// protocol: SCP02 two-key TDEA, SCP03 AES keys of one length (a KMC with SCP03 takes no
    /// diversification). Conflict when the live session limit is reached. Audited
    /// "gp.session.open".
    GpSessionOpened create(const Principal& caller, const GpSessionRequest& request);

    /// Checks the card's INITIALIZE UPDATE response (data, optionally followed by SW 9000):
    /// derives the session keys in the HSM, checks the card cryptogram (VerificationFailed,
    /// audited as a failed "gp.authenticate") and, where i says so, the pseudo-random card
    /// challenge, and returns EXTERNAL AUTHENTICATE at @p security_level. WrongState when the
    /// session is already authenticated.
    Bytes authenticate(const Principal& caller, const std::string& session,
                       ByteView initialize_update_response, std::uint8_t security_level);

    /// Wraps @p apdus in order (at most kGpMaxApdusPerCall). All are parsed before any is
    /// wrapped. WrongState before authenticate.
    std::vector<Bytes> wrap(const Principal& caller, const std::string& session,
                            const std::vector<Bytes>& apdus);
    /// Unwraps whole R-APDUs (data || SW1 SW2) answering, in order, the commands wrapped since
    /// the last unwrap. VerificationFailed when an R-MAC does not verify.
    std::vector<Bytes> unwrap(const Principal& caller, const std::string& session,
                              const std::vector<Bytes>& responses);

    /// Closes the session and wipes its keys. Audited "gp.session.close".
    void close(const Principal& caller, const std::string& session);

    /// Number of sessions held (live or expired but not yet swept).
    std::size_t size() const;

  private:
    struct Session;
    /// The session of @p caller; NotFound (unknown or another principal's), Expired (dropped).
    std::shared_ptr<Session> find(const Principal& caller, const std::string& id);
    void sweep_expired_locked(std::int64_t now_ms);
    void audit(const AuditEvent& event);

    ServiceContext& m_ctx;
    std::int64_t m_lifetime_ms;
    std::size_t m_max_sessions;
    mutable std::mutex m_mutex;
    std::unordered_map<std::string, std::shared_ptr<Session>> m_sessions;
    std::uint64_t m_creates_since_sweep = 0;
};

}  // namespace kms::core
