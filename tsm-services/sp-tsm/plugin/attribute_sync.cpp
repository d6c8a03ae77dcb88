// sp-tsm's copy of the product private attributes: validation, record, apply rule (see
// attribute_sync.hpp).
#include "attribute_sync.hpp"

#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <sstream>

#include "domain/error.hpp"

namespace kms::tsm::sp {
namespace {

using Poco::JSON::Object;

[[noreturn]] void bad(std::string_view field, std::string_view why) {
    throw Error(ErrorCode::InvalidArgument, std::string(field) + ": " + std::string(why));
}

bool is_id_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

std::string text(const Object& o) {
    std::ostringstream out;
    o.stringify(out);
    return out.str();
}

std::string string_field(const Object::Ptr& o, const std::string& field) {
    if (!o->has(field) || o->isNull(field)) bad(field, "missing");
    const auto v = o->get(field);
    if (!v.isString()) bad(field, "must be a string");
    return v.extract<std::string>();
}

}  // namespace

void check_product_id(std::string_view field, std::string_view value) {
    if (value.empty() || value.size() > 64 || !std::all_of(value.begin(), value.end(), is_id_char))
        bad(field, "must be 1 to 64 of A-Z a-z 0-9 . _ -");
}

std::string normalize_seid(std::string_view field, std::string_view value) {
    std::string out;
    for (char c : value) {
        if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) bad(field, "must be hex");
        out += c;
    }
    if (out.size() % 2 != 0 || out.size() < 8 || out.size() > 64)
        bad(field, "must be 4 to 32 bytes of hex");
    return out;
}

AttributeUpdate parse_attribute_update(std::string_view body) {
    Object::Ptr o;
    try {
        o = Poco::JSON::Parser().parse(std::string(body)).extract<Object::Ptr>();
    } catch (const std::exception&) {
    }
    if (!o) throw Error(ErrorCode::MalformedRequest, "the body is not a JSON object");
    AttributeUpdate u;
    if (!o->has("seq") || o->isNull("seq")) bad("seq", "missing");
    const auto seq = o->get("seq");
    if (!seq.isInteger() || (seq.isSigned() && seq.convert<std::int64_t>() < 1))
        bad("seq", "must be an integer >= 1");
    u.seq = seq.convert<std::uint64_t>();
    if (u.seq == 0) bad("seq", "must be an integer >= 1");
    u.seid = normalize_seid("seid", string_field(o, "seid"));
    u.product = string_field(o, "product");
    check_product_id("product", u.product);
    if (!o->has("valid") || o->isNull("valid")) bad("valid", "missing");
    if (o->get("valid").type() != typeid(bool)) bad("valid", "must be true or false");
    u.valid = o->getValue<bool>("valid");
    u.event = string_field(o, "event");
    check_product_id("event", u.event);
    u.source = string_field(o, "source");
    check_product_id("source", u.source);
    for (const auto& [name, value] : *o)
        if (name != "seq" && name != "seid" && name != "product" && name != "valid" &&
            name != "event" && name != "source")
            bad(name, "unknown field");
    return u;
}

std::string AttributeRecord::to_json() const {
    Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    o.set("seid", seid);
    o.set("product", product);
    o.set("valid", valid);
    o.set("seq", seq);
    o.set("source", source);
    o.set("event", event);
    o.set("updated", updated);
    Object::Ptr s = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    for (const auto& [name, n] : sources) s->set(name, n);
    o.set("sources", s);
    return text(o);
}

AttributeRecord AttributeRecord::from_json(std::string_view body) {
    try {
        const auto o = Poco::JSON::Parser().parse(std::string(body)).extract<Object::Ptr>();
        AttributeRecord r;
        r.seid = o->getValue<std::string>("seid");
        r.product = o->getValue<std::string>("product");
        if (o->get("valid").type() != typeid(bool)) throw std::runtime_error("valid");
        r.valid = o->getValue<bool>("valid");
        r.seq = o->getValue<std::uint64_t>("seq");
        r.source = o->getValue<std::string>("source");
        r.event = o->getValue<std::string>("event");
        r.updated = o->getValue<std::string>("updated");
        const auto s = o->getObject("sources");
        if (!s) throw std::runtime_error("sources");
        for (const auto& [name, n] : *s) r.sources[name] = n.convert<std::uint64_t>();
        if (normalize_seid("seid", r.seid) != r.seid) throw std::runtime_error("seid");
        check_product_id("product", r.product);
        return r;
    } catch (const std::exception&) {
        throw Error(ErrorCode::Integrity, "stored attribute record is not readable");
    }
}

std::string attribute_key(const std::string& seid, const std::string& product) {
    return seid + "/" + product;
}

ApplyResult apply_update(const std::optional<AttributeRecord>& stored,
                         const AttributeUpdate& update, const std::string& now) {
    ApplyResult out;
    if (stored) {
        out.record = *stored;
    } else {
        out.record.seid = update.seid;
        out.record.product = update.product;
    }
    const auto seen = out.record.sources.find(update.source);
    if (seen != out.record.sources.end() && update.seq <= seen->second) return out;
    out.record.valid = update.valid;
    out.record.seq = update.seq;
    out.record.source = update.source;
    out.record.event = update.event;
    out.record.updated = now;
    out.record.sources[update.source] = update.seq;
    out.applied = true;
    return out;
}

std::string update_answer_json(const AttributeRecord& r, bool applied) {
    Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    o.set("seid", r.seid);
    o.set("product", r.product);
    o.set("valid", r.valid);
    o.set("applied", applied);
    return text(o);
}

std::string record_answer_json(const AttributeRecord& r) {
    Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    o.set("seid", r.seid);
    o.set("product", r.product);
    o.set("valid", r.valid);
    o.set("seq", r.seq);
    o.set("source", r.source);
    o.set("event", r.event);
    o.set("updated", r.updated);
    return text(o);
}

}  // namespace kms::tsm::sp
