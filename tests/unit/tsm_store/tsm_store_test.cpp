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
