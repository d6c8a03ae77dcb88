// Path matching for the route table.
#include "api/router.hpp"

namespace kms::api {

namespace {
std::vector<std::string> split(std::string_view path) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < path.size()) {
        if (path[i] == '/') {
            ++i;
            continue;
        }
        const std::size_t j = path.find('/', i);
        out.emplace_back(path.substr(i, j == std::string_view::npos ? path.size() - i : j - i));
        if (j == std::string_view::npos) break;
        i = j;
    }
    return out;
}
}  // namespace

std::optional<std::string> Request::q(std::string_view name) const {
    for (const auto& [k, v] : query)
        if (k == name) return v;
    return std::nullopt;
}

void Router::add(std::string method, std::string_view pattern, std::string action, BodyPolicy body,
                 Handler handler, bool authenticated) {
    m_routes.push_back(Route{std::move(method), split(pattern), authenticated, body,
                             std::move(action), std::move(handler), {}});
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
    Match m;
    const auto segs = split(path);
    for (const auto& r : m_routes) {
        if (r.segments.size() != segs.size()) continue;
        std::vector<std::string> params;
        bool ok = true;
        for (std::size_t i = 0; i < segs.size() && ok; ++i) {
            const auto& p = r.segments[i];
            if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
                if (segs[i].empty() || segs[i].size() > 128)
                    ok = false;
                else
                    params.push_back(segs[i]);
            } else if (p != segs[i]) {
                ok = false;
            }
        }
        if (!ok) continue;
        m.path_known = true;
        if (r.method == method) {
            m.route = &r;
            m.params = std::move(params);
            return m;
        }
    }
    return m;
}

void Router::require_approval(std::string operation) {
    if (m_routes.empty()) throw std::logic_error("require_approval() before any add()");
    m_routes.back().approval_operation = std::move(operation);
}

}  // namespace kms::api
