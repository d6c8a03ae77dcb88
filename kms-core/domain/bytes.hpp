// Byte strings and hex, the currency of every crypto call. Pure C++.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kms {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView as_view(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

/// Upper-case hex of @p data.
std::string to_hex(ByteView data);

/// Decodes upper- or lower-case hex. Throws kms::Error(InvalidArgument) naming @p field when
/// the text has an odd length or a non-hex character. Whitespace is not accepted.
Bytes from_hex(std::string_view text, std::string_view field = "hex");

/// Constant-time equality: the running time depends only on the lengths.
bool equal_ct(ByteView a, ByteView b) noexcept;

/// Big-endian append helpers used by the binary encodings (key blocks, audit, store).
void put_u8(Bytes& out, std::uint8_t v);
void put_u32(Bytes& out, std::uint32_t v);
void put_u64(Bytes& out, std::uint64_t v);
/// A u32 length followed by the bytes.
void put_lv(Bytes& out, ByteView v);
void put_lv(Bytes& out, std::string_view v);

/// Reads what the put_* helpers wrote; every read is bounds-checked and throws
/// kms::Error(Integrity) on truncated input, so a corrupt record never reads out of range.
class ByteReader {
  public:
    explicit ByteReader(ByteView data) : m_data(data) {}
    std::uint8_t u8();
    std::uint32_t u32();
    std::uint64_t u64();
    Bytes lv_bytes();
    std::string lv_string();
    bool at_end() const { return m_pos == m_data.size(); }
    std::size_t remaining() const { return m_data.size() - m_pos; }

  private:
    ByteView take(std::size_t n);
    ByteView m_data;
    std::size_t m_pos = 0;
};

}  // namespace kms
