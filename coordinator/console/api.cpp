#include "coordinator/console/api.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/http/http_client.h"
#include "common/text.h"

namespace connguard::coord::console {
namespace {

using nlohmann::json;

json to_json(const google::protobuf::Message& m) {
    std::string out;
    google::protobuf::util::JsonPrintOptions o;
    o.always_print_primitive_fields = true;
    if (const auto st = google::protobuf::util::MessageToJsonString(m, &out, o); !st.ok())
        throw std::runtime_error("cannot encode " + m.GetTypeName() + " as JSON: " + std::string(st.message()));
    return json::parse(out);
}

api_response reply(int status, const json& body) { return {status, body.dump()}; }
api_response fail(int status, const std::string& code, const std::string& message) {
    return {status, error_json(code, message)};
}

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> parts;
    std::size_t pos = 0;
    while (pos <= path.size()) {
        auto end = path.find('/', pos);
        if (end == std::string::npos) end = path.size();
        if (end > pos) parts.push_back(path.substr(pos, end - pos));
        pos = end + 1;
    }
    return parts;
}

std::string param(const api_request& r, const std::string& name, const std::string& fallback = "") {
    const auto it = r.query.find(name);
    return it == r.query.end() ? fallback : it->second;
}

bool param_uint(const api_request& r, const std::string& name, std::uint64_t fallback, std::uint64_t& out) {
    const auto text = param(r, name);
    if (text.empty()) { out = fallback; return true; }
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size();
}

bool truthy(const std::string& v) { return v == "1" || v == "true" || v == "yes"; }

int http_status_for(const std::string& code) {
    if (code == "forbidden") return 403;
    if (code == "not_found") return 404;
    if (code == "bad_request") return 400;
    return 409;  // stale_plan, expired, already_approved, invalid_state, ...
}

// Runs one admin request; a refusal or backend failure becomes the HTTP error response.
struct call_result {
    std::optional<v1::AdminResponse> response;
    api_response error;
    std::string code;  ///< the coordinator's error_code when it refused
};
call_result call(const api_context& ctx, v1::AdminRequest req) {
    req.set_request_id(new_uuid());
    auto r = ctx.backend.admin(ctx.who, req);
    if (!r) return {std::nullopt, fail(503, "unavailable", r.err().message), {}};
    if (!r->ok()) return {std::nullopt, fail(http_status_for(r->error_code()), r->error_code(), r->error_message()), r->error_code()};
    return {std::move(*r), {}, {}};
}

int status_rank(v1::CheckStatus s) {
    switch (s) {
        case v1::CHECK_STATUS_ERROR: return 4;
        case v1::CHECK_STATUS_FAIL: return 3;
        case v1::CHECK_STATUS_WARN: return 2;
        case v1::CHECK_STATUS_OK: return 1;
        default: return 0;
    }
}

std::string status_word(v1::CheckStatus s) { return enum_word(v1::CheckStatus_Name(s), "CHECK_STATUS_"); }

api_response me(const api_context& ctx) {
    const auto r = std::string(to_string(ctx.who.who));
    return reply(200, {{"upn", ctx.who.upn},
                       {"name", ctx.display_name},
                       {"objectId", ctx.who.object_id},
                       {"role", r},
                       {"canApprove", r == "approver" || r == "admin"},
                       {"canReject", r == "approver" || r == "admin" || r == "operator"},
                       {"canManageWebhooks", r == "admin"},
                       {"authTime", format_rfc3339(from_unix_ms(ctx.who.auth_time_ms), 0)},
                       {"csrfToken", ctx.csrf}});
}

api_response tenants(const api_request& req, const api_context& ctx) {
    std::uint64_t page = 1, page_size = 50;
    if (!param_uint(req, "page", 1, page) || page == 0) return fail(400, "bad_request", "page must be a number from 1");
    if (!param_uint(req, "pageSize", 50, page_size) || page_size == 0 || page_size > 1000)
        return fail(400, "bad_request", "pageSize must be a number from 1 to 1000");
    const auto status_filter = to_lower(param(req, "status"));
    const auto q = to_lower(param(req, "q"));
    const auto sort = param(req, "sort", "status");
    static const std::vector<std::string> sorts = {"status", "tenant", "lastReport", "openTasks", "alerts", "agent"};
    if (std::find(sorts.begin(), sorts.end(), sort) == sorts.end())
        return fail(400, "bad_request", "sort must be one of status, tenant, lastReport, openTasks, alerts, agent");
    const bool desc = param(req, "order") == "desc";

    v1::AdminRequest ar;
    ar.mutable_list_tenants();
    auto res = call(ctx, ar);
    if (!res.response) return res.error;
    std::vector<const v1::TenantSummary*> rows;
    json counts = json::object();
    for (const auto& t : res.response->tenants()) {
        const auto word = to_lower(status_word(t.overall()));
        counts[word] = counts.value(word, 0) + 1;
        if (!status_filter.empty() && status_filter != "all" && word != status_filter) continue;
        if (!q.empty() && to_lower(t.tenant()).find(q) == std::string::npos &&
            to_lower(t.account_upn()).find(q) == std::string::npos)
            continue;
        rows.push_back(&t);
    }
    auto key_less = [](const v1::TenantSummary* a, const v1::TenantSummary* b) { return a->tenant() < b->tenant(); };
    std::stable_sort(rows.begin(), rows.end(), [&](const v1::TenantSummary* a, const v1::TenantSummary* b) {
        auto cmp = [&](auto x, auto y) {
            if (x == y) return key_less(a, b);
            return desc ? y < x : x < y;
        };
        if (sort == "tenant") return desc ? key_less(b, a) : key_less(a, b);
        // Default orders put what needs attention first; order=desc reverses them.
        if (sort == "status") return cmp(-status_rank(a->overall()), -status_rank(b->overall()));
        if (sort == "lastReport")
            return cmp(a->last_report_at().seconds() * 1000000000LL + a->last_report_at().nanos(),
                       b->last_report_at().seconds() * 1000000000LL + b->last_report_at().nanos());
        if (sort == "openTasks") return cmp(-static_cast<long long>(a->open_tasks()), -static_cast<long long>(b->open_tasks()));
        if (sort == "alerts") return cmp(-static_cast<long long>(a->active_alerts()), -static_cast<long long>(b->active_alerts()));
        return cmp(static_cast<int>(a->agent_state()) == v1::AGENT_STATE_ONLINE ? 1 : 0,
                   static_cast<int>(b->agent_state()) == v1::AGENT_STATE_ONLINE ? 1 : 0);
    });
    json out = json::array();
    const std::uint64_t first = (page - 1) * page_size;
    for (std::uint64_t i = first; i < rows.size() && i < first + page_size; ++i) out.push_back(to_json(*rows[i]));
    return reply(200, {{"tenants", out},
                       {"total", rows.size()},
                       {"all", res.response->tenants_size()},
                       {"counts", counts},
                       {"page", page},
                       {"pageSize", page_size},
                       {"pages", rows.empty() ? 1 : (rows.size() + page_size - 1) / page_size}});
}

api_response tenant(const std::string& key, const api_context& ctx) {
    v1::AdminRequest ar;
    ar.mutable_show_tenant()->set_tenant(key);
    auto res = call(ctx, ar);
    if (!res.response) return res.error;
    return reply(200, to_json(res.response->tenant_detail()));
}

api_response tasks(const api_request& req, const api_context& ctx) {
    v1::AdminRequest ar;
    auto* lt = ar.mutable_list_tasks();
    if (const auto state = param(req, "state"); !state.empty() && state != "all") {
        v1::TaskState s{};
        if (!v1::TaskState_Parse("TASK_STATE_" + state, &s) && !v1::TaskState_Parse(state, &s))
            return fail(400, "bad_request", "unknown task state '" + state + "'");
        lt->set_state(s);
    }
    lt->set_tenant(param(req, "tenant"));
    auto res = call(ctx, ar);
    if (!res.response) return res.error;
    std::vector<const v1::TaskView*> rows;
    for (const auto& t : res.response->tasks()) rows.push_back(&t);
    std::stable_sort(rows.begin(), rows.end(), [](const v1::TaskView* a, const v1::TaskView* b) {
        const bool wa = a->state() == v1::TASK_STATE_PENDING_APPROVAL, wb = b->state() == v1::TASK_STATE_PENDING_APPROVAL;
        if (wa != wb) return wa;
        const auto ta = a->updated_at().seconds(), tb = b->updated_at().seconds();
        if (ta != tb) return ta > tb;
        return a->task_id() < b->task_id();
    });
    json out = json::array();
    for (const auto* t : rows) out.push_back(to_json(*t));
    return reply(200, {{"tasks", out}});
}

api_response task(const std::string& id, const api_context& ctx) {
    v1::AdminRequest ar;
    ar.mutable_show_task()->set_task_id(id);
    auto res = call(ctx, ar);
    if (!res.response) return res.error;
    if (res.response->tasks_size() == 0) return fail(404, "not_found", "no task " + id);
    return reply(200, to_json(res.response->tasks(0)));
}

json parse_body(const api_request& req) {
    if (req.body.empty()) return json::object();
    auto j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw std::invalid_argument("the body must be a JSON object");
    return j;
}

// 401 with where to sign in again: max_age asks the IdP for a fresh sign-in, then back to the task.
api_response reauth(const std::string& task_id, const api_context& ctx, const std::string& message) {
    const auto max_age = std::to_string(ctx.approval_reauth.count());
    return reply(401, {{"error", "reauth_required"},
                       {"message", message},
                       {"signIn", "/auth/sign-in?max_age=" + max_age + "&return=/tasks/" + http::url_encode(task_id)}});
}

api_response decide(const std::string& id, const std::string& verb, const api_request& req, const api_context& ctx) {
    const auto body = parse_body(req);
    v1::AdminRequest ar;
    if (verb == "approve") {
        // The engine refuses too; refusing here first means a viewer is never sent to re-authenticate.
        if (const auto r = to_string(ctx.who.who); r != "approver" && r != "admin")
            return fail(403, "forbidden", ctx.who.upn + " has the role " + std::string(r) + "; approving needs approver or admin");
        // Approving a change to a customer's security policy needs a recent sign-in.
        const auto age_ms = ctx.now_ms - ctx.who.auth_time_ms;
        if (ctx.who.auth_time_ms <= 0 || age_ms > std::chrono::milliseconds(ctx.approval_reauth).count())
            return reauth(id, ctx, "approving needs a sign-in within the last " + std::to_string(ctx.approval_reauth.count()) +
                                       " seconds; sign in again");
        if (!body.contains("planVersion") || !body["planVersion"].is_number_unsigned())
            return fail(400, "bad_request", "planVersion (the plan version you saw) is required");
        auto* a = ar.mutable_approve();
        a->set_task_id(id);
        a->set_plan_version(body["planVersion"].get<std::uint32_t>());
        if (body.contains("comment") && body["comment"].is_string()) a->set_comment(body["comment"].get<std::string>());
    } else {
        const auto reason = body.contains("reason") && body["reason"].is_string() ? body["reason"].get<std::string>() : "";
        if (reason.empty()) return fail(400, "bad_request", "reason is required to reject");
        auto* r = ar.mutable_reject();
        r->set_task_id(id);
        r->set_reason(reason);
    }
    auto res = call(ctx, ar);
    // The coordinator checks the sign-in's age too (its clock decides at commit).
    if (!res.response && res.code == "reauth_required") return reauth(id, ctx, json::parse(res.error.body).value("message", ""));
    if (!res.response) return res.error;
    json out = {{"ok", true}};
    if (res.response->tasks_size() > 0) out["task"] = to_json(res.response->tasks(0));
    return reply(200, out);
}

api_response alerts(const api_request& req, const api_context& ctx) {
    v1::AdminRequest ar;
    auto* la = ar.mutable_list_alerts();
    la->set_include_resolved(truthy(param(req, "all")));
    la->set_tenant(param(req, "tenant"));
    auto res = call(ctx, ar);
    if (!res.response) return res.error;
    json out = json::array();
    for (const auto& a : res.response->alerts()) out.push_back(to_json(a));
    return reply(200, {{"alerts", out}});
}

api_response audit(const api_request& req, const api_context& ctx) {
    std::uint64_t after = 0, limit = 200;
    if (!param_uint(req, "after", 0, after)) return fail(400, "bad_request", "after must be a sequence number");
    if (!param_uint(req, "limit", 200, limit) || limit == 0 || limit > 5000)
        return fail(400, "bad_request", "limit must be a number from 1 to 5000");
    v1::AdminRequest ar;
    auto* q = ar.mutable_query_audit();
    q->set_after_seq(after);
    q->set_limit(static_cast<std::uint32_t>(limit));
    q->set_task_id(param(req, "taskId"));
    q->set_verify(truthy(param(req, "verify")));
    // Without `after` the newest entries come first (the Audit page); with it, in order (scripts paging on).
    q->set_newest_first(param(req, "after").empty() || param(req, "order") == "newest");
    auto res = call(ctx, ar);
    if (!res.response) return res.error;
    json entries = json::array();
    for (const auto& e : res.response->audit()) entries.push_back(to_json(e));
    json out = {{"entries", entries}};
    if (q->verify()) out["verification"] = to_json(res.response->verification());
    return reply(200, out);
}

api_response webhooks(const api_request& req, const std::vector<std::string>& parts, const api_context& ctx) {
    v1::AdminRequest ar;
    if (parts.size() == 1 && req.method == "GET") {
        ar.mutable_list_webhooks();
    } else if ((parts.size() == 1 && req.method == "POST") || (parts.size() == 2 && req.method == "PUT")) {
        const auto body = parse_body(req);
        v1::WebhookSubscription sub;
        google::protobuf::util::JsonParseOptions o;
        o.ignore_unknown_fields = false;
        if (const auto st = google::protobuf::util::JsonStringToMessage(body.dump(), &sub, o); !st.ok())
            return fail(400, "bad_request", "not a webhook subscription: " + std::string(st.message()));
        if (parts.size() == 2) sub.set_id(parts[1]);
        else sub.clear_id();
        *ar.mutable_put_webhook()->mutable_subscription() = sub;
    } else if (parts.size() == 2 && req.method == "DELETE") {
        ar.mutable_remove_webhook()->set_id(parts[1]);
    } else if (parts.size() == 3 && parts[2] == "test" && req.method == "POST") {
        ar.mutable_test_webhook()->set_id(parts[1]);
    } else {
        return fail(405, "method_not_allowed", req.method + " /api/v1/" + req.path + " is not an endpoint");
    }
    auto res = call(ctx, ar);
    if (!res.response) return res.error;
    json out = json::array();
    for (const auto& w : res.response->webhooks()) out.push_back(to_json(w));
    return reply(200, {{"ok", true}, {"webhooks", out}});
}

api_response route(const api_request& req, const api_context& ctx) {
    const auto parts = split_path(req.path);
    const auto& m = req.method;
    if (parts.empty()) return fail(404, "not_found", "no endpoint /api/v1/");
    const auto& top = parts[0];
    if (top == "me" && parts.size() == 1 && m == "GET") return me(ctx);
    if (top == "tenants" && parts.size() == 1 && m == "GET") return tenants(req, ctx);
    if (top == "tenants" && parts.size() == 2 && m == "GET") return tenant(parts[1], ctx);
    if (top == "tasks" && parts.size() == 1 && m == "GET") return tasks(req, ctx);
    if (top == "tasks" && parts.size() == 2 && m == "GET") return task(parts[1], ctx);
    if (top == "tasks" && parts.size() == 3 && m == "POST" && (parts[2] == "approve" || parts[2] == "reject"))
        return decide(parts[1], parts[2], req, ctx);
    if (top == "alerts" && parts.size() == 1 && m == "GET") return alerts(req, ctx);
    if (top == "audit" && parts.size() == 1 && m == "GET") return audit(req, ctx);
    if (top == "webhooks" && parts.size() <= 3) return webhooks(req, parts, ctx);
    return fail(404, "not_found", "no endpoint " + m + " /api/v1/" + req.path);
}

}  // namespace

std::string error_json(const std::string& code, const std::string& message) {
    return json{{"error", code}, {"message", message}}.dump();
}

api_response handle_api(const api_request& req, const api_context& ctx) {
    try {
        return route(req, ctx);
    } catch (const std::invalid_argument& e) {
        return fail(400, "bad_request", e.what());
    } catch (const std::exception& e) {
        return fail(500, "internal", std::string("the console could not answer: ") + e.what());
    }
}

}  // namespace connguard::coord::console
