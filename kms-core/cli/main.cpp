// kmsctl: the administrator's command line for kmsd. Sets up the process (TLS library, the
// terminal check) and hands over to the runner.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "runner.hpp"

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    kms::cli::TlsLibrary tls;
    kms::cli::Console console{std::cin, std::cout, std::cerr, ::isatty(STDIN_FILENO) == 1};
    const int rc = kms::cli::run_command_line(args, kms::cli::process_environment(), console);
    std::cout.flush();
    return rc;
}
