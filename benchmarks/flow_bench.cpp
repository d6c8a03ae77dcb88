// flow_bench: top-up flows per second end to end (wallet -> front -> sp-tsm -> kmsd -> card) and
// their latency, against a running demo (benchmarks/flows.sh starts one). Each thread is one
// phone with its own card: an in-process virtual SE with the demo card's keys and its own SEID,
// registered in se-tsm with a valid transit attribute, its purse installed through the front.
// Then every thread runs top-ups of 1 unit back to back for the given time, relaying each APDU
// to its card, and the figures of the flows that ended `success` are printed as one line of
// `key=value` pairs. Not a test: run by hand (docs/benchmarks.md).
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/https_connection.hpp"
#include "domain/bytes.hpp"
#include "domain/secure_bytes.hpp"
#include "virtual_se.hpp"

namespace {

using namespace kms;
using Clock = std::chrono::steady_clock;

struct Options {
    std::string front, se, ca, wallet_cert, wallet_key, se_cert, se_key, isd_key,
        seid_prefix = "BE";
    int threads = 8;
    int seconds = 15;
};

Poco::JSON::Object::Ptr json(const std::string& text) {
    Poco::JSON::Parser parser;
    return parser.parse(text).extract<Poco::JSON::Object::Ptr>();
}

client::HttpsConnection connect(const std::string& url, const std::string& ca,
                                const std::string& cert, const std::string& key) {
    client::HttpsEndpoint e;
    client::parse_https_url(url, e);
    e.ca_file = ca;
    e.cert_file = cert;
    e.key_file = key;
    return client::HttpsConnection(e);
}

client::HttpAnswer post(client::HttpsConnection& c, const std::string& target,
                        const std::string& body, const std::string& method = "POST") {
    client::HttpCall call;
    call.method = method;
    call.target = target;
    call.body = body;
    return c.send(call);
}

/// One phone: its card and its connection to the front.
struct Phone {
    std::string seid;
    std::unique_ptr<tsm::vse::VirtualSe> card;
    client::HttpsConnection front;

    Phone(const Options& o, int n) : front(connect(o.front, o.ca, o.wallet_cert, o.wallet_key)) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%s%014X", o.seid_prefix.c_str(), n);
        seid = buf;
        tsm::vse::VirtualSeConfig cfg;
        cfg.scp = tsm::vse::Scp::Scp02;
        cfg.i = 0x55;
        cfg.key_version = 0x20;
        const Bytes key = from_hex("404142434445464748494A4B4C4D4E4F");
        cfg.enc = SecureBytes(key);
        cfg.mac = SecureBytes(key);
        cfg.dek = SecureBytes(key);
        cfg.kdd = from_hex(seid + "0000");  // 10 bytes, unique per card
        card = std::make_unique<tsm::vse::VirtualSe>(std::move(cfg));
    }

    /// Runs one operation to its end; returns the outcome ("" and @p error when it failed at
    /// the HTTP level).
    std::string run(const std::string& start, std::string& error) {
        auto a = post(front, "/actions", start);
        if (a.status != 201) {
            error = std::to_string(a.status) + " " + a.body;
            return "";
        }
        auto r = json(a.body);
        const std::string op = r->getValue<std::string>("operation");
        for (;;) {
            auto action = r->getObject("action");
            if (action->getValue<std::string>("kind") == "done")
                return action->getValue<std::string>("outcome");
            const Bytes response = card->process(from_hex(action->getValue<std::string>("apdu")));
            a = post(front, "/operations/" + op + "/responses",
                     "{\"seq\":" + std::to_string(r->getValue<std::uint64_t>("seq")) +
                         ",\"response\":\"" + to_hex(response) + "\"}");
            if (a.status != 200) {
                error = std::to_string(a.status) + " " + a.body;
                return "";
            }
            r = json(a.body);
        }
    }
    std::string body(const std::string& code, const std::string& script,
                     const std::string& variables) const {
        return "{\"actionCode\":\"" + code + "\",\"script\":\"" + script + "\",\"seid\":\"" + seid +
               "\",\"productId\":\"transit\",\"variables\":" + variables + "}";
    }
};

