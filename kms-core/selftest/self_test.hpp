// Start-up self-tests (DESIGN §10): known answers for every algorithm the KMS offers, on the
// host and through the Hsm port, and pairwise consistency tests of freshly generated key pairs
// (the FIPS 140-3 IG 10.3.A idea applied at start-up). kmsd refuses to serve when one fails.
//
// Every vector is embedded in known_answers.cpp with its document and section. The vector
// tables and the runners are public (namespace selftest) so a test can run a corrupted copy and
// see it reported as failed.
//
// Side effects on the HSM: symmetric KATs import the published test keys with import_secret()
// under key ids "selftest-<kind>-<n>" (version 1) and pairwise tests generate() key pairs under
// "selftest-pct-<n>"; the returned key blocks are discarded and forget() drops the cached
// session objects before and after each test. Nothing is written to the token or the store.
//
// Thread safety: run_self_tests may run concurrently with other users of the same Hsm (the port
// is thread-safe), but two concurrent runs on one Hsm share key ids; run it once, at start-up.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "domain/algorithm.hpp"
#include "ports/hsm.hpp"

namespace kms::core {

/// The outcome of one self-test.
struct SelfTestResult {
    /// What was tested and where the vector comes from, e.g.
    /// "hsm mac AES-CMAC AES-128 [RFC 4493 §4 Example 3]". Stable across runs.
    std::string name;
    bool passed = false;
    /// Empty when passed. Otherwise what differed ("expected <hex>, got <hex>": test vectors are
    /// public, never a real key) or "exception: <kms::Error text>". Fit for the log.
    std::string detail;
    /// Wall-clock time the test took, milliseconds.
    double elapsed_ms = 0;
};

/// Runs every self-test: host KATs, then through @p hsm: MAC, cipher and KCV KATs of imported
/// keys, signature verification KATs, random and audit-seal health checks, and pairwise
/// consistency tests of EC P-256, EC P-384 and RSA-2048 key pairs generated in the HSM.
/// Never throws for a failing test: an exception inside a test is caught and recorded as that
/// test's failure, and the run goes on (only std::bad_alloc may escape).
/// Duration on SoftHSM2 2.6 (measured by tests/selftest): 0.1-0.3 s per run, of which 80-90%
/// is the RSA-2048 key generation of the pairwise test; RSA key generation is a random prime
/// search, so single runs can take over a second.
std::vector<SelfTestResult> run_self_tests(Hsm& hsm);

/// True when @p results is non-empty and every test passed.
bool all_passed(const std::vector<SelfTestResult>& results) noexcept;

namespace selftest {

/// Host primitives of kms-core/crypto/host_crypto.hpp covered by host KATs.
enum class HostFunction : std::uint8_t {
    Sha256,      ///< message -> digest
    Sha384,      ///< message -> digest
    HmacSha256,  ///< key, message -> MAC
    AesCmac,     ///< key, message -> tag
    RetailMac,   ///< key (K || K'), message -> MAC
    Des3Ecb,     ///< key, message (whole blocks) -> ciphertext
    KcvDes3,     ///< key -> E(K, 0^8)[0..3]
    KcvAesCmac,  ///< key -> CMAC(K, 0^16)[0..3]
    KcvAesGp,    ///< key -> E(K, 01^16)[0..3]
};

// All byte fields below are hex text (upper or lower case); empty means zero bytes.

struct HostKnownAnswer {
    std::string_view name;    ///< short label, e.g. "SHA-256 abc"
    std::string_view source;  ///< document and section, e.g. "FIPS 180-2 Appendix B.1"
    HostFunction function;
    std::string_view key;
    std::string_view message;
    std::string_view expected;
};

/// import_secret(key) with Usage::Mac, then Hsm::mac must give @p expected.
struct MacKnownAnswer {
    std::string_view name;
    std::string_view source;
    Algorithm key_algorithm;
    MacAlgorithm mac;
    std::string_view key;
    std::string_view message;
    std::string_view expected;
};

/// import_secret(key) with Usage::Encrypt and Decrypt; encrypt(plaintext) must give
/// @p ciphertext (for GCM: ciphertext || 16-byte tag) and decrypt(ciphertext) the plaintext.
/// For GCM a ciphertext with one tag bit flipped must be refused with VerificationFailed.
struct CipherKnownAnswer {
    std::string_view name;
    std::string_view source;
    Algorithm key_algorithm;
    CipherMode mode;
    std::string_view key;
    std::string_view iv;
    std::string_view aad;
    std::string_view plaintext;
    std::string_view ciphertext;
};

/// import_secret(key) must report @p kcv in GeneratedKey::kcv (AES: CMAC form; DES3: E(K, 0^8)).
struct KcvKnownAnswer {
    std::string_view name;
    std::string_view source;
    Algorithm key_algorithm;
    std::string_view key;
    std::string_view kcv;
};

/// Hsm::verify with a KeyRef that has an empty block and the SPKI built from @p public_key
/// (EC: the uncompressed point 04||X||Y; RSA: the modulus, with @p public_exponent) must
/// accept @p signature over @p message, and refuse it with one bit flipped.
struct VerifyKnownAnswer {
    std::string_view name;
    std::string_view source;
    Algorithm key_algorithm;
    SignAlgorithm sign;
    std::string_view public_key;
    std::string_view public_exponent;  ///< RSA only
    std::string_view message;
    std::string_view signature;  ///< ECDSA: raw r || s
};

/// generate() a key pair with Usage::Sign and Verify, then for each scheme: sign a fixed
/// message in the HSM, verify it in the HSM and on the host (kms::crypto::verify_signature
/// against GeneratedKey::public_key), and check that the signature with one bit flipped does
/// not verify in the HSM.
struct PairwiseTest {
    std::string_view name;
    Algorithm key_algorithm;
    std::span<const SignAlgorithm> schemes;
};

/// The built-in tables (known_answers.cpp).
std::span<const HostKnownAnswer> host_known_answers();
std::span<const MacKnownAnswer> mac_known_answers();
std::span<const CipherKnownAnswer> cipher_known_answers();
std::span<const KcvKnownAnswer> kcv_known_answers();
std::span<const VerifyKnownAnswer> verify_known_answers();
std::span<const PairwiseTest> pairwise_tests();

/// Runners: one result per table entry, in order; none throws for a failing entry (a malformed
/// hex field in a table is a failure of that entry too).
std::vector<SelfTestResult> run_host(std::span<const HostKnownAnswer> table);
std::vector<SelfTestResult> run_mac(Hsm& hsm, std::span<const MacKnownAnswer> table);
std::vector<SelfTestResult> run_cipher(Hsm& hsm, std::span<const CipherKnownAnswer> table);
std::vector<SelfTestResult> run_kcv(Hsm& hsm, std::span<const KcvKnownAnswer> table);
std::vector<SelfTestResult> run_verify(Hsm& hsm, std::span<const VerifyKnownAnswer> table);
std::vector<SelfTestResult> run_pairwise(Hsm& hsm, std::span<const PairwiseTest> table);
/// Hsm::random: two 32-byte draws of the right length that differ and are not all zero (a
/// stuck-output check; the HSM's own DRBG health tests are its business).
SelfTestResult run_random(Hsm& hsm);
/// Hsm::audit_seal: 32 bytes, the same for the same input, different for a one-bit change.
SelfTestResult run_audit_seal(Hsm& hsm);

}  // namespace selftest
}  // namespace kms::core
