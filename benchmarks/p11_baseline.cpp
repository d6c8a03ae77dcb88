// Baselines measured straight through PKCS#11 against SoftHSM2, without kmsd: token-object key
// creation per second, and AES-CMAC of 16 bytes per second with 1 and 2 threads (one session
// each), and HMAC-SHA256 of 32 bytes (kmsd's audit seal, one per audit record) under a token
// object and under a session object, 1 thread. Usage: p11_baseline MODULE WORKDIR [seconds].
// WORKDIR gets a fresh token.
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

CK_FUNCTION_LIST* f = nullptr;

void check(CK_RV rv, const char* what) {
    if (rv != CKR_OK) {
        std::fprintf(stderr, "%s failed: 0x%lx\n", what, rv);
        std::exit(1);
    }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double cmac_rate(CK_SLOT_ID slot, int threads, double secs) {
    std::atomic<long> total{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
        ts.emplace_back([&] {
            CK_SESSION_HANDLE s;
            check(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s),
                  "C_OpenSession");
            CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
            CK_KEY_TYPE kt = CKK_AES;
            CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
            CK_ULONG len = 16;
            CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls},
                                   {CKA_KEY_TYPE, &kt, sizeof kt},
                                   {CKA_TOKEN, &no, sizeof no},
                                   {CKA_SIGN, &yes, sizeof yes},
                                   {CKA_VALUE_LEN, &len, sizeof len}};
            CK_MECHANISM gen{CKM_AES_KEY_GEN, nullptr, 0};
            CK_OBJECT_HANDLE key;
            check(f->C_GenerateKey(s, &gen, tmpl, 5, &key), "C_GenerateKey");
            CK_MECHANISM mech{CKM_AES_CMAC, nullptr, 0};
            unsigned char data[16] = {0}, mac[16];
            long n = 0;
            const auto t0 = std::chrono::steady_clock::now();
            while (seconds_since(t0) < secs) {
                for (int i = 0; i < 256; ++i) {
                    CK_ULONG mlen = sizeof mac;
                    check(f->C_SignInit(s, &mech, key), "C_SignInit");
                    check(f->C_Sign(s, data, sizeof data, mac, &mlen), "C_Sign");
                }
                n += 256;
            }
            total += n;
        });
    for (auto& t : ts) t.join();
    return static_cast<double>(total.load()) / secs;
}

