// LOAD framing and blocks (see load_file.hpp).
#include "load_file.hpp"

#include <algorithm>
#include <string>

#include "domain/error.hpp"

namespace kms::tsm::script {
namespace {
constexpr std::uint8_t kClaGp = 0x80;
constexpr std::uint8_t kInsLoad = 0xE8;
constexpr std::uint8_t kTagLoadFileDataBlock = 0xC4;
constexpr std::uint8_t kLastBlock = 0x80;  // P1 b8 (GPCS 2.2.1 Table 11-58)
}  // namespace

Bytes ber_length(std::size_t n) {
    if (n < 0x80) return Bytes{static_cast<std::uint8_t>(n)};
    if (n <= 0xFF) return Bytes{0x81, static_cast<std::uint8_t>(n)};
    if (n <= 0xFFFF)
        return Bytes{0x82, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
    if (n <= 0xFFFFFF)
        return Bytes{0x83, static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 8),
                     static_cast<std::uint8_t>(n)};
    throw Error(ErrorCode::InvalidArgument,
                "load file: " + std::to_string(n) + " bytes is beyond a 3-byte BER length");
}

Bytes framed_load_file(ByteView file) {
    Bytes out{kTagLoadFileDataBlock};
    const Bytes len = ber_length(file.size());
    out.insert(out.end(), len.begin(), len.end());
    out.insert(out.end(), file.begin(), file.end());
    return out;
}

std::size_t load_block_count(std::size_t file_size, std::size_t block_size) {
    if (block_size == 0 || block_size > kMaxLoadBlockSize)
        throw Error(ErrorCode::InvalidArgument,
                    "blockSize: 1.." + std::to_string(kMaxLoadBlockSize) + " bytes");
    const std::size_t framed = 1 + ber_length(file_size).size() + file_size;
    return (framed + block_size - 1) / block_size;
}

core::CommandApdu load_command(ByteView file, std::size_t block_size, std::size_t block) {
    const std::size_t count = load_block_count(file.size(), block_size);
    if (count > kMaxLoadBlocks)
        throw Error(ErrorCode::InvalidArgument, "load file: " + std::to_string(count) +
                                                    " blocks of " + std::to_string(block_size) +
                                                    " bytes; LOAD numbers at most " +
                                                    std::to_string(kMaxLoadBlocks));
    if (block >= count)
        throw Error(ErrorCode::InvalidArgument, "load file: no block " + std::to_string(block) +
                                                    " of " + std::to_string(count));
    // The block is a slice of 'C4' || length || file, without copying the whole file.
    Bytes head{kTagLoadFileDataBlock};
    const Bytes len = ber_length(file.size());
    head.insert(head.end(), len.begin(), len.end());
    const std::size_t total = head.size() + file.size();
    const std::size_t begin = block * block_size;
    const std::size_t end = std::min(total, begin + block_size);
    core::CommandApdu c;
    c.cla = kClaGp;
    c.ins = kInsLoad;
    c.p1 = block + 1 == count ? kLastBlock : 0x00;
    c.p2 = static_cast<std::uint8_t>(block);
    c.data.reserve(end - begin);
    for (std::size_t i = begin; i < end; ++i)
        c.data.push_back(i < head.size() ? head[i] : file[i - head.size()]);
    c.le = 256;  // Le '00'
    return c;
}

}  // namespace kms::tsm::script
