// KeyLifecycle::change_attributes and rekey (KMIP Add / Modify / Delete Attribute and Re-key)
// against a real LMDB store and the recording fake HSM: names unique among live keys across
// primary and extra names, refused edits leave nothing behind, Re-key links and name moves.
#include <gtest/gtest.h>

#include "domain/error.hpp"
#include "service_fixture.hpp"
#include "services/key_lifecycle.hpp"

namespace kms::core {
namespace {

using namespace test_support;

class KeyAttributesTest : public ServiceFixture<FakeHsm, SystemClock> {
  protected:
    KeyAttributesTest() : ServiceFixture("key-attributes") {}
    KeyRecord make(const std::string& name) {
        return KeyLifecycle(*m_ctx).create(
            m_admin,
            CreateKeyRequest{name, Algorithm::Aes128, UsageMask().add(Usage::Mac), true, false});
    }
    KeyRecord change(const std::string& id, const std::function<void(KeyAttributes&)>& edit) {
        return KeyLifecycle(*m_ctx).change_attributes(m_admin, id, edit, "test");
    }
    Principal m_admin = person("admin", Role::Admin);
};

TEST_F(KeyAttributesTest, ExtraNamesAreUniqueAmongLiveKeysLikeKeyNames) {
    const auto a = make("ka-a");
    const auto b = make("ka-b");
    KeyLifecycle life(*m_ctx);
    const auto got = change(a.id, [](KeyAttributes& k) { k.extra_names.push_back("ka-alias"); });
    EXPECT_EQ(got.kmip_extra_names, std::vector<std::string>{"ka-alias"});
    EXPECT_EQ(life.find_id_by_name(m_admin, "ka-alias"), a.id);
    EXPECT_EQ(life.find_id_by_name(m_admin, "ka-b"), b.id);
    // Taken: as another key's extra name, as its new name, by a new key, and twice on one key.
    EXPECT_EQ(
        code_of([&] { change(b.id, [](KeyAttributes& k) { k.extra_names = {"ka-alias"}; }); }),
        ErrorCode::Conflict);
    EXPECT_EQ(code_of([&] { change(b.id, [](KeyAttributes& k) { k.name = "ka-alias"; }); }),
              ErrorCode::Conflict);
    EXPECT_EQ(code_of([&] { change(b.id, [](KeyAttributes& k) { k.extra_names = {"ka-a"}; }); }),
              ErrorCode::Conflict);
    EXPECT_EQ(code_of([&] { change(a.id, [](KeyAttributes& k) { k.extra_names = {"ka-a"}; }); }),
              ErrorCode::Conflict);
    EXPECT_EQ(code_of([&] { make("ka-alias"); }), ErrorCode::Conflict);
    EXPECT_EQ(
        code_of([&] { change(b.id, [](KeyAttributes& k) { k.extra_names = {"bad name"}; }); }),
        ErrorCode::InvalidArgument);
    EXPECT_TRUE(m_store->find_key(b.id)->kmip_extra_names.empty()) << "refusals wrote nothing";
    // Given up, the name is free again.
    change(a.id, [](KeyAttributes& k) { k.extra_names.clear(); });
    EXPECT_FALSE(life.find_id_by_name(m_admin, "ka-alias"));
    EXPECT_EQ(make("ka-alias").name, "ka-alias");
}

TEST_F(KeyAttributesTest, RenameGoesThroughTheNameIndexAndIsAudited) {
    const auto a = make("ka-old");
    change(a.id, [](KeyAttributes& k) {
        k.name = "ka-new";
        k.client_attributes.push_back(ClientAttribute{"Contact Information", Bytes{1, 2}});
    });
    EXPECT_EQ(m_store->find_key_id_by_name("ka-new"), a.id);
    EXPECT_FALSE(m_store->find_key_id_by_name("ka-old"));
    EXPECT_EQ(m_store->find_key(a.id)->kmip_client_attributes.size(), 1u);
    const auto records = audit();
    ASSERT_EQ(records.back().event.action, "key.attributes");
    EXPECT_EQ(records.back().event.target, a.id);
    EXPECT_NE(records.back().event.detail.find("name=ka-new"), std::string::npos);
    EXPECT_NE(records.back().event.detail.find("attributes=Contact Information"),
              std::string::npos);
}

TEST_F(KeyAttributesTest, ARefusedEditWritesNothingAndRolesAreChecked) {
    const auto a = make("ka-refused");
    const auto before = audit().size();
    EXPECT_THROW(change(a.id,
                        [](KeyAttributes& k) {
                            k.name = "ka-changed";
                            throw std::runtime_error("refused by the front");
                        }),
                 std::runtime_error);
    EXPECT_EQ(m_store->find_key(a.id)->name, "ka-refused");
    EXPECT_EQ(audit().size(), before);
    KeyLifecycle life(*m_ctx);
    EXPECT_EQ(code_of([&] {
                  life.change_attributes(
                      person("aud", Role::Auditor), a.id, [](KeyAttributes&) {}, "test");
              }),
              ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] { life.rekey(person("aud", Role::Auditor), a.id, true); }),
              ErrorCode::Forbidden);
}

