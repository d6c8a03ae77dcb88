// ustar writer and reader for kmsd's backup archive (see backup_archive.hpp).
#include "crypto/backup_archive.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "domain/error.hpp"

namespace kms::crypto {

namespace {

constexpr std::size_t kBlock = 512;
constexpr std::uint64_t kMaxOctal11 = 077777777777ULL;  // 11 octal digits: just under 8 GiB

// POSIX.1-2008 "pax", ustar header block: field offsets and lengths.
struct Field {
    std::size_t offset, length;
};
constexpr Field kName{0, 100}, kMode{100, 8}, kUid{108, 8}, kGid{116, 8}, kSize{124, 12},
    kMtime{136, 12}, kChksum{148, 8}, kTypeflag{156, 1}, kMagic{257, 6}, kVersion{263, 2},
    kUname{265, 32}, kGname{297, 32}, kPrefix{345, 155};

void put_text(char* block, Field f, std::string_view text) {
    if (text.empty()) return;  // an empty string_view may have a null data(): no memcpy
    std::memcpy(block + f.offset, text.data(), std::min(text.size(), f.length));
}

/// Octal, zero-padded to length - 1 digits, NUL-terminated.
void put_octal(char* block, Field f, std::uint64_t value) {
    std::string digits(f.length - 1, '0');
    for (std::size_t i = digits.size(); i-- > 0 && value != 0; value >>= 3)
        digits[i] = static_cast<char>('0' + (value & 7));
    put_text(block, f, digits);
}

std::uint64_t checksum(const char* block) {
    // The checksum field counts as eight spaces.
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < kBlock; ++i)
        sum += (i >= kChksum.offset && i < kChksum.offset + kChksum.length)
                   ? static_cast<unsigned char>(' ')
                   : static_cast<unsigned char>(block[i]);
    return sum;
}

std::string field_text(const char* block, Field f) {
    const char* p = block + f.offset;
    return std::string(p, strnlen(p, f.length));
}

/// Octal number of a header field (leading spaces and trailing NUL/space allowed).
std::uint64_t read_octal(const char* block, Field f, std::size_t at, const char* what) {
    std::uint64_t v = 0;
    std::size_t i = 0;
    while (i < f.length && block[f.offset + i] == ' ') ++i;
    bool any = false;
    for (; i < f.length; ++i) {
        const char c = block[f.offset + i];
        if (c == '\0' || c == ' ') break;
        if (c < '0' || c > '7' || v > (UINT64_MAX >> 3))
            throw Error(ErrorCode::InvalidArgument, "bad " + std::string(what) +
                                                        " field in the header at offset " +
                                                        std::to_string(at));
        v = (v << 3) | static_cast<std::uint64_t>(c - '0');
        any = true;
    }
    if (!any)
        throw Error(
            ErrorCode::InvalidArgument,
            "empty " + std::string(what) + " field in the header at offset " + std::to_string(at));
    return v;
}

bool all_zero(const char* block) {
    return std::all_of(block, block + kBlock, [](char c) { return c == '\0'; });
}

}  // namespace

