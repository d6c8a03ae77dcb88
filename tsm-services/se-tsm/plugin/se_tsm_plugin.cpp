// se-tsm as a tsmd plugin (plugin-api/tsm_plugin.h, ABI 1): routes JSON requests to the domain's
// SeTsmService, whose state lives only in the host's TSM store, and, with a "sync" configuration,
// runs the worker that delivers the outbox to sp-tsm (outbox_delivery.hpp). Every exception is
// caught here, at the C boundary, and becomes a JSON error {"error", "message"}. Routes and
// configuration: docs/se-tsm.md.
#include <Poco/Dynamic/Var.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <charconv>
#include <cstdio>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "card_ops.hpp"
#include "domain/error.hpp"
#include "outbox_delivery.hpp"
#include "plugin-api/http_status.hpp"
#include "plugin-api/tsm_plugin.h"
#include "registrar.hpp"
#include "se_tsm_service.hpp"

namespace kms::tsm::se {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

/// SeStore over the host's store calls.
class HostStore final : public SeStore {
  public:
    explicit HostStore(const tsm_host_api* host) : m_host(host) {}

    std::optional<std::string> get(const std::string& table, const std::string& key) override {
        std::string buffer(256, '\0');
        for (int round = 0; round < 3; ++round) {
            std::size_t size = buffer.size();
            const int rc =
                m_host->store_get(m_host->host, table.c_str(), key.c_str(), buffer.data(), &size);
            if (rc == TSM_STORE_OK) return buffer.substr(0, size);
            if (rc == TSM_STORE_NOT_FOUND) return std::nullopt;
            if (rc != TSM_STORE_TOO_LARGE) fail("read", table, rc);
            buffer.resize(size);
        }
        fail("read", table, TSM_STORE_TOO_LARGE);
    }
    void put(const std::string& table, const std::string& key, const std::string& value) override {
        const int rc =
            m_host->store_put(m_host->host, table.c_str(), key.c_str(), value.data(), value.size());
        if (rc != TSM_STORE_OK) fail("write", table, rc);
    }
    bool put_if(const std::string& table, const std::string& key,
                const std::optional<std::string>& expected, const std::string& value) override {
        const int rc = m_host->store_compare_and_put(
            m_host->host, table.c_str(), key.c_str(), expected ? expected->data() : nullptr,
            expected ? expected->size() : 0, expected ? 0 : 1, value.data(), value.size());
        if (rc == TSM_STORE_CONFLICT) return false;
        if (rc != TSM_STORE_OK) fail("write", table, rc);
        return true;
    }

