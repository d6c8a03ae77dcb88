// The inside of Pkcs11Hsm, shared by pkcs11_hsm.cpp (open, masters, info), key_blocks.cpp
// (generate, import, opening blocks) and operations.cpp (MAC, cipher, signatures). Not part of
// the adapter's public interface.
//
// Thread safety: as Pkcs11Hsm. run() is the only way operations reach a session.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "domain/key_block.hpp"
#include "pkcs11/errors.hpp"
#include "pkcs11/key_cache.hpp"
#include "pkcs11/mechanisms.hpp"
#include "pkcs11/module.hpp"
#include "pkcs11/object_templates.hpp"
#include "pkcs11/pkcs11_hsm.hpp"
#include "pkcs11/profiles.hpp"
#include "pkcs11/session_pool.hpp"

namespace kms::hsm {

using Lease = SessionPool::Lease;

/// Handles of the three master objects, valid for one pool generation.
struct MasterHandles {
    CK_OBJECT_HANDLE lmk = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE lmk_mac = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE audit = CK_INVALID_HANDLE;
    std::uint64_t generation = 0;
};

struct Pkcs11Hsm::Impl {
    Impl(std::shared_ptr<Module> m, const VendorProfile& p, MechanismSet mechs, Capabilities c,
         Pkcs11Config cfg, std::unique_ptr<SessionPool> sessions)
        : module(std::move(m)),
          profile(p),
          profile_name(p.name),
          mechanisms(std::move(mechs)),
          caps(std::move(c)),
          config(std::move(cfg)),
          pool(std::move(sessions)),
          cache(config.handle_cache_capacity) {}
    ~Impl() {
        pool->stop_destroying();  // closing the sessions destroys every session object
        cache.clear();
    }

    const CK_FUNCTION_LIST& fn() const noexcept { return module->fn(); }

    /// Runs @p op with a borrowed session. When it fails because the session is gone
    /// (session_lost()), reconnects the pool and runs it once more on a fresh session.
    template <class Op>
    auto run(Op&& op) -> decltype(op(std::declval<Lease&>())) {
        std::uint64_t generation = 0;
        try {
            Lease lease = borrow();
            generation = lease.generation();
            return op(lease);
        } catch (const Error& e) {
            if (!session_lost(e)) throw;
        }
        pool->recover(generation);
        Lease lease = borrow();
        return op(lease);
    }

    /// A pooled session within config.session_wait, else HsmUnavailable (not a lost session:
    /// run() does not reconnect for it).
    Lease borrow() {
        if (config.session_wait.count() <= 0) return pool->borrow();
        auto lease = pool->try_borrow_for(config.session_wait);
        if (!lease)
            throw Error(ErrorCode::HsmUnavailable,
                        "every HSM session stayed busy for " +
                            std::to_string(config.session_wait.count()) +
                            " ms (the HSM is slow or hung); retry later");
        return std::move(*lease);
    }

    // ---- masters (pkcs11_hsm.cpp) ----
    /// The master handles for the lease's generation, found again after a reconnection.
    MasterHandles masters(const Lease& lease);
    /// Finds the three masters (all must exist) and checks their security attributes.
    MasterHandles find_masters(const Lease& lease);
    /// CKA_ID of the three masters, in the order lmk, lmk-mac, audit.
    std::array<Bytes, 3> master_ids(const Lease& lease, const MasterHandles& m);

    // ---- key blocks (key_blocks.cpp) ----
    core::GeneratedKey make_block(Lease& lease, const core::KeySpec& spec,
                                  const SecureBytes* value);
    /// The key block of the existing extractable secret key object @p object (a temporary
    /// session object the caller destroys): KCV in the HSM, C_WrapKey under the LMK, seal.
    core::GeneratedKey block_from_object(Lease& lease, const core::KeySpec& spec,
                                         CK_OBJECT_HANDLE object);
    /// Decodes @p key's block, checks its header against the KeyRef and verifies its seal.
    /// Throws Integrity on any mismatch, InvalidArgument when the block is empty.
    core::KeyBlock open_block(Lease& lease, const core::KeyRef& key);
    /// C_UnwrapKey of a verified block under the LMK. The caller owns the returned handle.
    CK_OBJECT_HANDLE unwrap(Lease& lease, const core::KeyBlock& block, UnwrapPurpose purpose);
    /// The usable secret or private key object of @p key: from the cache, else unwrapped and
    /// cached. Integrity when a cached object's algorithm or usage differs from the KeyRef.
    CachedHandle key_object(Lease& lease, const core::KeyRef& key);
    /// The public key object of @p key for verify, cached under ObjectRole::Public.
    CachedHandle public_object(Lease& lease, const core::KeyRef& key);

