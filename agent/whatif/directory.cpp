#include "agent/whatif/directory.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "agent/whatif/json_util.h"

namespace connguard::whatif {

using nlohmann::json;
using namespace detail;

namespace {
const std::string code = "whatif.directory";
}

result<cidr> parse_ip(const std::string& raw) {
    const std::string text = trim(raw);
    cidr c;
    in_addr a4{};
    in6_addr a6{};
    if (inet_pton(AF_INET, text.c_str(), &a4) == 1) {
        c.v4 = true;
        c.address[10] = 0xff;
        c.address[11] = 0xff;
        std::memcpy(c.address.data() + 12, &a4, 4);
        c.prefix_bits = 128;
        return c;
    }
    if (inet_pton(AF_INET6, text.c_str(), &a6) == 1) {
        std::memcpy(c.address.data(), &a6, 16);
        c.prefix_bits = 128;
        // An IPv4-mapped IPv6 address is the IPv4 address.
        static const std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        c.v4 = std::memcmp(c.address.data(), mapped, 12) == 0;
        return c;
    }
    return make_error("whatif.ip", "'" + text + "' is not an IPv4 or IPv6 address");
}

result<cidr> parse_cidr(const std::string& raw) {
    const std::string text = trim(raw);
    const auto slash = text.find('/');
    auto ip = parse_ip(text.substr(0, slash));
    if (!ip) return make_error("whatif.cidr", "'" + text + "' is not a CIDR range: " + ip.err().message);
    cidr c = ip.value();
    if (slash == std::string::npos) return c;
    const std::string bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 || !std::all_of(bits.begin(), bits.end(), ::isdigit))
        return make_error("whatif.cidr", "'" + text + "': bad prefix length");
    const int n = std::stoi(bits);
    const int max = c.v4 ? 32 : 128;
    if (n > max) return make_error("whatif.cidr", "'" + text + "': prefix length over " + std::to_string(max));
    c.prefix_bits = c.v4 ? 96 + n : n;
    return c;
}

bool contains(const cidr& range, const cidr& ip) {
    if (range.v4 != ip.v4) return false;
    int bits = range.prefix_bits;
    for (size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
        const std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
        if ((range.address[i] & mask) != (ip.address[i] & mask)) return false;
    }
    return true;
}

