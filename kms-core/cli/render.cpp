// Renderers for kmsctl's human output.
#include "render.hpp"

#include <Poco/JSON/Array.h>

#include <sstream>

#include "render_common.hpp"
#include "table.hpp"

namespace kms::cli {

namespace detail {

using Poco::JSON::Array;
using Poco::JSON::Object;

std::string scalar(const Poco::Dynamic::Var& v) {
    if (v.isEmpty()) return kNone;
    if (v.isBoolean()) return v.extract<bool>() ? "yes" : "no";
    if (v.type() == typeid(Array::Ptr)) {
        std::string joined;
        for (const auto& item : *v.extract<Array::Ptr>())
            joined += (joined.empty() ? "" : ", ") + scalar(item);
        return joined.empty() ? kNone : joined;
    }
    if (v.type() == typeid(Object::Ptr)) return "{...}";
    return v.convert<std::string>();
}

/// The field @p key of @p o as text: "-" when absent or null, yes/no for booleans, arrays
/// joined with ", ".
std::string field(const Object::Ptr& o, const std::string& key) {
    if (!o || !o->has(key) || o->isNull(key)) return kNone;
    return scalar(o->get(key));
}

bool present(const Object::Ptr& o, const std::string& key) {
    return o && o->has(key) && !o->isNull(key);
}

Object::Ptr child(const Object::Ptr& o, const std::string& key) {
    return (o && o->has(key) && o->isObject(key)) ? o->getObject(key) : nullptr;
}

Array::Ptr list(const Object::Ptr& o, const std::string& key) {
    return (o && o->has(key) && o->isArray(key)) ? o->getArray(key) : nullptr;
}

/// Prints a table with every line indented by two spaces (a table inside a labelled block).
void print_indented(const Table& t, std::ostream& out) {
    std::ostringstream text;
    t.print(text);
    std::istringstream lines(text.str());
    for (std::string line; std::getline(lines, line);) out << "  " << line << '\n';
}

void print_key(const Object::Ptr& key, std::ostream& out) {
    Labels l;
    l.add("ID", field(key, "id"));
    l.add("Name", field(key, "name"));
    l.add("Algorithm", field(key, "algorithm"));
    l.add("Usage", field(key, "usage"));
    l.add("State", field(key, "state"));
    l.add("Version", field(key, "version"));
    l.add("KCV", field(key, "kcv"));
    l.add("Exportable", field(key, "exportable"));
    if (present(key, "trusted")) l.add("Trusted", field(key, "trusted"));
    l.add("Created", field(key, "createdAt") + " by " + field(key, "createdBy"));
    const std::pair<const char*, const char*> dates[] = {{"activationDate", "Activation date"},
                                                         {"deactivationDate", "Deactivation date"},
                                                         {"compromiseDate", "Compromise date"},
                                                         {"destroyDate", "Destroy date"}};
    for (const auto& [name, label] : dates)
        if (present(key, name)) l.add(label, field(key, name));
    l.print(out);

    if (present(key, "publicKey")) {
        const std::string pem = field(key, "publicKey");
        out << "Public key:\n" << pem;
        if (pem.empty() || pem.back() != '\n') out << '\n';
    }
    if (auto versions = list(key, "versions"); versions && versions->size() > 0) {
        out << "Versions:\n";
        Table t({"VERSION", "KCV", "CREATED"});
        for (std::size_t i = 0; i < versions->size(); ++i) {
            auto v = versions->getObject(static_cast<unsigned>(i));
            t.add({field(v, "version"), field(v, "kcv"), field(v, "createdAt")});
        }
        print_indented(t, out);
    }
    if (auto counters = child(key, "counters")) {
        out << "Counters:\n";
        Table t({"ENCRYPT", "DECRYPT", "MAC", "MAC-VERIFY", "SIGN", "VERIFY"});
        t.add({field(counters, "encrypt"), field(counters, "decrypt"), field(counters, "mac"),
               field(counters, "macVerify"), field(counters, "sign"), field(counters, "verify")});
        print_indented(t, out);
    }
    if (auto history = list(key, "history"); history && history->size() > 0) {
        out << "History:\n";
        Table t({"AT", "FROM", "TO", "BY", "REASON"});
        for (std::size_t i = 0; i < history->size(); ++i) {
            auto h = history->getObject(static_cast<unsigned>(i));
            t.add({field(h, "at"), field(h, "from"), field(h, "to"), field(h, "by"),
                   field(h, "reason")});
        }
        print_indented(t, out);
    }
}

void print_labels(const Object::Ptr& answer,
                  std::initializer_list<std::pair<const char*, const char*>> fields,
                  std::ostream& out) {
    Labels l;
    for (const auto& [label, key] : fields) l.add(label, field(answer, key));
    l.print(out);
}

void print_principal_created(const Object::Ptr& answer, const RenderContext& ctx, std::ostream& out,
                             std::ostream& err) {
    Labels l;
    l.add("Name", field(answer, "name"));
    l.add("Roles", field(answer, "roles"));
    if (auto serial = field(answer, "serial"); serial != kNone) l.add("Certificate serial", serial);
    if (auto file = ctx.written("certificate")) l.add("Certificate", "written to " + *file);
    if (auto file = ctx.written("token")) {
        l.add("Token", "written to " + *file);
        l.print(out);
        return;
    }
    l.add("Token", field(answer, "token"));
    l.print(out);
    if (present(answer, "certificate") && !ctx.written("certificate"))
        out << field(answer, "certificate");
    err << "Keep this token now: kmsd stores only its hash and cannot show it again.\n";
}

}  // namespace detail

namespace {

using namespace detail;

void print_key_list(const Object::Ptr& answer, std::ostream& out, std::ostream& err) {
    auto keys = list(answer, "keys");
    if (!keys || keys->size() == 0) {
        out << "No keys.\n";
    } else {
        Table t({"ID", "NAME", "ALGORITHM", "STATE", "VERSION", "KCV", "USAGE", "CREATED"});
        for (std::size_t i = 0; i < keys->size(); ++i) {
            auto k = keys->getObject(static_cast<unsigned>(i));
            t.add({field(k, "id"), field(k, "name"), field(k, "algorithm"), field(k, "state"),
                   field(k, "version"), field(k, "kcv"), field(k, "usage"), field(k, "createdAt")});
        }
        t.print(out);
    }
    if (present(answer, "next"))
        err << "More keys follow: add --after " << field(answer, "next")
            << " for the next page, or --all for every page.\n";
}

void print_principals(const Object::Ptr& answer, std::ostream& out) {
    auto principals = list(answer, "principals");
    if (!principals || principals->size() == 0) {
        out << "No principals.\n";
        return;
    }
    Table t({"NAME", "ROLES", "CREATED", "CREATED BY", "DISABLED"});
    for (std::size_t i = 0; i < principals->size(); ++i) {
        auto p = principals->getObject(static_cast<unsigned>(i));
        t.add({field(p, "name"), field(p, "roles"), field(p, "createdAt"), field(p, "createdBy"),
               field(p, "disabled")});
    }
    t.print(out);
}

void print_audit(const Object::Ptr& answer, std::ostream& out, std::ostream& err) {
    auto records = list(answer, "records");
    if (!records || records->size() == 0) {
        out << "No audit records.\n";
    } else {
        Table t({"SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME", "DETAIL"});
        for (std::size_t i = 0; i < records->size(); ++i) {
            auto r = records->getObject(static_cast<unsigned>(i));
            t.add({field(r, "seq"), field(r, "time"), field(r, "actor"), field(r, "action"),
                   field(r, "target"), field(r, "outcome"), field(r, "detail")});
        }
        t.print(out);
    }
    if (present(answer, "next"))
        err << "More records follow: add --from " << field(answer, "next")
            << " for the next page, or --all for every page.\n";
}

ExitCode print_audit_verify(const Object::Ptr& answer, std::ostream& out) {
    const bool valid = answer_is_valid(answer);
    Labels l;
    l.add("Audit chain", valid ? "valid" : "INVALID");
    l.add("Records", field(answer, "records"));
    l.add("Head seq", field(answer, "headSeq"));
    l.add("Head hash", field(answer, "headHash"));
    if (!valid || present(answer, "firstInvalid"))
        l.add("First invalid", field(answer, "firstInvalid"));
    if (!valid || present(answer, "problem")) l.add("Problem", field(answer, "problem"));
    l.print(out);
    return valid ? ExitCode::Ok : ExitCode::VerifyNegative;
}

ExitCode print_check(const Object::Ptr& answer, const char* what, std::ostream& out) {
    const bool valid = answer_is_valid(answer);
    if (valid)
        out << "valid: the " << what << " verifies (key version " << field(answer, "version")
            << ")\n";
    else
        out << "INVALID: the " << what << " does not verify (key version "
            << field(answer, "version") << ")\n";
    return valid ? ExitCode::Ok : ExitCode::VerifyNegative;
}

void print_hsm(const Object::Ptr& answer, std::ostream& out) {
    auto lib = child(answer, "library");
    auto token = child(answer, "token");
    auto sessions = child(answer, "sessions");
    auto cache = child(answer, "handleCache");
    Labels l;
    l.add("Module", field(answer, "module"));
    l.add("Library", field(lib, "description") + ", " + field(lib, "manufacturer") + ", version " +
                         field(lib, "version") + " (Cryptoki " + field(lib, "cryptoki") + ")");
    l.add("Token", field(token, "label") + " (serial " + field(token, "serial") + ")");
    l.add("Token maker", field(token, "manufacturer") + ", model " + field(token, "model"));
    // CK_TOKEN_INFO (console parity); absent from a kmsd older than these fields.
    if (present(token, "flags")) {
        auto ts = child(token, "sessions");
        auto mem = child(token, "memory");
        l.add("Token slot", field(token, "slot") + ", hardware " + field(token, "hardwareVersion") +
                                ", firmware " + field(token, "firmwareVersion"));
        l.add("Token flags", field(token, "flags"));
        l.add("Token sessions",
              field(ts, "open") + " open of " + field(ts, "max") + " (0: no limit)");
        l.add("Token memory", "public " + field(mem, "publicFree") + " free of " +
                                  field(mem, "publicTotal") + ", private " +
                                  field(mem, "privateFree") + " free of " +
                                  field(mem, "privateTotal") + " bytes");
    }
    l.add("Profile", field(answer, "profile"));
    l.add("Sessions", field(sessions, "inUse") + " in use of " + field(sessions, "pool"));
    l.add("Handle cache", field(cache, "size") + " of " + field(cache, "capacity"));
    l.add("Master key KCV", field(answer, "masterKeyKcv"));
    auto fallbacks = list(answer, "hostFallbacks");
    l.add("Host fallbacks", fallbacks && fallbacks->size() > 0 ? "" : "none");
    l.print(out);
    if (fallbacks)
        for (const auto& f : *fallbacks) out << "  - " << scalar(f) << '\n';
    // Every slot of the module (console parity); absent from a kmsd older than the field.
    if (auto slots = list(answer, "slots"); slots && slots->size() > 0) {
        out << "Slots:\n";
        for (std::size_t n = 0; n < slots->size(); ++n) {
            const Object::Ptr s = slots->getObject(static_cast<unsigned>(n));
            if (!s) continue;
            out << "  " << field(s, "slot") << ": " << field(s, "description");
            if (s->has("token") && !s->isNull("token")) {
                auto t = child(s, "token");
                const std::string flags = field(t, "flags");
                out << ", token "
                    << (flags.find("CKF_TOKEN_INITIALIZED") != std::string::npos
                            ? "'" + field(t, "label") + "'"
                            : std::string("not initialised"))
                    << " (serial " << field(t, "serial") << ")";
            } else {
                out << ", no token";
            }
            if (s->has("inUse") && s->get("inUse").isBoolean() && s->get("inUse").extract<bool>())
                out << " <- kmsd";
            out << '\n';
        }
    }
    if (auto mechs = list(answer, "mechanisms"); mechs && mechs->size() > 0) {
        out << "Mechanisms:\n";
        std::string line = " ";
        for (const auto& m : *mechs) {
            const std::string name = scalar(m);
            if (line.size() + name.size() + 1 > 78) {
                out << line << '\n';
                line = " ";
            }
            line += " " + name;
        }
        out << line << '\n';
    }
}

}  // namespace

bool answer_is_valid(const Object::Ptr& answer) {
    if (!present(answer, "valid")) return false;
    const auto v = answer->get("valid");
    return v.isBoolean() && v.extract<bool>();
}

ExitCode render_answer(CommandId command, const Object::Ptr& answer, const RenderContext& ctx,
                       std::ostream& out, std::ostream& err) {
    if (auto code = render_issue3(command, answer, ctx, out, err)) return *code;
    if (auto code = render_gp(command, answer, out, err)) return *code;
    switch (command) {
        case CommandId::Health:
            print_labels(answer, {{"Status", "status"}, {"HSM", "hsm"}, {"Store", "store"}}, out);
            break;
        case CommandId::OpenApi:  // normally printed as received by the runner
            answer->stringify(out, 2);
            out << '\n';
            break;
        case CommandId::Whoami:
            print_labels(answer, {{"Name", "name"}, {"Roles", "roles"}}, out);
            break;
        case CommandId::PrincipalCreate:
            print_principal_created(answer, ctx, out, err);
            break;
        case CommandId::PrincipalList:
            print_principals(answer, out);
            break;
        case CommandId::PrincipalDisable:
        case CommandId::PrincipalEnable:
            print_labels(answer, {{"Name", "name"}, {"Roles", "roles"}, {"Disabled", "disabled"}},
                         out);
            break;
        case CommandId::KeyList:
            print_key_list(answer, out, err);
            break;
        case CommandId::KeyCreate:
        case CommandId::KeyShow:
        case CommandId::KeyRotate:
        case CommandId::KeyActivate:
        case CommandId::KeySuspend:
        case CommandId::KeyResume:
        case CommandId::KeyDeactivate:
        case CommandId::KeyRevoke:
        case CommandId::KeyDestroy:
            print_key(answer, out);
            break;
        case CommandId::Encrypt:
            print_labels(answer,
                         {{"Ciphertext", "ciphertext"},
                          {"IV", "iv"},
                          {"Version", "version"},
                          {"Algorithm", "algorithm"}},
                         out);
            break;
        case CommandId::Decrypt:
            print_labels(answer, {{"Plaintext", "plaintext"}, {"Version", "version"}}, out);
            break;
        case CommandId::Mac:
            print_labels(answer, {{"MAC", "mac"}, {"Version", "version"}}, out);
            break;
        case CommandId::Sign:
            print_labels(answer, {{"Signature", "signature"}, {"Version", "version"}}, out);
            break;
        case CommandId::MacVerify:
            return print_check(answer, "MAC", out);
        case CommandId::Verify:
            return print_check(answer, "signature", out);
        case CommandId::Random:
            out << field(answer, "random") << '\n';
            break;
        case CommandId::AuditList:
            print_audit(answer, out, err);
            break;
        case CommandId::AuditVerify:
            return print_audit_verify(answer, out);
        case CommandId::HsmInfo:
            print_hsm(answer, out);
            break;
        default:
            break;  // the issue-3 and gp commands, rendered above
    }
    return ExitCode::Ok;
}

}  // namespace kms::cli
