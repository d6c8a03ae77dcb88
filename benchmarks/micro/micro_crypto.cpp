// Micro-benchmarks of the host-side steps every card and key-block request goes through: the
// MACs (ISO/IEC 9797-1 MAC algorithm 3 "retail MAC", AES-CMAC of NIST SP 800-38B), SCP02 and
// SCP03 session set-up on the host side (GP 2.2.1 E.4.1; Amd D §6.2.1, §6.2.2), TR-31 key
// blocks (X9.143 version D: build and open), ISO 7816-4 APDU parsing, PUT KEY command building
// (GPCS 2.2.1 §11.8), and the REST layer's JSON body parsing and validation. No I/O.
#include <benchmark/benchmark.h>

#include <array>
#include <string>

#include "api/json.hpp"
#include "crypto/gp_put_key.hpp"
#include "crypto/gp_scp02.hpp"
#include "crypto/gp_scp03.hpp"
#include "crypto/host_crypto.hpp"
#include "crypto/tr31.hpp"
#include "domain/apdu.hpp"
#include "domain/tr31.hpp"

namespace {

using kms::Bytes;
using kms::from_hex;

const Bytes kKey16 = from_hex("404142434445464748494A4B4C4D4E4F");  // GP test keys
const Bytes kKey32 = from_hex("404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F");
const Bytes kData16(16, 0x5A);
const Bytes kHostChallenge = from_hex("0001020304050607");
const Bytes kCardChallenge = from_hex("1011121314151617");

// Retail MAC over 16 bytes (two blocks after padding): SCP02's C-MAC step.
void BM_RetailMac16(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(kms::crypto::retail_mac(kKey16, kData16));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RetailMac16);

// Host AES-CMAC over 16 bytes with OpenSSL 3 (same input as the HSM CMAC rows).
void BM_HostAesCmac16(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(kms::crypto::aes_cmac(kKey16, kData16));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HostAesCmac16);

// SCP02 host side: the four session keys (GP 2.2.1 E.4.1) and both cryptograms (E.4.2).
void BM_Scp02SessionSetup(benchmark::State& state) {
    const Bytes seq = from_hex("0001");
    const Bytes card6 = from_hex("101112131415");
    for (auto _ : state) {
        auto keys = kms::crypto::scp02_session_keys(kKey16, kKey16, kKey16, seq);
        const kms::ByteView s_enc(keys.enc.data(), keys.enc.size());
        benchmark::DoNotOptimize(
            kms::crypto::scp02_card_cryptogram(s_enc, kHostChallenge, seq, card6));
        benchmark::DoNotOptimize(
            kms::crypto::scp02_host_cryptogram(s_enc, seq, card6, kHostChallenge));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Scp02SessionSetup);

// SCP03 host side: S-ENC, S-MAC, S-RMAC (Amd D §6.2.1) and both cryptograms (§6.2.2.2-3).
void BM_Scp03SessionSetup(benchmark::State& state) {
    namespace s3 = kms::crypto::scp03;
    for (auto _ : state) {
        auto keys = s3::derive_session_keys(kKey16, kKey16, kHostChallenge, kCardChallenge);
        const kms::ByteView s_mac(keys.s_mac.data(), keys.s_mac.size());
        benchmark::DoNotOptimize(s3::card_cryptogram(s_mac, kHostChallenge, kCardChallenge));
        benchmark::DoNotOptimize(s3::host_cryptogram(s_mac, kHostChallenge, kCardChallenge));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Scp03SessionSetup);

kms::core::Tr31Header mac_key_header() {
    return kms::core::tr31_header_for('D', kms::core::Algorithm::Aes128,
                                      kms::core::UsageMask().add(kms::core::Usage::Mac), false);
}

// TR-31 version D block of an AES-128 key under an AES-256 KBPK (header, KBEK/KBAK derivation,
// CMAC, CBC encryption, hex).
void BM_Tr31Build(benchmark::State& state) {
    const auto header = mac_key_header();
    for (auto _ : state) benchmark::DoNotOptimize(kms::crypto::tr31_wrap(kKey32, header, kKey16));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Tr31Build);

// Opening that block: header parse, MAC check, decryption.
void BM_Tr31Parse(benchmark::State& state) {
    const std::string block = kms::crypto::tr31_wrap(kKey32, mac_key_header(), kKey16);
    for (auto _ : state) benchmark::DoNotOptimize(kms::crypto::tr31_unwrap(kKey32, block));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Tr31Parse);

// The TR-31 header alone (the clear part every import parses first).
void BM_Tr31HeaderParse(benchmark::State& state) {
    const std::string block = kms::crypto::tr31_wrap(kKey32, mac_key_header(), kKey16);
    for (auto _ : state) benchmark::DoNotOptimize(kms::core::parse_tr31_header(block));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Tr31HeaderParse);

// ISO 7816-4 command APDU parsing (case 4: SELECT by AID, 8 data bytes) and a response with data:
// what every wrap and unwrap call starts with. (kms-core has no separate BER-TLV parser: the
// BER-TLV structures of the card side live in the virtual SE; these are the parsers kmsd runs.)
void BM_ApduParse(benchmark::State& state) {
    const Bytes command = from_hex("00A4040008A00000015100000000");
    const Bytes response = from_hex("6F108408A000000151000000A5049F6501FF9000");
    for (auto _ : state) {
        benchmark::DoNotOptimize(kms::core::parse_command_apdu(command));
        benchmark::DoNotOptimize(kms::core::parse_response_apdu(response));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ApduParse);

// SCP03 INITIALIZE UPDATE response (Amd D Table 7-3, 32 bytes with a sequence counter).
void BM_Scp03InitUpdateParse(benchmark::State& state) {
    const Bytes response =
        from_hex("000102030405060708093003101011121314151617A1A2A3A4A5A6A7A8000001");
    for (auto _ : state)
        benchmark::DoNotOptimize(kms::crypto::scp03::parse_initialize_update_response(response));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Scp03InitUpdateParse);

// PUT KEY data for a new SCP03 key set (ENC, MAC, DEK; AES-128, values already encrypted under
// the DEK as the HSM returns them) and the encoded command.
void BM_PutKeyBuild(benchmark::State& state) {
    namespace gp = kms::crypto::gp;
    std::array<gp::PutKeyComponent, 3> keys;
    for (auto& k : keys) k = {gp::KeyType::Aes, 16, Bytes(16, 0xC3), Bytes(3, 0x11)};
    for (auto _ : state) {
        const auto cmd = gp::put_key_command(0, 1, 0x30, keys);
        benchmark::DoNotOptimize(kms::core::encode_command_apdu(cmd));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PutKeyBuild);

// A key-creation request body as POST /v1/keys receives it: bounded parse, then the validated
// field reads its handler does (routes_keys.cpp; unknown fields refused).
void BM_JsonCreateKeyBody(benchmark::State& state) {
    const std::string text =
        R"({"name":"payments/issuer-7/mac-2026","algorithm":"AES-128","usage":["mac","verify"],)"
        R"("activate":true,"exportable":false})";
    for (auto _ : state) {
        kms::api::Body body(kms::api::parse_object_text(text),
                            {"name", "algorithm", "usage", "activate", "exportable", "trusted"});
        benchmark::DoNotOptimize(body.string("name", 128));
        benchmark::DoNotOptimize(kms::core::parse_algorithm(body.string("algorithm", 32)));
        benchmark::DoNotOptimize(body.strings("usage"));
        benchmark::DoNotOptimize(body.opt_bool("activate"));
        benchmark::DoNotOptimize(body.opt_bool("exportable"));
        benchmark::DoNotOptimize(body.opt_bool("trusted"));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JsonCreateKeyBody);

// A GP wrap body: ten APDUs in hex (benchmarks/wrk/gp_wrap.lua's shape).
void BM_JsonWrapBody(benchmark::State& state) {
    std::string text = R"({"apdus":[)";
    for (int i = 0; i < 10; ++i)
        text += std::string(i ? "," : "") + R"("80CA9F7F00","00A4040008A000000151000000")";
    text += "]}";
    for (auto _ : state) {
        kms::api::Body body(kms::api::parse_object_text(text), {"apdus"});
        benchmark::DoNotOptimize(body.strings("apdus", 256));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JsonWrapBody);

}  // namespace
