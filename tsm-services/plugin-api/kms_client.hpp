// The KMS client of the TSM services: how a plugin (se-tsm, sp-tsm) reaches kmsd. Only over
// kmsd's REST API, with the plugin's own client certificate from the KMS CA (mTLS); never a
// PKCS#11 module, never a key value. Typed calls for the GlobalPlatform secure channel and key
// operations the TSM flows need; thread-safe, over a small pool of keep-alive connections.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "domain/bytes.hpp"

namespace kms::tsm {

/// Where kmsd is and who the plugin is.
struct KmsClientOptions {
    std::string url;      ///< "https://127.0.0.1:8443"
    std::string ca_file;  ///< the KMS CA (kmsd's DATA/tls/ca.pem)
    /// The plugin's client certificate (+ chain) and key, issued by the KMS CA: the usual way.
    std::optional<std::string> cert_file, key_file;
    /// A bearer token instead (an officer's, or a plugin's own for tools and tests).
    std::optional<std::string> bearer_token;
    int timeout_seconds = 10;
    std::size_t max_idle_connections = 16;  ///< kept open between calls
};

/// A call kmsd refused or could not answer.
class KmsError : public std::runtime_error {
  public:
    KmsError(int status, std::string code, const std::string& message)
        : std::runtime_error(message), m_status(status), m_code(std::move(code)) {}
    /// The HTTP status; 0 when no answer came (then code() is "unreachable").
    int status() const noexcept { return m_status; }
    /// kmsd's error code ("forbidden", "verification_failed", "not_found", ...).
    const std::string& code() const noexcept { return m_code; }

  private:
    int m_status;
    std::string m_code;
};

/// POST /v1/gp/scp/sessions: static keys (enc, mac, dek) or a master key with a
/// diversification ("none", "VISA2", "EMV-CPS11"), all by KMS key id.
struct GpOpenRequest {
    std::string protocol = "SCP03";  ///< "SCP02" or "SCP03"
    std::uint8_t i = 0x70;
    std::string enc, mac, dek;
    std::string kmc, diversification;
    std::uint8_t key_version = 0;
    std::optional<Bytes> host_challenge;  ///< 8 bytes; kmsd draws one from the HSM when absent
    std::optional<Bytes> aid;             ///< the security domain's AID
};

struct GpOpened {
    std::string session;
    Bytes initialize_update;  ///< the command APDU to send to the card
};

/// POST /v1/gp/scp/sessions/{session}/put-key: what kmsd built (GPCS 2.2.1 §11.8).
struct GpPutKey {
    Bytes apdu;  ///< PUT KEY, already wrapped in the session: send it as it is
    std::uint8_t key_version = 0;
    std::vector<Bytes> kcvs;  ///< 3 bytes each, in the order of the keys
};

/// POST .../put-key/verify: the card's answer checked.
struct GpPutKeyVerified {
    std::uint8_t key_version = 0;
    std::vector<Bytes> kcvs;
};

/// POST /v1/gp/keys/diversify: the three new keys' ids.
struct GpDiversified {
    std::string enc, mac, dek;
};

struct MacResult {
    Bytes mac;
    int version = 0;  ///< the key version that computed it
};

class KmsClient {
  public:
    /// Sets up TLS (throws KmsError(0, "setup") when the CA, certificate or key file cannot be
    /// used or the URL is not https://HOST:PORT). Connects lazily.
    explicit KmsClient(KmsClientOptions options);
    ~KmsClient();
    KmsClient(const KmsClient&) = delete;
    KmsClient& operator=(const KmsClient&) = delete;

    // ---- GlobalPlatform secure channel (API-CONTRACT "GlobalPlatform secure channel")
    GpOpened gp_open(const GpOpenRequest& request);
    /// The card's INITIALIZE UPDATE response (data, optionally with SW 9000) → EXTERNAL
    /// AUTHENTICATE to send to the card.
    Bytes gp_authenticate(const std::string& session, ByteView initialize_update_response,
                          std::uint8_t security_level);
    std::vector<Bytes> gp_wrap(const std::string& session, const std::vector<Bytes>& apdus);
    std::vector<Bytes> gp_unwrap(const std::string& session, const std::vector<Bytes>& responses);
    void gp_close(const std::string& session);

    /// Has kmsd build PUT KEY (GPCS 2.2.1 §11.8) in the authenticated @p session: each key of
    /// @p key_ids (1 to 3 KMS key ids, key identifiers @p key_id, @p key_id + 1, ...; Active,
    /// exportable, "gp" in the plugin's policy; DES3-2K or AES under SCP02, AES under SCP03)
    /// is encrypted under the card's DEK inside the HSM, and the command is wrapped in the
    /// session (which it advances, like gp_wrap). @p new_key_version 1..127; @p replace_version
    /// 0 adds a new key set (P1), else the version replaced. kmsd keeps the expected version
    /// and KCVs for gp_put_key_verify(). The answer's card response must be unwrapped with
    /// gp_unwrap() before it is verified.
    /// Throws KmsError: 400 invalid_argument (a count or number out of range), 403 (policy,
    /// a key not exportable, a DEK not trusted with usage wrap), 404 (session or key), 409
    /// wrong_state (not authenticated, a key not Active), 0 unreachable.
    GpPutKey gp_put_key(const std::string& session, const std::vector<std::string>& key_ids,
                        std::uint8_t new_key_version, std::uint8_t replace_version = 0,
                        std::uint8_t key_id = 1);
    /// Has kmsd check the card's answer to the last gp_put_key() of @p session: @p response is
    /// the whole R-APDU after gp_unwrap() (key version || one KCV per key || 9000). Returns what
    /// the card reported when it matches. Throws KmsError 400 verification_failed (another
    /// version or KCV: the card does not hold the keys sent; kmsd audits it), 400
    /// invalid_argument (another status word or length), 409 wrong_state (no PUT KEY waits; the
    /// expectation is consumed by the first verify, successful or not).
    GpPutKeyVerified gp_put_key_verify(const std::string& session, ByteView response);

    /// POST /v1/gp/keys/diversify: kmsd derives a card's static key set from the master key
    /// @p kmc (DES3-2K, usage derive, "gp" in the plugin's policy) with @p diversification
    /// ("VISA2" or "EMV-CPS11") over the card's 10-byte key diversification data @p kdd, and
    /// stores it as three new exportable keys named @p name + "-enc", "-mac", "-dek" (the DEK
    /// trusted, usage wrap). Returns their key ids. Throws KmsError: 400 (a diversification, a
    /// kdd or a master key kmsd does not take), 403 (policy: it must cover the new names too),
    /// 404, 409 (a name taken), 0 unreachable.
    GpDiversified gp_diversify(const std::string& kmc, const std::string& diversification,
                               ByteView kdd, const std::string& name);

    // ---- key operations
    /// POST /v1/keys/{id}/mac; @p algorithm "AES-CMAC" or "DES3-RETAIL".
    MacResult mac(const std::string& key_id, const std::string& algorithm, ByteView data);

    /// Connections opened since construction (for tests and diagnostics).
    std::size_t connections_opened() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace kms::tsm
