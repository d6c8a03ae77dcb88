// Routes: officer sessions (services/sessions.hpp), the web console's log in and log out.
// POST /v1/sessions trades a long-lived credential (officer token or client certificate) for a
// short-lived session token; GET and DELETE /v1/sessions/current read and end the session whose
// token authenticates the request.
#include "api/api.hpp"
#include "api/json.hpp"
#include "domain/error.hpp"
#include "services/sessions.hpp"

namespace kms::api {

namespace {

/// The bearer token of @p r when it is a session token, else empty.
std::string session_token_of(const Request& r) {
    const std::string auth = r.http.get("Authorization", "");
    constexpr std::string_view kBearer = "Bearer ";
    if (auth.size() <= kBearer.size() || auth.compare(0, kBearer.size(), kBearer) != 0) return {};
    std::string token = auth.substr(kBearer.size());
    return core::SessionService::is_session_token(token) ? token : std::string();
}

core::SessionService& sessions_of(ApiServices& s) {
    if (s.sessions == nullptr)
        throw Error(ErrorCode::NotFound, "sessions are not enabled on this server");
    return *s.sessions;
}

Poco::JSON::Object::Ptr session_json(const core::SessionInfo& info, const core::Principal& p) {
    auto o = new_object();
    o->set("id", info.id);
    o->set("name", p.name);
    Poco::JSON::Array::Ptr roles = new Poco::JSON::Array();
    for (const auto& n : core::role_names(p.roles)) roles->add(n);
    o->set("roles", roles);
    o->set("openedAt", format_time(info.opened_ms));
    o->set("expiresAt", format_time(info.expires_ms));
    o->set("idleTimeoutSeconds", info.idle_s);
    return o;
}

std::string require_session_token(const Request& r) {
    std::string token = session_token_of(r);
    if (token.empty())
        throw Error(ErrorCode::InvalidArgument,
                    "Authorization: this route is about the session whose token authenticates "
                    "the request (Bearer kmss_...); this request carries none");
    return token;
}

}  // namespace

void add_session_routes(Router& router, ApiServices& s) {
    router.add("POST", "/v1/sessions", "session.open", BodyPolicy::None, [&s](Request& r) {
        auto& sessions = sessions_of(s);
        // The long-lived credential opens sessions; a session does not extend itself.
        if (!session_token_of(r).empty())
            throw Error(ErrorCode::Forbidden,
                        "a session token cannot open a session: log in with an officer token "
                        "or a client certificate");
        core::require_role(
            *r.caller,
            {core::Role::Admin, core::Role::KeyOfficer, core::Role::Custodian, core::Role::Auditor},
            "opening a session");
        const bool by_token = !r.http.get("Authorization", "").empty();
        const auto opened = sessions.open(*r.caller, by_token ? "token" : "certificate");
        auto o = session_json(core::SessionInfo{opened.id, r.caller->name,
                                                opened.expires_ms - sessions.limits().max_s * 1000,
                                                opened.expires_ms, opened.idle_s},
                              *r.caller);
        o->set("token", opened.token);
        return Reply{201, o};
    });

    router.add("GET", "/v1/sessions/current", "session.show", BodyPolicy::None, [&s](Request& r) {
        const auto info = sessions_of(s).describe(require_session_token(r));
        return Reply{200, session_json(info, *r.caller)};
    });

    router.add("DELETE", "/v1/sessions/current", "session.close", BodyPolicy::None,
               [&s](Request& r) {
                   const auto info = sessions_of(s).close(require_session_token(r));
                   auto o = session_json(info, *r.caller);
                   o->set("closed", true);
                   return Reply{200, o};
               });
}

}  // namespace kms::api
