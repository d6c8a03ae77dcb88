// The crash test's checks after a restart (see crash_checks.hpp).
#include "crash_checks.hpp"

#include <Poco/JSON/Array.h>

#include <algorithm>
#include <map>
#include <sstream>

namespace kms::test {

namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

using KeyJson = Poco::JSON::Object::Ptr;

/// Every key whose name starts with "crash-", by name, over all pages. Lists without the
/// namePrefix query on purpose: that path reads the name index, which holds no destroyed key,
/// so tombstones would be missing (docs/crash-safety.md, "Findings").
std::map<std::string, KeyJson> list_crash_keys(HttpsClient& c, const std::string& token,
                                               Failures& failures) {
    std::map<std::string, KeyJson> out;
    std::string after;
    for (;;) {
        auto r = c.get("/v1/keys?limit=1000" + (after.empty() ? std::string() : "&after=" + after),
                       token);
        if (r.status != 200) {
            failures.add("GET /v1/keys: " + std::to_string(r.status) + " " + r.body);
            return out;
        }
        auto j = r.json();
        auto keys = j->getArray("keys");
        for (std::size_t i = 0; i < keys->size(); ++i) {
            auto k = keys->getObject(static_cast<unsigned>(i));
            const std::string name = k->getValue<std::string>("name");
            if (name.rfind("crash-", 0) == 0) out[name] = k;
        }
        if (j->isNull("next")) break;
        after = j->getValue<std::string>("next");
    }
    return out;
}

/// version -> KCV (lower-case hex) of a key object's "versions".
std::map<std::uint32_t, std::string> kcvs_of(const KeyJson& k) {
    std::map<std::uint32_t, std::string> out;
    auto vs = k->getArray("versions");
    for (std::size_t i = 0; i < vs->size(); ++i) {
        auto v = vs->getObject(static_cast<unsigned>(i));
        out[v->getValue<std::uint32_t>("version")] =
            v->isNull("kcv") ? std::string() : lower(v->getValue<std::string>("kcv"));
    }
    return out;
}

std::string mac_body() {
    return std::string(R"({"algorithm":"AES-CMAC","data":")") + kZeroBlockHex + "\"}";
}

std::string verify_body(const std::string& tag, std::uint32_t version) {
    return std::string(R"({"algorithm":"AES-CMAC","data":")") + kZeroBlockHex + R"(","mac":")" +
           tag + R"(","version":)" + std::to_string(version) + "}";
}

