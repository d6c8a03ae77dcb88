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
        // The block wrap makes opens to the same header and key. Byte for byte the same block
        // only when the header was written canonically (upper-case hex, short optional block
        // lengths): compare without case then.
        const crypto::Tr31Opened back = crypto::tr31_unwrap(kbpk, again);
        core::Tr31Header h = back.header;
        h.block_length = opened.header.block_length;
        check(h == opened.header && back.key.view().size() == opened.key.view().size() &&
                  std::equal(back.key.view().begin(), back.key.view().end(),
                             opened.key.view().begin()),
              "tr31_unwrap(tr31_wrap(opened)) != opened");
        if (again.size() == block.size())
            check(std::equal(again.begin(), again.end(), block.begin(), upper_equal),
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
        // format then parse gives the same header back. Not the same text: hex is read in
        // either case and written in upper case, and an optional block length the sender put
        // in the extended form (X9.143 §6.3.6, "00 LL length") is written in the short form
        // when it fits.
        const std::string_view rest = block.substr(consumed);
        const std::size_t header_size = core::format_tr31_header(header, 9999).size();
        const std::string again =
            core::format_tr31_header(header, header_size + rest.size()) + std::string(rest);
        core::Tr31Header back;
        try {
            back = core::parse_tr31_header(again).first;
        } catch (const kms::Error& e) {
            std::fprintf(stderr, "formatted header does not parse: %s\n%s\n", e.what(),
                         again.c_str());
            std::abort();
        }
        back.block_length = header.block_length;
        if (!(back == header))
            std::fprintf(stderr, "parsed    %.*s\nformatted %s\n", static_cast<int>(consumed),
                         block.data(), again.c_str());
        check(back == header, "parse(format(parse(header))) != parse(header)");
    });

    unwrap_and_rewrap(kKbpkB, block);
    unwrap_and_rewrap(kKbpkD, block);
    return 0;
}
