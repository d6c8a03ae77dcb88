// Routes: plugin policies, PUT/GET /v1/principals/{name}/policy (services/policies.hpp).
#include "api/api.hpp"
#include "api/json.hpp"
#include "domain/error.hpp"

namespace kms::api {

namespace {

Poco::JSON::Object::Ptr policy_json(const std::string& name,
                                    const std::optional<core::PluginPolicy>& p) {
    auto o = new_object();
    o->set("principal", name);
    Poco::JSON::Array::Ptr keys = new Poco::JSON::Array();
    Poco::JSON::Array::Ptr ops = new Poco::JSON::Array();
    if (p) {
        for (const auto& k : p->keys) keys->add(k);
        for (auto op : p->operation_list()) ops->add(std::string(core::policy_operation_name(op)));
    }
    o->set("keys", keys);
    o->set("operations", ops);
    // A plugin without a policy may do nothing with keys: say so instead of a 404.
    o->set("defined", p.has_value());
    if (p) {
        o->set("updatedAt", format_time(p->updated_ms));
        o->set("updatedBy", p->updated_by);
    }
    return o;
}

/// The "keys" array without Body::strings' 64-character cut: a cut glob would name other keys.
std::vector<std::string> key_entries(const Poco::JSON::Object::Ptr& body) {
    const auto v = body->get("keys");
    if (v.isEmpty()) throw Error(ErrorCode::InvalidArgument, "keys: is required");
    if (v.type() != typeid(Poco::JSON::Array::Ptr))
        throw Error(ErrorCode::InvalidArgument, "keys: must be an array of strings");
    const auto arr = v.extract<Poco::JSON::Array::Ptr>();
    if (arr->size() > core::kMaxPolicyKeys)
        throw Error(ErrorCode::InvalidArgument,
                    "keys: at most " + std::to_string(core::kMaxPolicyKeys) + " entries");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < arr->size(); ++i) {
        const auto item = arr->get(static_cast<unsigned>(i));
        if (!item.isString())
            throw Error(ErrorCode::InvalidArgument, "keys: must be an array of strings");
        out.push_back(item.extract<std::string>());  // length checked by PolicyService::set
    }
    return out;
}

}  // namespace

void add_policy_routes(Router& router, ApiServices& s) {
    router.add("PUT", "/v1/principals/{name}/policy", "policy.set", BodyPolicy::Required,
               [&s](Request& r) {
                   Body b(r.body, {"keys", "operations"});
                   const auto keys = key_entries(r.body);
                   std::vector<core::PolicyOperation> ops;
                   for (const auto& n : b.strings("operations", 32)) {
                       auto op = core::parse_policy_operation(n);
                       if (!op)
                           throw Error(
                               ErrorCode::InvalidArgument,
                               "operations: unknown operation '" + n +
                                   "' (encrypt, decrypt, mac, mac-verify, sign, verify, random, "
                                   "read, gp)");
                       ops.push_back(*op);
                   }
                   auto p = s.policies.set(*r.caller, r.params[0], keys, ops);
                   return Reply{200, policy_json(r.params[0], p)};
               });

    router.add(
        "GET", "/v1/principals/{name}/policy", "policy.get", BodyPolicy::None, [&s](Request& r) {
            return Reply{200, policy_json(r.params[0], s.policies.get(*r.caller, r.params[0]))};
        });
}

}  // namespace kms::api
