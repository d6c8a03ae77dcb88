// Service script JSON → ScriptSpec → compile_script() (see script_json.hpp). Checks only the
// shape of the document (types, unknown fields); the meaning is compile_script()'s job.
#include "script_json.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <initializer_list>
#include <string>

#include "domain/error.hpp"

namespace kms::tsm::script {
namespace {

using Poco::Dynamic::Var;
using Poco::JSON::Array;
using Poco::JSON::Object;

[[noreturn]] void refuse(const std::string& where, const std::string& message) {
    throw Error(ErrorCode::InvalidArgument, where + message);
}

/// A JSON integer as a signed 64-bit value; Poco throws RangeException past INT64_MAX, which
/// must come out as our error naming the field.
std::int64_t as_int64(const Var& v, const std::string& where, const std::string& field) {
    try {
        return v.convert<Poco::Int64>();
    } catch (const Poco::Exception&) {
        refuse(where, "'" + field + "' is out of range");
    }
}

/// One JSON object with typed accessors; @c m_where prefixes every message ("step 'x': ").
class Fields {
  public:
    Fields(Object::Ptr obj, std::string where) : m_obj(std::move(obj)), m_where(std::move(where)) {}

    void only(std::initializer_list<std::string_view> allowed) const {
        for (const auto& name : m_obj->getNames())
            if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
                refuse(m_where, "unknown field '" + name.substr(0, 64) + "'");
    }
    bool has(const std::string& f) const { return m_obj->has(f) && !m_obj->isNull(f); }

    std::string string(const std::string& f, std::size_t max_len = 4096) const {
        if (!has(f)) refuse(m_where, "'" + f + "' is required");
        return opt_string(f, max_len);
    }
    std::string opt_string(const std::string& f, std::size_t max_len = 4096) const {
        if (!has(f)) return {};
        const Var v = m_obj->get(f);
        if (!v.isString()) refuse(m_where, "'" + f + "' must be a string");
        std::string s = v.extract<std::string>();
        if (s.size() > max_len)
            refuse(m_where,
                   "'" + f + "' is longer than " + std::to_string(max_len) + " characters");
        return s;
    }
    std::optional<std::uint64_t> opt_uint(const std::string& f, std::uint64_t max) const {
        if (!has(f)) return std::nullopt;
        const Var v = m_obj->get(f);
        if (!v.isInteger()) refuse(m_where, "'" + f + "' must be an integer");
        const auto n = as_int64(v, m_where, f);
        if (n < 0 || static_cast<std::uint64_t>(n) > max)
            refuse(m_where, "'" + f + "' must be 0.." + std::to_string(max));
        return static_cast<std::uint64_t>(n);
    }
    bool opt_bool(const std::string& f) const {
        if (!has(f)) return false;
        const Var v = m_obj->get(f);
        if (!v.isBoolean()) refuse(m_where, "'" + f + "' must be true or false");
        return v.extract<bool>();
    }
    Array::Ptr array(const std::string& f, std::size_t max_items) const {
        if (!has(f)) refuse(m_where, "'" + f + "' is required");
        const Var v = m_obj->get(f);
        if (v.type() != typeid(Array::Ptr)) refuse(m_where, "'" + f + "' must be an array");
        Array::Ptr a = v.extract<Array::Ptr>();
        if (a->size() > max_items)
            refuse(m_where, "'" + f + "' has more than " + std::to_string(max_items) + " items");
        return a;
    }
    Fields object(const std::string& f) const {
        if (!has(f)) refuse(m_where, "'" + f + "' is required");
        return object_of(m_obj->get(f), m_where, "'" + f + "'");
    }
    Var get(const std::string& f) const { return m_obj->get(f); }
    const std::string& where() const { return m_where; }

    static Fields object_of(const Var& v, const std::string& where, const std::string& what) {
        if (v.type() != typeid(Object::Ptr)) refuse(where, what + " must be an object");
        return Fields(v.extract<Object::Ptr>(), where);
    }

