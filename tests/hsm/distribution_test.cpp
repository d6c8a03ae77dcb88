// Key distribution through the PKCS#11 adapter on a real SoftHSM2 token: AES-KW / AES-KWP
// (RFC 3394 §4, RFC 5649 §6 and NIST ACVP vectors from tests/vectors/key_wrap.txt), TR-31
// versions B and D (published blocks from tests/vectors/tr31.txt, and round trips),
// RSA-OAEP-SHA256, and the refusals: non-exportable key, untrusted KEK, KEK without wrap or
// unwrap usage, tampered wrapped bytes, a value of the wrong length for the algorithm; and
// reveal_secret (the clear value of a key sealed exportable, for KMIP Get).
#include <gtest/gtest.h>

#include "crypto/host_crypto.hpp"
#include "crypto/tr31.hpp"
#include "support.hpp"

namespace kms::hsm::test {
namespace {

using core::Algorithm;
using core::KeyFamily;
using core::Usage;
using core::WrapFormat;

struct Made {
    core::KeySpec spec;
    core::GeneratedKey key;
    core::KeyRef ref() const { return test::ref(spec, key); }
};

core::KeySpec spec_of(Algorithm a, core::UsageMask u, bool exportable = false,
                      bool trusted = false) {
    return {unique_id("dist"), 1, a, u, exportable, trusted};
}

Made import(Algorithm a, const Bytes& value, core::UsageMask u, bool exportable = false,
            bool trusted = false) {
    Made out{spec_of(a, u, exportable, trusted), {}};
    out.key = shared_hsm().import_secret(out.spec, SecureBytes(value.data(), value.size()));
    return out;
}

Made generate(Algorithm a, core::UsageMask u, bool exportable = false, bool trusted = false) {
    Made out{spec_of(a, u, exportable, trusted), {}};
    out.key = shared_hsm().generate(out.spec);
    return out;
}

Algorithm aes_for(std::size_t n) {
    return n == 16 ? Algorithm::Aes128 : n == 24 ? Algorithm::Aes192 : Algorithm::Aes256;
}

Bytes host_kcv(Algorithm a, ByteView value) {
    return core::info(a).family == KeyFamily::Aes ? crypto::kcv_aes_cmac(value)
                                                  : crypto::kcv_des3(value);
}

const core::UsageMask kKek = usage({Usage::Wrap, Usage::Unwrap});
const core::UsageMask kData = usage({Usage::Encrypt, Usage::Decrypt});

// tests/vectors is two folders up from tests/hsm/vectors.
std::vector<Record> shared_vectors(const std::string& file) {
    return read_vectors("../../vectors/" + file);
}

// ---- AES-KW / AES-KWP ----------------------------------------------------------------------

TEST(Distribution, AesKeyWrapVectorsThroughTheHsm) {
    int checked = 0;
    for (const Record& r : shared_vectors("key_wrap.txt")) {
        const Bytes kek_value = hex_field(r, "kek");
        const Bytes key_value = hex_field(r, "key");
        const Bytes wrapped = hex_field(r, "wrapped");
        const WrapFormat format = r.at("format") == "KWP" ? WrapFormat::AesKwp : WrapFormat::AesKw;
        SCOPED_TRACE(r.at("format") + " " + r.at("wrapped"));
        const Made kek = import(aes_for(kek_value.size()), kek_value, kKek, false, true);
        const core::KeySpec spec = spec_of(Algorithm::Aes128, kData);
        if (key_value.size() != 16 && key_value.size() != 24 && key_value.size() != 32) {
            // RFC 5649's 20- and 7-byte examples: the ICV verifies, the length fits no AES key.
            expect_error(ErrorCode::VerificationFailed, [&] {
                shared_hsm().unwrap_key(spec, kek.ref(), format, wrapped);
            });
            ++checked;
            continue;
        }
        const Algorithm alg = aes_for(key_value.size());
        // Import: the published ciphertext unwraps to the published key (compared by KCV,
        // computed in the HSM for the new key block and on the host for the known value).
        const core::KeySpec in_spec = spec_of(alg, usage({Usage::Mac}));
        const core::GeneratedKey in = shared_hsm().unwrap_key(in_spec, kek.ref(), format, wrapped);
        EXPECT_EQ(to_hex(in.kcv), to_hex(crypto::kcv_aes_cmac(key_value)));
        // The imported key works like any other key (its block opens and CMACs).
        EXPECT_EQ(to_hex(shared_hsm().mac(test::ref(in_spec, in), core::MacAlgorithm::AesCmac,
                                          Bytes(16, 0))),
                  to_hex(crypto::aes_cmac(key_value, Bytes(16, 0))));
        // Export: deterministic, so equal to the published ciphertext.
        const Made key = import(alg, key_value, kData, true);
        EXPECT_EQ(to_hex(shared_hsm().wrap_key(key.ref(), kek.ref(), format)), to_hex(wrapped));
        ++checked;
    }
    EXPECT_GE(checked, 10);
}

TEST(Distribution, WrapRefusals) {
    const Made kek = generate(Algorithm::Aes256, kKek, false, true);
    const Made exportable = generate(Algorithm::Aes128, kData, true);
    const Made not_exportable = generate(Algorithm::Aes128, kData, false);
    const Made untrusted_kek = generate(Algorithm::Aes256, kKek, false, false);
    const Made unwrap_only_kek = generate(Algorithm::Aes256, usage({Usage::Unwrap}), false, true);
    const Made wrap_only_kek = generate(Algorithm::Aes256, usage({Usage::Wrap}), false, true);
    const Made des_kek = generate(Algorithm::Des3_3k, kKek, false, true);

    EXPECT_EQ(shared_hsm().wrap_key(exportable.ref(), kek.ref(), WrapFormat::AesKw).size(), 24u);
    expect_error(ErrorCode::UsageNotPermitted, [&] {
        shared_hsm().wrap_key(not_exportable.ref(), kek.ref(), WrapFormat::AesKw);
    });
    expect_error(ErrorCode::UsageNotPermitted, [&] {
        shared_hsm().wrap_key(exportable.ref(), untrusted_kek.ref(), WrapFormat::AesKwp);
    });
    expect_error(ErrorCode::UsageNotPermitted, [&] {
        shared_hsm().wrap_key(exportable.ref(), unwrap_only_kek.ref(), WrapFormat::AesKw);
    });
    expect_error(ErrorCode::InvalidArgument, [&] {
        shared_hsm().wrap_key(exportable.ref(), des_kek.ref(), WrapFormat::AesKw);
    });
    // The caller's metadata cannot make a key exportable: the sealed block decides (a KeyRef
    // carries no exportable flag at all), and an edited block fails its seal.
    Made forged = not_exportable;
    forged.key.block[forged.key.block.size() - 40] ^= 0x01;
    expect_error(ErrorCode::Integrity, [&] {
        shared_hsm().wrap_key(forged.ref(), kek.ref(), WrapFormat::AesKw);
    });

    // Import needs usage unwrap only, not trust: the same KEK value imported untrusted opens
    // what the trusted copy wrapped.
    const Bytes kek_value = crypto::random_bytes(32);
    const Made trusted_copy = import(Algorithm::Aes256, kek_value, kKek, false, true);
    const Made untrusted_copy = import(Algorithm::Aes256, kek_value, usage({Usage::Unwrap}));
    const Bytes wrapped =
        shared_hsm().wrap_key(exportable.ref(), trusted_copy.ref(), WrapFormat::AesKwp);
    EXPECT_EQ(to_hex(shared_hsm()
                         .unwrap_key(spec_of(Algorithm::Aes128, kData), untrusted_copy.ref(),
                                     WrapFormat::AesKwp, wrapped)
                         .kcv),
              to_hex(exportable.key.kcv));
    expect_error(ErrorCode::UsageNotPermitted, [&] {
        shared_hsm().unwrap_key(spec_of(Algorithm::Aes128, kData), wrap_only_kek.ref(),
                                WrapFormat::AesKwp, wrapped);
    });
}

// ---- clear value for its owner (reveal_secret, KMIP Get) -------------------------------------

TEST(Distribution, RevealGivesTheKeyValueOnlyWhenSealedExportable) {
    // Published keys (RFC 3394 §4, RFC 5649 §6, ACVP: tests/vectors/key_wrap.txt) imported
    // exportable come back exactly.
    int checked = 0;
    for (const Record& r : shared_vectors("key_wrap.txt")) {
        const Bytes value = hex_field(r, "key");
        if (value.size() != 16 && value.size() != 24 && value.size() != 32) continue;
        SCOPED_TRACE(r.at("key"));
        const Made k = import(aes_for(value.size()), value, kData, true);
        const SecureBytes got = shared_hsm().reveal_secret(k.ref());
        EXPECT_EQ(to_hex(Bytes(got.view().begin(), got.view().end())), to_hex(value));
        ++checked;
    }
    EXPECT_GE(checked, 3);
    // A generated key: the value's KCV computed here equals the one the HSM computed.
    for (Algorithm a : {Algorithm::Aes256, Algorithm::Des3_3k, Algorithm::HmacSha256}) {
        const Made k = generate(a, a == Algorithm::HmacSha256 ? usage({Usage::Mac}) : kData, true);
        const SecureBytes got = shared_hsm().reveal_secret(k.ref());
        EXPECT_EQ(got.size(), core::secret_length(a));
        if (a != Algorithm::HmacSha256) {
            EXPECT_EQ(to_hex(host_kcv(a, got.view())), to_hex(k.key.kcv));
        }
    }
    const Made not_exportable = generate(Algorithm::Aes256, kData, false);
    expect_error(ErrorCode::UsageNotPermitted,
                 [&] { shared_hsm().reveal_secret(not_exportable.ref()); });
    Made forged = not_exportable;
    forged.key.block[forged.key.block.size() - 40] ^= 0x01;
    expect_error(ErrorCode::Integrity, [&] { shared_hsm().reveal_secret(forged.ref()); });
    const Made ec = generate(Algorithm::EcP256, usage({Usage::Sign}), true);
    expect_error(ErrorCode::InvalidArgument, [&] { shared_hsm().reveal_secret(ec.ref()); });
}

TEST(Distribution, UnwrapRefusals) {
    const Made kek = generate(Algorithm::Aes256, kKek, false, true);
    const Made wrap_only_kek = generate(Algorithm::Aes256, usage({Usage::Wrap}), false, true);
    const Made key = generate(Algorithm::Aes256, kData, true);
    const core::KeySpec spec = spec_of(Algorithm::Aes256, kData);
    for (const WrapFormat f : {WrapFormat::AesKw, WrapFormat::AesKwp}) {
        const Bytes wrapped = shared_hsm().wrap_key(key.ref(), kek.ref(), f);
        EXPECT_EQ(to_hex(shared_hsm().unwrap_key(spec_of(Algorithm::Aes256, kData), kek.ref(), f,
                                                 wrapped)
                             .kcv),
                  to_hex(key.key.kcv));
        for (std::size_t i : {std::size_t{0}, wrapped.size() / 2, wrapped.size() - 1}) {
            Bytes tampered = wrapped;
            tampered[i] ^= 0x01;
            expect_error(ErrorCode::VerificationFailed,
                         [&] { shared_hsm().unwrap_key(spec, kek.ref(), f, tampered); });
        }
        expect_error(ErrorCode::UsageNotPermitted,
                     [&] { shared_hsm().unwrap_key(spec, wrap_only_kek.ref(), f, wrapped); });
        // A 32-byte value imported as AES-128: wrong length for the algorithm.
        expect_error(ErrorCode::VerificationFailed, [&] {
            shared_hsm().unwrap_key(spec_of(Algorithm::Aes128, kData), kek.ref(), f, wrapped);
        });
        expect_error(ErrorCode::VerificationFailed, [&] {
            shared_hsm().unwrap_key(spec, kek.ref(), f, Bytes(wrapped.begin(), wrapped.end() - 8));
        });
    }
}

// ---- TR-31 ---------------------------------------------------------------------------------

TEST(Distribution, Tr31PublishedBlocksImport) {
    struct Expect {
        std::string prefix;  ///< the block's first 16 characters
        Algorithm algorithm;
        core::UsageMask usage;
    };
    // The published blocks whose header has an equivalent here; the others must be refused.
    const std::vector<Expect> importable = {
        {"B0080K0TN00N0000", Algorithm::Des3_2k, kKek},
        {"D0144D0AN00N0000", Algorithm::Aes256, kData},
        {"B0096M3TC00E0000", Algorithm::Des3_2k, usage({Usage::Mac})},
    };
    int imported = 0, refused = 0;
    for (const Record& r : shared_vectors("tr31.txt")) {
        const std::string block = r.at("block_ascii");
        const Bytes kbpk_value = hex_field(r, "kbpk");
        const Bytes key_value = hex_field(r, "key");
        SCOPED_TRACE(block);
        const Algorithm kbpk_alg = block[0] == 'D' ? aes_for(kbpk_value.size())
                                   : kbpk_value.size() == 16 ? Algorithm::Des3_2k
                                                             : Algorithm::Des3_3k;
        // Import needs usage unwrap only; not trusted.
        const Made kbpk = import(kbpk_alg, kbpk_value, usage({Usage::Unwrap}));
        const Expect* e = nullptr;
        for (const auto& x : importable)
            if (block.compare(0, 16, x.prefix) == 0 && key_value.size() == 16 + 16 * (x.algorithm == Algorithm::Aes256))
                e = &x;
        if (e == nullptr) {
            // e.g. P0 (PIN key), B0 (BDK), an 8-byte single-DES key: refused before any key is made.
            try {
                shared_hsm().import_tr31(spec_of(Algorithm::Des3_2k, kData), kbpk.ref(), block);
                ADD_FAILURE() << "imported " << block.substr(0, 16);
            } catch (const Error& err) {
                EXPECT_TRUE(err.code() == ErrorCode::InvalidArgument ||
                            err.code() == ErrorCode::VerificationFailed)
                    << err.what();
            }
            ++refused;
            continue;
        }
        const core::KeySpec spec = spec_of(e->algorithm, e->usage);
        const core::ImportedTr31 out = shared_hsm().import_tr31(spec, kbpk.ref(), block);
        EXPECT_EQ(to_hex(out.key.kcv), to_hex(host_kcv(e->algorithm, key_value)));
        EXPECT_EQ(out.header.usage, block.substr(5, 2));
        // Exportable is refused against an 'N' header.
        if (block[11] == 'N') {
            core::KeySpec exp = spec_of(e->algorithm, e->usage, true);
            expect_error(ErrorCode::InvalidArgument,
                         [&] { shared_hsm().import_tr31(exp, kbpk.ref(), block); });
        }
        // A changed character: the MAC does not verify.
        std::string tampered = block;
        tampered[20] = tampered[20] == '0' ? '1' : '0';
        expect_error(ErrorCode::VerificationFailed,
                     [&] { shared_hsm().import_tr31(spec, kbpk.ref(), tampered); });
        ++imported;
    }
    EXPECT_GE(imported, 4);
    EXPECT_GE(refused, 4);
}

TEST(Distribution, Tr31RoundTripsBAndD) {
    struct Case {
        char version;
        Algorithm kbpk;
        Algorithm key;
        core::UsageMask usage;
    };
    for (const Case c : {Case{'B', Algorithm::Des3_2k, Algorithm::Des3_2k, usage({Usage::Mac})},
                         Case{'B', Algorithm::Des3_3k, Algorithm::Des3_3k, kData},
                         Case{'D', Algorithm::Aes256, Algorithm::Aes128, kData},
                         Case{'D', Algorithm::Aes128, Algorithm::Aes256, kKek},
                         Case{'D', Algorithm::Aes256, Algorithm::HmacSha256, usage({Usage::Mac})}}) {
        SCOPED_TRACE(std::string(1, c.version) + " " + std::string(core::info(c.key).name));
        const Bytes kbpk_value = crypto::random_bytes(core::secret_length(c.kbpk));
        const Bytes key_value = crypto::random_bytes(core::secret_length(c.key));
        const Made kbpk = import(c.kbpk, kbpk_value, kKek, false, true);
        const Made key = import(c.key, key_value, c.usage, true);
        const core::Tr31Header header = core::tr31_header_for(c.version, c.key, c.usage, true);
        const std::string block = shared_hsm().export_tr31(key.ref(), kbpk.ref(), header);
        EXPECT_EQ(block[0], c.version);
        // The block opens on the host under the known KBPK to the known key.
        const crypto::Tr31Opened opened = crypto::tr31_unwrap(kbpk_value, block);
        EXPECT_EQ(to_hex(Bytes(opened.key.data(), opened.key.data() + opened.key.size())),
                  to_hex(key_value));
        // And imports back through the HSM to a key with the same KCV.
        const core::ImportedTr31 back =
            shared_hsm().import_tr31(spec_of(c.key, c.usage, true), kbpk.ref(), block);
        EXPECT_EQ(to_hex(back.key.kcv), to_hex(key.key.kcv));
        EXPECT_EQ(back.header.usage, header.usage);
    }
}

TEST(Distribution, Tr31Refusals) {
    const Made kbpk = generate(Algorithm::Aes256, kKek, false, true);
    const Made untrusted = generate(Algorithm::Aes256, kKek, false, false);
    const Made des_kbpk = generate(Algorithm::Des3_2k, kKek, false, true);
    const Made key = generate(Algorithm::Aes128, kData, true);
    const Made fixed = generate(Algorithm::Aes128, kData, false);
    const auto header = core::tr31_header_for('D', Algorithm::Aes128, kData, true);
    expect_error(ErrorCode::UsageNotPermitted,
                 [&] { shared_hsm().export_tr31(fixed.ref(), kbpk.ref(), header); });
    expect_error(ErrorCode::UsageNotPermitted,
                 [&] { shared_hsm().export_tr31(key.ref(), untrusted.ref(), header); });
    // Version D needs an AES KBPK; a version B block of an AES key has no TR-31 form here.
    expect_error(ErrorCode::InvalidArgument,
                 [&] { shared_hsm().export_tr31(key.ref(), des_kbpk.ref(), header); });
    // A header claiming more than the sealed usage (a KEK usage for a data key).
    core::Tr31Header wider = header;
    wider.usage = "K0";
    expect_error(ErrorCode::InvalidArgument,
                 [&] { shared_hsm().export_tr31(key.ref(), kbpk.ref(), wider); });
    // Importing contradicting the header: decrypt-only data key as encrypt, AES as DES3.
    const std::string block = shared_hsm().export_tr31(key.ref(), kbpk.ref(), header);
    expect_error(ErrorCode::InvalidArgument, [&] {
        shared_hsm().import_tr31(spec_of(Algorithm::Aes128, usage({Usage::Mac})), kbpk.ref(), block);
    });
    expect_error(ErrorCode::InvalidArgument, [&] {
        shared_hsm().import_tr31(spec_of(Algorithm::Des3_2k, kData), kbpk.ref(), block);
    });
    // Header says AES-128 usage, but the value is imported as AES-256: wrong length.
    expect_error(ErrorCode::VerificationFailed, [&] {
        shared_hsm().import_tr31(spec_of(Algorithm::Aes256, kData), kbpk.ref(), block);
    });
}

// ---- RSA-OAEP-SHA256 -----------------------------------------------------------------------

TEST(Distribution, RsaOaepRoundTrip) {
    const Made rsa = generate(Algorithm::Rsa2048, kKek, false, true);
    const Made untrusted_rsa = generate(Algorithm::Rsa2048, kKek, false, false);
    for (const Algorithm a : {Algorithm::Aes256, Algorithm::Des3_3k, Algorithm::HmacSha256}) {
        SCOPED_TRACE(std::string(core::info(a).name));
        const Made key = generate(a, a == Algorithm::HmacSha256 ? usage({Usage::Mac}) : kData, true);
        const Bytes wrapped = shared_hsm().wrap_key_rsa_oaep(key.ref(), rsa.ref());
        EXPECT_EQ(wrapped.size(), 256u);
        // OAEP is randomised.
        EXPECT_NE(to_hex(wrapped), to_hex(shared_hsm().wrap_key_rsa_oaep(key.ref(), rsa.ref())));
        const core::GeneratedKey back = shared_hsm().unwrap_key_rsa_oaep(
            spec_of(a, key.spec.usage), rsa.ref(), wrapped);
        EXPECT_EQ(to_hex(back.kcv), to_hex(key.key.kcv));
        if (a == Algorithm::HmacSha256) {
            const core::KeySpec s = spec_of(a, key.spec.usage);
            const core::GeneratedKey b2 = shared_hsm().unwrap_key_rsa_oaep(s, rsa.ref(), wrapped);
            EXPECT_EQ(to_hex(shared_hsm().mac(test::ref(s, b2), core::MacAlgorithm::HmacSha256,
                                              text_bytes("abc"))),
                      to_hex(shared_hsm().mac(key.ref(), core::MacAlgorithm::HmacSha256,
                                              text_bytes("abc"))));
        }
        Bytes tampered = wrapped;
        tampered[100] ^= 0x01;
        expect_error(ErrorCode::VerificationFailed, [&] {
            shared_hsm().unwrap_key_rsa_oaep(spec_of(a, key.spec.usage), rsa.ref(), tampered);
        });
        expect_error(ErrorCode::UsageNotPermitted, [&] {
            shared_hsm().wrap_key_rsa_oaep(key.ref(), untrusted_rsa.ref());
        });
    }
    // An outside recipient (public key only, no block) with usage wrap.
    const Made key = generate(Algorithm::Aes128, kData, true);
    core::KeyRef outside{"outside", 1, Algorithm::Rsa2048, usage({Usage::Wrap}), {},
                         rsa.key.public_key};
    const Bytes wrapped = shared_hsm().wrap_key_rsa_oaep(key.ref(), outside);
    EXPECT_EQ(to_hex(shared_hsm()
                         .unwrap_key_rsa_oaep(spec_of(Algorithm::Aes128, kData), rsa.ref(), wrapped)
                         .kcv),
              to_hex(key.key.kcv));
    // Wrong length for the algorithm: an AES-128 value imported as AES-256.
    expect_error(ErrorCode::VerificationFailed, [&] {
        shared_hsm().unwrap_key_rsa_oaep(spec_of(Algorithm::Aes256, kData), rsa.ref(), wrapped);
    });
    const Made not_exportable = generate(Algorithm::Aes128, kData, false);
    expect_error(ErrorCode::UsageNotPermitted,
                 [&] { shared_hsm().wrap_key_rsa_oaep(not_exportable.ref(), rsa.ref()); });
}

TEST(Distribution, HostFallbacksAreListed) {
    const auto info = shared_hsm().info();
    bool tr31 = false, oaep = false;
    for (const auto& f : info.host_fallbacks) {
        tr31 = tr31 || f.rfind("TR-31:", 0) == 0;
        oaep = oaep || f.rfind("RSA-OAEP-SHA256:", 0) == 0;
    }
    EXPECT_TRUE(tr31);
    EXPECT_TRUE(oaep);
}

}  // namespace
}  // namespace kms::hsm::test
