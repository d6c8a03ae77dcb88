// Keys by lifecycle state and algorithm for /metrics, counted by paging through the store at
// most once per refresh period (15 s in kmsd) and only when someone asks: a scrape never walks
// 100,000 keys each time, and an appliance nobody scrapes never walks them at all.
//
// Thread safety: counts() may be called from any thread; concurrent callers during a refresh
// wait for it (one walk, not one per caller).
#pragma once

#include <chrono>
#include <mutex>
#include <vector>

#include "api/metrics.hpp"
#include "ports/metadata_store.hpp"

namespace kms::daemon {

class KeyCensus {
  public:
    /// @p store must outlive the census.
    KeyCensus(core::MetadataStore& store, std::chrono::milliseconds refresh)
        : m_store(store), m_refresh(refresh) {}

    /// The counts as of the last walk, walking again first when it is older than the refresh
    /// period. One entry per (state, algorithm) pair that has keys, sorted by state name, then
    /// algorithm name. Throws kms::Error(StoreError) when the walk fails (the previous counts
    /// are kept for the next call).
    std::vector<api::KeyCount> counts();

  private:
    core::MetadataStore& m_store;
    const std::chrono::milliseconds m_refresh;
    std::mutex m_mutex;
    std::vector<api::KeyCount> m_counts;
    std::chrono::steady_clock::time_point m_taken{};
    bool m_valid = false;
};

}  // namespace kms::daemon
