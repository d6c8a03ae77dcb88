// Request parsing and response rendering (see json.hpp).
#include "api/json.hpp"

#include <Poco/Base64Encoder.h>
#include <Poco/JSON/ParseHandler.h>
#include <Poco/JSON/Parser.h>
#include <Poco/StreamCopier.h>

#include <algorithm>
#include <ctime>
#include <set>
#include <sstream>
#include <vector>

#include "domain/error.hpp"
#include "observe/log.hpp"

namespace kms::api {

using Poco::Dynamic::Var;
using Poco::JSON::Array;
using Poco::JSON::Object;

namespace {

/// Poco's handler, refusing a name that appears twice in one object. RFC 8259 §4 leaves
/// duplicate names to the implementation ("the names within an object SHOULD be unique");
/// Poco keeps the last one, another parser (a proxy, an approver's tool) may keep the first,
/// so {"kek":"a","kek":"b"} could be read two ways. kmsd refuses it instead.
class UniqueNamesHandler final : public Poco::JSON::ParseHandler {
  public:
    UniqueNamesHandler() : Poco::JSON::ParseHandler(false) {}
    void reset() override {
        ParseHandler::reset();
        m_names.clear();
    }
    void startObject() override {
        m_names.emplace_back();
        ParseHandler::startObject();
    }
    void endObject() override {
        if (!m_names.empty()) m_names.pop_back();
        ParseHandler::endObject();
    }
    void key(const std::string& k) override {
        if (!m_names.empty() && !m_names.back().insert(k).second)
            throw Error(ErrorCode::MalformedRequest,
                        "body: the field '" + k.substr(0, 64) + "' appears twice in one object");
        ParseHandler::key(k);
    }

