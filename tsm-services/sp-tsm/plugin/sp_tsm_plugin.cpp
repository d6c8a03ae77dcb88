// The SP TSM as a tsmd plugin (docs/sp-tsm.md): runs service scripts as HTTPS conversations
// with the wallet. KMS steps and the GlobalPlatform secure channel are carried out here through
// KmsClient; the wallet only ever relays APDUs. It keeps a copy of the SEs' product private
// attributes, synced by se-tsm (POST /attributes), and with checkAttributes refuses to start or
// go on with an operation whose SE and product are not valid there (flow A, DESIGN.md §8).
// State lives only in the host's TSM store.
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <vector>

#include "attribute_sync.hpp"
#include "conversation.hpp"
#include "domain/error.hpp"
#include "instances.hpp"
#include "operation_driver.hpp"
#include "plugin-api/http_status.hpp"
#include "plugin-api/kms_client.hpp"
#include "plugin-api/tsm_plugin.h"
#include "registrar.hpp"
#include "script_json.hpp"
#include "script_run.hpp"

namespace kms::tsm::sp {
namespace {

using Poco::JSON::Object;
using script::ScriptRun;

std::string json_text(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\')
            out += std::string("\\") + c;
        else if (static_cast<unsigned char>(c) < 0x20)
            out += ' ';
        else
            out += c;
    }
    return out + "\"";
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(ErrorCode::InvalidArgument, "cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// A refusal with its own error code (not one of kms::ErrorCode's names).
struct Refusal {
    int status;
    std::string error, message;
};

/// The outcome of a run stopped because its SE's product attribute is not valid (any more).
constexpr std::string_view kAttributeInvalidOutcome = "product-attribute-invalid";

/// Printable ASCII only, for log lines built from request fields.
std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 128)) out += (c >= 0x20 && c <= 0x7E) ? c : '?';
    return out;
}

