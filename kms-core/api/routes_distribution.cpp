// Routes: key ceremonies (clear components, split knowledge), export and import of keys.
#include <Poco/Base64Decoder.h>

#include <sstream>

#include "api/api.hpp"
#include "api/json.hpp"
#include "domain/error.hpp"

namespace kms::api {

namespace {

core::UsageMask usage_list(const std::vector<std::string>& names) {
    core::UsageMask mask;
    for (const auto& n : names) {
        auto u = core::parse_usage(n);
        if (!u) throw Error(ErrorCode::InvalidArgument, "usage: unknown usage '" + n + "'");
        mask.add(*u);
    }
    return mask;
}

core::Algorithm algorithm_field(const Body& b) {
    const std::string alg = b.string("algorithm", 32);
    auto a = core::parse_algorithm(alg);
    if (!a) throw Error(ErrorCode::InvalidArgument, "algorithm: unknown algorithm '" + alg + "'");
    return *a;
}

core::DistributionFormat format_field(const Body& b) {
    const std::string f = b.string("format", 32);
    auto fmt = core::parse_distribution_format(f);
    if (!fmt)
        throw Error(ErrorCode::InvalidArgument,
                    "format: unknown format '" + f +
                        "' (AES-KW, AES-KWP, RSA-OAEP-SHA256, TR-31; SPKI for import)");
    return *fmt;
}

/// Decodes the hex text of a component straight into locked memory and wipes the text.
/// (Poco's parse buffers held it too, briefly; they are freed, not wiped.)
SecureBytes secret_hex(std::string& text, std::string_view field) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    const bool odd = text.size() % 2 != 0;
    SecureBytes out(odd ? 0 : text.size() / 2);
    bool bad = odd;
    for (std::size_t i = 0; !bad && i < out.size(); ++i) {
        const int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            bad = true;
        else
            out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
    }
    secure_wipe(text.data(), text.size());
    if (bad)
        throw Error(ErrorCode::InvalidArgument,
                    std::string(field) +
                        (odd ? ": hex must have an even number of digits" : ": not a hex string"));
    return out;
}

/// DER of a PEM "PUBLIC KEY" (SubjectPublicKeyInfo, RFC 7468 §13).
Bytes spki_from_pem(const std::string& pem) {
    const std::string begin = "-----BEGIN PUBLIC KEY-----", end = "-----END PUBLIC KEY-----";
    const auto b = pem.find(begin);
    const auto e = pem.find(end);
    if (b == std::string::npos || e == std::string::npos || e < b)
        throw Error(ErrorCode::InvalidArgument,
                    "publicKey: expected a PEM \"PUBLIC KEY\" (SubjectPublicKeyInfo)");
    std::string body;
    for (char c : pem.substr(b + begin.size(), e - b - begin.size()))
        if (c != '\n' && c != '\r' && c != ' ' && c != '\t') body += c;
    try {
        std::istringstream in(body);
        Poco::Base64Decoder dec(in);
        std::string der((std::istreambuf_iterator<char>(dec)), std::istreambuf_iterator<char>());
        if (der.empty()) throw std::runtime_error("empty");
        return Bytes(der.begin(), der.end());
    } catch (const std::exception&) {
        throw Error(ErrorCode::InvalidArgument, "publicKey: the PEM body is not valid base64");
    }
}

Poco::JSON::Array::Ptr strings(const std::vector<std::string>& v) {
    Poco::JSON::Array::Ptr a = new Poco::JSON::Array();
    for (const auto& s : v) a->add(s);
    return a;
}

Poco::JSON::Object::Ptr ceremony_json(const core::Ceremony& c) {
    auto o = new_object();
    o->set("id", c.id);
    o->set("name", c.name);
    o->set("algorithm", std::string(core::info(c.algorithm).name));
    o->set("usage", strings(core::usage_names(c.usage)));
    o->set("components", static_cast<int>(c.components));
    o->set("received", c.received());
    std::vector<std::string> names;
    for (const auto& k : c.custodians) names.push_back(k.name);
    o->set("custodians", strings(names));
    o->set("state", std::string(core::ceremony_state_name(c.state)));
    o->set("expiresAt", format_time(c.expires_ms));
    o->set("exportable", c.exportable);
    o->set("trusted", c.trusted);
    o->set("kcv", c.expected_kcv.empty() ? Poco::Dynamic::Var()
                                         : Poco::Dynamic::Var(to_hex(c.expected_kcv)));
    o->set("createdBy", c.created_by);
    o->set("createdAt", format_time(c.created_ms));
    if (!c.key_id.empty()) o->set("keyId", c.key_id);
    if (!c.reason.empty()) o->set("reason", c.reason);
    if (c.closed_ms != 0) o->set("closedAt", format_time(c.closed_ms));
    return o;
}

}  // namespace

