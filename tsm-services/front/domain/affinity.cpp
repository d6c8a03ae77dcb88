// The operation affinity records' codec and ids (affinity.hpp).
#include "affinity.hpp"

#include <charconv>
#include <vector>

namespace kms::tsm::front {
namespace {

constexpr const char* kHeader = "front-op/1\n";

void field(std::string& out, const std::string& value) {
    out += std::to_string(value.size());
    out += ':';
    out += value;
    out += '\n';
}

/// Reads one "<len>:<bytes>\n" at @p pos; nullopt when malformed.
std::optional<std::string> read_field(const std::string& text, std::size_t& pos) {
    const std::size_t colon = text.find(':', pos);
    if (colon == std::string::npos || colon == pos || colon - pos > 9) return std::nullopt;
    std::size_t len = 0;
    auto [p, ec] = std::from_chars(text.data() + pos, text.data() + colon, len);
    if (ec != std::errc() || p != text.data() + colon) return std::nullopt;
    const std::size_t start = colon + 1;
    if (len > text.size() - start || start + len >= text.size() || text[start + len] != '\n')
        return std::nullopt;
    pos = start + len + 1;
    return text.substr(start, len);
}

std::optional<std::int64_t> number(const std::string& s) {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

}  // namespace

std::string encode(const OperationRecord& r) {
    std::string out = kHeader;
    for (const std::string* f : {&r.instance, &r.path, &r.upstream_id, &r.action_code, &r.client})
        field(out, *f);
    field(out, std::to_string(r.created_s));
    field(out, std::to_string(r.last_used_s));
    return out;
}

std::optional<OperationRecord> decode(const std::string& text) {
    const std::string header = kHeader;
    if (text.compare(0, header.size(), header) != 0) return std::nullopt;
    std::size_t pos = header.size();
    std::vector<std::string> f;
    for (int i = 0; i < 7; ++i) {
        auto v = read_field(text, pos);
        if (!v) return std::nullopt;
        f.push_back(std::move(*v));
    }
    if (pos != text.size()) return std::nullopt;
    const auto created = number(f[5]), used = number(f[6]);
    if (!created || !used) return std::nullopt;
    return OperationRecord{f[0], f[1], f[2], f[3], f[4], *created, *used};
}

std::string operation_id(const std::array<std::uint8_t, 16>& random) {
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (std::uint8_t b : random) {
        out += hex[b >> 4];
        out += hex[b & 0x0f];
    }
    return out;
}

bool valid_operation_id(const std::string& id) {
    if (id.size() != 32) return false;
    for (char c : id)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

}  // namespace kms::tsm::front
