// Round trips of every field through the store's record codec, and rejection of truncated,
// padded, unknown-format and out-of-range encodings.
#include "store/record_codec.hpp"

#include <gtest/gtest.h>

#include "domain/error.hpp"

namespace kms::store {
namespace {

using core::KeyState;

core::KeyRecord full_key() {
    core::KeyRecord k;
    k.id = "k-0123456789abcdef0123456789abcdef";
    k.name = "payments/zmk-01";
    k.algorithm = core::Algorithm::Des3_3k;
    k.usage = core::UsageMask(0xA5);
    k.state = KeyState::Compromised;
    k.exportable = true;
    k.storage = core::KeyStorage::KeyBlock;
    k.created_by = "officer-1";
    k.created_ms = 1'700'000'000'123;
    k.activation_ms = 1'700'000'001'000;
    k.deactivation_ms = std::nullopt;
    k.compromise_ms = -5;  // before 1970: signed times survive the u64 encoding
    k.destroy_ms = 1'800'000'000'000;
    k.versions = {
        {1, Bytes{0xDE, 0xAD, 0xBE, 0xEF}, Bytes{0x01, 0x02, 0x03}, Bytes{}, 1'700'000'000'200},
        {2, Bytes(300, 0x77), Bytes{}, Bytes{0x30, 0x59, 0x30}, 1'700'000'000'300},
    };
    k.history = {
        {KeyState::PreActive, KeyState::Active, 1'700'000'001'000, "officer-1", "go live"},
        {KeyState::Active, KeyState::Compromised, 1'700'000'002'000, "officer-2", ""},
    };
    k.counters = {1, 2, 3, 4, 5, 0xFFFFFFFFFFFFFFFFull};
    k.kmip_extra_names = {"alias-1", "alias-2"};
    k.kmip_client_attributes = {{"Contact Information", Bytes{0x42, 0x00, 0x0B, 0x07}},
                                {"x-owner", Bytes{}}};
    k.kmip_replaced_id = "k-00";
    k.kmip_replacement_id = "k-ff";
    return k;
}

void expect_same(const core::KeyRecord& a, const core::KeyRecord& b) {
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.algorithm, b.algorithm);
    EXPECT_EQ(a.usage, b.usage);
    EXPECT_EQ(a.state, b.state);
    EXPECT_EQ(a.exportable, b.exportable);
    EXPECT_EQ(a.storage, b.storage);
    EXPECT_EQ(a.created_by, b.created_by);
    EXPECT_EQ(a.created_ms, b.created_ms);
    EXPECT_EQ(a.activation_ms, b.activation_ms);
    EXPECT_EQ(a.deactivation_ms, b.deactivation_ms);
    EXPECT_EQ(a.compromise_ms, b.compromise_ms);
    EXPECT_EQ(a.destroy_ms, b.destroy_ms);
    ASSERT_EQ(a.versions.size(), b.versions.size());
    for (std::size_t i = 0; i < a.versions.size(); ++i) {
        EXPECT_EQ(a.versions[i].number, b.versions[i].number);
        EXPECT_EQ(a.versions[i].block, b.versions[i].block);
        EXPECT_EQ(a.versions[i].kcv, b.versions[i].kcv);
        EXPECT_EQ(a.versions[i].public_key, b.versions[i].public_key);
        EXPECT_EQ(a.versions[i].created_ms, b.versions[i].created_ms);
    }
    ASSERT_EQ(a.history.size(), b.history.size());
    for (std::size_t i = 0; i < a.history.size(); ++i) {
        EXPECT_EQ(a.history[i].from, b.history[i].from);
        EXPECT_EQ(a.history[i].to, b.history[i].to);
        EXPECT_EQ(a.history[i].at_ms, b.history[i].at_ms);
        EXPECT_EQ(a.history[i].by, b.history[i].by);
        EXPECT_EQ(a.history[i].reason, b.history[i].reason);
    }
    EXPECT_EQ(a.counters.encrypt, b.counters.encrypt);
    EXPECT_EQ(a.counters.decrypt, b.counters.decrypt);
    EXPECT_EQ(a.counters.mac, b.counters.mac);
    EXPECT_EQ(a.counters.mac_verify, b.counters.mac_verify);
    EXPECT_EQ(a.counters.sign, b.counters.sign);
    EXPECT_EQ(a.counters.verify, b.counters.verify);
    EXPECT_EQ(a.kmip_extra_names, b.kmip_extra_names);
    EXPECT_EQ(a.kmip_client_attributes, b.kmip_client_attributes);
    EXPECT_EQ(a.kmip_replaced_id, b.kmip_replaced_id);
    EXPECT_EQ(a.kmip_replacement_id, b.kmip_replacement_id);
}

void expect_integrity_error(ByteView data, core::KeyRecord (*decode)(ByteView)) {
    try {
        decode(data);
        FAIL() << "decoded " << data.size() << " bytes that should not decode";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::Integrity) << e.what();
    }
}

