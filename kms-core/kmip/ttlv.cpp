// TTLV encoder and strict decoder (KMIP 1.4 §9.1).
#include "kmip/ttlv.hpp"

#include <cstdio>

namespace kms::kmip {

namespace {

std::uint32_t get_u32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}
std::uint64_t get_u64(const std::uint8_t* p) {
    return (std::uint64_t{get_u32(p)} << 32) | get_u32(p + 4);
}
void put_u32(Octets& out, std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}
void put_u64(Octets& out, std::uint64_t v) {
    put_u32(out, static_cast<std::uint32_t>(v >> 32));
    put_u32(out, static_cast<std::uint32_t>(v));
}
std::size_t padded(std::size_t n) {
    return (n + 7) / 8 * 8;
}

std::string hex_tag(std::uint32_t tag) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%06X", tag);
    return buf;
}

bool known_type(std::uint8_t t) {
    return t >= 0x01 && t <= 0x0B;
}

class Decoder {
  public:
    Decoder(OctetView data, const DecodeLimits& limits) : m_data(data), m_limits(limits) {}

    /// Decodes the item at m_data[pos..end) and advances pos past its padded value.
    Item item(std::size_t& pos, std::size_t end, std::size_t depth) {
        if (++m_items > m_limits.max_items)
            throw TtlvError(TtlvFault::TooMany, "more than " + std::to_string(m_limits.max_items) +
                                                    " items in one message");
        if (end - pos < kHeaderSize)
            throw TtlvError(TtlvFault::Truncated, "item header past the end of the message");
        const std::uint8_t* h = m_data.data() + pos;
        Item it;
        it.tag = (std::uint32_t{h[0]} << 16) | (std::uint32_t{h[1]} << 8) | h[2];
        if (!known_type(h[3]))
            throw TtlvError(TtlvFault::BadType,
                            "tag " + hex_tag(it.tag) + ": unknown type " + std::to_string(h[3]));
        it.type = static_cast<ItemType>(h[3]);
        const std::size_t len = get_u32(h + 4);
        pos += kHeaderSize;
        const std::size_t room = end - pos;
        // Big Integer values are already a multiple of 8 (§9.1.1.4); the others pad up to one.
        const std::size_t plen = padded(len);
        if (len > room || plen > room)
            throw TtlvError(TtlvFault::Truncated, "tag " + hex_tag(it.tag) + ": length " +
                                                      std::to_string(len) +
                                                      " runs past the end of its enclosing item");
        const std::uint8_t* v = m_data.data() + pos;
        auto need = [&](std::size_t n) {
            if (len != n)
                throw TtlvError(TtlvFault::BadLength, "tag " + hex_tag(it.tag) + ": length " +
                                                          std::to_string(len) + " for a " +
                                                          std::to_string(n) + "-byte type");
        };
        switch (it.type) {
            case ItemType::Structure: {
                if (len % 8 != 0)
                    throw TtlvError(TtlvFault::BadLength,
                                    "tag " + hex_tag(it.tag) + ": structure length " +
                                        std::to_string(len) + " is not a multiple of 8");
                if (depth + 1 > m_limits.max_depth)
                    throw TtlvError(TtlvFault::TooDeep, "structures nested deeper than " +
                                                            std::to_string(m_limits.max_depth));
                std::size_t inner = pos;
                const std::size_t inner_end = pos + len;
                while (inner < inner_end) it.children.push_back(item(inner, inner_end, depth + 1));
                break;
            }
            case ItemType::Integer:
            case ItemType::Enumeration:
            case ItemType::Interval:
                need(4);
                it.number = it.type == ItemType::Integer ? static_cast<std::int32_t>(get_u32(v))
                                                         : static_cast<std::int64_t>(get_u32(v));
                break;
            case ItemType::LongInteger:
            case ItemType::DateTime:
            case ItemType::DateTimeExtended:
                need(8);
                it.number = static_cast<std::int64_t>(get_u64(v));
                break;
            case ItemType::Boolean: {
                need(8);
                const std::uint64_t b = get_u64(v);
                if (b > 1)
                    throw TtlvError(TtlvFault::BadValue,
                                    "tag " + hex_tag(it.tag) + ": a Boolean must be 0 or 1");
                it.number = static_cast<std::int64_t>(b);
                break;
            }
            case ItemType::BigInteger:
                if (len == 0 || len % 8 != 0)
                    throw TtlvError(TtlvFault::BadLength,
                                    "tag " + hex_tag(it.tag) +
                                        ": a Big Integer's length must be a multiple of 8");
                it.bytes.assign(v, v + len);
                break;
            case ItemType::TextString:
            case ItemType::ByteString:
                it.bytes.assign(v, v + len);
                break;
        }
        for (std::size_t i = len; i < plen; ++i)
            if (v[i] != 0)
                throw TtlvError(TtlvFault::BadPadding,
                                "tag " + hex_tag(it.tag) + ": non-zero padding byte");
        pos += plen;
        return it;
    }