class SpTsm {
  public:
    SpTsm(const tsm_host_api* host, std::string_view config_json) : m_host(*host) {
        Poco::JSON::Parser p;
        Object::Ptr cfg;
        try {
            cfg = p.parse(std::string(config_json)).extract<Object::Ptr>();
        } catch (const std::exception&) {
            throw Error(ErrorCode::InvalidArgument, "configuration is not a JSON object");
        }
        const auto kms = cfg->getObject("kms");
        if (!kms || !kms->has("url") || !kms->has("ca"))
            throw Error(ErrorCode::InvalidArgument, "kms: url and ca are required");
        KmsClientOptions o;
        o.url = kms->getValue<std::string>("url");
        o.ca_file = kms->getValue<std::string>("ca");
        if (kms->has("token"))
            o.bearer_token = kms->getValue<std::string>("token");
        else if (kms->has("certificate") && kms->has("key")) {
            o.cert_file = kms->getValue<std::string>("certificate");
            o.key_file = kms->getValue<std::string>("key");
        } else
            throw Error(ErrorCode::InvalidArgument, "kms: certificate and key, or token, required");
        try {
            m_kms = std::make_unique<KmsClient>(o);
            m_port = std::make_unique<KmsClientPort>(*m_kms);
        } catch (const KmsError& e) {
            throw Error(ErrorCode::InvalidArgument, std::string("kms: ") + e.what());
        }
        if (const auto keys = cfg->getObject("kmsKeys")) {
            for (const auto& [ref, v] : *keys) {
                if (v.isString()) {
                    m_keys[ref] = v.extract<std::string>();
                    continue;
                }
                const auto ks = keys->getObject(ref);
                if (!ks || !ks->has("enc") || !ks->has("mac") || !ks->has("dek"))
                    throw Error(ErrorCode::InvalidArgument,
                                "kmsKeys." + ref + ": a key id, or {enc, mac, dek}");
                KeySet k;
                k.enc = ks->getValue<std::string>("enc");
                k.mac = ks->getValue<std::string>("mac");
                k.dek = ks->getValue<std::string>("dek");
                if (ks->has("i")) k.i = static_cast<std::uint8_t>(ks->getValue<int>("i"));
                if (ks->has("keyVersion"))
                    k.key_version = static_cast<std::uint8_t>(ks->getValue<int>("keyVersion"));
                if (ks->has("aid")) k.aid = from_hex(ks->getValue<std::string>("aid"), "aid");
                m_keysets[ref] = k;
            }
        }
        if (cfg->has("catalogue")) m_catalogue = Catalogue::from_config(cfg->get("catalogue"));
        const auto scripts = cfg->getObject("scripts");
        if (!scripts || scripts->size() == 0)
            throw Error(ErrorCode::InvalidArgument, "scripts: at least one script is required");
        for (const auto& [name, v] : *scripts) {
            if (!v.isString())
                throw Error(ErrorCode::InvalidArgument, "scripts." + name + ": a path");
            auto s = std::make_shared<const script::Script>(script::load_script_json(
                read_text(v.extract<std::string>()), m_catalogue.resolver()));
            // Every key reference must be mapped now, so a run never fails on configuration.
            for (const auto& step : s->steps) {
                if (step.kind == script::StepKind::Kms && !m_keys.contains(step.key))
                    throw Error(ErrorCode::InvalidArgument,
                                "scripts." + name + ": key '" + step.key + "' is not in kmsKeys");
                for (const auto& k :
                     step.kind == script::StepKind::PutKey ? step.keys : decltype(step.keys){})
                    if (!m_keys.contains(k))
                        throw Error(ErrorCode::InvalidArgument,
                                    "scripts." + name + ": key '" + k + "' is not in kmsKeys");
                if (step.kind == script::StepKind::SecureChannel &&
                    !m_keysets.contains(step.keyset))
                    throw Error(
                        ErrorCode::InvalidArgument,
                        "scripts." + name + ": keyset '" + step.keyset + "' is not in kmsKeys");
            }
            m_scripts[name] = std::move(s);
        }
        if (cfg->has("instanceEffects"))
            m_effects = instance_effects_from_config(cfg->get("instanceEffects"), m_scripts);
        if (cfg->has("syncClients")) {
            const auto list = cfg->getArray("syncClients");
            if (!list)
                throw Error(ErrorCode::InvalidArgument,
                            "syncClients: a list of client certificate CNs");
            for (std::size_t i = 0; i < list->size(); ++i) {
                const auto v = list->get(static_cast<unsigned>(i));
                if (!v.isString() || v.extract<std::string>().empty())
                    throw Error(ErrorCode::InvalidArgument,
                                "syncClients[" + std::to_string(i) + "]: a non-empty CN");
                m_sync_clients.push_back(v.extract<std::string>());
            }
        }
        // Fail closed once the deployment syncs attributes; a configuration from before the
        // sync (neither key) keeps running scripts unchecked.
        m_check_attributes = cfg->has("syncClients");
        if (cfg->has("checkAttributes")) {
            const auto v = cfg->get("checkAttributes");
            if (v.type() != typeid(bool))
                throw Error(ErrorCode::InvalidArgument, "checkAttributes: true or false");
            m_check_attributes = v.extract<bool>();
        }
        if (!m_check_attributes)
            log(TSM_LOG_WARNING,
                "sp-tsm: checkAttributes is off: operations run without the SE's product "
                "attribute check");
        // Last, once the instance can serve: register at the fronts ("front", docs/front.md).
        if (auto front = registrar::parse_front_registration(config_json))
            m_registrar = std::make_unique<registrar::Registrar>(
                std::move(*front),
                [this](int level, const std::string& m) { log(level, "sp-tsm: " + m); });
    }

