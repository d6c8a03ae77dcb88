// se-tsm's card operations (docs/se-tsm.md, "Card operations"): lock, unlock, terminate,
// list-contents and rotate-keys on an SE's ISD, held as a conversation with the wallet exactly
// like sp-tsm's operations. The script engine and sp-tsm's OperationDriver (sp_tsm_core) do the
// work; this file adds what is se-tsm's: the built-in scripts, the ISD key set and channel from
// the SE record and its product, the life cycle check before any APDU, and applying the result
// to se-tsm's own records after the card confirmed it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "card_op.hpp"
#include "conversation.hpp"
#include "operation_driver.hpp"
#include "plugin-api/kms_client.hpp"
#include "se_store.hpp"
#include "se_tsm_service.hpp"

namespace kms::tsm::se {

/// An HTTP answer: status and JSON body.
struct CardOpsAnswer {
    int status = 200;
    std::string body;
};

/// The card operations of one se-tsm instance.
///
/// Every method throws kms::Error for a refusal (InvalidArgument / MalformedRequest 400 naming
/// the field, NotFound 404, Conflict / WrongState 409, StoreError 503), which the plugin maps to
/// its JSON error; kmsd's refusals during a conversation never reach the wallet as errors: they
/// end the run with an outcome (docs/sp-tsm.md, "The conversation").
///
/// Thread safety: the methods may be called from several threads; one mutex serializes the
/// operations of the instance (load, KMS calls, save), as in sp-tsm. Several tsmd processes on
/// one store are not serialized against each other (docs/se-tsm.md, "Limits").
class CardOperations {
  public:
    using Log = std::function<void(int level, const std::string& message)>;

    /// @p service and @p store must outlive the object. @p kms: kmsd's client settings (the
    /// instance's "kms"). @p scripts_dir: the folder holding card-lock.json, card-unlock.json,
    /// card-terminate.json, card-list-contents.json, card-rotate-keys.json and
    /// card-confirm-keys.json; each is loaded and validated now (and may open only the "isd"
    /// key set; no `kms` or `load` step). Throws Error(InvalidArgument) naming "kms" or
    /// "cardScripts" (and the file) when the client cannot be set up or a script is missing or
    /// invalid.
    CardOperations(SeTsmService& service, SeStore& store, const KmsClientOptions& kms,
                   const std::string& scripts_dir, Log log);
    ~CardOperations();
    CardOperations(const CardOperations&) = delete;
    CardOperations& operator=(const CardOperations&) = delete;

    /// POST /ses/{seid}/operations (@p path_seid set) or POST /operations (the SEID in the
    /// body): {"operation", "seid"?, "actionCode"?, "newIsdKey"?, "keyVersion"? (rotate-keys),
    /// "rotation"? (confirm-keys)}. Checks the SE may run it (409 before any APDU), writes the
    /// binding, then the first action: 201 {"operation": id, "seq": 1, "action": {...}}.
    CardOpsAnswer start(const std::optional<std::string>& path_seid, std::string_view body);
    /// POST /operations/{id}/responses {"seq", "response"}: sp-tsm's retry rule (judge()).
    CardOpsAnswer respond(const std::string& id, std::string_view body);
    /// GET /operations/{id}: {"operation", "kind", "seid", "state", "seq", "action",
    /// "outcome"?, "applied", "newIsdKey"? (rotate-keys)}; applies a confirmed result that a
    /// crash left unapplied.
    CardOpsAnswer summary(const std::string& id);
    /// DELETE /operations/{id}: the run ends "cancelled" (an ended one keeps its outcome).
    CardOpsAnswer cancel(const std::string& id);
    /// The SEID operation @p id runs on (NotFound when there is no such operation): whose it is.
    std::string seid_of(const std::string& id);

  private:
    struct Loaded;
    Loaded load(const std::string& id);
    /// Saves @p r only over @p loaded (the record as load() read it); 409 when another process
    /// changed it meanwhile.
    void save_over(const sp::OperationRecord& r, const std::string& loaded);
    void save(const sp::OperationRecord& r);
    void save(const std::string& id, const CardOpBinding& b);
    sp::OperationDriver driver(const CardOpBinding& b, std::map<std::string, sp::KeySet>& keysets,
                               const std::string& id);
    void settle(const sp::OperationRecord& r, CardOpBinding& b);

    SeTsmService& m_service;
    SeStore& m_store;
    Log m_log;
    std::unique_ptr<KmsClient> m_kms;
    std::unique_ptr<sp::KmsClientPort> m_port;
    std::map<CardOp, std::shared_ptr<const script::Script>> m_scripts;
    const std::map<std::string, std::string> m_no_keys;  ///< card scripts name no `kms` key
    std::mutex m_mutex;
};

}  // namespace kms::tsm::se
