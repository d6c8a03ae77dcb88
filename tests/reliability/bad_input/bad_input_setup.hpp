// The world the bad-input table runs against: one real kmsd (fresh data directory, SoftHSM2
// token, free port on 127.0.0.1) and, made through its REST API, the principals (one per role,
// plugins with KMS-issued client certificates, one of them revoked), keys in every lifecycle
// state, approvals in every state, key ceremonies, a GlobalPlatform session and certificates.
// Their ids are the ${name} values the table's rows refer to. The destructor stops kmsd by PID
// and removes every temporary folder, also when a setup step failed.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../rest/plugin_support.hpp"
#include "kmsd_process.hpp"

namespace kms::test {

class World {
  public:
    World() : kmsd(std::vector<std::string>{}) {
        char tmpl[] = "/tmp/kms-bad-input-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
        m_dir = tmpl;
        try {
            build();
        } catch (...) {
            cleanup();
            throw;
        }
    }
    ~World() { cleanup(); }
    World(const World&) = delete;
    World& operator=(const World&) = delete;

    KmsdProcess kmsd;
    std::map<std::string, std::string> vars;  ///< ${name} -> id, serial, ...

    /// Sends one request as @p as: admin, officer, officer2, auditor, custodian, custodian2,
    /// plugin (bearer token of bi-plugin), plugin-cert, other-cert, revoked-cert (mTLS, no
    /// token), none (no credentials) or bad-token (a well-formed token kmsd never issued).
    /// A new connection each time: some refusals close the connection.
    HttpResponse send(const std::string& as, const std::string& method, const std::string& path,
                      const std::string& body,
                      const std::vector<std::pair<std::string, std::string>>& headers) {
        std::string cert, key;
        if (auto p = m_certs.find(as); p != m_certs.end()) {
            cert = p->second.cert_file;
            key = p->second.key_file;
        }
        HttpsClient c("127.0.0.1", kmsd.port(), kmsd.ca_file(), cert, key);
        return c.request(method, path, body, token_of(as), headers);
    }

    /// The audit actor a row's caller leaves: the principal's name, "-" when none was
    /// authenticated.
    std::string actor_of(const std::string& as) const {
        if (auto n = m_names.find(as); n != m_names.end()) return n->second;
        return "-";
    }

    /// The sequence number of the last audit record.
    std::uint64_t audit_head() {
        auto r = need(call("admin", "GET", "/v1/audit/verify"), 200, "audit verify");
        return r.json()->getValue<std::uint64_t>("headSeq");
    }

    /// Every audit record from @p from on, following the `next` cursor.
    std::vector<Poco::JSON::Object::Ptr> audit_since(std::uint64_t from) {
        std::vector<Poco::JSON::Object::Ptr> out;
        for (;;) {
            auto r = need(call("admin", "GET", "/v1/audit?limit=1000&from=" + std::to_string(from)),
                          200, "audit list");
            auto o = r.json();
            auto arr = o->getArray("records");
            for (std::size_t i = 0; i < arr->size(); ++i)
                out.push_back(arr->getObject(static_cast<unsigned>(i)));
            if (o->isNull("next")) return out;
            from = o->getValue<std::uint64_t>("next");
        }
    }

  private:
    HttpResponse call(const std::string& as, const std::string& method, const std::string& path,
                      const std::string& body = "") {
        return send(as, method, path, body, {});
    }
    static HttpResponse need(HttpResponse r, int status, const std::string& what) {
        if (r.status != status)
            throw std::runtime_error("setup: " + what + ": expected " + std::to_string(status) +
                                     ", got " + std::to_string(r.status) + " " + r.body);
        return r;
    }
    std::string token_of(const std::string& as) const {
        if (as == "bad-token")
            return "kms_0000000000000000000000000000000000000000000000000000000000000000";
        if (auto t = m_tokens.find(as); t != m_tokens.end()) return t->second;
        return "";
    }