    void handle(const tsm_request* req, tsm_response* resp) {
        try {
            const std::string method = req->method, path = req->path;
            const std::string_view body(req->body, req->body_size);
            if (path == "/attributes") {
                if (method != "POST")
                    return respond(resp, 405, error_body("method_not_allowed", "POST only"));
                return respond(resp, 200, receive_update(req->client, body));
            }
            if (path.rfind("/attributes/", 0) == 0) {
                const std::string rest = path.substr(12);
                const auto slash = rest.find('/');
                if (slash == std::string::npos || rest.find('/', slash + 1) != std::string::npos)
                    return respond(resp, 404, error_body("not_found", "no such route"));
                if (method != "GET")
                    return respond(resp, 405, error_body("method_not_allowed", "GET only"));
                return respond(resp, 200,
                               attribute_state(rest.substr(0, slash), rest.substr(slash + 1)));
            }
            if (path.rfind("/ses/", 0) == 0 && path.size() > 15 &&
                path.compare(path.size() - 10, 10, "/instances") == 0) {
                if (method != "GET")
                    return respond(resp, 405, error_body("method_not_allowed", "GET only"));
                return respond(resp, 200, instances_of(path.substr(5, path.size() - 15)));
            }
            const std::string prefix = "/operations";
            if (path == prefix) {
                if (method != "POST")
                    return respond(resp, 405, error_body("method_not_allowed", "POST only"));
                return respond(resp, 201, start(body));
            }
            if (path.rfind(prefix + "/", 0) == 0) {
                std::string rest = path.substr(prefix.size() + 1);
                const auto slash = rest.find('/');
                const std::string id = rest.substr(0, slash);
                const std::string tail = slash == std::string::npos ? "" : rest.substr(slash);
                if (tail.empty() && method == "GET") return respond(resp, 200, summary(id));
                if (tail.empty() && method == "DELETE") return respond(resp, 200, cancel(id));
                if (tail == "/responses" && method == "POST")
                    return respond(resp, 200, response(id, body));
                if (tail.empty() || tail == "/responses")
                    return respond(resp, 405, error_body("method_not_allowed", "wrong method"));
            }
            respond(resp, 404, error_body("not_found", "no such route"));
        } catch (const Refusal& r) {
            respond(resp, r.status, error_body(r.error, r.message));
        } catch (const Error& e) {
            if (plugin_http_status(e.code()) >= 500)
                log(TSM_LOG_ERROR, std::string("sp-tsm: ") + e.what());
            respond(resp, plugin_http_status(e.code()),
                    error_body(std::string(error_code_name(e.code())), e.what()));
        } catch (const std::exception& e) {
            log(TSM_LOG_ERROR, std::string("sp-tsm: ") + e.what());
            respond(resp, 500, error_body("internal", "internal error"));
        }
    }

  private:
    static std::string error_body(const std::string& code, const std::string& message) {
        return "{\"error\":" + json_text(code) + ",\"message\":" + json_text(message) + "}";
    }
    void respond(tsm_response* r, int status, const std::string& body) {
        m_host.respond(r, status, "application/json", body.data(), body.size());
    }
    void log(int level, const std::string& m) { m_host.log(m_host.host, level, m.c_str()); }

    std::shared_ptr<const script::Script> script_of(const std::string& name) const {
        const auto it = m_scripts.find(name);
        if (it == m_scripts.end())
            throw Error(ErrorCode::NotFound, "script: no script '" + name + "'");
        return it->second;
    }

    static std::string new_id() {
        std::random_device rd;
        Bytes b(16);
        for (auto& x : b) x = static_cast<std::uint8_t>(rd());
        return to_hex(b);
    }

    /// The record as stored, for save_over(): what another process must not have changed.
    std::optional<std::string> load_text(const std::string& id) {
        if (id.empty() || id.size() > 64) return std::nullopt;
        return get_value("operations", id);
    }
    /// Saves @p r only over @p loaded (compare-and-put): if another tsmd process sharing the
    /// store advanced the operation meanwhile, nothing is written and the request is a 409 (the
    /// wallet asks again and gets that process's answer from the record).
    void save_over(const OperationRecord& r, const std::string& loaded) {
        const std::string v = r.to_json();
        const int rc =
            m_host.store_compare_and_put(m_host.host, "operations", r.id.c_str(), loaded.data(),
                                         loaded.size(), 0, v.data(), v.size());
        if (rc == TSM_STORE_CONFLICT)
            throw Error(ErrorCode::Conflict,
                        "the operation was advanced by another request at the same time; "
                        "send the response again");
        if (rc != TSM_STORE_OK) throw Error(ErrorCode::StoreError, "the TSM store failed");
    }