void add_distribution_routes(Router& router, ApiServices& s) {
    // ---- key ceremonies ----
    router.add("POST", "/v1/ceremonies", "ceremony.create", BodyPolicy::Required, [&s](Request& r) {
        Body b(r.body, {"name", "algorithm", "usage", "components", "exportable", "trusted", "kcv",
                        "expiresInSeconds"});
        core::CeremonyRequest req;
        req.name = b.string("name", 128);
        req.algorithm = algorithm_field(b);
        req.usage = usage_list(b.strings("usage"));
        req.components = static_cast<int>(b.integer("components", 2, 3));
        req.exportable = b.opt_bool("exportable").value_or(false);
        req.trusted = b.opt_bool("trusted").value_or(false);
        req.kcv = b.opt_hex("kcv");
        req.expires_in_s = b.opt_int("expiresInSeconds", 60, 86400).value_or(3600);
        return Reply{201, ceremony_json(s.ceremonies.create(*r.caller, req))};
    });
    router.require_approval("ceremony.create");

    router.add("GET", "/v1/ceremonies", "ceremony.list", BodyPolicy::None, [&s](Request& r) {
        Poco::JSON::Array::Ptr arr = new Poco::JSON::Array();
        for (const auto& c : s.ceremonies.list(*r.caller)) arr->add(ceremony_json(c));
        auto o = new_object();
        o->set("ceremonies", arr);
        return Reply{200, o};
    });

    router.add("GET", "/v1/ceremonies/{id}", "ceremony.get", BodyPolicy::None, [&s](Request& r) {
        return Reply{200, ceremony_json(s.ceremonies.get(*r.caller, r.params[0]))};
    });

    router.add("POST", "/v1/ceremonies/{id}/components", "ceremony.component", BodyPolicy::Required,
               [&s](Request& r) {
                   Body b(r.body, {"component", "kcv"});
                   std::string text = b.string("component", 128);
                   SecureBytes component = secret_hex(text, "component");
                   r.body->remove("component");
                   const Bytes kcv = b.hex("kcv");
                   auto res = s.ceremonies.add_component(*r.caller, r.params[0], component, kcv);
                   auto o = new_object();
                   o->set("received", res.received);
                   if (res.key) o->set("key", key_json(*res.key, true));
                   return Reply{200, o};
               });

    router.add("DELETE", "/v1/ceremonies/{id}", "ceremony.cancel", BodyPolicy::None,
               [&s](Request& r) {
                   return Reply{200, ceremony_json(s.ceremonies.cancel(*r.caller, r.params[0]))};
               });

    // ---- export and import. "/v1/keys/import" has three segments like "/v1/keys/{id}"; the
    // router takes the first route whose path and method both match, and no POST route on
    // "/v1/keys/{id}" exists, so this one is reached (tests/rest checks it). ----
    router.add("POST", "/v1/keys/import", "key.import", BodyPolicy::Required, [&s](Request& r) {
        Body b(r.body, {"name", "algorithm", "usage", "format", "kek", "wrapped", "keyBlock",
                        "publicKey", "kcv", "exportable", "trusted", "activate"});
        core::ImportRequest req;
        req.name = b.string("name", 128);
        req.algorithm = algorithm_field(b);
        req.usage = usage_list(b.strings("usage"));
        req.format = format_field(b);
        req.kek_id = b.opt_string("kek", 128).value_or("");
        if (auto w = b.opt_hex("wrapped")) req.wrapped = std::move(*w);
        req.key_block = b.opt_string("keyBlock", 9999).value_or("");
        if (auto p = b.opt_string("publicKey", 16384)) req.public_key = spki_from_pem(*p);
        req.kcv = b.opt_hex("kcv");
        req.exportable = b.opt_bool("exportable").value_or(false);
        req.trusted = b.opt_bool("trusted").value_or(false);
        req.activate = b.opt_bool("activate").value_or(true);
        return Reply{201, key_json(s.distribution.import_key(*r.caller, req), true)};
    });
    router.require_approval("key.import");

    router.add(
        "POST", "/v1/keys/{id}/export", "key.export", BodyPolicy::Required, [&s](Request& r) {
            Body b(r.body, {"format", "kek", "tr31"});
            core::ExportRequest req;
            req.key_id = r.params[0];
            req.format = format_field(b);
            req.kek_id = b.string("kek", 128);
            if (r.body->has("tr31")) {
                if (req.format != core::DistributionFormat::Tr31)
                    throw Error(ErrorCode::InvalidArgument, "tr31: only with format TR-31");
                auto t = r.body->getObject("tr31");
                if (!t) throw Error(ErrorCode::InvalidArgument, "tr31: must be an object");
                Body tb(t, {"version", "exportability", "keyVersion"});
                const std::string v = tb.opt_string("version", 1).value_or("D");
                if (v != "D" && v != "B")
                    throw Error(ErrorCode::InvalidArgument, "tr31.version: must be \"D\" or \"B\"");
                req.tr31_version = v[0];
                if (auto e = tb.opt_string("exportability", 1)) {
                    if (*e != "N" && *e != "E" && *e != "S")
                        throw Error(ErrorCode::InvalidArgument,
                                    "tr31.exportability: must be \"N\", \"E\" or \"S\"");
                    req.tr31_exportability = (*e)[0];
                }
                req.tr31_key_version = tb.opt_string("keyVersion", 2).value_or("00");
            }
            const auto out = s.distribution.export_key(*r.caller, req);
            auto o = new_object();
            o->set("keyId", out.key_id);
            o->set("version", out.version);
            o->set("algorithm", std::string(core::info(out.algorithm).name));
            o->set("kcv",
                   out.kcv.empty() ? Poco::Dynamic::Var() : Poco::Dynamic::Var(to_hex(out.kcv)));
            o->set("format", std::string(core::distribution_format_name(out.format)));
            o->set("kek", out.kek_id);
            if (out.format == core::DistributionFormat::Tr31)
                o->set("keyBlock", out.key_block);
            else
                o->set("wrapped", to_hex(out.wrapped));
            return Reply{200, o};
        });
    router.require_approval("key.export");
}

}  // namespace kms::api
