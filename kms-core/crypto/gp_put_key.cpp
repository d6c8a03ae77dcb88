// GlobalPlatform PUT KEY encoding (see gp_put_key.hpp).
#include "crypto/gp_put_key.hpp"

#include <string>

#include "domain/error.hpp"

namespace kms::crypto::gp {

namespace {
constexpr std::uint8_t kClaGp = 0x80;
constexpr std::uint8_t kInsPutKey = 0xD8;
constexpr std::size_t kKcvLength = 3;
}  // namespace

Bytes encode_put_key_component(const PutKeyComponent& c) {
    if (c.kcv.size() != kKcvLength)
        throw Error(ErrorCode::InvalidArgument, "PUT KEY: a KCV has 3 bytes, got " +
                                                    std::to_string(c.kcv.size()));
    Bytes out;
    out.reserve(c.encrypted.size() + 7);
    if (c.type == KeyType::Des) {
        if (c.key_length != 16 || c.encrypted.size() != 16)
            throw Error(ErrorCode::InvalidArgument,
                        "PUT KEY: a DES key is 16 bytes, encrypted 16 bytes");
        out.push_back(static_cast<std::uint8_t>(KeyType::Des));
        out.push_back(16);
    } else {
        const std::size_t n = c.encrypted.size();
        if ((c.key_length != 16 && c.key_length != 24 && c.key_length != 32) || n % kAesBlock != 0 ||
            n < c.key_length || n + 1 > 0x7F)
            throw Error(ErrorCode::InvalidArgument,
                        "PUT KEY: an AES key of " + std::to_string(c.key_length) +
                            " bytes cannot be encrypted into " + std::to_string(n) + " bytes");
        out.push_back(static_cast<std::uint8_t>(KeyType::Aes));
        out.push_back(static_cast<std::uint8_t>(n + 1));
        out.push_back(c.key_length);
    }
    out.insert(out.end(), c.encrypted.begin(), c.encrypted.end());
    out.push_back(kKcvLength);
    out.insert(out.end(), c.kcv.begin(), c.kcv.end());
    return out;
}

CommandApdu put_key_command(std::uint8_t replace_version, std::uint8_t key_id,
                            std::uint8_t new_version, std::span<const PutKeyComponent> keys) {
    if (keys.empty() || keys.size() > 3)
        throw Error(ErrorCode::InvalidArgument, "PUT KEY: 1 to 3 keys per command, got " +
                                                    std::to_string(keys.size()));
    if (key_id < 1 || key_id > 0x7F)
        throw Error(ErrorCode::InvalidArgument, "PUT KEY: the key identifier must be 1..127");
    if (new_version < 1 || new_version > 0x7F)
        throw Error(ErrorCode::InvalidArgument, "PUT KEY: the new key version must be 1..127");
    if (replace_version > 0x7F)
        throw Error(ErrorCode::InvalidArgument, "PUT KEY: the key version to replace must be 0..127");
    CommandApdu c;
    c.cla = kClaGp;
    c.ins = kInsPutKey;
    c.p1 = replace_version;
    c.p2 = static_cast<std::uint8_t>(key_id | (keys.size() > 1 ? 0x80 : 0x00));
    c.data.push_back(new_version);
    for (const auto& k : keys) {
        const Bytes field = encode_put_key_component(k);
        c.data.insert(c.data.end(), field.begin(), field.end());
    }
    c.le = 256;
    return c;
}

PutKeyResponse parse_put_key_response(ByteView r, std::size_t keys) {
    if (r.size() < 2)
        throw Error(ErrorCode::InvalidArgument, "PUT KEY response: shorter than SW1 SW2");
    const std::uint8_t sw1 = r[r.size() - 2], sw2 = r[r.size() - 1];
    if (sw1 != 0x90 || sw2 != 0x00)
        throw Error(ErrorCode::InvalidArgument,
                    "PUT KEY response: the card answered SW " + to_hex(r.last(2)) + ", not 9000");
    const ByteView data = r.first(r.size() - 2);
    if (data.size() != 1 + kKcvLength * keys)
        throw Error(ErrorCode::InvalidArgument,
                    "PUT KEY response: " + std::to_string(data.size()) + " data bytes, expected " +
                        std::to_string(1 + kKcvLength * keys) + " (key version and " +
                        std::to_string(keys) + " KCVs)");
    PutKeyResponse out;
    out.key_version = data[0];
    for (std::size_t i = 0; i < keys; ++i) {
        const ByteView kcv = data.subspan(1 + i * kKcvLength, kKcvLength);
        out.kcvs.emplace_back(kcv.begin(), kcv.end());
    }
    return out;
}

}  // namespace kms::crypto::gp
