// libFuzzer target for the what-if engine's input side: policy files as people export them (any
// bytes: BOMs, UTF-16, broken JSON, wrong types), an evaluate request, and the evaluation itself.
// DESIGN §10 / issue 4: every input loads or is refused with a precise error, never a crash.
// Input: "<policy file bytes>\x1e<evaluate request bytes>" (ASCII record separator); without the
// separator the whole input is the policy file and a fixed request is used.
//
// Built two ways (tests/fuzz/CMakeLists.txt):
//  - fuzz_whatif (clang, -fsanitize=fuzzer; CONNGUARD_BUILD_FUZZ=ON): run by tests/fuzz/run-fuzzers.
//  - fuzz_whatif_replay (any compiler, under ctest; tests/fuzz/replay_main.h): the seeds are policies
//    in the shapes people export (object, array, list response, BOMs, UTF-16).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "agent/whatif/directory.h"
#include "agent/whatif/evaluate.h"
#include "agent/whatif/loader.h"
#include "agent/whatif/policy.h"
#include "agent/whatif/sign_in.h"

namespace {

constexpr char record_separator = '\x1e';

const char* const default_request = R"({
  "signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": "11111111-1111-1111-1111-111111111111"},
  "signInContext": {"@odata.type": "#microsoft.graph.applicationContext",
                    "includeApplications": ["00000002-0000-0ff1-ce00-000000000000"]},
  "signInConditions": {"clientAppType": "mobileAppsAndDesktopClients", "devicePlatform": "windows",
                       "ipAddress": "203.0.113.7", "country": "DE"}
})";

// The account is in a group and holds Global Administrator, so group and role conditions run too.
const connguard::whatif::directory& fixed_directory() {
    static const connguard::whatif::directory dir = [] {
        auto d = connguard::whatif::parse_directory(nlohmann::json::parse(R"({
          "securityDefaultsEnabled": false,
          "namedLocations": [{"@odata.type": "#microsoft.graph.ipNamedLocation", "id": "loc-office",
                              "displayName": "Office", "isTrusted": true,
                              "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"}]}],
          "users": {"11111111-1111-1111-1111-111111111111": {
              "userType": "Member", "groups": ["22222222-2222-2222-2222-222222222222"],
              "roles": ["62e90394-69f5-4237-9190-012177145e10"], "perUserMfaState": "disabled",
              "isMfaRegistered": true}}
        })"));
        return d.ok() ? *d : connguard::whatif::directory{};
    }();
    return dir;
}

/// Bytes -> JSON the way the loader reads a file; nullopt when refused (with a reason, or trap).
std::optional<nlohmann::json> to_json(std::string_view bytes) {
    auto text = connguard::whatif::decode_text(std::string(bytes));
    if (!text) {
        if (text.err().message.empty()) __builtin_trap();
        return std::nullopt;
    }
    auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return std::nullopt;
    return j;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace connguard::whatif;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const auto sep = in.find(record_separator);
    const std::string_view policy_bytes = in.substr(0, sep);
    const std::string_view request_bytes = sep == std::string_view::npos ? std::string_view(default_request)
                                                                         : in.substr(sep + 1);
    auto doc = to_json(policy_bytes);
    if (!doc) return 0;
    auto policies = parse_policies(*doc);
    if (!policies) {
        if (policies.err().message.empty()) __builtin_trap();  // a refusal always says why
        return 0;
    }
    auto req_doc = to_json(request_bytes);
    if (!req_doc) return 0;
    auto request = parse_evaluate_request(*req_doc);
    if (!request) {
        if (request.err().message.empty()) __builtin_trap();
        return 0;
    }
    const auto e = evaluate(*policies, fixed_directory(), *request);
    // Invariants: one result per policy, in order; the Graph-shaped answer always serializes.
    if (e.policies.size() != policies->size()) __builtin_trap();
    for (std::size_t i = 0; i < e.policies.size(); ++i)
        if (e.policies[i].id != (*policies)[i].id) __builtin_trap();
    (void)to_graph_json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return 0;
}

#ifdef CONNGUARD_FUZZ_REPLAY_MAIN
#include "tests/fuzz/replay_main.h"

namespace {

std::vector<std::pair<std::string, std::string>> seeds() {
    const std::string require_mfa = R"({"id": "p-mfa", "displayName": "Require MFA for admins", "state": "enabled",
      "conditions": {"users": {"includeRoles": ["62e90394-69f5-4237-9190-012177145e10"], "excludeUsers": [],
                               "excludeGroups": ["33333333-3333-3333-3333-333333333333"]},
                     "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["all"],
                     "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}},
      "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}})";
    const std::string block_legacy = R"({"value": [{"id": "p-legacy", "displayName": "Block legacy", "state":
      "enabledForReportingButNotEnforced", "conditions": {"users": {"includeUsers": ["All"]},
      "applications": {"includeApplications": ["Office365"]}, "clientAppTypes": ["exchangeActiveSync", "other"],
      "platforms": {"includePlatforms": ["all"], "excludePlatforms": ["iOS"]},
      "devices": {"deviceFilter": {"mode": "exclude", "rule": "device.trustType -eq \"ServerAD\""}}},
      "grantControls": {"operator": "OR", "builtInControls": ["block"]}}]})";
    const std::string groups_guests = R"([{"id": "p-guest", "displayName": "Guests", "state": "enabled",
      "conditions": {"users": {"includeGuestsOrExternalUsers": {"guestOrExternalUserTypes": "b2bCollaborationGuest",
                     "externalTenants": {"membershipKind": "all"}}, "includeGroups": ["22222222-2222-2222-2222-222222222222"]},
                     "applications": {"includeApplications": ["MicrosoftAdminPortals"]},
                     "signInRiskLevels": ["high"], "clientAppTypes": ["browser"]},
      "grantControls": {"operator": "AND", "builtInControls": ["mfa", "compliantDevice"],
                        "authenticationStrength": {"id": "00000000-0000-0000-0000-000000000002"}},
      "sessionControls": {"signInFrequency": {"value": 1, "type": "hours", "isEnabled": true}}}])";
    std::string utf16;
    utf16 += "\xFF\xFE";
    for (char c : require_mfa) {
        utf16 += c;
        utf16 += '\0';
    }
    return {{"require_mfa", require_mfa},
            {"block_legacy", block_legacy},
            {"groups_guests_with_request", groups_guests + record_separator + default_request},
            {"utf8_bom", "\xEF\xBB\xBF" + require_mfa},
            {"utf16le_bom", utf16}};
}

bool loads(const std::string& data) {
    auto doc = to_json(std::string_view(data).substr(0, data.find(record_separator)));
    return doc && connguard::whatif::parse_policies(*doc).ok();
}

}  // namespace

int main(int argc, char** argv) {
    return connguard::fuzz::replay_main(
        argc, argv,
        {"fuzz_whatif_replay",
         "Replays inputs (\"<policy file bytes>\\x1e<evaluate request bytes>\") through the what-if\n"
         "loader, parsers and evaluator, what the libFuzzer target fuzz_whatif explores\n"
         "(tests/fuzz/run-fuzzers).\n",
         seeds(), loads});
}
#endif
