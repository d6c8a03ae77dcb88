// kms::core::Hsm over any PKCS#11 v2.40 module (SoftHSM2 by default): the only adapter kmsd
// uses to reach key material. kmsd's composition root calls initialize_token() on first start
// of an embedded token and Pkcs11Hsm::open() on every start.
//
// Key storage (DESIGN §4, the payment-HSM model)
// ----------------------------------------------
// The token holds three master objects and nothing else of ours:
//   kms-lmk      AES-256, wraps and unwraps working keys (RFC 5649 AES key wrap with padding:
//                CKM_AES_KEY_WRAP_PAD on SoftHSM2, the profile names the mechanism);
//   kms-lmk-mac  32-byte generic secret, seals key blocks (CKM_SHA256_HMAC);
//   kms-audit    32-byte generic secret, seals audit records (CKM_SHA256_HMAC).
// All three are CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE, not modifiable, with
// only the capabilities listed (object_templates.hpp has the full table). They are created only
// with MasterKeys::CreateIfMissing when none exists; a token with some but not all of them is an
// integrity error, never repaired by creating a new master key (which would orphan every block),
// except with MasterKeys::CompleteMissing, kmsd's first start of its own embedded token, where no
// block can exist yet.
//
// Working keys are never token objects. generate() creates the key as a session object,
// computes its KCV inside the HSM, wraps it under kms-lmk, destroys it, and returns a key block
// (domain/key_block.hpp): the header {key id, version, algorithm, usage, exportable}, the
// wrapped key, and an HMAC seal under kms-lmk-mac over both. To use a key the adapter checks
// that the block's header equals the caller's metadata, verifies the seal in the HSM, and
// unwraps the key into a session object that is CKA_SENSITIVE and not CKA_EXTRACTABLE, with
// only the capabilities its usage mask allows. The handle is cached (KeyCache).
//
// CKA_TRUSTED / CKA_WRAP_WITH_TRUSTED (PKCS#11 v2.40 §4.10): the design asks that working keys
// be wrappable only by trusted keys. SoftHSM2 lets only the SO set CKA_TRUSTED = true, and an SO
// session cannot create private objects, so on SoftHSM2 the LMK cannot be trusted. The adapter
// therefore gives the extractable copy of a working key no life beyond generate()/import: it is
// wrapped once, at generation, from a short-lived session object, and every object unwrapped for
// use is CKA_EXTRACTABLE = false, so no later C_WrapKey of it is possible at all (stronger than
// "wrap with trusted only"). The profile field lmk_trusted (false for softhsm2) switches on
// CKA_WRAP_WITH_TRUSTED for the temporary objects where a vendor ceremony marks the LMK trusted;
// open() then requires CKA_TRUSTED on the LMK.
//
// Host fallback: where the profile allows it and the module lacks ISO/IEC 9797-1 MAC algorithm
// 3 (SoftHSM2), DES3-RETAIL unwraps the block into a short-lived non-sensitive object, reads the
// value into SecureBytes (mlocked, wiped), destroys the object at once and computes the MAC on
// the host. The clear value is never cached. HsmInfo::host_fallbacks lists it.
//
// Known limit: the seal covers the header and the wrapped (private) key, not the public key
// the store keeps beside the block (KeyRef::public_key); verify() trusts the store for it and
// only checks that it is a key of KeyRef::algorithm. Binding it needs a key block format change
// in domain/key_block.hpp.
//
// Errors: kms::Error throughout. PKCS#11 failures keep the CK_RV (NativeKind::CkRv) and name the
// function and CKR_* value (errors.hpp has the mapping). Messages never hold a PIN or key bytes.
//
// Thread safety: every Hsm method of Pkcs11Hsm may be called from any thread at the same time.
// Operations borrow one pooled session each (SessionPool); a lost session (device removed,
// session handle invalid, user logged out) makes the adapter reopen its sessions, log in again,
// treat all cached handles as gone, and retry the operation once.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "domain/secure_bytes.hpp"
#include "ports/hsm.hpp"

