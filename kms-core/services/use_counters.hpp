// Per-key use counters kept in memory and flushed to the store periodically (one "key.use"
// audit record per key and flush, not one per MAC). Sharded so concurrent operations on
// different keys rarely share a lock.
#pragma once

#include <array>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "domain/key.hpp"
#include "domain/key_state.hpp"

namespace kms::core {

class UseCounterBook {
  public:
    void count(std::string_view key_id, Operation op);
    /// Not yet flushed counts of @p key_id.
    UseCounters pending(std::string_view key_id) const;
    /// Takes every pending count out of the book (the caller writes them to the store and, if
    /// that fails, gives them back with restore()).
    std::vector<std::pair<std::string, UseCounters>> take();
    void restore(const std::vector<std::pair<std::string, UseCounters>>& deltas);

  private:
    struct Shard {
        mutable std::mutex mutex;
        std::unordered_map<std::string, UseCounters> counts;
    };
    Shard& shard(std::string_view id) const;
    mutable std::array<Shard, 16> m_shards;
};

}  // namespace kms::core
