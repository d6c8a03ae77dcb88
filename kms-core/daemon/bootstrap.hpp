// First start and every start: the embedded SoftHSM2 token, the internal CA and kmsd's TLS
// certificate, and the first administrator, each step idempotent so an interrupted first start
// simply runs again (API-CONTRACT.md "Starting kmsd").
#pragma once

#include <string>

#include "daemon/config.hpp"
#include "daemon/pins.hpp"
#include "ports/hsm.hpp"
#include "ports/metadata_store.hpp"
#include "services/principals.hpp"

namespace kms::daemon {

/// Creates the data directory (0700) and, for the embedded HSM, its softhsm2.conf and token
/// directory, and the PIN files (0600) when @p pins says to generate them (no PIN given, no
/// token yet), and points SOFTHSM2_CONF at it. Must run before the PKCS#11 module is loaded.
void prepare_embedded_hsm(const DaemonConfig& cfg, const PinPlan& pins);

/// Initializes the embedded token with the SO and user PINs of @p pins when it does not exist
/// yet. Returns true if it did. Throws kms::Error(InvalidArgument) when the SO PIN has no
/// source or a PIN is unreadable or not 4..255 bytes long (daemon/pins.hpp).
bool ensure_embedded_token(const DaemonConfig& cfg, const PinPlan& pins);

/// The internal CA: root (EC P-256 key as a key block under the master key, self-signed
/// certificate in the store) and issuing CA (core::ensure_issuing_ca), and kmsd's TLS
/// certificate, issued by the issuing CA, for the listen address, 127.0.0.1 and localhost
/// (recorded in the Certificates table). Writes DIR/tls/ca.pem (the root: what clients trust),
/// client-ca.pem (root + issuing: the server's client-certificate CAs), server.pem (leaf +
/// issuing) and server.key (0600). Re-issues the TLS certificate when missing, when it expires
/// within 30 days, when the listen address changed, or when the issuing CA did not sign it.
void ensure_tls(const DaemonConfig& cfg, core::MetadataStore& store, core::Hsm& hsm,
                const core::Clock& clock);

/// DIR/tls/client-ca.pem: the CA file for client-certificate verification (root + issuing).
std::string client_ca_pem(const DaemonConfig& cfg);

/// First administrator: creates "admin" and writes DIR/admin.token (0600). Only on first start.
void ensure_admin(const DaemonConfig& cfg, core::PrincipalService& principals);

}  // namespace kms::daemon
