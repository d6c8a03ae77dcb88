// The SP TSM's conversation with the wallet: validation, action mapping, stored record.
#include "conversation.hpp"

#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>

#include <sstream>

#include "attribute_sync.hpp"
#include "domain/error.hpp"
#include "plugin-api/json_int.hpp"

namespace kms::tsm::sp {
namespace {

using Poco::JSON::Object;

Object::Ptr parse_object(std::string_view body) {
    try {
        Poco::JSON::Parser p;
        auto v = p.parse(std::string(body));
        auto o = v.extract<Object::Ptr>();
        if (!o) throw Error(ErrorCode::MalformedRequest, "the body is not a JSON object");
        return o;
    } catch (const Error&) {
        throw;
    } catch (const std::exception&) {
        throw Error(ErrorCode::MalformedRequest, "the body is not a JSON object");
    }
}

[[noreturn]] void bad(std::string_view field, std::string_view why) {
    throw Error(ErrorCode::InvalidArgument, std::string(field) + ": " + std::string(why));
}

std::string text(const Object& o) {
    std::ostringstream out;
    o.stringify(out);
    return out.str();
}

Bytes hex_field(const Object::Ptr& o, const std::string& field) {
    if (!o->has(field)) bad(field, "missing");
    const auto v = o->get(field);
    if (!v.isString()) bad(field, "must be a hex string");
    try {
        return from_hex(v.extract<std::string>(), field);
    } catch (const std::exception&) {
        bad(field, "not valid hex");
    }
}

}  // namespace

StartRequest parse_start_request(std::string_view body) {
    const auto o = parse_object(body);
    StartRequest r;
    if (!o->has("script") || !o->get("script").isString()) bad("script", "missing or not a string");
    r.script = o->getValue<std::string>("script");
    if (r.script.empty()) bad("script", "empty");
    if (o->has("variables")) {
        const auto vars = o->getObject("variables");
        if (!vars) bad("variables", "must be an object");
        for (const auto& [name, value] : *vars) {
            if (value.isString())
                r.variables[name] = value.extract<std::string>();
            else if (const auto n = json_uint(value))
                r.variables[name] = std::to_string(*n);
            else
                bad("variables." + name, "must be a string or a non-negative integer");
        }
    }
    if (o->has("seid")) {
        r.seid = hex_field(o, "seid");
        if (r.seid->empty()) bad("seid", "empty");
    }
    if (o->has("productId")) {
        const auto v = o->get("productId");
        if (!v.isString()) bad("productId", "must be a string");
        r.product_id = v.extract<std::string>();
        check_product_id("productId", *r.product_id);
    }
    if (o->has("actionCode")) {
        const auto v = o->get("actionCode");
        if (!v.isString()) bad("actionCode", "must be a string");
        r.action_code = v.extract<std::string>().substr(0, 128);
    }
    for (const auto& [name, value] : *o)
        if (name != "script" && name != "variables" && name != "seid" && name != "productId" &&
            name != "actionCode")
            bad(name, "unknown field");
    return r;
}

ResponseRequest parse_response_request(std::string_view body) {
    const auto o = parse_object(body);
    ResponseRequest r;
    if (!o->has("seq")) bad("seq", "missing");
    const auto s = o->get("seq");
    const auto seq = json_uint(s);
    if (!seq || *seq < 1) bad("seq", "must be an integer >= 1");
    r.seq = *seq;
    r.response = hex_field(o, "response");
    if (r.response.size() < 2) bad("response", "shorter than SW1 SW2");
    for (const auto& [name, value] : *o)
        if (name != "seq" && name != "response") bad(name, "unknown field");
    return r;
}

std::string wallet_apdu_json(ByteView apdu) {
    Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    o.set("kind", "apdu");
    o.set("apdu", to_hex(apdu));
    return text(o);
}

std::string wallet_done_json(const script::Done& done) {
    Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    o.set("kind", "done");
    o.set("outcome", done.outcome);
    Object::Ptr vars = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    for (const auto& [name, value] : done.variables) vars->set(name, value.text());
    o.set("variables", vars);
    return text(o);
}

std::string OperationRecord::to_json() const {
    Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    o.set("id", id);
    o.set("script", script);
    o.set("state", to_hex(state));
    o.set("seq", seq);
    o.set("waiting", static_cast<int>(waiting));
    o.set("engineSeq", engine_seq);
    o.set("secure", secure);
    o.set("session", session);
    o.set("level", static_cast<int>(level));
    o.set("action", action);
    o.set("answeredSeq", answered_seq);
    o.set("answeredResponse", to_hex(answered_response));
    o.set("outcome", outcome);
    return text(o);
}

OperationRecord OperationRecord::from_json(std::string_view body) {
    try {
        Poco::JSON::Parser p;
        const auto o = p.parse(std::string(body)).extract<Object::Ptr>();
        OperationRecord r;
        r.id = o->getValue<std::string>("id");
        r.script = o->getValue<std::string>("script");
        r.state = from_hex(o->getValue<std::string>("state"));
        r.seq = o->getValue<std::uint64_t>("seq");
        const int w = o->getValue<int>("waiting");
        if (w < 0 || w > 4) throw std::runtime_error("waiting");
        r.waiting = static_cast<Waiting>(w);
        r.engine_seq = o->getValue<std::uint64_t>("engineSeq");
        r.secure = o->getValue<bool>("secure");
        r.session = o->getValue<std::string>("session");
        r.level = static_cast<std::uint8_t>(o->getValue<int>("level"));
        r.action = o->getValue<std::string>("action");
        r.answered_seq = o->getValue<std::uint64_t>("answeredSeq");
        r.answered_response = from_hex(o->getValue<std::string>("answeredResponse"));
        r.outcome = o->getValue<std::string>("outcome");
        return r;
    } catch (const std::exception&) {
        throw Error(ErrorCode::Integrity, "stored operation record is not readable");
    }
}

std::string answer_json(const OperationRecord& r, bool with_id) {
    // The action is stored as JSON text; splice it in rather than re-parse it.
    std::string out = "{";
    if (with_id) out += "\"operation\":\"" + r.id + "\",";
    out += "\"seq\":" + std::to_string(r.seq) + ",\"action\":" + r.action + "}";
    return out;
}

Verdict judge(const OperationRecord& record, const ResponseRequest& request) {
    if (record.answered_seq != 0 && request.seq == record.answered_seq)
        return request.response == record.answered_response ? Verdict::Replay : Verdict::Conflict;
    if (request.seq < record.seq) return Verdict::Conflict;  // older than the last answer
    if (request.seq > record.seq) return Verdict::Unknown;   // no such action yet
    return record.waiting == Waiting::Nothing ? Verdict::Ended : Verdict::Advance;
}

}  // namespace kms::tsm::sp
