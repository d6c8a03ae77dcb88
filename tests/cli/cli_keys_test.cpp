// cli suite, the happy paths: the real kmsctl against a real kmsd over TLS on 127.0.0.1 (keys,
// lifecycle, crypto, principals, audit, HSM info), checking exit codes and both output forms.
#include "cli_fixture.hpp"

namespace kms::test {
namespace {

TEST_F(Cli, HealthWhoamiAndDataDirShorthand) {
    auto health = ctl({"health"});
    ASSERT_EQ(health.code, 0) << health.err;
    EXPECT_EQ(label(health.out, "Status"), "ok");
    EXPECT_EQ(label(health.out, "HSM"), "ok");

    auto who = run_kmsctl({"--data-dir", s_kmsd->data_dir(), "whoami"});
    ASSERT_EQ(who.code, 0) << who.err;
    EXPECT_NE(label(who.out, "Roles").find("admin"), std::string::npos) << who.out;
    EXPECT_EQ(who.out.find(s_kmsd->admin_token()), std::string::npos);  // never the token

    auto json = ctl({"whoami", "--json"});
    ASSERT_EQ(json.code, 0) << json.err;
    EXPECT_TRUE(json.json()->has("roles"));
}

TEST_F(Cli, CreateShowAndListWithFilters) {
    const std::string prefix = unique("cli-list");
    const std::string aes = create_key(prefix + "-aes", "AES-256", "mac,encrypt,decrypt");
    const std::string ec = create_key(prefix + "-ec", "ec-p256", "sign,verify");
    const std::string pre = create_key(prefix + "-pre", "AES-128", "mac", {"--pre-active"});

    auto show = ctl({"key", "show", aes});
    ASSERT_EQ(show.code, 0) << show.err;
    EXPECT_EQ(label(show.out, "ID"), aes);
    EXPECT_EQ(label(show.out, "Name"), prefix + "-aes");
    EXPECT_EQ(label(show.out, "Algorithm"), "AES-256");
    EXPECT_EQ(label(show.out, "State"), "Active");
    EXPECT_EQ(label(show.out, "Version"), "1");
    EXPECT_EQ(label(show.out, "KCV").size(), 6u) << show.out;  // 3 bytes of hex
    EXPECT_NE(show.out.find("History:"), std::string::npos);

    auto ec_json = ctl({"--json", "key", "show", ec});
    ASSERT_EQ(ec_json.code, 0) << ec_json.err;
    EXPECT_NE(ec_json.json()->getValue<std::string>("publicKey").find("BEGIN PUBLIC KEY"),
              std::string::npos);
    EXPECT_EQ(ctl({"--json", "key", "show", pre}).json()->getValue<std::string>("state"),
              "PreActive");

    auto all = ctl({"key", "list", "--name-prefix", prefix});
    ASSERT_EQ(all.code, 0) << all.err;
    EXPECT_EQ(all.out.rfind("ID", 0), 0u) << all.out;  // table header first
    for (const auto& id : {aes, ec, pre}) EXPECT_NE(all.out.find(id), std::string::npos);

    auto filtered = ctl({"--json", "key", "list", "--name-prefix", prefix, "--state", "active",
                         "--algorithm", "AES-256"});
    ASSERT_EQ(filtered.code, 0) << filtered.err;
    auto keys = filtered.json()->getArray("keys");
    ASSERT_EQ(keys->size(), 1u) << filtered.out;
    EXPECT_EQ(keys->getObject(0)->getValue<std::string>("id"), aes);
    EXPECT_FALSE(keys->getObject(0)->has("history"));

    auto page = ctl({"key", "list", "--name-prefix", prefix, "--limit", "1"});
    ASSERT_EQ(page.code, 0) << page.err;
    EXPECT_NE(page.err.find("--after"), std::string::npos) << page.err;
    auto every = ctl({"--json", "key", "list", "--name-prefix", prefix, "--limit", "1", "--all"});
    ASSERT_EQ(every.code, 0) << every.err;
    EXPECT_EQ(every.json()->getArray("keys")->size(), 3u);
    EXPECT_TRUE(every.json()->isNull("next"));
}

TEST_F(Cli, MacAndMacVerify) {
    const std::string id = create_key(unique("cli-mac"), "AES-128", "mac");
    auto mac = ctl({"mac", id, "--algorithm", "AES-CMAC", "--data", "00112233aabbccdd"});
    ASSERT_EQ(mac.code, 0) << mac.err;
    const std::string tag = label(mac.out, "MAC");
    EXPECT_EQ(tag.size(), 32u) << mac.out;  // a full 16-byte CMAC
    EXPECT_TRUE(is_upper_hex(tag));
    EXPECT_EQ(label(mac.out, "Version"), "1");

    auto ok = ctl(
        {"mac-verify", id, "--algorithm", "AES-CMAC", "--data", "00112233AABBCCDD", "--mac", tag});
    EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
    EXPECT_EQ(ok.out.rfind("valid", 0), 0u) << ok.out;
    auto bad = ctl({"mac-verify", id, "--algorithm", "AES-CMAC", "--data", "00112233AABBCCDD",
                    "--mac", tamper(tag)});
    EXPECT_EQ(bad.code, 7) << bad.out << bad.err;
    EXPECT_EQ(bad.out.rfind("INVALID", 0), 0u) << bad.out;
    auto bad_json = ctl({"--json", "mac-verify", id, "--algorithm", "AES-CMAC", "--data",
                         "00112233AABBCCDD", "--mac", tamper(tag), "--version", "1"});
    EXPECT_EQ(bad_json.code, 7);
    EXPECT_FALSE(bad_json.json()->getValue<bool>("valid"));
}

TEST_F(Cli, EncryptDecryptAndRotate) {
    const std::string id = create_key(unique("cli-enc"), "AES-256", "encrypt,decrypt");
    auto enc = ctl({"--json", "encrypt", id, "--algorithm", "AES-GCM", "--plaintext", "48656c6c6f",
                    "--aad", "0102"});
    ASSERT_EQ(enc.code, 0) << enc.err;
    const auto e = enc.json();
    const std::string ct = e->getValue<std::string>("ciphertext");
    const std::string iv = e->getValue<std::string>("iv");
    EXPECT_EQ(ct.size(), 2u * (5 + 16));  // plaintext + GCM tag
    EXPECT_EQ(iv.size(), 24u);

    auto rot = ctl({"key", "rotate", id});
    ASSERT_EQ(rot.code, 0) << rot.err;
    EXPECT_EQ(label(rot.out, "Version"), "2");

    auto dec = ctl({"decrypt", id, "--algorithm", "AES-GCM", "--ciphertext", ct, "--iv", iv,
                    "--aad", "0102", "--version", "1"});
    ASSERT_EQ(dec.code, 0) << dec.err;
    EXPECT_EQ(label(dec.out, "Plaintext"), "48656C6C6F");
    EXPECT_EQ(label(dec.out, "Version"), "1");
}

TEST_F(Cli, SignAndVerify) {
    const std::string id = create_key(unique("cli-sign"), "EC-P256", "sign,verify");
    auto sig = ctl({"sign", id, "--algorithm", "ECDSA-SHA256", "--data", "cafe"});
    ASSERT_EQ(sig.code, 0) << sig.err;
    const std::string s = label(sig.out, "Signature");
    EXPECT_EQ(s.size(), 128u);  // raw r||s on P-256
    EXPECT_EQ(
        ctl({"verify", id, "--algorithm", "ECDSA-SHA256", "--data", "CAFE", "--signature", s}).code,
        0);
    EXPECT_EQ(
        ctl({"verify", id, "--algorithm", "ECDSA-SHA256", "--data", "CAFF", "--signature", s}).code,
        7);
}

TEST_F(Cli, LifecycleDeactivateThenDestroy) {
    const std::string name = unique("cli-life");
    const std::string id = create_key(name, "AES-128", "mac");

    auto active = ctl({"key", "destroy", id, "--yes"});
    EXPECT_EQ(active.code, 2) << active.err;  // 409: an Active key is deactivated first
    EXPECT_NE(active.err.find("wrong_state, HTTP 409"), std::string::npos) << active.err;

    auto deact = ctl({"key", "deactivate", id, "--reason", "end of life"});
    ASSERT_EQ(deact.code, 0) << deact.err;
    EXPECT_EQ(label(deact.out, "State"), "Deactivated");
    auto mac = ctl({"mac", id, "--algorithm", "AES-CMAC", "--data", "00"});
    EXPECT_EQ(mac.code, 2) << mac.err;  // only Active keys compute MACs

    auto refused = ctl({"key", "destroy", id});  // stdin is /dev/null, no --yes
    EXPECT_EQ(refused.code, 1);
    EXPECT_NE(refused.err.find("not a terminal"), std::string::npos) << refused.err;
    EXPECT_EQ(ctl({"--json", "key", "show", id}).json()->getValue<std::string>("state"),
              "Deactivated");

    auto destroyed = ctl({"--json", "key", "destroy", id, "--yes", "--reason", "retired"});
    ASSERT_EQ(destroyed.code, 0) << destroyed.err;
    EXPECT_EQ(destroyed.json()->getValue<std::string>("state"), "Destroyed");
    auto tomb = ctl({"key", "show", id});
    ASSERT_EQ(tomb.code, 0) << tomb.err;
    EXPECT_EQ(label(tomb.out, "State"), "Destroyed");
}

TEST_F(Cli, SuspendResumeAndRevoke) {
    const std::string id = create_key(unique("cli-revoke"), "AES-128", "mac", {"--pre-active"});
    EXPECT_EQ(label(ctl({"key", "activate", id}).out, "State"), "Active");
    EXPECT_EQ(label(ctl({"key", "suspend", id}).out, "State"), "Suspended");
    EXPECT_EQ(label(ctl({"key", "resume", id}).out, "State"), "Active");
    auto revoked = ctl({"key", "revoke", id, "--reason", "keyCompromise", "--compromise-date",
                        "2026-01-02T03:04:05Z", "--message", "test"});
    ASSERT_EQ(revoked.code, 0) << revoked.err;
    EXPECT_EQ(label(revoked.out, "State"), "Compromised");
    auto destroyed = ctl({"--json", "key", "destroy", id, "--yes"});
    ASSERT_EQ(destroyed.code, 0) << destroyed.err;
    EXPECT_EQ(destroyed.json()->getValue<std::string>("state"), "DestroyedCompromised");
}

TEST_F(Cli, PrincipalsRolesAndTokenFile) {
    const std::string name = unique("aud");
    const std::string token_file = s_kmsd->data_dir() + "/" + name + ".token";
    auto created =
        ctl({"principal", "create", name, "--role", "auditor", "--token-out", token_file});
    ASSERT_EQ(created.code, 0) << created.err;
    EXPECT_NE(label(created.out, "Token").find("written to"), std::string::npos);

    auto who = run_kmsctl({"whoami"}, {{"KMS_URL", s_kmsd->url()},
                                       {"KMS_CA", s_kmsd->ca_file()},
                                       {"KMS_TOKEN_FILE", token_file}});
    ASSERT_EQ(who.code, 0) << who.err;
    EXPECT_EQ(label(who.out, "Name"), name);

    auto forbidden = run_kmsctl({"key", "create", name, "--algorithm", "AES-128", "--usage", "mac"},
                                {{"KMS_URL", s_kmsd->url()},
                                 {"KMS_CA", s_kmsd->ca_file()},
                                 {"KMS_TOKEN_FILE", token_file}});
    EXPECT_EQ(forbidden.code, 3) << forbidden.err;
    EXPECT_NE(forbidden.err.find("HTTP 403"), std::string::npos) << forbidden.err;

    auto list = ctl({"principal", "list"});
    ASSERT_EQ(list.code, 0) << list.err;
    EXPECT_NE(list.out.find(name), std::string::npos);
    EXPECT_EQ(ctl({"principal", "create", name, "--role", "auditor"}).code, 2);  // 409 conflict
}

TEST_F(Cli, AuditHsmRandomAndOpenApi) {
    auto verify = ctl({"audit", "verify"});
    EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
    EXPECT_EQ(label(verify.out, "Audit chain"), "valid");
    auto audit = ctl({"--json", "audit", "list", "--limit", "5"});
    ASSERT_EQ(audit.code, 0) << audit.err;
    EXPECT_LE(audit.json()->getArray("records")->size(), 5u);
    EXPECT_EQ(ctl({"audit", "list", "--all"}).code, 0);

    auto hsm = ctl({"--json", "hsm", "info"});
    ASSERT_EQ(hsm.code, 0) << hsm.err;
    EXPECT_TRUE(hsm.json()->has("mechanisms"));
    auto hsm_text = ctl({"hsm", "info"});
    EXPECT_EQ(hsm_text.code, 0) << hsm_text.err;
    EXPECT_NE(hsm_text.out.find("Mechanisms:"), std::string::npos);
    EXPECT_NE(label(hsm_text.out, "Token flags").find("CKF_TOKEN_INITIALIZED"), std::string::npos)
        << hsm_text.out;
    // Every slot (console parity): kmsd's token, marked, and SoftHSM2's uninitialised one.
    EXPECT_NE(hsm_text.out.find("Slots:\n"), std::string::npos) << hsm_text.out;
    EXPECT_NE(hsm_text.out.find("token 'kms' (serial "), std::string::npos) << hsm_text.out;
    EXPECT_NE(hsm_text.out.find(" <- kmsd\n"), std::string::npos) << hsm_text.out;
    EXPECT_NE(hsm_text.out.find("token not initialised"), std::string::npos) << hsm_text.out;

    auto random = ctl({"random", "16"});
    ASSERT_EQ(random.code, 0) << random.err;
    EXPECT_EQ(random.out.size(), 33u);  // 32 hex digits and a newline
    EXPECT_TRUE(is_upper_hex(random.out.substr(0, 32)));

    auto doc = ctl({"openapi"});
    ASSERT_EQ(doc.code, 0) << doc.err;
    EXPECT_EQ(doc.json()->getValue<std::string>("openapi"), "3.0.3");
}

}  // namespace
}  // namespace kms::test
