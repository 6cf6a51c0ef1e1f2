#pragma once
// What Entra knows about the tenant that a CA evaluation needs beyond the policies: Security
// Defaults, named locations, and per-user facts (type, transitive groups, active roles, MFA state).
// Pure: no I/O.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace connguard::whatif {

/// An IPv4 or IPv6 CIDR range (IPv4 kept as an IPv4-mapped IPv6 address).
struct cidr {
    std::array<std::uint8_t, 16> address{};
    int prefix_bits = 0;  ///< over the 128-bit form
    bool v4 = false;
};
/// Parses "a.b.c.d/n", "a.b.c.d", "x:y::z/n" or "x:y::z".
result<cidr> parse_cidr(const std::string& text);
/// Parses one IP address into the same 128-bit form (prefix 128).
result<cidr> parse_ip(const std::string& text);
bool contains(const cidr& range, const cidr& ip);

/// A Graph namedLocation (ipNamedLocation or countryNamedLocation).
struct named_location {
    enum class kind { ip, country, unknown };
    std::string id;
    std::string display_name;
    kind type = kind::unknown;
    bool is_trusted = false;                       ///< ipNamedLocation.isTrusted
    std::vector<cidr> ip_ranges;
    std::vector<std::string> countries;            ///< ISO codes, upper case
    bool include_unknown_countries = false;        ///< includeUnknownCountriesAndRegions
    std::string country_lookup_method = "clientIpAddress";
};
/// One Graph namedLocation object. Kind from @odata.type, or from the fields present.
result<named_location> parse_named_location(const nlohmann::json& j);

enum class per_user_mfa { disabled, enabled, enforced };
const char* to_string(per_user_mfa m);

/// The Graph guest kinds (guestOrExternalUserTypes members).
/// A member with no external kind is "none".
struct user_facts {
    bool guest = false;                        ///< userType guest
    std::string external_user_type;            ///< empty: "none" for members, "b2bCollaborationGuest" for guests
    std::string external_tenant_id;            ///< home tenant of an external user, when known
    std::set<std::string> groups;              ///< transitive group ids
    std::set<std::string> roles;               ///< active role template ids
    per_user_mfa per_user_mfa_state = per_user_mfa::disabled;
    bool is_mfa_registered = true;
    /// The guest kind used against guestOrExternalUserTypes ("none" for an internal member).
    std::string guest_kind() const;
};

struct directory {
    bool security_defaults_enabled = false;
    std::vector<named_location> named_locations;
    /// Ranges of the legacy "MFA trusted IPs" location (00000000-0000-0000-0000-000000000000);
    /// empty when the tenant has none (or the caller did not say).
    std::vector<cidr> mfa_trusted_ips;
    std::map<std::string, user_facts> users;  ///< by user object id (lower case)

    /// The user's facts; a user not listed is a plain member (no groups, no roles, per-user MFA
    /// disabled, MFA registered).
    user_facts user(const std::string& user_id) const;
    const named_location* location(const std::string& id) const;
};

/// The `--directory` document of `connguardctl whatif`:
/// {"securityDefaultsEnabled": bool, "namedLocations": [namedLocation...], "mfaTrustedIps": [cidr...],
///  "users": {"<id>": {"userType", "groups", "roles", "externalUserType", "externalTenantId",
///                     "perUserMfaState", "isMfaRegistered"}}}
/// Every key is optional. Errors (code "whatif.directory") name the field.
result<directory> parse_directory(const nlohmann::json& j);

/// Directory Synchronization Accounts role template id: holders are exempt from Security Defaults
/// (graph.md §5 "Exemption", §11.3).
inline constexpr const char* role_directory_synchronization_accounts = "d29b2b05-8046-44ba-8758-1e26182fcf32";

/// Privileged role template ids that Security Defaults always sends through MFA (graph.md §5).
const std::set<std::string>& security_defaults_privileged_roles();
/// Display name of a built-in directory role template id (lower case), or nullptr when unknown.
const char* role_display_name(const std::string& template_id);

}  // namespace connguard::whatif
