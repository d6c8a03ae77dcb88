// kmsd: the composition root. The only place where adapters (PKCS#11, LMDB, HTTPS) are wired
// to the use cases, and the only process that loads a PKCS#11 module or knows the HSM PIN.
#include <Poco/AutoPtr.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionException.h>
#include <Poco/Util/OptionSet.h>
#include <Poco/Util/ServerApplication.h>
#include <sys/resource.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string_view>

#include "api/api.hpp"
#include "api/metrics.hpp"
#include "daemon/background.hpp"
#include "daemon/backup_snapshot.hpp"
#include "daemon/bootstrap.hpp"
#include "daemon/config.hpp"
#include "daemon/files.hpp"
#include "daemon/key_census.hpp"
#include "daemon/observed_hsm.hpp"
#include "daemon/pins.hpp"
#include "daemon/store_choice.hpp"
#include "domain/error.hpp"
#include "kmip/listener.hpp"
#include "observe/log.hpp"
#include "pkcs11/pkcs11_hsm.hpp"
#include "selftest/self_test.hpp"
#include "services/reconcile.hpp"
#include "systemd/sd_notify.hpp"

namespace kms::daemon {
extern const std::string_view kOpenApiJson;
}

#ifndef KMS_VERSION
#define KMS_VERSION "unknown"
#endif

namespace {

using Poco::Util::Option;
using Poco::Util::OptionSet;
using namespace kms;

class KmsdApp final : public Poco::Util::ServerApplication {
  protected:
    void defineOptions(OptionSet& options) override {
        ServerApplication::defineOptions(options);
        auto opt = [&](const char* name, const char* arg, const char* help) {
            Option o(name, "", help);
            o.required(false).repeatable(false);
            if (arg) o.argument(arg);
            options.addOption(o);
        };
        opt("help", nullptr, "show this help and exit");
        opt("data-dir", "DIR", "data directory (created at first start)");
        opt("listen", "HOST:PORT", "HTTPS address (default 127.0.0.1:8443)");
        opt("kmip-listen", "HOST:PORT",
            "also serve KMIP (TTLV over mutual TLS) there (default: off; see docs/kmip.md)");
        opt("kmip-get-secret-keys", "owner|never",
            "owner: KMIP clients may Get the secret keys they create over KMIP (default: never)");
        opt("config", "FILE", "key = value configuration file (see docs/operations.md)");
        opt("hsm-module", "PATH", "PKCS#11 module of a vendor HSM (default: embedded SoftHSM2)");
        opt("token-label", "LABEL", "token label (default kms)");
        opt("pin-file", "FILE",
            "file holding the user PIN (default: the credential hsm-pin, else DIR/hsm.pin)");
        opt("so-pin-file", "FILE",
            "file holding the SO PIN with which the first start initializes the embedded token "
            "(default: the credential hsm-so-pin)");
        opt("hsm-profile", "NAME", "vendor profile (default auto)");
        opt("hsm-sessions", "N", "PKCS#11 sessions in the pool, 1 to 64 (default: the profile's)");
        opt("hsm-wait-ms", "MS",
            "wait at most MS for a free HSM session, then answer 503 (default 10000, 0 = no "
            "limit)");
        opt("max-connections", "N", "concurrent HTTPS connections (default 128)");
        opt("access-log", nullptr,
            "log one access line per request (text: to stderr; json: to stdout)");
        opt("log-format", "text|json",
            "text lines (default) or one JSON object per line on stdout, for journald");
        opt("anonymous-denials-per-minute", "N",
            "audit records of unauthenticated denials per client address and minute, the rest "
            "counted (default 60; 0: no limit)");
    }

