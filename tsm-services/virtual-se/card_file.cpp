// Card description and card state files of the virtual-se executable (see card_file.hpp).
#include "card_file.hpp"

#include <Poco/Dynamic/Var.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <sstream>

#include "domain/error.hpp"

namespace kms::tsm::vse {

namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

constexpr const char* kStateFormat = "virtual-se-state/1";

[[noreturn]] void bad(const std::string& where, const std::string& field, const std::string& why) {
    throw Error(ErrorCode::InvalidArgument, where + ": field '" + field + "': " + why);
}

Object::Ptr parse_object(const std::string& json, const std::string& where) {
    try {
        Poco::JSON::Parser parser;
        const Poco::Dynamic::Var v = parser.parse(json);
        if (v.type() == typeid(Object::Ptr)) return v.extract<Object::Ptr>();
    } catch (const Poco::Exception& e) {
        throw Error(ErrorCode::InvalidArgument, where + ": not valid JSON: " + e.displayText());
    }
    throw Error(ErrorCode::InvalidArgument, where + ": not a JSON object");
}

/// Reads fields of one JSON object, naming "where.field" in errors.
class Fields {
  public:
    Fields(Object::Ptr o, std::string where) : m_o(std::move(o)), m_where(std::move(where)) {
        if (!m_o) throw Error(ErrorCode::InvalidArgument, m_where + ": must be a JSON object");
    }

    bool has(const std::string& f) const { return m_o->has(f) && !m_o->isNull(f); }

    Bytes hex(const std::string& f, std::size_t min, std::size_t max) const {
        const std::string s = string(f);
        Bytes b;
        try {
            b = from_hex(s);
        } catch (const Error&) {
            bad(m_where, f, "not hexadecimal");
        }
        if (b.size() < min || b.size() > max)
            bad(m_where, f,
                "must be " + std::to_string(min) + ".." + std::to_string(max) + " bytes");
        return b;
    }

    std::uint8_t hex_byte(const std::string& f) const { return hex(f, 1, 1)[0]; }

    std::string string(const std::string& f) const {
        if (!m_o->has(f)) bad(m_where, f, "missing");
        const Poco::Dynamic::Var v = m_o->get(f);
        if (!v.isString()) bad(m_where, f, "must be a string");
        return v.convert<std::string>();
    }

    std::uint64_t integer(const std::string& f, std::uint64_t max) const {
        if (!m_o->has(f)) bad(m_where, f, "missing");
        const Poco::Dynamic::Var v = m_o->get(f);
        if (!v.isInteger() || v.isEmpty()) bad(m_where, f, "must be an integer");
        if (v.isSigned() && v.convert<std::int64_t>() < 0) bad(m_where, f, "must not be negative");
        const auto n = v.convert<std::uint64_t>();
        if (n > max) bad(m_where, f, "must be at most " + std::to_string(max));
        return n;
    }

    bool boolean(const std::string& f) const {
        if (!m_o->has(f)) bad(m_where, f, "missing");
        const Poco::Dynamic::Var v = m_o->get(f);
        if (!v.isBoolean()) bad(m_where, f, "must be true or false");
        return v.convert<bool>();
    }

    Object::Ptr object(const std::string& f) const {
        Object::Ptr o = m_o->getObject(f);
        if (!o) bad(m_where, f, "must be an object");
        return o;
    }

    Poco::JSON::Array::Ptr array(const std::string& f) const {
        if (!m_o->has(f)) bad(m_where, f, "missing");
        Poco::JSON::Array::Ptr a = m_o->getArray(f);
        if (!a) bad(m_where, f, "must be an array");
        return a;
    }

    const std::string& where() const { return m_where; }

  private:
    Object::Ptr m_o;
    std::string m_where;
};

Scp scp_of(const Fields& f) {
    const std::string s = f.string("scp");
    if (s == "02") return Scp::Scp02;
    if (s == "03") return Scp::Scp03;
    bad(f.where(), "scp", "must be \"02\" or \"03\"");
}

std::string hex_byte(std::uint8_t b) {
    return to_hex(Bytes{b});
}

/// Errors of VirtualSe's own checks carry "virtual SE configuration: ...": say which file.
template <typename F>
auto in_file(const std::string& where, F&& f) {
    try {
        return f();
    } catch (const Error& e) {
        if (std::string_view(e.what()).starts_with(where)) throw;
        throw Error(ErrorCode::InvalidArgument, where + ": " + e.what());
    }
}

}  // namespace

// The parsers proper; the public functions turn Poco's exceptions into kms::Error.
CardDescription parse_card_description_unguarded(const std::string& json);
VirtualSeState state_from_json_unguarded(const std::string& json);

