// Use case: register a key whose value comes from outside (KMIP Register, KMIP 1.4 §4.3):
// a clear symmetric key value that goes into the HSM with Hsm::import_secret, as a key
// ceremony's assembled key does, or an RSA / EC public key (DER SubjectPublicKeyInfo) that is
// kept like REST's SPKI import. Either way the result is an ordinary kmsd key record: same
// state machine, roles, policies and audit chain as a created key; REST and kmsctl see it.
//
// Security: the clear value is read only from a SecureBytes (locked, wiped on release) and
// never written to a log, an exception text or an audit record (the audit detail names the
// key, its algorithm, usage, state and KCV). A registered symmetric key is not exportable:
// it was given to kmsd to be kept in the HSM, and an export would need a trusted KEK anyway.
//
// Roles: admin or key-officer (Forbidden otherwise). The registering principal is the key's
// created_by, so a KMIP client manages the keys it registered as those it created.
// Errors: kms::Error: InvalidArgument (name, usage, a value of the wrong length for the
// algorithm, a public key that does not parse or is not the algorithm claimed), Forbidden,
// Conflict (name taken), Hsm*, StoreError. Nothing is stored when any of them is thrown.
// Thread safety: stateless; both methods may be called from any thread.
#pragma once

#include <string>

#include "domain/secure_bytes.hpp"
#include "services/context.hpp"

namespace kms::core {

struct RegisterSecretRequest {
    std::string name;
    Algorithm algorithm = Algorithm::Aes256;  ///< AES, DES3 or HMAC-SHA256
    UsageMask usage;
    bool activate = false;  ///< false leaves the key PreActive (KMIP §3.22)
    std::string source;     ///< the front that registered it, for the audit detail ("kmip")
};

struct RegisterPublicKeyRequest {
    std::string name;
    Bytes spki;       ///< DER SubjectPublicKeyInfo: EC P-256/P-384 or RSA 2048/3072
    UsageMask usage;  ///< verify and/or wrap only
    bool activate = false;
    std::string source;
};

class KeyRegistration {
  public:
    explicit KeyRegistration(ServiceContext& ctx) : m_ctx(ctx) {}

    /// Imports @p value (secret_length(request.algorithm) bytes; a DES3 value gets odd parity
    /// set, as FIPS 46-3 §2 wants and KMIP clients often omit) into the HSM as version 1 of a
    /// new key, not exportable. Audit: "key.register", target the new id, with the KCV.
    /// @p value is only read; the caller keeps and wipes it.
    KeyRecord register_secret(const Principal& caller, const RegisterSecretRequest& request,
                              const SecureBytes& value);
    /// Keeps a public key only (no key block; Verify and, for RSA, Wrap). Audit "key.register".
    KeyRecord register_public_key(const Principal& caller, const RegisterPublicKeyRequest& request);

  private:
    KeyRecord store_new(const Principal& caller, KeyRecord rec, bool activate,
                        const std::string& source, const std::string& what);
    ServiceContext& m_ctx;
};

}  // namespace kms::core
