// The TSM store (tsm-services/host/tsm_store): namespaces, durability across reopening, and its
// group commit: concurrent writers all land, a failing write fails only its own caller.
#include "tsm_store.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace kms::tsm {
namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/tsm-store-test-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

Bytes text(const std::string& s) {
    return Bytes(s.begin(), s.end());
}

TEST(TsmStore, ConcurrentWritersAllLandAndSurviveReopening) {
    TempDir dir;
    constexpr int kThreads = 16, kWrites = 100;
    {
        TsmStore store(dir.path);
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&, t] {
                for (int i = 0; i < kWrites; ++i)
                    store.put("inst-" + std::to_string(t % 2), "ops", std::to_string(t * 1000 + i),
                              text("value " + std::to_string(i)));
            });
        for (auto& th : threads) th.join();
        // Deletes go through the same batches.
        EXPECT_TRUE(store.erase("inst-0", "ops", "0"));
        EXPECT_FALSE(store.erase("inst-0", "ops", "0"));
        EXPECT_FALSE(store.erase("inst-1", "ops", "0")) << "thread 0 wrote under inst-0 only";
    }
    TsmStore again(dir.path);
    int found = 0;
    for (int t = 0; t < kThreads; ++t)
        for (int i = 0; i < kWrites; ++i) {
            const auto v =
                again.get("inst-" + std::to_string(t % 2), "ops", std::to_string(t * 1000 + i));
            if (v && *v == text("value " + std::to_string(i))) ++found;
        }
    EXPECT_EQ(found, kThreads * kWrites - 1);
    EXPECT_FALSE(again.get("inst-1", "ops", "1").has_value()) << "namespaces are separate";
}

TEST(TsmStore, AWriteThatFailsFailsOnlyItsCaller) {
    TempDir dir;
    // A 1 MiB map: no value of 1 MiB fits (MDB_MAP_FULL), while small writes from other
    // threads, committed in the same batches, all go through.
    TsmStore store(dir.path, std::size_t{1} << 20);
    std::atomic<int> big_failed{0}, small_failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 4; ++i) {
                try {
                    store.put("big", "t", std::to_string(t * 10 + i),
                              Bytes(TsmStore::kMaxValue, 0x42));
                } catch (const std::runtime_error&) {
                    ++big_failed;
                }
            }
        });
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                try {
                    store.put("small", "t", std::to_string(t * 100 + i), text("x"));
                } catch (const std::runtime_error&) {
                    ++small_failed;
                }
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(big_failed.load(), 16);
    EXPECT_EQ(small_failed.load(), 0);
    int readable = 0;
    for (int t = 0; t < 4; ++t)
        for (int i = 0; i < 50; ++i)
            if (store.get("small", "t", std::to_string(t * 100 + i))) ++readable;
    EXPECT_EQ(readable, 200);
    EXPECT_FALSE(store.get("big", "t", "0").has_value());
}

TEST(TsmStore, CompareAndPutWritesOnlyOverTheExpectedValue) {
    TempDir dir;
    TsmStore store(dir.path);
    // Absent expected: the first writer wins, the second finds a value.
    EXPECT_TRUE(store.compare_and_put("i", "t", "k", std::nullopt, text("1")));
    EXPECT_FALSE(store.compare_and_put("i", "t", "k", std::nullopt, text("x")));
    EXPECT_EQ(*store.get("i", "t", "k"), text("1"));
    // The expected value, byte for byte.
    const Bytes one = text("1"), two = text("2"), other = text("10");
    EXPECT_FALSE(store.compare_and_put("i", "t", "k", ByteView(other), text("x")));
    EXPECT_TRUE(store.compare_and_put("i", "t", "k", ByteView(one), two));
    EXPECT_FALSE(store.compare_and_put("i", "t", "k", ByteView(one), text("x")));
    EXPECT_EQ(*store.get("i", "t", "k"), two);
    // An empty value is a value, not an absence.
    const Bytes empty;
    EXPECT_TRUE(store.compare_and_put("i", "t", "e", std::nullopt, empty));
    EXPECT_TRUE(store.compare_and_put("i", "t", "e", ByteView(empty), text("v")));
    // Concurrent increments from 8 threads: none is lost.
    std::vector<std::thread> threads;
    std::atomic<int> conflicts{0};
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int n = 0; n < 100; ++n)
                for (;;) {
                    const auto cur = store.get("i", "t", "counter");
                    const int value = cur ? std::stoi(std::string(cur->begin(), cur->end())) : 0;
                    const std::optional<ByteView> want =
                        cur ? std::optional<ByteView>(ByteView(*cur)) : std::nullopt;
                    if (store.compare_and_put("i", "t", "counter", want,
                                              text(std::to_string(value + 1))))
                        break;
                    ++conflicts;
                }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(*store.get("i", "t", "counter"), text("800"));
}

TEST(TsmStore, RefusesBadNamesAndValues) {
    TempDir dir;
    TsmStore store(dir.path);
    EXPECT_THROW(store.put("", "t", "k", text("v")), std::invalid_argument);
    EXPECT_THROW(store.put("i", "t\x1f", "k", text("v")), std::invalid_argument);
    EXPECT_THROW(store.put("i", "t", std::string(201, 'k'), text("v")), std::invalid_argument);
    EXPECT_THROW(store.put("i", "t", "k", Bytes(TsmStore::kMaxValue + 1)), std::invalid_argument);
    EXPECT_FALSE(store.get("i", "t", "k").has_value());
}

}  // namespace
}  // namespace kms::tsm
