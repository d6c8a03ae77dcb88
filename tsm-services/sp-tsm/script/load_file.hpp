// The Load File Data Block as GlobalPlatform LOAD commands (GPCS 2.2.1 §11.6): the framing with
// tag 'C4' and its BER length, and the cut into numbered blocks. Pure functions on the load
// file's bytes, shared by the engine (which only needs the block count: it never sees the file)
// and the host (which builds each command from the file it holds).
#pragma once

#include <cstddef>
#include <cstdint>

#include "domain/apdu.hpp"
#include "domain/bytes.hpp"

namespace kms::tsm::script {

/// Block size of a `load` step when the script gives none: 200 bytes of the framed block, so a
/// command with a C-MAC (8 bytes) and even C-ENC padding (up to 8) fits a short APDU (Lc <= 255).
inline constexpr std::size_t kDefaultLoadBlockSize = 200;
/// Largest block a `load` step may ask for: 255 - 8 (the SCP02/SCP03 C-MAC).
inline constexpr std::size_t kMaxLoadBlockSize = 247;
/// LOAD numbers its blocks in P2, one byte: "the block number ... coded sequentially from '00'
/// to 'FF'" (GPCS 2.2.1 §11.6.2.3), so a load file goes in at most 256 commands.
inline constexpr std::size_t kMaxLoadBlocks = 256;
/// The largest load file a catalogue accepts: 256 blocks of kMaxLoadBlockSize minus the 'C4'
/// header (4 bytes at most for this size).
inline constexpr std::size_t kMaxLoadFileBytes = kMaxLoadBlocks * kMaxLoadBlockSize - 4;

/// BER-TLV length octets of @p n (ISO/IEC 8825-1 §8.1.3): one byte below 128, else 81 / 82 / 83
/// followed by the length in 1, 2 or 3 bytes. Throws Error(InvalidArgument) from 2^24 on.
Bytes ber_length(std::size_t n);

/// The bytes LOAD carries: 'C4' || BER length || @p file (GPCS 2.2.1 §11.6.2.3: "the Load File
/// Data Block ... shall be preceded by tag 'C4' and its length"). No DAP block ('E2') is sent.
Bytes framed_load_file(ByteView file);

/// Number of LOAD commands for a file of @p file_size bytes in blocks of @p block_size
/// (1..kMaxLoadBlockSize): ceil(framed size / block_size). Throws Error(InvalidArgument) when
/// @p block_size is out of range.
std::size_t load_block_count(std::size_t file_size, std::size_t block_size);

/// LOAD block @p block (0-based) of @p file cut in @p block_size: CLA '80', INS 'E8', P1 '80'
/// on the last block and '00' before it, P2 = the block number, the block's bytes, Le '00'
/// (GPCS 2.2.1 Table 11-57). Plain: the host wraps it when the step is `secure`. Throws
/// Error(InvalidArgument) when @p block is not below load_block_count() or that count exceeds
/// kMaxLoadBlocks.
core::CommandApdu load_command(ByteView file, std::size_t block_size, std::size_t block);

}  // namespace kms::tsm::script
