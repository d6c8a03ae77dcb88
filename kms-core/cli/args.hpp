// Command-line parsing of kmsctl: turns argv into an Invocation (global options, the command,
// its argument and options) using the command table. No I/O and no network, so it is unit
// tested on its own (tests/cli/args_test.cpp).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "command_table.hpp"

namespace kms::cli {

/// Global options as given on the command line; the environment and --data-dir are applied
/// later (see config.hpp).
struct GlobalOptions {
    std::optional<std::string> url;
    std::optional<std::string> ca_file;
    std::optional<std::string> token;
    std::optional<std::string> token_file;
    std::optional<std::string> cert_file;
    std::optional<std::string> key_file;
    std::optional<std::string> data_dir;
    std::optional<int> timeout_seconds;  ///< validated: 1..3600
    bool json = false;
};

/// A parsed command line.
struct Invocation {
    GlobalOptions global;
    /// The command to run; nullptr only when help is set and no full command was named.
    const CommandSpec* command = nullptr;
    /// --help, -h or `kmsctl help ...` was given: print help_text() and exit 0.
    bool help = false;
    /// The command words seen (a group like {"key"} when help is asked for a group).
    std::vector<std::string> words;
    /// The command's argument (NAME, ID, N), when it takes one.
    std::optional<std::string> positional;
    /// The further arguments after the positional one (gp wrap's APDUs), when the command
    /// takes them (CommandSpec::rest).
    std::vector<std::string> rest;
    /// Standard input as read by the runner for an option given as '-' (gp wrap --file -);
    /// build_call reads it from here, so it stays free of I/O.
    std::optional<std::string> stdin_text;
    /// Command options by name (without "--"); a flag maps to one empty string.
    std::map<std::string, std::vector<std::string>, std::less<>> options;

    bool has(std::string_view name) const { return options.find(name) != options.end(); }
    /// The value of a single-valued option, or nullopt when absent.
    std::optional<std::string> value(std::string_view name) const;
    /// All values of a repeatable option, in order (empty when absent).
    std::vector<std::string> values(std::string_view name) const;
    /// The help text this invocation asks for (main, group or command help).
    std::string help_text() const;
};

/// Parses @p args (argv without argv[0]). Global options are accepted anywhere; command options
/// after the command words. Forms: `--name VALUE`, `--name=VALUE`, flags `--name`; `--` ends
/// options. Throws UsageError (exit 1) with a message naming the problem and where to find help:
/// unknown command or option, a missing or repeated option, a missing or extra argument, a flag
/// given a value, a bad --timeout. Missing required parts are not reported when help is asked.
Invocation parse_arguments(const std::vector<std::string>& args);

}  // namespace kms::cli
