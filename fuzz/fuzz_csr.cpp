// libFuzzer target: PKCS#10 certification requests as kmsd handles them (POST /v1/certificates
// and POST /v1/principals with "csr": crypto::pem_to_der then parse_certificate_request, which
// verifies the self-signature), and certificate_info on certificates. Input starting with
// "-----" is PEM text, anything else DER. Properties: the CN is 1..64 bytes, the SPKI is
// non-empty, and der_to_pem / pem_to_der round-trip.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "crypto/x509.hpp"
#include "fuzz_check.hpp"

using namespace kms;
using kms::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    Bytes der;
    if (text.starts_with("-----")) {
        bool ok = false;
        fuzz::refusing_only_with_error("pem_to_der", [&] {
            der = crypto::pem_to_der(text);
            ok = true;
        });
        if (!ok) return 0;
    } else {
        der.assign(data, data + size);
    }

    fuzz::refusing_only_with_error("parse_certificate_request", [&] {
        const crypto::CertificateRequest r = crypto::parse_certificate_request(der);
        check(!r.common_name.empty() && r.common_name.size() <= 64, "CSR CN out of 1..64 bytes");
        check(!r.spki_der.empty(), "CSR without a public key");
    });
    fuzz::refusing_only_with_error("certificate_info", [&] { crypto::certificate_info(der); });

    if (!der.empty()) {
        fuzz::refusing_only_with_error("der_to_pem", [&] {
            check(crypto::pem_to_der(crypto::der_to_pem(der, "CERTIFICATE REQUEST")) == der,
                  "pem_to_der(der_to_pem(der)) != der");
        });
    }
    return 0;
}
