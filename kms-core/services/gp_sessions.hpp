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

/// POST /v1/gp/scp/sessions/{session}/put-key: keys of the KMS to load into the card.
struct GpPutKeyRequest {
    std::vector<std::string> keys;     ///< 1 to 3 key ids, in key identifier order
    std::uint8_t new_version = 0;      ///< 1..127
    std::uint8_t replace_version = 0;  ///< P1: 0 adds a key set, else the version replaced
    std::uint8_t key_id = 1;           ///< the first key identifier, 1..127
};

/// The PUT KEY command, already wrapped in the session, and what the card must answer.
struct GpPutKeyResult {
    Bytes apdu;
    std::uint8_t key_version = 0;
    std::vector<Bytes> kcvs;  ///< 3 bytes each, in the order of the keys
};

/// POST /v1/gp/keys/diversify: a card's static key set from a master key.
struct GpDiversifyRequest {
    std::string kmc;
    GpDiversification diversification = GpDiversification::None;
    Bytes kdd;         ///< 10 bytes, from the card's INITIALIZE UPDATE response
    std::string name;  ///< the keys are named NAME-enc, NAME-mac, NAME-dek
};

struct GpDiversifiedKeys {
    KeyRecord enc, mac, dek;
};

/// Defaults: a session lives 5 minutes from its opening; at most 100000 live sessions.
inline constexpr std::int64_t kGpSessionLifetimeSeconds = 300;
inline constexpr std::size_t kGpMaxSessions = 100000;
/// Most APDUs (or responses) one wrap or unwrap call takes.
inline constexpr std::size_t kGpMaxApdusPerCall = 256;
/// Most bytes of sensitive data one encrypt call takes (after padding).
inline constexpr std::size_t kGpMaxDataBytes = 4096;
/// Commands wrapped with R-MAC whose responses have not been unwrapped yet, per session: each
/// keeps what its R-MAC check needs (SCP02: up to 260 bytes), so a client that wraps and never
/// unwraps cannot grow a session without bound. One full wrap call always fits.
inline constexpr std::size_t kGpMaxPendingResponses = 256;

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
    /// "gp.session.open": the record is queued and durable before authenticate() answers,
    /// not necessarily before this returns.
    GpSessionOpened create(const Principal& caller, const GpSessionRequest& request);

    /// Checks the card's INITIALIZE UPDATE response (data, optionally followed by SW 9000):
    /// derives the session keys in the HSM, checks the card cryptogram (VerificationFailed,
    /// audited as a failed "gp.authenticate") and, where i says so, the pseudo-random card
    /// challenge, and returns EXTERNAL AUTHENTICATE at @p security_level. WrongState when the
    /// session is already authenticated. Before answering, confirms the "gp.session.open"
    /// record; if it could not be written the session is dropped and that error is thrown.
    Bytes authenticate(const Principal& caller, const std::string& session,
                       ByteView initialize_update_response, std::uint8_t security_level);

    /// Wraps @p apdus in order (at most kGpMaxApdusPerCall). All are parsed before any is
    /// wrapped. WrongState before authenticate; Conflict, before anything is wrapped, when
    /// the level has R-MAC and more than kGpMaxPendingResponses commands would then be waiting
    /// for their responses to be unwrapped.
    std::vector<Bytes> wrap(const Principal& caller, const std::string& session,
                            const std::vector<Bytes>& apdus);
    /// Unwraps whole R-APDUs (data || SW1 SW2) answering, in order, the commands wrapped since
    /// the last unwrap. VerificationFailed when an R-MAC does not verify.
    std::vector<Bytes> unwrap(const Principal& caller, const std::string& session,
                              const std::vector<Bytes>& responses);

    /// Builds PUT KEY for @p request (GP 2.2.1 §11.8): each key (Active, exportable, of the
    /// protocol's family: SCP02 DES3-2K, SCP03 AES; plugins need "gp" on it) is encrypted under
    /// the card's DEK in the HSM (SCP02: the session DEK; SCP03: the static DEK), which must be
    /// trusted with usage wrap. The command is wrapped in the session (advancing it) and the
    /// expected key version and KCVs are kept for verify_put_key(). Audited "gp.put-key".
    GpPutKeyResult put_key(const Principal& caller, const std::string& session,
                           const GpPutKeyRequest& request);
    /// Checks the card's answer to the last PUT KEY (the R-APDU after unwrap: key version ||
    /// KCVs || 9000). VerificationFailed (audited) when the version or a KCV differs;
    /// InvalidArgument for another status word or length; WrongState when no PUT KEY waits.
    GpPutKeyResult verify_put_key(const Principal& caller, const std::string& session,
                                  ByteView response);
    /// Encrypts sensitive data (STORE DATA) under the card's DEK: SCP02 TDEA-ECB under the
    /// session DEK, SCP03 AES-CBC with a zero ICV under the static DEK (usage wrap). With
    /// @p pad, ISO/IEC 9797-1 method 2 padding first; without, whole blocks only.
    Bytes encrypt_data(const Principal& caller, const std::string& session, ByteView data,
                       bool pad);

    /// Diversifies the DES3-2K master key (usage derive; plugins need "gp" on it and on the new
    /// names) into a card's static key set stored as new Active key blocks: NAME-enc and
    /// NAME-mac (usage derive), NAME-dek (derive, wrap, trusted), all DES3-2K and exportable, so
    /// a later PUT KEY can load them. Audited "gp.diversify" per key.
    GpDiversifiedKeys diversify(const Principal& caller, const GpDiversifyRequest& request);

    /// Closes the session and wipes its keys. Audited "gp.session.close".
    void close(const Principal& caller, const std::string& session);

    /// Number of sessions held (live or expired but not yet swept).
    std::size_t size() const;

  private:
    struct Session;
    /// The session of @p caller; NotFound (unknown or another principal's), Expired (dropped).
    std::shared_ptr<Session> find(const Principal& caller, const std::string& id);
    /// A session found and locked for one call (NotFound once closed by a concurrent close()).
    struct Held {
        std::shared_ptr<Session> session;
        std::unique_lock<std::mutex> lock;
        Session* operator->() const { return session.get(); }
    };
    Held hold(const Principal& caller, const std::string& id);
    /// Waits for the session's "gp.session.open" record; if it failed, drops the session and
    /// rethrows.
    void confirm_opened(const Held& s, const std::string& id);
    /// Like hold(), and WrongState unless the session is authenticated.
    Held hold_authenticated(const Principal& caller, const std::string& id);
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
