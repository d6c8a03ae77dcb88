// UseCounterBook: sharded in-memory counters.
#include "services/use_counters.hpp"

#include <functional>

namespace kms::core {

UseCounterBook::Shard& UseCounterBook::shard(std::string_view id) const {
    return m_shards[std::hash<std::string_view>{}(id) % m_shards.size()];
}

void UseCounterBook::count(std::string_view key_id, Operation op) {
    Shard& s = shard(key_id);
    std::lock_guard lock(s.mutex);
    auto it = s.counts.find(std::string(key_id));
    if (it == s.counts.end()) it = s.counts.emplace(std::string(key_id), UseCounters{}).first;
    UseCounters& c = it->second;
    switch (op) {
        case Operation::Encrypt:
            ++c.encrypt;
            break;
        case Operation::Decrypt:
            ++c.decrypt;
            break;
        case Operation::Mac:
            ++c.mac;
            break;
        case Operation::MacVerify:
            ++c.mac_verify;
            break;
        case Operation::Sign:
            ++c.sign;
            break;
        case Operation::Verify:
            ++c.verify;
            break;
        default:
            break;
    }
}

UseCounters UseCounterBook::pending(std::string_view key_id) const {
    Shard& s = shard(key_id);
    std::lock_guard lock(s.mutex);
    auto it = s.counts.find(std::string(key_id));
    return it == s.counts.end() ? UseCounters{} : it->second;
}

std::vector<std::pair<std::string, UseCounters>> UseCounterBook::take() {
    std::vector<std::pair<std::string, UseCounters>> out;
    for (Shard& s : m_shards) {
        std::lock_guard lock(s.mutex);
        for (auto& [id, c] : s.counts) out.emplace_back(id, c);
        s.counts.clear();
    }
    return out;
}

void UseCounterBook::restore(const std::vector<std::pair<std::string, UseCounters>>& deltas) {
    for (const auto& [id, c] : deltas) {
        Shard& s = shard(id);
        std::lock_guard lock(s.mutex);
        s.counts[id] += c;
    }
}

}  // namespace kms::core