    std::optional<OperationRecord> load(const std::string& id) {
        const auto text = load_text(id);
        if (!text) return std::nullopt;
        return OperationRecord::from_json(*text);
    }
    void save(const OperationRecord& r) {
        const std::string v = r.to_json();
        if (m_host.store_put(m_host.host, "operations", r.id.c_str(), v.data(), v.size()) !=
            TSM_STORE_OK)
            throw Error(ErrorCode::StoreError, "the TSM store failed");
    }

    OperationDriver driver() {
        return OperationDriver(
            *m_port, m_keys, m_keysets,
            [this](const std::string& m) { log(TSM_LOG_WARNING, "sp-tsm: " + m); }, &m_catalogue);
    }

    /// A value of the instance's store, std::nullopt when absent; StoreError when it fails.
    std::optional<std::string> get_value(const std::string& table, const std::string& key) {
        std::string buf(1024, '\0');
        for (int round = 0; round < 3; ++round) {
            size_t size = buf.size();
            const int rc =
                m_host.store_get(m_host.host, table.c_str(), key.c_str(), buf.data(), &size);
            if (rc == TSM_STORE_OK) return buf.substr(0, size);
            if (rc == TSM_STORE_NOT_FOUND || rc == TSM_STORE_INVALID) return std::nullopt;
            if (rc != TSM_STORE_TOO_LARGE) break;
            buf.resize(size);
        }
        throw Error(ErrorCode::StoreError, "the TSM store failed");
    }
    void put_value(const std::string& table, const std::string& key, const std::string& v) {
        if (m_host.store_put(m_host.host, table.c_str(), key.c_str(), v.data(), v.size()) !=
            TSM_STORE_OK)
            throw Error(ErrorCode::StoreError, "the TSM store failed");
    }

    /// Read-compute-write of one shared record, safe against every tsmd process on the store
    /// (ABI 2's compare-and-put): @p next gets the current value (nullopt: none) and returns
    /// the value to write, or nullopt to write nothing. On a conflict it runs again on the new
    /// value. Returns what was written (nullopt: nothing).
    std::optional<std::string> update_value(
        const std::string& table, const std::string& key,
        const std::function<std::optional<std::string>(const std::optional<std::string>&)>& next) {
        for (int attempt = 0; attempt < 1000; ++attempt) {
            const auto current = get_value(table, key);
            const auto value = next(current);
            if (!value) return std::nullopt;
            const int rc = m_host.store_compare_and_put(
                m_host.host, table.c_str(), key.c_str(), current ? current->data() : nullptr,
                current ? current->size() : 0, current ? 0 : 1, value->data(), value->size());
            if (rc == TSM_STORE_OK) return value;
            if (rc != TSM_STORE_CONFLICT)
                throw Error(ErrorCode::StoreError, "the TSM store failed");
        }
        throw Error(ErrorCode::StoreError, "the TSM store: " + table + " stayed contended");
    }

    std::optional<AttributeRecord> attribute(const std::string& seid, const std::string& product) {
        const auto text = get_value("attributes", attribute_key(seid, product));
        if (!text) return std::nullopt;
        return AttributeRecord::from_json(*text);
    }

    static std::string utc_now() {
        const std::time_t t = std::time(nullptr);
        std::tm tm{};
        gmtime_r(&t, &tm);
        char buf[32];
        std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return buf;
    }