  private:
    OctetView m_data;
    const DecodeLimits& m_limits;
    std::size_t m_items = 0;
};

void encode_into(Octets& out, const Item& it) {
    if (it.tag > 0xFFFFFF) throw std::invalid_argument("TTLV tag over 24 bits");
    out.push_back(static_cast<std::uint8_t>(it.tag >> 16));
    out.push_back(static_cast<std::uint8_t>(it.tag >> 8));
    out.push_back(static_cast<std::uint8_t>(it.tag));
    out.push_back(static_cast<std::uint8_t>(it.type));
    const std::size_t len_at = out.size();
    put_u32(out, 0);
    const std::size_t start = out.size();
    switch (it.type) {
        case ItemType::Structure:
            for (const auto& c : it.children) encode_into(out, c);
            break;
        case ItemType::Integer:
        case ItemType::Enumeration:
        case ItemType::Interval:
            put_u32(out, static_cast<std::uint32_t>(it.number));
            break;
        case ItemType::LongInteger:
        case ItemType::DateTime:
        case ItemType::DateTimeExtended:
        case ItemType::Boolean:
            put_u64(out, static_cast<std::uint64_t>(it.number));
            break;
        case ItemType::BigInteger:
            if (it.bytes.empty() || it.bytes.size() % 8 != 0)
                throw std::invalid_argument("Big Integer length must be a multiple of 8");
            out.insert(out.end(), it.bytes.begin(), it.bytes.end());
            break;
        case ItemType::TextString:
        case ItemType::ByteString:
            out.insert(out.end(), it.bytes.begin(), it.bytes.end());
            break;
    }
    const std::size_t len = out.size() - start;
    if (len > 0xFFFFFFFFu) throw std::invalid_argument("TTLV value too long");
    for (int i = 0; i < 4; ++i) out[len_at + i] = static_cast<std::uint8_t>(len >> (24 - 8 * i));
    out.resize(start + padded(len), 0);
}

}  // namespace

