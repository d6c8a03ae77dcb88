// A loaded PKCS#11 module: dlopen, C_GetFunctionList, C_Initialize with CKF_OS_LOCKING_OK, and
// C_Finalize when the last user lets go. Also the slot and token look-ups by label.
//
// Why a process-wide registry: PKCS#11 v2.40 §5.4 makes C_Initialize/C_Finalize process-wide
// (a second C_Initialize returns CKR_CRYPTOKI_ALREADY_INITIALIZED; one C_Finalize ends every
// user's sessions). Two users of one module in a process (initialize_token() then open(), or two
// Pkcs11Hsm on two tokens) must therefore share one initialisation. Module::load() hands out one
// shared Module per dlopen handle; the last shared_ptr to go calls C_Finalize. The registry is
// the only mutable global of the adapter, and it mirrors state the module itself keeps globally.
//
// Thread safety: load() may be called from any thread. A Module is immutable after load(); fn()
// and the look-ups may be used from any thread (the module was initialised with
// CKF_OS_LOCKING_OK, PKCS#11 v2.40 §5.4, so it does its own locking).
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pkcs11/cryptoki.hpp"

namespace kms::hsm {

class Module {
  public:
    /// Loads the module at @p path (dlopen RTLD_NOW|RTLD_LOCAL) and initialises it, or returns
    /// the Module already loaded from the same library. C_Initialize gets a CK_C_INITIALIZE_ARGS
    /// with CKF_OS_LOCKING_OK and no mutex callbacks (SoftHSM2 needs non-NULL arguments for
    /// thread safety, OpenSC/libp11#91). The arguments live inside the Module until after
    /// C_Finalize, because some modules keep the pointer (OpenSC#2170). When C_Initialize answers
    /// CKR_CRYPTOKI_ALREADY_INITIALIZED (someone outside this registry initialised it), the
    /// module is used as is and never finalised by us.
    /// Throws kms::Error: HsmUnavailable when dlopen or C_GetFunctionList fails (the message has
    /// the path and dlerror()), or the CK_RV error of C_Initialize.
    static std::shared_ptr<Module> load(const std::string& path);

    ~Module();
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;

    const CK_FUNCTION_LIST& fn() const noexcept { return *m_fn; }
    const std::string& path() const noexcept { return m_path; }
    /// False when C_Initialize said CKR_CRYPTOKI_ALREADY_INITIALIZED.
    bool owns_initialization() const noexcept { return m_owns_init; }

    /// C_GetInfo. Throws kms::Error (CkRv).
    CK_INFO info() const;
    /// Slots with a token present (C_GetSlotList(CK_TRUE)).
    std::vector<CK_SLOT_ID> slots_with_token() const;
    /// Every slot, with or without a token (C_GetSlotList(CK_FALSE)).
    std::vector<CK_SLOT_ID> all_slots() const;
    /// C_GetTokenInfo of @p slot.
    CK_TOKEN_INFO token_info(CK_SLOT_ID slot) const;
    /// The slot whose initialised token has the label @p label (compared
    /// after removing the blank padding, PKCS#11 v2.40 §3.2). Never a slot number: slot ids
    /// change (SoftHSM2 derives them from the token serial). nullopt when no token has it.
    /// Throws InvalidArgument for an empty label or one over 32 bytes, Conflict when two tokens
    /// carry the label.
    std::optional<CK_SLOT_ID> find_token(std::string_view label) const;
    /// A slot whose token is present but not initialised (SoftHSM2 always offers one), or
    /// nullopt.
    std::optional<CK_SLOT_ID> find_uninitialized_token() const;

  private:
    Module(std::string path, void* handle, CK_FUNCTION_LIST* fn);
    std::vector<CK_SLOT_ID> slot_list(CK_BBOOL token_present) const;
    friend struct ModuleRegistry;

    std::string m_path;
    void* m_handle = nullptr;
    CK_FUNCTION_LIST* m_fn = nullptr;
    CK_C_INITIALIZE_ARGS m_init_args{};  // must outlive C_Finalize (OpenSC#2170)
    bool m_owns_init = false;
};

/// A fixed-width PKCS#11 text field (CK_INFO, CK_TOKEN_INFO) without its blank padding.
std::string trim_padded(const CK_UTF8CHAR* text, std::size_t size);
template <std::size_t N>
std::string trim_padded(const CK_UTF8CHAR (&text)[N]) {
    return trim_padded(text, N);
}

/// A token label padded with blanks to the 32 bytes C_InitToken takes. Throws InvalidArgument
/// when @p label is empty or longer than 32 bytes.
std::array<CK_UTF8CHAR, 32> padded_label(std::string_view label);

/// "2.40" for a CK_VERSION (minor printed as a number, as PKCS#11 v2.40 §3.1 intends).
std::string version_string(const CK_VERSION& v);

}  // namespace kms::hsm