    void handleOption(const std::string& name, const std::string& value) override {
        ServerApplication::handleOption(name, value);
        auto number = [&](int min, int max) {
            try {
                std::size_t pos = 0;
                const int n = std::stoi(value, &pos);
                if (pos == value.size() && n >= min && n <= max) return n;
            } catch (const std::exception&) {
            }
            throw Error(ErrorCode::InvalidArgument, "--" + name + ": expected a number from " +
                                                        std::to_string(min) + " to " +
                                                        std::to_string(max));
        };
        if (name == "help")
            m_help = true;
        else if (name == "data-dir")
            m_cfg.data_dir = value;
        else if (name == "listen")
            m_listen = value;
        else if (name == "kmip-listen")
            m_kmip_listen = value;
        else if (name == "kmip-get-secret-keys")
            m_kmip_get_secret_keys = value;
        else if (name == "config")
            m_cfg.config_file = value;
        else if (name == "hsm-module")
            m_cfg.hsm_module = value;
        else if (name == "token-label")
            m_cfg.token_label = value;
        else if (name == "pin-file")
            m_cfg.pin_file = value;
        else if (name == "so-pin-file")
            m_cfg.so_pin_option = value;
        else if (name == "hsm-profile")
            m_cfg.hsm_profile = value;
        else if (name == "hsm-sessions")
            m_cfg.hsm_sessions = static_cast<std::size_t>(number(1, 64));
        else if (name == "hsm-wait-ms")
            m_cfg.hsm_wait_ms = static_cast<std::size_t>(number(0, 3600000));
        else if (name == "max-connections")
            m_cfg.max_connections = number(4, 4096);
        else if (name == "access-log")
            m_cfg.access_log = true;
        else if (name == "log-format")
            m_log_format = value;
        else if (name == "anonymous-denials-per-minute")
            m_cfg.anonymous_denials_per_minute = static_cast<std::size_t>(number(0, 1000000));
    }

    int main(const ArgVec& args) override {
        if (m_help) {
            Poco::Util::HelpFormatter help(options());
            help.setCommand("kmsd");
            help.setUsage("[init] --data-dir DIR [--listen 127.0.0.1:PORT] [OPTIONS]");
            help.setHeader(
                "Key management daemon: keys in a PKCS#11 HSM, metadata in LMDB, REST over "
                "HTTPS. 'kmsd init' runs the first start's steps (token, master keys, store, CA, "
                "TLS certificate, first administrator) and exits; it is idempotent. See kmsd(8).");
            help.format(std::cout);
            return EXIT_OK;
        }
        // "kmsd init": the first-boot command (docs/operations.md "What the first start does").
        const bool init_only = !args.empty() && args.front() == "init";
        if (args.size() > (init_only ? 1U : 0U)) {
            std::cerr << "kmsd: unexpected argument '" << args.back() << "' (see --help)\n";
            return EXIT_USAGE;
        }
        try {
            if (!m_cfg.config_file.empty()) daemon::load_config_file(m_cfg.config_file, m_cfg);
            if (!m_listen.empty()) m_cfg.listen = m_listen;  // the command line wins
            if (!m_log_format.empty()) m_cfg.log_format = m_log_format;
            if (!m_kmip_listen.empty()) m_cfg.kmip_listen = m_kmip_listen;
            if (!m_kmip_get_secret_keys.empty())
                m_cfg.kmip_get_secret_keys = m_kmip_get_secret_keys;
            daemon::validate(m_cfg);
            m_log = std::make_unique<observe::Logger>(*observe::parse_log_format(m_cfg.log_format),
                                                      std::cout, std::cerr);
            return serve(init_only);
        } catch (const Error& e) {
            log_error(std::string(e.what()) + " (" + std::string(error_code_name(e.code())) + ")");
            return e.code() == ErrorCode::InvalidArgument ? EXIT_USAGE : EXIT_SOFTWARE;
        } catch (const Poco::Exception& e) {
            log_error(e.displayText());
            return EXIT_SOFTWARE;
        } catch (const std::exception& e) {
            log_error(e.what());
            return EXIT_SOFTWARE;
        }
    }

