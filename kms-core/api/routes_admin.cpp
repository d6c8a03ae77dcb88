// Routes: health, OpenAPI document, identity, principals, audit, HSM information.
#include "api/api.hpp"
#include "api/json.hpp"
#include "crypto/x509.hpp"
#include "domain/error.hpp"

namespace kms::api {

namespace {
/// Refuses (400, naming "csr") a CSR that does not parse, whose self-signature does not verify
/// or whose subject CN is not @p name, so a bad CSR leaves no principal behind.
void check_principal_csr(const std::string& pem, const std::string& name) {
    crypto::CertificateRequest req;
    try {
        req = crypto::parse_certificate_request(crypto::pem_to_der(pem));
    } catch (const Error& e) {
        if (e.code() != ErrorCode::InvalidArgument && e.code() != ErrorCode::VerificationFailed)
            throw;
        throw Error(e.code(), std::string("csr: ") + e.what());
    }
    if (req.common_name != name)
        throw Error(ErrorCode::InvalidArgument,
                    "csr: the subject CN '" + req.common_name.substr(0, 64) +
                        "' must equal the principal's name '" + name + "'");
}
/// The filters of GET /v1/audit: actor, action (a trailing '*' makes it a prefix), target,
/// outcome, since and until (RFC 3339, UTC). Each is refused (400, naming it) when empty, too
/// long or not printable ASCII, so the audit log is only ever searched for what it can hold.
core::AuditFilter audit_filter(const Request& r) {
    auto text = [&](const char* name, std::size_t max) -> std::string {
        const auto v = r.q(name);
        if (!v) return {};
        if (v->empty() || v->size() > max)
            throw Error(ErrorCode::InvalidArgument,
                        std::string(name) + ": 1 to " + std::to_string(max) + " characters");
        for (const unsigned char c : *v)
            if (c < 0x20 || c > 0x7E)
                throw Error(ErrorCode::InvalidArgument,
                            std::string(name) + ": printable ASCII only (as audit records are)");
        return *v;
    };
    core::AuditFilter f;
    f.actor = text("actor", 64);
    f.action = text("action", 64);
    f.target = text("target", 128);
    if (const auto o = r.q("outcome")) {
        if (*o == "success")
            f.outcome = core::AuditOutcome::Success;
        else if (*o == "denied")
            f.outcome = core::AuditOutcome::Denied;
        else if (*o == "failed")
            f.outcome = core::AuditOutcome::Failed;
        else
            throw Error(ErrorCode::InvalidArgument, "outcome: success, denied or failed");
    }
    if (const auto v = r.q("since")) f.since_ms = parse_time(*v, "since");
    if (const auto v = r.q("until")) f.until_ms = parse_time(*v, "until");
    if (f.since_ms && f.until_ms && *f.until_ms <= *f.since_ms)
        throw Error(ErrorCode::InvalidArgument, "until: must be after since");
    return f;
}
}  // namespace

void add_admin_routes(Router& router, ApiServices& s) {
    router.add(
        "GET", "/healthz", "health", BodyPolicy::None,
        [&s](Request&) {
            const bool hsm = s.health.hsm_ok.load(std::memory_order_relaxed);
            const bool store = s.health.store_ok.load(std::memory_order_relaxed);
            auto o = new_object();
            o->set("status", hsm && store ? "ok" : "unavailable");
            o->set("hsm", hsm ? "ok" : "unavailable");
            o->set("store", store ? "ok" : "unavailable");
            return Reply{hsm && store ? 200 : 503, o};
        },
        false);

    router.add(
        "GET", "/v1/openapi.json", "openapi", BodyPolicy::None,
        [&s](Request&) {
            return Reply{200, std::string(s.openapi_json), "application/json"};
        },
        false);

    router.add("GET", "/v1/whoami", "whoami", BodyPolicy::None, [](Request& r) {
        auto o = new_object();
        o->set("name", r.caller->name);
        Poco::JSON::Array::Ptr roles = new Poco::JSON::Array();
        for (const auto& n : core::role_names(r.caller->roles)) roles->add(n);
        o->set("roles", roles);
        return Reply{200, o};
    });

    router.add(
        "POST", "/v1/principals", "principal.create", BodyPolicy::Required, [&s](Request& r) {
            Body b(r.body, {"name", "roles", "csr"});
            const std::string name = b.string("name", 64);
            std::uint32_t roles = 0;
            for (const auto& n : b.strings("roles")) {
                auto role = core::parse_role(n);
                if (!role)
                    throw Error(ErrorCode::InvalidArgument,
                                "roles: unknown role '" + n +
                                    "' (admin, key-officer, custodian, auditor, plugin, monitor)");
                roles |= static_cast<std::uint32_t>(*role);
            }
            const auto csr = b.opt_string("csr", 16384);
            if (csr) check_principal_csr(*csr, name);  // before anything is stored
            auto issued = s.principals.create(*r.caller, name, roles);
            auto o = new_object();
            o->set("name", issued.principal.name);
            Poco::JSON::Array::Ptr arr = new Poco::JSON::Array();
            for (const auto& n : core::role_names(issued.principal.roles)) arr->add(n);
            o->set("roles", arr);
            o->set("token", issued.token);
            if (csr) {
                // Client profile, CN = the principal's name, bound to it (mTLS). Only an HSM or
                // store failure can stop it now; the principal then exists without one.
                const auto cert = s.ca.issue_for_principal(*r.caller, name, *csr);
                o->set("certificate", cert.pem);
                o->set("serial", cert.record.serial);
                o->set("chain", cert.chain_pem);
                o->set("notAfter", format_time(cert.record.not_after_s * 1000));
            }
            return Reply{201, o};
        });
    router.require_approval("principal.create");

    router.add("GET", "/v1/principals", "principal.list", BodyPolicy::None, [&s](Request& r) {
        Poco::JSON::Array::Ptr arr = new Poco::JSON::Array();
        for (const auto& p : s.principals.list(*r.caller)) arr->add(principal_json(p));
        auto o = new_object();
        o->set("principals", arr);
        return Reply{200, o};
    });

    for (const bool disable : {true, false})
        router.add("POST",
                   disable ? "/v1/principals/{name}/disable" : "/v1/principals/{name}/enable",
                   disable ? "principal.disable" : "principal.enable", BodyPolicy::None,
                   [&s, disable](Request& r) {
                       return Reply{200, principal_json(s.principals.set_disabled(
                                             *r.caller, r.params[0], disable))};
                   });

    router.add("GET", "/v1/audit", "audit.list", BodyPolicy::None, [&s](Request& r) {
        auto num = [&](const char* name, std::uint64_t def, std::uint64_t max) {
            auto v = r.q(name);
            if (!v) return def;
            try {
                std::size_t pos = 0;
                const unsigned long long n = std::stoull(*v, &pos);
                if (pos != v->size() || n < 1 || n > max) throw std::invalid_argument("range");
                return static_cast<std::uint64_t>(n);
            } catch (const std::exception&) {
                throw Error(
                    ErrorCode::InvalidArgument,
                    std::string(name) + ": must be an integer from 1 to " + std::to_string(max));
            }
        };
        const std::uint64_t from = num("from", 1, UINT64_MAX / 2);
        const std::size_t limit = num("limit", 100, 1000);
        const auto page = s.audit.search(*r.caller, audit_filter(r), from, limit);
        Poco::JSON::Array::Ptr arr = new Poco::JSON::Array();
        for (const auto& rec : page.records) arr->add(audit_json(rec));
        auto o = new_object();
        o->set("records", arr);
        o->set("next", page.next ? Poco::Dynamic::Var(*page.next) : Poco::Dynamic::Var());
        o->set("scanned", page.scanned);
        return Reply{200, o};
    });

    router.add("GET", "/v1/audit/verify", "audit.verify", BodyPolicy::None, [&s](Request& r) {
        const auto v = s.audit.verify(*r.caller);
        auto o = new_object();
        o->set("valid", v.valid);
        o->set("records", v.records);
        o->set("headSeq", v.head.seq);
        o->set("headHash", to_hex(v.head.hash));
        o->set("firstInvalid",
               v.first_invalid ? Poco::Dynamic::Var(*v.first_invalid) : Poco::Dynamic::Var());
        o->set("problem", v.valid ? Poco::Dynamic::Var() : Poco::Dynamic::Var(v.problem));
        return Reply{200, o};
    });

    router.add("GET", "/v1/hsm", "hsm.info", BodyPolicy::None, [&s](Request& r) {
        core::require_role(*r.caller,
                           {core::Role::Admin, core::Role::KeyOfficer, core::Role::Auditor},
                           "reading HSM information");
        auto o = hsm_json(s.hsm.info());
        // The start-up self-tests (kmsd serves only when all passed).
        Poco::JSON::Array::Ptr tests = new Poco::JSON::Array();
        std::size_t passed = 0;
        for (const auto& t : s.health.self_tests) {
            auto to = new_object();
            to->set("name", t.name);
            to->set("passed", t.passed);
            to->set("elapsedMs", t.elapsed_ms);
            tests->add(to);
            passed += t.passed ? 1 : 0;
        }
        auto st = new_object();
        st->set("ranAt", s.health.self_tests_at_ms != 0
                             ? Poco::Dynamic::Var(format_time(s.health.self_tests_at_ms))
                             : Poco::Dynamic::Var());
        st->set("passed", passed);
        st->set("failed", s.health.self_tests.size() - passed);
        st->set("results", tests);
        o->set("selfTests", st);
        return Reply{200, o};
    });
}

void add_routes(Router& router, ApiServices& services) {
    add_admin_routes(router, services);
    add_session_routes(router, services);
    add_key_routes(router, services);
    add_operation_routes(router, services);
    add_distribution_routes(router, services);
    add_approval_routes(router, services);
    add_ca_routes(router, services);
    add_policy_routes(router, services);
    add_gp_routes(router, services);
    add_backup_routes(router, services);
    add_metrics_route(router, services);
    add_console_routes(router);
}

}  // namespace kms::api