TEST_F(KeyAttributesTest, DestroyedKeysGiveTheirExtraNamesBack) {
    const auto a = make("ka-gone");
    change(a.id, [](KeyAttributes& k) { k.extra_names = {"ka-gone-alias"}; });
    KeyLifecycle life(*m_ctx);
    life.transition(m_admin, a.id, Transition::Deactivate, "retire");
    life.destroy(m_admin, a.id, "end");
    EXPECT_FALSE(life.find_id_by_name(m_admin, "ka-gone-alias"));
    EXPECT_EQ(make("ka-gone-alias").name, "ka-gone-alias");
    EXPECT_EQ(code_of([&] { change(a.id, [](KeyAttributes&) {}); }), ErrorCode::WrongState);
}

TEST_F(KeyAttributesTest, RekeyMakesANewKeyLinkedBothWaysThatTakesTheNames) {
    const auto a = make("ka-rekey");
    change(a.id, [](KeyAttributes& k) {
        k.extra_names = {"ka-rekey-alias"};
        k.client_attributes = {ClientAttribute{"Object Group", Bytes{9}}};
    });
    KeyLifecycle life(*m_ctx);
    const int generated = m_hsm.generated.load();
    const auto b = life.rekey(m_admin, a.id, false);
    EXPECT_EQ(m_hsm.generated.load(), generated + 1) << "a new key from the HSM";
    EXPECT_NE(b.id, a.id);
    const std::string block = b.id + "/1";  // generated for the new id, version 1
    EXPECT_EQ(b.current().block, Bytes(block.begin(), block.end()));
    EXPECT_EQ(b.state, KeyState::PreActive);
    EXPECT_EQ(b.name, "ka-rekey");
    EXPECT_EQ(b.kmip_extra_names, std::vector<std::string>{"ka-rekey-alias"});
    EXPECT_EQ(b.kmip_client_attributes.size(), 1u);
    EXPECT_EQ(b.kmip_replaced_id, a.id);
    EXPECT_EQ(b.algorithm, a.algorithm);
    EXPECT_EQ(b.usage, a.usage);
    EXPECT_EQ(b.created_by, a.created_by);
    const auto old = m_store->find_key(a.id);
    EXPECT_EQ(old->kmip_replacement_id, b.id);
    EXPECT_EQ(old->state, KeyState::Active) << "Re-key leaves the old key's state";
    EXPECT_EQ(old->name, a.id) << "the old key gives its names up";
    EXPECT_TRUE(old->kmip_extra_names.empty());
    EXPECT_EQ(life.find_id_by_name(m_admin, "ka-rekey"), b.id);
    EXPECT_EQ(life.find_id_by_name(m_admin, "ka-rekey-alias"), b.id);
    const auto records = audit();
    EXPECT_EQ(records.back().event.action, "key.rekey");
    EXPECT_EQ(records.back().event.target, a.id);
    EXPECT_NE(records.back().event.detail.find("replacement=" + b.id), std::string::npos);
    EXPECT_EQ(code_of([&] { life.rekey(m_admin, a.id, true); }), ErrorCode::Conflict)
        << "a key is replaced once";
    EXPECT_EQ(life.rekey(m_admin, b.id, true).state, KeyState::Active);
}

TEST_F(KeyAttributesTest, RekeyIsRefusedForCompromisedAndDestroyedKeys) {
    KeyLifecycle life(*m_ctx);
    const auto a = make("ka-compromised");
    life.revoke(m_admin, a.id, RevocationReason::KeyCompromise, std::nullopt, "");
    EXPECT_EQ(code_of([&] { life.rekey(m_admin, a.id, true); }), ErrorCode::WrongState);
    life.destroy(m_admin, a.id, "end");
    EXPECT_EQ(code_of([&] { life.rekey(m_admin, a.id, true); }), ErrorCode::WrongState);
    EXPECT_EQ(code_of([&] { life.rekey(m_admin, "k-nope", true); }), ErrorCode::NotFound);
}

}  // namespace
}  // namespace kms::core
