// The handle cache and the session pool under use: eviction, forget(), many threads,
// reconnection after the sessions are gone, and the PKCS#11 calls of a cached MAC.
#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "crypto/host_crypto.hpp"
#include "pkcs11/key_cache.hpp"
#include "pkcs11/object_templates.hpp"
#include "support.hpp"

#ifndef KMS_COUNTING_MODULE
#error "KMS_COUNTING_MODULE must name the counting pass-through module"
#endif

namespace kms::hsm::test {
namespace {

using core::Algorithm;
using core::MacAlgorithm;
using core::Usage;

struct KnownKey {
    core::KeySpec spec;
    Bytes clear;
    core::GeneratedKey key;
};

std::vector<KnownKey> known_aes_keys(Pkcs11Hsm& hsm, int n) {
    std::vector<KnownKey> keys;
    for (int i = 0; i < n; ++i) {
        KnownKey k{
            {unique_id("cache"), 1, Algorithm::Aes128, usage({Usage::Mac})}, hsm.random(16), {}};
        k.key = hsm.import_secret(k.spec, SecureBytes(k.clear.data(), k.clear.size()));
        keys.push_back(std::move(k));
    }
    return keys;
}

TEST(KeyCacheUnit, LruOrderGenerationsAndForget) {
    KeyCache cache(2);
    const auto obj = [](CK_OBJECT_HANDLE h, std::uint64_t g) {
        return std::make_shared<const CachedObject>(h, g, Algorithm::Aes128, core::UsageMask(),
                                                    nullptr);
    };
    cache.insert("a", 1, ObjectRole::Key, obj(1, 7));
    cache.insert("b", 1, ObjectRole::Key, obj(2, 7));
    ASSERT_TRUE(cache.find("a", 1, ObjectRole::Key, 7));  // a is now most recent
    cache.insert("c", 1, ObjectRole::Key, obj(3, 7));     // evicts b
    EXPECT_FALSE(cache.find("b", 1, ObjectRole::Key, 7));
    EXPECT_EQ(cache.find("a", 1, ObjectRole::Key, 7)->handle, 1u);
    EXPECT_FALSE(cache.find("a", 1, ObjectRole::Public, 7));
    EXPECT_FALSE(cache.find("a", 2, ObjectRole::Key, 7));
    // A racing insert of the same key and generation keeps the first object.
    EXPECT_EQ(cache.insert("a", 1, ObjectRole::Key, obj(9, 7))->handle, 1u);
    // Another generation is a miss and drops the entry.
    EXPECT_FALSE(cache.find("c", 1, ObjectRole::Key, 8));
    EXPECT_EQ(cache.stats().size, 1u);
    EXPECT_EQ(cache.forget("a"), 1u);
    EXPECT_EQ(cache.stats().size, 0u);
    EXPECT_EQ(cache.stats().evictions, 1u);
    EXPECT_THROW(KeyCache(0), Error);
}

TEST(Cache, CapacityTwoEvictsAndStillGivesRightAnswers) {
    auto hsm = Pkcs11Hsm::open(config_for(kSharedToken, 2), MasterKeys::RequireExisting);
    const auto keys = known_aes_keys(*hsm, 5);
    const Bytes data = text_bytes("eviction round");
    for (int round = 0; round < 3; ++round)
        for (const auto& k : keys)
            EXPECT_EQ(hsm->mac(ref(k.spec, k.key), MacAlgorithm::AesCmac, data),
                      crypto::aes_cmac(k.clear, data));
    const auto stats = hsm->cache_stats();
    EXPECT_EQ(stats.size, 2u);
    EXPECT_EQ(stats.capacity, 2u);
    EXPECT_GE(stats.evictions, 13u);
    EXPECT_EQ(hsm->info().cached_handles, 2u);
    // Evicted objects were destroyed: only the last two keys still have a session object.
    RawToken raw(kSharedToken);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        Template t;
        t.text(CKA_LABEL, keys[i].spec.key_id);
        EXPECT_EQ(find_objects(raw.fn(), raw.session(), t.data(), t.size()).size(),
                  i >= keys.size() - 2 ? 1u : 0u)
            << i;
    }
}

TEST(Cache, ForgetDestroysTheObjectsOfAKey) {
    auto& hsm = shared_hsm();
    const auto keys = known_aes_keys(hsm, 1);
    const auto r = ref(keys[0].spec, keys[0].key);
    const Bytes first = hsm.mac(r, MacAlgorithm::AesCmac, {});
    const auto misses = hsm.cache_stats().misses;
    EXPECT_EQ(hsm.mac(r, MacAlgorithm::AesCmac, {}), first);
    EXPECT_EQ(hsm.cache_stats().misses, misses) << "second use is a hit";
    hsm.forget(keys[0].spec.key_id);
    RawToken raw(kSharedToken);
    Template t;
    t.text(CKA_LABEL, keys[0].spec.key_id);
    EXPECT_TRUE(find_objects(raw.fn(), raw.session(), t.data(), t.size()).empty());
    EXPECT_EQ(hsm.mac(r, MacAlgorithm::AesCmac, {}), first);
    EXPECT_EQ(hsm.cache_stats().misses, misses + 1) << "after forget the block is unwrapped again";
}

void hammer(Pkcs11Hsm& hsm, const std::vector<KnownKey>& keys, int threads, int per_thread,
            bool with_forget) {
    std::atomic<int> wrong{0}, errors{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                const auto& k = keys[(t + i) % keys.size()];
                const Bytes data(static_cast<std::size_t>(i % 50), static_cast<std::uint8_t>(t));
                try {
                    if (hsm.mac(ref(k.spec, k.key), MacAlgorithm::AesCmac, data) !=
                        crypto::aes_cmac(k.clear, data))
                        ++wrong;
                } catch (const std::exception& e) {
                    if (errors++ == 0) ADD_FAILURE() << e.what();
                }
            }
        });
    }
    std::thread forgetter;
    if (with_forget)
        forgetter = std::thread([&] {
            for (std::size_t i = 0; !stop; ++i) {
                hsm.forget(keys[i % keys.size()].spec.key_id);
                std::this_thread::yield();
            }
        });
    for (auto& th : pool) th.join();
    stop = true;
    if (forgetter.joinable()) forgetter.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(errors.load(), 0);
}

