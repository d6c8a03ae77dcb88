// The Hsm port: everything kms-core asks of a hardware security module. Implemented by
// hsm-adapters/pkcs11 (any PKCS#11 module; SoftHSM2 by default). No PKCS#11 type leaks here.
//
// Thread safety: every method may be called from any thread at the same time; the adapter
// serialises access to the module as its vendor profile requires.
// Errors: kms::Error with ErrorCode::HsmError / HsmUnavailable / Unsupported /
// VerificationFailed / Integrity, native_kind CkRv and the CK_RV kept.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/algorithm.hpp"
#include "domain/bytes.hpp"
#include "domain/error.hpp"
#include "domain/secure_bytes.hpp"
#include "domain/tr31.hpp"

namespace kms::core {

/// What to create: the attributes that get bound into the key block.
struct KeySpec {
    std::string key_id;
    std::uint32_t version = 1;
    Algorithm algorithm = Algorithm::Aes256;
    UsageMask usage;
    bool exportable = false;
    bool trusted = false;  ///< a trusted KEK (bound in the block like `exportable`)
};

/// A freshly generated or imported key, as the store keeps it.
struct GeneratedKey {
    Bytes block;       ///< encode_key_block(...) output, sealed
    Bytes kcv;         ///< AES: CMAC(K, 0^16)[0..3]; DES3: E(K, 0^8)[0..3]; else empty
    Bytes public_key;  ///< DER SubjectPublicKeyInfo for EC/RSA, else empty
};

/// A stored key version handed to the HSM for use. The adapter checks the block's seal and
/// that its bound header equals (key_id, version, algorithm, usage) before unwrapping it, so a
/// record edited in the store cannot widen a key's usage. Handles are cached by
/// (key_id, version); `block` is read only on a cache miss.
struct KeyRef {
    std::string_view key_id;
    std::uint32_t version = 0;
    Algorithm algorithm = Algorithm::Aes256;
    UsageMask usage;
    ByteView block;       ///< may be empty for a public-key-only verify
    ByteView public_key;  ///< SPKI DER for EC/RSA verify
};

struct CipherParams {
    CipherMode mode = CipherMode::AesGcm;
    ByteView iv;   ///< exactly cipher_iv_size(mode) bytes
    ByteView aad;  ///< GCM only
};

/// Symmetric key wrapping under a KEK (NIST SP 800-38F names).
enum class WrapFormat {
    AesKw,   ///< RFC 3394 AES key wrap (key length a multiple of 8 bytes, at least 16)
    AesKwp,  ///< RFC 5649 AES key wrap with padding
};

/// The result of opening a TR-31 block: the new key and the header the block's MAC covered.
struct ImportedTr31 {
    GeneratedKey key;
    Tr31Header header;
};

/// GlobalPlatform secure channel key derivation (DESIGN §7).
enum class GpProtocol { Scp02, Scp03 };
enum class GpDiversification { None, Visa2, EmvCps11 };

/// The card's static keys: either the three static keys (usage derive; the DEK also wrap) or a
/// master key (KMC, usage derive) with a diversification method and the 10-byte key
/// diversification data from the INITIALIZE UPDATE response.
struct GpCardKeys {
    std::optional<KeyRef> enc, mac, dek;
    std::optional<KeyRef> kmc;
    GpDiversification diversification = GpDiversification::None;
    Bytes kdd;
};

/// Session keys, held by kmsd in locked memory only for the life of one secure channel session
/// and never returned to a plugin. SCP02: S-ENC, C-MAC, R-MAC and the session DEK. SCP03:
/// S-ENC, S-MAC, S-RMAC; `dek` empty (SCP03 uses the static DEK inside the HSM).
struct GpSessionKeys {
    SecureBytes enc, mac, rmac, dek;
};

/// The card's DEK for PUT KEY and sensitive data (STORE DATA) encryption. SCP03: the static DEK
/// in the HSM (`key`: the static DEK, or the KMC a session was opened with, which serves as
/// every static key); AES-CBC with a zero ICV. SCP02: the session DEK held by kmsd
/// (`session_dek`, 16 bytes) derived from `key` (the static DEK or the KMC); TDEA-ECB.
struct GpDek {
    GpProtocol protocol = GpProtocol::Scp03;
    KeyRef key;
    const SecureBytes* session_dek = nullptr;  ///< SCP02 only
};

/// A key encrypted under the card's DEK for PUT KEY (crypto/gp_put_key.hpp): the cryptogram
/// (SCP02: 16 bytes; SCP03: the key padded to a multiple of 16) and the GlobalPlatform KCV
/// (DES3: E(K, 0^8)[0..3]; AES: AES(K, 01^16)[0..3]).
struct GpEncryptedKey {
    Bytes encrypted;
    Bytes kcv;
    std::size_t key_length = 0;
};

/// Which static key a KMC is diversified into (the byte k of the diversification input).
enum class GpKeyRole : std::uint8_t { Enc = 1, Mac = 2, Dek = 3 };

/// One mechanism the token offers: C_GetMechanismInfo (PKCS#11 v2.40 §5.5; CK_MECHANISM_INFO
/// §3.6). Key sizes are in the unit the mechanism defines (bits for RSA, EC and AES on most
/// modules, bytes for some; PKCS#11 leaves it to the mechanism).
struct HsmMechanism {
    std::string name;  ///< "CKM_AES_CMAC"
    std::uint64_t min_key_size = 0;
    std::uint64_t max_key_size = 0;
    std::vector<std::string> flags;  ///< "encrypt", "sign", "wrap", "generate", ... (CKF_*)
};

/// CK_TOKEN_INFO's counters (PKCS#11 v2.40 §3.2). nullopt: the token reports
/// CK_UNAVAILABLE_INFORMATION. A maximum of 0 is CK_EFFECTIVELY_INFINITE (no limit).
struct HsmTokenCounters {
    std::optional<std::uint64_t> sessions, max_sessions, rw_sessions, max_rw_sessions;
    std::optional<std::uint64_t> total_public_memory, free_public_memory;
    std::optional<std::uint64_t> total_private_memory, free_private_memory;
};

/// One slot of the module (C_GetSlotList(CK_FALSE), C_GetSlotInfo; PKCS#11 v2.40 §5.5), with
/// its token's facts when a token is present (C_GetTokenInfo).
struct HsmSlot {
    std::uint64_t slot_id = 0;
    std::string description;         ///< CK_SLOT_INFO.slotDescription, blank padding removed
    std::string manufacturer;        ///< CK_SLOT_INFO.manufacturerID
    std::vector<std::string> flags;  ///< CKF_TOKEN_PRESENT, CKF_REMOVABLE_DEVICE, CKF_HW_SLOT
    bool in_use = false;             ///< the slot kmsd's session pool uses
    bool token_present = false;      ///< token facts below are empty otherwise
    std::string token_label, token_serial, token_manufacturer, token_model;
    std::vector<std::string> token_flags;
    HsmTokenCounters token_counters;
};

/// Facts about the module and token, for /v1/hsm and the console.
struct HsmInfo {
    std::string module_path;
    std::string library_description;
    std::string library_manufacturer;
    std::string library_version;   ///< "2.6"
    std::string cryptoki_version;  ///< "2.40"
    std::string token_label;
    std::string token_serial;
    std::string token_manufacturer;
    std::string token_model;
    std::uint64_t slot_id = 0;             ///< the slot kmsd uses (CK_SLOT_ID)
    std::vector<HsmSlot> slots;            ///< every slot of the module, in the module's order
    std::vector<std::string> token_flags;  ///< CKF_* of CK_TOKEN_INFO, e.g. "CKF_RNG"
    std::string token_hardware_version;    ///< "2.6"
    std::string token_firmware_version;
    HsmTokenCounters token_counters;
    std::vector<HsmMechanism> mechanism_info;  ///< same order as mechanisms
    std::string profile;                       ///< vendor profile in use, e.g. "softhsm2"
    std::size_t session_pool_size = 0;
    std::size_t sessions_in_use = 0;
    std::size_t cached_handles = 0;
    std::size_t handle_cache_capacity = 0;
    /// Names of the mechanisms the token offers, e.g. "CKM_AES_CMAC".
    std::vector<std::string> mechanisms;
    /// Hex: the LMK's CKA_CHECK_VALUE as the module computes it (SoftHSM2: E(K, 0^16)[0..3]).
    std::string master_key_kcv;
    /// Operations kmsd computes outside the module because the profile says so, with the reason
    /// (e.g. "DES3-RETAIL: module lacks ISO/IEC 9797-1 algorithm 3; computed in locked memory").
    std::vector<std::string> host_fallbacks;
};

class Hsm {
  public:
    virtual ~Hsm() = default;