Item Item::structure(std::uint32_t tag, std::vector<Item> children) {
    Item i;
    i.tag = tag;
    i.type = ItemType::Structure;
    i.children = std::move(children);
    return i;
}
Item Item::integer(std::uint32_t tag, std::int32_t v) {
    Item i;
    i.tag = tag;
    i.type = ItemType::Integer;
    i.number = v;
    return i;
}
Item Item::long_integer(std::uint32_t tag, std::int64_t v) {
    Item i;
    i.tag = tag;
    i.type = ItemType::LongInteger;
    i.number = v;
    return i;
}
Item Item::enumeration(std::uint32_t tag, std::uint32_t v) {
    Item i;
    i.tag = tag;
    i.type = ItemType::Enumeration;
    i.number = v;
    return i;
}
Item Item::boolean(std::uint32_t tag, bool v) {
    Item i;
    i.tag = tag;
    i.type = ItemType::Boolean;
    i.number = v ? 1 : 0;
    return i;
}
Item Item::text(std::uint32_t tag, std::string_view v) {
    Item i;
    i.tag = tag;
    i.type = ItemType::TextString;
    i.bytes.assign(v.begin(), v.end());
    return i;
}
Item Item::byte_string(std::uint32_t tag, OctetView v) {
    Item i;
    i.tag = tag;
    i.type = ItemType::ByteString;
    i.bytes.assign(v.begin(), v.end());
    return i;
}
Item Item::date_time(std::uint32_t tag, std::int64_t seconds) {
    Item i;
    i.tag = tag;
    i.type = ItemType::DateTime;
    i.number = seconds;
    return i;
}
Item Item::interval(std::uint32_t tag, std::uint32_t seconds) {
    Item i;
    i.tag = tag;
    i.type = ItemType::Interval;
    i.number = seconds;
    return i;
}

const Item* Item::find(std::uint32_t t) const {
    for (const auto& c : children)
        if (c.tag == t) return &c;
    return nullptr;
}

std::vector<const Item*> Item::find_all(std::uint32_t t) const {
    std::vector<const Item*> out;
    for (const auto& c : children)
        if (c.tag == t) out.push_back(&c);
    return out;
}

Item& Item::add(Item child) {
    children.push_back(std::move(child));
    return *this;
}

Item decode(OctetView data, const DecodeLimits& limits) {
    if (data.size() > limits.max_message)
        throw TtlvError(TtlvFault::TooLarge, "message of " + std::to_string(data.size()) +
                                                 " bytes is over the limit of " +
                                                 std::to_string(limits.max_message));
    Decoder d(data, limits);
    std::size_t pos = 0;
    Item it = d.item(pos, data.size(), 0);
    if (pos != data.size())
        throw TtlvError(TtlvFault::Truncated, "trailing bytes after the message");
    return it;
}

Octets encode(const Item& item) {
    Octets out;
    encode_into(out, item);
    return out;
}

std::size_t framed_size(OctetView header, std::size_t max_message) {
    if (header.size() < kHeaderSize) throw TtlvError(TtlvFault::Truncated, "short TTLV header");
    if (header[3] != static_cast<std::uint8_t>(ItemType::Structure))
        throw TtlvError(TtlvFault::BadType, "a KMIP message must be a Structure");
    const std::size_t len = get_u32(header.data() + 4);
    if (len % 8 != 0)
        throw TtlvError(TtlvFault::BadLength, "message length is not a multiple of 8");
    if (len > max_message - kHeaderSize)
        throw TtlvError(TtlvFault::TooLarge, "message of " + std::to_string(len + kHeaderSize) +
                                                 " bytes is over the limit of " +
                                                 std::to_string(max_message));
    return len + kHeaderSize;
}

std::string dump(const Item& it, int indent) {
    std::string s(static_cast<std::size_t>(indent) * 2, ' ');
    s += hex_tag(it.tag) + " ";
    static const char* names[] = {"?",          "Structure",   "Integer",  "LongInteger",
                                  "BigInteger", "Enumeration", "Boolean",  "TextString",
                                  "ByteString", "DateTime",    "Interval", "DateTimeExtended"};
    s += names[static_cast<std::size_t>(it.type)];
    switch (it.type) {
        case ItemType::Structure:
            s += "\n";
            for (const auto& c : it.children) s += dump(c, indent + 1);
            return s;
        case ItemType::TextString:
            s += " \"" + it.text_value() + "\"";
            break;
        case ItemType::ByteString:
        case ItemType::BigInteger: {
            s += " ";
            char b[3];
            for (auto c : it.bytes) {
                std::snprintf(b, sizeof b, "%02X", c);
                s += b;
            }
            break;
        }
        default:
            s += " " + std::to_string(it.number);
    }
    return s + "\n";
}

}  // namespace kms::kmip
