// connguardctl impact: what a draft Conditional Access policy would do, enabled, to each tenant's
// connection account (issue 15). The coordinator evaluates it against the evaluation context of
// every selected tenant's latest report (AdminRequest.impact); no Graph call is made.
#include <cstdio>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "agent/whatif/loader.h"
#include "common/text.h"
#include "coordinator/impact.h"
#include "tools/connguardctl/admin_client.h"
#include "tools/connguardctl/commands.h"

namespace connguard::ctl {

// admin_commands.cpp
std::string admin_json(const google::protobuf::Message& m);

namespace {

const char* usage =
    "usage: connguardctl impact --policy FILE [--tenants all|KEY...] [--json] [connection flags]\n\n"
    "Evaluates a draft Conditional Access policy (Graph conditionalAccessPolicy JSON, a CIPP template,\n"
    "or a baseline file; UTF-8 or UTF-16) AS IF ENABLED against every selected tenant's latest\n"
    "collected snapshot, for that tenant's connection account and its target sign-ins. The\n"
    "coordinator answers from its own data; no Graph call is made.\n\n"
    "Per tenant: blocked | mfa_required | control_required (the draft breaks the account),\n"
    "uncertain (a condition needs context the agent does not know), unaffected, or not evaluated:\n"
    "stale (snapshot older than one poll interval), incomplete (facts missing), no_report.\n"
    "With the conditions that matched and the exclusion to add to the draft (an existing exclusion\n"
    "group of the account, else its object id in that tenant).\n\n"
    "  --policy FILE       the draft policy (one policy)\n"
    "  --tenants KEY...    tenant keys to evaluate; 'all' or absent: every known or expected tenant\n"
    "  --json              the AdminResponse as JSON (impacts, impact_policy)\n\n"
    "exit codes: 0 no tenant would break, 1 at least one would, 2 bad usage, bad policy file,\n"
    "refused, or no connection\n";

std::string outcome_word(v1::ImpactOutcome o) { return to_lower(enum_word(v1::ImpactOutcome_Name(o), "IMPACT_OUTCOME_")); }

bool breaks(v1::ImpactOutcome o) {
    return o == v1::IMPACT_OUTCOME_BLOCKED || o == v1::IMPACT_OUTCOME_MFA_REQUIRED ||
           o == v1::IMPACT_OUTCOME_CONTROL_REQUIRED;
}

}  // namespace

int run_impact(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::printf("%s\n%s", usage, connection_help());
            return exit_ok;
        }
    }
    std::vector<std::string> args(argv + 1, argv + argc), rest;
    auto f = parse_connection_flags(args, rest);
    auto fail = [&](const std::string& msg) {
        std::fprintf(stderr, "connguardctl impact: %s\n\n%s\n%s", msg.c_str(), usage, connection_help());
        return exit_usage;
    };
    if (!f) return fail(f.err().message);
    connection_flags conn = *f;
    std::string policy_file;
    std::vector<std::string> tenants;
    bool all = false;
    for (size_t i = 0; i < rest.size(); ++i) {
        const auto& a = rest[i];
        if (a == "--policy") {
            if (i + 1 >= rest.size()) return fail("--policy needs a file");
            policy_file = rest[++i];
        } else if (a == "--tenants") {
            size_t n = 0;
            while (i + 1 < rest.size() && rest[i + 1].rfind("--", 0) != 0) {
                const auto& k = rest[++i];
                if (k == "all") all = true;
                else tenants.push_back(k);
                ++n;
            }
            if (n == 0) return fail("--tenants needs 'all' or tenant keys");
        } else {
            return fail("unexpected argument '" + a + "'");
        }
    }
    if (policy_file.empty()) return fail("--policy FILE is required");
    if (all && !tenants.empty()) return fail("--tenants: 'all' or tenant keys, not both");

    // The file is checked here, so a bad draft is named with its file before any connection.
    auto doc = whatif::read_json_file(policy_file);
    if (!doc) {
        const auto& m = doc.err().message;
        if (m.rfind(policy_file, 0) == 0) std::fprintf(stderr, "connguardctl impact: %s\n", m.c_str());
        else std::fprintf(stderr, "connguardctl impact: %s: %s\n", policy_file.c_str(), m.c_str());
        return exit_usage;
    }
    auto d = coord::impact::compile_draft(doc.value());
    if (!d) {
        std::fprintf(stderr, "connguardctl impact: %s: %s\n", policy_file.c_str(), d.err().message.c_str());
        return exit_usage;
    }
    if (auto st = complete_from_env(conn); !st) return fail(st.err().message);

    v1::AdminRequest req;
    auto* q = req.mutable_impact();
    q->set_policy_json(doc.value().dump());
    q->set_policy_source(policy_file);
    for (const auto& t : tenants) q->add_tenants(t);
    // One session; a long answer comes in pages (tenants in key order), merged into one response.
    auto session = admin_session::open(conn);
    if (!session) {
        std::fprintf(stderr, "connguardctl impact: %s\n", session.err().message.c_str());
        return exit_usage;
    }
    v1::AdminResponse rsp;
    for (int page = 0;; ++page) {
        auto r = (*session)->call(req);
        if (!r) {
            std::fprintf(stderr, "connguardctl impact: %s\n", r.err().message.c_str());
            return exit_usage;
        }
        if (!r->ok()) {
            if (conn.json) std::printf("%s\n", admin_json(*r).c_str());
            std::fprintf(stderr, "connguardctl impact: refused (%s): %s\n", r->error_code().c_str(),
                         r->error_message().c_str());
            return exit_usage;
        }
        if (page == 0) {
            rsp = *r;
        } else {
            for (auto& t : *r->mutable_impacts()) *rsp.add_impacts() = std::move(t);
        }
        if (!r->impact_more() || r->impact_next_after().empty() || r->impacts_size() == 0) break;
        q->set_after_tenant(r->impact_next_after());
    }
    rsp.set_impact_more(false);
    rsp.clear_impact_next_after();

    bool any_break = false;
    for (const auto& t : rsp.impacts()) any_break = any_break || breaks(t.outcome());
    if (conn.json) {
        std::printf("%s\n", admin_json(rsp).c_str());
        return any_break ? exit_refused : exit_ok;
    }
    std::printf("draft '%s' evaluated as enabled (declared state: %s)\n\n", rsp.impact_policy().c_str(),
                d.value().declared_state.c_str());
    std::printf("%-16s  %-16s  %-14s  %s\n", "TENANT", "RESULT", "EXCLUDE", "ID");
    size_t broken = 0, uncertain = 0, unevaluated = 0;
    for (const auto& t : rsp.impacts()) {
        if (breaks(t.outcome())) ++broken;
        else if (t.outcome() == v1::IMPACT_OUTCOME_UNCERTAIN) ++uncertain;
        else if (t.outcome() != v1::IMPACT_OUTCOME_UNAFFECTED) ++unevaluated;
        std::printf("%-16s  %-16s  %-14s  %s\n", t.tenant().c_str(), outcome_word(t.outcome()).c_str(),
                    t.exclusion_kind().empty() ? "-" : t.exclusion_kind().c_str(),
                    t.exclusion_id().empty() ? "-" : t.exclusion_id().c_str());
        std::printf("  %s\n", t.reason().c_str());
        if (!t.exclusion_why().empty()) std::printf("  fix: %s\n", t.exclusion_why().c_str());
        for (const auto& n : t.notes()) std::printf("  note: %s\n", n.c_str());
    }
    std::printf("\n%zu tenants: %zu would break, %zu uncertain, %zu not evaluated\n",
                static_cast<size_t>(rsp.impacts_size()), broken, uncertain, unevaluated);
    return any_break ? exit_refused : exit_ok;
}

}  // namespace connguard::ctl
