// Use cases: MAC, cipher, signature and random operations (see key_operations.hpp).
#include "services/key_operations.hpp"

#include "domain/error.hpp"
#include "services/policies.hpp"

namespace kms::core {

KeyRef KeyOperations::Use::ref() const {
    return KeyRef{record->id,    version->number, record->algorithm,
                  record->usage, version->block,  version->public_key};
}

namespace {
/// InvalidArgument unless the mechanism @p name fits a key of @p alg.
void require_fit(bool fits, std::string_view name, Algorithm alg) {
    if (!fits)
        throw Error(ErrorCode::InvalidArgument, "algorithm: " + std::string(name) +
                                                    " does not fit a " +
                                                    std::string(info(alg).name) + " key");
}

void check_cipher(CipherMode mode, Algorithm alg, ByteView iv, ByteView aad, ByteView input) {
    require_fit(cipher_fits(mode, alg), cipher_mode_name(mode), alg);
    if (!iv.empty() && iv.size() != cipher_iv_size(mode))
        throw Error(ErrorCode::InvalidArgument,
                    "iv: " + std::string(cipher_mode_name(mode)) + " needs " +
                        std::to_string(cipher_iv_size(mode)) + " bytes");
    if (!aad.empty() && mode != CipherMode::AesGcm)
        throw Error(ErrorCode::InvalidArgument, "aad: only AES-GCM takes additional data");
    if ((mode == CipherMode::AesCbc || mode == CipherMode::Des3Cbc) &&
        input.size() % cipher_block_size(mode) != 0)
        throw Error(ErrorCode::InvalidArgument, "data: " + std::string(cipher_mode_name(mode)) +
                                                    " needs a multiple of " +
                                                    std::to_string(cipher_block_size(mode)) +
                                                    " bytes (use the -PAD mode for padding)");
}
}  // namespace

KeyOperations::Use KeyOperations::prepare(const Principal& caller, std::string_view id,
                                          Operation op, std::optional<std::uint32_t> version) {
    require_role(caller, {Role::Admin, Role::KeyOfficer, Role::Plugin},
                 std::string("using a key (") + std::string(operation_name(op)) + ")");
    auto rec = load_key(m_ctx, id);
    // Plugins: their policy must name the key and the operation (before state and usage, so a
    // plugin learns nothing more about keys outside its policy).
    if (policy_restricted(caller)) {
        const auto pop = policy_operation_of(op);
        if (!pop)
            throw Error(ErrorCode::Forbidden, "plugin '" + caller.name + "' may not " +
                                                  std::string(operation_name(op)) + " with key " +
                                                  rec->id);
        authorize_policy(m_ctx, caller, rec.get(), *pop);
    }
    if (!state_allows(rec->state, op))
        throw Error(ErrorCode::WrongState, "key '" + rec->id + "' is " +
                                               std::string(key_state_name(rec->state)) + ": " +
                                               std::string(operation_name(op)) + " is not allowed");
    if (!usage_permits(rec->usage, op))
        throw Error(
            ErrorCode::UsageNotPermitted,
            "key '" + rec->id + "' does not have the usage for " + std::string(operation_name(op)));
    const KeyVersion* v = version ? rec->version(*version) : &rec->current();
    if (v == nullptr)
        throw Error(ErrorCode::NotFound,
                    "key '" + rec->id + "' has no version " + std::to_string(*version));
    return Use{std::move(rec), v};
}

MacResult KeyOperations::mac(const Principal& caller, std::string_view id, MacAlgorithm alg,
                             ByteView data) {
    Use u = prepare(caller, id, Operation::Mac, std::nullopt);
    require_fit(mac_fits(alg, u.record->algorithm), mac_algorithm_name(alg), u.record->algorithm);
    MacResult r{m_ctx.hsm.mac(u.ref(), alg, data), u.version->number};
    m_ctx.counters.count(u.record->id, Operation::Mac);
    return r;
}

CheckResult KeyOperations::verify_mac(const Principal& caller, std::string_view id,
                                      MacAlgorithm alg, ByteView data, ByteView mac,
                                      std::optional<std::uint32_t> version) {
    Use u = prepare(caller, id, Operation::MacVerify, version);
    require_fit(mac_fits(alg, u.record->algorithm), mac_algorithm_name(alg), u.record->algorithm);
    const std::size_t full_size = alg == MacAlgorithm::Des3Retail   ? 8
                                  : alg == MacAlgorithm::HmacSha256 ? 32
                                                                    : 16;
    if (mac.size() < 4 || mac.size() > full_size)
        throw Error(ErrorCode::InvalidArgument,
                    "mac: must be 4 to " + std::to_string(full_size) + " bytes");
    const Bytes full = m_ctx.hsm.mac(u.ref(), alg, data);
    const bool ok = equal_ct(ByteView(full).first(mac.size()), mac);
    m_ctx.counters.count(u.record->id, Operation::MacVerify);
    return CheckResult{ok, u.version->number};
}

EncryptResult KeyOperations::encrypt(const Principal& caller, std::string_view id, CipherMode mode,
                                     ByteView plaintext, ByteView iv, ByteView aad) {
    Use u = prepare(caller, id, Operation::Encrypt, std::nullopt);
    check_cipher(mode, u.record->algorithm, iv, aad, plaintext);
    Bytes the_iv =
        iv.empty() ? m_ctx.hsm.random(cipher_iv_size(mode)) : Bytes(iv.begin(), iv.end());
    EncryptResult r;
    r.ciphertext = m_ctx.hsm.encrypt(u.ref(), CipherParams{mode, the_iv, aad}, plaintext);
    r.iv = std::move(the_iv);
    r.version = u.version->number;
    m_ctx.counters.count(u.record->id, Operation::Encrypt);
    return r;
}

DecryptResult KeyOperations::decrypt(const Principal& caller, std::string_view id, CipherMode mode,
                                     ByteView ciphertext, ByteView iv, ByteView aad,
                                     std::optional<std::uint32_t> version) {
    Use u = prepare(caller, id, Operation::Decrypt, version);
    if (iv.empty()) throw Error(ErrorCode::InvalidArgument, "iv: required for decryption");
    check_cipher(mode, u.record->algorithm, iv, aad, ciphertext);
    if (mode == CipherMode::AesGcm && ciphertext.size() < 16)
        throw Error(ErrorCode::InvalidArgument,
                    "ciphertext: AES-GCM input carries a 16-byte tag at its end");
    if ((mode == CipherMode::AesCbcPad || mode == CipherMode::Des3CbcPad) &&
        (ciphertext.empty() || ciphertext.size() % cipher_block_size(mode) != 0))
        throw Error(ErrorCode::InvalidArgument, "ciphertext: not a whole number of blocks");
    DecryptResult r{m_ctx.hsm.decrypt(u.ref(), CipherParams{mode, iv, aad}, ciphertext),
                    u.version->number};
    m_ctx.counters.count(u.record->id, Operation::Decrypt);
    return r;
}

SignResult KeyOperations::sign(const Principal& caller, std::string_view id, SignAlgorithm alg,
                               ByteView data) {
    Use u = prepare(caller, id, Operation::Sign, std::nullopt);
    require_fit(sign_fits(alg, u.record->algorithm), sign_algorithm_name(alg), u.record->algorithm);
    SignResult r{m_ctx.hsm.sign(u.ref(), alg, data), u.version->number};
    m_ctx.counters.count(u.record->id, Operation::Sign);
    return r;
}

CheckResult KeyOperations::verify(const Principal& caller, std::string_view id, SignAlgorithm alg,
                                  ByteView data, ByteView signature,
                                  std::optional<std::uint32_t> version) {
    Use u = prepare(caller, id, Operation::Verify, version);
    require_fit(sign_fits(alg, u.record->algorithm), sign_algorithm_name(alg), u.record->algorithm);
    CheckResult r{m_ctx.hsm.verify(u.ref(), alg, data, signature), u.version->number};
    m_ctx.counters.count(u.record->id, Operation::Verify);
    return r;
}

Bytes KeyOperations::random(const Principal& caller, std::size_t length) {
    if (caller.disabled) throw Error(ErrorCode::Forbidden, "principal is disabled");
    authorize_policy(m_ctx, caller, nullptr, PolicyOperation::Random);
    if (length < 1 || length > 4096)
        throw Error(ErrorCode::InvalidArgument, "length: must be between 1 and 4096");
    return m_ctx.hsm.random(length);
}

}  // namespace kms::core
