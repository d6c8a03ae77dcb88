// Command specs of kmsctl for GlobalPlatform secure channels (SCP02, SCP03): sessions, wrapping
// and unwrapping APDUs, PUT KEY, sensitive data for STORE DATA, and KMC diversification. The
// REST shapes they map to are in requests_gp.cpp.
#include "command_specs.hpp"

// Appended to the description of every command that works in an open session.
#define KMSCTL_SESSION_NOTE                                                                      \
    "\nSESSION is the id 'kmsctl gp session open' printed. A session belongs to the principal\n" \
    "that opened it (anyone else gets exit 4) and expires a fixed time after it was opened\n"    \
    "(gp.session_seconds in kmsd's config, default 300; then exit 8: open a new one)."

namespace kms::cli::specs {

namespace {

OptionSpec opt(std::string_view name, std::string_view value_name, std::string_view help,
               bool required = false, bool repeatable = false) {
    return OptionSpec{name, value_name, help, required, repeatable};
}

}  // namespace

std::vector<CommandSpec> gp_commands() {
    std::vector<CommandSpec> t;
    t.push_back(
        {CommandId::GpSessionOpen,
         "gp session open",
         "",
         "Open a GlobalPlatform secure channel session and get INITIALIZE UPDATE",
         "Calls POST /v1/gp/scp/sessions. Name the card's static keys with --enc, --mac and\n"
         "--dek, or its master key with --kmc and --diversification (the card's keys are then\n"
         "derived from the KMC and the card's key diversification data). SCP02 takes DES3-2K\n"
         "keys, SCP03 AES keys of one length. Keys need usage derive (the DEK also wrap); a "
         "plugin\n"
         "needs \"gp\" in its policy for each key. Prints the session id and the INITIALIZE "
         "UPDATE\n"
         "command to send to the card; pass the card's answer to 'kmsctl gp session\n"
         "authenticate'. Without --host-challenge the HSM draws one.",
         {opt("protocol", "P", "SCP02 SCP03", true),
          opt("i", "HEX", "the i parameter, one byte (SCP02: 15 or 55; SCP03: e.g. 00, 10, 70)",
              true),
          opt("enc", "ID", "static ENC key (with --mac and --dek)"),
          opt("mac", "ID", "static MAC key"), opt("dek", "ID", "static DEK key"),
          opt("kmc", "ID", "master key of the card issuer (instead of --enc, --mac, --dek)"),
          opt("diversification", "D", "with --kmc: none VISA2 EMV-CPS11"),
          opt("key-version", "N", "key version number of the card's key set, 0 to 255", true),
          opt("host-challenge", "HEX", "host challenge, 8 bytes (default: drawn by the HSM)"),
          opt("aid", "HEX",
              "AID of the security domain, 5 to 16 bytes (default A000000151000000)")}});
    t.push_back(
        {CommandId::GpSessionAuthenticate,
         "gp session authenticate",
         "SESSION",
         "Check the card's INITIALIZE UPDATE response and get EXTERNAL AUTHENTICATE",
         "Calls POST /v1/gp/scp/sessions/{session}/authenticate. kmsd derives the session keys in\n"
         "the HSM, checks the card cryptogram and returns the EXTERNAL AUTHENTICATE command for\n"
         "the security level. A wrong card cryptogram is refused (exit 2) and audited.\n"
         "Security levels: SCP02 01 (C-MAC), 03 (C-DECRYPTION and C-MAC), 11 and 13 with R-MAC;\n"
         "SCP03 01, 03, 11, 13, 33 (R-ENCRYPTION, R-MAC, C-DECRYPTION, C-MAC)." KMSCTL_SESSION_NOTE,
         {opt("response", "HEX",
              "the card's INITIALIZE UPDATE response (data, optionally followed by SW 9000)", true),
          opt("level", "HEX", "security level, one byte (e.g. 01, 03, 33)", true)}});
    t.push_back({CommandId::GpSessionClose,
                 "gp session close",
                 "SESSION",
                 "Close a session and wipe its keys",
                 "Calls DELETE /v1/gp/scp/sessions/{session}." KMSCTL_SESSION_NOTE,
                 {}});
    t.push_back(
        {CommandId::GpWrap,
         "gp wrap",
         "SESSION",
         "Wrap command APDUs in the session (C-MAC, C-DECRYPTION)",
         "Calls POST /v1/gp/scp/sessions/{session}/wrap. Give the APDUs (hex, 4 bytes or more)\n"
         "as arguments, or one per line with --file FILE, or --file - for stdin (a script: blank\n"
         "lines and lines starting with '#' are skipped, spaces inside a line are ignored). At\n"
         "most 256 per call; they are wrapped in order and printed one per line, ready to send\n"
         "to the card." KMSCTL_SESSION_NOTE,
         {opt("file", "FILE", "read the APDUs from FILE, one per line ('-': stdin)")},
         true,
         "APDU"});
    t.push_back(
        {CommandId::GpUnwrap,
         "gp unwrap",
         "SESSION",
         "Check and decrypt the card's responses (R-MAC, R-ENCRYPTION)",
         "Calls POST /v1/gp/scp/sessions/{session}/unwrap. Give the card's responses (hex: data\n"
         "then SW1 SW2) to the commands wrapped since the last unwrap, in order, as arguments or\n"
         "one per line with --file FILE (or --file - for stdin). Prints the plain responses one\n"
         "per line. A response whose R-MAC does not verify is refused (exit "
         "2)." KMSCTL_SESSION_NOTE,
         {opt("file", "FILE", "read the responses from FILE, one per line ('-': stdin)")},
         true,
         "RESPONSE"});
    t.push_back(
        {CommandId::GpPutKey,
         "gp put-key",
         "SESSION",
         "Build a wrapped PUT KEY command that loads keys of kmsd onto the card",
         "Calls POST /v1/gp/scp/sessions/{session}/put-key. --keys names 1 to 3 exportable keys "
         "in\n"
         "key identifier order (ENC, MAC, DEK for a key set): DES3-2K keys in an SCP02 session,\n"
         "AES keys in SCP03. They are encrypted under the card's DEK (which must be trusted with\n"
         "usage wrap) inside kmsd. Prints the PUT KEY command, already wrapped in the session,\n"
         "and the key check values the card should answer with; after sending it, unwrap the\n"
         "card's response and check it with 'kmsctl gp put-key-verify'." KMSCTL_SESSION_NOTE,
         {opt("keys", "ID[,ID..]", "the keys to load, 1 to 3; repeat or separate with commas", true,
              true),
          opt("new-version", "N", "key version number of the new keys, 1 to 127", true),
          opt("replace-version", "N",
              "key version number to replace, 0 to 127 (default 0: add a new key set)"),
          opt("key-id", "N", "key identifier of the first key, 1 to 127 (default 1)")}});
    t.push_back(
        {CommandId::GpPutKeyVerify,
         "gp put-key-verify",
         "SESSION",
         "Check the card's PUT KEY response against the key check values",
         "Calls POST /v1/gp/scp/sessions/{session}/put-key/verify with the card's response to\n"
         "the last 'kmsctl gp put-key' after 'kmsctl gp unwrap' (key version, KCVs, 9000). A\n"
         "mismatch is refused (exit 2); without a PUT KEY pending it is exit 2 "
         "too." KMSCTL_SESSION_NOTE,
         {opt("response", "HEX", "the unwrapped PUT KEY response", true)}});
    t.push_back(
        {CommandId::GpEncrypt,
         "gp encrypt",
         "SESSION",
         "Encrypt sensitive data for STORE DATA under the session's DEK",
         "Calls POST /v1/gp/scp/sessions/{session}/encrypt. SCP02 encrypts with the session DEK\n"
         "(3DES-ECB), SCP03 with the static DEK (AES-CBC, zero ICV). --padding none needs whole\n"
         "blocks: 8 bytes for SCP02, 16 for SCP03." KMSCTL_SESSION_NOTE,
         {opt("data", "HEX", "the data to encrypt", true),
          opt("padding", "P", "none ISO9797-M2 (default: kmsd's)")}});
    t.push_back(
        {CommandId::GpDiversify,
         "gp diversify",
         "",
         "Derive a card's ENC, MAC and DEK keys from a KMC (a card's new ISD key set)",
         "Calls POST /v1/gp/keys/diversify. Derives the three DES3-2K keys of one card from the\n"
         "master key --kmc and the card's key diversification data (--kdd, 10 bytes, from its\n"
         "INITIALIZE UPDATE response) and stores them as new Active, exportable keys named\n"
         "NAME-enc, NAME-mac and NAME-dek (the DEK trusted with usage wrap), e.g. to load them\n"
         "with 'kmsctl gp put-key'.",
         {opt("kmc", "ID", "the master key (DES3-2K, usage derive)", true),
          opt("diversification", "D", "VISA2 EMV-CPS11", true),
          opt("kdd", "HEX", "key diversification data, 10 bytes", true),
          opt("name", "NAME", "base name of the three new keys", true)}});
    return t;
}

}  // namespace kms::cli::specs
