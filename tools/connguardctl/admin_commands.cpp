// connguardctl admin subcommands: tenants, tasks, task show, approve, reject, alerts, audit, who.
// They talk to connguard-coordinator over MQTT request/response (admin_client.h); `audit --verify`
// also compares the log with the coordinator's signed checkpoints (coordinator/audit_checkpoint.h).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/text.h"
#include "common/topics.h"
#include "connguard/v1/envelope.pb.h"
#include "coordinator/audit_checkpoint.h"
#include "coordinator/exceptions.h"
#include "tools/connguardctl/admin_client.h"
#include "tools/connguardctl/commands.h"

namespace connguard::ctl {

namespace {

using google::protobuf::util::TimeUtil;
namespace checkpoint = coord::checkpoint;

/// Adds `[]` (`{}` for a map) for every empty repeated field of `m` and of the messages inside it.
/// Only lists: empty scalars stay out as protobuf prints them, because scripts read a missing
/// string as "not set" (an empty expected_modified_date_time is Graph's null).
void keep_empty_lists(const google::protobuf::Message& m, nlohmann::ordered_json& j) {
    if (!j.is_object()) return;
    const auto* d = m.GetDescriptor();
    const auto* r = m.GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
        const auto* f = d->field(i);
        const bool nested = f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE && !f->is_map() &&
                            f->message_type()->file()->package() != "google.protobuf";  // Timestamp etc. are strings
        if (f->is_repeated()) {
            const int n = r->FieldSize(m, f);
            if (n == 0) {
                j[f->name()] = f->is_map() ? nlohmann::ordered_json::object() : nlohmann::ordered_json::array();
            } else if (nested && j.contains(f->name()) && j[f->name()].is_array()) {
                for (int k = 0; k < n && k < static_cast<int>(j[f->name()].size()); ++k)
                    keep_empty_lists(r->GetRepeatedMessage(m, f, k), j[f->name()][k]);
            }
        } else if (nested && r->HasField(m, f) && j.contains(f->name())) {
            keep_empty_lists(r->GetMessage(m, f), j[f->name()]);
        }
    }
}

// The one JSON spelling of every subcommand (coordinator/README.md "connguardctl"): protobuf's JSON
// mapping with proto field names and enums by their full names ("TASK_STATE_PENDING_APPROVAL"),
// plus every list printed even when empty, so a script reads `"tasks": []` instead of a missing
// key (protobuf drops empty repeated fields by default). Fields keep the .proto order.
std::string to_json(const google::protobuf::Message& m) {
    std::string out;
    google::protobuf::util::JsonPrintOptions o;
    o.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(m, &out, o);
    auto j = nlohmann::ordered_json::parse(out, nullptr, false);
    if (j.is_discarded()) return out;
    keep_empty_lists(m, j);
    // A refusal says so: scripts test `.ok`, and proto3 would leave a false one out.
    if (m.GetDescriptor() == v1::AdminResponse::descriptor() && !j.contains("ok")) j["ok"] = false;
    return j.dump();
}

std::string when(const google::protobuf::Timestamp& t) {
    if (t.seconds() == 0 && t.nanos() == 0) return "-";
    return TimeUtil::ToString(t);
}

std::string state_of(v1::TaskState s) { return enum_word(v1::TaskState_Name(s), "TASK_STATE_"); }
std::string kind_of(v1::RemediationKind k) { return enum_word(v1::RemediationKind_Name(k), "REMEDIATION_KIND_"); }
std::string risk_of(v1::Risk r) { return enum_word(v1::Risk_Name(r), "RISK_"); }
std::string status_of(v1::CheckStatus s) { return enum_word(v1::CheckStatus_Name(s), "CHECK_STATUS_"); }

/// Parses flags, fills from the environment; on failure prints the reason and returns false.
bool prepare(const char* cmd, int argc, char** argv, const char* usage, parsed_args& out, int& code) {
    if (!parse_subcommand_args(cmd, argc, argv, usage, out, code)) return false;
    if (auto st = complete_from_env(out.conn); !st) {
        code = usage_error(cmd, st.err().message, usage);
        return false;
    }
    return true;
}

/// Sends one request on an open session; prints errors; returns the response or an exit code.
int call_in(const char* cmd, admin_session& session, const connection_flags& conn, const v1::AdminRequest& req,
            v1::AdminResponse& out) {
    auto r = session.call(req);
    if (!r) {
        std::fprintf(stderr, "connguardctl %s: %s\n", cmd, r.err().message.c_str());
        return r.err().code == "forbidden" ? exit_refused : exit_usage;
    }
    out = *r;
    if (!out.ok()) {
        if (conn.json) std::printf("%s\n", to_json(out).c_str());
        std::fprintf(stderr, "connguardctl %s: refused (%s): %s\n", cmd, out.error_code().c_str(),
                     out.error_message().c_str());
        return exit_refused;
    }
    return exit_ok;
}

/// Sends one request on a session of its own; prints errors; returns the response or an exit code.
int call(const char* cmd, const connection_flags& conn, const v1::AdminRequest& req, v1::AdminResponse& out) {
    auto session = admin_session::open(conn);
    if (!session) {
        std::fprintf(stderr, "connguardctl %s: %s\n", cmd, session.err().message.c_str());
        return exit_usage;
    }
    return call_in(cmd, **session, conn, req, out);
}

void print_task_line(const v1::TaskView& t) {
    std::printf("%-36s  %-12s  %-24s  %-16s  %-6s  v%-3u %s\n", t.task_id().c_str(), t.tenant().c_str(),
                kind_of(t.kind()).c_str(), state_of(t.state()).c_str(), risk_of(t.risk()).c_str(), t.plan_version(),
                t.plan().summary().c_str());
}

void print_task(const v1::TaskView& t) {
    std::printf("task        %s\n", t.task_id().c_str());
    std::printf("tenant      %s\n", t.tenant().c_str());
    std::printf("kind        %s%s\n", kind_of(t.kind()).c_str(), t.automatic() ? "" : " (guidance only: nothing is executed)");
    std::printf("target      %s\n", t.target().c_str());
    std::printf("state       %s%s%s\n", state_of(t.state()).c_str(), t.state_reason().empty() ? "" : " - ",
                t.state_reason().c_str());
    std::printf("risk        %s (%u approval(s) needed)\n", risk_of(t.risk()).c_str(), t.approvals_required());
    std::printf("plan        version %u: %s\n", t.plan_version(), t.plan().summary().c_str());
    std::printf("why         %s\n", t.reason().c_str());
    std::printf("created     %s   expires %s   updated %s\n", when(t.created_at()).c_str(), when(t.expires_at()).c_str(),
                when(t.updated_at()).c_str());
    const auto& p = t.plan();
    if (!p.http_method().empty()) {
        std::printf("change      %s %s\n", p.http_method().c_str(), p.http_path().c_str());
        if (!p.http_body().empty()) std::printf("body        %s\n", p.http_body().c_str());
    }
    switch (p.plan_case()) {
        case v1::RemediationPlan::kExcludeFromCaPolicy: {
            const auto& x = p.exclude_from_ca_policy();
            std::printf("policy      %s (%s)\n", x.policy_name().c_str(), x.policy_id().c_str());
            std::printf("account     %s (%s)\n", x.user_principal_name().c_str(), x.user_id().c_str());
            std::printf("precondition policy modifiedDateTime == %s (else the agent refuses as STALE)\n",
                        x.expected_modified_date_time().c_str());
            break;
        }
        case v1::RemediationPlan::kDisablePerUserMfa: {
            const auto& x = p.disable_per_user_mfa();
            std::printf("account     %s (%s)\n", x.user_principal_name().c_str(), x.user_id().c_str());
            std::printf("precondition perUserMfaState == %s\n", x.expected_state().c_str());
            break;
        }
        case v1::RemediationPlan::kRemovePrivilegedRole: {
            const auto& x = p.remove_privileged_role();
            std::printf("role        %s (template %s, assignment %s)\n", x.role_name().c_str(), x.role_template_id().c_str(),
                        x.role_assignment_id().c_str());
            std::printf("account     %s (%s)\n", x.user_principal_name().c_str(), x.user_id().c_str());
            break;
        }
        case v1::RemediationPlan::kGuidance:
            std::printf("guidance    %s\n", p.guidance().instructions().c_str());
            break;
        default:
            break;
    }
    for (const auto& a : t.approvals())
        std::printf("approved    by %s for v%u at %s%s%s\n", a.admin().c_str(), a.plan_version(), when(a.at()).c_str(),
                    a.comment().empty() ? "" : ": ", a.comment().c_str());
    if (!t.command_id().empty()) std::printf("command     %s\n", t.command_id().c_str());
}

/// --since: RFC 3339, or a duration back from now ("30s", "15m", "12h", "7d").
result<google::protobuf::Timestamp> parse_since(const std::string& text) {
    google::protobuf::Timestamp t;
    if (TimeUtil::FromString(text, &t)) return t;
    char* end = nullptr;
    const long long n = std::strtoll(text.c_str(), &end, 10);
    long long unit = 0;
    if (end != text.c_str() && n >= 0 && end[0] != '\0' && end[1] == '\0') {
        switch (end[0]) {
            case 's': unit = 1; break;
            case 'm': unit = 60; break;
            case 'h': unit = 3600; break;
            case 'd': unit = 86400; break;
            default: break;
        }
    }
    if (unit == 0)
        return error{"bad_since", "--since '" + text + "': expected RFC 3339 (2026-05-01T08:00:00Z) or a duration (30m, 12h, 7d)"};
    return TimeUtil::GetCurrentTime() - TimeUtil::SecondsToDuration(n * unit);
}

bool parse_task_state(const std::string& text, v1::TaskState& out) {
    std::string up;
    for (char c : text) up += static_cast<char>(c == '-' ? '_' : std::toupper(static_cast<unsigned char>(c)));
    return v1::TaskState_Parse("TASK_STATE_" + up, &out) && out != v1::TASK_STATE_UNSPECIFIED;
}

}  // namespace