  private:
    [[noreturn]] static void fail(const char* what, const std::string& table, int rc) {
        throw Error(rc == TSM_STORE_INVALID ? ErrorCode::Internal : ErrorCode::StoreError,
                    std::string("TSM store: cannot ") + what + " table " + table + " (result " +
                        std::to_string(rc) + ")");
    }
    const tsm_host_api* m_host;
};

struct Instance {
    explicit Instance(const tsm_host_api* h) : api(*h), host(&api), store(host), service(store) {}
    tsm_host_api api;  ///< a copy: the worker thread uses it after create() has returned
    const tsm_host_api* host;
    HostStore store;
    SeTsmService service;
    std::unique_ptr<OutboxDelivery> delivery;  ///< with a "sync" configuration only
    std::unique_ptr<CardOperations> card_ops;  ///< with a "kms" configuration only
    /// "operators": the client CNs that may call every route; nullopt: every client tsmd
    /// admits may (docs/se-tsm.md, "Access").
    std::optional<std::set<std::string>> operators;
    /// With a "front" configuration; last, so destroyed first (deregistered before the rest).
    std::unique_ptr<registrar::Registrar> registrar;
};

struct Answer {
    int status;
    std::string body;
};

std::string to_text(const Object& o) {
    std::ostringstream out;
    o.stringify(out);
    return out.str();
}

[[noreturn]] void bad(const std::string& message) {
    throw Error(ErrorCode::InvalidArgument, message);
}

Object::Ptr parse_body(const tsm_request& req) {
    if (req.body_size == 0)
        throw Error(ErrorCode::MalformedRequest, "the body must be a JSON object");
    Poco::Dynamic::Var v;
    try {
        v = Poco::JSON::Parser().parse(std::string(req.body, req.body_size));
    } catch (const Poco::Exception&) {
        throw Error(ErrorCode::MalformedRequest, "the body is not JSON");
    }
    if (v.type() != typeid(Object::Ptr))
        throw Error(ErrorCode::MalformedRequest, "the body must be a JSON object");
    return v.extract<Object::Ptr>();
}

std::string string_field(const Object& o, const std::string& name, const std::string& path = "") {
    const std::string field = path + name;
    if (!o.has(name) || o.isNull(name)) bad(field + " is required");
    const Poco::Dynamic::Var v = o.get(name);
    if (!v.isString()) bad(field + " must be a string");
    return v.extract<std::string>();
}

std::optional<std::string> optional_string(const Object& o, const std::string& name,
                                           const std::string& path = "") {
    if (!o.has(name) || o.isNull(name)) return std::nullopt;
    return string_field(o, name, path);
}

bool bool_field(const Object& o, const std::string& name) {
    if (!o.has(name) || o.isNull(name)) bad(name + " is required");
    const Poco::Dynamic::Var v = o.get(name);
    if (v.type() != typeid(bool)) bad(name + " must be true or false");
    return v.extract<bool>();
}

std::int64_t int_field(const Object& o, const std::string& name) {
    if (!o.has(name) || o.isNull(name)) bad(name + " is required");
    const Poco::Dynamic::Var v = o.get(name);
    if (!v.isInteger()) bad(name + " must be an integer");
    try {
        return v.convert<std::int64_t>();
    } catch (const Poco::Exception&) {
        bad(name + " is out of range");
    }
}

std::vector<std::uint8_t> scp_list(const Object& o, const std::string& name) {
    std::vector<std::uint8_t> out;
    if (!o.has(name) || o.isNull(name)) return out;
    Array::Ptr a = o.getArray(name);
    if (!a) bad(name + " must be a list of i values as two hex digits, e.g. [\"15\"]");
    for (std::size_t i = 0; i < a->size(); ++i) {
        const Poco::Dynamic::Var v = a->get(static_cast<unsigned>(i));
        const std::string item = v.isString() ? v.extract<std::string>() : "";
        unsigned n = 0;
        auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), n, 16);
        if (item.size() != 2 || ec != std::errc() || p != item.data() + item.size())
            bad(name + "[" + std::to_string(i) + "] must be an i value as two hex digits");
        out.push_back(static_cast<std::uint8_t>(n));
    }
    return out;
}

Diversification diversification_field(const std::string& field, const std::string& value) {
    const auto d = parse_diversification(value);
    if (!d) bad(field + " must be \"none\", \"VISA2\" or \"EMV-CPS11\"");
    return *d;
}

Array hex_list(const std::vector<std::uint8_t>& list) {
    Array a;
    for (std::uint8_t b : list) {
        char buf[3];
        std::snprintf(buf, sizeof buf, "%02X", b);
        a.add(std::string(buf));
    }
    return a;
}

Object to_json(const Product& p) {
    Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    o.set("id", p.id);
    o.set("vendor", p.vendor);
    o.set("chipModel", p.chip_model);
    o.set("gpVersion", p.gp_version);
    o.set("scp02", hex_list(p.scp02));
    o.set("scp03", hex_list(p.scp03));
    o.set("isdAid", p.isd_aid);
    o.set("diversification", std::string(diversification_name(p.diversification)));
    o.set("defaultKeyVersion", p.default_key_version);
    return o;
}

Object to_json(const SecureElement& se) {
    Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    o.set("seid", se.seid);
    o.set("cplc", se.cplc);
    o.set("productId", se.product_id);
    Object key(Poco::JSON_PRESERVE_KEY_ORDER);
    if (se.isd_enc.empty()) {
        key.set("keyId", se.isd_key_id);
    } else {
        key.set("enc", se.isd_enc);
        key.set("mac", se.isd_mac);
        key.set("dek", se.isd_dek);
    }
    key.set("diversification", std::string(diversification_name(se.isd_diversification)));
    if (se.isd_key_version != 0) key.set("keyVersion", se.isd_key_version);  // after rotate-keys
    o.set("isdKey", key);
    o.set("state", std::string(card_state_name(se.state)));
    o.set("owner", se.owner);
    return o;
}

