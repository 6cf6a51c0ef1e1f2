#pragma once
// Pure classification of a token endpoint answer to the ROPC sign-in probe (graph.md §1.5, §1.6).
// Decisions are keyed on `error_codes` only, never on `error` or `error_description` text: the
// `error` string varies for the same code (invalid_grant vs interaction_required) and the
// description is for people.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/snapshot/tenant_snapshot.h"

namespace connguard::graph {

/// The class of one AADSTS code; nullopt for a code that belongs to no known class.
std::optional<snapshot::signin_outcome> outcome_for_code(long code);

/// Classifies a token endpoint answer (HTTP status + body) for a probe of `resource_app_id`.
/// - 200 with an access_token -> success.
/// - an error body: the outcome of the first code in error_codes that belongs to a known class
///   (so [70002,50126] is bad_credentials); `other` when none does. aadsts_code is that code (or
///   error_codes[0] when none is known); policy_ids come from the `claims` challenge (a JSON string:
///   access_token.capolids.values or access_token.polids.values).
/// - anything else (not JSON, no error_codes, 200 without a token) -> other, with error
///   "unexpected_response" and a description naming the status.
snapshot::signin_result classify_token_response(long http_status, std::string_view body,
                                                const std::string& resource_app_id);

/// The scope a token for a resource app is requested with: well-known first-party app ids map to
/// their resource URI ("00000002-0000-0ff1-ce00-000000000000" -> "https://outlook.office365.com/.default",
/// Microsoft Graph, Azure Service Management); anything else -> "<appId>/.default".
std::string scope_for_resource(const std::string& resource_app_id);

}  // namespace connguard::graph