int run_tenants(int argc, char** argv) {
    static const char* usage = "usage: connguardctl tenants [--json] [connection flags]\n\n"
                               "Lists every tenant the coordinator knows with its status.\n";
    parsed_args a;
    int code = 0;
    if (!prepare("tenants", argc, argv, usage, a, code)) return code;
    if (!a.rest.empty()) return usage_error("tenants", "unexpected argument '" + a.rest[0] + "'", usage);
    v1::AdminRequest req;
    req.mutable_list_tenants();
    v1::AdminResponse rsp;
    if (int rc = call("tenants", a.conn, req, rsp); rc != exit_ok) return rc;
    if (a.conn.json) {
        std::printf("%s\n", to_json(rsp).c_str());
        return exit_ok;
    }
    std::printf("%-20s  %-7s  %-8s  %-24s  %-24s  %5s  %6s  %s\n", "TENANT", "STATUS", "AGENT", "LAST REPORT", "LAST SEEN",
                "TASKS", "ALERTS", "ACCOUNT");
    for (const auto& t : rsp.tenants())
        std::printf("%-20s  %-7s  %-8s  %-24s  %-24s  %5u  %6u  %s\n", t.tenant().c_str(),
                    t.overall() == v1::CHECK_STATUS_UNSPECIFIED ? "-" : status_of(t.overall()).c_str(),
                    t.agent_state() == v1::AGENT_STATE_UNSPECIFIED ? "-"
                                                                    : enum_word(v1::AgentState_Name(t.agent_state()), "AGENT_STATE_").c_str(),
                    when(t.last_report_at()).c_str(), when(t.last_seen_at()).c_str(), t.open_tasks(), t.active_alerts(),
                    t.account_upn().c_str());
    return exit_ok;
}

int run_tasks(int argc, char** argv) {
    static const char* usage = "usage: connguardctl tasks [--state STATE] [--tenant T] [--json] [connection flags]\n\n"
                               "Lists remediation tasks, newest first. STATE: proposed, pending-approval, approved,\n"
                               "dispatched, succeeded, failed, stale, rejected, expired, superseded, verified.\n";
    parsed_args a;
    int code = 0;
    if (!prepare("tasks", argc, argv, usage, a, code)) return code;
    v1::AdminRequest req;
    auto* lt = req.mutable_list_tasks();
    for (std::size_t i = 0; i < a.rest.size(); ++i) {
        if (a.rest[i] == "--state" && i + 1 < a.rest.size()) {
            v1::TaskState s;
            if (!parse_task_state(a.rest[++i], s)) return usage_error("tasks", "unknown state '" + a.rest[i] + "'", usage);
            lt->set_state(s);
        } else if (a.rest[i] == "--tenant" && i + 1 < a.rest.size()) {
            lt->set_tenant(a.rest[++i]);
        } else {
            return usage_error("tasks", "unexpected argument '" + a.rest[i] + "'", usage);
        }
    }
    v1::AdminResponse rsp;
    if (int rc = call("tasks", a.conn, req, rsp); rc != exit_ok) return rc;
    if (a.conn.json) {
        std::printf("%s\n", to_json(rsp).c_str());
        return exit_ok;
    }
    std::printf("%-36s  %-12s  %-24s  %-16s  %-6s  %-4s %s\n", "TASK", "TENANT", "KIND", "STATE", "RISK", "PLAN", "SUMMARY");
    for (const auto& t : rsp.tasks()) print_task_line(t);
    return exit_ok;
}

