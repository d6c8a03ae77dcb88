// Command -> REST call mapping of kmsctl for key distribution (export, import, ceremonies),
// dual control (quorums, approvals), the internal CA and plugin policies, with the local checks
// of each argument. Shapes: /work/shared issue-3 brief, docs/openapi/*.json.
#include <algorithm>

#include "domain/algorithm.hpp"
#include "exit_codes.hpp"
#include "local_files.hpp"
#include "requests_common.hpp"
#include "validate.hpp"

namespace kms::cli::detail {

namespace {

using Poco::JSON::Object;

/// Largest input file read for a CSR, a PEM public key or a TR-31 block (far above any real
/// one, far below the 1 MiB body limit).
constexpr std::size_t kMaxInputFile = 256 * 1024;
/// A component file holds at most 32 bytes of hex plus white space.
constexpr std::size_t kMaxComponentFile = 4096;

std::string name_argument(const Invocation& inv) {
    if (inv.positional->empty() || inv.positional->size() > 128)
        throw UsageError("NAME: a key name has 1 to 128 characters");
    return *inv.positional;
}

std::string object_target(std::string_view collection, const Invocation& inv,
                          std::string_view field, std::string_view suffix = "") {
    return std::string(collection) + "/" +
           percent_encode(require_object_id(field, *inv.positional)) + std::string(suffix);
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/// Removes leading and trailing white space in place (no copy: used on secrets too).
void trim(std::string& s) {
    std::size_t end = s.size();
    while (end > 0 && is_space(s[end - 1])) --end;
    std::size_t start = 0;
    while (start < end && is_space(s[start])) ++start;
    if (start > 0)
        std::copy(s.begin() + static_cast<std::ptrdiff_t>(start),
                  s.begin() + static_cast<std::ptrdiff_t>(end), s.begin());
    const std::size_t len = end - start;
    std::fill(s.begin() + static_cast<std::ptrdiff_t>(len), s.end(), '\0');
    s.resize(len);
}

core::KeyFamily family_of(const std::string& algorithm) {
    return core::info(*core::parse_algorithm(algorithm)).family;
}

// --- policies --------------------------------------------------------------------------------

ApiCall policy_set_call(const Invocation& inv) {
    const std::string name = require_principal_name(*inv.positional);
    std::vector<std::string> keys;
    for (const auto& v : inv.values("keys"))
        for (const auto& k : split_commas(v)) {
            require_object_id("--keys", k);
            if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
        }
    if (keys.empty()) throw UsageError("--keys: give at least one key id or name pattern");
    Object body = ordered();
    body.set("keys", to_array(keys));
    body.set("operations", to_array(collect_choices(inv, "operation", policy_operation_names())));
    return put("/v1/principals/" + percent_encode(name) + "/policy", body);
}

// --- export and import -----------------------------------------------------------------------

ApiCall key_export_call(const Invocation& inv) {
    const std::string id = require_key_id(*inv.positional);
    const std::string format =
        require_choice("--format", *inv.value("format"), export_format_names());
    Object body = ordered();
    body.set("format", format);
    body.set("kek", require_object_id("--kek", *inv.value("kek")));
    const auto version = inv.value("tr31-version");
    const auto exportability = inv.value("tr31-exportability");
    if (format != "TR-31" && (version || exportability))
        throw UsageError(std::string(version ? "--tr31-version" : "--tr31-exportability") +
                         ": only with --format TR-31");
    if (version || exportability) {
        Object tr31 = ordered();
        if (version) tr31.set("version", require_choice("--tr31-version", *version, {"D", "B"}));
        if (exportability)
            tr31.set("exportability",
                     require_choice("--tr31-exportability", *exportability, {"N", "E", "S"}));
        body.set("tr31", tr31);
    }
    return post("/v1/keys/" + percent_encode(id) + "/export", body);
}

/// Checks a TR-31 key block's outer form: printable ASCII, version B or D, and the 4-digit
/// length field equal to the block's length (ANSI X9.143 §6.2). kmsd checks the rest.
std::string check_key_block(std::string_view field, std::string block) {
    trim(block);
    if (block.size() < 16)
        throw UsageError(std::string(field) + ": a TR-31 key block has at least 16 characters");
    for (char c : block)
        if (c < 0x20 || c > 0x7E)
            throw UsageError(std::string(field) + ": a TR-31 key block is printable ASCII");
    if (block[0] != 'B' && block[0] != 'D')
        throw UsageError(std::string(field) + ": key block version '" + block.substr(0, 1) +
                         "' is not supported (B or D)");
    const std::string length = block.substr(1, 4);
    if (length.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(length) != block.size())
        throw UsageError(std::string(field) + ": the length field says '" + length +
                         "' but the block has " + std::to_string(block.size()) + " characters");
    return block;
}

/// Which of the material options are given.
std::vector<std::string> given_material(const Invocation& inv) {
    std::vector<std::string> out;
    for (const char* o : {"wrapped", "key-block", "key-block-file", "public-key-file"})
        if (inv.has(o)) out.push_back(std::string("--") + o);
    return out;
}

void check_wrapped_length(const std::string& format, std::size_t bytes) {
    if (format == "AES-KW" && (bytes < 24 || bytes % 8 != 0))
        throw UsageError(
            "--wrapped: AES-KW (RFC 3394) output is a multiple of 8 bytes, at "
            "least 24; got " +
            std::to_string(bytes));
    if (format == "AES-KWP" && (bytes < 16 || bytes % 8 != 0))
        throw UsageError(
            "--wrapped: AES-KWP (RFC 5649) output is a multiple of 8 bytes, at "
            "least 16; got " +
            std::to_string(bytes));
    if (format == "RSA-OAEP-SHA256" && bytes != 256 && bytes != 384)
        throw UsageError("--wrapped: RSA-OAEP output is the modulus size, 256 or 384 bytes; got " +
                         std::to_string(bytes));
}

ApiCall key_import_call(const Invocation& inv) {
    Object body = ordered();
    body.set("name", name_argument(inv));
    const std::string algorithm =
        require_choice("--algorithm", *inv.value("algorithm"), key_algorithm_names());
    body.set("algorithm", algorithm);
    const auto usages = collect_choices(inv, "usage", usage_names());
    body.set("usage", to_array(usages));
    const std::string format =
        require_choice("--format", *inv.value("format"), import_format_names());
    body.set("format", format);

    const auto material = given_material(inv);
    const bool spki = format == "SPKI";
    const bool tr31 = format == "TR-31";
    const std::string wanted = spki   ? "--public-key-file"
                               : tr31 ? "--key-block or --key-block-file"
                                      : "--wrapped";
    if (material.empty()) throw UsageError("--format " + format + " needs " + wanted);
    if (material.size() > 1)
        throw UsageError(material[0] + " and " + material[1] + ": give the material once");
    const std::string& given = material[0];
    const bool fits = spki   ? given == "--public-key-file"
                      : tr31 ? (given == "--key-block" || given == "--key-block-file")
                             : given == "--wrapped";
    if (!fits) throw UsageError(given + ": --format " + format + " takes " + wanted);

    const auto family = family_of(algorithm);
    const bool symmetric = family == core::KeyFamily::Aes || family == core::KeyFamily::Des3 ||
                           family == core::KeyFamily::Hmac;
    if (spki) {
        if (inv.has("kek")) throw UsageError("--kek: SPKI imports a public key, with no KEK");
        if (symmetric)
            throw UsageError("--algorithm: SPKI imports an EC or RSA public key, not " + algorithm);
        for (const auto& u : usages)
            if (u != "verify" && u != "wrap")
                throw UsageError("--usage: a public key may only verify and/or wrap, not " + u);
        const auto pem =
            read_text_file("--public-key-file", *inv.value("public-key-file"), kMaxInputFile);
        if (pem.find("-----BEGIN PUBLIC KEY-----") == std::string::npos)
            throw UsageError(
                "--public-key-file: no PEM public key (-----BEGIN PUBLIC KEY-----) in " +
                *inv.value("public-key-file"));
        body.set("publicKey", pem);
    } else {
        if (!inv.has("kek")) throw UsageError("--format " + format + " needs --kek ID");
        if (!symmetric)
            throw UsageError(
                "--algorithm: only symmetric keys (AES, DES3, HMAC) are imported "
                "wrapped; " +
                algorithm + " is not");
        body.set("kek", require_object_id("--kek", *inv.value("kek")));
        if (tr31) {
            std::string block = inv.has("key-block")
                                    ? *inv.value("key-block")
                                    : read_text_file("--key-block-file",
                                                     *inv.value("key-block-file"), kMaxInputFile);
            body.set("keyBlock", check_key_block(given, std::move(block)));
        } else {
            const auto wrapped = require_hex("--wrapped", *inv.value("wrapped"));
            check_wrapped_length(format, wrapped.size() / 2);
            body.set("wrapped", wrapped);
        }
    }
    if (auto kcv = inv.value("kcv")) body.set("kcv", require_kcv("--kcv", *kcv));
    if (inv.has("exportable")) body.set("exportable", true);
    if (inv.has("trusted")) {
        check_trusted_usage(usages);
        body.set("trusted", true);
    }
    body.set("activate", !inv.has("pre-active"));
    return post("/v1/keys/import", body);
}

// --- ceremonies ------------------------------------------------------------------------------

ApiCall ceremony_create_call(const Invocation& inv) {
    Object body = ordered();
    body.set("name", name_argument(inv));
    body.set("algorithm",
             require_choice("--algorithm", *inv.value("algorithm"), ceremony_algorithm_names()));
    const auto usages = collect_choices(inv, "usage", usage_names());
    body.set("usage", to_array(usages));
    body.set("components",
             static_cast<Poco::Int64>(require_int("--components", *inv.value("components"), 2, 3)));
    if (auto kcv = inv.value("kcv")) body.set("kcv", require_kcv("--kcv", *kcv));
    if (inv.has("exportable")) body.set("exportable", true);
    if (inv.has("trusted")) {
        check_trusted_usage(usages);
        body.set("trusted", true);
    }
    if (auto e = inv.value("expires-in"))
        body.set("expiresInSeconds",
                 static_cast<Poco::Int64>(require_int("--expires-in", *e, 60, 86400)));
    return post("/v1/ceremonies", body);
}

/// The component body is assembled by hand, not through Poco's JSON (which would keep copies
/// of the secret in memory kmsctl cannot wipe): it is all hex, so nothing needs escaping.
ApiCall ceremony_component_call(const Invocation& inv) {
    const std::string target = object_target("/v1/ceremonies", inv, "ID", "/components");
    const std::string kcv = require_kcv("--kcv", *inv.value("kcv"));
    const bool inline_value = inv.has("component");
    if (inline_value && inv.has("component-file"))
        throw UsageError("--component and --component-file: give the component once");
    if (!inline_value && !inv.has("component-file"))
        throw UsageError(
            "give the component with --component-file FILE (or --component HEX, "
            "or enter it at the prompt: run on a terminal without either)");
    std::string secret =
        inline_value
            ? std::string()
            : read_secret_file("--component-file", *inv.value("component-file"), kMaxComponentFile);
    std::string body;
    try {
        if (!inline_value) trim(secret);
        // A reference into the invocation: Invocation::value() would return another copy.
        const std::string_view text =
            inline_value ? std::string_view(inv.options.find("component")->second.front())
                         : std::string_view(secret);
        const std::string field = inline_value ? "--component" : "--component-file";
        // AES-128/192/256: 16/24/32 bytes; DES3-2K/3K: 16/24. kmsd checks the ceremony's own.
        std::string hex = require_secret_hex(field, text, {16, 24, 32});
        body.reserve(64 + hex.size());
        body += "{\"component\":\"";
        body += hex;
        body += "\",\"kcv\":\"" + kcv + "\"}";
        wipe(hex);
    } catch (...) {
        wipe(secret);
        wipe(body);
        throw;
    }
    wipe(secret);
    ApiCall call{"POST", target, std::move(body), true};
    call.secret_body = true;
    return call;
}

// --- dual control ----------------------------------------------------------------------------

std::string operation_argument(const Invocation& inv) {
    return require_choice("OP", *inv.positional, dual_control_operation_names());
}

ApiCall quorum_set_call(const Invocation& inv) {
    const std::string op = operation_argument(inv);
    Object body = ordered();
    body.set("approvals",
             static_cast<Poco::Int64>(require_int("--approvals", *inv.value("approvals"), 1, 9)));
    if (inv.has("approver-role"))
        body.set("approverRoles", to_array(collect_choices(inv, "approver-role", role_names())));
    if (auto ttl = inv.value("ttl"))
        body.set("ttlSeconds", static_cast<Poco::Int64>(require_int("--ttl", *ttl, 60, 604800)));
    return put("/v1/quorums/" + percent_encode(op), body);
}

ApiCall vote_call(const Invocation& inv, std::string_view verb) {
    Object body = ordered();
    if (auto comment = inv.value("comment")) {
        if (comment->size() > 1024) throw UsageError("--comment: at most 1024 characters");
        body.set("comment", *comment);
    }
    return post(object_target("/v1/approvals", inv, "ID", "/" + std::string(verb)), body);
}

// --- internal CA -----------------------------------------------------------------------------

/// The longest validity of each profile, in days (server: CA/Browser Forum 397; client 825;
/// secure-element 20 years).
std::int64_t max_validity_days(const std::string& profile) {
    if (profile == "server") return 397;
    if (profile == "client") return 825;
    return 7305;
}

ApiCall ca_issue_call(const Invocation& inv) {
    Object body = ordered();
    body.set("csr", read_csr_file("--csr-file", *inv.value("csr-file")));
    const std::string profile =
        require_choice("--profile", *inv.value("profile"), cert_profile_names());
    body.set("profile", profile);
    if (auto days = inv.value("validity-days"))
        body.set("validityDays",
                 static_cast<Poco::Int64>(require_int("--validity-days (" + profile + ")", *days, 1,
                                                      max_validity_days(profile))));
    if (auto principal = inv.value("principal")) {
        if (profile != "client")
            throw UsageError("--principal: only a client certificate is bound to a principal");
        body.set("principal", require_principal_name(*principal));
    }
    if (inv.has("out") && inv.value("out") == inv.value("chain-out"))
        throw UsageError("--out and --chain-out: give two different files");
    return post("/v1/ca/certificates", body);
}

ApiCall ca_list_call(const Invocation& inv) {
    std::optional<std::string> status, within, principal;
    if (auto s = inv.value("status")) status = require_choice("--status", *s, cert_status_names());
    if (auto d = inv.value("expiring-within-days"))
        within = std::to_string(require_int("--expiring-within-days", *d, 0, 36500));
    if (auto p = inv.value("principal")) principal = require_principal_name(*p);
    return get(
        "/v1/ca/certificates" +
        query({{"status", status}, {"expiringWithinDays", within}, {"principal", principal}}));
}

ApiCall ca_crl_call(const Invocation& inv) {
    const bool pem = inv.has("pem");
    if (!pem && !inv.has("out"))
        throw UsageError("ca crl: the CRL is binary DER; give --out FILE, or --pem to print it");
    ApiCall call = get(pem ? "/v1/ca/crl?format=pem" : "/v1/ca/crl", false);
    call.raw_answer = true;
    call.accept = pem ? "application/x-pem-file, */*" : "application/pkix-crl, */*";
    return call;
}

}  // namespace

std::string read_csr_file(std::string_view field, const std::string& path) {
    auto pem = read_text_file(field, path, kMaxInputFile);
    if (pem.find("-----BEGIN CERTIFICATE REQUEST-----") == std::string::npos &&
        pem.find("-----BEGIN NEW CERTIFICATE REQUEST-----") == std::string::npos)
        throw UsageError(std::string(field) +
                         ": no PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----) in " +
                         path);
    return pem;
}

void check_trusted_usage(const std::vector<std::string>& usages) {
    bool kek = false;
    for (const auto& u : usages) {
        // derive: a GlobalPlatform card DEK or KMC, from which the HSM derives session keys.
        if (u != "wrap" && u != "unwrap" && u != "derive")
            throw UsageError("--trusted: a trusted key wraps or unwraps keys only; usage " + u +
                             " is not allowed with it (derive is: a GlobalPlatform DEK or KMC)");
        kek = kek || u != "derive";
    }
    if (!kek) throw UsageError("--trusted: a trusted key needs the usage wrap and/or unwrap");
}

std::optional<ApiCall> build_issue3_call(const Invocation& inv) {
    switch (inv.command->id) {
        case CommandId::PolicySet:
            return policy_set_call(inv);
        case CommandId::PolicyShow:
            return get("/v1/principals/" + percent_encode(require_principal_name(*inv.positional)) +
                       "/policy");
        case CommandId::KeyExport:
            return key_export_call(inv);
        case CommandId::KeyImport:
            return key_import_call(inv);
        case CommandId::CeremonyCreate:
            return ceremony_create_call(inv);
        case CommandId::CeremonyComponent:
            return ceremony_component_call(inv);
        case CommandId::CeremonyShow:
            return get(object_target("/v1/ceremonies", inv, "ID"));
        case CommandId::CeremonyList:
            return get("/v1/ceremonies");
        case CommandId::CeremonyCancel:
            return ApiCall{"DELETE", object_target("/v1/ceremonies", inv, "ID"), std::nullopt,
                           true};
        case CommandId::QuorumSet:
            return quorum_set_call(inv);
        case CommandId::QuorumList:
            return get("/v1/quorums");
        case CommandId::QuorumDelete:
            return ApiCall{"DELETE", "/v1/quorums/" + percent_encode(operation_argument(inv)),
                           std::nullopt, true};
        case CommandId::ApprovalList: {
            std::optional<std::string> state;
            if (auto s = inv.value("state"))
                state = require_choice("--state", *s, approval_state_names());
            return get("/v1/approvals" + query({{"state", state}}));
        }
        case CommandId::ApprovalShow:
            return get(object_target("/v1/approvals", inv, "ID"));
        case CommandId::ApprovalApprove:
            return vote_call(inv, "approve");
        case CommandId::ApprovalReject:
            return vote_call(inv, "reject");
        case CommandId::ApprovalExecute:
            if (inv.has("out") && inv.value("out") == inv.value("token-out"))
                throw UsageError("--out and --token-out: give two different files");
            return ApiCall{"POST", object_target("/v1/approvals", inv, "ID", "/execute"),
                           std::nullopt, true};
        case CommandId::CaIssue:
            return ca_issue_call(inv);
        case CommandId::CaList:
            return ca_list_call(inv);
        case CommandId::CaShow:
            return get("/v1/ca/certificates/" +
                       percent_encode(require_serial("SERIAL", *inv.positional)));
        case CommandId::CaRevoke: {
            Object body = ordered();
            body.set("reason",
                     require_choice("--reason", *inv.value("reason"), revocation_reason_names()));
            return post("/v1/ca/certificates/" +
                            percent_encode(require_serial("SERIAL", *inv.positional)) + "/revoke",
                        body);
        }
        case CommandId::CaCrl:
            return ca_crl_call(inv);
        case CommandId::CaChain: {
            ApiCall call = get("/v1/ca/chain", false);
            call.raw_answer = true;
            call.accept = "application/x-pem-file, */*";
            return call;
        }
        default:
            return std::nullopt;
    }
}

}  // namespace kms::cli::detail
