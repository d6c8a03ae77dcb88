// The SP TSM's operation driver: carries out a run's actions that need no card (KMS MAC steps,
// opening the GlobalPlatform secure channel, wrapping and unwrapping secure APDUs, building and
// verifying PUT KEY, cutting the catalogue's load files into LOAD commands) through a KMS port,
// and records what the wallet must do next (docs/sp-tsm.md, "The conversation").
// No I/O of its own: the plugin gives it a KmsClient, the tests a fake.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "catalogue.hpp"
#include "conversation.hpp"
#include "plugin-api/kms_client.hpp"
#include "script_run.hpp"

namespace kms::tsm::sp {

/// What the driver needs from kmsd: KmsClient's calls of the same names. Implementations throw
/// KmsError when kmsd refuses or cannot be reached.
class KmsPort {
  public:
    virtual ~KmsPort() = default;
    virtual Bytes mac(const std::string& key_id, const std::string& algorithm, ByteView data) = 0;
    virtual GpOpened gp_open(const GpOpenRequest& request) = 0;
    virtual Bytes gp_authenticate(const std::string& session, ByteView initialize_update_response,
                                  std::uint8_t level) = 0;
    virtual Bytes gp_wrap(const std::string& session, const Bytes& apdu) = 0;
    virtual Bytes gp_unwrap(const std::string& session, const Bytes& response) = 0;
    virtual void gp_close(const std::string& session) = 0;
    virtual GpPutKey gp_put_key(const std::string& session, const std::vector<std::string>& key_ids,
                                std::uint8_t new_key_version, std::uint8_t replace_version,
                                std::uint8_t key_id) = 0;
    virtual GpPutKeyVerified gp_put_key_verify(const std::string& session, ByteView response) = 0;
};

/// The KmsPort over a real KmsClient (both plugins use it; tests use a fake port). Calls are
/// forwarded one to one; @p kms must outlive the port. Thread-safe as KmsClient is.
class KmsClientPort final : public KmsPort {
  public:
    explicit KmsClientPort(KmsClient& kms) : m_kms(kms) {}
    Bytes mac(const std::string& key_id, const std::string& algorithm, ByteView data) override {
        return m_kms.mac(key_id, algorithm, data).mac;
    }
    GpOpened gp_open(const GpOpenRequest& request) override { return m_kms.gp_open(request); }
    Bytes gp_authenticate(const std::string& session, ByteView response,
                          std::uint8_t level) override {
        return m_kms.gp_authenticate(session, response, level);
    }
    Bytes gp_wrap(const std::string& session, const Bytes& apdu) override {
        return m_kms.gp_wrap(session, {apdu}).at(0);
    }
    Bytes gp_unwrap(const std::string& session, const Bytes& response) override {
        return m_kms.gp_unwrap(session, {response}).at(0);
    }
    void gp_close(const std::string& session) override { m_kms.gp_close(session); }
    GpPutKey gp_put_key(const std::string& session, const std::vector<std::string>& key_ids,
                        std::uint8_t version, std::uint8_t replace, std::uint8_t key_id) override {
        return m_kms.gp_put_key(session, key_ids, version, replace, key_id);
    }
    GpPutKeyVerified gp_put_key_verify(const std::string& session, ByteView response) override {
        return m_kms.gp_put_key_verify(session, response);
    }

  private:
    KmsClient& m_kms;
};

/// A `secure-channel` step's key set, by KMS key id, and kmsd's parameters: either three static
/// keys (enc, mac, dek; sp-tsm's kmsKeys) or a master key with its diversification (kmc,
/// diversification "none" | "VISA2" | "EMV-CPS11"; se-tsm's SE records), as kmsd's
/// POST /v1/gp/scp/sessions takes them (docs/globalplatform.md).
struct KeySet {
    std::string enc, mac, dek;
    std::uint8_t i = 0x55;
    std::uint8_t key_version = 0;
    std::optional<Bytes> aid;          ///< the security domain's AID, when kmsd needs it
    std::string kmc, diversification;  ///< used when kmc is not empty (enc, mac, dek are not)
    /// "SCP02" or "SCP03" when the key set decides the protocol rather than the script: se-tsm's
    /// card scripts serve every SE product, and the product says which SCP its ISD speaks.
    /// Unset: the step's `protocol`.
    std::optional<std::string> protocol;
};

/// Runs one request's worth of an operation. Not thread-safe per record (the plugin serializes
/// the requests of an operation); the maps must outlive the driver.
class OperationDriver {
  public:
    /// @p keys: script key reference -> KMS key id (`kms` and `put-key` steps); @p keysets:
    /// keyset reference -> key set (every reference of the scripts must be there: the plugin
    /// checks it at create()). @p warn receives kmsd's refusals, for the log (never for the
    /// wallet), without a prefix: the host adds its own. @p catalogue holds the load files `load`
    /// steps send (the scripts' "loadFile" entries, checked by the loader); without one a `load`
    /// step ends the run "load-file-unavailable".
    OperationDriver(KmsPort& kms, const std::map<std::string, std::string>& keys,
                    const std::map<std::string, KeySet>& keysets,
                    std::function<void(const std::string&)> warn,
                    const Catalogue* catalogue = nullptr)
        : m_kms(kms),
          m_keys(keys),
          m_keysets(keysets),
          m_warn(std::move(warn)),
          m_catalogue(catalogue) {}

    /// Resolves a put-key action's key references to KMS key ids itself instead of the keys
    /// map: for keys made for one operation (se-tsm's rotate-keys has kmsd diversify the new ISD
    /// key set when the run reaches PUT KEY). It may read the run's variables; it throws
    /// KmsError when it cannot, which ends the step with its onFail like a kmsd refusal.
    using PutKeyResolver =
        std::function<std::vector<std::string>(const script::PutKey&, const script::ScriptRun&)>;
    void set_put_key_resolver(PutKeyResolver resolver) { m_put_key_resolver = std::move(resolver); }

    /// Carries out the run's actions that need no card until it wants an APDU sent (wrapped
    /// when secure) or has ended; sets r.waiting, r.engine_seq, r.secure, r.session, r.action
    /// and, when done, r.outcome. Does not touch r.state or the seq numbers.
    void drive(OperationRecord& r, script::ScriptRun& run);

    /// Processes the wallet's response to the current action (judge() said Advance): unwraps
    /// and feeds it, or carries the channel's opening on, then drives; updates r.state,
    /// r.answered_*, and r.seq = req.seq + 1.
    void advance(OperationRecord& r, script::ScriptRun& run, const ResponseRequest& req);

    /// Ends the run with the failure @p outcome (the wallet gave up), closing the KMS session;
    /// a run that has ended keeps its outcome. Updates r.state; r.seq is unchanged, so a later
    /// response to the pending action gets 409.
    void abandon(OperationRecord& r, script::ScriptRun& run, std::string_view outcome);

  private:
    void close_session(OperationRecord& r);
    void warn(const std::string& m) { m_warn(m); }

    KmsPort& m_kms;
    const std::map<std::string, std::string>& m_keys;
    const std::map<std::string, KeySet>& m_keysets;
    std::function<void(const std::string&)> m_warn;
    const Catalogue* m_catalogue;
    PutKeyResolver m_put_key_resolver;
};

}  // namespace kms::tsm::sp
