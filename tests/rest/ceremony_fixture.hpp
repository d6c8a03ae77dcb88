// Key ceremonies through a real kmsd, for the rest tests that need keys of published test
// vectors inside the KMS: two custodians and a key-officer, and ceremony_key(), which loads a
// known key value as two components (C1 = K xor C2) with their KCVs.
#pragma once

#include "crypto/host_crypto.hpp"
#include "domain/bytes.hpp"
#include "rest_fixture.hpp"

namespace kms::test {

inline Bytes xor_of(const Bytes& a, const Bytes& b) {
    Bytes out(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) out[i] = a[i] ^ b[i];
    return out;
}

class CeremonyRest : public Rest {
  public:
    static void SetUpTestSuite() {
        Rest::SetUpTestSuite();
        s_alice = create_principal("alice", "[\"custodian\"]");
        s_bob = create_principal("bob", "[\"custodian\"]");
        s_officer = create_principal("officer", "[\"key-officer\"]");
    }

  protected:
    /// A key ceremony of two custodians for @p k; returns the key id.
    std::string ceremony_key(const std::string& name, const std::string& algorithm,
                             const std::string& usage, const Bytes& k,
                             const std::string& flags = "") {
        const bool des = algorithm.rfind("DES3", 0) == 0;
        const Bytes c2 = from_hex(des ? "1F2E3D4C5B6A79880123456789ABCDEF"
                                      : "0F1E2D3C4B5A69788796A5B4C3D2E1F0");
        const Bytes c1 = xor_of(k, c2);
        auto r = post("/v1/ceremonies",
                      "{\"name\":\"" + name + "\",\"algorithm\":\"" + algorithm + "\",\"usage\":" +
                          usage + ",\"components\":2" + flags + "}",
                      s_officer);
        EXPECT_EQ(r.status, 201) << r.body;
        if (r.status != 201) return "";
        const std::string id = str(r.json(), "id");
        std::string key_id;
        const std::pair<const Bytes*, const std::string*> parts[] = {{&c1, &s_alice},
                                                                     {&c2, &s_bob}};
        for (const auto& [c, who] : parts) {
            const Bytes kcv = des ? crypto::kcv_des3(*c) : crypto::kcv_aes_cmac(*c);
            auto a = post("/v1/ceremonies/" + id + "/components",
                          "{\"component\":\"" + to_hex(*c) + "\",\"kcv\":\"" + to_hex(kcv) + "\"}",
                          *who);
            EXPECT_EQ(a.status, 200) << a.body;
            if (a.status == 200 && a.json()->has("key"))
                key_id = str(a.json()->getObject("key"), "id");
        }
        EXPECT_FALSE(key_id.empty());
        return key_id;
    }

    static std::string s_alice, s_bob, s_officer;
};

inline std::string CeremonyRest::s_alice;
inline std::string CeremonyRest::s_bob;
inline std::string CeremonyRest::s_officer;

}  // namespace kms::test
