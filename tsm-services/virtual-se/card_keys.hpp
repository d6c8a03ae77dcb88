// The Issuer Security Domain's keys, as key sets (key version number, key identifiers), and the
// card side of PUT KEY (GPCS 2.2.1 §11.8; Amendment D §7.2 for AES keys): decrypt each key under
// the DEK, check its KCV, store the set, answer key version || KCVs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "domain/apdu.hpp"
#include "domain/bytes.hpp"
#include "domain/secure_bytes.hpp"
#include "secure_channel.hpp"

namespace kms::tsm::vse {

/// Key types of GPCS 2.2.1 Table 11-16 the card stores.
enum class CardKeyType : std::uint8_t { Des = 0x80, Aes = 0x88 };

struct CardKey {
    CardKeyType type = CardKeyType::Aes;
    SecureBytes value;  ///< clear: this is the card
};

/// Key identifiers of the secure channel keys within a key set (GPCS 2.2.1 §E.1.2, Amd D §5.1).
inline constexpr std::uint8_t kKeyIdEnc = 1;
inline constexpr std::uint8_t kKeyIdMac = 2;
inline constexpr std::uint8_t kKeyIdDek = 3;

/// Key sets by key version number (1..127), each a map of key identifier to key. Not
/// thread-safe, like the card that owns it.
class CardKeyStore {
  public:
    void put(std::uint8_t version, std::uint8_t id, CardKey key);
    /// nullptr when the version or the identifier is not there.
    const CardKey* find(std::uint8_t version, std::uint8_t id) const;
    bool has_version(std::uint8_t version) const { return m_sets.count(version) != 0; }
    /// Key versions in ascending order.
    std::vector<std::uint8_t> versions() const;
    /// Every key set, by version then key identifier (to save the card's state).
    const std::map<std::uint8_t, std::map<std::uint8_t, CardKey>>& sets() const noexcept {
        return m_sets;
    }

    /// The key information template of GET DATA tag E0 (GPCS 2.2.1 §11.3.3.1, Table 11-29):
    /// E0 L, then for each key C0 04 key id | key version | key type | key length, ordered by
    /// version then identifier.
    Bytes key_information_template() const;

    /// Processes a plain PUT KEY command (GPCS 2.2.1 §11.8.2): P1 the key version to replace (00:
    /// a new key set), P2 the first key identifier (b8: several keys), data new version || key
    /// data fields ('80' DES: L | E(key) | KCV; '88' AES: L | key length | E(key) | KCV). Each
    /// key is decrypted by @p channel's DEK and checked against its KCV when one is sent (DES
    /// E(K, 0^8), AES E(K, 01^16)). The store changes only when every key is good. Returns the
    /// response: new version || the 3-byte KCV of each key, 9000; or a bare status word: 6A86
    /// (P1 or P2), 6A80 (malformed data, a new version that already exists), 6A88 (P1 names no
    /// key set), 9484 (unknown key type or length), 9485 (a KCV that does not match).
    core::ResponseApdu put_key(const core::CommandApdu& command, const CardSecureChannel& channel);

  private:
    std::map<std::uint8_t, std::map<std::uint8_t, CardKey>> m_sets;
};

/// The 3-byte KCV of @p key as PUT KEY carries it: DES E(K, 0^8), AES E(K, 01^16).
Bytes card_key_kcv(const CardKey& key);

}  // namespace kms::tsm::vse
