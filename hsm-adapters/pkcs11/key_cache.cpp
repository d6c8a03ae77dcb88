// LRU cache of unwrapped session objects (see key_cache.hpp).
#include "pkcs11/key_cache.hpp"

#include <functional>
#include <utility>
#include <vector>

#include "domain/error.hpp"
#include "pkcs11/session_pool.hpp"

namespace kms::hsm {

CachedObject::~CachedObject() {
    if (pool != nullptr && handle != CK_INVALID_HANDLE) pool->destroy_object(handle, generation);
}

std::size_t KeyCache::ViewHash::operator()(const View& v) const noexcept {
    std::size_t h = std::hash<std::string_view>{}(v.id);
    h ^= (static_cast<std::size_t>(v.version) << 1 | static_cast<std::size_t>(v.role)) +
         0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
    return h;
}

KeyCache::KeyCache(std::size_t capacity) : m_capacity(capacity) {
    if (capacity == 0)
        throw Error(ErrorCode::InvalidArgument, "the HSM handle cache needs a capacity >= 1");
    m_index.reserve(capacity + 1);
}

KeyCache::~KeyCache() {
    clear();
}

CachedHandle KeyCache::find(std::string_view key_id, std::uint32_t version, ObjectRole role,
                            std::uint64_t generation) {
    CachedHandle stale;  // released after the lock: its destructor takes the anchor mutex
    std::lock_guard lock(m_mutex);
    const auto it = m_index.find(View{key_id, version, role});
    if (it == m_index.end()) {
        ++m_misses;
        return nullptr;
    }
    const auto node = it->second;
    if (node->object->generation != generation) {
        stale = std::move(node->object);
        m_index.erase(it);
        m_lru.erase(node);
        ++m_misses;
        return nullptr;
    }
    m_lru.splice(m_lru.begin(), m_lru, node);
    ++m_hits;
    return node->object;
}

CachedHandle KeyCache::insert(std::string_view key_id, std::uint32_t version, ObjectRole role,
                              CachedHandle object) {
    std::vector<CachedHandle> released;  // destroyed after the lock is released
    std::lock_guard lock(m_mutex);
    const auto it = m_index.find(View{key_id, version, role});
    if (it != m_index.end()) {
        const auto node = it->second;
        m_lru.splice(m_lru.begin(), m_lru, node);
        if (node->object->generation == object->generation) {
            released.push_back(std::move(object));  // another thread was first: keep its
            return node->object;
        }
        released.push_back(std::exchange(node->object, object));
        return object;
    }
    m_lru.push_front(Node{std::string(key_id), version, role, object});
    m_index.emplace(m_lru.front().view(), m_lru.begin());
    while (m_lru.size() > m_capacity) {
        Node& last = m_lru.back();
        released.push_back(std::move(last.object));
        m_index.erase(last.view());
        m_lru.pop_back();
        ++m_evictions;
    }
    return object;
}

std::size_t KeyCache::forget(std::string_view key_id) {
    std::vector<CachedHandle> released;
    std::lock_guard lock(m_mutex);
    for (auto it = m_lru.begin(); it != m_lru.end();) {
        if (it->id == key_id) {
            released.push_back(std::move(it->object));
            m_index.erase(it->view());
            it = m_lru.erase(it);
        } else {
            ++it;
        }
    }
    return released.size();
}

void KeyCache::clear() noexcept {
    List dead;
    {
        std::lock_guard lock(m_mutex);
        m_index.clear();
        dead.swap(m_lru);
    }
}

KeyCache::Stats KeyCache::stats() const {
    std::lock_guard lock(m_mutex);
    return {m_lru.size(), m_capacity, m_hits, m_misses, m_evictions};
}

}  // namespace kms::hsm
