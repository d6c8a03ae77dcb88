// KeyCache: shared-lock reads, exclusive writes, generation-checked inserts.
#include "services/key_cache.hpp"

namespace kms::core {

std::shared_ptr<const KeyRecord> KeyCache::get(std::string_view id) const {
    std::shared_lock lock(m_mutex);
    auto it = m_map.find(std::string(id));
    return it == m_map.end() ? nullptr : it->second;
}

void KeyCache::insert(std::shared_ptr<const KeyRecord> record, std::uint64_t generation) {
    if (m_capacity == 0) return;
    std::unique_lock lock(m_mutex);
    if (m_generation.load(std::memory_order_acquire) != generation) return;
    if (m_map.size() >= m_capacity) m_map.clear();  // crude bound; a reload is cheap
    m_map[record->id] = std::move(record);
}

void KeyCache::invalidate(std::string_view id) {
    std::unique_lock lock(m_mutex);
    m_generation.fetch_add(1, std::memory_order_acq_rel);
    m_map.erase(std::string(id));
}

std::size_t KeyCache::size() const {
    std::shared_lock lock(m_mutex);
    return m_map.size();
}

}  // namespace kms::core
