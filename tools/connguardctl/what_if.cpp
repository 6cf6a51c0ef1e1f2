// connguardctl whatif: Conditional Access what-if for one sign-in, offline (no Graph call).
// The contract (flags, --json shape, exit codes) is fixed by issue 4 and agent/whatif/README.md.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "agent/whatif/loader.h"
#include "agent/whatif/whatif.h"
#include "tools/connguardctl/commands.h"

namespace connguard::ctl {

namespace {

const char* const whatif_usage =
    "usage: connguardctl whatif --policies PATH [--policies PATH ...] --request FILE\n"
    "                           [--directory FILE] [--json]\n\n"
    "Evaluates Conditional Access policies for one sign-in the way Entra does, without calling Graph,\n"
    "and prints what applies and the verdict for a non-interactive sign-in.\n\n"
    "  --policies PATH   a policy file or a folder (every *.json directly inside, in name order); a file\n"
    "                    holds one conditionalAccessPolicy, an array, or a Graph list {\"value\": [...]}.\n"
    "                    UTF-8 (BOM optional) or UTF-16 with BOM. Repeatable.\n"
    "  --request FILE    body of POST /identity/conditionalAccess/evaluate (signInIdentity,\n"
    "                    signInContext, signInConditions)\n"
    "  --directory FILE  what Graph knows about the tenant: securityDefaultsEnabled, namedLocations,\n"
    "                    users {id: {userType, groups, roles, externalUserType, perUserMfaState,\n"
    "                    isMfaRegistered}}\n"
    "  --json            print {\"value\": [whatIfAnalysisResult...], \"verdict\": {...}}\n\n"
    "verdict: allowed | mfa_required | mfa_registration_required | blocked | control_required\n"
    "exit status: 0 the evaluation ran (whatever the verdict), 2 bad usage or bad input.\n";

int bad(const std::string& message) {
    std::fprintf(stderr, "connguardctl whatif: %s\n", message.c_str());
    return 2;
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out.empty() ? "-" : out;
}

void print_table(const whatif::evaluation& e) {
    size_t name_width = 6;
    for (const auto& p : e.policies) name_width = std::max(name_width, p.display_name.size());
    name_width = std::min<size_t>(name_width, 60);
    std::printf("%-*s  %-36s  %-34s  %-7s  %s\n", static_cast<int>(name_width), "POLICY", "ID", "STATE", "APPLIES",
                "REASONS");
    for (const auto& p : e.policies) {
        std::string name = p.display_name.size() > name_width ? p.display_name.substr(0, name_width - 3) + "..."
                                                                : p.display_name;
        std::printf("%-*s  %-36s  %-34s  %-7s  %s\n", static_cast<int>(name_width), name.c_str(), p.id.c_str(),
                    whatif::to_string(p.state), p.applies ? "yes" : "no",
                    whatif::reasons_to_string(p.analysis_reasons).c_str());
    }
    const auto& v = e.result;
    std::printf("\nverdict: %s\n", whatif::to_string(v.result));
    std::printf("  causes: %s\n", join(v.causes).c_str());
    for (const auto& line : v.explanations) std::printf("    - %s\n", line.c_str());
    std::printf("  uncertain (not enough information): %s\n", join(v.uncertain).c_str());
    std::printf("report-only verdict: %s\n", whatif::to_string(v.report_only_result));
    std::printf("  report-only policies that apply: %s\n", join(v.report_only_policies).c_str());
}

}  // namespace

int run_whatif(int argc, char** argv) {
    std::vector<std::string> policy_paths;
    std::string request_file, directory_file;
    bool as_json = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](std::string& out) -> bool {
            if (i + 1 >= argc) return false;
            out = argv[++i];
            return true;
        };
        if (a == "--help" || a == "-h") {
            std::fputs(whatif_usage, stdout);
            return 0;
        } else if (a == "--json") {
            as_json = true;
        } else if (a == "--policies") {
            std::string v;
            if (!value(v)) return bad("--policies needs a PATH");
            policy_paths.push_back(v);
        } else if (a == "--request") {
            if (!value(request_file)) return bad("--request needs a FILE");
        } else if (a == "--directory") {
            if (!value(directory_file)) return bad("--directory needs a FILE");
        } else {
            std::fprintf(stderr, "connguardctl whatif: unknown argument '%s'\n\n%s", a.c_str(), whatif_usage);
            return 2;
        }
    }
    if (policy_paths.empty()) return bad("missing --policies PATH (see --help)");
    if (request_file.empty()) return bad("missing --request FILE (see --help)");

    std::vector<whatif::policy> policies;
    for (const auto& path : policy_paths) {
        auto loaded = whatif::load_policies(path);
        if (!loaded) return bad(loaded.err().message);
        for (auto& lp : loaded.value()) policies.push_back(std::move(lp.value));
    }

    auto request_json = whatif::read_json_file(request_file);
    if (!request_json) return bad(request_json.err().message);
    auto request = whatif::parse_evaluate_request(request_json.value());
    if (!request) return bad(request_file + ": " + request.err().message);

    whatif::directory dir;
    if (!directory_file.empty()) {
        auto dj = whatif::read_json_file(directory_file);
        if (!dj) return bad(dj.err().message);
        auto d = whatif::parse_directory(dj.value());
        if (!d) return bad(directory_file + ": " + d.err().message);
        dir = std::move(d.value());
    }

    const auto e = whatif::evaluate(policies, dir, request.value());
    if (as_json) {
        std::printf("%s\n", whatif::to_graph_json(e).dump(2).c_str());
    } else {
        print_table(e);
    }
    return 0;
}

}  // namespace connguard::ctl
