// TLS certificate checks with OpenSSL (see tls_check.hpp).
#include "daemon/tls_check.hpp"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace kms::daemon {

namespace {
struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
X509Ptr parse(ByteView der) {
    const unsigned char* p = der.data();
    return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}
}  // namespace

bool certificate_valid_for(ByteView cert_der, ByteView ca_der, const std::string& host,
                           std::int64_t valid_at_s) {
    X509Ptr cert = parse(cert_der);
    X509Ptr ca = parse(ca_der);
    if (!cert || !ca) return false;
    EVP_PKEY* ca_key = X509_get0_pubkey(ca.get());
    if (ca_key == nullptr || X509_verify(cert.get(), ca_key) != 1) return false;
    time_t t = static_cast<time_t>(valid_at_s);
    if (X509_cmp_time(X509_get0_notAfter(cert.get()), &t) <= 0) return false;
    const bool ip = host.find_first_not_of("0123456789.") == std::string::npos ||
                    host.find(':') != std::string::npos;
    if (ip) return X509_check_ip_asc(cert.get(), host.c_str(), 0) == 1;
    return X509_check_host(cert.get(), host.c_str(), host.size(), 0, nullptr) == 1;
}

}  // namespace kms::daemon