int run_task(int argc, char** argv) {
    static const char* usage = "usage: connguardctl task show ID [--json] [connection flags]\n\n"
                               "Shows one task with the exact change it makes (method, path, body) and its\n"
                               "preconditions and approvals.\n";
    parsed_args a;
    int code = 0;
    if (!prepare("task", argc, argv, usage, a, code)) return code;
    if (a.rest.size() != 2 || a.rest[0] != "show") return usage_error("task", "expected: task show ID", usage);
    v1::AdminRequest req;
    req.mutable_show_task()->set_task_id(a.rest[1]);
    v1::AdminResponse rsp;
    if (int rc = call("task", a.conn, req, rsp); rc != exit_ok) return rc;
    if (a.conn.json) {
        std::printf("%s\n", to_json(rsp).c_str());
        return exit_ok;
    }
    if (rsp.tasks_size() > 0) print_task(rsp.tasks(0));
    return exit_ok;
}

int run_approve(int argc, char** argv) {
    static const char* usage =
        "usage: connguardctl approve ID [--comment C] [--plan-version N] [--json] [connection flags]\n\n"
        "Approves the task's plan. Without --plan-version the current version is fetched first (silently);\n"
        "a plan that changes in between is refused (stale_plan) and needs a new approval.\n"
        "Only after the coordinator accepted the approval is the approved plan printed; a refusal prints\n"
        "only the refusal and its reason (stderr; with --json also {ok:false, error_code, error_message}).\n"
        "High-risk tasks need two different approvers (`connguardctl who` lists them).\n";
    parsed_args a;
    int code = 0;
    if (!prepare("approve", argc, argv, usage, a, code)) return code;
    std::string id, comment;
    long version = -1;
    for (std::size_t i = 0; i < a.rest.size(); ++i) {
        if (a.rest[i] == "--comment" && i + 1 < a.rest.size()) {
            comment = a.rest[++i];
        } else if (a.rest[i] == "--plan-version" && i + 1 < a.rest.size()) {
            char* end = nullptr;
            version = std::strtol(a.rest[++i].c_str(), &end, 10);
            if (*end != '\0' || version < 1) return usage_error("approve", "--plan-version needs a positive number", usage);
        } else if (id.empty() && a.rest[i].rfind("--", 0) != 0) {
            id = a.rest[i];
        } else {
            return usage_error("approve", "unexpected argument '" + a.rest[i] + "'", usage);
        }
    }
    if (id.empty()) return usage_error("approve", "missing task ID", usage);
    auto session = admin_session::open(a.conn);
    if (!session) {
        std::fprintf(stderr, "connguardctl approve: %s\n", session.err().message.c_str());
        return exit_usage;
    }
    auto send = [&](const v1::AdminRequest& req, v1::AdminResponse& rsp) -> int {
        auto r = (*session)->call(req);
        if (!r) {
            std::fprintf(stderr, "connguardctl approve: %s\n", r.err().message.c_str());
            return r.err().code == "forbidden" ? exit_refused : exit_usage;
        }
        rsp = *r;
        if (!rsp.ok()) {
            // Only the refusal: the coordinator attaches the task as it stands, but a plan printed
            // next to a refused approval reads as if something had been approved.
            if (a.conn.json) {
                v1::AdminResponse refusal;
                refusal.set_request_id(rsp.request_id());
                refusal.set_error_code(rsp.error_code());
                refusal.set_error_message(rsp.error_message());
                std::printf("%s\n", to_json(refusal).c_str());
            }
            std::fprintf(stderr, "connguardctl approve: refused (%s): %s\n", rsp.error_code().c_str(),
                         rsp.error_message().c_str());
            return exit_refused;
        }
        return exit_ok;
    };
    if (version < 0) {
        v1::AdminRequest show;
        show.mutable_show_task()->set_task_id(id);
        v1::AdminResponse rsp;
        if (int rc = send(show, rsp); rc != exit_ok) return rc;
        if (rsp.tasks_size() == 0) {
            std::fprintf(stderr, "connguardctl approve: refused (not_found): no task %s\n", id.c_str());
            return exit_refused;
        }
        // Nothing is printed yet: the plan is shown once the coordinator accepted the approval.
        version = rsp.tasks(0).plan_version();
    }
    v1::AdminRequest req;
    req.mutable_approve()->set_task_id(id);
    req.mutable_approve()->set_plan_version(static_cast<std::uint32_t>(version));
    req.mutable_approve()->set_comment(comment);
    v1::AdminResponse rsp;
    if (int rc = send(req, rsp); rc != exit_ok) return rc;
    if (a.conn.json) {
        std::printf("%s\n", to_json(rsp).c_str());
        return exit_ok;
    }
    if (rsp.tasks_size() > 0) {
        const auto& t = rsp.tasks(0);
        const auto& p = t.plan();
        std::printf("approved plan version %ld of task %s: %s\n", version, id.c_str(), p.summary().c_str());
        if (!p.http_method().empty())
            std::printf("  %s %s %s\n", p.http_method().c_str(), p.http_path().c_str(), p.http_body().c_str());
        std::printf("task %s is now %s (%d of %u approval(s))\n", t.task_id().c_str(), state_of(t.state()).c_str(),
                    t.approvals_size(), t.approvals_required());
    }
    return exit_ok;
}

int run_reject(int argc, char** argv) {
    static const char* usage = "usage: connguardctl reject ID --reason R [--json] [connection flags]\n\n"
                               "Rejects a task waiting for approval (operators and approvers).\n";
    parsed_args a;
    int code = 0;
    if (!prepare("reject", argc, argv, usage, a, code)) return code;
    std::string id, reason;
    for (std::size_t i = 0; i < a.rest.size(); ++i) {
        if (a.rest[i] == "--reason" && i + 1 < a.rest.size()) reason = a.rest[++i];
        else if (id.empty() && a.rest[i].rfind("--", 0) != 0) id = a.rest[i];
        else return usage_error("reject", "unexpected argument '" + a.rest[i] + "'", usage);
    }
    if (id.empty()) return usage_error("reject", "missing task ID", usage);
    if (reason.empty()) return usage_error("reject", "--reason R is required", usage);
    v1::AdminRequest req;
    req.mutable_reject()->set_task_id(id);
    req.mutable_reject()->set_reason(reason);
    v1::AdminResponse rsp;
    if (int rc = call("reject", a.conn, req, rsp); rc != exit_ok) return rc;
    if (a.conn.json) std::printf("%s\n", to_json(rsp).c_str());
    else if (rsp.tasks_size() > 0) std::printf("task %s is now %s\n", id.c_str(), state_of(rsp.tasks(0).state()).c_str());
    return exit_ok;
}