namespace kms::hsm {

/// Where the user PIN comes from. The PIN is never logged or put in an error message.
struct PinSource {
    enum class Kind { File, Env, Value };
    Kind kind = Kind::File;
    /// File: the path; Env: the variable name; Value: the PIN itself (tests, kmsctl prompts).
    std::string where;

    /// The PIN. File: the contents without trailing newline characters; the file must not be
    /// readable by others (mode o+r refused). Throws kms::Error(InvalidArgument) naming the
    /// file or variable when it is missing, unreadable, world-readable or empty.
    SecretString resolve() const;
};

struct Pkcs11Config {
    std::string module_path = "/usr/lib/softhsm/libsofthsm2.so";
    std::string token_label = "kms";  ///< the token is found by label, never by slot number
    PinSource pin;
    std::string profile = "auto";  ///< "auto", or a row of profiles.cpp ("softhsm2", "generic")
    std::size_t sessions = 0;      ///< pooled sessions, 1..64; 0 = the profile's default
    std::size_t handle_cache_capacity = 4096;  ///< unwrapped objects kept, >= 1
    /// How long an operation waits for a free pooled session before it fails with
    /// HsmUnavailable (a 503: every session is held by calls a slow or hung module has not
    /// answered). 0 = wait as long as it takes. A call already inside the module is never cut
    /// short: PKCS#11 has no way to cancel one.
    std::chrono::milliseconds session_wait{10000};
    std::string lmk_label = "kms-lmk";
    std::string lmk_mac_label = "kms-lmk-mac";
    std::string audit_key_label = "kms-audit";
};

enum class MasterKeys {
    RequireExisting,  ///< every start but the first: all three master objects must exist
    CreateIfMissing,  ///< first start: create them when none exists
    /// First start of a token that only this installation uses (kmsd's embedded token, before
    /// its store is marked initialized): create whichever master objects are missing. A partial
    /// set is then what a first start killed between two C_GenerateKey calls leaves; nothing
    /// has been wrapped or sealed under any master yet (that happens only after open()
    /// returns), so completing the set orphans nothing.
    CompleteMissing,
};

/// First start of an embedded token: C_InitToken on a slot whose token is not initialised
/// (SoftHSM2 always offers one), labelled @p label, with @p so_pin; then C_InitPIN with
/// @p user_pin. Master keys are created later by open(..., CreateIfMissing).
/// A token that carries @p label but has no user PIN yet (CKF_USER_PIN_INITIALIZED clear: a
/// first start killed between C_InitToken and C_InitPIN) is finished instead: SO login with
/// @p so_pin, C_InitPIN with @p user_pin.
/// The module may be in use by this process (loading is shared, see module.hpp).
/// Throws kms::Error: Conflict when a token with a user PIN already carries @p label;
/// InvalidArgument for a label over 32 bytes or an empty PIN; HsmError when no uninitialised
/// token is offered; the CK_RV error of the failing call otherwise.
void initialize_token(const std::string& module_path, const std::string& label,
                      const SecretString& so_pin, const SecretString& user_pin);

class Pkcs11Hsm final : public core::Hsm {
  public:
    /// Loads the module, selects the profile, finds the token by label, discovers its
    /// mechanisms, opens and logs in the session pool, and finds (or, with CreateIfMissing and
    /// none present, creates; with CompleteMissing, creates the missing ones) the master keys,
    /// checking their security attributes.
    /// Throws kms::Error: InvalidArgument (config, PIN source), HsmUnavailable (module cannot be
    /// loaded), NotFound (no token with the label; no master keys with RequireExisting),
    /// Integrity (some but not all master keys unless CompleteMissing, duplicates, or unsafe
    /// attributes), Unsupported
    /// (a mechanism the key storage model needs is missing), or the CK_RV error (e.g. C_Login
    /// with CKR_PIN_INCORRECT).
    static std::unique_ptr<Pkcs11Hsm> open(const Pkcs11Config& config, MasterKeys master_keys);

    ~Pkcs11Hsm() override;
    Pkcs11Hsm(const Pkcs11Hsm&) = delete;
    Pkcs11Hsm& operator=(const Pkcs11Hsm&) = delete;

