// A fake KMS port for the SP TSM driver tests: wraps by setting CLA bit 04 and appending CC*8,
// unwraps as identity, builds PUT KEY as a fixed command and verifies the card's answer against
// the version and KCV it announced; each call can be refused.
#pragma once

#include <string>
#include <vector>

#include "operation_driver.hpp"

namespace kms::tsm::sp {

/// A KMS that wraps by setting CLA bit 04 and appending CC*8, unwraps as identity, and can
/// refuse each call.
struct FakeKms : KmsPort {
    bool refuse_mac = false, refuse_open = false, refuse_auth = false, refuse_unwrap = false;
    bool refuse_put_key = false;
    std::vector<std::string> calls;
    GpOpenRequest opened;
    std::vector<std::string> closed;

    static KmsError refusal() { return KmsError(403, "forbidden", "refused"); }
    Bytes mac(const std::string& key, const std::string& alg, ByteView data) override {
        calls.push_back("mac " + key + " " + alg + " " + to_hex(data));
        if (refuse_mac) throw refusal();
        return from_hex("0102030405060708");
    }
    GpOpened gp_open(const GpOpenRequest& r) override {
        calls.push_back("open");
        if (refuse_open) throw refusal();
        opened = r;
        return {"s1", from_hex("80502000081122334455667788")};
    }
    Bytes gp_authenticate(const std::string& s, ByteView resp, std::uint8_t level) override {
        calls.push_back("authenticate " + s + " " + to_hex(resp) + " " + std::to_string(level));
        if (refuse_auth) throw KmsError(400, "verification_failed", "card cryptogram");
        return from_hex("8482010010AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB");
    }
    Bytes gp_wrap(const std::string& s, const Bytes& apdu) override {
        calls.push_back("wrap " + s);
        Bytes out = apdu;
        out[0] |= 0x04;
        out.insert(out.end(), 8, 0xCC);
        return out;
    }
    Bytes gp_unwrap(const std::string& s, const Bytes& resp) override {
        calls.push_back("unwrap " + s);
        if (refuse_unwrap) throw refusal();
        return resp;
    }
    void gp_close(const std::string& s) override { closed.push_back(s); }
    /// PUT KEY: "84D8" P1 P2 and a fixed body; the card must answer version || A1B2C3 (one KCV
    /// per key) || 9000.
    GpPutKey gp_put_key(const std::string& s, const std::vector<std::string>& ids,
                        std::uint8_t version, std::uint8_t replace, std::uint8_t key_id) override {
        std::string list;
        for (const auto& id : ids) list += (list.empty() ? "" : ",") + id;
        calls.push_back("put-key " + s + " " + list + " " + std::to_string(version) + " " +
                        std::to_string(replace) + " " + std::to_string(key_id));
        if (refuse_put_key) throw KmsError(403, "forbidden", "not exportable");
        GpPutKey out;
        out.apdu = from_hex("84D8" + to_hex(Bytes{replace, key_id}) + "03DDDDDD00");
        out.key_version = version;
        out.kcvs.assign(ids.size(), from_hex("A1B2C3"));
        expected = Bytes{version};
        for (const auto& k : out.kcvs) expected.insert(expected.end(), k.begin(), k.end());
        expected.push_back(0x90);
        expected.push_back(0x00);
        return out;
    }
    GpPutKeyVerified gp_put_key_verify(const std::string& s, ByteView response) override {
        calls.push_back("verify " + s + " " + to_hex(response));
        const bool ok = Bytes(response.begin(), response.end()) == expected;
        expected.clear();
        if (!ok) throw KmsError(400, "verification_failed", "KCV");
        return GpPutKeyVerified{response[0], {}};
    }
    Bytes expected;  ///< what the card must answer to the last PUT KEY
};

}  // namespace kms::tsm::sp