    std::string principal(const std::string& as, const std::string& name,
                          const std::string& roles) {
        auto r = need(call("admin", "POST", "/v1/principals",
                           "{\"name\":\"" + name + "\",\"roles\":" + roles + "}"),
                      201, "principal " + name);
        m_tokens[as] = r.json()->getValue<std::string>("token");
        m_names[as] = name;
        return m_tokens[as];
    }
    Plugin plugin_with_cert(const std::string& as, const std::string& name) {
        Plugin p = create_plugin_identity(
            [&](const std::string& path, const std::string& body) {
                return call("admin", "POST", path, body);
            },
            name, m_dir);
        m_certs[as] = p;
        m_names[as] = name;
        return p;
    }
    std::string key(const std::string& var, const std::string& name, const std::string& alg,
                    const std::string& usage, const std::string& extra = "") {
        auto r = need(call("officer", "POST", "/v1/keys",
                           "{\"name\":\"" + name + "\",\"algorithm\":\"" + alg +
                               "\",\"usage\":" + usage + extra + "}"),
                      201, "key " + name);
        return vars[var] = r.json()->getValue<std::string>("id");
    }
    void post_ok(const std::string& as, const std::string& path, const std::string& body,
                 int status = 200) {
        need(call(as, "POST", path, body), status, path);
    }
    /// Deactivates a new key and asks to destroy it (held for approval: 202).
    std::string request_destroy(const std::string& var) {
        const std::string k = key(var + "_key", "bi-" + var, "AES-128", R"(["mac"])");
        post_ok("officer", "/v1/keys/" + k + "/deactivate", "");
        auto r =
            need(call("officer", "POST", "/v1/keys/" + k + "/destroy", ""), 202, "destroy request");
        return vars[var] = r.json()->getValue<std::string>("id");
    }

