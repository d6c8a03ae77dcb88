// The text encoding of SE TSM records (see se_codec.hpp).
#include "se_codec.hpp"

#include <charconv>
#include <map>
#include <optional>

#include "domain/error.hpp"

namespace kms::tsm::se {
namespace {

constexpr std::string_view kVersion = "se-tsm/1";

std::string escape(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '%')
            out += "%25";
        else if (c == '\n')
            out += "%0A";
        else
            out += c;
    }
    return out;
}

std::string unescape(std::string_view v) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] != '%') {
            out += v[i];
        } else if (v.substr(i, 3) == "%25") {
            out += '%', i += 2;
        } else if (v.substr(i, 3) == "%0A") {
            out += '\n', i += 2;
        } else {
            throw Error(ErrorCode::Integrity, "stored record: bad escape");
        }
    }
    return out;
}

class Writer {
  public:
    explicit Writer(std::string_view kind) {
        m_text = std::string(kVersion) + " " + std::string(kind) + "\n";
    }
    Writer& operator()(std::string_view name, std::string_view value) {
        m_text += std::string(name) + "=" + escape(value) + "\n";
        return *this;
    }
    std::string text() const { return m_text; }

  private:
    std::string m_text;
};

/// The fields of one record; every read field must be present, and every present field read.
class Reader {
  public:
    Reader(const std::string& text, std::string_view kind) : m_kind(kind) {
        std::size_t pos = 0;
        bool first = true;
        while (pos < text.size()) {
            std::size_t end = text.find('\n', pos);
            if (end == std::string::npos) fail("a line without its end");
            const std::string_view line(text.data() + pos, end - pos);
            pos = end + 1;
            if (first) {
                if (line != std::string(kVersion) + " " + std::string(kind))
                    fail("header is not '" + std::string(kVersion) + " " + std::string(kind) + "'");
                first = false;
                continue;
            }
            const std::size_t eq = line.find('=');
            if (eq == std::string_view::npos) fail("a line without '='");
            if (!m_fields.emplace(std::string(line.substr(0, eq)), unescape(line.substr(eq + 1)))
                     .second)
                fail("field " + std::string(line.substr(0, eq)) + " twice");
        }
        if (first) fail("empty");
    }
    std::string get(const std::string& name) {
        auto it = m_fields.find(name);
        if (it == m_fields.end()) fail("no field " + name);
        std::string v = it->second;
        m_fields.erase(it);
        return v;
    }
    /// A field that records of an older layout may lack.
    std::optional<std::string> optional(const std::string& name) {
        if (!m_fields.contains(name)) return std::nullopt;
        return get(name);
    }
    std::uint64_t number(const std::string& name, std::uint64_t max) {
        const std::string v = get(name);
        std::uint64_t n = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n > max)
            fail("field " + name + " is not a number up to " + std::to_string(max));
        return n;
    }
    void done() {
        if (!m_fields.empty()) fail("unknown field " + m_fields.begin()->first);
    }
    [[noreturn]] void fail(const std::string& what) const {
        throw Error(ErrorCode::Integrity, "stored " + std::string(m_kind) + " record: " + what);
    }

  private:
    std::string_view m_kind;
    std::map<std::string, std::string> m_fields;
};

std::string hex_list(const std::vector<std::uint8_t>& list) {
    static const char* digits = "0123456789ABCDEF";
    std::string out;
    for (std::uint8_t b : list) {
        if (!out.empty()) out += ',';
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

std::vector<std::uint8_t> parse_hex_list(Reader& r, const std::string& name) {
    const std::string v = r.get(name);
    std::vector<std::uint8_t> out;
    std::size_t pos = 0;
    while (pos < v.size()) {
        std::size_t end = v.find(',', pos);
        if (end == std::string::npos) end = v.size();
        const std::string item = v.substr(pos, end - pos);
        unsigned n = 0;
        auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), n, 16);
        if (item.size() != 2 || ec != std::errc() || p != item.data() + item.size())
            r.fail("field " + name + " is not a list of hex bytes");
        out.push_back(static_cast<std::uint8_t>(n));
        pos = end + 1;
    }
    return out;
}