Object to_json(const Attribute& a) {
    Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    o.set("seid", a.seid);
    o.set("product", a.product);
    o.set("valid", a.valid);
    return o;
}

Object to_json(const OutboxEntry& e) {
    Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    o.set("seq", static_cast<Poco::UInt64>(e.seq));
    o.set("seid", e.seid);
    o.set("product", e.product);
    o.set("valid", e.valid);
    o.set("event", e.event);
    o.set("status", std::string(outbox_status_name(e.status)));
    o.set("attempts", static_cast<Poco::UInt64>(e.attempts));
    if (!e.last_error.empty()) o.set("lastError", e.last_error);
    return o;
}

Answer post_product(SeTsmService& s, const Object& b) {
    Product p;
    p.id = string_field(b, "id");
    p.vendor = string_field(b, "vendor");
    p.chip_model = string_field(b, "chipModel");
    p.gp_version = string_field(b, "gpVersion");
    p.scp02 = scp_list(b, "scp02");
    p.scp03 = scp_list(b, "scp03");
    p.isd_aid = string_field(b, "isdAid");
    p.diversification =
        diversification_field("diversification", string_field(b, "diversification"));
    const std::int64_t kv = int_field(b, "defaultKeyVersion");
    if (kv < 1 || kv > 127) bad("defaultKeyVersion must be 1 to 127");
    p.default_key_version = static_cast<int>(kv);
    return {201, to_text(to_json(s.register_product(std::move(p))))};
}

Answer post_se(SeTsmService& s, const Object& b) {
    SecureElement se;
    se.seid = string_field(b, "seid");
    se.cplc = string_field(b, "cplc");
    se.product_id = string_field(b, "productId");
    se.owner = string_field(b, "owner");
    if (!b.has("isdKey") || b.isNull("isdKey")) bad("isdKey is required");
    Object::Ptr key = b.getObject("isdKey");
    if (!key)
        bad("isdKey must be an object {\"keyId\", \"diversification\"} or {\"enc\", \"mac\", "
            "\"dek\"}");
    if (key->has("keyId") || !(key->has("enc") || key->has("mac") || key->has("dek"))) {
        se.isd_key_id = string_field(*key, "keyId", "isdKey.");
    }
    if (key->has("enc") || key->has("mac") || key->has("dek")) {
        se.isd_enc = string_field(*key, "enc", "isdKey.");
        se.isd_mac = string_field(*key, "mac", "isdKey.");
        se.isd_dek = string_field(*key, "dek", "isdKey.");
    }
    std::optional<Diversification> d;
    if (auto text = optional_string(*key, "diversification", "isdKey."))
        d = diversification_field("isdKey.diversification", *text);
    return {201, to_text(to_json(s.register_se(std::move(se), d)))};
}

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> out;
    std::size_t pos = 1;
    while (pos <= path.size()) {
        std::size_t end = path.find('/', pos);
        if (end == std::string::npos) end = path.size();
        out.push_back(path.substr(pos, end - pos));
        pos = end + 1;
    }
    return out;
}

std::uint64_t seq_segment(const std::string& text) {
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc() || p != text.data() + text.size() || n == 0)
        throw Error(ErrorCode::NotFound, "no outbox entry " + text.substr(0, 32));
    return n;
}

std::string error_body(std::string_view error, const std::string& message);

