// Pure domain tests (links domain_dep only): hex codec, constant-time compare and SecureBytes,
// the key-block codec (exact layout, round trip, rejection of truncated or garbled input), and
// the lifecycle table (every transition and every state x operation, spelled out).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "domain/bytes.hpp"
#include "domain/error.hpp"
#include "domain/key_block.hpp"
#include "domain/key_state.hpp"
#include "domain/secure_bytes.hpp"

namespace kms {
namespace {

template <typename F>
std::optional<ErrorCode> error_code_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.code();
    }
    return std::nullopt;
}

// ---- hex, equal_ct ----

TEST(Hex, EncodesUpperCaseAndDecodesEitherCase) {
    EXPECT_EQ(to_hex(from_hex("00ff10aB")), "00FF10AB");
    EXPECT_EQ(to_hex({}), "");
    EXPECT_TRUE(from_hex("").empty());
    Bytes all(256);
    for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
    EXPECT_EQ(from_hex(to_hex(all)), all);
}

TEST(Hex, RejectsOddLengthNonHexAndWhitespace) {
    for (const char* bad : {"0", "abc", "0g", "zz", "00 11", " 00", "00\n", "+1", "0x00"}) {
        EXPECT_EQ(error_code_of([&] { from_hex(bad, "kcv"); }), ErrorCode::InvalidArgument) << bad;
    }
    try {
        from_hex("0", "kcv");
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("kcv"), std::string::npos) << "names the field";
    }
}

TEST(EqualCt, ComparesContentAndLength) {
    const Bytes a = from_hex("0102030405");
    EXPECT_TRUE(equal_ct(a, from_hex("0102030405")));
    EXPECT_FALSE(equal_ct(a, from_hex("0102030404")));
    EXPECT_FALSE(equal_ct(a, from_hex("8102030405")));
    EXPECT_FALSE(equal_ct(a, from_hex("01020304")));
    EXPECT_TRUE(equal_ct({}, {}));
    EXPECT_FALSE(equal_ct({}, a));
}

// ---- SecureBytes ----

TEST(SecureBytesTest, HoldsCopyOfData) {
    const Bytes src = from_hex("A1A2A3");
    SecureBytes s(src);
    ASSERT_EQ(s.size(), 3u);
    EXPECT_EQ(Bytes(s.view().begin(), s.view().end()), src);
    EXPECT_NE(s.data(), src.data());
    SecureBytes zeroed(4);
    EXPECT_EQ(to_hex(zeroed.view()), "00000000");
    EXPECT_TRUE(SecureBytes().empty());
}

TEST(SecureBytesTest, MoveTransfersOwnershipAndEmptiesSource) {
    SecureBytes a(from_hex("0102030405060708"));
    const std::uint8_t* buffer = a.data();
    SecureBytes b(std::move(a));
    EXPECT_EQ(b.data(), buffer) << "the buffer moves, no copy is left behind";
    EXPECT_EQ(to_hex(b.view()), "0102030405060708");
    EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): the contract under test
    EXPECT_EQ(a.size(), 0u);
    EXPECT_TRUE(a.empty());

    SecureBytes c(from_hex("FFFF"));
    c = std::move(b);  // releases (wipes) c's old buffer, takes b's
    EXPECT_EQ(c.data(), buffer);
    EXPECT_EQ(to_hex(c.view()), "0102030405060708");
    EXPECT_EQ(b.data(), nullptr);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(b.size(), 0u);

    SecureBytes& self = c;
    c = std::move(self);  // self-move keeps the content
    EXPECT_EQ(to_hex(c.view()), "0102030405060708");
}

TEST(SecureBytesTest, SecureWipeZeroesTheBuffer) {
    std::uint8_t buf[16];
    for (auto& b : buf) b = 0xA5;
    secure_wipe(buf, sizeof buf);
    for (auto b : buf) EXPECT_EQ(b, 0);
    secure_wipe(nullptr, 10);  // tolerated
}

namespace {

/// The "Locked:" figure of /proc/self/smaps, in kB, for the mapping that holds @p p
/// (-1 when no mapping holds it).
long locked_kb_at(const void* p) {
    std::ifstream smaps("/proc/self/smaps");
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    std::string line;
    bool inside = false;
    while (std::getline(smaps, line)) {
        unsigned long lo = 0, hi = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > 8) {
            inside = addr >= lo && addr < hi;
            continue;
        }
        long kb = 0;
        if (inside && std::sscanf(line.c_str(), "Locked: %ld kB", &kb) == 1) return kb;
    }
    return -1;
}

}  // namespace

