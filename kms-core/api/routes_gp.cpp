// Routes: GlobalPlatform secure channel sessions (API-CONTRACT "GlobalPlatform secure channel").
#include "api/api.hpp"
#include "api/json.hpp"
#include "domain/error.hpp"

namespace kms::api {

namespace {

/// One byte given as two hex digits ("i", "securityLevel").
std::uint8_t hex_byte(const Body& b, std::string_view field) {
    const Bytes v = b.hex(field);
    if (v.size() != 1)
        throw Error(ErrorCode::InvalidArgument, std::string(field) + ": must be one byte (2 hex digits)");
    return v[0];
}

/// An array of 0..kGpMaxApdusPerCall hex strings, each of @p min_bytes..max_bytes bytes.
std::vector<Bytes> hex_list(const Poco::JSON::Object::Ptr& obj, const std::string& field,
                            std::size_t min_bytes, std::size_t max_bytes) {
    if (!obj->has(field)) throw Error(ErrorCode::InvalidArgument, field + ": is required");
    const Poco::Dynamic::Var v = obj->get(field);
    if (v.type() != typeid(Poco::JSON::Array::Ptr))
        throw Error(ErrorCode::InvalidArgument, field + ": must be an array of hex strings");
    const auto arr = v.extract<Poco::JSON::Array::Ptr>();
    if (arr->size() > core::kGpMaxApdusPerCall)
        throw Error(ErrorCode::InvalidArgument,
                    field + ": at most " + std::to_string(core::kGpMaxApdusPerCall) + " per call");
    std::vector<Bytes> out;
    out.reserve(arr->size());
    for (std::size_t n = 0; n < arr->size(); ++n) {
        const std::string name = field + "[" + std::to_string(n) + "]";
        const Poco::Dynamic::Var item = arr->get(static_cast<unsigned>(n));
        if (!item.isString())
            throw Error(ErrorCode::InvalidArgument, name + ": must be a hex string");
        Bytes b = from_hex(item.extract<std::string>(), name);
        if (b.size() < min_bytes || b.size() > max_bytes)
            throw Error(ErrorCode::InvalidArgument,
                        name + ": must have " + std::to_string(min_bytes) + " to " +
                            std::to_string(max_bytes) + " bytes");
        out.push_back(std::move(b));
    }
    return out;
}

Poco::JSON::Array::Ptr hex_array(const std::vector<Bytes>& v) {
    Poco::JSON::Array::Ptr a = new Poco::JSON::Array();
    for (const auto& b : v) a->add(to_hex(b));
    return a;
}

/// The "keys" object: {"enc", "mac", "dek"} or {"kmc", "diversification"}.
void keys_field(const Poco::JSON::Object::Ptr& body, core::GpSessionRequest& req) {
    if (!body->has("keys")) throw Error(ErrorCode::InvalidArgument, "keys: is required");
    const Poco::Dynamic::Var v = body->get("keys");
    if (v.type() != typeid(Poco::JSON::Object::Ptr))
        throw Error(ErrorCode::InvalidArgument,
                    "keys: must be an object {enc, mac, dek} or {kmc, diversification}");
    try {
        Body k(v.extract<Poco::JSON::Object::Ptr>(), {"enc", "mac", "dek", "kmc", "diversification"});
        if (auto kmc = k.opt_string("kmc", 128)) {
            if (k.opt_string("enc") || k.opt_string("mac") || k.opt_string("dek"))
                throw Error(ErrorCode::InvalidArgument,
                            "give either enc, mac and dek, or kmc with a diversification");
            req.kmc = *kmc;
            const std::string d = k.string("diversification", 32);
            auto div = core::parse_gp_diversification(d);
            if (!div)
                throw Error(ErrorCode::InvalidArgument,
                            "diversification: unknown method '" + d + "' (none, VISA2, EMV-CPS11)");
            req.diversification = *div;
        } else {
            if (k.opt_string("diversification"))
                throw Error(ErrorCode::InvalidArgument,
                            "diversification: only with kmc");
            req.enc = k.string("enc", 128);
            req.mac = k.string("mac", 128);
            req.dek = k.string("dek", 128);
        }
    } catch (const Error& e) {
        if (e.code() != ErrorCode::InvalidArgument) throw;
        throw Error(ErrorCode::InvalidArgument, std::string("keys.") + e.what());
    }
}

}  // namespace

void add_gp_routes(Router& router, ApiServices& s) {
    router.add("POST", "/v1/gp/scp/sessions", "gp.session.open", BodyPolicy::Required,
               [&s](Request& r) {
                   Body b(r.body, {"protocol", "i", "keys", "keyVersion", "hostChallenge", "aid"});
                   core::GpSessionRequest req;
                   const std::string p = b.string("protocol", 16);
                   auto proto = core::parse_gp_protocol(p);
                   if (!proto)
                       throw Error(ErrorCode::InvalidArgument,
                                   "protocol: unknown protocol '" + p + "' (SCP02, SCP03)");
                   req.protocol = *proto;
                   req.i = hex_byte(b, "i");
                   keys_field(r.body, req);
                   req.key_version = static_cast<std::uint8_t>(b.integer("keyVersion", 0, 255));
                   req.host_challenge = b.opt_hex("hostChallenge");
                   req.aid = b.opt_hex("aid");
                   const auto opened = s.gp.create(*r.caller, req);
                   auto o = new_object();
                   o->set("session", opened.session);
                   o->set("initializeUpdate", to_hex(opened.initialize_update));
                   return Reply{201, o};
               });

    router.add("POST", "/v1/gp/scp/sessions/{session}/authenticate", "gp.authenticate",
               BodyPolicy::Required, [&s](Request& r) {
                   Body b(r.body, {"initializeUpdateResponse", "securityLevel"});
                   const Bytes response = b.hex("initializeUpdateResponse");
                   const std::uint8_t level = hex_byte(b, "securityLevel");
                   auto o = new_object();
                   o->set("externalAuthenticate",
                          to_hex(s.gp.authenticate(*r.caller, r.params[0], response, level)));
                   return Reply{200, o};
               });

    router.add("POST", "/v1/gp/scp/sessions/{session}/wrap", "gp.wrap", BodyPolicy::Required,
               [&s](Request& r) {
                   Body b(r.body, {"apdus"});
                   const auto apdus = hex_list(r.body, "apdus", 4, 65544);
                   auto o = new_object();
                   o->set("apdus", hex_array(s.gp.wrap(*r.caller, r.params[0], apdus)));
                   return Reply{200, o};
               });

    router.add("POST", "/v1/gp/scp/sessions/{session}/unwrap", "gp.unwrap", BodyPolicy::Required,
               [&s](Request& r) {
                   Body b(r.body, {"responses"});
                   const auto responses = hex_list(r.body, "responses", 2, 65538);
                   auto o = new_object();
                   o->set("responses", hex_array(s.gp.unwrap(*r.caller, r.params[0], responses)));
                   return Reply{200, o};
               });

    router.add("POST", "/v1/gp/scp/sessions/{session}/put-key", "gp.put-key",
               BodyPolicy::Required, [&s](Request& r) {
                   Body b(r.body, {"keys", "newKeyVersion", "replaceKeyVersion", "keyId"});
                   core::GpPutKeyRequest req;
                   req.keys = b.strings("keys", 3);
                   req.new_version = static_cast<std::uint8_t>(b.integer("newKeyVersion", 1, 127));
                   req.replace_version =
                       static_cast<std::uint8_t>(b.opt_int("replaceKeyVersion", 0, 127).value_or(0));
                   req.key_id = static_cast<std::uint8_t>(b.opt_int("keyId", 1, 127).value_or(1));
                   const auto res = s.gp.put_key(*r.caller, r.params[0], req);
                   auto o = new_object();
                   o->set("apdu", to_hex(res.apdu));
                   o->set("keyVersion", static_cast<int>(res.key_version));
                   o->set("kcvs", hex_array(res.kcvs));
                   return Reply{200, o};
               });

    router.add("POST", "/v1/gp/scp/sessions/{session}/put-key/verify", "gp.put-key.verify",
               BodyPolicy::Required, [&s](Request& r) {
                   Body b(r.body, {"response"});
                   const auto res = s.gp.verify_put_key(*r.caller, r.params[0], b.hex("response"));
                   auto o = new_object();
                   o->set("keyVersion", static_cast<int>(res.key_version));
                   o->set("kcvs", hex_array(res.kcvs));
                   o->set("verified", true);
                   return Reply{200, o};
               });

    router.add("POST", "/v1/gp/scp/sessions/{session}/encrypt", "gp.encrypt",
               BodyPolicy::Required, [&s](Request& r) {
                   Body b(r.body, {"data", "padding"});
                   const Bytes data = b.hex("data");
                   const std::string padding = b.opt_string("padding", 16).value_or("none");
                   if (padding != "none" && padding != "ISO9797-M2")
                       throw Error(ErrorCode::InvalidArgument,
                                   "padding: '" + padding + "' is not none or ISO9797-M2");
                   auto o = new_object();
                   o->set("data", to_hex(s.gp.encrypt_data(*r.caller, r.params[0], data,
                                                           padding == "ISO9797-M2")));
                   return Reply{200, o};
               });

    router.add("POST", "/v1/gp/keys/diversify", "gp.diversify", BodyPolicy::Required,
               [&s](Request& r) {
                   Body b(r.body, {"kmc", "diversification", "kdd", "name"});
                   core::GpDiversifyRequest req;
                   req.kmc = b.string("kmc", 128);
                   const std::string d = b.string("diversification", 32);
                   const auto div = core::parse_gp_diversification(d);
                   if (!div || *div == core::GpDiversification::None)
                       throw Error(ErrorCode::InvalidArgument,
                                   "diversification: '" + d + "' is not VISA2 or EMV-CPS11");
                   req.diversification = *div;
                   req.kdd = b.hex("kdd");
                   req.name = b.string("name", 240);
                   const auto keys = s.gp.diversify(*r.caller, req);
                   auto o = new_object();
                   o->set("enc", key_json(keys.enc, false));
                   o->set("mac", key_json(keys.mac, false));
                   o->set("dek", key_json(keys.dek, false));
                   return Reply{201, o};
               });

    router.add("DELETE", "/v1/gp/scp/sessions/{session}", "gp.session.close", BodyPolicy::None,
               [&s](Request& r) {
                   s.gp.close(*r.caller, r.params[0]);
                   auto o = new_object();
                   o->set("session", r.params[0]);
                   o->set("closed", true);
                   return Reply{200, o};
               });
}

}  // namespace kms::api