/// The card operation routes: POST /ses/{seid}/operations, POST /operations (the front's
/// shape: the SEID in the body), POST /operations/{id}/responses, GET and DELETE
/// /operations/{id}. 503 kms_unavailable without a "kms" configuration.
Answer card_route(Instance& in, const tsm_request& req, const std::vector<std::string>& p) {
    const std::string method = req.method;
    const std::string_view body(req.body, req.body_size);
    if (!in.card_ops)
        return {503, error_body("kms_unavailable",
                                "card operations need the instance's kms configuration")};
    CardOpsAnswer a{
        405, error_body("method_not_allowed",
                        method + " is not allowed on " + std::string(req.path).substr(0, 100))};
    if (p[0] == "ses" && method == "POST") a = in.card_ops->start(p[1], body);
    if (p[0] == "operations" && p.size() == 1 && method == "POST")
        a = in.card_ops->start(std::nullopt, body);
    if (p[0] == "operations" && p.size() == 2 && method == "GET") a = in.card_ops->summary(p[1]);
    if (p[0] == "operations" && p.size() == 2 && method == "DELETE") a = in.card_ops->cancel(p[1]);
    if (p[0] == "operations" && p.size() == 3 && method == "POST")
        a = in.card_ops->respond(p[1], body);
    return {a.status, a.body};
}

/// The "operators" setting: nullopt when absent; InvalidArgument naming the field.
std::optional<std::set<std::string>> operators_setting(const Object& c) {
    if (!c.has("operators")) return std::nullopt;
    const Array::Ptr list = c.getArray("operators");
    if (!list || list->size() == 0 || list->size() > 64)
        bad("operators must be a list of 1 to 64 client certificate CNs");
    std::set<std::string> out;
    for (std::size_t i = 0; i < list->size(); ++i) {
        const Poco::Dynamic::Var v = list->get(static_cast<unsigned>(i));
        if (!v.isString() || v.extract<std::string>().empty() ||
            v.extract<std::string>().size() > 64)
            bad("operators[" + std::to_string(i) + "] must be a CN of 1 to 64 characters");
        out.insert(v.extract<std::string>());
    }
    return out;
}

/// With "operators", a client outside the list is a wallet, and its name (its certificate's
/// CN, or the wallet's behind a front with forwardClient: plugin-api/forwarded_client.hpp) is
/// the owner of its SEs. A wallet may read its own SEs, start card operations on them and
/// follow those up, and report its own loss (checked with the body in route()); any other
/// route is 403. Another owner's SE or operation is answered as a missing one (404), so that
/// a wallet learns nothing about SEs that are not its own.
void check_wallet(Instance& in, const tsm_request& req, const std::vector<std::string>& p) {
    const std::string client = req.client, method = req.method;
    const std::size_t n = p.size();
    auto own_se = [&](const std::string& seid) {
        const SecureElement se = in.service.se(seid);  // 404 (or 400) for a missing one
        if (se.owner != client) throw Error(ErrorCode::NotFound, "no SE with seid " + se.seid);
    };
    if (p[0] == "loss-reports" && n == 1 && method == "POST") return;
    if (p[0] == "ses" && n == 2 && method == "GET") return own_se(p[1]);
    if (p[0] == "ses" && n == 3 && p[2] == "operations" && method == "POST") return own_se(p[1]);
    if (p[0] == "operations") {
        if (!in.card_ops) return;  // 503 kms_unavailable, as for anyone
        if (n == 1 && method == "POST") {
            // The SEID is in the body; start() refuses a body without one (400).
            const Object::Ptr b = parse_body(req);
            if (b->has("seid") && b->get("seid").isString())
                own_se(b->getValue<std::string>("seid"));
            return;
        }
        if (n == 2 || n == 3) {
            const std::string seid = in.card_ops->seid_of(p[1]);  // 404 for a missing one
            try {
                own_se(seid);
            } catch (const Error& e) {
                if (e.code() != ErrorCode::NotFound) throw;
                throw Error(ErrorCode::NotFound, "no operation '" + p[1] + "'");
            }
            return;
        }
    }
    throw Error(ErrorCode::Forbidden,
                "'" + client.substr(0, 64) + "' is not one of this se-tsm's operators: a wallet " +
                    "may only read its own SEs, run card operations on them and report its own " +
                    "loss, not " + method + " " + std::string(req.path).substr(0, 100));
}

