// Key block encoding (see key_block.hpp for the layout).
#include "key_block.hpp"

#include "error.hpp"

namespace kms::core {

namespace {
constexpr std::string_view kMagic = "KMSKB";
constexpr std::uint8_t kFormat = 1;
}  // namespace

Bytes sealed_part(const KeyBlock& b) {
    const KeyBlockHeader& h = b.header;
    Bytes out;
    out.reserve(64 + h.key_id.size() + b.wrapped.size() + b.public_key.size());
    for (char c : kMagic) out.push_back(static_cast<std::uint8_t>(c));
    put_u8(out, kFormat);
    put_lv(out, h.key_id);
    put_u32(out, h.version);
    put_u8(out, static_cast<std::uint8_t>(h.algorithm));
    put_u32(out, h.usage.bits());
    put_u8(out, static_cast<std::uint8_t>((h.exportable ? 1 : 0) | (h.trusted ? 2 : 0)));
    put_lv(out, b.wrapped);
    put_lv(out, b.public_key);
    return out;
}

Bytes encode_key_block(const KeyBlock& b) {
    Bytes out = sealed_part(b);
    put_lv(out, b.seal);
    return out;
}

KeyBlock decode_key_block(ByteView encoded) {
    if (encoded.size() < kMagic.size() + 1 ||
        std::string_view(reinterpret_cast<const char*>(encoded.data()), kMagic.size()) != kMagic)
        throw Error(ErrorCode::Integrity, "key block: bad magic");
    ByteReader r(encoded.subspan(kMagic.size()));
    if (r.u8() != kFormat) throw Error(ErrorCode::Integrity, "key block: unknown format");
    KeyBlock b;
    b.header.key_id = r.lv_string();
    b.header.version = r.u32();
    const auto alg = r.u8();
    if (alg < 1 || alg > static_cast<std::uint8_t>(Algorithm::Rsa3072))
        throw Error(ErrorCode::Integrity, "key block: unknown algorithm");
    b.header.algorithm = static_cast<Algorithm>(alg);
    b.header.usage = UsageMask(r.u32());
    const auto flags = r.u8();
    if (flags > 3) throw Error(ErrorCode::Integrity, "key block: unknown flags");
    b.header.exportable = (flags & 1) != 0;
    b.header.trusted = (flags & 2) != 0;
    b.wrapped = r.lv_bytes();
    b.public_key = r.lv_bytes();
    b.seal = r.lv_bytes();
    if (!r.at_end()) throw Error(ErrorCode::Integrity, "key block: trailing bytes");
    return b;
}

}  // namespace kms::core