TEST(RecordCodec, KeyRoundTripKeepsEveryField) {
    const core::KeyRecord k = full_key();
    const Bytes encoded = encode_key(k);
    ASSERT_FALSE(encoded.empty());
    EXPECT_EQ(encoded[0], 3);  // format byte (key records: 3)
    expect_same(decode_key(encoded), k);
}

TEST(RecordCodec, KeyRoundTripWithDefaultsAndNoOptionals) {
    core::KeyRecord k;
    k.id = "k-1";
    const core::KeyRecord back = decode_key(encode_key(k));
    expect_same(back, k);
    EXPECT_FALSE(back.activation_ms.has_value());
    EXPECT_TRUE(back.versions.empty());
}

TEST(RecordCodec, KeyEncodingIsStable) {
    // Pins the format-3 layout of record_codec.hpp byte for byte for a small record.
    core::KeyRecord k;
    k.id = "k";
    k.name = "n";
    k.algorithm = core::Algorithm::Aes128;
    k.usage = core::UsageMask(0x0102);
    k.state = KeyState::Active;
    k.created_by = "c";
    k.created_ms = 0x0102030405060708;
    k.activation_ms = 9;
    const std::string expected =
        std::string("03")                            // format
        + "000000016B" + "000000016E"                // id "k", name "n"
        + "01" + "00000102" + "02" + "00" + "01"     // algorithm, usage, state, exportable, storage
        + "0000000163" + "0102030405060708"          // created_by "c", created_ms
        + "010000000000000009" + "00" + "00" + "00"  // activation 9, three absent dates
        + "00000000" + "00000000"                    // no versions, no history
        + std::string(6 * 16, '0')                   // six u64 counters
        + "00"                                       // trusted (format 2)
        + "00000000" + "00000000"                    // no extra names, no client attributes
        + "00000000" + "00000000";                   // no Re-key links (format 3)
    EXPECT_EQ(to_hex(encode_key(k)), expected);
    // A format-2 record (written before the KMIP attributes) still decodes, without them.
    const std::string v2 = "02" + expected.substr(2, expected.size() - 2 - 32);
    EXPECT_TRUE(decode_key(from_hex(v2)).kmip_extra_names.empty());
    // A format-1 record (written before `trusted` existed) still decodes, as not trusted.
    const std::string v1 = "01" + expected.substr(2, expected.size() - 4 - 32);
    const auto old = decode_key(from_hex(v1));
    EXPECT_EQ(old.name, "n");
    EXPECT_FALSE(old.trusted);
    k.trusted = true;
    EXPECT_TRUE(decode_key(encode_key(k)).trusted);
}

TEST(RecordCodec, EveryTruncationOfAKeyIsAnIntegrityError) {
    const Bytes encoded = encode_key(full_key());
    for (std::size_t n = 0; n < encoded.size(); ++n)
        expect_integrity_error(ByteView(encoded).first(n), &decode_key);
}

TEST(RecordCodec, TrailingBytesAreAnIntegrityError) {
    Bytes encoded = encode_key(full_key());
    encoded.push_back(0);
    expect_integrity_error(encoded, &decode_key);
}

TEST(RecordCodec, UnknownFormatIsAnIntegrityError) {
    Bytes encoded = encode_key(full_key());
    encoded[0] = 4;
    expect_integrity_error(encoded, &decode_key);
}