    std::shared_ptr<Module> module;
    const VendorProfile& profile;
    const std::string profile_name;
    const MechanismSet mechanisms;
    const Capabilities caps;
    const Pkcs11Config config;          // pin.where is cleared for Kind::Value
    std::unique_ptr<SessionPool> pool;  // before cache: destroyed after it
    KeyCache cache;

    std::mutex masters_mutex;
    MasterHandles master_handles;
    /// CKA_IDs seen at open(): after a reconnection the token found by label must carry the
    /// same master keys (a different token with the same label is refused).
    std::array<Bytes, 3> master_key_ids;
};

// ---- single-part operations (operations.cpp), shared with key_blocks.cpp ----

/// C_SignInit + C_Sign into a buffer of @p expected bytes (one retry on CKR_BUFFER_TOO_SMALL,
/// which per PKCS#11 v2.40 §5.11 leaves the operation active). @p context names the key.
Bytes sign_once(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE session, CK_MECHANISM& mechanism,
                CK_OBJECT_HANDLE key, ByteView data, std::size_t expected,
                std::string_view context);
/// C_EncryptInit + C_Encrypt, same conventions.
Bytes encrypt_once(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE session, CK_MECHANISM& mechanism,
                   CK_OBJECT_HANDLE key, ByteView data, std::size_t expected,
                   std::string_view context);
/// C_VerifyInit + C_Verify: true when valid, false for CKR_SIGNATURE_INVALID or
/// CKR_SIGNATURE_LEN_RANGE, throws otherwise.
bool verify_once(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE session, CK_MECHANISM& mechanism,
                 CK_OBJECT_HANDLE key, ByteView data, ByteView signature, std::string_view context);

// ---- shared by the distribution and GlobalPlatform paths (distribution.cpp) ----

/// UsageNotPermitted unless the sealed block says exportable.
void require_exportable(const core::KeyBlock& b);
/// A KEK for export (also a card's DEK for PUT KEY): sealed trusted, with usage wrap;
/// UsageNotPermitted otherwise.
void require_export_kek(const core::KeyBlock& b);
/// The clear value of the key in @p block: unwrapped into a short-lived non-sensitive object,
/// read into locked memory, the object destroyed at once (a listed host fallback's path).
SecureBytes clear_value(Pkcs11Hsm::Impl& impl, Lease& lease, const core::KeyBlock& block);

// ---- GlobalPlatform (gp_derivation.cpp) ----

/// The object of @p key unwrapped for @p purpose and cached under @p role (GpKdf, GpDek), so
/// the use object of the same key keeps its own capabilities. Integrity when a cached object's
/// algorithm or usage differs from the KeyRef.
CachedHandle gp_object(Pkcs11Hsm::Impl& impl, Lease& lease, const core::KeyRef& key,
                       ObjectRole role, UnwrapPurpose purpose);

/// InvalidArgument when the spec's key id, version or usage is not acceptable (key_blocks.cpp).
void validate_spec(const core::KeySpec& spec);

/// "key <id> version <n>", for error messages.
std::string key_context(std::string_view key_id, std::uint32_t version);

/// CK_BYTE_PTR for input buffers: PKCS#11 v2.40 takes input as non-const pointers that
/// modules do not write through. Never NULL, also for empty input: SoftHSM2 answers
/// CKR_ARGUMENTS_BAD to a NULL pData and leaves the operation active.
inline CK_BYTE_PTR in_ptr(ByteView v) noexcept {
    static const CK_BYTE empty = 0;
    return const_cast<CK_BYTE_PTR>(v.empty() ? &empty : v.data());
}

/// The four single-part operations, for terminate_operation().
enum class OperationKind { Sign, Verify, Encrypt, Decrypt };

/// Ends whatever @p kind operation may still be active on @p session after a failed call, by
/// calling its C_*Final with a large buffer and ignoring the result (PKCS#11 v2.40 §5.8-5.12:
/// every result but CKR_BUFFER_TOO_SMALL terminates the operation; v2.20 §13.1: "to abandon an
/// active operation an application may have to complete the operation and discard the
/// result"). Without this, a module that returns early from C_Sign (SoftHSM2: CKR_ARGUMENTS_BAD
/// for a NULL pData) would leave the pooled session answering CKR_OPERATION_ACTIVE to its next
/// user. Never throws.
void terminate_operation(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE session,
                         OperationKind kind) noexcept;

}  // namespace kms::hsm