  private:
    std::vector<std::set<std::string>> m_names;  ///< names seen, per open object
};

}  // namespace

Object::Ptr parse_object_text(const std::string& text) {
    Poco::JSON::Parser parser(new UniqueNamesHandler);
    parser.setAllowNullByte(false);
    parser.setAllowComments(false);
    parser.setDepth(16);
    Var v;
    try {
        v = parser.parse(text);
    } catch (const Error&) {
        throw;  // a duplicate name
    } catch (const Poco::Exception&) {
        // Poco's message can quote the input; the input may hold a secret. Keep it out.
        throw Error(ErrorCode::MalformedRequest, "body is not valid JSON");
    }
    if (v.type() != typeid(Object::Ptr))
        throw Error(ErrorCode::MalformedRequest, "body must be a JSON object");
    return v.extract<Object::Ptr>();
}

Object::Ptr parse_object(std::istream& body, std::streamsize content_length) {
    if (content_length > static_cast<std::streamsize>(kMaxBody))
        throw Error(ErrorCode::PayloadTooLarge, "body is larger than 1 MiB");
    std::string text;
    text.resize(content_length >= 0 ? static_cast<std::size_t>(content_length) : 0);
    if (content_length > 0) {
        body.read(text.data(), content_length);
        text.resize(static_cast<std::size_t>(body.gcount()));
    } else if (content_length < 0) {  // chunked: read up to the limit plus one byte
        std::vector<char> buf(kMaxBody + 1);
        body.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        const auto n = static_cast<std::size_t>(body.gcount());
        if (n > kMaxBody) throw Error(ErrorCode::PayloadTooLarge, "body is larger than 1 MiB");
        text.assign(buf.data(), n);
    }
    if (text.empty()) throw Error(ErrorCode::MalformedRequest, "a JSON body is required");
    return parse_object_text(text);
}

Body::Body(Object::Ptr obj, std::initializer_list<std::string_view> allowed)
    : m_obj(std::move(obj)) {
    for (const auto& name : m_obj->getNames()) {
        if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
            throw Error(ErrorCode::InvalidArgument, "unknown field '" + name.substr(0, 64) + "'");
    }
}

Var Body::get(std::string_view field) const {
    const std::string f(field);
    if (!m_obj->has(f)) return Var();
    return m_obj->get(f);
}

std::optional<std::string> Body::opt_string(std::string_view field, std::size_t max_len) const {
    Var v = get(field);
    if (v.isEmpty()) return std::nullopt;
    if (!v.isString())
        throw Error(ErrorCode::InvalidArgument, std::string(field) + ": must be a string");
    std::string s = v.extract<std::string>();
    if (s.size() > max_len)
        throw Error(ErrorCode::InvalidArgument,
                    std::string(field) + ": at most " + std::to_string(max_len) + " characters");
    return s;
}

std::string Body::string(std::string_view field, std::size_t max_len) const {
    auto s = opt_string(field, max_len);
    if (!s) throw Error(ErrorCode::InvalidArgument, std::string(field) + ": is required");
    return *s;
}

std::optional<Bytes> Body::opt_hex(std::string_view field) const {
    auto s = opt_string(field, kMaxBody);
    if (!s) return std::nullopt;
    return from_hex(*s, field);
}

Bytes Body::hex(std::string_view field) const {
    auto b = opt_hex(field);
    if (!b) throw Error(ErrorCode::InvalidArgument, std::string(field) + ": is required");
    return *b;
}

std::optional<std::int64_t> Body::opt_int(std::string_view field, std::int64_t min,
                                          std::int64_t max) const {
    Var v = get(field);
    if (v.isEmpty()) return std::nullopt;
    if (!v.isInteger() || v.type() == typeid(bool))
        throw Error(ErrorCode::InvalidArgument, std::string(field) + ": must be an integer");
    std::int64_t n = 0;
    try {
        n = v.convert<std::int64_t>();
    } catch (const Poco::Exception&) {
        throw Error(ErrorCode::InvalidArgument, std::string(field) + ": out of range");
    }
    if (n < min || n > max)
        throw Error(ErrorCode::InvalidArgument, std::string(field) + ": must be between " +
                                                    std::to_string(min) + " and " +
                                                    std::to_string(max));
    return n;
}

std::int64_t Body::integer(std::string_view field, std::int64_t min, std::int64_t max) const {
    auto n = opt_int(field, min, max);
    if (!n) throw Error(ErrorCode::InvalidArgument, std::string(field) + ": is required");
    return *n;
}

std::optional<bool> Body::opt_bool(std::string_view field) const {
    Var v = get(field);
    if (v.isEmpty()) return std::nullopt;
    if (v.type() != typeid(bool))
        throw Error(ErrorCode::InvalidArgument, std::string(field) + ": must be true or false");
    return v.extract<bool>();
}

std::vector<std::string> Body::strings(std::string_view field, std::size_t max_items) const {
    Var v = get(field);
    if (v.isEmpty()) throw Error(ErrorCode::InvalidArgument, std::string(field) + ": is required");
    if (v.type() != typeid(Array::Ptr))
        throw Error(ErrorCode::InvalidArgument,
                    std::string(field) + ": must be an array of strings");
    auto arr = v.extract<Array::Ptr>();
    if (arr->size() > max_items)
        throw Error(ErrorCode::InvalidArgument, std::string(field) + ": too many items");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < arr->size(); ++i) {
        Var item = arr->get(static_cast<unsigned>(i));
        if (!item.isString())
            throw Error(ErrorCode::InvalidArgument,
                        std::string(field) + ": must be an array of strings");
        out.push_back(item.extract<std::string>().substr(0, 64));
    }
    return out;
}

Object::Ptr new_object() {
    return new Object(Poco::JSON_PRESERVE_KEY_ORDER);
}

std::string stringify(const Object::Ptr& obj) {
    std::ostringstream out;
    obj->stringify(out);
    return out.str();
}

std::string format_time(std::int64_t ms) {
    return observe::rfc3339_ms(ms);
}

std::int64_t parse_time(std::string_view text, std::string_view field) {
    // RFC 3339 §5.6 date-time in UTC: exactly "YYYY-MM-DDTHH:MM:SS" [".f" .. ".fff"] "Z", read
    // by position (sscanf accepted signs, single digits and anything after the 'Z', and read
    // ".5" as 5 ms).
    const auto refuse = [&]() -> std::int64_t {
        throw Error(
            ErrorCode::InvalidArgument,
            std::string(field) + ": must be an RFC 3339 UTC time like 2026-01-31T12:00:00Z");
    };
    const auto digits = [&](std::size_t pos, std::size_t n, int& out) {
        if (pos + n > text.size()) return false;
        out = 0;
        for (std::size_t k = pos; k < pos + n; ++k) {
            if (text[k] < '0' || text[k] > '9') return false;
            out = out * 10 + (text[k] - '0');
        }
        return true;
    };
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, ms = 0;
    if (!digits(0, 4, y) || text.size() < 20 || text[4] != '-' || !digits(5, 2, mo) ||
        text[7] != '-' || !digits(8, 2, d) || text[10] != 'T' || !digits(11, 2, h) ||
        text[13] != ':' || !digits(14, 2, mi) || text[16] != ':' || !digits(17, 2, s))
        return refuse();
    std::size_t pos = 19;
    if (text[pos] == '.') {
        std::size_t n = 0;
        for (int digit = 0; n < 3 && digits(pos + 1 + n, 1, digit); ++n) ms = ms * 10 + digit;
        if (n == 0) return refuse();
        for (std::size_t k = n; k < 3; ++k) ms *= 10;  // ".5" is 500 ms
        pos += 1 + n;
    }
    if (pos + 1 != text.size() || text[pos] != 'Z') return refuse();
    // Days of the month (Gregorian); no leap second (POSIX time has none); from 1970, the
    // epoch format_time starts at.
    static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] + (mo == 2 && leap) || h > 23 ||
        mi > 59 || s > 59)
        return refuse();
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return static_cast<std::int64_t>(timegm(&tm)) * 1000 + ms;
}

