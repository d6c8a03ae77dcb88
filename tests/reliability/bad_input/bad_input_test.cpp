// The bad-input table (issue 8, suite "reliability"): every row of cases.jsonl is one malformed,
// unauthorized or out-of-place request sent to a real kmsd over TLS on 127.0.0.1. Each must be
// answered with the row's 4xx status and a JSON error naming the problem, never a 5xx; kmsd
// must keep its PID through every group; and each denial must leave exactly the audit record
// the row implies (actor, method, status, error code, the request id the test sent), read back
// through GET /v1/audit. Every route of the served OpenAPI document must appear in the table.
// The objects the rows refer to (keys in each state, approvals, a ceremony, a GP session,
// certificates, plugins with client certificates) are made first through the same API.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "bad_input_setup.hpp"

namespace kms::test {
namespace {

/// One row of cases.jsonl (see the file's header for the fields).
struct Case {
    std::string id, group, method, path, as, body, error, msg;
    std::vector<std::pair<std::string, std::string>> headers;
    int status = 0;
    std::string secret;  ///< a value that must appear in no answer and no audit record
};

std::vector<Case> load_cases(const std::string& file) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot read " + file);
    std::vector<Case> out;
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.empty() || line[0] == '#') continue;
        Poco::JSON::Parser p;
        Poco::JSON::Object::Ptr o;
        try {
            o = p.parse(line).extract<Poco::JSON::Object::Ptr>();
        } catch (const std::exception& e) {
            throw std::runtime_error(file + ":" + std::to_string(n) + ": not a JSON object");
        }
        Case c;
        c.id = o->getValue<std::string>("id");
        c.group = o->getValue<std::string>("g");
        c.method = o->getValue<std::string>("m");
        c.path = o->getValue<std::string>("p");
        c.as = o->optValue<std::string>("as", "admin");
        c.body = o->optValue<std::string>("b", "");
        c.status = o->getValue<int>("s");
        c.error = o->getValue<std::string>("e");
        c.msg = o->optValue<std::string>("msg", "");
        c.secret = o->optValue<std::string>("secret", "");
        if (auto h = o->getObject("h"))
            for (const auto& name : h->getNames())
                c.headers.emplace_back(name, h->getValue<std::string>(name));
        out.push_back(std::move(c));
    }
    return out;
}

/// Expands ${name} (a setup value), ${rep:N:TEXT} (TEXT N times) and ${hex:HEX} (raw bytes).
std::string expand(const std::string& text, const std::map<std::string, std::string>& vars) {
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
        const auto at = text.find("${", i);
        if (at == std::string::npos) {
            out += text.substr(i);
            break;
        }
        out += text.substr(i, at - i);
        const auto end = text.find('}', at);
        if (end == std::string::npos) throw std::runtime_error("unclosed ${ in " + text);
        const std::string ref = text.substr(at + 2, end - at - 2);
        if (ref.rfind("rep:", 0) == 0) {
            const auto colon = ref.find(':', 4);
            const std::size_t count = std::stoul(ref.substr(4, colon - 4));
            for (std::size_t k = 0; k < count; ++k) out += ref.substr(colon + 1);
        } else if (ref.rfind("hex:", 0) == 0) {
            const std::string hex = ref.substr(4);
            for (std::size_t k = 0; k + 1 < hex.size(); k += 2)
                out += static_cast<char>(std::stoi(hex.substr(k, 2), nullptr, 16));
        } else {
            const auto v = vars.find(ref);
            if (v == vars.end()) throw std::runtime_error("no setup value ${" + ref + "}");
            out += v->second;
        }
        i = end + 1;
    }
    return out;
}

std::vector<std::string> segments(const std::string& path) {
    std::vector<std::string> out;
    std::string p = path.substr(0, path.find('?'));
    std::size_t i = 0;
    while (i <= p.size()) {
        const auto j = p.find('/', i);
        const std::string s = p.substr(i, j == std::string::npos ? std::string::npos : j - i);
        if (!s.empty()) out.push_back(s);
        if (j == std::string::npos) break;
        i = j + 1;
    }
    return out;
}

