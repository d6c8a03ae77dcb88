// The crash test's client threads (see crash_workload.hpp).
#include "crash_workload.hpp"

#include <Poco/Exception.h>

#include <optional>

namespace kms::test {

namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

const char* pending_name(Pending p) {
    switch (p) {
        case Pending::None:
            return "none";
        case Pending::Create:
            return "create";
        case Pending::Rotate:
            return "rotate";
        case Pending::Deactivate:
            return "deactivate";
        case Pending::Destroy:
            return "destroy";
    }
    return "?";
}

const char* life_name(Life l) {
    switch (l) {
        case Life::Absent:
            return "Absent";
        case Life::Active:
            return "Active";
        case Life::Deactivated:
            return "Deactivated";
        case Life::Destroyed:
            return "Destroyed";
    }
    return "?";
}

namespace {

/// One request; nullopt when the transport failed (kmsd killed mid-request). Only transport
/// failures are swallowed here: an answer, whatever its status, comes back.
std::optional<HttpResponse> send(HttpsClient& c, Counters& counters, const std::string& method,
                                 const std::string& path, const std::string& body,
                                 const std::string& token) {
    try {
        return c.request(method, path, body, token);
    } catch (const Poco::Exception&) {
    } catch (const std::exception&) {
    }
    counters.transport_errors.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
}

}  // namespace

bool Worker::fail(const std::string& what) {
    m_failures.add("round " + std::to_string(m_round) + " worker " + std::to_string(m_index) +
                   ": " + what);
    return false;
}

void Worker::run() noexcept {
    try {
        HttpsClient officer("127.0.0.1", m_target.port, m_target.ca_file);
        HttpsClient approver("127.0.0.1", m_target.port, m_target.ca_file);
        m_officer = &officer;
        m_approver = &approver;
        while (!m_stop.load(std::memory_order_relaxed)) {
            std::vector<ModelKey*> active, deactivated;
            for (auto& k : m_slot.keys) {
                if (k.pending != Pending::None) continue;  // unresolved until the restart
                if (k.life == Life::Active) active.push_back(&k);
                if (k.life == Life::Deactivated) deactivated.push_back(&k);
            }
            const unsigned p = std::uniform_int_distribution<unsigned>(0, 99)(m_rng);
            bool ok;
            if (active.size() < 2 || p < 45) {
                ok = create();
            } else if (p < 75) {
                ok = rotate(*active[m_rng() % active.size()]);
            } else if (!deactivated.empty() && p < 85) {
                ok = destroy(*deactivated[m_rng() % deactivated.size()]);
            } else {
                ok = destroy(*active[m_rng() % active.size()]);
            }
            if (!ok) break;
        }
    } catch (const std::exception& e) {
        fail(std::string("unexpected exception: ") + e.what());
    }
    m_officer = m_approver = nullptr;
}

bool Worker::record_tag(ModelKey& k) {
    auto r = send(*m_officer, m_counters, "POST", "/v1/keys/" + k.id + "/mac",
                  std::string(R"({"algorithm":"AES-CMAC","data":")") + kZeroBlockHex + "\"}",
                  m_target.officer);
    if (!r) return false;
    if (r->status != 200)
        return fail("mac " + k.id + ": " + std::to_string(r->status) + " " + r->body);
    auto j = r->json();
    const std::string mac = lower(j->getValue<std::string>("mac"));
    const auto version = j->getValue<std::uint32_t>("version");
    if (version != k.version)
        return fail("mac " + k.id + " used version " + std::to_string(version) + ", expected " +
                    std::to_string(k.version));
    if (mac.substr(0, 6) != k.kcv[version])
        return fail("mac " + k.id + " v" + std::to_string(version) + ": CMAC(0^16) " + mac +
                    " does not start with the acknowledged KCV " + k.kcv[version]);
    k.tags[version] = mac;
    return true;
}

bool Worker::create() {
    ModelKey& k = m_slot.keys.emplace_back();
    k.name = "crash-r" + std::to_string(m_round) + "-w" + std::to_string(m_index) + "-" +
             std::to_string(m_slot.next_name++);
    k.pending = Pending::Create;
    k.touched = true;
    auto r = send(*m_officer, m_counters, "POST", "/v1/keys",
                  R"({"name":")" + k.name + R"(","algorithm":"AES-256","usage":["mac"]})",
                  m_target.officer);
    if (!r) return false;
    if (r->status != 201)
        return fail("create " + k.name + ": " + std::to_string(r->status) + " " + r->body);
    auto j = r->json();
    k.id = j->getValue<std::string>("id");
    k.version = j->getValue<std::uint32_t>("version");
    k.kcv[k.version] = lower(j->getValue<std::string>("kcv"));
    if (j->getValue<std::string>("state") != "Active" || k.version != 1)
        return fail("create " + k.name + " answered " + r->body);
    k.life = Life::Active;
    k.pending = Pending::None;
    m_counters.created.fetch_add(1, std::memory_order_relaxed);
    return record_tag(k);
}

bool Worker::rotate(ModelKey& k) {
    k.pending = Pending::Rotate;
    k.touched = true;
    auto r =
        send(*m_officer, m_counters, "POST", "/v1/keys/" + k.id + "/rotate", "", m_target.officer);
    if (!r) return false;
    if (r->status != 200)
        return fail("rotate " + k.id + ": " + std::to_string(r->status) + " " + r->body);
    auto j = r->json();
    const auto version = j->getValue<std::uint32_t>("version");
    if (version != k.version + 1)
        return fail("rotate " + k.id + " from v" + std::to_string(k.version) + " answered v" +
                    std::to_string(version));
    k.version = version;
    k.kcv[version] = lower(j->getValue<std::string>("kcv"));
    k.pending = Pending::None;
    m_counters.rotated.fetch_add(1, std::memory_order_relaxed);
    return record_tag(k);
}

bool Worker::destroy(ModelKey& k) {
    k.touched = true;
    if (k.life == Life::Active) {
        // docs/api.md §5.4: an Active key must be deactivated before it can be destroyed.
        k.pending = Pending::Deactivate;
        auto r = send(*m_officer, m_counters, "POST", "/v1/keys/" + k.id + "/deactivate",
                      R"({"reason":"crash test"})", m_target.officer);
        if (!r) return false;
        if (r->status != 200 || r->json()->getValue<std::string>("state") != "Deactivated")
            return fail("deactivate " + k.id + ": " + std::to_string(r->status) + " " + r->body);
        k.life = Life::Deactivated;
        k.pending = Pending::None;
        m_counters.deactivated.fetch_add(1, std::memory_order_relaxed);
    }
    // Dual control (docs/dual-control.md): the request is held (202), a second officer
    // approves, the requester executes; only the execute's 200 acknowledges the destroy.
    k.pending = Pending::Destroy;
    auto held = send(*m_officer, m_counters, "DELETE", "/v1/keys/" + k.id, "", m_target.officer);
    if (!held) return false;
    if (held->status != 202)
        return fail("destroy " + k.id + ": " + std::to_string(held->status) + " " + held->body);
    const std::string approval = held->json()->getValue<std::string>("id");
    k.approval = approval;
    k.approval_voted = false;
    auto vote = send(*m_approver, m_counters, "POST", "/v1/approvals/" + approval + "/approve", "",
                     m_target.approver);
    if (!vote) return false;
    if (vote->status != 200 || vote->json()->getValue<std::string>("state") != "approved")
        return fail("approve " + approval + ": " + std::to_string(vote->status) + " " + vote->body);
    k.approval_voted = true;
    auto done = send(*m_officer, m_counters, "POST", "/v1/approvals/" + approval + "/execute", "",
                     m_target.officer);
    if (!done) return false;
    if (done->status != 200 || done->json()->getValue<std::string>("state") != "Destroyed")
        return fail("execute " + approval + " (destroy " + k.id +
                    "): " + std::to_string(done->status) + " " + done->body);
    k.life = Life::Destroyed;
    k.pending = Pending::None;
    k.approval.clear();
    m_counters.destroyed.fetch_add(1, std::memory_order_relaxed);
    return true;
}

}  // namespace kms::test
