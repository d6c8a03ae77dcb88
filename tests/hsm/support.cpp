// The hsm suite's environment and helpers (see support.hpp).
#include "support.hpp"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "pkcs11/module.hpp"
#include "pkcs11/object_templates.hpp"

#ifndef KMS_HSM_VECTORS_DIR
#define KMS_HSM_VECTORS_DIR "tests/hsm/vectors"
#endif

namespace kms::hsm::test {

namespace {

struct State {
    std::string module;
    std::string dir;
    std::unique_ptr<Pkcs11Hsm> shared;
};
State& state() {
    static State s;
    return s;
}

class HsmEnvironment : public ::testing::Environment {
  public:
    void SetUp() override {
        auto& s = state();
        const char* m = std::getenv("KMS_SOFTHSM_MODULE");
        s.module = m != nullptr && *m != '\0' ? m : "/usr/lib/softhsm/libsofthsm2.so";
        char tmpl[] = "/tmp/kms-hsm-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        s.dir = tmpl;
        std::filesystem::create_directories(s.dir + "/tokens");
        {
            std::ofstream conf(s.dir + "/softhsm2.conf");
            conf << "directories.tokendir = " << s.dir << "/tokens\n"
                 << "objectstore.backend = file\n"
                 << "log.level = ERROR\n"
                 << "slots.removable = false\n";
        }
        ::setenv("SOFTHSM2_CONF", (s.dir + "/softhsm2.conf").c_str(), 1);
        initialize_token(s.module, kSharedToken, SecretString(kSoPin), SecretString(kUserPin));
        s.shared = Pkcs11Hsm::open(config_for(kSharedToken), MasterKeys::CreateIfMissing);
    }
    void TearDown() override {
        auto& s = state();
        s.shared.reset();
        std::error_code ec;
        if (!s.dir.empty() && std::getenv("KMS_KEEP_HSM_TEST_DIR") == nullptr)
            std::filesystem::remove_all(s.dir, ec);
    }
};

[[maybe_unused]] auto* const g_environment =
    ::testing::AddGlobalTestEnvironment(new HsmEnvironment);

}  // namespace

const std::string& module_path() {
    return state().module;
}
const std::string& temp_dir() {
    return state().dir;
}
Pkcs11Hsm& shared_hsm() {
    return *state().shared;
}

Pkcs11Config config_for(const std::string& token, std::size_t cache_capacity,
                        std::size_t sessions) {
    Pkcs11Config c;
    c.module_path = module_path();
    c.token_label = token;
    c.pin = {PinSource::Kind::Value, kUserPin};
    c.handle_cache_capacity = cache_capacity;
    c.sessions = sessions;
    return c;
}

std::string unique_id(const std::string& prefix) {
    static std::atomic<int> counter{0};
    return prefix + "-" + std::to_string(++counter);
}

std::string new_token(const std::string& prefix) {
    const std::string label = unique_id(prefix);
    initialize_token(module_path(), label, SecretString(kSoPin), SecretString(kUserPin));
    return label;
}

core::KeyRef ref(const core::KeySpec& spec, const core::GeneratedKey& key) {
    core::KeyRef r;
    r.key_id = spec.key_id;
    r.version = spec.version;
    r.algorithm = spec.algorithm;
    r.usage = spec.usage;
    r.block = key.block;
    r.public_key = key.public_key;
    return r;
}

core::UsageMask usage(std::initializer_list<core::Usage> usages) {
    core::UsageMask m;
    for (auto u : usages) m.add(u);
    return m;
}

SecureBytes secret(std::string_view hex) {
    const Bytes b = from_hex(hex);
    return SecureBytes(b.data(), b.size());
}

RawToken::RawToken(const std::string& label) : m_module(Module::load(module_path())) {
    const auto slot = m_module->find_token(label);
    if (!slot) throw Error(ErrorCode::NotFound, "test: no token " + label);
    m_slot = *slot;
    m_session = Session::open(*m_module, m_slot);
    const std::string pin = kUserPin;
    const CK_RV rv = m_module->fn().C_Login(
        m_session.handle(), CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(pin.data())),
        pin.size());
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
        throw Error(ErrorCode::HsmError, "test: C_Login failed");
}

const CK_FUNCTION_LIST& RawToken::fn() const {
    return m_module->fn();
}

std::vector<CK_OBJECT_HANDLE> RawToken::find_secret(const std::string& label) const {
    Template t;
    t.ulong(CKA_CLASS, CKO_SECRET_KEY).flag(CKA_TOKEN, true).text(CKA_LABEL, label);
    return find_objects(fn(), m_session.handle(), t.data(), t.size());
}

std::vector<Record> read_vectors(const std::string& file) {
    const char* dir = std::getenv("KMS_HSM_VECTORS");
    const std::string path = std::string(dir != nullptr ? dir : KMS_HSM_VECTORS_DIR) + "/" + file;
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open vector file " + path);
    std::vector<Record> out;
    Record cur;
    std::string line;
    const auto trim = [](std::string s) {
        const auto b = s.find_first_not_of(" \t\r");
        const auto e = s.find_last_not_of(" \t\r");
        return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    };
    while (std::getline(in, line)) {
        if (!line.empty() && line[0] == '#') continue;
        if (trim(line).empty()) {
            if (!cur.empty()) out.push_back(std::move(cur));
            cur.clear();
            continue;
        }
        const auto eq = line.find('=');
        if (eq == std::string::npos) throw std::runtime_error("bad line in " + path + ": " + line);
        cur[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    if (out.empty()) throw std::runtime_error("no records in " + path);
    return out;
}

Bytes hex_field(const Record& r, const std::string& field) {
    const auto it = r.find(field);
    if (it == r.end()) throw std::runtime_error("vector record lacks " + field);
    return from_hex(it->second, field);
}

bool host_verify(ByteView spki, core::SignAlgorithm alg, ByteView message, ByteView signature) {
    const unsigned char* p = spki.data();
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())), EVP_PKEY_free);
    if (!key) return false;
    Bytes sig(signature.begin(), signature.end());
    const bool ecdsa =
        alg == core::SignAlgorithm::EcdsaSha256 || alg == core::SignAlgorithm::EcdsaSha384;
    if (ecdsa) {  // raw r||s -> DER ECDSA-Sig-Value (RFC 3279 §2.2.3)
        const std::size_t half = signature.size() / 2;
        ECDSA_SIG* s = ECDSA_SIG_new();
        ECDSA_SIG_set0(s, BN_bin2bn(signature.data(), half, nullptr),
                       BN_bin2bn(signature.data() + half, half, nullptr));
        unsigned char* der = nullptr;
        const int len = i2d_ECDSA_SIG(s, &der);
        sig.assign(der, der + len);
        OPENSSL_free(der);
        ECDSA_SIG_free(s);
    }
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_PKEY_CTX* pctx = nullptr;
    const EVP_MD* md = alg == core::SignAlgorithm::EcdsaSha384 ? EVP_sha384() : EVP_sha256();
    if (EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key.get()) != 1) return false;
    if (alg == core::SignAlgorithm::RsaPssSha256) {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32);
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256());
    }
    return EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), message.data(), message.size()) == 1;
}

std::string run_command(const std::string& command) {
    std::string out;
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (p == nullptr) return out;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
    return out;
}

}  // namespace kms::hsm::test