int run(const Options& o) {
    // Set-up: register every card in se-tsm with a valid transit attribute.
    auto se = connect(o.se, o.ca, o.se_cert, o.se_key);
    std::vector<std::unique_ptr<Phone>> phones;
    for (int i = 0; i < o.threads; ++i) {
        phones.push_back(std::make_unique<Phone>(o, i));
        const std::string& seid = phones.back()->seid;
        auto r = post(se, "/ses",
                      "{\"seid\":\"" + seid + "\",\"cplc\":\"" + std::string(84, '0') +
                          "\",\"productId\":\"dev-card\",\"isdKey\":{\"keyId\":\"" + o.isd_key +
                          "\",\"diversification\":\"none\"},\"owner\":\"bench-" +
                          std::to_string(i) + "\"}");
        if (r.status != 201 && r.status != 409) {
            std::cerr << "flow_bench: POST /ses: " << r.status << " " << r.body << "\n";
            return 1;
        }
        r = post(se, "/ses/" + seid + "/attributes/transit", "{\"valid\":true}", "PUT");
        if (r.status != 200) {
            std::cerr << "flow_bench: attribute: " << r.status << " " << r.body << "\n";
            return 1;
        }
    }
    // Install the purse on every card once the attribute has reached sp-tsm.
    for (auto& p : phones) {
        std::string outcome, error;
        for (int attempt = 0; attempt < 100; ++attempt) {
            error.clear();
            outcome = p->run(p->body("transit.install", "install",
                                     R"({"isdAid":"A000000151000000","initialBalance":0})"),
                             error);
            if (!outcome.empty()) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        if (outcome != "success") {
            std::cerr << "flow_bench: install on " << p->seid << ": " << outcome << " " << error
                      << "\n";
            return 1;
        }
    }
    // The measured phase.
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::vector<double> latencies_ms;
    std::map<std::string, int> failures;
    std::vector<std::thread> threads;
    const auto start = Clock::now();
    for (auto& p : phones) {
        threads.emplace_back([&, phone = p.get()] {
            std::vector<double> mine;
            std::map<std::string, int> bad;
            const std::string body = phone->body(
                "transit.topup", "top-up",
                R"({"purseAid":"A0000005591010FFFF","amount":"1","balanceCeiling":"4000000000"})");
            while (!stop.load()) {
                const auto t0 = Clock::now();
                std::string error, outcome;
                try {
                    outcome = phone->run(body, error);
                } catch (const std::exception& e) {
                    error = e.what();
                }
                const double ms =
                    std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
                if (outcome == "success")
                    mine.push_back(ms);
                else
                    ++bad[outcome.empty() ? error.substr(0, 60) : outcome];
            }
            std::lock_guard lock(mu);
            latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
            for (const auto& [k, v] : bad) failures[k] += v;
        });
    }
    std::this_thread::sleep_for(std::chrono::seconds(o.seconds));
    stop = true;
    for (auto& t : threads) t.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::sort(latencies_ms.begin(), latencies_ms.end());
    auto pct = [&](double q) {
        if (latencies_ms.empty()) return 0.0;
        return latencies_ms[std::min(latencies_ms.size() - 1,
                                     static_cast<std::size_t>(q * latencies_ms.size()))];
    };
    int failed = 0;
    for (const auto& [k, v] : failures) {
        failed += v;
        std::cerr << "flow_bench: " << v << " flows failed: " << k << "\n";
    }
    std::printf(
        "threads=%d seconds=%.1f flows=%zu failed=%d flows_per_s=%.0f p50_ms=%.1f "
        "p99_ms=%.1f max_ms=%.1f\n",
        o.threads, elapsed, latencies_ms.size(), failed, latencies_ms.size() / elapsed, pct(0.50),
        pct(0.99), latencies_ms.empty() ? 0.0 : latencies_ms.back());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    std::map<std::string, std::string*> strings = {{"--front", &o.front},
                                                   {"--se", &o.se},
                                                   {"--ca", &o.ca},
                                                   {"--wallet-cert", &o.wallet_cert},
                                                   {"--wallet-key", &o.wallet_key},
                                                   {"--se-cert", &o.se_cert},
                                                   {"--se-key", &o.se_key},
                                                   {"--seid-prefix", &o.seid_prefix},
                                                   {"--isd-key", &o.isd_key}};
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string name = argv[i], value = argv[i + 1];
        if (auto it = strings.find(name); it != strings.end())
            *it->second = value;
        else if (name == "--threads")
            o.threads = std::stoi(value);
        else if (name == "--seconds")
            o.seconds = std::stoi(value);
        else {
            std::cerr << "flow_bench: unknown option " << name << "\n";
            return 64;
        }
    }
    if (o.front.empty() || o.se.empty() || o.ca.empty() || o.isd_key.empty() ||
        o.seid_prefix.size() != 2) {
        std::cerr << "usage: flow_bench --front URL --se URL --ca FILE --wallet-cert F "
                     "--wallet-key F --se-cert F --se-key F --isd-key KMS-KEY-ID [--threads N] "
                     "[--seconds N] "
                     "[--seid-prefix 2 hex digits]\n";
        return 64;
    }
    client::TlsLibrary tls;
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::cerr << "flow_bench: " << e.what() << "\n";
        return 1;
    }
}
