// Cryptographic use cases on managed keys: MAC, encrypt/decrypt, sign/verify, random. Each
// checks role, lifecycle state and usage mask, picks the version, asks the HSM, and counts
// the use (counters are flushed to the store in the background).
//
// Roles: admin, key-officer or plugin (random: any authenticated principal). Plugins are also
// held to their policy (services/policies.hpp): the key and the operation must be named in it,
// random needs "random"; otherwise Forbidden.
// Versions: protecting operations (encrypt, mac, sign) always use the newest version;
// processing ones (decrypt, mac verify, verify) take a version (default the newest).
#pragma once

#include <optional>

#include "services/context.hpp"

namespace kms::core {

struct MacResult {
    Bytes mac;
    std::uint32_t version = 0;
};
struct CheckResult {
    bool valid = false;
    std::uint32_t version = 0;
};
struct EncryptResult {
    Bytes ciphertext;
    Bytes iv;
    std::uint32_t version = 0;
};
struct DecryptResult {
    Bytes plaintext;
    std::uint32_t version = 0;
};
struct SignResult {
    Bytes signature;
    std::uint32_t version = 0;
};

class KeyOperations {
  public:
    explicit KeyOperations(ServiceContext& ctx) : m_ctx(ctx) {}

    MacResult mac(const Principal& caller, std::string_view id, MacAlgorithm alg, ByteView data);
    /// @p mac may be the full MAC or a left-truncated prefix of at least 4 bytes (payment
    /// systems often send 4 bytes of a retail MAC); compared in constant time.
    CheckResult verify_mac(const Principal& caller, std::string_view id, MacAlgorithm alg,
                           ByteView data, ByteView mac, std::optional<std::uint32_t> version);
    /// @p iv empty: drawn from the HSM. @p aad only with AES-GCM.
    EncryptResult encrypt(const Principal& caller, std::string_view id, CipherMode mode,
                          ByteView plaintext, ByteView iv, ByteView aad);
    DecryptResult decrypt(const Principal& caller, std::string_view id, CipherMode mode,
                          ByteView ciphertext, ByteView iv, ByteView aad,
                          std::optional<std::uint32_t> version);
    SignResult sign(const Principal& caller, std::string_view id, SignAlgorithm alg, ByteView data);
    CheckResult verify(const Principal& caller, std::string_view id, SignAlgorithm alg,
                       ByteView data, ByteView signature, std::optional<std::uint32_t> version);
    Bytes random(const Principal& caller, std::size_t length);

  private:
    struct Use {
        std::shared_ptr<const KeyRecord> record;
        const KeyVersion* version;
        KeyRef ref() const;
    };
    Use prepare(const Principal& caller, std::string_view id, Operation op,
                std::optional<std::uint32_t> version);
    ServiceContext& m_ctx;
};

}  // namespace kms::core
