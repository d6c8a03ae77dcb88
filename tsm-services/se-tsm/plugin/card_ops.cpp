// se-tsm's card operations: requests, the ISD key set, the conversation through sp_tsm_core's
// OperationDriver, and applying a confirmed result to the SE record.
#include "card_ops.hpp"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <fstream>
#include <random>
#include <sstream>

#include "domain/error.hpp"
#include "operation_driver.hpp"
#include "plugin-api/json_int.hpp"
#include "plugin-api/tsm_plugin.h"
#include "script_json.hpp"
#include "se_codec.hpp"

namespace kms::tsm::se {
namespace {

using Poco::JSON::Object;

constexpr const char* kOperations = "card-operations";  ///< sp::OperationRecord, JSON
constexpr const char* kBindings = "card-op-bindings";   ///< CardOpBinding, se_codec text
/// The keyset reference of the card scripts' secure-channel steps.
constexpr const char* kIsdKeyset = "isd";

[[noreturn]] void bad(const std::string& field, const std::string& why) {
    throw Error(ErrorCode::InvalidArgument, field + " " + why);
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(ErrorCode::InvalidArgument, "cardScripts: cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string json_string(const std::string& s) {
    Object o;
    o.set("s", s);
    std::ostringstream out;
    o.stringify(out);
    const std::string t = out.str();  // {"s":"..."}
    return t.substr(5, t.size() - 6);
}

/// Operation ids are 32 hex digits (new_id()); anything else is no operation, and never
/// reaches the store as a key (an empty or odd key is the store's TSM_STORE_INVALID).
bool plausible_id(const std::string& id) {
    return !id.empty() && id.size() <= 64 &&
           id.find_first_not_of("0123456789ABCDEFabcdef") == std::string::npos;
}

std::string new_id() {
    std::random_device rd;
    Bytes b(16);
    for (auto& x : b) x = static_cast<std::uint8_t>(rd());
    return to_hex(b);
}

/// POST .../operations, parsed and checked field by field.
struct StartBody {
    CardOp op = CardOp::Lock;
    std::optional<std::string> seid;
    std::optional<std::string> action_code;
    std::string new_key_id, new_diversification;  ///< rotate-keys
    std::optional<int> key_version;               ///< rotate-keys: the new version
    std::string rotation;                         ///< confirm-keys: the rotate-keys' id
};

std::string string_of(const Object& o, const std::string& name, const std::string& field) {
    const auto v = o.get(name);
    if (!v.isString()) bad(field, "must be a string");
    return v.extract<std::string>();
}

StartBody parse_start(std::string_view text) {
    Object::Ptr o;
    try {
        o = Poco::JSON::Parser().parse(std::string(text)).extract<Object::Ptr>();
    } catch (const std::exception&) {
    }
    if (!o) throw Error(ErrorCode::MalformedRequest, "the body must be a JSON object");
    StartBody b;
    if (!o->has("operation")) bad("operation", "is required");
    const std::string name = string_of(*o, "operation", "operation");
    const auto op = parse_card_op(name);
    if (!op)
        bad("operation",
            "must be \"lock\", \"unlock\", \"terminate\", \"list-contents\", \"rotate-keys\" or "
            "\"confirm-keys\"");
    b.op = *op;
    if (o->has("seid")) b.seid = string_of(*o, "seid", "seid");
    if (o->has("actionCode")) b.action_code = string_of(*o, "actionCode", "actionCode");
    if (b.op == CardOp::RotateKeys) {
        const Object::Ptr k = o->getObject("newIsdKey");
        if (!k) bad("newIsdKey", "is required for rotate-keys: {\"keyId\", \"diversification\"}");
        if (!k->has("keyId")) bad("newIsdKey.keyId", "is required");
        b.new_key_id = string_of(*k, "keyId", "newIsdKey.keyId");
        check_text("newIsdKey.keyId", b.new_key_id);
        if (!k->has("diversification")) bad("newIsdKey.diversification", "is required");
        b.new_diversification = string_of(*k, "diversification", "newIsdKey.diversification");
        // kmsd's POST /v1/gp/keys/diversify makes DES3 key sets only (docs/globalplatform.md).
        if (b.new_diversification != "VISA2" && b.new_diversification != "EMV-CPS11")
            bad("newIsdKey.diversification", "must be \"VISA2\" or \"EMV-CPS11\"");
        for (const auto& [n, v] : *k)
            if (n != "keyId" && n != "diversification") bad("newIsdKey." + n, "is not a field");
        if (o->has("keyVersion")) {
            const auto v = json_int(o->get("keyVersion"), 1, 127);
            if (!v) bad("keyVersion", "must be an integer 1 to 127");
            b.key_version = static_cast<int>(*v);
        }
    } else if (o->has("newIsdKey") || o->has("keyVersion")) {
        bad(o->has("newIsdKey") ? "newIsdKey" : "keyVersion", "is for rotate-keys only");
    }
    if (b.op == CardOp::ConfirmKeys) {
        if (!o->has("rotation")) bad("rotation", "is required: the id of a rotate-keys operation");
        b.rotation = string_of(*o, "rotation", "rotation");
    } else if (o->has("rotation")) {
        bad("rotation", "is for confirm-keys only");
    }
    for (const auto& [n, v] : *o)
        if (n != "operation" && n != "seid" && n != "actionCode" && n != "newIsdKey" &&
            n != "keyVersion" && n != "rotation")
            bad(n, "is not a field of a card operation");
    return b;
}

const char* file_of(CardOp op) {
    switch (op) {
        case CardOp::Lock:
            return "card-lock.json";
        case CardOp::Unlock:
            return "card-unlock.json";
        case CardOp::Terminate:
            return "card-terminate.json";
        case CardOp::ListContents:
            return "card-list-contents.json";
        case CardOp::RotateKeys:
            return "card-rotate-keys.json";
        case CardOp::ConfirmKeys:
            return "card-confirm-keys.json";
    }
    return "";
}

}  // namespace

struct CardOperations::Loaded {
    sp::OperationRecord record;
    CardOpBinding binding;
    std::string record_text;  ///< the record as stored: what save_over() writes over
};

CardOperations::CardOperations(SeTsmService& service, SeStore& store, const KmsClientOptions& kms,
                               const std::string& scripts_dir, Log log)
    : m_service(service), m_store(store), m_log(std::move(log)) {
    try {
        m_kms = std::make_unique<KmsClient>(kms);
    } catch (const KmsError& e) {
        throw Error(ErrorCode::InvalidArgument, std::string("kms: ") + e.what());
    }
    m_port = std::make_unique<sp::KmsClientPort>(*m_kms);
    for (CardOp op : {CardOp::Lock, CardOp::Unlock, CardOp::Terminate, CardOp::ListContents,
                      CardOp::RotateKeys, CardOp::ConfirmKeys}) {
        const std::string path = scripts_dir + "/" + file_of(op);
        try {
            auto s =
                std::make_shared<const script::Script>(script::load_script_json(read_text(path)));
            // The scripts are se-tsm's own: they may open only the SE's ISD key set.
            for (const auto& step : s->steps)
                if ((step.kind == script::StepKind::SecureChannel && step.keyset != kIsdKeyset) ||
                    step.kind == script::StepKind::Kms || step.kind == script::StepKind::Load)
                    throw Error(ErrorCode::InvalidArgument,
                                "step '" + step.id + "' is not one se-tsm carries out");
            m_scripts[op] = std::move(s);
        } catch (const Error& e) {
            throw Error(ErrorCode::InvalidArgument, "cardScripts: " + path + ": " + e.what());
        }
    }
}

CardOperations::~CardOperations() = default;

CardOperations::Loaded CardOperations::load(const std::string& id) {
    if (!plausible_id(id)) throw Error(ErrorCode::NotFound, "no such operation");
    const auto rec = m_store.get(kOperations, id);
    const auto bind = m_store.get(kBindings, id);
    if (!rec || !bind) throw Error(ErrorCode::NotFound, "no operation '" + id + "'");
    return {sp::OperationRecord::from_json(*rec), decode_card_op_binding(*bind), *rec};
}

std::string CardOperations::seid_of(const std::string& id) {
    return load(id).binding.seid;
}

void CardOperations::save_over(const sp::OperationRecord& r, const std::string& loaded) {
    // Two tsmd processes given the same answer at once never both advance the operation: the
    // second save finds another record and the request is a 409 (sent again, it is a replay).
    if (!m_store.put_if(kOperations, r.id, loaded, r.to_json()))
        throw Error(ErrorCode::Conflict,
                    "the operation was advanced by another request at the same time; send the "
                    "response again");
}

void CardOperations::save(const sp::OperationRecord& r) {
    m_store.put(kOperations, r.id, r.to_json());
}

void CardOperations::save(const std::string& id, const CardOpBinding& b) {
    m_store.put(kBindings, id, encode(b));
}

sp::OperationDriver CardOperations::driver(const CardOpBinding& b,
                                           std::map<std::string, sp::KeySet>& keysets,
                                           const std::string& id) {
    // The ISD key set from the SE record as it is now, and the channel from its product.
    const SecureElement se = m_service.se(b.seid);
    const Product product = m_service.product(se.product_id);
    const IsdChannel ch = isd_channel(product, se);
    sp::KeySet ks;
    if (!se.isd_enc.empty()) {  // three static keys (ceremony-loaded)
        ks.enc = se.isd_enc;
        ks.mac = se.isd_mac;
        ks.dek = se.isd_dek;
    } else if (se.isd_diversification == Diversification::None) {
        // "none": the key is the ISD's static key itself, used as ENC, MAC and DEK (kmsd takes
        // a master key only with VISA2 or EMV-CPS11; docs/se-tsm.md, "Keys").
        ks.enc = ks.mac = ks.dek = se.isd_key_id;
    } else {
        ks.kmc = se.isd_key_id;
        ks.diversification = std::string(diversification_name(se.isd_diversification));
    }
    ks.i = ch.i;
    ks.key_version = ch.key_version;
    if (b.op == CardOp::ConfirmKeys) {
        // The rotation's new key set, as the card holds it if its PUT KEY was executed.
        ks.enc = ks.mac = ks.dek = "";
        ks.kmc = b.new_key_id;
        ks.diversification = b.new_diversification;
        ks.key_version = b.new_key_version;
    }
    ks.aid = from_hex(product.isd_aid);
    ks.protocol = ch.protocol;
    keysets[kIsdKeyset] = ks;
    sp::OperationDriver d(*m_port, m_no_keys, keysets, [this, id](const std::string& m) {
        m_log(TSM_LOG_WARNING, "se-tsm: operation " + id + ": " + m);
    });
    if (b.op == CardOp::RotateKeys) {
        // GPCS 2.2.1 §11.8: the new key set is made by kmsd from the new master key over the
        // card's key diversification data (captured from INITIALIZE UPDATE as "kdd"). The ids
        // are written to the binding before PUT KEY goes to the card, so a repeated request
        // reuses them.
        d.set_put_key_resolver([this, id](const script::PutKey&, const script::ScriptRun& run) {
            CardOpBinding cur = decode_card_op_binding(m_store.get(kBindings, id).value());
            // From here PUT KEY may reach the card: a failure is uncertain (confirm-keys).
            if (!cur.put_key_sent) {
                cur.put_key_sent = true;
                save(id, cur);
            }
            if (cur.new_key_ids.size() == 3) return cur.new_key_ids;
            const auto kdd = run.variable("kdd");
            if (!kdd) throw KmsError(0, "no_kdd", "the card's key diversification data is unknown");
            const std::string name = "se/" + cur.seid + "/isd-kv" +
                                     std::to_string(cur.new_key_version) + "-" + id.substr(0, 8);
            const GpDiversified k =
                m_kms->gp_diversify(cur.new_key_id, cur.new_diversification, kdd->bytes, name);
            cur.new_key_ids = {k.enc, k.mac, k.dek};
            save(id, cur);
            return cur.new_key_ids;
        });
    }
    return d;
}

void CardOperations::settle(const sp::OperationRecord& r, CardOpBinding& b) {
    if (b.applied || r.waiting != sp::Waiting::Nothing || r.outcome != script::kSuccess) return;
    if (const auto to = card_op_target(b.op)) {
        const SecureElement se = m_service.se(b.seid);
        if (se.state != *to) {
            if (card_transition_allowed(se.state, *to)) {
                m_service.change_state(b.seid, *to);  // TERMINATED: attributes invalid, outbox
            } else {
                // Moved by hand (POST /ses/{seid}/lifecycle) while the card was being changed:
                // the card is the truth, the record says otherwise; an operator must look.
                m_log(TSM_LOG_ERROR, "se-tsm: operation " + r.id + ": the card is now " +
                                         std::string(card_state_name(*to)) + " but SE " + b.seid +
                                         " is recorded " + std::string(card_state_name(se.state)));
            }
        }
    } else if (b.op == CardOp::RotateKeys || b.op == CardOp::ConfirmKeys) {
        m_service.replace_isd_key(b.seid, b.new_key_id,
                                  *parse_diversification(b.new_diversification), b.new_key_version);
        if (b.op == CardOp::ConfirmKeys) {  // the rotation is settled too
            CardOpBinding rot = decode_card_op_binding(m_store.get(kBindings, b.confirms).value());
            rot.applied = true;
            save(b.confirms, rot);
        }
    }
    b.applied = true;
    save(r.id, b);
    m_log(TSM_LOG_INFO, "se-tsm: operation " + r.id + " " + std::string(card_op_name(b.op)) +
                            " on SE " + b.seid + " applied");
}

CardOpsAnswer CardOperations::start(const std::optional<std::string>& path_seid,
                                    std::string_view body) {
    const StartBody req = parse_start(body);
    std::string seid;
    if (path_seid) {
        seid = *path_seid;
        if (req.seid &&
            normalize_hex("seid", *req.seid, 4, 32) != normalize_hex("seid", seid, 4, 32))
            bad("seid", "differs from the SEID of the path");
    } else {
        if (!req.seid) bad("seid", "is required");
        seid = normalize_hex("seid", *req.seid, 4, 32);
    }
    const SecureElement se = m_service.se(seid);
    const Product product = m_service.product(se.product_id);
    check_card_op_allowed(se, req.op);  // 409 before any APDU
    const IsdChannel ch = isd_channel(product, se);
    CardOpBinding b;
    b.seid = se.seid;
    b.op = req.op;
    std::map<std::string, std::string, std::less<>> inputs{{"isdAid", product.isd_aid}};
    if (req.op == CardOp::ConfirmKeys) {
        const auto text =
            plausible_id(req.rotation) ? m_store.get(kBindings, req.rotation) : std::nullopt;
        if (!text) throw Error(ErrorCode::NotFound, "rotation: no such operation");
        const CardOpBinding rot = decode_card_op_binding(*text);
        if (rot.op != CardOp::RotateKeys || rot.seid != se.seid)
            bad("rotation", "is not a rotate-keys of SE " + se.seid);
        const auto rec = m_store.get(kOperations, req.rotation);
        if (rot.applied || !rot.put_key_sent || !rec ||
            sp::OperationRecord::from_json(*rec).waiting != sp::Waiting::Nothing)
            throw Error(ErrorCode::WrongState,
                        "rotation: " + req.rotation +
                            (rot.applied         ? " is applied already"
                             : !rot.put_key_sent ? " never sent PUT KEY: the card kept its keys"
                                                 : " is still running"));
        b.new_key_id = rot.new_key_id;
        b.new_diversification = rot.new_diversification;
        b.new_key_version = rot.new_key_version;
        b.new_key_ids = rot.new_key_ids;
        b.confirms = req.rotation;
    }
    if (req.op == CardOp::RotateKeys) {
        if (ch.protocol != "SCP02")
            bad("newIsdKey.diversification",
                "gives DES3 keys (SCP02); the product " + product.id + " speaks SCP03");
        b.new_key_id = req.new_key_id;
        b.new_diversification = req.new_diversification;
        b.new_key_version =
            static_cast<std::uint8_t>(req.key_version.value_or(ch.key_version % 127 + 1));
        if (b.new_key_version == ch.key_version)
            bad("keyVersion", "must differ from the card's " + std::to_string(ch.key_version));
        inputs["keyVersion"] = std::to_string(ch.key_version);
        inputs["newKeyVersion"] = std::to_string(b.new_key_version);
    }
    std::lock_guard lock(m_mutex);
    sp::OperationRecord r;
    r.id = new_id();
    r.script = std::string(card_op_name(req.op));
    r.seq = 1;
    // The binding first: a record is never without its SE (crash safety, docs/se-tsm.md).
    save(r.id, b);
    script::ScriptRun run(m_scripts.at(req.op), inputs);
    std::map<std::string, sp::KeySet> keysets;
    driver(b, keysets, r.id).drive(r, run);
    r.state = run.serialize();
    save(r);
    settle(r, b);
    m_log(TSM_LOG_INFO, "se-tsm: operation " + r.id + " " + r.script + " on SE " + se.seid +
                            (req.action_code ? " (actionCode given)" : ""));
    return {201, sp::answer_json(r, true)};
}

CardOpsAnswer CardOperations::respond(const std::string& id, std::string_view body) {
    const sp::ResponseRequest req = sp::parse_response_request(body);
    std::lock_guard lock(m_mutex);
    Loaded l = load(id);
    sp::OperationRecord& r = l.record;
    switch (sp::judge(r, req)) {
        case sp::Verdict::Replay:
            settle(r, l.binding);  // a crash between saving the record and applying it
            return {200, sp::answer_json(r, false)};
        case sp::Verdict::Conflict:
            throw Error(ErrorCode::Conflict,
                        "seq " + std::to_string(req.seq) + " was answered with another response");
        case sp::Verdict::Unknown:
            throw Error(ErrorCode::InvalidArgument,
                        "seq: no action " + std::to_string(req.seq) + " yet");
        case sp::Verdict::Ended:
            throw Error(ErrorCode::Conflict, "the operation has ended");
        case sp::Verdict::Advance:
            break;
    }
    script::ScriptRun run = script::ScriptRun::restore(m_scripts.at(l.binding.op), r.state);
    std::map<std::string, sp::KeySet> keysets;
    driver(l.binding, keysets, id).advance(r, run, req);
    save_over(r, l.record_text);
    // The card confirmed (the run ended "success"): only now se-tsm's own record follows.
    l.binding = decode_card_op_binding(m_store.get(kBindings, id).value());
    settle(r, l.binding);
    if (r.waiting == sp::Waiting::Nothing)
        m_log(r.outcome == script::kSuccess ? TSM_LOG_INFO : TSM_LOG_WARNING,
              "se-tsm: operation " + id + " ended: " + r.outcome);
    return {200, sp::answer_json(r, false)};
}

CardOpsAnswer CardOperations::cancel(const std::string& id) {
    std::lock_guard lock(m_mutex);
    Loaded l = load(id);
    if (l.record.waiting != sp::Waiting::Nothing) {
        script::ScriptRun run =
            script::ScriptRun::restore(m_scripts.at(l.binding.op), l.record.state);
        std::map<std::string, sp::KeySet> keysets;
        driver(l.binding, keysets, id).abandon(l.record, run, "cancelled");
        save_over(l.record, l.record_text);
    }
    return {200, sp::answer_json(l.record, false)};
}

CardOpsAnswer CardOperations::summary(const std::string& id) {
    std::lock_guard lock(m_mutex);
    Loaded l = load(id);
    settle(l.record, l.binding);
    const sp::OperationRecord& r = l.record;
    std::string out = "{\"operation\":" + json_string(r.id) +
                      ",\"kind\":" + json_string(std::string(card_op_name(l.binding.op))) +
                      ",\"seid\":" + json_string(l.binding.seid) + ",\"state\":" +
                      (r.waiting == sp::Waiting::Nothing ? "\"done\"" : "\"waiting\"") +
                      ",\"seq\":" + std::to_string(r.seq) + ",\"action\":" + r.action;
    if (!r.outcome.empty()) out += ",\"outcome\":" + json_string(r.outcome);
    out += std::string(",\"applied\":") + (l.binding.applied ? "true" : "false");
    if (l.binding.op == CardOp::RotateKeys) {
        // The new key set, so an operator can tell what the card may hold when the outcome is
        // not success after PUT KEY was relayed (docs/se-tsm.md, "Not done").
        out += ",\"newIsdKey\":{\"keyId\":" + json_string(l.binding.new_key_id) +
               ",\"diversification\":" + json_string(l.binding.new_diversification) +
               ",\"keyVersion\":" + std::to_string(l.binding.new_key_version) + ",\"keyIds\":[";
        for (std::size_t i = 0; i < l.binding.new_key_ids.size(); ++i)
            out += (i ? "," : "") + json_string(l.binding.new_key_ids[i]);
        out += "]}";
    }
    return {200, out + "}"};
}

}  // namespace kms::tsm::se
