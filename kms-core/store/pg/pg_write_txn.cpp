// PgWriteTxn: statements, row locks, index conflicts and the audit chain under the head lock.
#include "store/pg/pg_write_txn.hpp"

#include "crypto/host_crypto.hpp"
#include "store/pg/pg_pool.hpp"
#include "store/pg/pg_schema.hpp"
#include "store/record_codec.hpp"
#include "store/store_rules.hpp"

namespace kms::store::pg {

pqxx::binarystring bin(ByteView v) {
    return pqxx::binarystring(v.data(), v.size());
}

Bytes to_bytes(const pqxx::field& f) {
    const pqxx::binarystring b(f);
    return Bytes(b.data(), b.data() + b.size());
}

template <class Body>
decltype(auto) PgWriteTxn::guarded(const char* conflict_message, Body&& body) {
    try {
        return body();
    } catch (const pqxx::unique_violation&) {
        // A concurrent transaction committed the same name or token after our check.
        m_failed = m_retry = true;
        throw Error(ErrorCode::Conflict, conflict_message ? conflict_message : "duplicate key");
    } catch (const pqxx::sql_error& e) {
        m_failed = true;
        // A statement after a failed one fails with 25P02 (transaction aborted): keep the
        // first failure's verdict.
        m_retry = m_retry || is_retryable(e);
        throw Error(ErrorCode::StoreError, "PostgreSQL error " + e.sqlstate() + " in a write");
    } catch (const pqxx::broken_connection&) {
        m_failed = true;
        throw Error(ErrorCode::StoreError, "PostgreSQL connection lost in a write");
    } catch (const pqxx::failure& e) {
        m_failed = true;
        throw Error(ErrorCode::StoreError,
                    std::string("PostgreSQL failure in a write: ") + e.what());
    }
}

std::optional<core::KeyRecord> PgWriteTxn::find_key(std::string_view id) {
    if (id.empty()) return std::nullopt;
    return guarded(nullptr, [&]() -> std::optional<core::KeyRecord> {
        const pqxx::result r = m_w.exec_params(
            "SELECT record FROM kms_keys WHERE id = $1 FOR UPDATE", std::string(id));
        if (r.empty()) return std::nullopt;
        return decode_key(to_bytes(r[0][0]));
    });
}

std::optional<std::string> PgWriteTxn::find_key_id_by_name(std::string_view name) {
    if (name.empty()) return std::nullopt;
    return guarded(nullptr, [&]() -> std::optional<std::string> {
        const pqxx::result r =
            m_w.exec_params("SELECT id FROM kms_keys WHERE live AND name = $1", std::string(name));
        if (r.empty()) return std::nullopt;
        return r[0][0].as<std::string>();
    });
}

void PgWriteTxn::put_key(const core::KeyRecord& key) {
    check_index_key(key.id, "key id");
    const bool live = !core::is_destroyed(key.state);
    if (live) check_index_key(key.name, "key name");
    if (live) {
        const auto owner = find_key_id_by_name(key.name);
        if (owner && *owner != key.id) throw Error(ErrorCode::Conflict, "name already in use");
    }
    guarded("name already in use", [&] {
        m_w.exec_params0(
            "INSERT INTO kms_keys (id, name, live, state, algorithm, usage, record) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET "
            "name = EXCLUDED.name, live = EXCLUDED.live, state = EXCLUDED.state, "
            "algorithm = EXCLUDED.algorithm, usage = EXCLUDED.usage, record = EXCLUDED.record",
            key.id, key.name, live, static_cast<int>(key.state), static_cast<int>(key.algorithm),
            static_cast<long long>(key.usage.bits()), bin(encode_key(key)));
    });
}

std::optional<core::Principal> PgWriteTxn::find_principal(std::string_view name) {
    if (name.empty()) return std::nullopt;
    return guarded(nullptr, [&]() -> std::optional<core::Principal> {
        const pqxx::result r = m_w.exec_params(
            "SELECT record FROM kms_principals WHERE name = $1 FOR UPDATE", std::string(name));
        if (r.empty()) return std::nullopt;
        return decode_principal(to_bytes(r[0][0]));
    });
}

void PgWriteTxn::put_principal(const core::Principal& p) {
    check_index_key(p.name, "principal name");
    if (p.token_hash.size() > kMaxIndexKeyBytes)
        throw Error(ErrorCode::InvalidArgument, "token hash is too long");
    guarded("token already in use", [&] {
        if (!p.token_hash.empty()) {
            const pqxx::result owner = m_w.exec_params(
                "SELECT name FROM kms_principals WHERE token_hash = $1", bin(p.token_hash));
            if (!owner.empty() && owner[0][0].as<std::string>() != p.name)
                throw Error(ErrorCode::Conflict, "token already in use");
        }
        const std::string sql =
            "INSERT INTO kms_principals (name, token_hash, record) VALUES ($1, $2, $3) "
            "ON CONFLICT (name) DO UPDATE SET token_hash = EXCLUDED.token_hash, "
            "record = EXCLUDED.record";
        if (p.token_hash.empty())
            m_w.exec_params0(sql, p.name, nullptr, bin(encode_principal(p)));
        else
            m_w.exec_params0(sql, p.name, bin(p.token_hash), bin(encode_principal(p)));
    });
}

void PgWriteTxn::append_audit(const core::AuditEvent& event) {
    if (!m_head) {
        guarded(nullptr, [&] {
            const pqxx::row row =
                m_w.exec1("SELECT seq, hash FROM kms_audit_head WHERE id = 1 FOR UPDATE");
            m_head = core::AuditHead{row[0].as<std::uint64_t>(), to_bytes(row[1])};
        });
        m_first_seq = m_head->seq + 1;
    }
    core::AuditRecord r;
    r.seq = m_head->seq + 1;
    r.time_ms = m_clock.now_ms();
    r.event = event;
    r.prev_hash = m_head->hash;
    r.hash = crypto::sha256(core::canonical_audit_bytes(r));
    m_head = core::AuditHead{r.seq, r.hash};
    m_records.push_back(std::move(r));
}

void PgWriteTxn::finish(const core::AuditSealer& sealer) {
    if (m_records.empty()) return;
    core::AuditRecord& last = m_records.back();
    // DESIGN §10 fail closed: what the sealer throws fails the whole write.
    last.seal = core::audit_batch_seal(
        m_first_seq, sealer(core::audit_batch_seal_input(m_first_seq, last.hash)));
    for (const core::AuditRecord& r : m_records) {
        try {
            guarded(nullptr, [&] {
                m_w.exec_params0("INSERT INTO kms_audit (seq, record) VALUES ($1, $2)",
                                 static_cast<long long>(r.seq), bin(encode_audit(r)));
            });
        } catch (const Error& e) {
            if (e.code() != ErrorCode::Conflict) throw;
            // Under the head lock no writer can race us to this seq: the row was put there
            // behind the store's back.
            m_retry = false;
            throw Error(ErrorCode::Integrity, "audit record " + std::to_string(r.seq) +
                                                  " already exists beyond the audit head");
        }
    }
    guarded(nullptr, [&] {
        m_w.exec_params0("UPDATE kms_audit_head SET seq = $1, hash = $2 WHERE id = 1",
                         static_cast<long long>(m_head->seq), bin(m_head->hash));
    });
}

std::optional<Bytes> PgWriteTxn::get_setting(std::string_view name) {
    if (name.empty()) return std::nullopt;
    return guarded(nullptr, [&]() -> std::optional<Bytes> {
        if (name == kAuditHeadSetting) {
            if (m_head) return encode_audit_head(*m_head);
            const pqxx::row row = m_w.exec1("SELECT seq, hash FROM kms_audit_head WHERE id = 1");
            if (row[0].as<std::uint64_t>() == 0) return std::nullopt;
            return encode_audit_head(core::AuditHead{row[0].as<std::uint64_t>(), to_bytes(row[1])});
        }
        // FOR UPDATE: settings read in a write are counters and markers read-modify-written
        // (the CRL number, "initialized"); another node's same write waits for this one.
        const pqxx::result r = m_w.exec_params(
            "SELECT value FROM kms_meta WHERE name = $1 FOR UPDATE", std::string(name));
        if (r.empty()) return std::nullopt;
        return to_bytes(r[0][0]);
    });
}

void PgWriteTxn::put_setting(std::string_view name, ByteView value) {
    check_setting_name(name);
    guarded(nullptr, [&] {
        m_w.exec_params0(
            "INSERT INTO kms_meta (name, value) VALUES ($1, $2) "
            "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            std::string(name), bin(value));
    });
}

void PgWriteTxn::delete_setting(std::string_view name) {
    check_setting_name(name);
    guarded(nullptr,
            [&] { m_w.exec_params0("DELETE FROM kms_meta WHERE name = $1", std::string(name)); });
}

std::optional<Bytes> PgWriteTxn::get(core::Table table, std::string_view key) {
    check_table_key(key);
    return guarded(nullptr, [&]() -> std::optional<Bytes> {
        // FOR UPDATE: approvals and ceremonies are read, voted on and written back.
        const pqxx::result r = m_w.exec_params(
            "SELECT value FROM " + table_sql_name(table) + " WHERE key = $1 FOR UPDATE",
            std::string(key));
        if (r.empty()) return std::nullopt;
        return to_bytes(r[0][0]);
    });
}

void PgWriteTxn::put(core::Table table, std::string_view key, ByteView value) {
    check_table_key(key);
    guarded(nullptr, [&] {
        m_w.exec_params0("INSERT INTO " + table_sql_name(table) +
                             " (key, value) VALUES ($1, $2) "
                             "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                         std::string(key), bin(value));
    });
}

void PgWriteTxn::erase(core::Table table, std::string_view key) {
    check_table_key(key);
    guarded(nullptr, [&] {
        m_w.exec_params0("DELETE FROM " + table_sql_name(table) + " WHERE key = $1",
                         std::string(key));
    });
}

}  // namespace kms::store::pg