namespace {
Var hex_or_null(const Bytes& b) {
    return b.empty() ? Var() : Var(to_hex(b));
}
Var time_or_null(const std::optional<std::int64_t>& t) {
    return t ? Var(format_time(*t)) : Var();
}
Array::Ptr string_array(const std::vector<std::string>& v) {
    Array::Ptr a = new Array();
    for (const auto& s : v) a->add(s);
    return a;
}
}  // namespace

std::string spki_pem(ByteView der) {
    std::ostringstream out;
    out << "-----BEGIN PUBLIC KEY-----\n";
    Poco::Base64Encoder enc(out);
    enc.rdbuf()->setLineLength(64);
    enc.write(reinterpret_cast<const char*>(der.data()), static_cast<std::streamsize>(der.size()));
    enc.close();
    out << "\n-----END PUBLIC KEY-----\n";
    return out.str();
}

Object::Ptr key_json(const core::KeyRecord& k, bool with_history) {
    using namespace kms::core;
    Object::Ptr o = new_object();
    o->set("id", k.id);
    o->set("name", k.name);
    o->set("algorithm", std::string(info(k.algorithm).name));
    o->set("usage", string_array(usage_names(k.usage)));
    o->set("state", std::string(key_state_name(k.state)));
    o->set("version", k.versions.empty() ? 0u : k.current().number);
    o->set("kcv", k.versions.empty() ? Var() : hex_or_null(k.current().kcv));
    if (!k.versions.empty() && !k.current().public_key.empty())
        o->set("publicKey", spki_pem(k.current().public_key));
    o->set("exportable", k.exportable);
    o->set("trusted", k.trusted);
    o->set("createdAt", format_time(k.created_ms));
    o->set("createdBy", k.created_by);
    o->set("activationDate", time_or_null(k.activation_ms));
    o->set("deactivationDate", time_or_null(k.deactivation_ms));
    o->set("compromiseDate", time_or_null(k.compromise_ms));
    o->set("destroyDate", time_or_null(k.destroy_ms));
    Array::Ptr versions = new Array();
    for (const auto& v : k.versions) {
        Object::Ptr vo = new_object();
        vo->set("version", v.number);
        vo->set("kcv", hex_or_null(v.kcv));
        vo->set("createdAt", format_time(v.created_ms));
        versions->add(vo);
    }
    o->set("versions", versions);
    Object::Ptr c = new_object();
    c->set("encrypt", k.counters.encrypt);
    c->set("decrypt", k.counters.decrypt);
    c->set("mac", k.counters.mac);
    c->set("macVerify", k.counters.mac_verify);
    c->set("sign", k.counters.sign);
    c->set("verify", k.counters.verify);
    o->set("counters", c);
    if (with_history) {
        Array::Ptr h = new Array();
        for (const auto& s : k.history) {
            Object::Ptr so = new_object();
            so->set("from", std::string(key_state_name(s.from)));
            so->set("to", std::string(key_state_name(s.to)));
            so->set("at", format_time(s.at_ms));
            so->set("by", s.by);
            so->set("reason", s.reason);
            h->add(so);
        }
        o->set("history", h);
    }
    return o;
}

Object::Ptr principal_json(const core::Principal& p) {
    Object::Ptr o = new_object();
    o->set("name", p.name);
    o->set("roles", string_array(core::role_names(p.roles)));
    o->set("createdAt", format_time(p.created_ms));
    o->set("createdBy", p.created_by);
    o->set("disabled", p.disabled);
    return o;
}

