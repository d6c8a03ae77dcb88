// Crash test support: what is really on kmsd's embedded SoftHSM2 token, read through raw
// PKCS#11 while kmsd is stopped, independently of the adapter and reconciler under test.
#pragma once

#include <string>
#include <vector>

namespace kms::test {

/// One token object as the reconciler names it: "label=<CKA_LABEL> id=<hex of CKA_ID>" (an
/// object without CKA_ID gives "id=").
struct TokenObject {
    std::string label;
    std::string id_hex;  ///< lower-case hex, "" when the object has no CKA_ID
    std::string describe() const { return "label=" + label + " id=" + id_hex; }
};

/// The token objects of an embedded token, and planted "foreign" objects for the reconciler.
///
/// Loads the PKCS#11 module once (dlopen of @p module_path, kept loaded for the object's
/// lifetime) and runs each call between its own C_Initialize and C_Finalize (PKCS#11 v2.40
/// §5.4), so nothing of the test stays open while kmsd runs: **only call it while kmsd is
/// stopped** (SoftHSM2's file object store has no cross-process locking of the token).
///
/// Every call points SOFTHSM2_CONF at @p softhsm_conf for its duration (SoftHSM2 reads it in
/// C_Initialize) and restores the previous value after. The token is found by label (never by
/// slot number) and the user logs in with the PIN from @p pin_file (kmsd's DIR/hsm.pin).
///
/// Errors: std::runtime_error naming the PKCS#11 function and its CK_RV in hex.
/// Thread safety: not thread-safe (process environment, C_Initialize); one thread at a time.
class TokenInventory {
  public:
    explicit TokenInventory(const std::string& module_path);
    ~TokenInventory();
    TokenInventory(const TokenInventory&) = delete;
    TokenInventory& operator=(const TokenInventory&) = delete;

    /// Every CKA_TOKEN=true object the user can see (private and public), sorted by describe().
    std::vector<TokenObject> list(const std::string& softhsm_conf, const std::string& token_label,
                                  const std::string& pin_file);

    /// Creates a private token data object (CKO_DATA) labelled @p label: an orphan the store
    /// cannot know, like a leftover of another application.
    void plant_data_object(const std::string& softhsm_conf, const std::string& token_label,
                           const std::string& pin_file, const std::string& label);

    /// Generates an AES-256 secret key as a token object (CKM_AES_KEY_GEN, PKCS#11 v2.40
    /// §5.14 C_GenerateKey) with @p label and CKA_ID @p id: the kind of orphan a crash between
    /// a token-object key's generation and its store commit would leave.
    void plant_secret_key(const std::string& softhsm_conf, const std::string& token_label,
                          const std::string& pin_file, const std::string& label,
                          const std::string& id);

  private:
    struct Impl;
    Impl* m_impl;
};

/// The three master objects kmsd keeps on its token (hsm-adapters/pkcs11/pkcs11_hsm.hpp); any
/// other token object is an HSM orphan.
bool is_master_label(const std::string& label);

}  // namespace kms::test
