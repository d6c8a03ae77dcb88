// Offline verification of a backup archive (see backup_commands.hpp verify_backup): OpenSSL
// checks the certificate chain and the manifest's signature, Poco parses the manifest, and
// every file is measured against it.
#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>
#include <set>

#include "backup_commands.hpp"
#include "domain/error.hpp"
#include "exit_codes.hpp"
#include "local_files.hpp"

namespace kms::cli {

namespace {

template <typename T, void (*Free)(T*)>
struct Free_ {
    void operator()(T* p) const noexcept { Free(p); }
};
using X509Ptr = std::unique_ptr<X509, Free_<X509, X509_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Free_<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Free_<X509_STORE_CTX, X509_STORE_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, Free_<BIO, BIO_free_all>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Free_<EVP_MD_CTX, EVP_MD_CTX_free>>;
void free_chain(STACK_OF(X509) * s) {
    sk_X509_free(s);  // a macro: wrapped for the deleter
}
using ChainPtr = std::unique_ptr<STACK_OF(X509), Free_<STACK_OF(X509), free_chain>>;

CliError negative(const std::string& name, const std::string& what) {
    return CliError(ExitCode::VerifyNegative, name + ": " + what);
}

/// Every certificate of a PEM text (empty when there is none).
std::vector<X509Ptr> read_pem_certs(std::string_view pem) {
    std::vector<X509Ptr> out;
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return out;
    while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(c);
    ERR_clear_error();  // the read that ended the loop
    return out;
}

std::string subject_line(X509* cert) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_ONELINE);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

/// Seconds since the epoch of "YYYY-MM-DDTHH:MM:SS[.fff]Z", or -1.
std::int64_t parse_created(const std::string& text) {
    std::tm tm{};
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s) != 6)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return static_cast<std::int64_t>(::timegm(&tm));
}

/// signer -> issuing -> a certificate of @p roots, at @p at_s (Unix seconds).
void check_chain(const std::string& name, X509* signer, X509* issuing,
                 const std::vector<X509Ptr>& roots, std::int64_t at_s, const std::string& ca_file) {
    StorePtr store(X509_STORE_new());
    for (const auto& r : roots) X509_STORE_add_cert(store.get(), r.get());
    ChainPtr untrusted(sk_X509_new_null());
    sk_X509_push(untrusted.get(), issuing);
    StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!store || !untrusted || !ctx ||
        X509_STORE_CTX_init(ctx.get(), store.get(), signer, untrusted.get()) != 1)
        throw CliError(ExitCode::ServerError, "OpenSSL could not set up the chain check");
    // The chain is checked at the backup's creation time: an archive stays verifiable after
    // its signer certificate has expired. RFC 5280 §6.1.3 (a)(2) with that time as "now".
    X509_STORE_CTX_set_time(ctx.get(), 0, static_cast<time_t>(at_s));
    X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_X509_STRICT);
    if (X509_verify_cert(ctx.get()) != 1) {
        const int err = X509_STORE_CTX_get_error(ctx.get());
        ERR_clear_error();
        throw negative(name, "the signer certificate does not chain to the CA in " + ca_file +
                                 " (" + X509_verify_cert_error_string(err) +
                                 "): not a backup of this KMS, or a forged one");
    }
    if (X509_check_ca(signer) != 0)
        throw negative(name, "the signer certificate is a CA certificate");
    const std::uint32_t ku = X509_get_key_usage(signer);
    if (ku != KU_DIGITAL_SIGNATURE)
        throw negative(name, "the signer certificate's key usage is not digitalSignature alone");
}

void check_signature(const std::string& name, X509* signer, std::string_view manifest,
                     std::string_view sig) {
    EVP_PKEY* key = X509_get0_pubkey(signer);
    MdCtxPtr md(EVP_MD_CTX_new());
    const bool ok =
        key && md && EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
        EVP_DigestVerify(md.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                         reinterpret_cast<const unsigned char*>(manifest.data()),
                         manifest.size()) == 1;
    ERR_clear_error();
    if (!ok)
        throw negative(name,
                       "the manifest's signature does not verify (manifest.json or "
                       "manifest.sig was changed)");
}

}  // namespace

const crypto::ArchiveEntry* VerifiedBackup::find(std::string_view path) const {
    for (const auto& e : entries)
        if (e.path == path) return &e;
    return nullptr;
}

