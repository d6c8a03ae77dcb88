// REST: bad input of every kind gets a 4xx with a JSON error naming the problem, an audit
// record, and no change (suite "rest").
#include "rest_fixture.hpp"

namespace kms::test {
namespace {

struct BadCase {
    const char* what;
    const char* method;
    std::string path;  ///< "{aes}" / "{ec}" / "{enc}" replaced by ids made in the test
    std::string body;
    const char* token;  ///< "admin", "none", "wrong", "auditor"
    int status;
    const char* error;
    const char* message_part;
};

class RestInput : public Rest {};

TEST_F(RestInput, EveryBadRequestIsAClearClientError) {
    const std::string aes = str(create_key("input-aes", "AES-128", R"(["mac"])"), "id");
    const std::string ec = str(create_key("input-ec", "EC-P256", R"(["sign"])"), "id");
    const std::string enc = str(create_key("input-enc", "AES-128", R"(["encrypt"])"), "id");
    const std::string auditor = create_principal("input-auditor", R"(["auditor"])");
    const std::string big(1100000, 'A');

    const std::vector<BadCase> cases = {
        {"no token", "GET", "/v1/keys", "", "none", 401, "unauthenticated", "Bearer"},
        {"wrong token", "GET", "/v1/keys", "", "wrong", 401, "unauthenticated", "not valid"},
        {"not JSON", "POST", "/v1/keys", "{name:", "admin", 400, "malformed_request", "JSON"},
        {"JSON array", "POST", "/v1/keys", "[1,2]", "admin", 400, "malformed_request", "object"},
        {"empty body", "POST", "/v1/keys", "", "admin", 400, "malformed_request", "body"},
        {"missing name", "POST", "/v1/keys", R"({"algorithm":"AES-128","usage":["mac"]})", "admin",
         400, "invalid_argument", "name"},
        {"unknown algorithm", "POST", "/v1/keys",
         R"({"name":"a1","algorithm":"AES-512","usage":["mac"]})", "admin", 400, "invalid_argument",
         "algorithm"},
        {"unknown usage", "POST", "/v1/keys",
         R"({"name":"a2","algorithm":"AES-128","usage":["fly"]})", "admin", 400, "invalid_argument",
         "usage"},
        {"usage impossible", "POST", "/v1/keys",
         R"({"name":"a3","algorithm":"EC-P256","usage":["encrypt"]})", "admin", 400,
         "invalid_argument", "encrypt"},
        {"empty usage", "POST", "/v1/keys", R"({"name":"a4","algorithm":"AES-128","usage":[]})",
         "admin", 400, "invalid_argument", "usage"},
        {"usage not array", "POST", "/v1/keys",
         R"({"name":"a5","algorithm":"AES-128","usage":"mac"})", "admin", 400, "invalid_argument",
         "usage"},
        {"name wrong type", "POST", "/v1/keys",
         R"({"name":5,"algorithm":"AES-128","usage":["mac"]})", "admin", 400, "invalid_argument",
         "name"},
        {"bad name chars", "POST", "/v1/keys",
         R"({"name":"a b","algorithm":"AES-128","usage":["mac"]})", "admin", 400,
         "invalid_argument", "name"},
        {"unknown field", "POST", "/v1/keys",
         R"({"name":"a6","algorithm":"AES-128","usage":["mac"],"colour":"red"})", "admin", 400,
         "invalid_argument", "colour"},
        {"activate not bool", "POST", "/v1/keys",
         R"({"name":"a7","algorithm":"AES-128","usage":["mac"],"activate":"yes"})", "admin", 400,
         "invalid_argument", "activate"},
        {"duplicate name", "POST", "/v1/keys",
         R"({"name":"input-aes","algorithm":"AES-128","usage":["mac"]})", "admin", 409, "conflict",
         "input-aes"},
        {"oversized body", "POST", "/v1/keys", "{\"name\":\"" + big + "\"}", "admin", 413,
         "payload_too_large", "1 MiB"},
        {"unknown key", "GET", "/v1/keys/k-00000000000000000000000000000000", "", "admin", 404,
         "not_found", "k-0000"},
        {"unknown key op", "POST", "/v1/keys/k-nope/mac", R"({"algorithm":"AES-CMAC","data":"00"})",
         "admin", 404, "not_found", "k-nope"},
        {"odd hex", "POST", "/v1/keys/{aes}/mac", R"({"algorithm":"AES-CMAC","data":"ABC"})",
         "admin", 400, "invalid_argument", "data"},
        {"non-hex", "POST", "/v1/keys/{aes}/mac", R"({"algorithm":"AES-CMAC","data":"ZZ"})",
         "admin", 400, "invalid_argument", "data"},
        {"missing data", "POST", "/v1/keys/{aes}/mac", R"({"algorithm":"AES-CMAC"})", "admin", 400,
         "invalid_argument", "data"},
        {"unknown mac alg", "POST", "/v1/keys/{aes}/mac", R"({"algorithm":"CRC32","data":"00"})",
         "admin", 400, "invalid_argument", "algorithm"},
        {"mac alg misfit", "POST", "/v1/keys/{aes}/mac",
         R"({"algorithm":"DES3-RETAIL","data":"00"})", "admin", 400, "invalid_argument",
         "DES3-RETAIL"},
        {"usage not granted", "POST", "/v1/keys/{enc}/mac",
         R"({"algorithm":"AES-CMAC","data":"00"})", "admin", 403, "usage_not_permitted", "usage"},
        {"sign with mac key", "POST", "/v1/keys/{aes}/sign",
         R"({"algorithm":"ECDSA-SHA256","data":"00"})", "admin", 403, "usage_not_permitted",
         "sign"},
        {"verify usage missing", "POST", "/v1/keys/{ec}/verify",
         R"({"algorithm":"ECDSA-SHA256","data":"00","signature":"00"})", "admin", 403,
         "usage_not_permitted", "verify"},
        {"bad iv length", "POST", "/v1/keys/{enc}/encrypt",
         R"({"algorithm":"AES-GCM","plaintext":"00","iv":"0011"})", "admin", 400,
         "invalid_argument", "iv"},
        {"aad with cbc", "POST", "/v1/keys/{enc}/encrypt",
         R"({"algorithm":"AES-CBC-PAD","plaintext":"00","aad":"00"})", "admin", 400,
         "invalid_argument", "aad"},
        {"cbc not block multiple", "POST", "/v1/keys/{enc}/encrypt",
         R"({"algorithm":"AES-CBC","plaintext":"00"})", "admin", 400, "invalid_argument",
         "multiple"},
        {"short mac to verify", "POST", "/v1/keys/{aes}/mac/verify",
         R"({"algorithm":"AES-CMAC","data":"00","mac":"0011"})", "admin", 400, "invalid_argument",
         "mac"},
        {"unknown version", "POST", "/v1/keys/{aes}/mac/verify",
         R"({"algorithm":"AES-CMAC","data":"00","mac":"00112233","version":7})", "admin", 404,
         "not_found", "version 7"},
        {"version wrong type", "POST", "/v1/keys/{aes}/mac/verify",
         R"({"algorithm":"AES-CMAC","data":"00","mac":"00112233","version":"1"})", "admin", 400,
         "invalid_argument", "version"},
        {"huge version", "POST", "/v1/keys/{aes}/mac/verify",
         R"({"algorithm":"AES-CMAC","data":"00","mac":"00112233","version":99999999999})", "admin",
         400, "invalid_argument", "version"},
        {"random too long", "POST", "/v1/random", R"({"length":5000})", "admin", 400,
         "invalid_argument", "length"},
        {"random zero", "POST", "/v1/random", R"({"length":0})", "admin", 400, "invalid_argument",
         "length"},
        {"random float", "POST", "/v1/random", R"({"length":1.5})", "admin", 400,
         "invalid_argument", "length"},
        {"bad revoke reason", "POST", "/v1/keys/{aes}/revoke", R"({"reason":"boredom"})", "admin",
         400, "invalid_argument", "reason"},
        {"bad compromise date", "POST", "/v1/keys/{aes}/revoke",
         R"({"reason":"keyCompromise","compromiseDate":"yesterday"})", "admin", 400,
         "invalid_argument", "compromiseDate"},
        {"wrong state resume", "POST", "/v1/keys/{aes}/resume", "", "admin", 409, "wrong_state",
         "Active"},
        {"auditor creates", "POST", "/v1/keys",
         R"({"name":"a8","algorithm":"AES-128","usage":["mac"]})", "auditor", 403, "forbidden",
         "role"},
        {"auditor destroys", "DELETE", "/v1/keys/{aes}", "", "auditor", 403, "forbidden", "role"},
        {"unknown role", "POST", "/v1/principals", R"({"name":"p1","roles":["wizard"]})", "admin",
         400, "invalid_argument", "roles"},
        {"bad principal name", "POST", "/v1/principals",
         R"({"name":"Bad Name","roles":["auditor"]})", "admin", 400, "invalid_argument", "name"},
        {"bad list limit", "GET", "/v1/keys?limit=0", "", "admin", 400, "invalid_argument",
         "limit"},
        {"bad list state", "GET", "/v1/keys?state=Happy", "", "admin", 400, "invalid_argument",
         "state"},
        {"bad audit limit", "GET", "/v1/audit?limit=abc", "", "admin", 400, "invalid_argument",
         "limit"},
        {"unknown route", "GET", "/v1/nothing", "", "admin", 404, "not_found", "/v1/nothing"},
        {"wrong method", "PUT", "/v1/keys", "", "admin", 404, "not_found", "PUT"},
        {"deep JSON", "POST", "/v1/keys", std::string(40, '[') + std::string(40, ']'), "admin", 400,
         "malformed_request", "JSON"},
        {"bad percent-encoding", "GET", "/v1/keys/%zz", "", "admin", 400, "malformed_request",
         "invalid URI"},
        {"bad percent-encoding in the query", "GET", "/v1/keys?limit=%2", "", "admin", 400,
         "malformed_request", "invalid URI"},
        {"duplicate field", "POST", "/v1/keys",
         R"({"name":"dup1","name":"dup2","algorithm":"AES-128","usage":["mac"]})", "admin", 400,
         "malformed_request", "'name' appears twice"},
        // Percent-decoded bytes that are not printable ASCII: refused, and never echoed raw
        // (invalid UTF-8 in the answer or in an audit record broke JSON readers).
        {"non-ASCII path parameter", "GET", "/v1/keys/%C0%AE%C0%AE", "", "admin", 400,
         "invalid_argument", "not printable ASCII"},
        {"NUL in a path parameter", "GET", "/v1/keys/k-%00", "", "admin", 400, "invalid_argument",
         "'k-?'"},
        {"non-ASCII unknown route", "GET", "/v1/%FF%0A", "", "admin", 404, "not_found", "/v1/??"},
    };

    const auto before = get("/v1/audit/verify").json()->getValue<int>("records");
    const auto keys_before = get("/v1/keys?limit=1000").json()->getArray("keys")->size();
    for (const auto& c : cases) {
        std::string path = c.path;
        for (auto [marker, id] : {std::pair{"{aes}", aes}, {"{ec}", ec}, {"{enc}", enc}}) {
            const auto at = path.find(marker);
            if (at != std::string::npos) path.replace(at, std::string(marker).size(), id);
        }
        std::string token =
            c.token == std::string("admin")     ? s_admin
            : c.token == std::string("auditor") ? auditor
            : c.token == std::string("wrong")
                ? "kms_0000000000000000000000000000000000000000000000000000000000000000"
                : "";
        auto r = http().request(c.method, path, c.body, token);
        EXPECT_EQ(r.status, c.status) << c.what << ": " << r.body;
        ASSERT_NE(r.content_type.find("application/json"), std::string::npos) << c.what;
        auto j = r.json();
        EXPECT_EQ(j->getValue<std::string>("error"), c.error) << c.what << ": " << r.body;
        EXPECT_NE(j->getValue<std::string>("message").find(c.message_part), std::string::npos)
            << c.what << ": " << r.body;
    }
    // Every refusal left an audit record; none created a key.
    const auto after = get("/v1/audit/verify").json();
    EXPECT_TRUE(after->getValue<bool>("valid"));
    EXPECT_GE(after->getValue<std::size_t>("records"), before + cases.size());
    EXPECT_EQ(get("/v1/keys?limit=1000").json()->getArray("keys")->size(), keys_before);
    auto recent = get("/v1/audit?from=" + std::to_string(before + 1) + "&limit=1000").json();
    std::size_t denied = 0;
    for (std::size_t i = 0; i < recent->getArray("records")->size(); ++i)
        if (recent->getArray("records")
                ->getObject(static_cast<unsigned>(i))
                ->getValue<std::string>("outcome") == "denied")
            ++denied;
    EXPECT_GE(denied, cases.size());
}

TEST_F(RestInput, ErrorsNeverEchoSecrets) {
    // A token-shaped string sent in a malformed body must not come back in the message.
    const std::string secret =
        "kms_feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface";
    auto r = post("/v1/keys", "{\"name\": \"" + secret + "\" oops");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.body.find("feedface"), std::string::npos);
    auto bad_token = http().get("/v1/keys", secret);
    EXPECT_EQ(bad_token.status, 401);
    EXPECT_EQ(bad_token.body.find("feedface"), std::string::npos);
}

}  // namespace
}  // namespace kms::test
