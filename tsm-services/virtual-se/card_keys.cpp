// Key sets and the card side of PUT KEY (see card_keys.hpp).
#include "card_keys.hpp"

#include "crypto/host_crypto.hpp"
#include "status_words.hpp"

namespace kms::tsm::vse {

using core::CommandApdu;
using core::ResponseApdu;

namespace {

constexpr std::size_t kKcvLength = 3;

ResponseApdu status(std::uint16_t s) {
    return ResponseApdu{{}, s};
}

/// One key of a PUT KEY data field, decrypted, before the store takes it.
struct ParsedKey {
    CardKey key;
    Bytes kcv;
};

/// BER length of the template (GPCS uses definite short or long form).
void append_length(Bytes& out, std::size_t n) {
    if (n < 0x80) {
        out.push_back(static_cast<std::uint8_t>(n));
    } else if (n <= 0xFF) {
        out.push_back(0x81);
        out.push_back(static_cast<std::uint8_t>(n));
    } else {
        out.push_back(0x82);
        out.push_back(static_cast<std::uint8_t>(n >> 8));
        out.push_back(static_cast<std::uint8_t>(n));
    }
}

}  // namespace

Bytes card_key_kcv(const CardKey& key) {
    return key.type == CardKeyType::Des ? crypto::kcv_des3(key.value.view())
                                        : crypto::kcv_aes_gp(key.value.view());
}

void CardKeyStore::put(std::uint8_t version, std::uint8_t id, CardKey key) {
    m_sets[version][id] = std::move(key);
}

const CardKey* CardKeyStore::find(std::uint8_t version, std::uint8_t id) const {
    const auto set = m_sets.find(version);
    if (set == m_sets.end()) return nullptr;
    const auto key = set->second.find(id);
    return key == set->second.end() ? nullptr : &key->second;
}

std::vector<std::uint8_t> CardKeyStore::versions() const {
    std::vector<std::uint8_t> out;
    for (const auto& [version, keys] : m_sets) out.push_back(version);
    return out;
}

Bytes CardKeyStore::key_information_template() const {
    Bytes body;
    for (const auto& [version, keys] : m_sets)
        for (const auto& [id, key] : keys)
            body.insert(body.end(), {0xC0, 0x04, id, version, static_cast<std::uint8_t>(key.type),
                                     static_cast<std::uint8_t>(key.value.size())});
    Bytes out{0xE0};
    append_length(out, body.size());
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

ResponseApdu CardKeyStore::put_key(const CommandApdu& c, const CardSecureChannel& channel) {
    const std::uint8_t replace = c.p1;
    const std::uint8_t first_id = c.p2 & 0x7F;
    const bool several = (c.p2 & 0x80) != 0;
    if (replace > 0x7F || first_id == 0) return status(sw::kIncorrectP1P2);
    if (c.data.empty()) return status(sw::kWrongData);
    const std::uint8_t new_version = c.data[0];
    if (new_version == 0 || new_version > 0x7F) return status(sw::kWrongData);

    std::vector<ParsedKey> parsed;
    const ByteView data(c.data);
    std::size_t pos = 1;
    const std::size_t block = channel.dek_block_size();
    while (pos < data.size()) {
        if (data.size() - pos < 2) return status(sw::kWrongData);
        const std::uint8_t type = data[pos];
        const std::size_t len = data[pos + 1];
        pos += 2;
        if (data.size() - pos < len + 1) return status(sw::kWrongData);
        const ByteView field = data.subspan(pos, len);
        pos += len;
        std::size_t key_length = 0;
        ByteView encrypted;
        ParsedKey k;
        if (type == static_cast<std::uint8_t>(CardKeyType::Des)) {
            // §11.8.2.3: two- or three-key TDEA, the whole value encrypted.
            if (len != 16 && len != 24) return status(sw::kAlgorithmNotSupported);
            k.key.type = CardKeyType::Des;
            key_length = len;
            encrypted = field;
        } else if (type == static_cast<std::uint8_t>(CardKeyType::Aes)) {
            // Amd D §7.2 (Table 7-7 of GPCS 2.3): L = 1 + n, the clear key length, then the key
            // padded to whole blocks and encrypted.
            if (len < 1) return status(sw::kWrongData);
            key_length = field[0];
            if (key_length != 16 && key_length != 24 && key_length != 32)
                return status(sw::kAlgorithmNotSupported);
            k.key.type = CardKeyType::Aes;
            encrypted = field.subspan(1);
        } else {
            return status(sw::kAlgorithmNotSupported);
        }
        if (encrypted.size() < key_length || encrypted.size() % block != 0)
            return status(sw::kWrongData);
        auto clear = channel.decrypt_with_dek(encrypted);
        if (!clear) return status(sw::kWrongData);
        k.key.value = SecureBytes(clear->view().first(key_length));
        const std::size_t kcv_len = data[pos++];
        if ((kcv_len != 0 && kcv_len != kKcvLength) || data.size() - pos < kcv_len)
            return status(sw::kWrongData);
        k.kcv = card_key_kcv(k.key);
        if (kcv_len == kKcvLength && !equal_ct(k.kcv, data.subspan(pos, kKcvLength)))
            return status(sw::kInvalidKeyCheckValue);
        pos += kcv_len;
        parsed.push_back(std::move(k));
    }
    if (parsed.empty() || (!several && parsed.size() > 1)) return status(sw::kWrongData);
    if (first_id + parsed.size() - 1 > 0x7F) return status(sw::kWrongData);

    // §11.8.2.2: P1 00 adds a key set; otherwise P1 names the key set to replace, which takes
    // the new version number.
    if (replace == 0) {
        if (has_version(new_version)) return status(sw::kWrongData);
    } else {
        if (!has_version(replace)) return status(sw::kReferencedDataNotFound);
        if (new_version != replace && has_version(new_version)) return status(sw::kWrongData);
        if (new_version != replace) {
            auto node = m_sets.extract(replace);
            node.key() = new_version;
            m_sets.insert(std::move(node));
        }
    }
    ResponseApdu out{{new_version}, sw::kOk};
    for (std::size_t n = 0; n < parsed.size(); ++n) {
        out.data.insert(out.data.end(), parsed[n].kcv.begin(), parsed[n].kcv.end());
        put(new_version, static_cast<std::uint8_t>(first_id + n), std::move(parsed[n].key));
    }
    return out;
}

}  // namespace kms::tsm::vse