int run_audit(int argc, char** argv) {
    static const char* usage =
        "usage: connguardctl audit [--verify] [--task ID] [--after SEQ] [--limit N | --tail N] [--json]\n"
        "                          [connection flags]\n"
        "       connguardctl audit --verify [--checkpoint FILE] [--from-broker] --audit-public-key FILE\n"
        "                                   [--json] [connection flags]\n\n"
        "Shows the append-only audit log, oldest first (--limit N: the first N after --after SEQ);\n"
        "--tail N shows the newest N entries, newest first. --verify also checks the hash chain\n"
        "(exit 1 when broken).\n"
        "A chain cut short at its end still verifies; the coordinator's signed checkpoints see that:\n"
        "  --checkpoint FILE         the checkpoints in FILE (the coordinator's audit.checkpointFile)\n"
        "  --from-broker             the checkpoint retained on connguard/v1/audit/checkpoint\n"
        "  --audit-public-key FILE   the coordinator's public key (PEM), the only thing trusted\n"
        "                            (connguard-coordinator --config C --print-audit-public-key)\n"
        "Exit 1 also when a checkpoint's signature is bad, when the log ends before a checkpoint's\n"
        "entry (entries cut off) or when an entry differs from a checkpoint (rewritten).\n";
    parsed_args a;
    int code = 0;
    if (!prepare("audit", argc, argv, usage, a, code)) return code;
    v1::AdminRequest req;
    auto* q = req.mutable_query_audit();
    std::string checkpoint_file, public_key_file;
    bool from_broker = false, tail = false;
    for (std::size_t i = 0; i < a.rest.size(); ++i) {
        const auto& x = a.rest[i];
        if (x == "--verify") q->set_verify(true);
        else if (x == "--task" && i + 1 < a.rest.size()) q->set_task_id(a.rest[++i]);
        else if (x == "--after" && i + 1 < a.rest.size()) q->set_after_seq(std::strtoull(a.rest[++i].c_str(), nullptr, 10));
        else if (x == "--limit" && i + 1 < a.rest.size()) q->set_limit(static_cast<std::uint32_t>(std::strtoul(a.rest[++i].c_str(), nullptr, 10)));
        else if (x == "--tail" && i + 1 < a.rest.size()) {
            char* end = nullptr;
            const long n = std::strtol(a.rest[++i].c_str(), &end, 10);
            if (*end != '\0' || n < 1) return usage_error("audit", "--tail needs a positive number", usage);
            tail = true;
            q->set_limit(static_cast<std::uint32_t>(n));
            q->set_newest_first(true);
        }
        else if (x == "--checkpoint" && i + 1 < a.rest.size()) checkpoint_file = a.rest[++i];
        else if (x == "--from-broker") from_broker = true;
        else if (x == "--audit-public-key" && i + 1 < a.rest.size()) public_key_file = a.rest[++i];
        else return usage_error("audit", "unexpected argument '" + x + "'", usage);
    }
    if (tail && a.rest.end() != std::find(a.rest.begin(), a.rest.end(), "--limit"))
        return usage_error("audit", "--tail N and --limit N exclude each other", usage);
    const bool compare_checkpoints = !checkpoint_file.empty() || from_broker;
    if (compare_checkpoints && !q->verify())
        return usage_error("audit", "--checkpoint and --from-broker compare while verifying: add --verify", usage);
    if (compare_checkpoints && public_key_file.empty())
        return usage_error("audit", "--checkpoint and --from-broker need --audit-public-key FILE", usage);
    if (!compare_checkpoints && !public_key_file.empty())
        return usage_error("audit", "--audit-public-key goes with --checkpoint FILE or --from-broker", usage);

    // Trust first: the key and every checkpoint's signature, before the log is looked at.
    std::vector<v1::AuditCheckpoint> checkpoints;
    std::optional<checkpoint::public_key> key;
    if (compare_checkpoints) {
        auto pem = read_file(public_key_file);
        if (!pem) {
            std::fprintf(stderr, "connguardctl audit: --audit-public-key: %s\n", pem.err().message.c_str());
            return exit_usage;
        }
        auto k = checkpoint::public_key::from_pem(*pem);
        if (!k) {
            std::fprintf(stderr, "connguardctl audit: %s: %s\n", public_key_file.c_str(), k.err().message.c_str());
            return exit_usage;
        }
        key = std::move(*k);
    }
    if (!checkpoint_file.empty()) {
        auto text = read_file(checkpoint_file);
        if (!text) {
            std::fprintf(stderr, "connguardctl audit: --checkpoint: %s\n", text.err().message.c_str());
            return exit_usage;
        }
        auto cps = checkpoint::parse_file(*text, *key);
        if (!cps) {
            std::fprintf(stderr, "connguardctl audit: checkpoint file %s refused: %s\n", checkpoint_file.c_str(),
                         cps.err().message.c_str());
            return exit_refused;
        }
        checkpoints = std::move(*cps);
    }
    if (from_broker) {
        auto cp = fetch_retained_checkpoint(a.conn);
        if (!cp) {
            std::fprintf(stderr, "connguardctl audit: %s\n", cp.err().message.c_str());
            return exit_usage;
        }
        if (auto st = checkpoint::verify(*cp, *key); !st) {
            std::fprintf(stderr, "connguardctl audit: the checkpoint retained on %s refused: %s\n",
                         topics::audit_checkpoint().c_str(), st.err().message.c_str());
            return exit_refused;
        }
        checkpoints.push_back(std::move(*cp));
    }

    auto session = admin_session::open(a.conn);
    if (!session) {
        std::fprintf(stderr, "connguardctl audit: %s\n", session.err().message.c_str());
        return exit_usage;
    }
    v1::AdminResponse rsp;
    if (int rc = call_in("audit", **session, a.conn, req, rsp); rc != exit_ok) return rc;

    // The checkpoint comparison: the log's head from the verify answer, the hash of every entry a
    // checkpoint names (asked in batches that fit one answer), then the pure comparison.
    std::vector<std::string> problems;
    if (compare_checkpoints) {
        const auto& v = rsp.verification();
        if (v.entries() > 0 && v.head_seq() == 0) {
            std::fprintf(stderr, "connguardctl audit: the coordinator does not report the log's head (an older "
                                 "coordinator?); checkpoints cannot be compared\n");
            return exit_usage;
        }
        checkpoint::log_state log;
        log.head_seq = v.head_seq();
        log.head_hash = v.head_hash();
        const auto seqs = checkpoint::seqs_to_fetch(checkpoints, log.head_seq);
        constexpr std::size_t batch = 1000;
        for (std::size_t i = 0; i < seqs.size(); i += batch) {
            v1::AdminRequest hr;
            auto* hq = hr.mutable_query_audit();
            hq->set_after_seq(log.head_seq);  // no entries, only the hashes
            hq->set_limit(1);
            for (std::size_t j = i; j < seqs.size() && j < i + batch; ++j) hq->add_hash_at(seqs[j]);
            v1::AdminResponse hrsp;
            if (int rc = call_in("audit", **session, a.conn, hr, hrsp); rc != exit_ok) return rc;
            for (const auto& h : hrsp.audit_hashes()) log.hash_at[h.seq()] = h.hash();
        }
        problems = checkpoint::compare(checkpoints, log);
    }
    const v1::AuditCheckpoint* newest = nullptr;
    for (const auto& c : checkpoints)
        if (!newest || c.seq() > newest->seq()) newest = &c;

    if (a.conn.json) {
        if (!compare_checkpoints) {
            std::printf("%s\n", to_json(rsp).c_str());
        } else {
            nlohmann::json out;
            out["audit"] = nlohmann::json::parse(to_json(rsp));
            out["checkpoints"] = {{"ok", problems.empty()},
                                  {"compared", checkpoints.size()},
                                  {"newest_seq", newest ? newest->seq() : 0},
                                  {"key_id", key->key_id()},
                                  {"problems", problems}};
            std::printf("%s\n", out.dump().c_str());
        }
    } else {
        for (const auto& e : rsp.audit())
            std::printf("%6llu  %s  %-14s  %-26s  %-12s  %-36s  %s\n", static_cast<unsigned long long>(e.seq()),
                        when(e.at()).c_str(), e.actor().c_str(), e.action().c_str(), e.tenant().c_str(),
                        e.task_id().c_str(), e.detail().c_str());
        if (q->verify()) {
            const auto& v = rsp.verification();
            if (v.ok()) std::printf("audit chain intact: %llu entries verified\n", static_cast<unsigned long long>(v.entries()));
            else
                std::printf("AUDIT CHAIN BROKEN at entry %llu (of %llu checked)\n",
                            static_cast<unsigned long long>(v.first_bad_seq()), static_cast<unsigned long long>(v.entries()));
        }
        if (compare_checkpoints) {
            for (const auto& p : problems) std::printf("AUDIT LOG CONTRADICTS A SIGNED CHECKPOINT: %s\n", p.c_str());
            if (problems.empty() && newest)
                std::printf("audit log agrees with %zu signed checkpoint(s) (key %s); the newest anchors entry %llu "
                            "(%s, %s)\n",
                            checkpoints.size(), key->key_id().c_str(), static_cast<unsigned long long>(newest->seq()),
                            when(newest->at()).c_str(), newest->coordinator_id().c_str());
        }
    }
    if (!problems.empty()) {
        std::fprintf(stderr, "connguardctl audit: the log contradicts %s signed checkpoint(s): %s\n",
                     problems.size() == 1 ? "a" : "the", problems.front().c_str());
        return exit_refused;
    }
    if (q->verify() && !rsp.verification().ok()) return exit_refused;
    return exit_ok;
}