bool matches(const std::string& templ, const std::string& path) {
    const auto t = segments(templ), p = segments(path);
    if (t.size() != p.size()) return false;
    for (std::size_t i = 0; i < t.size(); ++i)
        if (!(t[i].front() == '{' && t[i].back() == '}') && t[i] != p[i]) return false;
    return true;
}

bool alive(pid_t pid) {
    int status = 0;
    return ::waitpid(pid, &status, WNOHANG) == 0 && ::kill(pid, 0) == 0;
}

class BadInput : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { s_world = std::make_unique<World>(); }
    static void TearDownTestSuite() { s_world.reset(); }
    static std::unique_ptr<World> s_world;
};
std::unique_ptr<World> BadInput::s_world;

TEST_F(BadInput, EveryRowIsAClearAuditedClientError) {
    World& w = *s_world;
    const char* file = std::getenv("BAD_INPUT_CASES");
    ASSERT_NE(file, nullptr) << "BAD_INPUT_CASES is not set";
    const auto cases = load_cases(file);
    ASSERT_GE(cases.size(), 150u);
    {
        std::set<std::string> ids;
        for (const auto& c : cases) EXPECT_TRUE(ids.insert(c.id).second) << "duplicate id " << c.id;
    }
    const pid_t pid = w.kmsd.pid();
    const std::uint64_t audit_from = w.audit_head() + 1;

    std::string group;
    std::map<std::string, int> per_group;
    for (const auto& c : cases) {
        if (c.group != group) {
            if (!group.empty()) {
                ASSERT_TRUE(alive(pid)) << "kmsd died during group " << group;
                ASSERT_EQ(w.kmsd.pid(), pid);
            }
            group = c.group;
        }
        ++per_group[c.group];
        const std::string path = expand(c.path, w.vars);
        const std::string body = expand(c.body, w.vars);
        auto headers = c.headers;
        for (auto& [k, v] : headers) v = expand(v, w.vars);
        headers.emplace_back("X-Request-Id", "bi-" + c.id);
        HttpResponse r;
        try {
            r = w.send(c.as, c.method, path, body, headers);
        } catch (const std::exception& e) {
            ADD_FAILURE() << c.id << ": no answer (" << e.what() << ")";
            continue;
        }
        SCOPED_TRACE(c.id + " (" + c.method + " " + c.path + " as " + c.as +
                     "): " + r.body.substr(0, 300));
        EXPECT_LT(r.status, 500);
        EXPECT_EQ(r.status, c.status);
        EXPECT_NE(r.content_type.find("application/json"), std::string::npos);
        Poco::JSON::Object::Ptr j;
        try {
            j = r.json();
        } catch (const std::exception&) {
        }
        if (!j) {
            ADD_FAILURE() << "the answer is not a JSON object";
            continue;
        }
        EXPECT_EQ(j->optValue<std::string>("error", ""), c.error);
        EXPECT_NE(j->optValue<std::string>("message", "").find(c.msg), std::string::npos);
        if (!c.secret.empty()) {
            EXPECT_EQ(r.body.find(expand(c.secret, w.vars)), std::string::npos)
                << "the answer quotes a secret";
        }
    }
    ASSERT_TRUE(alive(pid)) << "kmsd died during group " << group;
    EXPECT_EQ(w.kmsd.pid(), pid);
    auto health = w.send("none", "GET", "/healthz", "", {});
    EXPECT_EQ(health.status, 200) << health.body;
    for (const auto& [g, n] : per_group) std::cout << "group " << g << ": " << n << " rows\n";

    // One denied record per row, with the row's actor, method, status and error code.
    const auto records = w.audit_since(audit_from);
    std::map<std::string, std::vector<Poco::JSON::Object::Ptr>> by_request;
    for (const auto& rec : records) {
        const std::string detail = rec->getValue<std::string>("detail");
        const auto at = detail.find(" request=bi-");
        if (at == std::string::npos) continue;
        const auto end = detail.find(' ', at + 1);
        by_request[detail.substr(at + 12, end == std::string::npos ? end : end - at - 12)]
            .push_back(rec);
    }
    for (const auto& c : cases) {
        SCOPED_TRACE(c.id);
        const auto found = by_request.find(c.id);
        if (found == by_request.end()) {
            ADD_FAILURE() << "no audit record with request=bi-" << c.id;
            continue;
        }
        ASSERT_EQ(found->second.size(), 1u);
        const auto& rec = found->second.front();
        const std::string detail = rec->getValue<std::string>("detail");
        EXPECT_EQ(rec->getValue<std::string>("outcome"), "denied");
        EXPECT_EQ(rec->getValue<std::string>("actor"), w.actor_of(c.as));
        EXPECT_EQ(detail.rfind(c.error + ": ", 0), 0u) << detail;
        EXPECT_NE(detail.find(" -> " + std::to_string(c.status)), std::string::npos) << detail;
        EXPECT_NE(detail.find("| " + c.method + " "), std::string::npos) << detail;
        if (!c.secret.empty()) {
            const std::string secret = expand(c.secret, w.vars);
            for (const auto& any : records)
                EXPECT_EQ(any->getValue<std::string>("detail").find(secret), std::string::npos);
        }
    }
    auto verify = w.send("admin", "GET", "/v1/audit/verify", "", {});
    ASSERT_EQ(verify.status, 200) << verify.body;
    EXPECT_TRUE(verify.json()->getValue<bool>("valid")) << verify.body;

    // Every route of the OpenAPI document kmsd serves has at least one row. Routes that take no
    // input at all (no path parameter, query or body) count when their path has a row.
    const std::set<std::string> no_input = {"GET /healthz", "GET /v1/openapi.json",
                                            "GET /v1/ca/chain"};
    auto doc = w.send("none", "GET", "/v1/openapi.json", "", {});
    ASSERT_EQ(doc.status, 200);
    auto paths = doc.json()->getObject("paths");
    std::size_t routes = 0;
    for (const auto& templ : paths->getNames()) {
        for (const auto& m : paths->getObject(templ)->getNames()) {
            std::string method = m;
            for (auto& ch : method) ch = static_cast<char>(std::toupper(ch));
            if (method != "GET" && method != "POST" && method != "PUT" && method != "DELETE")
                continue;
            ++routes;
            const std::string route = method + " " + templ;
            bool covered = false;
            for (const auto& c : cases) {
                if (!matches(templ, expand(c.path, w.vars))) continue;
                if (c.method == method || no_input.count(route) != 0) covered = true;
            }
            EXPECT_TRUE(covered) << "no row for " << route;
        }
    }
    std::cout << cases.size() << " rows over " << routes << " routes\n";
    EXPECT_GE(routes, 59u);
}