  private:
    Object::Ptr m_obj;
    std::string m_where;
};

VarType type_field(const Fields& f, const std::string& field) {
    const std::string t = f.string(field, 16);
    const auto type = parse_var_type(t);
    if (!type)
        refuse(f.where(), "'" + field + "': unknown type '" + t + "' (hex, u8, u16, u32, aid)");
    return *type;
}

std::vector<std::string> strings(const Fields& f, const std::string& field, std::size_t max) {
    std::vector<std::string> out;
    const Array::Ptr a = f.array(field, max);
    for (std::size_t i = 0; i < a->size(); ++i) {
        const Var v = a->get(static_cast<unsigned>(i));
        if (!v.isString()) refuse(f.where(), "'" + field + "' must hold strings");
        out.push_back(v.extract<std::string>());
    }
    return out;
}

/// An optional field of one hex byte ("70"), within @p min..@p max.
std::optional<std::uint8_t> opt_hex_byte(const Fields& f, const std::string& field,
                                         std::uint8_t min, std::uint8_t max) {
    const std::string text = f.opt_string(field, 2);
    if (text.empty()) return std::nullopt;
    Bytes b;
    try {
        b = from_hex(text, field);
    } catch (const Error&) {
    }
    if (b.size() != 1 || b[0] < min || b[0] > max)
        refuse(f.where(), "'" + field + "' must be one hex byte, " + to_hex(Bytes{min}) + ".." +
                              to_hex(Bytes{max}));
    return b[0];
}

Step read_step(const Var& v, std::size_t index) {
    const Fields probe =
        Fields::object_of(v, "step #" + std::to_string(index + 1) + ": ", "a step");
    const std::string id = probe.string("id", 64);
    const Fields f(v.extract<Object::Ptr>(), "step '" + id + "': ");
    Step s;
    s.id = id;
    const std::string kind = f.string("kind", 32);
    const auto k = parse_step_kind(kind);
    if (!k) refuse(f.where(), "unknown kind '" + kind.substr(0, 32) + "'");
    s.kind = *k;
    s.next_id = f.opt_string("next", 64);
    if (auto n = f.opt_uint("maxVisits", kHardMaxSteps))
        s.max_visits = static_cast<std::uint32_t>(*n);
    switch (s.kind) {
        case StepKind::Apdu:
            f.only({"id", "kind", "next", "maxVisits", "header", "data", "le", "secure"});
            s.header.source = f.string("header", 64);
            s.data.source = f.opt_string("data");
            if (auto le = f.opt_uint("le", 65536)) s.le = static_cast<std::uint32_t>(*le);
            s.secure = f.opt_bool("secure");
            break;
        case StepKind::Expect:
            f.only({"id", "kind", "next", "maxVisits", "sw", "onFail"});
            for (const auto& p : strings(f, "sw", 16))
                s.sw.push_back(parse_sw_pattern(p, f.where() + "sw"));
            s.on_fail = f.string("onFail", 64);
            break;
        case StepKind::Capture: {
            f.only({"id", "kind", "next", "maxVisits", "fields", "onFail"});
            const Array::Ptr a = f.array("fields", 16);
            for (std::size_t i = 0; i < a->size(); ++i) {
                const Fields c =
                    Fields::object_of(a->get(static_cast<unsigned>(i)), f.where(), "a field");
                c.only({"name", "type", "offset", "length", "rest", "append", "sw"});
                CaptureField cf;
                cf.name = c.string("name", 64);
                cf.type = type_field(c, "type");
                cf.offset = static_cast<std::size_t>(c.opt_uint("offset", 65536).value_or(0));
                if (auto n = c.opt_uint("length", kMaxValueBytes))
                    cf.length = static_cast<std::size_t>(*n);
                cf.rest = c.opt_bool("rest");
                cf.append = c.opt_bool("append");
                cf.sw = c.opt_bool("sw");
                if (cf.sw && (c.has("offset") || c.has("length") || cf.rest))
                    refuse(c.where(), "'sw' takes no offset, length or rest");
                s.fields.push_back(std::move(cf));
            }
            s.on_fail = f.string("onFail", 64);
            break;
        }
        case StepKind::Branch: {
            f.only({"id", "kind", "next", "maxVisits", "if", "goto"});
            const Fields c = f.object("if");
            c.only({"var", "op", "value"});
            s.condition.var_name = c.string("var", 64);
            const std::string op = c.string("op", 2);
            const auto o = parse_cmp_op(op);
            if (!o) refuse(f.where(), "if: unknown op '" + op + "' (== != < <= > >=)");
            s.condition.op = *o;
            if (!c.has("value")) refuse(f.where(), "if: 'value' is required");
            const Var value = c.get("value");
            if (value.isInteger()) {
                const auto n = as_int64(value, f.where(), "value");
                if (n < 0) refuse(f.where(), "if: 'value' must not be negative");
                s.condition.value.number = static_cast<std::uint64_t>(n);
            } else if (value.isString()) {
                s.condition.value.text = c.string("value", 2 * kMaxValueBytes);
            } else {
                refuse(f.where(), "if: 'value' must be a number or a string");
            }
            s.goto_id = f.string("goto", 64);
            break;
        }
        case StepKind::Kms: {
            f.only({"id", "kind", "next", "maxVisits", "operation", "key", "algorithm", "input",
                    "result", "truncate"});
            const std::string op = f.string("operation", 16);
            if (op == "mac")
                s.operation = KmsOperation::Mac;
            else if (op == "encrypt")
                s.operation = KmsOperation::Encrypt;
            else
                refuse(f.where(), "unknown operation '" + op + "' (mac, encrypt)");
            s.key = f.string("key", 255);
            s.algorithm = f.string("algorithm", 32);
            s.input.source = f.string("input");
            s.result = f.string("result", 64);
            if (auto n = f.opt_uint("truncate", kMaxValueBytes))
                s.truncate = static_cast<std::size_t>(*n);
            break;
        }
        case StepKind::SecureChannel: {
            f.only({"id", "kind", "next", "maxVisits", "protocol", "keyset", "level", "onFail"});
            s.protocol = f.string("protocol", 8);
            s.keyset = f.string("keyset", 255);
            const std::string level = f.opt_string("level", 2);
            if (!level.empty()) {
                Bytes b;
                try {
                    b = from_hex(level, "level");
                } catch (const Error&) {
                }
                if (b.size() != 1) refuse(f.where(), "'level' must be one hex byte");
                s.level = b[0];
            }
            s.on_fail = f.string("onFail", 64);
            break;
        }
        case StepKind::End:
            f.only({"id", "kind", "outcome"});
            s.outcome = f.string("outcome", 64);
            break;
        case StepKind::Load:
            f.only({"id", "kind", "next", "maxVisits", "blockSize", "secure", "onFail"});
            if (auto n = f.opt_uint("blockSize", kMaxLoadBlockSize))
                s.block_size = static_cast<std::size_t>(*n);
            s.secure = f.opt_bool("secure");
            s.on_fail = f.string("onFail", 64);
            break;
        case StepKind::PutKey:
            f.only({"id", "kind", "next", "maxVisits", "keys", "keyVersion", "replaceKeyVersion",
                    "keyId", "onFail"});
            s.keys = strings(f, "keys", 3);
            if (!f.has("keyVersion")) refuse(f.where(), "'keyVersion' is required");
            // One hex byte, or "${name}" of a u8 variable (checked by compile_script()).
            if (f.opt_string("keyVersion", 66).rfind("${", 0) == 0)
                s.key_version_var.source = f.opt_string("keyVersion", 66);
            else
                s.key_version = *opt_hex_byte(f, "keyVersion", 0x01, 0x7F);
            if (f.opt_string("replaceKeyVersion", 66).rfind("${", 0) == 0)
                s.replace_version_var.source = f.opt_string("replaceKeyVersion", 66);
            else
                s.replace_version = opt_hex_byte(f, "replaceKeyVersion", 0x00, 0x7F).value_or(0);
            s.key_id = opt_hex_byte(f, "keyId", 0x01, 0x7F).value_or(1);
            s.on_fail = f.string("onFail", 64);
            break;
    }
    return s;
}

/// The facts as text, for the fingerprint.
std::string facts_text(const LoadFileFacts& f) {
    return f.name + "|" + to_hex(f.aid) + "|" + to_hex(f.hash) + "|" + std::to_string(f.size) +
           "|" + to_hex(f.module) + "|" + to_hex(f.instance_aid) + "|" + to_hex(f.privileges) +
           "|" + to_hex(f.install_parameters);
}

}  // namespace

Script load_script_json(std::string_view json) {
    return load_script_json(json, LoadFileResolver{});
}

Script load_script_json(std::string_view json, const LoadFileResolver& resolver) {
    if (json.size() > kMaxDocumentBytes)
        refuse("", "service script: larger than " + std::to_string(kMaxDocumentBytes) + " bytes");
    Poco::JSON::Parser parser;
    parser.setAllowNullByte(false);
    parser.setAllowComments(false);
    parser.setDepth(8);
    Var root;
    try {
        root = parser.parse(std::string(json));
    } catch (const Poco::Exception&) {
        refuse("", "service script: not valid JSON");
    }
    const Fields doc = Fields::object_of(root, "", "service script");
    doc.only({"name", "version", "maxSteps", "loadFile", "inputs", "steps"});
    ScriptSpec spec;
    spec.fingerprint = fingerprint_of(json);
    if (doc.has("loadFile")) {
        const std::string name = doc.string("loadFile", 64);
        std::optional<LoadFileFacts> facts;
        if (resolver) facts = resolver(name);
        if (!facts) refuse("", "loadFile: '" + name + "' is not in the catalogue");
        facts->name = name;
        spec.fingerprint = fingerprint_of(std::string(json) + '\n' + facts_text(*facts));
        spec.load_file = std::move(facts);
    }
    spec.name = doc.string("name", 64);
    spec.version = static_cast<std::uint32_t>(doc.opt_uint("version", 0xFFFFFFFFu).value_or(0));
    if (auto n = doc.opt_uint("maxSteps", kHardMaxSteps))
        spec.max_steps = static_cast<std::uint32_t>(*n);
    if (doc.has("inputs")) {
        const Array::Ptr a = doc.array("inputs", kMaxVariables);
        for (std::size_t i = 0; i < a->size(); ++i) {
            const Fields in =
                Fields::object_of(a->get(static_cast<unsigned>(i)),
                                  "input #" + std::to_string(i + 1) + ": ", "an input");
            in.only({"name", "type"});
            spec.inputs.push_back(
                {in.string("name", 64), type_field(in, "type"), VarOrigin::Input, {}});
        }
    }
    const Array::Ptr steps = doc.array("steps", kMaxStepsInDocument);
    for (std::size_t i = 0; i < steps->size(); ++i)
        spec.steps.push_back(read_step(steps->get(static_cast<unsigned>(i)), i));
    return compile_script(std::move(spec));
}

}  // namespace kms::tsm::script
