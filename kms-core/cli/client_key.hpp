// A client key pair made by kmsctl itself (principal create --key-out): a new EC P-256 key
// and a PKCS#10 request for it with CN = the principal's name, so an administrator enrols a
// KMIP client or a plugin without openssl. The private key stays in memory until kmsctl writes
// it to its own file (mode 0600) once kmsd has answered; it is never sent.
#pragma once

#include <string>

namespace kms::cli {

struct ClientKey {
    std::string key_pem;  ///< PKCS#8 PEM, unencrypted: a secret, wipe() it once written
    std::string csr_pem;  ///< PKCS#10 PEM, subject CN = the name given, signed with ECDSA-SHA256
};

/// Makes a new P-256 key from OpenSSL's DRBG and its CSR. Throws CliError(Usage) naming the
/// step when OpenSSL fails (before anything is sent).
ClientKey make_client_key(const std::string& common_name);

}  // namespace kms::cli