TEST(Concurrency, EightThreadsMacCorrectlyWhileKeysAreForgotten) {
    const auto keys = known_aes_keys(shared_hsm(), 4);
    hammer(shared_hsm(), keys, 8, 400, true);
}

TEST(Concurrency, EightThreadsWithATinyCacheAndOneSession) {
    auto hsm = Pkcs11Hsm::open(config_for(kSharedToken, 2, 1), MasterKeys::RequireExisting);
    const auto keys = known_aes_keys(*hsm, 5);
    hammer(*hsm, keys, 8, 200, false);
    EXPECT_LE(hsm->cache_stats().size, 2u);
}

TEST(Reconnect, AllSessionsClosedUnderneathTheAdapter) {
    const std::string label = new_token("reconnect");
    auto hsm = Pkcs11Hsm::open(config_for(label), MasterKeys::CreateIfMissing);
    const auto keys = known_aes_keys(*hsm, 2);
    const Bytes data = text_bytes("before and after");
    const auto r = ref(keys[0].spec, keys[0].key);
    const Bytes expected = crypto::aes_cmac(keys[0].clear, data);
    ASSERT_EQ(hsm->mac(r, MacAlgorithm::AesCmac, data), expected);
    const auto misses = hsm->cache_stats().misses;

    {
        // Another part of the process (or a token reset) closes every session: the handles,
        // the cached objects and the login are gone.
        RawToken raw(label);
        ASSERT_EQ(raw.fn().C_CloseAllSessions(raw.slot()), CKR_OK);
    }
    EXPECT_EQ(hsm->mac(r, MacAlgorithm::AesCmac, data), expected);
    EXPECT_EQ(hsm->cache_stats().misses, misses + 1) << "the cached handle was treated as gone";
    EXPECT_EQ(hsm->audit_seal(data).size(), 32u);  // master handles found again

    {
        RawToken raw(label);
        ASSERT_EQ(raw.fn().C_CloseAllSessions(raw.slot()), CKR_OK);
    }
    EXPECT_TRUE(hsm->probe()) << "probe reconnects";
    const auto r2 = ref(keys[1].spec, keys[1].key);
    EXPECT_EQ(hsm->mac(r2, MacAlgorithm::AesCmac, data), crypto::aes_cmac(keys[1].clear, data));
}

