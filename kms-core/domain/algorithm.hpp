// Key algorithms, usages and the operation mechanisms the KMS offers, with their names as
// they appear in the REST API ("AES-256", "mac", "AES-CMAC"). Pure C++.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kms::core {

enum class Algorithm : std::uint8_t {
    Aes128 = 1,
    Aes192,
    Aes256,
    Des3_2k,
    Des3_3k,
    HmacSha256,
    EcP256,
    EcP384,
    Rsa2048,
    Rsa3072,
};

enum class KeyFamily { Aes, Des3, Hmac, Ec, Rsa };

struct AlgorithmInfo {
    Algorithm algorithm;
    std::string_view name;  ///< REST name, e.g. "AES-256"
    KeyFamily family;
    std::size_t bits;  ///< key length (AES/DES3/HMAC: secret bits incl. DES parity; EC: curve; RSA:
                       ///< modulus)
};

const AlgorithmInfo& info(Algorithm a);
/// Every algorithm, in a stable order (for listings and the OpenAPI enum).
const std::vector<AlgorithmInfo>& all_algorithms();
/// Parses a REST name; exact match, case-sensitive. nullopt when unknown.
std::optional<Algorithm> parse_algorithm(std::string_view name);
inline bool is_symmetric(Algorithm a) {
    const auto f = info(a).family;
    return f == KeyFamily::Aes || f == KeyFamily::Des3 || f == KeyFamily::Hmac;
}
inline bool is_asymmetric(Algorithm a) {
    return !is_symmetric(a);
}
/// Secret key length in bytes for symmetric algorithms (DES3-2K: 16, DES3-3K: 24).
std::size_t secret_length(Algorithm a);

/// Key usages, a bit mask. Names: encrypt decrypt mac sign verify wrap unwrap derive.
enum class Usage : std::uint32_t {
    Encrypt = 1u << 0,
    Decrypt = 1u << 1,
    Mac = 1u << 2,
    Sign = 1u << 3,
    Verify = 1u << 4,
    Wrap = 1u << 5,
    Unwrap = 1u << 6,
    Derive = 1u << 7,
};

class UsageMask {
  public:
    constexpr UsageMask() = default;
    constexpr explicit UsageMask(std::uint32_t bits) : m_bits(bits) {}
    constexpr bool has(Usage u) const { return (m_bits & static_cast<std::uint32_t>(u)) != 0; }
    constexpr UsageMask& add(Usage u) {
        m_bits |= static_cast<std::uint32_t>(u);
        return *this;
    }
    constexpr std::uint32_t bits() const { return m_bits; }
    constexpr bool empty() const { return m_bits == 0; }
    constexpr bool operator==(const UsageMask&) const = default;

  private:
    std::uint32_t m_bits = 0;
};

std::string_view usage_name(Usage u);
std::optional<Usage> parse_usage(std::string_view name);
const std::vector<Usage>& all_usages();
std::vector<std::string> usage_names(UsageMask mask);
/// The usages a key of @p a can have at all (e.g. an EC key cannot "encrypt" here).
UsageMask usages_allowed_for(Algorithm a);

/// MAC algorithms of POST /v1/keys/{id}/mac.
enum class MacAlgorithm : std::uint8_t {
    AesCmac = 1,  ///< NIST SP 800-38B, full 16-byte tag
    Des3Retail,   ///< ISO/IEC 9797-1 MAC algorithm 3, padding method 2, 8-byte tag
    HmacSha256,   ///< RFC 2104 with SHA-256, 32-byte tag
};
std::string_view mac_algorithm_name(MacAlgorithm m);  ///< "AES-CMAC", "DES3-RETAIL", "HMAC-SHA256"
std::optional<MacAlgorithm> parse_mac_algorithm(std::string_view name);
/// Whether a key of @p a can compute @p m.
bool mac_fits(MacAlgorithm m, Algorithm a);

/// Cipher modes of encrypt/decrypt.
enum class CipherMode : std::uint8_t {
    AesGcm = 1,  ///< NIST SP 800-38D; 12-byte IV, 16-byte tag appended to the ciphertext
    AesCbcPad,   ///< SP 800-38A CBC with PKCS#7 padding
    AesCbc,      ///< CBC without padding: input must be a multiple of 16 bytes
    Des3CbcPad,  ///< TDEA CBC with PKCS#7 padding
    Des3Cbc,     ///< TDEA CBC without padding: input must be a multiple of 8 bytes
};
std::string_view cipher_mode_name(
    CipherMode m);  ///< "AES-GCM", "AES-CBC-PAD", "AES-CBC", "DES3-CBC-PAD", "DES3-CBC"
std::optional<CipherMode> parse_cipher_mode(std::string_view name);
bool cipher_fits(CipherMode m, Algorithm a);
std::size_t cipher_block_size(CipherMode m);  ///< 16 for AES modes, 8 for DES3
std::size_t cipher_iv_size(CipherMode m);     ///< 12 for GCM, else the block size

/// Signature algorithms of sign/verify. ECDSA signatures are raw r||s (PKCS#11 form).
enum class SignAlgorithm : std::uint8_t {
    EcdsaSha256 = 1,
    EcdsaSha384,
    RsaPssSha256,
    RsaPkcs1Sha256,
};
std::string_view sign_algorithm_name(
    SignAlgorithm s);  ///< "ECDSA-SHA256", "ECDSA-SHA384", "RSA-PSS-SHA256", "RSA-PKCS1-SHA256"
std::optional<SignAlgorithm> parse_sign_algorithm(std::string_view name);
bool sign_fits(SignAlgorithm s, Algorithm a);

}  // namespace kms::core
