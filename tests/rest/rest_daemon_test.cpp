// kmsd as a process: first start, restart, port conflicts, audit tampering found by
// "audit verify", the master key visible to pkcs11-tool (suite "rest").
#include <gtest/gtest.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>

#include "crypto/host_crypto.hpp"
#include "kmsd_process.hpp"
#include "store/record_codec.hpp"

namespace kms::test {
namespace {

std::string read_all(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    std::string t = s.str();
    while (!t.empty() && t.back() == '\n') t.pop_back();
    return t;
}

unsigned mode_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return 0;
    return st.st_mode & 0777;
}

std::string run(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    char buf[4096];
    while (p && std::fgets(buf, sizeof buf, p)) out += buf;
    if (p) ::pclose(p);
    return out;
}

HttpResponse mac(KmsdProcess& k, const std::string& id) {
    HttpsClient c("127.0.0.1", k.port(), k.ca_file());
    return c.post("/v1/keys/" + id + "/mac", R"({"algorithm":"AES-CMAC","data":"0102"})",
                  k.admin_token());
}

std::string create_aes(KmsdProcess& k, const std::string& name) {
    HttpsClient c("127.0.0.1", k.port(), k.ca_file());
    auto r =
        c.post("/v1/keys", R"({"name":")" + name + R"(","algorithm":"AES-256","usage":["mac"]})",
               k.admin_token());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()->getValue<std::string>("id");
}

Poco::JSON::Object::Ptr verify_audit(KmsdProcess& k) {
    HttpsClient c("127.0.0.1", k.port(), k.ca_file());
    auto r = c.get("/v1/audit/verify", k.admin_token());
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
}

/// Edits the stopped kmsd's LMDB audit table through @p edit(txn, dbi).
void edit_audit(const std::string& data_dir,
                const std::function<void(MDB_txn*, MDB_dbi, MDB_dbi)>& edit) {
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 32);
    mdb_env_set_mapsize(env, std::size_t{8} << 30);
    ASSERT_EQ(mdb_env_open(env, (data_dir + "/store").c_str(), 0, 0600), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi audit = 0, meta = 0;
    ASSERT_EQ(mdb_dbi_open(txn, "audit", 0, &audit), 0);
    ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    edit(txn, audit, meta);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

core::AuditRecord get_record(MDB_txn* txn, MDB_dbi dbi, std::uint64_t seq) {
    Bytes k = store::audit_key(seq);
    MDB_val key{k.size(), k.data()}, val{};
    EXPECT_EQ(mdb_get(txn, dbi, &key, &val), 0);
    return store::decode_audit(
        ByteView(static_cast<const std::uint8_t*>(val.mv_data), val.mv_size));
}

void put_record(MDB_txn* txn, MDB_dbi dbi, const core::AuditRecord& r) {
    Bytes k = store::audit_key(r.seq);
    Bytes v = store::encode_audit(r);
    MDB_val key{k.size(), k.data()}, val{v.size(), v.data()};
    ASSERT_EQ(mdb_put(txn, dbi, &key, &val, 0), 0);
}

TEST(Kmsd, FirstStartLaysOutTheDataDirectory) {
    KmsdProcess k;
    const std::string d = k.data_dir();
    EXPECT_EQ(mode_of(d), 0700u);
    EXPECT_EQ(mode_of(d + "/admin.token"), 0600u);
    EXPECT_EQ(mode_of(d + "/hsm.pin"), 0600u);
    EXPECT_EQ(mode_of(d + "/tls/server.key"), 0600u);
    EXPECT_NE(mode_of(d + "/tls/ca.pem"), 0u);
    EXPECT_NE(mode_of(d + "/softhsm2.conf"), 0u);
    EXPECT_EQ(read_all(d + "/kmsd.url"), k.url());
    const std::string out = k.output();
    EXPECT_NE(out.find("self-tests passed"), std::string::npos) << out;
    EXPECT_NE(out.find("listening on https://127.0.0.1:"), std::string::npos) << out;
    EXPECT_NE(out.find("admin.token"), std::string::npos) << out;
    // The TLS certificate chains to DIR/tls/ca.pem and names 127.0.0.1 (the client verifies).
    HttpsClient c("127.0.0.1", k.port(), k.ca_file());
    EXPECT_EQ(c.get("/healthz").status, 200);
    EXPECT_EQ(k.stop(), 0) << "SIGTERM is a clean shutdown";
    EXPECT_NE(k.output().find("stopped"), std::string::npos);
}

TEST(Kmsd, KeysCountersAndTokensSurviveARestart) {
    KmsdProcess k;
    const std::string id = create_aes(k, "survivor");
    const std::string before = mac(k, id).json()->getValue<std::string>("mac");
    mac(k, id);
    ASSERT_EQ(k.stop(), 0);
    k.start();
    EXPECT_NE(k.output().find("listening"), std::string::npos);
    auto again = mac(k, id);
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(again.json()->getValue<std::string>("mac"), before) << "same key block, same key";
    HttpsClient c("127.0.0.1", k.port(), k.ca_file());
    auto key = c.get("/v1/keys/" + id, k.admin_token()).json();
    EXPECT_EQ(key->getObject("counters")->getValue<int>("mac"), 3) << "flushed at shutdown";
    EXPECT_TRUE(verify_audit(k)->getValue<bool>("valid"));
}

TEST(Kmsd, ASecondKmsdOnTheSamePortFailsLoudly) {
    KmsdProcess k;
    char tmpl[] = "/tmp/kmsd-second-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    std::string out;
    const int rc = run_kmsd({"--data-dir", std::string(tmpl) + "/d", "--listen",
                             "127.0.0.1:" + std::to_string(k.port())},
                            out);
    EXPECT_NE(rc, 0) << out;
    EXPECT_NE(out.find("in use"), std::string::npos) << out;
    run(std::string("rm -rf ") + tmpl);
    EXPECT_EQ(HttpsClient("127.0.0.1", k.port(), k.ca_file()).get("/healthz").status, 200);
}

TEST(Kmsd, BadCommandLinesAreRefusedWithAMessage) {
    std::string out;
    EXPECT_EQ(run_kmsd({"--listen", "127.0.0.1:1"}, out), 64) << out;
    EXPECT_NE(out.find("--data-dir"), std::string::npos) << out;
    EXPECT_EQ(run_kmsd({"--data-dir", "/tmp/kmsd-nowhere", "--listen", "nonsense"}, out), 64)
        << out;
    EXPECT_NE(out.find("--listen"), std::string::npos) << out;
    EXPECT_EQ(run_kmsd({"--help"}, out), 0);
    EXPECT_NE(out.find("--data-dir"), std::string::npos);
}

TEST(Kmsd, AuditVerifyFindsAnEditedRecord) {
    KmsdProcess k;
    create_aes(k, "audited");
    const auto ok = verify_audit(k);
    ASSERT_TRUE(ok->getValue<bool>("valid"));
    const std::uint64_t n = ok->getValue<std::uint64_t>("records");
    ASSERT_GE(n, 3u);
    ASSERT_EQ(k.stop(), 0);
    edit_audit(k.data_dir(), [&](MDB_txn* txn, MDB_dbi audit, MDB_dbi) {
        auto r = get_record(txn, audit, 2);
        r.event.detail += " (edited)";
        put_record(txn, audit, r);
    });
    k.start();
    const auto bad = verify_audit(k);
    EXPECT_FALSE(bad->getValue<bool>("valid"));
    EXPECT_EQ(bad->getValue<int>("firstInvalid"), 2);
    EXPECT_NE(bad->getValue<std::string>("problem").find("edited"), std::string::npos);
    // The officer's tool says so too, with the exit code scripts test (7: verification failed).
    const char* kmsctl = std::getenv("KMSCTL");
    ASSERT_NE(kmsctl, nullptr);
    const std::string cmd = std::string(kmsctl) + " --data-dir " + k.data_dir() + " audit verify";
    const int status = std::system((cmd + " > /dev/null 2>&1").c_str());
    EXPECT_EQ(WEXITSTATUS(status), 7) << run(cmd);
}

TEST(Kmsd, AuditVerifyFindsRecomputedHashesThroughTheHsmSeal) {
    KmsdProcess k;
    create_aes(k, "audited-2");
    ASSERT_EQ(k.stop(), 0);
    // The attacker edits record 2 and recomputes every hash after it, and the head: only the
    // seal, an HMAC under a key inside the HSM, can still tell.
    edit_audit(k.data_dir(), [&](MDB_txn* txn, MDB_dbi audit, MDB_dbi) {
        Bytes prev;
        for (std::uint64_t seq = 2;; ++seq) {
            Bytes key = store::audit_key(seq);
            MDB_val kv{key.size(), key.data()}, vv{};
            if (mdb_get(txn, audit, &kv, &vv) != 0) break;
            auto r = get_record(txn, audit, seq);
            if (seq == 2)
                r.event.actor = "someone-else";
            else
                r.prev_hash = prev;
            r.hash = crypto::sha256(core::canonical_audit_bytes(r));
            prev = r.hash;
            put_record(txn, audit, r);
        }
    });
    k.start();
    const auto bad = verify_audit(k);
    EXPECT_FALSE(bad->getValue<bool>("valid"));
    EXPECT_EQ(bad->getValue<int>("firstInvalid"), 2);
    EXPECT_NE(bad->getValue<std::string>("problem").find("seal"), std::string::npos)
        << bad->getValue<std::string>("problem");
}

TEST(Kmsd, AuditVerifyFindsADeletedLastRecord) {
    KmsdProcess k;
    create_aes(k, "audited-3");
    const std::uint64_t n = verify_audit(k)->getValue<std::uint64_t>("records");
    ASSERT_EQ(k.stop(), 0);
    edit_audit(k.data_dir(), [&](MDB_txn* txn, MDB_dbi audit, MDB_dbi) {
        // Remove the newest records (the shutdown ones and more), keep the head as it was.
        for (std::uint64_t seq = n; seq <= n + 10; ++seq) {
            Bytes key = store::audit_key(seq);
            MDB_val kv{key.size(), key.data()};
            mdb_del(txn, audit, &kv, nullptr);
        }
    });
    k.start();
    const auto bad = verify_audit(k);
    EXPECT_FALSE(bad->getValue<bool>("valid"));
    EXPECT_NE(bad->getValue<std::string>("problem").find("deleted"), std::string::npos)
        << bad->getValue<std::string>("problem");
}

TEST(Kmsd, Pkcs11ToolSeesTheMasterKeyByLabel) {
    KmsdProcess k;
    ASSERT_EQ(k.stop(), 0);
    const char* module = std::getenv("KMS_SOFTHSM_MODULE");
    const std::string out =
        run("SOFTHSM2_CONF=" + k.data_dir() + "/softhsm2.conf pkcs11-tool --module " +
            std::string(module ? module : "/usr/lib/softhsm/libsofthsm2.so") +
            " --token-label kms -O --login --pin " + read_all(k.data_dir() + "/hsm.pin"));
    EXPECT_NE(out.find("kms-lmk"), std::string::npos) << out;
    EXPECT_NE(out.find("kms-audit"), std::string::npos) << out;
    // No working key is a token object: they live in the store as key blocks.
    EXPECT_EQ(out.find("label:      k-"), std::string::npos) << out;
}

}  // namespace
}  // namespace kms::test
