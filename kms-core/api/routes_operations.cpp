// Routes: cryptographic operations on keys, and random numbers.
#include "api/api.hpp"
#include "api/json.hpp"
#include "domain/error.hpp"

namespace kms::api {

namespace {

core::MacAlgorithm mac_alg(const Body& b) {
    const std::string n = b.string("algorithm", 32);
    auto a = core::parse_mac_algorithm(n);
    if (!a)
        throw Error(ErrorCode::InvalidArgument, "algorithm: unknown MAC algorithm '" + n +
                                                    "' (AES-CMAC, DES3-RETAIL, HMAC-SHA256)");
    return *a;
}

core::CipherMode cipher(const Body& b) {
    const std::string n = b.string("algorithm", 32);
    auto m = core::parse_cipher_mode(n);
    if (!m)
        throw Error(ErrorCode::InvalidArgument,
                    "algorithm: unknown cipher '" + n +
                        "' (AES-GCM, AES-CBC-PAD, AES-CBC, DES3-CBC-PAD, DES3-CBC)");
    return *m;
}

core::SignAlgorithm sign_alg(const Body& b) {
    const std::string n = b.string("algorithm", 32);
    auto a = core::parse_sign_algorithm(n);
    if (!a)
        throw Error(ErrorCode::InvalidArgument,
                    "algorithm: unknown signature algorithm '" + n +
                        "' (ECDSA-SHA256, ECDSA-SHA384, RSA-PSS-SHA256, RSA-PKCS1-SHA256)");
    return *a;
}

std::optional<std::uint32_t> version(const Body& b) {
    auto v = b.opt_int("version", 1, 0xFFFFFFFF);
    return v ? std::optional<std::uint32_t>(static_cast<std::uint32_t>(*v)) : std::nullopt;
}

/// {"<field>": HEX, "version": n}: the answer of mac, sign and decrypt.
Reply value_reply(const char* field, const Bytes& value, std::uint32_t version) {
    auto o = new_object();
    o->set(field, to_hex(value));
    o->set("version", version);
    return Reply{200, o};
}

Reply check_reply(const core::CheckResult& c) {
    auto o = new_object();
    o->set("valid", c.valid);
    o->set("version", c.version);
    return Reply{200, o};
}

}  // namespace

void add_operation_routes(Router& router, ApiServices& s) {
    router.add("POST", "/v1/keys/{id}/mac", "key.mac", BodyPolicy::Required, [&s](Request& r) {
        Body b(r.body, {"algorithm", "data"});
        const auto alg = mac_alg(b);
        const auto res = s.ops.mac(*r.caller, r.params[0], alg, b.hex("data"));
        return value_reply("mac", res.mac, res.version);
    });

    router.add("POST", "/v1/keys/{id}/mac/verify", "key.mac-verify", BodyPolicy::Required,
               [&s](Request& r) {
                   Body b(r.body, {"algorithm", "data", "mac", "version"});
                   const auto alg = mac_alg(b);
                   return check_reply(s.ops.verify_mac(*r.caller, r.params[0], alg, b.hex("data"),
                                                       b.hex("mac"), version(b)));
               });

    router.add(
        "POST", "/v1/keys/{id}/encrypt", "key.encrypt", BodyPolicy::Required, [&s](Request& r) {
            Body b(r.body, {"algorithm", "plaintext", "iv", "aad"});
            const auto mode = cipher(b);
            const Bytes iv = b.opt_hex("iv").value_or(Bytes{});
            const Bytes aad = b.opt_hex("aad").value_or(Bytes{});
            auto res = s.ops.encrypt(*r.caller, r.params[0], mode, b.hex("plaintext"), iv, aad);
            auto o = new_object();
            o->set("ciphertext", to_hex(res.ciphertext));
            o->set("iv", to_hex(res.iv));
            o->set("version", res.version);
            o->set("algorithm", std::string(core::cipher_mode_name(mode)));
            return Reply{200, o};
        });

    router.add("POST", "/v1/keys/{id}/decrypt", "key.decrypt", BodyPolicy::Required,
               [&s](Request& r) {
                   Body b(r.body, {"algorithm", "ciphertext", "iv", "aad", "version"});
                   const auto mode = cipher(b);
                   const Bytes aad = b.opt_hex("aad").value_or(Bytes{});
                   const auto res = s.ops.decrypt(*r.caller, r.params[0], mode, b.hex("ciphertext"),
                                                  b.hex("iv"), aad, version(b));
                   return value_reply("plaintext", res.plaintext, res.version);
               });

    router.add("POST", "/v1/keys/{id}/sign", "key.sign", BodyPolicy::Required, [&s](Request& r) {
        Body b(r.body, {"algorithm", "data"});
        const auto alg = sign_alg(b);
        const auto res = s.ops.sign(*r.caller, r.params[0], alg, b.hex("data"));
        return value_reply("signature", res.signature, res.version);
    });

    router.add("POST", "/v1/keys/{id}/verify", "key.verify", BodyPolicy::Required,
               [&s](Request& r) {
                   Body b(r.body, {"algorithm", "data", "signature", "version"});
                   const auto alg = sign_alg(b);
                   return check_reply(s.ops.verify(*r.caller, r.params[0], alg, b.hex("data"),
                                                   b.hex("signature"), version(b)));
               });

    router.add("POST", "/v1/random", "random", BodyPolicy::Required, [&s](Request& r) {
        Body b(r.body, {"length"});
        auto bytes =
            s.ops.random(*r.caller, static_cast<std::size_t>(b.integer("length", 1, 4096)));
        auto o = new_object();
        o->set("random", to_hex(bytes));
        return Reply{200, o};
    });
}

}  // namespace kms::api
