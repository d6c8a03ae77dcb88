// DistributionService: export a key wrapped under a trusted KEK (RFC 3394 / RFC 5649 AES key
// wrap, TR-31 / ANSI X9.143 key block) or to a recipient's RSA public key (RSA-OAEP), and
// import keys the same ways, plus public keys (SPKI) of outside parties (DESIGN §5).
//
// The service checks the metadata (roles, states, usage, exportable, trusted, algorithm
// families) and answers a clear 4xx; the HSM adapter checks exportable and trusted again from
// the sealed key blocks, so a record edited in the store cannot let a key out. The one
// exception is RSA-OAEP to an imported public key: such a record has no sealed block, so its
// "trusted" flag is the service's check only.
//
// Roles: admin or key-officer. Every export and import appends its audit record in the store
// before the answer is returned (fail closed); audit records name keys, KEK and format, never
// wrapped or clear bytes.
// Errors: kms::Error: InvalidArgument (400), VerificationFailed (400: the wrap's integrity
// check, a TR-31 MAC or a KCV), Unsupported (400), Forbidden (403: role, not exportable, not a
// trusted KEK), UsageNotPermitted (403), NotFound (404), Conflict (409: name taken),
// WrongState (409), Hsm*/StoreError.
// Thread safety: stateless; every method may be called from any thread.
#pragma once

#include <optional>
#include <string>

#include "services/context.hpp"

namespace kms::core {

enum class DistributionFormat : std::uint8_t {
    AesKw = 1,      ///< "AES-KW": RFC 3394 under an AES KEK
    AesKwp,         ///< "AES-KWP": RFC 5649 under an AES KEK
    RsaOaepSha256,  ///< "RSA-OAEP-SHA256": RFC 8017 RSAES-OAEP, SHA-256, MGF1-SHA-256, no label
    Tr31,           ///< "TR-31": ANSI X9.143 key block, version D (AES KBPK) or B (TDES KBPK)
    Spki,           ///< "SPKI": import of a public key only
};
std::string_view distribution_format_name(DistributionFormat f);
std::optional<DistributionFormat> parse_distribution_format(std::string_view name);

struct ExportRequest {
    std::string key_id;
    DistributionFormat format = DistributionFormat::AesKwp;
    std::string kek_id;
    char tr31_version = 'D';                 ///< 'D' or 'B'
    std::optional<char> tr31_exportability;  ///< 'N', 'E' or 'S'; default 'N'
    std::string tr31_key_version = "00";     ///< 2 characters
};

struct ExportResult {
    std::string key_id;
    std::uint32_t version = 0;
    Algorithm algorithm = Algorithm::Aes256;
    Bytes kcv;
    DistributionFormat format = DistributionFormat::AesKwp;
    std::string kek_id;
    Bytes wrapped;          ///< AES-KW, AES-KWP, RSA-OAEP
    std::string key_block;  ///< TR-31
};

struct ImportRequest {
    std::string name;
    Algorithm algorithm = Algorithm::Aes256;
    UsageMask usage;
    DistributionFormat format = DistributionFormat::AesKwp;
    std::string kek_id;        ///< empty for SPKI
    Bytes wrapped;             ///< AES-KW, AES-KWP, RSA-OAEP
    std::string key_block;     ///< TR-31
    Bytes public_key;          ///< SPKI: DER SubjectPublicKeyInfo
    std::optional<Bytes> kcv;  ///< checked against the imported key's KCV
    bool exportable = false;
    bool trusted = false;
    bool activate = true;
};

class DistributionService {
  public:
    explicit DistributionService(ServiceContext& ctx) : m_ctx(ctx) {}

    /// Wraps the current version of a symmetric key (Active or Deactivated, exportable) under
    /// the KEK (trusted, Active, usage wrap; AES for AES-KW/KWP/TR-31 D, DES3 for TR-31 B, RSA
    /// for RSA-OAEP-SHA256).
    ExportResult export_key(const Principal& caller, const ExportRequest& request);
    /// Imports a key (new id, version 1) unwrapped under the KEK (Active, usage unwrap), or a
    /// public key only (SPKI: usage verify and/or wrap, no KEK). The TR-31 header is parsed
    /// and checked against the request before the HSM is asked.
    KeyRecord import_key(const Principal& caller, const ImportRequest& request);

  private:
    ServiceContext& m_ctx;
};

}  // namespace kms::core