  private:
    void say(const std::string& line) { m_log->info(line); }
    /// Through the logger once there is one (a bad --log-format or config file comes before).
    void log_error(const std::string& line) {
        if (m_log)
            m_log->error(line);
        else
            std::cerr << "kmsd: error: " << line << "\n";
    }

    int serve(bool init_only) {
        const daemon::DaemonConfig& cfg = m_cfg;
        observe::Logger& log = *m_log;
        // The service manager's readiness protocol (no-op without NOTIFY_SOCKET); a failure to
        // notify is reported once and never stops kmsd.
        const sysd::Notifier notifier = sysd::Notifier::from_environment();
        bool notify_failed = false;
        auto notify = [&](const std::string& state) {
            std::string why;
            if (!notifier.send(state, &why) && !notify_failed) {
                notify_failed = true;
                log.warning("cannot notify the service manager: " + why);
            }
        };
        // No core dumps: a dump could hold a PIN, a token or the DES3-RETAIL fallback's clear
        // key buffer (DESIGN §10). The systemd unit sets LimitCORE=0 as well.
        const rlimit no_core{0, 0};
        if (::setrlimit(RLIMIT_CORE, &no_core) != 0) log.warning("could not disable core dumps");
        const daemon::PinPlan pins = daemon::plan_pins(cfg);
        daemon::prepare_embedded_hsm(cfg, pins);
        notify("STATUS=opening the store");

        // The store first: whether it was ever initialized decides whether master keys may be
        // created. The audit sealer needs the HSM, which is opened right after.
        core::SystemClock clock;
        core::Hsm* hsm_for_seal = nullptr;
        daemon::OpenedStore opened = daemon::open_store(
            cfg,
            [&hsm_for_seal](ByteView h) {
                if (hsm_for_seal == nullptr)
                    throw Error(ErrorCode::Internal, "audit sealer used before the HSM is open");
                return hsm_for_seal->audit_seal(h);
            },
            clock);
        std::unique_ptr<core::MetadataStore>& store = opened.store;
        if (cfg.postgresql_store()) say("store: " + opened.description);
        // docs/operations.md "Upgrades": the line an operator looks for after an upgrade.
        if (const auto from = opened.opened_schema; from != 0 && from < opened.current_schema)
            say("store schema " + std::to_string(from) + " migrated to " +
                std::to_string(opened.current_schema));
        const bool initialized = store->get_setting("initialized").has_value();
        if (init_only && initialized) {
            say("init: " + cfg.data_dir + " is initialized already; nothing to do");
            return EXIT_OK;
        }

        bool fresh_token = false;
        if (!initialized) {
            notify("STATUS=first start: initializing the token");
            fresh_token = daemon::ensure_embedded_token(cfg, pins);
        }

        hsm::Pkcs11Config hcfg;
        if (!cfg.embedded_hsm()) hcfg.module_path = cfg.hsm_module;
        hcfg.token_label = cfg.token_label;
        hcfg.pin = pins.user.source;
        if (cfg.embedded_hsm()) (void)daemon::read_pin(pins.user, true);  // length, clear errors
        hcfg.profile = cfg.hsm_profile;
        hcfg.sessions = cfg.hsm_sessions;
        hcfg.session_wait = std::chrono::milliseconds(cfg.hsm_wait_ms);
        hcfg.handle_cache_capacity = cfg.handle_cache;
        // A first start killed between two master key generations leaves a partial set on the
        // embedded token (no block exists under it yet): complete it. An external token may be
        // shared, so a partial set there stays an integrity error for the operator.
        const hsm::MasterKeys masters = initialized          ? hsm::MasterKeys::RequireExisting
                                        : cfg.embedded_hsm() ? hsm::MasterKeys::CompleteMissing
                                                             : hsm::MasterKeys::CreateIfMissing;
        notify("STATUS=opening the HSM");
        std::unique_ptr<hsm::Pkcs11Hsm> hsm;
        try {
            hsm = hsm::Pkcs11Hsm::open(hcfg, masters);
        } catch (const Error& e) {
            if (e.native_kind() != NativeKind::CkRv) throw;
            // Which PIN was refused (the module names the code, not the PIN's origin).
            throw Error(e.code(),
                        std::string(e.what()) + "; user PIN from " + pins.user.description,
                        e.native_kind(), e.native_code());
        }
        hsm_for_seal = hsm.get();
        const core::HsmInfo hinfo = hsm->info();
        say("HSM: token '" + hinfo.token_label + "' (" + hinfo.token_manufacturer + " " +
            hinfo.token_model + "), profile " + hinfo.profile + ", " +
            std::to_string(hinfo.session_pool_size) + " session(s)");

        // Known-answer self-tests of every algorithm: refuse to serve if one fails.
        notify("STATUS=running the self-tests");
        const auto self_tests_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count();
        const auto results = run_self_tests(*hsm);
        std::size_t failed = 0;
        for (const auto& r : results)
            if (!r.passed) {
                ++failed;
                log.error("self-test FAILED: " + r.name + ": " + r.detail, {{"self_test", r.name}});
            }
        if (failed != 0) {
            log.error(std::to_string(failed) + " self-test(s) failed; refusing to serve");
            return EXIT_SOFTWARE;
        }
        say("self-tests passed (" + std::to_string(results.size()) + ")");

        // /metrics (api/metrics.hpp): the services reach the HSM through the timing decorator
        // (daemon/observed_hsm.hpp); the key census walks the store at most every 15 s.
        daemon::KeyCensus census(*store, std::chrono::seconds(15));
        api::MetricsSources sources;
        sources.pool = [&hsm] {
            const auto p = hsm->pool_stats();
            return api::PoolStats{p.size, p.in_use, p.waits, p.timeouts};
        };
        sources.keys = [&census] { return census.counts(); };
        sources.audit_length = [&store] { return store->audit_head().seq; };
        api::Metrics metrics(KMS_VERSION, std::move(sources));
        daemon::ObservedHsm observed_hsm(*hsm, metrics);

        // On a shared PostgreSQL store another node may destroy or revoke a key at any time:
        // no key record is cached, every use reads the stored state (docs/operations.md).
        core::KeyCache key_cache(cfg.postgresql_store() ? 0 : 100000);
        core::UseCounterBook counters;
        core::ServiceContext ctx{*store, observed_hsm, clock, key_cache, counters};
        core::KeyLifecycle keys(ctx);
        core::KeyOperations ops(ctx);
        core::PrincipalService principals(ctx);
        core::AuditService audit(ctx);
        core::CeremonyService ceremonies(ctx);
        core::DistributionService distribution(ctx);
        core::ApprovalService approvals(ctx);
        core::CertificateAuthority ca(ctx);
        core::PolicyService policies(ctx);
        ctx.policies = &policies;
        ctx.shared_store = cfg.postgresql_store();
        core::GpSessionService gp(ctx, cfg.gp_session_seconds);
        core::BackupService backup(
            ctx,
            core::BackupSources{[&] { return daemon::take_backup_snapshot(cfg, *opened.lmdb); },
                                cfg.embedded_hsm() ? "softhsm2-embedded" : "pkcs11-vendor",
                                cfg.token_label, KMSD_VERSION});

        if (!initialized) {
            store->write([&](core::WriteTxn& t) {
                t.put_setting("intent/initialize", as_view(std::string("first start")));
            });
        }
        if (!initialized) notify("STATUS=first start: CA, TLS certificate, first administrator");
        daemon::ensure_tls(cfg, *store, *hsm, clock);
        if (!initialized) {
            daemon::ensure_admin(cfg, principals);
            store->write([&](core::WriteTxn& t) {
                t.put_setting("initialized", as_view(std::string("1")));
                t.delete_setting("intent/initialize");
                t.append_audit(core::AuditEvent{
                    "kmsd", "kmsd.initialize", cfg.token_label, core::AuditOutcome::Success,
                    std::string(fresh_token ? "new embedded token, " : "") +
                        "master keys, store, CA, TLS certificate and first administrator"});
            });
            say("first start: initialized " +
                std::string(cfg.embedded_hsm() ? "the embedded SoftHSM2 token, " : "") +
                "master keys, " + opened.description +
                ", the internal CA and the first administrator");
        }

        notify("STATUS=reconciling the store with the HSM");
        const auto report = core::reconcile(ctx, hsm->foreign_token_objects());
        for (const auto& o : report.hsm_orphans)
            say("reconcile: HSM object unknown to the store: " + o);
        for (const auto& o : report.store_orphans)
            say("reconcile: live key without key material: " + o);
        for (const auto& o : report.open_intents) say("reconcile: interrupted operation: " + o);
        if (init_only) {
            say("init: done; start the service (systemctl start kmsd)");
            return EXIT_OK;
        }

        api::HealthState health;
        for (const auto& r : results) health.self_tests.push_back({r.name, r.passed, r.elapsed_ms});
        health.self_tests_at_ms = self_tests_at_ms;
        health.hsm_ok = hsm->probe();
        health.store_ok = store->probe();
        // Every 250 ms (one C_GetSessionInfo and one LMDB read): /healthz reports a recovered
        // HSM at most that long after requests work again (tests/reliability/faults measured
        // up to 1060 ms with a 1 s period, over issue 8's 1 s recovery bound).
        // The watchdog (WatchdogSec= in the unit) is pinged from this check, not from a timer of
        // its own: a probe stuck in the module or the store, or a dead health thread, stops the
        // pings and systemd restarts kmsd. An HSM that answers "down" still pings: /healthz
        // reports it and kmsd reconnects by itself, which a restart would not speed up.
        const auto watchdog_every = notifier.watchdog_interval();
        auto last_ping = std::chrono::steady_clock::now();
        daemon::PeriodicTask health_task(250, [&] {
            health.hsm_ok.store(hsm->probe(), std::memory_order_relaxed);
            health.store_ok.store(store->probe(), std::memory_order_relaxed);
            const auto now = std::chrono::steady_clock::now();
            if (watchdog_every.count() > 0 && now - last_ping >= watchdog_every) {
                last_ping = now;
                notifier.send("WATCHDOG=1");
            }
        });
        daemon::PeriodicTask flush_task(
            cfg.counter_flush_seconds * 1000,
            [&] {
                auto deltas = counters.take();
                if (deltas.empty()) return;
                try {
                    store->add_use_counters(deltas);
                    for (const auto& d : deltas) key_cache.invalidate(d.first);
                } catch (const std::exception& e) {
                    counters.restore(deltas);
                    log.error(std::string("could not flush use counters: ") + e.what());
                }
            },
            true);

        api::ApiServices services{
            keys, ops,      principals, audit, ceremonies, distribution,        approvals,
            ca,   policies, gp,         *hsm,  health,     daemon::kOpenApiJson};
        services.backup = opened.lmdb != nullptr ? &backup : nullptr;
        if (opened.lmdb == nullptr) services.backup_refusal = daemon::kPostgresBackupRefusal;
        services.metrics = &metrics;
        services.log = &log;
        core::SessionService sessions(
            ctx, principals,
            core::SessionLimits{cfg.console_session_idle_s, cfg.console_session_max_s, 10000});
        services.sessions = &sessions;
        api::Router router;
        api::add_routes(router, services);
        metrics.bind_routes(router);
        api::ServerOptions so;
        so.listen = cfg.listen;
        so.cert_file = cfg.server_pem();
        so.key_file = cfg.server_key();
        so.ca_file = daemon::client_ca_pem(cfg);  // root + issuing CA (mTLS)
        so.max_connections = cfg.max_connections;
        so.access_log = cfg.access_log;
        so.anonymous_denials_per_minute = cfg.anonymous_denials_per_minute;
        api::ApiServer server(so, router, services);
        server.start();

        // KMIP: another front on the same use cases (kmip/processor.hpp), same CA for mTLS.
        core::KeyRegistration registration(ctx);  // KMIP Register
        core::ManagedObjectService objects(ctx);  // KMIP Secret Data, Certificates
        kmip::ProcessorLimits kmip_limits;
        kmip_limits.get_secret_keys = cfg.kmip_get_secret_keys == "owner";
        kmip::Processor kmip_processor(
            kmip::KmipServices{keys, ops, approvals, audit, registration, objects}, kmip_limits);
        std::unique_ptr<kmip::KmipListener> kmip_listener;
        if (!cfg.kmip_listen.empty()) {
            kmip::ListenerOptions ko;
            ko.listen = cfg.kmip_listen;
            ko.cert_file = so.cert_file;
            ko.key_file = so.key_file;
            ko.ca_file = so.ca_file;
            ko.anonymous_denials_per_minute = cfg.anonymous_denials_per_minute;
            kmip_listener = std::make_unique<kmip::KmipListener>(
                ko, kmip_processor, kmip::ListenerIdentity{ca, principals, audit});
            kmip_listener->start();
            say("KMIP listening on " + cfg.kmip_listen.substr(0, cfg.kmip_listen.rfind(':')) + ":" +
                std::to_string(kmip_listener->port()));
        }

        const std::string host = cfg.listen.substr(0, cfg.listen.rfind(':'));
        const std::string url = "https://" + host + ":" + std::to_string(server.port());
        daemon::write_file_atomic(cfg.url_file(), url + "\n", 0644);
        say("listening on " + url);
        // Only now: the port accepts connections and the first start, self-tests and reconcile
        // are done (sd_notify(3) READY=1).
        notify("READY=1\nSTATUS=serving on " + url);
        if (!initialized) {
            say("admin token: " + cfg.admin_token_file() +
                " (mode 0600); CA certificate: " + cfg.ca_pem());
            say("try: curl --cacert " + cfg.ca_pem() + " -H \"Authorization: Bearer $(cat " +
                cfg.admin_token_file() + ")\" " + url + "/v1/whoami");
        }

        waitForTerminationRequest();
        notify("STOPPING=1\nSTATUS=shutting down");
        say("shutting down");
        if (kmip_listener) kmip_listener->stop(2000);
        server.stop(5000);
        flush_task.stop();
        health_task.stop();
        if (opened.lmdb != nullptr) {
            const store::GroupCommitStats commits = opened.lmdb->commit_stats();
            say("stopped (" + std::to_string(commits.calls) + " store writes in " +
                std::to_string(commits.batches) + " commits since start)");
        } else {
            say("stopped");
        }
        return EXIT_OK;
    }

    daemon::DaemonConfig m_cfg;
    std::string m_listen;
    std::string m_log_format;
    std::unique_ptr<observe::Logger> m_log;
    std::string m_kmip_listen;
    std::string m_kmip_get_secret_keys;
    bool m_help = false;
};

}  // namespace

// POCO_SERVER_MAIN, except that a bad command line (an unknown option, a missing argument)
// exits 64 (EX_USAGE, as kmsd.8 documents) with a message naming it, not Poco's 78.
int main(int argc, char** argv) {
    Poco::AutoPtr<KmsdApp> app = new KmsdApp;
    try {
        app->init(argc, argv);
    } catch (const Poco::Util::OptionException& e) {
        std::cerr << "kmsd: " << e.displayText() << " (see kmsd --help)\n";
        return 64;
    } catch (const Poco::Exception& e) {
        std::cerr << "kmsd: " << e.displayText() << "\n";
        return Poco::Util::Application::EXIT_CONFIG;
    }
    // ServerApplication::run() is protected; Application's is public and virtual.
    return static_cast<Poco::Util::Application&>(*app).run();
}
