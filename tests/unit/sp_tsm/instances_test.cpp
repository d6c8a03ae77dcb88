// sp-tsm's application instance records: states, the instanceEffects configuration, the stored
// record and the SE's index.
#include "instances.hpp"

#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include "domain/error.hpp"

namespace kms::tsm::sp {
namespace {

Poco::Dynamic::Var json(const std::string& text) {
    Poco::JSON::Parser p;
    return p.parse(text);
}

std::map<std::string, std::shared_ptr<const script::Script>> scripts() {
    auto with_file = std::make_shared<script::Script>();
    with_file->load_file = script::LoadFileFacts{};
    with_file->load_file->name = "transit-purse";
    auto without = std::make_shared<script::Script>();
    return {{"install", with_file}, {"lock", with_file}, {"top-up", without}};
}

std::string refusal(const std::string& config) {
    try {
        instance_effects_from_config(json(config), scripts());
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(SpTsmInstances, EffectsConfigurationNamesScriptsWithALoadFileAndKnownStates) {
    const auto effects = instance_effects_from_config(
        json(R"({"install":"PERSONALIZED","lock":"LOCKED"})"), scripts());
    ASSERT_EQ(effects.size(), 2u);
    EXPECT_EQ(effects.at("install"), InstanceState::Personalized);
    EXPECT_EQ(effects.at("lock"), InstanceState::Locked);
    EXPECT_EQ(refusal(R"([])").rfind("instanceEffects: an object", 0), 0u);
    EXPECT_EQ(refusal(R"({"delete":"DELETED"})").rfind("instanceEffects.delete: no such script", 0),
              0u);
    EXPECT_EQ(refusal(R"({"top-up":"LOCKED"})")
                  .rfind("instanceEffects.top-up: the script names no loadFile", 0),
              0u);
    EXPECT_EQ(refusal(R"({"lock":"locked"})").rfind("instanceEffects.lock: INSTALLED", 0), 0u);
    EXPECT_EQ(refusal(R"({"lock":3})").rfind("instanceEffects.lock: INSTALLED", 0), 0u);
}

TEST(SpTsmInstances, StateNamesRoundTrip) {
    for (auto s : {InstanceState::Installed, InstanceState::Selectable, InstanceState::Personalized,
                   InstanceState::Locked, InstanceState::Deleted})
        EXPECT_EQ(instance_state_from(instance_state_name(s)), s);
    EXPECT_FALSE(instance_state_from("Locked").has_value());
}

TEST(SpTsmInstances, RecordRoundTripsAndRefusesGarbage) {
    InstanceRecord r;
    r.seid = "A1B2C3D4E5F60001";
    r.aid = "A0000005591010FFFF";
    r.load_file = "transit-purse";
    r.state = InstanceState::Locked;
    r.operation = "00112233";
    r.script = "lock";
    r.updated = "2026-11-26T15:00:00Z";
    const InstanceRecord back = InstanceRecord::from_json(r.to_json());
    EXPECT_EQ(back.to_json(), r.to_json());
    EXPECT_EQ(back.state, InstanceState::Locked);
    EXPECT_THROW(InstanceRecord::from_json("{}"), Error);
    EXPECT_THROW(InstanceRecord::from_json("not json"), Error);
    std::string bad = r.to_json();
    bad.replace(bad.find("LOCKED"), 6, "BROKEN");
    EXPECT_THROW(InstanceRecord::from_json(bad), Error);
}

TEST(SpTsmInstances, IndexAddsEachAidOnceSorted) {
    const auto one = add_to_index(std::nullopt, "B0");
    ASSERT_TRUE(one.has_value());
    const auto two = add_to_index(one, "A0");
    ASSERT_TRUE(two.has_value());
    EXPECT_EQ(index_from_json(*two), (std::vector<std::string>{"A0", "B0"}));
    EXPECT_FALSE(add_to_index(two, "B0").has_value()) << "already there: nothing to write";
    EXPECT_THROW(index_from_json("{}"), Error);
}

}  // namespace
}  // namespace kms::tsm::sp