    /// Generates a key inside the HSM and returns it as a key block wrapped under the master
    /// key. The clear key never leaves the HSM.
    virtual GeneratedKey generate(const KeySpec& spec) = 0;

    /// Imports a clear symmetric key value (known-answer self-tests; key ceremonies assemble
    /// components in the HSM in a later step). @p value is wiped by the caller.
    virtual GeneratedKey import_secret(const KeySpec& spec, const SecureBytes& value) = 0;

    // ---- distribution (DESIGN §5). Export needs a block sealed exportable and, except for
    // RSA-OAEP to an outside public key, a KEK block sealed trusted; the adapter checks both
    // from the sealed blocks, not from the caller's metadata. Secret (symmetric) keys only.
    // The defaults answer Unsupported, for adapters (and test doubles) without distribution.
    // ----

    /// Wraps the secret key @p key under the AES KEK @p kek (usage wrap).
    virtual Bytes wrap_key(const KeyRef& /*key*/, const KeyRef& /*kek*/, WrapFormat /*format*/) {
        unsupported_distribution();
    }
    /// Unwraps @p wrapped under the AES KEK @p kek (usage unwrap) and returns it as a new key
    /// block for @p spec. VerificationFailed when the wrap's integrity check fails or the
    /// value's length does not fit spec.algorithm.
    virtual GeneratedKey unwrap_key(const KeySpec& /*spec*/, const KeyRef& /*kek*/,
                                    WrapFormat /*format*/, ByteView /*wrapped*/) {
        unsupported_distribution();
    }
    /// RSA-OAEP (SHA-256, MGF1-SHA-256, empty label) of the secret key @p key to the RSA public
    /// key @p recipient (its KeyRef::public_key; usage wrap; trusted).
    virtual Bytes wrap_key_rsa_oaep(const KeyRef& /*key*/, const KeyRef& /*recipient*/) {
        unsupported_distribution();
    }
    /// Decrypts an RSA-OAEP (SHA-256) wrapped secret with the RSA private key @p rsa_key
    /// (usage unwrap) into a new key block for @p spec.
    virtual GeneratedKey unwrap_key_rsa_oaep(const KeySpec& /*spec*/, const KeyRef& /*rsa_key*/,
                                             ByteView /*wrapped*/) {
        unsupported_distribution();
    }
    /// The clear value of the secret (AES, DES3, HMAC) key @p key, into locked memory, for a
    /// KMIP Get by the key's owner (services/reveal_key.cpp decides who may ask). The block
    /// must be sealed exportable: the adapter checks it from the sealed block
    /// (UsageNotPermitted otherwise), whatever the caller's metadata says. The caller must
    /// not log, store or audit the value.
    virtual SecureBytes reveal_secret(const KeyRef& /*key*/) { unsupported_distribution(); }
    /// A TR-31 / ANSI X9.143 key block (version B: TDES KBPK; D: AES KBPK) of @p key under
    /// @p kbpk (usage wrap, trusted) with @p header (length and optional blocks are computed).
    virtual std::string export_tr31(const KeyRef& /*key*/, const KeyRef& /*kbpk*/,
                                    const Tr31Header& /*header*/) {
        unsupported_distribution();
    }
    /// Verifies and opens the TR-31 block @p block under @p kbpk (usage unwrap) into a new key
    /// block for @p spec. VerificationFailed when its MAC does not verify.
    virtual ImportedTr31 import_tr31(const KeySpec& /*spec*/, const KeyRef& /*kbpk*/,
                                     std::string_view /*block*/) {
        unsupported_distribution();
    }

