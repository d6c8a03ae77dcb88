// Command specs of kmsctl for key distribution (export, import, ceremonies), dual control
// (quorums, approvals), the internal CA and plugin policies. The REST shapes they map to are in
// requests_issue3.cpp.
#include "command_specs.hpp"

// Appended to the description of every command kmsd may put under dual control.
#define KMSCTL_PENDING_NOTE                                                                    \
    "\nUnder dual control kmsd answers 202 instead: kmsctl prints the approval and exits 9;\n" \
    "once it is approved, the requester runs 'kmsctl approval execute ID'."

namespace kms::cli::specs {

namespace {

OptionSpec opt(std::string_view name, std::string_view value_name, std::string_view help,
               bool required = false, bool repeatable = false) {
    return OptionSpec{name, value_name, help, required, repeatable};
}

constexpr std::string_view kCeremonyAlgorithms = "AES-128 AES-192 AES-256 DES3-2K DES3-3K";
constexpr std::string_view kUsages =
    "encrypt decrypt mac sign verify wrap unwrap derive; repeat or separate with commas";
constexpr std::string_view kOperations =
    "key.export key.import key.destroy principal.create ceremony.create";
constexpr std::string_view kKeyAlgorithms =
    "AES-128 AES-192 AES-256 DES3-2K DES3-3K HMAC-SHA256 EC-P256 EC-P384 RSA-2048 RSA-3072";

}  // namespace

std::vector<CommandSpec> policy_commands() {
    std::vector<CommandSpec> t;
    t.push_back(
        {CommandId::PolicySet,
         "policy set",
         "NAME",
         "Set the keys and operations a plugin principal may use (admin)",
         "Calls PUT /v1/principals/{name}/policy, replacing the principal's policy. A key is a\n"
         "key id (k-...) or a name pattern ending in '*' (e.g. 'tsm-*'). A plugin principal\n"
         "without a policy may do nothing with keys; officers are not restricted by policies.",
         {opt("keys", "K[,K..]",
              "key ids or name patterns; repeat or separate with commas (not --key: that is "
              "the global mTLS key option)",
              true, true),
          opt("operation", "OP",
              "encrypt decrypt mac mac-verify sign verify random read gp; repeat or separate "
              "with commas",
              true, true)}});
    t.push_back({CommandId::PolicyShow,
                 "policy show",
                 "NAME",
                 "Show a principal's plugin policy",
                 "Calls GET /v1/principals/{name}/policy.",
                 {}});
    return t;
}

std::vector<CommandSpec> key_distribution_commands() {
    std::vector<CommandSpec> t;
    t.push_back(
        {CommandId::KeyExport,
         "key export",
         "ID",
         "Export an exportable key wrapped under a trusted KEK",
         "Calls POST /v1/keys/{id}/export. The key must be exportable and Active (or\n"
         "Deactivated); the KEK must be trusted, Active and have usage wrap (make one with\n"
         "'kmsctl key create NAME --algorithm AES-256 --usage wrap,unwrap --trusted'). AES-KW\n"
         "(RFC 3394), AES-KWP (RFC 5649) and TR-31 version D take an AES KEK; TR-31 version B a\n"
         "DES3 KEK; RSA-OAEP-SHA256 an RSA key, e.g. a recipient's public key imported with\n"
         "'key import --format SPKI'. Prints the key's KCV and the wrapped key (hex) or the TR-31\n"
         "key block; with --out the wrapped key or key block goes to FILE (created, mode 0600,\n"
         "must not exist) instead." KMSCTL_PENDING_NOTE,
         {opt("format", "F", "AES-KW AES-KWP RSA-OAEP-SHA256 TR-31", true),
          opt("kek", "ID", "the key-encryption key (trusted, usage wrap)", true),
          opt("tr31-version", "V", "TR-31 only: D (AES KEK, the default) or B (DES3 KEK)"),
          opt("tr31-exportability", "E",
              "TR-31 only: N non-exportable, E exportable under a trusted key, S sensitive"),
          opt("out", "FILE", "write the wrapped key (hex) or the key block to FILE")}});
    t.push_back(
        {CommandId::KeyImport,
         "key import",
         "NAME",
         "Import a wrapped key, a TR-31 key block or a public key",
         "Calls POST /v1/keys/import. Give the material once: --wrapped for AES-KW, AES-KWP and\n"
         "RSA-OAEP-SHA256; --key-block or --key-block-file for TR-31; --public-key-file for SPKI\n"
         "(an RSA or EC public key, usage verify and/or wrap, e.g. a recipient's key for\n"
         "RSA-OAEP export). Every format but SPKI needs --kek, a key with usage unwrap. With\n"
         "--kcv kmsd compares the imported key's check value and refuses a mismatch. A TR-31\n"
         "block whose header contradicts --algorithm, --usage or --exportable is "
         "refused." KMSCTL_PENDING_NOTE,
         {opt("algorithm", "ALG", kKeyAlgorithms, true),
          opt("usage", "U[,U..]", kUsages, true, true),
          opt("format", "F", "AES-KW AES-KWP RSA-OAEP-SHA256 TR-31 SPKI", true),
          opt("kek", "ID", "the unwrapping key (usage unwrap); not for SPKI"),
          opt("wrapped", "HEX", "the wrapped key (AES-KW, AES-KWP, RSA-OAEP-SHA256)"),
          opt("key-block", "TEXT", "the TR-31 key block"),
          opt("key-block-file", "FILE", "file holding the TR-31 key block"),
          opt("public-key-file", "PEM", "file holding the public key, PEM (SPKI)"),
          opt("kcv", "HEX", "expected key check value, 3 bytes"),
          opt("exportable", "", "allow wrapped export of the imported key"),
          opt("trusted", "",
              "mark the key as a trusted KEK (usage wrap and/or unwrap, and optionally derive)"),
          opt("pre-active", "", "leave the key PreActive (activate it later)")}});
    return t;
}

std::vector<CommandSpec> ceremony_commands() {
    std::vector<CommandSpec> t;
    t.push_back(
        {CommandId::CeremonyCreate,
         "ceremony create",
         "NAME",
         "Open a key ceremony: custodians enter components that kmsd XORs",
         "Calls POST /v1/ceremonies. Each of the --components custodians then enters one\n"
         "component with 'kmsctl ceremony component'; after the last one the XOR of the\n"
         "components becomes a normal Active key named NAME. Components live only in kmsd's\n"
         "locked memory: a kmsd restart interrupts the ceremony (state interrupted) and it must\n"
         "be started again. Past its expiry the ceremony reads expired and refuses components\n"
         "(exit 8)." KMSCTL_PENDING_NOTE,
         {opt("algorithm", "ALG", kCeremonyAlgorithms, true),
          opt("usage", "U[,U..]", kUsages, true, true),
          opt("components", "N", "number of custodians, 2 or 3", true),
          opt("kcv", "HEX", "expected KCV of the assembled key, 3 bytes; a mismatch fails it"),
          opt("exportable", "", "allow wrapped export of the assembled key"),
          opt("trusted", "",
              "the assembled key is a trusted KEK (usage wrap and/or unwrap, and optionally "
              "derive: a GlobalPlatform DEK or KMC)"),
          opt("expires-in", "SECONDS", "time for all components, 60 to 86400 (default 3600)")}});
    t.push_back(
        {CommandId::CeremonyComponent,
         "ceremony component",
         "ID",
         "Enter one key component (custodian)",
         "Calls POST /v1/ceremonies/{id}/components. The component is 16, 24 or 32 bytes "
         "(AES-128,\n"
         "-192, -256) or 16 or 24 bytes (DES3-2K, -3K), as hex. Give it with --component-file\n"
         "(a file holding the hex; kmsctl wipes its copy after sending, the file is left as it\n"
         "is), or leave both options out on a terminal to be asked for it without echo. Avoid\n"
         "--component: command lines are visible to other users (ps). kmsctl never prints the\n"
         "component. --kcv is the component's own check value (AES: CMAC of zeros, DES3: ECB of\n"
         "zeros, first 3 bytes); kmsd refuses a component that does not match it. The last\n"
         "component completes the ceremony and prints the new key.",
         {opt("component", "HEX", "the component (visible in the process list; prefer a file)"),
          opt("component-file", "FILE", "file holding the component as hex"),
          opt("kcv", "HEX", "the component's KCV, 3 bytes", true)}});
    t.push_back({CommandId::CeremonyShow,
                 "ceremony show",
                 "ID",
                 "Show a ceremony: state, components received, custodians, key",
                 "Calls GET /v1/ceremonies/{id}. States: open, completed (with the key id),\n"
                 "cancelled, expired, interrupted (kmsd restarted), failed (KCV mismatch).",
                 {}});
    t.push_back({CommandId::CeremonyList,
                 "ceremony list",
                 "",
                 "List key ceremonies",
                 "Calls GET /v1/ceremonies.",
                 {}});
    t.push_back({CommandId::CeremonyCancel,
                 "ceremony cancel",
                 "ID",
                 "Cancel an open ceremony and wipe its partial key (key-officer)",
                 "Calls DELETE /v1/ceremonies/{id}.",
                 {}});
    return t;
}

std::vector<CommandSpec> dual_control_commands() {
    std::vector<CommandSpec> t;
    t.push_back(
        {CommandId::QuorumSet,
         "quorum set",
         "OP",
         "Put an operation under dual control: M approvals needed (admin)",
         "Calls PUT /v1/quorums/{operation}. OP is one of key.export, key.import, key.destroy,\n"
         "principal.create, ceremony.create. M may not exceed the number of enabled principals\n"
         "holding an approver role. When OP already has a quorum, changing it is itself a request\n"
         "under that quorum (exit 9 with the approval to vote on).",
         {opt("approvals", "M", "approvals needed, 1 to 9", true),
          opt("approver-role", "ROLE",
              "role allowed to approve; repeat or separate with commas (default: admin and "
              "key-officer)",
              false, true),
          opt("ttl", "SECONDS",
              "how long a request waits for votes, 60 to 604800 (default 86400)")}});
    t.push_back({CommandId::QuorumList,
                 "quorum list",
                 "",
                 "List the operations under dual control",
                 "Calls GET /v1/quorums. Operations not listed run at once.",
                 {}});
    t.push_back({CommandId::QuorumDelete,
                 "quorum delete",
                 "OP",
                 "Take an operation out of dual control (admin; needs approval)",
                 "Calls DELETE /v1/quorums/{operation}. This is itself a request under the quorum\n"
                 "being removed: expect exit 9 and an approval to vote on.",
                 {}});
    t.push_back(
        {CommandId::ApprovalList,
         "approval list",
         "",
         "List dual-control requests",
         "Calls GET /v1/approvals.",
         {opt("state", "S", "pending approved rejected expired executing executed failed")}});
    t.push_back({CommandId::ApprovalShow,
                 "approval show",
                 "ID",
                 "Show a request: operation, summary, votes, expiry",
                 "Calls GET /v1/approvals/{id}.",
                 {}});
    t.push_back(
        {CommandId::ApprovalApprove,
         "approval approve",
         "ID",
         "Approve another principal's request",
         "Calls POST /v1/approvals/{id}/approve. The approver holds an approver role, is not\n"
         "the requester and votes once; M approvals make the request approved. An expired\n"
         "request exits 8.",
         {opt("comment", "TEXT", "recorded with the vote")}});
    t.push_back({CommandId::ApprovalReject,
                 "approval reject",
                 "ID",
                 "Reject another principal's request (one rejection ends it)",
                 "Calls POST /v1/approvals/{id}/reject.",
                 {opt("comment", "TEXT", "recorded with the vote")}});
    t.push_back(
        {CommandId::ApprovalExecute,
         "approval execute",
         "ID",
         "Run an approved request (the requester only, once)",
         "Calls POST /v1/approvals/{id}/execute, which runs the stored request and answers as\n"
         "that operation would (a new key, an exported key, a new principal with its token).\n"
         "--token-out and --out work as for 'principal create' and 'key export'. An expired\n"
         "request exits 8.",
         {opt("token-out", "FILE",
              "principal.create: write the new token to FILE (created, mode 0600)"),
          opt("out", "FILE",
              "key.export: write the wrapped key or key block to FILE (created, mode 0600)")}});
    return t;
}

std::vector<CommandSpec> ca_commands() {
    std::vector<CommandSpec> t;
    t.push_back(
        {CommandId::CaIssue,
         "ca issue",
         "",
         "Issue a certificate from a PKCS#10 CSR (key-officer)",
         "Calls POST /v1/ca/certificates. The CSR's signature must verify; keys EC P-256, P-384\n"
         "or RSA >= 2048. Profiles: server (serverAuth, SANs from the CSR, at most 397 days),\n"
         "client (clientAuth, at most 825 days, optionally bound to --principal for mTLS),\n"
         "secure-element (digitalSignature and keyAgreement, at most 7305 days). Without --out\n"
         "the certificate is printed. --out FILE writes the certificate (PEM) and --chain-out "
         "FILE\n"
         "the chain (issuing CA, then root; PEM); each file is created new and must not exist.",
         {opt("csr-file", "FILE", "the certificate signing request, PEM", true),
          opt("profile", "P", "server client secure-element", true),
          opt("validity-days", "N", "validity (default: the profile's maximum)"),
          opt("principal", "NAME", "client profile: bind the certificate to this principal"),
          opt("out", "FILE", "write the certificate (PEM) to FILE"),
          opt("chain-out", "FILE", "write the chain (issuing CA + root, PEM) to FILE")}});
    t.push_back({CommandId::CaList,
                 "ca list",
                 "",
                 "List issued certificates",
                 "Calls GET /v1/ca/certificates.",
                 {opt("status", "S", "valid revoked expired"),
                  opt("expiring-within-days", "N", "only valid ones that expire within N days"),
                  opt("principal", "NAME", "only certificates bound to this principal")}});
    t.push_back({CommandId::CaShow,
                 "ca show",
                 "SERIAL",
                 "Show a certificate with its PEM",
                 "Calls GET /v1/ca/certificates/{serial}. SERIAL is hex.",
                 {}});
    t.push_back(
        {CommandId::CaRevoke,
         "ca revoke",
         "SERIAL",
         "Revoke a certificate and publish a new CRL (key-officer)",
         "Calls POST /v1/ca/certificates/{serial}/revoke. A client certificate bound to a\n"
         "principal stops authenticating at once.",
         {opt("reason", "R",
              "keyCompromise caCompromise cessationOfOperation superseded affiliationChanged "
              "privilegeWithdrawn unspecified",
              true)}});
    t.push_back(
        {CommandId::CaCrl,
         "ca crl",
         "",
         "Fetch the current CRL (no token needed)",
         "Calls GET /v1/ca/crl. The CRL is DER unless --pem is given; DER is binary, so it needs\n"
         "--out. With --pem and no --out the PEM is printed. --json does not apply.",
         {opt("pem", "", "PEM instead of DER"),
          opt("out", "FILE", "write the CRL to FILE (created new, must not exist)")},
         false});
    t.push_back({CommandId::CaChain,
                 "ca chain",
                 "",
                 "Print the CA chain: issuing CA, then root, PEM (no token needed)",
                 "Calls GET /v1/ca/chain. Clients trust the root (kmsd's DIR/tls/ca.pem).\n"
                 "--json does not apply.",
                 {opt("out", "FILE", "write the chain to FILE (created new, must not exist)")},
                 false});
    return t;
}

}  // namespace kms::cli::specs
