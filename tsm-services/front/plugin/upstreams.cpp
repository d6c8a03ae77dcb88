// Connection pools and health probes towards the upstream instances (upstreams.hpp).
#include "upstreams.hpp"

namespace kms::tsm::front {

using kms::client::HttpAnswer;
using kms::client::HttpCall;
using kms::client::HttpsConnection;
using kms::client::HttpsEndpoint;
using kms::client::TransportError;

Upstreams::Upstreams(UpstreamTls tls, std::size_t max_answer)
    : m_tls(std::move(tls)), m_max_answer(max_answer) {}

HttpsEndpoint Upstreams::endpoint(const std::string& instance) const {
    HttpsEndpoint e;
    kms::client::parse_https_url(instance, e);
    e.ca_file = m_tls.ca;
    e.cert_file = m_tls.certificate;
    e.key_file = m_tls.key;
    e.timeout_seconds = m_tls.timeout_seconds;
    return e;
}

Upstreams::Pool& Upstreams::pool(const std::string& instance) {
    std::lock_guard lock(m_mutex);
    auto& p = m_pools[instance];
    if (!p) {
        p = std::make_unique<Pool>();
        p->endpoint = endpoint(instance);
    }
    return *p;
}

HttpAnswer Upstreams::send(const std::string& instance, const HttpCall& call) {
    Pool& p = pool(instance);
    std::unique_ptr<HttpsConnection> c;
    {
        std::lock_guard lock(p.mutex);
        if (!p.idle.empty()) {
            c = std::move(p.idle.back());
            p.idle.pop_back();
        }
    }
    if (!c) c = std::make_unique<HttpsConnection>(p.endpoint, m_max_answer);
    HttpAnswer a = c->send(call);  // a TransportError drops the connection with c
    std::lock_guard lock(p.mutex);
    if (p.idle.size() < static_cast<std::size_t>(m_tls.pool_size)) p.idle.push_back(std::move(c));
    return a;
}

bool Upstreams::probe(const std::string& instance, int timeout_ms, std::string& why) {
    auto& c = m_probes[instance];
    try {
        if (!c) {
            HttpsEndpoint e = endpoint(instance);
            e.base_path.clear();  // /healthz is tsmd's, at the origin
            e.timeout_seconds = std::max(1, (timeout_ms + 999) / 1000);
            c = std::make_unique<HttpsConnection>(e, 64 * 1024);
        }
        HttpCall call;
        call.method = "GET";
        call.target = "/healthz";
        call.user_agent = "tsm-front/0.1";
        const HttpAnswer a = c->send(call);
        if (a.status == 200) return true;
        why = "GET /healthz answered " + std::to_string(a.status);
    } catch (const TransportError& e) {
        why = e.what();
    } catch (const std::exception& e) {
        why = e.what();
        c.reset();
    }
    return false;
}

void Upstreams::retain_probes(const std::set<std::string>& instances) {
    for (auto it = m_probes.begin(); it != m_probes.end();)
        it = instances.count(it->first) ? std::next(it) : m_probes.erase(it);
}

}  // namespace kms::tsm::front
