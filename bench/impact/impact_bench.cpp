// Pre-change impact (issue 15): one draft policy over 1,000 tenant snapshots (evaluation contexts as
// the coordinator holds them in reports), as `connguardctl impact` asks the coordinator: time per
// fleet and evaluations per second (one evaluation = the draft against one sign-in of one account).
// The draft is a real baseline policy (j0eyv CA000, require MFA for all users), or an inline one
// when ../shared is absent. Prints figures only; never pass/fail.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <unistd.h>
#include <string>
#include <vector>

#include "agent/whatif/loader.h"
#include "coordinator/impact.h"
#include "coordinator/store.h"

namespace {

using namespace connguard;
namespace fs = std::filesystem;
namespace impact = connguard::coord::impact;

const fs::path draft_file = fs::path(CONNGUARD_SHARED_DIR) / "reference" / "ca-policies" /
                            "j0eyv__ConditionalAccessBaseline" / "Config" / "ConditionalAccess" /
                            "CA000-Global-IdentityProtection-AnyApp-AnyPlatform-MFA.json";

impact::draft load_draft() {
    nlohmann::json doc;
    if (auto j = whatif::read_json_file(draft_file)) {
        doc = j.value();
    } else {
        doc = {{"displayName", "require MFA"},
               {"state", "enabled"},
               {"conditions",
                {{"users", {{"includeUsers", {"All"}}, {"excludeGroups", {"8e75af29-5176-4372-a718-724b8a4620dc"}}}},
                 {"applications", {{"includeApplications", {"All"}}}},
                 {"clientAppTypes", {"all"}}}},
               {"grantControls", {{"operator", "OR"}, {"builtInControls", {"mfa"}}}}};
    }
    auto d = impact::compile_draft(doc);
    if (!d) std::abort();
    return std::move(d.value());
}

/// prefix + n + suffix, appended (not `const char* + std::string&&` in a loop: GCC 12 -Warray-bounds).
std::string numbered(const char* prefix, std::size_t n, const char* suffix = "") {
    std::string out = prefix;
    out += std::to_string(n);
    out += suffix;
    return out;
}

std::string hex_id(std::uint32_t tenant, std::uint32_t n) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-4000-8000-%012x", tenant, n & 0xffffu, n);
    return buf;
}

/// 1,000 tenants: each account in 20 groups, one in ten in an excluded group, one in five with a
/// role, one in four with a legacy sign-in, named locations and a known egress.
std::vector<v1::ValidationReport> fleet(std::size_t n) {
    std::vector<v1::ValidationReport> out(n);
    for (std::uint32_t i = 0; i < n; ++i) {
        auto& r = out[i];
        r.set_account_upn(numbered("svc@tenant", i, ".example"));
        r.set_account_object_id(hex_id(i, 1));
        auto& c = *r.mutable_evaluation_context();
        c.set_account_object_id(hex_id(i, 1));
        c.set_is_mfa_registered(true);
        c.set_complete(true);
        c.set_named_locations_known(true);
        for (std::uint32_t g = 0; g < 20; ++g) c.add_group_ids(hex_id(i, 100 + g));
        if (i % 10 == 0) c.add_group_ids("8e75af29-5176-4372-a718-724b8a4620dc");
        if (i % 5 == 0) c.add_role_template_ids("62e90394-69f5-4237-9190-012177145e10");
        if (i % 3 == 0) c.add_excluding_group_ids(hex_id(i, 100));
        for (const char* app : {"00000002-0000-0ff1-ce00-000000000000", "00000003-0000-0000-c000-000000000000"}) {
            auto* s = c.add_sign_ins();
            s->set_target_app_id(app);
            s->set_evaluated_app_id(app);
            s->set_client_app_type("mobileAppsAndDesktopClients");
            s->set_authentication_flow("none");
        }
        if (i % 4 == 0) {
            auto* s = c.add_sign_ins();
            s->set_target_app_id("00000002-0000-0ff1-ce00-000000000000");
            s->set_evaluated_app_id("00000002-0000-0ff1-ce00-000000000000");
            s->set_client_app_type("other");
            s->set_authentication_flow("none");
        }
        c.set_egress_ip(numbered("203.0.113.", i % 250));
        c.set_egress_country("NL");
        for (std::uint32_t l = 0; l < 3; ++l) {
            auto* loc = c.add_named_locations();
            loc->set_id(hex_id(i, 500 + l));
            loc->set_display_name(numbered("office ", l));
            loc->set_is_trusted(l == 0);
            loc->add_ip_ranges(numbered("198.51.100.", l * 16, "/28"));
        }
    }
    return out;
}