Answer route(Instance& in, const tsm_request& req) {
    SeTsmService& s = in.service;
    const std::string method = req.method, path = req.path;
    const std::vector<std::string> p = split_path(path);
    const bool wallet = in.operators && in.operators->count(req.client) == 0;
    if (wallet) {
        if (*req.client == '\0')
            throw Error(ErrorCode::Forbidden,
                        "this se-tsm names its operators: it needs a client certificate (tsmd's "
                        "tls.clientCa)");
        check_wallet(in, req, p);
    }
    auto is = [&](const char* m, std::size_t n) { return method == m && p.size() == n; };
    const std::size_t n = p.size();
    if ((p[0] == "ses" && n == 3 && p[2] == "operations") ||
        (p[0] == "operations" && (n == 1 || n == 2 || (n == 3 && p[2] == "responses"))))
        return card_route(in, req, p);
    const bool known =
        (p[0] == "products" && (n == 1 || n == 2)) ||
        (p[0] == "ses" && (n == 1 || n == 2 || (n == 3 && p[2] == "lifecycle") ||
                           (n == 4 && p[2] == "attributes"))) ||
        (p[0] == "loss-reports" && n == 1) ||
        (p[0] == "outbox" && (n == 1 || (n == 3 && (p[2] == "delivered" || p[2] == "retry"))));
    if (!known) throw Error(ErrorCode::NotFound, "se-tsm has no route " + path.substr(0, 100));

    if (p[0] == "products") {
        if (is("POST", 1)) return post_product(s, *parse_body(req));
        if (is("GET", 2)) return {200, to_text(to_json(s.product(p[1])))};
    } else if (p[0] == "ses") {
        if (is("POST", 1)) return post_se(s, *parse_body(req));
        if (is("GET", 2)) return {200, to_text(to_json(s.se(p[1])))};
        if (is("POST", 3)) {
            const Object::Ptr b = parse_body(req);
            const std::string name = string_field(*b, "state");
            const auto state = parse_card_state(name);
            if (!state)
                bad("state must be one of OP_READY, INITIALIZED, SECURED, CARD_LOCKED, TERMINATED");
            return {200, to_text(to_json(s.change_state(p[1], *state)))};
        }
        if (is("PUT", 4)) {
            const Object::Ptr b = parse_body(req);
            return {200, to_text(to_json(s.set_attribute(p[1], p[3], bool_field(*b, "valid"))))};
        }
        if (is("GET", 4)) return {200, to_text(to_json(s.attribute(p[1], p[3])))};
    } else if (p[0] == "loss-reports") {
        if (is("POST", 1)) {
            const Object::Ptr b = parse_body(req);
            // The front forwards the wallet's body unchanged: its actionCode is accepted.
            optional_string(*b, "actionCode");
            const std::string owner = string_field(*b, "owner");
            if (wallet && owner != req.client)
                throw Error(ErrorCode::Forbidden, "a wallet may report only its own loss: owner '" +
                                                      owner.substr(0, 128) + "' is not '" +
                                                      std::string(req.client).substr(0, 64) + "'");
            const LossReport r = s.report_loss(owner);
            Object o(Poco::JSON_PRESERVE_KEY_ORDER);
            Array ses, outbox;
            for (const auto& seid : r.ses) ses.add(seid);
            for (auto seq : r.outbox) outbox.add(static_cast<Poco::UInt64>(seq));
            o.set("ses", ses);
            o.set("invalidated", static_cast<Poco::UInt64>(r.invalidated));
            o.set("outbox", outbox);
            return {200, to_text(o)};
        }
    } else if (p[0] == "outbox") {
        if (is("GET", 1)) {
            std::optional<OutboxStatus> status;
            const std::string q = req.query;
            if (q.rfind("status=", 0) == 0) {
                status = parse_outbox_status(q.substr(7));
                if (!status) bad("status must be pending, delivered or rejected");
            } else if (!q.empty()) {
                bad("the only query parameter is status=pending|delivered|rejected");
            }
            Array entries;
            for (const OutboxEntry& e : s.outbox(status)) entries.add(to_json(e));
            Object o;
            o.set("entries", entries);
            return {200, to_text(o)};
        }
        if (is("POST", 3) && p[2] == "delivered")
            return {200, to_text(to_json(s.mark_delivered(seq_segment(p[1]))))};
        if (is("POST", 3)) return {200, to_text(to_json(s.requeue(seq_segment(p[1]))))};
    }
    return {405,
            error_body("method_not_allowed", method + " is not allowed on " + path.substr(0, 100))};
}

