// Key blocks: generation and import (temporary session object -> KCV in the HSM -> C_WrapKey
// under the LMK -> HMAC seal), and the way back (header check -> seal check -> C_UnwrapKey
// into a cached, non-extractable session object). DESIGN §4; layout in domain/key_block.hpp.
#include "pkcs11/hsm_impl.hpp"
#include "pkcs11/public_key.hpp"
#include "pkcs11/session.hpp"

namespace kms::hsm {

using core::Algorithm;
using core::KeyFamily;

namespace {
constexpr std::size_t kMaxKeyIdLength = 255;
}  // namespace

void validate_spec(const core::KeySpec& spec) {
    if (spec.key_id.empty() || spec.key_id.size() > kMaxKeyIdLength)
        throw Error(ErrorCode::InvalidArgument, "key id must have 1 to 255 bytes");
    if (spec.version == 0) throw Error(ErrorCode::InvalidArgument, "key version must be >= 1");
    const auto allowed = core::usages_allowed_for(spec.algorithm);
    if (spec.usage.empty() || (spec.usage.bits() & ~allowed.bits()) != 0)
        throw Error(ErrorCode::InvalidArgument,
                    "usage not allowed for " + std::string(core::info(spec.algorithm).name));
}

namespace {

/// C_WrapKey with the profile's RFC 5649 mechanism (AES key wrap with padding). SoftHSM2 wraps
/// a private key as its PKCS#8 PrivateKeyInfo.
Bytes wrap_under(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE s, CK_MECHANISM_TYPE mechanism,
               CK_OBJECT_HANDLE lmk, CK_OBJECT_HANDLE key, std::string_view context) {
    CK_MECHANISM m{mechanism, nullptr, 0};
    CK_ULONG len = 0;
    check_rv(fn.C_WrapKey(s, &m, lmk, key, nullptr, &len), "C_WrapKey", context);
    Bytes out(len);
    check_rv(fn.C_WrapKey(s, &m, lmk, key, out.data(), &len), "C_WrapKey", context);
    out.resize(len);
    return out;
}

/// The KCV computed inside the HSM (DESIGN §5): AES: CMAC(K, 0^16)[0..3] (SP 800-38B);
/// DES3: E(K, 0^8)[0..3]; HMAC keys have none.
Bytes in_hsm_kcv(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
                 Algorithm algorithm, std::string_view context) {
    const std::uint8_t zeros[16] = {};
    Bytes full;
    switch (core::info(algorithm).family) {
        case KeyFamily::Aes: {
            CK_MECHANISM m{CKM_AES_CMAC, nullptr, 0};
            full = sign_once(fn, s, m, key, ByteView(zeros, 16), 16, context);
            break;
        }
        case KeyFamily::Des3: {
            CK_MECHANISM m{CKM_DES3_ECB, nullptr, 0};
            full = encrypt_once(fn, s, m, key, ByteView(zeros, 8), 8, context);
            break;
        }
        default:
            return {};
    }
    full.resize(3);
    return full;
}

}  // namespace

std::string key_context(std::string_view key_id, std::uint32_t version) {
    return "key " + std::string(key_id) + " version " + std::to_string(version);
}

core::GeneratedKey Pkcs11Hsm::Impl::make_block(Lease& lease, const core::KeySpec& spec,
                                               const SecureBytes* value) {
    const auto& f = fn();
    const auto s = lease.handle();
    const auto m = masters(lease);
    const auto ctx = key_context(spec.key_id, spec.version);
    const auto kind = key_kind(spec.algorithm);
    core::GeneratedKey out;
    Bytes wrapped;

    if (core::is_symmetric(spec.algorithm)) {
        Template t = temp_secret_template(spec.algorithm, caps.lmk_trusted, value);
        CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
        if (value != nullptr) {
            check_rv(f.C_CreateObject(s, t.data(), t.size(), &h), "C_CreateObject", ctx);
        } else {
            CK_MECHANISM gen{kind.generate, nullptr, 0};
            check_rv(f.C_GenerateKey(s, &gen, t.data(), t.size(), &h), "C_GenerateKey", ctx);
        }
        ScopedObject temp(&f, s, h);  // destroyed on every path, right after wrapping
        return block_from_object(lease, spec, temp.get());
    } else {
        Template pub_t = temp_public_template(spec.algorithm);
        Template priv_t = temp_private_template(spec.algorithm, caps.lmk_trusted);
        CK_MECHANISM gen{kind.generate, nullptr, 0};
        CK_OBJECT_HANDLE pub_h = CK_INVALID_HANDLE, priv_h = CK_INVALID_HANDLE;
        check_rv(f.C_GenerateKeyPair(s, &gen, pub_t.data(), pub_t.size(), priv_t.data(),
                                     priv_t.size(), &pub_h, &priv_h),
                 "C_GenerateKeyPair", ctx);
        ScopedObject pub(&f, s, pub_h);
        ScopedObject priv(&f, s, priv_h);
        if (core::info(spec.algorithm).family == KeyFamily::Ec) {
            out.public_key = ec_spki(spec.algorithm, read_attribute(f, s, pub.get(), CKA_EC_POINT));
        } else {
            out.public_key = rsa_spki(read_attribute(f, s, pub.get(), CKA_MODULUS),
                                      read_attribute(f, s, pub.get(), CKA_PUBLIC_EXPONENT));
        }
        wrapped = wrap_under(f, s, caps.key_wrap_mechanism, m.lmk, priv.get(), ctx);
    }

    core::KeyBlock block{{spec.key_id, spec.version, spec.algorithm, spec.usage, spec.exportable,
                          spec.trusted},
                         std::move(wrapped),
                         out.public_key,
                         {}};
    CK_MECHANISM hmac{CKM_SHA256_HMAC, nullptr, 0};
    block.seal = sign_once(f, s, hmac, m.lmk_mac, core::sealed_part(block), 32, ctx);
    out.block = core::encode_key_block(block);
    return out;
}

core::GeneratedKey Pkcs11Hsm::Impl::block_from_object(Lease& lease, const core::KeySpec& spec,
                                                      CK_OBJECT_HANDLE object) {
    const auto& f = fn();
    const auto s = lease.handle();
    const auto m = masters(lease);
    const auto ctx = key_context(spec.key_id, spec.version);
    core::GeneratedKey out;
    out.kcv = in_hsm_kcv(f, s, object, spec.algorithm, ctx);
    core::KeyBlock block{{spec.key_id, spec.version, spec.algorithm, spec.usage, spec.exportable,
                          spec.trusted},
                         wrap_under(f, s, caps.key_wrap_mechanism, m.lmk, object, ctx),
                         {},
                         {}};
    CK_MECHANISM hmac{CKM_SHA256_HMAC, nullptr, 0};
    block.seal = sign_once(f, s, hmac, m.lmk_mac, core::sealed_part(block), 32, ctx);
    out.block = core::encode_key_block(block);
    return out;
}

core::GeneratedKey Pkcs11Hsm::generate(const core::KeySpec& spec) {
    validate_spec(spec);
    return m_impl->run([&](Lease& lease) { return m_impl->make_block(lease, spec, nullptr); });
}

core::GeneratedKey Pkcs11Hsm::import_secret(const core::KeySpec& spec, const SecureBytes& value) {
    validate_spec(spec);
    if (!core::is_symmetric(spec.algorithm))
        throw Error(ErrorCode::InvalidArgument, "import_secret takes symmetric keys only");
    if (value.size() != core::secret_length(spec.algorithm))
        throw Error(ErrorCode::InvalidArgument,
                    std::string(core::info(spec.algorithm).name) + " needs a " +
                        std::to_string(core::secret_length(spec.algorithm)) + "-byte value");
    return m_impl->run([&](Lease& lease) { return m_impl->make_block(lease, spec, &value); });
}

core::KeyBlock Pkcs11Hsm::Impl::open_block(Lease& lease, const core::KeyRef& key) {
    const auto ctx = key_context(key.key_id, key.version);
    if (key.block.empty())
        throw Error(ErrorCode::InvalidArgument, ctx + " has no key block (public key only)");
    core::KeyBlock block;
    try {
        block = core::decode_key_block(key.block);
    } catch (const Error& e) {
        throw Error(ErrorCode::Integrity, "key block is malformed (" + ctx + "): " + e.what());
    }
    const core::KeyBlockHeader& h = block.header;
    // The header is bound by the seal; the KeyRef comes from the store's metadata. A record
    // edited in the store must not change what a key may do (ports/hsm.hpp, KeyRef).
    if (h.key_id != key.key_id || h.version != key.version || h.algorithm != key.algorithm ||
        !(h.usage == key.usage))
        throw Error(ErrorCode::Integrity, "key block does not match its metadata (" + ctx + ")");
    const auto m = masters(lease);
    CK_MECHANISM hmac{CKM_SHA256_HMAC, nullptr, 0};
    bool sealed = false;
    try {
        sealed = verify_once(fn(), lease.handle(), hmac, m.lmk_mac, core::sealed_part(block),
                             block.seal, ctx);
    } catch (const Error& e) {
        if (e.code() != ErrorCode::InvalidArgument) throw;  // e.g. CKR_DATA_LEN_RANGE
    }
    if (!sealed) throw Error(ErrorCode::Integrity, "key block seal does not verify (" + ctx + ")");
    return block;
}

CK_OBJECT_HANDLE Pkcs11Hsm::Impl::unwrap(Lease& lease, const core::KeyBlock& block,
                                         UnwrapPurpose purpose) {
    const auto& h = block.header;
    const auto m = masters(lease);
    Template t = unwrap_template(h.algorithm, h.usage, h.key_id, purpose);
    CK_MECHANISM mech{caps.key_wrap_mechanism, nullptr, 0};
    CK_OBJECT_HANDLE out = CK_INVALID_HANDLE;
    check_rv(fn().C_UnwrapKey(lease.handle(), &mech, m.lmk, in_ptr(block.wrapped),
                              block.wrapped.size(), t.data(), t.size(), &out),
             "C_UnwrapKey", key_context(h.key_id, h.version));
    return out;
}

CachedHandle Pkcs11Hsm::Impl::key_object(Lease& lease, const core::KeyRef& key) {
    if (auto cached = cache.find(key.key_id, key.version, ObjectRole::Key, lease.generation())) {
        if (cached->algorithm != key.algorithm || !(cached->usage == key.usage))
            throw Error(ErrorCode::Integrity, "key block does not match its metadata (" +
                                                  key_context(key.key_id, key.version) + ")");
        return cached;
    }
    const core::KeyBlock block = open_block(lease, key);
    ScopedObject object(&fn(), lease.handle(), unwrap(lease, block, UnwrapPurpose::Use));
    auto entry = std::make_shared<const CachedObject>(object.get(), lease.generation(),
                                                      key.algorithm, key.usage, pool.get());
    object.release();  // the cache entry owns it now
    return cache.insert(key.key_id, key.version, ObjectRole::Key, std::move(entry));
}

CachedHandle Pkcs11Hsm::Impl::public_object(Lease& lease, const core::KeyRef& key) {
    if (auto cached = cache.find(key.key_id, key.version, ObjectRole::Public, lease.generation())) {
        if (cached->algorithm != key.algorithm)
            throw Error(ErrorCode::Integrity, "public key does not match its metadata (" +
                                                  key_context(key.key_id, key.version) + ")");
        return cached;
    }
    // A managed key's public key is taken from its sealed block, never from the store's copy
    // beside it, so an edited record cannot make verify() accept another key's signatures. A
    // KeyRef without a block (a caller's own public key, e.g. the self-test vectors) is used
    // as given.
    ByteView spki = key.public_key;
    core::KeyBlock block;
    if (!key.block.empty()) {
        block = open_block(lease, key);
        if (!equal_ct(block.public_key, key.public_key))
            throw Error(ErrorCode::Integrity, "public key does not match its sealed key block (" +
                                                  key_context(key.key_id, key.version) + ")");
        spki = block.public_key;
    }
    if (spki.empty())
        throw Error(ErrorCode::InvalidArgument,
                    "verify needs the public key of " + key_context(key.key_id, key.version));
    const PublicKeyParts parts = parse_spki(key.algorithm, spki);
    const bool ec = core::info(key.algorithm).family == KeyFamily::Ec;
    Template t = public_key_template(key.algorithm, ec ? parts.ec_point : parts.modulus,
                                     parts.exponent, key.key_id);
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    check_rv(fn().C_CreateObject(lease.handle(), t.data(), t.size(), &h), "C_CreateObject",
             key_context(key.key_id, key.version));
    ScopedObject object(&fn(), lease.handle(), h);
    auto entry = std::make_shared<const CachedObject>(h, lease.generation(), key.algorithm,
                                                      key.usage, pool.get());
    object.release();
    return cache.insert(key.key_id, key.version, ObjectRole::Public, std::move(entry));
}

}  // namespace kms::hsm
