// Shared fixtures of the hsm suite: a SoftHSM2 configuration in a temporary folder
// (SOFTHSM2_CONF), the token "kms" with its master keys and one Pkcs11Hsm opened on it for the
// whole test binary (a gtest Environment), helpers for fresh tokens, raw PKCS#11 sessions,
// vector files and host-side checks with OpenSSL.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "domain/algorithm.hpp"
#include "domain/bytes.hpp"
#include "domain/error.hpp"
#include "pkcs11/module.hpp"
#include "pkcs11/pkcs11_hsm.hpp"
#include "pkcs11/session.hpp"
#include "ports/hsm.hpp"

namespace kms::hsm::test {

inline constexpr const char* kSoPin = "so-pin-4711";
inline constexpr const char* kUserPin = "user-pin-0815";
inline constexpr const char* kSharedToken = "kms";

/// The SoftHSM2 module (KMS_SOFTHSM_MODULE, else the Debian path).
const std::string& module_path();
/// The temporary folder holding softhsm2.conf and the tokens.
const std::string& temp_dir();
/// The Pkcs11Hsm on token "kms", opened with CreateIfMissing by the environment.
Pkcs11Hsm& shared_hsm();

/// A config for @p token with the user PIN as a value.
Pkcs11Config config_for(const std::string& token, std::size_t cache_capacity = 4096,
                        std::size_t sessions = 0);
/// Initialises a new token with a unique label starting with @p prefix (<= 20 bytes), with
/// kSoPin / kUserPin, and returns the label.
std::string new_token(const std::string& prefix);
/// A key id unique in this test run.
std::string unique_id(const std::string& prefix);

/// A KeyRef onto a spec and its generated key (which must outlive the KeyRef).
core::KeyRef ref(const core::KeySpec& spec, const core::GeneratedKey& key);
core::UsageMask usage(std::initializer_list<core::Usage> usages);
SecureBytes secret(std::string_view hex);
inline Bytes text_bytes(std::string_view s) {
    return Bytes(s.begin(), s.end());
}

/// A user session on a token, logged in, for setting up situations the adapter must cope
/// with (deleting a master key, adding a stray object, closing all sessions).
class RawToken {
  public:
    explicit RawToken(const std::string& label);
    const CK_FUNCTION_LIST& fn() const;
    CK_SESSION_HANDLE session() const { return m_session.handle(); }
    CK_SLOT_ID slot() const { return m_slot; }
    /// Token secret-key objects labelled @p label.
    std::vector<CK_OBJECT_HANDLE> find_secret(const std::string& label) const;

  private:
    std::shared_ptr<Module> m_module;
    CK_SLOT_ID m_slot = 0;
    Session m_session;
};

/// Records of a vector file in tests/hsm/vectors (KMS_HSM_VECTORS overrides the folder):
/// "key = value" lines, records separated by blank lines, '#' comments.
using Record = std::map<std::string, std::string>;
std::vector<Record> read_vectors(const std::string& file);
Bytes hex_field(const Record& r, const std::string& field);

/// Verifies @p signature (ECDSA: raw r||s) over @p message with OpenSSL on the host.
bool host_verify(ByteView spki, core::SignAlgorithm alg, ByteView message, ByteView signature);

/// Runs a shell command, returns its stdout+stderr.
std::string run_command(const std::string& command);

/// Expects @p f to throw kms::Error with @p code; returns the error message.
template <class F>
std::string expect_error(ErrorCode code, F&& f) {
    try {
        f();
    } catch (const Error& e) {
        EXPECT_EQ(error_code_name(e.code()), error_code_name(code)) << e.what();
        return e.what();
    }
    ADD_FAILURE() << "expected kms::Error " << error_code_name(code);
    return {};
}

}  // namespace kms::hsm::test
