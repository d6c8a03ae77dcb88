// The command table of kmsctl and the help texts generated from it.
#include "command_table.hpp"

#include <algorithm>
#include <sstream>

#include "command_specs.hpp"
#include "exit_codes.hpp"

namespace kms::cli {

namespace {

constexpr std::string_view kKeyAlgorithms =
    "AES-128 AES-192 AES-256 DES3-2K DES3-3K HMAC-SHA256 EC-P256 EC-P384 RSA-2048 RSA-3072";
constexpr std::string_view kCipherModes = "AES-GCM AES-CBC-PAD AES-CBC DES3-CBC-PAD DES3-CBC";
constexpr std::string_view kMacAlgorithms = "AES-CMAC DES3-RETAIL HMAC-SHA256";
constexpr std::string_view kSignAlgorithms =
    "ECDSA-SHA256 ECDSA-SHA384 RSA-PSS-SHA256 RSA-PKCS1-SHA256";

OptionSpec opt(std::string_view name, std::string_view value_name, std::string_view help,
               bool required = false, bool repeatable = false) {
    return OptionSpec{name, value_name, help, required, repeatable};
}

OptionSpec reason_text() {
    return opt("reason", "TEXT", "reason recorded in the key's history");
}
OptionSpec version_opt() {
    return opt("version", "N", "key version to use (default: the current version)");
}

std::vector<CommandSpec> build_table() {
    std::vector<CommandSpec> t;
    t.push_back({CommandId::Health,
                 "health",
                 "",
                 "Check that kmsd, its HSM and its store are usable",
                 "Calls GET /healthz, which needs no token. Exits 0 when everything is \"ok\", 5\n"
                 "when kmsd answers 503 (some part \"unavailable\"), 6 when it cannot be reached.",
                 {},
                 false});
    t.push_back({CommandId::OpenApi,
                 "openapi",
                 "",
                 "Print kmsd's OpenAPI 3.0 document",
                 "Calls GET /v1/openapi.json (no token needed) and prints the document.",
                 {},
                 false});
    t.push_back({CommandId::Whoami,
                 "whoami",
                 "",
                 "Show the calling principal and its roles",
                 "Calls GET /v1/whoami.",
                 {}});

    t.push_back(
        {CommandId::PrincipalCreate,
         "principal create",
         "NAME",
         "Create an officer or plugin principal and its bearer token (admin)",
         "Calls POST /v1/principals. NAME is 1 to 64 of [a-z0-9._-]. The new principal's\n"
         "token is shown once: kmsd keeps only its hash. With --token-out it is written to\n"
         "a new file (mode 0600) instead of being printed. With --csr-file kmsd also issues a\n"
         "client certificate for mTLS (the CSR's CN must be NAME), bound to the principal;\n"
         "--cert-out writes it to a new file. With --key-out instead of --csr-file kmsctl makes\n"
         "the key and CSR itself and writes the key (a KMIP client's or a plugin's, "
         "docs/kmip.md).\n"
         "Under dual control (principal.create) kmsd answers 202: kmsctl prints the approval and\n"
         "exits 9; once approved, run 'kmsctl approval execute ID --token-out FILE'.",
         {opt("role", "ROLE",
              "admin, key-officer, custodian, auditor, plugin or monitor (reads /metrics only); "
              "repeat or separate with commas",
              true, true),
          opt("token-out", "FILE", "write the new token to FILE (created, mode 0600)"),
          opt("csr-file", "FILE", "PKCS#10 CSR, PEM: also issue a client certificate"),
          opt("key-out", "FILE",
              "instead of --csr-file: make a P-256 key and its CSR here, write the key to FILE "
              "(created, mode 0600); needs --cert-out"),
          opt("cert-out", "FILE", "write the issued certificate (PEM) to FILE")}});
    t.push_back({CommandId::PrincipalList,
                 "principal list",
                 "",
                 "List principals (admin)",
                 "Calls GET /v1/principals.",
                 {}});
    t.push_back({CommandId::PrincipalDisable,
                 "principal disable",
                 "NAME",
                 "Disable a principal: its token, certificate and sessions stop working (admin)",
                 "Calls POST /v1/principals/{name}/disable. From its next request on the\n"
                 "principal is refused (401); 'principal enable' undoes it. A principal cannot\n"
                 "disable itself.",
                 {}});
    t.push_back({CommandId::PrincipalEnable,
                 "principal enable",
                 "NAME",
                 "Enable a disabled principal again (admin)",
                 "Calls POST /v1/principals/{name}/enable.",
                 {}});
    for (auto& c : specs::policy_commands()) t.push_back(std::move(c));

    t.push_back({CommandId::KeyCreate,
                 "key create",
                 "NAME",
                 "Generate a key inside the HSM",
                 "Calls POST /v1/keys. The key is Active at once unless --pre-active is given.",
                 {opt("algorithm", "ALG", kKeyAlgorithms, true),
                  opt("usage", "U[,U..]",
                      "encrypt decrypt mac sign verify wrap unwrap derive; repeat or separate "
                      "with commas",
                      true, true),
                  opt("pre-active", "", "leave the key PreActive (activate it later)"),
                  opt("exportable", "", "allow wrapped export of the key"),
                  opt("trusted", "",
                      "a trusted KEK: may wrap keys for export (usage wrap and/or unwrap, plus "
                      "derive for a GlobalPlatform DEK or KMC; admin or key-officer)")}});
    t.push_back(
        {CommandId::KeyList,
         "key list",
         "",
         "List keys, optionally filtered",
         "Calls GET /v1/keys. One page (at most --limit keys) unless --all is given, which\n"
         "follows the server's cursor to the end.",
         {opt("name-prefix", "P", "only keys whose name starts with P"),
          opt("state", "S",
              "PreActive Active Suspended Deactivated Compromised Destroyed "
              "DestroyedCompromised"),
          opt("algorithm", "ALG", kKeyAlgorithms),
          opt("usage", "U",
              "only keys whose usage includes U (encrypt decrypt mac sign verify wrap "
              "unwrap derive)"),
          opt("limit", "N", "page size, 1 to 1000 (server default 100)"),
          opt("after", "ID", "start after the key with this id (the previous page's next)"),
          opt("all", "", "fetch every page")}});
    t.push_back({CommandId::KeyShow,
                 "key show",
                 "ID",
                 "Show a key: versions, KCVs, counters and history",
                 "Calls GET /v1/keys/{id}.",
                 {}});
    t.push_back({CommandId::KeyRotate,
                 "key rotate",
                 "ID",
                 "Add a new version to a key",
                 "Calls POST /v1/keys/{id}/rotate. New work uses the new version; older versions\n"
                 "still decrypt and verify.",
                 {}});
    t.push_back({CommandId::KeyActivate,
                 "key activate",
                 "ID",
                 "PreActive -> Active",
                 "Calls POST /v1/keys/{id}/activate.",
                 {reason_text()}});
    t.push_back({CommandId::KeySuspend,
                 "key suspend",
                 "ID",
                 "Active -> Suspended",
                 "Calls POST /v1/keys/{id}/suspend.",
                 {reason_text()}});
    t.push_back({CommandId::KeyResume,
                 "key resume",
                 "ID",
                 "Suspended -> Active",
                 "Calls POST /v1/keys/{id}/resume.",
                 {reason_text()}});
    t.push_back({CommandId::KeyDeactivate,
                 "key deactivate",
                 "ID",
                 "Active or Suspended -> Deactivated",
                 "Calls POST /v1/keys/{id}/deactivate. A deactivated key still decrypts and\n"
                 "verifies, and can then be destroyed.",
                 {reason_text()}});
    t.push_back(
        {CommandId::KeyRevoke,
         "key revoke",
         "ID",
         "Revoke a key (Compromised or Deactivated)",
         "Calls POST /v1/keys/{id}/revoke. keyCompromise and caCompromise move the key to\n"
         "Compromised; the other reasons to Deactivated.",
         {opt("reason", "R",
              "keyCompromise caCompromise cessationOfOperation superseded affiliationChanged "
              "privilegeWithdrawn unspecified",
              true),
          opt("compromise-date", "TIME", "RFC 3339 time, e.g. 2026-11-26T07:30:00Z"),
          opt("message", "TEXT", "free text recorded with the revocation")}});
    t.push_back(
        {CommandId::KeyDestroy,
         "key destroy",
         "ID",
         "Destroy a key's material, keeping a tombstone",
         "Calls DELETE /v1/keys/{id}. Asks for confirmation, naming the key, unless --yes\n"
         "is given; without a terminal on stdin it refuses unless --yes is given. An Active\n"
         "key must be deactivated or revoked first. Under dual control (key.destroy) kmsd\n"
         "answers 202: kmsctl prints the approval and exits 9.",
         {reason_text(), opt("yes", "", "do not ask for confirmation")}});
    for (auto& c : specs::key_distribution_commands()) t.push_back(std::move(c));
    for (auto& c : specs::ceremony_commands()) t.push_back(std::move(c));

    t.push_back({CommandId::Encrypt,
                 "encrypt",
                 "ID",
                 "Encrypt hex data with a key",
                 "Calls POST /v1/keys/{id}/encrypt. Without --iv the HSM draws one; it is printed\n"
                 "with the ciphertext. AES-GCM appends the 16-byte tag to the ciphertext.",
                 {opt("algorithm", "MODE", kCipherModes, true),
                  opt("plaintext", "HEX", "data to encrypt", true),
                  opt("iv", "HEX", "IV: 12 bytes for AES-GCM, 16 for AES-CBC, 8 for DES3-CBC"),
                  opt("aad", "HEX", "additional authenticated data (AES-GCM only)")}});
    t.push_back(
        {CommandId::Decrypt,
         "decrypt",
         "ID",
         "Decrypt hex data with a key",
         "Calls POST /v1/keys/{id}/decrypt.",
         {opt("algorithm", "MODE", kCipherModes, true),
          opt("ciphertext", "HEX", "data to decrypt (AES-GCM: with the tag)", true),
          opt("iv", "HEX", "the IV used to encrypt", true),
          opt("aad", "HEX", "additional authenticated data (AES-GCM only)"), version_opt()}});
    t.push_back({CommandId::Mac,
                 "mac",
                 "ID",
                 "Compute a MAC over hex data",
                 "Calls POST /v1/keys/{id}/mac. DES3-RETAIL is ISO/IEC 9797-1 MAC algorithm 3\n"
                 "with padding method 2.",
                 {opt("algorithm", "ALG", kMacAlgorithms, true),
                  opt("data", "HEX", "data to authenticate", true)}});
    t.push_back({CommandId::MacVerify,
                 "mac-verify",
                 "ID",
                 "Verify a MAC (exit 7 when it does not match)",
                 "Calls POST /v1/keys/{id}/mac/verify. Exits 0 when the MAC is valid, 7 when not.",
                 {opt("algorithm", "ALG", kMacAlgorithms, true),
                  opt("data", "HEX", "the authenticated data", true),
                  opt("mac", "HEX", "the MAC to check", true), version_opt()}});
    t.push_back({CommandId::Sign,
                 "sign",
                 "ID",
                 "Sign hex data with an EC or RSA key",
                 "Calls POST /v1/keys/{id}/sign. ECDSA signatures are raw r||s.",
                 {opt("algorithm", "ALG", kSignAlgorithms, true),
                  opt("data", "HEX", "data to sign (hashed by the HSM)", true)}});
    t.push_back(
        {CommandId::Verify,
         "verify",
         "ID",
         "Verify a signature (exit 7 when it does not verify)",
         "Calls POST /v1/keys/{id}/verify. Exits 0 when the signature is valid, 7 when not.",
         {opt("algorithm", "ALG", kSignAlgorithms, true),
          opt("data", "HEX", "the signed data", true),
          opt("signature", "HEX", "the signature (ECDSA: raw r||s)", true), version_opt()}});
    t.push_back({CommandId::Random,
                 "random",
                 "N",
                 "Draw N random bytes (1 to 4096) from the HSM",
                 "Calls POST /v1/random and prints the bytes as hex.",
                 {}});
    for (auto& c : specs::dual_control_commands()) t.push_back(std::move(c));
    for (auto& c : specs::ca_commands()) t.push_back(std::move(c));
    for (auto& c : specs::gp_commands()) t.push_back(std::move(c));
    for (auto& c : specs::backup_commands()) t.push_back(std::move(c));

    t.push_back({CommandId::AuditList,
                 "audit list",
                 "",
                 "List audit records (admin, auditor)",
                 "Calls GET /v1/audit. One page unless --all is given. The filters are applied by\n"
                 "kmsd; with them a page may hold fewer records than --limit while more follow\n"
                 "(kmsd reads at most 20,000 records per request): --all follows every page.",
                 {opt("from", "SEQ", "first record's sequence number"),
                  opt("limit", "N", "page size, 1 to 1000"), opt("all", "", "fetch every page"),
                  opt("actor", "NAME", "only records of this principal ('-': unauthenticated)"),
                  opt("action", "ACTION", "only this action, or a prefix ending in '*' (key.*)"),
                  opt("target", "TARGET", "only records about this key id, principal, ..."),
                  opt("outcome", "OUTCOME", "only success, denied or failed"),
                  opt("since", "TIME", "only records at or after TIME (RFC 3339)"),
                  opt("until", "TIME", "only records before TIME (RFC 3339)")}});
    t.push_back({CommandId::AuditVerify,
                 "audit verify",
                 "",
                 "Check the audit hash chain (exit 7 when broken)",
                 "Calls GET /v1/audit/verify. Exits 0 when the chain is intact, 7 when a record\n"
                 "fails the check.",
                 {}});
    t.push_back({CommandId::HsmInfo,
                 "hsm info",
                 "",
                 "Show the HSM module, token, sessions and mechanisms",
                 "Calls GET /v1/hsm (admin, key-officer, auditor).",
                 {}});
    return t;
}

std::vector<OptionSpec> build_globals() {
    return {
        opt("url", "URL", "kmsd base URL, e.g. https://127.0.0.1:8443 (env KMS_URL)"),
        opt("ca", "FILE", "CA certificate(s) to trust, PEM (env KMS_CA)"),
        opt("token", "TOKEN", "bearer token (env KMS_TOKEN; prefer --token-file)"),
        opt("token-file", "FILE", "file holding the bearer token (env KMS_TOKEN_FILE)"),
        opt("cert", "FILE", "client certificate for mTLS, PEM (env KMS_CERT)"),
        opt("key", "FILE", "private key of --cert, PEM (env KMS_KEY)"),
        opt("data-dir", "DIR",
            "kmsd data dir: URL from DIR/kmsd.url, CA DIR/tls/ca.pem, token DIR/admin.token "
            "(env KMS_DATA_DIR)"),
        opt("timeout", "SECONDS",
            "limit of each network wait (connect, handshake, answer); default 30"),
        opt("json", "", "print the server's JSON answer as is"),
        opt("help", "", "show help (also -h)"),
    };
}

std::vector<std::string> split_words(std::string_view s) {
    std::vector<std::string> out;
    std::istringstream in{std::string(s)};
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

std::string join(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
    return out;
}

bool starts_with_words(const CommandSpec& c, const std::vector<std::string>& prefix) {
    const auto words = split_words(c.words);
    return prefix.size() <= words.size() && std::equal(prefix.begin(), prefix.end(), words.begin());
}

std::string usage_line(const CommandSpec& c) {
    std::string line = "kmsctl " + std::string(c.words);
    if (!c.positional.empty()) line += " " + std::string(c.positional);
    if (!c.rest.empty()) line += " [" + std::string(c.rest) + " ...]";
    for (const auto& o : c.options) {
        std::string part = "--" + std::string(o.name);
        if (!o.is_flag()) part += " " + std::string(o.value_name);
        if (o.repeatable) part += " ...";
        line += o.required ? " " + part : " [" + part + "]";
    }
    return line;
}

/// Writes @p text wrapped at kHelpWidth columns; continuation lines start at column @p indent.
constexpr std::size_t kHelpWidth = 100;
void append_wrapped(std::ostringstream& out, const std::string& text, std::size_t indent) {
    std::size_t column = indent;
    bool first = true;
    std::istringstream words(text);
    for (std::string w; words >> w;) {
        if (!first && column + 1 + w.size() > kHelpWidth) {
            out << '\n' << std::string(indent, ' ');
            column = indent;
            first = true;
        }
        if (!first) {
            out << ' ';
            ++column;
        }
        out << w;
        column += w.size();
        first = false;
    }
    out << '\n';
}

void append_options(std::ostringstream& out, const std::vector<OptionSpec>& options) {
    std::size_t width = 0;
    std::vector<std::string> heads;
    for (const auto& o : options) {
        std::string head = "--" + std::string(o.name);
        if (!o.is_flag()) head += " " + std::string(o.value_name);
        width = std::max(width, head.size());
        heads.push_back(std::move(head));
    }
    for (std::size_t i = 0; i < options.size(); ++i) {
        out << "  " << heads[i] << std::string(width - heads[i].size() + 2, ' ');
        append_wrapped(out,
                       std::string(options[i].help) + (options[i].required ? " (required)" : ""),
                       width + 4);
    }
}

void append_command_list(std::ostringstream& out, const std::vector<const CommandSpec*>& cmds) {
    std::size_t width = 0;
    std::vector<std::string> heads;
    for (const auto* c : cmds) {
        std::string head(c->words);
        if (!c->positional.empty()) head += " " + std::string(c->positional);
        if (!c->rest.empty()) head += " [" + std::string(c->rest) + "...]";
        width = std::max(width, head.size());
        heads.push_back(std::move(head));
    }
    for (std::size_t i = 0; i < cmds.size(); ++i)
        out << "  " << heads[i] << std::string(width - heads[i].size() + 2, ' ') << cmds[i]->summary
            << "\n";
}

}  // namespace

const OptionSpec* CommandSpec::find_option(std::string_view name) const {
    for (const auto& o : options)
        if (o.name == name) return &o;
    return nullptr;
}

const std::vector<CommandSpec>& all_commands() {
    static const std::vector<CommandSpec> table = build_table();
    return table;
}

const std::vector<OptionSpec>& global_options() {
    static const std::vector<OptionSpec> globals = build_globals();
    return globals;
}

const OptionSpec* find_global_option(std::string_view name) {
    for (const auto& o : global_options())
        if (o.name == name) return &o;
    return nullptr;
}

const CommandSpec* find_command(const std::vector<std::string>& words) {
    for (const auto& c : all_commands())
        if (split_words(c.words) == words) return &c;
    return nullptr;
}

bool is_command_group(const std::vector<std::string>& words) {
    if (words.empty()) return false;
    for (const auto& c : all_commands())
        if (starts_with_words(c, words) && split_words(c.words).size() > words.size()) return true;
    return false;
}

std::string main_help() {
    std::ostringstream out;
    out << "kmsctl: administer kmsd, the key management appliance, over its HTTPS REST API.\n\n"
           "Usage: kmsctl [GLOBAL OPTIONS] COMMAND [ARGUMENT] [OPTIONS]\n"
           "       kmsctl COMMAND --help\n\n"
           "Commands:\n";
    std::vector<const CommandSpec*> cmds;
    for (const auto& c : all_commands()) cmds.push_back(&c);
    append_command_list(out, cmds);
    out << "\nGlobal options (accepted before or after the command):\n";
    append_options(out, global_options());
    out << "\nConnection settings: an option beats --data-dir, which beats the environment\n"
           "(KMS_URL, KMS_CA, KMS_TOKEN, KMS_TOKEN_FILE, KMS_CERT, KMS_KEY), which beats\n"
           "KMS_DATA_DIR. Without a CA file the system's trusted CAs are used. The server's\n"
           "certificate must name the host of the URL. Every command but health and openapi\n"
           "needs a token or a client certificate. The token is never printed.\n"
           "\nBinary values are hex (either case); kmsd answers in upper case. Human-readable\n"
           "output by default; --json prints the server's JSON for scripts.\n"
           "\nExit codes:\n"
        << exit_code_help()
        << "\nErrors are printed to stderr as: kmsctl: MESSAGE (CODE, HTTP STATUS)\n";
    return out.str();
}

std::string group_help(const std::vector<std::string>& group) {
    std::ostringstream out;
    out << "Usage: kmsctl " << join(group) << " COMMAND [ARGUMENT] [OPTIONS]\n\nCommands:\n";
    std::vector<const CommandSpec*> cmds;
    for (const auto& c : all_commands())
        if (starts_with_words(c, group)) cmds.push_back(&c);
    append_command_list(out, cmds);
    out << "\nRun 'kmsctl " << join(group) << " COMMAND --help' for a command's options, and\n"
        << "'kmsctl --help' for global options and exit codes.\n";
    return out.str();
}

std::string command_help(const CommandSpec& c) {
    std::ostringstream out;
    out << "Usage: " << usage_line(c) << "\n\n" << c.summary << ".\n" << c.description << "\n";
    if (!c.options.empty()) {
        out << "\nOptions:\n";
        append_options(out, c.options);
    }
    out << "\nGlobal options (--url, --ca, --token, --token-file, --cert, --key, --data-dir,\n"
           "--timeout, --json) and exit codes: see 'kmsctl --help'.\n";
    return out.str();
}

std::string help_hint(const CommandSpec* command) {
    if (command == nullptr) return "see 'kmsctl --help'";
    return "see 'kmsctl " + std::string(command->words) + " --help'";
}

}  // namespace kms::cli