void BM_ImpactOverFleet(benchmark::State& state) {
    const auto d = load_draft();
    const auto reports = fleet(static_cast<std::size_t>(state.range(0)));
    const std::int64_t now = 1'800'000'000'000;
    std::vector<impact::tenant_input> inputs;
    for (std::size_t i = 0; i < reports.size(); ++i)
        inputs.push_back({numbered("tenant", i), &reports[i], now - 60'000, 900'000});
    std::size_t evaluations = 0, broken = 0;
    for (auto _ : state) {
        for (const auto& in : inputs) {
            auto t = impact::evaluate_tenant(d, in, now);
            evaluations += t.sign_ins.size();
            broken += impact::breaks(t.result) ? 1 : 0;
            benchmark::DoNotOptimize(t);
        }
    }
    state.counters["tenants"] = static_cast<double>(inputs.size());
    state.counters["evaluations/s"] = benchmark::Counter(static_cast<double>(evaluations), benchmark::Counter::kIsRate);
    state.counters["tenants/s"] =
        benchmark::Counter(static_cast<double>(inputs.size() * state.iterations()), benchmark::Counter::kIsRate);
    state.counters["breaks"] = static_cast<double>(broken / state.iterations());
}
BENCHMARK(BM_ImpactOverFleet)->Arg(1000)->Unit(benchmark::kMillisecond);

/// The same with the wire form the coordinator answers (to_proto per tenant).
void BM_ImpactOverFleetWithResponse(benchmark::State& state) {
    const auto d = load_draft();
    const auto reports = fleet(static_cast<std::size_t>(state.range(0)));
    const std::int64_t now = 1'800'000'000'000;
    std::size_t evaluations = 0;
    for (auto _ : state) {
        v1::AdminResponse rsp;
        for (std::size_t i = 0; i < reports.size(); ++i) {
            auto t = impact::evaluate_tenant(d, {numbered("tenant", i), &reports[i], now - 60'000, 900'000}, now);
            evaluations += t.sign_ins.size();
            *rsp.add_impacts() = impact::to_proto(t);
        }
        benchmark::DoNotOptimize(rsp.ByteSizeLong());
    }
    state.counters["evaluations/s"] = benchmark::Counter(static_cast<double>(evaluations), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ImpactOverFleetWithResponse)->Arg(1000)->Unit(benchmark::kMillisecond);

/// What the coordinator does per impact request: each tenant's posture row (the report, parsed from
/// SQLite) and agent row read from a real store file, the draft evaluated, the wire form built.
void BM_ImpactFromTheStore(benchmark::State& state) {
    const auto d = load_draft();
    const auto n = static_cast<std::size_t>(state.range(0));
    const auto reports = fleet(n);
    const auto dir = fs::temp_directory_path() / ("connguard-bench-impact-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    {
        auto db = coord::store::open(dir / "coordinator.db");
        if (!db) std::abort();
        const std::int64_t now = 1'800'000'000'000;
        if (!(*db)->begin()) std::abort();
        for (std::size_t i = 0; i < n; ++i) {
            coord::posture_row p;
            p.tenant = numbered("tenant", i);
            p.envelope_id = numbered("e", i);
            p.cycle = 1;
            p.report = reports[i];
            p.received_ms = now - 60'000;
            p.collected_ms = now - 60'000;
            if (!(*db)->put_posture(p)) std::abort();
            coord::agent_row a;
            a.tenant = p.tenant;
            a.state = v1::AGENT_STATE_ONLINE;
            a.last_seen_ms = now - 1'000;
            a.poll_interval_ms = 900'000;
            if (!(*db)->put_agent(a)) std::abort();
        }
        if (!(*db)->commit()) std::abort();
        std::size_t evaluations = 0;
        for (auto _ : state) {
            v1::AdminResponse rsp;
            for (std::size_t i = 0; i < n; ++i) {
                const auto key = numbered("tenant", i);
                auto p = (*db)->posture(key);
                auto a = (*db)->agent(key);
                if (!p || !a || !*p) std::abort();
                auto t = impact::evaluate_tenant(
                    d, {key, &(*p)->report, (*p)->collected_ms, *a && (*a)->poll_interval_ms > 0 ? (*a)->poll_interval_ms : 0},
                    now);
                evaluations += t.sign_ins.size();
                *rsp.add_impacts() = impact::to_proto(t);
            }
            benchmark::DoNotOptimize(rsp.ByteSizeLong());
        }
        state.counters["evaluations/s"] =
            benchmark::Counter(static_cast<double>(evaluations), benchmark::Counter::kIsRate);
    }
    fs::remove_all(dir);
}
BENCHMARK(BM_ImpactFromTheStore)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
