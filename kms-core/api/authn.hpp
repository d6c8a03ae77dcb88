// Client-certificate authentication (mTLS), the part that needs no socket: given what the
// client presented, decide who it is. authn.cpp reads the certificate from the TLS connection.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "domain/principal.hpp"
#include "services/certificate_authority.hpp"

namespace kms::api {

/// The parts of a presented client certificate the decision needs.
struct PresentedCertificate {
    std::string serial_hex;  ///< uppercase hex of the serial's magnitude (as the CA stores it)
    Bytes der;               ///< the whole certificate
    std::int64_t not_before_s = 0;
    std::int64_t not_after_s = 0;
};

using CertificateLookup =
    std::function<std::optional<core::CertificateRecord>(std::string_view serial_hex)>;
using PrincipalLookup = std::function<std::optional<core::Principal>(std::string_view name)>;

/// The principal bound to @p cert, or kms::Error(Unauthenticated) naming why not: outside its
/// validity at @p now_s (OpenSSL's chain check already refuses that; checked again here), a
/// serial the CA has no record of, a record whose certificate differs from the presented one
/// (so only certificates this KMS issued count), not a client certificate, bound to no
/// principal, revoked ("client certificate revoked"), unknown or disabled principal.
core::Principal principal_for_certificate(const PresentedCertificate& cert, std::int64_t now_s,
                                          const CertificateLookup& find_certificate,
                                          const PrincipalLookup& find_principal);

}  // namespace kms::api
