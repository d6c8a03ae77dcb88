// Human output of kmsctl's issue-3 commands: policies, export and import, ceremonies, quorums
// and approvals, certificates.
#include <sstream>

#include "render_common.hpp"

namespace kms::cli {

namespace detail {

namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

Object::Ptr item(const Array::Ptr& a, std::size_t i) {
    return a->getObject(static_cast<unsigned>(i));
}

/// Prints a PEM text as is, ending with a newline.
void print_pem(const std::string& pem, std::ostream& out) {
    out << pem;
    if (pem.empty() || pem.back() != '\n') out << '\n';
}

void print_policy(const Object::Ptr& a, std::ostream& out) {
    Labels l;
    l.add("Principal", present(a, "principal") ? field(a, "principal") : field(a, "name"));
    l.add("Keys", field(a, "keys"));
    l.add("Operations", field(a, "operations"));
    if (present(a, "defined") && field(a, "defined") == "no")
        l.add("Defined", "no: as a plugin, this principal may do nothing with keys");
    l.print(out);
}

void print_export(const Object::Ptr& a, const RenderContext& ctx, std::ostream& out) {
    Labels l;
    l.add("Key ID", field(a, "keyId"));
    l.add("Version", field(a, "version"));
    l.add("Algorithm", field(a, "algorithm"));
    l.add("KCV", field(a, "kcv"));
    l.add("Format", field(a, "format"));
    l.add("KEK", field(a, "kek"));
    for (const auto& [name, label] :
         {std::pair<std::string, const char*>{"wrapped", "Wrapped"}, {"keyBlock", "Key block"}}) {
        if (auto file = ctx.written(name))
            l.add(label, "written to " + *file);
        else if (present(a, name))
            l.add(label, field(a, name));
    }
    l.print(out);
}

void print_ceremony(const Object::Ptr& c, std::ostream& out) {
    Labels l;
    l.add("ID", field(c, "id"));
    l.add("Name", field(c, "name"));
    l.add("Algorithm", field(c, "algorithm"));
    l.add("Usage", field(c, "usage"));
    l.add("State", field(c, "state"));
    l.add("Components", field(c, "received") + " of " + field(c, "components") + " received");
    l.add("Custodians", field(c, "custodians"));
    if (present(c, "exportable")) l.add("Exportable", field(c, "exportable"));
    if (present(c, "trusted")) l.add("Trusted", field(c, "trusted"));
    if (present(c, "kcv")) l.add("Expected KCV", field(c, "kcv"));
    if (present(c, "createdBy")) l.add("Created by", field(c, "createdBy"));
    l.add("Expires", field(c, "expiresAt"));
    if (present(c, "keyId")) l.add("Key ID", field(c, "keyId"));
    if (present(c, "reason")) l.add("Reason", field(c, "reason"));
    l.print(out);
}

void print_ceremonies(const Object::Ptr& a, std::ostream& out) {
    auto items = list(a, "ceremonies");
    if (!items || items->size() == 0) {
        out << "No ceremonies.\n";
        return;
    }
    Table t({"ID", "NAME", "ALGORITHM", "STATE", "RECEIVED", "EXPIRES", "KEY"});
    for (std::size_t i = 0; i < items->size(); ++i) {
        auto c = item(items, i);
        t.add({field(c, "id"), field(c, "name"), field(c, "algorithm"), field(c, "state"),
               field(c, "received") + "/" + field(c, "components"), field(c, "expiresAt"),
               field(c, "keyId")});
    }
    t.print(out);
}

void print_component(const Object::Ptr& a, std::ostream& out) {
    if (auto key = child(a, "key")) {
        out << "Component " << field(a, "received")
            << " received; the ceremony is complete. New key:\n";
        print_key(key, out);
        return;
    }
    Labels l;
    l.add("Received",
          field(a, "received") + (present(a, "components") ? " of " + field(a, "components") : ""));
    l.print(out);
}

void print_quorum(const Object::Ptr& q, std::ostream& out) {
    Labels l;
    l.add("Operation", field(q, "operation"));
    l.add("Approvals", field(q, "approvals"));
    l.add("Approver roles", field(q, "approverRoles"));
    l.add("Eligible", field(q, "eligible"));
    l.add("TTL seconds", field(q, "ttlSeconds"));
    l.print(out);
}

void print_quorums(const Object::Ptr& a, std::ostream& out) {
    auto items = list(a, "quorums");
    if (!items || items->size() == 0) {
        out << "No operation is under dual control.\n";
        return;
    }
    Table t({"OPERATION", "APPROVALS", "APPROVER ROLES", "ELIGIBLE", "TTL"});
    for (std::size_t i = 0; i < items->size(); ++i) {
        auto q = item(items, i);
        t.add({field(q, "operation"), field(q, "approvals"), field(q, "approverRoles"),
               field(q, "eligible"), field(q, "ttlSeconds")});
    }
    t.print(out);
}

/// "POST /v1/keys/k-1/export" from the summary object, or the summary as given.
std::string summary_text(const Object::Ptr& a) {
    if (auto s = child(a, "summary")) {
        std::string text = field(s, "method") + " " + field(s, "path");
        if (present(s, "target")) text += " " + field(s, "target");
        return text;
    }
    return field(a, "summary");
}

std::size_t count(const Object::Ptr& a, const std::string& key) {
    auto l = list(a, key);
    return l ? l->size() : 0;
}

void print_approval(const Object::Ptr& a, std::ostream& out) {
    Labels l;
    l.add("Approval", field(a, "id"));
    l.add("Operation", field(a, "operation"));
    l.add("State", field(a, "state"));
    l.add("Requested by", field(a, "requestedBy"));
    l.add("Request", summary_text(a));
    // What exactly is approved: the stored body (kmsd redacts key material in it).
    if (auto body = child(child(a, "request"), "body"); body && body->size() > 0) {
        std::ostringstream text;
        body->stringify(text);
        l.add("Request body", text.str());
    }
    l.add("Approvals", std::to_string(count(a, "approvals")) + " of " + field(a, "required"));
    if (count(a, "rejections") > 0) l.add("Rejections", std::to_string(count(a, "rejections")));
    l.add("Expires", field(a, "expiresAt"));
    l.print(out);
    Table t({"VOTE", "BY", "AT", "COMMENT"});
    bool any = false;
    for (const auto& [key, vote] :
         {std::pair<const char*, const char*>{"approvals", "approve"}, {"rejections", "reject"}}) {
        if (auto votes = list(a, key))
            for (std::size_t i = 0; i < votes->size(); ++i) {
                auto v = item(votes, i);
                t.add({vote, field(v, "by"), field(v, "at"), field(v, "comment")});
                any = true;
            }
    }
    if (any) {
        out << "Votes:\n";
        print_indented(t, out);
    }
}

void print_approvals(const Object::Ptr& a, std::ostream& out) {
    auto items = list(a, "approvals");
    if (!items || items->size() == 0) {
        out << "No approvals.\n";
        return;
    }
    Table t({"ID", "OPERATION", "STATE", "REQUESTED BY", "APPROVALS", "EXPIRES"});
    for (std::size_t i = 0; i < items->size(); ++i) {
        auto r = item(items, i);
        t.add({field(r, "id"), field(r, "operation"), field(r, "state"), field(r, "requestedBy"),
               std::to_string(count(r, "approvals")) + "/" + field(r, "required"),
               field(r, "expiresAt")});
    }
    t.print(out);
}

void print_certificate(const Object::Ptr& c, const RenderContext& ctx, std::ostream& out) {
    Labels l;
    l.add("Serial", field(c, "serial"));
    l.add("Profile", field(c, "profile"));
    l.add("Subject", field(c, "subject"));
    if (present(c, "principal")) l.add("Principal", field(c, "principal"));
    l.add("Not before", field(c, "notBefore"));
    l.add("Not after", field(c, "notAfter"));
    l.add("Status", field(c, "status"));
    if (present(c, "revokedAt")) l.add("Revoked at", field(c, "revokedAt"));
    if (present(c, "reason")) l.add("Reason", field(c, "reason"));
    if (auto file = ctx.written("certificate")) l.add("Certificate", "written to " + *file);
    if (auto file = ctx.written("chain")) l.add("Chain", "written to " + *file);
    l.print(out);
    if (present(c, "certificate") && !ctx.written("certificate"))
        print_pem(field(c, "certificate"), out);
}

void print_certificates(const Object::Ptr& a, std::ostream& out) {
    auto items = list(a, "certificates");
    if (!items || items->size() == 0) {
        out << "No certificates.\n";
        return;
    }
    Table t({"SERIAL", "PROFILE", "SUBJECT", "PRINCIPAL", "STATUS", "NOT AFTER"});
    for (std::size_t i = 0; i < items->size(); ++i) {
        auto c = item(items, i);
        t.add({field(c, "serial"), field(c, "profile"), field(c, "subject"), field(c, "principal"),
               field(c, "status"), field(c, "notAfter")});
    }
    t.print(out);
}

/// approval execute answers as the replayed operation would: pick the printer by shape.
void print_executed(const Object::Ptr& a, const RenderContext& ctx, std::ostream& out,
                    std::ostream& err) {
    if (present(a, "token") || ctx.written("token")) {
        print_principal_created(a, ctx, out, err);
    } else if (present(a, "wrapped") || present(a, "keyBlock") || ctx.written("wrapped") ||
               ctx.written("keyBlock")) {
        print_export(a, ctx, out);
    } else if (present(a, "state") && present(a, "algorithm") && present(a, "versions")) {
        print_key(a, out);
    } else if (present(a, "custodians")) {
        print_ceremony(a, out);
    } else if (present(a, "operation") && present(a, "approverRoles")) {
        print_quorum(a, out);
    } else if (a->size() == 0) {
        out << "Done.\n";
    } else {
        a->stringify(out, 2);
        out << '\n';
    }
}

}  // namespace

std::optional<ExitCode> render_issue3(CommandId command, const Object::Ptr& answer,
                                      const RenderContext& ctx, std::ostream& out,
                                      std::ostream& err) {
    switch (command) {
        case CommandId::PolicySet:
        case CommandId::PolicyShow:
            print_policy(answer, out);
            break;
        case CommandId::KeyExport:
            print_export(answer, ctx, out);
            break;
        case CommandId::KeyImport:
            print_key(answer, out);
            break;
        case CommandId::CeremonyCreate:
        case CommandId::CeremonyShow:
            print_ceremony(answer, out);
            break;
        case CommandId::CeremonyCancel:
            if (present(answer, "id"))
                print_ceremony(answer, out);
            else
                out << "Cancelled.\n";
            break;
        case CommandId::CeremonyList:
            print_ceremonies(answer, out);
            break;
        case CommandId::CeremonyComponent:
            print_component(answer, out);
            break;
        case CommandId::QuorumSet:
            print_quorum(answer, out);
            break;
        case CommandId::QuorumDelete:
            if (present(answer, "approvals"))
                print_quorum(answer, out);
            else
                out << "Removed: " << field(answer, "operation")
                    << " runs without approvals now.\n";
            break;
        case CommandId::QuorumList:
            print_quorums(answer, out);
            break;
        case CommandId::ApprovalList:
            print_approvals(answer, out);
            break;
        case CommandId::ApprovalShow:
        case CommandId::ApprovalApprove:
        case CommandId::ApprovalReject:
            print_approval(answer, out);
            break;
        case CommandId::ApprovalExecute:
            print_executed(answer, ctx, out, err);
            break;
        case CommandId::CaIssue:
        case CommandId::CaShow:
        case CommandId::CaRevoke:
            print_certificate(answer, ctx, out);
            break;
        case CommandId::CaList:
            print_certificates(answer, out);
            break;
        case CommandId::CaCrl:  // raw answers: printed or written by the runner
        case CommandId::CaChain:
            break;
        default:
            return std::nullopt;
    }
    return ExitCode::Ok;
}

}  // namespace detail

void render_pending(const Poco::JSON::Object::Ptr& approval, std::ostream& out, std::ostream& err) {
    out << "Accepted, pending approval (HTTP 202): nothing has been done yet.\n";
    detail::print_approval(approval, out);
    const std::string id = detail::field(approval, "id");
    err << "Another officer approves with 'kmsctl approval approve " << id
        << "'; once approved, run 'kmsctl approval execute " << id << "'.\n";
}

}  // namespace kms::cli