std::string error_body(std::string_view error, const std::string& message) {
    Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    o.set("error", std::string(error));
    o.set("message", message);
    return to_text(o);
}

/// A number field of the sync configuration, @p min..@p max, or @p absent.
std::uint64_t sync_number(const Object& o, const std::string& name, std::uint64_t absent,
                          std::uint64_t min, std::uint64_t max) {
    if (!o.has(name)) return absent;
    const std::int64_t n = int_field(o, name);
    if (n < static_cast<std::int64_t>(min) || n > static_cast<std::int64_t>(max))
        bad("sync." + name + " must be " + std::to_string(min) + " to " + std::to_string(max));
    return static_cast<std::uint64_t>(n);
}

/// The "sync" object of the configuration (docs/se-tsm.md); InvalidArgument naming the field.
SyncSettings sync_settings(const Object& c) {
    Object::Ptr sync = c.getObject("sync");
    if (!sync) bad("sync must be an object");
    SyncSettings s;
    Array::Ptr targets = sync->getArray("targets");
    if (!targets || targets->size() == 0)
        bad("sync.targets must be a list of sp-tsm URLs, e.g. [\"https://127.0.0.1:9444/sp\"]");
    for (std::size_t i = 0; i < targets->size(); ++i) {
        const Poco::Dynamic::Var v = targets->get(static_cast<unsigned>(i));
        if (!v.isString() || v.extract<std::string>().rfind("https://", 0) != 0)
            bad("sync.targets[" + std::to_string(i) + "] must be an https:// URL");
        s.targets.push_back(v.extract<std::string>());
    }
    s.ca_file = string_field(*sync, "ca", "sync.");
    s.cert_file = string_field(*sync, "certificate", "sync.");
    s.key_file = string_field(*sync, "key", "sync.");
    s.source = optional_string(*sync, "source", "sync.").value_or("se-tsm");
    check_id("sync.source", s.source);
    s.retry_ms = sync_number(*sync, "retryMs", 200, 1, 3600000);
    s.max_backoff_ms = sync_number(*sync, "maxBackoffMs", 30000, 1, 86400000);
    if (s.max_backoff_ms < s.retry_ms) bad("sync.maxBackoffMs must be at least sync.retryMs");
    s.poll_ms = sync_number(*sync, "pollMs", 1000, 10, 3600000);
    s.timeout_seconds = static_cast<int>(sync_number(*sync, "timeoutSeconds", 10, 1, 300));
    for (const auto& [name, value] : *sync)
        if (name != "targets" && name != "ca" && name != "certificate" && name != "key" &&
            name != "source" && name != "retryMs" && name != "maxBackoffMs" && name != "pollMs" &&
            name != "timeoutSeconds")
            bad("sync." + name + " is not a sync setting");
    return s;
}

/// The "kms" object: kmsd's URL and CA, and the plugin's client certificate and key or a
/// bearer token (as sp-tsm's); InvalidArgument naming the field.
KmsClientOptions kms_settings(const Object& c) {
    Object::Ptr kms = c.getObject("kms");
    if (!kms) bad("kms must be an object {\"url\", \"ca\", \"token\" or \"certificate\"+\"key\"}");
    KmsClientOptions o;
    o.url = string_field(*kms, "url", "kms.");
    o.ca_file = string_field(*kms, "ca", "kms.");
    if (auto token = optional_string(*kms, "token", "kms.")) {
        o.bearer_token = *token;
    } else {
        o.cert_file = string_field(*kms, "certificate", "kms.");
        o.key_file = string_field(*kms, "key", "kms.");
    }
    for (const auto& [name, value] : *kms)
        if (name != "url" && name != "ca" && name != "token" && name != "certificate" &&
            name != "key")
            bad("kms." + name + " is not a kms setting");
    return o;
}

