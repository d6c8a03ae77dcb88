// Human output of kmsctl's GlobalPlatform commands (gp ...). APDUs and responses of gp wrap and
// gp unwrap are printed one per line, so they can be piped to whatever talks to the card.
#include "render_common.hpp"

namespace kms::cli::detail {

namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

/// Each string of the array @p key on its own line.
void print_lines(const Object::Ptr& answer, const std::string& key, std::ostream& out) {
    auto items = list(answer, key);
    if (!items) return;
    for (std::size_t i = 0; i < items->size(); ++i)
        out << scalar(items->get(static_cast<unsigned>(i))) << '\n';
}

void print_session_opened(const Object::Ptr& a, std::ostream& out, std::ostream& err) {
    print_labels(a, {{"Session", "session"}, {"INITIALIZE UPDATE", "initializeUpdate"}}, out);
    err << "Send INITIALIZE UPDATE to the card, then run 'kmsctl gp session authenticate "
        << field(a, "session") << " --response HEX --level HEX' with its answer.\n";
}

void print_diversified(const Object::Ptr& a, std::ostream& out) {
    Table t({"KEY", "ID", "NAME", "ALGORITHM", "STATE", "KCV"});
    for (const char* role : {"enc", "mac", "dek"}) {
        auto k = child(a, role);
        if (!k) {
            t.add({role, kNone});
            continue;
        }
        t.add({role, field(k, "id"), field(k, "name"), field(k, "algorithm"), field(k, "state"),
               field(k, "kcv")});
    }
    t.print(out);
}

}  // namespace

std::optional<ExitCode> render_gp(CommandId command, const Object::Ptr& answer, std::ostream& out,
                                  std::ostream& err) {
    switch (command) {
        case CommandId::GpSessionOpen:
            print_session_opened(answer, out, err);
            break;
        case CommandId::GpSessionAuthenticate:
            print_labels(answer, {{"EXTERNAL AUTHENTICATE", "externalAuthenticate"}}, out);
            break;
        case CommandId::GpSessionClose:
            out << "Closed: session " << field(answer, "session") << " (its keys are wiped).\n";
            break;
        case CommandId::GpWrap:
            print_lines(answer, "apdus", out);
            break;
        case CommandId::GpUnwrap:
            print_lines(answer, "responses", out);
            break;
        case CommandId::GpPutKey:
            print_labels(answer,
                         {{"PUT KEY", "apdu"}, {"Key version", "keyVersion"}, {"KCVs", "kcvs"}},
                         out);
            err << "Send PUT KEY to the card, unwrap its answer with 'kmsctl gp unwrap' and check "
                   "it with 'kmsctl gp put-key-verify'.\n";
            break;
        case CommandId::GpPutKeyVerify:
            print_labels(
                answer, {{"Key version", "keyVersion"}, {"KCVs", "kcvs"}, {"Verified", "verified"}},
                out);
            break;
        case CommandId::GpEncrypt:
            print_labels(answer, {{"Data", "data"}}, out);
            break;
        case CommandId::GpDiversify:
            print_diversified(answer, out);
            break;
        default:
            return std::nullopt;
    }
    return ExitCode::Ok;
}

}  // namespace kms::cli::detail
