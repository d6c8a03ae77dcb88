// Runs the self-test tables of known_answers.cpp on the host and through the Hsm port. Each
// test is isolated: an exception is caught and recorded as that test's failure, and the cached
// HSM objects of its test key are dropped whatever happened.
#include "self_test.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <new>

#include "crypto/host_crypto.hpp"
#include "crypto/public_key.hpp"
#include "domain/error.hpp"
#include "domain/secure_bytes.hpp"

namespace kms::core {

namespace selftest {

namespace {

using Clock = std::chrono::steady_clock;

/// Signed by every pairwise consistency test.
constexpr std::string_view kPairwiseMessage = "kmsd pairwise consistency test";
/// Sealed by the audit-seal check (never written to the audit log).
constexpr std::string_view kAuditProbe = "kmsd self-test audit seal probe";

/// Runs @p body, which returns "" on success or what went wrong, and times it. Exceptions
/// become failures; only std::bad_alloc propagates (nothing sensible can go on without memory).
template <typename Body>
SelfTestResult run_one(std::string name, Body&& body) {
    SelfTestResult r;
    r.name = std::move(name);
    const auto start = Clock::now();
    try {
        r.detail = body();
        r.passed = r.detail.empty();
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const Error& e) {
        r.detail = "exception: " + std::string(error_code_name(e.code())) + ": " + e.what();
    } catch (const std::exception& e) {
        r.detail = std::string("exception: ") + e.what();
    } catch (...) {
        r.detail = "exception: unknown";
    }
    r.elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return r;
}

std::string label(std::string_view kind, std::string_view name, std::string_view source) {
    std::string out(kind);
    out += ' ';
    out += name;
    if (!source.empty()) {
        out += " [";
        out += source;
        out += ']';
    }
    return out;
}

std::string mismatch(std::string_view what, ByteView expected, ByteView actual) {
    return std::string(what) + ": expected " + to_hex(expected) + ", got " + to_hex(actual);
}

Bytes hex(std::string_view text, std::string_view field) {
    return from_hex(text, field);
}

bool same(ByteView a, ByteView b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

Bytes flip_last_bit(ByteView b) {
    Bytes out(b.begin(), b.end());
    if (!out.empty()) out.back() ^= 0x01;
    return out;
}

/// Drops the cached objects of a self-test key. Must not turn a result into an exception.
void forget_quietly(Hsm& hsm, const std::string& key_id) noexcept {
    try {
        hsm.forget(key_id);
    } catch (...) {
        // A failing forget() leaves a cached session object of a public test key; the next
        // run forgets it again before importing.
    }
}

GeneratedKey import_key(Hsm& hsm, const KeySpec& spec, std::string_view key_hex) {
    Bytes raw = hex(key_hex, "key");
    const SecureBytes value(raw);
    secure_wipe(raw.data(), raw.size());  // a public test key, but the habit is the point
    return hsm.import_secret(spec, value);
}

KeyRef ref_of(const KeySpec& spec, const GeneratedKey& g) {
    return KeyRef{spec.key_id, spec.version, spec.algorithm, spec.usage, g.block, g.public_key};
}

std::string host_entry(const HostKnownAnswer& k) {
    const Bytes key = hex(k.key, "key");
    const Bytes message = hex(k.message, "message");
    const Bytes expected = hex(k.expected, "expected");
    Bytes actual;
    switch (k.function) {
        case HostFunction::Sha256:
            actual = crypto::sha256(message);
            break;
        case HostFunction::Sha384:
            actual = crypto::sha384(message);
            break;
        case HostFunction::HmacSha256:
            actual = crypto::hmac_sha256(key, message);
            break;
        case HostFunction::AesCmac:
            actual = crypto::aes_cmac(key, message);
            break;
        case HostFunction::RetailMac:
            actual = crypto::retail_mac(key, message);
            break;
        case HostFunction::Des3Ecb:
            actual = crypto::des3_ecb_encrypt(key, message);
            break;
        case HostFunction::KcvDes3:
            actual = crypto::kcv_des3(key);
            break;
        case HostFunction::KcvAesCmac:
            actual = crypto::kcv_aes_cmac(key);
            break;
        case HostFunction::KcvAesGp:
            actual = crypto::kcv_aes_gp(key);
            break;
    }
    return same(actual, expected) ? std::string() : mismatch("output", expected, actual);
}

std::string mac_entry(Hsm& hsm, const MacKnownAnswer& k, const std::string& key_id) {
    const KeySpec spec{key_id, 1, k.key_algorithm, UsageMask().add(Usage::Mac), false};
    const GeneratedKey g = import_key(hsm, spec, k.key);
    const Bytes expected = hex(k.expected, "expected");
    const Bytes actual = hsm.mac(ref_of(spec, g), k.mac, hex(k.message, "message"));
    return same(actual, expected) ? std::string() : mismatch("mac", expected, actual);
}

std::string cipher_entry(Hsm& hsm, const CipherKnownAnswer& k, const std::string& key_id) {
    const KeySpec spec{key_id, 1, k.key_algorithm,
                       UsageMask().add(Usage::Encrypt).add(Usage::Decrypt), false};
    const GeneratedKey g = import_key(hsm, spec, k.key);
    const KeyRef ref = ref_of(spec, g);
    const Bytes iv = hex(k.iv, "iv");
    const Bytes aad = hex(k.aad, "aad");
    const Bytes plaintext = hex(k.plaintext, "plaintext");
    const Bytes expected = hex(k.ciphertext, "ciphertext");
    const CipherParams params{k.mode, iv, aad};

    const Bytes ciphertext = hsm.encrypt(ref, params, plaintext);
    if (!same(ciphertext, expected)) return mismatch("encrypt", expected, ciphertext);
    const Bytes decrypted = hsm.decrypt(ref, params, expected);
    if (!same(decrypted, plaintext)) return mismatch("decrypt", plaintext, decrypted);
    if (k.mode == CipherMode::AesGcm) {
        // SP 800-38D §7.2: a tag that does not match must return FAIL and no plaintext.
        try {
            hsm.decrypt(ref, params, flip_last_bit(expected));
            return "decrypt accepted a ciphertext with a corrupted GCM tag";
        } catch (const Error& e) {
            if (e.code() != ErrorCode::VerificationFailed)
                return "corrupted GCM tag: expected verification_failed, got " +
                       std::string(error_code_name(e.code())) + ": " + e.what();
        }
    }
    return {};
}

std::string kcv_entry(Hsm& hsm, const KcvKnownAnswer& k, const std::string& key_id) {
    const KeySpec spec{key_id, 1, k.key_algorithm, UsageMask().add(Usage::Encrypt), false};
    const GeneratedKey g = import_key(hsm, spec, k.key);
    const Bytes expected = hex(k.kcv, "kcv");
    return same(g.kcv, expected) ? std::string() : mismatch("kcv", expected, g.kcv);
}

std::string verify_entry(Hsm& hsm, const VerifyKnownAnswer& k, const std::string& key_id) {
    const Bytes public_key = hex(k.public_key, "public_key");
    const Bytes spki =
        info(k.key_algorithm).family == KeyFamily::Ec
            ? crypto::ec_public_key_spki(k.key_algorithm, public_key)
            : crypto::rsa_public_key_spki(public_key, hex(k.public_exponent, "public_exponent"));
    const KeyRef ref{key_id, 1, k.key_algorithm, UsageMask().add(Usage::Verify), {}, spki};
    const Bytes message = hex(k.message, "message");
    const Bytes signature = hex(k.signature, "signature");
    if (!hsm.verify(ref, k.sign, message, signature))
        return "the published signature did not verify";
    // The lowest bit of s (or of the RSA signature) keeps the value in range, so this is a
    // wrong signature, not a malformed one.
    if (hsm.verify(ref, k.sign, message, flip_last_bit(signature)))
        return "a signature with one bit flipped verified";
    return {};
}

std::string pairwise_entry(Hsm& hsm, const PairwiseTest& t, const std::string& key_id) {
    const KeySpec spec{key_id, 1, t.key_algorithm, UsageMask().add(Usage::Sign).add(Usage::Verify),
                       false};
    const GeneratedKey g = hsm.generate(spec);
    if (g.public_key.empty()) return "generate() returned no public key";
    const KeyRef ref = ref_of(spec, g);
    const ByteView message = as_view(kPairwiseMessage);
    for (const SignAlgorithm scheme : t.schemes) {
        const std::string name(sign_algorithm_name(scheme));
        const Bytes signature = hsm.sign(ref, scheme, message);
        if (!hsm.verify(ref, scheme, message, signature))
            return name + ": the HSM did not verify its own signature";
        if (!crypto::verify_signature(g.public_key, scheme, message, signature))
            return name + ": the host did not verify the HSM's signature with the returned SPKI";
        if (hsm.verify(ref, scheme, message, flip_last_bit(signature)))
            return name + ": a signature with one bit flipped verified";
    }
    return {};
}

/// Runs @p entry for every row of @p table with its own key id, forgetting the key before
/// (a previous run may have left a cached object) and after.
template <typename Row, typename Entry>
std::vector<SelfTestResult> run_table(Hsm& hsm, std::span<const Row> table, std::string_view kind,
                                      std::string_view title, Entry entry) {
    std::vector<SelfTestResult> results;
    results.reserve(table.size());
    for (std::size_t i = 0; i < table.size(); ++i) {
        const Row& row = table[i];
        std::string key_id = "selftest-";
        key_id += kind;
        key_id += '-';
        key_id += std::to_string(i);
        const std::string source = [&] {
            if constexpr (requires { row.source; })
                return std::string(row.source);
            else
                return std::string();
        }();
        forget_quietly(hsm, key_id);
        results.push_back(
            run_one(label(title, row.name, source), [&] { return entry(hsm, row, key_id); }));
        forget_quietly(hsm, key_id);
    }
    return results;
}

}  // namespace

std::vector<SelfTestResult> run_host(std::span<const HostKnownAnswer> table) {
    std::vector<SelfTestResult> results;
    results.reserve(table.size());
    for (const auto& k : table)
        results.push_back(run_one(label("host", k.name, k.source), [&] { return host_entry(k); }));
    return results;
}

std::vector<SelfTestResult> run_mac(Hsm& hsm, std::span<const MacKnownAnswer> table) {
    return run_table(hsm, table, "mac", "hsm mac", mac_entry);
}

std::vector<SelfTestResult> run_cipher(Hsm& hsm, std::span<const CipherKnownAnswer> table) {
    return run_table(hsm, table, "cipher", "hsm cipher", cipher_entry);
}

std::vector<SelfTestResult> run_kcv(Hsm& hsm, std::span<const KcvKnownAnswer> table) {
    return run_table(hsm, table, "kcv", "hsm kcv", kcv_entry);
}

std::vector<SelfTestResult> run_verify(Hsm& hsm, std::span<const VerifyKnownAnswer> table) {
    return run_table(hsm, table, "verify", "hsm verify", verify_entry);
}

std::vector<SelfTestResult> run_pairwise(Hsm& hsm, std::span<const PairwiseTest> table) {
    return run_table(hsm, table, "pct", "hsm pairwise", pairwise_entry);
}

SelfTestResult run_random(Hsm& hsm) {
    return run_one("hsm random", [&]() -> std::string {
        const Bytes a = hsm.random(32);
        const Bytes b = hsm.random(32);
        if (a.size() != 32 || b.size() != 32) return "random(32) returned the wrong length";
        if (a == b) return "two random(32) draws are equal";
        if (a == Bytes(32, 0)) return "random(32) returned all zeros";
        return {};
    });
}

SelfTestResult run_audit_seal(Hsm& hsm) {
    return run_one("hsm audit seal", [&]() -> std::string {
        const ByteView probe = as_view(kAuditProbe);
        const Bytes a = hsm.audit_seal(probe);
        const Bytes b = hsm.audit_seal(probe);
        const Bytes c = hsm.audit_seal(flip_last_bit(probe));
        if (a.size() != 32) return "audit_seal returned " + std::to_string(a.size()) + " bytes";
        if (a != b) return "audit_seal is not deterministic";
        if (a == c) return "audit_seal ignored a one-bit change of its input";
        return {};
    });
}

}  // namespace selftest

std::vector<SelfTestResult> run_self_tests(Hsm& hsm) {
    using namespace selftest;
    std::vector<SelfTestResult> all;
    const auto append = [&all](std::vector<SelfTestResult> part) {
        for (auto& r : part) all.push_back(std::move(r));
    };
    append(run_host(host_known_answers()));
    append(run_kcv(hsm, kcv_known_answers()));
    append(run_mac(hsm, mac_known_answers()));
    append(run_cipher(hsm, cipher_known_answers()));
    append(run_verify(hsm, verify_known_answers()));
    all.push_back(run_random(hsm));
    all.push_back(run_audit_seal(hsm));
    append(run_pairwise(hsm, pairwise_tests()));
    return all;
}

bool all_passed(const std::vector<SelfTestResult>& results) noexcept {
    if (results.empty()) return false;
    for (const auto& r : results)
        if (!r.passed) return false;
    return true;
}

}  // namespace kms::core
