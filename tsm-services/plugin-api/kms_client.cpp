// KmsClient: JSON over kms-core/client's HTTPS connections, pooled.
#include "kms_client.hpp"

#include <Poco/Dynamic/Var.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <mutex>
#include <sstream>
#include <utility>

#include "client/https_connection.hpp"

namespace kms::tsm {

namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

std::string text_of(const Object& o) {
    std::ostringstream out;
    o.stringify(out);
    return out.str();
}

Array::Ptr hex_array(const std::vector<Bytes>& items) {
    Array::Ptr a = new Array();
    for (const Bytes& b : items) a->add(to_hex(b));
    return a;
}

/// A hex string field of kmsd's answer; a missing or malformed one means kmsd and this client
/// disagree about the API: KmsError(status, "bad_answer").
Bytes hex_field(const Object::Ptr& o, const std::string& name, int status) {
    try {
        return from_hex(o->getValue<std::string>(name));
    } catch (const std::exception& e) {
        throw KmsError(status, "bad_answer",
                       "kmsd's answer has no valid hex field '" + name + "': " + e.what());
    }
}

std::vector<Bytes> hex_list(const Object::Ptr& o, const std::string& name, int status) {
    Array::Ptr a = o->getArray(name);
    if (!a) throw KmsError(status, "bad_answer", "kmsd's answer has no list '" + name + "'");
    std::vector<Bytes> out;
    out.reserve(a->size());
    try {
        for (std::size_t i = 0; i < a->size(); ++i)
            out.push_back(from_hex(a->getElement<std::string>(static_cast<unsigned>(i))));
    } catch (const std::exception& e) {
        throw KmsError(status, "bad_answer",
                       "kmsd's list '" + name + "' holds a value that is not hex: " + e.what());
    }
    return out;
}

std::string hex_byte(std::uint8_t b) {
    return to_hex(ByteView(&b, 1));
}

/// Path segments the client puts in URLs (session and key ids) are kmsd's own ids; anything
/// else is refused before it can change the path.
const std::string& checked_id(const std::string& id, const char* what) {
    bool ok = !id.empty() && id.size() <= 128;
    for (char c : id)
        ok = ok && ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    c == '-' || c == '_');
    if (!ok)
        throw KmsError(0, "invalid_argument", std::string(what) + " '" + id + "' is not an id");
    return id;
}

}  // namespace

struct KmsClient::Impl {
    KmsClientOptions options;
    client::HttpsEndpoint endpoint;
    mutable std::mutex mutex;
    std::vector<std::unique_ptr<client::HttpsConnection>> idle;  ///< guarded by mutex
    std::size_t opened = 0;                                      ///< guarded by mutex

    /// An idle connection, or a new one (@p reused says which).
    std::unique_ptr<client::HttpsConnection> acquire(bool& reused) {
        {
            std::lock_guard lock(mutex);
            if (!idle.empty()) {
                auto c = std::move(idle.back());
                idle.pop_back();
                reused = true;
                return c;
            }
            ++opened;
        }
        reused = false;
        try {
            return std::make_unique<client::HttpsConnection>(endpoint, 16 * 1024 * 1024);
        } catch (const client::TransportError& e) {
            throw KmsError(0, "setup", e.what());
        }
    }

    void release(std::unique_ptr<client::HttpsConnection> c) {
        std::lock_guard lock(mutex);
        if (idle.size() < options.max_idle_connections) idle.push_back(std::move(c));
    }

