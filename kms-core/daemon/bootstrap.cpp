// First-start steps (see bootstrap.hpp).
#include "daemon/bootstrap.hpp"

#include <cstdlib>

#include "crypto/host_crypto.hpp"
#include "crypto/x509.hpp"
#include "daemon/files.hpp"
#include "daemon/tls_check.hpp"
#include "domain/error.hpp"
#include "domain/secure_bytes.hpp"
#include "pkcs11/pkcs11_hsm.hpp"
#include "services/certificate_authority.hpp"

namespace kms::daemon {

namespace {

/// Writes a fresh random PIN (24 bytes as hex; SoftHSM2 accepts 4 to 255 characters) to
/// @p path, mode 0600, and wipes every transient copy of it.
void write_new_pin(const std::string& path) {
    Bytes raw = crypto::random_bytes(24);
    std::string text = to_hex(raw) + "\n";
    secure_wipe(raw.data(), raw.size());
    write_file_atomic(path, text, 0600);
    secure_wipe(text.data(), text.size());
}

const char* const kCaCert = "ca/root/cert";
const char* const kCaBlock = "ca/root/block";
const char* const kCaSpki = "ca/root/spki";
const char* const kCaKeyId = "kms-ca-root";

std::string listen_host(const std::string& listen) {
    const auto colon = listen.rfind(':');
    std::string host = listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    return host;
}

bool is_ip(const std::string& host) {
    return !host.empty() && (host.find_first_not_of("0123456789.") == std::string::npos ||
                             host.find(':') != std::string::npos);
}

}  // namespace

void prepare_embedded_hsm(const DaemonConfig& cfg, const PinPlan& pins) {
    make_dirs(cfg.data_dir, 0700);
    if (!cfg.embedded_hsm()) return;
    make_dirs(cfg.token_dir(), 0700);
    if (!file_exists(cfg.softhsm_conf())) {
        write_file_atomic(
            cfg.softhsm_conf(),
            "# SoftHSM2 configuration of kmsd's embedded token (written at first start)\n"
            "directories.tokendir = " +
                cfg.token_dir() +
                "\n"
                "objectstore.backend = file\n"
                "log.level = ERROR\n"
                "slots.removable = false\n",
            0600);
    }
    if (pins.generate) {
        // Both PINs are written before the token exists, so a start interrupted in between
        // finds them and initializes the token with the same PINs.
        write_new_pin(cfg.so_pin_file());
        write_new_pin(cfg.user_pin_file());
    }
    ::setenv("SOFTHSM2_CONF", cfg.softhsm_conf().c_str(), 1);
}

bool ensure_embedded_token(const DaemonConfig& cfg, const PinPlan& pins) {
    if (!cfg.embedded_hsm()) return false;
    if (!pins.so)
        throw Error(ErrorCode::InvalidArgument,
                    std::string("the embedded token is initialized with the SO PIN: the "
                                "credential ") +
                        kSoPinCredential + " (or --so-pin-file) must come with " +
                        pins.user.description);
    const SecretString so = read_pin(*pins.so, true);
    const SecretString user = read_pin(pins.user, true);
    try {
        hsm::initialize_token(hsm::Pkcs11Config{}.module_path, cfg.token_label, so, user);
        return true;
    } catch (const Error& e) {
        if (e.code() == ErrorCode::Conflict) return false;  // the token exists already
        throw;
    }
}

void ensure_tls(const DaemonConfig& cfg, core::MetadataStore& store, core::Hsm& hsm,
                const core::Clock& clock) {
    make_dirs(cfg.tls_dir(), 0700);
    auto ca_cert = store.get_setting(kCaCert);
    auto ca_block = store.get_setting(kCaBlock);
    auto ca_spki = store.get_setting(kCaSpki);
    const core::UsageMask ca_usage =
        core::UsageMask().add(core::Usage::Sign).add(core::Usage::Verify);

    if (!ca_block || !ca_spki) {
        const core::GeneratedKey g =
            hsm.generate(core::KeySpec{kCaKeyId, 1, core::Algorithm::EcP256, ca_usage, false});
        store.write([&](core::WriteTxn& t) {
            t.put_setting(kCaBlock, g.block);
            t.put_setting(kCaSpki, g.public_key);
            t.delete_setting(kCaCert);
            t.append_audit(core::AuditEvent{"kmsd", "ca.key-create", kCaKeyId,
                                            core::AuditOutcome::Success,
                                            "EC-P256 root CA key generated in the HSM"});
        });
        ca_block = g.block;
        ca_spki = g.public_key;
        ca_cert.reset();
    }
    const core::KeyRef ca_ref{kCaKeyId, 1, core::Algorithm::EcP256, ca_usage, *ca_block, *ca_spki};
    const crypto::TbsSigner signer = [&](ByteView tbs) {
        return hsm.sign(ca_ref, core::SignAlgorithm::EcdsaSha256, tbs);
    };
    const std::int64_t now_s = clock.now_ms() / 1000;

    if (!ca_cert) {
        crypto::CertificateProfile p;
        p.common_name = "KMS Appliance Root CA";
        p.not_before_s = now_s - 300;
        p.not_after_s = now_s + 20LL * 365 * 86400;
        p.is_ca = true;
        p.path_len = 1;
        const Bytes der = crypto::issue_certificate(p, *ca_spki, {}, signer);
        if (!crypto::verify_certificate_signature(der, *ca_spki))
            throw Error(ErrorCode::Integrity,
                        "the HSM's signature on the CA certificate does not verify");
        store.write([&](core::WriteTxn& t) {
            t.put_setting(kCaCert, der);
            t.append_audit(core::AuditEvent{"kmsd", "ca.certificate", kCaKeyId,
                                            core::AuditOutcome::Success,
                                            "self-signed root CA certificate issued"});
        });
        ca_cert = der;
    }
    write_file_atomic(cfg.ca_pem(), crypto::der_to_pem(*ca_cert), 0644);

    // The issuing CA (signed by the root) issues every leaf, kmsd's TLS certificate included.
    const Bytes issuing_cert = core::ensure_issuing_ca(store, hsm, clock);
    const Bytes issuing_spki = crypto::certificate_spki(issuing_cert);
    // What the server trusts for client certificates: the whole hierarchy.
    write_file_atomic(client_ca_pem(cfg),
                      crypto::der_to_pem(*ca_cert) + crypto::der_to_pem(issuing_cert), 0644);

    // kmsd's TLS certificate: re-issued when missing, close to expiry, for another address,
    // or from another CA (e.g. one the root issued before the issuing CA existed).
    const std::string host = listen_host(cfg.listen);
    bool reissue = !file_exists(cfg.server_pem()) || !file_exists(cfg.server_key());
    if (!reissue) {
        const std::string marker = read_file(cfg.server_pem());
        reissue = !certificate_valid_for(crypto::pem_to_der(marker), issuing_cert, host,
                                         now_s + 30LL * 86400);
    }
    if (!reissue) return;
    crypto::HostKey key = crypto::generate_host_ec_p256_key();
    crypto::CertificateProfile p;
    p.common_name = "kmsd";
    p.not_before_s = now_s - 300;
    p.not_after_s = now_s + 397LL * 86400;  // CA/Browser Forum limit for server certificates
    p.server_auth = true;
    p.dns_names = {"localhost"};
    p.ip_addresses = {"127.0.0.1"};
    if (is_ip(host)) {
        if (host != "127.0.0.1") p.ip_addresses.push_back(host);
    } else if (host != "localhost") {
        p.dns_names.push_back(host);
    }
    const crypto::TbsSigner issuing_signer = [&](ByteView tbs) {
        return core::sign_with_issuing_ca(store, hsm, tbs);
    };
    const Bytes leaf = crypto::issue_certificate(p, key.spki_der, issuing_cert, issuing_signer);
    if (!crypto::verify_certificate_signature(leaf, issuing_spki))
        throw Error(ErrorCode::Integrity,
                    "the HSM's signature on the TLS certificate does not verify");
    // Recorded (and audited) before the files change, so every certificate in service is in
    // the Certificates table.
    core::record_own_certificate(store, clock, leaf);
    write_file_atomic(cfg.server_key(), key.private_key_pem, 0600);
    write_file_atomic(cfg.server_pem(), crypto::der_to_pem(leaf) + crypto::der_to_pem(issuing_cert),
                      0644);
    store.write([&](core::WriteTxn& t) {
        t.append_audit(core::AuditEvent{
            "kmsd", "tls.certificate", "kmsd", core::AuditOutcome::Success,
            "TLS server certificate issued for " + host + " by the issuing CA, serial " +
                crypto::certificate_info(leaf).serial_hex});
    });
}

std::string client_ca_pem(const DaemonConfig& cfg) {
    return cfg.tls_dir() + "/client-ca.pem";
}

void ensure_admin(const DaemonConfig& cfg, core::PrincipalService& principals) {
    core::IssuedPrincipal admin = principals.bootstrap_admin("admin");
    std::string content;
    content.reserve(admin.token.size() + 1);
    content.append(admin.token).push_back('\n');
    write_file_atomic(cfg.admin_token_file(), content, 0600);
    secure_wipe(content.data(), content.size());
    secure_wipe(admin.token.data(), admin.token.size());
}

}  // namespace kms::daemon