VerifiedBackup verify_backup(std::string_view archive, const std::string& name,
                             const std::string& ca_file) {
    const std::string ca_pem = read_text_file("--ca", ca_file, 1 << 20);
    const auto roots = read_pem_certs(ca_pem);
    if (roots.empty()) throw UsageError("--ca: no PEM certificate in " + ca_file);

    VerifiedBackup v;
    try {
        v.entries = crypto::read_tar(archive);
    } catch (const Error& e) {
        throw negative(name, std::string("not a readable backup archive: ") + e.what());
    }
    auto need = [&](std::string_view path) -> const std::string& {
        const auto* e = v.find(path);
        if (!e) throw negative(name, "the archive has no " + std::string(path));
        return e->data;
    };
    const std::string& manifest = need(crypto::kBackupManifest);
    const std::string& sig = need(crypto::kBackupSignature);
    auto signer = read_pem_certs(need(crypto::kBackupSignerCert));
    auto issuing = read_pem_certs(need(crypto::kBackupIssuingCert));
    if (signer.size() != 1 || issuing.size() != 1)
        throw negative(name, "signer.pem and issuing-ca.pem must hold one certificate each");

    Poco::JSON::Object::Ptr m;
    try {
        Poco::JSON::Parser parser;
        m = parser.parse(manifest).extract<Poco::JSON::Object::Ptr>();
    } catch (const std::exception&) {  // Poco::Exception included
        throw negative(name, "manifest.json is not a JSON object");
    }
    const std::string created = m->optValue<std::string>("createdAt", "");
    const std::int64_t created_s = parse_created(created);
    if (created_s < 0) throw negative(name, "manifest.json has no valid createdAt");

    check_chain(name, signer.front().get(), issuing.front().get(), roots, created_s, ca_file);
    check_signature(name, signer.front().get(), manifest, sig);

    // From here the manifest is authentic: check its contents and measure every file.
    if (m->optValue<std::string>("format", "") != crypto::kBackupFormat)
        throw negative(name, "manifest.json is not a kms-backup manifest");
    const int version = m->optValue<int>("formatVersion", 0);
    if (version != crypto::kBackupFormatVersion)
        throw negative(name, "backup format version " + std::to_string(version) +
                                 " is not the one this kmsctl reads (" +
                                 std::to_string(crypto::kBackupFormatVersion) +
                                 "): use the kmsctl of the kmsd that made it");
    const auto files = m->getArray("files");
    const auto keys = m->getArray("keys");
    if (!files || !keys) throw negative(name, "manifest.json lacks files or keys");
    std::set<std::string> listed;
    for (std::size_t i = 0; i < files->size(); ++i) {
        const auto f = files->getObject(static_cast<unsigned>(i));
        if (!f) throw negative(name, "manifest.json: a files entry is not an object");
        const std::string path = f->optValue<std::string>("path", "");
        const auto size = f->optValue<Poco::UInt64>("size", UINT64_MAX);
        const std::string sha = f->optValue<std::string>("sha256", "");
        if (!crypto::is_safe_archive_path(path) || path == crypto::kBackupManifest ||
            path == crypto::kBackupSignature || path == crypto::kBackupSignerCert ||
            path == crypto::kBackupIssuingCert || !listed.insert(path).second)
            throw negative(name, "manifest.json lists a bad or repeated path");
        const auto* e = v.find(path);
        if (!e) throw negative(name, path + " is listed in the manifest but missing");
        if (e->data.size() != size)
            throw negative(name, path + " has " + std::to_string(e->data.size()) +
                                     " bytes, the manifest says " + std::to_string(size));
        if (crypto::sha256_hex(e->data) != sha)
            throw negative(name, path + ": SHA-256 differs from the manifest (changed)");
    }
    for (const auto& e : v.entries)
        if (e.path != crypto::kBackupManifest && e.path != crypto::kBackupSignature &&
            e.path != crypto::kBackupSignerCert && e.path != crypto::kBackupIssuingCert &&
            !listed.count(e.path))
            throw negative(name, e.path + " is in the archive but not in the manifest");

    v.manifest = m;
    v.manifest_sha256 = crypto::sha256_hex(manifest);
    const auto hsm = m->getObject("hsm");
    v.hsm_kind = hsm ? hsm->optValue<std::string>("kind", "") : "";
    if (v.hsm_kind != "softhsm2-embedded" && v.hsm_kind != "pkcs11-vendor")
        throw negative(name, "manifest.json names an unknown HSM kind '" + v.hsm_kind + "'");
    v.created_at = created;
    v.signer = subject_line(signer.front().get());
    v.files = files->size();
    v.keys = keys->size();
    return v;
}

}  // namespace kms::cli
