// Shared fixture of the rest suite: one real kmsd per test program, an HTTPS client that
// trusts its CA, and small helpers to build requests and read replies.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "kmsd_process.hpp"

namespace kms::test {

class Rest : public ::testing::Test {
  public:
    static void SetUpTestSuite() {
        s_kmsd = std::make_unique<KmsdProcess>();
        s_admin = s_kmsd->admin_token();
    }
    static void TearDownTestSuite() { s_kmsd.reset(); }

  protected:
    void SetUp() override {
        m_client = std::make_unique<HttpsClient>("127.0.0.1", s_kmsd->port(), s_kmsd->ca_file());
    }
    HttpsClient& http() { return *m_client; }
    HttpResponse post(const std::string& path, const std::string& body,
                      const std::string& token = s_admin) {
        return m_client->post(path, body, token);
    }
    HttpResponse get(const std::string& path, const std::string& token = s_admin) {
        return m_client->get(path, token);
    }
    /// Creates a key and returns its JSON (asserts 201).
    Poco::JSON::Object::Ptr create_key(const std::string& name, const std::string& algorithm,
                                       const std::string& usage_json,
                                       const std::string& extra = "") {
        auto r = post("/v1/keys", "{\"name\":\"" + name + "\",\"algorithm\":\"" + algorithm +
                                      "\",\"usage\":" + usage_json + extra + "}");
        EXPECT_EQ(r.status, 201) << r.body;
        return r.json();
    }
    /// Creates a principal with @p roles_json as the first administrator and returns its token.
    /// Static, so SetUpTestSuite() can use it too (it opens its own connection).
    static std::string create_principal(const std::string& name, const std::string& roles_json) {
        HttpsClient c("127.0.0.1", s_kmsd->port(), s_kmsd->ca_file());
        auto r = c.post("/v1/principals",
                        "{\"name\":\"" + name + "\",\"roles\":" + roles_json + "}", s_admin);
        EXPECT_EQ(r.status, 201) << r.body;
        return r.json()->getValue<std::string>("token");
    }
    /// Creates a plugin principal with the policy @p policy_json ({"keys": [...], "operations":
    /// [...]}) and returns its token; throws when kmsd refuses the policy.
    static std::string create_plugin(const std::string& name, const std::string& policy_json) {
        const std::string token = create_principal(name, R"(["plugin"])");
        HttpsClient c("127.0.0.1", s_kmsd->port(), s_kmsd->ca_file());
        auto r = c.request("PUT", "/v1/principals/" + name + "/policy", policy_json, s_admin);
        if (r.status != 200) throw std::runtime_error("policy of " + name + ": " + r.body);
        return token;
    }
    static std::string str(const Poco::JSON::Object::Ptr& o, const std::string& field) {
        return o->getValue<std::string>(field);
    }

    static std::unique_ptr<KmsdProcess> s_kmsd;
    static std::string s_admin;
    std::unique_ptr<HttpsClient> m_client;
};

inline std::unique_ptr<KmsdProcess> Rest::s_kmsd;
inline std::string Rest::s_admin;

/// Lower-case copy, for hex comparisons.
inline std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace kms::test