TEST(SecureBytesTest, EverySizeIsZeroFilledAndDisjoint) {
    // Sizes across all arena classes (16 .. 4096 bytes) and beyond (own pages), many at once.
    std::vector<SecureBytes> live;
    for (std::size_t n = 1; n <= 5000; n += (n < 64 ? 1 : 37)) live.emplace_back(n);
    live.emplace_back(std::size_t{70000});
    for (std::size_t i = 0; i < live.size(); ++i) {
        for (std::size_t j = 0; j < live[i].size(); ++j) ASSERT_EQ(live[i][j], 0) << i;
        std::memset(live[i].data(), static_cast<int>(i & 0xFF), live[i].size());
    }
    for (std::size_t i = 0; i < live.size(); ++i)
        for (std::size_t j = 0; j < live[i].size(); ++j)
            ASSERT_EQ(live[i][j], static_cast<std::uint8_t>(i & 0xFF))
                << "buffer " << i << " overlaps another";
}

TEST(SecureBytesTest, AReusedBlockComesBackWiped) {
    // Same size class (17..32 bytes): the freed block is the next one handed out.
    const std::uint8_t* first = nullptr;
    {
        SecureBytes secret(from_hex("00112233445566778899AABBCCDDEEFF0011223344556677"));
        first = secret.data();
    }
    SecureBytes next(32);
    EXPECT_EQ(next.data(), first) << "the arena reuses the block just freed";
    EXPECT_EQ(to_hex(next.view()), std::string(64, '0'));
}

