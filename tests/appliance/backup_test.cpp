// appliance-backup: kmsctl backup create / verify / restore against real kmsd processes on
// 127.0.0.1 with real SoftHSM2 tokens in temporary folders (docs/operations.md "Backup").
// One source kmsd for the whole program; a second kmsd on each restored data directory.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "crypto/backup_archive.hpp"
#include "kmsctl_run.hpp"
#include "kmsd_process.hpp"

namespace kms::test {
namespace {

namespace fs = std::filesystem;
using Poco::JSON::Object;

/// A kmsd started on an existing (restored) data directory; stopped by PID.
class RestoredKmsd {
  public:
    RestoredKmsd(const std::string& data_dir, const std::string& log,
                 const std::vector<std::string>& extra = {})
        : m_port(free_port()) {
        const char* kmsd = std::getenv("KMSD");
        if (kmsd == nullptr) throw std::runtime_error("KMSD is not set");
        std::vector<std::string> args = {kmsd, "--data-dir", data_dir, "--listen",
                                         "127.0.0.1:" + std::to_string(m_port)};
        args.insert(args.end(), extra.begin(), extra.end());
        m_pid = spawn(args, log);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (std::chrono::steady_clock::now() < deadline) {
            if (slurp(log).find("listening") != std::string::npos) return;
            if (wait_exit(m_pid, 0) != -1000) {
                m_pid = -1;
                throw std::runtime_error("restored kmsd exited:\n" + slurp(log));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        stop();
        throw std::runtime_error("restored kmsd did not start:\n" + slurp(log));
    }
    ~RestoredKmsd() { stop(); }
    RestoredKmsd(const RestoredKmsd&) = delete;
    RestoredKmsd& operator=(const RestoredKmsd&) = delete;
    int port() const { return m_port; }

  private:
    void stop() {
        if (m_pid <= 0) return;
        ::kill(m_pid, SIGTERM);
        if (wait_exit(m_pid, 10000) == -1000) {
            ::kill(m_pid, SIGKILL);
            wait_exit(m_pid, 5000);
        }
        m_pid = -1;
    }
    int m_port;
    pid_t m_pid = -1;
};

std::string body_of(const std::string& path) {
    return slurp(path);
}

void write_file(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
}

/// The manifest of an archive file (parsed without any check: the tests compare it).
Object::Ptr manifest_of(const std::string& archive_path) {
    for (const auto& e : crypto::read_tar(body_of(archive_path)))
        if (e.path == crypto::kBackupManifest) {
            Poco::JSON::Parser p;
            return p.parse(e.data).extract<Object::Ptr>();
        }
    throw std::runtime_error("no manifest in " + archive_path);
}

/// Offset of the data of @p path in a ustar archive (its header starts with the name).
std::size_t data_offset(const std::string& archive, const std::string& path) {
    for (std::size_t at = 0; at + 512 <= archive.size(); at += 512)
        if (archive.compare(at, path.size() + 1, std::string(path) + '\0') == 0) return at + 512;
    throw std::runtime_error(path + " not found in the archive");
}

/// A JSON value as text; "null" for null (an empty Var).
std::string text(const Poco::Dynamic::Var& v) {
    return v.isEmpty() ? "null" : v.toString();
}

mode_t mode_of(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

class Backup : public ::testing::Test {
  public:
    static void SetUpTestSuite() {
        char tmpl[] = "/tmp/kms-backup-test-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
        s_tmp = tmpl;
        s_kmsd = std::make_unique<KmsdProcess>();
        s_admin = s_kmsd->admin_token();
        HttpsClient c("127.0.0.1", s_kmsd->port(), s_kmsd->ca_file());
        auto create = [&](const std::string& name, const std::string& alg,
                          const std::string& usage) {
            auto r = c.post(
                "/v1/keys",
                "{\"name\":\"" + name + "\",\"algorithm\":\"" + alg + "\",\"usage\":" + usage + "}",
                s_admin);
            if (r.status != 201) throw std::runtime_error("create " + name + ": " + r.body);
            return r.json()->getValue<std::string>("id");
        };
        auto must = [&](const HttpResponse& r, const std::string& what) {
            if (r.status != 200) throw std::runtime_error(what + ": " + r.body);
            return r.json();
        };
        s_ids["aes"] = create("bk-aes", "AES-256", "[\"mac\",\"encrypt\",\"decrypt\"]");
        must(c.post("/v1/keys/" + s_ids["aes"] + "/rotate", "", s_admin), "rotate");
        s_ids["des"] = create("bk-des", "DES3-2K", "[\"mac\"]");
        s_ids["hmac"] = create("bk-hmac", "HMAC-SHA256", "[\"mac\"]");
        s_ids["ec"] = create("bk-ec", "EC-P256", "[\"sign\",\"verify\"]");
        s_ids["old"] = create("bk-old", "AES-128", "[\"mac\"]");
        must(c.post("/v1/keys/" + s_ids["old"] + "/deactivate", "", s_admin), "deactivate");
        s_ids["gone"] = create("bk-gone", "AES-128", "[\"mac\"]");
        must(c.post("/v1/keys/" + s_ids["gone"] + "/deactivate", "", s_admin), "deactivate");
        must(c.request("DELETE", "/v1/keys/" + s_ids["gone"], "", s_admin), "destroy");

        // What the keys compute before the backup; the restored keys must give the same.
        const std::string data = "00112233445566778899AABBCCDDEEFF";
        s_before["aes"] =
            must(c.post("/v1/keys/" + s_ids["aes"] + "/mac",
                        "{\"algorithm\":\"AES-CMAC\",\"data\":\"" + data + "\"}", s_admin),
                 "mac")
                ->getValue<std::string>("mac");
        s_before["des"] =
            must(c.post("/v1/keys/" + s_ids["des"] + "/mac",
                        "{\"algorithm\":\"DES3-RETAIL\",\"data\":\"" + data + "\"}", s_admin),
                 "mac")
                ->getValue<std::string>("mac");
        s_before["hmac"] =
            must(c.post("/v1/keys/" + s_ids["hmac"] + "/mac",
                        "{\"algorithm\":\"HMAC-SHA256\",\"data\":\"" + data + "\"}", s_admin),
                 "mac")
                ->getValue<std::string>("mac");
        s_before["cbc"] = must(c.post("/v1/keys/" + s_ids["aes"] + "/encrypt",
                                      "{\"algorithm\":\"AES-CBC\",\"plaintext\":\"" + data +
                                          "\",\"iv\":\"000102030405060708090A0B0C0D0E0F\"}",
                                      s_admin),
                               "encrypt")
                              ->getValue<std::string>("ciphertext");
        s_before["sig"] =
            must(c.post("/v1/keys/" + s_ids["ec"] + "/sign",
                        "{\"algorithm\":\"ECDSA-SHA256\",\"data\":\"" + data + "\"}", s_admin),
                 "sign")
                ->getValue<std::string>("signature");

        // One backup shared by the negative tests.
        s_archive = s_tmp + "/shared.tar";
        const auto r = run_kmsctl({"backup", "create", "--out", s_archive}, connection());
        if (r.code != 0) throw std::runtime_error("backup create: " + r.err);
    }
    static void TearDownTestSuite() {
        s_kmsd.reset();
        std::error_code ec;
        fs::remove_all(s_tmp, ec);
    }

  protected:
    static std::vector<std::pair<std::string, std::string>> connection(
        const std::string& token_file = "") {
        return {{"KMS_URL", s_kmsd->url()},
                {"KMS_CA", s_kmsd->ca_file()},
                {"KMS_TOKEN_FILE",
                 token_file.empty() ? s_kmsd->data_dir() + "/admin.token" : token_file}};
    }
    /// kmsctl without a connection (offline commands).
    static KmsctlResult offline(const std::vector<std::string>& args) {
        return run_kmsctl(args, {});
    }
    static std::string path(const std::string& name) { return s_tmp + "/" + name; }
    static std::string ca() { return s_kmsd->ca_file(); }
    static std::string pin_file() { return s_kmsd->data_dir() + "/hsm.pin"; }

    static inline std::unique_ptr<KmsdProcess> s_kmsd;
    static inline std::string s_admin, s_tmp, s_archive;
    static inline std::map<std::string, std::string> s_ids, s_before;
};

TEST_F(Backup, OnlineBackupWhileWritingRestoresEveryKeyElsewhere) {
    // A writer keeps creating keys while the backup runs.
    std::mutex mu;
    std::vector<std::string> acked;
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        HttpsClient c("127.0.0.1", s_kmsd->port(), s_kmsd->ca_file());
        for (int n = 0; !stop; ++n) {
            auto r = c.post("/v1/keys",
                            "{\"name\":\"bk-live-" + std::to_string(n) +
                                "\",\"algorithm\":\"AES-128\",\"usage\":[\"mac\"]}",
                            s_admin);
            if (r.status != 201) continue;
            std::lock_guard lock(mu);
            acked.push_back(r.json()->getValue<std::string>("id"));
        }
    });
    struct Join {
        std::atomic<bool>& stop;
        std::thread& t;
        ~Join() {
            stop = true;
            t.join();
        }
    } join{stop, writer};
    for (int i = 0; i < 400; ++i) {
        {
            std::lock_guard lock(mu);
            if (acked.size() >= 5) break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::vector<std::string> before;
    {
        std::lock_guard lock(mu);
        before = acked;
    }
    ASSERT_GE(before.size(), 5u) << "the writer made no keys";
    const std::string file = path("online.tar");
    const auto created =
        run_kmsctl({"backup", "create", "--out", file, "--label", "online test"}, connection());
    ASSERT_EQ(created.code, 0) << created.err;
    EXPECT_NE(created.out.find("Verified against"), std::string::npos) << created.out;
    EXPECT_EQ(mode_of(file), 0600u);
    stop = true;

    // Every key acknowledged before the backup started is in it.
    const auto manifest = manifest_of(file);
    std::map<std::string, Object::Ptr> listed;
    const auto keys = manifest->getArray("keys");
    for (std::size_t i = 0; i < keys->size(); ++i) {
        const auto k = keys->getObject(static_cast<unsigned>(i));
        listed[k->getValue<std::string>("id")] = k;
    }
    for (const auto& id : before) EXPECT_TRUE(listed.count(id)) << id << " is not in the backup";
    EXPECT_EQ(manifest->getValue<std::string>("label"), "online test");
    EXPECT_EQ(manifest->getObject("hsm")->getValue<std::string>("kind"), "softhsm2-embedded");
    EXPECT_GE(manifest->getValue<int>("storeSchemaVersion"), 1);

    // Never in a backup: PINs, the admin token, the TLS key.
    for (const auto& e : crypto::read_tar(body_of(file))) {
        EXPECT_FALSE(e.path.ends_with(".pin") || e.path.ends_with("admin.token") ||
                     e.path.ends_with("server.key"))
            << e.path;
        EXPECT_EQ(e.data.find(s_admin), std::string::npos) << "admin token in " << e.path;
    }
    const std::string pin = slurp(pin_file()).substr(0, 48);
    EXPECT_EQ(body_of(file).find(pin), std::string::npos) << "the user PIN is in the archive";

    const auto verified = offline({"backup", "verify", file, "--ca", ca()});
    EXPECT_EQ(verified.code, 0) << verified.err;

    // Restore onto a fresh folder and start a second kmsd there.
    const std::string target = path("restored");
    const auto restored =
        offline({"restore", file, "--ca", ca(), "--data-dir", target, "--pin-file", pin_file()});
    ASSERT_EQ(restored.code, 0) << restored.err;
    EXPECT_EQ(mode_of(target), 0700u);
    EXPECT_EQ(mode_of(target + "/hsm.pin"), 0600u);
    EXPECT_EQ(mode_of(target + "/store/data.mdb"), 0600u);
    EXPECT_FALSE(fs::exists(target + "/admin.token"));
    EXPECT_FALSE(fs::exists(target + "/hsm-so.pin"));
    EXPECT_FALSE(fs::exists(target + "/tls/server.key"));

    RestoredKmsd second(target, path("restored.log"));
    HttpsClient c("127.0.0.1", second.port(), ca());  // the same root CA as the source
    for (const auto& [id, k] : listed) {
        const auto r = c.get("/v1/keys/" + id, s_admin);  // the backed-up admin's token
        ASSERT_EQ(r.status, 200) << id << ": " << r.body;
        const auto got = r.json();
        EXPECT_EQ(got->getValue<std::string>("state"), k->getValue<std::string>("state")) << id;
        EXPECT_EQ(got->getValue<int>("version"), k->getValue<int>("version")) << id;
        EXPECT_EQ(text(got->get("kcv")), text(k->get("kcv"))) << id;
    }
    const std::map<std::string, std::string> expect_state = {
        {"aes", "Active"}, {"old", "Deactivated"}, {"gone", "Destroyed"}};
    for (const auto& [which, state] : expect_state)
        EXPECT_EQ(listed.at(s_ids[which])->getValue<std::string>("state"), state) << which;
    EXPECT_EQ(listed.at(s_ids["aes"])->getValue<int>("version"), 2);

    const std::string data = "00112233445566778899AABBCCDDEEFF";
    auto mac = [&](const std::string& which, const std::string& alg) {
        auto r = c.post("/v1/keys/" + s_ids[which] + "/mac",
                        "{\"algorithm\":\"" + alg + "\",\"data\":\"" + data + "\"}", s_admin);
        EXPECT_EQ(r.status, 200) << r.body;
        return r.status == 200 ? r.json()->getValue<std::string>("mac") : "";
    };
    EXPECT_EQ(mac("aes", "AES-CMAC"), s_before["aes"]);
    EXPECT_EQ(mac("des", "DES3-RETAIL"), s_before["des"]);
    EXPECT_EQ(mac("hmac", "HMAC-SHA256"), s_before["hmac"]);
    auto enc = c.post("/v1/keys/" + s_ids["aes"] + "/encrypt",
                      "{\"algorithm\":\"AES-CBC\",\"plaintext\":\"" + data +
                          "\",\"iv\":\"000102030405060708090A0B0C0D0E0F\"}",
                      s_admin);
    ASSERT_EQ(enc.status, 200) << enc.body;
    EXPECT_EQ(enc.json()->getValue<std::string>("ciphertext"), s_before["cbc"]);
    auto ver = c.post("/v1/keys/" + s_ids["ec"] + "/verify",
                      "{\"algorithm\":\"ECDSA-SHA256\",\"data\":\"" + data + "\",\"signature\":\"" +
                          s_before["sig"] + "\"}",
                      s_admin);
    ASSERT_EQ(ver.status, 200) << ver.body;
    EXPECT_TRUE(ver.json()->getValue<bool>("valid"));
    auto audit = c.get("/v1/audit/verify", s_admin);
    ASSERT_EQ(audit.status, 200) << audit.body;
    EXPECT_TRUE(audit.json()->getValue<bool>("valid")) << audit.body;

    // The source audited the backup with the manifest's hash.
    const std::string sha = crypto::sha256_hex([&] {
        for (const auto& e : crypto::read_tar(body_of(file)))
            if (e.path == crypto::kBackupManifest) return e.data;
        return std::string();
    }());
    HttpsClient src("127.0.0.1", s_kmsd->port(), ca());
    const auto log = src.get("/v1/audit?from=1&limit=1000", s_admin).body;
    EXPECT_NE(log.find("manifest-sha256=" + sha), std::string::npos);
}

TEST_F(Backup, VerifyRefusesDamagedOrForeignArchives) {
    const std::string good = body_of(s_archive);
    auto check = [&](const std::string& name, const std::string& bytes, const std::string& want) {
        write_file(path(name), bytes);
        const auto r = offline({"backup", "verify", path(name), "--ca", ca()});
        EXPECT_EQ(r.code, 7) << name << ": " << r.err;
        EXPECT_NE(r.err.find(want), std::string::npos) << name << ": " << r.err;
    };
    std::string flipped = good;
    flipped[data_offset(good, "store/data.mdb") + 100] ^= 0x01;
    check("flip-store.tar", flipped, "store/data.mdb: SHA-256 differs");
    std::string flipped_manifest = good;
    flipped_manifest[data_offset(good, "manifest.json") + 20] ^= 0x01;
    check("flip-manifest.tar", flipped_manifest, "signature does not verify");
    std::string flipped_header = good;
    flipped_header[data_offset(good, "tls/ca.pem") - 512 + 2] ^= 0x01;
    check("flip-header.tar", flipped_header, "bad header checksum");
    check("truncated.tar", good.substr(0, good.size() / 2), "truncated archive");
    check("empty.tar", "", "truncated archive");

    // A foreign root CA.
    const std::string foreign = path("foreign.pem");
    const std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -subj /CN=Foreign -days 1 -keyout " +
        path("foreign.key") + " -out " + foreign + " 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    const auto r = offline({"backup", "verify", s_archive, "--ca", foreign});
    EXPECT_EQ(r.code, 7) << r.err;
    EXPECT_NE(r.err.find("does not chain to the CA"), std::string::npos) << r.err;

    // Nothing of the above can be restored either, and nothing is left behind.
    const auto rr = offline({"restore", path("flip-store.tar"), "--ca", ca(), "--data-dir",
                             path("never"), "--pin-file", pin_file()});
    EXPECT_EQ(rr.code, 7) << rr.err;
    EXPECT_FALSE(fs::exists(path("never")));
    const auto missing_ca = offline({"backup", "verify", s_archive});
    EXPECT_EQ(missing_ca.code, 1) << missing_ca.err;
}

TEST_F(Backup, RestoreRefusesBadTargetsAndPins) {
    // A non-empty target is refused and left as it was.
    const std::string busy = path("busy");
    fs::create_directories(busy);
    write_file(busy + "/keep", "x");
    auto r =
        offline({"restore", s_archive, "--ca", ca(), "--data-dir", busy, "--pin-file", pin_file()});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("not an empty folder"), std::string::npos) << r.err;
    EXPECT_EQ(slurp(busy + "/keep"), "x");

    // No PIN file, or one that does not exist: refused, nothing written.
    r = offline({"restore", s_archive, "--ca", ca(), "--data-dir", path("nopin")});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("--pin-file"), std::string::npos) << r.err;
    r = offline({"restore", s_archive, "--ca", ca(), "--data-dir", path("nopin"), "--pin-file",
                 path("no-such.pin")});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_FALSE(fs::exists(path("nopin")));
    for (const auto& e : fs::directory_iterator(s_tmp))
        EXPECT_EQ(e.path().filename().string().find(".restore-"), std::string::npos) << e.path();

    // A wrong PIN restores (kmsctl cannot check it offline), but kmsd refuses to start.
    write_file(path("wrong.pin"), "0000000000\n");
    const std::string target = path("wrong-pin");
    r = offline({"restore", s_archive, "--ca", ca(), "--data-dir", target, "--pin-file",
                 path("wrong.pin")});
    ASSERT_EQ(r.code, 0) << r.err;
    std::string output;
    const int rc = run_kmsd(
        {"--data-dir", target, "--listen", "127.0.0.1:" + std::to_string(free_port())}, output, 60);
    EXPECT_NE(rc, 0) << output;
    EXPECT_NE(output.find("CKR_PIN_INCORRECT"), std::string::npos) << output;
    EXPECT_EQ(output.find("0000000000"), std::string::npos) << "the PIN was printed";
}

TEST_F(Backup, OnlyAnAdminMayBackUp) {
    HttpsClient c("127.0.0.1", s_kmsd->port(), ca());
    auto p =
        c.post("/v1/principals", "{\"name\":\"bk-officer\",\"roles\":[\"key-officer\"]}", s_admin);
    ASSERT_EQ(p.status, 201) << p.body;
    write_file(path("officer.token"), p.json()->getValue<std::string>("token"));
    const std::string out = path("officer.tar");
    const auto r =
        run_kmsctl({"backup", "create", "--out", out}, connection(path("officer.token")));
    EXPECT_EQ(r.code, 3) << r.err;
    EXPECT_NE(r.err.find("forbidden"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
    for (const auto& e : fs::directory_iterator(s_tmp))
        EXPECT_EQ(e.path().filename().string().find("officer.tar.tmp"), std::string::npos);

    // An existing --out is never overwritten (exit 1, nothing sent).
    write_file(path("exists.tar"), "mine");
    const auto again = run_kmsctl({"backup", "create", "--out", path("exists.tar")}, connection());
    EXPECT_EQ(again.code, 1) << again.err;
    EXPECT_EQ(slurp(path("exists.tar")), "mine");
    // A bad label is refused with kmsd's JSON error naming the field.
    auto bad = c.post("/v1/backups", "{\"label\":\"" + std::string(200, 'x') + "\"}", s_admin);
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_NE(bad.body.find("label"), std::string::npos) << bad.body;
}

TEST_F(Backup, VendorHsmBackupHoldsOnlyTheStore) {
    // An external PKCS#11 token (SoftHSM2 through --hsm-module, as a vendor module would be):
    // the master key stays in that token; the backup holds the store with its key blocks.
    const char* module = std::getenv("KMS_SOFTHSM_MODULE");
    ASSERT_NE(module, nullptr);
    const std::string hsm = path("vendor-hsm");
    fs::create_directories(hsm + "/tokens");
    write_file(hsm + "/softhsm2.conf", "directories.tokendir = " + hsm +
                                           "/tokens\nobjectstore.backend = file\nlog.level = "
                                           "ERROR\n");
    write_file(hsm + "/pin", "24681357");
    fs::permissions(hsm + "/pin", fs::perms::owner_read | fs::perms::owner_write);
    ::setenv("SOFTHSM2_CONF", (hsm + "/softhsm2.conf").c_str(), 1);
    struct Unset {
        ~Unset() { ::unsetenv("SOFTHSM2_CONF"); }
    } unset;
    const std::string init =
        "softhsm2-util --init-token --free --label kms-vendor --so-pin "
        "13572468 --pin 24681357 >/dev/null";
    ASSERT_EQ(std::system(init.c_str()), 0);
    const std::vector<std::string> hsm_args = {"--hsm-module", module,       "--token-label",
                                               "kms-vendor",   "--pin-file", hsm + "/pin"};
    std::string file = path("vendor.tar"), id, mac_before;
    const std::string data = "00112233445566778899AABBCCDDEEFF";
    {
        KmsdProcess vendor(hsm_args);
        HttpsClient c("127.0.0.1", vendor.port(), vendor.ca_file());
        auto k = c.post("/v1/keys", R"({"name":"v-mac","algorithm":"AES-128","usage":["mac"]})",
                        vendor.admin_token());
        ASSERT_EQ(k.status, 201) << k.body;
        id = k.json()->getValue<std::string>("id");
        auto m =
            c.post("/v1/keys/" + id + "/mac",
                   "{\"algorithm\":\"AES-CMAC\",\"data\":\"" + data + "\"}", vendor.admin_token());
        ASSERT_EQ(m.status, 200) << m.body;
        mac_before = m.json()->getValue<std::string>("mac");
        const auto r = run_kmsctl({"backup", "create", "--out", file},
                                  {{"KMS_URL", vendor.url()},
                                   {"KMS_CA", vendor.ca_file()},
                                   {"KMS_TOKEN_FILE", vendor.data_dir() + "/admin.token"}});
        ASSERT_EQ(r.code, 0) << r.err;
        fs::copy_file(vendor.ca_file(), path("vendor-ca.pem"));
        write_file(path("vendor-admin.token"), vendor.admin_token());
    }  // the source kmsd stops; the token stays
    EXPECT_EQ(manifest_of(file)->getObject("hsm")->getValue<std::string>("kind"), "pkcs11-vendor");
    for (const auto& e : crypto::read_tar(body_of(file)))
        EXPECT_FALSE(e.path.starts_with("tokens/")) << e.path;
    const std::string ca_pem = path("vendor-ca.pem");
    auto r = offline({"restore", file, "--ca", ca_pem, "--data-dir", path("vendor-new"),
                      "--pin-file", hsm + "/pin"});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("vendor HSM"), std::string::npos) << r.err;
    r = offline({"restore", file, "--ca", ca_pem, "--data-dir", path("vendor-new")});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_FALSE(fs::exists(path("vendor-new/hsm.pin")));
    EXPECT_FALSE(fs::exists(path("vendor-new/tokens")));
    RestoredKmsd second(path("vendor-new"), path("vendor-new.log"), hsm_args);
    HttpsClient c("127.0.0.1", second.port(), ca_pem);
    auto m =
        c.post("/v1/keys/" + id + "/mac", "{\"algorithm\":\"AES-CMAC\",\"data\":\"" + data + "\"}",
               slurp(path("vendor-admin.token")));
    ASSERT_EQ(m.status, 200) << m.body;
    EXPECT_EQ(m.json()->getValue<std::string>("mac"), mac_before);
}

}  // namespace
}  // namespace kms::test
