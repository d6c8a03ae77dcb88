// Tables of algorithms, usages and mechanisms, and which fit together.
#include "algorithm.hpp"

#include "error.hpp"

namespace kms::core {

const std::vector<AlgorithmInfo>& all_algorithms() {
    static const std::vector<AlgorithmInfo> table = {
        {Algorithm::Aes128, "AES-128", KeyFamily::Aes, 128},
        {Algorithm::Aes192, "AES-192", KeyFamily::Aes, 192},
        {Algorithm::Aes256, "AES-256", KeyFamily::Aes, 256},
        {Algorithm::Des3_2k, "DES3-2K", KeyFamily::Des3, 128},
        {Algorithm::Des3_3k, "DES3-3K", KeyFamily::Des3, 192},
        {Algorithm::HmacSha256, "HMAC-SHA256", KeyFamily::Hmac, 256},
        {Algorithm::EcP256, "EC-P256", KeyFamily::Ec, 256},
        {Algorithm::EcP384, "EC-P384", KeyFamily::Ec, 384},
        {Algorithm::Rsa2048, "RSA-2048", KeyFamily::Rsa, 2048},
        {Algorithm::Rsa3072, "RSA-3072", KeyFamily::Rsa, 3072},
    };
    return table;
}

const AlgorithmInfo& info(Algorithm a) {
    for (const auto& i : all_algorithms())
        if (i.algorithm == a) return i;
    throw Error(ErrorCode::Internal, "unknown algorithm value");
}

std::optional<Algorithm> parse_algorithm(std::string_view name) {
    for (const auto& i : all_algorithms())
        if (i.name == name) return i.algorithm;
    return std::nullopt;
}

std::size_t secret_length(Algorithm a) {
    switch (a) {
        case Algorithm::Aes128:
            return 16;
        case Algorithm::Aes192:
            return 24;
        case Algorithm::Aes256:
            return 32;
        case Algorithm::Des3_2k:
            return 16;
        case Algorithm::Des3_3k:
            return 24;
        case Algorithm::HmacSha256:
            return 32;
        default:
            return 0;
    }
}

namespace {
struct UsageEntry {
    Usage usage;
    std::string_view name;
};
const UsageEntry kUsages[] = {
    {Usage::Encrypt, "encrypt"}, {Usage::Decrypt, "decrypt"}, {Usage::Mac, "mac"},
    {Usage::Sign, "sign"},       {Usage::Verify, "verify"},   {Usage::Wrap, "wrap"},
    {Usage::Unwrap, "unwrap"},   {Usage::Derive, "derive"},
};
}  // namespace

std::string_view usage_name(Usage u) {
    for (const auto& e : kUsages)
        if (e.usage == u) return e.name;
    return "?";
}

std::optional<Usage> parse_usage(std::string_view name) {
    for (const auto& e : kUsages)
        if (e.name == name) return e.usage;
    return std::nullopt;
}

const std::vector<Usage>& all_usages() {
    static const std::vector<Usage> all = [] {
        std::vector<Usage> v;
        for (const auto& e : kUsages) v.push_back(e.usage);
        return v;
    }();
    return all;
}

std::vector<std::string> usage_names(UsageMask mask) {
    std::vector<std::string> out;
    for (const auto& e : kUsages)
        if (mask.has(e.usage)) out.emplace_back(e.name);
    return out;
}

UsageMask usages_allowed_for(Algorithm a) {
    UsageMask m;
    switch (info(a).family) {
        case KeyFamily::Aes:
        case KeyFamily::Des3:
            m.add(Usage::Encrypt)
                .add(Usage::Decrypt)
                .add(Usage::Mac)
                .add(Usage::Verify)
                .add(Usage::Wrap)
                .add(Usage::Unwrap)
                .add(Usage::Derive);
            break;
        case KeyFamily::Hmac:
            m.add(Usage::Mac).add(Usage::Verify).add(Usage::Derive);
            break;
        case KeyFamily::Ec:
            m.add(Usage::Sign).add(Usage::Verify).add(Usage::Derive);
            break;
        case KeyFamily::Rsa:
            m.add(Usage::Sign)
                .add(Usage::Verify)
                .add(Usage::Encrypt)
                .add(Usage::Decrypt)
                .add(Usage::Wrap)
                .add(Usage::Unwrap);
            break;
    }
    return m;
}

std::string_view mac_algorithm_name(MacAlgorithm m) {
    switch (m) {
        case MacAlgorithm::AesCmac:
            return "AES-CMAC";
        case MacAlgorithm::Des3Retail:
            return "DES3-RETAIL";
        case MacAlgorithm::HmacSha256:
            return "HMAC-SHA256";
    }
    return "?";
}

std::optional<MacAlgorithm> parse_mac_algorithm(std::string_view name) {
    for (auto m : {MacAlgorithm::AesCmac, MacAlgorithm::Des3Retail, MacAlgorithm::HmacSha256})
        if (mac_algorithm_name(m) == name) return m;
    return std::nullopt;
}

bool mac_fits(MacAlgorithm m, Algorithm a) {
    const auto f = info(a).family;
    switch (m) {
        case MacAlgorithm::AesCmac:
            return f == KeyFamily::Aes;
        case MacAlgorithm::Des3Retail:
            return f == KeyFamily::Des3;
        case MacAlgorithm::HmacSha256:
            return f == KeyFamily::Hmac;
    }
    return false;
}

std::string_view cipher_mode_name(CipherMode m) {
    switch (m) {
        case CipherMode::AesGcm:
            return "AES-GCM";
        case CipherMode::AesCbcPad:
            return "AES-CBC-PAD";
        case CipherMode::AesCbc:
            return "AES-CBC";
        case CipherMode::Des3CbcPad:
            return "DES3-CBC-PAD";
        case CipherMode::Des3Cbc:
            return "DES3-CBC";
    }
    return "?";
}

std::optional<CipherMode> parse_cipher_mode(std::string_view name) {
    for (auto m : {CipherMode::AesGcm, CipherMode::AesCbcPad, CipherMode::AesCbc,
                   CipherMode::Des3CbcPad, CipherMode::Des3Cbc})
        if (cipher_mode_name(m) == name) return m;
    return std::nullopt;
}

bool cipher_fits(CipherMode m, Algorithm a) {
    const auto f = info(a).family;
    switch (m) {
        case CipherMode::AesGcm:
        case CipherMode::AesCbcPad:
        case CipherMode::AesCbc:
            return f == KeyFamily::Aes;
        case CipherMode::Des3CbcPad:
        case CipherMode::Des3Cbc:
            return f == KeyFamily::Des3;
    }
    return false;
}

std::size_t cipher_block_size(CipherMode m) {
    return (m == CipherMode::Des3Cbc || m == CipherMode::Des3CbcPad) ? 8 : 16;
}

std::size_t cipher_iv_size(CipherMode m) {
    return m == CipherMode::AesGcm ? 12 : cipher_block_size(m);
}

std::string_view sign_algorithm_name(SignAlgorithm s) {
    switch (s) {
        case SignAlgorithm::EcdsaSha256:
            return "ECDSA-SHA256";
        case SignAlgorithm::EcdsaSha384:
            return "ECDSA-SHA384";
        case SignAlgorithm::RsaPssSha256:
            return "RSA-PSS-SHA256";
        case SignAlgorithm::RsaPkcs1Sha256:
            return "RSA-PKCS1-SHA256";
    }
    return "?";
}

std::optional<SignAlgorithm> parse_sign_algorithm(std::string_view name) {
    for (auto s : {SignAlgorithm::EcdsaSha256, SignAlgorithm::EcdsaSha384,
                   SignAlgorithm::RsaPssSha256, SignAlgorithm::RsaPkcs1Sha256})
        if (sign_algorithm_name(s) == name) return s;
    return std::nullopt;
}

bool sign_fits(SignAlgorithm s, Algorithm a) {
    const auto f = info(a).family;
    switch (s) {
        case SignAlgorithm::EcdsaSha256:
        case SignAlgorithm::EcdsaSha384:
            return f == KeyFamily::Ec;
        case SignAlgorithm::RsaPssSha256:
        case SignAlgorithm::RsaPkcs1Sha256:
            return f == KeyFamily::Rsa;
    }
    return false;
}

}  // namespace kms::core