    /// Derives a secure channel session's keys inside the HSM (diversifying a KMC first when
    /// @p card has one; the static keys stay in the HSM). @p context: SCP02, the 2-byte
    /// sequence counter; SCP03, host challenge || card challenge (16 bytes). SCP02 uses
    /// CKM_DES3_CBC_ENCRYPT_DATA-style derivation (GP 2.2 E.4.1); SCP03 the SP 800-108 KDF with
    /// AES-CMAC (Amendment D §6.2.2), natively where the profile has it, else with CKM_AES_CMAC
    /// in the HSM. The adapter names the path in HsmInfo::host_fallbacks.
    virtual GpSessionKeys derive_gp_session_keys(GpProtocol /*protocol*/,
                                                 const GpCardKeys& /*card*/, ByteView /*context*/) {
        unsupported_gp();
    }

    /// SCP03 pseudo-random card challenge (Amd D §6.2.2.3): the first 8 bytes of the KDF with
    /// constant 02, L = 64, context = sequence counter (3 bytes) || @p aid, under the static ENC
    /// key @p static_enc (usage derive), computed in the HSM.
    virtual Bytes gp_scp03_card_challenge(const KeyRef& /*static_enc*/,
                                          ByteView /*sequence_counter*/, ByteView /*aid*/) {
        unsupported_gp();
    }