    /// Sends one call and returns the answer's JSON object (empty for an empty body) when the
    /// status is @p expected; KmsError otherwise. A call that certainly did not reach kmsd on a
    /// reused connection (closed by kmsd meanwhile) is sent once more on a new one; anything
    /// that may have reached kmsd is never repeated (a wrap advances the session).
    Object::Ptr call(const std::string& method, const std::string& target,
                     std::optional<std::string> body, int expected) {
        client::HttpCall c;
        c.method = method;
        c.target = target;
        c.body = std::move(body);
        c.bearer_token = options.bearer_token;
        c.user_agent = "kms-tsm-client/0.1";
        client::HttpAnswer answer;
        for (int attempt = 0;; ++attempt) {
            bool reused = false;
            auto connection = acquire(reused);
            try {
                answer = connection->send(c);
            } catch (const client::TransportError& e) {
                if (!e.request_sent() && reused && attempt == 0) {
                    // kmsd closed it (a restart closes them all): retry on a new connection.
                    std::lock_guard lock(mutex);
                    idle.clear();
                    continue;
                }
                throw KmsError(0, "unreachable", e.what());
            }
            release(std::move(connection));
            break;
        }
        Object::Ptr o;
        if (!answer.body.empty()) {
            try {
                Poco::JSON::Parser parser;
                o = parser.parse(answer.body).extract<Object::Ptr>();
            } catch (const Poco::Exception&) {
                o = nullptr;
            }
        }
        if (answer.status != expected) {
            if (o && o->has("error"))
                throw KmsError(answer.status, o->optValue<std::string>("error", ""),
                               method + " " + target + ": " + std::to_string(answer.status) + " " +
                                   o->optValue<std::string>("message", ""));
            throw KmsError(
                answer.status, "http_" + std::to_string(answer.status),
                method + " " + target + ": " + std::to_string(answer.status) + " " + answer.reason);
        }
        if (!o) {
            if (!answer.body.empty())
                throw KmsError(answer.status, "bad_answer",
                               method + " " + target + ": the answer is not a JSON object");
            o = new Object();
        }
        return o;
    }
};

KmsClient::KmsClient(KmsClientOptions options) : m_impl(std::make_unique<Impl>()) {
    m_impl->options = std::move(options);
    const KmsClientOptions& o = m_impl->options;
    try {
        client::parse_https_url(o.url, m_impl->endpoint);
    } catch (const std::invalid_argument& e) {
        throw KmsError(0, "setup", std::string("KMS URL: ") + e.what());
    }
    if (o.cert_file.has_value() == o.bearer_token.has_value())
        throw KmsError(0, "setup", "give the plugin's client certificate or a bearer token");
    m_impl->endpoint.ca_file = o.ca_file;
    m_impl->endpoint.cert_file = o.cert_file;
    m_impl->endpoint.key_file = o.key_file;
    m_impl->endpoint.timeout_seconds = o.timeout_seconds;
    // Build one connection now so that bad files are reported here, not on the first call.
    bool reused = false;
    m_impl->release(m_impl->acquire(reused));
}

KmsClient::~KmsClient() = default;

std::size_t KmsClient::connections_opened() const {
    std::lock_guard lock(m_impl->mutex);
    return m_impl->opened;
}

GpOpened KmsClient::gp_open(const GpOpenRequest& r) {
    Object body;
    body.set("protocol", r.protocol);
    body.set("i", hex_byte(r.i));
    Object::Ptr keys = new Object();
    if (!r.kmc.empty()) {
        keys->set("kmc", r.kmc);
        keys->set("diversification", r.diversification.empty() ? "none" : r.diversification);
    } else {
        keys->set("enc", r.enc);
        keys->set("mac", r.mac);
        keys->set("dek", r.dek);
    }
    body.set("keys", keys);
    body.set("keyVersion", static_cast<int>(r.key_version));
    if (r.host_challenge) body.set("hostChallenge", to_hex(*r.host_challenge));
    if (r.aid) body.set("aid", to_hex(*r.aid));
    auto o = m_impl->call("POST", "/v1/gp/scp/sessions", text_of(body), 201);
    GpOpened out;
    out.session = o->optValue<std::string>("session", "");
    checked_id(out.session, "kmsd's session id");
    out.initialize_update = hex_field(o, "initializeUpdate", 201);
    return out;
}

Bytes KmsClient::gp_authenticate(const std::string& session, ByteView response,
                                 std::uint8_t level) {
    Object body;
    body.set("initializeUpdateResponse", to_hex(response));
    body.set("securityLevel", hex_byte(level));
    auto o = m_impl->call("POST",
                          "/v1/gp/scp/sessions/" + checked_id(session, "session") + "/authenticate",
                          text_of(body), 200);
    return hex_field(o, "externalAuthenticate", 200);
}

