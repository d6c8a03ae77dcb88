// First start and every start: the embedded SoftHSM2 token, the internal CA and kmsd's TLS
// certificate, and the first administrator, each step idempotent so an interrupted first start
// simply runs again (API-CONTRACT.md "Starting kmsd").
#pragma once

#include <string>

#include "daemon/config.hpp"
#include "ports/hsm.hpp"
#include "ports/metadata_store.hpp"
#include "services/principals.hpp"

namespace kms::daemon {

/// Creates the data directory (0700) and, for the embedded HSM, its softhsm2.conf, token
/// directory and PIN files (0600), and points SOFTHSM2_CONF at it. Must run before the
/// PKCS#11 module is loaded.
void prepare_embedded_hsm(const DaemonConfig& cfg);

/// Initializes the embedded token when it does not exist yet. Returns true if it did.
bool ensure_embedded_token(const DaemonConfig& cfg);

/// The internal CA (EC P-256 key as a key block under the master key, self-signed certificate
/// in the store) and kmsd's TLS certificate for the listen address, 127.0.0.1 and localhost.
/// Writes DIR/tls/ca.pem, server.pem and server.key (0600). Re-issues the TLS certificate when
/// missing, when it expires within 30 days, or when the listen address changed.
void ensure_tls(const DaemonConfig& cfg, core::MetadataStore& store, core::Hsm& hsm,
                const core::Clock& clock);

/// First administrator: creates "admin" and writes DIR/admin.token (0600). Only on first start.
void ensure_admin(const DaemonConfig& cfg, core::PrincipalService& principals);

}  // namespace kms::daemon