    /// POST /attributes: se-tsm's sync. Only the CNs of syncClients, when that list is given.
    std::string receive_update(const std::string& client, std::string_view body) {
        if (!m_sync_clients.empty() &&
            std::find(m_sync_clients.begin(), m_sync_clients.end(), client) == m_sync_clients.end())
            throw Error(ErrorCode::Forbidden,
                        "the client '" + printable(client) + "' is not in syncClients");
        const AttributeUpdate u = parse_attribute_update(body);
        // Read-apply-write with compare-and-put: two sp-tsm processes on one store receiving
        // updates of one pair at once never keep the older one.
        ApplyResult a;
        update_value("attributes", attribute_key(u.seid, u.product),
                     [&](const std::optional<std::string>& text) -> std::optional<std::string> {
                         a = apply_update(text ? std::optional<AttributeRecord>(
                                                     AttributeRecord::from_json(*text))
                                               : std::nullopt,
                                          u, utc_now());
                         if (!a.applied) return std::nullopt;
                         return a.record.to_json();
                     });
        log(TSM_LOG_INFO, "sp-tsm: attribute " + u.seid + "/" + u.product + " seq " +
                              std::to_string(u.seq) + " from " + u.source + " (" + u.event +
                              (u.valid ? ", valid)" : ", invalid)") +
                              (a.applied ? " applied" : " not applied: not newer"));
        return update_answer_json(a.record, a.applied);
    }

    /// GET /attributes/{seid}/{product}.
    std::string attribute_state(const std::string& seid, const std::string& product) {
        std::optional<AttributeRecord> r;
        try {
            r = attribute(normalize_seid("seid", seid), product);
        } catch (const Error& e) {
            if (e.code() != ErrorCode::InvalidArgument) throw;
        }
        if (!r)
            throw Error(ErrorCode::NotFound,
                        "no attribute for " + printable(seid) + "/" + printable(product));
        return record_answer_json(*r);
    }

    /// Flow A's check: the SE's attribute for the product must be known and valid here.
    void require_valid(const std::string& seid, const std::string& product) {
        if (!attribute_allows(attribute(seid, product)))
            throw Refusal{403, "product_attribute_invalid",
                          "the product attribute of SE " + seid + " for " + product +
                              " is invalid or unknown"};
    }

    std::string start(std::string_view body) {
        const StartRequest req = parse_start_request(body);
        const auto sc = script_of(req.script);
        std::string seid, product;
        if (m_check_attributes) {
            if (!req.seid) bad_field("seid", "required: the SE's product attribute is checked");
            if (!req.product_id)
                bad_field("productId", "required: the SE's product attribute is checked");
            seid = normalize_seid("seid", to_hex(*req.seid));
            product = *req.product_id;
            require_valid(seid, product);  // before anything reaches the card or kmsd
        }
        // A new operation: its id is fresh and known to nobody until this answer, so it needs
        // no lock.
        ScriptRun run(sc, req.variables);
        OperationRecord r;
        r.id = new_id();
        r.script = req.script;
        r.seq = 1;
        if (m_check_attributes) put_value("operation-attributes", r.id, seid + "/" + product);
        if (req.seid) {
            if (seid.empty()) seid = normalize_seid("seid", to_hex(*req.seid));
            put_value("operation-se", r.id, seid);
        }
        driver().drive(r, run);
        r.state = run.serialize();
        save(r);
        record_effect(r, *sc);
        log(TSM_LOG_INFO,
            "sp-tsm: operation " + r.id + " " + req.script +
                (req.action_code ? " actionCode " + printable(*req.action_code) : "") +
                (seid.empty() ? "" : " SE " + seid + " product " + product));
        return answer_json(r, true);
    }

    /// Before each wallet answer of an operation started with the check: its SE's attribute
    /// must still be valid. False when it is not (the run is then ended, see response()).
    bool still_valid(const std::string& id) {
        if (!m_check_attributes) return true;
        const auto binding = get_value("operation-attributes", id);
        if (!binding) return true;  // started before checks were on
        const auto slash = binding->find('/');
        return attribute_allows(attribute(binding->substr(0, slash), binding->substr(slash + 1)));
    }

    [[noreturn]] static void bad_field(const std::string& field, const std::string& why) {
        throw Error(ErrorCode::InvalidArgument, field + ": " + why);
    }