TEST(RecordCodec, OutOfRangeEnumsAndFlagsAreIntegrityErrors) {
    core::KeyRecord k;
    k.id = "k";
    k.name = "n";
    const Bytes good = encode_key(k);
    // Offsets in the format-1 layout: 1 + 5 (id) + 5 (name) = 11 algorithm, 12..15 usage,
    // 16 state, 17 exportable, 18 storage.
    for (const auto& [offset, value] : std::vector<std::pair<std::size_t, std::uint8_t>>{
             {11, 0}, {11, 11}, {16, 0}, {16, 8}, {17, 2}, {18, 2}}) {
        Bytes bad = good;
        bad[offset] = value;
        SCOPED_TRACE("offset " + std::to_string(offset));
        expect_integrity_error(bad, &decode_key);
    }
}

TEST(RecordCodec, PrincipalRoundTrip) {
    core::Principal p;
    p.name = "plugin.se-tsm";
    p.roles = 0x11;
    p.token_hash = Bytes(32, 0xC3);
    p.created_ms = 1'650'000'000'000;
    p.created_by = "admin";
    p.disabled = true;
    const Bytes encoded = encode_principal(p);
    EXPECT_EQ(encoded[0], 1);
    const core::Principal back = decode_principal(encoded);
    EXPECT_EQ(back.name, p.name);
    EXPECT_EQ(back.roles, p.roles);
    EXPECT_EQ(back.token_hash, p.token_hash);
    EXPECT_EQ(back.created_ms, p.created_ms);
    EXPECT_EQ(back.created_by, p.created_by);
    EXPECT_TRUE(back.disabled);

    p.token_hash.clear();
    p.disabled = false;
    const core::Principal cert_only = decode_principal(encode_principal(p));
    EXPECT_TRUE(cert_only.token_hash.empty());
    EXPECT_FALSE(cert_only.disabled);

    Bytes truncated = encode_principal(p);
    truncated.pop_back();
    EXPECT_THROW(decode_principal(truncated), Error);
}

TEST(RecordCodec, AuditRecordRoundTrip) {
    core::AuditRecord r;
    r.seq = 0x0102030405060708;
    r.time_ms = 1'700'000'000'999;
    r.event = {"alice", "key.destroy", "k-00", core::AuditOutcome::Denied, "wrong_state"};
    r.prev_hash = Bytes(32, 0x01);
    r.hash = Bytes(32, 0x02);
    r.seal = Bytes(32, 0x03);
    const Bytes encoded = encode_audit(r);
    EXPECT_EQ(encoded[0], 1);
    const core::AuditRecord back = decode_audit(encoded);
    EXPECT_EQ(back.seq, r.seq);
    EXPECT_EQ(back.time_ms, r.time_ms);
    EXPECT_EQ(back.event.actor, "alice");
    EXPECT_EQ(back.event.action, "key.destroy");
    EXPECT_EQ(back.event.target, "k-00");
    EXPECT_EQ(back.event.outcome, core::AuditOutcome::Denied);
    EXPECT_EQ(back.event.detail, "wrong_state");
    EXPECT_EQ(back.prev_hash, r.prev_hash);
    EXPECT_EQ(back.hash, r.hash);
    EXPECT_EQ(back.seal, r.seal);
    // The canonical bytes (what is hashed) survive the round trip unchanged.
    EXPECT_EQ(core::canonical_audit_bytes(back), core::canonical_audit_bytes(r));

    Bytes bad_outcome = encoded;
    // outcome offset: 1 + 8 + 8 + (4+5) + (4+11) + (4+4) = 49
    ASSERT_EQ(bad_outcome[49], static_cast<std::uint8_t>(core::AuditOutcome::Denied));
    bad_outcome[49] = 4;
    EXPECT_THROW(decode_audit(bad_outcome), Error);
}

TEST(RecordCodec, AuditHeadRoundTrip) {
    const core::AuditHead head{42, Bytes(32, 0xAB)};
    const core::AuditHead back = decode_audit_head(encode_audit_head(head));
    EXPECT_EQ(back.seq, 42u);
    EXPECT_EQ(back.hash, head.hash);
}

TEST(RecordCodec, AuditKeysSortInSequenceOrder) {
    EXPECT_EQ(to_hex(audit_key(1)), "0000000000000001");
    EXPECT_LT(audit_key(255), audit_key(256));  // byte order == numeric order
    EXPECT_LT(audit_key(0xFFFFFFFF), audit_key(0x100000000));
}

}  // namespace
}  // namespace kms::store