int run_alerts(int argc, char** argv) {
    static const char* usage =
        "usage: connguardctl alerts [--all] [--since TIME] [--tenant T] [--min-severity info|warning|critical]\n"
        "                           [--count N] [--json] [connection flags]\n"
        "       connguardctl alerts --follow [--tenant T] [--min-severity info|warning|critical] [--count N]\n"
        "                           [--json] [connection flags]\n\n"
        "Without --follow: lists the coordinator's active alerts, newest first (one line per cause).\n"
        "  --all          also the alerts that were resolved (history; each cause in its latest state)\n"
        "  --since TIME   only alerts raised or resolved since TIME: RFC 3339 (2026-05-01T08:00:00Z)\n"
        "                 or a duration back from now (30m, 12h, 7d)\n"
        "  --count N      at most N (default 1000)\n"
        "--follow: follows alerts as the coordinator publishes them (raised and resolved), until Ctrl-C or\n"
        "N alerts; works with an admin or an alert-subscriber identity. The list needs an admin identity.\n";
    parsed_args a;
    int code = 0;
    if (!prepare("alerts", argc, argv, usage, a, code)) return code;
    std::string tenant = "+", min = "info";
    long count = 0;
    bool follow = false, all = false;
    std::optional<google::protobuf::Timestamp> since;
    for (std::size_t i = 0; i < a.rest.size(); ++i) {
        const auto& x = a.rest[i];
        if (x == "--follow") {
            follow = true;
        } else if (x == "--all") {
            all = true;
        } else if (x == "--since" && i + 1 < a.rest.size()) {
            auto t = parse_since(a.rest[++i]);
            if (!t) return usage_error("alerts", t.err().message, usage);
            since = *t;
        } else if (x == "--tenant" && i + 1 < a.rest.size()) {
            tenant = a.rest[++i];
            if (!topics::valid_tenant_key(tenant)) return usage_error("alerts", "invalid tenant key '" + tenant + "'", usage);
        } else if (x == "--min-severity" && i + 1 < a.rest.size()) {
            min = a.rest[++i];
            if (min != "info" && min != "warning" && min != "critical")
                return usage_error("alerts", "--min-severity must be info, warning or critical", usage);
        } else if (x == "--count" && i + 1 < a.rest.size()) {
            count = std::strtol(a.rest[++i].c_str(), nullptr, 10);
            if (count < 1) return usage_error("alerts", "--count needs a positive number", usage);
        } else {
            return usage_error("alerts", "unexpected argument '" + x + "'", usage);
        }
    }
    if (follow && (all || since))
        return usage_error("alerts", "--all and --since list stored alerts; --follow shows new ones", usage);
    if (!follow) {
        v1::AdminRequest req;
        auto* q = req.mutable_list_alerts();
        q->set_include_resolved(all);
        if (since) *q->mutable_since() = *since;
        if (tenant != "+") q->set_tenant(tenant);
        q->set_min_severity(min == "critical" ? v1::SEVERITY_CRITICAL
                                              : min == "warning" ? v1::SEVERITY_WARNING : v1::SEVERITY_INFO);
        q->set_limit(static_cast<std::uint32_t>(count));
        v1::AdminResponse rsp;
        if (int rc = call("alerts", a.conn, req, rsp); rc != exit_ok) return rc;
        if (a.conn.json) {
            std::printf("%s\n", to_json(rsp).c_str());
            return exit_ok;
        }
        std::printf("%-24s  %-8s  %-8s  %-12s  %s\n", "WHEN", "SEVERITY", "STATE", "TENANT", "TITLE");
        for (const auto& r : rsp.alerts()) {
            const auto& al = r.alert();
            const bool resolved = al.state() == v1::ALERT_STATE_RESOLVED;
            std::printf("%-24s  %-8s  %-8s  %-12s  %s\n", when(resolved ? al.resolved_at() : al.raised_at()).c_str(),
                        to_lower(enum_word(v1::Severity_Name(al.severity()), "SEVERITY_")).c_str(), resolved ? "RESOLVED" : "RAISED",
                        r.tenant().c_str(), al.title().c_str());
        }
        if (rsp.alerts_size() == 0) std::printf("(no %s)\n", all ? "alerts" : "active alerts");
        // The coordinator cut a list too long for one message: say so rather than let it pass as all.
        if (!rsp.error_message().empty()) std::fprintf(stderr, "connguardctl alerts: %s\n", rsp.error_message().c_str());
        return exit_ok;
    }
    std::vector<std::string> filters;
    const std::vector<std::string> levels = {"info", "warning", "critical"};
    bool on = false;
    for (const auto& l : levels) {
        on = on || l == min;
        if (on) filters.push_back(std::string(topics::root) + "/alerts/" + l + "/" + tenant);
    }
    const bool json = a.conn.json;
    long seen = 0;
    if (!json) std::fprintf(stderr, "following alerts (%s and above%s); Ctrl-C to stop\n", min.c_str(),
                            tenant == "+" ? "" : (", tenant " + tenant).c_str());
    auto st = follow_alerts(a.conn, filters, [&](const std::string& topic, const v1::Alert& al) {
        const auto t = topics::parse(topic);
        if (json) {
            std::printf("{\"tenant\":\"%s\",\"alert\":%s}\n", t.tenant.c_str(), to_json(al).c_str());
        } else {
            const bool resolved = al.state() == v1::ALERT_STATE_RESOLVED;
            std::printf("%s  %-8s %-8s %-12s %s\n", when(resolved ? al.resolved_at() : al.raised_at()).c_str(),
                        t.severity.c_str(), resolved ? "RESOLVED" : "RAISED", t.tenant.c_str(), al.title().c_str());
            if (!al.detail().empty() && !resolved) std::printf("          %s\n", al.detail().c_str());
        }
        std::fflush(stdout);
        return count == 0 || ++seen < count;
    });
    if (!st) {
        std::fprintf(stderr, "connguardctl alerts: %s\n", st.err().message.c_str());
        return exit_usage;
    }
    return exit_ok;
}

