// The SP TSM's catalogue (see catalogue.hpp): parsing, reading each file and checking its hash.
#include "catalogue.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/SHA2Engine.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "domain/error.hpp"
#include "load_file.hpp"

namespace kms::tsm::sp {
namespace {

using Poco::Dynamic::Var;
using Poco::JSON::Array;
using Poco::JSON::Object;

[[noreturn]] void refuse(const std::string& message) {
    throw Error(ErrorCode::InvalidArgument, message);
}

class Entry {
  public:
    Entry(Object::Ptr o, std::string where) : m_o(std::move(o)), m_where(std::move(where)) {}

    std::string string(const std::string& f, bool required, std::size_t max) const {
        if (!m_o->has(f) || m_o->isNull(f)) {
            if (required) refuse(m_where + f + ": is required");
            return {};
        }
        const Var v = m_o->get(f);
        if (!v.isString()) refuse(m_where + f + ": must be a string");
        std::string s = v.extract<std::string>();
        if (s.size() > max)
            refuse(m_where + f + ": longer than " + std::to_string(max) + " characters");
        return s;
    }
    Bytes hex(const std::string& f, bool required, const std::string& fallback,
              std::size_t max_bytes) const {
        std::string s = string(f, required, 2 * max_bytes + 2);
        if (s.empty() && !(m_o->has(f) && !m_o->isNull(f))) s = fallback;
        Bytes b;
        try {
            b = from_hex(s, f);
        } catch (const Error&) {
            refuse(m_where + f + ": not valid hex");
        }
        if (b.size() > max_bytes)
            refuse(m_where + f + ": longer than " + std::to_string(max_bytes) + " bytes");
        return b;
    }
    Bytes aid(const std::string& f) const { return check_aid(hex(f, true, "", 16), f); }
    Bytes check_aid(Bytes b, const std::string& f) const {
        if (b.size() < 5 || b.size() > 16)  // ISO/IEC 7816-4 §8.2.1.2
            refuse(m_where + f + ": an AID is 5 to 16 bytes, not " + std::to_string(b.size()));
        return b;
    }
    Array::Ptr array(const std::string& f) const {
        if (!m_o->has(f) || m_o->isNull(f)) refuse(m_where + f + ": is required");
        const Var v = m_o->get(f);
        if (v.type() != typeid(Array::Ptr)) refuse(m_where + f + ": must be an array");
        return v.extract<Array::Ptr>();
    }
    void only(std::initializer_list<std::string_view> allowed) const {
        for (const auto& name : m_o->getNames())
            if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
                refuse(m_where + name.substr(0, 64) + ": unknown field");
    }
    const std::string& where() const { return m_where; }

