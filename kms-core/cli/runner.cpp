// Execution of kmsctl commands: pagination, confirmation, error reporting and exit codes.
#include "runner.hpp"

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <memory>
#include <sstream>

#include "backup_commands.hpp"
#include "exit_codes.hpp"
#include "http_client.hpp"
#include "local_files.hpp"
#include "render.hpp"
#include "requests.hpp"
#include "validate.hpp"

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

}  // namespace

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

namespace {

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
    if (r.status == 204 || r.body.empty())  // e.g. a DELETE answered without a body
        return Answer{new Object(Poco::JSON_PRESERVE_KEY_ORDER), "{}", r.status};
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

/// A result file an option asks for, and the answer fields that go into it.
struct OutputSpec {
    const char* option;               ///< e.g. "token-out"
    std::vector<const char*> fields;  ///< the first present one is written; empty: raw body
    bool secret;                      ///< removed from the answer once written (tokens)
    const char* lost_hint;            ///< said when the write fails after the request
};

std::vector<OutputSpec> output_specs(CommandId id) {
    static const char* const kTokenLost =
        "the principal was created, but its token is lost: disable it and create another";
    static const char* const kExportLost = "the key was exported: export it again";
    switch (id) {
        case CommandId::PrincipalCreate:
            return {{"token-out", {"token"}, true, kTokenLost},
                    {"cert-out",
                     {"certificate"},
                     false,
                     "the certificate was issued: 'kmsctl ca show SERIAL' shows it"}};
        case CommandId::ApprovalExecute:
            return {{"token-out", {"token"}, true, kTokenLost},
                    {"out", {"wrapped", "keyBlock"}, false, kExportLost}};
        case CommandId::KeyExport:
            return {{"out", {"wrapped", "keyBlock"}, false, kExportLost}};
        case CommandId::CaIssue:
            return {{"out",
                     {"certificate"},
                     false,
                     "the certificate was issued: 'kmsctl ca show SERIAL' shows it"},
                    {"chain-out", {"chain"}, false, "'kmsctl ca chain' prints the chain"}};
        case CommandId::CaCrl:
        case CommandId::CaChain:
            return {{"out", {}, false, "fetch it again"}};
        default:
            return {};
    }
}

/// The result files of @p inv, created before the request is sent.
struct Outputs {
    std::vector<std::pair<OutputSpec, std::unique_ptr<OutputFile>>> files;

    Outputs(const Invocation& inv) {
        for (const auto& spec : output_specs(inv.command->id))
            if (auto path = inv.value(spec.option))
                files.emplace_back(spec, std::make_unique<OutputFile>(spec.option, *path));
    }
    bool empty() const { return files.empty(); }
};

/// Writes the answer fields to their files; returns what went where. A missing token is an
/// error (exit 5, as before); another missing field is a warning.
void write_outputs(Outputs& outputs, Answer& answer, RenderContext& ctx, std::ostream& err) {
    bool changed = false;
    for (auto& [spec, file] : outputs.files) {
        const char* found = nullptr;
        for (const char* f : spec.fields)
            if (!found && answer.obj->has(f) && answer.obj->get(f).isString()) found = f;
        if (found == nullptr) {
            if (spec.secret)
                throw CliError(ExitCode::ServerError, "the server's answer carries no token");
            err << "kmsctl: nothing written to " << file->path() << " (--" << spec.option
                << "): the answer has no " << spec.fields.front() << '\n';
            continue;
        }
        std::string text = answer.obj->getValue<std::string>(found);
        if (text.empty() || text.back() != '\n') text += '\n';
        file->write(text, spec.lost_hint);
        ctx.written_to[found] = file->path();
        if (spec.secret) {
            answer.obj->remove(found);
            changed = true;
        }
    }
    if (changed) {
        std::ostringstream text;
        answer.obj->stringify(text);
        answer.raw = text.str();  // --json output without the secret, which is in the file
    }
}

/// Turns terminal echo off while a secret is typed, and back on afterwards, also when the
/// user interrupts with Ctrl-C (the handler restores the saved settings and re-raises).
class EchoOff {
  public:
    EchoOff() {
        if (::tcgetattr(STDIN_FILENO, &s_saved) != 0) return;
        termios quiet = s_saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        struct sigaction sa {};
        sa.sa_handler = &EchoOff::on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND;
        ::sigaction(SIGINT, &sa, &m_old_int);
        ::sigaction(SIGTERM, &sa, &m_old_term);
        m_active = ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    ~EchoOff() {
        if (m_active) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &s_saved);
        ::sigaction(SIGINT, &m_old_int, nullptr);
        ::sigaction(SIGTERM, &m_old_term, nullptr);
    }
    EchoOff(const EchoOff&) = delete;
    EchoOff& operator=(const EchoOff&) = delete;

