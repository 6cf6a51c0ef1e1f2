#pragma once
// connguardctl subcommands. Adding one: write `int run_<name>(int argc, char** argv)` in its own
// file, declare it here, and add one row to the table in main.cpp. A subcommand receives its own
// argv: argv[0] is the subcommand name, the rest are its arguments. Every subcommand handles
// --help itself. Exit codes: 0 success, 1 the operation failed, 2 bad usage or bad input.

namespace connguard::ctl {

/// One row of the subcommand table.
struct command {
    const char* name;     ///< e.g. "whatif"
    const char* summary;  ///< one line for `connguardctl --help`
    int (*run)(int argc, char** argv);
};

/// connguardctl whatif: evaluate CA policies for one sign-in (what_if.cpp).
int run_whatif(int argc, char** argv);

}  // namespace connguard::ctl