    std::string response(const std::string& id, std::string_view body) {
        const ResponseRequest req = parse_response_request(body);
        std::lock_guard lock(operation_lock(id));
        const auto loaded = load_text(id);
        if (!loaded) throw Error(ErrorCode::NotFound, "no operation '" + id + "'");
        OperationRecord r = OperationRecord::from_json(*loaded);
        switch (judge(r, req)) {
            case Verdict::Replay: {
                // The answer to the retried request: the record moved on by exactly one action.
                return answer_json(r, false);
            }
            case Verdict::Conflict:
                throw Error(ErrorCode::Conflict, "seq " + std::to_string(req.seq) +
                                                     " was answered with another response");
            case Verdict::Unknown:
                throw Error(ErrorCode::InvalidArgument,
                            "seq: no action " + std::to_string(req.seq) + " yet");
            case Verdict::Ended:
                throw Error(ErrorCode::Conflict, "the operation has ended");
            case Verdict::Advance:
                break;
        }
        ScriptRun run = ScriptRun::restore(script_of(r.script), r.state);
        if (!still_valid(id)) {
            // A loss report arrived mid-operation: the wallet's answer is not processed, the
            // run ends (closing the KMS session) before the script can send anything more,
            // e.g. the CREDIT. The answer is recorded as for any response, so a retry of it
            // gets the same answer.
            driver().abandon(r, run, kAttributeInvalidOutcome);
            r.answered_seq = req.seq;
            r.answered_response = req.response;
            r.seq = req.seq + 1;
            log(TSM_LOG_WARNING, "sp-tsm: operation " + id + " ended at seq " +
                                     std::to_string(req.seq) +
                                     ": the SE's product attribute is no longer valid");
        } else {
            driver().advance(r, run, req);
        }
        save_over(r, *loaded);
        record_effect(r, *script_of(r.script));
        return answer_json(r, false);
    }

    /// DELETE /operations/{id}: the wallet gives up; the run ends "cancelled" (an ended
    /// operation keeps its outcome). Answers like a response: the current seq and the action.
    std::string cancel(const std::string& id) {
        std::lock_guard lock(operation_lock(id));
        const auto loaded = load_text(id);
        if (!loaded) throw Error(ErrorCode::NotFound, "no operation '" + id + "'");
        auto rec = std::optional<OperationRecord>(OperationRecord::from_json(*loaded));
        if (rec->waiting != Waiting::Nothing) {
            ScriptRun run = ScriptRun::restore(script_of(rec->script), rec->state);
            driver().abandon(*rec, run, "cancelled");
            save_over(*rec, *loaded);
        }
        return answer_json(*rec, false);
    }

    std::string summary(const std::string& id) {
        std::lock_guard lock(operation_lock(id));
        const auto r = load(id);
        if (!r) throw Error(ErrorCode::NotFound, "no operation '" + id + "'");
        static const char* const kWaiting[] = {"card-response", "initialize-update",
                                               "external-authenticate", "nothing",
                                               "put-key-response"};
        ScriptRun run = ScriptRun::restore(script_of(r->script), r->state);
        std::string out =
            "{\"operation\":" + json_text(r->id) + ",\"script\":" + json_text(r->script) +
            ",\"state\":" + (r->waiting == Waiting::Nothing ? "\"done\"" : "\"waiting\"") +
            ",\"waitingFor\":" + json_text(kWaiting[static_cast<int>(r->waiting)]) +
            ",\"seq\":" + std::to_string(r->seq) +
            ",\"stepsExecuted\":" + std::to_string(run.steps_executed()) +
            ",\"action\":" + r->action;
        if (!r->outcome.empty()) out += ",\"outcome\":" + json_text(r->outcome);
        return out + "}";
    }

