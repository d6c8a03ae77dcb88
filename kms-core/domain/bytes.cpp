// Hex codec, constant-time compare and the big-endian record helpers.
#include "bytes.hpp"

#include "error.hpp"

namespace kms {

std::string to_hex(ByteView data) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    out.resize(data.size() * 2);
    for (std::size_t i = 0; i < data.size(); ++i) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0x0F];
    }
    return out;
}

namespace {
int nibble(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

Bytes from_hex(std::string_view text, std::string_view field) {
    if (text.size() % 2 != 0)
        throw Error(ErrorCode::InvalidArgument,
                    std::string(field) + ": hex must have an even number of digits");
    Bytes out(text.size() / 2);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const int hi = nibble(text[2 * i]);
        const int lo = nibble(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            throw Error(ErrorCode::InvalidArgument, std::string(field) + ": not a hex string");
        out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
    }
    return out;
}

bool equal_ct(ByteView a, ByteView b) noexcept {
    if (a.size() != b.size()) return false;
    volatile std::uint8_t diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff = diff | (a[i] ^ b[i]);
    return diff == 0;
}

void put_u8(Bytes& out, std::uint8_t v) {
    out.push_back(v);
}
void put_u32(Bytes& out, std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}
void put_u64(Bytes& out, std::uint64_t v) {
    for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}
void put_lv(Bytes& out, ByteView v) {
    put_u32(out, static_cast<std::uint32_t>(v.size()));
    out.insert(out.end(), v.begin(), v.end());
}
void put_lv(Bytes& out, std::string_view v) {
    put_lv(out, as_view(v));
}

ByteView ByteReader::take(std::size_t n) {
    if (n > remaining()) throw Error(ErrorCode::Integrity, "truncated record");
    ByteView v = m_data.subspan(m_pos, n);
    m_pos += n;
    return v;
}
std::uint8_t ByteReader::u8() {
    return take(1)[0];
}
std::uint32_t ByteReader::u32() {
    ByteView v = take(4);
    return (std::uint32_t{v[0]} << 24) | (std::uint32_t{v[1]} << 16) | (std::uint32_t{v[2]} << 8) |
           v[3];
}
std::uint64_t ByteReader::u64() {
    const std::uint64_t hi = u32();
    return (hi << 32) | u32();
}
Bytes ByteReader::lv_bytes() {
    ByteView v = take(u32());
    return Bytes(v.begin(), v.end());
}
std::string ByteReader::lv_string() {
    ByteView v = take(u32());
    return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

}  // namespace kms