Bytes default_atr() {
    // TS 3B direct convention; T0 8A: TD1 present, 10 historical bytes; TD1 80: TD2 present,
    // T=0; TD2 01: T=1; then the historical bytes and TCK, the XOR of T0..the last byte.
    Bytes atr{0x3B, 0x8A, 0x80, 0x01};
    for (char ch : std::string("virtual-SE")) atr.push_back(static_cast<std::uint8_t>(ch));
    std::uint8_t tck = 0;
    for (std::size_t k = 1; k < atr.size(); ++k) tck ^= atr[k];
    atr.push_back(tck);
    return atr;
}

VirtualSe CardDescription::make_card() {
    return in_file("card description", [&] {
        VirtualSe card(std::move(config));
        if (purse) card.install_purse(purse->credit_key, purse->balance, purse->counter);
        return card;
    });
}

CardDescription parse_card_description(const std::string& json) {
    try {
        return parse_card_description_unguarded(json);
    } catch (const Poco::Exception& e) {
        // A conversion Poco refuses (a number out of every range): still a bad file.
        throw Error(ErrorCode::InvalidArgument, "card description: " + e.displayText());
    }
}

CardDescription parse_card_description_unguarded(const std::string& json) {
    const std::string where = "card description";
    const Fields f(parse_object(json, where), where);
    CardDescription d;
    VirtualSeConfig& c = d.config;
    if (f.has("isdAid")) c.isd_aid = f.hex("isdAid", 5, 16);
    c.scp = scp_of(f);
    c.i = f.hex_byte("i");
    c.key_version = f.hex_byte("keyVersion");
    c.enc = SecureBytes(ByteView(f.hex("enc", 16, 32)));
    c.mac = SecureBytes(ByteView(f.hex("mac", 16, 32)));
    c.dek = SecureBytes(ByteView(f.hex("dek", 16, 32)));
    if (f.has("kdd")) c.kdd = f.hex("kdd", 10, 10);
    if (f.has("cplc")) c.cplc = f.hex("cplc", 0, 252);
    if (f.has("lifeCycle")) c.life_cycle = static_cast<CardLifeCycle>(f.hex_byte("lifeCycle"));
    if (f.has("sequenceCounter"))
        c.sequence_counter = static_cast<std::uint32_t>(f.integer("sequenceCounter", 0xFFFFFF));
    d.atr = f.has("atr") ? f.hex("atr", 2, 33) : default_atr();
    if (f.has("purse")) {
        const Fields p(f.object("purse"), where + ": purse");
        d.purse =
            CardDescription::Purse{p.hex("creditKey", 16, 16),
                                   static_cast<std::uint32_t>(p.integer("balance", 0xFFFFFFFF)),
                                   static_cast<std::uint16_t>(p.integer("counter", 0xFFFF))};
    }
    // Let the card check the rest now, so a bad file is known at start.
    VirtualSeConfig copy;
    copy.isd_aid = c.isd_aid;
    copy.scp = c.scp;
    copy.i = c.i;
    copy.key_version = c.key_version;
    copy.enc = SecureBytes(c.enc.view());
    copy.mac = SecureBytes(c.mac.view());
    copy.dek = SecureBytes(c.dek.view());
    copy.kdd = c.kdd;
    copy.cplc = c.cplc;
    copy.life_cycle = c.life_cycle;
    copy.sequence_counter = c.sequence_counter;
    CardDescription check{std::move(copy), d.atr, d.purse};
    check.make_card();
    return d;
}

std::string state_to_json(const VirtualSeState& s) {
    Object o;
    o.set("format", kStateFormat);
    o.set("isdAid", to_hex(s.isd_aid));
    o.set("scp", hex_byte(static_cast<std::uint8_t>(s.scp)));
    o.set("i", hex_byte(s.i));
    o.set("kdd", to_hex(s.kdd));
    o.set("sequenceCounter", static_cast<std::uint64_t>(s.sequence_counter));
    o.set("cplc", to_hex(s.cplc));
    o.set("lifeCycle", hex_byte(static_cast<std::uint8_t>(s.life_cycle)));
    Array keys;
    for (const auto& k : s.keys) {
        Object::Ptr e = new Object;
        e->set("version", hex_byte(k.version));
        e->set("id", hex_byte(k.id));
        e->set("type", hex_byte(static_cast<std::uint8_t>(k.type)));
        e->set("value", to_hex(k.value.view()));
        keys.add(e);
    }
    o.set("keys", keys);
    Array files;
    for (const auto& lf : s.load_files) {
        Object::Ptr e = new Object;
        e->set("aid", to_hex(lf.aid));
        e->set("data", to_hex(lf.data));
        Array modules;
        for (const auto& m : lf.modules) modules.add(to_hex(m));
        e->set("modules", modules);
        e->set("lifeCycle", hex_byte(lf.life_cycle));
        files.add(e);
    }
    o.set("loadFiles", files);
    Array apps;
    for (const auto& a : s.applications) {
        Object::Ptr e = new Object;
        e->set("aid", to_hex(a.aid));
        e->set("loadFile", to_hex(a.load_file_aid));
        e->set("module", to_hex(a.module_aid));
        e->set("lifeCycle", hex_byte(a.life_cycle));
        e->set("privileges", to_hex(a.privileges));
        e->set("installParameters", to_hex(a.install_parameters));
        if (a.purse) {
            Object::Ptr p = new Object;
            p->set("personalized", a.purse->personalized);
            p->set("balance", static_cast<std::uint64_t>(a.purse->balance));
            p->set("counter", static_cast<std::uint64_t>(a.purse->counter));
            e->set("purse", p);
        }
        apps.add(e);
    }
    o.set("applications", apps);
    std::ostringstream out;
    o.stringify(out, 1);
    out << '\n';
    return out.str();
}