/// HMAC-SHA256 of 32 bytes per second on session @p s under a generic secret that is a token
/// object (@p token true, like kmsd's audit key) or a session object.
double hmac_rate(CK_SESSION_HANDLE s, bool token, double secs) {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE, tok = token ? CK_TRUE : CK_FALSE;
    CK_ULONG len = 32;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls},     {CKA_KEY_TYPE, &kt, sizeof kt},
                           {CKA_TOKEN, &tok, sizeof tok},     {CKA_PRIVATE, &yes, sizeof yes},
                           {CKA_SENSITIVE, &yes, sizeof yes}, {CKA_EXTRACTABLE, &no, sizeof no},
                           {CKA_SIGN, &yes, sizeof yes},      {CKA_VALUE_LEN, &len, sizeof len}};
    CK_MECHANISM gen{CKM_GENERIC_SECRET_KEY_GEN, nullptr, 0};
    CK_OBJECT_HANDLE key;
    check(f->C_GenerateKey(s, &gen, tmpl, 8, &key), "C_GenerateKey(hmac)");
    CK_MECHANISM mech{CKM_SHA256_HMAC, nullptr, 0};
    unsigned char data[32] = {0}, mac[32];
    long n = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (seconds_since(t0) < secs) {
        for (int i = 0; i < 64; ++i) {
            CK_ULONG mlen = sizeof mac;
            check(f->C_SignInit(s, &mech, key), "C_SignInit(hmac)");
            check(f->C_Sign(s, data, sizeof data, mac, &mlen), "C_Sign(hmac)");
        }
        n += 64;
    }
    const double rate = static_cast<double>(n) / seconds_since(t0);
    f->C_DestroyObject(s, key);
    return rate;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s MODULE WORKDIR [seconds]\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[2];
    const double secs = argc > 3 ? std::atof(argv[3]) : 5.0;
    if (std::system(("mkdir -p " + dir + "/tokens").c_str()) != 0) return 1;
    const std::string conf = dir + "/softhsm2.conf";
    FILE* c = std::fopen(conf.c_str(), "w");
    std::fprintf(
        c, "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
        dir.c_str());
    std::fclose(c);
    setenv("SOFTHSM2_CONF", conf.c_str(), 1);

    void* lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) return std::fprintf(stderr, "dlopen: %s\n", dlerror()), 1;
    auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(lib, "C_GetFunctionList"));
    check(get(&f), "C_GetFunctionList");
    CK_C_INITIALIZE_ARGS init{};
    init.flags = CKF_OS_LOCKING_OK;
    check(f->C_Initialize(&init), "C_Initialize");
    CK_ULONG n = 0;
    check(f->C_GetSlotList(CK_FALSE, nullptr, &n), "C_GetSlotList");
    std::vector<CK_SLOT_ID> slots(n);
    check(f->C_GetSlotList(CK_FALSE, slots.data(), &n), "C_GetSlotList");
    unsigned char label[32];
    std::memset(label, ' ', sizeof label);
    std::memcpy(label, "bench", 5);
    const char* so = "so-pin-1234";
    const char* pin = "user-pin-1234";
    check(f->C_InitToken(slots[0], (CK_UTF8CHAR*)so, std::strlen(so), label), "C_InitToken");
    check(f->C_GetSlotList(CK_TRUE, nullptr, &n), "C_GetSlotList");
    slots.resize(n);
    check(f->C_GetSlotList(CK_TRUE, slots.data(), &n), "C_GetSlotList");
    CK_SLOT_ID slot = slots[0];
    for (CK_ULONG i = 0; i < n; ++i) {
        CK_TOKEN_INFO ti;
        f->C_GetTokenInfo(slots[i], &ti);
        if (std::memcmp(ti.label, label, 32) == 0) slot = slots[i];
    }
    CK_SESSION_HANDLE s;
    check(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s),
          "C_OpenSession");
    check(f->C_Login(s, CKU_SO, (CK_UTF8CHAR*)so, std::strlen(so)), "C_Login SO");
    check(f->C_InitPIN(s, (CK_UTF8CHAR*)pin, std::strlen(pin)), "C_InitPIN");
    check(f->C_Logout(s), "C_Logout");
    check(f->C_Login(s, CKU_USER, (CK_UTF8CHAR*)pin, std::strlen(pin)), "C_Login");

    // Token-object creation: the per-key cost a one-object-per-key design would pay.
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG len = 16;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls},     {CKA_KEY_TYPE, &kt, sizeof kt},
                           {CKA_TOKEN, &yes, sizeof yes},     {CKA_PRIVATE, &yes, sizeof yes},
                           {CKA_SENSITIVE, &yes, sizeof yes}, {CKA_EXTRACTABLE, &no, sizeof no},
                           {CKA_SIGN, &yes, sizeof yes},      {CKA_VALUE_LEN, &len, sizeof len}};
    CK_MECHANISM gen{CKM_AES_KEY_GEN, nullptr, 0};
    long created = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (seconds_since(t0) < secs) {
        CK_OBJECT_HANDLE h;
        check(f->C_GenerateKey(s, &gen, tmpl, 8, &h), "C_GenerateKey(token)");
        ++created;
    }
    const double token_rate = static_cast<double>(created) / seconds_since(t0);
    const double hmac_token = hmac_rate(s, true, secs < 3 ? secs : 3);
    const double hmac_session = hmac_rate(s, false, secs < 3 ? secs : 3);
    const double one = cmac_rate(slot, 1, secs);
    const double two = cmac_rate(slot, 2, secs);
    std::printf("softhsm2_token_objects_per_s %.0f\n", token_rate);
    std::printf("softhsm2_cmac16_per_s_1thread %.0f\n", one);
    std::printf("softhsm2_cmac16_per_s_2threads %.0f\n", two);
    std::printf("softhsm2_hmac32_token_object_per_s %.0f\n", hmac_token);
    std::printf("softhsm2_hmac32_session_object_per_s %.0f\n", hmac_session);
    f->C_Finalize(nullptr);
    return 0;
}