TEST(Reconnect, ATokenWithOtherMasterKeysUnderTheSameLabelIsRefused) {
    const std::string label = new_token("swap");
    auto hsm = Pkcs11Hsm::open(config_for(label), MasterKeys::CreateIfMissing);
    const Bytes data = text_bytes("audit record");
    const Bytes seal = hsm->audit_seal(data);
    {
        // The token is wiped and initialised again under the same label, with new master keys.
        RawToken raw(label);
        const auto& fn = raw.fn();
        const CK_SLOT_ID slot = raw.slot();
        ASSERT_EQ(fn.C_CloseAllSessions(slot), CKR_OK);
        auto padded = padded_label(label);
        const std::string so = kSoPin, user = kUserPin;
        auto* so_ptr = reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(so.data()));
        auto* user_ptr = reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(user.data()));
        ASSERT_EQ(fn.C_InitToken(slot, so_ptr, so.size(), padded.data()), CKR_OK);
        Session s = Session::open(*Module::load(module_path()), slot);
        ASSERT_EQ(fn.C_Login(s.handle(), CKU_SO, so_ptr, so.size()), CKR_OK);
        ASSERT_EQ(fn.C_InitPIN(s.handle(), user_ptr, user.size()), CKR_OK);
        fn.C_Logout(s.handle());
    }
    Pkcs11Hsm::open(config_for(label), MasterKeys::CreateIfMissing).reset();
    const auto msg = expect_error(ErrorCode::Integrity, [&] { hsm->audit_seal(data); });
    EXPECT_NE(msg.find("master keys"), std::string::npos) << msg;
}

TEST(HotPath, ACachedMacIsExactlySignInitAndSign) {
    ::setenv("KMS_COUNTING_TARGET", module_path().c_str(), 1);
    auto cfg = config_for(kSharedToken);
    cfg.module_path = KMS_COUNTING_MODULE;
    auto hsm = Pkcs11Hsm::open(cfg, MasterKeys::RequireExisting);
    void* h = ::dlopen(KMS_COUNTING_MODULE, RTLD_NOW | RTLD_NOLOAD);
    ASSERT_NE(h, nullptr);
    auto calls = reinterpret_cast<unsigned long (*)(const char*)>(::dlsym(h, "kms_counting_calls"));
    auto reset = reinterpret_cast<void (*)()>(::dlsym(h, "kms_counting_reset"));
    ASSERT_TRUE(calls && reset);

    const auto keys = known_aes_keys(*hsm, 1);
    const auto r = ref(keys[0].spec, keys[0].key);
    reset();
    hsm->mac(r, MacAlgorithm::AesCmac, text_bytes("miss"));
    // A miss: seal check (C_VerifyInit + C_Verify), C_UnwrapKey, then the MAC.
    EXPECT_EQ(calls("C_VerifyInit"), 1u);
    EXPECT_EQ(calls("C_Verify"), 1u);
    EXPECT_EQ(calls("C_UnwrapKey"), 1u);
    EXPECT_EQ(calls("*"), 5u);

    reset();
    for (int i = 0; i < 10; ++i) hsm->mac(r, MacAlgorithm::AesCmac, text_bytes("hit"));
    EXPECT_EQ(calls("C_SignInit"), 10u);
    EXPECT_EQ(calls("C_Sign"), 10u);
    EXPECT_EQ(calls("*"), 20u) << "no other PKCS#11 call on the hot path";
    hsm.reset();
    ::dlclose(h);
}

}  // namespace
}  // namespace kms::hsm::test
