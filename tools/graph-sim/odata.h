#pragma once
// The OData query subset Graph lists use here: $filter (eq/ne/ge/gt/le/lt, startswith,
// collection/any(x: x eq value), joined by "and"), $select, $top, $count, $skiptoken paging. Pure helpers, no state.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace connguard::graph_sim {

using json = nlohmann::json;

/// Decoded query parameters, keys as sent ("$filter", "$select", ...).
using query_map = std::map<std::string, std::string>;
query_map parse_query(const std::string& raw_query);

/// A parsed $filter: every clause must hold (clauses are ANDed).
struct filter_clause {
    std::string field;  ///< "userPrincipalName", "initiatedBy/user/id"
    std::string op;     ///< eq ne ge gt le lt startswith any_eq (collection/any(x: x eq value))
    json value;         ///< string, bool, number or null
};
/// Errors (code "odata.filter") carry Graph's message text.
result<std::vector<filter_clause>> parse_filter(const std::string& text);
bool matches(const json& item, const std::vector<filter_clause>& filter);

/// Keeps only the selected properties (plus "id" and "@odata.type"); no-op for an empty $select.
json apply_select(const json& item, const std::string& select);

/// Opaque $skiptoken for an offset, and back (nullopt when invalid).
std::string make_skiptoken(std::size_t offset);
std::optional<std::size_t> parse_skiptoken(const std::string& token);

/// Percent-encodes a query value (RFC 3986 unreserved kept).
std::string encode_query_value(const std::string& v);

}  // namespace connguard::graph_sim