/// Compares one model key with what kmsd lists and adopts the outcome of a pending operation.
/// Returns false when the key cannot be checked further (it is, rightly or not, not there).
bool resolve(ModelKey& k, const std::map<std::string, KeyJson>& listed, Failures& failures) {
    const auto it = listed.find(k.name);
    const std::string who = k.name + (k.id.empty() ? "" : " (" + k.id + ")");
    const Pending pending = std::exchange(k.pending, Pending::None);
    if (pending == Pending::Create) {
        if (it == listed.end()) {
            k.life = Life::Absent;  // never committed: fine, and it must stay gone
            return false;
        }
        const KeyJson& j = it->second;
        k.id = j->getValue<std::string>("id");
        k.version = 1;
        k.life = Life::Active;
        k.kcv = kcvs_of(j);
        k.touched = true;
        if (j->getValue<std::string>("state") != "Active" ||
            j->getValue<std::uint32_t>("version") != 1 || k.kcv.size() != 1)
            failures.add("unacknowledged create " + k.name + " left a half-made key: state " +
                         j->getValue<std::string>("state") + ", " + std::to_string(k.kcv.size()) +
                         " version(s)");
        return true;
    }
    if (k.life == Life::Absent) {
        if (it != listed.end())
            failures.add(k.name + ", never created, appeared as " +
                         it->second->getValue<std::string>("id"));
        return false;
    }
    if (it == listed.end()) {
        failures.add("LOST: acknowledged key " + who + " (" + life_name(k.life) +
                     ") is not listed after the restart");
        return false;
    }
    const KeyJson& j = it->second;
    if (j->getValue<std::string>("id") != k.id)
        failures.add(who + " is listed with id " + j->getValue<std::string>("id"));
    const std::string state = j->getValue<std::string>("state");
    const auto version = j->getValue<std::uint32_t>("version");
    const auto kcvs = kcvs_of(j);
    const std::string was = std::string(life_name(k.life)) + " v" + std::to_string(k.version);
    bool ok = true;
    switch (pending) {
        case Pending::None:
            ok = state == life_name(k.life) && version == k.version;
            break;
        case Pending::Rotate:
            ok = state == "Active" && (version == k.version || version == k.version + 1);
            if (ok && version == k.version + 1 && kcvs.count(version) != 0) {
                k.kcv[version] = kcvs.at(version);
                k.version = version;
            }
            break;
        case Pending::Deactivate:
            ok = (state == "Active" || state == "Deactivated") && version == k.version;
            if (state == "Deactivated") k.life = Life::Deactivated;
            break;
        case Pending::Destroy:
            ok = (state == "Deactivated" || state == "Destroyed") && version == k.version;
            if (state == "Destroyed") k.life = Life::Destroyed;
            break;
        case Pending::Create:
            break;
    }
    if (!ok)
        failures.add(who + ": expected " + was + " (pending " + pending_name(pending) +
                     "), kmsd shows " + state + " v" + std::to_string(version));
    for (const auto& [v, kcv] : k.kcv) {
        const auto f = kcvs.find(v);
        if (f == kcvs.end() || f->second != kcv)
            failures.add(who + " v" + std::to_string(v) + ": acknowledged KCV " + kcv +
                         ", kmsd shows " + (f == kcvs.end() ? "no such version" : f->second));
    }
    if (kcvs.size() != k.kcv.size())
        failures.add(who + ": kmsd lists " + std::to_string(kcvs.size()) + " versions, " +
                     std::to_string(k.kcv.size()) + " were acknowledged");
    return true;
}

/// Proves (or disproves) that @p k's material is there exactly as its state allows.
void use_key(HttpsClient& c, const std::string& token, ModelKey& k, Failures& failures) {
    const std::string base = "/v1/keys/" + k.id;
    const std::string who =
        k.name + " (" + k.id + ", " + life_name(k.life) + " v" + std::to_string(k.version) + ")";
    auto verify_tags = [&](bool only_current) {
        for (const auto& [v, tag] : k.tags) {
            if (only_current && v != k.version) continue;
            auto r = c.post(base + "/mac/verify", verify_body(tag, v), token);
            if (r.status != 200 || !r.json()->getValue<bool>("valid"))
                failures.add(who + ": the recorded tag of v" + std::to_string(v) +
                             " does not verify: " + std::to_string(r.status) + " " + r.body);
        }
    };
    if (k.life == Life::Active) {
        auto r = c.post(base + "/mac", mac_body(), token);
        if (r.status != 200) {
            failures.add(who + " is listed Active but not usable: " + std::to_string(r.status) +
                         " " + r.body);
            return;
        }
        const std::string mac = lower(r.json()->getValue<std::string>("mac"));
        const auto v = r.json()->getValue<std::uint32_t>("version");
        if (v != k.version || mac.substr(0, 6) != k.kcv[k.version])
            failures.add(who + ": MAC with v" + std::to_string(v) + " gives " + mac +
                         ", not the acknowledged KCV " + k.kcv[k.version]);
        const auto known = k.tags.find(v);
        if (known != k.tags.end() && known->second != mac)
            failures.add(who + ": CMAC(0^16) changed from " + known->second + " to " + mac);
        k.tags[v] = mac;
        verify_tags(false);
    } else if (k.life == Life::Deactivated) {
        auto r = c.post(base + "/mac", mac_body(), token);
        if (r.status != 409)
            failures.add(who + ": MAC generation answered " + std::to_string(r.status) +
                         " (409 expected for a Deactivated key)");
        if (k.tags.count(k.version) == 0) failures.add(who + ": no recorded tag (test bug)");
        verify_tags(true);
    } else if (k.life == Life::Destroyed) {
        for (const auto& [v, tag] : k.tags) {
            auto r = c.post(base + "/mac/verify", verify_body(tag, v), token);
            if (r.status != 409)
                failures.add(who + ": a destroyed key's v" + std::to_string(v) +
                             " answered verify with " + std::to_string(r.status) + " " + r.body);
        }
    }
}

}  // namespace

