// Use case: register a key given from outside (KMIP Register): a clear symmetric value into
// the HSM, or a public key kept as its SubjectPublicKeyInfo. See services/register_key.hpp.
#include "services/register_key.hpp"

#include "crypto/public_key.hpp"
#include "domain/error.hpp"
#include "services/key_lifecycle.hpp"

namespace kms::core {

namespace {

/// FIPS 46-3 §2: each DES key byte has odd parity in its least significant bit.
void set_odd_parity(SecureBytes& key) {
    for (std::size_t i = 0; i < key.size(); ++i) {
        std::uint8_t b = key[i] & 0xFE;
        std::uint8_t ones = 0;
        for (std::uint8_t x = b; x != 0; x >>= 1) ones ^= (x & 1);
        key[i] = b | static_cast<std::uint8_t>(ones ^ 1);
    }
}

void check_common(ServiceContext& ctx, const Principal& caller, const std::string& name,
                  Algorithm alg, UsageMask usage) {
    require_role(caller, {Role::Admin, Role::KeyOfficer}, "registering a key");
    validate_key_name(name);
    validate_key_usage(alg, usage);
    // Early check for a clear error before the HSM is asked; the store re-checks.
    if (ctx.store.find_key_id_by_name(name))
        throw Error(ErrorCode::Conflict, "name: a key named '" + name + "' already exists");
}

}  // namespace

KeyRecord KeyRegistration::register_secret(const Principal& caller,
                                           const RegisterSecretRequest& req,
                                           const SecureBytes& value) {
    if (!is_symmetric(req.algorithm))
        throw Error(ErrorCode::InvalidArgument,
                    "algorithm: a secret value registers as AES, DES3 or HMAC-SHA256");
    check_common(m_ctx, caller, req.name, req.algorithm, req.usage);
    const std::size_t want = secret_length(req.algorithm);
    if (value.size() != want)
        throw Error(ErrorCode::InvalidArgument,
                    "key material: " + std::string(info(req.algorithm).name) + " takes " +
                        std::to_string(want) + " bytes, not " + std::to_string(value.size()));

    KeyRecord rec;
    rec.id = new_key_id();
    rec.name = req.name;
    rec.algorithm = req.algorithm;
    rec.usage = req.usage;
    rec.exportable = false;
    rec.created_by = caller.name;
    rec.created_ms = m_ctx.clock.now_ms();
    const KeySpec spec{rec.id, 1, req.algorithm, req.usage, false, false};
    GeneratedKey g;
    if (info(req.algorithm).family == KeyFamily::Des3) {
        SecureBytes fixed(value.view());
        set_odd_parity(fixed);
        g = m_ctx.hsm.import_secret(spec, fixed);
    } else {
        g = m_ctx.hsm.import_secret(spec, value);
    }
    rec.versions.push_back(KeyVersion{1, g.block, g.kcv, g.public_key, rec.created_ms});
    return store_new(caller, std::move(rec), req.activate, req.source, "secret key");
}

KeyRecord KeyRegistration::register_public_key(const Principal& caller,
                                               const RegisterPublicKeyRequest& req) {
    const auto alg = crypto::spki_algorithm(req.spki);
    if (!alg)
        throw Error(ErrorCode::InvalidArgument,
                    "key material: not an EC P-256/P-384 or RSA 2048/3072 public key");
    const std::uint32_t allowed =
        static_cast<std::uint32_t>(Usage::Verify) | static_cast<std::uint32_t>(Usage::Wrap);
    if ((req.usage.bits() & ~allowed) != 0)
        throw Error(ErrorCode::InvalidArgument,
                    "usage: a public key only can have the usages verify and/or wrap");
    check_common(m_ctx, caller, req.name, *alg, req.usage);

    KeyRecord rec;
    rec.id = new_key_id();
    rec.name = req.name;
    rec.algorithm = *alg;
    rec.usage = req.usage;
    rec.created_by = caller.name;
    rec.created_ms = m_ctx.clock.now_ms();
    // No key block: a public key only, as REST's SPKI import keeps it (services/reconcile.cpp
    // knows such records).
    rec.versions.push_back(KeyVersion{1, {}, {}, req.spki, rec.created_ms});
    return store_new(caller, std::move(rec), req.activate, req.source, "public key");
}

KeyRecord KeyRegistration::store_new(const Principal& caller, KeyRecord rec, bool activate,
                                     const std::string& source, const std::string& what) {
    rec.state = activate ? KeyState::Active : KeyState::PreActive;
    if (activate) rec.activation_ms = rec.created_ms;
    std::string reason = "registered (" + what;
    if (!source.empty()) reason += ", " + source;
    reason += ")";
    rec.history.push_back(
        StateChange{KeyState::PreActive, rec.state, rec.created_ms, caller.name, reason});
    std::string detail = describe_new_key(rec) +
                         " object=" + (is_symmetric(rec.algorithm) ? "secret-key" : "public-key");
    if (!source.empty()) detail += " via=" + source;
    write_key(m_ctx, rec.id, [&](WriteTxn& t) {
        check_alias_free(t, rec.name, rec.id);  // a KMIP client's extra name (key_attributes)
        t.put_key(rec);
        t.append_audit(
            AuditEvent{caller.name, "key.register", rec.id, AuditOutcome::Success, detail});
    });
    return rec;
}

}  // namespace kms::core