    void build() {
        m_tokens["admin"] = kmsd.admin_token();
        m_names["admin"] = "admin";
        principal("officer", "bi-officer", R"(["key-officer"])");
        principal("officer2", "bi-officer2", R"(["key-officer"])");
        principal("auditor", "bi-auditor", R"(["auditor"])");
        principal("custodian", "bi-custodian", R"(["custodian"])");
        principal("custodian2", "bi-custodian2", R"(["custodian"])");
        const Plugin plugin = plugin_with_cert("plugin-cert", "bi-plugin");
        m_tokens["plugin"] = plugin.token;
        m_names["plugin"] = "bi-plugin";
        plugin_with_cert("other-cert", "bi-other");
        const Plugin revoked = plugin_with_cert("revoked-cert", "bi-revoked");
        m_names.erase("revoked-cert");  // refused before it is anyone
        post_ok("admin", "/v1/ca/certificates/" + revoked.serial + "/revoke",
                R"({"reason":"keyCompromise"})");
        vars["plugin_serial"] = plugin.serial;
        vars["revoked_serial"] = revoked.serial;
        need(call("admin", "PUT", "/v1/principals/bi-plugin/policy",
                  R"({"keys":["bi-pol-*"],"operations":["mac","read"]})"),
             200, "policy");

        // Keys in every state.
        key("aes", "bi-aes", "AES-128", R"(["mac"])");
        key("enc", "bi-enc", "AES-256", R"(["encrypt","decrypt"])");
        key("ec", "bi-ec", "EC-P256", R"(["sign","verify"])");
        key("kek", "bi-kek", "AES-256", R"(["wrap","unwrap"])", R"(,"trusted":true)");
        key("kek_untrusted", "bi-kek-untrusted", "AES-256", R"(["wrap","unwrap"])");
        key("exp", "bi-exp", "AES-128", R"(["mac"])", R"(,"exportable":true)");
        key("noexp", "bi-noexp", "AES-128", R"(["mac"])");
        key("pol", "bi-pol-mac", "AES-128", R"(["mac"])");
        key("preactive", "bi-preactive", "AES-128", R"(["mac"])", R"(,"activate":false)");
        post_ok(
            "officer",
            "/v1/keys/" + key("suspended", "bi-suspended", "AES-128", R"(["mac"])") + "/suspend",
            "");
        post_ok("officer",
                "/v1/keys/" + key("deactivated", "bi-deactivated", "AES-128", R"(["mac"])") +
                    "/deactivate",
                "");
        post_ok(
            "officer",
            "/v1/keys/" + key("compromised", "bi-compromised", "AES-128", R"(["mac"])") + "/revoke",
            R"({"reason":"keyCompromise"})");
        const std::string destroyed = key("destroyed", "bi-destroyed", "AES-128", R"(["mac"])");
        post_ok("officer", "/v1/keys/" + destroyed + "/deactivate", "");
        need(call("officer", "DELETE", "/v1/keys/" + destroyed), 200, "destroy");
        key("gpenc", "bi-gp-enc", "AES-128", R"(["derive"])");
        key("gpmac", "bi-gp-mac", "AES-128", R"(["derive"])");
        key("gpdek", "bi-gp-dek", "AES-128", R"(["derive","wrap"])");

        // A GlobalPlatform session opened (not authenticated) and one closed.
        const std::string open_body =
            "{\"protocol\":\"SCP03\",\"i\":\"70\",\"keys\":{\"enc\":\"" + vars["gpenc"] +
            "\",\"mac\":\"" + vars["gpmac"] + "\",\"dek\":\"" + vars["gpdek"] +
            "\"},\"keyVersion\":48,\"hostChallenge\":\"FDF38259A1E0DE44\"}";
        vars["gp_open_body"] = open_body;
        auto gp = need(call("officer", "POST", "/v1/gp/scp/sessions", open_body), 201, "gp");
        vars["gp"] = gp.json()->getValue<std::string>("session");
        auto gp2 = need(call("officer", "POST", "/v1/gp/scp/sessions", open_body), 201, "gp2");
        vars["gp_closed"] = gp2.json()->getValue<std::string>("session");
        need(call("officer", "DELETE", "/v1/gp/scp/sessions/" + vars["gp_closed"]), 200,
             "gp close");

        // Key ceremonies: one open, one cancelled.
        auto cer = need(call("officer", "POST", "/v1/ceremonies",
                             R"({"name":"bi-cer","algorithm":"AES-128","usage":["mac"],)"
                             R"("components":2})"),
                        201, "ceremony");
        vars["cer"] = cer.json()->getValue<std::string>("id");
        auto cer2 = need(call("officer", "POST", "/v1/ceremonies",
                              R"({"name":"bi-cer2","algorithm":"AES-128","usage":["mac"],)"
                              R"("components":2})"),
                         201, "ceremony 2");
        vars["cer_cancelled"] = cer2.json()->getValue<std::string>("id");
        need(call("officer", "DELETE", "/v1/ceremonies/" + vars["cer_cancelled"]), 200,
             "ceremony cancel");

        // A server certificate, revoked.
        PkeyPtr k = new_p256_key();
        auto cert = need(
            call("admin", "POST", "/v1/ca/certificates",
                 "{\"profile\":\"server\",\"csr\":" +
                     json_string(make_csr(k.get(), "bi-srv.example", "DNS:bi-srv.example")) + "}"),
            201, "certificate");
        vars["cert_revoked"] = cert.json()->getValue<std::string>("serial");
        post_ok("admin", "/v1/ca/certificates/" + vars["cert_revoked"] + "/revoke",
                R"({"reason":"superseded"})");
        vars["csr_other_cn"] = json_string(make_csr(k.get(), "someone-else"));

        // Dual control on destroy (after bi-destroyed went), 2 approvals: one request pending
        // with admin's vote, one executed, one rejected. Destroy, not export: a held request's
        // body is only checked when it runs, so export rows would be held (202), not refused.
        need(call("admin", "PUT", "/v1/quorums/key.destroy",
                  R"({"approvals":2,"approverRoles":["admin","key-officer"]})"),
             200, "quorum");
        const std::string pending = request_destroy("appr_pending");
        post_ok("admin", "/v1/approvals/" + pending + "/approve", "");
        const std::string done = request_destroy("appr_done");
        post_ok("admin", "/v1/approvals/" + done + "/approve", "");
        post_ok("officer2", "/v1/approvals/" + done + "/approve", "");
        post_ok("officer", "/v1/approvals/" + done + "/execute", "");
        const std::string rejected = request_destroy("appr_rejected");
        post_ok("admin", "/v1/approvals/" + rejected + "/reject", "");
        vars["admin_token"] = m_tokens["admin"];
        vars["appr_unknown"] = "a-00000000000000000000000000000000";
        vars["key_unknown"] = "k-00000000000000000000000000000000";
        vars["cer_unknown"] = "c-00000000000000000000000000000000";
    }

    void cleanup() {
        if (m_dir.empty()) return;
        std::error_code ec;
        std::filesystem::remove_all(m_dir, ec);
        m_dir.clear();
    }

    std::string m_dir;
    std::map<std::string, std::string> m_tokens;  ///< caller -> bearer token
    std::map<std::string, std::string> m_names;   ///< caller -> principal name
    std::map<std::string, Plugin> m_certs;        ///< caller -> client certificate files
};

}  // namespace kms::test
