// KMIP's Tag-Type-Length-Value binary encoding (KMIP 1.4 §9.1, KMIP 2.0 §9.1): a tree of
// items, each a 3-byte tag, a 1-byte type, a 4-byte big-endian length and a value padded with
// zero bytes to a multiple of 8. Pure C++ (no Poco, OpenSSL or kms headers), so that the
// decoder can be unit-tested against the specification's examples and fuzzed on its own.
//
// Decoding is strict: every length must fit the buffer and the type (§9.1.1.4: Integer,
// Enumeration and Interval 4 bytes, Long Integer, Boolean and Date-Time 8, Big Integer a
// multiple of 8), padding bytes must be zero (§9.1.1.3), a Boolean is 0 or 1, nesting and the
// number of items are bounded. A violation throws TtlvError; nothing is ever read out of range.
// Thread safety: the functions are pure; an Item is a plain value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kms::kmip {

using Octets = std::vector<std::uint8_t>;
using OctetView = std::span<const std::uint8_t>;

/// Item types (KMIP 1.4 §9.1.1.2; DateTimeExtended is KMIP 2.0 §9.1.1.2).
enum class ItemType : std::uint8_t {
    Structure = 0x01,
    Integer = 0x02,
    LongInteger = 0x03,
    BigInteger = 0x04,
    Enumeration = 0x05,
    Boolean = 0x06,
    TextString = 0x07,
    ByteString = 0x08,
    DateTime = 0x09,
    Interval = 0x0A,
    DateTimeExtended = 0x0B,
};

/// One TTLV item. Which member holds the value depends on the type: number for Integer,
/// Long Integer, Enumeration, Boolean (0/1), Date-Time (seconds since the Unix epoch),
/// Interval and Date-Time Extended (microseconds); bytes for Text String (UTF-8), Byte String
/// and Big Integer (two's complement, big-endian, as encoded); children for Structure.
struct Item {
    std::uint32_t tag = 0;  ///< 24 bits, e.g. 0x420078 (Request Message)
    ItemType type = ItemType::Structure;
    std::int64_t number = 0;
    Octets bytes;
    std::vector<Item> children;

    static Item structure(std::uint32_t tag, std::vector<Item> children = {});
    static Item integer(std::uint32_t tag, std::int32_t v);
    static Item long_integer(std::uint32_t tag, std::int64_t v);
    static Item enumeration(std::uint32_t tag, std::uint32_t v);
    static Item boolean(std::uint32_t tag, bool v);
    static Item text(std::uint32_t tag, std::string_view v);
    static Item byte_string(std::uint32_t tag, OctetView v);
    static Item date_time(std::uint32_t tag, std::int64_t seconds);
    static Item interval(std::uint32_t tag, std::uint32_t seconds);

    /// The first child with @p tag, or nullptr (also for non-structures).
    const Item* find(std::uint32_t tag) const;
    /// Every child with @p tag, in order.
    std::vector<const Item*> find_all(std::uint32_t tag) const;
    std::string text_value() const { return std::string(bytes.begin(), bytes.end()); }
    /// Appends @p child and returns *this (for building responses).
    Item& add(Item child);
};

/// What a decoder refuses, so that the server can pick the KMIP Result Reason.
enum class TtlvFault {
    Truncated,   ///< a header or value runs past the buffer, or trailing bytes follow
    BadLength,   ///< a length that does not fit the type
    BadType,     ///< an unknown type byte
    BadPadding,  ///< a non-zero padding byte
    BadValue,    ///< a Boolean other than 0/1
    TooDeep,     ///< nesting past DecodeLimits::max_depth
    TooMany,     ///< more items than DecodeLimits::max_items
    TooLarge,    ///< the message is larger than DecodeLimits::max_message
};

class TtlvError : public std::runtime_error {
  public:
    TtlvError(TtlvFault fault, const std::string& message)
        : std::runtime_error(message), m_fault(fault) {}
    TtlvFault fault() const noexcept { return m_fault; }

  private:
    TtlvFault m_fault;
};

struct DecodeLimits {
    std::size_t max_depth = 32;          ///< structures inside structures
    std::size_t max_items = 100000;      ///< items in the whole message
    std::size_t max_message = 1u << 20;  ///< bytes of the whole message (header included)
};

/// Decodes exactly one item filling all of @p data (no trailing bytes). Throws TtlvError.
Item decode(OctetView data, const DecodeLimits& limits = {});

/// Encodes @p item (lengths computed, padding zero). Throws std::invalid_argument for a tag
/// over 24 bits or a value that cannot be encoded in its type.
Octets encode(const Item& item);

/// Length of a TTLV header: tag (3), type (1), length (4).
inline constexpr std::size_t kHeaderSize = 8;
/// The total size (header + padded value) of the item whose first 8 bytes are @p header, for
/// framing a stream: read 8 bytes, then the rest. Throws TtlvError(TooLarge) past
/// @p max_message, and TtlvError(BadType) when the first item is not a Structure (a KMIP
/// message always is).
std::size_t framed_size(OctetView header, std::size_t max_message);

/// Human-readable dump (one item per line, indented), for tests and debugging. Byte strings
/// are shown as hex: never call it on a message that may carry key material in logs.
std::string dump(const Item& item, int indent = 0);

}  // namespace kms::kmip
