// Use cases: export and import of keys (see distribution.hpp). Metadata checks here, the
// cryptography and the sealed-block checks in the HSM adapter.
#include "services/distribution.hpp"

#include <cctype>

#include "crypto/public_key.hpp"
#include "domain/error.hpp"
#include "domain/tr31.hpp"
#include "services/key_lifecycle.hpp"

namespace kms::core {

namespace {

struct FormatName {
    DistributionFormat format;
    std::string_view name;
};
constexpr FormatName kFormats[] = {
    {DistributionFormat::AesKw, "AES-KW"},
    {DistributionFormat::AesKwp, "AES-KWP"},
    {DistributionFormat::RsaOaepSha256, "RSA-OAEP-SHA256"},
    {DistributionFormat::Tr31, "TR-31"},
    {DistributionFormat::Spki, "SPKI"},
};

std::string fam_name(KeyFamily f) {
    switch (f) {
        case KeyFamily::Aes:
            return "AES";
        case KeyFamily::Des3:
            return "DES3";
        case KeyFamily::Hmac:
            return "HMAC";
        case KeyFamily::Ec:
            return "EC";
        case KeyFamily::Rsa:
            return "RSA";
    }
    return "?";
}

KeyRef ref_of(const KeyRecord& k) {
    const KeyVersion& v = k.current();
    return KeyRef{k.id, v.number, k.algorithm, k.usage, v.block, v.public_key};
}

std::string state_of(const KeyRecord& k) {
    return std::string(key_state_name(k.state));
}

/// The KEK of an export or import, with the checks both share.
std::shared_ptr<const KeyRecord> load_kek(ServiceContext& ctx, const std::string& kek_id,
                                          Usage usage, KeyFamily family, std::string_view format) {
    if (kek_id.empty()) throw Error(ErrorCode::InvalidArgument, "kek: is required");
    auto kek = load_key(ctx, kek_id);
    const char* what = usage == Usage::Wrap ? "wrap" : "unwrap";
    if (!kek->usage.has(usage))
        throw Error(ErrorCode::UsageNotPermitted,
                    "kek: key '" + kek->id + "' does not have the usage '" + what + "'");
    if (info(kek->algorithm).family != family)
        throw Error(ErrorCode::InvalidArgument,
                    "kek: " + std::string(format) + " needs a " + fam_name(family) + " key; key '" +
                        kek->id + "' is " + std::string(info(kek->algorithm).name));
    return kek;
}

KeyFamily kek_family(DistributionFormat f, char tr31_version) {
    switch (f) {
        case DistributionFormat::RsaOaepSha256:
            return KeyFamily::Rsa;
        case DistributionFormat::Tr31:
            return tr31_version == 'B' ? KeyFamily::Des3 : KeyFamily::Aes;
        default:
            return KeyFamily::Aes;
    }
}

}  // namespace

std::string_view distribution_format_name(DistributionFormat f) {
    for (const auto& e : kFormats)
        if (e.format == f) return e.name;
    return "?";
}

std::optional<DistributionFormat> parse_distribution_format(std::string_view name) {
    for (const auto& e : kFormats)
        if (e.name == name) return e.format;
    return std::nullopt;
}

ExportResult DistributionService::export_key(const Principal& caller, const ExportRequest& req) {
    require_role(caller, {Role::Admin, Role::KeyOfficer}, "exporting a key");
    if (req.format == DistributionFormat::Spki)
        throw Error(ErrorCode::InvalidArgument,
                    "format: SPKI is an import format (AES-KW, AES-KWP, RSA-OAEP-SHA256, TR-31)");
    if (req.format == DistributionFormat::Tr31 && req.tr31_version != 'D' &&
        req.tr31_version != 'B')
        throw Error(ErrorCode::InvalidArgument, "tr31.version: must be \"D\" or \"B\"");

    const auto key = load_key(m_ctx, req.key_id);
    if (!is_symmetric(key->algorithm))
        throw Error(ErrorCode::InvalidArgument,
                    "key '" + key->id + "' is " + std::string(info(key->algorithm).name) +
                        ": only symmetric keys (AES, DES3, HMAC) are exported");
    if (key->state != KeyState::Active && key->state != KeyState::Deactivated)
        throw Error(ErrorCode::WrongState, "key '" + key->id + "' is " + state_of(*key) +
                                               ": only an Active or Deactivated key is exported");
    if (!key->exportable)
        throw Error(ErrorCode::Forbidden, "key '" + key->id + "' is not exportable");
    if (key->current().block.empty())
        throw Error(ErrorCode::WrongState, "key '" + key->id + "' has no key material");

    const std::string_view format = distribution_format_name(req.format);
    if (req.kek_id == key->id)
        throw Error(ErrorCode::InvalidArgument, "kek: a key cannot be exported under itself");
    const auto kek =
        load_kek(m_ctx, req.kek_id, Usage::Wrap, kek_family(req.format, req.tr31_version), format);
    if (!kek->trusted)
        throw Error(ErrorCode::Forbidden, "kek: key '" + kek->id +
                                              "' is not a trusted KEK; exports go only under keys "
                                              "created (or imported) with \"trusted\": true");
    if (kek->state != KeyState::Active)
        throw Error(ErrorCode::WrongState,
                    "kek: key '" + kek->id + "' is " + state_of(*kek) + ": the KEK must be Active");
    if (req.format == DistributionFormat::AesKw && secret_length(key->algorithm) % 8 != 0)
        throw Error(ErrorCode::InvalidArgument,
                    "format: AES-KW needs a key length that is a multiple of 8 bytes; use AES-KWP");

    ExportResult out;
    out.key_id = key->id;
    out.version = key->current().number;
    out.algorithm = key->algorithm;
    out.kcv = key->current().kcv;
    out.format = req.format;
    out.kek_id = kek->id;
    std::string detail = "kek=" + kek->id + " format=" + std::string(format) +
                         " version=" + std::to_string(out.version);
    switch (req.format) {
        case DistributionFormat::AesKw:
        case DistributionFormat::AesKwp:
            out.wrapped = m_ctx.hsm.wrap_key(
                ref_of(*key), ref_of(*kek),
                req.format == DistributionFormat::AesKw ? WrapFormat::AesKw : WrapFormat::AesKwp);
            break;
        case DistributionFormat::RsaOaepSha256:
            out.wrapped = m_ctx.hsm.wrap_key_rsa_oaep(ref_of(*key), ref_of(*kek));
            break;
        case DistributionFormat::Tr31: {
            Tr31Header h = tr31_header_for(req.tr31_version, key->algorithm, key->usage, false);
            if (req.tr31_exportability) {
                const char e = *req.tr31_exportability;
                if (e != 'N' && e != 'E' && e != 'S')
                    throw Error(ErrorCode::InvalidArgument,
                                "tr31.exportability: must be \"N\", \"E\" or \"S\"");
                h.exportability = e;
            }
            if (req.tr31_key_version.size() != 2 ||
                !std::isalnum(static_cast<unsigned char>(req.tr31_key_version[0])) ||
                !std::isalnum(static_cast<unsigned char>(req.tr31_key_version[1])))
                throw Error(ErrorCode::InvalidArgument,
                            "tr31.keyVersion: must be 2 letters or digits, e.g. \"00\"");
            h.key_version = req.tr31_key_version;
            out.key_block = m_ctx.hsm.export_tr31(ref_of(*key), ref_of(*kek), h);
            detail += " tr31=" + std::string(1, h.version) + h.usage + h.algorithm + h.mode_of_use +
                      " exportability=" + std::string(1, h.exportability);
            break;
        }
        case DistributionFormat::Spki:
            break;  // refused above
    }
    if (!out.kcv.empty()) detail += " kcv=" + to_hex(out.kcv);
    // Fail closed: the wrapped key is returned only once its audit record is stored.
    m_ctx.store.write([&](WriteTxn& t) {
        t.append_audit(
            AuditEvent{caller.name, "key.export", key->id, AuditOutcome::Success, detail});
    });
    return out;
}

KeyRecord DistributionService::import_key(const Principal& caller, const ImportRequest& req) {
    require_role(caller, {Role::Admin, Role::KeyOfficer}, "importing a key");
    validate_key_name(req.name);
    validate_key_usage(req.algorithm, req.usage);
    validate_trusted(req.trusted, req.usage);
    const std::string_view format = distribution_format_name(req.format);
    const KeyFamily family = info(req.algorithm).family;

    if (req.format == DistributionFormat::Spki) {
        if (family != KeyFamily::Rsa && family != KeyFamily::Ec)
            throw Error(ErrorCode::InvalidArgument,
                        "algorithm: SPKI imports an RSA or EC public key");
        const std::uint32_t allowed =
            static_cast<std::uint32_t>(Usage::Verify) | static_cast<std::uint32_t>(Usage::Wrap);
        if ((req.usage.bits() & ~allowed) != 0)
            throw Error(ErrorCode::InvalidArgument,
                        "usage: a public key only can have the usages verify and/or wrap");
        if (!req.kek_id.empty()) throw Error(ErrorCode::InvalidArgument, "kek: not used with SPKI");
        if (req.exportable)
            throw Error(ErrorCode::InvalidArgument,
                        "exportable: a public key only has nothing to export");
        if (req.kcv) throw Error(ErrorCode::InvalidArgument, "kcv: public keys have no KCV");
        if (req.public_key.empty())
            throw Error(ErrorCode::InvalidArgument, "publicKey: is required with SPKI");
        const auto alg = crypto::spki_algorithm(req.public_key);
        if (!alg)
            throw Error(ErrorCode::InvalidArgument,
                        "publicKey: not an EC P-256/P-384 or RSA 2048/3072 public key");
        if (*alg != req.algorithm)
            throw Error(ErrorCode::InvalidArgument, "publicKey: the key is " +
                                                        std::string(info(*alg).name) + ", not " +
                                                        std::string(info(req.algorithm).name));
    } else {
        if (!is_symmetric(req.algorithm))
            throw Error(ErrorCode::InvalidArgument,
                        "algorithm: " + std::string(format) +
                            " imports symmetric keys (AES, DES3, HMAC); use SPKI for a public key");
        if (!req.public_key.empty())
            throw Error(ErrorCode::InvalidArgument, "publicKey: only with format SPKI");
        if (req.format == DistributionFormat::Tr31) {
            if (req.key_block.empty())
                throw Error(ErrorCode::InvalidArgument, "keyBlock: is required with TR-31");
            if (!req.wrapped.empty())
                throw Error(ErrorCode::InvalidArgument, "wrapped: not used with TR-31 (keyBlock)");
        } else {
            if (req.wrapped.empty())
                throw Error(ErrorCode::InvalidArgument,
                            "wrapped: is required with " + std::string(format));
            if (!req.key_block.empty())
                throw Error(ErrorCode::InvalidArgument, "keyBlock: only with TR-31");
        }
        if (req.kcv && req.kcv->size() != 3)
            throw Error(ErrorCode::InvalidArgument, "kcv: must be 3 bytes (6 hex digits)");
        if (req.kcv && family == KeyFamily::Hmac)
            throw Error(ErrorCode::InvalidArgument, "kcv: HMAC keys have no KCV");
    }

    // The header is clear text: check it before anything reaches the HSM, for a clear 400.
    std::optional<Tr31Header> header;
    if (req.format == DistributionFormat::Tr31) {
        header = parse_tr31_header(req.key_block).first;
        if (header->version != 'D' && header->version != 'B')
            throw Error(ErrorCode::InvalidArgument,
                        "keyBlock: version '" + std::string(1, header->version) +
                            "' is not supported (D: AES key block protection key, B: TDES)");
        check_tr31_import(*header, req.algorithm, req.usage);
        if (req.exportable && header->exportability == 'N')
            throw Error(ErrorCode::InvalidArgument,
                        "exportable: the key block's header says non-exportable ('N')");
    }
    if (m_ctx.store.find_key_id_by_name(req.name))
        throw Error(ErrorCode::Conflict, "name: a key named '" + req.name + "' already exists");

    std::shared_ptr<const KeyRecord> kek;
    if (req.format != DistributionFormat::Spki) {
        kek = load_kek(m_ctx, req.kek_id, Usage::Unwrap,
                       kek_family(req.format, header ? header->version : 'D'), format);
        if (kek->state != KeyState::Active && kek->state != KeyState::Deactivated)
            throw Error(ErrorCode::WrongState, "kek: key '" + kek->id + "' is " + state_of(*kek) +
                                                   ": the KEK must be Active or Deactivated");
        if (kek->current().block.empty())
            throw Error(ErrorCode::InvalidArgument,
                        "kek: key '" + kek->id +
                            "' is a public key only; unwrapping needs its "
                            "private key");
    }

    KeyRecord rec;
    rec.id = new_key_id();
    rec.name = req.name;
    rec.algorithm = req.algorithm;
    rec.usage = req.usage;
    rec.exportable = req.exportable;
    rec.trusted = req.trusted;
    rec.created_by = caller.name;
    rec.created_ms = m_ctx.clock.now_ms();
    const KeySpec spec{rec.id, 1, req.algorithm, req.usage, req.exportable, req.trusted};

    GeneratedKey g;
    switch (req.format) {
        case DistributionFormat::AesKw:
        case DistributionFormat::AesKwp:
            g = m_ctx.hsm.unwrap_key(
                spec, ref_of(*kek),
                req.format == DistributionFormat::AesKw ? WrapFormat::AesKw : WrapFormat::AesKwp,
                req.wrapped);
            break;
        case DistributionFormat::RsaOaepSha256:
            g = m_ctx.hsm.unwrap_key_rsa_oaep(spec, ref_of(*kek), req.wrapped);
            break;
        case DistributionFormat::Tr31: {
            ImportedTr31 t = m_ctx.hsm.import_tr31(spec, ref_of(*kek), req.key_block);
            g = std::move(t.key);
            break;
        }
        case DistributionFormat::Spki:
            g.public_key = req.public_key;  // no key block: a public key only
            break;
    }
    if (req.kcv && !equal_ct(g.kcv, *req.kcv))
        throw Error(ErrorCode::VerificationFailed, "kcv: the imported key's KCV " + to_hex(g.kcv) +
                                                       " does not match the given kcv " +
                                                       to_hex(*req.kcv) + "; nothing was stored");

    rec.versions.push_back(KeyVersion{1, g.block, g.kcv, g.public_key, rec.created_ms});
    rec.state = req.activate ? KeyState::Active : KeyState::PreActive;
    if (req.activate) rec.activation_ms = rec.created_ms;
    rec.history.push_back(StateChange{KeyState::PreActive, rec.state, rec.created_ms, caller.name,
                                      "imported (" + std::string(format) + ")"});
    std::string detail = describe_new_key(rec) + " format=" + std::string(format);
    if (kek) detail += " kek=" + kek->id;
    write_key(m_ctx, rec.id, [&](WriteTxn& t) {
        check_alias_free(t, rec.name, rec.id);  // a KMIP client's extra name
        t.put_key(rec);
        t.append_audit(
            AuditEvent{caller.name, "key.import", rec.id, AuditOutcome::Success, detail});
    });
    return rec;
}

}  // namespace kms::core
