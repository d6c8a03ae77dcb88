// The bounded LRU cache of unwrapped session objects, keyed by (key id, version, role).
// DESIGN §4: a working key is unwrapped from its key block into a session object on first use
// and the handle is reused, so the hot path of a MAC is exactly C_SignInit + C_Sign.
//
// Entries are shared_ptr<const CachedObject>: an operation holds its entry while it uses the
// handle, so an eviction or forget() in another thread cannot destroy an object in use; the
// object is destroyed (C_DestroyObject on the pool's anchor session) when the last holder lets
// go. An entry of an older pool generation (see SessionPool) is a miss and is dropped without
// C_DestroyObject: its session, and with it the object, is already gone.
//
// Cost: find() is one hash lookup and one list splice under a mutex held for a few hundred
// nanoseconds, no allocation; insert() allocates one node.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "domain/algorithm.hpp"
#include "pkcs11/cryptoki.hpp"

namespace kms::hsm {

class SessionPool;

/// What a cached object is for.
enum class ObjectRole : std::uint8_t {
    Key,     ///< the secret or private key unwrapped from the key block
    Public,  ///< the public key object made from KeyRef::public_key, for verify
    GpKdf,   ///< a static AES key unwrapped for the SCP03 KDF: CKA_SIGN only (CKM_AES_CMAC)
    GpDek,   ///< a static SCP03 DEK for PUT KEY and STORE DATA: CKA_WRAP + CKA_ENCRYPT only
};

/// One cached session object. Destroys itself through the pool when the last reference goes.
struct CachedObject {
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
    std::uint64_t generation = 0;  ///< SessionPool generation that created it
    core::Algorithm algorithm{};   ///< from the verified key block header
    core::UsageMask usage;         ///< idem: a KeyRef that disagrees is an integrity error
    SessionPool* pool = nullptr;   ///< null: do not destroy (tests)

    CachedObject() = default;
    CachedObject(CK_OBJECT_HANDLE h, std::uint64_t g, core::Algorithm a, core::UsageMask u,
                 SessionPool* p) noexcept
        : handle(h), generation(g), algorithm(a), usage(u), pool(p) {}
    ~CachedObject();
    CachedObject(const CachedObject&) = delete;
    CachedObject& operator=(const CachedObject&) = delete;
};
using CachedHandle = std::shared_ptr<const CachedObject>;

class KeyCache {
  public:
    struct Stats {
        std::size_t size = 0;
        std::size_t capacity = 0;
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;
        std::uint64_t evictions = 0;
    };

    /// @p capacity >= 1 objects. Throws InvalidArgument for 0.
    explicit KeyCache(std::size_t capacity);
    ~KeyCache();
    KeyCache(const KeyCache&) = delete;
    KeyCache& operator=(const KeyCache&) = delete;

    /// The cached object, or null on a miss (also when the entry is of another generation than
    /// @p generation, which removes it). Marks the entry most recently used.
    CachedHandle find(std::string_view key_id, std::uint32_t version, ObjectRole role,
                      std::uint64_t generation);

    /// Caches @p object and returns what is now cached: @p object, or the entry another thread
    /// inserted first for the same key and generation (then @p object is released, which
    /// destroys it). Evicts least recently used entries beyond the capacity.
    CachedHandle insert(std::string_view key_id, std::uint32_t version, ObjectRole role,
                        CachedHandle object);

    /// Drops every entry of @p key_id (all versions and roles); returns how many.
    std::size_t forget(std::string_view key_id);
    /// Drops every entry.
    void clear() noexcept;
    Stats stats() const;

  private:
    struct View {
        std::string_view id;
        std::uint32_t version;
        ObjectRole role;
        bool operator==(const View&) const = default;
    };
    struct ViewHash {
        std::size_t operator()(const View& v) const noexcept;
    };
    struct Node {
        std::string id;  // owns the bytes the index's View points at
        std::uint32_t version;
        ObjectRole role;
        CachedHandle object;
        View view() const noexcept { return {id, version, role}; }
    };
    using List = std::list<Node>;

    const std::size_t m_capacity;
    mutable std::mutex m_mutex;
    List m_lru;  // front: most recently used
    std::unordered_map<View, List::iterator, ViewHash> m_index;
    std::uint64_t m_hits = 0;
    std::uint64_t m_misses = 0;
    std::uint64_t m_evictions = 0;
};

}  // namespace kms::hsm