template <typename T, typename Parse>
T parsed(Reader& r, const std::string& name, Parse parse) {
    auto v = parse(r.get(name));
    if (!v) r.fail("field " + name + " has an unknown value");
    return *v;
}

/// Domain rules again on decoding: a stored record that breaks them is corrupt, not bad input.
template <typename T>
T revalidated(T value, const Reader& r) {
    try {
        T copy = value;
        validate(copy);
        if (!(copy == value)) r.fail("not in normal form");
    } catch (const Error& e) {
        if (e.code() == ErrorCode::Integrity) throw;
        r.fail(e.what());
    }
    return value;
}

}  // namespace

std::string encode(const Product& p) {
    return Writer("product")("id", p.id)("vendor", p.vendor)("chipModel", p.chip_model)(
               "gpVersion", p.gp_version)("scp02", hex_list(p.scp02))("scp03", hex_list(p.scp03))(
               "isdAid", p.isd_aid)("diversification", diversification_name(p.diversification))(
               "defaultKeyVersion", std::to_string(p.default_key_version))
        .text();
}

std::string encode(const SecureElement& se) {
    Writer w = Writer("se");
    w("seid", se.seid)("cplc", se.cplc)("productId", se.product_id)("isdKeyId", se.isd_key_id)(
        "isdDiversification", diversification_name(se.isd_diversification))(
        "state", card_state_name(se.state))("owner", se.owner);
    // Written only when set, so records of SEs without them stay as before.
    if (se.isd_key_version != 0) w("isdKeyVersion", std::to_string(se.isd_key_version));
    if (!se.isd_enc.empty()) w("isdEnc", se.isd_enc)("isdMac", se.isd_mac)("isdDek", se.isd_dek);
    return w.text();
}

std::string encode(const CardOpBinding& b) {
    return Writer("card-op")("seid", b.seid)("operation", card_op_name(b.op))(
               "applied", b.applied ? "true" : "false")("newKeyId", b.new_key_id)(
               "newDiversification", b.new_diversification)(
               "newKeyVersion", std::to_string(b.new_key_version))("newKeyIds",
                                                                   encode_list(b.new_key_ids))(
               "putKeySent", b.put_key_sent ? "true" : "false")("confirms", b.confirms)
        .text();
}

CardOpBinding decode_card_op_binding(const std::string& text) {
    Reader r(text, "card-op");
    CardOpBinding b;
    b.seid = r.get("seid");
    b.op = parsed<CardOp>(r, "operation", parse_card_op);
    const std::string applied = r.get("applied");
    if (applied != "true" && applied != "false") r.fail("field applied is not true or false");
    b.applied = applied == "true";
    b.new_key_id = r.get("newKeyId");
    b.new_diversification = r.get("newDiversification");
    b.new_key_version = static_cast<std::uint8_t>(r.number("newKeyVersion", 127));
    b.new_key_ids = decode_list(r.get("newKeyIds"));
    const std::string sent = r.get("putKeySent");
    if (sent != "true" && sent != "false") r.fail("field putKeySent is not true or false");
    b.put_key_sent = sent == "true";
    b.confirms = r.get("confirms");
    r.done();
    return b;
}

std::string encode(const Attribute& a) {
    return Writer("attribute")("seid", a.seid)("product", a.product)("valid",
                                                                     a.valid ? "true" : "false")
        .text();
}

std::string encode(const OutboxEntry& e) {
    return Writer("outbox")("seq", std::to_string(e.seq))("seid", e.seid)("product", e.product)(
               "valid", e.valid ? "true" : "false")("event", e.event)(
               "status", outbox_status_name(e.status))("attempts", std::to_string(e.attempts))(
               "lastError", e.last_error)
        .text();
}

