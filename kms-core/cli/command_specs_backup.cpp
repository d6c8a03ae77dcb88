// Command specs of kmsctl for signed backups: backup create (POST /v1/backups), backup verify
// and restore (both offline: OpenSSL in kmsctl, no PKCS#11, no network). They run in
// backup_commands.cpp.
#include "command_specs.hpp"

namespace kms::cli::specs {

std::vector<CommandSpec> backup_commands() {
    std::vector<CommandSpec> t;
    t.push_back(
        {CommandId::BackupCreate,
         "backup create",
         "",
         "Make a signed online backup of kmsd and write it to a file (admin)",
         "Calls POST /v1/backups while kmsd serves: a hot copy of the LMDB store, the embedded\n"
         "SoftHSM2 token directory (nothing of a vendor HSM), tls/ca.pem and client-ca.pem, and\n"
         "a manifest signed in the HSM by kms-backup-signer. Never in it: PIN files,\n"
         "admin.token, tls/server.key, any clear key. kmsctl checks the archive against the CA\n"
         "of the connection (--ca) before it writes FILE (mode 0600, through a temporary file\n"
         "renamed into place; FILE must not exist). Exit 7 when the archive does not verify.",
         {OptionSpec{"out", "FILE", "where to write the archive (must not exist)", true},
          OptionSpec{"label", "TEXT", "free text kept in the manifest and the audit record"}}});
    t.push_back(
        {CommandId::BackupVerify,
         "backup verify",
         "FILE",
         "Check a backup offline: signature, certificate chain, every file",
         "Needs --ca ROOT (the root CA certificate of the backed-up kmsd, its tls/ca.pem) and\n"
         "no server. Checks the chain signer -> issuing CA -> ROOT at the backup's creation\n"
         "time, the signer's key usage (digitalSignature only), the manifest's signature, and\n"
         "the size and SHA-256 of every file (none missing, none extra). Exit 0 when all hold,\n"
         "7 when something does not (the message says what), 1 when FILE or ROOT cannot be "
         "read.",
         {}});
    t.push_back(
        {CommandId::Restore,
         "restore",
         "FILE",
         "Restore a backup into a fresh data directory (kmsd stopped)",
         "Needs --ca ROOT and --data-dir NEW (missing or an empty folder; anything else is\n"
         "refused). Verifies FILE first (as 'backup verify'), then writes store/, tokens/,\n"
         "softhsm2.conf (for NEW's path), tls/ca.pem, tls/client-ca.pem and hsm.pin (0600, from\n"
         "--pin-file: the backed-up token's user PIN, kept offline by the officer) into a\n"
         "temporary sibling folder and renames it to NEW, so a failed restore leaves nothing\n"
         "half-written. Then start 'kmsd --data-dir NEW': it checks the master keys and\n"
         "re-issues its TLS certificate. No admin.token is written: every principal's token\n"
         "from the backup stays valid; use your own. A backup of a vendor HSM restores the store\n"
         "only (no --pin-file: the PIN goes in kmsd's configuration).",
         {OptionSpec{"pin-file", "FILE", "the token's user PIN (embedded SoftHSM2 backups)"}}});
    return t;
}

}  // namespace kms::cli::specs