bool is_safe_archive_path(std::string_view path) {
    if (path.empty() || path.size() > 255 || path.front() == '/') return false;
    for (char c : path)
        if (c < 0x21 || c > 0x7E || c == '\\') return false;
    std::size_t start = 0;
    while (start <= path.size()) {
        const auto slash = path.find('/', start);
        const auto part = path.substr(
            start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (part.empty() || part == "." || part == "..") return false;
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return true;
}

std::string write_tar(const std::vector<ArchiveEntry>& entries, std::int64_t mtime_s) {
    std::string out;
    std::set<std::string_view> seen;
    for (const auto& e : entries) {
        if (!is_safe_archive_path(e.path))
            throw Error(ErrorCode::InvalidArgument, "archive: unsafe path '" + e.path + "'");
        if (!seen.insert(e.path).second)
            throw Error(ErrorCode::InvalidArgument, "archive: duplicate path '" + e.path + "'");
        if (e.data.size() > kMaxOctal11)
            throw Error(ErrorCode::InvalidArgument, "archive: " + e.path + " is too large");
        std::string_view name = e.path, prefix;
        if (name.size() > kName.length) {
            // Split at a '/' so that the prefix fits 155 bytes and the rest 100 bytes.
            std::size_t cut = name.rfind('/', kPrefix.length);
            if (cut != std::string_view::npos && name.size() - cut - 1 > kName.length)
                cut = std::string_view::npos;
            if (cut == std::string_view::npos || cut == 0)
                throw Error(ErrorCode::InvalidArgument,
                            "archive: path '" + e.path + "' does not fit a ustar header");
            prefix = name.substr(0, cut);
            name = name.substr(cut + 1);
        }
        char h[kBlock] = {};
        put_text(h, kName, name);
        put_octal(h, kMode, e.mode & 07777);
        put_octal(h, kUid, 0);
        put_octal(h, kGid, 0);
        put_octal(h, kSize, e.data.size());
        put_octal(h, kMtime, static_cast<std::uint64_t>(std::max<std::int64_t>(mtime_s, 0)));
        h[kTypeflag.offset] = '0';
        put_text(h, kMagic, std::string_view("ustar\0", 6));
        put_text(h, kVersion, "00");
        put_text(h, kUname, "root");
        put_text(h, kGname, "root");
        put_text(h, kPrefix, prefix);
        // Six octal digits, NUL, space (the historical form every tar accepts).
        std::string sum(7, '0');
        std::uint64_t v = checksum(h);
        for (std::size_t i = 6; i-- > 0; v >>= 3) sum[i] = static_cast<char>('0' + (v & 7));
        sum[6] = '\0';
        std::memcpy(h + kChksum.offset, sum.data(), 7);
        h[kChksum.offset + 7] = ' ';
        out.append(h, kBlock);
        out.append(e.data);
        out.append((kBlock - e.data.size() % kBlock) % kBlock, '\0');
    }
    out.append(2 * kBlock, '\0');
    return out;
}

std::vector<ArchiveEntry> read_tar(std::string_view archive, std::size_t max_entries) {
    std::vector<ArchiveEntry> entries;
    std::set<std::string> seen;
    std::size_t at = 0;
    for (;;) {
        if (archive.size() - at < kBlock)
            throw Error(ErrorCode::InvalidArgument, "truncated archive: it ends at byte " +
                                                        std::to_string(archive.size()) +
                                                        " without the end-of-archive blocks");
        const char* h = archive.data() + at;
        if (all_zero(h)) {
            if (archive.size() - at < 2 * kBlock || !all_zero(h + kBlock))
                throw Error(ErrorCode::InvalidArgument,
                            "truncated archive: only one end-of-archive block at offset " +
                                std::to_string(at));
            break;  // what follows the two zero blocks (tar's record padding) is ignored
        }
        if (read_octal(h, kChksum, at, "checksum") != checksum(h))
            throw Error(ErrorCode::InvalidArgument, "bad header checksum at offset " +
                                                        std::to_string(at) +
                                                        " (the archive is damaged)");
        std::string path = field_text(h, kName);
        const std::string magic = field_text(h, Field{kMagic.offset, 5});
        if (magic == "ustar") {
            const std::string prefix = field_text(h, kPrefix);
            if (!prefix.empty()) path = prefix + "/" + path;
        }
        const std::uint64_t size = read_octal(h, kSize, at, "size");
        const char type = h[kTypeflag.offset];
        at += kBlock;
        const std::uint64_t padded = (size + kBlock - 1) / kBlock * kBlock;
        if (size > archive.size() || padded > archive.size() - at)
            throw Error(ErrorCode::InvalidArgument, "truncated archive: " + path + " needs " +
                                                        std::to_string(size) +
                                                        " bytes but the archive ends first");
        if (type == '5') {  // a directory: nothing to keep
            at += padded;
            continue;
        }
        if (type != '0' && type != '\0')
            throw Error(ErrorCode::InvalidArgument,
                        std::string("unsupported entry type '") + (type >= 0x20 ? type : '?') +
                            "' for " + path + " (only regular files belong in a backup)");
        if (!is_safe_archive_path(path))
            throw Error(ErrorCode::InvalidArgument,
                        "unsafe path '" + path.substr(0, 255) + "' in the archive");
        if (!seen.insert(path).second)
            throw Error(ErrorCode::InvalidArgument, "the archive holds " + path + " twice");
        if (entries.size() == max_entries)
            throw Error(ErrorCode::InvalidArgument,
                        "the archive holds more than " + std::to_string(max_entries) + " files");
        ArchiveEntry e;
        e.path = std::move(path);
        e.mode = static_cast<std::uint32_t>(read_octal(h, kMode, at - kBlock, "mode") & 07777);
        e.data.assign(archive.data() + at, static_cast<std::size_t>(size));
        entries.push_back(std::move(e));
        at += padded;
    }
    return entries;
}

std::string sha256_hex(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
        throw Error(ErrorCode::Internal, "SHA-256 failed");
    static const char* const kHex = "0123456789abcdef";
    std::string out;
    out.reserve(2 * len);
    for (unsigned int i = 0; i < len; ++i) {
        out.push_back(kHex[md[i] >> 4]);
        out.push_back(kHex[md[i] & 15]);
    }
    return out;
}

}  // namespace kms::crypto
