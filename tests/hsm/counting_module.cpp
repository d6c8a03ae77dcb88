// A PKCS#11 pass-through module for tests: forwards every call to the real module named by
// KMS_COUNTING_TARGET (SoftHSM2 in the hsm suite) and counts calls per function, so a test can
// assert how many PKCS#11 calls an operation makes (a cached MAC must be exactly C_SignInit +
// C_Sign). It is not a fake: every answer comes from the real module.
//
// Exported besides C_GetFunctionList: kms_counting_calls(name) and kms_counting_reset().
#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "pkcs11/cryptoki.hpp"

namespace {

CK_FUNCTION_LIST* g_real = nullptr;
CK_FUNCTION_LIST g_list;
std::once_flag g_once;

template <auto Member>
std::atomic<unsigned long> g_count{0};

template <auto Member>
struct Wrap;
template <typename... A, CK_RV (*CK_FUNCTION_LIST::*Member)(A...)>
struct Wrap<Member> {
    static CK_RV call(A... args) {
        g_count<Member>.fetch_add(1, std::memory_order_relaxed);
        return (g_real->*Member)(args...);
    }
};

// clang-format off
// Every function of CK_FUNCTION_LIST (PKCS#11 v2.40) but C_GetFunctionList.
#define KMS_FUNCTIONS(X)                                                                         \
    X(C_Initialize) X(C_Finalize) X(C_GetInfo) X(C_GetSlotList) X(C_GetSlotInfo)                 \
    X(C_GetTokenInfo) X(C_WaitForSlotEvent) X(C_GetMechanismList) X(C_GetMechanismInfo)          \
    X(C_InitToken) X(C_InitPIN) X(C_SetPIN) X(C_OpenSession) X(C_CloseSession)                   \
    X(C_CloseAllSessions) X(C_GetSessionInfo) X(C_GetOperationState) X(C_SetOperationState)      \
    X(C_Login) X(C_Logout) X(C_CreateObject) X(C_CopyObject) X(C_DestroyObject)                  \
    X(C_GetObjectSize) X(C_GetAttributeValue) X(C_SetAttributeValue) X(C_FindObjectsInit)        \
    X(C_FindObjects) X(C_FindObjectsFinal) X(C_EncryptInit) X(C_Encrypt) X(C_EncryptUpdate)      \
    X(C_EncryptFinal) X(C_DecryptInit) X(C_Decrypt) X(C_DecryptUpdate) X(C_DecryptFinal)         \
    X(C_DigestInit) X(C_Digest) X(C_DigestUpdate) X(C_DigestKey) X(C_DigestFinal)                \
    X(C_SignInit) X(C_Sign) X(C_SignUpdate) X(C_SignFinal) X(C_SignRecoverInit)                  \
    X(C_SignRecover) X(C_VerifyInit) X(C_Verify) X(C_VerifyUpdate) X(C_VerifyFinal)              \
    X(C_VerifyRecoverInit) X(C_VerifyRecover) X(C_DigestEncryptUpdate)                           \
    X(C_DecryptDigestUpdate) X(C_SignEncryptUpdate) X(C_DecryptVerifyUpdate) X(C_GenerateKey)    \
    X(C_GenerateKeyPair) X(C_WrapKey) X(C_UnwrapKey) X(C_DeriveKey) X(C_SeedRandom)              \
    X(C_GenerateRandom) X(C_GetFunctionStatus) X(C_CancelFunction)
// clang-format on

CK_RV load_real() {
    CK_RV rv = CKR_OK;
    std::call_once(g_once, [&rv] {
        const char* target = std::getenv("KMS_COUNTING_TARGET");
        void* h = target != nullptr ? ::dlopen(target, RTLD_NOW | RTLD_LOCAL) : nullptr;
        auto get = h != nullptr
                       ? reinterpret_cast<CK_C_GetFunctionList>(::dlsym(h, "C_GetFunctionList"))
                       : nullptr;
        if (get == nullptr || get(&g_real) != CKR_OK) {
            rv = CKR_GENERAL_ERROR;
            return;
        }
        g_list = *g_real;
#define KMS_ASSIGN(f) g_list.f = &Wrap<&CK_FUNCTION_LIST::f>::call;
        KMS_FUNCTIONS(KMS_ASSIGN)
#undef KMS_ASSIGN
    });
    return g_real != nullptr ? CKR_OK : (rv != CKR_OK ? rv : CKR_GENERAL_ERROR);
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST** list) {
    if (list == nullptr) return CKR_ARGUMENTS_BAD;
    const CK_RV rv = load_real();
    if (rv != CKR_OK) return rv;
    *list = &g_list;
    return CKR_OK;
}

__attribute__((visibility("default"))) unsigned long kms_counting_calls(const char* name) {
#define KMS_READ(f) \
    if (std::strcmp(name, #f) == 0) return g_count<&CK_FUNCTION_LIST::f>.load();
    KMS_FUNCTIONS(KMS_READ)
#undef KMS_READ
    if (std::strcmp(name, "*") == 0) {
        unsigned long total = 0;
#define KMS_SUM(f) total += g_count<&CK_FUNCTION_LIST::f>.load();
        KMS_FUNCTIONS(KMS_SUM)
#undef KMS_SUM
        return total;
    }
    return 0;
}

__attribute__((visibility("default"))) void kms_counting_reset() {
#define KMS_RESET(f) g_count<&CK_FUNCTION_LIST::f>.store(0);
    KMS_FUNCTIONS(KMS_RESET)
#undef KMS_RESET
}

}  // extern "C"
