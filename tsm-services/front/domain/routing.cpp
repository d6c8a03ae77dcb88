// The front's routing table, health states and round robin (routing.hpp).
#include "routing.hpp"

#include <algorithm>

namespace kms::tsm::front {

bool valid_action_code(const std::string& code) {
    if (code.empty() || code.size() > 64) return false;
    return std::all_of(code.begin(), code.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

RoutingTable::RoutingTable(std::map<std::string, StaticRoute> routes)
    : m_static(std::move(routes)) {}

Millis RoutingTable::register_instance(const Registration& r, Millis now) {
    Registered& reg = m_registered[r.instance];
    reg.action_codes = r.action_codes;
    std::sort(reg.action_codes.begin(), reg.action_codes.end());
    reg.action_codes.erase(std::unique(reg.action_codes.begin(), reg.action_codes.end()),
                           reg.action_codes.end());
    reg.expires_at = now + r.ttl_ms;
    reg.path = r.path.value_or("/actions");
    reg.operation = r.operation.value_or(false);
    reg.routes = r.routes;
    return reg.expires_at;
}

bool RoutingTable::unregister(const std::string& instance) {
    return m_registered.erase(instance) > 0;
}

std::vector<std::string> RoutingTable::expire(Millis now) {
    std::vector<std::string> dropped;
    for (auto it = m_registered.begin(); it != m_registered.end();) {
        if (it->second.expires_at <= now) {
            dropped.push_back(it->first);
            it = m_registered.erase(it);
        } else {
            ++it;
        }
    }
    return dropped;
}

std::vector<Candidate> RoutingTable::candidates(const std::string& action_code, Millis now) const {
    std::vector<Candidate> out;
    const auto rule = m_static.find(action_code);
    if (rule != m_static.end())
        for (const std::string& url : rule->second.instances)
            out.push_back({url, rule->second.path, rule->second.operation, Source::Static, {}});
    for (const auto& [url, reg] : m_registered) {
        if (reg.expires_at <= now) continue;
        if (!std::binary_search(reg.action_codes.begin(), reg.action_codes.end(), action_code))
            continue;
        // An instance both configured and registered is one candidate (the static one), so it
        // does not get two turns of the round robin.
        if (std::any_of(out.begin(), out.end(),
                        [&](const Candidate& c) { return c.instance == url; }))
            continue;
        if (rule != m_static.end())
            out.push_back({url, rule->second.path, rule->second.operation, Source::Registered,
                           reg.expires_at});
        else if (const auto own = reg.routes.find(action_code); own != reg.routes.end())
            out.push_back(
                {url, own->second.path, own->second.operation, Source::Registered, reg.expires_at});
        else
            out.push_back({url, reg.path, reg.operation, Source::Registered, reg.expires_at});
    }
    return out;
}

std::vector<std::string> RoutingTable::action_codes(Millis now) const {
    std::set<std::string> codes;
    for (const auto& [code, rule] : m_static) codes.insert(code);
    for (const auto& [url, reg] : m_registered)
        if (reg.expires_at > now) codes.insert(reg.action_codes.begin(), reg.action_codes.end());
    return {codes.begin(), codes.end()};
}

std::set<std::string> RoutingTable::instances(Millis now) const {
    std::set<std::string> out;
    for (const auto& [code, rule] : m_static)
        out.insert(rule.instances.begin(), rule.instances.end());
    for (const auto& [url, reg] : m_registered)
        if (reg.expires_at > now) out.insert(url);
    return out;
}

HealthTracker::HealthTracker(int failures_to_unhealthy)
    : m_threshold(std::max(1, failures_to_unhealthy)) {}

void HealthTracker::success(const std::string& instance) {
    m_state[instance] = State{};
}

void HealthTracker::failure(const std::string& instance) {
    State& s = m_state[instance];
    ++s.failures;
    if (s.failures >= m_threshold) s.healthy = false;
}

void HealthTracker::suspect(const std::string& instance) {
    State& s = m_state[instance];
    s.failures = std::max(s.failures + 1, m_threshold);
    s.healthy = false;
}

bool HealthTracker::healthy(const std::string& instance) const {
    const auto it = m_state.find(instance);
    return it == m_state.end() || it->second.healthy;
}

int HealthTracker::failures(const std::string& instance) const {
    const auto it = m_state.find(instance);
    return it == m_state.end() ? 0 : it->second.failures;
}

std::vector<Candidate> RoundRobin::order(const std::string& action_code,
                                         const std::vector<Candidate>& all,
                                         const HealthTracker& health) {
    std::vector<Candidate> healthy;
    for (const Candidate& c : all)
        if (health.healthy(c.instance)) healthy.push_back(c);
    if (healthy.empty()) return healthy;
    const std::uint64_t turn = m_next[action_code]++;
    std::rotate(healthy.begin(), healthy.begin() + static_cast<long>(turn % healthy.size()),
                healthy.end());
    return healthy;
}

}  // namespace kms::tsm::front