std::size_t check_keys(HttpsClient& c, const std::string& token, std::vector<Slot>& slots,
                       std::mt19937_64& rng, std::size_t sample, Failures& failures) {
    const auto listed = list_crash_keys(c, token, failures);
    std::map<std::string, bool> known;
    std::vector<ModelKey*> present, others;
    for (auto& slot : slots)
        for (auto& k : slot.keys) {
            known[k.name] = true;
            if (!resolve(k, listed, failures)) continue;
            (k.touched || sample == SIZE_MAX ? present : others).push_back(&k);
        }
    for (const auto& [name, j] : listed)
        if (known.count(name) == 0)
            failures.add("kmsd lists " + name + " (" + j->getValue<std::string>("id") +
                         "), which no client ever asked for");
    std::shuffle(others.begin(), others.end(), rng);
    if (others.size() > sample) others.resize(sample);
    present.insert(present.end(), others.begin(), others.end());
    for (ModelKey* k : present) use_key(c, token, *k, failures);
    for (auto& slot : slots)
        for (auto& k : slot.keys) k.touched = false;
    return present.size();
}

std::size_t finish_destroy_approvals(const Target& target, std::vector<Slot>& slots,
                                     Failures& failures) {
    HttpsClient officer("127.0.0.1", target.port, target.ca_file);
    HttpsClient approver("127.0.0.1", target.port, target.ca_file);
    std::size_t finished = 0;
    for (auto& slot : slots)
        for (auto& k : slot.keys) {
            if (k.approval.empty()) continue;
            const std::string id = std::exchange(k.approval, std::string());
            const std::string who =
                "approval " + id + " (destroy " + k.id + ", key " + life_name(k.life) + ")";
            auto r = officer.get("/v1/approvals/" + id, target.officer);
            if (r.status != 200) {
                failures.add(who + " is gone after the restart: " + std::to_string(r.status) + " " +
                             r.body);
                continue;
            }
            std::string state = r.json()->getValue<std::string>("state");
            if (k.life == Life::Destroyed) {
                if (state != "executing" && state != "executed")
                    failures.add(who + " is " + state + " although the key was destroyed");
                continue;
            }
            if (k.life != Life::Deactivated) {
                failures.add(who + ": the key is " + life_name(k.life));
                continue;
            }
            const bool ok = k.approval_voted ? (state == "approved" || state == "executing")
                                             : (state == "pending" || state == "approved");
            if (!ok) {
                failures.add(who + " is " + state + (k.approval_voted ? " after" : " before") +
                             " an acknowledged vote");
                continue;
            }
            if (state == "pending") {
                auto v = approver.post("/v1/approvals/" + id + "/approve", "", target.approver);
                if (v.status != 200) {
                    failures.add(who + ": approve after the restart: " + std::to_string(v.status) +
                                 " " + v.body);
                    continue;
                }
                state = v.json()->getValue<std::string>("state");
            }
            if (state != "approved") continue;  // executing: final, the key stays Deactivated
            auto x = officer.post("/v1/approvals/" + id + "/execute", "", target.officer);
            if (x.status != 200 || x.json()->getValue<std::string>("state") != "Destroyed") {
                failures.add(who + ": execute after the restart: " + std::to_string(x.status) +
                             " " + x.body);
                continue;
            }
            k.life = Life::Destroyed;
            k.touched = true;
            ++finished;
        }
    return finished;
}

std::vector<std::string> reconcile_lines(const std::string& log, const std::string& kind) {
    const std::string prefix = "kmsd: reconcile: " + kind;
    std::vector<std::string> out;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(prefix, 0) == 0) out.push_back(line.substr(prefix.size()));
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace kms::test
