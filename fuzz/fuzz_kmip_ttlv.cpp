// libFuzzer target: the KMIP TTLV decoder kmsd runs on every message of its KMIP listener
// (kms-core/kmip/ttlv.hpp) before any authentication of the message's content. It may refuse
// input only with TtlvError; what it accepts must encode back to exactly the same bytes (the
// decoder is strict, so only the canonical encoding is accepted), and framed_size() must agree
// with the decoder about the message's length.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "kmip/ttlv.hpp"

namespace {

void check(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "fuzz check failed: %s\n", what);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace kms::kmip;
    const OctetView in(data, size);
    DecodeLimits limits;  // kmsd's defaults
    limits.max_message = 1u << 16;
    try {
        const Item item = decode(in, limits);
        check(encode(item) == Octets(in.begin(), in.end()), "encode(decode(x)) != x");
        if (item.type == ItemType::Structure)
            check(framed_size(in.first(kHeaderSize), limits.max_message) == size,
                  "framed_size disagrees with decode");
        (void)dump(item);
    } catch (const TtlvError&) {
    } catch (const std::exception& e) {
        std::fprintf(stderr, "decode: unexpected exception: %s\n", e.what());
        std::abort();
    }
    if (size >= kHeaderSize) {
        try {
            (void)framed_size(in.first(kHeaderSize), limits.max_message);
        } catch (const TtlvError&) {
        }
    }
    return 0;
}