// Every row refuses without changing state, so the table can be sent again: this time from four
// clients at once (rows dealt round-robin), which must change no answer and not hurt kmsd.
TEST_F(BadInput, TheTableAgainFromFourClientsAtOnce) {
    World& w = *s_world;
    const auto cases = load_cases(std::getenv("BAD_INPUT_CASES"));
    const pid_t pid = w.kmsd.pid();
    std::vector<std::string> got(cases.size());
    std::vector<std::thread> clients;
    for (std::size_t t = 0; t < 4; ++t)
        clients.emplace_back([&, t] {
            for (std::size_t i = t; i < cases.size(); i += 4) {
                const Case& c = cases[i];
                auto headers = c.headers;
                for (auto& [k, v] : headers) v = expand(v, w.vars);
                headers.emplace_back("X-Request-Id", "bi2-" + c.id);
                try {
                    const auto r = w.send(c.as, c.method, expand(c.path, w.vars),
                                          expand(c.body, w.vars), headers);
                    got[i] = std::to_string(r.status) + " " + r.body.substr(0, 200);
                } catch (const std::exception& e) {
                    got[i] = std::string("no answer: ") + e.what();
                }
            }
        });
    for (auto& t : clients) t.join();
    for (std::size_t i = 0; i < cases.size(); ++i)
        EXPECT_EQ(got[i].substr(0, 4), std::to_string(cases[i].status) + " ")
            << cases[i].id << ": " << got[i];
    EXPECT_TRUE(alive(pid));
    auto verify = w.send("admin", "GET", "/v1/audit/verify", "", {});
    ASSERT_EQ(verify.status, 200) << verify.body;
    EXPECT_TRUE(verify.json()->getValue<bool>("valid")) << verify.body;
}

}  // namespace
}  // namespace kms::test