result<named_location> parse_named_location(const json& j) {
    if (!j.is_object()) return make_error(code, "namedLocation: expected an object, got " + type_name(j));
    named_location l;
    auto id = string_field(j, "id", "id", code);
    if (!id) return id.err();
    l.id = to_lower(id.value());
    if (l.id.empty()) return make_error(code, "namedLocation: id: missing");
    auto name = string_field(j, "displayName", "namedLocation " + l.id + ": displayName", code);
    if (!name) return name.err();
    l.display_name = name.value();
    const std::string who = "namedLocation '" + (l.display_name.empty() ? l.id : l.display_name) + "': ";
    auto type = string_field(j, "@odata.type", who + "@odata.type", code);
    if (!type) return type.err();
    const auto t = to_lower(type.value());
    if (t.find("ipnamedlocation") != std::string::npos || (t.empty() && present(j, "ipRanges") != nullptr))
        l.type = named_location::kind::ip;
    else if (t.find("countrynamedlocation") != std::string::npos ||
             (t.empty() && present(j, "countriesAndRegions") != nullptr))
        l.type = named_location::kind::country;
    auto trusted = bool_field(j, "isTrusted", false, who + "isTrusted", code);
    if (!trusted) return trusted.err();
    l.is_trusted = trusted.value();
    if (const auto* ranges = present(j, "ipRanges")) {
        if (!ranges->is_array()) return make_error(code, who + "ipRanges: expected an array, got " + type_name(*ranges));
        size_t i = 0;
        for (const auto& r : *ranges) {
            const std::string path = who + "ipRanges[" + std::to_string(i++) + "]";
            std::string text;
            if (r.is_string()) text = r.get<std::string>();
            else if (r.is_object()) {
                auto a = string_field(r, "cidrAddress", path + ".cidrAddress", code);
                if (!a) return a.err();
                text = a.value();
            } else {
                return make_error(code, path + ": expected an object, got " + type_name(r));
            }
            auto c = parse_cidr(text);
            if (!c) return make_error(code, path + ".cidrAddress: " + c.err().message);
            l.ip_ranges.push_back(c.value());
        }
    }
    auto countries = strings(j, "countriesAndRegions", who + "countriesAndRegions", code);
    if (!countries) return countries.err();
    for (auto& cc : countries.value()) {
        std::string up = cc;
        for (auto& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        l.countries.push_back(up);
    }
    auto unknown = bool_field(j, "includeUnknownCountriesAndRegions", false, who + "includeUnknownCountriesAndRegions", code);
    if (!unknown) return unknown.err();
    l.include_unknown_countries = unknown.value();
    auto method = string_field(j, "countryLookupMethod", who + "countryLookupMethod", code);
    if (!method) return method.err();
    if (!method.value().empty()) l.country_lookup_method = method.value();
    return l;
}

const char* to_string(per_user_mfa m) {
    switch (m) {
        case per_user_mfa::disabled: return "disabled";
        case per_user_mfa::enabled: return "enabled";
        case per_user_mfa::enforced: return "enforced";
    }
    return "disabled";
}

std::string user_facts::guest_kind() const {
    if (!external_user_type.empty()) return external_user_type;
    return guest ? "b2bCollaborationGuest" : "none";
}

user_facts directory::user(const std::string& user_id) const {
    auto it = users.find(to_lower(user_id));
    return it == users.end() ? user_facts{} : it->second;
}

const named_location* directory::location(const std::string& id) const {
    const auto key = to_lower(id);
    for (const auto& l : named_locations) {
        if (l.id == key) return &l;
    }
    return nullptr;
}

result<directory> parse_directory(const json& j) {
    if (!j.is_object()) return make_error(code, "directory: expected a JSON object, got " + type_name(j));
    directory d;
    auto sd = bool_field(j, "securityDefaultsEnabled", false, "securityDefaultsEnabled", code);
    if (!sd) return sd.err();
    d.security_defaults_enabled = sd.value();
    if (const auto* nl = present(j, "namedLocations")) {
        const json* arr = nl;
        if (nl->is_object()) arr = present(*nl, "value");  // a Graph list response
        if (arr == nullptr || !arr->is_array())
            return make_error(code, "namedLocations: expected an array of namedLocation objects, got " + type_name(*nl));
        size_t i = 0;
        for (const auto& e : *arr) {
            auto l = parse_named_location(e);
            if (!l) return make_error(code, "namedLocations[" + std::to_string(i) + "]: " + l.err().message);
            d.named_locations.push_back(std::move(l.value()));
            ++i;
        }
    }
    auto trusted = strings(j, "mfaTrustedIps", "mfaTrustedIps", code);
    if (!trusted) return trusted.err();
    for (size_t i = 0; i < trusted.value().size(); ++i) {
        auto c = parse_cidr(trusted.value()[i]);
        if (!c) return make_error(code, "mfaTrustedIps[" + std::to_string(i) + "]: " + c.err().message);
        d.mfa_trusted_ips.push_back(c.value());
    }
    if (const auto* users = present(j, "users")) {
        if (!users->is_object()) return make_error(code, "users: expected an object keyed by user id, got " + type_name(*users));
        for (auto it = users->begin(); it != users->end(); ++it) {
            const std::string path = "users." + it.key();
            const json& u = it.value();
            if (!u.is_object()) return make_error(code, path + ": expected an object, got " + type_name(u));
            user_facts f;
            auto type = string_field(u, "userType", path + ".userType", code);
            if (!type) return type.err();
            if (type.value().empty() || iequals(type.value(), "member")) f.guest = false;
            else if (iequals(type.value(), "guest")) f.guest = true;
            else return make_error(code, path + ".userType: expected member or guest, got '" + type.value() + "'");
            auto groups = strings(u, "groups", path + ".groups", code);
            if (!groups) return groups.err();
            for (auto& g : groups.value()) f.groups.insert(to_lower(g));
            auto roles = strings(u, "roles", path + ".roles", code);
            if (!roles) return roles.err();
            for (auto& r : roles.value()) f.roles.insert(to_lower(r));
            auto ext = string_field(u, "externalUserType", path + ".externalUserType", code);
            if (!ext) return ext.err();
            f.external_user_type = ext.value();
            if (iequals(f.external_user_type, "none")) f.external_user_type.clear();
            auto tenant = string_field(u, "externalTenantId", path + ".externalTenantId", code);
            if (!tenant) return tenant.err();
            f.external_tenant_id = to_lower(tenant.value());
            auto mfa = string_field(u, "perUserMfaState", path + ".perUserMfaState", code);
            if (!mfa) return mfa.err();
            if (mfa.value().empty() || iequals(mfa.value(), "disabled")) f.per_user_mfa_state = per_user_mfa::disabled;
            else if (iequals(mfa.value(), "enabled")) f.per_user_mfa_state = per_user_mfa::enabled;
            else if (iequals(mfa.value(), "enforced")) f.per_user_mfa_state = per_user_mfa::enforced;
            else return make_error(code, path + ".perUserMfaState: expected disabled, enabled or enforced, got '" + mfa.value() + "'");
            auto reg = bool_field(u, "isMfaRegistered", true, path + ".isMfaRegistered", code);
            if (!reg) return reg.err();
            f.is_mfa_registered = reg.value();
            d.users[to_lower(it.key())] = std::move(f);
        }
    }
    return d;
}

const char* role_display_name(const std::string& template_id) {
    static const std::map<std::string, const char*> names = {
        {"62e90394-69f5-4237-9190-012177145e10", "Global Administrator"},
        {"9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "Application Administrator"},
        {"c4e39bd9-1100-46d3-8c65-fb160da0071f", "Authentication Administrator"},
        {"b0f54661-2d74-4c50-afa3-1ec803f12efe", "Billing Administrator"},
        {"158c047a-c907-4556-b7ef-446551a6b5f7", "Cloud Application Administrator"},
        {"b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", "Conditional Access Administrator"},
        {"29232cdf-9323-42fd-ade2-1d097af3e4de", "Exchange Administrator"},
        {"729827e3-9c14-49f7-bb1b-9608f156bbb8", "Helpdesk Administrator"},
        {"966707d0-3269-4727-9be2-8c3a10f19b9d", "Password Administrator"},
        {"7be44c8a-adaf-4e2a-84d6-ab2649e08a13", "Privileged Authentication Administrator"},
        {"e8611ab8-c189-46e8-94e1-60213ab1f814", "Privileged Role Administrator"},
        {"194ae4cb-b126-40b2-bd5b-6091b380977d", "Security Administrator"},
        {"f28a1f50-f6e7-4571-818b-6a12f2af6b6c", "SharePoint Administrator"},
        {"69091246-20e8-4a56-aa4d-066075b2a7a8", "Teams Administrator"},
        {"fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"},
        {"0526716b-113d-4c15-b2c8-68e3c22b9f80", "Authentication Policy Administrator"},
        {"45d8d3c5-c802-45c6-b32a-1d70b5e1e86e", "Identity Governance Administrator"},
        {"f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"},
        {"5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader"},
        {"5f2222b1-57c3-48ba-8ad5-d4759f1fde6f", "Security Operator"},
        {"4a5d8f65-41da-4de4-8968-e035b65339cf", "Reports Reader"},
        {"88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers"},
        {"9360feb5-f418-4baa-8175-e2a00bac4301", "Directory Writers"},
        {"d29b2b05-8046-44ba-8758-1e26182fcf32", "Directory Synchronization Accounts"},
        {"8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2", "Hybrid Identity Administrator"},
        {"3a2c62db-5318-420d-8d74-23affee5d9d5", "Intune Administrator"},
        {"cf1c38e5-3621-4004-a7cb-879624dced7c", "Application Developer"},
        {"fdd7a751-b60b-444a-984c-02652fe8fa1c", "Groups Administrator"},
        {"4d6ac14f-3453-41d0-bef9-a3e0c569773a", "License Administrator"},
        {"7698a772-787b-4ac8-901f-60d6b08affd2", "Cloud Device Administrator"},
        {"8329153b-31d0-4727-b945-745eb3bc5f31", "Domain Name Administrator"},
        {"be2f45a1-457d-42af-a067-6ec1fa63bc45", "External Identity Provider Administrator"},
        {"31392ffb-586c-42d1-9346-e59415a2cc4e", "Exchange Recipient Administrator"},
        {"17315797-102d-40b4-93e0-432062caca18", "Compliance Administrator"},
    };
    auto it = names.find(template_id);
    return it == names.end() ? nullptr : it->second;
}

const std::set<std::string>& security_defaults_privileged_roles() {
    static const std::set<std::string> roles = {
        "62e90394-69f5-4237-9190-012177145e10",  // Global Administrator
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",  // Application Administrator
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",  // Authentication Administrator
        "b0f54661-2d74-4c50-afa3-1ec803f12efe",  // Billing Administrator
        "158c047a-c907-4556-b7ef-446551a6b5f7",  // Cloud Application Administrator
        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",  // Conditional Access Administrator
        "29232cdf-9323-42fd-ade2-1d097af3e4de",  // Exchange Administrator
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",  // Helpdesk Administrator
        "966707d0-3269-4727-9be2-8c3a10f19b9d",  // Password Administrator
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",  // Privileged Authentication Administrator
        "e8611ab8-c189-46e8-94e1-60213ab1f814",  // Privileged Role Administrator
        "194ae4cb-b126-40b2-bd5b-6091b380977d",  // Security Administrator
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",  // SharePoint Administrator
        "69091246-20e8-4a56-aa4d-066075b2a7a8",  // Teams Administrator
        "fe930be7-5e62-47db-91af-98c3a49a38b1",  // User Administrator
        "0526716b-113d-4c15-b2c8-68e3c22b9f80",  // Authentication Policy Administrator
        "45d8d3c5-c802-45c6-b32a-1d70b5e1e86e",  // Identity Governance Administrator
    };
    return roles;
}

}  // namespace connguard::whatif
