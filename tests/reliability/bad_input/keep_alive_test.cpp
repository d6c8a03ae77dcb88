// A refused request must not leave its body on a keep-alive connection: kmsd refuses some
// requests (bad credentials, unknown routes) before it reads their body, and never reads the
// body of a route that takes none; unread, those bytes were parsed as the start of the next
// request on the connection. One real kmsd, one TLS connection per case (suite "reliability").
#include <Poco/JSON/Parser.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include "kmsd_process.hpp"

namespace kms::test {
namespace {

struct Answer {
    int status = 0;
    std::string reason, body;
};

/// One keep-alive HTTPS connection; requests may send their body chunked.
class Connection {
  public:
    Connection(const KmsdProcess& k)
        : m_ctx(new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", k.ca_file(),
                                       Poco::Net::Context::VERIFY_STRICT, 9, false)),
          m_session("127.0.0.1", static_cast<Poco::UInt16>(k.port()), m_ctx) {
        m_session.setKeepAlive(true);
        m_session.setTimeout(Poco::Timespan(20, 0));
    }
    Answer send(const std::string& method, const std::string& path, const std::string& token,
                const std::string& body = "", bool chunked = false) {
        Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
        req.setKeepAlive(true);
        if (!token.empty()) req.set("Authorization", "Bearer " + token);
        if (!body.empty()) {
            req.setContentType("application/json");
            if (chunked)
                req.setChunkedTransferEncoding(true);
            else
                req.setContentLength(static_cast<std::streamsize>(body.size()));
        }
        m_session.sendRequest(req) << body;
        Poco::Net::HTTPResponse resp;
        std::istream& in = m_session.receiveResponse(resp);
        Answer a;
        a.status = static_cast<int>(resp.getStatus());
        a.reason = resp.getReason();
        Poco::StreamCopier::copyToString(in, a.body);
        return a;
    }

  private:
    Poco::Net::Context::Ptr m_ctx;
    Poco::Net::HTTPSClientSession m_session;
};

class KeepAlive : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { s_kmsd = std::make_unique<KmsdProcess>(); }
    static void TearDownTestSuite() { s_kmsd.reset(); }
    /// whoami as the administrator on @p c: must be answered as if nothing came before.
    static void expect_clean_next(Connection& c) {
        const auto a = c.send("GET", "/v1/whoami", s_kmsd->admin_token());
        EXPECT_EQ(a.status, 200) << a.body;
        EXPECT_NE(a.body.find("\"name\":\"admin\""), std::string::npos) << a.body;
    }
    static std::unique_ptr<KmsdProcess> s_kmsd;
};
std::unique_ptr<KmsdProcess> KeepAlive::s_kmsd;

const std::string kKeyBody = R"({"name":"ka-1","algorithm":"AES-128","usage":["mac"]})";

TEST_F(KeepAlive, BodyOfARequestRefusedBeforeReadingIt) {
    Connection c(*s_kmsd);
    const auto a = c.send("POST", "/v1/keys", "kms_not-a-token", kKeyBody);
    EXPECT_EQ(a.status, 401) << a.body;
    expect_clean_next(c);
    const auto b = c.send("POST", "/v1/no-such-route", s_kmsd->admin_token(), R"({"x":1})");
    EXPECT_EQ(b.status, 404) << b.body;
    expect_clean_next(c);
}

TEST_F(KeepAlive, ChunkedBodies) {
    Connection c(*s_kmsd);
    const auto a = c.send("POST", "/v1/keys", "kms_not-a-token", kKeyBody, true);
    EXPECT_EQ(a.status, 401) << a.body;
    expect_clean_next(c);
    // A route that takes no body, sent one anyway.
    const auto b = c.send("GET", "/v1/keys?limit=1", s_kmsd->admin_token(),
                          "GET /v1/whoami HTTP/1.1\r\n\r\n", true);
    EXPECT_EQ(b.status, 200) << b.body;
    expect_clean_next(c);
    // A chunked body is parsed as one.
    const auto k = c.send("POST", "/v1/keys", s_kmsd->admin_token(), kKeyBody, true);
    EXPECT_EQ(k.status, 201) << k.body;
    expect_clean_next(c);
}

TEST_F(KeepAlive, StatusLinesHaveTheirReason) {
    Connection c(*s_kmsd);
    EXPECT_EQ(c.send("GET", "/v1/keys", "").reason, "Unauthorized");
    EXPECT_EQ(c.send("GET", "/v1/nothing", "").reason, "Not Found");
    EXPECT_EQ(c.send("GET", "/healthz", "").reason, "OK");
}

}  // namespace
}  // namespace kms::test
