// Runs one parsed kmsctl command end to end: validate, resolve the connection, ask for
// confirmation where needed, call kmsd (following pages for --all), print, and decide the exit
// code. Errors are printed here as "kmsctl: MESSAGE (CODE, HTTP STATUS)".
#pragma once

#include <istream>
#include <ostream>

#include "args.hpp"
#include "config.hpp"
#include "exit_codes.hpp"
#include "http_client.hpp"

namespace kms::cli {

/// The process's streams and whether stdin is a terminal (for key destroy's confirmation and
/// the ceremony component prompt, which turns echo off on the terminal).
struct Console {
    std::istream& in;
    std::ostream& out;
    std::ostream& err;
    bool stdin_is_tty = false;
};

/// The CliError for a non-2xx answer: "MESSAGE (CODE, HTTP STATUS)" from the error JSON, or the
/// status line and the start of the body when the answer is not kmsd's error shape.
CliError http_failure(const HttpResponse& r);

/// Runs @p inv and returns the process exit code (see exit_codes.hpp). Help goes to
/// console.out with exit 0. Arguments are validated before anything is sent, so a usage error
/// (exit 1) never contacts the server. Never throws; never prints the token.
int run(const Invocation& inv, const EnvLookup& env, Console& console);

/// Parses @p args and runs them: the whole of kmsctl but for the process setup in main().
int run_command_line(const std::vector<std::string>& args, const EnvLookup& env, Console& console);

}  // namespace kms::cli