int run_who(int argc, char** argv) {
    static const char* usage = "usage: connguardctl who [--json] [connection flags]\n\n"
                               "Lists the admin identities the coordinator is configured with and their roles:\n"
                               "viewer (reads), operator (reads, rejects), approver (reads, approves, rejects),\n"
                               "admin (an approver who also manages alert subscriptions: connguardctl webhook).\n"
                               "High-risk tasks need two different approvers.\n";
    parsed_args a;
    int code = 0;
    if (!prepare("who", argc, argv, usage, a, code)) return code;
    if (!a.rest.empty()) return usage_error("who", "unexpected argument '" + a.rest[0] + "'", usage);
    v1::AdminRequest req;
    req.mutable_list_admins();
    v1::AdminResponse rsp;
    if (int rc = call("who", a.conn, req, rsp); rc != exit_ok) return rc;
    if (a.conn.json) {
        std::printf("%s\n", to_json(rsp).c_str());
        return exit_ok;
    }
    std::printf("%-24s  %s\n", "ADMIN", "ROLE");
    for (const auto& x : rsp.admins())
        std::printf("%-24s  %s\n", x.name().c_str(),
                    to_lower(enum_word(v1::AdminRole_Name(x.role()), "ADMIN_ROLE_")).c_str());
    return exit_ok;
}

std::string admin_json(const google::protobuf::Message& m) { return to_json(m); }


// ---- exception registry ----

namespace {

const char* exception_usage =
    "usage: connguardctl exception list [--tenant K] [--json] [connection flags]\n"
    "       connguardctl exception add --tenant K --kind user|group|role|mfa-off|role-kept [--policy ID]\n"
    "                                  --object ID [--name UPN] --owner WHO --reason TEXT [--ticket T]\n"
    "                                  --expires YYYY-MM-DD [--json] [connection flags]\n"
    "       connguardctl exception remove ID [--reason TEXT] [connection flags]\n"
    "       connguardctl exception export [FILE] [connection flags]\n"
    "       connguardctl exception import FILE [connection flags]\n"
    "       connguardctl exception adopt --tenant K|--all --owner WHO --reason TEXT [--ticket T]\n"
    "                                    --expires YYYY-MM-DD [--json] [connection flags]\n\n"
    "The exception registry: what is intentionally excluded from a CA policy (user, group, role; --policy\n"
    "required), holds per-user MFA off (mfa-off) or keeps a role (role-kept) in a tenant, with owner,\n"
    "reason, ticket and expiry. A registered exclusion that disappears raises EXCEPTION_REMOVED (and a\n"
    "restore task for a user); an exclusion nobody registered raises UNREGISTERED_EXCLUSION: one info\n"
    "alert per tenant for those that existed when ConnGuard started watching it (its onboarding set),\n"
    "a warning of its own for each one that appeared since.\n"
    "adopt registers, in one request, every exclusion of the tenant's latest report (--all: of every\n"
    "tenant) that no exception covers, with this owner, reason, ticket and expiry (source \"adopt\").\n"
    "add with the key (tenant, kind, policy, object) of an existing exception renews it (same id).\n"
    "--object: the user / group object id, or the role template id (role, role-kept); --name: the\n"
    "user's UPN (a restore task needs it; exceptions of the connection account have it).\n"
    "export writes {\"exceptions\":[...]} (stdout without FILE); import takes that file whole: one bad\n"
    "entry refuses all of it (FILE: entry N: field 'x': reason). list/export: any admin role;\n"
    "add/remove/import/adopt: approvers. Every change is audited.\n";

void print_exceptions(const v1::AdminResponse& rsp) {
    std::printf("%-36s  %-12s  %-9s  %-36s  %-36s  %-14s  %-10s  %-10s  %s\n", "ID", "TENANT", "KIND", "POLICY", "OBJECT",
                "OWNER", "TICKET", "EXPIRES", "SOURCE");
    for (const auto& x : rsp.exceptions()) {
        const auto r = exceptions::from_proto(x);
        std::printf("%-36s  %-12s  %-9s  %-36s  %-36s  %-14s  %-10s  %-10s  %s\n", r.id.c_str(), r.tenant.c_str(),
                    exceptions::kind_word(r.what).c_str(), r.policy_id.empty() ? "-" : r.policy_id.c_str(),
                    (r.object_name.empty() ? r.object_id : r.object_name).c_str(), r.owner.c_str(),
                    r.ticket.empty() ? "-" : r.ticket.c_str(), exceptions::date_of(r.expires_ms).c_str(), r.source.c_str());
    }
}

}  // namespace