Product decode_product(const std::string& text) {
    Reader r(text, "product");
    Product p;
    p.id = r.get("id");
    p.vendor = r.get("vendor");
    p.chip_model = r.get("chipModel");
    p.gp_version = r.get("gpVersion");
    p.scp02 = parse_hex_list(r, "scp02");
    p.scp03 = parse_hex_list(r, "scp03");
    p.isd_aid = r.get("isdAid");
    p.diversification = parsed<Diversification>(r, "diversification", parse_diversification);
    p.default_key_version = static_cast<int>(r.number("defaultKeyVersion", 127));
    r.done();
    return revalidated(p, r);
}

SecureElement decode_se(const std::string& text) {
    Reader r(text, "se");
    SecureElement se;
    se.seid = r.get("seid");
    se.cplc = r.get("cplc");
    se.product_id = r.get("productId");
    se.isd_key_id = r.get("isdKeyId");
    se.isd_diversification =
        parsed<Diversification>(r, "isdDiversification", parse_diversification);
    se.state = parsed<CardState>(r, "state", parse_card_state);
    se.owner = r.get("owner");
    if (const auto enc = r.optional("isdEnc")) {
        se.isd_enc = *enc;
        se.isd_mac = r.get("isdMac");
        se.isd_dek = r.get("isdDek");
    }
    if (const auto kv = r.optional("isdKeyVersion")) {
        auto [p, ec] = std::from_chars(kv->data(), kv->data() + kv->size(), se.isd_key_version);
        if (ec != std::errc() || p != kv->data() + kv->size() || se.isd_key_version < 1 ||
            se.isd_key_version > 127)
            r.fail("field isdKeyVersion is not 1 to 127");
    }
    r.done();
    return revalidated(se, r);
}

Attribute decode_attribute(const std::string& text) {
    Reader r(text, "attribute");
    Attribute a;
    a.seid = r.get("seid");
    a.product = r.get("product");
    const std::string valid = r.get("valid");
    if (valid != "true" && valid != "false") r.fail("field valid is not true or false");
    a.valid = valid == "true";
    r.done();
    try {
        if (normalize_hex("seid", a.seid, 4, 32) != a.seid) r.fail("seid not in normal form");
        check_id("product", a.product);
    } catch (const Error& e) {
        if (e.code() == ErrorCode::Integrity) throw;
        r.fail(e.what());
    }
    return a;
}

OutboxEntry decode_outbox_entry(const std::string& text) {
    Reader r(text, "outbox");
    OutboxEntry e;
    e.seq = r.number("seq", UINT64_MAX);
    e.seid = r.get("seid");
    e.product = r.get("product");
    e.event = r.get("event");
    // Step 1 wrote loss-report entries without `valid` (always false) and `lastError`.
    const std::optional<std::string> valid = r.optional("valid");
    if (valid && *valid != "true" && *valid != "false") r.fail("field valid is not true or false");
    if (!valid && e.event != kEventStep1) r.fail("no field valid");
    e.valid = valid && *valid == "true";
    e.status = parsed<OutboxStatus>(r, "status", parse_outbox_status);
    e.attempts = static_cast<std::uint32_t>(r.number("attempts", UINT32_MAX));
    e.last_error = r.optional("lastError").value_or("");
    r.done();
    if (e.seq == 0) r.fail("seq 0");
    try {
        if (normalize_hex("seid", e.seid, 4, 32) != e.seid) r.fail("seid not in normal form");
        check_id("product", e.product);
        check_id("event", e.event);
    } catch (const Error& err) {
        if (err.code() == ErrorCode::Integrity) throw;
        r.fail(err.what());
    }
    return e;
}

std::string encode_list(const std::vector<std::string>& names) {
    std::string out;
    for (const std::string& n : names) out += escape(n) + "\n";
    return out;
}

std::vector<std::string> decode_list(const std::string& text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t end = text.find('\n', pos);
        if (end == std::string::npos)
            throw Error(ErrorCode::Integrity, "stored list: a line without its end");
        out.push_back(unescape(std::string_view(text).substr(pos, end - pos)));
        pos = end + 1;
    }
    return out;
}

}  // namespace kms::tsm::se
