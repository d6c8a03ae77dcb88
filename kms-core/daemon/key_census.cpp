// The key census for /metrics (see key_census.hpp).
#include "daemon/key_census.hpp"

#include <map>
#include <string>
#include <utility>

#include "domain/algorithm.hpp"
#include "domain/key_state.hpp"

namespace kms::daemon {

std::vector<api::KeyCount> KeyCensus::counts() {
    std::lock_guard lock(m_mutex);
    const auto now = std::chrono::steady_clock::now();
    if (m_valid && now - m_taken < m_refresh) return m_counts;
    std::map<std::pair<std::string, std::string>, std::uint64_t> tally;
    std::string after;
    for (;;) {
        // 1000 per page (the store's limit): one read transaction per page, so a long walk
        // never pins an old LMDB snapshot for long.
        const core::KeyPage page = m_store.list_keys(core::KeyFilter{}, after, 1000);
        for (const auto& k : page.keys)
            ++tally[{std::string(core::key_state_name(k.state)),
                     std::string(core::info(k.algorithm).name)}];
        if (page.next_after.empty()) break;
        after = page.next_after;
    }
    m_counts.clear();
    for (const auto& [key, n] : tally) m_counts.push_back(api::KeyCount{key.first, key.second, n});
    m_taken = now;
    m_valid = true;
    return m_counts;
}

}  // namespace kms::daemon