int run_exception(int argc, char** argv) {
    parsed_args a;
    int code = 0;
    if (!prepare("exception", argc, argv, exception_usage, a, code)) return code;
    if (a.rest.empty()) return usage_error("exception", "expected list, add, remove, export, import or adopt", exception_usage);
    const std::string verb = a.rest[0];
    const std::vector<std::string> args(a.rest.begin() + 1, a.rest.end());
    v1::AdminRequest req;
    v1::AdminResponse rsp;
    if (verb == "list" || verb == "export") {
        auto* q = req.mutable_list_exceptions();
        std::string file;
        for (std::size_t i = 0; i < args.size(); ++i) {
            if (verb == "list" && args[i] == "--tenant" && i + 1 < args.size()) q->set_tenant(args[++i]);
            else if (verb == "export" && file.empty() && args[i].rfind("--", 0) != 0) file = args[i];
            else return usage_error("exception", verb + ": unexpected argument '" + args[i] + "'", exception_usage);
        }
        if (int rc = call("exception", a.conn, req, rsp); rc != exit_ok) return rc;
        if (verb == "list") {
            if (a.conn.json) std::printf("%s\n", to_json(rsp).c_str());
            else print_exceptions(rsp);
            return exit_ok;
        }
        if (!rsp.error_message().empty()) {  // cut to fit one message: an export must be whole
            std::fprintf(stderr, "connguardctl exception export: %s; nothing written\n", rsp.error_message().c_str());
            return exit_refused;
        }
        std::vector<exceptions::record> all;
        for (const auto& x : rsp.exceptions()) all.push_back(exceptions::from_proto(x));
        const std::string text = exceptions::to_json(all) + "\n";
        if (file.empty()) {
            std::fputs(text.c_str(), stdout);
            return exit_ok;
        }
        if (auto st = write_file_atomic(file, text); !st) {
            std::fprintf(stderr, "connguardctl exception export: %s\n", st.err().message.c_str());
            return exit_refused;
        }
        std::fprintf(stderr, "connguardctl exception export: %d exception(s) written to %s\n", rsp.exceptions_size(),
                     file.c_str());
        return exit_ok;
    }
    if (verb == "add") {
        auto* x = req.mutable_add_exception()->mutable_exception();
        std::string expires;
        for (std::size_t i = 0; i < args.size(); ++i) {
            const std::string& f = args[i];
            if (i + 1 >= args.size())
                return usage_error("exception", "add: unexpected argument '" + f + "' (or its value is missing)", exception_usage);
            const std::string& v = args[++i];
            if (f == "--tenant") x->set_tenant(v);
            else if (f == "--kind") {
                const auto k = exceptions::parse_kind(v);
                if (!k) return usage_error("exception", "add: --kind '" + v + "': expected user, group, role, mfa-off or role-kept", exception_usage);
                x->set_kind(exceptions::wire_kind(*k));
            } else if (f == "--policy") x->set_policy_id(v);
            else if (f == "--object") x->set_object_id(v);
            else if (f == "--name") x->set_object_name(v);
            else if (f == "--owner") x->set_owner(v);
            else if (f == "--reason") x->set_reason(v);
            else if (f == "--ticket") x->set_ticket(v);
            else if (f == "--expires") expires = v;
            else return usage_error("exception", "add: unexpected argument '" + f + "'", exception_usage);
        }
        if (x->kind() == v1::EXCEPTION_KIND_UNSPECIFIED) return usage_error("exception", "add: --kind is required", exception_usage);
        if (expires.empty()) return usage_error("exception", "add: --expires YYYY-MM-DD is required (every exception expires)", exception_usage);
        const auto ms = exceptions::parse_expiry(expires);
        if (!ms) return usage_error("exception", "add: --expires '" + expires + "': expected YYYY-MM-DD", exception_usage);
        *x->mutable_expires_at() = TimeUtil::MillisecondsToTimestamp(*ms);
        const auto problems = exceptions::validate(exceptions::from_proto(*x), TimeUtil::TimestampToMilliseconds(TimeUtil::GetCurrentTime()));
        if (!problems.empty()) {
            std::string m;
            for (const auto& p : problems) m += (m.empty() ? "" : "; ") + p;
            return usage_error("exception", "add: " + m, exception_usage);
        }
    } else if (verb == "remove") {
        auto* q = req.mutable_remove_exception();
        for (std::size_t i = 0; i < args.size(); ++i) {
            if (args[i] == "--reason" && i + 1 < args.size()) q->set_reason(args[++i]);
            else if (q->id().empty() && args[i].rfind("--", 0) != 0) q->set_id(args[i]);
            else return usage_error("exception", "remove: unexpected argument '" + args[i] + "'", exception_usage);
        }
        if (q->id().empty()) return usage_error("exception", "remove: expected the exception's ID", exception_usage);
    } else if (verb == "import") {
        if (args.size() != 1) return usage_error("exception", "import: expected exactly one FILE", exception_usage);
        auto text = read_file(args[0]);
        if (!text) {
            std::fprintf(stderr, "connguardctl exception import: %s\n", text.err().message.c_str());
            return exit_usage;
        }
        // The same validation as the coordinator's, before anything is sent: a bad file is bad input.
        auto parsed = exceptions::from_json(*text, args[0], TimeUtil::TimestampToMilliseconds(TimeUtil::GetCurrentTime()));
        if (!parsed) {
            std::fprintf(stderr, "connguardctl exception import: refused:\n%s\n", parsed.err().message.c_str());
            return exit_usage;
        }
        req.mutable_import_exceptions()->set_json(*text);
        req.mutable_import_exceptions()->set_source(args[0]);
    } else if (verb == "adopt") {
        auto* q = req.mutable_adopt_exceptions();
        std::string expires;
        for (std::size_t i = 0; i < args.size(); ++i) {
            const std::string& f = args[i];
            if (f == "--all") {
                q->set_all(true);
                continue;
            }
            if (i + 1 >= args.size())
                return usage_error("exception", "adopt: unexpected argument '" + f + "' (or its value is missing)", exception_usage);
            const std::string& v = args[++i];
            if (f == "--tenant") q->set_tenant(v);
            else if (f == "--owner") q->set_owner(v);
            else if (f == "--reason") q->set_reason(v);
            else if (f == "--ticket") q->set_ticket(v);
            else if (f == "--expires") expires = v;
            else return usage_error("exception", "adopt: unexpected argument '" + f + "'", exception_usage);
        }
        if (q->all() == !q->tenant().empty())
            return usage_error("exception", "adopt: give exactly one of --tenant K or --all", exception_usage);
        if (q->owner().empty()) return usage_error("exception", "adopt: --owner is required (who answers for them)", exception_usage);
        if (q->reason().empty()) return usage_error("exception", "adopt: --reason is required", exception_usage);
        if (expires.empty()) return usage_error("exception", "adopt: --expires YYYY-MM-DD is required (every exception expires)", exception_usage);
        const auto ms = exceptions::parse_expiry(expires);
        if (!ms) return usage_error("exception", "adopt: --expires '" + expires + "': expected YYYY-MM-DD", exception_usage);
        if (*ms <= TimeUtil::TimestampToMilliseconds(TimeUtil::GetCurrentTime()))
            return usage_error("exception", "adopt: --expires " + expires + " is in the past", exception_usage);
        *q->mutable_expires_at() = TimeUtil::MillisecondsToTimestamp(*ms);
    } else {
        return usage_error("exception", "unknown subcommand '" + verb + "'", exception_usage);
    }
    if (int rc = call("exception", a.conn, req, rsp); rc != exit_ok) return rc;
    if (a.conn.json) {
        std::printf("%s\n", to_json(rsp).c_str());
        return exit_ok;
    }
    if (verb == "remove") std::printf("removed exception %s\n", req.remove_exception().id().c_str());
    else if (verb == "import") std::printf("imported %d exception(s) from %s\n", rsp.exceptions_size(), args[0].c_str());
    else if (verb == "adopt")
        std::printf("adopted %d exclusion(s) as exceptions%s\n", rsp.exceptions_size(),
                    rsp.exceptions_size() == 0 ? " (every exclusion was registered already)" : "");
    print_exceptions(rsp);
    return exit_ok;
}

}  // namespace connguard::ctl

