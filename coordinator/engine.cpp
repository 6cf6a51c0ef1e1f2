#include "coordinator/engine.h"

#include <algorithm>
#include <set>
#include <string_view>

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include "common/envelope_codec.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/text.h"
#include "common/topics.h"
#include "coordinator/impact.h"

namespace connguard::coord {

namespace {

using google::protobuf::util::TimeUtil;

// Propagates an error status out of a function returning status or result<T>.
#define CG_TRY(expr)                          \
    do {                                      \
        if (auto cg_st_ = (expr); !cg_st_)    \
            return cg_st_.err();              \
    } while (false)

std::int64_t ts(const google::protobuf::Timestamp& t) { return TimeUtil::TimestampToMilliseconds(t); }

std::string actor_of_agent(const std::string& tenant) { return "agent:" + tenant; }

// QueryAuditRequest.hash_at per request: ~75 bytes each, so 2048 stay far below one message.
constexpr int max_hash_at = 2048;

/// An id the sender chose, made safe for one log line: control characters become '?' (no forged
/// log lines) and the text is cut at `max` bytes.
std::string printable(std::string_view text, std::size_t max = 100) {
    std::string out(text.substr(0, max));
    for (auto& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    if (text.size() > max) out += "...";
    return out;
}

/// How an admin request came, for the end of its audit entries: "via cli" or "via console by UPN
/// (oid OID) from IP".
std::string via_text(const principal& p) {
    if (p.via == channel::cli) return "via cli";
    std::string t = "via console by " + printable(p.upn.empty() ? p.name : p.upn);
    if (!p.object_id.empty()) t += " (oid " + printable(p.object_id) + ")";
    if (!p.ip.empty()) t += " from " + printable(p.ip);
    return t;
}

/// What an admin request was about, for its audit entry: a refused request must name its target
/// (task, tenant, filter), not only the refusal, so the log says what someone tried to do.
struct request_target {
    std::string tenant;
    std::string task_id;
    std::string text;  ///< e.g. "approve task T plan v2", "list tasks of tenant contoso"
};

v1::WebhookFormat wire_format(webhook_format f) {
    switch (f) {
        case webhook_format::teams: return v1::WEBHOOK_FORMAT_TEAMS;
        case webhook_format::slack: return v1::WEBHOOK_FORMAT_SLACK;
        case webhook_format::generic: break;
    }
    return v1::WEBHOOK_FORMAT_GENERIC;
}

webhook_format format_of(v1::WebhookFormat f) {
    switch (f) {
        case v1::WEBHOOK_FORMAT_TEAMS: return webhook_format::teams;
        case v1::WEBHOOK_FORMAT_SLACK: return webhook_format::slack;
        default: return webhook_format::generic;
    }
}

/// The webhook_outbox sink of a runtime subscription (stable across renames; removal drops its
/// pending deliveries by it).
std::string runtime_sink(const v1::WebhookSubscription& w) { return "subscription:" + w.id(); }

/// One subscription for the audit log and logs: never the URL's path.
std::string describe(const v1::WebhookSubscription& w) {
    std::string tenants;
    for (const auto& t : w.tenants()) tenants += (tenants.empty() ? "" : ",") + t;
    return "subscription " + w.id() + " '" + printable(w.name()) + "' to " + url_origin(w.url()) + " (" +
           to_lower(enum_word(v1::WebhookFormat_Name(w.format()), "WEBHOOK_FORMAT_")) + ", " +
           severity_name(w.min_severity()) + " and above, tenants " + (tenants.empty() ? std::string("all") : tenants) + ")";
}

request_target target_of(const v1::AdminRequest& req) {
    request_target t;
    switch (req.op_case()) {
        case v1::AdminRequest::kListTenants: t.text = "list tenants"; break;
        case v1::AdminRequest::kListTasks:
            t.tenant = req.list_tasks().tenant();
            t.text = "list tasks";
            if (req.list_tasks().state() != v1::TASK_STATE_UNSPECIFIED)
                t.text += " in state " + enum_word(v1::TaskState_Name(req.list_tasks().state()), "TASK_STATE_");
            break;
        case v1::AdminRequest::kShowTask:
            t.task_id = req.show_task().task_id();
            t.text = "show task " + printable(t.task_id);
            break;
        case v1::AdminRequest::kApprove:
            t.task_id = req.approve().task_id();
            t.text = "approve task " + printable(t.task_id) + " plan v" + std::to_string(req.approve().plan_version());
            break;
        case v1::AdminRequest::kReject:
            t.task_id = req.reject().task_id();
            t.text = "reject task " + printable(t.task_id);
            break;
        case v1::AdminRequest::kQueryAudit:
            t.task_id = req.query_audit().task_id();
            t.text = "query audit";
            if (!t.task_id.empty()) t.text += " of task " + printable(t.task_id);
            break;
        case v1::AdminRequest::kListAlerts:
            t.tenant = req.list_alerts().tenant();
            t.text = req.list_alerts().include_resolved() ? "list alerts with history" : "list active alerts";
            break;
        case v1::AdminRequest::kListAdmins: t.text = "list admins"; break;
        case v1::AdminRequest::kImpact:
            t.text = "impact of the draft " + printable(req.impact().policy_source().empty() ? std::string("(unnamed)")
                                                                                             : req.impact().policy_source());
            if (req.impact().tenants_size() == 1) t.tenant = req.impact().tenants(0);
            break;
        case v1::AdminRequest::kAddException: {
            const auto& x = req.add_exception().exception();
            t.tenant = x.tenant();
            t.text = "add exception " + enum_word(v1::ExceptionKind_Name(x.kind()), "EXCEPTION_KIND_") + " " +
                     printable(x.object_id()) + (x.policy_id().empty() ? std::string() : " in policy " + printable(x.policy_id()));
            break;
        }
        case v1::AdminRequest::kListExceptions:
            t.tenant = req.list_exceptions().tenant();
            t.text = "list exceptions";
            break;
        case v1::AdminRequest::kRemoveException: t.text = "remove exception " + printable(req.remove_exception().id()); break;
        case v1::AdminRequest::kImportExceptions:
            t.text = "import exceptions from " + printable(req.import_exceptions().source().empty()
                                                              ? std::string("(unnamed file)")
                                                              : req.import_exceptions().source());
            break;
        case v1::AdminRequest::kAdoptExceptions:
            t.tenant = req.adopt_exceptions().tenant();
            t.text = req.adopt_exceptions().all() ? "adopt the unregistered exclusions of every tenant"
                                                   : "adopt the unregistered exclusions";
            break;
        case v1::AdminRequest::kShowTenant:
            t.tenant = req.show_tenant().tenant();
            t.text = "show tenant";
            break;
        case v1::AdminRequest::kListWebhooks: t.text = "list alert subscriptions"; break;
        case v1::AdminRequest::kPutWebhook:
            t.text = (req.put_webhook().subscription().id().empty() ? "add alert subscription '"
                                                                     : "change alert subscription '") +
                     printable(req.put_webhook().subscription().name()) + "' to " +
                     url_origin(req.put_webhook().subscription().url());
            break;
        case v1::AdminRequest::kRemoveWebhook: t.text = "remove alert subscription " + printable(req.remove_webhook().id()); break;
        case v1::AdminRequest::kTestWebhook: t.text = "test alert subscription " + printable(req.test_webhook().id()); break;
        default: t.text = "request without an operation"; break;
    }
    if (!t.tenant.empty()) t.text += " of tenant " + printable(t.tenant);
    return t;
}

v1::AdminRole wire_role(role r) {
    switch (r) {
        case role::viewer: return v1::ADMIN_ROLE_VIEWER;
        case role::operator_: return v1::ADMIN_ROLE_OPERATOR;
        case role::approver: return v1::ADMIN_ROLE_APPROVER;
        case role::admin: return v1::ADMIN_ROLE_ADMIN;
        default: return v1::ADMIN_ROLE_UNSPECIFIED;
    }
}

}  // namespace

engine::engine(store& db, const clock& clk, engine_settings settings)
    : db_(db), clk_(clk), s_(std::move(settings)), started_ms_(to_unix_ms(clk.now())) {}

result<ingest_outcome> engine::handle(const std::string& topic, const v1::Envelope& env, const std::string& raw,
                                      const std::string& correlation) {
    const std::int64_t now = to_unix_ms(clk_.now());
    const auto t = topics::parse(topic);
    auto seen = db_.mark_seen(env.id(), env.tenant(), topic, now);
    if (!seen) return seen.err();
    if (!*seen) {
        ++stats_.duplicates;
        return ingest_outcome::duplicate;
    }
    result<ingest_outcome> out = ingest_outcome::ignored;
    switch (env.body_case()) {
        case v1::Envelope::kValidationReport: out = on_report(env, now); break;
        case v1::Envelope::kChangeEvent: out = on_change(env, raw, now); break;
        case v1::Envelope::kAgentStatus: out = on_agent(env, raw, now); break;
        case v1::Envelope::kCommandResult: out = on_result(env, raw, now); break;
        case v1::Envelope::kAdminRequest:
            if (t.what != topics::parsed::kind::admin_request) return ingest_outcome::ignored;
            CG_TRY(on_admin(t.admin, env, correlation, now));
            out = ingest_outcome::stored;
            break;
        default:
            return ingest_outcome::ignored;  // coordinator-produced bodies are not ingested
    }
    if (out && *out == ingest_outcome::stored) ++stats_.stored;
    return out;
}

// ---- tenant messages ----

result<ingest_outcome> engine::on_report(const v1::Envelope& env, std::int64_t now) {
    const auto& tenant = env.tenant();
    const auto& r = env.validation_report();
    CG_TRY(db_.touch_agent(tenant, now));
    auto prev = db_.posture(tenant);
    if (!prev) return prev.err();
    if (*prev && (*prev)->cycle > r.cycle()) {
        ++stats_.stale_reports;  // an older cycle arriving late (shared subscriptions reorder)
        spdlog::info("tenant {}: report of cycle {} is older than the stored cycle {}; kept out of the posture",
                     tenant, r.cycle(), (*prev)->cycle);
        return ingest_outcome::stored;
    }
    posture_row p;
    p.tenant = tenant;
    p.envelope_id = env.id();
    p.cycle = r.cycle();
    p.report = r;
    p.received_ms = now;
    p.collected_ms = r.has_collected_at() ? ts(r.collected_at()) : (env.has_time() ? ts(env.time()) : now);
    CG_TRY(db_.put_posture(p));
    record_change(v1::ConsoleChange::KIND_REPORT, tenant);
    // The first report with complete exclusion facts records what was already excluded when
    // ConnGuard started watching (the onboarding set): a review item, not an incident.
    if (auto keys = exceptions::onboarding_keys(tenant, r)) {
        auto recorded = db_.record_onboarding(tenant, *keys, now, env.id());
        if (!recorded) return recorded.err();
        if (*recorded)
            spdlog::info("tenant {}: onboarding set recorded ({} exclusions already present)", tenant, keys->size());
    }

    auto build = plans_from_report(r);
    for (const auto& pr : build.problems) spdlog::warn("tenant {}: {}", tenant, pr.message);
    auto tasks = db_.tasks_of_tenant(tenant);
    if (!tasks) return tasks.err();
    auto registry = registry_decisions(tenant, &r, now);
    if (!registry) return registry.err();
    exceptions::merge_into(build, *registry, *tasks);
    CG_TRY(apply_actions(tenant, reconcile_tasks(build, *tasks, p.collected_ms, r.cycle()), now));
    CG_TRY(reconcile_alerts(tenant, now));
    return ingest_outcome::stored;
}

result<ingest_outcome> engine::on_change(const v1::Envelope& env, const std::string& raw, std::int64_t now) {
    const auto& tenant = env.tenant();
    const auto& e = env.change_event();
    CG_TRY(db_.insert_event(env.id(), tenant, "change_event", v1::ChangeKind_Name(e.kind()), e.subject_id(),
                            env.has_time() ? ts(env.time()) : now, now, raw));
    CG_TRY(db_.touch_agent(tenant, now));
    record_change(v1::ConsoleChange::KIND_CHANGE_EVENT, tenant);
    // Only waiting tasks can be settled by an event (actions_for_event): reading all of the tenant's
    // tasks made every event cost O(task history) — 1 ms per event after 300 closed tasks.
    auto tasks = db_.waiting_tasks_of_tenant(tenant);
    if (!tasks) return tasks.err();
    const auto actions = actions_for_event(e, *tasks);
    if (!actions.empty()) {
        CG_TRY(apply_actions(tenant, actions, now));
        CG_TRY(reconcile_alerts(tenant, now));
    }
    return ingest_outcome::stored;
}

result<ingest_outcome> engine::on_agent(const v1::Envelope& env, const std::string& raw, std::int64_t now) {
    const auto& tenant = env.tenant();
    const auto& a = env.agent_status();
    CG_TRY(db_.insert_event(env.id(), tenant, "agent_status", v1::AgentState_Name(a.state()), "",
                            env.has_time() ? ts(env.time()) : now, now, raw));
    auto prev = db_.agent(tenant);
    if (!prev) return prev.err();
    // The Last Will and the offline status carry no interval: the last one the agent told stays.
    const std::int64_t poll_ms = a.poll_interval_seconds() > 0 ? std::int64_t{a.poll_interval_seconds()} * 1000
                                 : *prev                       ? (*prev)->poll_interval_ms
                                                               : 0;
    agent_row row{tenant, a.state(), a.reason(), now, poll_ms};
    CG_TRY(db_.put_agent(row));
    record_change(v1::ConsoleChange::KIND_REPORT, tenant);
    CG_TRY(reconcile_alerts(tenant, now));
    return ingest_outcome::stored;
}

result<ingest_outcome> engine::on_result(const v1::Envelope& env, const std::string& raw, std::int64_t now) {
    const auto& tenant = env.tenant();
    const auto& r = env.command_result();
    // Every check comes before any write: the result's outcome is recorded only together with the
    // transition it causes, so a refused result cannot leave a dispatch record that contradicts
    // its task (a SUCCEEDED command row under a task still DISPATCHED).
    auto t = db_.task_by_id(r.task_id());
    if (!t) return t.err();
    if (!*t || (*t)->view.tenant() != tenant) {
        // An agent can only publish under its own tenant (broker ACL); a result naming another
        // tenant's task (or no task) is forged or misrouted.
        ++stats_.forged;
        CG_TRY(refuse_result(tenant, r, "command result for a task this tenant does not own", now));
        return ingest_outcome::ignored;
    }
    const std::string detail = log::redact(r.detail());
    // The task machine checks the state (DISPATCHED) and that the command id is the one this very
    // task waits for: a result naming task M with task H's command id is refused here.
    const auto tr = coord::apply(**t, ev::result{r.command_id(), r.outcome(), detail, now});
    if (!tr.ok) {
        ++stats_.refusals;
        CG_TRY(refuse_result(tenant, r, tr.refused.code + ": " + tr.refused.message, now));
        return ingest_outcome::ignored;
    }
    // Accepted: the raw result, the command's outcome and the transition land in the caller's one
    // transaction; the command row is matched on tenant, task id and command id.
    CG_TRY(db_.insert_event(env.id(), tenant, "command_result", v1::CommandOutcome_Name(r.outcome()), r.task_id(),
                            env.has_time() ? ts(env.time()) : now, now, raw));
    CG_TRY(db_.touch_agent(tenant, now));
    CG_TRY(db_.record_command_result(tenant, r.task_id(), r.command_id(), r.outcome(), detail, now));
    CG_TRY(commit_transition(tr, actor_of_agent(tenant), now));
    if (tr.after.view.state() == v1::TASK_STATE_SUCCEEDED) CG_TRY(register_from_task(tr.after, now));
    CG_TRY(reconcile_alerts(tenant, now));
    return ingest_outcome::stored;
}

// ---- exception registry ----

result<exceptions::decisions> engine::registry_decisions(const std::string& tenant, const v1::ValidationReport* report,
                                                         std::int64_t now) {
    auto registered = db_.exceptions_of(tenant);
    if (!registered) return registered.err();
    auto onboarded = db_.onboarding_of(tenant);
    if (!onboarded) return onboarded.err();
    exceptions::settings es;
    es.warning_ms = s_.exception_warning_ms;
    return exceptions::reconcile(tenant, *registered, report, now, es, *onboarded);
}

status engine::reconcile_tenant(const std::string& tenant, std::int64_t now) {
    auto posture = db_.posture(tenant);
    if (!posture) return posture.err();
    auto tasks = db_.tasks_of_tenant(tenant);
    if (!tasks) return tasks.err();
    plan_build build;
    std::int64_t collected = 0;
    std::uint64_t cycle = 0;
    const v1::ValidationReport* report = nullptr;
    if (*posture) {
        report = &(*posture)->report;
        build = plans_from_report(*report);
        collected = (*posture)->collected_ms;
        cycle = (*posture)->cycle;
    }
    auto registry = registry_decisions(tenant, report, now);
    if (!registry) return registry.err();
    exceptions::merge_into(build, *registry, *tasks);
    CG_TRY(apply_actions(tenant, reconcile_tasks(build, *tasks, collected, cycle), now));
    return reconcile_alerts(tenant, now);
}

status engine::register_from_task(const task& t, std::int64_t now) {
    auto r = exceptions::from_succeeded_task(t, now, s_.exception_validity_ms);
    if (!r) return {};
    auto existing = db_.exception_by_key(*r);
    if (!existing) return existing.err();
    if (*existing) {
        // A restore (or a repeat) of a registered exclusion: the exception stands as registered.
        return audit(now, "coordinator", "exception.confirmed", t.view.tenant(), t.view.task_id(),
                     "exception " + (*existing)->id + " (" + exceptions::kind_word(r->what) + " " + r->object_id +
                         (r->policy_id.empty() ? std::string() : " in policy " + r->policy_id) +
                         ") holds again after task " + t.view.task_id());
    }
    CG_TRY(db_.put_exception(*r));
    spdlog::info("tenant {}: exception {} registered by task {} (owner {})", t.view.tenant(), r->id, t.view.task_id(),
                 r->owner);
    return audit(now, "coordinator", "exception.created", t.view.tenant(), t.view.task_id(),
                 "exception " + r->id + ": " + exceptions::kind_word(r->what) + " " + r->object_id +
                     (r->policy_id.empty() ? std::string() : " excluded from policy " + r->policy_id) + ", owner " +
                     r->owner + ", expires " + exceptions::date_of(r->expires_ms) + " (approved task " +
                     t.view.task_id() + ")");
}

status engine::refuse_result(const std::string& tenant, const v1::CommandResult& r, const std::string& why,
                             std::int64_t now) {
    // A refused result writes its audit entry and nothing else (no event row, no command row, no
    // agent liveness): whatever it claims must not count anywhere. Its detail text stays out of the
    // log and the audit: it is the sender's free text and may carry anything.
    ++stats_.results_refused;
    const std::string outcome = enum_word(v1::CommandOutcome_Name(r.outcome()), "COMMAND_OUTCOME_");
    spdlog::warn("tenant {}: command result refused (task '{}', command '{}', outcome {}): {}", tenant,
                 printable(r.task_id()), printable(r.command_id()), outcome, printable(why, 300));
    return audit(now, actor_of_agent(tenant), "result.refused", tenant, r.task_id(),
                 why + " (command " + r.command_id() + ", claimed " + outcome + "); nothing recorded");
}

// ---- tasks ----

status engine::apply_actions(const std::string& tenant, const std::vector<task_action>& actions, std::int64_t now) {
    for (const auto& a : actions) {
        if (a.what == task_action::kind::create) {
            CG_TRY(create_task(tenant, a.remediation, a.why, now));
            continue;
        }
        auto t = db_.task_by_id(a.task_id);
        if (!t) return t.err();
        if (!*t) continue;
        task_event e = ev::supersede{a.why, now};
        switch (a.what) {
            case task_action::kind::replan:
                e = ev::replan{a.remediation.plan, a.why, now, now + s_.task_ttl_ms};
                break;
            case task_action::kind::verify: e = ev::verified{now}; break;
            case task_action::kind::reopen:
                e = ev::still_failing{a.remediation.plan, now, now + s_.task_ttl_ms};
                break;
            default: break;
        }
        const auto tr = coord::apply(**t, e);
        if (!tr.ok) {
            spdlog::warn("tenant {}: task {}: {} refused: {}", tenant, a.task_id, event_name(e), tr.refused.message);
            continue;
        }
        CG_TRY(commit_transition(tr, "coordinator", now));
    }
    return {};
}

status engine::create_task(const std::string& tenant, const planned_remediation& p, const std::string& why, std::int64_t now) {
    task t;
    auto& v = t.view;
    v.set_task_id(new_uuid());
    v.set_tenant(tenant);
    v.set_kind(p.kind);
    v.set_target(p.target);
    v.set_state(v1::TASK_STATE_PROPOSED);
    v.set_risk(p.risk);
    v.set_plan_version(1);
    *v.mutable_plan() = p.plan;
    v.set_automatic(p.automatic);
    v.set_approvals_required(p.approvals_required);
    v.set_reason(why);
    *v.mutable_created_at() = TimeUtil::MillisecondsToTimestamp(now);
    *v.mutable_updated_at() = TimeUtil::MillisecondsToTimestamp(now);
    *v.mutable_expires_at() = TimeUtil::MillisecondsToTimestamp(now + s_.task_ttl_ms);
    CG_TRY(db_.put_task(t));
    ++stats_.tasks_created;
    CG_TRY(audit(now, "coordinator", "task.created", tenant, v.task_id(),
                 kind_name(p.kind) + " on " + p.target + " (risk " + v1::Risk_Name(p.risk) +
                     "): " + p.plan.summary() + "; because " + why));
    const auto tr = coord::apply(t, ev::offer{now, now + s_.task_ttl_ms});
    if (!tr.ok) return make_error("coord.bug", "offer refused for a new task: " + tr.refused.message);
    return commit_transition(tr, "coordinator", now);
}

status engine::commit_transition(const transition& tr, const std::string& actor, std::int64_t now) {
    const auto& v = tr.after.view;
    CG_TRY(db_.put_task(tr.after));
    ++stats_.transitions;
    record_change(v1::ConsoleChange::KIND_TASK, v.tenant(), v.task_id());
    CG_TRY(audit(now, actor, tr.action, v.tenant(), v.task_id(),
                 state_name(v.state()) + ": " + tr.detail));
    auto env = codec::make_envelope(v.tenant(), "coordinator");
    *env.mutable_task_view() = v;
    CG_TRY(publish(topics::task(v.tenant(), v.task_id()), env, /*retained=*/true));
    if (tr.needs_dispatch()) return dispatch(tr.after, now);
    return {};
}

status engine::dispatch(task t, std::int64_t now) {
    const std::string command_id = new_uuid();
    v1::AgentCommand cmd;
    cmd.set_command_id(command_id);
    cmd.set_task_id(t.view.task_id());
    cmd.set_plan_version(t.view.plan_version());
    *cmd.mutable_plan() = t.view.plan();
    for (const auto& a : t.view.approvals())
        if (a.plan_version() == t.view.plan_version()) cmd.add_approved_by(a.admin());
    const std::int64_t not_after = now + s_.command_validity_ms;
    *cmd.mutable_not_after() = TimeUtil::MillisecondsToTimestamp(not_after);
    auto env = codec::make_envelope(t.view.tenant(), "coordinator");
    *env.mutable_agent_command() = cmd;
    env.set_id(new_uuid());
    CG_TRY(db_.insert_command(command_id, t.view.task_id(), t.view.tenant(), t.view.plan_version(), now, not_after,
                              cmd.SerializeAsString()));
    CG_TRY(publish(topics::commands(t.view.tenant()), env, /*retained=*/false));
    const auto tr = coord::apply(t, ev::dispatch{command_id, now, now + s_.dispatch_timeout_ms});
    if (!tr.ok) return make_error("coord.bug", "dispatch refused: " + tr.refused.message);
    return commit_transition(tr, "coordinator", now);
}

status engine::audit(std::int64_t now, const std::string& actor, const std::string& action, const std::string& tenant,
                     const std::string& task_id, const std::string& detail) {
    std::string text = detail;
    if (acting_ != nullptr && actor == acting_->name) text += (text.empty() ? "" : " ") + via_text(*acting_);
    auto e = db_.append_audit(now, actor, action, tenant, task_id, log::redact(text));
    if (!e) return e.err();
    record_change(v1::ConsoleChange::KIND_AUDIT, tenant, task_id, "", e->seq());
    return {};
}

void engine::record_change(v1::ConsoleChange::Kind kind, const std::string& tenant, const std::string& task_id,
                           const std::string& alert_cause, std::uint64_t audit_seq) {
    // Consecutive audit appends are one change (the newest seq): pages reload the log once.
    if (kind == v1::ConsoleChange::KIND_AUDIT && !changes_.empty() && changes_.back().kind() == kind) {
        changes_.back().set_audit_seq(audit_seq);
        return;
    }
    v1::ConsoleChange c;
    c.set_kind(kind);
    c.set_tenant(tenant);
    c.set_task_id(task_id);
    c.set_alert_cause(alert_cause);
    c.set_audit_seq(audit_seq);
    changes_.push_back(std::move(c));
}

status engine::publish(const std::string& topic, const v1::Envelope& env_in, bool retained, const std::string& correlation) {
    v1::Envelope env = env_in;
    mqtt_outbox_row m;
    m.topic = topic;
    m.payload = codec::encode(env, clk_);
    m.retained = retained;
    m.correlation_data = correlation;
    return db_.enqueue_mqtt(m, to_unix_ms(clk_.now()));
}

// ---- time ----

status engine::tick() {
    const std::int64_t now = to_unix_ms(clk_.now());
    std::set<std::string> touched;
    auto waiting = db_.tasks_in_states({v1::TASK_STATE_PROPOSED, v1::TASK_STATE_PENDING_APPROVAL});
    if (!waiting) return waiting.err();
    for (const auto& t : *waiting) {
        if (!t.view.has_expires_at() || ts(t.view.expires_at()) > now) continue;
        const auto tr = coord::apply(t, ev::expire{now});
        if (!tr.ok) continue;
        CG_TRY(commit_transition(tr, "coordinator", now));
        touched.insert(t.view.tenant());
    }
    auto dispatched = db_.tasks_in_states({v1::TASK_STATE_DISPATCHED});
    if (!dispatched) return dispatched.err();
    for (const auto& t : *dispatched) {
        if (t.dispatch_deadline_ms > now) continue;
        const auto tr = coord::apply(t, ev::dispatch_timeout{now});
        if (!tr.ok) continue;
        spdlog::warn("tenant {}: task {}: no result for command {} in time", t.view.tenant(), t.view.task_id(),
                     t.view.command_id());
        CG_TRY(commit_transition(tr, "coordinator", now));
        touched.insert(t.view.tenant());
    }
    if (s_.silence_ms > 0) {
        auto agents = db_.agents();
        if (!agents) return agents.err();
        auto active = db_.active_alerts({});
        if (!active) return active.err();
        std::set<std::string> silent_now;
        for (const auto& a : *active)
            if (a.alert.cause() == "agent:silent") silent_now.insert(a.tenant);
        std::set<std::string> heard_from;
        for (const auto& a : *agents) {
            heard_from.insert(a.tenant);
            const bool silent = a.state != v1::AGENT_STATE_OFFLINE && a.last_seen_ms > 0 &&
                                now - a.last_seen_ms > silence_threshold(a.poll_interval_ms);
            if (silent != static_cast<bool>(silent_now.count(a.tenant))) touched.insert(a.tenant);
        }
        // An expected tenant whose agent was never heard from: raised once the threshold passed
        // since this coordinator started; resolved by the agent's first message (on_report/on_agent).
        std::set<std::string> never_now;
        for (const auto& a : *active)
            if (a.alert.cause() == "agent:never_reported") never_now.insert(a.tenant);
        const bool overdue = now - started_ms_ > s_.silence_ms;
        for (const auto& tenant : s_.expected_tenants)
            if (!heard_from.count(tenant) && overdue != static_cast<bool>(never_now.count(tenant))) touched.insert(tenant);
    }
    // Exceptions entering their warning window or expiring: re-plan those tenants (review and
    // removal tasks, EXCEPTION_EXPIRING / EXCEPTION_EXPIRED alerts).
    std::set<std::string> replan;
    {
        auto all = db_.exceptions_of({});
        if (!all) return all.err();
        exceptions::settings es;
        es.warning_ms = s_.exception_warning_ms;
        std::map<std::string, exceptions::phase> phases;
        for (const auto& x : *all) {
            const auto ph = exceptions::phase_of(x, now, es);
            phases[x.id] = ph;
            auto it = exception_phase_.find(x.id);
            if (it == exception_phase_.end() || it->second != ph) replan.insert(x.tenant);
        }
        exception_phase_ = std::move(phases);
    }
    for (const auto& tenant : replan) {
        CG_TRY(reconcile_tenant(tenant, now));
        touched.erase(tenant);
    }
    for (const auto& tenant : touched) CG_TRY(reconcile_alerts(tenant, now));
    return {};
}

// ---- alerts ----

std::int64_t engine::silence_threshold(std::int64_t agent_poll_interval_ms) const {
    if (s_.silence_ms <= 0) return 0;
    return agent_poll_interval_ms > 0 ? 2 * agent_poll_interval_ms : s_.silence_ms;
}

status engine::reconcile_alerts(const std::string& tenant, std::int64_t now) {
    auto posture = db_.posture(tenant);
    if (!posture) return posture.err();
    auto tasks = db_.tasks_of_tenant(tenant);
    if (!tasks) return tasks.err();
    auto agent = db_.agent(tenant);
    if (!agent) return agent.err();
    tenant_facts f;
    f.tenant = tenant;
    plan_build build;
    if (*posture) {
        f.report = &(*posture)->report;
        build = plans_from_report((*posture)->report);
        f.plans = &build;
    }
    f.tasks = std::move(*tasks);
    f.silence_threshold_ms = s_.silence_ms;
    if (*agent) {
        f.agent_state = (*agent)->state;
        f.agent_reason = (*agent)->reason;
        f.last_seen_ms = (*agent)->last_seen_ms;
        f.silence_threshold_ms = silence_threshold((*agent)->poll_interval_ms);
    }
    f.now_ms = now;
    f.expected = s_.expected_tenants.count(tenant) != 0;
    f.expected_since_ms = started_ms_;
    auto desired = standing_causes(f);
    auto registry = registry_decisions(tenant, f.report, now);
    if (!registry) return registry.err();
    for (auto& c : registry->alerts) desired.push_back(std::move(c));
    auto active = db_.active_alerts(tenant);
    if (!active) return active.err();

    std::optional<std::vector<v1::WebhookSubscription>> runtime;  // read at the first alert that needs them
    auto emit = [&](const alert_row& row) -> status {
        CG_TRY(db_.put_alert(row, now));
        record_change(v1::ConsoleChange::KIND_ALERT, tenant, row.alert.task_id(), row.alert.cause());
        auto env = codec::make_envelope(tenant, "coordinator");
        *env.mutable_alert() = row.alert;
        CG_TRY(publish(topics::alert(severity_name(row.alert.severity()), tenant), env, false));
        const auto transition_ms = row.active ? ts(row.alert.raised_at()) : ts(row.alert.resolved_at());
        auto queue = [&](const std::string& sink, const std::string& url, webhook_format format) {
            webhook_row w;
            w.delivery_key = sha256_hex(row.fingerprint + "|" + (row.active ? "raised" : "resolved") + "|" +
                                        std::to_string(transition_ms) + "|" + sink);
            w.sink = sink;
            w.url = url;
            w.body = webhook_body(format, tenant, row.alert);
            return db_.enqueue_webhook(w, now);
        };
        for (const auto& sink : s_.webhooks) {
            if (row.alert.severity() < sink.min_severity) continue;
            CG_TRY(queue(sink.name, sink.url, sink.format));
        }
        // Subscriptions added at runtime: read in this transaction, so a change applies at once.
        if (!runtime) {
            auto subs = db_.webhook_subscriptions();
            if (!subs) return subs.err();
            runtime = std::move(*subs);
        }
        for (const auto& sub : *runtime) {
            if (row.alert.severity() < sub.min_severity()) continue;
            if (sub.tenants_size() > 0 &&
                std::find(sub.tenants().begin(), sub.tenants().end(), tenant) == sub.tenants().end())
                continue;
            CG_TRY(queue(runtime_sink(sub), sub.url(), format_of(sub.format())));
        }
        return {};
    };

    std::set<std::string> wanted;
    for (const auto& c : desired) {
        const auto fp = fingerprint(tenant, c.cause);
        wanted.insert(fp);
        bool standing = false;
        for (const auto& a : *active)
            if (a.fingerprint == fp) standing = true;
        if (standing) continue;  // not repeated while it stands
        alert_row row;
        row.fingerprint = fp;
        row.tenant = tenant;
        row.active = true;
        auto& al = row.alert;
        al.set_fingerprint(fp);
        al.set_cause(c.cause);
        al.set_severity(c.severity);
        al.set_state(v1::ALERT_STATE_RAISED);
        al.set_title(c.title);
        al.set_detail(log::redact(c.detail));
        al.set_task_id(c.task_id);
        for (const auto& id : c.evidence_ids) al.add_evidence_ids(id);
        *al.mutable_raised_at() = TimeUtil::MillisecondsToTimestamp(now);
        ++stats_.alerts_raised;
        spdlog::info("tenant {}: alert raised [{}] {}", tenant, severity_name(c.severity), c.title);
        CG_TRY(emit(row));
    }
    for (auto a : *active) {
        if (wanted.count(a.fingerprint)) continue;
        a.active = false;
        a.alert.set_state(v1::ALERT_STATE_RESOLVED);
        *a.alert.mutable_resolved_at() = TimeUtil::MillisecondsToTimestamp(now);
        ++stats_.alerts_resolved;
        spdlog::info("tenant {}: alert resolved [{}] {}", tenant, severity_name(a.alert.severity()), a.alert.title());
        CG_TRY(emit(a));
    }
    return {};
}

// ---- admin requests ----

status engine::respond(const std::string& admin, v1::AdminResponse& resp, const std::string& correlation) {
    // A response must fit one MQTT message: long lists are cut (the first half is kept: newest
    // tasks and alerts, the audit entries in the asked order) and the cut is said in error_message;
    // the caller narrows the query.
    const std::size_t budget = codec::max_payload_bytes - 4096;
    auto entries = [&] {
        return resp.tasks_size() + resp.audit_size() + resp.tenants_size() + resp.alerts_size() + resp.exceptions_size();
    };
    const int total = entries();
    while (resp.ByteSizeLong() > budget) {
        if (resp.tasks_size() > 1) resp.mutable_tasks()->DeleteSubrange(resp.tasks_size() / 2, resp.tasks_size() - resp.tasks_size() / 2);
        else if (resp.audit_size() > 1) resp.mutable_audit()->DeleteSubrange(resp.audit_size() / 2, resp.audit_size() - resp.audit_size() / 2);
        else if (resp.tenants_size() > 1) resp.mutable_tenants()->DeleteSubrange(resp.tenants_size() / 2, resp.tenants_size() - resp.tenants_size() / 2);
        else if (resp.alerts_size() > 1) resp.mutable_alerts()->DeleteSubrange(resp.alerts_size() / 2, resp.alerts_size() - resp.alerts_size() / 2);
        else if (resp.exceptions_size() > 1) resp.mutable_exceptions()->DeleteSubrange(resp.exceptions_size() / 2, resp.exceptions_size() - resp.exceptions_size() / 2);
        else if (!resp.has_tenant_detail()) break;
        else if (auto* d = resp.mutable_tenant_detail(); d->timeline_size() > 1)
            d->mutable_timeline()->DeleteSubrange(d->timeline_size() / 2, d->timeline_size() - d->timeline_size() / 2);
        else if (d->alerts_size() > 1) d->mutable_alerts()->DeleteSubrange(d->alerts_size() / 2, d->alerts_size() - d->alerts_size() / 2);
        else if (d->tasks_size() > 1) d->mutable_tasks()->DeleteSubrange(d->tasks_size() / 2, d->tasks_size() - d->tasks_size() / 2);
        else break;
        resp.set_error_message("truncated: " + std::to_string(entries()) + " of " + std::to_string(total) +
                               " entries fit one message; narrow the query");
    }
    auto env = codec::make_envelope("", "coordinator");
    *env.mutable_admin_response() = resp;
    return publish(topics::admin_responses(admin), env, false, correlation);
}

status engine::on_admin(const std::string& admin, const v1::Envelope& env, const std::string& correlation, std::int64_t now) {
    const auto& req = env.admin_request();
    const std::string corr = correlation.empty() ? req.request_id() : correlation;
    // The admin is the one the request topic names (the broker's ACL guarantees it); a different
    // identity claimed in the payload is ignored, and recorded.
    if (!env.source().empty() && env.source() != "admin/" + admin) {
        ++stats_.forged;
        CG_TRY(audit(now, admin, "admin.claimed_identity_ignored", "", "",
                     "request " + req.request_id() + " claimed source '" + env.source() + "' on the topic of '" + admin + "'"));
    }
    principal who;
    who.name = admin;
    const auto it = s_.admins.find(admin);
    who.who = it == s_.admins.end() ? role::none : it->second;
    who.via = channel::cli;
    auto resp = answer(who, req, now);
    if (!resp) return resp.err();
    return respond(admin, *resp, corr);
}

result<v1::AdminResponse> engine::answer(const principal& p, const v1::AdminRequest& req, std::int64_t now) {
    // Every audit entry this request writes in the person's name says how the request came.
    struct acting_scope {
        const principal*& slot;
        acting_scope(const principal*& s, const principal* p) : slot(s) { slot = p; }
        ~acting_scope() { slot = nullptr; }
        acting_scope(const acting_scope&) = delete;
        acting_scope& operator=(const acting_scope&) = delete;
    } scope(acting_, &p);
    const std::string& admin = p.name;
    const role who = p.who;
    v1::AdminResponse resp;
    resp.set_request_id(req.request_id());

    // Every refusal's audit entry names what the request was about: the task / tenant columns (the
    // request's own when the refusal has none) and the request in the detail.
    const request_target target = target_of(req);
    auto refuse = [&](const std::string& code, const std::string& message, const std::string& tenant,
                      const std::string& task_id, const char* op) -> result<v1::AdminResponse> {
        ++stats_.refusals;
        resp.set_ok(false);
        resp.set_error_code(code);
        resp.set_error_message(message);
        spdlog::warn("admin {}: {} refused ({}): {} [{}] {}", printable(admin), op, code, message, target.text, via_text(p));
        CG_TRY(audit(now, admin, std::string(op) + ".refused", tenant.empty() ? target.tenant : tenant,
                     task_id.empty() ? target.task_id : task_id, code + ": " + message + " (request: " + target.text + ")"));
        return resp;
    };

    if (admin.empty() || who == role::none)
        return refuse("forbidden", "admin '" + printable(admin) + "' has no role in this coordinator's configuration", "", "",
                      "admin");

    switch (req.op_case()) {
        case v1::AdminRequest::kListTenants: {
            auto t = db_.tenant_summaries();
            if (!t) return t.err();
            // Expected tenants never heard from are listed too: a silent tenant must be visible.
            std::set<std::string> known;
            for (const auto& summary : *t) known.insert(summary.tenant());
            for (const auto& tenant : s_.expected_tenants) {
                if (known.count(tenant)) continue;
                v1::TenantSummary never;
                never.set_tenant(tenant);
                auto active = db_.active_alerts(tenant);
                if (active) never.set_active_alerts(static_cast<std::uint32_t>(active->size()));
                t->push_back(std::move(never));
            }
            std::sort(t->begin(), t->end(), [](const auto& a, const auto& b) { return a.tenant() < b.tenant(); });
            for (auto& s : *t) *resp.add_tenants() = std::move(s);
            resp.set_ok(true);
            return resp;
        }
        case v1::AdminRequest::kListTasks: {
            auto t = db_.list_tasks(req.list_tasks().state(), req.list_tasks().tenant());
            if (!t) return t.err();
            for (auto& x : *t) *resp.add_tasks() = std::move(x.view);
            resp.set_ok(true);
            return resp;
        }
        case v1::AdminRequest::kShowTask: {
            auto t = db_.task_by_id(req.show_task().task_id());
            if (!t) return t.err();
            if (!*t) {
                resp.set_error_code("not_found");
                resp.set_error_message("no task " + req.show_task().task_id());
                return resp;
            }
            *resp.add_tasks() = (*t)->view;
            resp.set_ok(true);
            return resp;
        }
        case v1::AdminRequest::kQueryAudit: {
            const auto& q = req.query_audit();
            if (q.hash_at_size() > max_hash_at)
                return refuse("bad_request", "at most " + std::to_string(max_hash_at) + " hash_at a request", "", "",
                              "admin");
            auto a = db_.audit(q.after_seq(), q.limit(), q.task_id(), q.newest_first());
            if (!a) return a.err();
            for (auto& e : *a) *resp.add_audit() = std::move(e);
            if (q.verify()) {
                auto v = db_.verify_audit();
                if (!v) return v.err();
                *resp.mutable_verification() = *v;
            }
            // Hashes for a checkpoint comparison (connguardctl compares; the answer must fit one message).
            for (const auto seq : q.hash_at()) {
                auto h = db_.audit_hash_at(seq);
                if (!h) return h.err();
                if (!*h) continue;
                auto* x = resp.add_audit_hashes();
                x->set_seq(seq);
                x->set_hash(**h);
            }
            resp.set_ok(true);
            return resp;
        }
        case v1::AdminRequest::kListAlerts: {
            const auto& q = req.list_alerts();
            auto rows = db_.list_alerts(q.include_resolved(), q.has_since() ? ts(q.since()) : 0, q.tenant(),
                                        q.min_severity(), q.limit());
            if (!rows) return rows.err();
            for (auto& r : *rows) {
                auto* x = resp.add_alerts();
                x->set_tenant(r.tenant);
                *x->mutable_alert() = std::move(r.alert);
            }
            resp.set_ok(true);
            return resp;
        }
        case v1::AdminRequest::kListAdmins: {
            // Any admin may see who may approve: an operator needs to know whom to ask.
            for (const auto& [name, r] : s_.admins) {
                if (r == role::none) continue;
                auto* x = resp.add_admins();
                x->set_name(name);
                x->set_role(wire_role(r));
            }
            resp.set_ok(true);
            return resp;
        }
        case v1::AdminRequest::kImpact: {
            // Any admin may ask (it reads the coordinator's own data; no Graph call); audited.
            const auto& q = req.impact();
            constexpr std::size_t max_policy_bytes = 1u << 20;
            if (q.policy_json().size() > max_policy_bytes)
                return refuse("bad_request", "the draft policy is larger than 1 MiB", "", "", "impact");
            const auto doc = nlohmann::json::parse(q.policy_json(), nullptr, false);
            if (doc.is_discarded()) return refuse("bad_request", "the draft policy is not valid JSON", "", "", "impact");
            auto d = impact::compile_draft(doc);
            if (!d) return refuse("bad_request", "the draft policy: " + d.err().message, "", "", "impact");
            // Tenants in key order, so a long answer pages (after_tenant) and every page fits one message.
            std::set<std::string> keys(q.tenants().begin(), q.tenants().end());
            if (keys.empty()) {
                auto all = db_.tenant_summaries();
                if (!all) return all.err();
                keys.insert(s_.expected_tenants.begin(), s_.expected_tenants.end());
                for (const auto& x : *all) keys.insert(x.tenant());
            }
            const std::size_t budget = codec::max_payload_bytes - 16 * 1024;
            std::size_t used = 0, evaluated = 0, broken = 0, uncertain = 0, unevaluated = 0;
            std::string broken_list, first, last;
            for (auto k = keys.upper_bound(q.after_tenant()); k != keys.end(); ++k) {
                const auto& tenant = *k;
                auto p = db_.posture(tenant);
                if (!p) return p.err();
                auto a = db_.agent(tenant);
                if (!a) return a.err();
                impact::tenant_input in;
                in.tenant = tenant;
                if (*p) {
                    in.report = &(*p)->report;
                    in.collected_ms = (*p)->collected_ms > 0 ? (*p)->collected_ms : (*p)->received_ms;
                }
                // Stale: older than one poll interval of the agent (as it said), else the silence threshold.
                in.max_age_is_poll_interval = *a && (*a)->poll_interval_ms > 0;
                in.max_age_ms = in.max_age_is_poll_interval ? (*a)->poll_interval_ms : s_.silence_ms;
                const auto t = impact::evaluate_tenant(d.value(), in, now);
                auto wire = impact::to_proto(t);
                const std::size_t size = wire.ByteSizeLong() + 8;
                if (evaluated > 0 && used + size > budget) {
                    resp.set_impact_more(true);
                    resp.set_impact_next_after(last);
                    break;
                }
                used += size;
                ++evaluated;
                if (first.empty()) first = tenant;
                last = tenant;
                if (impact::breaks(t.result)) {
                    ++broken;
                    if (!broken_list.empty()) broken_list += ", ";
                    broken_list += tenant;
                } else if (t.result == impact::outcome::uncertain) {
                    ++uncertain;
                } else if (t.result != impact::outcome::unaffected) {
                    ++unevaluated;
                }
                *resp.add_impacts() = std::move(wire);
            }
            resp.set_impact_policy(impact::label(d.value()));
            CG_TRY(audit(now, admin, "impact.evaluated", target.tenant, "",
                         "draft '" + printable(impact::label(d.value())) + "' (" + target.text + "): " +
                             std::to_string(evaluated) + " tenants" +
                             (resp.impact_more() || !q.after_tenant().empty()
                                  ? " (" + printable(first) + " to " + printable(last) + ", a page)"
                                  : std::string()) +
                             ", " + std::to_string(broken) + " would break" +
                             (broken_list.empty() ? "" : " (" + printable(broken_list, 400) + ")") + ", " +
                             std::to_string(uncertain) + " uncertain, " + std::to_string(unevaluated) +
                             " not evaluated"));
            resp.set_ok(true);
            return resp;
        }
        case v1::AdminRequest::kListExceptions: {
            // Any admin role reads the registry (export is this list, written as JSON by connguardctl).
            auto rows = db_.exceptions_of(req.list_exceptions().tenant());
            if (!rows) return rows.err();
            for (const auto& r : *rows) *resp.add_exceptions() = exceptions::to_proto(r);
            resp.set_ok(true);
            return resp;
        }
        case v1::AdminRequest::kAdoptExceptions: {
            // Takes over what a tenant already excludes (the onboarding set, and anything since):
            // changes the registry, so approvers only, like add / import.
            if (!can_approve(who))
                return refuse("forbidden", "changing the exception registry needs the approver or admin role ('" + admin + "' is " +
                                               std::string(to_string(who)) + ")",
                              "", "", "exception");
            const auto& q = req.adopt_exceptions();
            if (q.all() == !q.tenant().empty())
                return refuse("bad_request", "adopt: name exactly one of a tenant or all tenants", "", "", "exception");
            std::vector<std::string> tenants;
            if (q.all()) {
                auto summaries = db_.tenant_summaries();
                if (!summaries) return summaries.err();
                for (const auto& summary : *summaries) tenants.push_back(summary.tenant());
            } else {
                tenants.push_back(q.tenant());
            }
            // The fields every adopted exception shares, validated once as a template.
            exceptions::record shared;
            shared.id = "adopt";
            shared.tenant = q.all() ? std::string("all") : q.tenant();
            shared.what = exceptions::kind::group;
            shared.policy_id = "adopt";
            shared.object_id = "adopt";
            shared.owner = q.owner();
            shared.reason = q.reason();
            shared.ticket = q.ticket();
            shared.source = "adopt";
            shared.created_ms = now;
            shared.expires_ms = q.has_expires_at() ? ts(q.expires_at()) : 0;
            if (auto problems = exceptions::validate(shared, now); !problems.empty()) {
                std::string m;
                for (const auto& pr : problems) m += (m.empty() ? "" : "; ") + pr;
                return refuse("bad_request", "adopt: " + m, q.tenant(), "", "exception");
            }
            std::vector<exceptions::record> adopted;
            for (const auto& tenant : tenants) {
                auto posture = db_.posture(tenant);
                if (!posture) return posture.err();
                if (!*posture) {
                    if (q.all()) continue;
                    return refuse("not_found", "adopt: tenant '" + tenant + "' has not reported yet: no exclusions to adopt",
                                  tenant, "", "exception");
                }
                auto registered = db_.exceptions_of(tenant);
                if (!registered) return registered.err();
                for (auto& r : exceptions::unregistered(tenant, *registered, &(*posture)->report)) {
                    r.id = new_uuid();
                    r.owner = q.owner();
                    r.reason = q.reason();
                    r.ticket = q.ticket();
                    r.source = "adopt";
                    r.created_ms = now;
                    r.expires_ms = shared.expires_ms;
                    if (auto problems = exceptions::validate(r, now); !problems.empty())
                        return refuse("bad_request",
                                      "adopt: " + exceptions::kind_word(r.what) + " " + r.object_id + " in policy " +
                                          r.policy_id + ": " + problems.front() + "; nothing was adopted",
                                      tenant, "", "exception");
                    adopted.push_back(std::move(r));
                }
            }
            std::set<std::string> touched;
            for (const auto& r : adopted) {
                CG_TRY(db_.put_exception(r));
                CG_TRY(audit(now, admin, "exception.adopted", r.tenant, "",
                             "exception " + r.id + ": " + exceptions::kind_word(r.what) + " " + r.object_id + " in policy " +
                                 r.policy_id + ", owner " + r.owner + ", ticket " +
                                 (r.ticket.empty() ? std::string("(none)") : r.ticket) + ", expires " +
                                 exceptions::date_of(r.expires_ms) + "; reason: " + r.reason + " (adopted as it stood)"));
                *resp.add_exceptions() = exceptions::to_proto(r);
                touched.insert(r.tenant);
            }
            spdlog::info("admin {}: adopted {} exclusion(s) in {} tenant(s)", admin, adopted.size(), touched.size());
            for (const auto& tenant : touched) CG_TRY(reconcile_tenant(tenant, now));
            resp.set_ok(true);
            return resp;
        }
        case v1::AdminRequest::kAddException:
        case v1::AdminRequest::kRemoveException:
        case v1::AdminRequest::kImportExceptions: {
            // Changing the registry changes what is alerted and proposed: approvers only, like approvals.
            if (!can_approve(who))
                return refuse("forbidden", "changing the exception registry needs the approver or admin role ('" + admin + "' is " +
                                               std::string(to_string(who)) + ")",
                              "", "", "exception");
            if (req.op_case() == v1::AdminRequest::kRemoveException) {
                const auto& q = req.remove_exception();
                auto x = db_.exception_by_id(q.id());
                if (!x) return x.err();
                if (!*x) return refuse("not_found", "no exception " + q.id(), "", "", "exception");
                auto gone = db_.delete_exception(q.id());
                if (!gone) return gone.err();
                const auto& r = **x;
                CG_TRY(audit(now, admin, "exception.removed", r.tenant, "",
                             "exception " + r.id + ": " + exceptions::kind_word(r.what) + " " + r.object_id +
                                 (r.policy_id.empty() ? std::string() : " in policy " + r.policy_id) + " (owner " + r.owner +
                                 ", ticket " + r.ticket + ")" + (q.reason().empty() ? std::string() : "; because " + q.reason())));
                CG_TRY(reconcile_tenant(r.tenant, now));
                *resp.add_exceptions() = exceptions::to_proto(r);
                resp.set_ok(true);
                return resp;
            }
            std::vector<exceptions::record> incoming;
            std::string label = "request";
            if (req.op_case() == v1::AdminRequest::kAddException) {
                const auto& x = req.add_exception().exception();
                auto r = exceptions::from_proto(x);
                auto problems = exceptions::validate(r, now);
                if (!exceptions::kind_of_wire(x.kind())) problems.insert(problems.begin(), "field 'kind': missing or unknown");
                if (!problems.empty()) {
                    std::string m;
                    for (const auto& p : problems) m += (m.empty() ? "" : "; ") + p;
                    return refuse("bad_request", "exception: " + m, r.tenant, "", "exception");
                }
                r.source = "manual";
                incoming.push_back(std::move(r));
            } else {
                const auto& q = req.import_exceptions();
                label = q.source().empty() ? std::string("import") : q.source();
                if (q.json().size() > (1u << 20)) return refuse("bad_request", label + ": larger than 1 MiB", "", "", "exception");
                auto parsed = exceptions::from_json(q.json(), label, now);
                if (!parsed) return refuse("bad_request", parsed.err().message, "", "", "exception");
                incoming = std::move(*parsed);
            }
            // Every entry keeps the id of the exception with its key (a renewal); an id that already
            // names another exception is refused before anything is written.
            std::string clashes;
            for (std::size_t i = 0; i < incoming.size(); ++i) {
                auto& r = incoming[i];
                auto same_key = db_.exception_by_key(r);
                if (!same_key) return same_key.err();
                if (*same_key) {
                    r.id = (*same_key)->id;
                    if (r.source == "manual" || r.created_ms == 0) r.created_ms = (*same_key)->created_ms;
                    continue;
                }
                if (r.id.empty()) r.id = new_uuid();
                auto same_id = db_.exception_by_id(r.id);
                if (!same_id) return same_id.err();
                if (*same_id)
                    clashes += (clashes.empty() ? "" : "\n") + label + ": entry " + std::to_string(i + 1) +
                               ": field 'id': '" + r.id + "' already names another exception";
                if (r.created_ms == 0 || r.source == "manual") r.created_ms = now;
            }
            if (!clashes.empty()) return refuse("bad_request", clashes + "\nnothing was imported", "", "", "exception");
            std::set<std::string> tenants;
            for (const auto& r : incoming) {
                auto before = db_.exception_by_id(r.id);
                if (!before) return before.err();
                CG_TRY(db_.put_exception(r));
                const char* action = req.op_case() == v1::AdminRequest::kImportExceptions ? "exception.imported"
                                     : *before                                               ? "exception.renewed"
                                                                                             : "exception.added";
                CG_TRY(audit(now, admin, action, r.tenant, "",
                             "exception " + r.id + ": " + exceptions::kind_word(r.what) + " " + r.object_id +
                                 (r.policy_id.empty() ? std::string() : " in policy " + r.policy_id) + ", owner " + r.owner +
                                 ", ticket " + (r.ticket.empty() ? std::string("(none)") : r.ticket) + ", expires " +
                                 exceptions::date_of(r.expires_ms) + "; reason: " + r.reason +
                                 (req.op_case() == v1::AdminRequest::kImportExceptions ? " (from " + label + ")" : std::string())));
                *resp.add_exceptions() = exceptions::to_proto(r);
                tenants.insert(r.tenant);
            }
            for (const auto& tenant : tenants) CG_TRY(reconcile_tenant(tenant, now));
            resp.set_ok(true);
            return resp;
        }
        case v1::AdminRequest::kApprove:
        case v1::AdminRequest::kReject: {
            const bool approving = req.op_case() == v1::AdminRequest::kApprove;
            const char* op = approving ? "approval" : "rejection";
            const std::string& id = approving ? req.approve().task_id() : req.reject().task_id();
            auto t = db_.task_by_id(id);
            if (!t) return t.err();
            if (!*t) return refuse("not_found", "no task " + id, "", id, op);
            task cur = **t;
            // Defense in depth: approving through the console needs a recent sign-in (the session
            // may be hours old; approving changes a tenant).
            if (approving && p.via == channel::console && s_.console_reauth_ms > 0 &&
                now - p.auth_time_ms > s_.console_reauth_ms)
                return refuse("reauth_required",
                              "signed in " + std::to_string((now - p.auth_time_ms) / 60000) +
                                  " min ago; approving through the console needs a sign-in within the last " +
                                  std::to_string(s_.console_reauth_ms / 60000) + " min: sign in again",
                              cur.view.tenant(), id, op);
            // A task past its TTL expires now (and the decision is refused as expired).
            if (approving && (cur.view.state() == v1::TASK_STATE_PENDING_APPROVAL) && cur.view.has_expires_at() &&
                ts(cur.view.expires_at()) <= now) {
                const auto ex = coord::apply(cur, ev::expire{now});
                if (ex.ok) {
                    CG_TRY(commit_transition(ex, "coordinator", now));
                    CG_TRY(reconcile_alerts(cur.view.tenant(), now));
                    cur = ex.after;
                }
            }
            task_event e = approving ? task_event{ev::approve{admin, who, req.approve().plan_version(),
                                                              log::redact(req.approve().comment()), now,
                                                              p.via == channel::console ? "console" : "cli"}}
                                     : task_event{ev::reject{admin, who, log::redact(req.reject().reason()), now}};
            const auto tr = coord::apply(cur, e);
            if (!tr.ok) {
                *resp.add_tasks() = cur.view;
                return refuse(tr.refused.code, tr.refused.message, cur.view.tenant(), id, op);
            }
            if (approving) CG_TRY(db_.insert_approval(id, tr.after.view.approvals(tr.after.view.approvals_size() - 1)));
            CG_TRY(commit_transition(tr, admin, now));
            CG_TRY(reconcile_alerts(cur.view.tenant(), now));
            auto after = db_.task_by_id(id);
            if (!after) return after.err();
            *resp.add_tasks() = (*after)->view;
            resp.set_ok(true);
            return resp;
        }
        case v1::AdminRequest::kShowTenant: return answer_show_tenant(req, resp);
        case v1::AdminRequest::kListWebhooks:
        case v1::AdminRequest::kPutWebhook:
        case v1::AdminRequest::kRemoveWebhook:
        case v1::AdminRequest::kTestWebhook: {
            if (req.op_case() != v1::AdminRequest::kListWebhooks && who != role::admin)
                return refuse("forbidden", "changing or testing alert subscriptions needs the admin role ('" +
                                               printable(admin) + "' is " + std::string(to_string(who)) + ")",
                              "", "", "webhook");
            auto out = answer_webhooks(p, req, now, resp);
            if (!out) return out.err();
            if (!out->ok() && !out->error_code().empty())
                return refuse(out->error_code(), out->error_message(), "", "", "webhook");
            return out;
        }
        default:
            return refuse("bad_request", "request has no operation", "", "", "admin");
    }
}

}  // namespace connguard::coord

namespace connguard::coord {

result<std::vector<v1::WebhookSubscription>> engine::subscriptions() {
    std::vector<v1::WebhookSubscription> out;
    for (const auto& sink : s_.webhooks) {
        v1::WebhookSubscription w;
        w.set_id("config:" + sink.name);
        w.set_name(sink.name);
        w.set_url(sink.url);
        w.set_format(wire_format(sink.format));
        w.set_min_severity(sink.min_severity);
        w.set_from_config(true);
        out.push_back(std::move(w));
    }
    auto runtime = db_.webhook_subscriptions();
    if (!runtime) return runtime.err();
    for (auto& w : *runtime) out.push_back(std::move(w));
    return out;
}

result<v1::AdminResponse> engine::answer_webhooks(const principal& p, const v1::AdminRequest& req, std::int64_t now,
                                                  v1::AdminResponse& resp) {
    // A refusal goes back to answer() (which audits it) as a response with a code.
    auto no = [&](const std::string& code, const std::string& message) -> result<v1::AdminResponse> {
        resp.set_ok(false);
        resp.set_error_code(code);
        resp.set_error_message(message);
        return resp;
    };
    auto all = subscriptions();
    if (!all) return all.err();
    auto find = [&](const std::string& id) -> const v1::WebhookSubscription* {
        for (const auto& w : *all)
            if (w.id() == id) return &w;
        return nullptr;
    };
    switch (req.op_case()) {
        case v1::AdminRequest::kListWebhooks:
            for (auto w : *all) {
                // The URL's path is a secret: whole for admins only.
                if (p.who != role::admin) w.set_url(url_origin(w.url()));
                *resp.add_webhooks() = std::move(w);
            }
            resp.set_ok(true);
            return resp;
        case v1::AdminRequest::kPutWebhook: {
            v1::WebhookSubscription w = req.put_webhook().subscription();
            const v1::WebhookSubscription* before = nullptr;
            if (!w.id().empty()) {
                before = find(w.id());
                if (before == nullptr) return no("not_found", "no alert subscription " + printable(w.id()));
                if (before->from_config())
                    return no("read_only", "subscription " + printable(w.id()) +
                                               " comes from the configuration file; change it there");
            }
            std::vector<std::string> problems;
            if (w.name().empty() || w.name().size() > 100) problems.push_back("field 'name': must be 1 to 100 characters");
            for (const char c : w.name())
                if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                    problems.push_back("field 'name': contains a control character");
                    break;
                }
            for (const auto& other : *all)
                if (other.name() == w.name() && other.id() != w.id())
                    problems.push_back("field 'name': '" + printable(w.name()) + "' is taken by " + other.id());
            if (const auto why = webhook_url_problem(w.url()); !why.empty()) problems.push_back("field 'url': " + why);
            if (w.format() != v1::WEBHOOK_FORMAT_GENERIC && w.format() != v1::WEBHOOK_FORMAT_TEAMS &&
                w.format() != v1::WEBHOOK_FORMAT_SLACK)
                problems.push_back("field 'format': must be generic, teams or slack");
            if (w.min_severity() != v1::SEVERITY_INFO && w.min_severity() != v1::SEVERITY_WARNING &&
                w.min_severity() != v1::SEVERITY_CRITICAL)
                problems.push_back("field 'min_severity': must be info, warning or critical");
            if (w.tenants_size() > 1000) problems.push_back("field 'tenants': at most 1000");
            for (const auto& t : w.tenants())
                if (!topics::valid_tenant_key(t)) {
                    problems.push_back("field 'tenants': '" + printable(t) + "' is not a tenant key");
                    break;
                }
            if (!problems.empty()) {
                std::string m;
                for (const auto& x : problems) m += (m.empty() ? "" : "; ") + x;
                return no("bad_request", m);
            }
            if (w.id().empty()) w.set_id(new_uuid());
            w.set_from_config(false);
            w.set_created_by(p.name);
            *w.mutable_updated_at() = TimeUtil::MillisecondsToTimestamp(now);
            CG_TRY(db_.put_webhook_subscription(w));
            CG_TRY(audit(now, p.name, before ? "webhook.changed" : "webhook.added", "", "",
                         describe(w) + (before && url_origin(before->url()) != url_origin(w.url())
                                            ? "; was to " + url_origin(before->url())
                                            : std::string())));
            record_change(v1::ConsoleChange::KIND_WEBHOOK, "");
            spdlog::info("admin {}: {} {}", printable(p.name), before ? "changed" : "added", describe(w));
            *resp.add_webhooks() = std::move(w);
            resp.set_ok(true);
            return resp;
        }
        case v1::AdminRequest::kRemoveWebhook: {
            const auto* w = find(req.remove_webhook().id());
            if (w == nullptr) return no("not_found", "no alert subscription " + printable(req.remove_webhook().id()));
            if (w->from_config())
                return no("read_only", "subscription " + printable(w->id()) +
                                           " comes from the configuration file; remove it there");
            auto gone = db_.delete_webhook_subscription(w->id());
            if (!gone) return gone.err();
            auto dropped = db_.drop_pending_webhooks(runtime_sink(*w));
            if (!dropped) return dropped.err();
            CG_TRY(audit(now, p.name, "webhook.removed", "", "",
                         describe(*w) + (*dropped > 0 ? "; " + std::to_string(*dropped) + " undelivered alert(s) dropped"
                                                      : std::string())));
            record_change(v1::ConsoleChange::KIND_WEBHOOK, "");
            *resp.add_webhooks() = *w;
            resp.set_ok(true);
            return resp;
        }
        case v1::AdminRequest::kTestWebhook: {
            const auto* w = find(req.test_webhook().id());
            if (w == nullptr) return no("not_found", "no alert subscription " + printable(req.test_webhook().id()));
            const std::string tenant = w->tenants_size() > 0 ? w->tenants(0) : std::string("connguard-test");
            v1::Alert a;
            a.set_cause("test");
            a.set_fingerprint(fingerprint(tenant, "test:" + w->id()));
            a.set_severity(w->min_severity() == v1::SEVERITY_UNSPECIFIED ? v1::SEVERITY_INFO : w->min_severity());
            a.set_state(v1::ALERT_STATE_RAISED);
            a.set_title("ConnGuard test alert (no action needed)");
            a.set_detail("A test of the alert subscription '" + printable(w->name()) + "', sent by " + printable(p.name) +
                         ". Nothing happened in any tenant.");
            *a.mutable_raised_at() = TimeUtil::MillisecondsToTimestamp(now);
            webhook_row row;
            row.delivery_key = sha256_hex("test|" + w->id() + "|" + new_uuid());
            row.sink = w->from_config() ? w->name() : runtime_sink(*w);
            row.url = w->url();
            row.body = webhook_body(format_of(w->format()), tenant, a);
            CG_TRY(db_.enqueue_webhook(row, now));
            CG_TRY(audit(now, p.name, "webhook.tested", "", "", "sample alert queued to " + describe(*w)));
            *resp.add_webhooks() = *w;
            resp.set_ok(true);
            return resp;
        }
        default: return no("bad_request", "not a webhook request");
    }
}

result<v1::AdminResponse> engine::answer_show_tenant(const v1::AdminRequest& req, v1::AdminResponse& resp) {
    const auto& q = req.show_tenant();
    const std::string& tenant = q.tenant();
    auto* d = resp.mutable_tenant_detail();
    auto summaries = db_.tenant_summaries();
    if (!summaries) return summaries.err();
    bool known = false;
    for (const auto& x : *summaries)
        if (x.tenant() == tenant) {
            *d->mutable_summary() = x;
            known = true;
        }
    if (!known) {
        if (tenant.empty() || s_.expected_tenants.count(tenant) == 0) {
            resp.clear_tenant_detail();
            resp.set_ok(false);
            resp.set_error_code("not_found");
            resp.set_error_message("no tenant '" + printable(tenant) + "'");
            return resp;
        }
        d->mutable_summary()->set_tenant(tenant);  // expected, never reported
    }
    auto posture = db_.posture(tenant);
    if (!posture) return posture.err();
    if (*posture) *d->mutable_report() = (*posture)->report;
    const int limit = q.timeline_limit() == 0 ? 100 : static_cast<int>(std::min<std::uint32_t>(q.timeline_limit(), 1000));
    auto events = db_.recent_events(tenant, "change_event", limit);
    if (!events) return events.err();
    for (const auto& raw : *events) {
        v1::Envelope env;
        if (env.ParseFromString(raw) && env.has_change_event()) *d->add_timeline() = env.change_event();
    }
    auto tasks = db_.list_tasks(v1::TASK_STATE_UNSPECIFIED, tenant);
    if (!tasks) return tasks.err();
    for (auto& t : *tasks) *d->add_tasks() = std::move(t.view);
    auto alerts = db_.list_alerts(true, 0, tenant, v1::SEVERITY_UNSPECIFIED, 0);
    if (!alerts) return alerts.err();
    for (auto& r : *alerts) {
        auto* x = d->add_alerts();
        x->set_tenant(r.tenant);
        *x->mutable_alert() = std::move(r.alert);
    }
    resp.set_ok(true);
    return resp;
}

}  // namespace connguard::coord
