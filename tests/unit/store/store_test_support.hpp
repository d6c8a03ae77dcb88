// Shared fixtures of the store tests: a temporary directory, a deterministic clock, the test
// audit sealer (HMAC-SHA256 under a fixed key) and record builders.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <string>

#include "crypto/host_crypto.hpp"
#include "domain/audit.hpp"
#include "domain/key.hpp"
#include "domain/principal.hpp"
#include "ports/clock.hpp"
#include "ports/metadata_store.hpp"

namespace kms::store::test {

/// A fresh directory under $TMPDIR (or /tmp), removed with everything in it at the end.
class TempDir {
  public:
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string pattern = std::string(base && *base ? base : "/tmp") + "/kms-store-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        m_path = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    /// A path inside the directory (not created).
    std::string sub(const std::string& name) const { return (m_path / name).string(); }

  private:
    std::filesystem::path m_path;
};

/// Starts at 1'700'000'000'000 ms and advances by one millisecond per call.
class StepClock final : public core::Clock {
  public:
    std::int64_t now_ms() const override { return m_next.fetch_add(1); }
    std::int64_t peek() const { return m_next.load(); }

  private:
    mutable std::atomic<std::int64_t> m_next{1'700'000'000'000};
};

inline const Bytes& seal_key() {
    static const Bytes key(32, 0x42);
    return key;
}

inline Bytes test_seal(ByteView hash) {
    return crypto::hmac_sha256(seal_key(), hash);
}

/// "k-" + 32 hex digits, ordered like @p n.
/// A stored value as text for comparisons, "<none>" when absent.
inline std::string text(const std::optional<Bytes>& v) {
    return v ? std::string(v->begin(), v->end()) : std::string("<none>");
}

inline std::string key_id(unsigned n) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "k-%032x", n);
    return buf;
}

inline core::KeyRecord make_key(unsigned n, const std::string& name,
                                core::KeyState state = core::KeyState::Active,
                                core::Algorithm algorithm = core::Algorithm::Aes256) {
    core::KeyRecord k;
    k.id = key_id(n);
    k.name = name;
    k.algorithm = algorithm;
    k.usage = core::UsageMask(0x3);
    k.state = state;
    k.created_by = "officer";
    k.created_ms = 1'600'000'000'000 + n;
    k.versions.push_back(
        {1, Bytes(40, static_cast<std::uint8_t>(n)), Bytes{1, 2, 3}, {}, k.created_ms});
    return k;
}

inline core::Principal make_principal(const std::string& name, Bytes token_hash) {
    core::Principal p;
    p.name = name;
    p.roles = 0x3;
    p.token_hash = std::move(token_hash);
    p.created_ms = 1'650'000'000'000;
    p.created_by = "admin";
    return p;
}

inline core::AuditEvent event(const std::string& action, const std::string& target) {
    return core::AuditEvent{"alice", action, target, core::AuditOutcome::Success, "detail"};
}

/// Asserts every link of @p records: seq from @p first_seq without gaps, prev_hash equal to
/// the hash before (@p prev_hash for the first), hash == SHA-256(canonical bytes), and the
/// batch seals: each sealed record names the first record after the previous seal (when that
/// lies before @p first_seq, anything from there on) and carries HMAC-SHA256(seal_key(),
/// first || hash); the last record is sealed.
inline void expect_chain(const std::vector<core::AuditRecord>& records, std::uint64_t first_seq,
                         Bytes prev_hash) {
    std::uint64_t seq = first_seq;
    std::uint64_t unsealed_from = 0;
    for (const auto& r : records) {
        ASSERT_EQ(r.seq, seq) << "gap or disorder in the audit log";
        ASSERT_EQ(r.prev_hash, prev_hash) << "seq " << r.seq;
        ASSERT_EQ(r.hash, crypto::sha256(core::canonical_audit_bytes(r))) << "seq " << r.seq;
        if (r.seal.empty()) {
            if (unsealed_from == 0) unsealed_from = r.seq;
        } else {
            ASSERT_EQ(r.seal.size(), 40u) << "seq " << r.seq;
            const auto parts = core::audit_seal_parts(r);
            ASSERT_TRUE(parts);
            // The first batch seen may have begun before first_seq.
            const bool batch_began_before = first_seq != 1 && (unsealed_from == first_seq ||
                                                               (unsealed_from == 0 && r.seq == first_seq));
            if (batch_began_before) {
                ASSERT_LE(parts->first_seq, r.seq) << "seq " << r.seq;
            } else {
                ASSERT_EQ(parts->first_seq, unsealed_from == 0 ? r.seq : unsealed_from)
                    << "seq " << r.seq;
            }
            ASSERT_EQ(parts->mac, test_seal(parts->mac_input)) << "seq " << r.seq;
            unsealed_from = 0;
        }
        prev_hash = r.hash;
        ++seq;
    }
    ASSERT_EQ(unsealed_from, 0u) << "records from " << unsealed_from << " on have no seal";
}

}  // namespace kms::store::test
