// libFuzzer target: TR-31 / ANSI X9.143 key blocks as kmsd imports them (POST
// /v1/keys/import with a "keyBlock"): the header parser and formatter (kms-core/domain/tr31),
// tr31_unwrap (kms-core/crypto/tr31) under the KBPKs of the published vectors, and the import
// checks. Round trips: format(parse(header)) == header; wrap(unwrap(block)) == block with the
// recovered padding.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/tr31.hpp"
#include "domain/algorithm.hpp"
#include "domain/tr31.hpp"
#include "fuzz_check.hpp"

using namespace kms;
using kms::fuzz::check;

namespace {

/// Equal but for case: hex digits are read in either case and written in upper case.
bool upper_equal(char formatted, char parsed) {
    return std::toupper(static_cast<unsigned char>(formatted)) ==
           std::toupper(static_cast<unsigned char>(parsed));
}

// The KBPKs of tests/vectors/tr31.txt, so the seed blocks open and the fuzzer explores the
// payload handling past the MAC: a 2-key TDES KBPK (version B) and an AES-256 KBPK (version D).
const Bytes kKbpkB = from_hex("EFE0853B256B583D868F251CE99EA1D9");
const Bytes kKbpkD(32, 0x41);

void unwrap_and_rewrap(ByteView kbpk, std::string_view block) {
    fuzz::refusing_only_with_error("tr31_unwrap", [&] {
        const crypto::Tr31Opened opened = crypto::tr31_unwrap(kbpk, block);
        check(opened.header.block_length == block.size(), "opened block_length != block size");
        const ByteView pad = opened.padding.view();
        const std::string again = crypto::tr31_wrap(kbpk, opened.header, opened.key.view(), &pad);
        // The payload and MAC are hex; unwrap reads lower-case digits too and wrap writes
        // upper case (X9.143 §6.1 uses upper case), so compare without case.
        check(again.size() == block.size() &&
                  std::equal(again.begin(), again.end(), block.begin(),
                             [](char a, char b) {
                                 return a == std::toupper(static_cast<unsigned char>(b));
                             }),
              "tr31_wrap(tr31_unwrap(block)) != block");
        // What the import route does next: the header against the requested key.
        for (const auto& a : core::all_algorithms()) {
            fuzz::refusing_only_with_error("check_tr31_import", [&] {
                core::check_tr31_import(opened.header, a.algorithm,
                                        core::usages_allowed_for(a.algorithm));
            });
        }
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view block(reinterpret_cast<const char*>(data), size);

    fuzz::refusing_only_with_error("parse_tr31_header", [&] {
        const auto [header, consumed] = core::parse_tr31_header(block);
        check(consumed >= 16 && consumed <= block.size(), "header length out of the block");
        const std::string text = core::format_tr31_header(header, header.block_length);
        // Hex fields (optional block lengths) read lower case too and are written upper case.
        const bool same = text.size() == consumed &&
                          std::equal(text.begin(), text.end(), block.begin(), upper_equal);
        if (!same)
            std::fprintf(stderr, "parsed    %.*s\nformatted %s\n", static_cast<int>(consumed),
                         block.data(), text.c_str());
        check(same, "format(parse(header)) != header");
    });

    unwrap_and_rewrap(kKbpkB, block);
    unwrap_and_rewrap(kKbpkD, block);
    return 0;
}