// ---- alert subscriptions (webhooks) ----

namespace connguard::ctl {

namespace {

const char* webhook_usage =
    "usage: connguardctl webhook list [--json] [connection flags]\n"
    "       connguardctl webhook add --name NAME --url URL [--format generic|teams|slack]\n"
    "                                [--min-severity info|warning|critical] [--tenant K]... [--json] [connection flags]\n"
    "       connguardctl webhook remove ID [--json] [connection flags]\n"
    "       connguardctl webhook test ID [--json] [connection flags]\n\n"
    "Alert subscriptions: where the coordinator POSTs alerts. Those of the configuration file\n"
    "(alerts.webhooks, id config:NAME) are read-only here; those added here are stored in the\n"
    "coordinator's database and apply at once, without a restart. --tenant (repeatable) limits a\n"
    "subscription to those tenants (default: every tenant); --min-severity defaults to warning,\n"
    "--format to generic. The URL must be https (http only to a loopback host). test queues one\n"
    "sample alert (\"ConnGuard test alert\") to that subscription only.\n"
    "list: any admin role (the URL is shown whole to admins only, otherwise scheme://host);\n"
    "add/remove/test: the admin role. Every change is audited, the URL as scheme://host only.\n";

void print_webhooks(const v1::AdminResponse& rsp) {
    std::printf("%-36s  %-20s  %-8s  %-8s  %-7s  %-20s  %s\n", "ID", "NAME", "FORMAT", "MIN", "SOURCE", "TENANTS", "URL");
    for (const auto& w : rsp.webhooks()) {
        std::string tenants;
        for (const auto& t : w.tenants()) tenants += (tenants.empty() ? "" : ",") + t;
        std::printf("%-36s  %-20s  %-8s  %-8s  %-7s  %-20s  %s\n", w.id().c_str(), w.name().c_str(),
                    to_lower(enum_word(v1::WebhookFormat_Name(w.format()), "WEBHOOK_FORMAT_")).c_str(),
                    to_lower(enum_word(v1::Severity_Name(w.min_severity()), "SEVERITY_")).c_str(),
                    w.from_config() ? "config" : "runtime", tenants.empty() ? "(all)" : tenants.c_str(), w.url().c_str());
    }
}

}  // namespace

int run_webhook(int argc, char** argv) {
    parsed_args a;
    int code = 0;
    if (!prepare("webhook", argc, argv, webhook_usage, a, code)) return code;
    if (a.rest.empty()) return usage_error("webhook", "expected list, add, remove or test", webhook_usage);
    const std::string verb = a.rest[0];
    const std::vector<std::string> args(a.rest.begin() + 1, a.rest.end());
    v1::AdminRequest req;
    if (verb == "list") {
        if (!args.empty()) return usage_error("webhook", "list: unexpected argument '" + args[0] + "'", webhook_usage);
        req.mutable_list_webhooks();
    } else if (verb == "add") {
        auto* w = req.mutable_put_webhook()->mutable_subscription();
        w->set_format(v1::WEBHOOK_FORMAT_GENERIC);
        w->set_min_severity(v1::SEVERITY_WARNING);
        for (std::size_t i = 0; i < args.size(); ++i) {
            const std::string& f = args[i];
            if (i + 1 >= args.size())
                return usage_error("webhook", "add: unexpected argument '" + f + "' (or its value is missing)", webhook_usage);
            const std::string& v = args[++i];
            if (f == "--name") w->set_name(v);
            else if (f == "--url") w->set_url(v);
            else if (f == "--tenant") w->add_tenants(v);
            else if (f == "--format") {
                if (v == "generic") w->set_format(v1::WEBHOOK_FORMAT_GENERIC);
                else if (v == "teams") w->set_format(v1::WEBHOOK_FORMAT_TEAMS);
                else if (v == "slack") w->set_format(v1::WEBHOOK_FORMAT_SLACK);
                else return usage_error("webhook", "add: --format '" + v + "': expected generic, teams or slack", webhook_usage);
            } else if (f == "--min-severity") {
                if (v == "info") w->set_min_severity(v1::SEVERITY_INFO);
                else if (v == "warning") w->set_min_severity(v1::SEVERITY_WARNING);
                else if (v == "critical") w->set_min_severity(v1::SEVERITY_CRITICAL);
                else return usage_error("webhook", "add: --min-severity '" + v + "': expected info, warning or critical", webhook_usage);
            } else {
                return usage_error("webhook", "add: unexpected argument '" + f + "'", webhook_usage);
            }
        }
        if (w->name().empty()) return usage_error("webhook", "add: --name is required", webhook_usage);
        if (w->url().empty()) return usage_error("webhook", "add: --url is required", webhook_usage);
    } else if (verb == "remove" || verb == "test") {
        if (args.size() != 1 || args[0].rfind("--", 0) == 0)
            return usage_error("webhook", verb + ": expected the subscription's ID", webhook_usage);
        if (verb == "remove") req.mutable_remove_webhook()->set_id(args[0]);
        else req.mutable_test_webhook()->set_id(args[0]);
    } else {
        return usage_error("webhook", "unknown subcommand '" + verb + "'", webhook_usage);
    }
    v1::AdminResponse rsp;
    if (int rc = call("webhook", a.conn, req, rsp); rc != exit_ok) return rc;
    if (a.conn.json) {
        std::printf("%s\n", to_json(rsp).c_str());
        return exit_ok;
    }
    if (verb == "add") std::printf("added alert subscription %s\n", rsp.webhooks_size() ? rsp.webhooks(0).id().c_str() : "");
    else if (verb == "remove") std::printf("removed alert subscription %s\n", args[0].c_str());
    else if (verb == "test") std::printf("queued a test alert to %s\n", args[0].c_str());
    print_webhooks(rsp);
    return exit_ok;
}

}  // namespace connguard::ctl