    /// Encrypts the secret key @p key under the card's DEK for PUT KEY and computes its
    /// GlobalPlatform KCV. @p key must be sealed exportable; @p dek.key sealed trusted with usage
    /// wrap (UsageNotPermitted otherwise). SCP02 delivers DES3-2K, AES-128 and AES-256 keys
    /// (TDEA-ECB under the session DEK), SCP03 AES keys (AES-CBC under the static DEK).
    virtual GpEncryptedKey gp_encrypt_key(const GpDek& /*dek*/, const KeyRef& /*key*/) {
        unsupported_gp();
    }

    /// Encrypts sensitive data (STORE DATA) under the card's DEK: SCP02 TDEA-ECB under the
    /// session DEK, SCP03 AES-CBC with a zero ICV under the static DEK (usage wrap). @p data must
    /// be a whole number of blocks (8 or 16 bytes), at most 4096 bytes.
    virtual Bytes gp_encrypt_data(const GpDek& /*dek*/, ByteView /*data*/) { unsupported_gp(); }

    /// Diversifies the DES3-2K master key @p kmc (usage derive) with @p method and the 10-byte
    /// @p kdd into the card's static key @p role, inside the HSM, and returns it as a new key
    /// block for @p spec (DES3-2K).
    virtual GeneratedKey gp_diversify_key(const KeySpec& /*spec*/, const KeyRef& /*kmc*/,
                                          GpDiversification /*method*/, ByteView /*kdd*/,
                                          GpKeyRole /*role*/) {
        unsupported_gp();
    }

    /// The MAC of @p data. Unsupported when @p alg does not fit the key.
    virtual Bytes mac(const KeyRef& key, MacAlgorithm alg, ByteView data) = 0;

    /// Encrypts; for GCM the 16-byte tag is appended to the returned ciphertext.
    virtual Bytes encrypt(const KeyRef& key, const CipherParams& params, ByteView plaintext) = 0;
    /// Decrypts; VerificationFailed when a GCM tag or CBC padding does not verify.
    virtual Bytes decrypt(const KeyRef& key, const CipherParams& params, ByteView ciphertext) = 0;

    /// Signs @p message (the HSM or the profile's fallback hashes it). ECDSA: raw r||s.
    virtual Bytes sign(const KeyRef& key, SignAlgorithm alg, ByteView message) = 0;
    /// Verifies with the public key (KeyRef::public_key); false when the signature is wrong.
    virtual bool verify(const KeyRef& key, SignAlgorithm alg, ByteView message,
                        ByteView signature) = 0;

    /// @p length random bytes from the HSM's generator (1..4096).
    virtual Bytes random(std::size_t length) = 0;

    /// HMAC-SHA256 over @p data under the token's audit key (a non-extractable token object).
    virtual Bytes audit_seal(ByteView data) = 0;

    /// Drops every cached session object of @p key_id (destroy, compromise).
    virtual void forget(std::string_view key_id) = 0;

    /// A cheap liveness probe of the module and token (C_GetSessionInfo on a pooled session).
    /// Returns false instead of throwing. Called by the background health checker only.
    virtual bool probe() noexcept = 0;

    virtual HsmInfo info() = 0;

  protected:
    [[noreturn]] static void unsupported_distribution() {
        throw Error(ErrorCode::Unsupported, "this HSM adapter does not export or import keys");
    }
    [[noreturn]] static void unsupported_gp() {
        throw Error(ErrorCode::Unsupported,
                    "this HSM adapter does not derive GlobalPlatform session keys");
    }
};

}  // namespace kms::core
