#include "coordinator/alerts.h"

#include <map>

#include <google/protobuf/util/time_util.h>
#include <nlohmann/json.hpp>

#include "common/check_ids.h"
#include "common/ids.h"
#include "common/text.h"

namespace connguard::coord {

namespace {

using google::protobuf::util::TimeUtil;

std::string status_word(v1::CheckStatus s) { return enum_word(v1::CheckStatus_Name(s), "CHECK_STATUS_"); }

std::string key_of(const task& t) { return std::to_string(t.view.kind()) + "|" + t.view.target(); }

}  // namespace

std::string fingerprint(const std::string& tenant, const std::string& cause) { return sha256_hex(tenant + "|" + cause); }

std::string severity_name(v1::Severity s) { return to_lower(enum_word(v1::Severity_Name(s), "SEVERITY_")); }

v1::Severity parse_severity(std::string_view text) {
    if (text == "info") return v1::SEVERITY_INFO;
    if (text == "warning") return v1::SEVERITY_WARNING;
    if (text == "critical") return v1::SEVERITY_CRITICAL;
    return v1::SEVERITY_UNSPECIFIED;
}

std::vector<alert_cause> standing_causes(const tenant_facts& f) {
    std::vector<alert_cause> out;
    const std::string& t = f.tenant;
    if (f.report != nullptr) {
        const auto& r = *f.report;
        if (r.overall() != v1::CHECK_STATUS_OK && r.overall() != v1::CHECK_STATUS_UNSPECIFIED) {
            alert_cause a;
            a.cause = "status:" + status_word(r.overall());
            a.severity = r.overall() == v1::CHECK_STATUS_FAIL ? v1::SEVERITY_CRITICAL : v1::SEVERITY_WARNING;
            a.title = "tenant " + t + ": connection account status " + status_word(r.overall());
            for (const auto& c : r.checks()) {
                if (c.status() == v1::CHECK_STATUS_OK) continue;
                if (!a.detail.empty()) a.detail += "\n";
                a.detail += c.id() + (c.subject().empty() ? "" : " (" + c.subject() + ")") + " " +
                            status_word(c.status()) + ": " + c.reason();
            }
            out.push_back(std::move(a));
        }
        for (const auto& c : r.checks()) {
            if (c.id() == checks::check_cap && c.status() == v1::CHECK_STATUS_FAIL && !c.subject().empty()) {
                std::string name = c.subject();
                for (const auto& e : c.evidence())
                    if (e.kind() == "policy" && !e.name().empty()) name = e.name();
                alert_cause a;
                a.cause = "policy:" + c.subject() + ":blocks";
                a.severity = v1::SEVERITY_CRITICAL;
                a.title = "tenant " + t + ": CA policy '" + name + "' blocks the connection account";
                a.detail = c.reason();
                a.evidence_ids.push_back(c.subject());
                out.push_back(std::move(a));
            } else if (c.id() == checks::check_cap_managed &&
                       (c.status() == v1::CHECK_STATUS_FAIL || c.status() == v1::CHECK_STATUS_WARN)) {
                // Microsoft switches these on by itself (graph.md §11.1): the alert names the day.
                std::string name = c.subject(), date;
                for (const auto& e : c.evidence()) {
                    if (e.kind() == "policy" && !e.name().empty()) name = e.name();
                    if (e.kind() == "enforcementNotBefore") date = e.detail();
                }
                alert_cause a;
                a.cause = "policy:" + (c.subject().empty() ? std::string("managed") : c.subject()) + ":managed";
                a.severity = c.status() == v1::CHECK_STATUS_FAIL ? v1::SEVERITY_CRITICAL : v1::SEVERITY_WARNING;
                a.title = "tenant " + t + ": Microsoft-managed CA policy '" + name + "' can be switched on by Microsoft " +
                          (date.empty() ? std::string("at any time") : "from " + date) +
                          " and would stop the connection account";
                a.detail = c.reason();
                if (!c.subject().empty()) a.evidence_ids.push_back(c.subject());
                out.push_back(std::move(a));
            } else if (c.id() == checks::check_cap_report_only &&
                       (c.status() == v1::CHECK_STATUS_FAIL || c.status() == v1::CHECK_STATUS_WARN)) {
                alert_cause a;
                a.cause = "policy:" + (c.subject().empty() ? std::string("report-only") : c.subject()) + ":report-only";
                a.severity = v1::SEVERITY_WARNING;
                a.title = "tenant " + t + ": a report-only CA policy would block the connection account once enabled";
                a.detail = c.reason();
                if (!c.subject().empty()) a.evidence_ids.push_back(c.subject());
                out.push_back(std::move(a));
            }
        }
    }
    if (f.plans != nullptr) {
        for (const auto& p : f.plans->problems) {
            alert_cause a;
            a.cause = "plan:" + kind_name(p.kind) + ":" + p.target + ":incomplete";
            a.severity = v1::SEVERITY_WARNING;
            a.title = "tenant " + t + ": a remediation could not be planned";
            a.detail = p.message;
            out.push_back(std::move(a));
        }
    }
    // Newest task per (kind, target) decides whether a failed one still stands.
    std::map<std::string, const task*> newest;
    for (const auto& tk : f.tasks) {
        auto& n = newest[key_of(tk)];
        if (n == nullptr || TimeUtil::TimestampToMilliseconds(tk.view.created_at()) >=
                                TimeUtil::TimestampToMilliseconds(n->view.created_at()))
            n = &tk;
    }
    std::map<std::string, bool> still_wanted;
    if (f.plans != nullptr) {
        for (const auto& p : f.plans->plans) still_wanted[std::to_string(p.kind) + "|" + p.target] = true;
        for (const auto& p : f.plans->problems) still_wanted[std::to_string(p.kind) + "|" + p.target] = true;
    }
    for (const auto& tk : f.tasks) {
        const auto& v = tk.view;
        alert_cause a;
        a.task_id = v.task_id();
        const std::string what = v.plan().summary().empty() ? kind_name(v.kind()) : v.plan().summary();
        switch (v.state()) {
            case v1::TASK_STATE_PENDING_APPROVAL:
                a.cause = "task:" + v.task_id() + ":pending";
                a.severity = v1::SEVERITY_WARNING;
                a.title = "tenant " + t + ": remediation waits for approval: " + what;
                a.detail = v.reason() + "\nrisk " + v1::Risk_Name(v.risk()) + ", " +
                           std::to_string(v.approvals_required()) + " approval(s) needed; connguardctl task show " +
                           v.task_id();
                break;
            case v1::TASK_STATE_SUCCEEDED:
                a.cause = "task:" + v.task_id() + ":succeeded";
                a.severity = v1::SEVERITY_INFO;
                a.title = "tenant " + t + ": remediation succeeded: " + what;
                a.detail = v.state_reason();
                break;
            case v1::TASK_STATE_FAILED:
            case v1::TASK_STATE_STALE: {
                if (newest[key_of(tk)] != &tk) continue;                 // a newer task took over
                if (f.plans != nullptr && !still_wanted.count(key_of(tk)) && f.plans->conclusive) continue;
                const bool stale = v.state() == v1::TASK_STATE_STALE;
                a.cause = "task:" + v.task_id() + (stale ? ":stale" : ":failed");
                a.severity = stale ? v1::SEVERITY_WARNING : v1::SEVERITY_CRITICAL;
                a.title = "tenant " + t + ": remediation " + (stale ? "not applied (tenant changed): " : "failed: ") + what;
                a.detail = v.state_reason();
                break;
            }
            default:
                continue;
        }
        out.push_back(std::move(a));
    }
    if (f.agent_state == v1::AGENT_STATE_OFFLINE) {
        alert_cause a;
        a.cause = "agent:offline";
        a.severity = v1::SEVERITY_CRITICAL;
        a.title = "tenant " + t + ": agent offline";
        a.detail = f.agent_reason.empty() ? "the agent reported offline" : f.agent_reason;
        out.push_back(std::move(a));
    } else if (f.silence_threshold_ms > 0 && f.last_seen_ms > 0 && f.now_ms - f.last_seen_ms > f.silence_threshold_ms) {
        alert_cause a;
        a.cause = "agent:silent";
        a.severity = v1::SEVERITY_CRITICAL;
        a.title = "tenant " + t + ": agent silent";
        a.detail = "no message from the agent for " + duration_words(f.now_ms - f.last_seen_ms) + " (threshold " +
                   duration_words(f.silence_threshold_ms) + ")";
        out.push_back(std::move(a));
    } else if (f.expected && f.report == nullptr && f.last_seen_ms == 0 && f.silence_threshold_ms > 0 &&
               f.now_ms - f.expected_since_ms > f.silence_threshold_ms) {
        alert_cause a;
        a.cause = "agent:never_reported";
        a.severity = v1::SEVERITY_CRITICAL;
        a.title = "tenant " + t + ": agent never reported";
        a.detail = "the coordinator expects this tenant (config 'tenants') and has heard nothing from its agent in the " +
                   duration_words(f.now_ms - f.expected_since_ms) + " since it started (threshold " +
                   duration_words(f.silence_threshold_ms) + ")";
        out.push_back(std::move(a));
    }
    return out;
}

bool parse_webhook_format(std::string_view text, webhook_format& out) {
    if (text == "generic") out = webhook_format::generic;
    else if (text == "teams") out = webhook_format::teams;
    else if (text == "slack") out = webhook_format::slack;
    else return false;
    return true;
}

std::string webhook_body(webhook_format format, const std::string& tenant, const v1::Alert& a) {
    using nlohmann::json;
    const bool resolved = a.state() == v1::ALERT_STATE_RESOLVED;
    const std::string sev = severity_name(a.severity());
    const std::string head = std::string(resolved ? "[RESOLVED] " : "") + "[" + sev + "] " + a.title();
    switch (format) {
        case webhook_format::slack:
            return json{{"text", head + (a.detail().empty() ? "" : "\n" + a.detail())}}.dump();
        case webhook_format::teams: {
            const std::string color = resolved ? "2EB886" : sev == "critical" ? "D00000" : sev == "warning" ? "FFA500" : "0078D7";
            json facts = json::array({json{{"name", "Tenant"}, {"value", tenant}},
                                      json{{"name", "Severity"}, {"value", sev}},
                                      json{{"name", "State"}, {"value", resolved ? "resolved" : "raised"}},
                                      json{{"name", "Cause"}, {"value", a.cause()}},
                                      json{{"name", "Fingerprint"}, {"value", a.fingerprint()}}});
            if (!a.task_id().empty()) facts.push_back(json{{"name", "Task"}, {"value", a.task_id()}});
            return json{{"@type", "MessageCard"},
                        {"@context", "https://schema.org/extensions"},
                        {"summary", head},
                        {"themeColor", color},
                        {"title", head},
                        {"sections", json::array({json{{"activityTitle", tenant}, {"text", a.detail()}, {"facts", facts}}})}}
                .dump();
        }
        case webhook_format::generic:
            break;
    }
    json j{{"tenant", tenant},
           {"fingerprint", a.fingerprint()},
           {"cause", a.cause()},
           {"severity", sev},
           {"state", resolved ? "resolved" : "raised"},
           {"title", a.title()},
           {"detail", a.detail()},
           {"task_id", a.task_id()},
           {"evidence_ids", std::vector<std::string>(a.evidence_ids().begin(), a.evidence_ids().end())},
           {"raised_at", a.has_raised_at() ? TimeUtil::ToString(a.raised_at()) : ""}};
    if (resolved) j["resolved_at"] = TimeUtil::ToString(a.resolved_at());
    return j.dump();
}

}  // namespace connguard::coord

