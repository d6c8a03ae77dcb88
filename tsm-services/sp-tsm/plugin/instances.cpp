// Application instances per SE: the effects configuration and the stored records.
#include "instances.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>

#include <algorithm>
#include <sstream>

#include "domain/error.hpp"

namespace kms::tsm::sp {

namespace {

constexpr std::pair<InstanceState, std::string_view> kNames[] = {
    {InstanceState::Installed, "INSTALLED"},
    {InstanceState::Selectable, "SELECTABLE"},
    {InstanceState::Personalized, "PERSONALIZED"},
    {InstanceState::Locked, "LOCKED"},
    {InstanceState::Deleted, "DELETED"}};

std::string text(const Poco::Dynamic::Var& v) {
    std::ostringstream out;
    Poco::JSON::Stringifier::stringify(v, out);
    return out.str();
}

}  // namespace

std::string_view instance_state_name(InstanceState s) {
    for (const auto& [state, name] : kNames)
        if (state == s) return name;
    return "INSTALLED";
}

std::optional<InstanceState> instance_state_from(std::string_view name) {
    for (const auto& [state, n] : kNames)
        if (n == name) return state;
    return std::nullopt;
}

std::map<std::string, InstanceState> instance_effects_from_config(
    const Poco::Dynamic::Var& value,
    const std::map<std::string, std::shared_ptr<const script::Script>>& scripts) {
    Poco::JSON::Object::Ptr o;
    try {
        o = value.extract<Poco::JSON::Object::Ptr>();
    } catch (const std::exception&) {
    }
    if (!o)
        throw Error(ErrorCode::InvalidArgument,
                    "instanceEffects: an object of script name -> instance state");
    std::map<std::string, InstanceState> effects;
    for (const auto& [name, v] : *o) {
        const std::string field = "instanceEffects." + name.substr(0, 64);
        const auto it = scripts.find(name);
        if (it == scripts.end())
            throw Error(ErrorCode::InvalidArgument, field + ": no such script in scripts");
        if (!it->second->load_file)
            throw Error(ErrorCode::InvalidArgument,
                        field + ": the script names no loadFile, so no instance");
        const auto state = v.isString() ? instance_state_from(v.extract<std::string>())
                                        : std::optional<InstanceState>{};
        if (!state)
            throw Error(
                ErrorCode::InvalidArgument,
                field + ": INSTALLED, SELECTABLE, PERSONALIZED, LOCKED or DELETED expected");
        effects[name] = *state;
    }
    return effects;
}

std::string InstanceRecord::to_json() const {
    Poco::JSON::Object o;
    o.set("seid", seid);
    o.set("aid", aid);
    o.set("loadFile", load_file);
    o.set("state", std::string(instance_state_name(state)));
    o.set("operation", operation);
    o.set("script", script);
    o.set("updated", updated);
    std::ostringstream out;
    o.stringify(out);
    return out.str();
}

InstanceRecord InstanceRecord::from_json(const std::string& json) {
    try {
        Poco::JSON::Parser p;
        const auto o = p.parse(json).extract<Poco::JSON::Object::Ptr>();
        InstanceRecord r;
        r.seid = o->getValue<std::string>("seid");
        r.aid = o->getValue<std::string>("aid");
        r.load_file = o->getValue<std::string>("loadFile");
        const auto state = instance_state_from(o->getValue<std::string>("state"));
        if (!state) throw std::runtime_error("state");
        r.state = *state;
        r.operation = o->getValue<std::string>("operation");
        r.script = o->getValue<std::string>("script");
        r.updated = o->getValue<std::string>("updated");
        if (o->size() != 7) throw std::runtime_error("fields");
        return r;
    } catch (const std::exception&) {
        throw Error(ErrorCode::Integrity, "an instance record in the TSM store is damaged");
    }
}

std::vector<std::string> index_from_json(const std::string& json) {
    try {
        Poco::JSON::Parser p;
        const auto a = p.parse(json).extract<Poco::JSON::Array::Ptr>();
        std::vector<std::string> out;
        for (std::size_t i = 0; i < a->size(); ++i)
            out.push_back(a->getElement<std::string>(static_cast<unsigned>(i)));
        return out;
    } catch (const std::exception&) {
        throw Error(ErrorCode::Integrity, "an SE's instance index in the TSM store is damaged");
    }
}

std::optional<std::string> add_to_index(const std::optional<std::string>& index,
                                        const std::string& aid) {
    std::vector<std::string> aids = index ? index_from_json(*index) : std::vector<std::string>{};
    if (std::find(aids.begin(), aids.end(), aid) != aids.end()) return std::nullopt;
    aids.push_back(aid);
    std::sort(aids.begin(), aids.end());
    Poco::JSON::Array a;
    for (const auto& x : aids) a.add(x);
    return text(Poco::Dynamic::Var(a));
}

}  // namespace kms::tsm::sp