    /// After an operation ended in success: the state its script's instanceEffects gives the
    /// instance of its load file on its SE. Written after the operation's own record, so a
    /// crash between the two leaves the instance record one operation behind (the card is the
    /// truth; GET STATUS through se-tsm tells). A retry of the last answer writes it again.
    void record_effect(const OperationRecord& r, const script::Script& sc) {
        if (r.waiting != Waiting::Nothing || r.outcome != "success") return;
        const auto effect = m_effects.find(r.script);
        if (effect == m_effects.end() || !sc.load_file) return;
        const auto seid = get_value("operation-se", r.id);
        if (!seid) return;  // not bound to an SE
        InstanceRecord rec;
        rec.seid = *seid;
        rec.aid = to_hex(sc.load_file->instance_aid);
        rec.load_file = sc.load_file->name;
        rec.state = effect->second;
        rec.operation = r.id;
        rec.script = r.script;
        rec.updated = utc_now();
        update_value(
            "se-instances", rec.seid,  // the index before the record
            [&](const std::optional<std::string>& index) { return add_to_index(index, rec.aid); });
        put_value("instances", rec.seid + "/" + rec.aid, rec.to_json());
        log(TSM_LOG_INFO, "sp-tsm: instance " + rec.aid + " on SE " + rec.seid + " is " +
                              std::string(instance_state_name(rec.state)) + " (operation " + r.id +
                              ")");
    }

    /// GET /ses/{seid}/instances: the instances recorded on the SE (an empty list when none).
    std::string instances_of(const std::string& raw_seid) {
        const std::string seid = normalize_seid("seid", raw_seid);
        std::string out = "{\"seid\":" + json_text(seid) + ",\"instances\":[";
        if (const auto index = get_value("se-instances", seid)) {
            bool first = true;
            for (const auto& aid : index_from_json(*index)) {
                const auto rec = get_value("instances", seid + "/" + aid);
                if (!rec) continue;  // the index is written first: a crash in between
                out += (first ? "" : ",") + InstanceRecord::from_json(*rec).to_json();
                first = false;
            }
        }
        return out + "]}";
    }

    tsm_host_api m_host;
    std::unique_ptr<KmsClient> m_kms;
    std::unique_ptr<KmsClientPort> m_port;
    std::map<std::string, std::string> m_keys;
    std::map<std::string, KeySet> m_keysets;
    Catalogue m_catalogue;  ///< before m_scripts: their loadFile constants come from it
    std::map<std::string, std::shared_ptr<const script::Script>> m_scripts;
    std::vector<std::string> m_sync_clients;  ///< CNs allowed to POST /attributes; empty: any
    bool m_check_attributes = false;
    std::map<std::string, InstanceState> m_effects;  ///< "instanceEffects"
    /// Per-operation serialization of load, feed, KMS calls and save, striped: requests of one
    /// operation (a wallet's retry racing its first try) never interleave, while different
    /// operations run in parallel (two may share a stripe and then wait for each other).
    std::mutex& operation_lock(const std::string& id) {
        return m_operation_locks[std::hash<std::string>{}(id) % m_operation_locks.size()];
    }
    std::array<std::mutex, 64> m_operation_locks;
    /// With a "front" configuration; last, so destroyed first: deregistered before the rest goes.
    std::unique_ptr<registrar::Registrar> m_registrar;
};

void* create(const tsm_host_api* host, const char* config, char* error, size_t error_size) {
    try {
        return new SpTsm(host, config);
    } catch (const std::exception& e) {
        std::snprintf(error, error_size, "sp-tsm: %s", e.what());
        return nullptr;
    }
}

void handle(void* instance, const tsm_request* request, tsm_response* response) {
    static_cast<SpTsm*>(instance)->handle(request, response);
}

void destroy(void* instance) {
    delete static_cast<SpTsm*>(instance);
}

const tsm_plugin kPlugin = {TSM_PLUGIN_ABI_VERSION, "sp-tsm", "0.1.0", &create, &handle, &destroy};

}  // namespace
}  // namespace kms::tsm::sp

extern "C" __attribute__((visibility("default"))) const tsm_plugin* tsm_plugin_entry(
    uint32_t host_abi_version) {
    if (host_abi_version < TSM_PLUGIN_ABI_VERSION) return nullptr;
    return &kms::tsm::sp::kPlugin;
}