namespace connguard::coord {

namespace {

struct url_parts {
    std::string scheme, host, port;  ///< host without brackets for IPv6
    bool ok = false;
};

url_parts split_url(std::string_view url) {
    url_parts u;
    const auto colon = url.find("://");
    if (colon == std::string_view::npos || colon == 0) return u;
    u.scheme = to_lower(std::string(url.substr(0, colon)));
    auto rest = url.substr(colon + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);  // user info: a secret
    if (!rest.empty() && rest.front() == '[') {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) return u;
        u.host = std::string(rest.substr(1, close - 1));
        rest = rest.substr(close + 1);
        if (!rest.empty() && rest.front() == ':') u.port = std::string(rest.substr(1));
        else if (!rest.empty()) return u;
    } else {
        const auto c = rest.rfind(':');
        u.host = std::string(rest.substr(0, c));
        if (c != std::string_view::npos) u.port = std::string(rest.substr(c + 1));
    }
    u.host = to_lower(u.host);
    u.ok = true;
    return u;
}

}  // namespace

std::string url_origin(std::string_view url) {
    const auto u = split_url(url);
    if (!u.ok) return "(not a URL)";
    const bool v6 = u.host.find(':') != std::string::npos;
    return u.scheme + "://" + (v6 ? "[" + u.host + "]" : u.host) + (u.port.empty() ? "" : ":" + u.port);
}

std::string webhook_url_problem(std::string_view url) {
    if (url.size() > 2048) return "longer than 2048 characters";
    for (const char c : url)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return "contains a space or a control character";
    const auto u = split_url(url);
    if (!u.ok || u.host.empty()) return "not an absolute http(s) URL";
    for (const char c : u.port)
        if (c < '0' || c > '9') return "the port is not a number";
    if (u.scheme == "https") return {};
    if (u.scheme != "http") return "must be https (http only to a loopback host)";
    const bool loopback = u.host == "localhost" || u.host == "::1" || u.host.rfind("127.", 0) == 0;
    if (!loopback) return "http is allowed only to a loopback host (localhost, 127.0.0.1, [::1]); use https";
    return {};
}

}  // namespace connguard::coord
