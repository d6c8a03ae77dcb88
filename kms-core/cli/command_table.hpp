// The commands and options kmsctl understands, as data: one table drives parsing, validation
// of required options, and every --help text, so the three never disagree.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kms::cli {

/// Every command kmsctl runs. Each maps to one REST call (key list --all and audit list --all
/// follow the "next" cursor over several). The issue-3 commands (policies, export and import,
/// ceremonies, dual control, the internal CA) are specified in command_specs_issue3.cpp, the
/// GlobalPlatform secure channel commands (gp ...) in command_specs_gp.cpp.
enum class CommandId {
    Health,
    OpenApi,
    Whoami,
    PrincipalCreate,
    PrincipalList,
    PrincipalDisable,
    PrincipalEnable,
    PolicySet,
    PolicyShow,
    KeyCreate,
    KeyList,
    KeyShow,
    KeyRotate,
    KeyActivate,
    KeySuspend,
    KeyResume,
    KeyDeactivate,
    KeyRevoke,
    KeyDestroy,
    KeyExport,
    KeyImport,
    CeremonyCreate,
    CeremonyComponent,
    CeremonyShow,
    CeremonyList,
    CeremonyCancel,
    Encrypt,
    Decrypt,
    Mac,
    MacVerify,
    Sign,
    Verify,
    Random,
    QuorumSet,
    QuorumList,
    QuorumDelete,
    ApprovalList,
    ApprovalShow,
    ApprovalApprove,
    ApprovalReject,
    ApprovalExecute,
    CaIssue,
    CaList,
    CaShow,
    CaRevoke,
    CaCrl,
    CaChain,
    GpSessionOpen,
    GpSessionAuthenticate,
    GpSessionClose,
    GpWrap,
    GpUnwrap,
    GpPutKey,
    GpPutKeyVerify,
    GpEncrypt,
    GpDiversify,
    AuditList,
    AuditVerify,
    HsmInfo,
    BackupCreate,  ///< backup create, verify and restore: command_specs_backup.cpp
    BackupVerify,
    Restore,
};

/// One `--name [VALUE]` option.
struct OptionSpec {
    std::string_view name;        ///< without the leading "--"
    std::string_view value_name;  ///< e.g. "HEX"; empty for a flag
    std::string_view help;        ///< one line
    bool required = false;        ///< the command fails with exit 1 without it
    bool repeatable = false;      ///< may be given more than once (values are collected)

    bool is_flag() const { return value_name.empty(); }
};

/// One command: its words ("key create"), at most one positional argument (optionally followed
/// by any number of further arguments, see rest), and its options.
struct CommandSpec {
    CommandId id;
    std::string_view words;        ///< space-separated command words, e.g. "key create"
    std::string_view positional;   ///< "NAME", "ID", "N", or empty when the command takes none
    std::string_view summary;      ///< one line for the command list
    std::string_view description;  ///< paragraph(s) for the command's --help
    std::vector<OptionSpec> options;
    bool needs_auth = true;  ///< false for /healthz and /v1/openapi.json
    /// Name of the further arguments taken after the positional one ("APDU" for gp wrap), each
    /// collected in Invocation::rest; empty when the command takes none.
    std::string_view rest = {};

    /// The option named @p name (without "--"), or nullptr.
    const OptionSpec* find_option(std::string_view name) const;
};

/// Every command, in the order `kmsctl --help` lists them.
const std::vector<CommandSpec>& all_commands();

/// Options that apply to every command (--url, --ca, --token, ...).
const std::vector<OptionSpec>& global_options();

/// The global option named @p name (without "--"), or nullptr.
const OptionSpec* find_global_option(std::string_view name);

/// The command whose words are exactly @p words, or nullptr.
const CommandSpec* find_command(const std::vector<std::string>& words);

/// Whether @p words is a proper prefix of some command ("key", "audit"): a command group.
bool is_command_group(const std::vector<std::string>& words);

/// Help texts, ready to print. main_help() lists commands, global options, environment and
/// exit codes; group_help() the commands of one group; command_help() one command in full.
std::string main_help();
std::string group_help(const std::vector<std::string>& group);
std::string command_help(const CommandSpec& command);

/// A short pointer printed after a usage error: "see 'kmsctl key create --help'".
std::string help_hint(const CommandSpec* command);

}  // namespace kms::cli