TEST(SecureBytesTest, FreeingANeighbourLeavesTheSurvivorLocked) {
    // Two secrets on one page: releasing one must not munlock the page under the other (the
    // old mlock-per-buffer code did). Only checkable where locking works (root, or a
    // sufficient RLIMIT_MEMLOCK).
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "AddressSanitizer turns mlock into a no-op";
#endif
    SecureBytes survivor(from_hex("000102030405060708090A0B0C0D0E0F"));
    if (!survivor.locked()) GTEST_SKIP() << "mlock is refused here (RLIMIT_MEMLOCK)";
    {
        SecureBytes neighbour(from_hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF"));
        ASSERT_TRUE(neighbour.locked());
    }
    EXPECT_GT(locked_kb_at(survivor.data()), 0) << "the survivor's page is no longer locked";
    SecureBytes large(std::size_t{10000});
    ASSERT_TRUE(large.locked());
    EXPECT_GT(locked_kb_at(large.data()), 0);
}

#if defined(__SANITIZE_ADDRESS__)
// Only in a -Db_sanitize=address build: the arena poisons what it does not hand out.
TEST(SecureBytesDeathTest, UseAfterReleaseAndOverrunAreReportedUnderAsan) {
    const volatile std::uint8_t* released = nullptr;
    {
        SecureBytes s(from_hex("00112233"));
        released = s.data();
    }
    EXPECT_DEATH((void)released[0], "use-after-poison");
    SecureBytes live(std::size_t{20});  // a 32-byte block: bytes 20..31 stay poisoned
    const volatile std::uint8_t* p = live.data();
    EXPECT_DEATH((void)p[24], "use-after-poison");
}
#endif

TEST(SecretStringTest, RevealsValue) {
    SecretString pin("1234");
    EXPECT_EQ(pin.reveal(), "1234");
    EXPECT_EQ(pin.size(), 4u);
    SecretString moved(std::move(pin));
    EXPECT_EQ(moved.reveal(), "1234");
    EXPECT_TRUE(pin.empty());  // NOLINT(bugprone-use-after-move)
}

// ---- key block codec ----

namespace kb = core;

kb::KeyBlock sample_block() {
    kb::KeyBlock b;
    b.header.key_id = "k1";
    b.header.version = 7;
    b.header.algorithm = kb::Algorithm::Aes256;
    b.header.usage = kb::UsageMask().add(kb::Usage::Encrypt).add(kb::Usage::Decrypt);
    b.header.exportable = true;
    b.wrapped = from_hex("AABB");
    b.public_key = from_hex("303132");
    b.seal = Bytes(32, 0x11);
    return b;
}

// The layout documented in key_block.hpp, byte by byte: a format change must be deliberate.
TEST(KeyBlockCodec, ExactEncoding) {
    const std::string expected_sealed =
        "4B4D534B42"  // "KMSKB"
        "01"          // format 1
        "00000002"
        "6B31"      // lv("k1")
        "00000007"  // version
        "03"        // Algorithm::Aes256
        "00000003"  // usage: encrypt | decrypt
        "01"        // exportable
        "00000002"
        "AABB"  // lv(wrapped)
        "00000003"
        "303132";  // lv(public_key)
    const kb::KeyBlock b = sample_block();
    EXPECT_EQ(to_hex(kb::sealed_part(b)), expected_sealed);
    EXPECT_EQ(to_hex(kb::encode_key_block(b)), expected_sealed + "00000020" + std::string(64, '1'));
}

TEST(KeyBlockCodec, RoundTripsEveryAlgorithmAndUsage) {
    for (int alg = 1; alg <= static_cast<int>(kb::Algorithm::Rsa3072); ++alg) {
        for (std::uint32_t usage : {0u, 1u, 0x55u, 0xFFu, 0xFFFFFFFFu}) {
            for (bool exportable : {false, true}) {
                kb::KeyBlock b;
                b.header.key_id = "k-" + std::string(32, 'a');
                b.header.version = 0xFFFFFFFFu;
                b.header.algorithm = static_cast<kb::Algorithm>(alg);
                b.header.usage = kb::UsageMask(usage);
                b.header.exportable = exportable;
                b.wrapped = Bytes(1217, static_cast<std::uint8_t>(alg));
                b.seal = Bytes(32, 0x5A);
                const kb::KeyBlock d = kb::decode_key_block(kb::encode_key_block(b));
                EXPECT_EQ(d.header, b.header);
                EXPECT_EQ(d.wrapped, b.wrapped);
                EXPECT_EQ(d.public_key, b.public_key);
                EXPECT_EQ(d.seal, b.seal);
            }
        }
    }
    kb::KeyBlock empty = sample_block();
    empty.header.key_id.clear();
    empty.wrapped.clear();
    empty.seal.clear();
    const kb::KeyBlock d = kb::decode_key_block(kb::encode_key_block(empty));
    EXPECT_EQ(d.header, empty.header);
    EXPECT_TRUE(d.wrapped.empty());
    EXPECT_TRUE(d.seal.empty());
}

TEST(KeyBlockCodec, SealCoversEverythingBeforeIt) {
    const kb::KeyBlock b = sample_block();
    const Bytes encoded = kb::encode_key_block(b);
    const Bytes sealed = kb::sealed_part(b);
    ASSERT_LT(sealed.size(), encoded.size());
    EXPECT_TRUE(std::equal(sealed.begin(), sealed.end(), encoded.begin()));
    kb::KeyBlock other = b;
    other.header.usage.add(kb::Usage::Sign);
    EXPECT_NE(kb::sealed_part(other), sealed);
    kb::KeyBlock swapped = b;
    swapped.public_key = from_hex("303133");
    EXPECT_NE(kb::sealed_part(swapped), sealed) << "the public key is sealed too";
}

TEST(KeyBlockCodec, RejectsEveryTruncation) {
    const Bytes encoded = kb::encode_key_block(sample_block());
    for (std::size_t n = 0; n < encoded.size(); ++n) {
        const ByteView prefix(encoded.data(), n);
        EXPECT_EQ(error_code_of([&] { kb::decode_key_block(prefix); }), ErrorCode::Integrity)
            << "length " << n;
    }
}

// The flags byte after the usage bits: bit 0 exportable, bit 1 trusted (both sealed); any
// other bit is refused so a block from a later format is never half-understood.
TEST(KeyBlockCodec, FlagsByte) {
    // offset: 5 magic + 1 format + 6 lv("k1") + 4 version + 1 algorithm + 4 usage
    constexpr std::size_t kFlags = 21;
    for (const bool exportable : {false, true}) {
        for (const bool trusted : {false, true}) {
            kb::KeyBlock b = sample_block();
            b.header.exportable = exportable;
            b.header.trusted = trusted;
            const Bytes encoded = kb::encode_key_block(b);
            EXPECT_EQ(encoded[kFlags], (exportable ? 1 : 0) | (trusted ? 2 : 0));
            const kb::KeyBlock d = kb::decode_key_block(encoded);
            EXPECT_EQ(d.header.exportable, exportable);
            EXPECT_EQ(d.header.trusted, trusted);
            EXPECT_EQ(kb::sealed_part(d), kb::sealed_part(b));
        }
    }
    Bytes encoded = kb::encode_key_block(sample_block());
    for (const std::uint8_t flags : {4, 5, 7, 8, 0x80, 0xFF}) {
        encoded[kFlags] = flags;
        EXPECT_EQ(error_code_of([&] { kb::decode_key_block(encoded); }), ErrorCode::Integrity)
            << "flags " << int(flags);
    }
}

TEST(KeyBlockCodec, RejectsGarbledInput) {
    const Bytes good = kb::encode_key_block(sample_block());
    const auto rejects = [](Bytes b) {
        return error_code_of([&] { kb::decode_key_block(b); }) == ErrorCode::Integrity;
    };
    Bytes b = good;
    b[0] = 'X';  // magic
    EXPECT_TRUE(rejects(b));
    b = good;
    b[5] = 2;  // unknown format
    EXPECT_TRUE(rejects(b));
    b = good;
    b[16] = 0;  // algorithm 0 (offset: 5 magic + 1 format + 6 lv("k1") + 4 version)
    EXPECT_TRUE(rejects(b));
    b[16] = static_cast<std::uint8_t>(kb::Algorithm::Rsa3072) + 1;
    EXPECT_TRUE(rejects(b));
    b = good;
    b.push_back(0x00);  // trailing byte
    EXPECT_TRUE(rejects(b));
    b = good;
    b[6] = b[7] = b[8] = b[9] = 0xFF;  // key_id length far past the end
    EXPECT_TRUE(rejects(b));
    b = good;
    b[b.size() - 33] = 0x21;  // seal length one more than present
    EXPECT_TRUE(rejects(b));
    EXPECT_TRUE(rejects({}));
    // Any single-byte change either fails to decode or decodes differently (the exportable
    // flag must be exactly 0 or 1).
    for (std::size_t i = 0; i < good.size(); ++i) {
        Bytes g = good;
        g[i] ^= 0x80;
        const auto code = error_code_of([&] {
            const kb::KeyBlock d = kb::decode_key_block(g);
            const kb::KeyBlock o = sample_block();
            if (d.header == o.header && d.wrapped == o.wrapped && d.public_key == o.public_key &&
                d.seal == o.seal)
                ADD_FAILURE() << "byte " << i << " flipped without effect";
        });
        if (code) {
            EXPECT_EQ(*code, ErrorCode::Integrity) << "byte " << i;
        }
    }
}

// ---- lifecycle table ----

using core::KeyState;
using core::Operation;
using core::Transition;

const KeyState kStates[] = {KeyState::PreActive,           KeyState::Active,
                            KeyState::Suspended,           KeyState::Deactivated,
                            KeyState::Compromised,         KeyState::Destroyed,
                            KeyState::DestroyedCompromised};
const Transition kTransitions[] = {Transition::Activate,   Transition::Suspend,
                                   Transition::Resume,     Transition::Deactivate,
                                   Transition::Compromise, Transition::Destroy};
const Operation kOperations[] = {Operation::Encrypt,   Operation::Decrypt, Operation::Mac,
                                 Operation::MacVerify, Operation::Sign,    Operation::Verify,
                                 Operation::Wrap,      Operation::Unwrap,  Operation::Derive};

// NIST SP 800-57 Part 1 Rev. 5 §5.3 / KMIP 1.4 §3.22 as documented in key_state.hpp. Every
// pair not listed here must be forbidden.
const std::map<std::pair<KeyState, Transition>, KeyState> kAllowed = {
    {{KeyState::PreActive, Transition::Activate}, KeyState::Active},
    {{KeyState::PreActive, Transition::Compromise}, KeyState::Compromised},
    {{KeyState::PreActive, Transition::Destroy}, KeyState::Destroyed},
    {{KeyState::Active, Transition::Suspend}, KeyState::Suspended},
    {{KeyState::Active, Transition::Deactivate}, KeyState::Deactivated},
    {{KeyState::Active, Transition::Compromise}, KeyState::Compromised},
    {{KeyState::Suspended, Transition::Resume}, KeyState::Active},
    {{KeyState::Suspended, Transition::Deactivate}, KeyState::Deactivated},
    {{KeyState::Suspended, Transition::Compromise}, KeyState::Compromised},
    {{KeyState::Suspended, Transition::Destroy}, KeyState::Destroyed},
    {{KeyState::Deactivated, Transition::Compromise}, KeyState::Compromised},
    {{KeyState::Deactivated, Transition::Destroy}, KeyState::Destroyed},
    {{KeyState::Compromised, Transition::Destroy}, KeyState::DestroyedCompromised},
    {{KeyState::Destroyed, Transition::Compromise}, KeyState::DestroyedCompromised},
};

TEST(Lifecycle, EveryTransitionAllowedOrForbidden) {
    int allowed = 0;
    for (KeyState from : kStates) {
        for (Transition t : kTransitions) {
            const auto it = kAllowed.find({from, t});
            const auto next = core::next_state(from, t);
            SCOPED_TRACE(std::string(core::key_state_name(from)) + " --" +
                         std::string(core::transition_name(t)) + "-->");
            if (it == kAllowed.end()) {
                EXPECT_FALSE(next.has_value());
            } else {
                ASSERT_TRUE(next.has_value());
                EXPECT_EQ(*next, it->second);
                ++allowed;
            }
        }
    }
    EXPECT_EQ(allowed, 14);
}

TEST(Lifecycle, InvariantsOfTheTable) {
    for (KeyState from : kStates) {
        for (Transition t : kTransitions) {
            const auto next = core::next_state(from, t);
            if (!next) continue;
            EXPECT_NE(*next, KeyState::PreActive) << "never back to PreActive";
            if (core::is_destroyed(from)) {
                EXPECT_TRUE(core::is_destroyed(*next));
            }
        }
    }
    // KMIP 1.4 §4.21: an Active key must be deactivated (or revoked) before it is destroyed.
    EXPECT_FALSE(core::next_state(KeyState::Active, Transition::Destroy).has_value());
    EXPECT_TRUE(core::is_destroyed(KeyState::Destroyed));
    EXPECT_TRUE(core::is_destroyed(KeyState::DestroyedCompromised));
    EXPECT_FALSE(core::is_destroyed(KeyState::Compromised));
}

TEST(Lifecycle, StateAllowsEveryStateAndOperation) {
    // DESIGN §4: protect (encrypt, mac, sign, wrap, derive) only when Active; process (decrypt,
    // mac-verify, verify, unwrap) also when Suspended or Deactivated; nothing when PreActive,
    // Compromised or destroyed.
    const auto processes = [](Operation op) {
        return op == Operation::Decrypt || op == Operation::MacVerify || op == Operation::Verify ||
               op == Operation::Unwrap;
    };
    const std::map<KeyState, std::pair<bool, bool>> expected = {
        // {protect, process}
        {KeyState::PreActive, {false, false}},
        {KeyState::Active, {true, true}},
        {KeyState::Suspended, {false, true}},
        {KeyState::Deactivated, {false, true}},
        {KeyState::Compromised, {false, false}},
        {KeyState::Destroyed, {false, false}},
        {KeyState::DestroyedCompromised, {false, false}},
    };
    for (KeyState s : kStates) {
        for (Operation op : kOperations) {
            const auto [protect, process] = expected.at(s);
            EXPECT_EQ(core::state_allows(s, op), processes(op) ? process : protect)
                << core::key_state_name(s) << " / " << core::operation_name(op);
        }
    }
}

TEST(Lifecycle, NamesRoundTrip) {
    for (KeyState s : kStates) EXPECT_EQ(core::parse_key_state(core::key_state_name(s)), s);
    EXPECT_FALSE(core::parse_key_state("active").has_value());
    EXPECT_FALSE(core::parse_key_state("").has_value());
    EXPECT_EQ(core::transition_name(Transition::Deactivate), "deactivate");
    EXPECT_EQ(core::operation_name(Operation::MacVerify), "mac-verify");
}

}  // namespace
}  // namespace kms