VirtualSeState state_from_json(const std::string& json) {
    try {
        return state_from_json_unguarded(json);
    } catch (const Poco::Exception& e) {
        throw Error(ErrorCode::InvalidArgument, "card state: " + e.displayText());
    }
}

VirtualSeState state_from_json_unguarded(const std::string& json) {
    const std::string where = "card state";
    const Fields f(parse_object(json, where), where);
    if (f.string("format") != kStateFormat)
        bad(where, "format", std::string("must be \"") + kStateFormat + "\"");
    VirtualSeState s;
    s.isd_aid = f.hex("isdAid", 5, 16);
    s.scp = scp_of(f);
    s.i = f.hex_byte("i");
    s.kdd = f.hex("kdd", 10, 10);
    s.sequence_counter = static_cast<std::uint32_t>(f.integer("sequenceCounter", 0x1000000));
    s.cplc = f.hex("cplc", 0, 252);
    s.life_cycle = static_cast<CardLifeCycle>(f.hex_byte("lifeCycle"));
    const auto keys = f.array("keys");
    for (std::size_t n = 0; n < keys->size(); ++n) {
        const Fields k(keys->getObject(static_cast<unsigned>(n)),
                       where + ": keys[" + std::to_string(n) + "]");
        const std::uint8_t type = k.hex_byte("type");
        if (type != 0x80 && type != 0x88) bad(k.where(), "type", "must be \"80\" or \"88\"");
        s.keys.push_back(CardKeyEntry{k.hex_byte("version"), k.hex_byte("id"),
                                      static_cast<CardKeyType>(type),
                                      SecureBytes(ByteView(k.hex("value", 16, 32)))});
    }
    const auto files = f.array("loadFiles");
    for (std::size_t n = 0; n < files->size(); ++n) {
        const Fields lf(files->getObject(static_cast<unsigned>(n)),
                        where + ": loadFiles[" + std::to_string(n) + "]");
        LoadFile file{
            lf.hex("aid", 5, 16), lf.hex("data", 0, 1 << 24), {}, lf.hex_byte("lifeCycle")};
        const auto modules = lf.array("modules");
        for (std::size_t m = 0; m < modules->size(); ++m) {
            const Poco::Dynamic::Var v = modules->get(static_cast<unsigned>(m));
            if (!v.isString()) bad(lf.where(), "modules", "must be hex strings");
            file.modules.push_back(from_hex(v.convert<std::string>()));
        }
        s.load_files.push_back(std::move(file));
    }
    const auto apps = f.array("applications");
    for (std::size_t n = 0; n < apps->size(); ++n) {
        const Fields a(apps->getObject(static_cast<unsigned>(n)),
                       where + ": applications[" + std::to_string(n) + "]");
        Application app;
        app.aid = a.hex("aid", 5, 16);
        app.load_file_aid = a.hex("loadFile", 5, 16);
        app.module_aid = a.hex("module", 5, 16);
        app.life_cycle = a.hex_byte("lifeCycle");
        app.privileges = a.hex("privileges", 3, 3);
        app.install_parameters = a.hex("installParameters", 0, 255);
        if (a.has("purse")) {
            const Fields p(a.object("purse"), a.where() + ": purse");
            app.purse = PurseState{p.boolean("personalized"),
                                   static_cast<std::uint32_t>(p.integer("balance", 0xFFFFFFFF)),
                                   static_cast<std::uint16_t>(p.integer("counter", 0xFFFF))};
        }
        s.applications.push_back(std::move(app));
    }
    return s;
}

}  // namespace kms::tsm::vse
