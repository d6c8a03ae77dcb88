// Routes: key lifecycle (create, read, list, rotate, state changes, revoke, destroy).
#include "api/api.hpp"
#include "api/json.hpp"
#include "domain/error.hpp"

namespace kms::api {

using core::Transition;

namespace {

core::UsageMask parse_usage_list(const std::vector<std::string>& names) {
    core::UsageMask mask;
    for (const auto& n : names) {
        auto u = core::parse_usage(n);
        if (!u) throw Error(ErrorCode::InvalidArgument, "usage: unknown usage '" + n + "'");
        mask.add(*u);
    }
    return mask;
}

std::string optional_reason(const Request& r) {
    if (!r.body) return {};
    Body b(r.body, {"reason"});
    return b.opt_string("reason", 1024).value_or("");
}

Reply key_reply(const core::KeyRecord& k, int status = 200) {
    return Reply{status, key_json(k, true)};
}

std::size_t query_limit(const Request& r) {
    auto v = r.q("limit");
    if (!v) return 100;
    try {
        std::size_t pos = 0;
        const long n = std::stol(*v, &pos);
        if (pos != v->size() || n < 1 || n > 1000) throw std::invalid_argument("range");
        return static_cast<std::size_t>(n);
    } catch (const std::exception&) {
        throw Error(ErrorCode::InvalidArgument, "limit: must be an integer from 1 to 1000");
    }
}

}  // namespace

void add_key_routes(Router& router, ApiServices& s) {
    router.add("POST", "/v1/keys", "key.create", BodyPolicy::Required, [&s](Request& r) {
        Body b(r.body, {"name", "algorithm", "usage", "activate", "exportable", "trusted"});
        core::CreateKeyRequest req;
        req.name = b.string("name", 128);
        const std::string alg = b.string("algorithm", 32);
        auto a = core::parse_algorithm(alg);
        if (!a)
            throw Error(ErrorCode::InvalidArgument, "algorithm: unknown algorithm '" + alg + "'");
        req.algorithm = *a;
        req.usage = parse_usage_list(b.strings("usage"));
        req.activate = b.opt_bool("activate").value_or(true);
        req.exportable = b.opt_bool("exportable").value_or(false);
        req.trusted = b.opt_bool("trusted").value_or(false);
        return key_reply(s.keys.create(*r.caller, req), 201);
    });

    router.add("GET", "/v1/keys", "key.list", BodyPolicy::None, [&s](Request& r) {
        core::KeyFilter f;
        if (auto p = r.q("namePrefix")) f.name_prefix = p->substr(0, 128);
        if (auto st = r.q("state")) {
            f.state = core::parse_key_state(*st);
            if (!f.state)
                throw Error(ErrorCode::InvalidArgument,
                            "state: unknown state '" + st->substr(0, 32) + "'");
        }
        if (auto al = r.q("algorithm")) {
            f.algorithm = core::parse_algorithm(*al);
            if (!f.algorithm)
                throw Error(ErrorCode::InvalidArgument,
                            "algorithm: unknown algorithm '" + al->substr(0, 32) + "'");
        }
        if (auto us = r.q("usage")) {
            f.usage = core::parse_usage(*us);
            if (!f.usage)
                throw Error(ErrorCode::InvalidArgument,
                            "usage: unknown usage '" + us->substr(0, 32) +
                                "' (encrypt, decrypt, mac, sign, verify, wrap, unwrap, derive)");
        }
        const std::string after = r.q("after").value_or("").substr(0, 128);
        auto page = s.keys.list(*r.caller, f, after, query_limit(r));
        auto o = new_object();
        Poco::JSON::Array::Ptr arr = new Poco::JSON::Array();
        for (const auto& k : page.keys) arr->add(key_json(k, false));
        o->set("keys", arr);
        o->set("next", page.next_after.empty() ? Poco::Dynamic::Var()
                                               : Poco::Dynamic::Var(page.next_after));
        return Reply{200, o};
    });

    router.add("GET", "/v1/keys/{id}", "key.get", BodyPolicy::None,
               [&s](Request& r) { return key_reply(s.keys.get(*r.caller, r.params[0])); });

    router.add("POST", "/v1/keys/{id}/rotate", "key.rotate", BodyPolicy::None,
               [&s](Request& r) { return key_reply(s.keys.rotate(*r.caller, r.params[0])); });

    const std::pair<const char*, Transition> transitions[] = {
        {"activate", Transition::Activate},
        {"suspend", Transition::Suspend},
        {"resume", Transition::Resume},
        {"deactivate", Transition::Deactivate}};
    for (const auto& [name, t] : transitions) {
        const Transition tr = t;
        router.add(
            "POST", std::string("/v1/keys/{id}/") + name, std::string("key.") + name,
            BodyPolicy::Optional, [&s, tr](Request& r) {
                return key_reply(s.keys.transition(*r.caller, r.params[0], tr, optional_reason(r)));
            });
    }

    router.add(
        "POST", "/v1/keys/{id}/revoke", "key.revoke", BodyPolicy::Required, [&s](Request& r) {
            Body b(r.body, {"reason", "compromiseDate", "message"});
            const std::string reason = b.string("reason", 32);
            auto rr = core::parse_revocation_reason(reason);
            if (!rr)
                throw Error(
                    ErrorCode::InvalidArgument,
                    "reason: one of unspecified, keyCompromise, caCompromise, "
                    "affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn");
            std::optional<std::int64_t> when;
            if (auto d = b.opt_string("compromiseDate", 40))
                when = parse_time(*d, "compromiseDate");
            return key_reply(s.keys.revoke(*r.caller, r.params[0], *rr, when,
                                           b.opt_string("message", 1024).value_or("")));
        });

    auto destroy = [&s](Request& r) {
        return key_reply(s.keys.destroy(*r.caller, r.params[0], optional_reason(r)));
    };
    router.add("DELETE", "/v1/keys/{id}", "key.destroy", BodyPolicy::Optional, destroy);
    router.require_approval("key.destroy");
    router.add("POST", "/v1/keys/{id}/destroy", "key.destroy", BodyPolicy::Optional, destroy);
    router.require_approval("key.destroy");
}

}  // namespace kms::api