    /// InvalidArgument when the spec's usage is empty or not allowed for the algorithm
    /// (usages_allowed_for), the key id is empty or over 255 bytes, or the version is 0.
    core::GeneratedKey generate(const core::KeySpec& spec) override;
    /// Symmetric algorithms only; @p value must have secret_length(algorithm) bytes.
    core::GeneratedKey import_secret(const core::KeySpec& spec, const SecureBytes& value) override;
    // ---- distribution (distribution.cpp). Exportable / trusted are read from the sealed
    // blocks. AES-KW/KWP run natively (CKM_AES_KEY_WRAP / CKM_AES_KEY_WRAP_PAD) with a
    // short-lived extractable copy of the exported key; TR-31 and RSA-OAEP-SHA256 use the host
    // fallbacks the profile lists (HsmInfo::host_fallbacks). UsageNotPermitted when the key is
    // not exportable, the KEK not trusted or without wrap/unwrap usage; VerificationFailed when
    // wrapped material does not verify or the value's length does not fit spec.algorithm.
    Bytes wrap_key(const core::KeyRef& key, const core::KeyRef& kek,
                   core::WrapFormat format) override;
    core::GeneratedKey unwrap_key(const core::KeySpec& spec, const core::KeyRef& kek,
                                  core::WrapFormat format, ByteView wrapped) override;
    Bytes wrap_key_rsa_oaep(const core::KeyRef& key, const core::KeyRef& recipient) override;
    core::GeneratedKey unwrap_key_rsa_oaep(const core::KeySpec& spec, const core::KeyRef& rsa_key,
                                           ByteView wrapped) override;
    /// The value leaves the HSM as the RSA-OAEP and TR-31 host fallbacks' does (clear_value):
    /// the sealed block (checked exportable) is unwrapped under the LMK into a session object
    /// (CKA_TOKEN false) that is extractable and not sensitive, its CKA_VALUE is read into
    /// SecureBytes and the object is destroyed at once; no token object is ever non-sensitive.
    SecureBytes reveal_secret(const core::KeyRef& key) override;
    /// The header's usage, algorithm and mode of use must be what core::tr31_header_for gives
    /// for the key's sealed algorithm and usage (InvalidArgument otherwise).
    std::string export_tr31(const core::KeyRef& key, const core::KeyRef& kbpk,
                            const core::Tr31Header& header) override;
    /// InvalidArgument when the block's header contradicts spec (core::check_tr31_import, or
    /// exportability 'N' with spec.exportable).
    core::ImportedTr31 import_tr31(const core::KeySpec& spec, const core::KeyRef& kbpk,
                                   std::string_view block) override;