void* create(const tsm_host_api* host, const char* config_json, char* error, size_t error_size) {
    try {
        const Poco::Dynamic::Var v = Poco::JSON::Parser().parse(config_json);
        if (v.type() != typeid(Object::Ptr)) throw std::runtime_error("config is not an object");
        const Object::Ptr config = v.extract<Object::Ptr>();
        auto instance = std::make_unique<Instance>(host);
        instance->operators = operators_setting(*config);
        if (config->has("sync")) {
            SyncSettings s = sync_settings(*config);
            const std::string summary = "se-tsm: delivering the outbox to " + s.targets[0] +
                                        (s.targets.size() > 1 ? " (and others)" : "") +
                                        " as source " + s.source;
            const tsm_host_api* api = instance->host;
            instance->delivery = std::make_unique<OutboxDelivery>(
                instance->service, std::move(s),
                [api](int level, const std::string& m) { api->log(api->host, level, m.c_str()); });
            host->log(host->host, TSM_LOG_INFO, summary.c_str());
        } else {
            host->log(host->host, TSM_LOG_INFO, "se-tsm: no sync configured; the outbox waits");
        }
        // An empty "kms" object (configurations of step 1 carry one) is no kms.
        const Object::Ptr kms = config->getObject("kms");
        if (config->has("kms") && !(kms && kms->size() == 0)) {
            const std::string dir =
                optional_string(*config, "cardScripts").value_or(SE_TSM_CARD_SCRIPTS);
            const tsm_host_api* api = instance->host;
            instance->card_ops = std::make_unique<CardOperations>(
                instance->service, instance->store, kms_settings(*config), dir,
                [api](int level, const std::string& m) { api->log(api->host, level, m.c_str()); });
            host->log(host->host, TSM_LOG_INFO,
                      ("se-tsm: card operations through kmsd, scripts from " + dir).c_str());
        } else {
            host->log(host->host, TSM_LOG_INFO,
                      "se-tsm: no kms configured; card operations answer 503");
        }
        // Register at the fronts ("front", docs/se-tsm.md) once the instance can serve.
        if (auto front = registrar::parse_front_registration(config_json)) {
            const tsm_host_api* api = instance->host;
            instance->registrar = std::make_unique<registrar::Registrar>(
                std::move(*front), [api](int level, const std::string& m) {
                    api->log(api->host, level, ("se-tsm: " + m).c_str());
                });
        }
        host->log(host->host, TSM_LOG_INFO, "se-tsm: ready");
        return instance.release();
    } catch (const std::exception& e) {
        std::snprintf(error, error_size, "se-tsm: %s", e.what());
    } catch (...) {
        std::snprintf(error, error_size, "se-tsm: bad configuration");
    }
    return nullptr;
}

void handle(void* instance, const tsm_request* req, tsm_response* response) {
    auto* in = static_cast<Instance*>(instance);
    Answer a{500, ""};
    try {
        a = route(*in, *req);
        // Anything that changed an attribute queued an outbox entry: tell the worker.
        if (in->delivery && a.status < 300 && std::string_view(req->method) != "GET")
            in->delivery->wake();
    } catch (const Error& e) {
        a = {plugin_http_status(e.code()), error_body(error_code_name(e.code()), e.what())};
        if (a.status >= 500)
            in->host->log(in->host->host, TSM_LOG_ERROR,
                          (std::string("se-tsm: ") + req->request_id + ": " + e.what()).c_str());
    } catch (const std::exception& e) {
        in->host->log(in->host->host, TSM_LOG_ERROR,
                      (std::string("se-tsm: ") + req->request_id + ": " + e.what()).c_str());
        a = {500, error_body("internal", "se-tsm failed; see tsmd's log")};
    } catch (...) {
        a = {500, error_body("internal", "se-tsm failed")};
    }
    in->host->respond(response, a.status, "application/json", a.body.data(), a.body.size());
}

void destroy(void* instance) {
    delete static_cast<Instance*>(instance);
}

const tsm_plugin kSeTsm = {TSM_PLUGIN_ABI_VERSION, "se-tsm", "0.1.0", create, handle, destroy};

}  // namespace
}  // namespace kms::tsm::se

extern "C" __attribute__((visibility("default"))) const tsm_plugin* tsm_plugin_entry(
    uint32_t host_abi_version) {
    return host_abi_version >= TSM_PLUGIN_ABI_VERSION ? &kms::tsm::se::kSeTsm : nullptr;
}
