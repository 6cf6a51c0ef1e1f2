// connguardctl: the ConnGuard admin CLI. Dispatches to one function per subcommand (commands.h).
#include <cstdio>
#include <cstring>
#include <exception>
#include <iterator>

#include "common/log.h"
#include "tools/connguardctl/commands.h"

namespace {

using connguard::ctl::command;

// The subcommand table: one row per subcommand, in the order --help lists them.
const command commands[] = {
    {"whatif", "evaluate Conditional Access policies for one sign-in (like Graph's evaluate API)",
     connguard::ctl::run_whatif},
    {"tenants", "list tenants with their status (coordinator)", connguard::ctl::run_tenants},
    {"tasks", "list remediation tasks [--state S] (coordinator)", connguard::ctl::run_tasks},
    {"task", "task show ID: one task with the exact change it makes", connguard::ctl::run_task},
    {"approve", "approve a task's plan version", connguard::ctl::run_approve},
    {"reject", "reject a task with a reason", connguard::ctl::run_reject},
    {"alerts", "list active alerts [--all] [--since T], or --follow them as they change", connguard::ctl::run_alerts},
    {"audit", "show (and --verify) the hash-chained audit log; --tail N: the newest N", connguard::ctl::run_audit},
    {"who", "list the coordinator's admin identities and their roles", connguard::ctl::run_who},
    {"exception", "the exception registry: list, add, remove, export, import, adopt", connguard::ctl::run_exception},
    {"webhook", "alert subscriptions: list, add, remove, test", connguard::ctl::run_webhook},
    {"tenant", "tenant add|remove|import: onboard a tenant in one command (broker identity + agent config)",
     connguard::ctl::run_tenant},
    {"admin", "admin add|remove: an admin's or approver's broker identity", connguard::ctl::run_admin},
    {"impact", "what a draft CA policy, enabled, would do to each tenant's account (exit 1: breaks)",
     connguard::ctl::run_impact},
};

void usage(std::FILE* out) {
    std::fprintf(out,
                 "usage: connguardctl <command> [options]\n"
                 "       connguardctl <command> --help\n\n"
                 "ConnGuard admin CLI.\n\ncommands:\n");
    for (const auto& c : commands) std::fprintf(out, "  %-12s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
    // Diagnostics go to stderr (and only warnings): stdout is for results, `--json` must stay pure JSON.
    connguard::log::init({.program = "connguardctl", .json = false, .level = "warn", .file = ""});
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char* name = argv[1];
    if (std::strcmp(name, "--help") == 0 || std::strcmp(name, "-h") == 0 || std::strcmp(name, "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (const auto& c : commands) {
        if (std::strcmp(c.name, name) == 0) {
            try {
                return c.run(argc - 1, argv + 1);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "connguardctl %s: %s\n", name, e.what());
                return 1;
            }
        }
    }
    std::fprintf(stderr, "connguardctl: unknown command '%s'\n\n", name);
    usage(stderr);
    return 2;
}
