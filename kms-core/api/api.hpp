// The REST API of kmsd: route registration and the HTTPS server that serves it.
#pragma once

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/ThreadPool.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "api/router.hpp"
#include "services/approvals.hpp"
#include "services/audit_service.hpp"
#include "services/backup.hpp"
#include "services/ceremonies.hpp"
#include "services/certificate_authority.hpp"
#include "services/distribution.hpp"
#include "services/gp_sessions.hpp"
#include "services/key_lifecycle.hpp"
#include "services/key_operations.hpp"
#include "services/policies.hpp"
#include "services/principals.hpp"
#include "services/sessions.hpp"

namespace kms::api {

class Metrics;  // api/metrics.hpp
}  // namespace kms::api
namespace kms::observe {
class Logger;  // observe/log.hpp
}  // namespace kms::observe
namespace kms::api {
/// One start-up self-test as GET /v1/hsm reports it (kms-core/selftest runs them).
struct SelfTestOutcome {
    std::string name;  ///< what was tested and the vector's source
    bool passed = false;
    double elapsed_ms = 0;
};

/// Liveness as background checks last saw it; /healthz reads only this (no HSM or store call).
struct HealthState {
    std::atomic<bool> hsm_ok{false};
    std::atomic<bool> store_ok{false};
    /// The start-up self-tests and when they ran (ms since the epoch). Written once by kmsd
    /// before the server starts, read-only afterwards, so handlers read them without a lock.
    std::vector<SelfTestOutcome> self_tests;
    std::int64_t self_tests_at_ms = 0;
};

/// The use cases the handlers call, wired by kmsd.
struct ApiServices {
    core::KeyLifecycle& keys;
    core::KeyOperations& ops;
    core::PrincipalService& principals;
    core::AuditService& audit;
    core::CeremonyService& ceremonies;
    core::DistributionService& distribution;
    core::ApprovalService& approvals;
    core::CertificateAuthority& ca;
    core::PolicyService& policies;
    core::GpSessionService& gp;
    core::Hsm& hsm;
    HealthState& health;
    std::string_view openapi_json;
    /// The signed online backup (routes_backup.cpp); null: POST /v1/backups answers 400.
    core::BackupService* backup = nullptr;
    /// With backup null: why, answered as 409 (e.g. the PostgreSQL store, backed up with
    /// pg_dump); empty: 400 "not available".
    std::string backup_refusal{};
    /// GET /metrics and the request counters; null: not collected (GET /metrics is a 404).
    Metrics* metrics = nullptr;
    /// Where the server writes its lines; null: a text logger on stdout/stderr of its own.
    observe::Logger* log = nullptr;
    /// Officer sessions (routes_sessions.cpp); null: session tokens are refused (401) and the
    /// /v1/sessions routes answer 404.
    core::SessionService* sessions = nullptr;
};

/// Registers every route of the API on @p router.
void add_routes(Router& router, ApiServices& services);
void add_key_routes(Router& router, ApiServices& services);
void add_operation_routes(Router& router, ApiServices& services);
void add_admin_routes(Router& router, ApiServices& services);
/// Key ceremonies, export and import (routes_distribution.cpp).
void add_distribution_routes(Router& router, ApiServices& services);
/// Dual control: quorums and approvals, including replaying an approved request through
/// @p router (routes_approvals.cpp).
void add_approval_routes(Router& router, ApiServices& services);
/// The internal CA and plugin policies (routes_ca.cpp).
void add_ca_routes(Router& router, ApiServices& services);
void add_policy_routes(Router& router, ApiServices& services);  ///< routes_policies.cpp
/// GlobalPlatform secure channel sessions (routes_gp.cpp).
void add_gp_routes(Router& router, ApiServices& services);
/// The signed online backup, POST /v1/backups (routes_backup.cpp).
void add_backup_routes(Router& router, ApiServices& services);
/// Officer sessions: POST /v1/sessions, GET and DELETE /v1/sessions/current
/// (routes_sessions.cpp).
void add_session_routes(Router& router, ApiServices& services);
/// GET /metrics (metrics.cpp).
void add_metrics_route(Router& router, ApiServices& services);
/// The web console's embedded files under /console/, public (routes_console.cpp).
void add_console_routes(Router& router);

/// Who is calling: a bearer token (an officer's or plugin's token, or a session token
/// "kmss_..." checked by services.sessions) or, without one, a client certificate issued by
/// the KMS CA and not revoked. Throws Unauthenticated (authn.cpp).
core::Principal authenticate_request(const Poco::Net::HTTPServerRequest& req,
                                     ApiServices& services);

/// Dual control: when @p route names an approval operation with a configured quorum and @p r
/// is not the replay of an approved request, stores the request as a pending approval and
/// returns the 202 reply; otherwise nullopt and the handler runs (routes_approvals.cpp).
std::optional<Reply> dual_control_gate(const Route& route, Request& r, ApiServices& services);

struct ServerOptions {
    std::string listen = "127.0.0.1:8443";  ///< HOST:PORT
    std::string cert_file;                  ///< PEM: server certificate (then the chain)
    std::string key_file;                   ///< PEM: server private key
    std::string ca_file;                    ///< PEM: CA for client certificates (mTLS)
    int max_connections = 128;              ///< one thread per open connection (keep-alive)
    bool access_log = false;
    /// Audit records of unauthenticated denials per client address and minute; past it they
    /// are counted and summarized (api/denial_audit.hpp). 0: no limit.
    std::size_t anonymous_denials_per_minute = 60;
};

/// HTTPS server over the router. TLS 1.2 or newer only. Binds with SO_REUSEADDR but never
/// SO_REUSEPORT, so a second kmsd on the same port fails at start instead of sharing it.
class ApiServer {
  public:
    ApiServer(const ServerOptions& options, const Router& router, ApiServices& services);
    ~ApiServer();
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    void start();
    /// Stops accepting, lets running requests finish (up to @p grace_ms), closes connections.
    void stop(int grace_ms = 5000);
    std::uint16_t port() const;

  private:
    Poco::ThreadPool m_pool;
    std::unique_ptr<Poco::Net::HTTPServer> m_server;
    std::uint16_t m_port = 0;
};

}  // namespace kms::api