  private:
    static void on_signal(int sig) {
        ::tcsetattr(STDIN_FILENO, TCSANOW, &s_saved);
        ::raise(sig);  // SA_RESETHAND: the default action now
    }
    // A signal handler can reach nothing else; written before the handler is installed.
    static inline termios s_saved{};
    struct sigaction m_old_int {};
    struct sigaction m_old_term {};
    bool m_active = false;
};

/// Asks for a secret on stderr and reads one line from stdin without echo.
std::string read_hidden(Console& console, const std::string& prompt) {
    console.err << prompt << std::flush;
    std::string line;
    line.reserve(512);  // one buffer for the usual input, so no stray copies are left behind
    {
        EchoOff quiet;
        std::getline(console.in, line);
    }
    console.err << '\n';
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    return line;
}

/// All of @p in (an APDU script on stdin), at most kMaxRequestBody bytes.
std::string read_input(std::istream& in, const std::string& field) {
    std::string text;
    char buffer[4096];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
        text.append(buffer, static_cast<std::size_t>(in.gcount()));
        if (text.size() > kMaxRequestBody)
            throw UsageError(field + ": standard input is larger than " +
                             std::to_string(kMaxRequestBody) + " bytes");
    }
    return text;
}

/// Wipes the secret copies kmsctl made (a prompted component, the request body) on every way
/// out of execute().
struct SecretCopies {
    Invocation* prompted = nullptr;
    ApiCall* call = nullptr;
    ~SecretCopies() {
        if (prompted)
            for (auto& v : prompted->options["component"]) wipe(v);
        if (call && call->secret_body && call->body) wipe(*call->body);
        if (call && call->local_key_pem) wipe(*call->local_key_pem);
    }
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

/// ca crl, ca chain: the answer is a CRL or PEM, printed or written as received.
int run_raw(HttpClient& client, const ApiCall& call, Outputs& outputs, Console& console) {
    HttpResponse r = client.send(call);
    if (!success(r)) throw http_failure(r);
    if (!outputs.empty()) {
        auto& [spec, file] = outputs.files.front();
        file->write(r.body, spec.lost_hint);
        console.out << "Written to " << file->path() << " (" << r.body.size() << " bytes)\n";
    } else {
        print_raw(console.out, r.body);
    }
    return to_int(ExitCode::Ok);
}

int execute(const Invocation& given, const EnvLookup& env, Console& console) {
    const CommandSpec& cmd = *given.command;
    if (is_backup_command(cmd.id)) return run_backup_command(given, env, console);
    Invocation prompted;
    ApiCall call;
    SecretCopies secrets;  // after what it wipes, so its destructor runs first
    const Invocation* chosen = &given;
    if (cmd.id == CommandId::CeremonyComponent && !given.has("component") &&
        !given.has("component-file")) {
        if (!console.stdin_is_tty)
            throw UsageError(
                "give the component with --component-file FILE (stdin is not a "
                "terminal, so kmsctl cannot ask for it)");
        require_object_id("ID", *given.positional);  // check the rest before asking
        require_kcv("--kcv", given.value("kcv").value_or(""));
        prompted = given;
        secrets.prompted = &prompted;
        prompted.options["component"] = {read_hidden(
            console, "Component for ceremony " + *given.positional + " (hex, not shown): ")};
        chosen = &prompted;
    }
    if ((cmd.id == CommandId::GpWrap || cmd.id == CommandId::GpUnwrap) &&
        given.value("file") == "-") {
        prompted = given;
        prompted.stdin_text = read_input(console.in, "--file -");
        chosen = &prompted;
    }
    const Invocation& inv = *chosen;
    call = build_call(inv);  // validates every argument before any I/O
    secrets.call = &call;

    const bool confirm = cmd.id == CommandId::KeyDestroy && !inv.has("yes");
    if (confirm && !console.stdin_is_tty)
        throw UsageError("refusing to destroy key " + *inv.positional +
                         " without confirmation: stdin is not a terminal; add --yes to confirm");

    const ConnectionConfig cfg = resolve_connection(inv.global, call.needs_auth, env);
    Outputs outputs(inv);  // created before the request, removed again unless written
    // principal create --key-out: the key kmsctl made goes to its own file (0600), also
    // created before the request and removed again unless written.
    std::unique_ptr<OutputFile> key_file;
    if (call.local_key_pem)
        key_file = std::make_unique<OutputFile>("key-out", *inv.value("key-out"));
    HttpClient client(cfg);

    if (cmd.id == CommandId::Health) return run_health(client, inv, call, console);
    if (call.raw_answer) return run_raw(client, call, outputs, console);
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
    if (call.secret_body && call.body) wipe(*call.body);

    if (answer.status == 202) {  // dual control: the request now waits for other officers
        if (inv.global.json)
            print_raw(console.out, answer.raw);
        else
            render_pending(answer.obj, console.out, console.err);
        for (const auto& [spec, file] : outputs.files)
            console.err << "Nothing was written to " << file->path() << " (--" << spec.option
                        << "): give it to 'kmsctl approval execute' once the request is "
                           "approved.\n";
        if (key_file)
            console.err << "Nothing was written to " << key_file->path()
                        << " (--key-out): the key is discarded; under dual control, make the "
                           "key and CSR yourself and give --csr-file.\n";
        return to_int(ExitCode::PendingApproval);
    }

    RenderContext ctx;
    write_outputs(outputs, answer, ctx, console.err);
    if (key_file) {
        key_file->write(*call.local_key_pem,
                        "the principal and its certificate exist but the key is lost: revoke "
                        "the certificate (kmsctl ca revoke) and enrol again");
        wipe(*call.local_key_pem);
        console.err << "Private key written to " << key_file->path() << " (mode 0600)\n";
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