Object::Ptr audit_json(const core::AuditRecord& r) {
    Object::Ptr o = new_object();
    o->set("seq", r.seq);
    o->set("time", format_time(r.time_ms));
    o->set("actor", r.event.actor);
    o->set("action", r.event.action);
    o->set("target", r.event.target);
    o->set("outcome", std::string(core::audit_outcome_name(r.event.outcome)));
    o->set("detail", r.event.detail);
    o->set("prevHash", to_hex(r.prev_hash));
    o->set("hash", to_hex(r.hash));
    return o;
}

namespace {

/// CK_TOKEN_INFO's counters as {"sessions": {...}, "memory": {...}} members of @p tok; a
/// counter the token does not report is null.
void set_token_counters(Object& tok, const core::HsmTokenCounters& c) {
    auto opt = [](const std::optional<std::uint64_t>& v) { return v ? Var(*v) : Var(); };
    Object::Ptr ts = new_object();
    ts->set("open", opt(c.sessions));
    ts->set("max", opt(c.max_sessions));
    ts->set("rwOpen", opt(c.rw_sessions));
    ts->set("rwMax", opt(c.max_rw_sessions));
    tok.set("sessions", ts);
    Object::Ptr mem = new_object();
    mem->set("publicTotal", opt(c.total_public_memory));
    mem->set("publicFree", opt(c.free_public_memory));
    mem->set("privateTotal", opt(c.total_private_memory));
    mem->set("privateFree", opt(c.free_private_memory));
    tok.set("memory", mem);
}

Array::Ptr slots_json(const std::vector<core::HsmSlot>& slots) {
    Array::Ptr out = new Array();
    for (const auto& s : slots) {
        Object::Ptr o = new_object();
        o->set("slot", s.slot_id);
        o->set("description", s.description);
        o->set("manufacturer", s.manufacturer);
        o->set("flags", string_array(s.flags));
        o->set("inUse", s.in_use);
        if (s.token_present) {
            Object::Ptr tok = new_object();
            tok->set("label", s.token_label);
            tok->set("serial", s.token_serial);
            tok->set("manufacturer", s.token_manufacturer);
            tok->set("model", s.token_model);
            tok->set("flags", string_array(s.token_flags));
            set_token_counters(*tok, s.token_counters);
            o->set("token", tok);
        } else {
            o->set("token", Var());
        }
        out->add(o);
    }
    return out;
}

}  // namespace

Object::Ptr hsm_json(const core::HsmInfo& i) {
    Object::Ptr o = new_object();
    o->set("module", i.module_path);
    Object::Ptr lib = new_object();
    lib->set("description", i.library_description);
    lib->set("manufacturer", i.library_manufacturer);
    lib->set("version", i.library_version);
    lib->set("cryptoki", i.cryptoki_version);
    o->set("library", lib);
    Object::Ptr tok = new_object();
    tok->set("label", i.token_label);
    tok->set("serial", i.token_serial);
    tok->set("manufacturer", i.token_manufacturer);
    tok->set("model", i.token_model);
    tok->set("slot", i.slot_id);
    tok->set("flags", string_array(i.token_flags));
    tok->set("hardwareVersion", i.token_hardware_version);
    tok->set("firmwareVersion", i.token_firmware_version);
    set_token_counters(*tok, i.token_counters);
    o->set("token", tok);
    o->set("slots", slots_json(i.slots));
    o->set("profile", i.profile);
    Object::Ptr s = new_object();
    s->set("pool", i.session_pool_size);
    s->set("inUse", i.sessions_in_use);
    o->set("sessions", s);
    Object::Ptr hc = new_object();
    hc->set("size", i.cached_handles);
    hc->set("capacity", i.handle_cache_capacity);
    o->set("handleCache", hc);
    o->set("mechanisms", string_array(i.mechanisms));
    Array::Ptr details = new Array();
    for (const auto& m : i.mechanism_info) {
        Object::Ptr mo = new_object();
        mo->set("name", m.name);
        mo->set("minKeySize", m.min_key_size);
        mo->set("maxKeySize", m.max_key_size);
        mo->set("flags", string_array(m.flags));
        details->add(mo);
    }
    o->set("mechanismInfo", details);
    o->set("masterKeyKcv", i.master_key_kcv.empty() ? Var() : Var(i.master_key_kcv));
    o->set("hostFallbacks", string_array(i.host_fallbacks));
    return o;
}

}  // namespace kms::api