std::vector<Bytes> KmsClient::gp_wrap(const std::string& session, const std::vector<Bytes>& apdus) {
    Object body;
    body.set("apdus", hex_array(apdus));
    auto o = m_impl->call("POST", "/v1/gp/scp/sessions/" + checked_id(session, "session") + "/wrap",
                          text_of(body), 200);
    return hex_list(o, "apdus", 200);
}

std::vector<Bytes> KmsClient::gp_unwrap(const std::string& session,
                                        const std::vector<Bytes>& responses) {
    Object body;
    body.set("responses", hex_array(responses));
    auto o =
        m_impl->call("POST", "/v1/gp/scp/sessions/" + checked_id(session, "session") + "/unwrap",
                     text_of(body), 200);
    return hex_list(o, "responses", 200);
}

void KmsClient::gp_close(const std::string& session) {
    m_impl->call("DELETE", "/v1/gp/scp/sessions/" + checked_id(session, "session"), std::nullopt,
                 200);
}

GpPutKey KmsClient::gp_put_key(const std::string& session, const std::vector<std::string>& key_ids,
                               std::uint8_t new_key_version, std::uint8_t replace_version,
                               std::uint8_t key_id) {
    Object body;
    Array::Ptr keys = new Array();
    for (const auto& k : key_ids) keys->add(checked_id(k, "key id"));
    body.set("keys", keys);
    body.set("newKeyVersion", static_cast<int>(new_key_version));
    body.set("replaceKeyVersion", static_cast<int>(replace_version));
    body.set("keyId", static_cast<int>(key_id));
    auto o =
        m_impl->call("POST", "/v1/gp/scp/sessions/" + checked_id(session, "session") + "/put-key",
                     text_of(body), 200);
    GpPutKey out;
    out.apdu = hex_field(o, "apdu", 200);
    out.key_version = static_cast<std::uint8_t>(o->optValue<int>("keyVersion", 0));
    out.kcvs = hex_list(o, "kcvs", 200);
    return out;
}

GpDiversified KmsClient::gp_diversify(const std::string& kmc, const std::string& diversification,
                                      ByteView kdd, const std::string& name) {
    Object body;
    body.set("kmc", checked_id(kmc, "key id"));
    body.set("diversification", diversification);
    body.set("kdd", to_hex(kdd));
    body.set("name", name);
    auto o = m_impl->call("POST", "/v1/gp/keys/diversify", text_of(body), 201);
    GpDiversified out;
    for (auto [role, id] : {std::pair{"enc", &out.enc}, {"mac", &out.mac}, {"dek", &out.dek}}) {
        const auto k = o->getObject(role);
        if (!k || !k->has("id"))
            throw KmsError(201, "bad_answer", std::string("kmsd's diversify answer lacks ") + role);
        *id = k->getValue<std::string>("id");
    }
    return out;
}

GpPutKeyVerified KmsClient::gp_put_key_verify(const std::string& session, ByteView response) {
    Object body;
    body.set("response", to_hex(response));
    auto o = m_impl->call(
        "POST", "/v1/gp/scp/sessions/" + checked_id(session, "session") + "/put-key/verify",
        text_of(body), 200);
    if (!o->optValue<bool>("verified", false))
        throw KmsError(200, "bad_answer", "kmsd's put-key/verify answer does not say verified");
    GpPutKeyVerified out;
    out.key_version = static_cast<std::uint8_t>(o->optValue<int>("keyVersion", 0));
    out.kcvs = hex_list(o, "kcvs", 200);
    return out;
}

MacResult KmsClient::mac(const std::string& key_id, const std::string& algorithm, ByteView data) {
    Object body;
    body.set("algorithm", algorithm);
    body.set("data", to_hex(data));
    auto o = m_impl->call("POST", "/v1/keys/" + checked_id(key_id, "key id") + "/mac",
                          text_of(body), 200);
    MacResult out;
    out.mac = hex_field(o, "mac", 200);
    out.version = o->optValue<int>("version", 0);
    return out;
}

}  // namespace kms::tsm
