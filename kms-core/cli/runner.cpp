// Execution of kmsctl commands: pagination, confirmation, error reporting and exit codes.
#include "runner.hpp"

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "exit_codes.hpp"
#include "http_client.hpp"
#include "render.hpp"
#include "requests.hpp"

namespace kms::cli {

namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

/// The answer's JSON object, or nullptr when the body is not a JSON object.
Object::Ptr parse_object(const std::string& body) {
    try {
        Poco::JSON::Parser parser;
        const auto v = parser.parse(body);
        if (v.type() == typeid(Object::Ptr)) return v.extract<Object::Ptr>();
    } catch (const Poco::Exception&) {
    }
    return nullptr;
}

std::string one_line_excerpt(const std::string& body) {
    std::string text = body.substr(0, 200);
    for (char& c : text)
        if (c < 0x20 || c == 0x7F) c = ' ';
    return text;
}

/// The CliError for a non-2xx answer: "MESSAGE (CODE, HTTP STATUS)" from the error JSON, or the
/// status line and the start of the body when the answer is not kmsd's error shape.
CliError http_failure(const HttpResponse& r) {
    const ExitCode code = r.status >= 400 ? exit_code_for_status(r.status) : ExitCode::ServerError;
    if (auto obj = parse_object(r.body); obj && obj->has("error")) {
        const std::string error = obj->optValue<std::string>("error", "unknown");
        const std::string message = obj->optValue<std::string>("message", "request failed");
        return CliError(code, message + " (" + error + ", HTTP " + std::to_string(r.status) + ")");
    }
    std::string message = "HTTP " + std::to_string(r.status) + " " + r.reason;
    if (!r.body.empty()) message += ": " + one_line_excerpt(r.body);
    return CliError(code, message);
}

bool success(const HttpResponse& r) {
    return r.status >= 200 && r.status < 300;
}

/// A successful answer: its object, its text as received, its status.
struct Answer {
    Object::Ptr obj;
    std::string raw;
    int status = 200;
};

/// Sends @p call and returns the answer; throws CliError for non-2xx answers and for answers
/// that are not JSON objects.
Answer call_json(HttpClient& client, const ApiCall& call) {
    HttpResponse r = client.send(call);
    if (!success(r)) throw http_failure(r);
    auto obj = parse_object(r.body);
    if (!obj)
        throw CliError(ExitCode::ServerError, "the server's answer is not a JSON object (HTTP " +
                                                  std::to_string(r.status) +
                                                  "): " + one_line_excerpt(r.body));
    return Answer{obj, std::move(r.body), r.status};
}

void print_raw(std::ostream& out, const std::string& text) {
    out << text;
    if (!text.ends_with('\n')) out << '\n';
}

/// key list --all / audit list --all: follows "next" until null and merges the pages into one
/// answer of the same shape with "next": null.
Object::Ptr fetch_all(HttpClient& client, const Invocation& inv, const char* items) {
    Array::Ptr merged = new Array();
    std::optional<std::string> cursor;
    for (;;) {
        auto page = call_json(client, build_call(inv, cursor)).obj;
        if (page->has(items) && page->isArray(items))
            for (const auto& item : *page->getArray(items)) merged->add(item);
        if (!page->has("next") || page->isNull("next")) break;
        const std::string next = page->get("next").convert<std::string>();
        if (cursor && *cursor == next)
            throw CliError(ExitCode::ServerError, "the server returned the same page cursor twice");
        cursor = next;
    }
    Object::Ptr all = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    all->set(items, merged);
    all->set("next", Poco::Dynamic::Var());
    return all;
}

/// key destroy without --yes on a terminal: names the key and asks for "yes".
void confirm_destroy(HttpClient& client, const Invocation& inv, Console& console) {
    Invocation show = inv;
    show.command = find_command({"key", "show"});
    show.options.clear();
    auto key = call_json(client, build_call(show)).obj;
    console.err << "Destroy key " << *inv.positional << " (name \""
                << key->optValue<std::string>("name", "?") << "\", "
                << key->optValue<std::string>("algorithm", "?") << ", state "
                << key->optValue<std::string>("state", "?")
                << ")? Its key material is wiped for good. Type yes to confirm: " << std::flush;
    std::string answer;
    std::getline(console.in, answer);
    while (!answer.empty() && (answer.back() == '\r' || answer.back() == ' ')) answer.pop_back();
    if (answer != "yes" && answer != "y")
        throw UsageError("key " + *inv.positional + " was not destroyed (not confirmed)");
}

/// principal create --token-out FILE: the file is created (O_EXCL, 0600) before the request,
/// so a principal is never created whose token cannot be stored.
class TokenFile {
  public:
    explicit TokenFile(std::string path) : m_path(std::move(path)) {
        m_fd = ::open(m_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (m_fd < 0)
            throw UsageError("--token-out: cannot create " + m_path + ": " + std::strerror(errno) +
                             " (it must not exist yet)");
    }
    ~TokenFile() {
        if (m_fd >= 0) ::close(m_fd);
        if (!m_written) ::unlink(m_path.c_str());
    }
    TokenFile(const TokenFile&) = delete;
    TokenFile& operator=(const TokenFile&) = delete;

    void write(const std::string& token) {
        const std::string line = token + "\n";
        if (::write(m_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
            ::fsync(m_fd) != 0)
            throw CliError(ExitCode::Usage, "--token-out: cannot write " + m_path +
                                                "; the principal was created, but its token is "
                                                "lost: disable it and create another");
        m_written = true;
    }
    const std::string& path() const { return m_path; }

  private:
    std::string m_path;
    int m_fd = -1;
    bool m_written = false;
};

int run_health(HttpClient& client, const Invocation& inv, const ApiCall& call, Console& console) {
    HttpResponse r = client.send(call);
    auto obj = parse_object(r.body);
    if (r.status == 503 && obj && obj->has("status")) {
        if (inv.global.json)
            print_raw(console.out, r.body);
        else
            render_answer(CommandId::Health, obj, {}, console.out, console.err);
        throw CliError(ExitCode::ServerError, "kmsd is not healthy (HTTP 503)");
    }
    if (!success(r)) throw http_failure(r);
    if (!obj) throw CliError(ExitCode::ServerError, "the health answer is not a JSON object");
    if (inv.global.json)
        print_raw(console.out, r.body);
    else
        render_answer(CommandId::Health, obj, {}, console.out, console.err);
    return to_int(ExitCode::Ok);
}

int execute(const Invocation& inv, const EnvLookup& env, Console& console) {
    const CommandSpec& cmd = *inv.command;
    const ApiCall call = build_call(inv);  // validates every argument before any I/O

    const bool confirm = cmd.id == CommandId::KeyDestroy && !inv.has("yes");
    if (confirm && !console.stdin_is_tty)
        throw UsageError("refusing to destroy key " + *inv.positional +
                         " without confirmation: stdin is not a terminal; add --yes to confirm");

    const ConnectionConfig cfg = resolve_connection(inv.global, call.needs_auth, env);
    std::optional<TokenFile> token_file;
    if (cmd.id == CommandId::PrincipalCreate && inv.value("token-out"))
        token_file.emplace(*inv.value("token-out"));
    HttpClient client(cfg);

    if (cmd.id == CommandId::Health) return run_health(client, inv, call, console);
    if (confirm) confirm_destroy(client, inv, console);

    Answer answer;
    if (inv.has("all") && (cmd.id == CommandId::KeyList || cmd.id == CommandId::AuditList)) {
        answer.obj = fetch_all(client, inv, cmd.id == CommandId::KeyList ? "keys" : "records");
        std::ostringstream text;
        answer.obj->stringify(text);
        answer.raw = text.str();
    } else {
        answer = call_json(client, call);
    }

    if (answer.status == 202) {  // dual control: the request now waits for a second officer
        if (!inv.global.json) console.out << "Accepted, pending approval (HTTP 202):\n";
        print_raw(console.out, answer.raw);
        return to_int(ExitCode::Ok);
    }

    RenderContext ctx;
    if (token_file) {
        const std::string token = answer.obj->optValue<std::string>("token", "");
        if (token.empty())
            throw CliError(ExitCode::ServerError, "the server's answer carries no token");
        token_file->write(token);
        ctx.token_written_to = token_file->path();
        answer.obj->remove("token");
        std::ostringstream text;
        answer.obj->stringify(text);
        answer.raw = text.str();  // --json output without the token, which is in the file
    }

    if (inv.global.json || cmd.id == CommandId::OpenApi) {
        print_raw(console.out, answer.raw);
        const bool is_check = cmd.id == CommandId::MacVerify || cmd.id == CommandId::Verify ||
                              cmd.id == CommandId::AuditVerify;
        return to_int(is_check && !answer_is_valid(answer.obj) ? ExitCode::VerifyNegative
                                                               : ExitCode::Ok);
    }
    return to_int(render_answer(cmd.id, answer.obj, ctx, console.out, console.err));
}

}  // namespace

int run(const Invocation& inv, const EnvLookup& env, Console& console) {
    try {
        if (inv.help) {
            console.out << inv.help_text();
            return to_int(ExitCode::Ok);
        }
        return execute(inv, env, console);
    } catch (const CliError& e) {
        console.out.flush();
        console.err << "kmsctl: " << e.what() << '\n';
        return to_int(e.code());
    } catch (const Poco::Exception& e) {
        console.err << "kmsctl: unexpected error: " << e.displayText() << '\n';
        return to_int(ExitCode::ServerError);
    } catch (const std::exception& e) {
        console.err << "kmsctl: unexpected error: " << e.what() << '\n';
        return to_int(ExitCode::ServerError);
    }
}

int run_command_line(const std::vector<std::string>& args, const EnvLookup& env, Console& console) {
    Invocation inv;
    try {
        inv = parse_arguments(args);
    } catch (const CliError& e) {
        console.err << "kmsctl: " << e.what() << '\n';
        return to_int(e.code());
    }
    return run(inv, env, console);
}

}  // namespace kms::cli
