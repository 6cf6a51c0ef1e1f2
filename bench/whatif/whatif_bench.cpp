// What-if engine throughput on the real policy corpus: policy evaluations per second, tenant
// verdicts per second, and one Graph-evaluate-equivalent request end to end (JSON in -> JSON out).
// Prints figures only; never pass/fail.
#include <benchmark/benchmark.h>

#include <filesystem>

#include "agent/whatif/loader.h"
#include "agent/whatif/whatif.h"

namespace {

using namespace connguard::whatif;
namespace fs = std::filesystem;

const fs::path corpus = fs::path(CONNGUARD_SHARED_DIR) / "reference" / "ca-policies";

/// Every policy of the corpus (all sources), as one big "tenant".
const std::vector<policy>& all_policies() {
    static const std::vector<policy> ps = [] {
        std::vector<policy> out;
        if (!fs::exists(corpus)) return out;
        for (const auto& e : fs::recursive_directory_iterator(corpus)) {
            if (!e.is_regular_file() || e.path().extension() != ".json") continue;
            auto r = load_policies(e.path());
            if (!r) continue;
            for (auto& lp : r.value()) out.push_back(std::move(lp.value));
        }
        return out;
    }();
    return ps;
}

/// One source folder's policies: a realistic tenant (j0eyv baseline, 36 policies).
const std::vector<policy>& tenant_policies() {
    static const std::vector<policy> ps = [] {
        std::vector<policy> out;
        auto r = load_policies(corpus / "j0eyv__ConditionalAccessBaseline" / "Config" / "ConditionalAccess");
        if (r) {
            for (auto& lp : r.value()) out.push_back(std::move(lp.value));
        }
        return out;
    }();
    return ps;
}

sign_in account_sign_in() {
    sign_in s;
    s.user_id = "aaaaaaaa-0000-0000-0000-000000000001";
    s.applications = {app_exchange_online};
    s.client_app_type = "mobileAppsAndDesktopClients";
    return s;
}

directory tenant_directory() {
    directory d;
    user_facts u;
    u.groups = {"11111111-0000-0000-0000-000000000001", "11111111-0000-0000-0000-000000000002"};
    u.roles = {"62e90394-69f5-4237-9190-012177145e10"};
    d.users["aaaaaaaa-0000-0000-0000-000000000001"] = u;
    return d;
}

/// The evaluator of record: each policy compiled once (outside the loop), the sign-in prepared once
/// per pass over the corpus (inside the loop), then every compiled policy evaluated.
void BM_PolicyEvaluations(benchmark::State& state) {
    const auto& ps = all_policies();
    if (ps.empty()) {
        state.SkipWithError("no policy corpus (../shared absent)");
        return;
    }
    const auto d = tenant_directory();
    const auto s = account_sign_in();
    const compiled_policy_set set = compile(ps);
    prepared_sign_in u;
    for (auto _ : state) {
        prepare(set, d, s, u);
        for (const auto& p : set.policies) benchmark::DoNotOptimize(evaluate_compiled(p, u));
    }
    state.counters["policies"] = static_cast<double>(ps.size());
    state.counters["policy_evaluations/s"] =
        benchmark::Counter(static_cast<double>(ps.size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_PolicyEvaluations);

/// The one-shot API, evaluate_policy(policy, directory, sign_in): compiles the policy at every call
/// (what a caller that evaluates a policy once pays).
void BM_PolicyEvaluationsOneShotApi(benchmark::State& state) {
    const auto& ps = all_policies();
    if (ps.empty()) {
        state.SkipWithError("no policy corpus (../shared absent)");
        return;
    }
    const auto d = tenant_directory();
    const auto s = account_sign_in();
    for (auto _ : state) {
        for (const auto& p : ps) benchmark::DoNotOptimize(evaluate_policy(p, d, s));
    }
    state.counters["policy_evaluations/s"] =
        benchmark::Counter(static_cast<double>(ps.size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_PolicyEvaluationsOneShotApi);

/// A tenant verdict from the compiled tenant: prepare the sign-in, evaluate every policy, decide the
/// verdict (result, causes, uncertain, report-only) into reused storage.
void BM_TenantVerdicts(benchmark::State& state) {
    const auto& ps = tenant_policies();
    if (ps.empty()) {
        state.SkipWithError("no policy corpus (../shared absent)");
        return;
    }
    const auto d = tenant_directory();
    const auto s = account_sign_in();
    const compiled_policy_set set = compile(ps);
    prepared_sign_in u;
    compiled_evaluation e;
    for (auto _ : state) {
        prepare(set, d, s, u);
        evaluate_into(set, u, e);
        benchmark::DoNotOptimize(e.result);
    }
    state.counters["policies_per_tenant"] = static_cast<double>(ps.size());
    state.counters["tenant_verdicts/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_TenantVerdicts);

/// The same, plus the string form (`evaluation`: labels, details, explanations) built from it into
/// reused storage.
void BM_TenantVerdictsWithStrings(benchmark::State& state) {
    const auto& ps = tenant_policies();
    if (ps.empty()) {
        state.SkipWithError("no policy corpus (../shared absent)");
        return;
    }
    const auto d = tenant_directory();
    const auto s = account_sign_in();
    const compiled_policy_set set = compile(ps);
    prepared_sign_in u;
    compiled_evaluation e;
    evaluation strings;
    for (auto _ : state) {
        prepare(set, d, s, u);
        evaluate_into(set, u, e);
        materialize_into(set, u, e, strings);
        benchmark::DoNotOptimize(strings.result.result);
    }
    state.counters["tenant_verdicts/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_TenantVerdictsWithStrings);

/// The one-shot API, evaluate(policies, directory, sign_in): compiles the tenant at every call.
void BM_TenantVerdictsOneShotApi(benchmark::State& state) {
    const auto& ps = tenant_policies();
    if (ps.empty()) {
        state.SkipWithError("no policy corpus (../shared absent)");
        return;
    }
    const auto d = tenant_directory();
    const auto s = account_sign_in();
    for (auto _ : state) benchmark::DoNotOptimize(evaluate(ps, d, s));
    state.counters["tenant_verdicts/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_TenantVerdictsOneShotApi);

/// Graph's evaluate, end to end: the policy list response and the request body as JSON text in,
/// the whatIfAnalysisResult document as JSON text out.
void BM_EvaluateRequestEndToEnd(benchmark::State& state) {
    const auto& ps = tenant_policies();
    if (ps.empty()) {
        state.SkipWithError("no policy corpus (../shared absent)");
        return;
    }
    nlohmann::json list = {{"value", nlohmann::json::array()}};
    auto files = policy_files(corpus / "j0eyv__ConditionalAccessBaseline" / "Config" / "ConditionalAccess");
    if (!files) {
        state.SkipWithError(files.err().message.c_str());
        return;
    }
    const std::vector<fs::path> paths = files.value();
    for (const auto& f : paths) {
        auto j = read_json_file(f);
        if (j) list["value"].push_back(j.value());
    }
    const std::string policies_text = list.dump();
    const std::string request_text = R"({
      "signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": "aaaaaaaa-0000-0000-0000-000000000001"},
      "signInContext": {"@odata.type": "#microsoft.graph.applicationContext",
                        "includeApplications": ["00000002-0000-0ff1-ce00-000000000000"]},
      "signInConditions": {"clientAppType": "mobileAppsAndDesktopClients", "country": "NL", "ipAddress": "203.0.113.9"}})";
    const auto d = tenant_directory();
    size_t bytes = 0;
    for (auto _ : state) {
        auto policies = parse_policies(nlohmann::json::parse(policies_text));
        auto request = parse_evaluate_request(nlohmann::json::parse(request_text));
        auto out = to_graph_json(evaluate(*policies, d, *request)).dump();
        bytes = out.size();
        benchmark::DoNotOptimize(out);
    }
    state.counters["requests/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["response_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_EvaluateRequestEndToEnd);

}  // namespace

BENCHMARK_MAIN();
