// Routes: the internal CA (issue, list, read and revoke certificates; CRL and chain, which are
// public). Plugin policies live in routes_policies.cpp.
#include <chrono>

#include "api/api.hpp"
#include "api/json.hpp"
#include "crypto/x509.hpp"
#include "domain/error.hpp"

namespace kms::api {

namespace {

constexpr std::size_t kMaxCsrPem = 64 * 1024;

std::int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Poco::JSON::Object::Ptr certificate_json(const core::CertificateRecord& c, bool with_pem) {
    auto o = new_object();
    o->set("serial", c.serial);
    o->set("profile", std::string(core::cert_profile_name(c.profile)));
    o->set("subject", c.subject);
    if (!c.principal.empty()) o->set("principal", c.principal);
    o->set("notBefore", format_time(c.not_before_s * 1000));
    o->set("notAfter", format_time(c.not_after_s * 1000));
    o->set("status", std::string(core::certificate_status_name(c.status, c.not_after_s, now_s())));
    o->set("issuedAt", format_time(c.issued_ms));
    o->set("issuedBy", c.issued_by);
    if (c.status == core::CertificateStatus::Revoked) {
        o->set("revokedAt", format_time(c.revoked_ms));
        o->set("reason", std::string(core::revocation_reason_name(c.reason)));
        o->set("revokedBy", c.revoked_by);
    }
    if (with_pem) o->set("certificate", crypto::der_to_pem(c.der));
    return o;
}

std::optional<int> query_int(const Request& r, std::string_view name, int min, int max) {
    auto v = r.q(name);
    if (!v) return std::nullopt;
    try {
        std::size_t pos = 0;
        const long n = std::stol(*v, &pos);
        if (pos != v->size() || n < min || n > max) throw std::invalid_argument("range");
        return static_cast<int>(n);
    } catch (const std::exception&) {
        throw Error(ErrorCode::InvalidArgument, std::string(name) + ": must be an integer from " +
                                                    std::to_string(min) + " to " +
                                                    std::to_string(max));
    }
}

}  // namespace

void add_ca_routes(Router& router, ApiServices& s) {
    router.add("POST", "/v1/ca/certificates", "ca.certificate-issue", BodyPolicy::Required,
               [&s](Request& r) {
                   Body b(r.body, {"csr", "profile", "validityDays", "principal"});
                   core::IssueRequest req;
                   req.csr_pem = b.string("csr", kMaxCsrPem);
                   const std::string profile = b.string("profile", 32);
                   auto p = core::parse_cert_profile(profile);
                   if (!p)
                       throw Error(ErrorCode::InvalidArgument,
                                   "profile: one of server, client, secure-element");
                   req.profile = *p;
                   if (auto days = b.opt_int("validityDays", 1, 7305))
                       req.validity_days = static_cast<int>(*days);
                   req.principal = b.opt_string("principal", 64).value_or("");
                   const core::IssuedCertificate issued = s.ca.issue(*r.caller, req);
                   auto o = certificate_json(issued.record, true);
                   o->set("chain", issued.chain_pem);
                   return Reply{201, o};
               });

    router.add("GET", "/v1/ca/certificates", "ca.certificate-list", BodyPolicy::None,
               [&s](Request& r) {
                   core::CertificateFilter f;
                   if (auto st = r.q("status")) f.status = st->substr(0, 32);
                   f.expiring_within_days = query_int(r, "expiringWithinDays", 0, 36500);
                   if (auto pr = r.q("principal")) f.principal = pr->substr(0, 64);
                   Poco::JSON::Array::Ptr arr = new Poco::JSON::Array();
                   for (const auto& c : s.ca.list(*r.caller, f))
                       arr->add(certificate_json(c, false));
                   auto o = new_object();
                   o->set("certificates", arr);
                   return Reply{200, o};
               });

    router.add("GET", "/v1/ca/certificates/{serial}", "ca.certificate-get", BodyPolicy::None,
               [&s](Request& r) {
                   return Reply{200, certificate_json(s.ca.get(*r.caller, r.params[0]), true)};
               });

    router.add(
        "POST", "/v1/ca/certificates/{serial}/revoke", "ca.certificate-revoke",
        BodyPolicy::Required, [&s](Request& r) {
            Body b(r.body, {"reason"});
            const std::string reason = b.string("reason", 32);
            auto rr = core::parse_revocation_reason(reason);
            if (!rr)
                throw Error(
                    ErrorCode::InvalidArgument,
                    "reason: one of unspecified, keyCompromise, caCompromise, "
                    "affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn");
            return Reply{200, certificate_json(s.ca.revoke(*r.caller, r.params[0], *rr), false)};
        });

    router.add(
        "GET", "/v1/ca/crl", "ca.crl", BodyPolicy::None,
        [&s](Request& r) {
            const std::string format = r.q("format").value_or("der");
            if (format != "der" && format != "pem")
                throw Error(ErrorCode::InvalidArgument, "format: der or pem");
            const Bytes der = s.ca.crl_der();
            if (format == "pem")
                return Reply{200, crypto::der_to_pem(der, "X509 CRL"), "application/x-pem-file"};
            return Reply{200, std::string(der.begin(), der.end()), "application/pkix-crl"};
        },
        false);

    router.add(
        "GET", "/v1/ca/chain", "ca.chain", BodyPolicy::None,
        [&s](Request&) {
            return Reply{200, s.ca.chain_pem(), "application/pem-certificate-chain"};
        },
        false);
}

}  // namespace kms::api
