// A read-through cache of key records for the hot path (a MAC must not decode a record from
// LMDB each time). Coherent within one kmsd: every write invalidates after commit, and a
// generation counter keeps a reader that loaded before the write from re-inserting stale data.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "domain/key.hpp"

namespace kms::core {

class KeyCache {
  public:
    /// @p capacity 0 disables the cache: get() always misses, so every use reads the store
    /// (kmsd on a shared PostgreSQL store, where another node may change a key).
    explicit KeyCache(std::size_t capacity = 100000) : m_capacity(capacity) {}

    /// The cached record or nullptr.
    std::shared_ptr<const KeyRecord> get(std::string_view id) const;
    /// The generation to pass to insert(); read it before loading from the store.
    std::uint64_t generation() const { return m_generation.load(std::memory_order_acquire); }
    /// Inserts unless a write happened since @p generation was read.
    void insert(std::shared_ptr<const KeyRecord> record, std::uint64_t generation);
    /// Drops @p id and advances the generation (call after a committed write).
    void invalidate(std::string_view id);
    std::size_t size() const;

  private:
    std::size_t m_capacity;
    mutable std::shared_mutex m_mutex;
    std::unordered_map<std::string, std::shared_ptr<const KeyRecord>> m_map;
    std::atomic<std::uint64_t> m_generation{0};
};

}  // namespace kms::core
