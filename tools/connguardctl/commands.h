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

// Admin subcommands (admin_commands.cpp): talk to connguard-coordinator over MQTT request/response.
int run_tenants(int argc, char** argv);   ///< connguardctl tenants
int run_tasks(int argc, char** argv);     ///< connguardctl tasks [--state S]
int run_task(int argc, char** argv);      ///< connguardctl task show ID
int run_approve(int argc, char** argv);   ///< connguardctl approve ID [--comment C]
int run_reject(int argc, char** argv);    ///< connguardctl reject ID --reason R
int run_alerts(int argc, char** argv);    ///< connguardctl alerts [--all] [--since T] | --follow
int run_audit(int argc, char** argv);     ///< connguardctl audit [--verify] [--tail N]
int run_who(int argc, char** argv);       ///< connguardctl who: admin identities and roles
/// connguardctl exception list|add|remove|export|import: the exception registry.
int run_exception(int argc, char** argv);
/// connguardctl webhook list|add|remove|test: alert subscriptions (config + runtime).
int run_webhook(int argc, char** argv);
// Broker identities at runtime (identity_commands.cpp): the dynamic security plugin's API.
/// connguardctl tenant add|remove|import: a tenant's broker identity, agent config and secrets.
int run_tenant(int argc, char** argv);
/// connguardctl admin add|remove: an admin's (approver's) broker identity.
int run_admin(int argc, char** argv);
/// connguardctl impact --policy FILE [--tenants all|KEY...] (impact.cpp): a draft CA policy's effect per tenant.
int run_impact(int argc, char** argv);

}  // namespace connguard::ctl
