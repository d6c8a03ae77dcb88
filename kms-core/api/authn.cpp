// Request authentication: a bearer token (officers, and plugins that use one, or a session token
// from POST /v1/sessions) or, without an
// Authorization header, the TLS client certificate (plugins: mTLS with a certificate issued by
// the KMS CA, bound to a principal, not revoked).
#include "api/authn.hpp"

#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/X509Certificate.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include <ctime>

#include "api/api.hpp"
#include "domain/error.hpp"

namespace kms::api {

namespace {

[[noreturn]] void unauthenticated(const std::string& message) {
    throw Error(ErrorCode::Unauthenticated, message);
}

std::int64_t epoch_seconds(const ASN1_TIME* t) {
    std::tm tm{};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1)
        unauthenticated("client certificate: unreadable validity dates");
    return static_cast<std::int64_t>(::timegm(&tm));
}

/// What the client presented on this connection, or nullopt when it presented nothing.
/// The TLS layer (Context::VERIFY_RELAXED with the KMS CA file) has already refused a
/// certificate that does not chain to the KMS CA or is outside its validity.
std::optional<PresentedCertificate> presented_certificate(const Poco::Net::HTTPServerRequest& req) {
    // Poco 1.11 exposes the connection only on the implementation class; socket() is not const
    // but only reads here.
    const auto* impl = dynamic_cast<const Poco::Net::HTTPServerRequestImpl*>(&req);
    if (impl == nullptr || !req.secure()) return std::nullopt;
    std::optional<Poco::Net::X509Certificate> cert;
    try {
        Poco::Net::SecureStreamSocket socket(
            const_cast<Poco::Net::HTTPServerRequestImpl*>(impl)->socket());
        if (!socket.havePeerCertificate()) return std::nullopt;
        cert.emplace(socket.peerCertificate());
    } catch (const Poco::Exception&) {
        return std::nullopt;  // not a TLS socket: no certificate
    }
    const X509* x = cert->certificate();
    PresentedCertificate out;
    {
        BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr);
        char* hex = bn != nullptr ? BN_bn2hex(bn) : nullptr;
        BN_free(bn);
        if (hex == nullptr) unauthenticated("client certificate: unreadable serial number");
        out.serial_hex = hex;  // BN_bn2hex: upper case, no leading zero bytes
        OPENSSL_free(hex);
    }
    unsigned char* der = nullptr;
    const int len = i2d_X509(const_cast<X509*>(x), &der);
    if (len <= 0) unauthenticated("client certificate: cannot be encoded");
    out.der.assign(der, der + len);
    OPENSSL_free(der);
    out.not_before_s = epoch_seconds(X509_get0_notBefore(x));
    out.not_after_s = epoch_seconds(X509_get0_notAfter(x));
    return out;
}

}  // namespace

core::Principal principal_for_certificate(const PresentedCertificate& cert, std::int64_t now_s,
                                          const CertificateLookup& find_certificate,
                                          const PrincipalLookup& find_principal) {
    const std::string& serial = cert.serial_hex;
    if (now_s < cert.not_before_s)
        unauthenticated("client certificate " + serial + " is not valid yet");
    if (now_s >= cert.not_after_s) unauthenticated("client certificate " + serial + " expired");
    const auto rec = find_certificate(serial);
    // Same serial is not enough: the stored certificate must be the one presented, so only a
    // certificate this KMS issued (and recorded) authenticates anyone.
    if (!rec || rec->der != cert.der)
        unauthenticated("client certificate " + serial + " was not issued by this KMS");
    if (rec->status == core::CertificateStatus::Revoked)
        unauthenticated("client certificate revoked (serial " + serial + ")");
    if (now_s >= rec->not_after_s || now_s < rec->not_before_s)
        unauthenticated("client certificate " + serial + " is outside its validity");
    if (rec->profile != core::CertProfile::Client)
        unauthenticated("certificate " + serial + " is not a client certificate");
    if (rec->principal.empty())
        unauthenticated("client certificate " + serial + " is not bound to a principal");
    auto p = find_principal(rec->principal);
    if (!p)
        unauthenticated("client certificate " + serial + ": principal '" + rec->principal +
                        "' does not exist");
    if (p->disabled) unauthenticated("principal '" + p->name + "' is disabled");
    return *p;
}

core::Principal authenticate_request(const Poco::Net::HTTPServerRequest& req,
                                     ApiServices& services) {
    const std::string auth = req.get("Authorization", "");
    if (auth.empty()) {
        const auto cert = presented_certificate(req);
        if (!cert)
            unauthenticated(
                "an Authorization: Bearer token or a client certificate from the KMS CA is "
                "required");
        return principal_for_certificate(
            *cert, static_cast<std::int64_t>(std::time(nullptr)),
            [&](std::string_view serial) { return services.ca.find(serial); },
            [&](std::string_view name) { return services.principals.find(name); });
    }
    constexpr std::string_view kBearer = "Bearer ";
    if (auth.size() <= kBearer.size() || auth.compare(0, kBearer.size(), kBearer) != 0)
        unauthenticated("an Authorization: Bearer token is required");
    const std::string_view bearer = std::string_view(auth).substr(kBearer.size());
    if (core::SessionService::is_session_token(bearer)) {
        if (services.sessions == nullptr)
            unauthenticated("sessions are not enabled on this server");
        return services.sessions->authenticate(bearer);
    }
    auto p = services.principals.authenticate(bearer);
    if (!p) unauthenticated(services.principals.refusal_reason(bearer));
    return *p;
}

}  // namespace kms::api