    // ---- GlobalPlatform session keys (gp_derivation.cpp, DESIGN §7). Static keys and the KMC
    // stay in the HSM: a KMC is diversified with CKM_DES3_ECB_ENCRYPT_DATA into sensitive,
    // non-extractable session objects; SCP02 session keys come from CKM_DES3_CBC_ENCRYPT_DATA
    // (zero IV) into short-lived non-sensitive objects whose values are read into SecureBytes
    // and the objects destroyed; SCP03 session keys are the SP 800-108 KDF computed with
    // CKM_AES_CMAC by the static ENC / MAC objects (unwrapped for this purpose, CKA_SIGN only,
    // cached under ObjectRole::GpKdf). Every key needs usage derive in its sealed block
    // (UsageNotPermitted). InvalidArgument: a context of the wrong length (SCP02 2 bytes, SCP03
    // 16), a KDD that is not 10 bytes, no keys or both a KMC and static keys, a missing static
    // key, a KMC without a diversification method, a key of the wrong algorithm for the
    // protocol (SCP02 and the KMC: DES3-2K; SCP03: AES, all of one length). Unsupported: a KMC
    // with SCP03, or a module without the mechanism. ----
    core::GpSessionKeys derive_gp_session_keys(core::GpProtocol protocol,
                                               const core::GpCardKeys& card,
                                               ByteView context) override;
    // GlobalPlatform key delivery. gp_scp03_card_challenge: the KDF in the HSM like the
    // session keys (GpKdf object). gp_diversify_key: CKM_DES3_ECB_ENCRYPT_DATA under the KMC into
    // a working key, then the usual key block path (KCV in the HSM, C_WrapKey under the LMK,
    // seal). gp_encrypt_key (gp_keys.cpp): key sealed exportable, DEK sealed trusted with usage
    // wrap; SCP03 C_WrapKey CKM_AES_CBC (CKM_AES_CBC_PAD for AES-192) with a zero ICV under the
    // static DEK (ObjectRole::GpDek) and the KCV by CKM_AES_ECB in the HSM; SCP02 the session
    // DEK is kmsd's, so the key value is read into locked memory (clear_value) and TDEA-ECB
    // encrypted on the host. gp_encrypt_data: SCP03 CKM_AES_CBC under the static DEK (usage
    // wrap), SCP02 TDEA-ECB under the session DEK on the host.
    Bytes gp_scp03_card_challenge(const core::KeyRef& static_enc, ByteView sequence_counter,
                                  ByteView aid) override;
    core::GpEncryptedKey gp_encrypt_key(const core::GpDek& dek, const core::KeyRef& key) override;
    Bytes gp_encrypt_data(const core::GpDek& dek, ByteView data) override;
    core::GeneratedKey gp_diversify_key(const core::KeySpec& spec, const core::KeyRef& kmc,
                                        core::GpDiversification method, ByteView kdd,
                                        core::GpKeyRole role) override;

    /// Unsupported when @p alg does not fit the key; UsageNotPermitted without Usage::Mac;
    /// Integrity when the block or a cached object disagrees with the KeyRef.
    Bytes mac(const core::KeyRef& key, core::MacAlgorithm alg, ByteView data) override;
    /// InvalidArgument for a wrong IV length, AAD outside GCM, or a length that is not a
    /// multiple of the block size (unpadded CBC).
    Bytes encrypt(const core::KeyRef& key, const core::CipherParams& params,
                  ByteView plaintext) override;
    /// VerificationFailed when the GCM tag or the CBC padding does not verify.
    Bytes decrypt(const core::KeyRef& key, const core::CipherParams& params,
                  ByteView ciphertext) override;
    Bytes sign(const core::KeyRef& key, core::SignAlgorithm alg, ByteView message) override;
    /// Needs KeyRef::public_key (the block may be empty). Integrity when the SPKI is malformed
    /// or not a key of KeyRef::algorithm.
    bool verify(const core::KeyRef& key, core::SignAlgorithm alg, ByteView message,
                ByteView signature) override;
    Bytes random(std::size_t length) override;
    Bytes audit_seal(ByteView data) override;
    void forget(std::string_view key_id) override;
    bool probe() noexcept override;
    core::HsmInfo info() override;

    /// Token objects visible to the user that are not the three master keys, as
    /// "label=<CKA_LABEL> id=<hex CKA_ID>", for the start-up reconciler's orphan report.
    std::vector<std::string> foreign_token_objects();

    /// The profile in use ("softhsm2").
    const std::string& profile_name() const noexcept;
    /// CKM_* names of the token's mechanisms, as discovered at open().
    std::vector<std::string> mechanism_names() const;

    struct CacheStats {
        std::size_t size = 0;
        std::size_t capacity = 0;
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;
        std::uint64_t evictions = 0;
    };
    CacheStats cache_stats() const;
    std::size_t session_pool_size() const noexcept;
    /// The session pool's figures (SessionPool::stats()), for kmsd's /metrics.
    struct PoolStats {
        std::size_t size = 0;
        std::size_t in_use = 0;
        std::uint64_t waits = 0;
        std::uint64_t timeouts = 0;
    };
    PoolStats pool_stats() const;

    struct Impl;  // internal (hsm_impl.hpp); public only so the .cpp files can share it

  private:
    explicit Pkcs11Hsm(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace kms::hsm