  private:
    Object::Ptr m_o;
    std::string m_where;
};

Bytes read_file(const std::string& path, const std::string& where) {
    if (path.empty() || path[0] != '/') refuse(where + "file: an absolute path is required");
    std::ifstream in(path, std::ios::binary);
    if (!in) refuse(where + "file: cannot read '" + path + "'");
    Bytes out;
    char c;
    while (out.size() <= script::kMaxLoadFileBytes && in.get(c))
        out.push_back(static_cast<std::uint8_t>(c));
    if (in.bad()) refuse(where + "file: cannot read '" + path + "'");
    if (out.empty()) refuse(where + "file: '" + path + "' is empty");
    if (out.size() > script::kMaxLoadFileBytes)
        refuse(where + "file: '" + path + "' is larger than " +
               std::to_string(script::kMaxLoadFileBytes) +
               " bytes (LOAD sends at most 256 blocks, GPCS 2.2.1 §11.6.2.3)");
    return out;
}

CatalogueEntry read_entry(const std::string& name, const Var& v) {
    const std::string where = "catalogue." + name + ".";
    if (!script::valid_name(name))
        refuse("catalogue." + name.substr(0, 64) +
               ": an entry name is 1..64 of A-Z a-z 0-9 _ -, starting with a letter");
    if (v.type() != typeid(Object::Ptr)) refuse("catalogue." + name + ": must be an object");
    const Entry f(v.extract<Object::Ptr>(), where);
    f.only({"loadFileAid", "file", "sha256", "modules", "instanceAid", "version", "privileges",
            "installParameters"});
    CatalogueEntry e;
    e.name = name;
    e.load_file_aid = f.aid("loadFileAid");
    e.file = f.string("file", true, 4096);
    e.sha256 = f.hex("sha256", true, "", 32);
    if (e.sha256.size() != 32) refuse(where + "sha256: 32 bytes of hex (64 digits)");
    const Array::Ptr modules = f.array("modules");
    if (modules->size() == 0 || modules->size() > 16)
        refuse(where + "modules: 1 to 16 module AIDs");
    for (std::size_t i = 0; i < modules->size(); ++i) {
        const std::string field = "modules[" + std::to_string(i) + "]";
        const Var m = modules->get(static_cast<unsigned>(i));
        if (!m.isString()) refuse(where + field + ": must be a string");
        Bytes b;
        try {
            b = from_hex(m.extract<std::string>(), field);
        } catch (const Error&) {
            refuse(where + field + ": not valid hex");
        }
        e.modules.push_back(f.check_aid(std::move(b), field));
    }
    e.instance_aid = f.aid("instanceAid");
    e.version = f.string("version", false, 16);
    e.privileges = f.hex("privileges", false, "00", 3);
    if (e.privileges.size() != 1 && e.privileges.size() != 3)
        refuse(where + "privileges: 1 or 3 bytes (GPCS 2.2.1 §11.1.2)");
    e.install_parameters = f.hex("installParameters", false, "C900", 255);
    // Last, so that every field is checked before any file is read.
    e.content = read_file(e.file, where);
    const Bytes actual = sha256_of(e.content);
    if (actual != e.sha256)
        refuse(where + "sha256: the file '" + e.file + "' has SHA-256 " + to_hex(actual) +
               ", not " + to_hex(e.sha256));
    return e;
}

}  // namespace

Bytes sha256_of(ByteView data) {
    Poco::SHA2Engine h(Poco::SHA2Engine::SHA_256);
    h.update(data.data(), static_cast<unsigned>(data.size()));
    const auto& d = h.digest();
    return Bytes(d.begin(), d.end());
}

script::LoadFileFacts CatalogueEntry::facts() const {
    script::LoadFileFacts f;
    f.name = name;
    f.aid = load_file_aid;
    f.hash = sha256;
    f.size = static_cast<std::uint32_t>(content.size());
    f.module = modules.at(0);
    f.instance_aid = instance_aid;
    f.privileges = privileges;
    f.install_parameters = install_parameters;
    return f;
}

Catalogue Catalogue::from_config(const Var& v) {
    if (v.type() != typeid(Object::Ptr)) refuse("catalogue: an object of load file name -> entry");
    Catalogue c;
    const Object::Ptr o = v.extract<Object::Ptr>();
    for (const auto& name : o->getNames()) c.m_entries[name] = read_entry(name, o->get(name));
    return c;
}

Catalogue Catalogue::from_json(std::string_view json) {
    Var v;
    try {
        Poco::JSON::Parser p;
        v = p.parse(std::string(json));
    } catch (const Poco::Exception&) {
        refuse("catalogue: not valid JSON");
    }
    return from_config(v);
}

const CatalogueEntry* Catalogue::find(std::string_view name) const {
    const auto it = m_entries.find(name);
    return it == m_entries.end() ? nullptr : &it->second;
}

script::LoadFileResolver Catalogue::resolver() const {
    return [this](std::string_view name) -> std::optional<script::LoadFileFacts> {
        const CatalogueEntry* e = find(name);
        if (e == nullptr) return std::nullopt;
        return e->facts();
    };
}

}  // namespace kms::tsm::sp
